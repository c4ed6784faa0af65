"""A tiny model with CompressAI's API and real entropy coding (constriction's rANS), for the torch-model adapter's
tests: no compressai needed.

y = round(16 · 4×4 average of x) (3 channels at 1/4 resolution), z = round(4×4 average of y) (1/16); z is coded
with a fixed quantized Gaussian, y with quantized Gaussians whose means are z (nearest up-sampled) and whose
per-channel spreads are the learned ``log_scale`` (frozen into ``scale_table`` by :meth:`update`, as
CompressAI's tables: ``compress`` refuses to run before it). x_hat is y_hat/16, nearest up-sampled, through
a learned 1×1 colour mix (identity at initialisation).
"""

from __future__ import annotations

import constriction
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

STEP = 16.0
LOW, HIGH = -64, 96
GAUSS = constriction.stream.model.QuantizedGaussian(LOW, HIGH)


def _code(symbols: torch.Tensor, means: torch.Tensor, stds: torch.Tensor) -> bytes:
    coder = constriction.stream.stack.AnsCoder()
    flat = lambda t: t.detach().cpu().reshape(-1).numpy().astype(np.float64)
    coder.encode_reverse(symbols.cpu().reshape(-1).numpy().astype(np.int32), GAUSS, flat(means), flat(stds))
    return coder.get_compressed().astype("<u4").tobytes()


def _decode(data: bytes, means: torch.Tensor, stds: torch.Tensor) -> torch.Tensor:
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    flat = lambda t: t.detach().cpu().reshape(-1).numpy().astype(np.float64)
    values = coder.decode(GAUSS, flat(means), flat(stds))
    return torch.from_numpy(np.asarray(values, dtype=np.float32)).reshape(means.shape).to(means.device)


class TinyHyperprior(nn.Module):
    def __init__(self, quality: int = 1) -> None:
        super().__init__()
        self.step = STEP * quality
        self.log_scale = nn.Parameter(torch.zeros(3))
        self.mix = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(3).reshape(3, 3, 1, 1))
            self.mix.bias.zero_()
        self.register_buffer("scale_table", torch.zeros(0))

    def update(self, force: bool = False) -> bool:
        if self.scale_table.numel() and not force:
            return False
        self.scale_table = self.log_scale.detach().exp().clamp(min=0.1) + 0.5
        return True

    def _stds(self, like: torch.Tensor) -> torch.Tensor:
        if not self.scale_table.numel():
            raise ValueError("entropy tables not built: call update() first")
        return self.scale_table.reshape(1, 3, 1, 1).expand_as(like)

    def compress(self, x: torch.Tensor) -> dict:
        y = torch.round(F.avg_pool2d(x, 4) * self.step)
        z = torch.round(F.avg_pool2d(y, 4))
        means = F.interpolate(z, scale_factor=4.0, mode="nearest")
        z_string = _code(z, torch.full_like(z, self.step / 2), torch.full_like(z, self.step / 3))
        return {"strings": [[_code(y, means, self._stds(y))], [z_string]], "shape": z.shape[-2:]}

    def decompress(self, strings: list, shape: torch.Size) -> dict:
        like = torch.zeros((1, 3, *shape), device=self.scale_table.device)
        z = _decode(strings[1][0], like + self.step / 2, like + self.step / 3)
        means = F.interpolate(z, scale_factor=4.0, mode="nearest")
        y = _decode(strings[0][0], means, self._stds(means))
        x_hat = self.mix(F.interpolate(y / self.step, scale_factor=4.0, mode="nearest"))
        return {"x_hat": x_hat.clamp(0, 1)}


def make(quality: int = 1) -> TinyHyperprior:
    return TinyHyperprior(quality)


def not_a_model() -> str:
    return "a string"


def make_random() -> TinyHyperprior:
    """Weights drawn from torch's generator: the same in every process only under the same seed."""
    model = TinyHyperprior()
    with torch.no_grad():
        model.log_scale.normal_(0.0, 0.5)
    return model


def make_without_update() -> nn.Module:
    """A model whose tables are never built: its compress() raises, as CompressAI's does before update()."""
    model = TinyHyperprior()
    model.update = None
    return model
