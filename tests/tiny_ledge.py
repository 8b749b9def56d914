"""A point on a ledge, for the evaluation tests: x starts near 0 and moves 0.25 * action per step.

x >= 0.9 is the goal (success), x <= -0.9 is over the edge (fell): four steps either way.
``PointLedge-v0`` says so in ``info``; ``make_kerb`` is its safe world (a drop, not a fall); ``QuietLedge-v0`` is the same env that reports nothing
in ``info`` but registers ``reward_threshold=0.5``, so only the generic outcome rule can judge it.
Import it as ``tiny_ledge:make`` (tests/ is on ``sys.path`` under pytest; subprocesses get it
through ``PYTHONPATH``).
"""

import gymnasium as gym
import numpy as np


class PointLedge(gym.Env):
    def __init__(self, report_outcome: bool = True):
        self.observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.report_outcome = report_outcome
        self.x = 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-0.05, 0.05))
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x += 0.25 * float(np.clip(action[0], -1.0, 1.0))
        fell, success = self.x <= -0.9, self.x >= 0.9
        reward = 1.0 if success else (-1.0 if fell else -0.01)
        info = {"fell": fell, "success": success} if self.report_outcome else {}
        return np.array([self.x], np.float32), reward, fell or success, False, info


class KerbLedge(PointLedge):
    """A safe world: the same ledge, but going over the edge is a survivable drop
    (``info["dropped"]``), never a fall."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {"dropped": info["fell"], "fell": False, "success": info["success"]}


if "PointLedge-v0" not in gym.registry:
    gym.register("PointLedge-v0", entry_point=PointLedge, max_episode_steps=20)
if "QuietLedge-v0" not in gym.registry:
    gym.register(
        "QuietLedge-v0",
        entry_point=PointLedge,
        kwargs={"report_outcome": False},
        max_episode_steps=20,
        reward_threshold=0.5,
    )


def make(**kwargs):
    return gym.make("PointLedge-v0", **kwargs)


def make_quiet(**kwargs):
    return gym.make("QuietLedge-v0", **kwargs)


def make_kerb(**kwargs):
    return gym.wrappers.TimeLimit(KerbLedge(**kwargs), max_episode_steps=20)
