"""The exceptions codecbench raises on bad input.

Every error a user can cause (a bad spec, an unreadable image, a corrupt
bitstream, a missing dataset) is a :class:`CodecbenchError` with a one-line
message; the CLI prints that line and exits with status 2.
"""


class CodecbenchError(Exception):
    """Base class of every error codecbench raises on bad input."""


class SpecError(CodecbenchError, ValueError):
    """A codec spec names an unknown codec or an unknown/out-of-range setting."""


class ImageError(CodecbenchError, ValueError):
    """An image file cannot be read, or an array is not a valid image."""


class DecodeError(CodecbenchError, ValueError):
    """A bitstream is truncated, corrupt, or was written by another codec."""


class EncodeError(CodecbenchError, ValueError):
    """A codec cannot encode this image (e.g. too small, unsupported channels)."""


class DatasetError(CodecbenchError):
    """A dataset is unknown, missing offline, or fails its checksums."""


class ResultsError(CodecbenchError):
    """A results file is unreadable or does not match the record schema."""


class CacheError(CodecbenchError):
    """The results cache cannot be opened, read or written."""


class CodecCrashError(CodecbenchError):
    """A codec's worker process died during a call (segfault, abort, out of memory); see ``--isolate``."""


class CodecTimeoutError(CodecbenchError, TimeoutError):
    """A codec call did not finish within the time limit; its worker process was killed."""


class CodecContractError(CodecbenchError):
    """A codec broke the interface: it changed the image it was given, or its decoder returned that image."""


class OptionError(CodecbenchError, ValueError):
    """A command-line or API option is out of range (e.g. ``--threads 0``, ``--timeout nan``, ``--repeats -3``)."""


class OutputError(CodecbenchError, OSError):
    """An output file or folder cannot be written (disk full, read-only, a path through a regular file)."""


def error_text(exc: BaseException) -> str:
    """One line naming ``exc``: its type and the first line of its message (``"DecodeError: truncated"``), or
    the type alone for an empty message. A record's ``error`` and a worker's reported failure are this line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
