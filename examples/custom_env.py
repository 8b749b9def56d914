"""Bring your own environment: a Gymnasium env written here, controlled by the same agent.

Any Gymnasium env with a continuous (Box) action space and a flat Box observation works.
Report ``info["fell"] = True`` on a failure termination and ``info["success"] = True`` on
reaching the goal, and the tools count falls and successes for you. Three ways in:

    # 1. this script: pretrain on the env below, then run a few episodes
    python examples/custom_env.py

    # 2. the standard CLI, naming the class (or a factory) as 'package.module:Name'
    python examples/run_agent.py --env examples.custom_env:make_ledge_walker

    # 3. from Python
    import envs
    from agent import MPCAgent
    env = envs.make_env("examples.custom_env:make_ledge_walker")
    agent = MPCAgent.pretrain("examples.custom_env:make_ledge_walker")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

REPO = Path(__file__).resolve().parents[1]


class LedgeWalkerEnv(gym.Env):
    """A unit point mass on a 1-D ledge: reach the goal at x = 1, do not step off at x = -1.

    ## Action Space
    Box(-1, 1, (1,)): force on the mass (clipped to the bounds).

    ## Observation Space
    Box(3,): ``[goal - x, v, x - edge]`` (distance to goal, velocity, distance to the edge).

    ## Rewards
    reward = -cost, cost = |goal - x| * dt + 0.01 * a² * dt, plus ``fall_cost`` on a fall and
    minus ``success_bonus`` on success.

    ## Starting State
    x ~ U(-0.7, 0.5), v ~ U(-0.5, 0.5) (so some starts are drifting toward the edge).

    ## Episode End
    Terminates when x < -1 (``info["fell"]``) or |goal - x| < 0.05 with |v| < 0.2
    (``info["success"]``); truncated after ``max_steps``.
    """

    metadata = {"render_modes": [], "render_fps": 20}

    def __init__(self, fall_cost: float = 10.0, success_bonus: float = 1.0, max_steps: int = 100):
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (3,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.fall_cost, self.success_bonus, self.max_steps = fall_cost, success_bonus, max_steps
        self.dt, self.goal, self.edge = 0.05, 1.0, -1.0
        self.x = self.v = 0.0
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.goal - self.x, self.v, self.x - self.edge], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-0.7, 0.5))
        self.v = float(self.np_random.uniform(-0.5, 0.5))
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action}")
        a = float(np.clip(action, -1.0, 1.0)[0])
        self.v = float(np.clip(self.v + 2.0 * a * self.dt, -2.0, 2.0))
        self.x += self.v * self.dt
        self.t += 1
        fell = self.x < self.edge
        success = abs(self.goal - self.x) < 0.05 and abs(self.v) < 0.2
        cost = (abs(self.goal - self.x) + 0.01 * a * a) * self.dt
        cost += self.fall_cost * fell - self.success_bonus * success
        info = {"fell": fell, "success": success, "cost": cost}
        return self._obs(), -cost, fell or success, self.t >= self.max_steps, info


def make_ledge_walker(**kwargs) -> gym.Env:
    """Factory for ``envs.make_env("examples.custom_env:make_ledge_walker")``."""
    return LedgeWalkerEnv(**kwargs)


@dataclass
class Args:
    episodes: int = 5
    """Episodes to run after pretraining."""
    pretrain_steps: int = 3000
    """Env steps of exploration data."""
    pretrain_updates: int = 2000
    """World model and critic updates."""
    seed: int = 0


def main(args: Args) -> dict:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from agent.evaluate import run_episode, summarize
    from agent.mpc import MPCAgent
    from agent.pretrain import PretrainConfig

    spec = "examples.custom_env:make_ledge_walker"
    pcfg = PretrainConfig(env=spec, collect_steps=args.pretrain_steps,
                          updates=args.pretrain_updates, seed=args.seed)
    agent = MPCAgent.pretrain(spec, pretrain_config=pcfg)
    env = make_ledge_walker()
    results = [run_episode(agent, env, seed=args.seed + i) for i in range(args.episodes)]
    summary = summarize(results)
    print({k: v for k, v in summary.items() if k != "per_episode"})
    return summary


if __name__ == "__main__":
    import tyro

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    main(tyro.cli(Args))
