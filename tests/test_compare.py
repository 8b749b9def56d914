"""The baseline comparison: episode recording, the report, the plot, Ctrl-C, bad input, the CLI.

Runs on a tiny 1-D "point on a ledge" env written into ``tmp_path`` and loaded through
the ``package.module:Factory`` env spec, with scripted stand-ins for the MPC agents so
the figures have known answers.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from agent.compare import (
    AGENT_NAMES,
    ComparisonConfig,
    EpisodeRecorder,
    OutcomeRule,
    load_report,
    main,
    plot_comparison,
    resolve_outcome_rule,
    results_table,
    run_comparison,
)

REPO = Path(__file__).resolve().parents[1]

TINY_ENV = textwrap.dedent(
    '''
    """A point on a ledge: x starts near 0 and moves 0.25 * action per step.

    x >= 0.9 is the goal (success), x <= -0.9 is over the edge (fell): four steps either way.
    """
    import gymnasium as gym
    import numpy as np


    class PointLedge(gym.Env):
        def __init__(self):
            self.observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
            self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
            self.x = 0.0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.x = float(self.np_random.uniform(-0.05, 0.05))
            return np.array([self.x], np.float32), {}

        def step(self, action):
            self.x += 0.25 * float(np.clip(action[0], -1.0, 1.0))
            fell, success = self.x <= -0.9, self.x >= 0.9
            reward = 1.0 if success else (-1.0 if fell else -0.01)
            info = {"fell": fell, "success": success}
            return np.array([self.x], np.float32), reward, fell or success, False, info


    if "PointLedge-v0" not in gym.registry:
        gym.register("PointLedge-v0", entry_point=PointLedge, max_episode_steps=20)


    def make(**kwargs):
        return gym.make("PointLedge-v0", **kwargs)
    '''
)


@pytest.fixture
def tiny_env(tmp_path, monkeypatch):
    """Env spec of the tiny env, importable from ``tmp_path``."""
    (tmp_path / "tiny_ledge.py").write_text(TINY_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tiny_ledge", None)
    return "tiny_ledge:make"


class Scripted:
    """Drives left (over the edge) for its first ``falls`` episodes, then right to the goal."""

    def __init__(self, falls=0, interrupt_at=None, pretraining_stats=None):
        self.falls_left = falls + 1  # reset() is called once before the first episode
        self.interrupt_at = interrupt_at
        self.steps = 0
        if pretraining_stats is not None:
            self.pretraining_stats = pretraining_stats

    def reset(self):
        self.falls_left = max(self.falls_left - 1, 0)

    def act(self, obs):
        if self.interrupt_at is not None and self.steps >= self.interrupt_at:
            raise KeyboardInterrupt
        return np.array([-1.0 if self.falls_left else 1.0], np.float32)

    def observe(self, obs, action, reward, next_obs, terminated, truncated, info):
        self.steps += 1


def stand_ins(scratch_interrupt_at=None):
    return {
        "mpc_pretrained": lambda env, config: Scripted(
            falls=0, pretraining_stats={"steps": 500, "falls": 7, "episodes": 30}
        ),
        "mpc_scratch": lambda env, config: Scripted(falls=3, interrupt_at=scratch_interrupt_at),
    }


def quiet_config(env, tmp_path, **overrides):
    settings = dict(
        env=env,
        agents=("mpc_pretrained", "mpc_scratch"),
        budget_steps=80,
        window=3,
        json=str(tmp_path / "compare.json"),
        plot=str(tmp_path / "compare.png"),
        runs_dir=str(tmp_path / "runs"),
        progress=False,
    )
    settings.update(overrides)
    return ComparisonConfig(**settings)


def test_recorder_writes_one_record_per_finished_episode(tiny_env):
    from envs import make_env

    rule = OutcomeRule(success_threshold=None, terminated_is_fall=False)
    env = EpisodeRecorder(make_env(tiny_env), rule)
    env.reset(seed=0)
    for action in [-1.0] * 4 + [1.0] * 4 + [0.0] * 3:
        _, _, terminated, truncated, _ = env.step(np.array([action], np.float32))
        if terminated or truncated:
            env.reset()
    first, second = env.series
    assert (first.fell, first.success, first.length, first.env_step) == (True, False, 4, 4)
    assert (second.fell, second.success, second.length, second.env_step) == (False, True, 4, 8)
    assert first.ret == pytest.approx(-0.03 - 1.0)
    assert second.ret == pytest.approx(-0.03 + 1.0)
    assert len(env.series) == 2  # the unfinished third episode is not recorded
    assert env.total_steps == 11


def test_outcome_rule_reads_info_or_a_return_threshold():
    from_info = OutcomeRule(success_threshold=None, terminated_is_fall=False)
    assert from_info.judge(0.0, True, {"fell": True, "success": False}) == (True, False)
    assert from_info.judge(0.0, True, {"success": True}) == (False, True)
    with pytest.raises(ValueError, match="--success-threshold"):
        from_info.judge(0.0, False, {})
    pendulum = resolve_outcome_rule("Pendulum-v1")
    assert pendulum.success_threshold == -200.0 and not pendulum.terminated_is_fall
    assert pendulum.judge(-150.0, False, {}) == (False, True)
    assert pendulum.judge(-900.0, False, {}) == (False, False)
    inverted = resolve_outcome_rule("InvertedPendulum-v5")
    assert inverted.terminated_is_fall and inverted.success_threshold == 950.0
    assert inverted.judge(40.0, True, {}) == (True, False)
    # An explicit threshold wins over the env's own notion of success.
    assert resolve_outcome_rule("CliffCar-v0", success_threshold=5.0).judge(
        6.0, True, {"success": False}
    ) == (False, True)


def test_comparison_report_has_known_figures(tiny_env, tmp_path):
    config = quiet_config(tiny_env, tmp_path)
    report = run_comparison(config, stand_ins())
    assert report["interrupted"] is False
    assert report["budget_steps"] == 80 and report["env"] == tiny_env
    assert set(report["agents"]) == {"mpc_pretrained", "mpc_scratch"}

    pretrained = report["agents"]["mpc_pretrained"]
    assert pretrained["falls_total"] == 0
    assert pretrained["falls_before_competence"] == 0
    assert pretrained["falls_before_competence_incl_pretraining"] == 7
    assert (pretrained["pretraining_steps"], pretrained["pretraining_falls"]) == (500, 7)
    assert pretrained["steps_to_90"] == 12  # three 4-step successes fill the window
    assert pretrained["final_success_rate"] == 1.0
    assert len(pretrained["series"]) == 20

    scratch = report["agents"]["mpc_scratch"]
    assert scratch["falls_total"] == scratch["falls_before_competence"] == 3
    assert scratch["steps_to_90"] == 24  # 3 falls then 3 successes, 4 steps each
    assert scratch["final_return"] == pytest.approx(0.97)
    assert scratch["pretraining_falls"] == 0
    assert [e["fell"] for e in scratch["series"][:4]] == [True, True, True, False]
    for key in ("env_step", "return", "fell", "success"):
        assert key in scratch["series"][0]

    on_disk = load_report(config.json)
    assert on_disk["agents"]["mpc_scratch"]["series"] == scratch["series"]
    assert Path(config.plot).stat().st_size > 10_000
    assert list((tmp_path / "runs").glob("tiny_ledge_make__compare__0__*/events.out.tfevents.*"))
    table = results_table(report)
    assert "| MPC, from scratch | 3 | 3 | 24 |" in table
    assert "0 (7)" in table


def test_ctrl_c_keeps_what_was_recorded(tiny_env, tmp_path):
    config = quiet_config(tiny_env, tmp_path)
    status = main(config, stand_ins(scratch_interrupt_at=30))
    assert status == 130
    report = load_report(config.json)
    assert report["interrupted"] is True
    assert report["agents"]["mpc_pretrained"]["interrupted"] is False
    scratch = report["agents"]["mpc_scratch"]
    assert scratch["interrupted"] is True
    assert len(scratch["series"]) == 7  # 30 steps: seven whole 4-step episodes
    assert scratch["env_steps"] == 30
    assert Path(config.plot).stat().st_size > 0


def test_sac_run_is_deterministic_for_a_seed(tiny_env, tmp_path):
    def sac_series(seed):
        config = quiet_config(
            tiny_env, tmp_path, agents=("sac",), budget_steps=120, seed=seed, quick=True,
            json=None, plot=None, tensorboard=False,
        )  # fmt: skip
        return [
            (e["env_step"], e["return"]) for e in run_comparison(config)["agents"]["sac"]["series"]
        ]

    first = sac_series(0)
    assert len(first) >= 3
    assert sac_series(0) == first
    assert sac_series(1) != first


def test_ppo_stops_exactly_at_its_own_budget(tiny_env, tmp_path):
    from agent.compare import SB3Config

    sb3 = SB3Config(ppo_n_steps=64, budget_steps=150)
    config = quiet_config(tiny_env, tmp_path, agents=("ppo", "mpc_scratch"), sb3=sb3)
    report = run_comparison(config, {"mpc_scratch": stand_ins()["mpc_scratch"]})
    ppo, scratch = report["agents"]["ppo"], report["agents"]["mpc_scratch"]
    # PPO collects 64-step rollouts; it must still stop at 150, not at 192.
    assert (ppo["env_steps"], ppo["budget_steps"]) == (150, 150)
    assert (scratch["env_steps"], scratch["budget_steps"]) == (80, 80)
    assert ppo["series"] and ppo["series"][-1]["env_step"] <= 150


def test_bad_agent_names_are_listed():
    with pytest.raises(ValueError, match="valid names are") as info:
        ComparisonConfig(agents=("sac", "dqn"))
    assert "dqn" in str(info.value) and all(name in str(info.value) for name in AGENT_NAMES)
    assert ComparisonConfig(agents=("sac,mpc_scratch",)).agents == ("sac", "mpc_scratch")


def test_discrete_actions_are_rejected(tmp_path):
    config = quiet_config("CartPole-v1", tmp_path, agents=("sac",))
    with pytest.raises(ValueError, match="Box"):
        run_comparison(config)
    assert not Path(config.json).exists()


def test_budget_too_small_to_fill_the_window(tmp_path):
    config = quiet_config("Pendulum-v1", tmp_path, agents=("sac",), budget_steps=100, window=3)
    with pytest.raises(ValueError, match="at least 600"):
        run_comparison(config)


def test_plot_from_a_hand_made_report(tmp_path):
    series = [
        {"env_step": 10 * (i + 1), "return": float(i), "fell": i < 2, "success": i >= 2}
        for i in range(6)
    ]
    agent = {"series": series, "pretraining_falls": 4, "pretraining_steps": 100}
    report = {"env": "x", "budget_steps": 60, "seed": 0, "window": 2, "target": 0.9}
    report["agents"] = {"sac": {"series": series}, "mpc_pretrained": agent}
    path = tmp_path / "plot.png"
    plot_comparison(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_quick_end_to_end(tiny_env, tmp_path):
    from agent.mpc import MPCAgent
    from envs import make_env

    # An untrained checkpoint stands in for a pretrained one: this checks the plumbing only.
    checkpoint = tmp_path / "tiny.pt"
    MPCAgent(make_env(tiny_env), seed=0).save(checkpoint)
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    command = [
        sys.executable,
        str(REPO / "examples" / "compare_baseline.py"),
        "--env", tiny_env,
        "--quick",
        "--agents", "sac,mpc_pretrained,mpc_scratch",
        "--budget-steps", "160",
        "--mpc.checkpoint", str(checkpoint),
        "--mpc.scratch-random-steps", "80",
        "--json", str(out_json),
        "--plot", str(out_png),
        "--markdown", str(tmp_path / "out.md"),
        "--runs-dir", str(tmp_path / "runs"),
        "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out_json.read_text())
    assert report["quick"] is True and report["window"] == 3 and report["interrupted"] is False
    assert list(report["agents"]) == ["sac", "mpc_pretrained", "mpc_scratch"]
    for name, agent in report["agents"].items():
        for key in (
            "falls_total",
            "falls_before_competence",
            "steps_to_90",
            "final_success_rate",
            "final_return",
            "wall_seconds",
            "pretraining_steps",
            "pretraining_falls",
            "series",
        ):
            assert key in agent, (name, key)
        assert agent["env_steps"] == 160, name
        assert agent["series"] and agent["series"][-1]["env_step"] <= 160, name
        assert agent["falls_total"] == sum(e["fell"] for e in agent["series"]), name
    assert report["agents"]["mpc_scratch"]["act_ms_median"] > 0
    assert out_png.stat().st_size > 10_000
    assert "SAC (model-free)" in done.stdout and "MPC, from scratch" in done.stdout
    table = (tmp_path / "out.md").read_text()
    assert "| MPC, pretrained world model |" in table and "--quick" in table


def test_cli_rejects_bad_input_without_a_traceback(tmp_path):
    command = [sys.executable, str(REPO / "examples" / "compare_baseline.py"), "--env", "CartPole-v1",
               "--agents", "sac", "--no-tensorboard", "--no-progress"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "error:" in done.stderr and "Box" in done.stderr
    assert "Traceback" not in done.stderr


def test_pretrain_steps_pretrains_per_seed_and_caches(tiny_env, tmp_path, monkeypatch):
    from agent.compare import MPCCompareConfig, make_mpc_pretrained
    from envs import make_env

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mpc = MPCCompareConfig(pretrain_steps=120, pretrain_updates=3)
    agents = {}
    for seed in (0, 1):
        config = ComparisonConfig(env=tiny_env, seed=seed, progress=False, tensorboard=False, mpc=mpc)
        agents[seed] = make_mpc_pretrained(make_env(tiny_env), config)
        assert agents[seed].pretraining_stats["steps"] >= 120
    cached = sorted(p.name for p in (tmp_path / "cache" / "latent-mpc").glob("*.pt"))
    assert cached == [
        "tiny_ledge_make__120steps_3updates__seed0.pt",
        "tiny_ledge_make__120steps_3updates__seed1.pt",
    ]
    # The second time a seed's agent is loaded from its cache, not pretrained again.
    config = ComparisonConfig(env=tiny_env, seed=1, progress=False, tensorboard=False, mpc=mpc)
    again = make_mpc_pretrained(make_env(tiny_env), config)
    for key in ("steps", "episodes", "falls"):
        assert again.pretraining_stats[key] == agents[1].pretraining_stats[key]
    for a, b in zip(again.world_model.parameters(), agents[1].world_model.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_checkpoint_and_pretrain_steps_contradict(tiny_env, tmp_path):
    from agent.compare import MPCCompareConfig, make_mpc_pretrained
    from envs import make_env

    config = ComparisonConfig(
        env=tiny_env, mpc=MPCCompareConfig(checkpoint=str(tmp_path / "x.pt"), pretrain_steps=100)
    )
    with pytest.raises(ValueError, match="not both"):
        make_mpc_pretrained(make_env(tiny_env), config)
