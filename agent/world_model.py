"""Self-supervised latent world model: JEPA prediction with VICReg regularisation.

One method per head, batched over leading dimensions, in the spirit of TD-MPC2
(``tdmpc2/common/world_model.py``):

- ``encode(obs (B, O)) -> z (B, Z)`` — normalises observations inside;
- ``next(z (B, Z), a (B, A)) -> z' (B, Z)`` — residual MLP;
- ``cost(z, a) -> (B,)`` — expected per-step cost of a *non-fall* transition;
- ``fall_prob(z, a) -> (B,)`` — probability that the transition is a fall (the env's
  ``info["fell"]``; a termination that is not a fall, e.g. reaching a goal, is not one);
- ``end_prob(z, a) -> (B,)`` — opt-in (``termination_head``): probability that the transition
  ends the episode *without* a fall (a goal reached), so that imagination stops there too.

Training (see :class:`agent.train.Trainer`): the online encoder encodes ``obs_0``, the
predictor rolls out ``H`` steps with the true actions, and each prediction is regressed
onto an EMA target encoder's (stop-gradient) encoding of the true next observation
(JEPA, Assran et al. 2023; LeCun 2022). VICReg variance and covariance terms (Bardes et
al. 2022) on the encodings and predictions keep the latent from collapsing. No decoder.

The planner's objective combines the heads as
``J = sum_t gamma^t alive_t [(1 - p_t) cost_t + p_t fall_cost] + gamma^H alive_H V(z_H)``
with ``alive_{t+1} = alive_t (1 - p_t)``; ``fall_cost`` is a buffer estimated from data.
Without a termination head the model does not know that reaching a goal ends the episode: a
rollout that arrives keeps collecting the goal's one-off reward at every later step (README
measures how far that puts the objective off near a goal), which makes any plan that gets
near the goal, however risky, look better than it is. With
``termination_head`` the objective also multiplies ``alive`` by ``1 - end_prob`` (the
termination head of TD-MPC2's episodic tasks, there predicting any termination).

Epistemic uncertainty (opt-in; the defaults build exactly the single-head model above):

- ``fall_members = K >= 2`` makes the fall head an ensemble of K heads
  (:class:`agent.layers.Ensemble`, one batched op) from different initialisations, trained
  on the same batches (each window optionally reweighted per member, ``member_bootstrap``).
  ``fall_logits(z, a) -> (..., K)`` gives the members' logits; ``fall_logit``/``fall_prob``
  their mean. Where the members have seen falls they agree; on edges none has seen they
  may not, and the objective can be pessimistic there (``AgentConfig.fall_pessimism``,
  :func:`agent.objective.pessimistic_fall_prob`).
- ``dynamics_members = K >= 2`` adds K one-step latent predictors beside the dynamics:
  ``next_members(z, a) -> (..., K, Z)``, each regressed on the EMA target encoding of the
  true next observation from the detached latents the planner queries. Their disagreement
  ``novelty(z, a)`` (variance over members, mean over latent dimensions) is large on
  (state, action) pairs unlike the data and is the exploration bonus of the objective
  (``AgentConfig.novelty_coef``; Plan2Explore, Sekar et al. 2020). They do not shape the
  latent and the planner's rollouts still use ``next``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agent.layers import Ensemble, mlp

__all__ = ["WorldModelConfig", "WorldModel", "MEMBER_SETTINGS", "NEUTRAL_SETTINGS", "latent_prediction_error", "symlog", "symexp"]


@dataclass
class WorldModelConfig:
    """Architecture and training hyper-parameters of the world model."""

    latent_dim: int = 32
    """Size Z of the latent state."""
    hidden_dim: int = 128
    """Width of every hidden layer (small enough for fast planning on one CPU thread)."""
    num_hidden: int = 2
    """Hidden layers per network (encoder, dynamics, heads)."""
    horizon: int = 5
    """Length of the training windows: latent rollout steps per sampled window. Independent of
    the planning horizon (the agent's planner setting); longer windows train multi-step
    prediction at a proportional cost per update."""
    rho: float = 0.9
    """Per-step weight rho^t of the prediction, cost and fall losses along the rollout."""
    latent_coef: float = 1.0
    """Weight of the JEPA latent prediction loss."""
    vicreg_var_coef: float = 1.0
    """Weight of the VICReg variance hinge (per-dimension std >= 1)."""
    vicreg_cov_coef: float = 0.01
    """Weight of the VICReg covariance term (decorrelated latent dimensions; larger hurts prediction)."""
    cost_coef: float = 1.0
    """Weight of the cost-head regression in symlog(cost / cost_scale) units (non-fall transitions)."""
    fall_coef: float = 1.0
    """Weight of the fall-head binary cross-entropy."""
    fall_pos_weight: float = 1.0
    """BCE weight of fall transitions; 1 keeps probabilities calibrated for the planner."""
    ema_tau: float = 0.01
    """Step size of the EMA target encoder update."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 10.0
    """Gradient-norm clip of each update."""
    fall_members: int = 1
    """Fall-head ensemble size K: 1, a single head; K >= 2, K heads from different
    initialisations whose disagreement the planner can be pessimistic about
    (``AgentConfig.fall_pessimism``). Checkpoints with K >= 2 are format 4."""
    dynamics_members: int = 0
    """One-step latent predictors whose disagreement is the novelty the planner can be curious
    about while training (``AgentConfig.novelty_coef``): 0, none; else K >= 2. Format 4."""
    member_hidden_dim: int | None = None
    """Width of the members' hidden layers (both ensembles); None: ``hidden_dim``, each fall member as
    wide as the single head. All K run on every step the planner imagines, so narrower members plan
    faster, but in README's measurement members of 64 generalised to unseen falls worse than one
    head of 128."""
    member_bootstrap: bool = False
    """Weight each training window by an independent Poisson(1) draw per member (the online
    bootstrap), so members of both ensembles see different resamples of the data, not only
    different initialisations."""
    termination_head: bool = False
    """A head for terminations that are not falls (``terminated`` and not ``fell``: a goal
    reached), trained with binary cross-entropy weighted by ``fall_coef``; the planner's
    objective then ends imagined episodes there (module docstring). Checkpoints with it are
    format 7."""

    def __post_init__(self):
        if self.fall_members < 1 or self.dynamics_members < 0 or self.dynamics_members == 1:
            raise ValueError(
                f"need fall_members >= 1 (1: a single head) and dynamics_members 0 (none) or >= 2 (an "
                f"ensemble has to be able to disagree), got {self.fall_members} and {self.dynamics_members}"
            )

    @property
    def has_members(self) -> bool:
        """Whether the model holds an ensemble (its checkpoints need format 4)."""
        return self.fall_members > 1 or self.dynamics_members > 0


MEMBER_SETTINGS = ("fall_members", "dynamics_members", "member_hidden_dim", "member_bootstrap")
"""The ensemble settings of :class:`WorldModelConfig`; without members they do nothing."""
NEUTRAL_SETTINGS = {("world_model", name): getattr(WorldModelConfig, name) for name in (*MEMBER_SETTINGS, "termination_head")}
"""The settings above added after runs were recorded, at the values that reproduce those runs
(see ``agent.loop.NEUTRAL_SETTINGS``, which takes them in)."""


def symlog(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) log(1 + |x|)``: compresses large magnitudes, ~identity near 0."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`symlog`; smooth (slope 1 at 0)."""
    return torch.sign(x) * torch.expm1(x.abs())


class WorldModel(nn.Module):
    """Encoder, latent dynamics, cost head and fall head; see the module docstring."""

    def __init__(self, obs_dim: int, action_dim: int, config: WorldModelConfig | None = None):
        super().__init__()
        config = config or WorldModelConfig()
        self.obs_dim, self.action_dim, self.config = int(obs_dim), int(action_dim), config
        z, h, n = config.latent_dim, config.hidden_dim, config.num_hidden
        self.encoder = mlp(obs_dim, h, z, n)
        self.dynamics = mlp(z + action_dim, h, z, n, zero_last=True)
        self.cost_head = mlp(z + action_dim, h, 1, n, zero_last=True)
        self.fall_members = config.fall_members
        member_h = config.member_hidden_dim or h
        if self.fall_members == 1:
            self.fall_head = mlp(z + action_dim, h, 1, n)
            last_weight, last_bias = self.fall_head[-1].weight, self.fall_head[-1].bias
        else:
            self.fall_head = Ensemble(self.fall_members, z + action_dim, member_h, 1, n)
            last_weight, last_bias = self.fall_head.weights[-1], self.fall_head.biases[-1]
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        # Fall transitions start unlikely (sigmoid(-5) ~ 0.007) rather than at 0.5.
        nn.init.constant_(last_bias, -5.0)
        nn.init.zeros_(last_weight)
        if config.termination_head:
            self.end_head = mlp(z + action_dim, h, 1, n)
            nn.init.constant_(self.end_head[-1].bias, -5.0)  # episodes start far from their end
            nn.init.zeros_(self.end_head[-1].weight)
        if config.dynamics_members:
            self.dynamics_ensemble = Ensemble(config.dynamics_members, z + action_dim, member_h, z, n)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        self.register_buffer("fall_cost", torch.zeros(()))
        # Cost head works in symlog(cost / cost_scale): rare large costs (a goal bonus) must not
        # drown the small per-step progress costs the planner steers by.
        self.register_buffer("cost_scale", torch.ones(()))
        self.register_buffer("normalizer_set", torch.zeros((), dtype=torch.bool))

    @property
    def normalizer_ready(self) -> bool:
        """Whether :meth:`set_normalizer` has been called (saved in the state dict)."""
        return bool(self.normalizer_set)

    # ------------------------------------------------------------------ statistics
    def set_normalizer(self, obs: np.ndarray | torch.Tensor) -> None:
        """Set ``obs_mean``/``obs_std`` from observations ``(N, O)`` (std floored at 1e-3)."""
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32).reshape(-1, self.obs_dim)
        if obs.shape[0] == 0 or not torch.isfinite(obs).all():
            raise ValueError("set_normalizer needs a non-empty, finite (N, O) observation array")
        self.obs_mean.copy_(obs.mean(0))
        self.obs_std.copy_(obs.std(0, unbiased=False).clamp_min(1e-3))
        self.normalizer_set.fill_(True)

    def set_fall_cost(self, cost: np.ndarray, fell: np.ndarray) -> None:
        """From per-transition ``cost (N,)`` and ``fell (N,)``: ``fall_cost`` = mean cost of falls
        (0 when there are none) and ``cost_scale`` = mean |cost| of the other transitions."""
        cost, fell = np.asarray(cost, np.float64), np.asarray(fell, bool)
        self.fall_cost.fill_(float(cost[fell].mean()) if fell.any() else 0.0)
        rest = np.abs(cost[~fell])
        self.cost_scale.fill_(max(float(rest.mean()), 1e-6) if rest.size else 1.0)

    # ------------------------------------------------------------------ heads
    def _normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Online encoder: ``obs (..., O) -> z (..., Z)``."""
        return self.encoder(self._normalize(obs))

    @torch.no_grad()
    def encode_target(self, obs: torch.Tensor) -> torch.Tensor:
        """EMA target encoder (no gradient): ``obs (..., O) -> z (..., Z)``."""
        return self.target_encoder(self._normalize(obs))

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Latent dynamics ``z (..., Z), a (..., A) in [-1, 1] -> z' (..., Z)`` (residual)."""
        return z + self.dynamics(torch.cat([z, a], dim=-1))

    def cost_symlog(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Raw cost-head output, ``symlog(cost / cost_scale)``: ``(..., Z), (..., A) -> (...)``."""
        return self.cost_head(torch.cat([z, a], dim=-1)).squeeze(-1)

    def cost(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Expected cost of a non-fall transition: ``(..., Z), (..., A) -> (...)``."""
        return symexp(self.cost_symlog(z, a)) * self.cost_scale

    def fall_logits(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Every fall-head member's logit: ``(..., Z), (..., A) -> (..., K)`` (K = ``fall_members``)."""
        out = self.fall_head(torch.cat([z, a], dim=-1))  # (..., 1) or (..., K, 1)
        return out if self.fall_members == 1 else out.squeeze(-1)

    def fall_logit(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Logit of the fall probability (the members' mean): ``(..., Z), (..., A) -> (...)``."""
        if self.fall_members == 1:
            return self.fall_head(torch.cat([z, a], dim=-1)).squeeze(-1)
        return self.fall_logits(z, a).mean(-1)

    def fall_prob(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Probability that the transition is a fall: ``(..., Z), (..., A) -> (...)``."""
        return torch.sigmoid(self.fall_logit(z, a))

    @property
    def has_termination(self) -> bool:
        """Whether the model predicts terminations that are not falls (``end_prob``)."""
        return bool(self.config.termination_head)

    def end_logit(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Logit of ``end_prob``: ``(..., Z), (..., A) -> (...)`` (needs ``termination_head``)."""
        if not self.config.termination_head:
            raise ValueError("this world model has no termination head; build it with "
                             "WorldModelConfig(termination_head=True)")
        return self.end_head(torch.cat([z, a], dim=-1)).squeeze(-1)

    def end_prob(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Probability that the transition ends the episode without a fall (a goal reached)."""
        return torch.sigmoid(self.end_logit(z, a))

    def next_members(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The novelty members' next latents: ``(..., Z), (..., A) -> (..., K, Z)`` (needs ``dynamics_members``)."""
        if not self.config.dynamics_members:
            raise ValueError("this world model has no dynamics members; build it with "
                             "WorldModelConfig(dynamics_members=K), K >= 2")
        return z.unsqueeze(-2) + self.dynamics_ensemble(torch.cat([z, a], dim=-1))

    def novelty(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Disagreement of the dynamics members, variance over members averaged over latent
        dimensions (latent units squared): ``(..., Z), (..., A) -> (...)``."""
        delta = self.dynamics_ensemble(torch.cat([z, a], dim=-1))  # (..., K, Z); z itself adds no variance
        # Spelled out: torch's var over a middle dimension is several times slower on a CPU.
        return (delta - delta.mean(-2, keepdim=True)).pow(2).mean((-2, -1))

    def rollout(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Imagined latents ``z (B, Z), actions (B, H, A) -> (B, H+1, Z)`` (index 0 is ``z``)."""
        latents = [z]
        for t in range(actions.shape[1]):
            latents.append(self.next(latents[-1], actions[:, t]))
        return torch.stack(latents, dim=1)


@torch.no_grad()
def latent_prediction_error(world_model: WorldModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Relative multi-step latent error per horizon, ``(H,)``.

    Rolls the predictor from ``encode(obs_0)`` with the true actions and compares step ``h``
    with the target encoder's encoding of ``obs_h``: ``mean ||z_h - zbar_h||^2 /
    sum_d Var(zbar_h)``, over windows whose step ``h`` is real (``mask``). 0 is perfect; a
    predictor that outputs the mean target latent scores 1.
    """
    obs, action, mask = batch["obs"], batch["action"], batch["mask"]  # (B,H+1,O) (B,H,A) (B,H)
    predicted = world_model.rollout(world_model.encode(obs[:, 0]), action)[:, 1:]  # (B, H, Z)
    target = world_model.encode_target(obs[:, 1:])  # (B, H, Z)
    errors = []
    for h in range(action.shape[1]):
        valid = mask[:, h].bool()
        if valid.sum() < 2:
            errors.append(torch.tensor(float("nan")))
            continue
        sq = (predicted[valid, h] - target[valid, h]).pow(2).sum(-1).mean()
        errors.append(sq / target[valid, h].var(0).sum().clamp_min(1e-12))
    return torch.stack(errors)
