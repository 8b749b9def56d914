"""Hybrid planner: a sampling round finds promising basins, projected Adam refines them.

One no-grad batch of ``sample_size`` sequences (the warm start, perturbations of it and
uniform restarts) is evaluated, its best ``num_samples`` become the starting candidates of
:class:`GradientPlanner`'s optimiser. Forward-only evaluations are several times cheaper
than forward+backward ones, so the broad search is done without gradients and the
expensive gradient steps are spent only on the best candidates.

Reference: Huang et al., "CEM-GD: Cross-Entropy Method with Gradient Descent Planner for
Model-Based Reinforcement Learning" (2021); Bharadhwaj et al., "Model-Predictive Control via
Cross-Entropy and Gradient-Based Optimization" (GradCEM, 2020).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from planners.base import ArrayLike, Objective, raise_all_non_finite
from planners.gradient import GradientPlanner


class HybridPlanner(GradientPlanner):
    """Sample ``sample_size`` sequences once, then refine the best ``num_samples`` by Adam.

    Args:
        sample_size: sequences evaluated (without gradients) in the seeding round.
        (all others: see :class:`GradientPlanner`; ``num_samples`` is the number of
        candidates refined by gradient steps and ``iterations`` caps those steps;
        ``warm_lr_factor`` is not used, as the refined candidates are the best samples
        wherever they came from.)
    """

    name = "hybrid"
    FAST_PRESET: ClassVar[dict[str, Any]] = {**GradientPlanner.FAST_PRESET, "num_samples": 8, "sample_size": 64}

    def __init__(self, horizon: int, action_low: ArrayLike, action_high: ArrayLike, *,
                 sample_size: int = 256, **kwargs: Any) -> None:
        super().__init__(horizon, action_low, action_high, **kwargs)
        if sample_size < self.num_samples:
            raise ValueError(f"sample_size ({sample_size}) must be >= num_samples ({self.num_samples}), "
                             "the number of sampled sequences handed to the gradient refinement")
        self.sample_size = int(sample_size)

    def _search(self, objective: Objective, init: Tensor | None) -> tuple[Tensor, float, int, int]:
        samples = self.initial_candidates(init, self.sample_size)  # (S, H, A)
        with torch.no_grad():
            costs = self.evaluate(objective, samples).detach()
        costs = torch.where(torch.isfinite(costs), costs, torch.full_like(costs, math.inf))
        order = torch.argsort(costs)[: self.num_samples]  # (N,) best first
        seed_cost = float(costs[order[0]])
        seed_actions = samples[order[0]].clone()
        actions, cost, iterations, evaluations = self.optimise(objective, samples[order], self.iterations)
        evaluations += self.sample_size
        if seed_cost < cost:  # the refinement never made the best sample worse, but be exact
            actions, cost = seed_actions, seed_cost
        if not math.isfinite(cost):
            raise_all_non_finite(self, evaluations)
        return actions, cost, iterations, evaluations
