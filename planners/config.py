"""``PlannerConfig``: which planner an agent uses and how hard it searches, for tyro CLIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from planners.base import ArrayLike, Planner


@dataclass
class PlannerConfig:
    """Planner choice and budget; ``build`` turns it into a planner for a given action box."""

    name: str = "gradient"
    """planner: gradient, cem, mppi or hybrid (the keys of planners.PLANNERS)"""
    preset: Literal["fast", "default"] = "fast"
    """fast: the cheap per-control-step preset (the class's FAST_PRESET); default: the
    constructor defaults, thorough enough for offline problems"""
    num_samples: int | None = None
    """candidates per iteration; None keeps the preset's"""
    iterations: int | None = None
    """maximum iterations per plan call; None keeps the preset's"""
    random_fraction: float | None = None
    """gradient and hybrid planners: fraction of the candidates drawn uniformly in the box as random
    restarts (the rest perturb the warm start); 0 only refines the warm start, which suits a small
    search behind a distilled policy prior; None keeps the planner's (0.5)"""
    seed: int = 0
    """seed of the planner's torch.Generator"""
    horizon: int = 25
    """planning horizon H in steps (a terminal value, if the objective has one, covers the rest)"""
    options: dict[str, Any] = field(default_factory=dict)
    """extra keyword arguments for the planner's constructor (e.g. a learning rate)"""

    def build(self, horizon: int | None, action_low: ArrayLike, action_high: ArrayLike,
              **overrides: Any) -> Planner:
        """The configured planner for actions of shape (H, A) in [low, high]; ``horizon=None``
        takes ``self.horizon``; ``overrides`` win over ``options`` and the preset."""
        from planners import make_planner  # here, not at import time: planners imports us

        budget = {key: value for key, value in (("num_samples", self.num_samples), ("iterations", self.iterations),
                                                ("random_fraction", self.random_fraction)) if value is not None}
        if self.random_fraction is not None and self.name.lower() not in ("gradient", "hybrid"):
            raise ValueError(f"random_fraction is a setting of the gradient and hybrid planners, not of "
                             f"{self.name!r}; leave it unset (None) for {self.name}")
        return make_planner(self.name, horizon=self.horizon if horizon is None else horizon,
                            action_low=action_low, action_high=action_high, preset=self.preset,
                            seed=self.seed, **{**budget, **self.options, **overrides})
