"""The comparison's figure: cumulative falls, rolling success rate and return against env steps."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.config import AGENT_LABELS
from evaluation.metrics import EpisodeRecord, cumulative_falls, rolling_success_rate
from evaluation.report import budget_words


def plot_comparison(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """PNG of cumulative falls, rolling success rate and return vs env steps, one line per agent.

    The pretrained agent's falls line starts at its pretraining falls (marked at step 0),
    so the falls it took to learn its world model are not hidden.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = int(report["window"])
    fig, (ax_falls, ax_success, ax_return) = plt.subplots(1, 3, figsize=(16, 4.8))
    for index, (name, agent) in enumerate(report["agents"].items()):
        series = [EpisodeRecord.from_dict(d) for d in agent["series"]]
        color = f"C{index}"
        label = AGENT_LABELS.get(name, name)
        offset = int(agent.get("pretraining_falls", 0))
        steps = [0] + [r.env_step for r in series]
        falls = [offset] + [offset + f for f in cumulative_falls(series)]
        end = int(agent.get("env_steps", steps[-1]))
        if end > steps[-1]:  # no fall after the last finished episode, up to the budget's end
            steps.append(end)
            falls.append(falls[-1])
        ax_falls.step(steps, falls, where="post", color=color, label=label)
        if agent.get("pretraining_steps", 0):
            ax_falls.plot([0], [offset], "o", color=color, label="_nolegend_")
            ax_falls.annotate(
                f"{offset} falls in {agent['pretraining_steps']} pretraining steps",
                (0, offset),
                textcoords="offset points",
                xytext=(6, 6),
                color=color,
                fontsize=8,
            )
        rates = rolling_success_rate(series, window)
        points = [
            (r.env_step, rate) for r, rate in zip(series, rates, strict=True) if rate is not None
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax_success.plot(xs, ys, color=color, label=label)
        if series:
            returns = [r.ret for r in series]
            smooth = [
                float(np.mean(returns[max(0, i - window + 1) : i + 1])) for i in range(len(returns))
            ]
            ax_return.plot([r.env_step for r in series], smooth, color=color, label=label)
    top = max([1.0] + [line.get_ydata().max() for line in ax_falls.get_lines()])
    if top > 30:
        # SAC may fall thousands of times, MPC a handful: a log scale keeps both readable.
        from matplotlib.ticker import FuncFormatter

        ax_falls.set_yscale("symlog", linthresh=1.0)
        ax_falls.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax_falls.set_ylim(0, top * 3)
    else:
        ax_falls.set_ylim(-0.02 * (top + 1), top * 1.15 + 1)
    ax_falls.set_xlabel("env steps (task phase)")
    ax_falls.set_ylabel("cumulative falls (incl. pretraining)")
    ax_falls.set_title("Falls while learning")
    ax_success.axhline(float(report["target"]), color="grey", linestyle="--", linewidth=1)
    ax_success.set_ylim(-0.02, 1.02)
    ax_success.set_xlabel("env steps")
    ax_success.set_ylabel(f"success rate, last {window} episodes")
    ax_success.set_title("Rolling success rate")
    ax_return.set_xlabel("env steps")
    ax_return.set_ylabel(f"episode return, mean of last {window}")
    ax_return.set_title("Return")
    for ax in (ax_falls, ax_success, ax_return):
        ax.grid(alpha=0.3)
    handles, labels = ax_falls.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), frameon=False)
    title = f"{report['env']}: {budget_words(report)}, seed {report['seed']}"
    if report.get("interrupted"):
        title += " (interrupted)"
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
