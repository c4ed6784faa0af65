"""`pytest bench` selections that cannot run (or not all of it) here, in subprocesses: a usage error, a skipped
test or a header line saying why, never pytest's "got empty parameter set" nor a traceback per case."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO, nested_pytest_env, smooth_image

#: loaded into the nested session with ``-p``: a codec whose library is absent (it says so by its name and refuses
#: to be built, as compressai's adapter does where compressai is not installed), one that runs only when its spec
#: gives a setting (as torch-model's factory=) and a dataset that lists no image
PLUGIN = textwrap.dedent('''
    import os

    from codecbench.codecs.classical.pillow import JpegCodec
    from codecbench.core.codec import Codec, Setting, register_codec
    from codecbench.core.errors import SpecError
    from codecbench.datasets.registry import register_dataset
    from codecbench.datasets.sources import Source


    @register_codec
    class AbsentLibCodec(Codec):
        name = "absent-lib-test"

        @classmethod
        def unavailable(cls):
            return "libabsent cannot be imported here"

        def __init__(self, **settings):
            raise SpecError(f"codec {self.name!r}: {self.unavailable()}")

        def _encode(self, image):
            raise NotImplementedError

        def _decode(self, data):
            raise NotImplementedError


    @register_codec
    class KeyedJpeg(JpegCodec):
        """Real JPEG that runs only when its spec gives key=...: it cannot run by its name alone. Each build is noted
        in the file $CB_BUILDS."""
        name = "keyed-jpeg-test"
        settings = {**JpegCodec.settings, "key": Setting(str, "none", "any value but none")}

        @classmethod
        def unavailable(cls):
            return "needs key=VALUE"

        def __init__(self, **settings):
            super().__init__(**settings)
            if self.config["key"] == "none":
                raise SpecError(f"{self.name}: {self.unavailable()}")
            with open(os.environ["CB_BUILDS"], "a") as builds:
                builds.write("B")


    class NoImages(Source):
        key = "no-images-test"
        description = "a dataset that lists no image"

        def refs(self, root):
            return [], None, "nothing"


    register_dataset(NoImages())
''')

EMPTY_PARAMETER_SET = "got empty parameter set"


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("selection-plugin")
    (folder / "cb_selection_test.py").write_text(PLUGIN)
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Two small synthetic colour photos (``folder:PATH``; ``folder:PATH:gray`` is their one-channel view)."""
    folder = tmp_path_factory.mktemp("selection-images")
    for i, (h, w) in enumerate([(48, 64), (40, 56)]):
        Image.fromarray(smooth_image(h, w, i)).save(folder / f"img{i}.png")
    return folder


def bench(plugin_dir: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``pytest bench/test_codecs.py --benchmark-only ARGS`` with the test plug-in loaded, skip reasons shown."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "bench" / "test_codecs.py"), "-p", "no:cacheprovider",
         "-p", "cb_selection_test", "--benchmark-only", "--rounds", "1", "--max-images", "1", "-rs",
         "--report-dir", str(tmp_path / "reports"), *args],
        capture_output=True, text=True, cwd=REPO, timeout=600, env=nested_pytest_env(PYTHONPATH=str(plugin_dir), **env))


def skip_reasons(out: str) -> dict[str, int]:
    """Reason → skipped tests, from pytest's ``-rs`` summary (``SKIPPED [2] path: reason``)."""
    lines = [line.removeprefix("SKIPPED [") for line in out.splitlines() if line.startswith("SKIPPED [")]
    return {line.partition(": ")[2]: int(line.partition("]")[0]) for line in lines}


def usage_error(done: subprocess.CompletedProcess) -> str:
    """The one line of a usage error (exit status 4, no traceback, nothing run)."""
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 4 and len(lines) == 1, done.stdout[-3000:] + done.stderr[-3000:]
    return lines[0]


NAMED_UNAVAILABLE = [
    (["--codecs", "absent-lib-test"],
     "ERROR: --codecs absent-lib-test cannot run here: codec 'absent-lib-test': libabsent cannot be imported here"),
    (["--codecs", "png,absent-lib-test", "--devices", "cuda"],  # its cases would be skipped: said first all the same
     "ERROR: --codecs absent-lib-test cannot run here: codec 'absent-lib-test': libabsent cannot be imported here"),
    (["--codecs", "torch-model"], "ERROR: --codecs torch-model cannot run here: torch-model: needs factory="),
    (["--codecs", "torch-model:factory=nosuchpkg.models:make"],
     "ERROR: --codecs torch-model:factory=nosuchpkg.models:make cannot run here: torch-model: factory module "
     "'nosuchpkg.models' cannot be imported"),
]


@pytest.mark.parametrize("args, message", NAMED_UNAVAILABLE, ids=[" ".join(a) for a, _ in NAMED_UNAVAILABLE])
def test_a_named_codec_that_cannot_run_here_is_a_usage_error(plugin_dir, tmp_path, args, message):
    """Not one failed test per case with a traceback: one line naming the codec and why, before anything runs."""
    assert usage_error(bench(plugin_dir, tmp_path, *args)).startswith(message)


def test_a_named_spec_that_gives_what_its_codec_needs_runs(plugin_dir, tmp_path):
    """A codec that cannot run by its name alone runs where the spec gives what it needs; the codec built to check
    that is the one the case times (built once)."""
    builds = tmp_path / "builds"
    done = bench(plugin_dir, tmp_path, "--codecs", "keyed-jpeg-test:key=x,quality=50", CB_BUILDS=str(builds))
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert builds.read_text() == "B"
    line = usage_error(bench(plugin_dir, tmp_path, "--codecs", "keyed-jpeg-test:quality=50", CB_BUILDS=str(builds)))
    assert line == "ERROR: --codecs keyed-jpeg-test:quality=50 cannot run here: keyed-jpeg-test: needs key=VALUE"


def test_compressai_named_where_it_cannot_be_imported(plugin_dir, tmp_path):
    """The case of the report: `--codecs compressai` without compressai."""
    try:
        import compressai  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("compressai can be imported here")
    line = usage_error(bench(plugin_dir, tmp_path, "--codecs", "compressai"))
    assert line.startswith("ERROR: --codecs compressai:quality=1 cannot run here: codec 'compressai': compressai "
                           "cannot be imported here ("), line


def test_the_default_selection_leaves_out_what_cannot_run_with_one_line_each(plugin_dir, photos, tmp_path):
    """Every registered codec by default: the ones that cannot run here (one line: which and why) and, on a
    one-channel dataset, those that take colour images only (one line) are left out, not skipped one by one."""
    done = bench(plugin_dir, tmp_path, "--collect-only", "-q", "--datasets", f"folder:{photos}:gray")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert ids and not any("absent-lib-test" in i or "webp" in i for i in ids)
    unavailable = [line for line in done.stdout.splitlines() if "cannot run here and are left out" in line]
    assert len(unavailable) == 1 and unavailable[0].startswith("codecbench: "), done.stdout[-3000:]
    assert "absent-lib-test (libabsent cannot be imported here)" in unavailable[0]
    assert "torch-model (needs factory=" in unavailable[0]
    channels = [line for line in done.stdout.splitlines() if line.startswith("codecbench: left out: ")]
    assert len(channels) == 1 and f"take 3-channel images only and folder:{photos}:gray has 1" in channels[0]
    assert "webp, webp-lossless" in channels[0]


def test_named_cases_a_codec_refuses_are_skipped_saying_why(plugin_dir, photos, tmp_path):
    """--devices cpu,cuda with CPU-only codecs, a colour-only codec on a one-channel dataset: one skipped test per
    (codec, device) or (codec, dataset) with the reason; the rest runs."""
    gray = f"folder:{photos}:gray"
    done = bench(plugin_dir, tmp_path, "--codecs", "webp:quality=50,png", "--datasets", f"folder:{photos},{gray}",
                 "--devices", "cpu,cuda", "-v")
    out = done.stdout
    assert done.returncode == 0 and "6 passed, 6 skipped" in out, out[-3000:] + done.stderr[-3000:]
    assert EMPTY_PARAMETER_SET not in out
    assert skip_reasons(out) == {f"webp takes 3-channel images only and {gray} has 1": 2,
                                 "webp runs on cpu only, not cuda": 2, "png runs on cpu only, not cuda": 2}, out
    for test in ("test_encode", "test_decode"):
        assert f"{test}[webp-{gray}] SKIPPED" in out and f"{test}[webp-cuda] SKIPPED" in out, out
        assert f"{test}[png-cuda] SKIPPED" in out and f"{test}[png:compress_level=6-{gray}-cpu] PASSED" in out


def test_named_cuda_cases_without_cuda_are_one_skip_per_codec(plugin_dir, tmp_path):
    """--devices cuda where CUDA is absent: each codec's cuda cases (a sweep of several) are one skipped test
    saying why, not pytest's "empty parameter set" nor one skip per sweep point."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    done = bench(plugin_dir, tmp_path, "--codecs", "cnn-ae", "--devices", "cuda", "-v")
    out = done.stdout
    assert done.returncode == 0 and "2 skipped" in out and "passed" not in out, out[-3000:] + done.stderr[-3000:]
    assert skip_reasons(out) == {"cnn-ae on cuda: no CUDA device here (torch.cuda.is_available() is False)": 2}, out
    assert "test_encode[cnn-ae-cuda] SKIPPED" in out and "test_decode[cnn-ae-cuda] SKIPPED" in out


def test_nothing_to_run_is_a_usage_error(plugin_dir, photos, tmp_path):
    """Every selected case refused by its codec (anywhere, not for lack of CUDA here): one line saying why."""
    assert usage_error(bench(plugin_dir, tmp_path, "--codecs", "jpeg", "--devices", "cuda")) == (
        "ERROR: nothing to run: jpeg runs on cpu only, not cuda")
    gray = f"folder:{photos}:gray"
    assert usage_error(bench(plugin_dir, tmp_path, "--codecs", "webp,webp-lossless", "--datasets", gray)) == (
        f"ERROR: nothing to run: webp, webp-lossless take 3-channel images only and {gray} has 1")


EMPTY_OPTIONS = [
    (["--codecs", ""], "ERROR: --codecs '' names nothing: give comma-separated codec specs"),
    (["--codecs", " , "], "ERROR: --codecs ' , ' names nothing: give comma-separated codec specs"),
    (["--datasets", ""], "ERROR: --datasets '' names nothing: give comma-separated datasets"),
    (["--devices", ","], "ERROR: --devices ',' names nothing: give comma-separated devices: cpu, cuda"),
    (["--codecs", "png", "--datasets", "no-images-test"], "ERROR: dataset 'no-images-test' has no images"),
]


@pytest.mark.parametrize("args, message", EMPTY_OPTIONS, ids=[" ".join(a) or "empty" for a, _ in EMPTY_OPTIONS])
def test_a_selection_of_nothing_is_a_usage_error(plugin_dir, tmp_path, args, message):
    """An option given but naming nothing is not the default (every codec, embedded, every device), and a
    dataset without images is no dataset to run on."""
    assert usage_error(bench(plugin_dir, tmp_path, *args)).startswith(message)
