"""benchmarks/compare_seeds.py: the summary over seeds (known answers) and a tiny run end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import benchmark_fixture

TESTS = Path(__file__).resolve().parent


seeds_module = benchmark_fixture("compare_seeds", "seeds_module")


def _agent(falls_before, reached, steps, pretraining_falls=0):
    # Episodes of 100 steps; the falls come first.
    series = [{"env_step": 100 * (i + 1), "fell": i < falls_before + 1} for i in range(20)]
    return {
        "series": series,
        "falls_before_competence": falls_before,
        "falls_before_competence_incl_pretraining": falls_before + pretraining_falls,
        "reached_target": reached,
        "steps_to_90": steps,
        "falls_total": falls_before + 1,
        "final_success_rate": 1.0 if reached else 0.2,
        "final_return": 5.0 if reached else -5.0,
        "wall_seconds": 10.0,
        "pretraining_steps": 1000 if pretraining_falls else 0,
        "pretraining_falls": pretraining_falls,
    }


def test_summary_over_seeds_has_known_figures(seeds_module):
    reports = {
        0: {"agents": {"sac": _agent(4, False, None), "mpc_pretrained": _agent(0, True, 300, 7)}},
        1: {"agents": {"sac": _agent(6, True, 900), "mpc_pretrained": _agent(1, True, 500, 9)}},
        2: {"agents": {"sac": _agent(9, False, None), "mpc_pretrained": _agent(0, True, 400, 8)}},
    }
    summary = seeds_module.summarize_seeds(reports, ("sac", "mpc_pretrained"), common_steps=600)
    sac, mpc = summary["sac"], summary["mpc_pretrained"]
    assert sac["falls_in_common_budget"] == [5, 6, 6]  # 5, 7, 10 falls in all; 6 episodes fit
    assert mpc["falls_in_common_budget"] == [1, 2, 1]
    assert sac["falls_before_competence"] == [4, 6, 9]
    assert sac["competent_seeds"] == 1 and sac["steps_to_90_median_competent"] == 900
    assert sac["falls_before_competence_sum"] == 19 and sac["falls_before_competence_median"] == 6
    assert sac["final_success_rate_mean"] == pytest.approx(1.4 / 3)
    assert mpc["falls_before_competence_incl_pretraining"] == [7, 10, 8]
    assert mpc["falls_before_competence_incl_pretraining_sum"] == 25
    assert mpc["competent_seeds"] == 3 and mpc["steps_to_90_median_competent"] == 400
    table = seeds_module.markdown(
        {"env": "x", "seeds": [0, 1, 2], "budget_words": "b", "common_steps": 600, "summary": summary}
    )
    # A run that never got competent shows its falls as a lower bound.
    assert "| SAC (model-free) | 5 / 6 / 6 | ≥4 / 6 / ≥9 |" in table
    assert "| 3/3 | 300 / 500 / 400 |" in table
    assert "1000 / 1000 / 1000 env steps with 7 / 9 / 8 falls" in table


def test_bad_arguments_are_refused(seeds_module, tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        seeds_module.Args(agents=("sac", "dqn"))
    with pytest.raises(ValueError, match="distinct"):
        seeds_module.Args(seeds=(1, 1))
    (tmp_path / "a_file").write_text("")
    args = seeds_module.Args(json=tmp_path / "a_file" / "summary.json", work_dir=tmp_path / "work")
    with pytest.raises(ValueError, match="cannot write"):
        seeds_module.main(args)  # refused before any comparison starts
    assert not (tmp_path / "work").exists()


def test_job_command_uses_the_shared_flag_names(seeds_module, tmp_path):
    args = seeds_module.Args(agents=("ppo", "mpc_pretrained"), collect_steps=500, threads=2,
                             json=tmp_path / "s.json")  # fmt: skip
    command = seeds_module.job_command(args, 3, "mpc_pretrained", tmp_path / "r.json")
    assert command[command.index("--collect-steps") + 1] == "500"
    assert command[command.index("--threads") + 1] == "2"
    assert "--collect-steps" not in seeds_module.job_command(args, 3, "ppo", tmp_path / "r.json")
    assert args.plot == tmp_path / "s.png" and args.markdown == tmp_path / "s.md"


def test_two_seeds_end_to_end_and_resume(seeds_module, tmp_path, monkeypatch, capsys):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the tiny env, tests/tiny_ledge.py
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.chdir(tmp_path)
    args = seeds_module.Args(
        env="tiny_ledge:make", seeds=(0, 1), agents=("sac",), workers=2, budget_steps=80,
        extra=f"--quick --log-dir {tmp_path / 'runs'}", work_dir=tmp_path / "work",
        json=tmp_path / "summary.json",
    )  # fmt: skip
    result = seeds_module.main(args)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["seeds"] == [0, 1] and set(saved["per_seed"]) == {"0", "1"}
    sac = saved["summary"]["sac"]
    for seed, falls in zip((0, 1), sac["falls_total"], strict=True):
        series = saved["per_seed"][str(seed)]["agents"]["sac"]["series"]
        assert falls == sum(e["fell"] for e in series)
        assert saved["per_seed"][str(seed)]["seed"] == seed
    assert result["summary"]["sac"]["seeds"] == [0, 1]
    assert (tmp_path / "summary.png").stat().st_size > 10_000
    assert "| SAC (model-free) |" in (tmp_path / "summary.md").read_text()
    # A second run with the same settings reuses both reports instead of training again.
    capsys.readouterr()
    seeds_module.main(args)
    assert capsys.readouterr().out.count("reusing") == 2
    # --no-run only summarises; with a seed that has no report it says so instead of training.
    seeds_module.main(dataclasses.replace(args, run=False))
    with pytest.raises(RuntimeError, match="no finished report"):
        seeds_module.main(dataclasses.replace(args, run=False, seeds=(0, 5)))
    assert not list(private_tmp.glob("SB3-*"))
