"""Classical codecs: Pillow (JPEG, PNG, WebP, AVIF, HEVC), glymur (JPEG 2000), imagecodecs (JPEG XL, JPEG-LS, lossless JPEG)."""
