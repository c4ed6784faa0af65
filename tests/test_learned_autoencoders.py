"""Tests of the autoencoder codecs of issue 5: cnn-ae, cnn-ae-ft, ssdcae, comcnn, and the noise benchmark.

Structure tests use small randomly initialised networks exported to a
temporary checkpoint (fast, independent of the shipped weights); the
rate-knob tests use the shipped checkpoints and are skipped where one is
missing.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from codecbench.core import metrics
from codecbench.codecs.learned.container import Container
from codecbench.core.codec import create_codec
from codecbench.codecs.learned.models import cnn_ae, comcnn, ssdcae
from codecbench.codecs.learned.base import CHECKPOINT_DIR, save_atomic, tile_grid
from codecbench.codecs.learned.priors import FactorizedPrior, code_latent, decode_latent, quantize_pmf
from codecbench.core.errors import DecodeError
from codecbench.tools.noise import add_noise, match_knob, noise_robustness, render_table
from codecbench.training import TrainConfig, train

ODD_SHAPES = [(1, 1, 3), (17, 33, 3), (130, 129, 3), (31, 200, 1)]


def _image(shape, seed=0):
    rng = np.random.default_rng(seed)
    h, w, c = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = (127 + 60 * np.sin(xx / 7.0) + 40 * np.cos(yy / 5.0))[..., None]
    return np.clip(base + rng.normal(0, 12, (h, w, c)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    out = {}
    t = cnn_ae.CnnAETrainable(N=16, M=16)
    m = t.build()
    out["cnn-ae"] = d / "cnn.pt"
    save_atomic(t.export(m, {}), out["cnn-ae"])
    t = ssdcae.SSDCAETrainable()
    out["ssdcae"] = d / "ss.pt"
    save_atomic(t.export(t.build().eval(), {}), out["ssdcae"])
    for ch in (3, 1):
        t = comcnn.ComCNNTrainable(channels=ch)
        out[f"comcnn{ch}"] = d / f"com{ch}.pt"
        save_atomic(t.export(t.build().eval(), {}), out[f"comcnn{ch}"])
    return out


def _codecs(ckpts, **kw):
    return {
        "cnn-ae": cnn_ae.CnnAECodec(checkpoint=ckpts["cnn-ae"], threads=1, **kw.get("cnn-ae", {})),
        "ssdcae": ssdcae.SSDCAECodec(checkpoint=ckpts["ssdcae"], threads=1, **kw.get("ssdcae", {})),
        "comcnn": comcnn.ComCNNCodec(checkpoint=ckpts["comcnn3"], gray_checkpoint=ckpts["comcnn1"], threads=1),
    }


@pytest.mark.parametrize("shape", ODD_SHAPES)
def test_round_trip_shapes_and_determinism(ckpts, shape):
    image = _image(shape)
    for name, codec in _codecs(ckpts).items():
        data = codec.encode(image)
        assert codec.encode(image) == data, f"{name}: encoding twice gave different bytes"
        out = codec.decode(data)
        assert out.shape == image.shape and out.dtype == np.uint8, name
        assert np.array_equal(codec.decode(data), out), f"{name}: decoding twice differs"


@pytest.mark.parametrize(("name", "tile"), [("cnn-ae", 48), ("comcnn", 40)])
def test_tiled_coding_round_trips_with_independent_tiles(ckpts, monkeypatch, name, tile):
    """An image with a side over ``tile_size`` (patched small here) is coded as independent tiles."""
    codec = _codecs(ckpts)[name]
    monkeypatch.setattr(type(codec), "tile_size", tile)
    image = _image((100, 130, 3))
    data = codec.encode(image)
    grid = tile_grid(100, 130, tile)
    box = Container.from_bytes(data, name, setting_kinds=codec._setting_kinds())
    assert len(grid) > 4 and len(box.sections) == len(grid)
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    for y, x, th, tw in grid:  # each tile decodes as its region coded alone would
        alone = codec.decode(codec.encode(np.ascontiguousarray(image[y : y + th, x : x + tw])))
        assert np.array_equal(out[y : y + th, x : x + tw], alone), (y, x)


def test_tile_sizes_bound_memory_and_leave_kodak_whole():
    """Tiles of 1024 px: a 4000×3000 photo peaks at a few hundred MB (docs/campaigns.md), a Kodak image is one tile."""
    for cls in (cnn_ae.CnnAECodec, cnn_ae.CnnAEFTCodec, comcnn.ComCNNCodec):
        assert cls.tile_size == 1024 and len(tile_grid(512, 768, cls.tile_size)) == 1, cls.name
        assert len(tile_grid(3000, 4000, cls.tile_size)) == 12
    # ssdcae runs its 128×128 tiles through the networks in bounded batches; a Kodak image is one batch
    assert ssdcae.SSDCAECodec.tile_size is None and ssdcae.BATCH_TILES * 128 * 128 <= 1024 * 1024
    assert (512 // 128) * (768 // 128) <= ssdcae.BATCH_TILES


def test_ssdcae_batches_do_not_change_the_bits(ckpts, monkeypatch):
    codec = _codecs(ckpts)["ssdcae"]
    image = _image((300, 420, 3))  # 3×4 tiles of 128
    data = codec.encode(image)
    out = codec.decode(data)
    monkeypatch.setattr(ssdcae, "BATCH_TILES", 5)
    assert codec.encode(image) == data
    assert np.array_equal(codec.decode(data), out)


def test_bitstream_is_the_whole_rate(ckpts):
    image = _image((64, 96, 3))
    codec = _codecs(ckpts)["cnn-ae"]
    data = codec.encode(image)
    # what a benchmark counts is len(data); the rANS payload is inside it
    assert metrics.bpp(len(data), 64, 96) == 8 * len(data) / (64 * 96)
    with pytest.raises(DecodeError):
        codec.decode(data[:-3])
    with pytest.raises(DecodeError):
        codec.decode(data[:5] + bytes([data[5] ^ 0xFF]) + data[6:])


def test_comcnn_payload_is_a_real_jpeg(ckpts):
    codec = _codecs(ckpts)["comcnn"]
    data = codec.encode(_image((40, 50, 3)))
    start = data.index(b"\xff\xd8")
    with Image.open(io.BytesIO(data[start:])) as im:
        im.load()
        assert im.format == "JPEG" and im.size == (25, 20)


def test_rans_latent_round_trip_with_escapes():
    torch.manual_seed(1)
    prior = FactorizedPrior(4)
    prior.update_tables()
    y = torch.randn(1, 4, 5, 7) * 3
    y[0, 0, 0, 0] = 5000.0  # far outside any table: escape path
    payload, esc = code_latent(prior, y)
    assert esc
    y_hat = decode_latent(prior, payload, esc, (4, 5, 7))
    med = prior.medians().view(1, -1, 1, 1)
    assert torch.equal(y_hat, torch.round(y - med) + med)
    with pytest.raises(DecodeError):
        decode_latent(prior, payload, esc + b"\x01", (4, 5, 7))


def test_quantize_pmf_sums_and_keeps_every_symbol():
    counts = quantize_pmf(np.array([0.9, 1e-12, 0.1, 0.0]), 1 << 16)
    assert counts.sum() == 1 << 16 and (counts >= 1).all()


def test_ssdcae_bits_knob_lowers_rate(ckpts):
    image = _image((128, 256, 3))
    sizes = [len(ssdcae.SSDCAECodec(checkpoint=ckpts["ssdcae"], bits=b, threads=1).encode(image))
             for b in (8, 6, 4, 2)]
    assert sizes == sorted(sizes, reverse=True)


def test_settings_mismatch_and_gray(ckpts):
    image = _image((40, 40, 3))
    a = ssdcae.SSDCAECodec(checkpoint=ckpts["ssdcae"], bits=8, threads=1)
    b = ssdcae.SSDCAECodec(checkpoint=ckpts["ssdcae"], bits=4, threads=1)
    with pytest.raises(DecodeError):
        b.decode(a.encode(image))
    gray = _image((33, 47, 1))
    c = _codecs(ckpts)["comcnn"]
    data = c.encode(gray)
    assert c.decode(data).shape == (33, 47, 1)
    # without a grayscale network the RGB one codes 3 equal channels; the stream says which was used
    rgb_only = comcnn.ComCNNCodec(checkpoint=ckpts["comcnn3"], gray_checkpoint=ckpts["comcnn3"].with_name("none.pt"), threads=1)
    data2 = rgb_only.encode(gray)
    assert rgb_only.decode(data2).shape == (33, 47, 1)
    assert np.array_equal(c.decode(data2), rgb_only.decode(data2))  # a decoder with both networks reads it too
    # both networks' weights are part of the codec's identity (cache, resume)
    assert {k for k in c.library_versions() if k.startswith("checkpoint ")} == {
        f"checkpoint {ckpts['comcnn3'].name}", f"checkpoint {ckpts['comcnn1'].name}"}
    assert [k for k in rgb_only.library_versions() if k.startswith("checkpoint ")] == [f"checkpoint {ckpts['comcnn3'].name}"]


#: the rate points each learned codec ships (cnn-ae: one model per point; the others: one model for all)
SHIPPED = {
    "cnn-ae": {q: f"cnn-ae-q{q}.pt" for q in (0, 1, 2, 3, 4)},
    "cnn-ae-ft": {q: f"cnn-ae-ft-q{q}.pt" for q in (1, 2, 3, 4)},
    "comcnn": {q: "comcnn.pt" for q in (10, 50, 90)},
    "ssdcae": {b: "ssdcae.pt" for b in (4, 6, 8)},
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_rate_knob_is_monotone(name):
    missing = sorted({f for f in SHIPPED[name].values() if not (CHECKPOINT_DIR / f).is_file()})
    assert not missing, f"checkpoints not shipped: {missing}"
    image = _image((128, 192, 3), seed=3)
    cls = create_codec(name).__class__
    knob = cls.param
    values = tuple(SHIPPED[name])
    if name.startswith("cnn-ae"):
        assert cls.sweep == values  # the default sweep is exactly the shipped rate points
    rates, psnrs = [], []
    for v in values:
        codec = create_codec(f"{name}:{knob}={v}", threads=1)
        data = codec.encode(image)
        rates.append(len(data))
        psnrs.append(metrics.psnr(image, codec.decode(data)))
    assert rates == sorted(rates), f"{name}: rate not increasing with {knob}: {rates}"
    assert psnrs[-1] >= psnrs[0] - 0.05, f"{name}: quality falls as {knob} rises: {psnrs}"


def test_tiny_training_runs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.fromarray(_image((48, 48, 3), seed=i)).save(data / f"{i}.png")
    for model, opts in (("cnn-ae", {"N": "8", "M": "8"}), ("ssdcae", {}), ("comcnn", {"channels": "1"})):
        patch = 32
        cfg = TrainConfig(model=model, data=str(data), out=str(tmp_path / f"{model}.pt"), steps=2, batch=2,
                          patch=patch, lr=1e-3, holdout=1, workdir=str(tmp_path / model), threads=1,
                          options=opts, progress=False)
        result = train(cfg)
        assert result["checkpoint"].is_file() and result["card"].is_file()
    # the latent gain is stored in the checkpoint's arch; fine-tuning from it keeps it, and the codec reads it
    base = tmp_path / "cnn-ae-gain.pt"
    for model, out, opts in (("cnn-ae", base, {}), ("cnn-ae-ft", tmp_path / "ft.pt", {"init": str(base), "quality": "1"})):
        train(TrainConfig(model=model, data=str(data), out=str(out), steps=2, batch=2, patch=32, lr=1e-3, holdout=1,
                          workdir=str(tmp_path / out.stem), threads=1, options={"N": "8", "M": "8", "scale": "20", **opts},
                          progress=False))
        codec = cnn_ae.CnnAECodec(checkpoint=out, threads=1)
        assert codec.model.scale == 20.0
        image = _image((48, 48, 3))
        assert codec.decode(codec.encode(image)).shape == image.shape


def test_noise_benchmark(ckpts, monkeypatch):
    images = [("a", _image((32, 32, 3))), ("b", _image((32, 40, 3), seed=2))]
    noisy = add_noise(images[0][1], 0.1, "a")
    assert np.array_equal(noisy, add_noise(images[0][1], 0.1, "a"))
    assert 18 < metrics.psnr(images[0][1], noisy) < 22  # σ = 0.1 of the range is about 20 dB
    rows = noise_robustness(["jpeg"], images, sigmas=(0.0, 0.2), match="jpeg:quality=40")
    assert [r.sigma for r in rows] == [0.0, 0.2, 0.0, 0.2]
    matched = [r for r in rows if r.matched]
    assert matched and all(abs(r.bpp - rows[0].bpp) < 1.0 for r in matched[:1])
    assert "PSNR noisy input" in render_table(rows)
    spec = match_knob("jpeg", {}, [images[0][1]], 2.0)
    assert spec.startswith("jpeg:quality=")
