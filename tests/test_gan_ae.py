"""Tests of ``gan-ae`` (seed 004's GAN-AE (L2+W) and (L2+DC), issue 13): cnn-ae's codec, adversarially fine-tuned weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from codecbench.codecs.learned.base import CHECKPOINT_DIR, load_checkpoint, save_atomic
from codecbench.codecs.learned.container import Container
from codecbench.codecs.learned.models import cnn_ae, gan_ae
from codecbench.core import metrics
from codecbench.core.codec import create_codec
from codecbench.core.errors import DecodeError
from codecbench.training import TrainConfig, train
from tests.conftest import bpp_psnr, kodak_crops
from tests.hostile_streams import learned_stream

#: (loss, quality) of every shipped point
SHIPPED = [(loss, q) for loss in gan_ae.LOSSES for q in gan_ae.LAMBDAS
           if (CHECKPOINT_DIR / f"gan-ae-{loss}-q{q}.pt").is_file()]
#: absolute PSNR floor (dB) per quality on three 256×256 Kodak crops: the cards' 24-image Kodak means
#: (27.6, 28.2, 30.1, 30.5 dB) less 4 dB, rounded down (the crops score up to ~3.2 dB below the whole images)
KODAK_FLOOR = {1: 23.5, 2: 24.0, 3: 26.0, 4: 26.5}


def test_both_losses_ship_at_least_one_rate_point():
    assert {loss for loss, _ in SHIPPED} == set(gan_ae.LOSSES)


@pytest.mark.parametrize("loss, quality", SHIPPED)
def test_fine_tuned_weights_code_like_cnn_ae(data_root, loss, quality):
    """The payload is cnn-ae's for the same weights; the shipped weights moved away from their cnn-ae init."""
    im = kodak_crops(data_root, n=1, side=64)[0]
    path = CHECKPOINT_DIR / f"gan-ae-{loss}-q{quality}.pt"
    gan = gan_ae.GanAECodec(quality=quality, loss=loss, threads=1)
    plain = cnn_ae.CnnAECodec(checkpoint=path, quality=quality, threads=1)
    data = gan.encode(im)
    sections = Container.from_bytes(data, "gan-ae", setting_kinds=gan._setting_kinds()).sections
    assert sections == Container.from_bytes(plain.encode(im), "cnn-ae", setting_kinds=plain._setting_kinds()).sections
    assert np.array_equal(gan.decode(data), plain.decode(plain.encode(im)))
    shipped, init = load_checkpoint(path), load_checkpoint(CHECKPOINT_DIR / f"cnn-ae-q{quality}.pt")
    assert shipped["meta"]["loss"] == loss and shipped["arch"] == init["arch"]
    assert not torch.equal(shipped["state_dict"]["g_s.0.weight"], init["state_dict"]["g_s.0.weight"])
    other = "dc" if loss == "w" else "w"
    if (CHECKPOINT_DIR / f"gan-ae-{other}-q{quality}.pt").is_file():  # the header names the loss
        with pytest.raises(DecodeError, match="encoded with"):
            gan_ae.GanAECodec(quality=quality, loss=other, threads=1).decode(data)


@pytest.mark.parametrize("loss, quality", SHIPPED)
def test_quality_floor_onkodak_crops(data_root, loss, quality, tmp_path):
    crops = kodak_crops(data_root)
    bpp, psnr = bpp_psnr(create_codec(f"gan-ae:loss={loss},quality={quality}", threads=1), crops)
    floor = KODAK_FLOOR[quality]
    assert bpp < 2.0 and psnr >= floor
    assert np.mean([metrics.psnr(im, np.full_like(im, 128)) for im in crops]) < floor - 5
    torch.manual_seed(0)
    t = cnn_ae.CnnAETrainable(scale=20.0)
    save_atomic(t.export(t.build().eval(), {}), tmp_path / "random.pt")
    random = gan_ae.GanAECodec(checkpoint=tmp_path / "random.pt", quality=quality, loss=loss, threads=1)
    assert bpp_psnr(random, crops[:1])[1] < floor - 5


_FRESH = """
import sys, numpy as np
from codecbench.core.codec import create_codec
data = open(sys.argv[2], "rb").read()
np.save(sys.argv[3], create_codec(sys.argv[1], threads=1).decode(data))
"""


@pytest.mark.parametrize("loss, quality", SHIPPED[:1])
def test_fresh_process_decodes_from_the_bytes_alone(data_root, tmp_path, loss, quality):
    spec = f"gan-ae:loss={loss},quality={quality}"
    im = kodak_crops(data_root, n=1, side=96)[0]
    codec = create_codec(spec, threads=1)
    data = codec.encode(im)
    (tmp_path / "s.bin").write_bytes(data)
    subprocess.run([sys.executable, "-c", _FRESH, spec, str(tmp_path / "s.bin"), str(tmp_path / "out.npy")],
                   check=True, timeout=120)
    assert np.array_equal(np.load(tmp_path / "out.npy"), codec.decode(data))


def test_decode_bomb_is_refused():
    loss, quality = SHIPPED[0]
    codec = gan_ae.GanAECodec(quality=quality, loss=loss, threads=1)
    data = learned_stream(codec, 9792, 9792, [[b"", b""]] * 100)  # 100 tiles of 1024², empty rANS and escape sections
    with pytest.raises(DecodeError, match="payload bytes"):
        codec.decode(data)


@pytest.mark.parametrize("loss", gan_ae.LOSSES)
def test_adversarial_gradients_reach_only_their_side(loss):
    """The generator term moves the reconstruction, never the critic; the critic loss moves only the critic."""
    torch.manual_seed(0)
    critic = gan_ae.Critic()
    x = torch.rand(2, 3, 32, 32)
    x_hat = torch.rand(2, 3, 32, 32, requires_grad=True)
    g_term, d_loss = gan_ae.adversarial_terms(critic, x, x_hat, loss)
    grads = torch.autograd.grad(g_term, [x_hat, *critic.parameters()], allow_unused=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0
    assert all(g is None for g in grads[1:])
    grads = torch.autograd.grad(d_loss, [x_hat, *critic.parameters()], allow_unused=True)
    assert grads[0] is None and all(g is not None for g in grads[1:])


@pytest.mark.parametrize("loss", gan_ae.LOSSES)
def test_tiny_fine_tuning_runs(tmp_path, loss):
    """Two steps of `codecbench train gan-ae` from a tiny cnn-ae: the export is a cnn-ae state, moved."""
    torch.manual_seed(0)
    base = cnn_ae.CnnAETrainable(N=16, M=16, scale=20.0)
    save_atomic(base.export(base.build().eval(), {}), tmp_path / "init.pt")
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "g.pt"
    cfg = TrainConfig(model="gan-ae", data=str(data), out=str(out), steps=2, batch=2, patch=32, lr=1e-3, holdout=1,
                      workdir=str(tmp_path / "w"), threads=1, progress=False,
                      options={"loss": loss, "N": "16", "M": "16", "init": str(tmp_path / "init.pt")})
    train(cfg)
    shipped, init = load_checkpoint(out), load_checkpoint(tmp_path / "init.pt")
    assert set(shipped["state_dict"]) == set(init["state_dict"]) and shipped["meta"]["loss"] == loss
    assert not torch.equal(shipped["state_dict"]["g_s.0.weight"], init["state_dict"]["g_s.0.weight"])
    state = load_checkpoint(tmp_path / "w" / "state.pt")
    assert any(k.startswith("critic.") for k in state["state_dict"])
    codec = gan_ae.GanAECodec(checkpoint=out, loss=loss, threads=1)
    assert codec.decode(codec.encode(np.full((32, 32, 3), 90, np.uint8))).shape == (32, 32, 3)
