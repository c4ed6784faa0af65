"""The learned-codec foundation: container, entropy coders, torch base, training entry point."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from codecbench.codecs.learned import container as bitstream
from codecbench.codecs.learned import coders as entropy
from codecbench.codecs.learned.container import Container
from codecbench.codecs.learned import base
from codecbench.codecs.learned.base import CheckpointError, TorchCodec, load_checkpoint, make_checkpoint, save_atomic
from codecbench.core.codec import CODECS, Setting, available_codecs
from codecbench.core.errors import DecodeError, EncodeError, SpecError
from codecbench import training
from codecbench.cli import main as cli_main
from codecbench.cli.train import add_train_arguments, train_command


# -- container -----------------------------------------------------------------
def _box(**kw):
    args = dict(codec="toy", height=512, width=768, channels=3, sections=[b"abc", b"", b"\x00" * 300],
                settings={"q": 5, "lam": 0.0125, "fast": True, "mode": "x"})
    args.update(kw)
    return Container(**args)


KINDS = {"q": int, "lam": float, "fast": bool, "mode": str}


def test_container_round_trip_and_size():
    box = _box()
    data = box.to_bytes()
    back = Container.from_bytes(data, "toy", setting_kinds=KINDS, format_versions=(1,))
    assert (back.height, back.width, back.channels) == (512, 768, 3)
    assert back.sections == box.sections and back.settings == box.settings
    # documented sizes: Kodak-size, no settings, one section, CRC-32 -> 16 bytes; CIFAR 14; no check 10
    assert Container("toy", 512, 768, 3, [b"x" * 100]).header_size() == 16
    assert Container("toy", 32, 32, 3, [b"x" * 10]).header_size() == 14
    assert Container("toy", 32, 32, 3, [b"x"], check=bitstream.CHECK_NONE).header_size() == 10
    assert Container("toy", 32, 32, 3, [b"x"], check=bitstream.CHECK_CRC16).header_size() == 12
    empty = Container("toy", 1, 1, 1, []).to_bytes()
    assert Container.from_bytes(empty, "toy").sections == []


def test_container_rejects_truncated_foreign_corrupt():
    data = _box().to_bytes()
    for n in (0, 1, 2, 5, 10, len(data) - 1):
        with pytest.raises(DecodeError):
            Container.from_bytes(data[:n], "toy", setting_kinds=KINDS)
    with pytest.raises(DecodeError, match="another codec"):
        Container.from_bytes(data, "other", setting_kinds=KINDS)
    with pytest.raises(DecodeError, match="magic"):
        Container.from_bytes(b"\x89PNG\r\n\x1a\n" + data, "toy")
    with pytest.raises(DecodeError, match="format version"):
        Container.from_bytes(data, "toy", setting_kinds=KINDS, format_versions=(2,))
    rng = np.random.default_rng(0)
    for _ in range(200):  # every single-byte corruption is caught (CRC) and never crashes otherwise
        bad = bytearray(data)
        i = int(rng.integers(0, len(bad)))
        bad[i] ^= int(rng.integers(1, 256))
        with pytest.raises(DecodeError):
            Container.from_bytes(bytes(bad), "toy", setting_kinds=KINDS)


def test_container_limits_declared_sizes():
    # a header without check claiming a huge image is refused before anything is allocated
    out = bytearray(b"CB") + bytes([1]) + bitstream.codec_id("toy").to_bytes(2, "big")
    bitstream.write_varint(1, out)
    bitstream.write_varint(200_000, out)  # height beyond MAX_SIDE
    bitstream.write_varint(10, out)
    out += bytes([3, 1])
    with pytest.raises(DecodeError, match="limit"):
        Container.from_bytes(bytes(out), "toy")
    with pytest.raises(EncodeError):
        Container("toy", 10, 10, 9, []).to_bytes()
    with pytest.raises(DecodeError, match="corrupt length"):
        bitstream.unpack_sections(bitstream.write_varint(3) + bitstream.write_varint(1000) + b"xx")
    with pytest.raises(DecodeError, match="truncated"):
        bitstream.unpack_sections(bitstream.write_varint(3) + bitstream.write_varint(1) + bitstream.write_varint(5) + b"xx")


def test_registered_codec_names_have_distinct_container_ids():
    """The header stores a 16-bit id of the codec name: no registered codec may read another's stream as its own."""
    names = sorted(CODECS.names())  # those that need a setting or a library to run write streams too
    by_id: dict[int, list[str]] = {}
    for name in names:
        by_id.setdefault(bitstream.codec_id(name), []).append(name)
    assert all(len(same) == 1 for same in by_id.values()), {i: n for i, n in by_id.items() if len(n) > 1}
    for name in names:
        data = Container(name, 8, 8, 3, [b"payload"]).to_bytes()
        for other in names:
            if other != name:
                with pytest.raises(DecodeError, match="another codec"):
                    Container.from_bytes(data, other)


def test_learned_codecs_refuse_sides_over_the_container_limit_before_coding(toy_ckpt):
    codec = ToyCodec(checkpoint=toy_ckpt)
    assert codec.max_size == bitstream.MAX_SIDE
    codec.encode_tile = lambda tile: pytest.fail("a tile was coded")  # type: ignore[method-assign]
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (1, bitstream.MAX_SIDE + 1, 3))
    with pytest.raises(EncodeError, match=f"at most {bitstream.MAX_SIDE} pixels a side, got {bitstream.MAX_SIDE + 1}×1"):
        codec.encode(huge)


def test_varints_and_sections():
    for v in (0, 1, 127, 128, 300, 2**40):
        assert bitstream.read_varint(bitstream.write_varint(v)) == (v, len(bitstream.write_varint(v)))
    for v in (0, -1, 1, -1000, 12345):
        assert bitstream.unzigzag(bitstream.zigzag(v)) == v
    secs = [b"", b"a", b"bc" * 200, b""]
    assert bitstream.unpack_sections(bitstream.pack_sections(secs)) == secs


# -- entropy coders ------------------------------------------------------------
def test_deflate_round_trip_and_limit():
    data = bytes(range(256)) * 50
    assert entropy.inflate(entropy.deflate(data), len(data)) == data
    with pytest.raises(DecodeError, match="beyond"):
        entropy.inflate(entropy.deflate(data), 100)
    with pytest.raises(DecodeError):
        entropy.inflate(entropy.deflate(data)[:-5], len(data))


def test_huffman_round_trip():
    rng = np.random.default_rng(1)
    symbols = np.abs(rng.laplace(0, 4, 20000)).astype(np.int64)
    data = entropy.huffman_encode(symbols)
    assert np.array_equal(entropy.huffman_decode(data, len(symbols)), symbols)
    # within 1% of the empirical entropy, table included
    p = np.bincount(symbols) / len(symbols)
    h = -(p[p > 0] * np.log2(p[p > 0])).sum() * len(symbols) / 8
    assert len(data) < 1.03 * h + 50
    single = entropy.huffman_encode(np.full(1000, 7))
    assert len(single) <= 4 and np.array_equal(entropy.huffman_decode(single, 1000), np.full(1000, 7))
    with pytest.raises(DecodeError):
        entropy.huffman_decode(data[:20], len(symbols))


def test_rans_round_trip_parametric_and_categorical():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, 5000)
    mean = x + rng.normal(0, 2, x.shape)
    scale = rng.uniform(0.5, 4, x.shape)
    table = np.array([0.6, 0.3, 0.1])
    y = rng.choice(3, 700, p=table)
    per_symbol = rng.random((700, 3)) + 0.1
    enc = entropy.RansEncoder()
    enc.add(x[:3000], entropy.laplace(0, 255), mean[:3000], scale[:3000])
    enc.add(x[3000:], entropy.gaussian(0, 255), mean[3000:], scale[3000:])
    enc.add(y, entropy.categorical(table))
    enc.add(y, entropy.categorical(), per_symbol)
    data = enc.finish()
    dec = entropy.RansDecoder(data)
    a = dec.decode(entropy.laplace(0, 255), mean[:3000], scale[:3000])
    b = dec.decode(entropy.gaussian(0, 255), mean[3000:], scale[3000:])
    c = dec.decode(entropy.categorical(table), count=700)
    d = dec.decode(entropy.categorical(), per_symbol)
    dec.finish()
    assert np.array_equal(np.concatenate([a, b]), x)
    assert np.array_equal(c, y)
    assert np.array_equal(d, y)
    assert len(data) * 8 < 5000 * 4  # a real compression, not 8 bits a symbol
    empty = entropy.RansEncoder().finish()
    entropy.RansDecoder(empty).finish()


# -- the torch base ------------------------------------------------------------
class _Net(torch.nn.Module):
    """A stand-in network with stride 4: 4×4 average pooling + a learned gain."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return torch.nn.functional.avg_pool2d(x, 4) * self.gain.view(1, -1, 1, 1)


class ToyCodec(TorchCodec):
    """Lossy toy: codes each 4×4 block mean (stride 4) with Deflate; tiles of 24."""

    stride = 4
    tile_size = 24
    native_channels = (3,)
    settings = {"level": Setting(int, 6, "deflate level", low=1, high=9)}

    def build_model(self, arch):
        return _Net(arch["channels"])

    def encode_tile(self, tile):
        assert tile.shape[0] % 4 == 0 and tile.shape[1] % 4 == 0
        y = self.model(self.to_tensor(tile))
        q = (y * 255).round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
        return [entropy.deflate(q.tobytes(), self.config["level"]), b"meta"]

    def decode_tile(self, sections, shape):
        h, w, c = shape
        raw = entropy.inflate(sections[0], h * w * c // 16)
        q = np.frombuffer(raw, np.uint8).reshape(h // 4, w // 4, c)
        return np.repeat(np.repeat(q, 4, 0), 4, 1)


ToyCodec.name = "toy-learned"  # assigned after the class body: not registered globally


@pytest.fixture
def toy_ckpt(tmp_path):
    path = tmp_path / "toy.pt"
    save_atomic(make_checkpoint("toy", {"channels": 3}, _Net(3).state_dict()), path)
    return path


def _reference(codec, image):
    """What coding each tile separately and stitching gives."""
    h, w = image.shape[:2]
    out = np.empty_like(image)
    for y, x, th, tw in base.tile_grid(h, w, codec.tile_size):
        tile = base.pad_to_multiple(image[y : y + th, x : x + tw], 4, "edge")
        out[y : y + th, x : x + tw] = codec.decode_tile(codec.encode_tile(tile), tile.shape)[:th, :tw]
    return out


@pytest.mark.parametrize("shape", [(5, 7, 3), (24, 24, 3), (25, 49, 3), (50, 23, 1)])
def test_padding_cropping_and_tiling_equivalence(toy_ckpt, shape):
    codec = ToyCodec(checkpoint=toy_ckpt)
    image = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    data = codec.encode(image)
    back = codec.decode(data)
    assert back.shape == image.shape
    if shape[2] == 3:
        assert np.array_equal(back, _reference(codec, image))
    else:  # gray coded as 3 equal channels and decoded back to 1 (documented rule)
        rgb = np.repeat(image, 3, axis=2)
        assert np.array_equal(back[..., 0], _reference(codec, rgb)[..., 0])
    assert codec.encode(image) == data  # deterministic
    tiles = len(base.tile_grid(shape[0], shape[1], 24))
    assert (tiles > 1) == (max(shape[:2]) > 24)


def test_retrained_weights_change_the_cache_key(tmp_path, toy_ckpt):
    """The checkpoint's digest is part of the codec's identity: new weights never hit old cached results."""
    from codecbench.engine.cache import ResultsCache

    image = np.zeros((8, 8, 3), np.uint8)
    retrained = tmp_path / "retrained" / toy_ckpt.name
    net = _Net(3)
    with torch.no_grad():
        net.gain.mul_(0.5)
    save_atomic(make_checkpoint("toy", {"channels": 3}, net.state_dict()), retrained)
    old, new = ToyCodec(checkpoint=toy_ckpt), ToyCodec(checkpoint=retrained)
    assert len(old.library_versions()["checkpoint toy.pt"]) == 16
    with ResultsCache(tmp_path / "c.sqlite") as cache:
        assert cache.key(old, image) == cache.key(ToyCodec(checkpoint=toy_ckpt), image)
        assert cache.key(old, image) != cache.key(new, image)


def test_tile_grid_and_padding():
    assert base.tile_grid(10, 10, None) == [(0, 0, 10, 10)]
    assert base.tile_grid(50, 30, 24) == [(0, 0, 24, 24), (0, 24, 24, 6), (24, 0, 24, 24), (24, 24, 24, 6), (48, 0, 2, 24), (48, 24, 2, 6)]
    img = np.arange(15, dtype=np.uint8).reshape(3, 5, 1)
    padded = base.pad_to_multiple(img, 4)
    assert padded.shape == (4, 8, 1)
    assert np.array_equal(padded[:3, :5], img)
    assert padded[3, 7, 0] == img[2, 4, 0]
    assert base.pad_to_multiple(img, 1) is img
    assert base.pad_to_multiple(img, 8, "reflect").shape == (8, 8, 1)


def test_container_errors_through_the_codec(toy_ckpt):
    codec = ToyCodec(checkpoint=toy_ckpt)
    image = np.random.default_rng(4).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    data = codec.encode(image)
    with pytest.raises(DecodeError):
        codec.decode(data[:-3])
    with pytest.raises(DecodeError, match="magic"):
        codec.decode(b"\xff\xd8\xff\xe0" + data)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x55
    with pytest.raises(DecodeError, match="CRC"):
        codec.decode(bytes(bad))
    other = ToyCodec(checkpoint=toy_ckpt, level=9)
    with pytest.raises(DecodeError, match="level=6"):
        other.decode(data)
    # the header cost is what bitstream.py documents
    box = Container.from_bytes(data, "toy-learned", setting_kinds={"level": int})
    # 30×30 in 4 tiles: 2+1+2+1 + 1+1+1 (sides, channels) + 1 (level) + 1+3 (count, 3 lengths) + 4 (CRC)
    assert len(data) - sum(map(len, box.sections)) == 18


def test_checkpoint_errors(tmp_path, toy_ckpt):
    with pytest.raises(CheckpointError, match="missing"):
        ToyCodec(checkpoint=tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt"):
        ToyCodec(checkpoint=junk)
    wrong = tmp_path / "wrong.pt"
    save_atomic(make_checkpoint("toy", {"channels": 3}, {"weight": torch.zeros(3)}), wrong)
    with pytest.raises(CheckpointError, match="wrong architecture"):
        ToyCodec(checkpoint=wrong)
    mismatch = tmp_path / "mismatch.pt"
    save_atomic(make_checkpoint("toy", {"channels": 3}, {"gain": torch.zeros(5)}), mismatch)
    with pytest.raises(CheckpointError, match="mismatch.pt"):
        ToyCodec(checkpoint=mismatch)


class _Exploit:
    """Unpickling this would create the marker file (i.e. run code)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_only_refuses_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "arch": {}, "payload": _Exploit(str(marker))}, evil)
    # the file really is an exploit: unrestricted unpickling runs the code
    torch.load(evil, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        ToyCodec(checkpoint=evil)
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"  # a bare pickle, not a torch zip
    raw.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_device_handling(toy_ckpt):
    if not torch.cuda.is_available():
        with pytest.raises(SpecError, match="CUDA is not available"):
            ToyCodec(checkpoint=toy_ckpt, device="cuda")
    with pytest.raises(SpecError):
        ToyCodec(checkpoint=toy_ckpt, device="tpu")
    codec = ToyCodec(checkpoint=toy_ckpt, threads=1)
    codec.encode(np.zeros((8, 8, 3), np.uint8))
    assert torch.get_num_threads() == 1
    codec.synchronize()


@pytest.mark.gpu
def test_cuda_matches_cpu(toy_ckpt):
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available on this machine")
    image = np.random.default_rng(5).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    cpu = ToyCodec(checkpoint=toy_ckpt)
    gpu = ToyCodec(checkpoint=toy_ckpt, device="cuda")
    data = gpu.encode(image)
    gpu.synchronize()
    assert np.array_equal(gpu.decode(data), cpu.decode(cpu.encode(image)))


def test_toy_codec_not_registered():
    assert "toy-learned" not in available_codecs()


# -- training ------------------------------------------------------------------
class _ToyTrainable(training.Trainable):
    name = "toy"
    defaults = {"steps": 6, "batch": 2, "patch": 16, "lr": 1e-2}

    def build(self):
        return _Net(3)

    def loss(self, model, batch):
        x = batch.float() / 255
        mse = ((model(x) - torch.nn.functional.avg_pool2d(x, 4) * 0.5) ** 2).mean()
        return mse, {"mse": float(mse.detach())}

    def export(self, model, meta):
        return make_checkpoint("toy", {"channels": 3}, model.state_dict(), meta)

    def evaluate(self, checkpoint, images):
        codec = ToyCodec(checkpoint=checkpoint)
        return {"bpp": float(np.mean([8 * len(codec.encode(im)) / (im.shape[0] * im.shape[1]) for im in images]))}


@pytest.fixture
def toy_folder(tmp_path):
    folder = tmp_path / "imgs" / "sub"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(6)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (20 + i, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(folder / "small.png")  # smaller than patch
    with training.TRAINABLES.restoring():
        training.register_trainable(_ToyTrainable)
        yield tmp_path / "imgs"


def test_training_smoke_and_resume(tmp_path, toy_folder):
    out = tmp_path / "ckpt" / "toy.pt"
    work = tmp_path / "work"
    argv = ["toy", "--data", str(toy_folder), "--out", str(out), "--workdir", str(work), "--steps", "4",
            "--save-every", "2", "--log-every", "2", "--holdout", "2", "--no-progress"]
    assert cli_main(["train", *argv]) == 0
    state = torch.load(work / "state.pt", weights_only=True)
    assert state["step"] == 4
    ckpt = load_checkpoint(out)
    assert ckpt["meta"]["steps"] == 4 and ckpt["format"] == base.CHECKPOINT_FORMAT
    card = training.card_path(out).read_text()
    for needle in ("Parameters: 3", "codecbench train toy", "Steps: 4", "held-out (2 images", "bpp", "Machine"):
        assert needle in card
    log = [json.loads(line) for line in (work / "train.log").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [2, 4] and "mse" in log[1]

    # resume: continues from step 4, with the saved RNG and optimizer states
    argv[argv.index("--steps") + 1] = "6"
    assert cli_main(["train", *argv, "--resume"]) == 0
    log = [json.loads(line) for line in (work / "train.log").read_text().splitlines()]
    assert any(r.get("event") == "resume" and r["step"] == 4 for r in log)
    assert [r["step"] for r in log if "loss" in r] == [2, 4, 6]
    assert load_checkpoint(out)["meta"]["steps"] == 6


class _Killed(Exception):
    pass


def test_resume_is_exact(tmp_path, toy_folder, monkeypatch):
    """A run killed after its step-3 save and resumed ends with the weights of an uninterrupted run."""
    common = ["toy", "--data", str(toy_folder), "--holdout", "1", "--no-progress", "--steps", "6", "--save-every", "3"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli_main(["train", *common] + ["--out", str(a / "m.pt"), "--workdir", str(a)]) == 0
    calls = {"n": 0}
    original = _ToyTrainable.loss

    def dying_loss(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Killed()
        return original(self, model, batch)

    monkeypatch.setattr(_ToyTrainable, "loss", dying_loss)
    with pytest.raises(_Killed):
        cli_main(["train", *common] + ["--out", str(b / "m.pt"), "--workdir", str(b)])
    assert torch.load(b / "state.pt", weights_only=True)["step"] == 3
    monkeypatch.setattr(_ToyTrainable, "loss", original)
    assert cli_main(["train", *common] + ["--out", str(b / "m.pt"), "--workdir", str(b), "--resume"]) == 0
    sa = torch.load(a / "state.pt", weights_only=True)
    sb = torch.load(b / "state.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 6
    assert torch.equal(sa["state_dict"]["gain"], sb["state_dict"]["gain"])


def test_image_folder_batch_gives_random_crops_with_random_flips(tmp_path):
    """uint8 B×C×P×P crops at random places of random images, mirrored left-right about half the time."""
    h, w, patch = 20, 30, 8
    y, x = np.mgrid[0:h, 0:w]
    ramp = np.stack([x, y, np.full_like(x, 7)], axis=2).astype(np.uint8)  # R = column, G = row
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    Image.fromarray(ramp[:5, :6]).save(tmp_path / "small.png")  # smaller than the patch: edge-padded
    folder = training.ImageFolder(tmp_path)
    batch = folder.batch(np.random.default_rng(0), 64, patch)
    assert batch.dtype == torch.uint8 and tuple(batch.shape) == (64, 3, patch, patch)
    corners, flips = set(), []
    for crop in batch.numpy().astype(int):
        cols, rows = crop[0], crop[1]
        assert (crop[2] == 7).all()
        if cols.max() < 6 and rows.max() < 5:  # the small image: its pixels, then its last row/column repeated
            assert (rows == np.minimum(np.arange(patch), 4)[:, None]).all()
            assert sorted(cols[0]) == sorted(np.minimum(np.arange(patch), 5))
            flips.append(bool(cols[0, 0] > cols[0, -1]))
            continue
        assert (rows == rows[0, 0] + np.arange(patch)[:, None]).all()  # whole rows, top to bottom
        step = np.diff(cols, axis=1)
        assert (step == step[0, 0]).all() and abs(step[0, 0]) == 1  # whole columns, in one direction
        flips.append(bool(step[0, 0] < 0))
        left = int(cols.min())
        assert 0 <= left <= w - patch and 0 <= rows[0, 0] <= h - patch
        corners.add((int(rows[0, 0]), left))
    assert len(corners) > 10  # random positions
    assert 0.25 < np.mean(flips) < 0.75  # flipped about half the time
    again = folder.batch(np.random.default_rng(0), 64, patch)
    assert torch.equal(batch, again)  # the seed fixes the crops


def test_codecbench_train_list_names_every_trainable_model(capsys):

    assert cli_main(["train", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert listed == sorted(training.available_trainables())
    assert {"cnn-ae", "cnn-ae-ft", "comcnn", "mlp-ans", "mlp-huffman", "ssdcae"} <= set(listed)


def test_codecbench_train_writes_checkpoint_and_model_card(tmp_path):
    """``codecbench train`` end to end, as a user runs it (a subprocess): 2 steps of a tiny MLP coder."""
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(8)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 20 + 4 * i, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "ckpt" / "mlp-huffman.pt"
    args = ["train", "mlp-huffman", "--data", str(data), "--out", str(out), "--steps", "2", "--batch", "2",
            "--patch", "16", "--holdout", "1", "--threads", "1", "--opt", "hidden=8", "--opt", "layers=1",
            "--workdir", str(tmp_path / "work"), "--log-every", "1", "--no-progress"]
    done = subprocess.run([sys.executable, "-m", "codecbench", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    card = training.card_path(out)
    assert f"checkpoint {out} (2 steps" in done.stdout and f"model card {card}" in done.stdout
    assert load_checkpoint(out)["meta"]["steps"] == 2
    text = card.read_text()
    for needle in ("# Model card: `mlp-huffman`", "codecbench train mlp-huffman --data", "Steps: 2 (batch 2, patch 16",
                   "held-out (1 images", "rgb_bpp"):
        assert needle in text, needle
    log = [json.loads(line) for line in (tmp_path / "work" / "train.log").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    bad = subprocess.run([sys.executable, "-m", "codecbench", "train", "mlp-huffman", "--data", str(data)],
                         capture_output=True, text=True, timeout=300)  # no --out
    assert bad.returncode == 2
    assert "--out" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_training_errors(tmp_path, toy_folder):
    with pytest.raises(SpecError, match="unknown trainable"):
        train_command(add_train_arguments(argparse.ArgumentParser()).parse_args(
            ["nope", "--data", str(toy_folder), "--out", str(tmp_path / "x.pt")]))
    assert cli_main(["train", "toy", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x.pt")]) == 2
    assert cli_main(["train", "toy", "--data", str(toy_folder), "--out", str(tmp_path / "x.pt"), "--opt", "depth=3"]) == 2


# -- cache identity of every registered codec ------------------------------------------------
#: the libraries that shape each registered codec's bits (its cache identity must name them all)
BIT_LIBRARIES = {
    "avif": {"pillow", "libavif", "av1-codecs"},
    "cnn-ae": {"torch", "numpy", "constriction"},
    "cnn-ae-ft": {"torch", "numpy", "constriction"},
    "cnn-rnn-ae": {"torch"},
    "gan-ae": {"torch", "numpy", "constriction"},
    "gan-hyperprior": {"torch", "numpy", "constriction"},
    "hevc": {"pillow", "pillow-heif", "libheif", "x265", "libde265"},
    "hyperprior": {"torch", "numpy", "constriction"},
    "comcnn": {"torch", "pillow", "libjpeg-turbo", "libjpeg-api"},
    "jpeg": {"pillow", "libjpeg-turbo", "libjpeg-api"},
    "jpeg2000": {"glymur", "openjpeg"},
    "jpeg2000-lossless": {"glymur", "openjpeg"},
    "jpegls": {"imagecodecs", "charls"},
    "jpegxl": {"imagecodecs", "libjxl"},
    "jpegxl-lossless": {"imagecodecs", "libjxl"},
    "ljpeg": {"imagecodecs", "libjpeg_turbo"},
    "mlp-ans": {"torch", "numpy", "constriction"},
    "mlp-huffman": {"torch", "numpy", "constriction"},
    "png": {"pillow", "zlib"},
    "ssdcae": {"torch", "numpy", "zlib"},
    "webp": {"pillow", "libwebp"},
    "webp-lossless": {"pillow", "libwebp"},
}


@pytest.mark.parametrize("name", sorted(available_codecs()))
def test_identity_names_bit_shaping_libraries_and_checkpoint_digests(name):
    """Every library and weights file that shapes a codec's bits is in its identity (the cache key)."""
    import hashlib

    from codecbench.core.codec import create_codec

    assert name in BIT_LIBRARIES, f"{name}: declare the libraries that shape its bits in BIT_LIBRARIES"
    codec = create_codec(name)
    versions = codec.library_versions()
    assert BIT_LIBRARIES[name] <= set(versions), f"{name}: identity {versions} lacks {BIT_LIBRARIES[name] - set(versions)}"
    assert all(isinstance(v, str) and v for v in versions.values())
    if isinstance(codec, TorchCodec):
        files = {codec.checkpoint_file} | ({codec._gray_path} if name == "comcnn" and codec._gray_path.is_file() else set())
        expected = {f"checkpoint {f.name}": hashlib.sha256(f.read_bytes()).hexdigest()[:16] for f in files}
        assert {k: v for k, v in versions.items() if k.startswith("checkpoint ")} == expected
