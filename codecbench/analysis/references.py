"""The published reference curves shipped in ``reports/references/`` and their anchor aliases.

``codecbench report --anchor vtm`` (and the pytest plugin's
``--report-anchor vtm``) takes the BD-rate anchor from one of these files
instead of a measured curve: the alias names the curve, and the report names
its source and version. Each curve holds the published dataset means of one
dataset (Kodak here) and is used for that dataset only.

The files are the repository's ``reports/references/*.json`` (CompressAI
format, rate and quality arrays only); an installed package without the
repository has none, and an alias then is a one-line error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from codecbench.core.errors import OptionError
from codecbench.analysis.compressai_json import load_reference
from codecbench.analysis.curves import Curve

#: reports/references/ of the source checkout this package is imported from
REFERENCES_DIR = Path(__file__).resolve().parents[2] / "reports" / "references"


@dataclass(frozen=True)
class ShippedCurve:
    """A shipped reference curve: its alias, file, the dataset it was measured on, and who measured what."""

    alias: str
    file: str
    dataset: str
    source: str  # the curve's name and version as the report states it

    @property
    def path(self) -> Path:
        return REFERENCES_DIR / self.file


_CAI = "CompressAI published Kodak results"
SHIPPED: dict[str, ShippedCurve] = {
    s.alias: s
    for s in (
        ShippedCurve("vtm", "compressai-kodak-vtm.json", "kodak", f"VTM-12.1-era VVC intra ({_CAI})"),
        ShippedCurve("hm", "compressai-kodak-hm.json", "kodak", f"HM HEVC intra, version not stated ({_CAI})"),
        ShippedCurve("bpg444", "compressai-kodak-bpg444.json", "kodak", f"BPG 0.9.8, x265, 4:4:4 ({_CAI})"),
        ShippedCurve("av1", "compressai-kodak-av1.json", "kodak", f"AV1 intra, version not stated ({_CAI})"),
        ShippedCurve("bmshj2018-hyperprior-mse", "compressai-kodak-bmshj2018-hyperprior-mse.json", "kodak",
                     f"CompressAI bmshj2018-hyperprior, MSE ({_CAI})"),
        ShippedCurve("mbt2018-mean-mse", "compressai-kodak-mbt2018-mean-mse.json", "kodak",
                     f"CompressAI mbt2018-mean, MSE ({_CAI})"),
        ShippedCurve("cheng2020-anchor-mse", "compressai-kodak-cheng2020-anchor-mse.json", "kodak",
                     f"CompressAI cheng2020-anchor, MSE ({_CAI})"),
        ShippedCurve("jpeg-ref", "compressai-kodak-jpeg.json", "kodak", f"JPEG, Pillow 7.1.2 ({_CAI})"),
        ShippedCurve("webp-ref", "compressai-kodak-webp.json", "kodak", f"WebP, Pillow 7.1.2 ({_CAI})"),
    )
}


def split_anchors(anchor: str) -> list[str]:
    """``"jpeg,vtm"`` → ``["jpeg", "vtm"]``: the anchors of a report, in order, without repeats."""
    return list(dict.fromkeys(a.strip() for a in anchor.split(",") if a.strip()))


def shipped_curve(alias: str, dataset: str) -> Curve | None:
    """The shipped curve ``alias`` as a reference curve of ``dataset``; None where it was measured on another."""
    shipped = SHIPPED[alias]
    if dataset != shipped.dataset:
        return None
    if not shipped.path.is_file():
        raise OptionError(f"--anchor {alias}: the shipped curve {shipped.path} is missing (a source checkout has it)")
    curve = load_reference(shipped.path, dataset)
    return replace(curve, description=shipped.source)


def check_anchors(anchors: list[str], known: set[str]) -> None:
    """OptionError unless every anchor is a shipped alias or in ``known`` (codec names and curve labels)."""
    if not anchors:
        raise OptionError("--anchor: no anchor given")
    unknown = [a for a in anchors if a not in SHIPPED and a not in known]
    if unknown:
        raise OptionError(
            f"--anchor {','.join(unknown)}: not a codec or curve of these results nor a shipped reference "
            f"({', '.join(SHIPPED)})"
        )
