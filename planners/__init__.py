"""Trajectory optimisers over an objective callable: actions (N, H, A) -> costs (N,).

``planners`` knows nothing of environments, latents or networks; any differentiable torch
objective works (a linear-quadratic problem, a physics simulator, a learned model)::

    from planners import make_planner
    planner = make_planner("gradient", horizon=15, action_low=low, action_high=high)
    result = planner.plan(objective, init=previous.actions.roll(-1, 0))
    result.actions  # (H, A), inside [low, high]
"""

from __future__ import annotations

from typing import Any

from planners.base import AllCostsNonFiniteError, Objective, Planner, PlanResult
from planners.gradient import GradientPlanner
from planners.hybrid import HybridPlanner
from planners.sampling import CEMPlanner, MPPIPlanner, SamplingPlanner

PLANNERS: dict[str, type[Planner]] = {
    "gradient": GradientPlanner,
    "cem": CEMPlanner,
    "mppi": MPPIPlanner,
    "hybrid": HybridPlanner,
}


def make_planner(name: str, *, horizon: int, action_low: Any, action_high: Any, **kwargs: Any) -> Planner:
    """Build a planner by name (a key of ``PLANNERS``); keyword arguments go to its constructor."""
    try:
        cls = PLANNERS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown planner {name!r}; choose one of {sorted(PLANNERS)}") from None
    return cls(horizon, action_low, action_high, **kwargs)


__all__ = [
    "PLANNERS",
    "AllCostsNonFiniteError",
    "CEMPlanner",
    "GradientPlanner",
    "HybridPlanner",
    "MPPIPlanner",
    "Objective",
    "PlanResult",
    "Planner",
    "SamplingPlanner",
    "make_planner",
]
