"""benchmarks/learning.py end to end on a tiny budget: the merged JSON, the table, skipping finished runs.

The MPC agent here is shrunk through the script's own nested flags (``--agent.*``,
``--world-model.*``, ...: a small planner, narrow networks, 60 seeding steps) so that the
Pendulum run takes seconds; SAC keeps SB3's defaults but starts learning after 100 steps.
"""

from __future__ import annotations

import json

import pytest
from conftest import benchmark_fixture

from agent.critic import CriticConfig
from agent.mpc import AgentConfig
from agent.policy import PolicyConfig
from agent.world_model import WorldModelConfig
from planners import PlannerConfig

pytest.importorskip("stable_baselines3")

REPORT_KEYS = {"env", "seed", "steps", "episodes", "falls", "successes", "eval_falls", "competent_at",
               "falls_before_competent", "evals", "wall_s", "steps_per_s", "act_ms_median", "peak_rss_mb",
               "series"}


learning = benchmark_fixture("learning")


def tiny_args(learning, tmp_path, **overrides):
    settings = dict(
        tasks=("pendulum",), agents=("mpc", "sac"), seeds=(0,),
        budget_scale=0.06,  # Pendulum's 5,000 env steps -> 300
        eval_every=150, eval_episodes=1, sac_learning_starts=100,
        json=tmp_path / "learning.json", work_dir=tmp_path / "runs",
        agent=AgentConfig(seed_steps=60, batch_size=16, device="cpu", planner=PlannerConfig(horizon=3, num_samples=8, iterations=2)),
        world_model=WorldModelConfig(latent_dim=8, hidden_dim=32, horizon=3),
        critic=CriticConfig(hidden_dim=32), policy=PolicyConfig(hidden_dim=32),
    )
    settings.update(overrides)
    return learning.Args(**settings)


def test_tiny_benchmark_merges_and_skips_finished_runs(learning, tmp_path, monkeypatch):
    args = tiny_args(learning, tmp_path)
    learning.main(args)

    merged = json.loads(args.json.read_text())
    task = merged["tasks"]["pendulum"]
    assert task["env"] == "Pendulum-v1" and task["budget"] == 300 and task["eval_every"] == 150
    assert merged["missing"] == []
    for agent in ("mpc", "sac"):
        report = task["agents"][agent]["0"]
        assert REPORT_KEYS <= set(report)
        assert report["steps"] == 300 and report["agent"] == agent
        assert [e["step"] for e in report["evals"]] == [150, 300]  # the same evaluation steps
        assert set(report["evals"][0]) >= {"step", "episodes", "mean_return", "successes", "falls"}
        assert report["series"] and set(report["series"][0]) >= {"step", "return", "fell", "success"}
    summary = task["summary"]
    assert summary["sac"]["return_at_budget"] == task["agents"]["sac"]["0"]["evals"][-1]["mean_return"]
    assert "mpc_steps_to_sac_final_return" in summary

    table = args.markdown.read_text()
    assert "| task | budget | MPC return at budget | SAC return at budget |" in table
    assert "| pendulum (Pendulum-v1) | 300 |" in table
    assert args.plot.stat().st_size > 0

    # A rerun finds both runs finished: nothing runs, the reports are untouched.
    files = sorted(args.work_dir.glob("pendulum__*.json"))
    assert len(files) == 2
    mtimes = [f.stat().st_mtime_ns for f in files]

    def must_not_run(run):
        raise AssertionError(f"{run.stem} ran again")

    monkeypatch.setattr(learning, "execute", must_not_run)
    learning.main(args)
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    assert json.loads(args.json.read_text())["tasks"]["pendulum"]["agents"].keys() == {"mpc", "sac"}


def test_an_interrupted_mpc_run_resumes_and_settings_name_the_files(learning, tmp_path):
    args = tiny_args(learning, tmp_path)
    (run,) = learning.plan_runs(tiny_args(learning, tmp_path, agents=("mpc",)), ("pendulum",), strict=True)
    assert run.mpc.checkpoint.parent == args.work_dir and not learning.resumable(run.mpc).resume
    run.mpc.resume_dir.mkdir(parents=True)
    (run.mpc.resume_dir / "progress.json").write_text("{}")  # what an interrupted run leaves
    assert learning.resumable(run.mpc).resume

    (other,) = learning.plan_runs(tiny_args(learning, tmp_path, agents=("mpc",), eval_episodes=2),
                                  ("pendulum",), strict=True)
    assert other.stem != run.stem  # other settings: another run, never a resume of this one


def test_flags_that_leave_nothing_to_learn_are_refused_before_any_run(learning, tmp_path):
    with pytest.raises(ValueError, match="seed-steps"):
        learning.main(tiny_args(learning, tmp_path, budget_scale=0.01, eval_every=None))  # 50 steps < 60
    assert not (tmp_path / "runs").exists()
