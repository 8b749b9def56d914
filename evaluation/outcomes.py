"""How a finished episode is judged: did it fall, did it succeed.

Envs that report ``info["fell"]`` and ``info["success"]`` (cliff-car, the custom-env
example) are judged by what they say. For the rest the rule is generic:

- **success**: the episode's return reaches a threshold passed explicitly; else
  ``info["success"]`` if the env reports it; else the return reaches the env's registered
  ``spec.reward_threshold`` (Gymnasium's "solved" return), or for the few envs that
  register none, the one in :data:`OVERRIDES` below;
- **fall**: when the env says nothing about ``info["fell"]``, a ``terminated`` episode
  that is not a success is a fall (DESIGN.md): a pole that tipped over, a hopper that
  lost its balance. Truncation (the time limit) is never a fall.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

OVERRIDES: dict[str, dict[str, Any]] = {
    # Registers no reward_threshold. A swing-up that then balances scores about -150
    # over 200 steps, a failed one below -700.
    "Pendulum-v1": {"reward_threshold": -200.0},
    # Terminates when the car reaches the flag: a termination here is the goal, not a fall.
    "MountainCarContinuous-v0": {"terminated_is_fall": False},
}
"""What the generic rule gets wrong or cannot know, by Gymnasium id (explicit arguments still win)."""


@dataclass(frozen=True)
class OutcomeRule:
    """How a finished episode is judged; :func:`resolve_outcome_rule` makes one for an env."""

    success_threshold: float | None = None
    """Return at or above which an episode is a success, whatever ``info`` says (given by the user)."""
    reward_threshold: float | None = None
    """The env's own success return (registered or overridden), used when ``info`` has no ``success``."""
    terminated_is_fall: bool | None = None
    """True: every ``terminated`` episode is a fall; False: only ``info['fell']`` is; None:
    ``info['fell']`` when the env reports it, else a terminated episode that is no success."""
    require_success: bool = True
    """Raise if success cannot be known (no threshold, no ``info['success']``); False: no success."""

    def judge(self, ret: float, terminated: bool, info: Mapping[str, Any]) -> tuple[bool, bool]:
        """``(fell, success)`` of an episode from its return and its last step; a fall is never a success."""
        if self.success_threshold is not None:
            success = ret >= self.success_threshold
        elif "success" in info:
            success = bool(info["success"])
        elif self.reward_threshold is not None:
            success = ret >= self.reward_threshold
        elif self.require_success:
            raise ValueError(
                "the env reports no info['success'] and registers no reward_threshold; "
                "pass --success-threshold RETURN (an episode whose return reaches it counts as "
                "a success), or report info['success'] from the env"
            )
        else:
            success = False
        if self.terminated_is_fall is None:
            fell = bool(info["fell"]) if "fell" in info else bool(terminated) and not success
        else:
            fell = bool(info.get("fell", False)) or (self.terminated_is_fall and bool(terminated))
        return fell, bool(success) and not fell


def _spec_of(env: gym.Env | str | None) -> tuple[str | None, float | None]:
    """``(id, reward_threshold)`` of an env or a Gymnasium id; unregistered: ``(spec, None)``."""
    if env is None:
        return None, None
    if isinstance(env, str):
        if env not in gym.registry:
            return env, None
        spec = gym.spec(env)
    else:
        spec = env.spec
        if spec is None:
            return None, None
    return spec.id, spec.reward_threshold


def resolve_outcome_rule(
    env: gym.Env | str | None,
    success_threshold: float | None = None,
    terminated_is_fall: bool | None = None,
    *,
    require_success: bool = True,
) -> OutcomeRule:
    """The rule for an env (or a Gymnasium id): explicit arguments win, then what the env
    reports in ``info``, then its registered ``reward_threshold``, then :data:`OVERRIDES`.

    Envs that report ``info['fell']`` and ``info['success']`` (cliff-car) need none of it.
    """
    env_id, registered = _spec_of(env)
    override = OVERRIDES.get(env_id, {}) if env_id is not None else {}
    reward_threshold = registered if registered is not None else override.get("reward_threshold")
    if terminated_is_fall is None:
        terminated_is_fall = override.get("terminated_is_fall")
    return OutcomeRule(
        success_threshold=None if success_threshold is None else float(success_threshold),
        reward_threshold=None if reward_threshold is None else float(reward_threshold),
        terminated_is_fall=terminated_is_fall,
        require_success=require_success,
    )
