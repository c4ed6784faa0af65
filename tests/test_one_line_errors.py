"""Issue 21 item 14: hostile inputs and failing outputs are one-line errors (exit 2), never a traceback.

Reference curves (``report --reference``), reference names in the report, plots on a full disk,
``train --resume`` from malformed states and ``--opt init=`` without weights, a crash message
quoting another call's stderr, and the lock file a refused ``--out`` left behind.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from rd_helpers import jpeg_records

from codecbench.analysis.compressai_json import load_reference
from codecbench.cli import main
from codecbench.core.errors import CodecCrashError, ResultsError
from codecbench.core.results import write_results
from codecbench.engine.isolation import Worker
from codecbench.engine.store import ResultsStore, lock_path


def _one_line_error(capsys, argv, expected: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("codecbench: error: ") and len(err.strip().splitlines()) == 1, err
    assert expected in err, err
    return err


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "jpeg.json"
    write_results(path, jpeg_records(), {})
    return path


# -- report --reference: hostile reference files ---------------------------------------------
_BPP, _PSNR = [0.2, 0.5, 1.0, 2.0], [28.0, 31.0, 34.0, 38.0]


def _reference(**results) -> str:
    return json.dumps({"name": "paper", "results": {"bpp": _BPP, "psnr-rgb": _PSNR, **results}})


HOSTILE_REFERENCES = {
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    "deep inside results": ('{"results": {"bpp": ' + "[" * 100_000 + "]" * 100_000 + "}}", "nested too deeply"),
    "400-digit integer": (_reference().replace("0.2", "1" + "0" * 400, 1), "out of range"),
    "5000-digit integer": (_reference().replace("0.2", "1" + "0" * 5000, 1), "4300 digits"),
    "bpp 1e308": (_reference(bpp=[0.2, 0.5, 1.0, 1e308]), "results.bpp[3]: field 'bpp' is out of range"),
    "bpp 100": (_reference(bpp=[0.2, 0.5, 1.0, 100]), "rate point 4: field 'bpp' is 100, above 64"),
    "bpp 1e400 (Infinity)": (_reference().replace("2.0]", "1e400]", 1), "not inf"),
    "bpp NaN": (_reference(bpp=[0.2, float("nan"), 1.0, 2.0]), "rate point 2: field 'bpp' must be a finite"),
    "negative bpp": (_reference(bpp=[-0.2, 0.5, 1.0, 2.0]), "positive"),
    "PSNR NaN": (_reference(**{"psnr-rgb": [28.0, float("nan"), 34.0, 38.0]}), "field 'psnr' must be a finite"),
    "negative PSNR": (_reference(**{"psnr-rgb": [-28.0, 31.0, 34.0, 38.0]}), "field 'psnr' is -28, outside [0,"),
    "PSNR 1000 dB": (_reference(**{"psnr-rgb": [28.0, 31.0, 34.0, 1000]}), "field 'psnr' is 1000, outside"),
    "MS-SSIM 5": (_reference(**{"ms-ssim-rgb": [0.9, 0.95, 5.0, 0.99]}), "field 'ms_ssim' is 5, outside [-1, 1]"),
    "negative time": (_reference(encoding_time=[-1, 1, 1, 1]), "field 'enc_s' must not be negative"),
    "name with a newline": (json.dumps({"name": "pa\nper", "results": {"bpp": _BPP, "psnr": _PSNR}}), "curve name"),
    "name with a NUL": (json.dumps({"name": "pa\x00per", "results": {"bpp": _BPP, "psnr": _PSNR}}), "curve name"),
    "name not a string": (json.dumps({"name": {"a": 1}, "results": {"bpp": _BPP, "psnr": _PSNR}}), "curve name"),
}


@pytest.mark.parametrize("case", list(HOSTILE_REFERENCES))
def test_a_hostile_reference_file_is_one_line_exit_2(results, tmp_path, capsys, case):
    text, expected = HOSTILE_REFERENCES[case]
    ref = tmp_path / "ref.json"
    ref.write_text(text)  # json.dumps writes NaN as Python's reader takes it
    with pytest.raises(ResultsError, match=r"ref\.json: "):
        load_reference(ref, "photos")
    _one_line_error(capsys, ["report", str(results), "--reference", str(ref), "-o", str(tmp_path / "out")], expected)


def test_a_sound_reference_still_loads(tmp_path):
    ref = tmp_path / "ref.json"
    ref.write_text(_reference(**{"ms-ssim-rgb": [0.9, 0.93, 0.96, 0.99]}, encoding_time=[0.1] * 4))
    curve = load_reference(ref, "photos")
    assert [p.bpp for p in curve.points] == _BPP and curve.points[3].ms_ssim == 0.99


def _table_rows_are_whole(text: str) -> bool:
    """Every row of every markdown table has as many cell separators (unescaped ``|``) as its header."""
    widths: list[int] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            widths.append(line.replace("\\|", "").count("|"))
        elif widths:
            if len(set(widths)) != 1:
                return False
            widths = []
    return True


@pytest.mark.parametrize("name", ["pa|per", "a $\\foo$ b", "50$ codec"])
def test_a_reference_name_never_breaks_the_report_or_its_plots(results, tmp_path, name):
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"name": name, "description": "line one\nline two\x00", "results":
                               {"bpp": _BPP, "psnr-rgb": _PSNR}}))
    out = tmp_path / "out"
    assert main(["report", str(results), "--reference", str(ref), "-o", str(out)]) == 0  # plots too (mathtext)
    text = (out / "photos.md").read_text()
    assert _table_rows_are_whole(text)
    assert any(line.startswith("| " + name.replace("|", "\\|")) for line in text.splitlines()), text
    assert "line one line two" in text and "\x00" not in text
    assert len(list(out.glob("plots/*.png"))) >= 2


def test_a_name_from_a_results_file_never_breaks_a_table(tmp_path):
    from dataclasses import replace

    records = [replace(r, codec="pn|g\nx", lossless=True, lossless_ok=False) for r in jpeg_records((50,))]
    path, out = tmp_path / "r.json", tmp_path / "out"
    write_results(path, records, {})
    assert main(["report", str(path), "-o", str(out), "--no-plots"]) == 0
    text = (out / "photos.md").read_text()
    assert _table_rows_are_whole(text) and "| pn\\|g x |" in text


# -- plots on a full disk -------------------------------------------------------------------
def test_a_full_disk_while_writing_plots_names_the_plot(results, tmp_path, capsys):
    plots = tmp_path / "out" / "plots"
    plots.mkdir(parents=True)
    (plots / "photos-psnr.png.tmp").symlink_to("/dev/full")  # writes through it fail with ENOSPC
    _one_line_error(capsys, ["report", str(results), "-o", str(tmp_path / "out")],
                    f"cannot write plot {plots / 'photos-psnr.png'}: [Errno 28] No space left on device")
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    _one_line_error(capsys, ["report", str(results), "-o", str(tmp_path / "out2"), "--plots", str(blocker / "plots")],
                    f"cannot write plots folder {blocker / 'plots'}: [Errno 20] Not a directory")
    exported = tmp_path / "cai" / "photos"
    exported.mkdir(parents=True)
    (exported / "jpeg.json.tmp").symlink_to("/dev/full")
    _one_line_error(capsys, ["report", str(results), "--no-plots", "--compressai", str(tmp_path / "cai")],
                    f"cannot write CompressAI curve {exported / 'jpeg.json'}: [Errno 28] No space left on device")


# -- train --resume from malformed states, --opt init= without weights ------------------------------
@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """A 3-image training folder and the state.pt of a real 1-step mlp-huffman training."""
    root = tmp_path_factory.mktemp("train")
    data = root / "imgs"
    data.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(data / f"{i}.png")
    assert main(_train_argv(root, root / "good", "--steps", "1")) == 0
    return root, torch.load(root / "good" / "state.pt", weights_only=True)


def _train_argv(root, work, *extra, model="mlp-huffman"):
    return ["train", model, "--data", str(root / "imgs"), "--out", str(work.with_suffix(".pt")), "--workdir",
            str(work), "--steps", "2", "--holdout", "1", "--no-progress", *extra]


MALFORMED_STATES = {
    "not a dict": (lambda s: [1, 2, 3], "holds a list, expected a dict"),
    "a tensor": (lambda s: torch.zeros(3), "holds a Tensor, expected a dict"),
    "missing the optimizer": (lambda s: {k: v for k, v in s.items() if k != "optimizer"}, "has no 'optimizer'"),
    "missing the step": (lambda s: {k: v for k, v in s.items() if k != "step"}, "has no 'step'"),
    "step of the wrong type": (lambda s: {**s, "step": "many"}, "'step' is a str, not int"),
    "step true": (lambda s: {**s, "step": True}, "'step' is a bool, not int"),
    "weights of the wrong type": (lambda s: {**s, "state_dict": [1]}, "'state_dict' is a list, not dict"),
    "truncated file": (None, "is corrupt or not a torch checkpoint"),
    "step 10^18": (lambda s: {**s, "step": 10**18}, "stands at step 1000000000000000000, outside 0..2"),
    "negative step": (lambda s: {**s, "step": -5}, "stands at step -5, outside 0..2"),
    "NaN wall time": (lambda s: {**s, "wall_seconds": float("nan")}, "'wall_seconds' is nan"),
    "foreign weights": (lambda s: {**s, "state_dict": {"x": torch.zeros(1)}}, "does not fit the FloatPredictor"),
    "foreign optimizer": (lambda s: {**s, "optimizer": {"state": {}, "param_groups": []}}, "'optimizer' does not fit"),
    "optimizer moments of another shape": (
        lambda s: {**s, "optimizer": {**s["optimizer"], "state": {
            i: {k: (v.flatten()[:1] if k != "step" else v) for k, v in kept.items()}
            for i, kept in s["optimizer"]["state"].items()}}}, "for a parameter of shape"),
    "numpy generator state": (lambda s: {**s, "numpy_rng": {"bit_generator": "nope"}}, "'numpy_rng' does not fit"),
    "torch generator state": (lambda s: {**s, "torch_rng": torch.zeros(3)}, "'torch_rng' does not fit"),
}


@pytest.mark.parametrize("case", list(MALFORMED_STATES))
def test_resume_from_a_malformed_state_is_one_line_and_exports_nothing(training, tmp_path, capsys, case):
    root, good = training
    change, expected = MALFORMED_STATES[case]
    work = tmp_path / "work"
    work.mkdir()
    if change is None:
        torch.save(good, work / "state.pt")
        (work / "state.pt").write_bytes((work / "state.pt").read_bytes()[:500])
    else:
        torch.save(change(good), work / "state.pt")
    _one_line_error(capsys, _train_argv(root, work, "--resume"), expected)
    assert not work.with_suffix(".pt").exists()  # no model exported


def test_resume_from_a_sound_state_continues_it(training, tmp_path, capsys):
    root, good = training
    work = tmp_path / "work"
    work.mkdir()
    torch.save(good, work / "state.pt")
    assert main(_train_argv(root, work, "--resume")) == 0
    assert torch.load(work / "state.pt", weights_only=True)["step"] == 2
    capsys.readouterr()
    _one_line_error(capsys, _train_argv(root, tmp_path / "w2", "--steps", "-3"), "--steps must be at least 1, not -3")


@pytest.mark.parametrize("model", ["cnn-ae", "cnn-rnn-ae", "hyperprior"])
@pytest.mark.parametrize("weights, expected", [
    (None, "has no state_dict"),
    ({"x": torch.zeros(1)}, "does not fit the"),
    ("ints", "does not fit the"),
])
def test_init_checkpoint_without_fitting_weights_is_one_line(training, tmp_path, capsys, model, weights, expected):
    from codecbench.training.trainable import get_trainable

    root, _ = training
    small = ["--opt", "N=8", "--opt", "M=8"] if model != "cnn-rnn-ae" else []
    trainable = get_trainable(model)(**dict(o.split("=") for o in small[1::2]))
    ckpt = {"arch": trainable.arch()}
    if weights == "ints":
        ckpt["state_dict"] = {k: 1 for k in trainable.build().state_dict()}
    elif weights is not None:
        ckpt["state_dict"] = weights
    init = tmp_path / "init.pt"
    torch.save(ckpt, init)
    err = _one_line_error(capsys, _train_argv(root, tmp_path / "work", "--opt", f"init={init}", *small, model=model),
                          expected)
    assert str(init) in err


# -- a crash quotes only its own call's stderr -----------------------------------------------------
def test_a_crash_message_quotes_only_the_crashed_calls_stderr():
    with Worker(label="test worker") as worker:
        worker.call("os:write", 2, b"jpeg: a warning written during an earlier call\n")
        with pytest.raises(CodecCrashError) as silent:
            worker.call("os:_exit", 3, describe="silent crash")
        assert str(silent.value) == "silent crash: the test worker exited with status 3"
        worker.call("os:write", 2, b"an earlier line\n")
        with pytest.raises(CodecCrashError, match=r"noisy crash: the test worker exited with status 4 \(stderr: its own\)$"):
            worker.call("builtins:exec", "import os; os.write(2, b'its own\\n'); os._exit(4)", describe="noisy crash")


# -- a refused --out leaves no lock -------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"# a README\n", b"", b"{not json", b'{"records": [{"spec": 1}]}', b"\x00\xff" * 10])
def test_a_refused_results_file_leaves_no_lock(tmp_path, capsys, content):
    out = tmp_path / "README.md"
    out.write_bytes(content)
    with pytest.raises(ResultsError):
        ResultsStore(out, meta={})
    assert not lock_path(out).exists()
    assert main(["run", "png", "-d", "embedded", "--max-images", "1", "-o", str(out), "--no-cache", "-j", "1"]) == 2
    assert not lock_path(out).exists() and capsys.readouterr().err.startswith("codecbench: error: ")
    assert out.read_bytes() == content


def test_a_held_lock_is_kept_by_a_refused_store(tmp_path):
    path = tmp_path / "r.json"
    with ResultsStore(path, meta={}):
        with pytest.raises(ResultsError, match="being written by another codecbench run"):
            ResultsStore(path, meta={})
        assert lock_path(path).exists()  # the holder's lock is not removed by the refused second store


def test_a_lock_file_removed_before_it_was_locked_is_not_taken_for_the_lock(tmp_path, monkeypatch):
    """A refused store removes its lock file; a store that had opened that file meanwhile locks the new one."""
    import fcntl

    path, real_flock, calls = tmp_path / "r.json", fcntl.flock, []

    def flock_after_a_removal(handle, operation):
        if not calls:
            lock_path(path).unlink()  # what a refusing store does between this store's open and flock
        calls.append(operation)
        return real_flock(handle, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_removal)
    with ResultsStore(path, meta={}):
        monkeypatch.undo()
        assert len(calls) == 2 and lock_path(path).exists()
        with pytest.raises(ResultsError, match="being written by another codecbench run"):
            ResultsStore(path, meta={})  # the lock file at the path is the one held
