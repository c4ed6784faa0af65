"""``codecbench pictures``: keep real decodes of measured settings for the HTML report's image viewer.

Also the ``--viewer-images``/``--viewer-crop`` options of ``codecbench run``, which make them after a run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from codecbench.cli.report import pictures_folder, read_inputs
from codecbench.core.errors import OptionError
from codecbench.core.pictures import FORMATS
from codecbench.core.results import Record
from codecbench.render.output import check_formats
from codecbench.tools.pictures import DEFAULT_CROP, DEFAULT_IMAGES, PictureOptions, make_pictures


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pictures", help="keep decoded pictures of measured settings for the html report's image viewer",
        description="Encode a few images again with the codec settings of results files, decode those bitstreams "
        "and keep the decodes (and originals) losslessly, cropped alike, for `codecbench report --format html`. "
        "A picture whose bitstream size differs from the measured one is kept and flagged.")
    p.add_argument("results", nargs="+", type=Path, help="results files written by `codecbench run`")
    p.add_argument("-o", "--out", type=Path, metavar="DIR",
                   help="pictures folder (default with one results file: RESULTS.pictures beside it)")
    p.add_argument("--images", type=int, default=DEFAULT_IMAGES, metavar="N",
                   help="the first N images of each dataset (default: %(default)s)")
    p.add_argument("--image", action="append", default=[], metavar="ID", help="these images instead (repeatable)")
    p.add_argument("--near", type=_rates, metavar="BPP,...",
                   help="per codec configuration, only the settings whose mean bpp is nearest these rates "
                   "(default: every measured setting)")
    add_crop_option(p, "--crop")
    p.add_argument("--picture-format", choices=tuple(FORMATS), default="webp",
                   help="lossless file format (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="decode on this device, for records measured on it (default: cpu)")
    p.add_argument("--download", action="store_true", help="download missing datasets (checksummed)")
    p.set_defaults(func=pictures_command)


def add_crop_option(p: argparse.ArgumentParser, flag: str) -> None:
    p.add_argument(flag, type=_crop, default=DEFAULT_CROP, metavar="PX|full",
                   help="keep a centred PX×PX crop of each picture, or the full image (default: %(default)s px)")


def pictures_command(args: argparse.Namespace) -> int:
    if args.out is None and len(args.results) > 1:
        raise OptionError("pictures from several results files need --out DIR")
    out = args.out or pictures_folder(args.results[0])
    options = PictureOptions(images=args.images, image_ids=tuple(args.image), targets=args.near, crop=args.crop,
                             fmt=args.picture_format, device=args.device)
    options.check()
    _, records, _ = read_inputs(args.results)
    summary = make_pictures(records, out, options, progress=_progress, download=args.download)
    print(summary.line())
    for line in summary.mismatched + summary.problems:
        print(f"  {line}", file=sys.stderr)
    return 0


def add_viewer_options(p: argparse.ArgumentParser) -> None:
    """``run``'s options: how many images get viewer pictures, and their crop."""
    p.add_argument("--viewer-images", type=int, metavar="N",
                   help="keep decoded pictures of every setting for the first N images of each dataset in "
                   "RESULTS.pictures/ for the html report's viewer (default: 3 with --format html, else none)")
    add_crop_option(p, "--viewer-crop")


def run_pictures(args: argparse.Namespace, records: Sequence[Record], results: Path) -> list[Path]:
    """After ``codecbench run``: make the viewer pictures its options ask for; the folders to report from."""
    count = args.viewer_images if args.viewer_images is not None else DEFAULT_IMAGES if "html" in args.format else 0
    if count == 0:
        return []
    summary = make_pictures(records, pictures_folder(results), PictureOptions(images=count, crop=args.viewer_crop,
                                                                              device=args.device))
    print(summary.line(), file=sys.stderr)
    for line in summary.mismatched + summary.problems:
        print(f"  {line}", file=sys.stderr)
    return [summary.folder]


def check_report_options(args: argparse.Namespace) -> None:
    """OptionError (one line) for ``run``'s bad ``--format``, ``--viewer-images`` or ``--viewer-crop``, before the
    run starts."""
    if args.format and args.report_dir is None:
        raise OptionError("--format chooses the formats of --report-dir: give --report-dir DIR")
    check_formats(args.format, args.report_dir)
    if args.viewer_images is not None and args.viewer_images < 0:
        raise OptionError(f"--viewer-images must be 0 or more, got {args.viewer_images}")
    if args.viewer_images:
        PictureOptions(images=args.viewer_images, crop=args.viewer_crop).check()


def _crop(text: str) -> int | None:
    if text.strip().lower() == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in px or 'full', got {text!r}") from None
    if value < 16:
        raise argparse.ArgumentTypeError(f"a crop must be at least 16 px, got {value}")
    return value


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bpp values like 0.25,0.5,1, got {text!r}") from None
    if not rates or not all(0 < r < float("inf") for r in rates):
        raise argparse.ArgumentTypeError(f"expected positive bpp values, got {text!r}")
    return rates


def _progress(what: str) -> None:
    print(f"decoding {what}", file=sys.stderr)
