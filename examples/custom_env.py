"""Bring your own environment: a Gymnasium env written here, controlled by the same agent.

Any Gymnasium env with a continuous (Box) action space and a flat Box observation works.
Report ``info["fell"] = True`` on a failure termination and ``info["success"] = True`` on
reaching the goal, and the tools count falls and successes for you. Name your env as
``module:Factory``; the module must be importable (installed, on ``PYTHONPATH``, or beside
the script being run). Three ways in:

    # 1. this script: train the agent online on the env below (cached, so a rerun starts at
    #    once), then run a few episodes; it takes run_agent.py's flags (--help)
    python examples/custom_env.py

    # 2. the standard CLI, from the repository root (PYTHONPATH=. makes `examples` importable)
    PYTHONPATH=. python examples/run_agent.py --env examples.custom_env:make_ledge_walker

    # 3. from Python, in the repository root
    import envs
    from agent import MPCAgent
    env = envs.make_env("examples.custom_env:make_ledge_walker")
    agent = MPCAgent(env)        # a fresh agent: it learns online in agent.observe(...)
    # or train it the way the CLIs do: python examples/train.py --env examples.custom_env:make_ledge_walker
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


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


SPEC = "custom_env:make_ledge_walker"
"""This file's env as a spec: run as a script, this file's directory is on ``sys.path``."""


def main(argv: list[str] | None = None) -> dict:
    """Run ``run_agent.py`` on this env (its flags; fewer episodes and training steps by default)."""
    from _cli import parse
    from run_agent import Args
    from run_agent import main as run_agent

    defaults = Args(env=SPEC, episodes=5, train_steps=5000)
    args = parse(Args, argv, default=defaults, description=(
        "Train the MPC agent online on the ledge walker written in this file (cached), then run "
        "it for a few episodes."))
    return run_agent(args)


if __name__ == "__main__":
    main()
