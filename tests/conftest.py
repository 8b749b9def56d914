"""Shared test setup: offscreen MuJoCo rendering, one CPU thread, loading benchmark scripts."""

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _single_thread_torch():
    torch.set_num_threads(1)
    yield


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """Import ``benchmarks/{name}.py`` (not a package) as module ``name``; remove it with ``unload``."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while defining their classes
    spec.loader.exec_module(module)
    return module
