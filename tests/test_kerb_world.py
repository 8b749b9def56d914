"""The safe world of issue #12: CliffCarKerb-v0 against CliffCar-v0, and the transfer wiring
(kerb-world pretraining labelled by its drops, a cliff run that reports them apart)."""

from __future__ import annotations

import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs
from agent.checkpoint import load_checkpoint
from agent.critic import CriticConfig
from agent.loop import TrainConfig, train
from agent.mpc import AgentConfig
from agent.policy import PolicyConfig
from agent.pretrain import PretrainConfig, pretrain, save_pretrained
from agent.world_model import WorldModelConfig
from envs.cliff_car import N_RAYS
from envs.cliff_car_kerb import KERB_DROP_COST, KERB_DROP_HEIGHT
from planners import PlannerConfig

HEIGHT = 6  # observation index of the car body's height above the plateau top
RANGES = slice(7, 7 + N_RAYS)


def edge_driver(env: gym.Env):
    """A privileged driver that turns to the point 3 m past the nearest edge and drives straight off."""
    car = env.unwrapped
    layout = car.layout
    x, y = layout.to_plateau_frame(car.car_xy)  # the void is {x > 0, y > 0}
    target = layout.to_world_frame(np.array([3.0, y] if y > 0 else [x, 3.0] if x > 0 else [3.0, 3.0]))

    def act(_obs: np.ndarray) -> np.ndarray:
        delta = target - car.car_xy
        bearing = (math.atan2(delta[1], delta[0]) - car.car_yaw + math.pi) % (2 * math.pi) - math.pi
        return np.array([max(0.0, math.cos(bearing)) ** 4, np.clip(2.0 * bearing, -1, 1)], np.float32)

    return act


def drive(env: gym.Env, seed: int, policy=None, actions: np.ndarray | None = None):
    """Observations ``(T+1, O)`` and the last info of one episode, by a policy or a fixed action list."""
    obs, _ = env.reset(seed=seed)
    policy = policy or edge_driver(env)
    trace, info = [obs], {}
    for t in range(300):
        action = policy(obs) if actions is None else actions[t]
        obs, _, terminated, truncated, info = env.step(action)
        trace.append(obs)
        if terminated or truncated:
            break
    return np.array(trace), info, terminated


def recording(policy, actions: list):
    """``policy``, appending each action it takes to ``actions``."""
    def act(obs: np.ndarray) -> np.ndarray:
        actions.append(policy(obs))
        return actions[-1]

    return act


# ----------------------------------------------------------------------------- the env
def test_check_env_passes_and_the_registration_and_short_name_resolve():
    check_env(envs.CliffCarKerbEnv(), skip_render_check=True)
    env = envs.make_env("cliff-car-kerb")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.id == "CliffCarKerb-v0" and env.spec.max_episode_steps == 300
    assert env.observation_space == envs.make_env("cliff-car").observation_space
    assert env.action_space == envs.make_env("cliff-car").action_space
    copy = pickle.loads(pickle.dumps(env.unwrapped))  # a subclass with its own defaults pickles
    assert type(copy) is envs.CliffCarKerbEnv and copy._drop_height == KERB_DROP_HEIGHT


def test_same_seed_same_layout_as_the_cliff():
    kerb, cliff = envs.make_env("cliff-car-kerb"), envs.make_env("cliff-car")
    for seed in range(10):
        obs_k, info_k = kerb.reset(seed=seed)
        obs_c, info_c = cliff.reset(seed=seed)
        a, b = kerb.unwrapped.layout, cliff.unwrapped.layout
        np.testing.assert_array_equal(a.corner, b.corner)
        np.testing.assert_array_equal(a.start, b.start)
        np.testing.assert_array_equal(a.goal, b.goal)
        assert (a.plateau_yaw, a.start_yaw, a.crosses_void) == (b.plateau_yaw, b.start_yaw, b.crosses_void)
        np.testing.assert_array_equal(obs_k, obs_c)
        assert info_k == info_c


def test_driving_off_an_edge_is_a_drop_in_the_kerb_world_and_a_fall_on_the_cliff():
    for seed in range(3):
        _, kerb, terminated = drive(envs.make_env("cliff-car-kerb"), seed)
        assert terminated and kerb["dropped"] and not kerb["fell"] and not kerb["success"]
        assert kerb["cost_fall"] == KERB_DROP_COST and kerb["cost"] < 2.0
        _, cliff, terminated = drive(envs.make_env("cliff-car"), seed)
        assert terminated and cliff["fell"] and cliff["dropped"]
        assert cliff["cost_fall"] == 100.0


def test_the_drop_is_survivable_the_car_lands_on_the_low_ground():
    env = envs.CliffCarKerbEnv()
    trace, info, _ = drive(env, 0)
    assert info["dropped"]
    for _ in range(40):  # keep simulating past the end of the episode: the car lands and rests
        obs, *_ = env.step(np.zeros(2, np.float32))
    body = env.data.qpos[2]
    assert -KERB_DROP_HEIGHT < body < -KERB_DROP_HEIGHT + 0.35  # on the low ground, 0.4 m down
    assert abs(env.data.qvel[2]) < 0.05


def test_observations_match_the_cliffs_up_to_and_including_the_drop():
    """The measurement in CliffCarKerbEnv's docstring: same actions, same observations, to the drop."""
    rng = np.random.default_rng(0)
    worst = np.zeros(23)
    drops, later = 0, []
    for seed in range(6):
        kerb_env, cliff_env = envs.make_env("cliff-car-kerb"), envs.make_env("cliff-car")
        kerb_env.reset(seed=seed)
        actions: list[np.ndarray] = []
        trace_k, info_k, _ = drive(kerb_env, seed, policy=recording(edge_driver(kerb_env), actions))
        trace_c, info_c, _ = drive(cliff_env, seed, actions=np.array(actions + [actions[-1]] * 20))
        assert info_k["dropped"] and info_c["fell"]
        worst = np.maximum(worst, np.abs(trace_k - trace_c[: len(trace_k)]).max(0))
        later.append(len(trace_c) - len(trace_k))
        assert trace_k[-1, HEIGHT] < -0.05 and trace_k[-1, RANGES].max() == 5.0  # over the void, rays see it
        drops += 1
    random_actions = np.clip(rng.uniform(-1, 1, (6, 300, 2)) * [0.3, 0.5] + [0.8, 0.0], -1, 1)
    for seed, actions in enumerate(random_actions):
        trace_k, info_k, _ = drive(envs.make_env("cliff-car-kerb"), 100 + seed, actions=actions)
        trace_c, _, _ = drive(envs.make_env("cliff-car"), 100 + seed, actions=actions)
        worst = np.maximum(worst, np.abs(trace_k - trace_c[: len(trace_k)]).max(0))
        drops += info_k["dropped"]
    assert drops >= 9
    assert worst.max() == 0.0, worst
    assert all(lag >= 2 for lag in later)  # the cliff reports its fall later, deeper in the drop


def test_cliff_car_v0_steps_as_an_explicit_default_drop_height():
    rng = np.random.default_rng(3)
    actions = np.clip(rng.uniform(-1, 1, (200, 2)) * [0.3, 0.3] + [0.9, 0.0], -1, 1)
    runs = []
    for env in (envs.make_env("cliff-car"), envs.make_env("cliff-car", drop_height=20.0, fall_height=-0.5)):
        rows = []
        obs, _ = env.reset(seed=2)
        for action in actions:
            obs, reward, terminated, truncated, info = env.step(action)
            rows.append(np.concatenate([obs, [reward, terminated, truncated, info["fell"], info["dropped"]]]))
            if terminated or truncated:
                obs, _ = env.reset()
        runs.append(np.array(rows))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0][:, -2].sum() >= 1  # the sequence does fall off at least once


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"drop_height": 0.2}, "drop_height"),
    ({"drop_height": 25.0}, "drop_height"),
    ({"fall_height": -0.5}, "fall_height"),  # below where the car rests on the 0.4 m low ground
])
def test_bad_kerb_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        envs.CliffCarKerbEnv(**kwargs)


# ----------------------------------------------------------------------------- transfer wiring
def kerb_pretraining(fall_key: str, **overrides) -> PretrainConfig:
    settings = dict(
        env="cliff-car-kerb", seed=0, collect_steps=1200, num_envs=4, guide_fraction=1.0, updates=3,
        batch_size=16, fall_key=fall_key, world_model=WorldModelConfig(latent_dim=8, hidden_dim=32, horizon=5),
        critic=CriticConfig(hidden_dim=32), policy=PolicyConfig(hidden_dim=32), log_dir=None, device="cpu",
    )
    settings.update(overrides)
    return PretrainConfig(**settings)


def test_pretraining_labels_the_fall_head_from_the_fall_key_and_prices_it(tmp_path):
    dropped = pretrain(config=kerb_pretraining("dropped", fall_cost=100.0), progress=False)
    fell = pretrain(config=kerb_pretraining("fell"), progress=False)
    buffer = dropped.buffer
    slots = buffer.valid_slots()
    labelled = slots[buffer.fell[slots]]
    assert dropped.stats["drops"] == len(labelled) >= 2  # the guides drive off on cross-void layouts
    assert dropped.stats["falls"] == 0 and dropped.stats["fall_labels"] == len(labelled)
    assert buffer.terminated[labelled].all() and (buffer.next_obs[labelled, HEIGHT] < -0.04).all()
    assert (buffer.cost[labelled] == 100.0).all() and float(dropped.world_model.fall_cost) == 100.0
    # The same data labelled by "fell": the kerb world never reports a fall, so nothing is labelled.
    np.testing.assert_array_equal(fell.buffer.obs[slots], buffer.obs[slots])
    assert fell.buffer.num_falls == 0 and fell.stats["drops"] == dropped.stats["drops"]

    path = save_pretrained(tmp_path / "kerb.pt", dropped, kerb_pretraining("dropped", fall_cost=100.0))
    _, meta = load_checkpoint(path)
    stats = meta["pretraining"]
    assert (stats["env"], stats["env_id"], stats["fall_key"]) == ("cliff-car-kerb", "CliffCarKerb-v0", "dropped")
    assert stats["steps"] == 1200 and stats["drops"] == dropped.stats["drops"] and stats["falls"] == 0


def test_a_fall_key_the_env_never_reports_is_refused_after_collection():
    with pytest.raises(ValueError, match=r"no info\['tumbled'\].*'dropped'"):
        pretrain(config=kerb_pretraining("tumbled", collect_steps=100), progress=False)


def test_a_cliff_run_from_a_kerb_checkpoint_reports_the_kerb_world_apart(tmp_path):
    torch.set_num_threads(1)
    config = kerb_pretraining("dropped", fall_cost=100.0)
    result = pretrain(config=config, progress=False)
    path = save_pretrained(tmp_path / "kerb.pt", result, config)
    report = train(
        TrainConfig(env="cliff-car", steps=40, seed=0, eval_every=0, checkpoint=tmp_path / "cliff.pt",
                    init_checkpoint=path, log_dir=None,
                    agent=AgentConfig(batch_size=16, planner=PlannerConfig(horizon=3, num_samples=4, iterations=1)),
                    world_model=config.world_model, critic=config.critic, policy=config.policy),
        judge=lambda ret, terminated, info: (bool(info.get("fell", terminated)), bool(info.get("success"))),
        progress_bar=False, log=lambda _: None,
    )
    kerb = result.stats
    assert report["other_world"] == {"env": "CliffCarKerb-v0", "steps": kerb["steps"],
                                     "episodes": kerb["episodes"], "falls": 0, "drops": kerb["drops"]}
    assert report["pretraining"] == {"steps": 0, "falls": 0, "episodes": 0}
    assert report["falls"] == report["training_falls"]  # cliff falls only
    assert report["experience"]["steps"] == 40 and report["experience"]["other_world"] == report["other_world"]
