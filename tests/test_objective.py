"""The planning objective against a hand computation (fall probabilities, survival, discount, value)."""

import pytest
import torch

from agent.objective import planning_cost, planning_objective


class TableModel:
    """A latent model whose heads read fixed numbers off the latent, so J can be done by hand.

    The latent is ``(t, x)``: ``next`` adds 1 to the step counter and the action to ``x``; the
    step cost is ``COSTS[t] + x`` and the fall probability ``FALLS[t]``.
    """

    COSTS = (1.0, 2.0)
    FALLS = (0.1, 0.2)
    fall_cost = torch.tensor(100.0)

    def next(self, z, a):
        return torch.stack([z[..., 0] + 1, z[..., 1] + a[..., 0]], dim=-1)

    def cost(self, z, a):
        return torch.tensor(self.COSTS)[z[..., 0].long()] + z[..., 1]

    def fall_prob(self, z, a):
        return torch.tensor(self.FALLS)[z[..., 0].long()]


def test_two_step_rollout_matches_hand_computation():
    gamma = 0.9
    value = lambda z: 10.0 + z[..., 1]  # noqa: E731  (N, Z) -> (N,)
    actions = torch.tensor([[[0.0], [0.0]], [[0.5], [-1.0]]])  # (N=2, H=2, A=1)
    z0 = torch.tensor([0.0, 0.0])
    got = planning_cost(TableModel(), value, z0, actions, gamma)

    def by_hand(a0: float, a1: float) -> float:
        p0, p1 = 0.1, 0.2
        c0 = 1.0 + 0.0  # x_0 = 0
        c1 = 2.0 + a0  # x_1 = a0
        v2 = 10.0 + a0 + a1  # x_2 = a0 + a1
        return ((1 - p0) * c0 + p0 * 100.0
                + gamma * (1 - p0) * ((1 - p1) * c1 + p1 * 100.0)
                + gamma**2 * (1 - p0) * (1 - p1) * v2)

    assert by_hand(0.0, 0.0) == pytest.approx(34.228)  # the arithmetic above, once by hand
    assert got.tolist() == pytest.approx([by_hand(0.0, 0.0), by_hand(0.5, -1.0)], rel=1e-6)


def test_a_state_cost_is_paid_at_every_step_inside_the_survival_weights():
    gamma = 0.9
    value = lambda z: 10.0 + z[..., 1]  # noqa: E731
    state_cost = lambda z: 3.0 * z[..., 1] + 0.5  # noqa: E731  (N, H, Z) -> (N, H)
    actions = torch.tensor([[[0.0], [0.0]], [[0.5], [-1.0]]])
    z0 = torch.tensor([0.0, 0.0])
    got = planning_cost(TableModel(), value, z0, actions, gamma, state_cost=state_cost)

    def by_hand(a0: float, a1: float) -> float:
        p0, p1 = 0.1, 0.2
        c0 = 1.0 + 0.0 + 0.5  # model cost + state cost at x_0 = 0
        c1 = 2.0 + a0 + 3.0 * a0 + 0.5  # at x_1 = a0
        v2 = 10.0 + a0 + a1  # the terminal state pays no state cost: the value covers it
        return ((1 - p0) * c0 + p0 * 100.0
                + gamma * (1 - p0) * ((1 - p1) * c1 + p1 * 100.0)
                + gamma**2 * (1 - p0) * (1 - p1) * v2)

    assert got.tolist() == pytest.approx([by_hand(0.0, 0.0), by_hand(0.5, -1.0)], rel=1e-6)
    assert torch.equal(planning_objective(TableModel(), value, z0, gamma, state_cost=state_cost)(actions), got)


class EndingModel(TableModel):
    """``TableModel`` with a termination head: the episode ends without a fall with ``ENDS[t]``."""

    ENDS = (0.5, 0.25)
    has_termination = True

    def end_prob(self, z, a):
        return torch.tensor(self.ENDS)[z[..., 0].long()]


def test_a_predicted_goal_ends_the_imagined_episode():
    """With a termination head the step that arrives pays once and later terms shrink by 1 - e_t."""
    gamma = 0.9
    value = lambda z: 10.0 + z[..., 1]  # noqa: E731
    actions = torch.tensor([[[0.5], [-1.0]]])
    got = planning_cost(EndingModel(), value, torch.tensor([0.0, 0.0]), actions, gamma)
    p0, p1, e0, e1 = 0.1, 0.2, 0.5, 0.25
    alive1 = (1 - p0) * (1 - e0)
    alive2 = alive1 * (1 - p1) * (1 - e1)
    by_hand = ((1 - p0) * 1.0 + p0 * 100.0
               + gamma * alive1 * ((1 - p1) * (2.0 + 0.5) + p1 * 100.0)
               + gamma**2 * alive2 * (10.0 - 0.5))
    assert got.item() == pytest.approx(by_hand, rel=1e-6)
    # and without the head the same numbers give the plain objective, which is larger here
    plain = planning_cost(TableModel(), value, torch.tensor([0.0, 0.0]), actions, gamma)
    assert plain.item() > got.item() + 5.0


def test_objective_closure_and_batched_start():
    model, value = TableModel(), (lambda z: torch.zeros(z.shape[0]))
    actions = torch.zeros(3, 2, 1)
    z0 = torch.zeros(2)
    one = planning_objective(model, value, z0, 0.5)(actions)
    many = planning_cost(model, value, z0.expand(3, -1), actions, 0.5)
    assert torch.equal(one, many) and one.shape == (3,)
    # a certain fall at step 0 pays the fall cost once and nothing after it
    model.FALLS = (1.0, 0.2)
    assert planning_cost(model, lambda z: torch.full((z.shape[0],), 1e6), z0, actions, 0.5).tolist() == [100.0] * 3


class MembersTableModel(TableModel):
    """``TableModel`` with two fall members per step (logits read off the step counter) and a
    novelty table, for the objective's pessimism and curiosity terms."""

    LOGITS = ((-2.0, 0.0), (-1.0, -1.0))  # step 0: members disagree (mean -1, std 1); step 1: they agree
    NOVELTY = (0.5, 0.25)
    cost_scale = torch.tensor(2.0)

    def fall_logits(self, z, a):
        return torch.tensor(self.LOGITS)[z[..., 0].long()]

    def fall_prob(self, z, a):
        return torch.sigmoid(self.fall_logits(z, a).mean(-1))

    def novelty(self, z, a):
        return torch.tensor(self.NOVELTY)[z[..., 0].long()]


def test_pessimism_and_novelty_match_hand_computation():
    gamma, kappa, beta = 0.9, 1.5, 0.4
    value = lambda z: 10.0 + z[..., 1]  # noqa: E731
    actions = torch.tensor([[[0.0], [0.0]], [[0.5], [-1.0]]])
    z0 = torch.zeros(2)
    sigmoid = lambda x: float(torch.sigmoid(torch.tensor(x)))  # noqa: E731

    def by_hand(a0: float, a1: float, kappa: float, beta: float) -> float:
        p0, p1 = sigmoid(-1.0 + kappa * 1.0), sigmoid(-1.0)  # mean + kappa std of the logits
        c0 = 1.0 - beta * 2.0 * 0.5  # cost - beta * cost_scale * novelty
        c1 = 2.0 + a0 - beta * 2.0 * 0.25
        v2 = 10.0 + a0 + a1
        return ((1 - p0) * c0 + p0 * 100.0
                + gamma * (1 - p0) * ((1 - p1) * c1 + p1 * 100.0)
                + gamma**2 * (1 - p0) * (1 - p1) * v2)

    model = MembersTableModel()
    for k, b in ((kappa, 0.0), (0.0, beta), (kappa, beta)):
        got = planning_cost(model, value, z0, actions, gamma, fall_pessimism=k, novelty_coef=b)
        assert got.tolist() == pytest.approx([by_hand(0.0, 0.0, k, b), by_hand(0.5, -1.0, k, b)], rel=1e-6), (k, b)
    # with both terms off the members' mean is the fall probability, as for a single head
    assert torch.equal(planning_cost(model, value, z0, actions, gamma), planning_cost(model, value, z0, actions, gamma,
                                                                                     fall_pessimism=0.0, novelty_coef=0.0))
    # a transition certain to fall earns no novelty bonus
    model.LOGITS = ((50.0, 50.0), (-1.0, -1.0))
    bonus = planning_cost(model, value, z0, actions, gamma) - planning_cost(model, value, z0, actions, gamma, novelty_coef=beta)
    assert bonus.abs().max() < 1e-4
