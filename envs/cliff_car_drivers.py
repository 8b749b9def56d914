"""Hand-written CliffCar controllers: demonstrations that steer part of the exploration data.

`CliffCarEnv.exploration_guides` offers these two to any data collector (the agent's
`agent.collect.collect` finds them through `env.unwrapped.exploration_guides` without
knowing the env). They are demonstrations written by a person who knows the observation
layout, not something the agent learned: a comparison that lets one learner's data follow
them must say so, or give the other learner the same help.

Both read observations only, never rewards or the privileged layout, and map a batch of
observations `(N, 23)` to actions `(N, 2)` in the env's action box [-1, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["goal_seeker", "cautious_seeker", "GOAL_DISTANCE", "GOAL_COS", "GOAL_SIN", "FRONT_RAYS"]

# Observation indices (the table under "Observation Space" in CliffCarEnv's docstring;
# tests/test_envs.py checks them against envs.cliff_car.OBS_NAMES).
GOAL_DISTANCE = 3
GOAL_COS, GOAL_SIN = 4, 5
FRONT_RAYS = slice(7, 18)
"""The front rangefinder fan, 90 deg right to 90 deg left (the rear fan follows at 18:23)."""


def goal_seeker(obs: np.ndarray) -> np.ndarray:
    """Hand-written controller: steer at the goal bearing and drive forward; `(N, 23) -> (N, 2)`.

    It ignores the edge, so on layouts whose start-goal line crosses the void it drives
    straight over the cliff; elsewhere it reaches the goal. Exploration wants both: falls
    near edges and goal reaches.
    """
    bearing = np.arctan2(obs[:, GOAL_SIN], obs[:, GOAL_COS])
    turn = np.clip(1.5 * bearing, -1.0, 1.0)
    slow_near_goal = np.clip(obs[:, GOAL_DISTANCE] / 1.5, 0.4, 1.0)
    forward = np.clip(0.8 * np.cos(bearing), 0.0, 1.0) * slow_near_goal
    return np.stack([forward, turn], axis=-1)


def cautious_seeker(obs: np.ndarray, void_range: float = 3.0) -> np.ndarray:
    """Hand-written controller: `goal_seeker` that backs off from the void; `(N, 23) -> (N, 2)`.

    On flat ground a front ray reads about 1.8 m, over the void the maximum range; a ray
    beyond `void_range` counts as void. Void ahead: reverse and turn toward the side with
    more ground. Void to one side: keep going, slower, and turn away from it. With
    exploration noise on top it sometimes fails, so the data holds edge recoveries as well
    as falls at the edge.
    """
    action = goal_seeker(obs)
    void = obs[:, FRONT_RAYS] > void_range  # (N, 11), right to left
    right, ahead, left = void[:, 0:4].sum(1), void[:, 4:7].any(1), void[:, 7:11].sum(1)
    away = np.where(right > left, 1.0, -1.0)  # +1: turn left, away from void on the right
    side = ~ahead & (right + left > 0)
    action[ahead] = np.stack([np.full(ahead.sum(), -0.6), 0.8 * away[ahead]], axis=-1)
    action[side, 1] = 0.7 * away[side]
    action[side, 0] = np.minimum(action[side, 0], 0.5)
    return action
