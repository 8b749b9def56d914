"""A comparison's report: the JSON layout, writing it safely, the code that made it, its table.

Layout (see :func:`build_report`)::

    {"env": ..., "env_id": ..., "budget_steps": ..., "seed": ..., "window": ..., "target": ...,
     "quick": ..., "success_rule": ..., "interrupted": ..., "created_utc": ..., "git_commit": ...,
     "config": ..., "agents": {"sac": S, "mpc_pretrained": S, "mpc_scratch": S}}

with each ``S`` holding the figures of :func:`evaluation.metrics.summarize` (among them
``falls_total``, ``falls_before_competence``, ``steps_to_90`` (``null`` if never),
``final_success_rate``, ``final_return``), plus ``wall_seconds``, ``budget_steps``,
``env_steps``, ``pretraining_steps`` / ``pretraining_falls`` (zero unless the agent was
pretrained), ``interrupted`` and ``series`` (per episode: ``env_step``, ``return``,
``fell``, ``success``, ...).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.config import AGENT_LABELS, ComparisonConfig
from evaluation.metrics import EpisodeRecord, summarize
from evaluation.outcomes import OutcomeRule


@dataclass
class AgentRun:
    """Everything recorded for one agent; filled while it runs, so a Ctrl-C keeps it."""

    name: str
    series: list[EpisodeRecord] = field(default_factory=list)
    env_steps: int = 0
    wall_seconds: float = 0.0
    pretraining_steps: int = 0
    pretraining_falls: int = 0
    pretraining_episodes: int = 0
    pretraining_wall_seconds: float | None = None
    budget_steps: int = 0
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def build_report(
    config: ComparisonConfig,
    runs: Mapping[str, AgentRun],
    *,
    env_id: str,
    budget_steps: int,
    rule: OutcomeRule,
    interrupted: bool,
    git_commit: str | None = None,
) -> dict[str, Any]:
    """The JSON-ready report of a comparison (layout in the module docstring).

    ``git_commit``: the code that ran (see :func:`git_commit`), taken when the run started.
    """
    assert config.window is not None
    agents: dict[str, Any] = {}
    for name, run in runs.items():
        figures = summarize(
            run.series,
            target=config.target,
            window=config.window,
            pretraining_falls=run.pretraining_falls,
            per_episode=False,
        )
        agents[name] = {
            **figures,
            "wall_seconds": run.wall_seconds,
            "budget_steps": run.budget_steps,
            "env_steps": run.env_steps,
            "steps_per_second": run.env_steps / run.wall_seconds if run.wall_seconds > 0 else None,
            "pretraining_steps": run.pretraining_steps,
            "pretraining_falls": run.pretraining_falls,
            "pretraining_episodes": run.pretraining_episodes,
            "pretraining_wall_seconds": run.pretraining_wall_seconds,
            "interrupted": run.interrupted,
            **run.extra,
            "series": [record.to_dict() for record in run.series],
        }
    return {
        "env": config.env,
        "env_id": env_id,
        "budget_steps": budget_steps,
        "seed": config.seed,
        "window": config.window,
        "target": config.target,
        "quick": config.quick,
        "success_rule": asdict(rule),
        "interrupted": interrupted,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit,
        "config": asdict(config),
        "agents": agents,
    }


def git_commit() -> str | None:
    """HEAD of the checkout this package runs from (``+dirty`` if modified); None outside git."""
    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def check_writable(paths: Sequence[str | os.PathLike[str] | None]) -> None:
    """Make each output path's folder and check a file can be written there, before any work.

    Raises a ``ValueError`` of one line naming the path that cannot be written.
    """
    for raw in paths:
        if raw is None:
            continue
        path = Path(raw)
        if path.is_dir():
            raise ValueError(f"output path {path} is a folder; pass a file name, e.g. {path / 'report.json'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".check"):
                pass
        except OSError as error:
            raise ValueError(f"cannot write {path}: {error.strerror or error}") from None
        if path.exists() and not os.access(path, os.W_OK):
            raise ValueError(f"cannot write {path}: the file exists and is read-only")


def write_json(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``report`` atomically (a Ctrl-C mid-write leaves the previous file intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        json.dump(report, handle, indent=1, allow_nan=False, default=_json_default)
        handle.write("\n")
        tmp = handle.name
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a temporary file is private (0600); the report is not
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report written by :func:`write_json`."""
    with open(path) as handle:
        report = json.load(handle)
    if "agents" not in report:
        raise ValueError(f"{path} is not a comparison report: it has no 'agents' key")
    return report


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "never"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return format(value, spec)


def results_table(report: Mapping[str, Any]) -> str:
    """A markdown table of the headline figures, one row per agent (for the README)."""
    lines = [
        "| agent | falls before 90 % (incl. pretraining) | falls total | env steps to 90 % "
        "| final success | final return | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, agent in report["agents"].items():
        before = agent["falls_before_competence"]
        if agent.get("pretraining_falls", 0):
            before = f"{before} ({agent['falls_before_competence_incl_pretraining']})"
        if not agent.get("reached_target", True):
            before = f"{before}, not yet competent"
        lines.append(
            f"| {AGENT_LABELS.get(name, name)} | {before} | {agent['falls_total']} "
            f"| {_fmt(agent['steps_to_90'])} | {_fmt(agent['final_success_rate'], '.2f')} "
            f"| {_fmt(agent['final_return'], '.1f')} | {agent['wall_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def budget_words(report: Mapping[str, Any]) -> str:
    """"4000 env steps per agent", naming the agents that had another budget."""
    budget = report["budget_steps"]
    others = {
        name: agent["budget_steps"]
        for name, agent in report["agents"].items()
        if agent.get("budget_steps", budget) != budget
    }
    words = f"{budget} env steps per agent"
    if others:
        words += " (" + ", ".join(f"{name}: {steps}" for name, steps in others.items()) + ")"
    return words


def markdown_report(report: Mapping[str, Any], command: str) -> str:
    """The setting in words, the results table and the command that made them (markdown)."""
    lines = [
        f"**{report['env']}**, {budget_words(report)}, seed {report['seed']}, "
        f"success = rolling rate over {report['window']} episodes reaching {report['target']:.0%}"
        + (" (interrupted)" if report.get("interrupted") else "")
        + "."
    ]
    for name, agent in report["agents"].items():
        if agent.get("pretraining_steps"):
            wall = agent.get("pretraining_wall_seconds")
            lines.append(
                f"{AGENT_LABELS.get(name, name)}: pretraining data cost "
                f"{agent['pretraining_steps']} env steps and {agent['pretraining_falls']} falls "
                "(counted in the parenthesised falls figure)"
                + (
                    f"; pretraining took {wall:.0f} s, not included in its wall time."
                    if wall
                    else "."
                )
            )
    setting = "\n".join(lines)
    return f"{setting}\n\n{results_table(report)}\n\nCommand: `{command}`\n"
