"""``PlannerConfig``: which planner an agent uses and how hard it searches, for tyro CLIs."""

from __future__ import annotations

from dataclasses import dataclass
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
    seed: int = 0
    """seed of the planner's torch.Generator"""

    def build(self, horizon: int, action_low: ArrayLike, action_high: ArrayLike,
              **overrides: Any) -> Planner:
        """The configured planner for actions of shape (horizon, A) in [low, high]."""
        from planners import make_planner  # here, not at import time: planners imports us

        budget = {key: value for key, value in (("num_samples", self.num_samples),
                                                ("iterations", self.iterations)) if value is not None}
        return make_planner(self.name, horizon=horizon, action_low=action_low,
                            action_high=action_high, preset=self.preset, seed=self.seed,
                            **{**budget, **overrides})
