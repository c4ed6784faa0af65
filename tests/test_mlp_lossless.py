"""The MLP predictive lossless coders (seed 004): exact round trips, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from codecbench.codecs.learned import coders as entropy
from codecbench.codecs.learned.container import Container
from codecbench.core.codec import create_codec
from codecbench.codecs.learned.models import mlp
from codecbench.codecs.learned.base import (
    CHECKPOINT_DIR,
    CheckpointError,
    load_checkpoint,
    make_checkpoint,
    save_atomic,
    tile_grid,
)
from codecbench.core.errors import DecodeError, SpecError
from codecbench.core.images import load_image, to_gray
from codecbench.training import TrainConfig, card_path, train
from tests.hostile_streams import learned_stream, rejects_without_allocating

CODECS = [mlp.MLPHuffmanCodec, mlp.MLPAnsCodec]


def _tiny_checkpoint(path, cls, hidden=(8,), seed=0):
    """A small untrained network: exactness does not depend on training."""
    torch.manual_seed(seed)
    model = mlp.FloatPredictor(cls.flavour, list(hidden))
    with torch.no_grad():
        for net in model.nets.values():
            net.amax.fill_(3.0)
    save_atomic(make_checkpoint(cls.name, {"flavour": cls.flavour, "hidden": list(hidden)}, mlp.export_state(model)), path)
    return path


@pytest.fixture(params=CODECS, ids=lambda c: c.name)
def tiny(request, tmp_path):
    cls = request.param
    return cls(checkpoint=_tiny_checkpoint(tmp_path / f"{cls.name}.pt", cls))


def _smooth(h, w, c, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(x / 7.0)[..., None] * np.cos(y / 5.0)[..., None] + rng.normal(0, 4, (h, w, c))
    return np.clip(base + np.arange(c) * 10, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9, 1), (7, 1, 3), (2, 3, 3), (23, 41, 3), (30, 17, 1)])
def test_round_trip_synthetic(tiny, shape):
    for image in (_smooth(*shape), np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8),
                  np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)):
        data = tiny.encode(image)
        assert np.array_equal(tiny.decode(data), image)


def test_deterministic_and_batch_independent(tiny, monkeypatch):
    image = _smooth(37, 45, 3, seed=2)
    data = tiny.encode(image)
    assert tiny.encode(image) == data
    # the encoder's batching (bands) must not change a single bit: integer-exact networks
    monkeypatch.setattr(mlp.codec, "BAND_PIXELS", 50)
    assert tiny.encode(image) == data
    assert np.array_equal(tiny.decode(data), image)


@pytest.mark.parametrize("cls", CODECS, ids=lambda c: c.name)
def test_wavefront_decoding_runs_on_one_torch_thread_whatever_threads_says(cls, tmp_path, monkeypatch):
    codec = cls(checkpoint=_tiny_checkpoint(tmp_path / f"{cls.name}.pt", cls), threads=2)
    image = _smooth(23, 41, 3)
    data = codec.encode(image)
    seen: list[int] = []
    call = mlp.network.IntNet.__call__

    def counting(net, x):
        seen.append(torch.get_num_threads())
        return call(net, x)

    monkeypatch.setattr(mlp.network.IntNet, "__call__", counting)
    assert np.array_equal(codec.decode(data), image)
    assert len(seen) > 3 * 41 and set(seen) == {1}  # every wavefront's network call, on one thread
    assert torch.get_num_threads() == 2  # and the codec's setting is back for work big enough to split


def test_tiled_round_trip_is_exact(tiny, monkeypatch):
    """Images with a side over ``tile_size`` (2048; patched to 16 here) are coded as independent tiles."""
    monkeypatch.setattr(type(tiny), "tile_size", 16)
    for image in (_smooth(37, 45, 3, seed=6), _smooth(20, 33, 1, seed=7)):
        data = tiny.encode(image)
        h, w, _ = image.shape
        box = Container.from_bytes(data, tiny.name)
        assert len(box.sections) == len(tile_grid(h, w, 16)) > 1
        assert np.array_equal(tiny.decode(data), image)


def test_tile_size_bounds_memory_and_leaves_kodak_whole():
    for cls in CODECS:
        assert cls.tile_size == 2048
        assert len(tile_grid(512, 768, cls.tile_size)) == 1 and len(tile_grid(3000, 4000, cls.tile_size)) == 4


@pytest.mark.parametrize("cls", CODECS, ids=lambda c: c.name)
def test_tiny_training_run_gives_an_exact_codec(cls, tmp_path):
    """A few optimizer steps of ``codecbench train mlp-…`` on tiny images; the exported checkpoint codes exactly."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        Image.fromarray(_smooth(24 + 4 * i, 30, 3, seed=10 + i)).save(data / f"{i}.png")
    out = tmp_path / f"{cls.name}.pt"
    result = train(TrainConfig(model=cls.name, data=str(data), out=str(out), steps=3, batch=2, patch=16, lr=1e-2,
                               holdout=1, workdir=str(tmp_path / "work"), threads=1,
                               options={"hidden": "8", "layers": "1"}, progress=False))
    assert result["steps"] == 3
    assert result["checkpoint"] == out
    assert card_path(out).is_file()
    ckpt = load_checkpoint(out)
    assert ckpt["arch"] == {"flavour": cls.flavour, "hidden": [8]} and ckpt["meta"]["steps"] == 3
    (figures,) = result["figures"].values()  # the held-out image, coded by the real codec (round trip checked)
    assert figures["rgb_bpp (mean, real bitstreams)"] > 0 and figures["gray_bpp (mean, real bitstreams)"] > 0
    codec = cls(checkpoint=out, threads=1)
    for image in (_smooth(19, 26, 3, seed=20), _smooth(21, 17, 1, seed=21),
                  np.random.default_rng(2).integers(0, 256, (9, 13, 3), dtype=np.uint8)):
        data = codec.encode(image)
        assert np.array_equal(codec.decode(data), image)


def test_coding_layout_matches_training_features(tmp_path):
    """The permuted coding layout gives exactly the canonical (training) network's outputs."""
    for cls in CODECS:
        codec = cls(checkpoint=_tiny_checkpoint(tmp_path / f"{cls.name}.pt", cls, hidden=(16, 8)))
        image = _smooth(9, 11, 3, seed=3)
        padded = mlp.pad_image(image)
        nb = mlp.neighbours_rows(padded, 0, 9, 11)
        ys, xs = np.divmod(np.arange(99), 11)
        feats, base = mlp.coding_features(cls.flavour, nb, ys, xs, 11)
        cur = image.reshape(-1, 3).astype(np.float32)
        flags = np.stack([ys < 2, xs < 2, xs >= 9], axis=1).astype(np.float32) * mlp.FLAG_VALUE
        order = mlp.coding_order(3)
        sw = mlp.shared_width(cls.flavour, 3)
        for k, key in enumerate(mlp.net_keys(3)):
            canon, _ = mlp.build_features(cls.flavour, nb, cur, flags, order, k)
            if k:
                prev = cur[:, order[k - 1]] - (0 if base is None else base[:, order[k - 1]])
                feats[:, sw + k - 1] = prev
            fast = codec.model.net(key, fast=True)(feats[:, : sw + k])
            slow = codec.model.net(key, fast=False)(canon.astype(np.float32))
            assert np.array_equal(fast, slow)
        # the torch feature builder (training) agrees with the numpy one (coding)
        tnb, tcur, tflags = mlp.neighbours_torch(torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32)))
        assert np.array_equal(tnb.numpy(), nb) and np.array_equal(tflags.numpy(), flags)


def test_integer_network_bound_is_enforced(tmp_path):
    path = _tiny_checkpoint(tmp_path / "m.pt", mlp.MLPAnsCodec)
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"]["rgb0_w0"] = torch.full_like(ckpt["state_dict"]["rgb0_w0"], 100_000)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="2\\^24"):
        mlp.MLPAnsCodec(checkpoint=tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="flavour"):  # an mlp-ans checkpoint is not an mlp-huffman one
        mlp.MLPHuffmanCodec(checkpoint=path)




def _sections(codec, data: bytes) -> list[bytes]:
    return Container.from_bytes(data, codec.name, format_versions=(codec.format_version,)).sections


def test_corrupt_streams(tiny):
    image = _smooth(20, 24, 3, seed=4)
    data = tiny.encode(image)
    for bad in (data[:-1], data[: len(data) // 2], data[:5], b"\x00" + data[1:]):
        with pytest.raises(DecodeError):
            tiny.decode(bad)
    # a payload that is wrong although the container's CRC is right: an error, never a wrong image
    real = _sections(tiny, data)
    for sections in ([s[: len(s) // 3] for s in real], [bytes(len(s)) for s in real],
                     real[:1] if len(real) > 1 else real * 2):
        with pytest.raises(DecodeError):
            tiny.decode(learned_stream(tiny, 20, 24, [sections]))


def test_huge_declared_size_is_refused_before_any_network_runs(tiny):
    """A header (with a valid CRC) declaring a huge image over a small payload: a DecodeError at once.

    Both coders spend a least number of bits a value (a Huffman bit; seeded rANS
    about 0.10 bit), so 2040×2000 (one tile) needs far more than a 16×16 image's payload.
    """
    data = tiny.encode(_smooth(16, 16, 3, seed=5))
    forged = learned_stream(tiny, 2000, 2040, [_sections(tiny, data)])
    rejects_without_allocating(tiny, forged)  # "payload bytes": refused from the header, before decoding


@pytest.mark.parametrize("mean, value", [(0.0, 0), (255.0, 255), (17.0, 17)])
def test_seeded_rans_bound_is_sound_and_tight_on_the_cheapest_values(mean, value):
    """The values mlp-ans codes most cheaply (least scale, mean on an end bin) never undercut the bound."""
    n = 20000
    enc = entropy.RansEncoder(seeded=True)
    scale = mlp.SCALE_TABLE[mlp.SCALE_KMIN]
    enc.add(np.full(n, value), mlp.LAPLACE, np.full(n, mean), np.full(n, scale))
    payload = enc.finish()
    bound = entropy.rans_min_bytes(n, mlp.ANS_PMAX)
    assert bound <= len(payload)
    if value in (0, 255):  # the cheapest values of all: the bound is close (the rounding margins only)
        assert bound > 0.85 * len(payload)
    dec = entropy.RansDecoder(payload, seeded=True)
    assert np.array_equal(dec.decode(mlp.LAPLACE, np.full(n, mean), np.full(n, scale)), np.full(n, value))
    dec.finish()


def test_seeded_and_unseeded_rans_payloads_are_not_interchangeable():
    """A seeded payload must end on the seed; an empty coder's payload does not."""
    x = np.arange(50) % 7
    params = (np.full(50, 3.0), np.full(50, 2.0))
    for seeded in (True, False):
        enc = entropy.RansEncoder(seeded=seeded)
        enc.add(x, mlp.LAPLACE, *params)
        dec = entropy.RansDecoder(enc.finish(), seeded=not seeded)
        with pytest.raises(DecodeError):
            dec.decode(mlp.LAPLACE, *params)
            dec.finish()


def test_cpu_only():
    with pytest.raises(SpecError):
        create_codec("mlp-ans", device="cuda")


# -- the shipped checkpoints ---------------------------------------------------
@pytest.mark.parametrize("name", ["mlp-huffman", "mlp-ans"])
def test_shipped_checkpoint_on_kodak_crop(name, data_root):
    if not (CHECKPOINT_DIR / f"{name}.pt").is_file():
        pytest.fail(f"shipped checkpoint {name}.pt is missing from {CHECKPOINT_DIR}")
    codec = create_codec(name)
    image = load_image(data_root / "kodak" / "kodim23.png")[200:264, 300:396]
    for im in (image, to_gray(image)):
        data = codec.encode(im)
        assert np.array_equal(codec.decode(data), im)
        assert codec.encode(im) == data
        bpp = 8 * len(data) / (im.shape[0] * im.shape[1])
        assert bpp < (16 if im.shape[2] == 3 else 6), bpp  # trained: well below 8 bits a channel
