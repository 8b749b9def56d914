"""Critic: TD(lambda) targets, pessimism, and learning a known cost-to-go on a chain."""

import numpy as np
import pytest
import torch

from agent.buffer import ReplayBuffer
from agent.critic import Critic, CriticConfig
from agent.math import lambda_returns
from agent.train import Trainer
from agent.world_model import WorldModel, WorldModelConfig

N_STATES, GAMMA = 12, 0.9


def chain_buffer(seed: int) -> ReplayBuffer:
    """States 0..N-1 (one-hot); each step moves right at cost 1; stepping off the end terminates."""
    rng = np.random.default_rng(seed)
    eye = np.eye(N_STATES + 1, dtype=np.float32)
    buffer = ReplayBuffer(N_STATES + 1, 1, 5000)
    while buffer.num_steps < 4000:
        for k in range(int(rng.integers(0, N_STATES)), N_STATES):
            buffer.add(eye[k], [rng.uniform(-1, 1)], 1.0, eye[k + 1], terminated=k == N_STATES - 1, truncated=False)
    return buffer


def true_cost_to_go(k: int) -> float:
    steps_left = N_STATES - k
    return (1 - GAMMA**steps_left) / (1 - GAMMA)


def test_critic_learns_chain_cost_to_go():
    torch.manual_seed(0)
    buffer = chain_buffer(0)
    wm_config = WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=4, lr=1e-3)
    world_model = WorldModel(N_STATES + 1, 1, wm_config)
    world_model.set_normalizer(buffer.observations())
    critic = Critic(8, CriticConfig(hidden_dim=64, gamma=GAMMA, lam=0.9, lr=1e-3, tau=0.05))
    critic.set_value_scale(5.0)
    trainer = Trainer(world_model, critic, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(600):
        trainer.update(buffer.sample(64, 4, rng))
    with torch.no_grad():
        z = world_model.encode(torch.eye(N_STATES + 1)[:N_STATES])
        values = critic.value(z)  # (N, K)
    truth = torch.tensor([true_cost_to_go(k) for k in range(N_STATES)])
    # bootstrapping through the target network reaches beyond the 4-step windows (truth up to 7.2)
    assert torch.all((values.mean(-1) - truth).abs() < 0.15 * truth + 0.1), (values.mean(-1), truth)
    assert np.corrcoef(values.mean(-1).numpy(), truth.numpy())[0, 1] > 0.99
    assert values.shape == (N_STATES, 2)


def test_lambda_returns_by_hand():
    cost = torch.tensor([[1.0, 2.0, 3.0]])
    next_value = torch.tensor([[10.0, 20.0, 30.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0]])
    gamma, lam = 0.5, 0.5
    # no termination: G2 = 3 + .5*30 = 18; G1 = 2 + .5(.5*20 + .5*18) = 11.5; G0 = 1 + .5(.5*10 + .5*11.5) = 6.375
    out = lambda_returns(cost, next_value, torch.zeros(1, 3), mask, gamma, lam)
    assert torch.allclose(out, torch.tensor([[6.375, 11.5, 18.0]]))
    # termination at step 1: nothing after it counts; step 2 is padding
    out = lambda_returns(cost, next_value, torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[1.0, 1.0, 0.0]]), gamma, lam)
    assert out[0, 1] == 2.0 and out[0, 0] == pytest.approx(1 + 0.5 * (0.5 * 10 + 0.5 * 2))
    # truncation (window ends after step 0): bootstrap from the next state's value
    out = lambda_returns(cost, next_value, torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]), gamma, lam)
    assert out[0, 0] == pytest.approx(1 + 0.5 * 10)


def test_pessimistic_is_high_side_of_ensemble():
    critic = Critic(4, CriticConfig(num_heads=2, pessimism=1.0))
    z = torch.randn(7, 4)
    values = critic.value(z)
    assert torch.allclose(critic.pessimistic(z), values.max(-1).values, atol=1e-5)
    critic.config.pessimism = 0.0
    assert torch.allclose(critic.pessimistic(z), values.mean(-1), atol=1e-6)


def test_config_validation():
    with pytest.raises(ValueError, match="num_heads must be >= 2"):
        CriticConfig(num_heads=1)
    with pytest.raises(ValueError, match="gamma"):
        CriticConfig(gamma=1.5)
