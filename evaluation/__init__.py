"""Measuring agents: one episode loop, one record type, one summary, outcome rules,
the SB3 baselines, the baseline comparison, its report and its plot.

    from evaluation import run_episode, summarize
    records = [run_episode(agent, env, seed) for seed in range(10)]
    print(summarize(records))     # episodes, mean_return, falls, successes, median_plan_ms, ...

Modules: :mod:`~evaluation.metrics` (``EpisodeRecord``, falls, competence, ``summarize``),
:mod:`~evaluation.outcomes` (what counts as a fall or a success),
:mod:`~evaluation.episodes` (the ``Agent`` protocol, ``EpisodeRecorder``, ``run_episode``),
:mod:`~evaluation.baselines` (SB3 SAC and PPO), :mod:`~evaluation.mpc_agents` (the MPC
agents of a comparison), :mod:`~evaluation.config`, :mod:`~evaluation.compare`,
:mod:`~evaluation.report` and :mod:`~evaluation.plot` (the comparison). The command-line
tools are ``examples/compare_baseline.py`` and ``benchmarks/compare_seeds.py``.

Names are imported on first use, so ``import evaluation`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EpisodeRecord": "evaluation.metrics",
    "summarize": "evaluation.metrics",
    "OutcomeRule": "evaluation.outcomes",
    "resolve_outcome_rule": "evaluation.outcomes",
    "Agent": "evaluation.episodes",
    "EpisodeRecorder": "evaluation.episodes",
    "run_episode": "evaluation.episodes",
    "run_for_steps": "evaluation.episodes",
    "ComparisonConfig": "evaluation.config",
    "run_comparison": "evaluation.compare",
    "load_report": "evaluation.report",
    "write_json": "evaluation.report",
    "plot_comparison": "evaluation.plot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
