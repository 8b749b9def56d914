"""The baseline comparison over several seeds, run in parallel worker processes.

    python benchmarks/compare_seeds.py --env cliff-car --seeds 0 1 2 --workers 2
    python benchmarks/compare_seeds.py --env cliff-car --seeds 0 1 2 --collect-steps 20000
    python benchmarks/compare_seeds.py --agents sac ppo mpc_pretrained --seeds 0 1

One comparison (``examples/compare_baseline.py``) is one seed: a handful of episodes
decide "competent" or not, so a single run can mislead. This script runs every
(seed, agent) pair as its own ``compare_baseline.py`` process — ``--workers`` at a time,
``--threads`` torch threads each — keeps each process's JSON report under ``--work-dir``,
merges them into one report per seed, and writes a summary over seeds: per agent and seed
the falls before competence (task phase and including pretraining), env steps to 90 %
success, final success rate and return, wall time; plus totals and medians, a markdown
table and a PNG (cumulative falls and rolling success rate, a line per seed).

A (seed, agent) whose report already exists in ``--work-dir`` and was made with the same
command-line settings is not run again (``--no-resume`` reruns everything), so an
interrupted sweep continues where it stopped; ``--no-run`` only redraws the summary.
Everything else (budget, SB3 and MPC settings) passes through to ``compare_baseline.py``
via ``--extra``.
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tyro

from evaluation.config import AGENT_LABELS, DEFAULT_AGENTS, parse_agent_names
from evaluation.metrics import EpisodeRecord, cumulative_falls, rolling_success_rate
from evaluation.report import check_writable, load_report, write_json

RESULTS = Path(__file__).resolve().parent / "results"
"""This benchmark's results folder (beside the script, wherever it is run from)."""
COMPARE_BASELINE = Path(__file__).resolve().parents[1] / "examples" / "compare_baseline.py"
"""The one-seed comparison each worker process runs."""


@dataclass
class Args:
    """Run the baseline comparison on several seeds in parallel and summarise it over seeds."""

    env: str = "cliff-car"
    """Env spec, as for compare_baseline.py."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds; each gets the full comparison."""
    agents: tuple[str, ...] = DEFAULT_AGENTS
    """Agents to run for every seed: any of sac, ppo, mpc_pretrained, mpc_scratch."""
    workers: int = 2
    """Comparison processes at a time (this machine has 2 cores)."""
    threads: int = 1
    """Torch CPU threads of each comparison process."""
    budget_steps: int | None = None
    """Env steps per agent (None: compare_baseline.py's default)."""
    sb3_budget_steps: int | None = None
    """Env steps for SAC/PPO only (None: the common budget)."""
    collect_steps: int | None = None
    """mpc_pretrained pretrains on this many env steps of reward-free exploration data drawn with each seed (None: the shipped checkpoint for every seed)."""
    extra: str = ""
    """More compare_baseline.py flags, as one shell-quoted string (e.g. "--mpc.planner cem")."""
    work_dir: Path = RESULTS / "compare_seeds"
    """Per-(seed, agent) reports and logs."""
    json: Path = RESULTS / "compare_seeds_cliff-car.json"
    """Summary over seeds (JSON)."""
    plot: Path | None = None
    """PNG of the summary (None: beside --json, with its stem)."""
    markdown: Path | None = None
    """Markdown table of the summary (None: beside --json, with its stem)."""
    resume: bool = True
    """Reuse a (seed, agent) report made earlier with the same settings."""
    run: bool = True
    """--no-run: run nothing, only summarise (and plot) the reports already in --work-dir."""

    def __post_init__(self) -> None:
        self.agents = parse_agent_names(self.agents)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"need distinct seeds, got {self.seeds}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        # Reports record absolute paths, so they do not depend on where this ran from.
        self.work_dir, self.json = self.work_dir.resolve(), self.json.resolve()
        self.plot = (self.plot or self.json.with_suffix(".png")).resolve()
        self.markdown = (self.markdown or self.json.with_suffix(".md")).resolve()


def job_command(args: Args, seed: int, agent: str, json_path: Path) -> list[str]:
    """The compare_baseline.py command of one (seed, agent) pair."""
    command = [sys.executable, str(COMPARE_BASELINE), "--env", args.env,
               "--agents", agent, "--seed", str(seed), "--json", str(json_path), "--no-progress",
               "--threads", str(args.threads)]
    if args.budget_steps is not None:
        command += ["--budget-steps", str(args.budget_steps)]
    if args.sb3_budget_steps is not None:
        command += ["--sb3.budget-steps", str(args.sb3_budget_steps)]
    if args.collect_steps is not None and agent == "mpc_pretrained":
        command += ["--collect-steps", str(args.collect_steps)]
    return command + shlex.split(args.extra)


def run_job(args: Args, seed: int, agent: str) -> Path:
    """Run one (seed, agent) comparison unless an identical one is on disk; returns its JSON path."""
    args.work_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{args.env}__seed{seed}__{agent}"
    json_path, log_path, cmd_path = (args.work_dir / f"{stem}{ext}" for ext in (".json", ".log", ".cmd"))
    command = job_command(args, seed, agent, json_path)
    # What decides the result: the flags, not where the script or the report lie.
    flags = command[2:]
    at = flags.index("--json")
    settings = " ".join(shlex.quote(part) for part in flags[:at] + flags[at + 2 :])
    if (args.resume or not args.run) and json_path.exists() and cmd_path.exists() and cmd_path.read_text() == settings:
        if not load_report(json_path).get("interrupted"):
            print(f"[{stem}] reusing {json_path.name}", flush=True)
            return json_path
    if not args.run:
        raise RuntimeError(f"--no-run: no finished report with these settings at {json_path}")
    start = time.perf_counter()
    print(f"[{stem}] started", flush=True)
    with open(log_path, "w") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise RuntimeError(f"{stem} failed with exit status {status}; see {log_path}")
    cmd_path.write_text(settings)
    print(f"[{stem}] done in {time.perf_counter() - start:.0f} s", flush=True)
    return json_path


SUMMARY_KEYS = ("falls_before_competence", "falls_before_competence_incl_pretraining", "reached_target",
                "steps_to_90", "falls_total", "final_success_rate", "final_return", "wall_seconds",
                "pretraining_steps", "pretraining_falls", "act_ms_median")


def summarize_seeds(
    reports: dict[int, dict[str, Any]], agents: tuple[str, ...], common_steps: int | None = None
) -> dict[str, Any]:
    """Per agent: each summary figure as a list over seeds, plus medians and totals.

    ``common_steps``: also count each run's falls within its first ``common_steps`` env steps
    (``falls_in_common_budget``), so that an agent given a longer budget (SAC) is compared
    on the same footing too.
    """
    summary: dict[str, Any] = {}
    for name in agents:
        rows = [reports[seed]["agents"][name] for seed in sorted(reports)]
        per_seed = {key: [row.get(key) for row in rows] for key in SUMMARY_KEYS}
        if common_steps is not None:
            per_seed["falls_in_common_budget"] = [
                sum(bool(e["fell"]) for e in row.get("series", []) if e["env_step"] <= common_steps)
                for row in rows
            ]
        competent = [row["reached_target"] for row in rows]
        steps = [row["steps_to_90"] for row in rows if row["steps_to_90"] is not None]
        summary[name] = {
            "seeds": sorted(reports),
            **per_seed,
            "competent_seeds": int(sum(competent)),
            "falls_total_sum": int(sum(per_seed["falls_total"])),
            "falls_before_competence_sum": int(sum(per_seed["falls_before_competence"])),
            "falls_before_competence_incl_pretraining_sum":
                int(sum(per_seed["falls_before_competence_incl_pretraining"])),
            "falls_before_competence_median": statistics.median(per_seed["falls_before_competence"]),
            "falls_before_competence_incl_pretraining_median":
                statistics.median(per_seed["falls_before_competence_incl_pretraining"]),
            # Over the competent seeds only; a lower bound elsewhere.
            "steps_to_90_median_competent": statistics.median(steps) if steps else None,
            "final_success_rate_mean": statistics.fmean(per_seed["final_success_rate"]),
            "final_return_mean": statistics.fmean(per_seed["final_return"]),
        }
    return summary


def _cell(values: list[Any], competent: list[bool] | None = None, fmt: str = "") -> str:
    cells = []
    for i, value in enumerate(values):
        text = "never" if value is None else format(value, fmt)
        if competent is not None and not competent[i] and value is not None:
            text = f"≥{text}"  # never competent: every fall of the run, a lower bound
        cells.append(text)
    return " / ".join(cells)


def markdown(result: dict[str, Any]) -> str:
    """Markdown table of the summary, one row per agent, one value per seed in each cell."""
    seeds = result["seeds"]
    lines = [
        f"**{result['env']}**, seeds {', '.join(map(str, seeds))} (values per seed, in that order), "
        f"budget {result['budget_words']}; ≥ marks a run that never reached 90 % rolling success "
        "(its falls so far are a lower bound).",
        "",
        f"| agent | falls in the first {result.get('common_steps')} steps | falls before 90 % (task) "
        "| incl. pretraining | competent | env steps to 90 % | final success | final return | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in result["summary"].items():
        competent = row["reached_target"]
        lines.append(
            f"| {AGENT_LABELS.get(name, name)} | {_cell(row.get('falls_in_common_budget', []))} "
            f"| {_cell(row['falls_before_competence'], competent)} "
            f"| {_cell(row['falls_before_competence_incl_pretraining'], competent)} "
            f"| {row['competent_seeds']}/{len(seeds)} | {_cell(row['steps_to_90'])} "
            f"| {_cell(row['final_success_rate'], fmt='.2f')} | {_cell(row['final_return'], fmt='.1f')} "
            f"| {_cell(row['wall_seconds'], fmt='.0f')} s |"
        )
    for name, row in result["summary"].items():
        if any(row["pretraining_steps"]):
            lines.append("")
            lines.append(
                f"{AGENT_LABELS.get(name, name)}: pretraining data per seed "
                f"{_cell(row['pretraining_steps'])} env steps with {_cell(row['pretraining_falls'])} falls."
            )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Cumulative falls and rolling success rate vs env steps, a line per seed.

    Falls are drawn twice for a pretrained agent: solid for the task phase, dashed
    starting at its pretraining falls, so that neither figure hides the other.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (ax_falls, ax_success) = plt.subplots(1, 2, figsize=(13, 4.8))
    longest = max(result["budget_steps"].values())
    for index, name in enumerate(result["summary"]):
        color, label = f"C{index}", AGENT_LABELS.get(name, name)
        for k, seed in enumerate(result["seeds"]):
            agent = result["per_seed"][str(seed)]["agents"][name]
            window = int(result["per_seed"][str(seed)]["window"])
            series = [EpisodeRecord.from_dict(d) for d in agent["series"]]
            steps = [0] + [r.env_step for r in series] + [int(agent["env_steps"])]
            falls = [0] + cumulative_falls(series)
            falls.append(falls[-1])
            ax_falls.step(steps, falls, where="post", color=color, alpha=0.8,
                          label=f"{label} (task phase)" if k == 0 else "_nolegend_")
            offset = int(agent.get("pretraining_falls", 0))
            if offset:
                ax_falls.step(steps, [offset + f for f in falls], where="post", color=color, alpha=0.8,
                              linestyle="--", label=f"{label}, incl. pretraining" if k == 0 else "_nolegend_")
            points = [(r.env_step, v) for r, v in zip(series, rolling_success_rate(series, window), strict=True)
                      if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax_success.plot(xs, ys, color=color, alpha=0.8, label=label if k == 0 else "_nolegend_")
    ax_falls.set_yscale("symlog", linthresh=1.0)
    ax_falls.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax_falls.set_xlabel("env steps of the task phase")
    ax_falls.set_ylabel("cumulative falls (symlog)")
    ax_falls.set_title("Falls while learning (a line per seed)")
    ax_success.axhline(0.9, color="grey", linestyle="--", linewidth=1)
    ax_success.set_ylim(-0.02, 1.02)
    ax_success.set_xlabel("env steps")
    ax_success.set_ylabel("success rate, last 10 episodes")
    ax_success.set_title("Rolling success rate")
    if longest > 10 * result["common_steps"]:  # one agent ran far longer: keep the start readable
        for ax in (ax_falls, ax_success):
            ax.set_xscale("symlog", linthresh=float(result["common_steps"]))
    for ax in (ax_falls, ax_success):
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    ax_falls.legend(loc="best", fontsize=8)
    fig.suptitle(f"{result['env']}: {result['budget_words']}, seeds {', '.join(map(str, result['seeds']))}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args: Args) -> dict[str, Any]:
    check_writable([args.json, args.plot, args.markdown])
    jobs = [(seed, agent) for seed in args.seeds for agent in args.agents]
    # Slow agents first, so the pool does not end on one long job.
    order = {"mpc_scratch": 0, "mpc_pretrained": 1}
    jobs.sort(key=lambda job: (order.get(job[1], 2), job[0]))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        paths = dict(zip(jobs, pool.map(lambda job: run_job(args, *job), jobs), strict=True))
    reports: dict[int, dict[str, Any]] = {}
    for (seed, agent), path in sorted(paths.items()):
        report = load_report(path)
        merged = reports.setdefault(seed, {k: v for k, v in report.items() if k != "agents"} | {"agents": {}})
        # Each (seed, agent) ran as its own process: keep the commit each one ran.
        merged["agents"][agent] = {**report["agents"][agent], "git_commit": report.get("git_commit")}
    first = reports[args.seeds[0]]
    budgets = {name: first["agents"][name]["budget_steps"] for name in args.agents}
    if len(set(budgets.values())) == 1:
        budget_words = f"{next(iter(budgets.values()))} env steps per agent"
    else:
        budget_words = ", ".join(f"{AGENT_LABELS.get(n, n)} {b} env steps" for n, b in budgets.items())
    common = min(budgets.values())
    result = {
        "env": args.env,
        "seeds": list(args.seeds),
        "budget_steps": budgets,
        "budget_words": budget_words,
        "common_steps": common,
        "workers": args.workers,
        "wall_seconds_all": time.perf_counter() - start,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        "git_commits": sorted({str(a["git_commit"]) for r in reports.values() for a in r["agents"].values()}),
        "summary": summarize_seeds(reports, args.agents, common),
        "per_seed": {str(seed): report for seed, report in reports.items()},
    }
    write_json(result, args.json)
    table = markdown(result)
    flags = [a for a in sys.argv[1:] if a != "--no-run"]  # the command that made the reports
    command = " ".join(shlex.quote(a) for a in ["python", "benchmarks/compare_seeds.py", *flags])
    redrawn = "" if args.run else " (summary redrawn from its reports with --no-run)"
    args.markdown.write_text(f"{table}\n\nCommand: `{command}`{redrawn}\n")
    plot(result, args.plot)
    print(table)
    print(f"\nsummary: {args.json}\ntable:   {args.markdown}\nplot:    {args.plot}")
    return result


if __name__ == "__main__":
    try:
        main(tyro.cli(Args))
    except (ValueError, RuntimeError) as err:
        raise SystemExit(f"error: {err}") from None
    except KeyboardInterrupt:
        raise SystemExit("interrupted: finished (seed, agent) reports stay in --work-dir; rerun to continue") from None
