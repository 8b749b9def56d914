"""The online learning loop (:func:`agent.loop.train`) wired to this package's rules.

Training episodes are judged (fall, success) by the env's outcome rule
(:func:`evaluation.outcomes.resolve_outcome_rule`), and evaluations run held-out episodes
(seeds ``0..eval_episodes-1``) through :func:`evaluation.episodes.run_episode` in a second
env, with exploration off and no learning.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from agent.loop import TrainConfig, train
from evaluation.episodes import run_episode
from evaluation.outcomes import resolve_outcome_rule

__all__ = ["run_training"]


def run_training(config: TrainConfig, *, progress_bar: bool = True, log: Callable[[str], None] = print,
                 make_env: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Train ``config`` online and return the report (see ``examples/train.py``)."""
    if make_env is None:
        from envs import make_env as make_env  # noqa: PLC0415

    eval_env = make_env(config.env)
    rule = resolve_outcome_rule(eval_env, require_success=False)

    def evaluate(agent) -> dict[str, Any]:
        records = [run_episode(agent, eval_env, seed=i, learn=False, rule=rule) for i in range(config.eval_episodes)]
        return {
            "episodes": len(records),
            "mean_return": statistics.fmean(r.ret for r in records),
            "successes": sum(bool(r.success) for r in records),
            "falls": sum(bool(r.fell) for r in records),
        }

    try:
        return train(config, judge=rule.judge, evaluate=evaluate if config.eval_every else None,
                     make_env=make_env, progress_bar=progress_bar, log=log)
    finally:
        eval_env.close()
