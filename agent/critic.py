"""Critic: an ensemble of Q heads on the world model's latent state, and (by default) state-value heads.

``q(z, a)`` predicts the discounted cost still to come after taking ``a`` in ``z``,
``E[c_t + sum_{k>=1} gamma^k c_{t+k}]``, zero after termination (a fall ends the sum: its own
cost, the env's penalty, is the last term). Lower is better. Inputs are latents detached from
the world model: the critic does not shape the latent. What the values after ``z_{t+1}`` stand
for is ``CriticConfig.target``:

``target = "expectile"`` (the default) learns *in-sample* (implicit Q-learning, Kostrikov, Nair
and Levine, 2022): a state-value ensemble ``V(z)`` is regressed on a low expectile of the target
heads' values (``Qbar``, a Polyak-averaged copy of the Q heads) at the actions the data actually took,

    L_V = |tau - 1(Qbar(z, a) - V(z) > 0)| (Qbar(z, a) - V(z))^2,   tau = ``expectile``,

so with ``tau > 0.5`` ``V`` leans to the cheaper of the actions seen from ``z`` — the value of
the best behaviour the data shows, never of an action it does not — and the Q targets are
``c_t + gamma (1 - terminated_t) V(zbar_{t+1})``, ``V`` averaged over its heads at the EMA
target encoder's latent ``zbar`` of the real next observation. No action outside the data is
ever evaluated, so a critic trained longer cannot talk itself out of a danger the data showed.
The planner's terminal value is ``pessimistic_value(z)`` = mean + ``pessimism`` x std over the V
heads; the policy prior minimises Q and warm-starts the planner. Why this is the default:
bootstrapped through the policy, the critic can price a detour above standing still, and the
agent stalls; in-sample its values stay those of behaviour the data showed (README has the
measurement).

``target = "policy"`` regresses every Q head on one-step TD targets bootstrapped through the
policy prior's action (TD-MPC2's critic),

    y_t = c_t + gamma (1 - terminated_t) max_{2 random heads} Qbar(zbar_{t+1}, pi(zbar_{t+1})),

so the targets follow the agent's improving behaviour rather than the data's. Taking the
larger (more costly) of two random heads counters the optimism of bootstrapping from a
minimum (TD-MPC2 takes the minimum of two random Q heads over rewards; Fujimoto et al., 2018).
The planner's terminal value is then ``pessimistic(z, pi(z))``. It was the default until
2026-12-03: the shipped checkpoints and every result measured before then without
``--critic.target expectile`` have it (their files and records say so).

``CriticConfig.risk_coef = lambda > 0`` adds a *fall-risk critic* (a safety critic, as in Recovery
RL, Thananjeyan et al., 2021): ``R(z)``, the discounted probability that the data's own behaviour
falls from ``z``, learnt by TD on the real fall labels,

    R(z_t) <- fell_t + (1 - fell_t) (1 - terminated_t) gamma R(z_{t+1}),

with the data's next state and never a policy's action, so training longer does not make it
forget a danger the data showed (README: the policy-bootstrapped critic's caution fades as it
trains, and with it the agent's safety). The planner's terminal value adds
``lambda * fall_cost * R(z_H)``: a plan that ends where the data fell soon after costs more.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from agent.layers import Ensemble

__all__ = ["CriticConfig", "Critic", "CHANGED_DEFAULTS", "discount_for_episode_length", "expectile_loss"]

CRITIC_TARGETS = ("policy", "expectile")
NEUTRAL_SETTINGS = {("critic", "target"): "policy", ("critic", "expectile"): 0.7, ("critic", "risk_coef"): 0.0}
"""Settings added after runs were recorded, at the values that reproduce them (see
``agent.loop.NEUTRAL_SETTINGS``, which takes them in). A record or checkpoint that lacks one
was made with this value — not necessarily today's default (``target`` became "expectile" on
2026-12-03)."""
CHANGED_DEFAULTS = {("critic", "target"): "expectile"}
"""Settings whose default is no longer their neutral value: a default run's fingerprint records
them, so its files are never mistaken for a run made before the change."""


def discount_for_episode_length(max_episode_steps: int | None, default: float = 0.99) -> float:
    """A discount whose horizon matches the episode: ``1 - 5 / T`` clipped to [0.95, 0.995].

    Short episodes need a short effective horizon for TD to propagate costs quickly; long
    ones a long one (TD-MPC2 sets its discount the same way). ``None``: ``default``.
    """
    if not max_episode_steps:
        return default
    return float(min(max(1.0 - 5.0 / max_episode_steps, 0.95), 0.995))


@dataclass
class CriticConfig:
    """Hyper-parameters of the Q critic."""

    num_heads: int = 2
    """Ensemble size K (>= 2): TD targets use the larger of two random heads (with K = 2, both),
    planning their spread. Larger K costs proportionally more per update."""
    hidden_dim: int = 128
    """Width of each head's hidden layers."""
    num_hidden: int = 2
    """Hidden layers per head."""
    gamma: float | None = None
    """Discount of the cost-to-go (the planner uses the same). None: set from the env's
    episode length by :func:`discount_for_episode_length` when the agent is built."""
    tau: float = 0.01
    """Polyak step of the target network."""
    lr: float = 1e-3
    """Adam learning rate."""
    pessimism: float = 0.5
    """kappa in mean + kappa * std over heads, the terminal value of planning."""
    imagined_coef: float = 0.5
    """Weight of the loss on imagined (predicted) latents, the inputs the planner queries,
    relative to encoded ones."""
    grad_clip: float = 10.0
    """Gradient-norm clip of each update."""
    target: str = "expectile"
    """What the TD targets bootstrap through: "expectile" (in-sample: a state value fitted to an
    expectile of Q at the data's actions, implicit Q-learning) or "policy" (Q at the policy
    prior's action, as TD-MPC2); see the module docstring."""
    expectile: float = 0.7
    """tau of the "expectile" target, in [0.5, 1): 0.5 is the data's own (SARSA) value, towards
    1 the best action the data shows."""
    risk_coef: float = 0.0
    """lambda >= 0: weight of the fall-risk critic in the terminal value, in units of the fall
    cost (0: no risk critic; see the module docstring)."""

    def __post_init__(self):
        if self.risk_coef < 0:
            raise ValueError(f"CriticConfig.risk_coef must be >= 0, got {self.risk_coef}")
        if self.target not in CRITIC_TARGETS:
            raise ValueError(f"CriticConfig.target must be one of {CRITIC_TARGETS}, got {self.target!r}")
        if not 0.5 <= self.expectile < 1.0:
            raise ValueError(f"CriticConfig.expectile must be in [0.5, 1), got {self.expectile}")
        if self.num_heads < 2:
            raise ValueError(f"CriticConfig.num_heads must be >= 2 for a pessimistic ensemble, got {self.num_heads}")
        if self.gamma is not None and not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"need 0 < gamma <= 1 (or None: from the episode length), got gamma={self.gamma}")


class Critic(nn.Module):
    """Ensemble of ``K`` Q heads with a target copy (and ``K`` V heads in-sample); see the module docstring."""

    def __init__(self, latent_dim: int, action_dim: int, config: CriticConfig | None = None):
        super().__init__()
        config = config or CriticConfig()
        self.latent_dim, self.action_dim, self.config = int(latent_dim), int(action_dim), config
        in_dim = latent_dim + action_dim
        self.heads = Ensemble(config.num_heads, in_dim, config.hidden_dim, 1, config.num_hidden)
        self.target_heads = copy.deepcopy(self.heads).requires_grad_(False)
        self.value_heads = (
            Ensemble(config.num_heads, latent_dim, config.hidden_dim, 1, config.num_hidden)
            if config.target == "expectile" else None
        )
        self.risk_heads = (
            Ensemble(config.num_heads, latent_dim, config.hidden_dim, 1, config.num_hidden)
            if config.risk_coef > 0 else None
        )
        # Values are learnt in units of value_scale (set from data) so that losses are O(1).
        self.register_buffer("value_scale", torch.ones(()))

    @property
    def gamma(self) -> float:
        """The discount (``config.gamma``; 0.99 if it was never resolved)."""
        return float(self.config.gamma) if self.config.gamma is not None else 0.99

    def set_value_scale(self, scale: float) -> None:
        """Set the output unit (e.g. the typical magnitude of discounted returns)."""
        self.value_scale.fill_(max(float(scale), 1e-6))

    def q(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Discounted cost-to-go of each head: ``z (..., Z), a (..., A) -> (..., K)``."""
        return self.heads(torch.cat([z, a], dim=-1)).squeeze(-1) * self.value_scale

    @torch.no_grad()
    def target_q(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """TD bootstrap: the larger of two randomly chosen target heads, ``(..., Z), (..., A) -> (...)``."""
        values = self.target_heads(torch.cat([z, a], dim=-1)).squeeze(-1)  # (..., K)
        pick = torch.randperm(values.shape[-1], device=values.device)[:2]
        return values[..., pick].amax(-1) * self.value_scale

    @property
    def in_sample(self) -> bool:
        """True when values are learnt in-sample (``target="expectile"``): V(z) is the terminal value."""
        return self.value_heads is not None

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """State value of each V head (in-sample critics only): ``(..., Z) -> (..., K)``."""
        if self.value_heads is None:
            raise RuntimeError('Critic.value needs CriticConfig.target="expectile"')
        return self.value_heads(z).squeeze(-1) * self.value_scale

    def pessimistic_value(self, z: torch.Tensor) -> torch.Tensor:
        """Mean + kappa std over the V heads: ``(..., Z) -> (...)``."""
        values = self.value(z)
        return values.mean(-1) + self.config.pessimism * values.std(-1, unbiased=False)

    def risk_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of the fall-risk heads (``risk_coef > 0`` only): ``(..., Z) -> (..., K)``."""
        if self.risk_heads is None:
            raise RuntimeError("Critic.risk_logits needs CriticConfig.risk_coef > 0")
        return self.risk_heads(z).squeeze(-1)

    def risk(self, z: torch.Tensor) -> torch.Tensor:
        """Discounted fall probability under the data's behaviour, mean over heads: ``(..., Z) -> (...)``."""
        return torch.sigmoid(self.risk_logits(z)).mean(-1)

    def pessimistic(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Mean + kappa std over heads: ``(..., Z), (..., A) -> (...)`` (higher = more cost)."""
        values = self.q(z, a)
        return values.mean(-1) + self.config.pessimism * values.std(-1, unbiased=False)


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """``|tau - 1(diff > 0)| diff^2`` elementwise, ``diff = target - prediction``.

    With costs, ``tau > 0.5`` weighs targets *below* the prediction more, so the prediction
    settles at a low expectile: the cheaper outcomes among those observed."""
    weight = torch.where(diff > 0, 1.0 - tau, tau)
    return weight * diff.pow(2)
