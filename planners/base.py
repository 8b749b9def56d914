"""Shared machinery for every planner: input checks, bounds, seeding and safe evaluation.

A planner minimises an *objective* over open-loop action sequences::

    objective: Callable[[Tensor], Tensor]    # actions (N, H, A) -> cost (N,), lower is better

and knows nothing else about the problem. Subclasses implement ``_search``; ``plan``
validates the warm start, runs the search and packs a :class:`PlanResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

Objective = Callable[[Tensor], Tensor]  # actions (N, H, A) -> total cost (N,)

ArrayLike = Tensor | Sequence[float] | float
PlannerT = TypeVar("PlannerT", bound="Planner")


@dataclass
class PlanResult:
    """What ``plan`` returns: the best sequence found and what it cost to find it."""

    actions: Tensor  # (H, A) detached, on the planner's device, inside [low, high], finite
    cost: float  # objective(actions[None]) as evaluated during the search
    iterations: int  # optimisation iterations actually run (early stopping may cut them)
    evaluations: int  # candidate sequences evaluated in total (sum of N over objective calls)


class AllCostsNonFiniteError(RuntimeError):
    """Raised by ``plan`` when the objective returned NaN/inf for every candidate."""


def _as_bound(value: ArrayLike, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    try:
        bound = torch.as_tensor(value, dtype=dtype, device=device).detach().clone()
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"{name} must be array-like of shape (A,) (a tensor, numpy array or list of floats); "
            f"got {type(value).__name__}: {error}"
        ) from error
    if bound.ndim == 0:
        bound = bound.reshape(1)
    if bound.ndim != 1 or bound.numel() == 0:
        raise ValueError(
            f"{name} must have shape (A,) with A >= 1 (one bound per action dimension); "
            f"got shape {tuple(bound.shape)}. Pass e.g. env.action_space.{name.split('_')[-1]}."
        )
    if not torch.isfinite(bound).all():
        raise ValueError(
            f"{name} must be finite, got {bound.tolist()}; planners sample inside the box, "
            "so replace infinite bounds with the range you actually want searched."
        )
    return bound


class Planner:
    """Base class: the constructor core and ``plan`` call shared by all planners.

    Args:
        horizon: H, number of actions in a planned sequence (>= 1).
        action_low: lower bound per action dimension, shape (A,).
        action_high: upper bound per action dimension, shape (A,); must exceed ``action_low``.
        num_samples: N, candidate sequences evaluated per objective call.
        iterations: maximum number of optimisation iterations per ``plan`` call.
        seed: seed of the planner's own ``torch.Generator`` (``reset`` returns to it).
        device: where candidates live; ``None`` means the device of ``action_low`` (CPU for
            lists and numpy arrays).
        dtype: floating dtype of the candidates.
    """

    name = "base"
    # Keyword arguments of the cheap preset for replanning every control step (see ``fast``);
    # empty where the defaults already are the cheap setting.
    FAST_PRESET: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        horizon: int,
        action_low: ArrayLike,
        action_high: ArrayLike,
        *,
        num_samples: int,
        iterations: int,
        seed: int = 0,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int):
            raise TypeError(f"horizon must be an int >= 1, got {horizon!r} ({type(horizon).__name__})")
        if horizon < 1:
            raise ValueError(
                f"horizon must be >= 1 (the number of actions planned, H in actions of shape (H, A)); "
                f"got {horizon}"
            )
        for arg_name, value in (("num_samples", num_samples), ("iterations", iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{arg_name} must be an int >= 1, got {value!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype such as torch.float32, got {dtype!r}")
        if device is None:
            device = action_low.device if isinstance(action_low, Tensor) else torch.device("cpu")
        self.device = torch.device(device)
        self.dtype = dtype
        self.horizon = horizon
        self.action_low = _as_bound(action_low, "action_low", self.device, dtype)
        self.action_high = _as_bound(action_high, "action_high", self.device, dtype)
        if self.action_low.shape != self.action_high.shape:
            raise ValueError(
                f"action_low and action_high must both have shape (A,); got {tuple(self.action_low.shape)} "
                f"and {tuple(self.action_high.shape)}"
            )
        if not (self.action_low < self.action_high).all():
            bad = (self.action_low >= self.action_high).nonzero().flatten().tolist()
            raise ValueError(
                f"action_low must be < action_high elementwise (shape (A,)); violated at dims {bad}: "
                f"low={self.action_low.tolist()}, high={self.action_high.tolist()}"
            )
        self.action_dim = int(self.action_low.numel())
        self.num_samples = num_samples
        self.iterations = iterations
        self.seed = int(seed)
        # Derived once: centre and half-width of the box, (A,) each. The half-width is the cap
        # of step sizes and sampling spreads; the defaults adapt them to the problem below it.
        self.action_mid = (self.action_low + self.action_high) / 2
        self.action_half_range = (self.action_high - self.action_low) / 2
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(self.seed)

    # ------------------------------------------------------------------ public API
    @classmethod
    def fast(cls: type[PlannerT], horizon: int, action_low: ArrayLike, action_high: ArrayLike,
             **overrides: Any) -> PlannerT:
        """The planner with its cheap preset (``FAST_PRESET``), for replanning every control
        step from a shifted warm start; ``overrides`` win over the preset."""
        return cls(horizon, action_low, action_high, **{**cls.FAST_PRESET, **overrides})

    def reset(self, seed: int | None = None) -> None:
        """Reseed the internal generator (``seed=None``: back to the constructor seed)."""
        self._generator.manual_seed(self.seed if seed is None else int(seed))

    def plan(self, objective: Objective, init: Tensor | None = None) -> PlanResult:
        """Minimise ``objective`` over action sequences of shape (H, A).

        Args:
            objective: maps candidates (N, H, A) to costs (N,); lower is better.
            init: optional warm start (H, A), e.g. the previous plan shifted by one step.
                Values outside the bounds are clipped into them.

        Returns:
            PlanResult with the best sequence found, (H, A), inside the bounds.

        Raises:
            ValueError: ``init`` or the objective's output has the wrong shape.
            RuntimeError: (``AllCostsNonFiniteError``) the objective returned NaN/inf for every
                candidate evaluated during the whole search, so there is nothing safe to return.
                Candidates with non-finite cost are otherwise discarded (never returned).
        """
        if not callable(objective):
            raise TypeError(f"objective must be callable (N, H, A) -> (N,), got {type(objective).__name__}")
        warm = self._check_init(init)
        actions, cost, iterations, evaluations = self._search(objective, warm)
        if not bool(torch.isfinite(actions).all()):  # a last guard; the searches prevent it
            raise RuntimeError(f"{type(self).__name__} produced non-finite actions; please report "
                               "this with the objective that caused it")
        return PlanResult(actions=actions.detach(), cost=float(cost), iterations=iterations,
                          evaluations=evaluations)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(horizon={self.horizon}, action_dim={self.action_dim}, "
                f"num_samples={self.num_samples}, iterations={self.iterations}, seed={self.seed})")

    # ------------------------------------------------------------------ for subclasses
    def _search(self, objective: Objective, init: Tensor | None) -> tuple[Tensor, float, int, int]:
        """Return (best actions (H, A), its cost, iterations run, evaluations made)."""
        raise NotImplementedError

    def _check_init(self, init: Tensor | None) -> Tensor | None:
        if init is None:
            return None
        try:
            warm = torch.as_tensor(init, dtype=self.dtype, device=self.device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"init must be a tensor of shape (H, A), got {type(init).__name__}") from error
        expected = (self.horizon, self.action_dim)
        if tuple(warm.shape) != expected:
            raise ValueError(
                f"init must have shape (H, A) = {expected} (horizon, action dim); got {tuple(warm.shape)}. "
                "To warm-start from the previous plan, shift it by one step and repeat its last action."
            )
        if not torch.isfinite(warm).all():
            raise ValueError("init contains NaN/inf; pass a finite (H, A) warm start or init=None")
        return self.clip(warm.detach())

    def clip(self, actions: Tensor) -> Tensor:
        """Clamp (..., A) actions into the box [low, high]."""
        return torch.clamp(actions, self.action_low, self.action_high)

    def uniform(self, n: int) -> Tensor:
        """n sequences drawn uniformly inside the box, (n, H, A)."""
        u = torch.rand((n, self.horizon, self.action_dim), generator=self._generator,
                       device=self.device, dtype=self.dtype)
        return self.action_low + (self.action_high - self.action_low) * u

    def randn(self, n: int) -> Tensor:
        """Standard normal noise, (n, H, A), from the planner's generator."""
        return torch.randn((n, self.horizon, self.action_dim), generator=self._generator,
                           device=self.device, dtype=self.dtype)

    def evaluate(self, objective: Objective, candidates: Tensor) -> Tensor:
        """Call the objective on (N, H, A) candidates and check it returned costs (N,)."""
        costs = objective(candidates)
        n = candidates.shape[0]
        if not isinstance(costs, Tensor):
            raise TypeError(
                f"objective must return a torch.Tensor of shape (N,) = ({n},); got {type(costs).__name__}"
            )
        if costs.shape != (n,):
            hint = " (reduce over time and features, e.g. .sum(dim=(1, 2)))" if costs.ndim > 1 else ""
            raise ValueError(
                f"objective must map actions (N, H, A) = {tuple(candidates.shape)} to costs (N,) = ({n},); "
                f"got shape {tuple(costs.shape)}{hint}"
            )
        return costs


def shift(actions: Tensor, steps: int = 1) -> Tensor:
    """Warm start for the next control step: drop the first ``steps`` actions of an (H, A)
    plan and repeat its last action at the end, (H, A) -> (H, A)."""
    if actions.ndim != 2:
        raise ValueError(f"shift expects a plan of shape (H, A), got {tuple(actions.shape)}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    steps = min(steps, actions.shape[0] - 1)
    if steps == 0:
        return actions.clone()
    return torch.cat([actions[steps:], actions[-1:].expand(steps, -1)])


def raise_all_non_finite(planner: Planner, n: int) -> None:
    raise AllCostsNonFiniteError(
        f"{type(planner).__name__}: the objective returned NaN/inf for all {n} candidates, so no "
        "finite plan exists to return. Check the objective (e.g. a diverging model rollout) or "
        "catch this error and fall back to a default action."
    )
