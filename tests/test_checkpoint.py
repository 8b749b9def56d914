"""Checkpoints: round trip, env mismatch, corrupt/truncated files, pickled objects refused."""

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent.checkpoint import build_from_checkpoint, load_checkpoint, make_meta, save_checkpoint
from agent.critic import Critic, CriticConfig
from agent.policy import Policy
from agent.world_model import WorldModel, WorldModelConfig


class SpacesOnly(gym.Env):
    def __init__(self, obs_dim=3, action_dim=1, high=2.0):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-high, high, (action_dim,), np.float32)


def write(path, env=None):
    env = env or SpacesOnly()
    torch.manual_seed(0)
    # The policy-bootstrapped critic: a file older code reads too (format 3).
    wm_config, critic_config = WorldModelConfig(latent_dim=8, hidden_dim=32), CriticConfig(hidden_dim=32, target="policy")
    world_model = WorldModel(3, 1, wm_config)
    world_model.set_normalizer(np.random.default_rng(0).normal(size=(100, 3)))
    world_model.set_fall_cost(np.array([5.0, 100.0]), np.array([False, True]))
    for p in world_model.parameters():  # non-trivial outputs everywhere
        p.data.normal_(0, 0.3)
    critic = Critic(8, 1, critic_config)
    policy = Policy(8, 1)
    for p in policy.parameters():
        p.data.normal_(0, 0.3)
    meta = make_meta("Pendulum-v1", env.observation_space, env.action_space, wm_config, critic_config,
                     pretraining={"steps": 100, "episodes": 2, "falls": 1}, policy_config=policy.config)
    save_checkpoint(path, {"world_model": world_model.state_dict(), "critic": critic.state_dict(),
                           "policy": policy.state_dict()}, meta)
    return world_model, critic, policy


def test_round_trip_gives_identical_outputs(tmp_path):
    path = tmp_path / "model.pt"
    world_model, critic, policy = write(path)
    assert not list(tmp_path.glob("*.tmp")), "the temporary file is renamed away"
    state, meta = load_checkpoint(path, SpacesOnly())
    loaded_wm, loaded_critic, loaded_policy = build_from_checkpoint(state, meta)
    obs, a = torch.randn(6, 3), torch.rand(6, 1) * 2 - 1
    with torch.no_grad():
        z = world_model.encode(obs)
        assert torch.equal(loaded_wm.encode(obs), z)
        assert torch.equal(loaded_wm.next(z, a), world_model.next(z, a))
        assert torch.equal(loaded_wm.cost(z, a), world_model.cost(z, a))
        assert torch.equal(loaded_wm.fall_prob(z, a), world_model.fall_prob(z, a))
        assert torch.equal(loaded_critic.q(z, a), critic.q(z, a))
        assert torch.equal(loaded_policy(z), policy(z)) and not torch.equal(policy(z), torch.zeros(6, 1))
    assert loaded_wm.fall_cost.item() == 100.0 and loaded_wm.normalizer_ready
    assert meta["env_id"] == "Pendulum-v1" and meta["pretraining"]["falls"] == 1
    assert meta["observation_space"]["shape"] == [3] and meta["action_space"]["high"] == [2.0]
    assert {"torch", "gymnasium", "mujoco", "latent-mpc"} <= meta["versions"].keys()
    assert meta["world_model_config"]["latent_dim"] == 8


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (SpacesOnly(obs_dim=5), r"observation space of shape \(3,\).*has shape \(5,\)"),
        (SpacesOnly(action_dim=2), r"action space of shape \(1,\).*has shape \(2,\)"),
        (SpacesOnly(high=1.0), r"action space with low=\[-2.0\].*low=\[-1.0\]"),
    ],
)
def test_mismatched_env_names_both_spaces(tmp_path, env, message):
    write(tmp_path / "model.pt")
    with pytest.raises(ValueError, match=message):
        load_checkpoint(tmp_path / "model.pt", env)


def test_missing_truncated_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="examples/pretrain.py"):
        load_checkpoint(tmp_path / "nope.pt")
    path = tmp_path / "model.pt"
    write(path)
    data = path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "truncated.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "garbage.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a latent-mpc checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


class Payload:
    """Any class instance: unpickling it would run arbitrary code paths."""


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "latent-mpc", "format_version": 1, "state": {}, "meta": Payload()}, path)
    with pytest.raises(ValueError, match="pickled Python objects"):
        load_checkpoint(path)
    torch.save({"state": os.system}, tmp_path / "function.pt")  # the classic code-execution vector
    with pytest.raises(ValueError, match="pickled Python objects"):
        load_checkpoint(tmp_path / "function.pt")


def test_save_refuses_non_plain_meta_and_keeps_old_file(tmp_path):
    path = tmp_path / "model.pt"
    write(path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match="plain types"):
        save_checkpoint(path, {"world_model": {"w": torch.zeros(1)}}, {"bad": object()})
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_checkpoint_of_an_older_format_is_refused_with_what_to_do(tmp_path):
    """Formats 1 and 2 held a state-value critic and no policy prior: refused, with the command to retrain."""
    path = tmp_path / "old.pt"
    write(path)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 2
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"format 2.*examples/train.py"):
        load_checkpoint(path, SpacesOnly())


def write_members(path, env=None):
    """A checkpoint whose world model has fall and dynamics members (format 4)."""
    env = env or SpacesOnly()
    torch.manual_seed(0)
    wm_config = WorldModelConfig(latent_dim=8, hidden_dim=32, fall_members=3, dynamics_members=2, member_hidden_dim=16)
    critic_config = CriticConfig(hidden_dim=32, target="policy")
    world_model = WorldModel(3, 1, wm_config)
    world_model.set_normalizer(np.random.default_rng(0).normal(size=(100, 3)))
    for p in world_model.parameters():
        p.data.normal_(0, 0.3)
    critic, policy = Critic(8, 1, critic_config), Policy(8, 1)
    meta = make_meta("Pendulum-v1", env.observation_space, env.action_space, wm_config, critic_config,
                     policy_config=policy.config)
    save_checkpoint(path, {"world_model": world_model.state_dict(), "critic": critic.state_dict(),
                           "policy": policy.state_dict()}, meta)
    return world_model


def test_a_model_with_members_is_format_4_and_round_trips(tmp_path):
    world_model = write_members(tmp_path / "members.pt")
    write(tmp_path / "plain.pt")
    assert torch.load(tmp_path / "members.pt", weights_only=True)["format_version"] == 4
    plain = torch.load(tmp_path / "plain.pt", weights_only=True)
    assert plain["format_version"] == 3 and plain["meta"]["format_version"] == 3  # older code reads it:
    assert not {"fall_members", "member_hidden_dim"} & set(plain["meta"]["world_model_config"])  # its schema
    state, meta = load_checkpoint(tmp_path / "members.pt", SpacesOnly())
    assert meta["format_version"] == 4 and meta["world_model_config"]["fall_members"] == 3
    loaded, _, _ = build_from_checkpoint(state, meta)
    z, a = torch.randn(6, 8), torch.rand(6, 1) * 2 - 1
    with torch.no_grad():
        assert loaded.fall_logits(z, a).shape == (6, 3)
        assert torch.equal(loaded.fall_logits(z, a), world_model.fall_logits(z, a))
        assert torch.equal(loaded.novelty(z, a), world_model.novelty(z, a))
        assert torch.equal(loaded.fall_prob(z, a), torch.sigmoid(world_model.fall_logits(z, a).mean(-1)))


def test_format_3_loads_without_members_and_a_newer_format_is_refused(tmp_path):
    """Format 3 (one fall head) loads into today's default world model; a format this code does
    not know names itself and what to do."""
    demos = Path(__file__).resolve().parents[1] / "checkpoints" / "cliff-car-demos.pt"  # shipped until session 19
    state, meta = load_checkpoint(demos)
    assert meta["format_version"] == 3 and "fall_members" not in meta["world_model_config"]
    world_model, _, _ = build_from_checkpoint(state, meta)
    assert world_model.config.fall_members == 1 and world_model.config.dynamics_members == 0
    assert sorted(world_model.state_dict()) == sorted(state["world_model"])
    path = tmp_path / "future.pt"
    write_members(path)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 8
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"format 8, this code reads formats 3 to 7; upgrade latent-mpc"):
        load_checkpoint(path)


def save_and_load(tmp_path, wm_config, critic_config, perturb):
    """Build small networks, draw the weights ``perturb(world_model, critic)`` names at random,
    save them as a checkpoint and load it back: ``(world_model, critic, state, meta)``."""
    env = SpacesOnly()
    torch.manual_seed(0)
    world_model, critic, policy = WorldModel(3, 1, wm_config), Critic(8, 1, critic_config), Policy(8, 1)
    world_model.set_normalizer(np.random.default_rng(0).normal(size=(100, 3)))
    for p in perturb(world_model, critic):
        p.data.normal_(0, 0.3)
    meta = make_meta("Pendulum-v1", env.observation_space, env.action_space, wm_config, critic_config,
                     policy_config=policy.config)
    path = tmp_path / "round_trip.pt"
    save_checkpoint(path, {"world_model": world_model.state_dict(), "critic": critic.state_dict(),
                           "policy": policy.state_dict()}, meta)
    state, meta = load_checkpoint(path, env)
    return world_model, critic, state, meta


def test_an_in_sample_critic_is_format_6_and_round_trips(tmp_path):
    """``CriticConfig(target="expectile")`` (the default) adds state-value heads: format 6, and they
    load back; a policy-bootstrapped critic's config leaves the in-sample settings out (older code
    reads it), and such a file still loads as that critic, not as today's default."""
    _, critic, state, meta = save_and_load(
        tmp_path, WorldModelConfig(latent_dim=8, hidden_dim=32), CriticConfig(hidden_dim=32, target="expectile"),
        lambda world_model, critic: critic.parameters())
    assert meta["format_version"] == 6 and meta["critic_config"]["target"] == "expectile"
    _, loaded, _ = build_from_checkpoint(state, meta)
    z = torch.randn(5, 8)
    with torch.no_grad():
        assert loaded.in_sample and torch.equal(loaded.pessimistic_value(z), critic.pessimistic_value(z))
    write(tmp_path / "plain.pt")
    plain = torch.load(tmp_path / "plain.pt", weights_only=True)["meta"]
    assert plain["format_version"] == 3 and not {"target", "expectile"} & set(plain["critic_config"])
    _, plain_critic, _ = build_from_checkpoint(*load_checkpoint(tmp_path / "plain.pt", SpacesOnly()))
    assert plain_critic.config.target == "policy" and not plain_critic.in_sample


def test_a_termination_head_is_format_7_and_round_trips(tmp_path):
    """``WorldModelConfig(termination_head=True)`` adds ``end_head``: format 7, and it loads back;
    without it the setting stays out of the config (older code reads the file)."""
    world_model, _, state, meta = save_and_load(
        tmp_path, WorldModelConfig(latent_dim=8, hidden_dim=32, termination_head=True), CriticConfig(hidden_dim=32),
        lambda world_model, critic: world_model.end_head.parameters())
    assert meta["format_version"] == 7 and meta["world_model_config"]["termination_head"] is True
    loaded, _, _ = build_from_checkpoint(state, meta)
    z, a = torch.randn(5, 8), torch.rand(5, 1) * 2 - 1
    with torch.no_grad():
        assert loaded.has_termination and torch.equal(loaded.end_prob(z, a), world_model.end_prob(z, a))
    write(tmp_path / "plain.pt")
    plain = torch.load(tmp_path / "plain.pt", weights_only=True)["meta"]
    assert plain["format_version"] == 3 and "termination_head" not in plain["world_model_config"]
