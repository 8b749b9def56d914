"""Run an agent for whole episodes and summarise them with the project's metric definitions.

Metrics (the same everywhere, see DESIGN.md):
- fall: an episode that ended with ``info["fell"]`` (envs that do not report it: none);
- success: an episode that ended with ``info["success"]``;
- return: undiscounted sum of env rewards;
- plan time: wall time of one ``agent.act`` call, median over an episode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np


class Agent(Protocol):
    plan_times_ms: list[float]

    def reset(self, seed: int | None = None) -> None: ...
    def act(self, obs: np.ndarray) -> np.ndarray: ...
    def observe(
        self, obs, action, reward, next_obs, terminated, truncated, info=None
    ) -> dict[str, float]: ...


@dataclass
class EpisodeResult:
    seed: int
    ret: float
    fell: bool
    success: bool
    steps: int
    median_plan_ms: float


def run_episode(
    agent: Agent,
    env: gym.Env,
    seed: int,
    *,
    learn: bool = True,
    on_frame: Callable[[np.ndarray], None] | None = None,
) -> EpisodeResult:
    """One episode from ``env.reset(seed=seed)``; ``learn`` feeds transitions to ``agent.observe``.

    ``on_frame`` receives ``env.render()`` after the reset and after every step (video).
    """
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    if on_frame is not None:
        on_frame(env.render())
    ret, steps, fell, success = 0.0, 0, False, False
    while True:
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        ret += float(reward)
        steps += 1
        if on_frame is not None:
            on_frame(env.render())
        if learn:
            agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
        obs = next_obs
        if terminated or truncated:
            fell = bool(info.get("fell", False))
            success = bool(info.get("success", False))
            break
    plan_ms = float(np.median(agent.plan_times_ms)) if agent.plan_times_ms else float("nan")
    return EpisodeResult(seed, ret, fell, success, steps, plan_ms)


def summarize(results: Iterable[EpisodeResult]) -> dict[str, Any]:
    """The summary every tool prints and writes as JSON (keys fixed by DESIGN.md)."""
    results = list(results)
    plan_ms = [r.median_plan_ms for r in results if np.isfinite(r.median_plan_ms)]
    return {
        "episodes": len(results),
        "mean_return": float(np.mean([r.ret for r in results])) if results else float("nan"),
        "std_return": float(np.std([r.ret for r in results])) if results else float("nan"),
        "falls": int(sum(r.fell for r in results)),
        "successes": int(sum(r.success for r in results)),
        "success_rate": float(np.mean([r.success for r in results])) if results else 0.0,
        "mean_steps": float(np.mean([r.steps for r in results])) if results else 0.0,
        "median_plan_ms": float(np.median(plan_ms)) if plan_ms else float("nan"),
        "per_episode": [asdict(r) for r in results],
    }
