"""Run in the CompressAI peer venv: codecbench's adapters against CompressAI's own compress/decompress.

``python compressai_models.py FOLDER MODEL[,MODEL...] QUALITY IMAGE...`` prints one JSON object. For each zoo
model, two adapted versions (FOLDER takes a checkpoint file):

- ``compressai:model=M,quality=Q,pretrained=false``: the zoo's architecture, randomly initialised under seed 0,
  then ``update(force=True)``;
- ``torch-model:factory=compressai.zoo:<function>,quality=Q,checkpoint=FOLDER/M.pt``: the same architecture
  through the generic adapter, its weights from a checkpoint in which the last layers of g_a, h_a and h_s are
  scaled up (×30, ×10, ×100), so that the latents spread over many symbols (random weights code nearly every
  symbol as 0, a weak test of a coder).

and for each image (sides multiples of 64, so that neither tool pads), what each side coded and decoded:

- codecbench: the spec through :func:`codecbench.engine.measure.measure` (bytes, bpp, payload_bpp, PSNR;
  encode/decode seconds; one torch thread, the adapter's ``deterministic`` default);
- CompressAI: the same model built in this process by ``compressai.zoo`` (and ``load_state_dict`` of the
  checkpoint), ``update(force=True)``, ``net.compress(x)`` of the torchvision ``ToTensor`` image and
  ``net.decompress(strings, shape)``, once on one torch thread (as the adapter codes) and once with torch's
  default thread count; its bpp as ``eval_model`` counts it (the strings only), its float PSNR as ``eval_model``
  computes it, and the PSNR of x_hat rounded to 8 bits;
- whether the weights, the strings (byte for byte) and the decoded 8-bit images (pixel for pixel) are the same.
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

import codecbench.codecs.learned.adapters  # noqa: F401 - registers the adapter (imports no other codec)
from codecbench.codecs.learned.adapters.strings import model_digest
from codecbench.codecs.learned.container import Container
from codecbench.core.codec import create_codec
from codecbench.core.metrics import psnr
from codecbench.engine.measure import measure
from compressai.zoo import image_models


def compressai_side(net: torch.nn.Module, path: str) -> dict:
    """CompressAI's own calls on one image, as ``compressai.utils.eval_model`` makes them."""
    x = transforms.ToTensor()(Image.open(path).convert("RGB")).unsqueeze(0)
    pixels = x.size(2) * x.size(3)
    with torch.no_grad():
        start = time.perf_counter()
        out = net.compress(x)
        enc_s = time.perf_counter() - start
        start = time.perf_counter()
        x_hat = net.decompress(out["strings"], out["shape"])["x_hat"].clamp_(0, 1)
        dec_s = time.perf_counter() - start
    mse = torch.mean((x - x_hat) ** 2).item()
    image8 = x_hat[0].mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return {"strings": [s for group in out["strings"] for s in group], "image8": image8,
            "bpp": sum(len(s[0]) for s in out["strings"]) * 8.0 / pixels,
            "psnr_float": -10 * math.log10(mse), "enc_s": enc_s, "dec_s": dec_s}


#: the layers the stress checkpoint scales up, and by how much
SPREAD = (("g_a", -1, 30.0), ("h_a", -1, 10.0), ("h_s", 4, 100.0))


def spread_checkpoint(model: str, quality: int, path: str) -> dict:
    """Save the zoo model's random weights (seed 0) with the layers of :data:`SPREAD` scaled up; return them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = image_models[model](quality=quality, metric="mse", pretrained=False)
    with torch.no_grad():
        for part, index, factor in SPREAD:
            getattr(net, part)[index].weight.mul_(factor)
    torch.save({"state_dict": net.state_dict()}, path)
    return net.state_dict()


def compressai_net(model: str, quality: int, state: dict | None) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = image_models[model](quality=quality, metric="mse", pretrained=False).eval()
    if state is not None:
        net.load_state_dict(state)
    net.update(force=True)
    return net


def compare(spec: str, net: torch.nn.Module, paths: list[str], threads: int) -> list[dict]:
    """One row per image: codecbench's measure() of ``spec`` beside CompressAI's calls on one torch thread (as
    the adapter codes) and on ``threads`` (torch's default here)."""
    codec = create_codec(spec, threads=1)
    rows = []
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))
        ours = measure(codec, image, metrics=("psnr",))
        data = codec.encode(image)
        decoded = codec.decode(data)
        strings = Container.from_bytes(data, codec.name, setting_kinds=codec._setting_kinds()).sections[1:]
        row = {"spec": spec, "image": path.rsplit("/", 1)[-1], "same_weights": model_digest(net) == codec.model_sha256,
               "bytes": ours["bytes"], "bpp": ours["bpp"], "payload_bpp": ours["payload_bpp"], "psnr": ours["psnr"],
               "enc_s": ours["enc_s"], "dec_s": ours["dec_s"]}
        for label, n in (("1", 1), ("default", threads)):
            torch.set_num_threads(n)
            theirs = compressai_side(net, path)
            differ = decoded != theirs["image8"]
            row[f"compressai_threads_{label}"] = {
                "threads": n, "same_strings": strings == theirs["strings"], "same_pixels": not differ.any(),
                "samples_differing": int(differ.sum()),
                "max_difference": int(np.abs(decoded.astype(int) - theirs["image8"].astype(int)).max()),
                "bpp": theirs["bpp"], "psnr_8bit": psnr(image, theirs["image8"]), "psnr_float": theirs["psnr_float"],
                "enc_s": theirs["enc_s"], "dec_s": theirs["dec_s"]}
        rows.append(row)
    return rows


def cases(folder: str, model: str, quality: int) -> list[tuple[str, torch.nn.Module]]:
    """(spec, CompressAI's own net) for the zoo adapter and for the generic adapter with the spread checkpoint."""
    path = f"{folder}/{model}.pt"
    state = spread_checkpoint(model, quality, path)
    function = model.replace("-", "_")
    return [(f"compressai:model={model},quality={quality},pretrained=false", compressai_net(model, quality, None)),
            (f"torch-model:factory=compressai.zoo:{function},quality={quality},checkpoint={path}",
             compressai_net(model, quality, state))]


def main(argv: list[str]) -> None:
    folder, models, quality, paths = argv[0], argv[1].split(","), int(argv[2]), argv[3:]
    import compressai

    threads = torch.get_num_threads()
    rows = [row for model in models for spec, net in cases(folder, model, quality)
            for row in compare(spec, net, paths, threads)]
    print(json.dumps({"versions": {"compressai": compressai.__version__, "torch": torch.__version__},
                      "rows": rows}))


if __name__ == "__main__":
    main(sys.argv[1:])
