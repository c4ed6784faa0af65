"""Which codecs take which datasets' images, by channel count, and why a selection gives nothing to measure."""

from __future__ import annotations

from typing import Iterable

from codecbench.core.codec import Codec, Spec, get_codec_class


def takes_dataset(codec: type[Codec], dataset: str) -> bool:
    """Whether a codec takes the images of ``dataset`` (a ``:gray`` view has one channel)."""
    return 1 in codec.channels if dataset.endswith(":gray") else 3 in codec.channels


def refused_by(codecs: Iterable[type[Codec]], dataset: str) -> str:
    """Why ``codecs`` are not run on ``dataset``, e.g. ``webp takes 3-channel images only and kodak:gray has 1``."""
    refusing = sorted({c.name: c for c in codecs if not takes_dataset(c, dataset)}.values(), key=lambda c: c.name)
    by_channels: dict[tuple[int, ...], list[str]] = {}
    for codec in refusing:
        by_channels.setdefault(tuple(codec.channels), []).append(codec.name)
    takes = "; ".join(f"{', '.join(names)} {'takes' if len(names) == 1 else 'take'} "
                      f"{' or '.join(map(str, channels))}-channel images only"
                      for channels, names in by_channels.items())
    return f"{takes} and {dataset} has {1 if dataset.endswith(':gray') else 3}"


def nothing_to_measure(specs: Iterable[str], sizes: dict[str, int]) -> str | None:
    """Why no (spec, image) task comes of ``specs`` on the datasets ``sizes`` (name → image count), or None
    when one does; the specs are read by codec name (nothing is built)."""
    codecs = [get_codec_class(Spec.parse(spec).name) for spec in specs]
    reasons = []
    for dataset, size in sizes.items():
        if size and any(takes_dataset(c, dataset) for c in codecs):
            return None
        reasons.append(refused_by(codecs, dataset) if size else f"{dataset} has no images")
    return "; ".join(reasons) or "no dataset given"
