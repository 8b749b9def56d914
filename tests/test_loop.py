"""The online learning loop: its report, resuming to the same result, refusing a foreign resume."""

import json

import gymnasium as gym
import numpy as np
import pytest
import tiny_ledge
import torch
from conftest import benchmark_fixture

from agent.critic import CriticConfig
from agent.loop import TrainConfig, competence_step, train
from agent.mpc import AgentConfig
from agent.policy import PolicyConfig
from agent.world_model import WorldModelConfig
from planners import PlannerConfig


def judge(ret, terminated, info):
    return bool(terminated), ret >= -200.0


def evaluate(agent):
    env = gym.make("Pendulum-v1", max_episode_steps=50)
    returns = []
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        done, ret = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            ret, done = ret + float(reward), terminated or truncated
        returns.append(ret)
    return {"episodes": 2, "mean_return": float(np.mean(returns)), "successes": 0, "falls": 0}


def tiny_config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(
        env="Pendulum-v1", steps=300, seed=3, eval_every=150, eval_episodes=2,
        checkpoint=tmp_path / "agent.pt", save_every=50, log_dir=None,
        agent=AgentConfig(seed_steps=60, batch_size=16, planner=PlannerConfig(horizon=3, num_samples=8, iterations=2)),
        world_model=WorldModelConfig(latent_dim=8, hidden_dim=32, horizon=3),
        critic=CriticConfig(hidden_dim=32), policy=PolicyConfig(hidden_dim=32),
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def short_pendulum(spec):
    return gym.make(spec, max_episode_steps=50)


class Interrupt(Exception):
    pass


def interrupting(after: int):
    """An env factory whose env raises after ``after`` steps, as a killed process would stop."""
    def make(spec):
        env = short_pendulum(spec)
        count = {"n": 0}
        step = env.step

        def counted(action):
            count["n"] += 1
            if count["n"] > after:
                raise Interrupt
            return step(action)

        env.step = counted
        return env
    return make


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    torch.set_num_threads(1)
    whole = train(tiny_config(tmp_path / "a"), judge=judge, evaluate=evaluate, make_env=short_pendulum,
                  progress_bar=False, log=lambda _: None)
    assert whole["steps"] == 300 and whole["episodes"] == 6 and len(whole["evals"]) == 2
    assert {"env", "seed", "steps", "episodes", "falls", "successes", "eval_falls", "competent_at",
            "falls_before_competent", "evals", "wall_s", "steps_per_s", "act_ms_median", "peak_rss_mb"} <= set(whole)
    # What the numbers depend on besides the command: a rerun elsewhere can part ways (README).
    assert whole["machine"]["threads"] == 1 and whole["machine"]["torch"] == torch.__version__
    assert whole["machine"]["cpu"] and whole["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()

    config = tiny_config(tmp_path / "b")
    with pytest.raises(Interrupt):
        train(config, judge=judge, evaluate=evaluate, make_env=interrupting(230), progress_bar=False, log=lambda _: None)
    saved = json.loads((config.resume_dir / "progress.json").read_text())
    assert saved["progress"]["total_steps"] == 200  # the last episode end at least save_every after the previous save
    resumed = train(tiny_config(tmp_path / "b", resume=True), judge=judge, evaluate=evaluate,
                    make_env=short_pendulum, progress_bar=False, log=lambda _: None)
    assert resumed["series"] == whole["series"]
    assert resumed["evals"] == whole["evals"]
    a = torch.load(tmp_path / "a" / "agent.pt", weights_only=True)["state"]
    b = torch.load(tmp_path / "b" / "agent.pt", weights_only=True)["state"]
    for net in ("world_model", "critic", "policy"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), (net, key)
    assert not config.resume_dir.exists()  # a finished run leaves only its checkpoint


def test_resume_refuses_another_configuration_and_overwrites_nothing(tmp_path):
    config = tiny_config(tmp_path)
    with pytest.raises(Interrupt):
        train(config, judge=judge, evaluate=None, make_env=interrupting(120), progress_bar=False, log=lambda _: None)
    before = sorted(p.name for p in config.resume_dir.iterdir())
    with pytest.raises(ValueError, match="seed"):
        train(tiny_config(tmp_path, seed=4, resume=True), judge=judge, make_env=short_pendulum,
              progress_bar=False, log=lambda _: None)
    with pytest.raises(ValueError, match="env"):
        train(tiny_config(tmp_path, env="InvertedPendulum-v5", resume=True), judge=judge,
              make_env=short_pendulum, progress_bar=False, log=lambda _: None)
    assert sorted(p.name for p in config.resume_dir.iterdir()) == before
    with pytest.raises(FileNotFoundError, match="no resume state"):
        train(tiny_config(tmp_path / "other", resume=True), judge=judge, make_env=short_pendulum,
              progress_bar=False, log=lambda _: None)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"steps": 50}, "seed-steps"),
    ({"eval_every": 100, "eval_episodes": 0}, "eval-episodes"),
    ({"agent": AgentConfig(seed_steps=60, freeze_world_model=True)}, "init-checkpoint"),
    ({"agent": AgentConfig(seed_steps=60, freeze_encoder=True)}, "init-checkpoint"),
])
def test_bad_budgets_are_refused(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(tmp_path, **overrides)


def test_competence_needs_nine_of_the_last_ten():
    episodes = [{"step": 10 * (i + 1), "success": i >= 3} for i in range(12)]
    assert competence_step(episodes) == 120  # episodes 3..11 succeed: 9 of 10 at the 12th
    assert competence_step(episodes[:11]) is None


def test_neutral_settings_leave_the_fingerprint_until_they_change(tmp_path, monkeypatch):
    import agent.loop as loop

    before = tiny_config(tmp_path).fingerprint()
    monkeypatch.setitem(loop.NEUTRAL_SETTINGS, ("agent", "explore_noise"), 0.1)
    neutral = tiny_config(tmp_path).fingerprint()
    assert "explore_noise" not in neutral["agent"] and "explore_noise" in before["agent"]
    changed = tiny_config(tmp_path, agent=AgentConfig(seed_steps=60, explore_noise=0.2)).fingerprint()
    assert changed["agent"]["explore_noise"] == 0.2
    # Nested settings (the planner's) by their path; this one is neutral by default.
    assert "random_fraction" not in before["agent"]["planner"]
    local = tiny_config(tmp_path, agent=AgentConfig(seed_steps=60, planner=PlannerConfig(random_fraction=0.0)))
    assert local.fingerprint()["agent"]["planner"]["random_fraction"] == 0.0


class _Agent:
    """What build_report reads of an agent: its counts since it was made, and everything."""

    def __init__(self, before):
        self.before = before

    def experience_counts(self):
        return {"steps": 100, "episodes": 2, "falls": 1}

    def experience_stats(self):
        return {**self.before, **{k: int(self.before.get(k, 0)) + v for k, v in self.experience_counts().items()}}


@pytest.mark.parametrize(("before", "counted"), [
    ({"env": "cliff-car", "env_id": "CliffCar-v0", "steps": 500, "episodes": 9, "falls": 4}, True),
    ({"env": "CliffCar-v0", "env_id": "CliffCar-v0", "steps": 500, "episodes": 9, "falls": 4}, True),
    ({"steps": 500, "episodes": 9, "falls": 4}, True),  # a checkpoint older than the safe world names no env
    ({"env": "cliff-car-kerb", "env_id": "CliffCarKerb-v0", "steps": 500, "episodes": 9, "falls": 0, "drops": 4}, False),
])
def test_report_counts_this_envs_experience_and_puts_another_worlds_apart(tmp_path, before, counted):
    from agent.loop import _Progress, build_report

    progress = _Progress(total_steps=100, episode=2, episodes=[
        {"step": 40, "return": -100.0, "length": 40, "fell": True, "success": False},
        {"step": 100, "return": 5.0, "length": 60, "fell": False, "success": True}])
    report = build_report(tiny_config(tmp_path, env="cliff-car"), progress, before, _Agent(before), env_id="CliffCar-v0")
    assert report["training_falls"] == 1
    if counted:
        assert report["falls"] == 5 and report["pretraining"] == {"steps": 500, "falls": 4, "episodes": 9}
        assert report["other_world"] is None and report["experience"]["steps"] == 600
    else:
        assert report["falls"] == 1 and report["pretraining"] == {"steps": 0, "falls": 0, "episodes": 0}
        assert report["other_world"] == {"env": "CliffCarKerb-v0", "steps": 500, "episodes": 9, "falls": 0, "drops": 4}
        assert report["experience"] == {"steps": 100, "episodes": 2, "falls": 1, "other_world": report["other_world"]}


def test_an_agent_from_another_world_belongs_to_this_env_and_keeps_that_world_apart(tmp_path):
    from agent.checkpoint import load_checkpoint
    from agent.mpc import MPCAgent

    config = tiny_config(tmp_path, steps=100, eval_every=0)
    other = MPCAgent(short_pendulum("Pendulum-v1"), config.agent, wm_config=config.world_model,
                     critic_config=config.critic, policy_config=config.policy, env_id="safe-pendulum",
                     pretraining_stats={"env": "safe-pendulum", "steps": 70, "episodes": 3, "falls": 0, "drops": 2})
    other.world_model.set_normalizer(np.zeros((2, 3)) + [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    other.save(tmp_path / "safe.pt", replay_steps=0)
    report = train(tiny_config(tmp_path, steps=100, eval_every=0, init_checkpoint=tmp_path / "safe.pt"),
                   judge=judge, make_env=short_pendulum, progress_bar=False, log=lambda _: None)
    assert report["other_world"] == {"env": "safe-pendulum", "steps": 70, "episodes": 3, "falls": 0, "drops": 2}
    assert report["pretraining"]["steps"] == 0 and report["experience"]["steps"] == 100
    _, meta = load_checkpoint(tmp_path / "agent.pt", short_pendulum("Pendulum-v1"))
    assert meta["env_id"] == "Pendulum-v1"
    assert meta["pretraining"]["steps"] == 100 and meta["pretraining"]["other_world"]["steps"] == 70


def test_a_safe_world_drop_is_learnt_as_a_priced_fall_but_reported_as_no_fall(tmp_path):
    torch.set_num_threads(1)
    seen = {}

    def rule(ret, terminated, info):
        return bool(info.get("fell")), False

    from agent import mpc

    observe = mpc.MPCAgent.observe

    def spy(self, obs, action, reward, next_obs, terminated, truncated, info=None):
        out = observe(self, obs, action, reward, next_obs, terminated, truncated, info)
        if terminated:  # the transition just stored: its cost and fall label, by how the episode ended
            last = (self.buffer._cursor - 1) % self.buffer.capacity
            kind = "drops" if info["dropped"] else "goals"
            seen.setdefault(kind, []).append((float(self.buffer.cost[last]), bool(self.buffer.fell[last])))
        return out

    config = tiny_config(tmp_path, env="kerb", steps=200, eval_every=0, fall_key="dropped", fall_cost=50.0,
                         agent=AgentConfig(seed_steps=150, batch_size=16,
                                           planner=PlannerConfig(horizon=3, num_samples=8, iterations=2)))
    mpc.MPCAgent.observe = spy
    try:
        report = train(config, judge=rule, make_env=lambda spec: tiny_ledge.make_kerb(), progress_bar=False, log=lambda _: None)
    finally:
        mpc.MPCAgent.observe = observe
    assert seen["drops"] and all(pair == (50.0, True) for pair in seen["drops"])  # learnt: a fall costing 50
    assert seen["goals"] and all(pair == (-1.0, False) for pair in seen["goals"])  # the goal stays the env's
    assert report["training_falls"] == 0 and report["falls"] == 0  # reported: the env's own judgement
    assert report["experience"]["falls"] == 0 and report["experience"]["steps"] == 200
    assert "fall_key" in report["config"] and report["config"]["fall_cost"] == 50.0
    with pytest.raises(ValueError, match="--fall-cost"):
        tiny_config(tmp_path, fall_cost=float("nan"))


def test_the_best_evaluated_agent_is_kept_and_is_the_agent_of_that_evaluation(tmp_path):
    torch.set_num_threads(1)
    run = dict(judge=judge, evaluate=evaluate, make_env=short_pendulum, progress_bar=False, log=lambda _: None)
    whole = train(tiny_config(tmp_path / "a", eval_every=100), **run)
    returns = [e["mean_return"] for e in whole["evals"]]
    assert len(returns) == 3 and len(set(returns)) == 3
    best = whole["best_eval"]
    assert best == whole["evals"][int(np.argmax(returns))]
    assert whole["best_checkpoint"] == str(tmp_path / "a" / "agent.best.pt")
    # The same run stopped at that evaluation's step ends with the very agent that was kept.
    stopped = train(tiny_config(tmp_path / "b", eval_every=100, steps=best["step"], keep_best=False), **run)
    assert stopped["evals"][-1] == best and stopped["best_eval"] is None
    assert not (tmp_path / "b" / "agent.best.pt").exists()
    kept = torch.load(tmp_path / "a" / "agent.best.pt", weights_only=True)["state"]
    final = torch.load(tmp_path / "b" / "agent.pt", weights_only=True)["state"]
    for net in ("world_model", "critic", "policy"):
        for key, value in kept[net].items():
            assert torch.equal(value, final[net][key]), (net, key)
    # Keeping it or not changes no action: it is not part of what a resume must match.
    assert tiny_config(tmp_path, keep_best=False).fingerprint() == tiny_config(tmp_path).fingerprint()


def test_where_a_front_end_writes_its_report_is_not_part_of_the_fingerprint(tmp_path):
    import dataclasses
    from pathlib import Path

    @dataclasses.dataclass
    class Front(TrainConfig):
        json: Path | None = None
        progress: bool = True
        threads: int = 1

    def front(**kw):
        base = tiny_config(tmp_path)
        return Front(**{f.name: getattr(base, f.name) for f in dataclasses.fields(TrainConfig)}, **kw)

    assert front(json=tmp_path / "a.json").fingerprint() == front(json=tmp_path / "b.json", progress=False).fingerprint()
    assert front(threads=1).fingerprint() != front(threads=2).fingerprint()  # threads can change CPU arithmetic


held_out = benchmark_fixture("held_out")


def test_held_out_measures_the_planner_budget_the_agent_acts_with(held_out):
    planner = held_out.learned_planner(held_out.Args())
    assert (planner.num_samples, planner.iterations) == (AgentConfig().planner.num_samples, AgentConfig().planner.iterations)
    old = held_out.learned_planner(held_out.Args(horizon=50, num_samples=64, iterations=6))
    assert (old.horizon, old.num_samples, old.iterations) == (50, 64, 6)


def test_held_out_runs_chosen_layouts_of_a_frozen_agent_only(held_out, tmp_path):
    assert held_out.cliff_car_seeds(held_out.Args(seed=10, episodes=3)) == [10, 11, 12]
    assert held_out.cliff_car_seeds(held_out.Args(layouts=[21, 2], episodes=3)) == [21, 2]
    report = tmp_path / "r.json"
    with pytest.raises(SystemExit, match="add --no-online"):
        held_out.main(held_out.Args(tasks=["cliff-car"], layouts=[2], json=report))
    with pytest.raises(SystemExit, match="distinct seeds"):
        held_out.main(held_out.Args(tasks=["cliff-car"], layouts=[2, 2], online=False, json=report))
    assert not report.exists()
