"""The planning objective: the expected discounted cost of an action sequence under the model.

For candidate sequences ``a`` of shape ``(N, H, A)`` from the latent ``z_0``::

    J(a) = sum_t gamma^t alive_t [(1 - p_t) cost(z_t, a_t) + p_t fall_cost] + gamma^H alive_H V(z_H)
    z_{t+1} = next(z_t, a_t),  p_t = fall_prob(z_t, a_t),  alive_0 = 1,  alive_{t+1} = alive_t (1 - p_t)

A fall ends the episode, so its cost ``fall_cost`` is paid once and nothing after it
counts: every later term is weighted by the probability ``alive_t`` of not having fallen
before step ``t``. ``V`` is a terminal value (the critic's cost-to-go beyond the horizon).
Lower is better. This is the one place the objective is written; the agent plans with it
and the policy prior is trained on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

__all__ = ["LatentModel", "planning_cost", "planning_objective"]


class LatentModel(Protocol):
    """What the objective needs of a world model (``agent.world_model.WorldModel`` has it)."""

    fall_cost: torch.Tensor

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor: ...
    def cost(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor: ...
    def fall_prob(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor: ...


def planning_cost(
    model: LatentModel,
    terminal_value: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    actions: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``J(a)`` of the module docstring: ``z0 (Z,) or (N, Z)``, ``actions (N, H, A) -> (N,)``.

    ``terminal_value`` maps latents ``(N, Z) -> (N,)``.
    """
    n, horizon, _ = actions.shape
    z = z0.expand(n, -1) if z0.dim() == 1 else z0
    # Only the dynamics are sequential; the heads run once on all (N*H) pairs.
    latents = [z]
    for t in range(horizon):
        latents.append(model.next(latents[-1], actions[:, t]))
    states = torch.stack(latents[:-1], dim=1)  # (N, H, Z)
    p_fall = model.fall_prob(states, actions)  # (N, H)
    step_cost = (1.0 - p_fall) * model.cost(states, actions) + p_fall * model.fall_cost  # (N, H)
    survive = torch.cumprod(1.0 - p_fall, dim=1)  # (N, H): survive[:, t] = alive_{t+1}
    alive = torch.cat([survive.new_ones(n, 1), survive[:, :-1]], dim=1)  # (N, H)
    discount = gamma ** torch.arange(horizon + 1, dtype=actions.dtype, device=actions.device)  # (H+1,)
    total = (discount[:-1] * alive * step_cost).sum(dim=1)
    return total + discount[-1] * survive[:, -1] * terminal_value(latents[-1])


def planning_objective(
    model: LatentModel,
    terminal_value: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    gamma: float,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The objective a planner minimises from latent ``z0 (Z,)``: actions ``(N, H, A) -> (N,)``."""

    def objective(actions: torch.Tensor) -> torch.Tensor:
        return planning_cost(model, terminal_value, z0, actions, gamma)

    return objective
