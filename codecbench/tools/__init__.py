"""Tools on top of the engine: the bitstream fuzzer and the noise-robustness benchmark."""
