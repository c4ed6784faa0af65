"""Executors: which one a run's options pick, the frozen task they get, one warm-up routine, no import cycle."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from codecbench.core.codec import create_codec
from codecbench.core.errors import OptionError
from codecbench.engine.distributed import DaskExecutor
from codecbench.engine.executors import IsolatedExecutor, PoolExecutor, SerialExecutor
from codecbench.engine.measure import Timing
from codecbench.engine.runner import Runner, executor_for
from codecbench.engine.tasks import Task, warm_once

ENGINE = Path(__file__).resolve().parents[1] / "codecbench" / "engine"


@pytest.mark.parametrize("options, kind, jobs", [
    ({}, SerialExecutor, 1),
    ({"isolate": True}, IsolatedExecutor, 1),
    ({"timeout": 5.0}, IsolatedExecutor, 1),
    ({"jobs": 3}, PoolExecutor, 3),
    ({"jobs": 2, "dask": object()}, DaskExecutor, 2),
])
def test_each_set_of_options_gets_its_executor(options, kind, jobs):
    executor = executor_for(**options)
    try:
        assert type(executor) is kind
        assert executor.jobs == jobs
        assert executor.remote == (kind is DaskExecutor)
    finally:
        executor.close()


@pytest.mark.parametrize("options", [{"isolate": True}, {"timeout": 1.0}, {"cached": True}])
def test_dask_refuses_what_only_a_local_run_has(options):
    with pytest.raises(OptionError, match="Dask"):
        executor_for(dask=object(), **options)


def test_the_runner_hands_one_frozen_task_with_its_options():
    codec = create_codec("png", threads=1)
    image = np.zeros((4, 4, 3), np.uint8)
    with Runner(["png"], threads=1, timing=Timing(warmup=2, repeats=3), metrics=("psnr",)) as runner:
        task = runner.task(codec, "embedded", "a", image)
    assert (task.spec, task.device, task.threads) == (codec.spec, "cpu", 1)
    assert task.timing == Timing(warmup=2, repeats=3)
    assert task.metrics == ("psnr",)
    assert (task.dataset, task.item_id, task.image is image) == ("embedded", "a", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.spec = "jpeg"  # type: ignore[misc]
    assert task.retiming(100).expected_bytes == 100
    assert task.expected_bytes is None, "retiming makes a new task"


def test_a_codec_is_warmed_up_once_per_warm_set(monkeypatch):
    codec = create_codec("png", threads=1)
    encodes = []
    real = codec.encode
    monkeypatch.setattr(codec, "encode", lambda image: encodes.append(1) or real(image))
    image = np.full((8, 8, 3), 7, np.uint8)
    warm: set = set()
    warm_once(codec, image, 2, warm)
    warm_once(codec, image, 2, warm)
    assert len(encodes) == 2, "two rounds the first time, none the second"
    assert warm_once(codec, image, 2, set()) >= 0.0
    assert len(encodes) == 4, "another warm set (another runner, a fresh worker) warms it up again"


@pytest.mark.parametrize("module", ["distributed", "executors", "tasks", "records", "isolation", "measure"])
def test_no_engine_module_below_the_runner_imports_it(module):
    tree = ast.parse((ENGINE / f"{module}.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "codecbench.engine.runner" not in imported
