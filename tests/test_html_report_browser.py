"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) driven by playwright's Python API.

The page is opened from disk (file://) with the network of the browser unused: no console errors, one chart
trace per codec configuration, the viewer swaps what it draws when a control changes, a screenshot is not blank;
a page built from curves, equal-rate and equal-quality runs and a reference curve draws the RD analysis's tables
(How sure, At equal rate, reference provenance) with the rows of its data.
Where Chromium or playwright is absent these tests skip with the reason (docs/contributing.md says how to get
them). With ``CODECBENCH_SCREENSHOTS=DIR`` the committed Kodak report's test writes the screenshots of the
manual (``docs/img``) there.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_helpers import measured_run

from codecbench.analysis.curves import curves
from codecbench.cli import main
from codecbench.core.results import read_results

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: a browser that touches nothing outside the page: no GPU, no background fetches, no first-run set-up
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
if not Path(CHROMIUM).is_file():
    pytest.skip("Chromium is absent: install Debian's chromium package (docs/contributing.md)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    results = measured_run(folder)
    return folder / "reports" / "embedded.html", results


class Opened:
    """A report page loaded and ready (its viewer drawn), with what it logged and what it tried to fetch."""

    def __init__(self, browser, path: Path, size=(1400, 1000)):
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.problems: list[str] = []
        self.fetched: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"{m.type}: {m.text}") if m.type in (
            "error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.fetched.append(r.url) if not r.url.startswith(("file:", "data:"))
                     else None)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=120_000)

    def traces(self) -> dict[str, list[str]]:
        """Chart id -> the names of its drawn traces (from the chart's DOM)."""
        return self.page.evaluate("""Object.fromEntries([...document.querySelectorAll('.chart')].map(d =>
            [d.dataset.metric, [...d.querySelectorAll('.scatterlayer .trace')].map((t, i) => d.data[i].meta)]))""")

    def canvas(self, which: str = "#v-canvas-a") -> tuple[str, str]:
        """(what the canvas says it shows, its pixels as a data URL)."""
        shown = self.page.get_attribute(which, "data-shown")
        return shown, self.page.evaluate(f"document.querySelector('{which}').toDataURL()")

    def settle(self) -> None:
        self.page.wait_for_timeout(300)
        self.page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.fixture(scope="module")
def opened(browser, run):
    page = Opened(browser, run[0])
    yield page
    page.page.close()


def test_the_page_loads_offline_without_console_errors(opened):
    assert opened.problems == []
    assert opened.fetched == []


def test_each_chart_draws_one_trace_per_codec_configuration(opened, run):
    _, records = read_results(run[1])
    labels = sorted(c.label for c in curves(records) if not c.lossless)
    traces = opened.traces()
    assert set(traces) >= {"psnr", "psnr_y", "ssim", "ms_ssim_db", "enc_ms", "dec_ms"}
    for metric, names in traces.items():
        assert sorted(names) == labels, metric


def test_a_legend_click_hides_that_codec_in_every_chart(opened):
    opened.page.locator("#chart-psnr .legend .traces").first.click()
    opened.settle()
    hidden = opened.page.evaluate("""[...document.querySelectorAll('.chart')].map(d =>
        d.data.filter(t => t.visible === 'legendonly').map(t => t.meta))""")
    assert all(h == hidden[0] for h in hidden) and len(hidden[0]) == 1
    opened.page.locator("#chart-psnr .legend .traces").first.click()  # and shows it again
    opened.settle()


def test_the_viewer_swaps_pictures_when_a_control_changes(opened):
    page = opened.page
    first = opened.canvas()
    page.select_option("#v-side-b .v-config", "original")
    opened.settle()
    to_original = opened.canvas()
    assert to_original[0] != first[0] and to_original[0].endswith("o:" + page.input_value("#v-image"))
    assert to_original[1] != first[1]
    rates = page.eval_on_selector_all("#v-side-a .v-rate option", "os => os.map(o => o.value)")
    other = next(r for r in rates if r != page.input_value("#v-side-a .v-rate"))
    page.select_option("#v-side-a .v-rate", other)
    opened.settle()
    assert opened.canvas()[0].split()[0] == other
    images = page.eval_on_selector_all("#v-image option", "os => os.map(o => o.value)")
    before = opened.canvas()
    page.select_option("#v-image", images[-1])
    opened.settle()
    assert opened.canvas()[1] != before[1]


def test_error_and_ssim_maps_are_drawn_from_the_pictures(opened):
    page = opened.page
    page.select_option("#v-mode", "flip")
    page.select_option("#v-side-a .v-config", page.eval_on_selector("#v-side-a .v-config option", "o => o.value"))
    opened.settle()
    plain = opened.canvas()[1]
    for show in ("error", "ssim"):
        page.select_option("#v-side-a .v-show", show)
        opened.settle()
        assert opened.canvas()[1] != plain, show
    page.select_option("#v-side-a .v-show", "image")
    page.click("#v-flip")
    opened.settle()
    assert opened.canvas()[0] == page.evaluate("codecbenchViewerState.shown[1]")
    page.click("#v-flip")
    page.select_option("#v-mode", "split")
    opened.settle()


def test_side_by_side_views_zoom_and_pan_together(opened):
    page = opened.page
    page.select_option("#v-mode", "side")
    page.select_option("#v-zoom", "8")
    opened.settle()
    before = opened.canvas("#v-canvas-b")[1]
    box = page.locator("#v-canvas-a").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 80, steps=4)
    page.mouse.up()
    opened.settle()
    assert opened.canvas("#v-canvas-b")[1] != before  # panning A moved B
    assert page.evaluate("codecbenchViewerState.zoom") == 8
    page.select_option("#v-mode", "split")
    page.select_option("#v-zoom", "0")
    opened.settle()


def test_a_screenshot_is_not_blank(opened):
    for target in (opened.page, opened.page.locator("#v-views")):
        shot = np.asarray(Image.open(io.BytesIO(target.screenshot())).convert("RGB"))
        assert shot.std() > 10
        assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 100


def test_the_tables_sort_and_filter(opened):
    page = opened.page
    page.click("#settings-table th:has-text('bpp')")
    values = page.eval_on_selector_all("#settings-table tbody tr td:nth-child(4)", "ts => ts.map(t => t.textContent)")
    assert values == sorted(values, key=float)
    image = page.eval_on_selector_all("#filter-image option", "os => os.map(o => o.value)")[1]
    page.select_option("#filter-image", image)
    shown = page.eval_on_selector_all("#per-image-table tbody tr td:nth-child(3)", "ts => ts.map(t => t.textContent)")
    assert shown and set(shown) == {image}


@pytest.fixture(scope="module")
def analysed(browser, tmp_path_factory):
    """A page with every table of the RD analysis: three-point JPEG and WebP curves, an equal-rate and an
    equal-quality run of both, and a reference curve with provenance, on two embedded images."""
    folder = tmp_path_factory.mktemp("analysed")
    runs = {"c.json": ["jpeg:quality=20|50|80,webp:quality=20|50|80"],
            "t.json": ["jpeg,webp", "--target-bpp", "0.5,1"], "q.json": ["jpeg,webp", "--target-psnr", "32"]}
    for name, args in runs.items():
        assert main(["run", "--codecs", *args, "--max-images", "2", "-o", str(folder / name), "--no-cache",
                     "-j", "1"]) == 0
    ref = folder / "ref.json"
    ref.write_text(json.dumps({"name": "Ref", "description": "a published curve",
                               "provenance": {"source": "paper, table 2", "tool": "enc 1.0"},
                               "results": {"bpp": [0.5, 1.0, 2.0], "psnr-rgb": [28.0, 31.0, 34.0]}}))
    assert main(["report", *(str(folder / name) for name in runs), "--reference", str(ref), "--format", "html",
                 "--no-plots", "--bootstrap", "200", "--out", str(folder)]) == 0
    page = Opened(browser, folder / "embedded.html")
    yield page
    page.page.close()


def _table(opened: Opened, container: str, index: int = 0) -> tuple[list[str], list[list[str]]]:
    """The head cells and the body rows' cells of the ``index``-th drawn table in ``container``."""
    return opened.page.evaluate("""([c, i]) => { const t = document.querySelectorAll(c + ' table')[i];
        return [[...t.querySelectorAll('thead th')].map(h => h.textContent),
                [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(d => d.textContent))]; }""",
                                [container, index])


def test_the_analysis_tables_are_drawn_with_their_rows_without_console_errors(analysed):
    assert analysed.problems == [] and analysed.fetched == []
    data = analysed.page.evaluate("codecbench.data")
    assert data["confidence"] is not None and len(data["equal_rate"]) == 3 and data["references"]
    head, rows = _table(analysed, "#confidence")
    assert head[0] == "codec" and len(head) == 5
    assert [r[0] for r in rows] == [r["label"] for r in data["confidence"]["rows"]] == [
        "webp", "Ref (reference, not measured here)"]
    assert "How sure: BD-rate against jpeg" in analysed.page.inner_text("#confidence h3")
    webp = rows[0]
    assert all(cell and cell != "—" for cell in webp) and webp[1].endswith("]") and webp[3] == "2 of 2 images"
    assert rows[1][2] == "—" and "reference curve" in rows[1][4]


def test_each_equal_rate_table_has_a_row_per_configuration_and_the_anchor_marked(analysed):
    data = analysed.page.evaluate("codecbench.data")
    titles = analysed.page.eval_on_selector_all("#equal-rate-tables h3", "hs => hs.map(h => h.textContent)")
    assert titles == ["At 0.5 bpp (cpu)", "At 1 bpp (cpu)", "At 32 dB PSNR (cpu)"]
    for index, table in enumerate(data["equal_rate"]):
        head, rows = _table(analysed, "#equal-rate-tables", index)
        assert len(head) == 8 and head[5].startswith("Δ " + ("PSNR dB" if table["target_metric"] == "bpp" else
                                                            "bpp %") + " vs jpeg")
        assert [r[0] for r in rows] == [r["label"] for r in table["rows"]] == ["jpeg", "webp"]
        anchor, webp = rows
        assert anchor[5] == "anchor" and webp[5].endswith("]") and webp[6] == "2 of 2 images"
        assert webp[7] == table["rows"][1]["verdict_text"]
    assert analysed.page.locator("#equal-rate-tables td[class*='verdict-']").count() == 3


def test_a_reference_curve_is_listed_with_its_provenance(analysed):
    items = analysed.page.eval_on_selector_all("#references li li", "ls => ls.map(l => l.textContent)")
    assert "source: paper, table 2" in items and "tool: enc 1.0" in items
    assert "version: not recorded in the file" in items


@pytest.fixture(scope="module")
def kodak_page(tmp_path_factory) -> Path:
    """The Kodak report's page made from the committed results and pictures (reports/README.md's command, its
    output elsewhere): the page itself (18 MB) is not committed."""
    spec = importlib.util.spec_from_file_location("retime_reports", REPO / "bench" / "retime_reports.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path_factory.mktemp("kodak-page")
    command = list(script.KODAK_HTML)
    command[command.index("--out") + 1] = str(out)
    done = subprocess.run([sys.executable, "-m", "codecbench", *command], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out / "kodak.html"


def test_the_committed_kodak_report(browser, kodak_page):
    path = kodak_page
    opened = Opened(browser, path, size=(1500, 1100))
    assert opened.problems == [] and opened.fetched == []
    data = opened.page.evaluate("codecbench.data")
    lossy = sorted(c["label"] for c in data["curves"] if not c["lossless"])
    assert sorted(opened.traces()["psnr"]) == lossy
    assert len(data["pictures"]["decodes"]) > 0
    shots = os.environ.get("CODECBENCH_SCREENSHOTS")
    if shots:
        _screenshots(opened, Path(shots))
    opened.page.close()


def _screenshots(opened: Opened, folder: Path) -> None:
    """The manual's pictures of the report: the PSNR chart, the viewer at work."""
    folder.mkdir(parents=True, exist_ok=True)
    page = opened.page
    page.locator("#chart-psnr").screenshot(path=str(folder / "report-curves.png"))
    page.select_option("#v-side-a .v-config", "jpeg")
    page.select_option("#v-side-b .v-config", next(
        v for v in page.eval_on_selector_all("#v-side-b .v-config option", "os => os.map(o => o.value)")
        if v.startswith("hyperprior")))
    page.fill("#v-target", "0.25")
    page.dispatch_event("#v-target", "change")
    page.select_option("#v-zoom", "2")
    opened.settle()
    page.locator("#viewer").screenshot(path=str(folder / "report-viewer.png"))
