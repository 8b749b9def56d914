"""The planning objective: the expected discounted cost of an action sequence under the model.

For candidate sequences ``a`` of shape ``(N, H, A)`` from the latent ``z_0``::

    J(a) = sum_t gamma^t alive_t [(1 - p_t) (cost(z_t, a_t) - b_t) + p_t fall_cost] + gamma^H alive_H V(z_H)
    z_{t+1} = next(z_t, a_t),  p_t = fall_prob(z_t, a_t),  alive_0 = 1,  alive_{t+1} = alive_t (1 - p_t)

A fall ends the episode, so its cost ``fall_cost`` is paid once and nothing after it
counts: every later term is weighted by the probability ``alive_t`` of not having fallen
before step ``t``. ``V`` is a terminal value (the critic's cost-to-go beyond the horizon).
Lower is better. This is the one place the objective is written; the agent plans with it
and compares its warm starts with it.

A model with a termination head (``has_termination``, ``WorldModelConfig.termination_head``)
also ends imagined episodes where it predicts a termination that is not a fall (a goal
reached): with ``e_t = end_prob(z_t, a_t)``, ``alive_{t+1} = alive_t (1 - p_t) (1 - e_t)``,
so the step that arrives pays its cost once (the goal's reward included) and nothing after
it counts, as in the env. Without one, ``e_t = 0``.

Two opt-in terms use a model's ensembles (both 0 by default, and then ``J`` is computed
exactly as without them):

- ``fall_pessimism = kappa > 0``: ``p_t`` is :func:`pessimistic_fall_prob` of the fall-head
  members' logits, ``sigmoid(mean_k l_k + kappa std_k l_k)``. Where the members agree it is
  their mean; where they disagree (an edge some have not learnt) it leans to the members
  that predict a fall. Taken in logit space so that disagreement among small
  probabilities (logits -5 and -2) still counts.
- ``novelty_coef = beta > 0``: ``b_t = beta * cost_scale * novelty(z_t, a_t)``, a bonus for
  the dynamics members' disagreement (unseen states and actions), in units of the typical
  step cost. It is earned only by a transition that does not fall — it sits inside the
  ``(1 - p_t)`` term — so a novel state predicted dangerous earns little. The agent
  passes it only while exploring (``MPCAgent.training``).

A caller may also add a cost of the *state* at every imagined step, ``state_cost(z_t)``,
to ``cost(z_t, a_t)`` (inside the ``(1 - p_t)`` term, like the step cost it adds to). The
agent uses it for a margin from danger that the terminal value alone cannot give
(``AgentConfig.risk_step_coef``: the fall-risk critic's ``R(z_t)`` priced in fall costs).
None by default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

__all__ = ["LatentModel", "planning_cost", "planning_objective", "pessimistic_fall_prob", "trajectory_cost"]


class LatentModel(Protocol):
    """What the objective needs of a world model (``agent.world_model.WorldModel`` has it).

    With ``fall_pessimism > 0`` it also needs ``fall_logits(z, a) -> (..., K)``; with
    ``novelty_coef > 0``, ``novelty(z, a) -> (...)`` and a ``cost_scale`` tensor.
    """

    fall_cost: torch.Tensor

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor: ...
    def cost(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor: ...
    def fall_prob(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor: ...


def pessimistic_fall_prob(logits: torch.Tensor, pessimism: float) -> torch.Tensor:
    """``sigmoid(mean + pessimism * std)`` over the members' fall logits: ``(..., K) -> (...)``."""
    return torch.sigmoid(logits.mean(-1) + pessimism * logits.std(-1, unbiased=False))


def planning_cost(
    model: LatentModel,
    terminal_value: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    actions: torch.Tensor,
    gamma: float,
    *,
    fall_pessimism: float = 0.0,
    novelty_coef: float = 0.0,
    state_cost: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``J(a)`` of the module docstring: ``z0 (Z,) or (N, Z)``, ``actions (N, H, A) -> (N,)``.

    ``terminal_value`` maps latents ``(N, Z) -> (N,)``; ``state_cost``, if given, latents
    ``(N, H, Z) -> (N, H)``.
    """
    n, horizon, _ = actions.shape
    z = z0.expand(n, -1) if z0.dim() == 1 else z0
    # Only the dynamics are sequential; the heads run once on all (N*H) pairs.
    latents = [z]
    for t in range(horizon):
        latents.append(model.next(latents[-1], actions[:, t]))
    return trajectory_cost(model, terminal_value, latents, actions, gamma, fall_pessimism=fall_pessimism,
                           novelty_coef=novelty_coef, state_cost=state_cost)


def trajectory_cost(
    model: LatentModel,
    terminal_value: Callable[[torch.Tensor], torch.Tensor],
    latents: list[torch.Tensor],
    actions: torch.Tensor,
    gamma: float,
    *,
    fall_pessimism: float = 0.0,
    novelty_coef: float = 0.0,
    state_cost: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``J(a)`` of latents already rolled out: ``latents`` (H+1 tensors (N, Z), ``z_0..z_H``),
    ``actions (N, H, A) -> (N,)``. For callers that roll out while choosing the actions (the
    policy prior's warm start), so the dynamics do not run twice."""
    n, horizon, _ = actions.shape
    states = torch.stack(latents[:-1], dim=1)  # (N, H, Z)
    if fall_pessimism:
        p_fall = pessimistic_fall_prob(model.fall_logits(states, actions), fall_pessimism)  # (N, H)
    else:
        p_fall = model.fall_prob(states, actions)  # (N, H)
    cost = model.cost(states, actions)  # (N, H)
    if novelty_coef:
        cost = cost - novelty_coef * model.cost_scale * model.novelty(states, actions)
    if state_cost is not None:
        cost = cost + state_cost(states)
    step_cost = (1.0 - p_fall) * cost + p_fall * model.fall_cost  # (N, H)
    keep = 1.0 - p_fall
    if getattr(model, "has_termination", False):
        keep = keep * (1.0 - model.end_prob(states, actions))
    survive = torch.cumprod(keep, dim=1)  # (N, H): survive[:, t] = alive_{t+1}
    alive = torch.cat([survive.new_ones(n, 1), survive[:, :-1]], dim=1)  # (N, H)
    discount = gamma ** torch.arange(horizon + 1, dtype=actions.dtype, device=actions.device)  # (H+1,)
    total = (discount[:-1] * alive * step_cost).sum(dim=1)
    return total + discount[-1] * survive[:, -1] * terminal_value(latents[-1])


def planning_objective(
    model: LatentModel,
    terminal_value: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    gamma: float,
    *,
    fall_pessimism: float = 0.0,
    novelty_coef: float = 0.0,
    state_cost: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The objective a planner minimises from latent ``z0 (Z,)``: actions ``(N, H, A) -> (N,)``."""

    def objective(actions: torch.Tensor) -> torch.Tensor:
        return planning_cost(model, terminal_value, z0, actions, gamma, fall_pessimism=fall_pessimism,
                             novelty_coef=novelty_coef, state_cost=state_cost)

    return objective
