"""Measurements behind reports/seed-claims.md at the seeds' own image sizes (SSDCAE 128×128, ComCNN 180×180).

Usage (from the repository root, CODECBENCH_DATA pointing at the data):

    python reports/seed-claims/measure.py ssdcae128 [--max-images N]   # seeds 000/001, Kodak 128×128 centre crops
    python reports/seed-claims/measure.py comcnn180 [--max-images N]   # seed 002, BSD300 gray resized to 180×180

Each prints markdown tables and writes them into reports/seed-claims/.
Dataset figures are arithmetic means over images. Full-size Kodak and BSD300
figures (RD rows, BD-rate, latency) come from the harness itself:
``codecbench run`` and ``codecbench report`` (reports/README.md).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import codecbench.codecs.learned.models.comcnn  # noqa: F401  (registers the codecs)
import codecbench.codecs.learned.models.ssdcae  # noqa: F401
from codecbench.core.codec import create_codec
from codecbench.datasets import get_dataset
from codecbench.engine.measure import measure
from codecbench.tools.noise import center_crop, match_knob

HERE = Path(__file__).resolve().parent


def png_size(image: np.ndarray) -> int:
    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buf, format="PNG")
    return len(buf.getvalue())


def run_codec(spec: str, images: list[np.ndarray]) -> dict:
    """Means over ``images`` of :func:`codecbench.engine.measure.measure` (after one warm-up round), plus PNG sizes."""
    codec = create_codec(spec, threads=1)
    codec.decode(codec.encode(images[0]))  # warm-up
    rows = [{**measure(codec, im, metrics=("psnr", "ssim")), "png": png_size(im)} for im in images]
    keys = ("bytes", "png", "bpp", "psnr", "ssim", "enc_s", "dec_s")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["rate_vs_png_pct"] = float(np.mean([100 * (1 - r["bytes"] / r["png"]) for r in rows]))
    return {"spec": spec, **mean}


def table(results: list[dict], title: str) -> str:
    lines = [f"### {title}", "", "| codec (spec) | bytes | PNG bytes | size reduction vs PNG (%) | bpp | PSNR (dB) | SSIM | encode (ms) | decode (ms) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| `{r['spec']}` | {r['bytes']:.0f} | {r['png']:.0f} | {r['rate_vs_png_pct']:.2f} | {r['bpp']:.3f} | "
                     f"{r['psnr']:.2f} | {r['ssim']:.4f} | {1000 * r['enc_s']:.2f} | {1000 * r['dec_s']:.2f} |")
    return "\n".join(lines) + "\n"


def ssdcae128(args: argparse.Namespace) -> str:
    images = [center_crop(item.load(), 128) for item in get_dataset("kodak", max_images=args.max_images)]
    out = []
    ref = [run_codec(f"ssdcae:bits={b}", images) for b in (8, 6, 4)]
    out.append(table(ref + [run_codec(f"jpeg:quality={q}", images) for q in (75, 95)],
                     f"Kodak, {len(images)} centre crops 128×128: SSDCAE (bits 8/6/4) and JPEG at Pillow's default and q=95"))
    # the fair comparison: classical codecs at the SSDCAE's rate (knob matched on the mean bpp)
    for r in ref:
        matched = [run_codec(match_knob(name, {}, images, r["bpp"]), images) for name in ("jpeg", "webp")]
        matched.append(run_codec(f"jpeg2000:bpp={r['bpp']:.3f}", images))
        out.append(table([r] + matched, f"Equal rate: classical codecs at `{r['spec']}`'s {r['bpp']:.3f} bpp"))
    return "\n".join(out)


def comcnn180(args: argparse.Namespace) -> str:
    images = []
    for item in get_dataset("bsd300:gray", max_images=args.max_images):
        im = item.load()
        images.append(np.asarray(Image.fromarray(im[..., 0]).resize((180, 180), Image.BICUBIC))[..., None])
    com = [run_codec(f"comcnn:quality={q}", images) for q in (10, 30, 50, 75, 90)]
    jpg = [run_codec(f"jpeg:quality={q}", images) for q in (10, 30, 50, 75, 90)]
    out = [table(com + jpg, f"BSD300 test, {len(images)} images, grayscale (BT.601), resized to 180×180 (bicubic)")]
    eq = []
    for r in com:
        eq += [r, run_codec(match_knob("jpeg", {}, images, r["bpp"]), images)]
    out.append(table(eq, "Equal rate: JPEG at each ComCNN point's mean bpp"))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("ssdcae128", "comcnn180"))
    p.add_argument("--max-images", type=int)
    args = p.parse_args(argv)
    text = {"ssdcae128": ssdcae128, "comcnn180": comcnn180}[args.what](args)
    (HERE / f"{args.what}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
