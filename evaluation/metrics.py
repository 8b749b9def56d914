"""One record per finished episode, the figures derived from a run of them, and one summary.

The definitions are the project's (see "Metrics" in DESIGN.md), the same for the README,
the benchmarks and the tests:

- a **fall** is an episode that ended in a failure (``info["fell"]``, or what
  :mod:`evaluation.outcomes` decides for envs that do not say);
- the **rolling success rate** at episode ``i`` is the fraction of successes among the
  last ``window`` episodes ending at ``i``; it only *counts* once the window is full
  (``i + 1 >= window``), so that one lucky first episode is not "100 % success";
- **competence** is the first episode at which the rolling success rate reaches
  ``target``; **falls before competence** are the falls in the episodes up to and
  including that one, and **steps to success** is the env step count at its end;
- **return** is the undiscounted sum of env rewards; **act time** the wall time of one
  ``agent.act`` call.

Everything here is pure Python over a sequence of :class:`EpisodeRecord`, so the figures
can be checked on hand-made series with known answers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_WINDOW = 10
"""Episodes in the rolling success window unless a caller says otherwise (90 % = 9 of 10)."""

DEFAULT_TARGET = 0.9
"""Rolling success rate that counts as competent (the issue's 90 %)."""


@dataclass(frozen=True, kw_only=True)
class EpisodeRecord:
    """One finished episode, as every tool records it (evaluation runs and learning runs)."""

    ret: float
    """Undiscounted sum of env rewards over the episode."""
    fell: bool
    """The episode ended in a fall (see :mod:`evaluation.outcomes`)."""
    success: bool
    """The episode counts as a success (``info["success"]`` or a return threshold); never with a fall."""
    steps: int
    """Env steps in this episode."""
    env_step: int = 0
    """Env steps since the run started (its recorder's count), at this episode's end."""
    wall_time: float = 0.0
    """Seconds since the run started, at this episode's end."""
    seed: int | None = None
    """Seed of the episode's ``env.reset``; None: the env continued its own random stream."""
    median_plan_ms: float | None = None
    """Median wall time of one ``agent.act`` call in this episode; None: not timed (SB3)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the return is stored under the key ``"return"``."""
        return {
            "env_step": int(self.env_step),
            "return": float(self.ret),
            "fell": bool(self.fell),
            "success": bool(self.success),
            "steps": int(self.steps),
            "wall_time": float(self.wall_time),
            "seed": self.seed,
            "median_plan_ms": self.median_plan_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeRecord:
        """Inverse of :meth:`to_dict`; reads reports written before ``steps`` was called ``length``."""
        missing = [key for key in ("env_step", "return", "fell", "success") if key not in data]
        if missing:
            raise ValueError(
                f"episode record is missing keys {missing}; expected at least "
                "'env_step', 'return', 'fell' and 'success' (as written by EpisodeRecord.to_dict)"
            )
        plan_ms = data.get("median_plan_ms")
        seed = data.get("seed")
        return cls(
            env_step=int(data["env_step"]),
            ret=float(data["return"]),
            fell=bool(data["fell"]),
            success=bool(data["success"]),
            steps=int(data.get("steps", data.get("length", 0))),
            wall_time=float(data.get("wall_time", 0.0)),
            seed=None if seed is None else int(seed),
            median_plan_ms=None if plan_ms is None else float(plan_ms),
        )


def _check_window(window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int):
        raise TypeError(f"window must be an int number of episodes, got {type(window).__name__}")
    if window < 1:
        raise ValueError(f"window must be at least 1 episode, got {window}")


def _check_target(target: float) -> None:
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target success rate must be in (0, 1], got {target}; e.g. 0.9 for 90 %")


def falls_total(series: Sequence[EpisodeRecord]) -> int:
    """Number of episodes in ``series`` that ended in a fall."""
    return sum(1 for record in series if record.fell)


def cumulative_falls(series: Sequence[EpisodeRecord]) -> list[int]:
    """Falls so far after each episode: ``out[i]`` counts falls in episodes ``0..i``."""
    out: list[int] = []
    count = 0
    for record in series:
        count += int(record.fell)
        out.append(count)
    return out


def rolling_success_rate(series: Sequence[EpisodeRecord], window: int) -> list[float | None]:
    """Success rate over the last ``window`` episodes, after each episode.

    ``out[i]`` is ``None`` while the window is not yet full (``i + 1 < window``), so the
    rate never rests on fewer than ``window`` episodes.
    """
    _check_window(window)
    out: list[float | None] = []
    successes_in_window = 0
    for i, record in enumerate(series):
        successes_in_window += int(record.success)
        if i >= window:
            successes_in_window -= int(series[i - window].success)
        out.append(successes_in_window / window if i + 1 >= window else None)
    return out


def competence_episode(
    series: Sequence[EpisodeRecord], target: float = DEFAULT_TARGET, window: int = DEFAULT_WINDOW
) -> int | None:
    """Index of the first episode whose full rolling window reaches ``target``, else ``None``."""
    _check_target(target)
    # A small tolerance so that, e.g., 9 successes in 10 count as reaching 0.9.
    for i, rate in enumerate(rolling_success_rate(series, window)):
        if rate is not None and rate >= target - 1e-9:
            return i
    return None


def falls_before_competence(
    series: Sequence[EpisodeRecord], target: float = DEFAULT_TARGET, window: int = DEFAULT_WINDOW
) -> int:
    """Falls in the episodes up to and including the one where competence is first reached.

    If the run never reaches ``target``, every fall of the run counts: the agent fell
    that many times and was still not competent, so this is a lower bound on its true
    falls before competence (tell the two cases apart with :func:`steps_to_success`).
    """
    index = competence_episode(series, target, window)
    counted = series if index is None else series[: index + 1]
    return falls_total(counted)


def steps_to_success(
    series: Sequence[EpisodeRecord], target: float = DEFAULT_TARGET, window: int = DEFAULT_WINDOW
) -> int | None:
    """Env steps at the end of the episode where competence is first reached, else ``None``.

    The rolling window must be full before it counts, so this is never earlier than the
    end of episode ``window - 1``.
    """
    index = competence_episode(series, target, window)
    return None if index is None else int(series[index].env_step)


def final_success_rate(
    series: Sequence[EpisodeRecord], window: int = DEFAULT_WINDOW
) -> float | None:
    """Success rate over the last ``window`` episodes (fewer if the run had fewer); ``None`` if empty."""
    _check_window(window)
    tail = series[-window:]
    if not tail:
        return None
    return sum(int(record.success) for record in tail) / len(tail)


def final_return(series: Sequence[EpisodeRecord], window: int = DEFAULT_WINDOW) -> float | None:
    """Mean return over the last ``window`` episodes (fewer if the run had fewer); ``None`` if empty."""
    _check_window(window)
    tail = series[-window:]
    if not tail:
        return None
    return math.fsum(record.ret for record in tail) / len(tail)


def summarize(
    series: Sequence[EpisodeRecord],
    *,
    target: float = DEFAULT_TARGET,
    window: int = DEFAULT_WINDOW,
    pretraining_falls: int = 0,
    per_episode: bool = True,
) -> dict[str, Any]:
    """Every figure of a run of episodes as one JSON-ready dict (the one summary all tools use).

    Evaluation figures: ``episodes``, ``mean_return``, ``std_return``, ``falls``,
    ``successes``, ``success_rate``, ``mean_steps``, ``median_plan_ms`` (median of the
    episodes' medians; None if no episode was timed), ``env_steps`` (in the finished
    episodes). Learning-curve figures (meaningful when the records are in the order the
    agent lived them): ``falls_total`` (= ``falls``, the comparison report's name),
    ``falls_before_competence``, ``reached_target``, ``steps_to_target``, ``steps_to_90``,
    ``final_success_rate``, ``final_return``, and with ``pretraining_falls`` (falls that
    happened before this run, e.g. while collecting a world model's training data)
    ``falls_before_competence_incl_pretraining`` and ``falls_total_incl_pretraining``;
    they are added there and nowhere else, so task-phase figures stay comparable.
    ``per_episode``: also list every record (:meth:`EpisodeRecord.to_dict`). Figures of an
    empty run are None, never NaN, so the dict is valid JSON.
    """
    if pretraining_falls < 0:
        raise ValueError(f"pretraining_falls must be >= 0, got {pretraining_falls}")
    returns = [record.ret for record in series]
    plan_ms = [r.median_plan_ms for r in series if r.median_plan_ms is not None]
    falls = falls_total(series)
    before = falls_before_competence(series, target, window)
    summary: dict[str, Any] = {
        "episodes": len(series),
        "mean_return": statistics.fmean(returns) if returns else None,
        "std_return": statistics.pstdev(returns) if returns else None,
        "falls": falls,
        "successes": sum(1 for record in series if record.success),
        "success_rate": sum(r.success for r in series) / len(series) if series else None,
        "mean_steps": statistics.fmean(r.steps for r in series) if series else None,
        "median_plan_ms": statistics.median(plan_ms) if plan_ms else None,
        "env_steps": sum(record.steps for record in series),
        "falls_total": falls,
        "falls_before_competence": before,
        "falls_before_competence_incl_pretraining": before + int(pretraining_falls),
        "falls_total_incl_pretraining": falls + int(pretraining_falls),
        "reached_target": competence_episode(series, target, window) is not None,
        "target_success_rate": float(target),
        "success_window": int(window),
        "steps_to_target": steps_to_success(series, target, window),
        # The headline figure, always at 90 % whatever ``target`` is.
        "steps_to_90": steps_to_success(series, 0.9, window),
        "final_success_rate": final_success_rate(series, window),
        "final_return": final_return(series, window),
    }
    if per_episode:
        summary["per_episode"] = [record.to_dict() for record in series]
    return summary


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, tied ranks averaged); NaN if a class is empty."""
    labels = labels.astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based rank of each distinct score
    ranks = average_rank[inverse]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))

