"""Cost-to-go critic: an ensemble of value heads on the world model's latent state.

``value(z)`` predicts the discounted cost still to come, ``E[sum_k gamma^k c_{t+k}]``, with
zero after termination; a fall transition's cost is the real (penalised) env cost, which
matches the planner's accounting (``p_t * fall_cost`` inside the horizon). Planning uses
``pessimistic(z)`` = mean + ``pessimism`` x std over heads; lower cost is better, so
pessimism means a *higher* value (with 2 heads and ``pessimism=1`` this is their max).

Training (in :class:`agent.train.Trainer`) uses TD(lambda) targets through a target
network (Polyak-averaged), evaluated at the EMA target encoder's latents of real
observations. Inputs are latents detached from the world model: the critic does not
shape the latent space. Besides encodings of real observations it is also fit on the
(detached) imagined latents of the training rollouts, the inputs the planner queries.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from agent.layers import Ensemble, mlp

__all__ = ["CriticConfig", "Critic"]


@dataclass
class CriticConfig:
    """Hyper-parameters of the cost-to-go critic."""

    num_heads: int = 2
    """Ensemble size K (>= 2) for the pessimistic estimate."""
    hidden_dim: int = 128
    """Width of each head's hidden layers."""
    num_hidden: int = 2
    """Hidden layers per head."""
    gamma: float = 0.99
    """Discount of the cost-to-go (the planner must use the same)."""
    lam: float = 0.95
    """TD(lambda) mixing along the sampled window (0: one-step TD, 1: Monte Carlo + bootstrap)."""
    tau: float = 0.01
    """Polyak step of the target network."""
    lr: float = 1e-3
    """Adam learning rate."""
    pessimism: float = 1.0
    """kappa in mean + kappa * std over heads, used by ``pessimistic``."""
    imagined_coef: float = 0.5
    """Weight of the loss on imagined (predicted) latents relative to encoded ones."""
    grad_clip: float = 10.0
    """Gradient-norm clip of each update."""

    def __post_init__(self):
        if self.num_heads < 2:
            raise ValueError(f"CriticConfig.num_heads must be >= 2 for a pessimistic ensemble, got {self.num_heads}")
        if not 0.0 < self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"need 0 < gamma <= 1 and 0 <= lam <= 1, got gamma={self.gamma}, lam={self.lam}")


class Critic(nn.Module):
    """Ensemble of ``K`` value heads with a target copy; see the module docstring."""

    def __init__(self, latent_dim: int, config: CriticConfig | None = None):
        super().__init__()
        config = config or CriticConfig()
        self.latent_dim, self.config = int(latent_dim), config
        self.heads = Ensemble([mlp(latent_dim, config.hidden_dim, 1, config.num_hidden) for _ in range(config.num_heads)])
        self.target_heads = copy.deepcopy(self.heads).requires_grad_(False)
        # Values are learnt in units of value_scale (set from data) so that losses are O(1).
        self.register_buffer("value_scale", torch.ones(()))

    def set_value_scale(self, scale: float) -> None:
        """Set the output unit (e.g. the typical magnitude of discounted returns)."""
        self.value_scale.fill_(max(float(scale), 1e-6))

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """Discounted cost-to-go of each head: ``z (..., Z) -> (..., K)``."""
        return self.heads(z).squeeze(-1) * self.value_scale

    @torch.no_grad()
    def target_value(self, z: torch.Tensor) -> torch.Tensor:
        """Target-network estimate, mean over heads: ``z (..., Z) -> (...)``."""
        return self.target_heads(z).squeeze(-1).mean(-1) * self.value_scale

    def pessimistic(self, z: torch.Tensor) -> torch.Tensor:
        """Pessimistic (high) cost-to-go, mean + kappa std over heads: ``z (..., Z) -> (...)``."""
        values = self.value(z)
        return values.mean(-1) + self.config.pessimism * values.std(-1, unbiased=False)
