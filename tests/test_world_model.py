"""World model: JEPA training on a small linear system, head shapes, NaN guard."""

import numpy as np
import pytest
import torch

from agent.buffer import ReplayBuffer
from agent.critic import Critic, CriticConfig
from agent.objective import planning_cost
from agent.policy import Policy
from agent.train import Trainer
from agent.world_model import WorldModel, WorldModelConfig, latent_prediction_error

OBS_DIM, ACTION_DIM = 4, 2


def linear_system_buffer(seed: int, episodes: int = 60, length: int = 40) -> ReplayBuffer:
    """x' = A x + B u with a lightly damped rotation A; smooth random actions; cost |x|^2."""
    rng = np.random.default_rng(seed)
    angle = 0.3
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    a_matrix = 0.97 * np.block([[rotation, np.zeros((2, 2))], [np.zeros((2, 2)), rotation.T]])
    b_matrix = np.array([[0.3, 0.0], [0.0, 0.3], [0.2, 0.1], [-0.1, 0.2]])
    buffer = ReplayBuffer(OBS_DIM, ACTION_DIM, episodes * length)
    for _ in range(episodes):
        x = rng.normal(size=OBS_DIM)
        u = np.zeros(ACTION_DIM)
        for t in range(length):
            u = np.clip(0.8 * u + 0.4 * rng.normal(size=ACTION_DIM), -1, 1)
            x_next = a_matrix @ x + b_matrix @ u
            buffer.add(x, u, float(x @ x), x_next, False, t == length - 1)
            x = x_next
    return buffer


def small_config(**kw) -> WorldModelConfig:
    return WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=8, **kw)


def test_jepa_learns_linear_system_without_collapse():
    torch.manual_seed(0)
    train, held_out = linear_system_buffer(0), linear_system_buffer(1)
    config = small_config(lr=1e-3, ema_tau=0.05)
    world_model = WorldModel(OBS_DIM, ACTION_DIM, config)
    world_model.set_normalizer(train.observations())
    critic = Critic(config.latent_dim, ACTION_DIM, CriticConfig(hidden_dim=32, gamma=0.9))
    trainer = Trainer(world_model, critic, Policy(config.latent_dim, ACTION_DIM), seed=0)
    rng = np.random.default_rng(0)
    test_batch = held_out.sample(512, config.horizon, np.random.default_rng(1))
    before = latent_prediction_error(world_model, test_batch)
    for _ in range(300):
        info = trainer.update(train.sample(64, config.horizon, rng))
    after = latent_prediction_error(world_model, test_batch)
    # multi-step prediction error falls well below its initial value, at every horizon
    assert after[-1] < 0.25 * before[-1], (before, after)
    assert after[-1] < 0.15, after
    assert torch.all(after[:-1] <= after[-1] + 0.05)  # error grows (roughly) with horizon
    # no collapse: every latent dimension varies over the held-out batch
    z = world_model.encode(test_batch["obs"][:, 0])
    assert z.std(0).min() > 0.5, z.std(0)
    assert info["charts/latent_std"] > 0.5
    # the cost head tracks |x|^2 on held-out transitions
    with torch.no_grad():
        pred = world_model.cost(z, test_batch["action"][:, 0])
    assert np.corrcoef(pred.numpy(), test_batch["cost"][:, 0].numpy())[0, 1] > 0.9


def test_heads_shapes_and_fall_accounting():
    world_model = WorldModel(OBS_DIM, ACTION_DIM, small_config())
    z = world_model.encode(torch.randn(5, 3, OBS_DIM))
    a = torch.rand(5, 3, ACTION_DIM) * 2 - 1
    assert z.shape == (5, 3, 8)
    assert world_model.next(z, a).shape == (5, 3, 8)
    assert world_model.cost(z, a).shape == (5, 3)
    p = world_model.fall_prob(z, a)
    assert p.shape == (5, 3) and torch.all((p > 0) & (p < 1))
    world_model.set_fall_cost(np.array([1.0, 50.0, 2.0, 70.0]), np.array([0, 1, 0, 1]))
    assert world_model.fall_cost.item() == pytest.approx(60.0)
    # gradients of the planning objective reach the actions (the planner needs them);
    # zero-initialised output layers would give exactly zero, so re-draw them as training would
    for module in world_model.modules():
        if isinstance(module, torch.nn.Linear):
            module.reset_parameters()
    actions = torch.zeros(2, 4, ACTION_DIM, requires_grad=True)
    value = lambda zz: zz.pow(2).sum(-1)  # noqa: E731
    planning_cost(world_model, value, z[:2, 0].detach(), actions, 0.9).sum().backward()
    assert actions.grad is not None and torch.isfinite(actions.grad).all() and actions.grad.abs().sum() > 0


def test_termination_head_learns_where_goals_end_episodes():
    """On a 1-D walk that ends (not a fall) when x crosses 1, the end head predicts that
    transition and not others; the fall head, which never saw a fall, stays near 0."""
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(1, 1, 20_000)
    while len(buffer) < 15_000:
        x = rng.uniform(-1.0, 0.9)
        for t in range(30):
            u = rng.uniform(-1, 1, size=1)
            x_next = x + 0.2 * u[0]
            reached = x_next > 1.0
            buffer.add(np.array([x]), u, 1.0 - 10.0 * reached, np.array([x_next]), reached, t == 29 and not reached,
                       fell=False)
            if reached:
                break
            x = x_next
    torch.manual_seed(0)
    config = WorldModelConfig(latent_dim=8, hidden_dim=64, horizon=3, termination_head=True)
    world_model = WorldModel(1, 1, config)
    world_model.set_normalizer(buffer.observations())
    trainer = Trainer(world_model, Critic(8, 1, CriticConfig(hidden_dim=32, gamma=0.9)), Policy(8, 1), seed=0)
    for _ in range(600):
        info = trainer.update(buffer.sample(128, config.horizon, rng))
    assert "losses/end" in info
    with torch.no_grad():
        z = world_model.encode(torch.tensor([[0.95], [0.95], [0.0], [-0.5]]))
        a = torch.tensor([[1.0], [-1.0], [1.0], [1.0]])
        end, fall = world_model.end_prob(z, a), world_model.fall_prob(z, a)
    # 0.95 + 0.2 crosses 1; 0.95 - 0.2, 0.2 and -0.3 do not
    assert end[0] > 0.7 and end[1:].max() < 0.1, end
    assert fall.max() < 0.05, fall


@pytest.mark.parametrize("field", ["obs", "cost"])
def test_nan_in_batch_raises_before_any_weight_changes(field):
    torch.manual_seed(0)
    buffer = linear_system_buffer(0, episodes=5)
    world_model = WorldModel(OBS_DIM, ACTION_DIM, small_config())
    critic = Critic(8, ACTION_DIM, CriticConfig(hidden_dim=32))
    trainer = Trainer(world_model, critic, Policy(8, ACTION_DIM))
    batch = buffer.sample(16, 8, np.random.default_rng(0))
    batch[field][3, 2] = float("nan")
    before = {k: v.clone() for k, v in {**world_model.state_dict(), **{f"c.{k}": v for k, v in critic.state_dict().items()}}.items()}
    with pytest.raises(FloatingPointError, match=rf"'{field}' at index \(3, 2"):
        trainer.update(batch)
    after = {**world_model.state_dict(), **{f"c.{k}": v for k, v in critic.state_dict().items()}}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainer.num_updates == 0


def test_set_normalizer_rejects_bad_data():
    world_model = WorldModel(OBS_DIM, ACTION_DIM, small_config())
    assert not world_model.normalizer_ready
    with pytest.raises(ValueError, match="finite"):
        world_model.set_normalizer(np.full((3, OBS_DIM), np.nan))
    world_model.set_normalizer(np.random.default_rng(0).normal(2.0, 3.0, (500, OBS_DIM)))
    assert world_model.normalizer_ready
    assert torch.allclose(world_model.obs_mean, torch.full((OBS_DIM,), 2.0), atol=0.4)


def test_member_heads_shapes_and_gradients():
    torch.manual_seed(0)
    world_model = WorldModel(OBS_DIM, ACTION_DIM, small_config(fall_members=4, dynamics_members=3))
    z = world_model.encode(torch.randn(5, 3, OBS_DIM))
    a = torch.rand(5, 3, ACTION_DIM) * 2 - 1
    logits = world_model.fall_logits(z, a)
    assert logits.shape == (5, 3, 4)
    assert torch.allclose(logits, torch.full_like(logits, -5.0))  # every member starts at p = sigmoid(-5)
    assert torch.equal(world_model.fall_logit(z, a), logits.mean(-1))
    assert world_model.next_members(z, a).shape == (5, 3, 3, 8)
    novelty = world_model.novelty(z, a)
    assert novelty.shape == (5, 3) and torch.all(novelty > 0)  # members start apart
    expected = world_model.next_members(z, a).var(-2, unbiased=False).mean(-1)
    assert torch.allclose(novelty, expected, rtol=1e-5, atol=1e-7)
    for module in world_model.modules():
        if isinstance(module, torch.nn.Linear):
            module.reset_parameters()
    actions = torch.zeros(2, 4, ACTION_DIM, requires_grad=True)
    planning_cost(world_model, lambda zz: zz.pow(2).sum(-1), z[:2, 0].detach(), actions, 0.9,
                  fall_pessimism=1.0, novelty_coef=1.0).sum().backward()
    assert actions.grad is not None and torch.isfinite(actions.grad).all() and actions.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="dynamics_members"):
        WorldModel(OBS_DIM, ACTION_DIM, small_config()).next_members(z, a)
