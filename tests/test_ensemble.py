"""Fall-head and dynamics members: they disagree off their data, the planner is pessimistic
where fall members disagree, curiosity only while exploring, neutral defaults."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import planners
from agent.buffer import ReplayBuffer
from agent.critic import Critic, CriticConfig
from agent.mpc import AgentConfig, MPCAgent
from agent.objective import pessimistic_fall_prob, planning_cost, planning_objective
from agent.policy import Policy, PolicyConfig
from agent.train import Trainer, set_units_from_buffer
from agent.world_model import WorldModel, WorldModelConfig
from planners import PlannerConfig


def box_buffer(seed: int, episodes: int = 80, length: int = 30) -> ReplayBuffer:
    """A point in the plane, x' = x + 0.15 a, starting in [-1, 0.8]^2; crossing x_0 > 0.9 is a fall."""
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(2, 2, episodes * length)
    for _ in range(episodes):
        x = rng.uniform(-1.0, 0.8, 2)
        for t in range(length):
            a = rng.uniform(-1.0, 1.0, 2)
            x_next = x + 0.15 * a
            fell = bool(x_next[0] > 0.9)
            buffer.add(x, a, float(x @ x), x_next, fell, t == length - 1 and not fell, fell)
            if fell:
                break
            x = x_next
    return buffer


def trained_members(seed: int, **config) -> tuple[WorldModel, ReplayBuffer]:
    torch.manual_seed(seed)
    buffer = box_buffer(seed)
    wm_config = WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=4, fall_members=5, dynamics_members=5, **config)
    world_model = WorldModel(2, 2, wm_config)
    critic = Critic(8, 2, CriticConfig(hidden_dim=32, gamma=0.9))
    set_units_from_buffer(world_model, critic, buffer)
    trainer = Trainer(world_model, critic, Policy(8, 2, PolicyConfig(hidden_dim=32)), seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(300):
        info = trainer.update(buffer.sample(64, 4, rng))
    assert {"losses/dynamics_members", "charts/fall_member_std", "charts/novelty_mean"} <= set(info)
    assert info["losses/fall"] < 0.05  # the members learnt the edge they saw
    return world_model.eval(), buffer


@pytest.mark.parametrize("bootstrap", [False, True])
def test_members_disagree_far_from_their_data(bootstrap):
    world_model, buffer = trained_members(0, member_bootstrap=bootstrap)
    gen = torch.Generator().manual_seed(1)
    near = torch.as_tensor(buffer.observations()[:2000])  # (N, 2) where the members were trained
    far = 3.0 + 2.0 * torch.rand(2000, 2, generator=gen)  # (N, 2) a region no episode reached
    actions = 2 * torch.rand(2000, 2, generator=gen) - 1
    with torch.no_grad():
        figures = {}
        for name, obs in (("near", near), ("far", far)):
            z = world_model.encode(obs)
            logits = world_model.fall_logits(z, actions)  # (N, K)
            assert logits.shape == (2000, 5)
            figures[name] = {
                "spread": logits.std(-1, unbiased=False).mean().item(),
                "lift": (pessimistic_fall_prob(logits, 1.0) - torch.sigmoid(logits.mean(-1))).mean().item(),
                "novelty": world_model.novelty(z, actions).mean().item(),
            }
    near, far = figures["near"], figures["far"]
    assert far["spread"] > 2.5 * near["spread"], figures
    assert far["lift"] > 10 * near["lift"] > 0, figures  # pessimism raises p where the members disagree
    assert far["novelty"] > 2 * near["novelty"] > 0, figures


class DisputedEdge:
    """Actions a in [-1, 1]; the step cost 4 (a - 0.9)^2 wants a = 0.9, but a > 0.5 is an edge one
    fall member has learnt (logit 0 there, -6 elsewhere) and the other has not (always -6).
    Their mean logit is -3 past the edge (p = 0.05): worth the risk at fall cost 4 unless the
    planner is pessimistic about the disagreement."""

    fall_cost = torch.tensor(4.0)
    cost_scale = torch.tensor(1.0)

    def next(self, z, a):
        return z

    def cost(self, z, a):
        return 4.0 * (a[..., 0] - 0.9) ** 2

    def fall_logits(self, z, a):
        one = -6.0 + 6.0 * torch.sigmoid(40.0 * (a[..., 0] - 0.5))
        return torch.stack([one, torch.full_like(one, -6.0)], dim=-1)

    def fall_prob(self, z, a):
        return torch.sigmoid(self.fall_logits(z, a).mean(-1))

    def novelty(self, z, a):
        return torch.ones_like(a[..., 0])


@pytest.mark.parametrize("name", ["gradient", "cem"])
def test_pessimistic_planner_avoids_an_edge_the_members_dispute(name):
    ones = torch.ones(1)
    chosen = {}
    for kappa in (0.0, 1.0):
        planner = PlannerConfig(name=name, horizon=1, preset="default").build(None, -ones, ones)
        objective = planning_objective(DisputedEdge(), lambda z: torch.zeros(z.shape[0]), torch.zeros(1), 0.9,
                                       fall_pessimism=kappa)
        chosen[kappa] = float(planner.plan(objective).actions[0, 0])
    assert chosen[0.0] > 0.7, chosen  # the mean alone takes the risk
    assert chosen[1.0] < 0.5, chosen  # pessimism stays off the disputed edge


def pendulum_agent(**agent_settings) -> MPCAgent:
    env = gym.make("Pendulum-v1")
    wm_config = WorldModelConfig(latent_dim=8, hidden_dim=32, fall_members=3, dynamics_members=3)
    agent = MPCAgent(env, AgentConfig(planner=PlannerConfig(horizon=4, num_samples=8, iterations=2), **agent_settings),
                     wm_config=wm_config, critic_config=CriticConfig(hidden_dim=32, target="policy"),
                     policy_config=PolicyConfig(hidden_dim=32))  # policy critic: the file's format is the ensemble's, 4
    agent.world_model.set_normalizer(np.random.default_rng(0).normal(size=(100, 3)))
    return agent


def test_novelty_bonus_only_while_training():
    agent = pendulum_agent(fall_pessimism=1.0, novelty_coef=2.0)
    z0 = agent.world_model.encode(torch.zeros(3)).detach()
    actions = 2 * torch.rand(5, 4, 1, generator=torch.Generator().manual_seed(0)) - 1
    with torch.no_grad():
        plain = planning_cost(agent.world_model, agent.terminal_value, z0, actions, agent.gamma, fall_pessimism=1.0)
        curious = planning_cost(agent.world_model, agent.terminal_value, z0, actions, agent.gamma,
                                fall_pessimism=1.0, novelty_coef=2.0)
        agent.training = False
        assert torch.equal(agent.objective_for(z0)(actions), plain)  # evaluation: no bonus
        agent.training = True
        assert torch.equal(agent.objective_for(z0)(actions), curious)
    assert torch.all(curious < plain)  # fresh members disagree everywhere: a bonus at every step


def test_planning_settings_need_their_members():
    env = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match="fall-members"):
        MPCAgent(env, AgentConfig(fall_pessimism=1.0))
    with pytest.raises(ValueError, match="dynamics-members"):
        MPCAgent(env, AgentConfig(novelty_coef=1.0), wm_config=WorldModelConfig(fall_members=3))
    with pytest.raises(ValueError, match="dynamics_members"):
        WorldModelConfig(dynamics_members=1)
    with pytest.raises(ValueError, match="fall_pessimism"):
        AgentConfig(fall_pessimism=-1.0)


def test_agent_with_members_learns_saves_and_plans_the_same_after_loading(tmp_path):
    torch.set_num_threads(1)
    agent = pendulum_agent(fall_pessimism=1.0, novelty_coef=1.0)
    agent.config.seed_steps, agent.config.batch_size = 40, 16
    agent.world_model.normalizer_set.fill_(False)  # a fresh agent: it sets its units from its seed data
    env = gym.make("Pendulum-v1")
    agent.training = True
    obs, _ = env.reset(seed=0)
    agent.reset(seed=0)
    for _ in range(60):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
        obs = next_obs
    assert agent.started and "losses/dynamics_members" in agent.last_update_info
    agent.save(tmp_path / "members.pt")
    assert torch.load(tmp_path / "members.pt", weights_only=True)["format_version"] == 4
    again = MPCAgent.load(tmp_path / "members.pt", env, seed=5)
    agent.training = again.training = False
    assert again.config.fall_pessimism == 1.0 and again.world_model.config.fall_members == 3
    again.reset(seed=5)
    agent.reset(seed=5)
    np.testing.assert_array_equal(agent.act(obs), again.act(obs))


def test_default_settings_are_neutral():
    import agent.critic as critic
    import agent.loop as loop
    import agent.mpc as mpc
    import agent.world_model as world_model

    default = WorldModel(3, 1)
    assert "fall_head.0.weight" in default.state_dict() and not any("ensemble" in k for k in default.state_dict())
    added = {**world_model.NEUTRAL_SETTINGS, **mpc.NEUTRAL_SETTINGS, **critic.NEUTRAL_SETTINGS}
    sections = {"world_model": WorldModelConfig(), "agent": AgentConfig(), "critic": critic.CriticConfig()}
    fingerprint = loop.TrainConfig(env="cliff-car").fingerprint()
    for (section, *inner, name), value in added.items():  # a path: section, nested configs, field
        config, recorded = sections[section], fingerprint[section]
        for key in inner:
            config, recorded = getattr(config, key), recorded[key]
        if (section, *inner, name) in critic.CHANGED_DEFAULTS:  # a default that moved on: recorded
            assert getattr(config, name) == critic.CHANGED_DEFAULTS[(section, *inner, name)] != value
            assert recorded[name] == getattr(config, name), (section, *inner, name)
            continue
        assert getattr(config, name) == value, (section, *inner, name)
        assert name not in recorded, (section, *inner, name)
    # registered with the loop, so recorded runs' fingerprints (and their file names) stay the same
    assert added.items() <= loop.NEUTRAL_SETTINGS.items()


def test_planners_see_members_through_one_batched_call():
    """K members cost one Ensemble call per head, not K: the heads' modules run once per objective."""
    agent = pendulum_agent(fall_pessimism=1.0, novelty_coef=1.0)
    agent.training = True
    calls = {"fall": 0, "dynamics": 0}
    agent.world_model.fall_head.register_forward_hook(lambda *_: calls.__setitem__("fall", calls["fall"] + 1))
    agent.world_model.dynamics_ensemble.register_forward_hook(
        lambda *_: calls.__setitem__("dynamics", calls["dynamics"] + 1))
    z0 = agent.world_model.encode(torch.zeros(3)).detach()
    with torch.no_grad():
        agent.objective_for(z0)(torch.zeros(8, 4, 1))
    assert calls == {"fall": 1, "dynamics": 1}
    assert isinstance(agent.planner, planners.Planner)
