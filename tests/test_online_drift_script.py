"""benchmarks/online_drift.py freezes exactly the parts a variant names, and its control learns nothing."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import benchmark_fixture

from agent.critic import CriticConfig
from agent.mpc import AgentConfig, MPCAgent
from agent.policy import PolicyConfig
from agent.world_model import WorldModelConfig
from planners import PlannerConfig

online_drift = benchmark_fixture("online_drift")


def test_variants_freeze_what_they_name(online_drift, tmp_path):
    env = gym.make("Pendulum-v1")
    agent = MPCAgent(env, AgentConfig(batch_size=8, planner=PlannerConfig(horizon=3, num_samples=4, iterations=1)),
                     wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                     critic_config=CriticConfig(hidden_dim=16), policy_config=PolicyConfig(hidden_dim=16))
    rng = np.random.default_rng(0)
    agent.world_model.set_normalizer(rng.normal(size=(64, 3)))
    obs, _ = env.reset(seed=0)
    for _ in range(40):  # a little data for the updates to use
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, info = env.step(action)
        agent.buffer.add(obs, action / 2.0, -float(reward), next_obs, terminated, truncated, None)
        obs = next_obs
    agent.save(tmp_path / "tiny.pt", replay_steps=40)
    out = tmp_path / "drift.json"
    online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1",
                                        variants=["none", "wm", "all"], steps=12, episodes=1, json=out))
    runs = {r["variant"]: r for r in json.loads(out.read_text())["runs"]}
    assert runs["none"]["changed"] == []
    assert runs["wm"]["changed"] == ["critic", "policy"]
    assert runs["all"]["changed"] == ["world_model", "critic", "policy"]
    assert all(len(r["eval"]) == 1 for r in runs.values())
    assert runs["all"]["wm_parts_changed"] == ["cost_head", "dynamics", "encoder", "fall_head"]
    # Parts of the world model held still while the rest of it learns; an unknown part is refused.
    out = tmp_path / "parts.json"
    online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1", variants=["all"],
                                        steps=12, episodes=1, wm_frozen=["encoder", "fall_head"], json=out))
    (run,) = json.loads(out.read_text())["runs"]
    assert run["wm_parts_changed"] == ["cost_head", "dynamics"] and "world_model" not in run["changed"]
    # --save-dir keeps the agent each variant made: frozen weights are the checkpoint's, learned ones not.
    online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1", variants=["none", "all"],
                                        steps=12, episodes=1, save_dir=tmp_path / "agents", json=tmp_path / "s.json"))
    start = MPCAgent.load(tmp_path / "tiny.pt", env)
    for variant, same in (("none", True), ("all", False)):
        after = MPCAgent.load(tmp_path / "agents" / f"{variant}.pt", env)
        equal = all(torch.equal(a, b) for a, b in zip(start.world_model.parameters(), after.world_model.parameters(), strict=True))
        assert equal is same
    with pytest.raises(SystemExit, match="unknown --wm-frozen"):
        online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1", variants=["all"],
                                            steps=12, episodes=1, wm_frozen=["decoder"], json=tmp_path / "never.json"))
    # Offline: the same updates on the checkpoint's rehearsal buffer, no env steps at all.
    out = tmp_path / "offline.json"
    online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1", variants=["none", "critic"],
                                        steps=5, episodes=1, offline=True, terminal_value="zero", json=out,
                                        first_layout=3, horizon=4, wm_horizon=3, save_dir=tmp_path / "off"))
    runs = {r["variant"]: r for r in json.loads(out.read_text())["runs"]}
    assert all(r["layouts"] == [3] and r["horizon"] == 4 and r["wm_horizon"] == 3 for r in runs.values())
    # --wm-horizon trains on windows of that length (the checkpoint was made with 2) and the agent keeps it.
    assert MPCAgent.load(tmp_path / "off" / "critic.pt", env).world_model.config.horizon == 3
    assert runs["none"]["changed"] == [] and runs["none"]["train_episodes"] == 0
    assert runs["critic"]["changed"] == ["world_model", "policy"]
    assert all(r["offline"] and r["terminal_value"] == "zero" for r in runs.values())
    # Without a rehearsal buffer there is nothing to learn offline from: a clear error, nothing written.
    (tmp_path / "tiny.replay.npz").unlink()
    with pytest.raises(SystemExit, match="rehearsal buffer"):
        online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1", variants=["all"],
                                            steps=5, episodes=1, offline=True, json=tmp_path / "never.json"))
    for bad in ({"horizon": 0}, {"first_layout": -1}, {"wm_horizon": 0}):
        with pytest.raises(SystemExit, match="--horizon|--first-layout|--wm-horizon"):
            online_drift.main(online_drift.Args(checkpoint=tmp_path / "tiny.pt", env="Pendulum-v1", variants=["all"],
                                                json=tmp_path / "never.json", **bad))
    assert not (tmp_path / "never.json").exists()
