"""Records, fall counting, the derived figures and the one summary of evaluation.metrics, on hand-made series with known answers."""

import json

import pytest

from evaluation.metrics import (
    EpisodeRecord,
    competence_episode,
    cumulative_falls,
    falls_before_competence,
    falls_total,
    final_return,
    final_success_rate,
    rolling_success_rate,
    steps_to_success,
    summarize,
)


def make_series(outcomes: str, length: int = 10) -> list[EpisodeRecord]:
    """One episode per character: 'F' fell, 'S' success, '.' neither; returns -1 / +1 / 0."""
    series = []
    for i, outcome in enumerate(outcomes):
        series.append(
            EpisodeRecord(
                env_step=(i + 1) * length,
                ret={"F": -1.0, "S": 1.0, ".": 0.0}[outcome],
                fell=outcome == "F",
                success=outcome == "S",
                steps=length,
                wall_time=float(i),
                seed=i,
                median_plan_ms=float(i + 1),
            )
        )
    return series


def test_fall_counts():
    series = make_series("FF.SFS")
    assert falls_total(series) == 3
    assert cumulative_falls(series) == [1, 2, 2, 2, 3, 3]
    assert falls_total([]) == 0


def test_rolling_rate_waits_for_a_full_window():
    series = make_series("SSFSS")
    assert rolling_success_rate(series, 3) == [None, None, 2 / 3, 2 / 3, 2 / 3]
    assert rolling_success_rate(series, 1) == [1.0, 1.0, 0.0, 1.0, 1.0]


def test_competence_figures_on_a_known_series():
    # Window 4, target 0.75: the first window with 3 of 4 successes ends at episode 6
    # (episodes 3..6 = "S.SS"); falls up to and including episode 6: episodes 0, 1, 2.
    series = make_series("FFFS.SSFSS", length=7)
    assert competence_episode(series, target=0.75, window=4) == 6
    assert falls_before_competence(series, target=0.75, window=4) == 3
    assert steps_to_success(series, target=0.75, window=4) == 7 * 7
    assert falls_total(series) == 4


def test_ninety_percent_of_ten_counts_despite_float_rounding():
    series = make_series("F" + "S" * 4 + "F" + "S" * 5)
    # Episodes 1..10 hold 9 successes in 10: exactly 0.9.
    assert competence_episode(series, target=0.9, window=10) == 10
    assert falls_before_competence(series, target=0.9, window=10) == 2


def test_never_competent_counts_every_fall_and_has_no_step():
    series = make_series("FSFSFS")
    assert steps_to_success(series, target=0.9, window=2) is None
    assert falls_before_competence(series, target=0.9, window=2) == 3


def test_early_successes_do_not_count_before_the_window_fills():
    series = make_series("SS", length=5)
    assert steps_to_success(series, target=0.9, window=3) is None
    series = make_series("SSS", length=5)
    assert steps_to_success(series, target=0.9, window=3) == 15


def test_final_figures_use_the_last_window():
    series = make_series("FFFFSS.S")
    assert final_success_rate(series, window=4) == pytest.approx(0.75)
    assert final_return(series, window=4) == pytest.approx((1 + 1 + 0 + 1) / 4)
    # Shorter runs use all their episodes; empty runs have no figure.
    assert final_success_rate(make_series("SF"), window=10) == pytest.approx(0.5)
    assert final_return([], window=5) is None
    assert final_success_rate([], window=5) is None


def test_summary_reports_pretraining_falls_separately():
    series = make_series("FSSS", length=3)
    summary = summarize(series, target=0.9, window=3, pretraining_falls=5)
    assert summary["falls_before_competence"] == 1
    assert summary["falls_before_competence_incl_pretraining"] == 6
    assert summary["falls_total_incl_pretraining"] == 6
    assert summary["steps_to_90"] == 12
    assert summary["reached_target"] is True
    assert summary["episodes"] == 4
    assert summary["env_steps"] == 12


def test_summary_holds_the_evaluation_figures_every_cli_promises():
    series = make_series("FS.S", length=5)
    summary = summarize(series)
    # run_agent.py's JSON (checked by CI) and the comparison report both read these keys.
    assert summary["episodes"] == 4
    assert summary["mean_return"] == pytest.approx(0.25)
    assert summary["std_return"] == pytest.approx(0.82915619)
    assert (summary["falls"], summary["falls_total"], summary["successes"]) == (1, 1, 2)
    assert summary["success_rate"] == 0.5 and summary["mean_steps"] == 5.0
    assert summary["median_plan_ms"] == 2.5  # median of the episodes' medians 1, 2, 3, 4
    assert [e["return"] for e in summary["per_episode"]] == [-1.0, 1.0, 0.0, 1.0]
    assert "per_episode" not in summarize(series, per_episode=False)


def test_summary_of_no_episodes_is_valid_json():
    summary = summarize([])
    json.dumps(summary, allow_nan=False)
    assert summary["episodes"] == 0 and summary["mean_return"] is None
    assert summary["median_plan_ms"] is None and summary["falls"] == 0


def test_summary_keeps_steps_to_90_when_target_differs():
    series = make_series("FSFS", length=1)
    summary = summarize(series, target=0.5, window=2)
    assert summary["steps_to_target"] == 2
    assert summary["steps_to_90"] is None


def test_record_round_trips_through_its_dict():
    record = make_series(".F")[1]
    data = record.to_dict()
    assert data["return"] == -1.0 and data["fell"] is True and data["steps"] == 10
    assert EpisodeRecord.from_dict(data) == record
    untimed = EpisodeRecord(ret=0.5, fell=False, success=True, steps=3)
    assert EpisodeRecord.from_dict(json.loads(json.dumps(untimed.to_dict()))) == untimed


def test_record_reads_reports_written_before_steps_was_named_length():
    old = {"env_step": 40, "return": 2.0, "fell": False, "success": True, "length": 8}
    record = EpisodeRecord.from_dict(old)
    assert (record.steps, record.env_step, record.seed, record.median_plan_ms) == (8, 40, None, None)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: rolling_success_rate([], 0), ValueError, "at least 1"),
        (lambda: rolling_success_rate([], 2.5), TypeError, "int"),
        (lambda: competence_episode([], target=1.5), ValueError, r"\(0, 1\]"),
        (lambda: summarize([], pretraining_falls=-1), ValueError, "pretraining_falls"),
        (lambda: EpisodeRecord.from_dict({"env_step": 1}), ValueError, "missing keys"),
    ],
)
def test_bad_input_is_rejected_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()
