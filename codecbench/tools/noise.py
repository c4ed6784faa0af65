"""Noise-robustness benchmark (seeds 000/001): how a codec copes with Gaussian noise in its input.

For each image and σ (on the [0, 1] scale), the noisy input is
``clip(round(x + 255·σ·n))`` with n from a seed fixed per (image id, σ), so
every codec sees the same pixels; σ = 0 is the clean reference row. Against
the **clean** image it reports the noisy input's PSNR, the reconstruction's
PSNR and SSIM, the gain, and the bpp of the real bitstream.

``match`` names a reference spec: every other codec with a rate knob then runs,
per σ, at the knob value whose mean bpp is closest to the reference's
(:mod:`codecbench.engine.rate_search`). Figures are means over images; ``crop``
takes a centre crop first. The manual: ``docs/codecs/learned.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np

from codecbench.core import metrics
from codecbench.core.codec import Codec, Spec, create_codec, get_codec_class
from codecbench.engine.measure import encoded_bpp, mean_measures
from codecbench.engine.rate_search import search_knob
from codecbench.core.targets import Target
from codecbench.core.errors import SpecError

DEFAULT_SIGMAS = (0.0, 0.1, 0.2, 0.3)


@dataclass
class NoiseRow:
    spec: str
    dataset: str
    sigma: float
    images: int
    bpp: float
    psnr_noisy: float
    psnr_rec: float
    ssim_rec: float
    gain_db: float
    matched: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def add_noise(image: np.ndarray, sigma: float, key: str = "") -> np.ndarray:
    """uint8 image plus Gaussian noise of σ (on [0, 1]), rounded and clipped; deterministic per ``key`` and σ."""
    if sigma <= 0:
        return image.copy()
    seed = int.from_bytes(hashlib.sha256(f"{key}|{sigma:.6f}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float64) + rng.standard_normal(image.shape) * (255.0 * sigma)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def center_crop(image: np.ndarray, size: int | None) -> np.ndarray:
    if not size:
        return image
    h, w = image.shape[:2]
    s_h, s_w = min(size, h), min(size, w)
    y, x = (h - s_h) // 2, (w - s_w) // 2
    return np.ascontiguousarray(image[y : y + s_h, x : x + s_w])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of the noisy input against the clean image; 99 for σ = 0 (identical: infinite)."""
    v = metrics.psnr(a, b)
    return 99.0 if v is None else float(v)


def _run(codec: Codec, clean: Sequence[np.ndarray], noisy: Sequence[np.ndarray]) -> tuple[float, float, float]:
    """Mean (bpp, PSNR dB, SSIM) of coding the noisy images, scored against the clean ones."""
    means = mean_measures(codec, noisy, metrics=("psnr", "ssim"), references=clean)
    return means["bpp"], means["psnr"], means["ssim"]


def _mean_bpp(codec: Codec, images: Sequence[np.ndarray]) -> float:
    return float(np.mean([encoded_bpp(codec, im) for im in images]))


def match_knob(name: str, base: dict[str, str], images: Sequence[np.ndarray], target_bpp: float,
               *, threads: int | None = None) -> str:
    """The spec of codec ``name`` whose rate knob gives a mean bpp over ``images`` closest to ``target_bpp``
    (:func:`~codecbench.engine.rate_search.search_knob`: within 1 %, or the closer of two adjacent values)."""
    cls = get_codec_class(name)
    if cls.param is None:
        raise SpecError(f"codec {name!r} has no rate knob to match a rate with")

    def mean_bpp(value: object) -> float:
        return _mean_bpp(create_codec(str(Spec.of(name, {**base, cls.param: value})), threads=threads), images)

    found = search_knob(cls.settings[cls.param], mean_bpp, Target("bpp", target_bpp))
    return str(Spec.of(name, {**base, cls.param: found.value}))


def noise_robustness(
    specs: Iterable[str],
    images: Sequence[tuple[str, np.ndarray]],
    *,
    dataset: str = "",
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    match: str | None = None,
    crop: int | None = None,
    threads: int | None = None,
) -> list[NoiseRow]:
    """Rows of the noise-robustness table for every spec (and ``match``, first) and σ."""
    ids = [i for i, _ in images]
    clean = [center_crop(im, crop) for _, im in images]
    specs = list(specs)
    if match and match not in specs:
        specs.insert(0, match)
    rows: list[NoiseRow] = []
    ref_bpp: dict[float, float] = {}
    noisy_by_sigma = {s: [add_noise(im, s, key) for key, im in zip(ids, clean)] for s in sigmas}
    for spec in specs:
        parsed = Spec.parse(spec)
        name, raw = parsed.name, parsed.raw
        for sigma in sigmas:
            noisy = noisy_by_sigma[sigma]
            used, matched = spec, ""
            if match and spec != match and get_codec_class(name).param and get_codec_class(name).param not in raw:
                used = match_knob(name, raw, noisy, ref_bpp[sigma], threads=threads)
                matched = f"matched to {match}"
            codec = create_codec(used, threads=threads)
            bpp, psnr_rec, ssim_rec = _run(codec, clean, noisy)
            if spec == match:
                ref_bpp[sigma] = bpp
            psnr_noisy = float(np.mean([_psnr(c, n) for c, n in zip(clean, noisy)]))
            rows.append(NoiseRow(used, dataset, sigma, len(clean), bpp, psnr_noisy, psnr_rec, ssim_rec,
                                 psnr_rec - psnr_noisy, matched))
    return rows


def render_table(rows: Sequence[NoiseRow]) -> str:
    """Markdown table of the rows (PSNRs against the clean image)."""
    lines = [
        "| codec (spec) | σ | images | bpp | PSNR noisy input (dB) | PSNR reconstruction (dB) | gain (dB) | SSIM rec. | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        noisy = "∞" if r.psnr_noisy >= 99 else f"{r.psnr_noisy:.2f}"
        lines.append(f"| `{r.spec}` | {r.sigma:g} | {r.images} | {r.bpp:.3f} | {noisy} | {r.psnr_rec:.2f} | "
                     f"{'' if r.sigma == 0 else f'{r.gain_db:+.2f}'} | {r.ssim_rec:.4f} | {r.matched} |")
    return "\n".join(lines) + "\n"
