"""Exploration guides: the env offers its hand-written controllers, the collector finds them."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs
from agent.collect import collect, exploration_guides
from envs import cliff_car_drivers
from envs.cliff_car import OBS_NAMES


def test_driver_indices_match_the_observation_layout():
    assert OBS_NAMES[cliff_car_drivers.GOAL_DISTANCE] == "goal_distance"
    assert OBS_NAMES[cliff_car_drivers.GOAL_COS] == "goal_bearing_cos"
    assert OBS_NAMES[cliff_car_drivers.GOAL_SIN] == "goal_bearing_sin"
    assert OBS_NAMES[cliff_car_drivers.FRONT_RAYS] == tuple(f"range_{i}" for i in range(11))


def test_cliff_car_guides_react_to_goal_and_void():
    obs = np.zeros((3, 23), np.float32)
    obs[:, 3] = 5.0  # goal 5 m away
    obs[:, 4], obs[:, 5] = np.cos(0.5), np.sin(0.5)  # goal to the left
    obs[:, 7:23] = 1.8  # flat ground everywhere
    obs[1, 11:14] = 5.0  # void straight ahead
    obs[2, 7:10] = 5.0  # void on the right
    naive = cliff_car_drivers.goal_seeker(obs)
    cautious = cliff_car_drivers.cautious_seeker(obs)
    assert naive.shape == (3, 2) and np.all(np.abs(naive) <= 1)
    assert np.all(naive[:, 0] > 0) and np.all(naive[:, 1] > 0)  # forward, turning toward the goal
    np.testing.assert_allclose(cautious[0], naive[0])  # no void: same as the naive seeker
    assert cautious[1, 0] < 0  # void ahead: reverse
    assert cautious[2, 1] > 0 and cautious[2, 0] <= 0.5  # void right: turn left, slow


def test_the_env_offers_its_guides_through_any_wrapper():
    wrapped = envs.make_env("cliff-car")  # TimeLimit, order enforcing, checker wrappers
    guides = exploration_guides(wrapped)
    assert guides == [cliff_car_drivers.goal_seeker, cliff_car_drivers.cautious_seeker]
    assert exploration_guides(envs.make_env("Pendulum-v1")) == []


def test_a_malformed_offer_is_refused():
    class Offers(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        exploration_guides = ("not callable",)

    with pytest.raises(TypeError, match="exploration_guides must be a sequence of callables"):
        exploration_guides(Offers())


def test_collect_with_the_env_guides_equals_passing_them_by_hand():
    """``guide="env"`` (what pretraining uses) changes nothing against the explicit list."""
    explicit = [cliff_car_drivers.goal_seeker, cliff_car_drivers.cautious_seeker]
    a, stats_a = collect("cliff-car", 400, seed=0, num_envs=4, guide="env", guide_fraction=0.5)
    b, stats_b = collect("cliff-car", 400, seed=0, num_envs=4, guide=explicit, guide_fraction=0.5)
    unguided, _ = collect("cliff-car", 400, seed=0, num_envs=4)
    assert stats_a == stats_b
    for key in ("obs", "action", "cost", "next_obs", "terminated", "fell"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.action, unguided.action)


def test_collect_refuses_an_unknown_guide_word():
    with pytest.raises(ValueError, match="'env'"):
        collect("Pendulum-v1", 10, guide="envs")


def test_the_collector_names_no_env():
    source = (Path(__file__).resolve().parents[1] / "agent" / "collect.py").read_text().lower()
    assert "cliff" not in source and "obs[:, " not in source
