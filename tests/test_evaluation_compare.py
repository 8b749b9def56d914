"""The baseline comparison: the report, the plot, Ctrl-C, SB3's budgets and temp folders, bad input, the CLI.

Runs on the tiny "point on a ledge" env of ``tests/tiny_ledge.py``, loaded through the
``package.module:Factory`` env spec, with scripted stand-ins for the MPC agents so the
figures have known answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from evaluation.baselines import SB3Config
from evaluation.compare import run_comparison
from evaluation.config import AGENT_NAMES, ComparisonConfig
from evaluation.mpc_agents import MPCCompareConfig, make_mpc_pretrained
from evaluation.plot import plot_comparison
from evaluation.report import load_report, results_table

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TINY_ENV = "tiny_ledge:make"


def load_compare_baseline():
    """``examples/compare_baseline.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "compare_baseline", REPO / "examples" / "compare_baseline.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def subprocess_env(tmp: Path) -> dict[str, str]:
    """Environment of a CLI run: the tiny env importable, temporary files under ``tmp``."""
    path = os.pathsep.join([str(TESTS)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return dict(os.environ, PYTHONPATH=path, TMPDIR=str(tmp))


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temp folder of this test's own, for ``tempfile`` here and in subprocesses."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


class Scripted:
    """Drives left (over the edge) for its first ``falls`` episodes, then right to the goal."""

    def __init__(self, falls=0, interrupt_at=None, pretraining_stats=None):
        self.falls_left = falls + 1  # reset() is called once before the first episode
        self.interrupt_at = interrupt_at
        self.steps = 0
        if pretraining_stats is not None:
            self.pretraining_stats = pretraining_stats

    def reset(self, seed=None):
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
        log_dir=str(tmp_path / "runs"),
        progress=False,
    )
    settings.update(overrides)
    return ComparisonConfig(**settings)


def test_comparison_report_has_known_figures(tmp_path):
    config = quiet_config(TINY_ENV, tmp_path)
    report = run_comparison(config, stand_ins())
    assert report["interrupted"] is False
    assert report["budget_steps"] == 80 and report["env"] == TINY_ENV
    assert set(report["agents"]) == {"mpc_pretrained", "mpc_scratch"}

    pretrained = report["agents"]["mpc_pretrained"]
    assert pretrained["falls_total"] == 0
    assert pretrained["falls_before_competence"] == 0
    assert pretrained["falls_before_competence_incl_pretraining"] == 7
    assert (pretrained["pretraining_steps"], pretrained["pretraining_falls"]) == (500, 7)
    assert pretrained["steps_to_90"] == 12  # three 4-step successes fill the window
    assert pretrained["final_success_rate"] == 1.0
    assert len(pretrained["series"]) == 20
    assert pretrained["act_ms_median"] >= 0

    scratch = report["agents"]["mpc_scratch"]
    assert scratch["falls_total"] == scratch["falls_before_competence"] == 3
    assert scratch["steps_to_90"] == 24  # 3 falls then 3 successes, 4 steps each
    assert scratch["final_return"] == pytest.approx(0.97)
    assert scratch["pretraining_falls"] == 0
    assert [e["fell"] for e in scratch["series"][:4]] == [True, True, True, False]
    for key in ("env_step", "return", "fell", "success", "steps"):
        assert key in scratch["series"][0]
    assert scratch["series"][0]["seed"] == 0 and scratch["series"][1]["seed"] is None

    on_disk = load_report(config.json)
    assert on_disk["agents"]["mpc_scratch"]["series"] == scratch["series"]
    assert on_disk["success_rule"]["terminated_is_fall"] is None
    assert Path(config.plot).stat().st_size > 10_000
    assert list((tmp_path / "runs").glob("tiny_ledge_make__compare__0__*/events.out.tfevents.*"))
    table = results_table(report)
    assert "| MPC, from scratch | 3 | 3 | 24 |" in table
    assert "0 (7)" in table


def test_ctrl_c_keeps_what_was_recorded(tmp_path, capsys):
    config = quiet_config(TINY_ENV, tmp_path, markdown=str(tmp_path / "table.md"))
    status = load_compare_baseline().main(config, stand_ins(scratch_interrupt_at=30))
    assert status == 130
    assert "interrupted" in capsys.readouterr().out
    report = load_report(config.json)
    assert report["interrupted"] is True
    assert report["agents"]["mpc_pretrained"]["interrupted"] is False
    scratch = report["agents"]["mpc_scratch"]
    assert scratch["interrupted"] is True
    assert len(scratch["series"]) == 7  # 30 steps: seven whole 4-step episodes
    assert scratch["env_steps"] == 30
    assert Path(config.plot).stat().st_size > 0
    assert "(interrupted)" in (tmp_path / "table.md").read_text()


def test_sac_run_is_deterministic_for_a_seed_and_leaves_no_temp_folder(tmp_path, private_tmp):
    def sac_series(seed):
        config = quiet_config(
            TINY_ENV, tmp_path, agents=("sac",), budget_steps=120, seed=seed, quick=True,
            json=None, plot=None, tensorboard=False,
        )  # fmt: skip
        return [
            (e["env_step"], e["return"]) for e in run_comparison(config)["agents"]["sac"]["series"]
        ]

    first = sac_series(0)
    assert len(first) >= 3
    assert sac_series(0) == first
    assert sac_series(1) != first
    assert not list(private_tmp.glob("SB3-*"))


def test_ppo_stops_exactly_at_its_own_budget_and_counts_falls(tmp_path, private_tmp):
    sb3 = SB3Config(ppo_n_steps=64, budget_steps=150)
    config = quiet_config(TINY_ENV, tmp_path, agents=("ppo", "mpc_scratch"), sb3=sb3)
    report = run_comparison(config, {"mpc_scratch": stand_ins()["mpc_scratch"]})
    ppo, scratch = report["agents"]["ppo"], report["agents"]["mpc_scratch"]
    # PPO collects 64-step rollouts; it must still stop at 150, not at 192.
    assert (ppo["env_steps"], ppo["budget_steps"]) == (150, 150)
    assert (scratch["env_steps"], scratch["budget_steps"]) == (80, 80)
    assert ppo["series"] and ppo["series"][-1]["env_step"] <= 150
    # Its falls are counted by the same recorder as everyone's.
    assert ppo["falls_total"] == sum(e["fell"] for e in ppo["series"])
    assert not list(private_tmp.glob("SB3-*"))
    # SB3's own scalars went to the comparison's TensorBoard run, not to a temp folder.
    assert list((tmp_path / "runs").glob("*/sb3_ppo/events.out.tfevents.*"))


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


def test_unwritable_output_is_refused_before_any_agent_runs(tmp_path):
    (tmp_path / "a_file").write_text("")
    config = quiet_config(TINY_ENV, tmp_path, json=str(tmp_path / "a_file" / "report.json"))

    def never(env, config):
        raise AssertionError("an agent was built although the report could not be written")

    with pytest.raises(ValueError, match="cannot write"):
        run_comparison(config, {"mpc_pretrained": never, "mpc_scratch": never})
    assert not (tmp_path / "runs").exists()


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


def test_cli_quick_end_to_end(tmp_path, private_tmp):
    from agent.mpc import MPCAgent
    from envs import make_env

    # An untrained checkpoint stands in for a pretrained one: this checks the plumbing only.
    checkpoint = tmp_path / "tiny.pt"
    MPCAgent(make_env(TINY_ENV), seed=0).save(checkpoint)
    out_json, out_png = tmp_path / "out" / "out.json", tmp_path / "out" / "out.png"
    command = [
        sys.executable,
        str(REPO / "examples" / "compare_baseline.py"),
        "--env", TINY_ENV,
        "--quick",
        "--agents", "sac,ppo,mpc_pretrained,mpc_scratch",
        "--budget-steps", "160",
        "--checkpoint", str(checkpoint),
        "--mpc.scratch-seed-steps", "80",
        "--sb3.ppo-n-steps", "64",
        "--json", str(out_json),
        "--plot", str(out_png),
        "--markdown", str(tmp_path / "out.md"),
        "--log-dir", str(tmp_path / "runs"),
        "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(private_tmp), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out_json.read_text())
    assert report["quick"] is True and report["window"] == 3 and report["interrupted"] is False
    assert list(report["agents"]) == ["sac", "ppo", "mpc_pretrained", "mpc_scratch"]
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
    assert "SAC (model-free)" in done.stdout and "PPO (model-free)" in done.stdout
    assert "MPC, from scratch" in done.stdout
    table = (tmp_path / "out.md").read_text()
    assert "| MPC, pretrained world model |" in table and "--quick" in table
    assert not list(private_tmp.glob("SB3-*"))


def test_cli_rejects_bad_input_without_a_traceback(tmp_path, private_tmp):
    command = [sys.executable, str(REPO / "examples" / "compare_baseline.py"), "--env", "CartPole-v1",
               "--agents", "sac", "--no-tensorboard", "--no-progress"]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(private_tmp), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "error:" in done.stderr and "Box" in done.stderr
    assert "Traceback" not in done.stderr


def test_collect_steps_pretrains_per_seed_and_caches(tmp_path, monkeypatch):
    from envs import make_env

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mpc = MPCCompareConfig(pretrain_updates=3)
    agents = {}
    for seed in (0, 1):
        config = ComparisonConfig(
            env=TINY_ENV, seed=seed, progress=False, tensorboard=False, collect_steps=120, mpc=mpc
        )
        agents[seed] = make_mpc_pretrained(make_env(TINY_ENV), config)
        assert agents[seed].pretraining_stats["steps"] >= 120
    cached = sorted(p.name for p in (tmp_path / "cache" / "latent-mpc").glob("*.pt"))
    assert cached == [
        "tiny_ledge_make__120steps_3updates__seed0.pt",
        "tiny_ledge_make__120steps_3updates__seed1.pt",
    ]
    # The second time a seed's agent is loaded from its cache, not pretrained again.
    config = ComparisonConfig(
        env=TINY_ENV, seed=1, progress=False, tensorboard=False, collect_steps=120, mpc=mpc
    )
    again = make_mpc_pretrained(make_env(TINY_ENV), config)
    for key in ("steps", "episodes", "falls"):
        assert again.pretraining_stats[key] == agents[1].pretraining_stats[key]
    for a, b in zip(again.world_model.parameters(), agents[1].world_model.parameters(), strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_checkpoint_and_collect_steps_contradict(tmp_path):
    from envs import make_env

    config = ComparisonConfig(env=TINY_ENV, checkpoint=str(tmp_path / "x.pt"), collect_steps=100)
    with pytest.raises(ValueError, match="not both"):
        make_mpc_pretrained(make_env(TINY_ENV), config)
