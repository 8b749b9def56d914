"""MPCAgent: the shipped cliff-car agent, determinism, checkpoints, bad inputs, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from agent.mpc import AgentConfig, MPCAgent, PlannerConfig
from agent.pretrain import PretrainConfig
from agent.world_model import WorldModelConfig
from evaluation import run_episode

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "cliff-car.pt"
LEDGE = "examples.custom_env:make_ledge_walker"


@pytest.fixture(scope="module")
def ledge_checkpoint(tmp_path_factory) -> Path:
    """A small agent pretrained on the example custom env (seconds, not minutes)."""
    torch.set_num_threads(1)
    config = PretrainConfig(
        env=LEDGE,
        collect_steps=1500,
        updates=150,
        batch_size=64,
        num_envs=4,
        log_dir=None,
        world_model=WorldModelConfig(latent_dim=16, hidden_dim=64, horizon=8),
    )
    agent = MPCAgent.pretrain(LEDGE, AgentConfig(online=False), pretrain_config=config, progress=False)
    path = tmp_path_factory.mktemp("ckpt") / "ledge.pt"
    agent.save(path)
    return path


def test_shipped_agent_reaches_goal_without_falling():
    """The shipped agent as ``run_agent.py`` drives it: with the margin and horizon it stores."""
    env = envs.make_env("cliff-car")
    agent = MPCAgent.load(SHIPPED, env, AgentConfig(online=False), keep_objective=True)
    results = [run_episode(agent, env, seed, learn=False) for seed in (0, 1, 2)]
    assert not any(r.fell for r in results), [(r.seed, r.ret) for r in results]
    assert sum(r.success for r in results) >= 2, [(r.seed, r.ret, r.steps) for r in results]


def test_shipped_fast_agent_reaches_goal_with_a_small_search():
    """The distilled agent (checkpoints/cliff-car-fast.pt) with 8 candidates x 3 iterations and no
    random restarts: the undistilled agent's prior makes that search fall (README)."""
    env = envs.make_env("cliff-car")
    fast = PlannerConfig(num_samples=8, iterations=3, random_fraction=0.0)
    agent = MPCAgent.load(SHIPPED.with_name("cliff-car-fast.pt"), env, AgentConfig(online=False, planner=fast))
    assert agent.value_policy is not None  # the critic's values keep the policy they were learnt with
    results = [run_episode(agent, env, seed, learn=False) for seed in (0, 1, 2)]
    assert not any(r.fell for r in results), [(r.seed, r.ret) for r in results]
    assert sum(r.success for r in results) >= 2, [(r.seed, r.ret, r.steps) for r in results]


def _episode_actions(path: Path, seed: int, online: bool) -> tuple[list[np.ndarray], float]:
    env = envs.make_env(LEDGE)
    config = AgentConfig(online=online, batch_size=32)
    agent = MPCAgent.load(path, env, config, seed=seed)
    actions = []
    obs, _ = env.reset(seed=seed)
    agent.reset(seed=seed)
    ret = 0.0
    for _ in range(60):
        action = agent.act(obs)
        actions.append(action)
        next_obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
        ret += reward
        obs = next_obs
        if terminated or truncated:
            break
    return actions, ret


@pytest.mark.parametrize("online", [False, True])
def test_same_seed_same_actions(ledge_checkpoint, online):
    a1, r1 = _episode_actions(ledge_checkpoint, seed=3, online=online)
    a2, r2 = _episode_actions(ledge_checkpoint, seed=3, online=online)
    assert len(a1) == len(a2)
    np.testing.assert_array_equal(np.stack(a1), np.stack(a2))
    assert r1 == r2


def test_actions_are_inside_bounds_and_finite(ledge_checkpoint):
    actions, _ = _episode_actions(ledge_checkpoint, seed=5, online=False)
    actions = np.stack(actions)
    assert np.all(np.isfinite(actions))
    assert np.all(actions >= -1.0) and np.all(actions <= 1.0)


def test_save_load_round_trip_gives_identical_plans(ledge_checkpoint, tmp_path):
    env = envs.make_env(LEDGE)
    agent = MPCAgent.load(ledge_checkpoint, env, AgentConfig(online=False), seed=1)
    agent.save(tmp_path / "again.pt")
    again = MPCAgent.load(tmp_path / "again.pt", env, AgentConfig(online=False), seed=1)
    obs, _ = env.reset(seed=11)
    np.testing.assert_array_equal(agent.act(obs), again.act(obs))
    assert again.pretraining_stats["steps"] == agent.pretraining_stats["steps"] > 0


def test_discrete_action_space_is_refused():
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="continuous"):
        MPCAgent(env, AgentConfig())


def test_dict_observation_is_refused_with_a_fix():
    class DictObsEnv(gym.Env):
        observation_space = gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,))})
        action_space = gym.spaces.Box(-1, 1, (1,))

    with pytest.raises(TypeError, match="FlattenObservation"):
        MPCAgent(DictObsEnv(), AgentConfig())


def test_checkpoint_for_another_env_is_refused(ledge_checkpoint):
    env = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match=r"\(3,\)|shape"):
        MPCAgent.load(SHIPPED, env)
    with pytest.raises(ValueError):
        MPCAgent.load(ledge_checkpoint, envs.make_env("cliff-car"))


def test_nan_observation_is_refused(ledge_checkpoint):
    agent = MPCAgent.load(ledge_checkpoint, envs.make_env(LEDGE), AgentConfig(online=False))
    with pytest.raises(ValueError, match="NaN"):
        agent.act(np.array([0.5, np.nan, 1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros(5, dtype=np.float32))


def test_failed_planning_never_sends_nan(ledge_checkpoint):
    env = envs.make_env(LEDGE)
    agent = MPCAgent.load(ledge_checkpoint, env, AgentConfig(online=False))
    agent.world_model.fall_cost.fill_(float("nan"))  # every candidate's cost becomes NaN
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        action = agent.act(obs)
        assert np.all(np.isfinite(action))
        obs, *_ = env.step(action)
    assert agent.plan_failures == 3


@pytest.mark.parametrize("planner", ["cem", "mppi"])
def test_sampling_planners_drive_the_agent(ledge_checkpoint, planner):
    env = envs.make_env(LEDGE)
    config = AgentConfig(planner=PlannerConfig(name=planner, num_samples=64, iterations=3),
                         online=False)
    agent = MPCAgent.load(ledge_checkpoint, env, config)
    r = run_episode(agent, env, seed=2, learn=False)
    assert r.steps > 0 and np.isfinite(r.ret)


def _run_cli(*args: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / "run_agent.py"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


def test_run_agent_cli_cliff_car_smoke(tmp_path):
    out = tmp_path / "summary.json"
    proc = _run_cli("--env", "cliff-car", "--episodes", "1", "--no-online", "--json", str(out),
                    "--no-progress", "--log-dir", str(tmp_path / "runs"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert {"episodes", "mean_return", "falls", "successes", "median_plan_ms"} <= set(summary)
    assert summary["episodes"] == 1
    assert "falls" in proc.stdout and "learned from:" in proc.stdout


def test_run_agent_cli_trains_a_custom_env_and_caches(tmp_path):
    ckpt = tmp_path / "ledge.pt"
    out = tmp_path / "summary.json"
    args = ("--env", LEDGE, "--episodes", "1", "--train-steps", "250", "--seed-steps", "100",
            "--batch-size", "32", "--train-if-missing", "--checkpoint", str(ckpt), "--json", str(out),
            "--no-progress", "--log-dir", str(tmp_path / "runs"))
    proc = _run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ckpt.exists() and "training the agent online" in proc.stdout
    assert json.loads(out.read_text())["pretraining"]["steps"] >= 250  # every env step it learned from
    assert json.loads(out.read_text())["episodes"] == 1
    again = _run_cli(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "loading checkpoint" in again.stdout


def test_run_agent_cli_rejects_bad_input(tmp_path):
    proc = _run_cli("--env", "no-such-env", "--no-progress")
    assert proc.returncode != 0 and "cliff-car" in proc.stderr
    proc = _run_cli("--env", "CartPole-v1", "--checkpoint", str(tmp_path / "x.pt"), "--no-progress")
    assert proc.returncode != 0 and "continuous" in proc.stderr
    proc = _run_cli("--planner.name", "newton")
    assert proc.returncode != 0 and "newton" in proc.stderr


def test_online_agent_rehearses_the_pretraining_data(ledge_checkpoint):
    from agent.checkpoint import replay_path

    assert replay_path(ledge_checkpoint).exists()  # written by save() beside the checkpoint
    env = envs.make_env(LEDGE)
    online = MPCAgent.load(ledge_checkpoint, env, AgentConfig(online=True))
    frozen = MPCAgent.load(ledge_checkpoint, env, AgentConfig(online=False))
    assert online.buffer.num_steps > 0 and online.buffer.num_falls > 0
    assert frozen.buffer.num_steps == 0
    assert online.buffer.capacity >= AgentConfig().buffer_capacity  # room for new experience


def test_compiled_objective_plans_as_the_eager_one(ledge_checkpoint):
    """``AgentConfig(compile=True)`` changes how fast the objective runs, not what it computes."""
    env = envs.make_env(LEDGE)
    planner = PlannerConfig(horizon=5, num_samples=8, iterations=3)
    plans = []
    for compile_ in (False, True):
        agent = MPCAgent.load(ledge_checkpoint, env, AgentConfig(online=False, planner=planner, compile=compile_))
        obs, _ = env.reset(seed=3)
        agent.reset(3)
        actions = []
        for _ in range(4):
            action = agent.act(obs)
            actions.append(action)
            obs, *_ = env.step(action)
        plans.append(np.stack(actions))
        # Planning freezes the weights while it runs and gives them back to training after.
        assert all(p.requires_grad for net in (agent.critic.heads, agent.policy) for p in net.parameters())
    np.testing.assert_allclose(plans[0], plans[1], atol=1e-4)
