"""Falls off the cliff against env steps, one line per run, every kind of run on one plot (issue #12).

    python benchmarks/cliff_falls.py \\
        --runs "SAC=benchmarks/results/compare_seeds_sac100k/cliff-car__seed*__sac.json" \\
               "PPO=benchmarks/results/compare_seeds_ppo300k/cliff-car__seed*__ppo.json" \\
               "MPC from scratch=benchmarks/results/learning/cliff-car__mpc__seed0__462222bb.json"

Each ``LABEL=GLOB`` names runs of one agent (a glob may match several seeds; entries with the same
label add up, for seeds kept in different folders). A file may be a
``compare_baseline.py`` report (one agent in it), a ``train.py`` / ``benchmarks/learning.py``
report (its ``series``) or the ``progress.json`` of an unfinished ``train.py`` run's resume
folder, so stopped runs count too. Falls are counted over every env step the agent learned from
**on the cliff**: the x axis starts at the agent's first cliff step, its cliff pretraining steps
(reward-free data, counted in its report) shift the line right and their falls start it above 0.
Experience in another world (a kerb world's steps and drops) is reported in its own column, never
added to the cliff's. Competence: 9 of the last 10 training episodes reach the goal
(``evaluation.metrics``), as everywhere in this project.

Writes a PNG (cumulative falls, log-scaled steps), a markdown table and JSON. Never a test.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tyro

from evaluation.metrics import (
    EpisodeRecord,
    competence_episode,
    cumulative_falls,
    falls_before_competence,
)
from evaluation.report import check_writable, write_json

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Args:
    """Plot cumulative cliff falls of several runs and tabulate falls before competence."""

    runs: list[str] = field(default_factory=list)
    """``LABEL=GLOB`` entries: the runs (files) of one agent each; see the module docstring."""
    json: Path = RESULTS / "cliff_falls.json"
    """Where the summary goes; the PNG and markdown go beside it with its stem."""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError('give at least one --runs "LABEL=GLOB" (e.g. "PPO=benchmarks/results/compare_seeds_ppo300k/*.json")')
        for entry in self.runs:
            if "=" not in entry:
                raise ValueError(f"--runs entries are LABEL=GLOB, got {entry!r}")
            label, pattern = entry.split("=", 1)
            if not glob.glob(pattern):
                raise ValueError(f"--runs {label}: no file matches {pattern!r}")


def from_train_episode(episode: dict[str, Any]) -> EpisodeRecord:
    """A ``train.py`` episode (``step`` = env steps so far, ``length``) as an :class:`EpisodeRecord`."""
    return EpisodeRecord.from_dict({**episode, "env_step": episode["step"]})


def load_run(path: Path) -> dict[str, Any]:
    """One run's episodes and experience, whatever tool wrote it (see the module docstring)."""
    data = json.loads(path.read_text())
    pretraining: dict[str, Any] = {}
    if "agents" in data:  # compare_baseline.py: one agent per file in the seed sweeps
        if len(data["agents"]) != 1:
            raise ValueError(f"{path} holds {len(data['agents'])} agents; pass one-agent reports")
        (agent,) = data["agents"].values()
        series = [EpisodeRecord.from_dict(e) for e in agent["series"]]
        pretraining = {"steps": agent.get("pretraining_steps", 0), "falls": agent.get("pretraining_falls", 0)}
        seed, finished = data.get("seed"), not data.get("interrupted", False)
    elif "series" in data:  # train.py / learning.py report
        series = [from_train_episode(e) for e in data["series"]]
        pretraining, seed, finished = data.get("pretraining") or {}, data.get("seed"), True
    elif "progress" in data:  # a resume folder's progress.json: an unfinished train.py run
        series = [from_train_episode(e) for e in data["progress"]["episodes"]]
        pretraining = data.get("agent", {}).get("pretraining") or {}
        seed, finished = data.get("fingerprint", {}).get("seed"), False
    else:
        raise ValueError(f"{path}: neither a compare_baseline.py report, a train.py report nor a progress.json")
    index = competence_episode(series)
    other = pretraining.get("other_world") or data.get("other_world") or {}  # train.py reports: top level
    run_env = data.get("env") or data.get("fingerprint", {}).get("env")
    if pretraining.get("env") not in (None, run_env):
        # Written before reports split off another world's pretraining: all of it was that world's.
        other, pretraining = pretraining, {}
    cliff_pre_steps, cliff_pre_falls = int(pretraining.get("steps", 0) or 0), int(pretraining.get("falls", 0) or 0)
    return {
        "file": str(path), "seed": seed, "finished": finished,
        "cliff_steps": cliff_pre_steps + (series[-1].env_step if series else 0),
        "pretraining_steps": cliff_pre_steps, "pretraining_falls": cliff_pre_falls,
        "episodes": len(series), "falls": cliff_pre_falls + sum(r.fell for r in series),
        "successes": sum(r.success for r in series),
        "competent_at": None if index is None else cliff_pre_steps + series[index].env_step,
        "falls_before_competence": cliff_pre_falls + falls_before_competence(series),
        "other_world": {k: other[k] for k in ("env", "steps", "falls", "drops") if k in other} or None,
        "curve": [[cliff_pre_steps, cliff_pre_falls]]
        + [[cliff_pre_steps + r.env_step, cliff_pre_falls + c] for r, c in zip(series, cumulative_falls(series), strict=True)],
    }


def markdown(summary: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| agent | seed | cliff env steps | falls before competence | competent at | falls | goals | other world |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for label, runs in summary.items():
        for run in runs:
            fbc = run["falls_before_competence"]
            other = run["other_world"]
            lines.append(
                f"| {label} | {run['seed']} | {run['cliff_steps']:,}{'' if run['finished'] else ' (stopped)'} | "
                f"{fbc if run['competent_at'] is not None else f'≥ {fbc}'} | "
                f"{run['competent_at'] if run['competent_at'] is not None else 'never'} | {run['falls']} | "
                f"{run['successes']} | "
                + (f"{other.get('env')}: {other.get('steps', 0):,} steps, {other.get('drops', 0)} drops |" if other else "— |")
            )
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, runs) in enumerate(summary.items()):
        for j, run in enumerate(runs):
            steps, falls = zip(*run["curve"], strict=True)
            ax.step([max(s, 1) for s in steps], falls, where="post", color=colors[i % len(colors)],
                    label=label if j == 0 else None, alpha=0.85)
            if run["competent_at"] is not None:
                ax.plot(run["competent_at"], run["falls_before_competence"], "o", color=colors[i % len(colors)])
    ax.set_xscale("log")
    ax.set_xlim(left=100)
    ax.set_xlabel("env steps on the 20 m cliff (log scale)")
    ax.set_ylabel("falls off the cliff so far")
    ax.set_title("CliffCar-v0: cumulative falls, every cliff step counted (dot: competent)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: Args) -> dict[str, list[dict[str, Any]]]:
    png, md = args.json.with_suffix(".png"), args.json.with_suffix(".md")
    check_writable([args.json, png, md])
    summary: dict[str, list[dict[str, Any]]] = {}
    for entry in args.runs:
        label, pattern = entry.split("=", 1)
        # Entries that share a label are one agent's runs kept in different folders.
        summary.setdefault(label, []).extend(load_run(Path(p)) for p in sorted(glob.glob(pattern)))
    write_json({"runs": summary, "args": {"runs": args.runs}}, args.json)
    md.write_text(markdown(summary))
    plot(summary, png)
    print(markdown(summary))
    print(f"wrote {args.json}, {md}, {png}")
    return summary


if __name__ == "__main__":
    main(tyro.cli(Args))
