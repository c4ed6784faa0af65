"""Fuzzing codec decoders with corrupt bitstreams (hypothesis), native code in a worker process.

Three modules: :mod:`.mutations` (what is done to a stream), :mod:`.probe` (the worker side:
seed streams, one decode, its outcome) and :mod:`.driver` (the :class:`Fuzzer`, reproducers,
reports); this package re-exports their public names.

For each registered codec, real bitstreams (the codec's own encoding of a few
small crops of real photographs, colour and, where the codec takes it, gray)
are mutated by a hypothesis strategy (:func:`mutations`): bit flips (biased
towards the header), truncation, appended bytes, random bytes in place of the
stream, a zeroed header, an overwritten byte range with boundary values, a
rewritten declared image size (:func:`rewrite_declared_size`: large, odd or
tiny width and height in the learned-codec container, a JPEG-family frame
header, PNG's IHDR, a JPEG 2000 SIZ, an AVIF ``ispe``, a WebP or a JPEG XL
size header, with their checks
recomputed, so that decoders meet wrong-shape and oversized declarations
over a payload of the original size), forged multipliers of that size (a
JPEG 2000 SIZ's component count and bit depth, JPEG XL extra channels, a
JPEG scan repeated up to 20,000 times), up to three of these stacked; for
codecbench's learned-codec container the CRC may be recomputed afterwards so
that the payload decoders (Huffman, rANS, Deflate, the networks) are reached
rather than stopped by the check.

Each mutated stream is decoded in a :class:`~codecbench.engine.isolation.Worker`
(a separate process with an address-space limit and a per-call timeout) and
must give one of the *acceptable* outcomes:

``image``
    a uint8 H×W×C array with C in the codec's channels and H×W within
    :data:`codecbench.core.images.MAX_PIXELS` (``image`` when its shape is a seed's
    shape, ``image-other-shape`` otherwise: a corrupt header can declare
    another size; the runner compares every decoded image's shape with the
    original's and records a mismatch as an error, so such a stream is never
    reported as a success);
``rejected``
    :class:`~codecbench.core.errors.DecodeError`.

Everything else is a *failure*, and its input is saved to the reproducer
folder (``<codec>-<outcome>-<sha1>.bin``, with a ``.json`` describing the
codec, outcome, error and mutation): ``crash`` (the worker died: segfault,
abort), ``hang`` (no answer within the timeout), ``memory`` (the decode grew
the worker's peak resident memory by more than the memory limit, default
4 GiB, whatever it then returned; or an allocation failed, under the
worker's address-space cap of twice that limit), ``wrong-error`` (an exception other than
DecodeError) and ``bad-image`` (a result that breaks the decode contract).

Run it with ``codecbench fuzz`` (see :mod:`codecbench.cli.fuzz`); the
test suite runs a bounded number of examples per codec
(``tests/test_fuzz_bitstreams.py``).
"""

from codecbench.tools.fuzz.driver import (
    ACCEPTABLE,
    DEFAULT_MEMORY,
    DEFAULT_TIMEOUT,
    FAILURES,
    CodecReport,
    Fuzzer,
    FuzzFailure,
    check_limit,
    format_reports,
)
from codecbench.tools.fuzz.mutations import OPS, Mutation, Op, fix_container_check, mutations, ops, rewrite_declared_size
from codecbench.tools.fuzz.probe import GRAY_SEED_SIZE, SEED_SIZES, prepare, probe, seed_images

__all__ = [
    "ACCEPTABLE", "DEFAULT_MEMORY", "DEFAULT_TIMEOUT", "FAILURES", "GRAY_SEED_SIZE", "OPS", "SEED_SIZES",
    "CodecReport", "Fuzzer", "FuzzFailure", "Mutation", "Op", "check_limit", "fix_container_check", "format_reports",
    "mutations", "ops", "prepare", "probe", "rewrite_declared_size", "seed_images",
]
