"""Rate–distortion and speed plots (matplotlib, Agg, PNG), one set per dataset.

For each dataset: PSNR–bpp, MS-SSIM (dB)–bpp, encode time–bpp and decode
time–bpp (log time axis); one curve per codec configuration, the anchor and
imported reference curves dashed. Reference curves are left out of the time
plots (their times were measured on another machine).

Output is deterministic, so committed plots do not churn: a fixed figure
size, dpi, font (DejaVu Sans, shipped with matplotlib) and style, colours by
sorted curve label, no hash salts, and PNG metadata stripped of the
matplotlib version (``Software``). The same inputs on the same matplotlib and
FreeType give byte-identical files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Sequence

from codecbench.analysis.bdrate import DEFAULT_ANCHOR, find_anchor
from codecbench.analysis.curves import Curve

FIGSIZE = (8.4, 4.6)
DPI = 100

#: plot kind -> (curve metric, y label, log y axis)
PLOTS = {
    "psnr": ("psnr", "PSNR (RGB) [dB]", False),
    "ms-ssim": ("ms_ssim_db", "MS-SSIM (RGB) [dB]  −10·log10(1 − MS-SSIM)", False),
    "enc-time": ("enc_s", "encode time per image [s]", True),
    "dec-time": ("dec_s", "decode time per image [s]", True),
}

TITLES = {
    "psnr": "PSNR vs rate",
    "ms-ssim": "MS-SSIM (dB) vs rate",
    "enc-time": "Encode time vs rate",
    "dec-time": "Decode time vs rate",
}

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.0,
    "legend.fontsize": 7.5,
    "legend.frameon": True,
    "svg.hashsalt": "codecbench",
    "path.simplify": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "text.usetex": False,
    "axes.formatter.use_mathtext": False,
}

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p")
#: after matplotlib's ten Tableau colours, eight more that are told apart from them (reports have up to ~18 curves)
_EXTRA_COLOURS = ("black", "gold", "darkcyan", "navy", "yellowgreen", "maroon", "magenta", "slategray")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "dataset"


def plot_dataset(
    curves: Sequence[Curve],
    out_dir: str | os.PathLike,
    *,
    anchor: str = DEFAULT_ANCHOR,
    kinds: Sequence[str] = tuple(PLOTS),
) -> dict[str, Path]:
    """Write the PNG plots of one dataset's curves into ``out_dir``; return {kind: path}.

    A kind with no curve that has data for it is skipped.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lossy = [c for c in curves if not c.lossless]
    if not lossy:
        return {}
    dataset = lossy[0].dataset
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = find_anchor(lossy, anchor)
    styles = curve_styles({c.label for c in lossy})

    written: dict[str, Path] = {}
    with style.context("default"), matplotlib.rc_context(_RC):
        for kind in kinds:
            metric, ylabel, logy = PLOTS[kind]
            timing = metric in ("enc_s", "dec_s")
            series = []
            for c in lossy:
                if timing and c.reference:
                    continue
                xs, ys = c.series(metric)
                if timing:
                    xs, ys = zip(*[(x, y) for x, y in zip(xs, ys) if y > 0]) if any(y > 0 for y in ys) else ((), ())
                if xs:
                    series.append((c, list(xs), list(ys)))
            if not series:
                continue
            fig = Figure(figsize=FIGSIZE, dpi=DPI)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            for c, xs, ys in series:
                dashed = c.reference or c is base
                name = c.label + (" (reference)" if c.reference else "") + (" (anchor)" if c is base else "")
                ax.plot(
                    xs,
                    ys,
                    linestyle="--" if dashed else "-",
                    marker=styles[c.label][1],
                    color=styles[c.label][0],
                    label=name,
                )
            ax.set_xlabel("rate [bpp]")
            ax.set_ylabel(ylabel)
            if logy:
                ax.set_yscale("log")
            ax.set_title(f"{dataset}: {TITLES[kind]}")
            # fixed margins and a legend beside the axes: no layout pass, no "best" search, curves never hidden
            fig.subplots_adjust(left=0.09, right=0.72, bottom=0.11, top=0.92)
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
            path = out / f"{_slug(dataset)}-{kind}.png"
            tmp = path.with_name(path.name + ".tmp")
            try:  # the file is replaced whole or not at all, and no temporary is left behind
                fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            written[kind] = path
    return written


def curve_styles(labels: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) per curve label, in sorted label order: distinct colours for up to 18 curves."""
    import matplotlib.colors as mcolors

    palette = [*mcolors.TABLEAU_COLORS.values(), *_EXTRA_COLOURS]
    return {label: (palette[i % len(palette)], _MARKERS[i % len(_MARKERS)]) for i, label in enumerate(sorted(labels))}


def plots_markdown(paths: dict[str, Path], relative_to: str | os.PathLike | None = None) -> str:
    """Markdown image links for the plots of one dataset (paths relative to the report's folder)."""
    lines = []
    for kind, path in paths.items():
        shown = Path(os.path.relpath(path, relative_to)) if relative_to is not None else path
        lines.append(f"![{TITLES[kind]}]({shown.as_posix()})")
    note = "Dashed: the anchor and reference curves. Time axes are logarithmic; reference curves are not timed here."
    return "\n\n".join(lines) + ("\n\n" + note + "\n" if lines else "")
