"""Sampling-based planners: the cross-entropy method (CEM) and MPPI. No gradients needed.

Both keep a diagonal Gaussian over action sequences, mean and std of shape (H, A), sample N
sequences per iteration (clipped into the box), evaluate them under ``torch.no_grad`` and
refit the Gaussian: CEM to the mean/std of the best ``elite_fraction`` (with smoothing),
MPPI's mean to the softmax(-cost / temperature)-weighted mean of all samples, with an
annealed std. The current
mean and the best sequence seen so far are always among the candidates, so the returned
cost never gets worse from one iteration to the next.

References: Rubinstein, "The cross-entropy method" (1999); Williams et al., "Information
theoretic MPC for model-based reinforcement learning" (2017); the optional weighted-std
variant of MPPI follows Hansen et al., TD-MPC (2022).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from planners.base import ArrayLike, Objective, Planner, raise_all_non_finite


class SamplingPlanner(Planner):
    """Shared loop of CEM and MPPI; subclasses implement ``refit``.

    Args:
        horizon, action_low, action_high, num_samples, iterations, seed, device, dtype:
            see :class:`planners.base.Planner`.
        init_std: initial sampling std as a fraction of the action half-range.
        min_std: floor of the sampling std (fraction of the half-range), so the search never
            collapses completely.
        momentum: weight of the previous mean/std when refitting (0: replace outright).
    """

    def __init__(
        self,
        horizon: int,
        action_low: ArrayLike,
        action_high: ArrayLike,
        *,
        num_samples: int = 512,
        iterations: int = 6,
        seed: int = 0,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        init_std: float = 0.5,
        min_std: float = 0.01,
        momentum: float = 0.1,
    ) -> None:
        super().__init__(horizon, action_low, action_high, num_samples=num_samples,
                         iterations=iterations, seed=seed, device=device, dtype=dtype)
        if num_samples < 3:
            raise ValueError(f"{type(self).__name__} needs num_samples >= 3, got {num_samples}")
        if not init_std > 0 or not 0 <= min_std <= init_std or not 0 <= momentum < 1:
            raise ValueError(f"need init_std > 0, 0 <= min_std <= init_std, 0 <= momentum < 1; got "
                             f"init_std={init_std}, min_std={min_std}, momentum={momentum}")
        self.init_std = float(init_std)
        self.min_std = float(min_std)
        self.momentum = float(momentum)

    def refit(self, samples: Tensor, costs: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        """New (mean, std), each (H, A), from samples (N, H, A) and finite-or-inf costs (N,)."""
        raise NotImplementedError

    @torch.no_grad()
    def _search(self, objective: Objective, init: Tensor | None) -> tuple[Tensor, float, int, int]:
        shape = (self.horizon, self.action_dim)
        mean = (self.action_mid.expand(shape) if init is None else init).clone()  # (H, A)
        std = (self.init_std * self.action_half_range).expand(shape).clone()  # (H, A)
        min_std = self.min_std * self.action_half_range  # (A,)
        n = self.num_samples
        best_actions = mean.clone()
        best_cost = math.inf
        evaluations = 0
        for _ in range(self.iterations):
            samples = mean + std * self.randn(n)  # (N, H, A)
            samples[0] = mean
            samples[1] = best_actions
            samples = self.clip(samples)
            costs = self.evaluate(objective, samples).detach()
            evaluations += n
            costs = torch.where(torch.isfinite(costs), costs, torch.full_like(costs, math.inf))
            index = int(torch.argmin(costs))
            cost = float(costs[index])
            if cost < best_cost:
                best_cost = cost
                best_actions = samples[index].clone()
            if not math.isfinite(cost):
                continue  # nothing finite this round: keep the Gaussian, draw again
            new_mean, new_std = self.refit(samples, costs, mean, std)
            mean = self.momentum * mean + (1 - self.momentum) * new_mean
            std = torch.maximum(self.momentum * std + (1 - self.momentum) * new_std, min_std)
        if not math.isfinite(best_cost):
            raise_all_non_finite(self, evaluations)
        return best_actions, best_cost, self.iterations, evaluations


class CEMPlanner(SamplingPlanner):
    """Cross-entropy method: refit the Gaussian to the best ``elite_fraction`` of samples.

    Args:
        elite_fraction: fraction of the N samples kept as elites each iteration
            (at least 2 elites).
        (others: see :class:`SamplingPlanner`; defaults are CEM 512 samples x 6 iterations.)
    """

    name = "cem"

    def __init__(self, horizon: int, action_low: ArrayLike, action_high: ArrayLike, *,
                 elite_fraction: float = 0.1, **kwargs) -> None:
        super().__init__(horizon, action_low, action_high, **kwargs)
        if not 0 < elite_fraction <= 1:
            raise ValueError(f"elite_fraction must lie in (0, 1], got {elite_fraction}")
        self.elite_fraction = float(elite_fraction)
        self.num_elites = max(2, round(elite_fraction * self.num_samples))

    def refit(self, samples: Tensor, costs: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        finite_count = int(torch.isfinite(costs).sum())
        k = min(self.num_elites, finite_count)
        if k < 2:
            return samples[int(torch.argmin(costs))], std
        elite_index = torch.topk(costs, k, largest=False, sorted=False).indices  # (K,)
        elites = samples[elite_index]  # (K, H, A)
        return elites.mean(dim=0), elites.std(dim=0)


class MPPIPlanner(SamplingPlanner):
    """MPPI: move the mean to the softmax-weighted mean of all samples.

    Weights are ``softmax(-(cost - min cost) / (temperature * scale))`` where ``scale`` is
    the std of the finite costs in the batch, so ``temperature`` is unit-free and the same
    default works for costs of any magnitude. As in classic MPPI the sampling std is not
    refitted to the samples but annealed by ``std_decay`` per iteration: refitting it
    (``adapt_std=True``, TD-MPC's variant) collapses the search too early on the pendulum
    swing-up, while a fixed std never settles on LQR.

    Args:
        temperature: softness of the weighting, relative to the cost spread (smaller: greedier).
        adapt_std: refit the std to the weighted spread of the samples instead of annealing.
        std_decay: per-iteration factor on the std when ``adapt_std`` is off (1.0: fixed).
        (others: see :class:`SamplingPlanner`.)
    """

    name = "mppi"

    def __init__(self, horizon: int, action_low: ArrayLike, action_high: ArrayLike, *,
                 temperature: float = 0.1, adapt_std: bool = False, std_decay: float = 0.9,
                 **kwargs) -> None:
        super().__init__(horizon, action_low, action_high, **kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 < std_decay <= 1:
            raise ValueError(f"std_decay must lie in (0, 1], got {std_decay}")
        self.temperature = float(temperature)
        self.adapt_std = bool(adapt_std)
        self.std_decay = float(std_decay)

    def refit(self, samples: Tensor, costs: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
        finite = torch.isfinite(costs)
        finite_costs = costs[finite]
        scale = finite_costs.std() if finite_costs.numel() > 1 else finite_costs.new_tensor(1.0)
        scale = torch.clamp(scale, min=1e-12 * (1.0 + float(finite_costs.abs().max())))
        logits = -(costs - finite_costs.min()) / (self.temperature * scale)  # (N,), -inf for NaN
        weights = torch.softmax(logits, dim=0)[:, None, None]  # (N, 1, 1)
        weights = torch.where(finite[:, None, None], weights, torch.zeros_like(weights))
        safe = torch.where(finite[:, None, None], samples, mean)  # avoid 0 * inf in the sums
        new_mean = (weights * safe).sum(dim=0)
        if self.adapt_std:
            new_std = torch.sqrt((weights * (safe - new_mean) ** 2).sum(dim=0))
        else:
            new_std = std * self.std_decay
        return new_mean, new_std
