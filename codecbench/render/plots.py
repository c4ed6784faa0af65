"""Rate–distortion and speed plots (matplotlib, Agg, PNG), one set per dataset.

For each dataset: PSNR–bpp, MS-SSIM (dB)–bpp, encode time–bpp and decode
time–bpp (log time axis, ms as in the tables); one curve per codec
configuration. Reference curves are left out of the time plots (their times
were measured on another machine).

Each codec has one colour in every plot of every report (:func:`codec_colour`);
a codec's configurations differ by marker, reference curves are dotted and
the anchor dashed. Output is deterministic, so committed plots do not churn:
a fixed figure size, dpi, font (DejaVu Sans, shipped with matplotlib) and
style, no hash salts, and PNG metadata stripped of the matplotlib version
(``Software``). The same inputs on the same matplotlib and FreeType give
byte-identical files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from codecbench.analysis.bdrate import DEFAULT_ANCHOR, find_anchor
from codecbench.analysis.curves import Curve
from codecbench.core.names import file_part
from codecbench.core.results import output_errors

FIGSIZE = (8.4, 4.6)
DPI = 100

#: plot kind -> (curve metric, y label, log y axis)
PLOTS = {
    "psnr": ("psnr", "PSNR (RGB) [dB]", False),
    "ms-ssim": ("ms_ssim_db", "MS-SSIM (RGB) [dB]  −10·log10(1 − MS-SSIM)", False),
    "enc-time": ("enc_s", "encode time per image [ms]", True),
    "dec-time": ("dec_s", "decode time per image [ms]", True),
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
#: colours told apart from each other: matplotlib's ten Tableau colours, then sixteen more
PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray",
           "tab:olive", "tab:cyan", "black", "gold", "darkcyan", "navy", "yellowgreen", "maroon", "magenta",
           "slategray", "lightcoral", "darkkhaki", "mediumseagreen", "peru", "steelblue", "orchid", "sienna",
           "lightskyblue")
#: the built-in codecs and the usual reference curves, one palette colour each (lower-case codec name)
CODEC_COLOURS = {name: PALETTE[i] for i, name in enumerate((
    "jpeg", "jpeg2000", "webp", "avif", "jpegxl", "hevc", "vtm", "hm", "bpg444", "av1",
    "cnn-ae", "cnn-ae-ft", "ssdcae", "comcnn", "hyperprior", "gan-hyperprior", "gan-ae", "cnn-rnn-ae",
    "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor",
    "cheng2020-attn", "bpg", "jpeg-xl"))}


def plot_dataset(
    curves: Sequence[Curve],
    out_dir: str | os.PathLike,
    *,
    anchor: str = DEFAULT_ANCHOR,
    kinds: Sequence[str] = tuple(PLOTS),
) -> dict[str, Path]:
    """Write the PNG plots of one dataset's curves into ``out_dir``; return {kind: path}.

    A kind with no curve that has data for it is skipped. A write error (disk full, a path through a regular
    file) is an :class:`~codecbench.core.errors.OutputError` naming the folder or plot.
    """
    import matplotlib  # lazily: reports without plots never pay for matplotlib's import

    matplotlib.use("Agg", force=False)
    from matplotlib import style

    lossy = [c for c in curves if not c.lossless]
    if not lossy:
        return {}
    dataset = lossy[0].dataset
    out = Path(out_dir)
    with output_errors(out, "plots folder"):
        out.mkdir(parents=True, exist_ok=True)
    base = find_anchor(lossy, anchor)
    styles = curve_styles(lossy)
    written: dict[str, Path] = {}
    with style.context("default"), matplotlib.rc_context(_RC):
        for kind in kinds:
            series = _series(lossy, PLOTS[kind][0])
            if series:
                written[kind] = out / f"{file_part(dataset, fallback='dataset')}-{kind}.png"
                _save(_figure(kind, dataset, series, base, styles), written[kind])
    return written


def _series(curves: Sequence[Curve], metric: str) -> list[tuple[Curve, list[float], list[float]]]:
    """(curve, bpp, value) of each curve with data for ``metric``; times in ms (as the tables), positive ones
    only, and reference curves left out of time plots (their times were measured on another machine)."""
    timing = metric in ("enc_s", "dec_s")
    series = []
    for c in curves:
        if timing and c.reference:
            continue
        xs, ys = c.series(metric)
        if timing:
            xs, ys = [x for x, y in zip(xs, ys) if y > 0], [1e3 * y for y in ys if y > 0]
        if xs:
            series.append((c, list(xs), list(ys)))
    return series


def _figure(kind: str, dataset: str, series: list[tuple[Curve, list[float], list[float]]], base: Curve | None,
            styles: dict[str, tuple[str, str]]) -> Any:
    """The matplotlib figure of one plot kind: a line per curve, its legend beside the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _, ylabel, logy = PLOTS[kind]
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")  # every label inside the figure
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for c, xs, ys in series:
        name = c.label + (" (reference)" if c.reference else "") + (" (anchor)" if c is base else "")
        colour, marker = styles[c.label]
        ax.plot(xs, ys, linestyle=":" if c.reference else "--" if c is base else "-", marker=marker,
                color=colour, label=_literal(name))
    ax.set_xlabel("rate [bpp]")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(_literal(f"{dataset}: {TITLES[kind]}"))
    fig.legend(loc="outside right upper")  # beside the axes: curves never hidden, no "best" search
    return fig


def _save(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` as PNG, replacing the file whole or not at all (no temporary left behind)."""
    tmp = path.with_name(path.name + ".tmp")
    with output_errors(path, "plot"):
        try:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _literal(text: str) -> str:
    """``text`` as matplotlib shows it verbatim: a ``$`` in a name would start mathtext (and may not parse)."""
    return text.replace("$", r"\$")


def codec_colour(codec: str) -> str:
    """The colour of ``codec`` in every plot: its entry of :data:`CODEC_COLOURS` (case-insensitive), else a
    palette colour chosen by a digest of the name, so a plug-in codec keeps its colour from report to report."""
    name = codec.lower()
    if name in CODEC_COLOURS:
        return CODEC_COLOURS[name]
    return PALETTE[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(PALETTE)]


def curve_styles(curves: Iterable[Curve]) -> dict[str, tuple[str, str]]:
    """(colour, marker) per curve label: the codec's colour, and a marker per configuration of that codec
    (in sorted label order, so a configuration keeps its marker from run to run)."""
    by_codec: dict[str, list[str]] = {}
    for c in curves:
        by_codec.setdefault(c.codec.lower(), []).append(c.label)
    return {label: (codec_colour(codec), _MARKERS[i % len(_MARKERS)])
            for codec, labels in by_codec.items() for i, label in enumerate(sorted(set(labels)))}


def plots_markdown(paths: dict[str, Path], relative_to: str | os.PathLike | None = None) -> str:
    """Markdown image links for the plots of one dataset (paths relative to the report's folder)."""
    lines = []
    for kind, path in paths.items():
        shown = Path(os.path.relpath(path, relative_to)) if relative_to is not None else path
        lines.append(f"![{TITLES[kind]}]({shown.as_posix()})")
    note = "Dashed: the anchor; dotted: reference curves. Time axes are logarithmic; reference curves are not timed here."
    return "\n\n".join(lines) + ("\n\n" + note + "\n" if lines else "")
