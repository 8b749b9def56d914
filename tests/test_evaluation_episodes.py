"""The one episode loop, its recorder and the outcome rules, on the tiny ledge env (known answers)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import tiny_ledge

from evaluation.episodes import EpisodeRecorder, run_episode, run_for_steps
from evaluation.metrics import summarize
from evaluation.outcomes import OutcomeRule, resolve_outcome_rule
from evaluation.report import check_writable


class Scripted:
    """Drives left (over the edge) on the episodes in ``fall_on``, right to the goal otherwise."""

    def __init__(self, fall_on=()):
        self.fall_on = set(fall_on)
        self.episode = -1
        self.seeds: list[int | None] = []
        self.observed = 0

    def reset(self, seed=None):
        self.episode += 1
        self.seeds.append(seed)

    def act(self, obs):
        return np.array([-1.0 if self.episode in self.fall_on else 1.0], np.float32)

    def observe(self, obs, action, reward, next_obs, terminated, truncated, info):
        self.observed += 1


def test_recorder_writes_one_record_per_finished_episode():
    rule = OutcomeRule(terminated_is_fall=False)
    env = EpisodeRecorder(tiny_ledge.make(), rule)
    env.reset(seed=0)
    for action in [-1.0] * 4 + [1.0] * 4 + [0.0] * 3:
        _, _, terminated, truncated, _ = env.step(np.array([action], np.float32))
        if terminated or truncated:
            env.reset()
    first, second = env.series
    assert (first.fell, first.success, first.steps, first.env_step) == (True, False, 4, 4)
    assert (second.fell, second.success, second.steps, second.env_step) == (False, True, 4, 8)
    assert (first.seed, second.seed) == (0, None)
    assert first.median_plan_ms is None  # nobody timed an act call
    assert first.ret == pytest.approx(-0.03 - 1.0)
    assert second.ret == pytest.approx(-0.03 + 1.0)
    assert len(env.series) == 2  # the unfinished third episode is not recorded
    assert env.total_steps == 11


def test_run_episode_records_seed_outcome_and_act_time():
    agent = Scripted(fall_on={1})
    env = tiny_ledge.make()
    records = [run_episode(agent, env, seed) for seed in (3, 4, 5)]
    assert [(r.seed, r.fell, r.success, r.steps) for r in records] == [
        (3, False, True, 4), (4, True, False, 4), (5, False, True, 4),
    ]  # fmt: skip
    assert agent.seeds == [3, 4, 5] and agent.observed == 12
    assert all(r.median_plan_ms is not None and r.median_plan_ms >= 0 for r in records)
    summary = summarize(records)
    assert {"episodes", "mean_return", "falls", "successes", "median_plan_ms"} <= set(summary)
    assert (summary["episodes"], summary["falls"], summary["successes"]) == (3, 1, 2)


def test_run_episode_without_learning_and_with_frames():
    agent, frames = Scripted(), []
    env = tiny_ledge.make()
    env.render = lambda: np.zeros((2, 2, 3), np.uint8)  # the tiny env draws nothing itself
    record = run_episode(agent, env, seed=0, learn=False, on_frame=frames.append)
    assert agent.observed == 0 and record.success
    assert len(frames) == record.steps + 1  # after the reset and after every step


def test_run_for_steps_stops_at_the_budget_mid_episode():
    agent = Scripted(fall_on={0, 2})
    recorder = EpisodeRecorder(tiny_ledge.make(), resolve_outcome_rule("PointLedge-v0"))
    run_for_steps(agent, recorder, budget_steps=14, seed=7)
    assert recorder.total_steps == 14
    assert [(r.env_step, r.fell, r.seed) for r in recorder.series] == [
        (4, True, 7), (8, False, None), (12, True, None),
    ]  # fmt: skip
    assert agent.seeds == [7, None, None, None]  # the fourth episode was cut short
    assert len(recorder.act_times_ms) == 14
    assert run_episode(agent, recorder, step_limit=14) is None  # the budget is spent


def test_outcome_rule_reads_info_or_a_return_threshold():
    from_info = OutcomeRule(terminated_is_fall=False)
    assert from_info.judge(0.0, True, {"fell": True, "success": False}) == (True, False)
    assert from_info.judge(0.0, True, {"success": True}) == (False, True)
    with pytest.raises(ValueError, match="--success-threshold"):
        from_info.judge(0.0, False, {})
    assert OutcomeRule(require_success=False).judge(0.0, False, {}) == (False, False)
    # Pendulum-v1 registers no threshold, so the explicit override holds.
    assert gym.spec("Pendulum-v1").reward_threshold is None
    pendulum = resolve_outcome_rule("Pendulum-v1")
    assert pendulum.reward_threshold == -200.0
    assert pendulum.judge(-150.0, False, {}) == (False, True)
    assert pendulum.judge(-900.0, False, {}) == (False, False)
    # An explicit threshold wins over the env's own notion of success.
    assert resolve_outcome_rule("CliffCar-v0", success_threshold=5.0).judge(
        6.0, True, {"success": False}
    ) == (False, True)


def test_outcome_rule_takes_the_registered_reward_threshold():
    # Gymnasium registers 9100 for InvertedDoublePendulum (a hand-typed table said 9000).
    assert resolve_outcome_rule("InvertedDoublePendulum-v5").reward_threshold == 9100.0
    inverted = resolve_outcome_rule("InvertedPendulum-v5")
    assert inverted.reward_threshold == gym.spec("InvertedPendulum-v5").reward_threshold == 950.0
    assert inverted.judge(40.0, True, {}) == (True, False)  # the pole fell over: a fall
    env = tiny_ledge.make_quiet()
    rule = resolve_outcome_rule(env)
    assert rule.reward_threshold == env.spec.reward_threshold == 0.5
    # The env reports nothing in info: success from the return, a termination short of it is a fall.
    agent = Scripted(fall_on={1})
    records = [run_episode(agent, env, seed, rule=rule) for seed in (0, 1)]
    assert [(r.fell, r.success) for r in records] == [(False, True), (True, False)]


def test_termination_is_a_fall_only_when_the_env_says_nothing():
    generic = OutcomeRule(reward_threshold=950.0)
    assert generic.judge(40.0, True, {}) == (True, False)  # the pole tipped over
    assert generic.judge(1000.0, False, {}) == (False, True)  # time limit, balanced
    assert generic.judge(40.0, False, {}) == (False, False)  # truncated is never a fall
    assert generic.judge(40.0, True, {"fell": False}) == (False, False)  # the env said no
    assert OutcomeRule(terminated_is_fall=True).judge(0.0, True, {"success": True}) == (True, False)
    # MountainCarContinuous terminates at the flag: never a fall there, even below 90.
    car = resolve_outcome_rule("MountainCarContinuous-v0")
    assert car.reward_threshold == 90.0 and car.judge(60.0, True, {}) == (False, False)


def test_output_paths_are_checked_before_any_work(tmp_path):
    check_writable([tmp_path / "new" / "deeper" / "report.json", None])
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == []  # the probe leaves nothing
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="cannot write") as info:
        check_writable([tmp_path / "a_file" / "report.json"])
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="is a folder"):
        check_writable([tmp_path])
