"""The payload of a CompressAI-API model's output in a codecbench stream, and the model's identity.

A model with CompressAI's API codes an image as ``{"strings": [[bytes, ...], ...], "shape": (int, ...)}``: groups
of byte strings (one group per entropy-coded latent, ``[y_strings, z_strings]`` for a hyperprior; each group one
string per batch item) and the latent shape its ``decompress`` needs. :func:`pack_output` turns that into
container sections: section 0 is the *strings header*, then every string as a section of its own, group by group::

    model id      4 bytes   the first 4 bytes of the model's SHA-256 (:func:`model_digest`)
    groups        varint    number of string groups (1 … MAX_GROUPS)
    counts        varint    strings in each group (1 … MAX_STRINGS), one varint per group
    dims          varint    number of shape values (0 … MAX_DIMS)
    shape         varint    each shape value

The container adds its header and a CRC-32 (docs/compressai.md); CompressAI's bpp counts the strings only.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import torch

from codecbench.codecs.learned.container import Reader, write_varint
from codecbench.core.errors import DecodeError, EncodeError

#: bytes of the model digest a stream carries
MODEL_ID_BYTES = 4
MAX_GROUPS = 64
MAX_STRINGS = 64
MAX_DIMS = 8


def model_digest(model: torch.nn.Module) -> str:
    """SHA-256 (hex) of the model's state: every tensor's name, dtype, shape and bytes, in sorted name order.

    Taken on the CPU after the entropy tables are built, so that it is the same on every device and process that
    built the same weights and tables.
    """
    sha = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        sha.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        sha.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return sha.hexdigest()


def pack_output(out: Any, model_id: bytes, who: str) -> list[bytes]:
    """Container sections for a model's ``compress`` output ``out``; EncodeError, naming ``who``, if ``out`` is not
    ``{"strings": [[bytes, ...], ...], "shape": ints}`` within the header's bounds."""
    if not isinstance(out, dict) or "strings" not in out or "shape" not in out:
        raise EncodeError(f"{who}: compress() returned {type(out).__name__}, "
                          "expected a dict with 'strings' and 'shape'")
    groups, shape = out["strings"], out["shape"]
    if not isinstance(groups, (list, tuple)) or not 1 <= len(groups) <= MAX_GROUPS:
        raise EncodeError(f"{who}: compress()['strings'] must be a list of 1 to {MAX_GROUPS} lists of bytes")
    for i, group in enumerate(groups):
        if not isinstance(group, (list, tuple)) or not 1 <= len(group) <= MAX_STRINGS \
                or not all(isinstance(s, (bytes, bytearray)) for s in group):
            raise EncodeError(f"{who}: compress()['strings'][{i}] must be a list of 1 to {MAX_STRINGS} byte strings")
    dims = _shape_values(shape, who)
    head = bytearray(model_id)
    write_varint(len(groups), head)
    for group in groups:
        write_varint(len(group), head)
    write_varint(len(dims), head)
    for value in dims:
        write_varint(value, head)
    return [bytes(head), *(bytes(s) for group in groups for s in group)]


def _shape_values(shape: Any, who: str) -> list[int]:
    if isinstance(shape, torch.Tensor):
        shape = shape.tolist()
    if not isinstance(shape, (list, tuple)) or len(shape) > MAX_DIMS \
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape):
        raise EncodeError(f"{who}: compress()['shape'] must be at most {MAX_DIMS} non-negative ints, got {shape!r}")
    return [int(v) for v in shape]


def unpack_output(sections: Sequence[bytes], model_id: bytes, pixels: int, who: str
                  ) -> tuple[list[list[bytes]], torch.Size]:
    """``(strings, shape)`` for ``decompress`` from the sections :func:`pack_output` wrote.

    DecodeError if the strings header is corrupt, the section count disagrees with it, the stream was written
    by another model (its model id differs) or its shape holds more values than the tile has ``pixels`` (no
    latent is larger than its image: a forged shape must not make the decoder allocate more).
    """
    if not sections:
        raise DecodeError(f"{who}: stream has no strings header")
    r = Reader(sections[0], label=f"{who} strings header")
    theirs = r.take(MODEL_ID_BYTES, "model id")
    if theirs != model_id:
        raise DecodeError(f"{who}: stream was written by another model (model id {theirs.hex()}, this model is "
                          f"{model_id.hex()}): decode it with the same factory, weights and settings")
    counts = [r.varint(f"string count of group {i}", MAX_STRINGS) for i in range(r.varint("groups", MAX_GROUPS))]
    dims = [r.varint(f"shape value {i}", pixels) for i in range(r.varint("shape values", MAX_DIMS))]
    if r.remaining:
        raise DecodeError(f"{who}: {r.remaining} unexpected bytes after the strings header")
    if not counts or 0 in counts:
        raise DecodeError(f"{who}: corrupt strings header (string counts {counts})")
    if math.prod(dims) > pixels:
        raise DecodeError(f"{who}: stream declares a latent of shape {dims}, more values than its {pixels} pixels")
    if len(sections) != 1 + sum(counts):
        raise DecodeError(f"{who}: stream has {len(sections) - 1} strings, its header declares {sum(counts)}")
    strings, at = [], 1
    for n in counts:
        strings.append(list(sections[at : at + n]))
        at += n
    return strings, torch.Size(dims)


def strings_bytes(sections: Sequence[bytes]) -> int:
    """Bytes of the entropy-coded strings alone (every section after the strings header): CompressAI's rate."""
    return sum(len(s) for s in sections[1:])
