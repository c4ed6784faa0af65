"""Real codec output for the RD-analysis, cache and compare tests.

Records come from real Pillow JPEG bitstreams of real photographs (crops of
scikit-image's sample photos), scored with codecbench's own metrics: the same
numbers a run would record, only quicker to make.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from codecbench.core import metrics
from codecbench.analysis.curves import Curve, CurvePoint
from codecbench.core.results import Record


@functools.lru_cache(maxsize=None)
def photos() -> tuple[tuple[str, np.ndarray], ...]:
    """Three real photographs, centre-cropped to 176×176 (large enough for MS-SSIM's 5 scales)."""
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea"):
        img = getattr(data, name)()
        h, w = img.shape[:2]
        top, left = (h - 176) // 2, (w - 176) // 2
        out.append((name, np.ascontiguousarray(img[top : top + 176, left : left + 176, :3])))
    return tuple(out)


def jpeg_bytes(image: np.ndarray, quality: int, optimize: bool = True, subsampling: int = 2) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, optimize=optimize, subsampling=subsampling)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def _measure(name: str, quality: int, optimize: bool, subsampling: int) -> dict:
    image = dict(photos())[name]
    data = jpeg_bytes(image, quality, optimize, subsampling)
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    h, w = image.shape[:2]
    return {"bytes": len(data), "bpp": metrics.bpp(len(data), h, w), **metrics.score(image, decoded)}  # lossy: no lossless_ok


def jpeg_records(
    qualities=(10, 25, 40, 55, 70, 85, 95),
    *,
    optimize: bool = True,
    subsampling: int = 2,
    dataset: str = "photos",
    spec_quality=None,
    enc_s: float = 0.002,
    dec_s: float = 0.001,
) -> list[Record]:
    """Records of real JPEG encodes at ``qualities``.

    ``spec_quality`` maps a quality to the quality written into the record's
    spec/setting (to relabel a run made at another setting).
    """
    out = []
    for q in qualities:
        shown = spec_quality(q) if spec_quality else q
        spec = f"jpeg:quality={shown},subsampling={subsampling}"
        for name, image in photos():
            m = _measure(name, q, optimize, subsampling)
            h, w, c = image.shape
            out.append(
                Record(
                    codec="jpeg",
                    spec=spec,
                    setting=shown,
                    dataset=dataset,
                    image=name,
                    width=w,
                    height=h,
                    channels=c,
                    enc_s=enc_s,
                    dec_s=dec_s,
                    versions={"pillow": Image.__version__ if hasattr(Image, "__version__") else ""},
                    **m,
                )
            )
    return out


def synthetic_curve(label: str, bpp, psnr, *, dataset: str = "d", reference: bool = False, knob: str = "q") -> Curve:
    """A curve with given means; PSNR-Y = PSNR and MS-SSIM chosen so its dB value is PSNR − 10."""
    points = [
        CurvePoint(
            setting=i,
            spec=f"{label}:{knob}={i}",
            n_ok=1,
            n_total=1,
            bpp=float(x),
            psnr=float(y),
            psnr_y=float(y),
            ms_ssim=1 - 10 ** (-(float(y) - 10) / 10),
            enc_s=0.01 * float(x),
            dec_s=0.005 * float(x),
            pixels=1e5,
        )
        for i, (x, y) in enumerate(zip(bpp, psnr))
    ]
    return Curve(codec=label, label=label, dataset=dataset, device="cpu", points=points, reference=reference, knob=knob)
