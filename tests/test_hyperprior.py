"""Tests of ``hyperprior`` (Ballé 2018 scale hyperprior) and ``gan-hyperprior`` (seed 003, HiFiC-like).

Structure tests use small randomly initialised networks exported to a
temporary checkpoint; the quality, rate-knob, determinism and fresh-process
tests use the shipped checkpoints (skipped where one is missing).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from codecbench.codecs.learned.base import CHECKPOINT_DIR, save_atomic
from codecbench.codecs.learned.container import Container
from codecbench.codecs.learned.models import gan_hyperprior, hyperprior
from codecbench.codecs.learned.gaussian import GaussianConditional, code_indexed, decode_indexed, min_indexed_bytes
from codecbench.codecs.learned.priors import FREQ_PRECISION
from codecbench.core import metrics
from codecbench.core.codec import create_codec
from codecbench.core.errors import DecodeError
from codecbench.training import TrainConfig, train
from tests.conftest import bpp_psnr, kodak_crops, smooth_image
from tests.hostile_streams import learned_stream, rejects_without_allocating

SHIPPED = {name: cls.sweep for name, cls in (("hyperprior", hyperprior.HyperpriorCodec),
                                               ("gan-hyperprior", gan_hyperprior.GanHyperpriorCodec))}


def _shipped(name: str) -> tuple[int, ...]:
    qs = tuple(q for q in SHIPPED[name] if (CHECKPOINT_DIR / f"{name}-q{q}.pt").is_file())
    if not qs:
        pytest.skip(f"no shipped {name} checkpoint")
    return qs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random-init hyperprior (N=M=16) exported with its tables: the path of its checkpoint."""
    torch.manual_seed(0)
    t = hyperprior.HyperpriorTrainable(N=16, M=16)
    path = tmp_path_factory.mktemp("hp") / "tiny.pt"
    save_atomic(t.export(t.build().eval(), {}), path)
    return path


@pytest.fixture(scope="module")
def gc():
    g = GaussianConditional()
    g.update_tables()
    return g


# -- Gaussian conditional -----------------------------------------------------------------
def test_scale_tables_are_integer_and_complete(gc):
    assert gc.table_freq.dtype == torch.int32 and gc.table_freq.shape[0] == 64
    assert (gc.table_freq.sum(dim=1) == FREQ_PRECISION).all()
    # wider scales have wider tables: the smallest is 3 symbols + escape, the largest thousands
    widths = (gc.table_freq[:, :-1] > 0).sum(dim=1)
    assert widths[0] < 10 < 1000 < widths[-1] and (widths[1:] >= widths[:-1]).all()


def test_index_is_the_first_table_scale_not_below_the_scale(gc):
    table = gc.scale_table
    scales = torch.tensor([0.0, 0.05, float(table[0]), float(table[0]) + 1e-6, float(table[10]), 1e6], dtype=torch.float64)
    assert gc.indexes(scales).tolist() == [0, 0, 0, 1, 10, 63]


def test_indexed_coding_round_trips_with_escapes(gc):
    rng = np.random.default_rng(1)
    idx = torch.from_numpy(rng.integers(0, 64, (3, 20, 30)))
    y = torch.from_numpy(rng.normal(0, 1, (3, 20, 30))) * gc.scale_table[idx]
    y[0, 0, :3] = torch.tensor([1e4, -2e4, 7e5], dtype=torch.float64)  # far outside every table: escapes
    payload, escapes = code_indexed(gc, y, idx)
    assert escapes  # the far values went there
    back = decode_indexed(gc, payload, escapes, idx)
    assert torch.equal(back, torch.round(y))
    assert len(payload) >= min_indexed_bytes(gc, idx)


def test_indexed_decode_with_other_indexes_fails_or_differs(gc):
    idx = torch.full((1, 8, 8), 40)
    y = torch.randn(1, 8, 8, dtype=torch.float64) * 20
    payload, escapes = code_indexed(gc, y, idx)
    try:
        back = decode_indexed(gc, payload, escapes, torch.full((1, 8, 8), 5))
    except DecodeError:
        return
    assert not torch.equal(back, torch.round(y))


# -- codec structure (tiny random network) ----------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 3), (70, 130, 3), (33, 65, 1)])
def test_tiny_codec_round_trips_any_shape(tiny, shape):
    codec = hyperprior.HyperpriorCodec(checkpoint=tiny, threads=1)
    image = smooth_image(shape[0], shape[1])[..., : shape[2]]
    data = codec.encode(image)
    out = codec.decode(data)
    assert out.shape == shape and out.dtype == np.uint8
    assert len(Container.from_bytes(data, "hyperprior", setting_kinds={"quality": int}).sections) == 4


def test_flat_images_stay_above_the_payload_bounds(tiny):
    codec = hyperprior.HyperpriorCodec(checkpoint=tiny, threads=1)
    for value in (0, 255):
        image = np.full((128, 192, 3), value, np.uint8)
        assert codec.decode(codec.encode(image)).shape == image.shape


def test_truncated_y_payload_is_a_decode_error(tiny):
    codec = hyperprior.HyperpriorCodec(checkpoint=tiny, threads=1)
    image = smooth_image(128, 128)
    box = Container.from_bytes(codec.encode(image), "hyperprior", setting_kinds={"quality": int})
    sections = list(box.sections)
    sections[2] = sections[2][: len(sections[2]) // 8]
    bad = Container("hyperprior", 128, 128, 3, sections, box.settings, codec.format_version, codec.check).to_bytes()
    with pytest.raises(DecodeError):
        codec.decode(bad)


def test_gan_codec_shares_the_hyperprior_bitstream(tiny):
    """Same network and stream code: a gan-hyperprior codec loaded with hyperprior weights writes the same payload."""
    assert issubclass(gan_hyperprior.GanHyperpriorCodec, hyperprior.HyperpriorCodec)
    a = hyperprior.HyperpriorCodec(checkpoint=tiny, threads=1)
    b = gan_hyperprior.GanHyperpriorCodec(checkpoint=tiny, threads=1)
    image = smooth_image(64, 64)
    sa = Container.from_bytes(a.encode(image), "hyperprior", setting_kinds={"quality": int}).sections
    sb = Container.from_bytes(b.encode(image), "gan-hyperprior", setting_kinds={"quality": int}).sections
    assert sa == sb


# -- decode bombs ------------------------------------------------------------------------
def test_huge_declared_image_with_a_tiny_payload_is_refused_before_allocating():
    q = _shipped("hyperprior")[0]
    codec = create_codec(f"hyperprior:quality={q}", threads=1)
    rejects_without_allocating(codec, learned_stream(codec, 9792, 9792, [[b"", b"", b"", b""]] * 100))


# -- trainers ----------------------------------------------------------------------------
def test_gan_stage_trains_both_networks_and_ships_the_generator(tiny, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(smooth_image(80, 80, seed=i)).save(folder / f"{i}.png")
    out = tmp_path / "gan.pt"
    cfg = TrainConfig(model="gan-hyperprior", data=str(folder), out=str(out), steps=2, batch=2, patch=64, lr=1e-3,
                      holdout=1, workdir=str(tmp_path / "w"), threads=1, progress=False,
                      options={"init": str(tiny), "N": "16", "M": "16"})
    train(cfg)
    state = torch.load(tmp_path / "w" / "state.pt", weights_only=True)
    assert any(k.startswith("d.") for k in state["state_dict"])
    init = torch.load(tiny, weights_only=True)["state_dict"]
    shipped = torch.load(out, weights_only=True)
    assert shipped["model"] == "gan-hyperprior" and set(shipped["state_dict"]) == set(init)
    assert not torch.equal(shipped["state_dict"]["g_s.0.weight"], init["g_s.0.weight"])  # the generator moved
    codec = gan_hyperprior.GanHyperpriorCodec(checkpoint=out, threads=1)
    assert codec.decode(codec.encode(smooth_image(64, 64))).shape == (64, 64, 3)


# -- shipped checkpoints -----------------------------------------------------------------


#: absolute floors on three 256×256 Kodak centre crops (kodim01, 08, 19: detailed ones) at the lowest shipped
#: rate point, dB; the shipped hyperprior-q0 measured 23.3 dB at 0.34 bpp, constant gray 13.4 dB, random weights 6.9 dB
PSNR_FLOOR = {"hyperprior": 22.0, "gan-hyperprior": 21.0}


@pytest.mark.parametrize("name", ["hyperprior", "gan-hyperprior"])
def test_quality_floor_onkodak_crops(data_root, name, tmp_path):
    q = _shipped(name)[0]
    crops = kodak_crops(data_root)
    bpp, psnr = bpp_psnr(create_codec(f"{name}:quality={q}", threads=1), crops)
    assert bpp < 1.0 and psnr >= PSNR_FLOOR[name]
    # the floor is far above a constant-gray decoder ...
    gray = float(np.mean([metrics.psnr(im, np.full_like(im, 128)) for im in crops]))
    assert gray < PSNR_FLOOR[name] - 7
    # ... and random weights of the same architecture fail it
    arch = torch.load(CHECKPOINT_DIR / f"{name}-q{q}.pt", weights_only=True)["arch"]
    torch.manual_seed(0)
    t = hyperprior.HyperpriorTrainable(N=arch["N"], M=arch["M"], scale=arch["scale"])
    path = tmp_path / "random.pt"
    save_atomic(t.export(t.build().eval(), {}), path)
    _, random_psnr = bpp_psnr(hyperprior.HyperpriorCodec(checkpoint=path, threads=1), crops[:1])
    assert random_psnr < PSNR_FLOOR[name]


@pytest.mark.parametrize("name", ["hyperprior", "gan-hyperprior"])
def test_bpp_decreases_with_lower_quality(data_root, name):
    qs = _shipped(name)
    if len(qs) < 2:
        pytest.skip(f"one shipped {name} point")
    crops = kodak_crops(data_root, n=2)
    rates = [bpp_psnr(create_codec(f"{name}:quality={q}", threads=1), crops)[0] for q in qs]
    assert all(a < b for a, b in zip(rates, rates[1:])), rates


@pytest.mark.parametrize("name", ["hyperprior", "gan-hyperprior"])
def test_same_stream_and_image_for_any_thread_count(data_root, name):
    q = _shipped(name)[0]
    im = kodak_crops(data_root, n=1, side=320)[0]
    one, two = create_codec(f"{name}:quality={q}", threads=1), create_codec(f"{name}:quality={q}", threads=2)
    d1, d2 = one.encode(im), two.encode(im)
    assert d1 == d2
    out, out2 = one.decode(d1), two.decode(d1)
    assert torch.get_num_threads() == 2  # the codec's one-thread passes restore the thread count after them
    assert np.array_equal(out2, out) and np.array_equal(one.decode(d2), out)


_FRESH = """
import sys, numpy as np
from codecbench.core.codec import create_codec
codec = create_codec(sys.argv[1], threads=2)
np.save(sys.argv[3], codec.decode(open(sys.argv[2], "rb").read()))
"""


@pytest.mark.parametrize("name", ["hyperprior", "gan-hyperprior"])
def test_decodes_from_bytes_alone_in_a_fresh_process(data_root, name, tmp_path):
    q = _shipped(name)[-1]
    im = kodak_crops(data_root, n=1, side=192)[0]
    codec = create_codec(f"{name}:quality={q}", threads=1)
    data = codec.encode(im)
    (tmp_path / "s.bin").write_bytes(data)
    subprocess.run([sys.executable, "-c", _FRESH, f"{name}:quality={q}", str(tmp_path / "s.bin"),
                    str(tmp_path / "out.npy")], check=True, timeout=120)
    assert np.array_equal(np.load(tmp_path / "out.npy"), codec.decode(data))
