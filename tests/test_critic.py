"""Critic and policy prior: targets that follow the policy, pessimism, the squashed Gaussian."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from agent.buffer import ReplayBuffer
from agent.critic import Critic, CriticConfig, discount_for_episode_length
from agent.layers import Ensemble
from agent.policy import Policy, PolicyConfig
from agent.train import Trainer
from agent.world_model import WorldModel, WorldModelConfig

N_STATES, GAMMA = 8, 0.9


def chain_buffer(seed: int) -> ReplayBuffer:
    """States 0..N-1 (one-hot); every step moves right and costs ``1 + a^2`` for a uniformly
    random action ``a``; stepping off the end terminates."""
    rng = np.random.default_rng(seed)
    eye = np.eye(N_STATES + 1, dtype=np.float32)
    buffer = ReplayBuffer(N_STATES + 1, 1, 5000)
    while buffer.num_steps < 4000:
        for k in range(int(rng.integers(0, N_STATES)), N_STATES):
            a = rng.uniform(-1, 1)
            buffer.add(eye[k], [a], 1.0 + a * a, eye[k + 1], terminated=k == N_STATES - 1, truncated=False)
    return buffer


def test_q_learns_the_policys_cost_to_go_not_the_datas():
    """The data's actions cost 4/3 per step on average; the best action (0) costs 1. A critic
    bootstrapped through a policy that learns a -> 0 must find the optimal cost-to-go."""
    torch.manual_seed(0)
    buffer = chain_buffer(0)
    world_model = WorldModel(N_STATES + 1, 1, WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=3))
    world_model.set_normalizer(buffer.observations())
    critic = Critic(8, 1, CriticConfig(hidden_dim=64, gamma=GAMMA, tau=0.05, target="policy"))
    critic.set_value_scale(5.0)
    policy = Policy(8, 1, PolicyConfig(hidden_dim=64, lr=1e-3))
    trainer = Trainer(world_model, critic, policy, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(800):
        trainer.update(buffer.sample(64, 3, rng))
    with torch.no_grad():
        z = world_model.encode(torch.eye(N_STATES + 1)[:N_STATES])
        action = policy(z)
        value = critic.q(z, action).mean(-1)
        hard = critic.q(z, torch.ones_like(action)).mean(-1)
    steps_left = N_STATES - torch.arange(N_STATES)
    optimal = (1 - GAMMA**steps_left) / (1 - GAMMA)
    data_policy = optimal * 4 / 3
    assert torch.all(action.abs() < 0.25), action
    assert torch.all((value - optimal).abs() < 0.1 * optimal + 0.1), (value, optimal)
    assert torch.all((value - optimal).abs() < (value - data_policy).abs())
    assert torch.all(hard - value > 0.5)  # a = 1 costs 1 more (up to fitting error)


def test_ensemble_members_are_independent_mlps():
    torch.manual_seed(0)
    ensemble = Ensemble(3, 5, 16, 2, num_hidden=2)
    x = torch.randn(4, 7, 5)
    out = ensemble(x)
    assert out.shape == (4, 7, 3, 2)
    assert not torch.allclose(out[..., 0, :], out[..., 1, :])
    # member 1 alone, by hand with its own weights
    h = x
    for i in range(3):
        h = h @ ensemble.weights[i][1] + ensemble.biases[i][1, 0]
        if i < 2:
            h = torch.nn.functional.layer_norm(h, (16,)) * ensemble.norm_weights[i][1, 0] + ensemble.norm_biases[i][1, 0]
            h = torch.nn.functional.silu(h)
    assert torch.allclose(out[..., 1, :], h, atol=1e-5)


def test_pessimism_and_targets_take_the_high_side():
    torch.manual_seed(0)
    critic = Critic(4, 2, CriticConfig(num_heads=2, pessimism=1.0))
    z, a = torch.randn(7, 4), torch.rand(7, 2) * 2 - 1
    values = critic.q(z, a)
    assert torch.allclose(critic.pessimistic(z, a), values.max(-1).values, atol=1e-5)
    assert torch.allclose(critic.target_q(z, a), values.max(-1).values, atol=1e-5)  # targets = heads at init
    critic.config.pessimism = 0.0
    assert torch.allclose(critic.pessimistic(z, a), values.mean(-1), atol=1e-6)


def test_policy_log_prob_matches_the_squashed_density():
    torch.manual_seed(0)
    policy = Policy(3, 1, PolicyConfig(hidden_dim=16))
    torch.nn.init.normal_(policy.net[-1].weight, std=0.5)
    z = torch.randn(1, 3)
    mean, log_std = policy._gaussian(z)
    action, log_prob = policy.sample(z)
    # density of a = tanh(x), x ~ N(mean, std): p(a) = N(atanh a) / (1 - a^2)
    x = torch.atanh(action.clamp(-0.999999, 0.999999))
    std = log_std.exp()
    by_hand = -0.5 * ((x - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi) - torch.log(1 - action**2)
    assert torch.allclose(log_prob, by_hand.sum(-1), atol=1e-3)
    assert torch.all(policy(z).abs() < 1)


def test_discount_follows_episode_length_and_config_is_checked():
    assert discount_for_episode_length(200) == pytest.approx(0.975)
    assert discount_for_episode_length(1000) == 0.995 and discount_for_episode_length(50) == 0.95
    assert discount_for_episode_length(None) == 0.99
    with pytest.raises(ValueError, match="num_heads must be >= 2"):
        CriticConfig(num_heads=1)
    with pytest.raises(ValueError, match="gamma"):
        CriticConfig(gamma=1.5)


def test_in_sample_value_sits_at_the_expectile_of_the_datas_actions():
    """``target="expectile"`` never evaluates an action the data did not take: V is the
    tau-expectile (towards the cheaper) of the data's costs-to-go. Per step the data's
    ``1 + a^2`` (a uniform) has mean 4/3 and lower 0.9-expectile 1.1178 (numerically), so V
    must sit near ``1.1178 (1 - gamma^k) / (1 - gamma)`` with k steps left: below the data's
    own value (SARSA), above the optimum that a policy-bootstrapped critic finds."""
    torch.manual_seed(0)
    buffer = chain_buffer(0)
    world_model = WorldModel(N_STATES + 1, 1, WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=3))
    world_model.set_normalizer(buffer.observations())
    critic = Critic(8, 1, CriticConfig(hidden_dim=64, gamma=GAMMA, tau=0.05, target="expectile", expectile=0.9))
    critic.set_value_scale(5.0)
    policy = Policy(8, 1, PolicyConfig(hidden_dim=64, lr=1e-3))
    trainer = Trainer(world_model, critic, policy, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(800):
        losses = trainer.update(buffer.sample(64, 3, rng))
    assert "losses/value" in losses
    with torch.no_grad():
        z = world_model.encode(torch.eye(N_STATES + 1)[:N_STATES])
        value = critic.value(z).mean(-1)
    steps_left = N_STATES - torch.arange(N_STATES)
    per_step = (1 - GAMMA**steps_left) / (1 - GAMMA)
    expected, data_policy, optimal = 1.1178 * per_step, 4 / 3 * per_step, per_step
    assert torch.all((value - expected).abs() < 0.05 * expected + 0.1), (value, expected)
    assert torch.all((value - expected).abs() < (value - data_policy).abs())
    assert torch.all((value - expected).abs() < (value - optimal).abs() + 0.05)


def test_in_sample_critic_config_is_checked():
    with pytest.raises(ValueError, match="target must be one of"):
        CriticConfig(target="max")
    with pytest.raises(ValueError, match="expectile must be in"):
        CriticConfig(target="expectile", expectile=1.0)
    with pytest.raises(RuntimeError, match="expectile"):
        Critic(4, 1, CriticConfig(target="policy")).value(torch.zeros(2, 4))


def test_fall_risk_critic_learns_the_datas_discounted_fall_probability():
    """``risk_coef > 0``: R(z) is the discounted probability that the data's behaviour falls.
    On a chain where every step falls with probability p = 1/4 (a > 0.5) and the last step
    otherwise ends the episode safely, ``R_k = p + (1 - p) gamma R_{k+1}``, ``R_{N-1} = p``."""
    rng = np.random.default_rng(0)
    eye = np.eye(N_STATES + 1, dtype=np.float32)
    buffer = ReplayBuffer(N_STATES + 1, 1, 6000)
    while buffer.num_steps < 5000:
        for k in range(int(rng.integers(0, N_STATES)), N_STATES):
            a = rng.uniform(-1, 1)
            fell = bool(a > 0.5)
            buffer.add(eye[k], [a], 100.0 if fell else 1.0, eye[k + 1],
                       terminated=fell or k == N_STATES - 1, truncated=False, fell=fell)
            if fell:
                break
    torch.manual_seed(0)
    world_model = WorldModel(N_STATES + 1, 1, WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=3))
    world_model.set_normalizer(buffer.observations())
    critic = Critic(8, 1, CriticConfig(hidden_dim=64, gamma=GAMMA, tau=0.05, risk_coef=1.0))
    critic.set_value_scale(20.0)
    trainer = Trainer(world_model, critic, Policy(8, 1, PolicyConfig(hidden_dim=64)), seed=0)
    for _ in range(2000):
        losses = trainer.update(buffer.sample(64, 3, rng))
    assert "losses/risk" in losses
    exact = [0.25]
    for _ in range(N_STATES - 1):
        exact.insert(0, 0.25 + 0.75 * GAMMA * exact[0])
    with torch.no_grad():
        risk = critic.risk(world_model.encode(torch.eye(N_STATES + 1)[:N_STATES]))
    assert torch.allclose(risk, torch.tensor(exact), atol=0.05), (risk, exact)


@pytest.mark.parametrize("target", ["policy", "expectile"])
def test_planners_terminal_value_adds_the_priced_fall_risk(target):
    """The agent's terminal value is the critic's value (Q at the policy's action, or the in-sample
    V) plus ``risk_coef * fall_cost * R(z)`` when a risk critic is configured."""
    import gymnasium as gym

    from agent.mpc import AgentConfig, MPCAgent
    from planners import PlannerConfig

    env = gym.make("Pendulum-v1")
    agent = MPCAgent(env, AgentConfig(planner=PlannerConfig(horizon=3, num_samples=4, iterations=1)),
                     wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                     critic_config=CriticConfig(hidden_dim=16, target=target, risk_coef=2.0),
                     policy_config=PolicyConfig(hidden_dim=16))
    agent.world_model.fall_cost.fill_(50.0)
    z = torch.randn(5, 4)
    with torch.no_grad():
        critic = agent.critic
        base = critic.pessimistic_value(z) if target == "expectile" else critic.pessimistic(z, agent.policy(z))
        assert torch.allclose(agent.terminal_value(z), base + 2.0 * 50.0 * critic.risk(z))
        assert torch.all(critic.risk(z) > 0)


def test_risk_step_coef_prices_the_risk_of_every_imagined_state_in_acting_and_evaluation():
    """``AgentConfig.risk_step_coef`` adds ``coef * fall_cost * R(z_t)`` to every step's cost of the
    planning objective, exploring or not; it needs a risk critic and a non-negative weight."""
    import gymnasium as gym

    from agent.mpc import AgentConfig, MPCAgent
    from agent.objective import planning_cost
    from planners import PlannerConfig

    env = gym.make("Pendulum-v1")
    planner = PlannerConfig(horizon=3, num_samples=4, iterations=1)
    agent = MPCAgent(env, AgentConfig(planner=planner, risk_step_coef=0.1),
                     wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                     critic_config=CriticConfig(hidden_dim=16, risk_coef=1.0), policy_config=PolicyConfig(hidden_dim=16))
    agent.world_model.fall_cost.fill_(50.0)
    z0 = torch.randn(4)
    actions = 2 * torch.rand(6, 3, 1, generator=torch.Generator().manual_seed(0)) - 1
    with torch.no_grad():
        plain = planning_cost(agent.world_model, agent.terminal_value, z0, actions, agent.gamma)
        priced = planning_cost(agent.world_model, agent.terminal_value, z0, actions, agent.gamma,
                               state_cost=lambda z: 0.1 * 50.0 * agent.critic.risk(z))
        for training in (False, True):
            agent.training = training
            assert torch.equal(agent.objective_for(z0)(actions), priced)
    assert torch.all(priced > plain)  # R > 0 everywhere at initialisation: a cost at every step
    with pytest.raises(ValueError, match="risk_step_coef=0.1 needs the fall-risk critic"):
        MPCAgent(env, AgentConfig(planner=planner, risk_step_coef=0.1),
                 wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2))
    with pytest.raises(ValueError, match="risk_step_coef"):
        AgentConfig(risk_step_coef=-1.0)


def test_freeze_risk_learns_r_in_the_first_burst_only_and_keeps_it_through_a_checkpoint(tmp_path):
    """``AgentConfig.freeze_risk``: a fresh agent's fall-risk heads learn from its seeding data and
    from then on stay as they are, while the Q heads keep learning; a loaded agent's never change.
    Without risk heads the setting is refused."""
    import gymnasium as gym

    from agent.mpc import AgentConfig, MPCAgent
    from planners import PlannerConfig

    env = gym.make("Pendulum-v1")
    planner = PlannerConfig(horizon=3, num_samples=4, iterations=1)
    nets = dict(wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                critic_config=CriticConfig(hidden_dim=16, risk_coef=1.0), policy_config=PolicyConfig(hidden_dim=16))

    def heads(agent):
        return ([p.detach().clone() for p in agent.critic.risk_heads.parameters()],
                [p.detach().clone() for p in agent.critic.heads.parameters()])

    def moved(before, after):
        return any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))

    def run(agent, steps, seed):
        obs, _ = env.reset(seed=seed)
        for _ in range(steps):
            action = env.action_space.sample()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            agent.observe(obs, action, reward, next_obs, terminated, truncated)
            obs = next_obs

    env.action_space.seed(0)
    config = AgentConfig(planner=planner, seed_steps=8, batch_size=4, buffer_capacity=100, freeze_risk=True)
    agent = MPCAgent(env, config, **nets)
    risk0, q0 = heads(agent)
    run(agent, 8, 0)  # the seeding burst: R learns
    risk1, q1 = heads(agent)
    assert agent.started and moved(risk0, risk1) and moved(q0, q1)
    run(agent, 5, 1)  # online updates: Q learns, R does not
    risk2, q2 = heads(agent)
    assert not moved(risk1, risk2) and moved(q1, q2)
    path = tmp_path / "frozen.pt"
    agent.save(path)
    loaded = MPCAgent.load(path, env, config)
    run(loaded, 5, 2)
    risk3, q3 = heads(loaded)
    assert not moved(risk2, risk3) and moved(q2, q3)
    learning = MPCAgent.load(path, env, AgentConfig(planner=planner, batch_size=4, buffer_capacity=100))
    run(learning, 5, 2)
    assert moved(risk2, heads(learning)[0])  # the same checkpoint without freeze_risk: R learns
    with pytest.raises(ValueError, match="freeze_risk needs the fall-risk critic"):
        MPCAgent(env, config, wm_config=nets["wm_config"])


def test_freezing_the_world_model_or_its_encoder_trains_as_a_zero_learning_rate_would(tmp_path):
    """``AgentConfig.freeze_world_model``: online updates leave every learnt world-model weight as loaded
    and train the critic and policy to the same bits as the same updates with the world model's
    learning rate at 0 (what ``benchmarks/online_drift.py --variants wm`` measured); the setting
    travels with the checkpoint, and an untrained agent is refused. ``freeze_encoder`` the same for
    the encoder alone."""
    import gymnasium as gym

    from agent.mpc import AgentConfig, MPCAgent
    from planners import PlannerConfig

    env = gym.make("Pendulum-v1")
    planner = PlannerConfig(horizon=3, num_samples=4, iterations=1)
    config = AgentConfig(planner=planner, seed_steps=8, batch_size=4, buffer_capacity=100)
    nets = dict(wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                critic_config=CriticConfig(hidden_dim=16), policy_config=PolicyConfig(hidden_dim=16))
    trained = MPCAgent(env, config, **nets)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    for _ in range(10):  # the seeding burst trains everything once
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        trained.observe(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs
    path = tmp_path / "trained.pt"
    trained.save(path)

    def params(net):  # the learnt weights (the EMA target encoder follows the encoder, frozen or not)
        return [p.detach().clone() for name, p in net.named_parameters() if not name.startswith("target_")]

    frozen = MPCAgent.load(path, env, dataclasses.replace(config, freeze_world_model=True), seed=3)
    zero_rate = MPCAgent.load(path, env, config, seed=3)
    for group in zero_rate.trainer.wm_optim.param_groups:
        group["lr"] = 0.0
    wm0 = params(frozen.world_model)
    wm_named = {name: p.detach().clone() for name, p in frozen.world_model.named_parameters()}
    torch.manual_seed(0)  # the policy's action samples come from torch's global generator
    frozen.update(4)
    torch.manual_seed(0)
    zero_rate.update(4)
    assert all(torch.equal(a, b) for a, b in zip(wm0, params(frozen.world_model), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(params(zero_rate.critic), params(frozen.critic), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(params(zero_rate.policy), params(frozen.policy), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(params(trained.critic), params(frozen.critic), strict=True))
    learning = MPCAgent.load(path, env, config, seed=3)
    learning.update(4)
    assert any(not torch.equal(a, b) for a, b in zip(wm0, params(learning.world_model), strict=True))
    frozen.save(tmp_path / "frozen.pt")
    assert MPCAgent.load(tmp_path / "frozen.pt", env, AgentConfig(planner=planner), keep_objective=True).config.freeze_world_model
    with pytest.raises(ValueError, match="freeze_world_model keeps a trained world model"):
        MPCAgent(env, dataclasses.replace(config, freeze_world_model=True), **nets)

    # freeze_encoder: the encoder stays, the rest of the world model learns -- to the same bits as an
    # encoder learning rate of 0 (online_drift.py --wm-frozen encoder, what README measured).
    still = MPCAgent.load(path, env, dataclasses.replace(config, freeze_encoder=True), seed=3)
    zero_encoder = MPCAgent.load(path, env, config, seed=3)
    (group,) = zero_encoder.trainer.wm_optim.param_groups
    encoder = {id(p) for p in zero_encoder.world_model.encoder.parameters()}
    zero_encoder.trainer.wm_optim.param_groups[:] = [
        {**group, "params": [p for p in group["params"] if id(p) in encoder], "lr": 0.0},
        {**group, "params": [p for p in group["params"] if id(p) not in encoder]}]
    torch.manual_seed(0)
    still.update(4)
    torch.manual_seed(0)
    zero_encoder.update(4)
    after = dict(still.world_model.named_parameters())
    for name, p in zero_encoder.world_model.named_parameters():
        assert torch.equal(p, after[name]), name
        if not name.startswith("target_"):
            assert torch.equal(p, wm_named[name]) is name.startswith("encoder."), name
    assert all(torch.equal(a, b) for a, b in zip(params(zero_encoder.critic), params(still.critic), strict=True))
    with pytest.raises(ValueError, match="freeze_encoder keeps a trained world model"):
        MPCAgent(env, dataclasses.replace(config, freeze_encoder=True), **nets)


def test_a_checkpoint_keeps_its_objective_when_asked_and_explicit_settings_win(tmp_path):
    """``MPCAgent.load(..., keep_objective=True)`` takes the saved margin, frozen risk and planning
    horizon for the objective settings a config leaves at their defaults; without it the given
    config is used as is."""
    import gymnasium as gym

    from agent.mpc import AgentConfig, MPCAgent, objective_settings
    from planners import PlannerConfig

    env = gym.make("Pendulum-v1")
    planner = PlannerConfig(horizon=3, num_samples=4, iterations=1)
    trained = MPCAgent(env, AgentConfig(planner=planner, risk_step_coef=0.1, freeze_risk=True),
                       wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                       critic_config=CriticConfig(hidden_dim=16, risk_coef=1.0), policy_config=PolicyConfig(hidden_dim=16))
    path = tmp_path / "margin.pt"
    trained.save(path)
    run = AgentConfig(planner=dataclasses.replace(planner, horizon=2, num_samples=6), online=False)
    kept = MPCAgent.load(path, env, run, keep_objective=True).config
    assert objective_settings(kept) == {"risk_step_coef": 0.1, "freeze_risk": True}
    assert kept.planner.horizon == 2  # an explicit horizon wins
    assert kept.planner.num_samples == 6 and not kept.online  # how hard it plans stays the caller's
    default_horizon = dataclasses.replace(run, planner=dataclasses.replace(run.planner, horizon=PlannerConfig().horizon))
    kept = MPCAgent.load(path, env, default_horizon, keep_objective=True).config
    assert kept.planner.horizon == 3 and kept.planner.num_samples == 6  # the stored horizon fills the default
    assert MPCAgent.load(path, env, default_horizon).config.planner.horizon == PlannerConfig().horizon
    assert objective_settings(MPCAgent.load(path, env, run).config) == {}
    explicit = MPCAgent.load(path, env, dataclasses.replace(run, risk_step_coef=0.5), keep_objective=True).config
    assert objective_settings(explicit) == {"risk_step_coef": 0.5, "freeze_risk": True}
    assert objective_settings(MPCAgent.load(path, env).config) == {"risk_step_coef": 0.1, "freeze_risk": True}


@pytest.mark.parametrize("target", ["policy", "expectile"])
def test_a_value_policy_is_kept_only_for_a_policy_bootstrapped_critic(target):
    """Distillation freezes the prior as the value policy when the critic's values assume it; an
    in-sample critic never evaluates the prior, so its agent keeps none (and its terminal value
    does not move when the prior does)."""
    import gymnasium as gym

    from agent.mpc import AgentConfig, MPCAgent
    from planners import PlannerConfig

    agent = MPCAgent(gym.make("Pendulum-v1"), AgentConfig(planner=PlannerConfig(horizon=3, num_samples=4, iterations=1)),
                     wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16, horizon=2),
                     critic_config=CriticConfig(hidden_dim=16, target=target), policy_config=PolicyConfig(hidden_dim=16))
    z = torch.randn(5, 4)
    with torch.no_grad():
        before = agent.terminal_value(z)
        agent.keep_value_policy()
        for p in agent.policy.parameters():
            p.add_(1.0)
        after = agent.terminal_value(z)
    assert (agent.value_policy is not None) == (target == "policy")
    assert torch.equal(before, after)
