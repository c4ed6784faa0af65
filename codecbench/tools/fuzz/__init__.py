"""Fuzzing codec decoders with corrupt bitstreams (hypothesis), native code in a worker process.

Three modules: :mod:`.mutations` (what is done to a stream), :mod:`.probe` (the worker side:
seed streams, one decode, its outcome) and :mod:`.driver` (the :class:`Fuzzer`, reproducers,
reports); this package re-exports their public names. The mutations, the acceptable outcomes
and the failures: docs/robustness.md ("Corrupt bitstreams: fuzzing").
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
