"""Gradient-based trajectory optimisation: projected Adam on N candidate sequences at once.

All N candidates live in one (N, H, A) tensor; each iteration makes one batched objective
call, one backward pass and a hand-written Adam step (a handful of tensor ops, no
``torch.optim`` object), then projects back into the action box. Per-candidate gradient
clipping keeps one exploding rollout from wrecking its Adam moments; candidates whose cost
is NaN/inf are discarded and re-seeded near the best one.

References: Adam (Kingma & Ba, 2015); gradient-based MPC through learned models as in
Srinivas et al., "Universal Planning Networks" (2018) and Bharadhwaj et al., "Model-Predictive
Control via Cross-Entropy and Gradient-Based Optimization" (2020).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from planners.base import ArrayLike, Objective, Planner, raise_all_non_finite


class GradientPlanner(Planner):
    """Minimise a differentiable objective by projected Adam over N parallel candidates.

    Candidates are seeded from the warm start ``init`` (kept as is, plus Gaussian
    perturbations of it) and from uniform random restarts inside the box; without ``init``
    the box centre takes the warm start's place. Every iteration evaluates all N and keeps the
    best sequence ever evaluated. When the best cost stalls (less than ``tolerance`` relative
    improvement for ``patience`` iterations) the step size is cut, up to ``max_cuts`` times;
    the next stall stops the search early.

    Step sizes do not depend on the box's scale (``adaptive_step``): each candidate steps by
    ``lr`` times its *step scale*, the distance it has travelled from its start (RMS over its
    (H, A) entries, in units of the half-range), which grows geometrically while the
    candidate keeps moving one way and stops growing once it circles a minimum. The scale
    starts at the step length that a batched line search along the first Adam step (the sign
    of the gradient) found best, over lengths from the half-range down to ``min_scale`` of
    it; the half-range is only the cap. So a box of ±100 around an optimum near ±1 costs a
    few iterations, not accuracy.

    The defaults are the *thorough* setting, for offline problems that want the optimum
    (LQR to within 1 % at any box size in the tests). For a control loop that replans every
    step from a shifted warm start, use :meth:`fast`.

    Limitation: gradient steps only find the basin they start in. On a multimodal objective
    (a torque-limited pendulum swing-up) few candidates can all miss the right basin; use
    more candidates (the fast preset has 64) or :class:`~planners.hybrid.HybridPlanner`.

    Args:
        horizon, action_low, action_high, num_samples, iterations, seed, device, dtype:
            see :class:`planners.base.Planner`. ``num_samples`` is the number of candidates
            optimised in parallel.
        lr: Adam step size as a fraction of each candidate's step scale (with
            ``adaptive_step=False``: of the action half-range ``(high - low) / 2``).
        lr_decay: per-iteration multiplicative decay of the step size (1.0: constant); a slow
            decay lets Adam settle into narrow valleys instead of hovering around them.
        betas: Adam's moment decay rates.
        grad_clip: maximum gradient norm per candidate (over its (H, A) entries) per step;
            ``None`` disables clipping.
        init_noise: std of the perturbations of the warm start, as a fraction of the
            half-range.
        random_fraction: fraction of candidates (besides the warm start itself) drawn
            uniformly in the box as random restarts; the rest perturb the warm start.
        patience: iterations without enough improvement (a plateau) before the step size is
            cut by ``cut_factor``; after ``max_cuts`` cuts, the next plateau stops the search
            early. ``None`` always runs ``iterations`` (no cuts, no early stop).
        tolerance: relative improvement of the best cost that counts as progress.
        max_cuts: step-size cuts on plateaus before a plateau ends the search.
        cut_factor: factor applied to the step size at each cut.
        warm_lr_factor: step-size factor for the candidates seeded from ``init`` (the warm
            start and its perturbations); below 1 they refine the warm start instead of
            jumping away from it on the first, sign-sized Adam step. No effect without init.
        adaptive_step: scale steps by the distance travelled (see above); ``False`` scales
            them by the half-range, which suits a box matched to the actions and a handful
            of iterations (the fast preset), as there is no time to grow a scale.
        min_scale: the shortest step length the line search tries, as a fraction of the
            half-range; a problem whose scale is far below it is still solved, but slowly.
    """

    name = "gradient"
    # The cheap setting for replanning every control step from a shifted warm start, tuned
    # for a box matched to the actions: large, lightly smoothed box-relative steps, halved
    # for the warm-started candidates so they refine the previous plan; 64 candidates for
    # exploration on multimodal problems; a fixed iteration count for a predictable time.
    FAST_PRESET: ClassVar[dict[str, Any]] = {
        "num_samples": 64, "iterations": 6, "lr": 0.3, "lr_decay": 0.99, "betas": (0.7, 0.99),
        "warm_lr_factor": 0.5, "patience": None, "adaptive_step": False,
    }

    def __init__(
        self,
        horizon: int,
        action_low: ArrayLike,
        action_high: ArrayLike,
        *,
        num_samples: int = 16,
        iterations: int = 1000,
        seed: int = 0,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
        lr: float = 0.2,
        lr_decay: float = 0.995,
        betas: tuple[float, float] = (0.9, 0.999),
        grad_clip: float | None = 10.0,
        init_noise: float = 0.3,
        random_fraction: float = 0.5,
        patience: int | None = 15,
        tolerance: float = 1e-5,
        max_cuts: int = 3,
        cut_factor: float = 0.3,
        warm_lr_factor: float = 1.0,
        adaptive_step: bool = True,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__(horizon, action_low, action_high, num_samples=num_samples,
                         iterations=iterations, seed=seed, device=device, dtype=dtype)
        if not lr > 0 or not 0 < lr_decay <= 1:
            raise ValueError(f"need lr > 0 and 0 < lr_decay <= 1, got lr={lr}, lr_decay={lr_decay}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or None, got {grad_clip}")
        if not 0 <= random_fraction <= 1 or init_noise < 0:
            raise ValueError(f"need 0 <= random_fraction <= 1 and init_noise >= 0, got "
                             f"{random_fraction}, {init_noise}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience}")
        if not warm_lr_factor > 0:
            raise ValueError(f"warm_lr_factor must be > 0, got {warm_lr_factor}")
        if not 0 < min_scale <= 1:
            raise ValueError(f"min_scale must lie in (0, 1], got {min_scale}")
        if max_cuts < 0 or not 0 < cut_factor < 1:
            raise ValueError(f"need max_cuts >= 0 and 0 < cut_factor < 1, got {max_cuts}, {cut_factor}")
        self.lr = float(lr)
        self.lr_decay = float(lr_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.grad_clip = grad_clip
        self.init_noise = float(init_noise)
        self.random_fraction = float(random_fraction)
        self.patience = patience
        self.tolerance = float(tolerance)
        self.max_cuts = int(max_cuts)
        self.cut_factor = float(cut_factor)
        self.warm_lr_factor = float(warm_lr_factor)
        self.adaptive_step = bool(adaptive_step)
        self.min_scale = float(min_scale)
        # Step lengths the line search tries, in half-ranges: 1, 1/2, 1/4, ... >= min_scale.
        count = int(math.floor(math.log2(1 / self.min_scale))) + 1
        self._probe_lengths = 2.0 ** -torch.arange(count, dtype=dtype, device=self.device)  # (K,)
        # Absolute step size per action dimension, (A,); a plain float when all dimensions
        # share one range (the common case), which saves a tensor op per iteration.
        step = self.lr * self.action_half_range
        self._step_scale: Tensor | float = float(step[0]) if bool((step == step[0]).all()) else step

    # ------------------------------------------------------------------ search
    def initial_candidates(self, init: Tensor | None, n: int) -> Tensor:
        """(n, H, A) starting points: warm start, perturbations of it, uniform restarts."""
        warm = self.action_mid.expand(self.horizon, self.action_dim) if init is None else init
        n_random = round((n - 1) * self.random_fraction)
        n_perturbed = n - 1 - n_random
        parts = [warm[None]]
        if n_perturbed:
            noise = self.randn(n_perturbed) * (self.init_noise * self.action_half_range)
            parts.append(self.clip(warm + noise))
        if n_random:
            parts.append(self.uniform(n_random))
        return torch.cat(parts).contiguous()

    def _search(self, objective: Objective, init: Tensor | None) -> tuple[Tensor, float, int, int]:
        candidates = self.initial_candidates(init, self.num_samples)  # (N, H, A)
        local = None
        if init is not None and self.warm_lr_factor != 1.0:
            local = self.num_samples - round((self.num_samples - 1) * self.random_fraction)
        actions, cost, iterations, evaluations = self.optimise(objective, candidates, self.iterations,
                                                               local_candidates=local)
        if not math.isfinite(cost):
            raise_all_non_finite(self, evaluations)
        return actions, cost, iterations, evaluations

    def optimise(self, objective: Objective, candidates: Tensor, iterations: int,
                 local_candidates: int | None = None) -> tuple[Tensor, float, int, int]:
        """Run projected Adam from ``candidates`` (N, H, A) for at most ``iterations`` steps.

        The first ``local_candidates`` (the warm start and its perturbations) step with
        ``warm_lr_factor`` times the step size: they start near a good plan and refine it,
        while the random restarts explore.

        Returns (best actions (H, A), best cost (inf if none was finite), iterations run,
        evaluations). Also used by the hybrid planner to refine sampled candidates.
        """
        beta1, beta2 = self.betas
        x = candidates.detach().clone()  # (N, H, A) current iterates, updated in place
        m = torch.zeros_like(x)  # Adam first moment
        v = torch.zeros_like(x)  # Adam second moment
        n = x.shape[0]
        best_cost = math.inf
        best_actions = x[0].clone()  # (H, A)
        reference_cost = math.inf  # best cost when progress was last made, for early stopping
        since_progress = 0
        cuts = 0  # step-size cuts made on plateaus so far
        lr_factor = 1.0
        # Every tensor op below costs a few microseconds of dispatch, comparable to the
        # arithmetic of a small batch, so the loop is written with as few ops as it can be.
        step_scale = self._step_scale  # (A,) per-dimension step, or a float when uniform
        if local_candidates:
            per_candidate = torch.ones(n, 1, 1, dtype=x.dtype, device=x.device)
            per_candidate[:local_candidates] = self.warm_lr_factor
            step_scale = per_candidate * step_scale  # (N, 1, A) or (N, 1, 1)
        low, high = self.action_low, self.action_high
        evaluations = 0
        if self.adaptive_step:
            start = x.clone()  # (N, H, A) where each candidate's travel is measured from
            to_units = 1 / (self.action_half_range * math.sqrt(self.horizon * self.action_dim))  # (A,)
            scale: Tensor | None = None  # (N, 1, 1) step scales in half-ranges, set by the probe
        iteration = 0
        for iteration in range(1, iterations + 1):  # noqa: B007 - `iteration` is reported
            if iteration == iterations:
                # The last evaluation takes no step after it: no gradient needed (a forward pass
                # costs about half of a forward plus backward).
                with torch.no_grad():
                    costs = self.evaluate(objective, x).detach()  # (N,)
                    total = costs.sum()
                grad = None
            else:
                x.requires_grad_(True)
                with torch.enable_grad():
                    costs = self.evaluate(objective, x)  # (N,)
                    if not costs.requires_grad:
                        raise ValueError(
                            "GradientPlanner needs an objective differentiable w.r.t. the actions, but its "
                            "output does not require grad (computed under torch.no_grad or detached?). "
                            "Use CEMPlanner or MPPIPlanner for non-differentiable objectives."
                        )
                    total = costs.sum()
                    (grad,) = torch.autograd.grad(total, x)  # (N, H, A)
            evaluations += n
            with torch.no_grad():
                all_finite = math.isfinite(float(total))  # one sync instead of isfinite + all
                if all_finite:
                    value, index = torch.min(costs, dim=0)
                else:
                    finite = torch.isfinite(costs)
                    value, index = torch.min(torch.where(finite, costs, math.inf), dim=0)
                cost = float(value)
                if cost < best_cost:
                    best_cost = cost
                    best_actions = x[int(index)].clone()
                if not all_finite and grad is not None:
                    grad, m, v, x = self._reseed(finite, grad, m, v, x, best_actions, best_cost)
                    if self.adaptive_step:  # re-seeded candidates start their travel afresh
                        start = torch.where(finite[:, None, None], start, x)
                # Early stopping on the best cost ever seen.
                if self.patience is not None:
                    if best_cost < reference_cost - self.tolerance * abs(reference_cost) or (
                        math.isinf(reference_cost) and math.isfinite(best_cost)
                    ):
                        reference_cost = best_cost
                        since_progress = 0
                    else:
                        since_progress += 1
                        if since_progress >= self.patience:
                            if cuts >= self.max_cuts:
                                break
                            # Plateau: Adam is hovering around a valley; shrink its steps.
                            cuts += 1
                            lr_factor *= self.cut_factor
                            since_progress = 0
                if iteration == iterations:
                    break  # the last evaluation needs no update after it
                # A finite cost can still have a NaN gradient (torch.where over a NaN branch,
                # sqrt at 0): zero those entries so NaN never reaches the iterates. Not in
                # place: autograd may return an expanded tensor (e.g. for a linear cost).
                grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
                if self.grad_clip is not None:
                    # Scale each candidate's gradient by min(1, clip / ||g||); norms of 0 stay 0.
                    norms = torch.linalg.vector_norm(grad, dim=(1, 2), keepdim=True)  # (N, 1, 1)
                    grad = grad * (self.grad_clip / norms.clamp_(min=self.grad_clip))
                if self.adaptive_step and scale is None:
                    # Probe from the best candidate; until one has a finite cost, the cap.
                    length = 1.0
                    if math.isfinite(cost):
                        length = self.probe_step_length(objective, x[int(index)], grad[int(index)], cost)
                        evaluations += self._probe_lengths.numel()
                    scale = torch.full((n, 1, 1), length, dtype=x.dtype, device=x.device)
                # Adam, with bias corrections folded into one scalar step size.
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                correction2 = math.sqrt(1 - beta2**iteration)
                step = lr_factor * self.lr_decay ** (iteration - 1) * correction2 / (1 - beta1**iteration)
                denom = v.sqrt().add_(1e-8 * correction2)
                if self.adaptive_step:
                    x.addcdiv_(m * (step_scale * scale), denom, value=-step)
                elif isinstance(step_scale, float):
                    x.addcdiv_(m, denom, value=-step * step_scale)
                else:
                    x.addcdiv_(m * step_scale, denom, value=-step)
                x.clamp_(low, high)
                if self.adaptive_step:
                    # The step scale follows the distance travelled (RMS, in half-ranges), capped
                    # at the half-range: (N, 1, 1).
                    travelled = torch.linalg.vector_norm((x - start) * to_units, dim=(1, 2), keepdim=True)
                    scale = torch.maximum(scale, travelled.clamp_(max=1.0))
        return best_actions, best_cost, iteration, evaluations

    def probe_step_length(self, objective: Objective, actions: Tensor, grad: Tensor, cost: float) -> float:
        """Line search along the first Adam step from ``actions`` (H, A), whose cost is ``cost``
        and gradient ``grad`` (H, A): the best of the step lengths 1, 1/2, 1/4, ... down to
        ``min_scale`` half-ranges, evaluated in one batch without gradients. Returns the
        shortest length tried when none of them lowers the cost."""
        direction = -torch.sign(grad) * self.action_half_range  # (H, A): Adam's first step is sign-sized
        trials = self.clip(actions.detach() + self._probe_lengths[:, None, None] * direction)  # (K, H, A)
        with torch.no_grad():
            costs = self.evaluate(objective, trials).detach()  # (K,)
        costs = torch.where(torch.isfinite(costs), costs, math.inf)
        value, index = torch.min(costs, dim=0)
        if not float(value) < cost:
            return float(self._probe_lengths[-1])
        return float(self._probe_lengths[int(index)])

    def _reseed(self, finite: Tensor, grad: Tensor, m: Tensor, v: Tensor, x: Tensor,
                best_actions: Tensor, best_cost: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Replace candidates whose cost was NaN/inf: near the best finite one, else uniform."""
        bad = ~finite  # (N,)
        count = int(bad.sum())
        if math.isfinite(best_cost):
            noise = self.randn(count) * (self.init_noise * self.action_half_range)
            fresh = self.clip(best_actions + noise)
        else:
            fresh = self.uniform(count)
        x = x.clone()
        x[bad] = fresh
        keep = finite[:, None, None].to(x.dtype)
        grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0) * keep
        return grad, m * keep, v * keep, x
