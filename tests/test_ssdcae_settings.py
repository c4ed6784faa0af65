"""ssdcae ships one latent width (44): ``latent=8`` is refused everywhere it used to be advertised (issue 13)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from codecbench.core.codec import create_codec
from codecbench.codecs.learned.models import ssdcae
from codecbench.codecs.learned.base import CheckpointError, make_checkpoint, save_atomic
from codecbench.core.errors import SpecError


def test_latent_8_spec_is_a_spec_error_naming_the_allowed_width():
    with pytest.raises(SpecError, match=r"latent='?8'?: allowed values are 44$"):
        create_codec("ssdcae:latent=8")
    assert ssdcae.SSDCAECodec.settings["latent"].choices == (44,)


def test_latent_8_on_the_command_line_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "codecbench", "run", "--codecs", "ssdcae:latent=8",
                           "--datasets", "kodak", "--out", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "latent" in lines[0] and "44" in lines[0], proc.stderr
    listing = subprocess.run([sys.executable, "-m", "codecbench", "list"], capture_output=True, text=True, timeout=120)
    assert "latent=44|8" not in listing.stdout and "latent=44" in listing.stdout.replace("\n", "")


def test_training_option_latent_is_gone():
    assert "latent" not in ssdcae.SSDCAETrainable.options
    with pytest.raises(SpecError):
        ssdcae.SSDCAETrainable(latent=8)


def test_a_checkpoint_of_another_latent_width_is_refused(tmp_path):
    """The stream header names latent=44, so the loaded network must have 44 latent channels."""
    torch.manual_seed(0)
    arch = {**ssdcae.DEFAULT_ARCH, "latent": 8}
    path = tmp_path / "l8.pt"
    save_atomic(make_checkpoint("ssdcae", arch, ssdcae.build(arch).state_dict()), path)
    with pytest.raises(CheckpointError, match="8 latent channels"):
        ssdcae.SSDCAECodec(checkpoint=path)
