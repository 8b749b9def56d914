"""Per-episode records and the derived figures of a learning run (falls, competence, success).

The definitions here are the ones the README, the benchmarks and the tests use
(see "Metrics" in DESIGN.md):

- a **fall** is an episode that ended with ``info["fell"]`` (or, for envs that mark
  failure only by terminating, a ``terminated`` episode when the caller says so);
- the **rolling success rate** at episode ``i`` is the fraction of successes among
  the last ``window`` episodes ending at ``i``; it only *counts* once the window is
  full (``i + 1 >= window``), so that one lucky first episode is not "100 % success";
- **competence** is the first episode at which the rolling success rate reaches
  ``target``; **falls before competence** are the falls in the episodes up to and
  including that one, and **steps to success** is the env step count at its end.

Everything here is pure Python over a sequence of :class:`EpisodeRecord`, so the
figures can be checked on hand-made series with known answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_WINDOW = 10
"""Episodes in the rolling success window unless a caller says otherwise (90 % = 9 of 10)."""

DEFAULT_TARGET = 0.9
"""Rolling success rate that counts as competent (the issue's 90 %)."""


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode of a learning run."""

    env_step: int
    """Env steps taken by the agent since its run started, counted at this episode's end."""
    ret: float
    """Undiscounted sum of env rewards over the episode."""
    fell: bool
    """The episode ended in a fall (``info["fell"]`` on its last step)."""
    success: bool
    """The episode counts as a success (``info["success"]`` or a return threshold)."""
    length: int
    """Env steps in this episode."""
    wall_time: float
    """Seconds since the agent's run started, at this episode's end."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; the return is stored under the key ``"return"``."""
        return {
            "env_step": int(self.env_step),
            "return": float(self.ret),
            "fell": bool(self.fell),
            "success": bool(self.success),
            "length": int(self.length),
            "wall_time": float(self.wall_time),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeRecord:
        """Inverse of :meth:`to_dict` (``length`` and ``wall_time`` may be missing)."""
        missing = [key for key in ("env_step", "return", "fell", "success") if key not in data]
        if missing:
            raise ValueError(
                f"episode record is missing keys {missing}; expected at least "
                "'env_step', 'return', 'fell' and 'success' (as written by EpisodeRecord.to_dict)"
            )
        return cls(
            env_step=int(data["env_step"]),
            ret=float(data["return"]),
            fell=bool(data["fell"]),
            success=bool(data["success"]),
            length=int(data.get("length", 0)),
            wall_time=float(data.get("wall_time", 0.0)),
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
    target: float = DEFAULT_TARGET,
    window: int = DEFAULT_WINDOW,
    pretraining_falls: int = 0,
) -> dict[str, Any]:
    """All derived figures of one run as a JSON-ready dict (without the series itself).

    ``pretraining_falls`` are falls that happened before this run (e.g. while
    collecting a world model's training data); they are added to
    ``falls_before_competence_incl_pretraining`` and ``falls_total_incl_pretraining``
    and nowhere else, so the task-phase figures stay comparable across agents.
    """
    if pretraining_falls < 0:
        raise ValueError(f"pretraining_falls must be >= 0, got {pretraining_falls}")
    before = falls_before_competence(series, target, window)
    total = falls_total(series)
    return {
        "episodes": len(series),
        "env_steps": int(series[-1].env_step) if series else 0,
        "falls_total": total,
        "falls_before_competence": before,
        "falls_before_competence_incl_pretraining": before + int(pretraining_falls),
        "falls_total_incl_pretraining": total + int(pretraining_falls),
        "reached_target": competence_episode(series, target, window) is not None,
        "target_success_rate": float(target),
        "success_window": int(window),
        "steps_to_target": steps_to_success(series, target, window),
        # The headline figure, always at 90 % whatever ``target`` is.
        "steps_to_90": steps_to_success(series, 0.9, window),
        "final_success_rate": final_success_rate(series, window),
        "final_return": final_return(series, window),
    }
