"""Trajectory optimisers over an objective callable: actions (N, H, A) -> costs (N,).

``planners`` knows nothing of environments, latents or networks; any differentiable torch
objective works (a linear-quadratic problem, a physics simulator, a learned model)::

    from planners import make_planner
    planner = make_planner("gradient", horizon=15, action_low=low, action_high=high)
    result = planner.plan(objective, init=shift(previous.actions))  # warm start
    result.actions  # (H, A), inside [low, high]

Planners: ``GradientPlanner`` (projected Adam, the default), ``CEMPlanner``, ``MPPIPlanner``
and ``HybridPlanner`` (one sampling round, then Adam). Their default constructors adapt step
sizes and sampling spreads to the problem, with the action box only as the cap, so they need
no tuning to the actions' scale. ``make_planner(..., preset="fast")`` or ``PlannerConfig``
give the cheap per-control-step setting, meant for a box matched to the actions.
"""

from __future__ import annotations

from typing import Any

from planners.base import AllCostsNonFiniteError, Objective, Planner, PlanResult, shift
from planners.config import PlannerConfig
from planners.gradient import GradientPlanner
from planners.hybrid import HybridPlanner
from planners.sampling import CEMPlanner, MPPIPlanner, SamplingPlanner

PLANNERS: dict[str, type[Planner]] = {
    "gradient": GradientPlanner,
    "cem": CEMPlanner,
    "mppi": MPPIPlanner,
    "hybrid": HybridPlanner,
}


def make_planner(name: str, *, horizon: int, action_low: Any, action_high: Any,
                 preset: str = "default", **kwargs: Any) -> Planner:
    """Build a planner by name (a key of ``PLANNERS``).

    ``preset="fast"`` starts from the class's ``FAST_PRESET`` (the cheap per-control-step
    setting), ``"default"`` from the constructor defaults; ``kwargs`` override either.
    """
    try:
        cls = PLANNERS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown planner {name!r}; choose one of {sorted(PLANNERS)}") from None
    if preset not in ("default", "fast"):
        raise ValueError(f"unknown preset {preset!r}; choose 'default' or 'fast'")
    base = dict(cls.FAST_PRESET) if preset == "fast" else {}
    return cls(horizon, action_low, action_high, **{**base, **kwargs})


__all__ = [
    "PLANNERS",
    "AllCostsNonFiniteError",
    "CEMPlanner",
    "GradientPlanner",
    "HybridPlanner",
    "MPPIPlanner",
    "Objective",
    "PlanResult",
    "PlannerConfig",
    "Planner",
    "SamplingPlanner",
    "make_planner",
    "shift",
]
