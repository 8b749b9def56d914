"""The policy prior pi(z): a fast, reactive "mode 1" that amortises the planner's "mode 2".

A tanh-squashed Gaussian on the latent state. It is trained to minimise the critic's
cost-to-go of its own action, ``Q(z, pi(z))``, in units of a running scale of Q (so one
entropy coefficient serves every cost scale), minus a small entropy bonus, plus an
imitation term toward the actions in the buffer (the planner's own, online); TD-MPC2's
policy prior (Hansen et al., 2024), SAC's actor (Haarnoja et al., 2018) and TD3+BC
(Fujimoto & Gu, 2021) are the references. It seeds the planner (its rollout through the model
competes with the previous plan as the warm start), acts alone in the agent's ``policy`` mode,
and with ``CriticConfig.target="policy"`` gives the bootstrap action of the critic's targets
(the default, in-sample critic bootstraps through the data's actions instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from agent.layers import mlp

__all__ = ["PolicyConfig", "Policy"]


@dataclass
class PolicyConfig:
    """Hyper-parameters of the policy prior."""

    hidden_dim: int = 128
    """Width of the hidden layers."""
    num_hidden: int = 2
    """Hidden layers."""
    lr: float = 3e-4
    """Adam learning rate."""
    entropy_coef: float = 1e-3
    """Weight of the entropy bonus against the scaled cost-to-go (per action dimension)."""
    imitation_coef: float = 1.0
    """Weight of ``||pi(z) - a||^2`` toward the stored actions (the planner's, online): keeps
    the prior, and the critic's bootstrap through it, on actions the data covers."""
    log_std_min: float = -5.0
    """Smallest log standard deviation of the Gaussian before squashing."""
    log_std_max: float = 1.0
    """Largest log standard deviation."""
    scale_tau: float = 0.01
    """EMA step of the running Q scale (the 5-95 percentile range of Q over a batch)."""
    grad_clip: float = 10.0
    """Gradient-norm clip of each update."""


class Policy(nn.Module):
    """``z (..., Z) -> a (..., A)`` in ``[-1, 1]``; see the module docstring."""

    def __init__(self, latent_dim: int, action_dim: int, config: PolicyConfig | None = None):
        super().__init__()
        config = config or PolicyConfig()
        self.latent_dim, self.action_dim, self.config = int(latent_dim), int(action_dim), config
        self.net = mlp(latent_dim, config.hidden_dim, 2 * action_dim, config.num_hidden)
        nn.init.zeros_(self.net[-1].weight)  # start as a zero-mean, mid-width Gaussian
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("q_scale", torch.ones(()))
        self.register_buffer("q_scale_set", torch.zeros((), dtype=torch.bool))

    def _gaussian(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.net(z).chunk(2, dim=-1)
        lo, hi = self.config.log_std_min, self.config.log_std_max
        log_std = lo + 0.5 * (hi - lo) * (torch.tanh(raw) + 1.0)  # smooth, inside [lo, hi]
        return mean, log_std

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Deterministic action ``tanh(mean)``: ``(..., Z) -> (..., A)``."""
        mean, _ = self._gaussian(z)
        return torch.tanh(mean)

    def sample(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample and its log-probability: ``(..., Z) -> (..., A), (...)``."""
        mean, log_std = self._gaussian(z)
        noise = torch.randn_like(mean)
        pre = mean + noise * log_std.exp()
        action = torch.tanh(pre)
        # log N(pre; mean, std) minus the log-Jacobian of tanh, summed over action dimensions
        log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - (2.0 * (math.log(2.0) - pre - nn.functional.softplus(-2.0 * pre))).sum(-1)
        return action, log_prob

    @torch.no_grad()
    def update_scale(self, q: torch.Tensor) -> None:
        """Track the spread of Q (5-95 percentile range of ``q``, any shape) by EMA."""
        flat = q.detach().float().reshape(-1)
        spread = (torch.quantile(flat, 0.95) - torch.quantile(flat, 0.05)).clamp_min(1e-6)
        if not bool(self.q_scale_set):
            self.q_scale.copy_(spread)
            self.q_scale_set.fill_(True)
        else:
            self.q_scale.lerp_(spread, self.config.scale_tau)
