"""``codecbench noise``: the noise-robustness benchmark of seeds 000/001 (see :mod:`codecbench.tools.noise`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codecbench.datasets import get_dataset
from codecbench.tools.noise import DEFAULT_SIGMAS, noise_robustness, render_table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "noise",
        help="noise-robustness benchmark: Gaussian noise on the input, PSNR of noisy input and reconstruction",
        description="Add Gaussian noise (sigma on the [0, 1] scale) to each image, code the noisy image, and "
        "report PSNR/SSIM of the noisy input and of the reconstruction against the clean image, with the rate. "
        "--match SPEC runs every other codec (given without its rate knob) at the knob value whose rate "
        "matches SPEC's at each sigma.",
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="codec specs (e.g. ssdcae:bits=8 jpeg webp)")
    p.add_argument("-d", "--dataset", default="kodak", help="dataset (default: %(default)s)")
    p.add_argument("--sigma", type=float, action="append", dest="sigmas", metavar="S",
                   help=f"noise sigma on [0, 1] (repeatable; default {' '.join(map(str, DEFAULT_SIGMAS))})")
    p.add_argument("--match", metavar="SPEC", help="reference spec whose rate the other codecs match, per sigma")
    p.add_argument("--crop", type=int, metavar="PX", help="centre-crop images to PX×PX first (the seeds used 128)")
    p.add_argument("--max-images", type=int, metavar="N", help="use only the first N images")
    p.add_argument("--threads", type=int, help="threads per codec")
    p.add_argument("-o", "--out", type=Path, help="write the markdown table here (and the rows as .json beside it)")
    p.set_defaults(func=noise_command)


def noise_command(args: argparse.Namespace) -> int:
    images = [(item.id, item.load()) for item in get_dataset(args.dataset, max_images=args.max_images)]
    specs = args.specs or ([] if args.match else ["ssdcae:bits=8", "jpeg", "webp"])
    rows = noise_robustness(specs, images, dataset=args.dataset, sigmas=tuple(args.sigmas or DEFAULT_SIGMAS),
                            match=args.match, crop=args.crop, threads=args.threads)
    table = render_table(rows)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps([r.as_dict() for r in rows], indent=1), encoding="utf-8")
    print(table, end="")
    return 0
