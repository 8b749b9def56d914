"""benchmarks/cliff_falls.py reads every kind of run, counts falls before competence on the cliff
only, and keeps another world's experience in its own column."""

from __future__ import annotations

import json

import pytest
from conftest import benchmark_fixture

cliff_falls = benchmark_fixture("cliff_falls")


def episodes(pattern: str, length: int = 100) -> list[dict]:
    """'F' a fall, 'S' a goal, '.' a timeout; train.py's episode records."""
    return [{"step": length * (i + 1), "return": 0.0, "length": length, "fell": c == "F", "success": c == "S"}
            for i, c in enumerate(pattern)]


def test_reports_of_every_kind(cliff_falls, tmp_path):
    # compare_baseline.py report: 2 falls, then 9 of 10 successes reached at episode index 11
    series = [{"env_step": e["step"], "return": 0.0, "fell": e["fell"], "success": e["success"], "steps": 100}
              for e in episodes("FF.SSSSSSSSS")]
    (tmp_path / "sac.json").write_text(json.dumps({"seed": 3, "agents": {"sac": {
        "series": series, "pretraining_steps": 0, "pretraining_falls": 0}}}))
    # train.py report that learned from 500 cliff pretraining steps holding 4 falls; never competent
    (tmp_path / "mpc.json").write_text(json.dumps({"env": "cliff-car", "seed": 1, "series": episodes("F.S"),
                                                   "pretraining": {"steps": 500, "falls": 4}}))
    # an unfinished run after another world (an older progress.json: that world as plain pretraining)
    (tmp_path / "progress.json").write_text(json.dumps({
        "fingerprint": {"env": "cliff-car", "seed": 0},
        "progress": {"episodes": episodes("SSSSSSSSSF")},
        "agent": {"pretraining": {"env": "cliff-car-kerb", "steps": 50_000, "falls": 0, "drops": 61}}}))
    summary = cliff_falls.main(cliff_falls.Args(
        runs=[f"SAC={tmp_path / 'sac.json'}", f"MPC={tmp_path / 'mpc.json'}", f"kerb={tmp_path / 'progress.json'}"],
        json=tmp_path / "out.json"))
    (sac,), (mpc,), (kerb,) = summary["SAC"], summary["MPC"], summary["kerb"]
    assert sac["competent_at"] == 1200 and sac["falls_before_competence"] == 2 and sac["seed"] == 3
    assert mpc["competent_at"] is None and mpc["falls_before_competence"] == 5 and mpc["cliff_steps"] == 800
    assert mpc["curve"][0] == [500, 4] and mpc["curve"][-1] == [800, 5]
    assert kerb["cliff_steps"] == 1000 and kerb["falls"] == 1 and not kerb["finished"]
    assert kerb["competent_at"] == 1000 and kerb["falls_before_competence"] == 1  # the window must be full
    assert kerb["other_world"] == {"env": "cliff-car-kerb", "steps": 50_000, "falls": 0, "drops": 61}
    table = (tmp_path / "out.md").read_text()
    assert "| MPC | 1 | 800 | ≥ 5 | never |" in table and "cliff-car-kerb: 50,000 steps, 61 drops" in table
    assert (tmp_path / "out.png").stat().st_size > 0


def test_bad_runs_are_refused(cliff_falls, tmp_path):
    with pytest.raises(ValueError, match="no file matches"):
        cliff_falls.Args(runs=[f"X={tmp_path / 'none*.json'}"])
    with pytest.raises(ValueError, match="LABEL=GLOB"):
        cliff_falls.Args(runs=["just-a-path.json"])
    (tmp_path / "odd.json").write_text("{}")
    with pytest.raises(ValueError, match="neither"):
        cliff_falls.load_run(tmp_path / "odd.json")


def test_entries_with_one_label_add_up(cliff_falls, tmp_path):
    # one agent's seeds kept in two folders: both runs must land under the label, in order
    for folder, seed in (("a", 0), ("b", 1)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "run.json").write_text(json.dumps({"env": "cliff-car", "seed": seed,
                                                                "series": episodes("F" * (seed + 1))}))
    summary = cliff_falls.main(cliff_falls.Args(
        runs=[f"MPC={tmp_path / 'a' / '*.json'}", f"MPC={tmp_path / 'b' / '*.json'}"], json=tmp_path / "out.json"))
    assert [(run["seed"], run["falls"]) for run in summary["MPC"]] == [(0, 1), (1, 2)]
