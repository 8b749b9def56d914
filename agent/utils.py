"""Small helpers shared across the agent: device choice, discounted sums, hyper-parameter tables,
the machine a result was measured on."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

__all__ = ["resolve_device", "discounted_cost_to_go", "episode_cost_to_go", "hparam_table", "machine_info"]


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def discounted_cost_to_go(costs: np.ndarray, gamma: float) -> np.ndarray:
    """``g_t = sum_k gamma^k c_{t+k}`` of one episode's costs ``(T,) -> (T,)`` (no bootstrap)."""
    costs = np.asarray(costs, np.float64)
    out = np.zeros_like(costs)
    running = 0.0
    for t in range(len(costs) - 1, -1, -1):
        running = costs[t] + gamma * running
        out[t] = running
    return out


def episode_cost_to_go(costs: np.ndarray, episodes: Iterable[np.ndarray], gamma: float) -> np.ndarray:
    """Monte-Carlo cost-to-go of every transition, episode by episode: ``costs[slots]`` for each
    ``slots`` in ``episodes`` (e.g. ``ReplayBuffer.episodes()``), concatenated ``(num_steps,)``."""
    out = [discounted_cost_to_go(costs[slots], gamma) for slots in episodes]
    return np.concatenate(out) if out else np.zeros(0)


def hparam_table(config: Any) -> str:
    """A dataclass (nested ones flattened with dots) as a markdown table for TensorBoard's text tab."""
    rows = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}." if isinstance(v, dict) else f"{prefix}{k}", v)
        else:
            rows.append(f"|{prefix}|{value}|")

    walk("", dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config))
    return "|param|value|\n|-|-|\n" + "\n".join(rows)


def _cpu_model() -> str:
    """The CPU's model name, family and model number (``/proc/cpuinfo`` on Linux, where
    ``platform.processor()`` is empty)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    # Virtual machines often report a generic name; family and model tell the chips apart.
    return f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"


def machine_info() -> dict[str, Any]:
    """What a measured result depends on besides its command: the CPU model, the vector kernels
    torch dispatches to, the thread count and the numeric libraries' versions.

    A run is deterministic on one machine (same seed, same actions), but a closed loop of
    float32 networks and physics is chaotic: where another CPU or library version rounds one
    matrix product differently, later actions part ways (README, Results, session 21).
    Reports carry this so that a number can be rerun where it was made."""
    versions = {}
    for package in ("numpy", "torch", "gymnasium", "mujoco"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        **versions,
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
