"""Act time against held-out success on CliffCar-v0, per planner setting, on one CPU thread.

    python benchmarks/act_speed.py                                # the settings below, 50 seeds
    python benchmarks/act_speed.py --episodes 10 --settings h25-32x4 policy

For each setting the frozen agent (``--checkpoint``, default the shipped one) drives the
held-out layouts ``0..episodes-1``: successes, falls, mean return, and the median and p95
of every ``act`` call's wall time. Timings on a shared machine swing by up to 1.6x, so the
same run also times a fixed *reference workload* — the first agent's planner (gradient
descent, 64 candidates x 6 iterations, horizon 25) on this model from a fixed latent — and
reports every setting's median act time as a ratio to it. Writes JSON, a markdown table and
a plot of success against median act time (the Pareto front). Never a pass/fail test.

Settings with ``compile`` plan through ``torch.compile`` (``AgentConfig.compile``): their
first act compiles, is reported apart (``first_act_ms``: tens of seconds with a cold inductor
cache, a second or two with a warm one) and left out of the act-time statistics.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import tyro

from agent.checkpoint import default_checkpoint
from evaluation.report import check_writable

if TYPE_CHECKING:
    from agent.mpc import AgentConfig

HERE = Path(__file__).resolve().parent

SETTINGS: dict[str, dict] = {
    "h25-64x6": {"horizon": 25, "num_samples": 64, "iterations": 6},
    "h25-32x4": {"horizon": 25, "num_samples": 32, "iterations": 4},
    "h15-32x4": {"horizon": 15, "num_samples": 32, "iterations": 4},
    "h25-16x2": {"horizon": 25, "num_samples": 16, "iterations": 2},
    "h25-8x2": {"horizon": 25, "num_samples": 8, "iterations": 2},
    "h25-16x1": {"horizon": 25, "num_samples": 16, "iterations": 1},
    "h25-8x1": {"horizon": 25, "num_samples": 8, "iterations": 1},
    "h15-8x2": {"horizon": 15, "num_samples": 8, "iterations": 2},
    "h25-8x2-local": {"horizon": 25, "num_samples": 8, "iterations": 2, "random_fraction": 0.0},
    "h25-8x1-local": {"horizon": 25, "num_samples": 8, "iterations": 1, "random_fraction": 0.0},
    "h25-8x2-local-compiled": {"horizon": 25, "num_samples": 8, "iterations": 2, "compile": True, "random_fraction": 0.0},
    "h25-8x3-local-compiled": {"horizon": 25, "num_samples": 8, "iterations": 3, "compile": True, "random_fraction": 0.0},
    "h25-16x2-local-compiled": {"horizon": 25, "num_samples": 16, "iterations": 2, "compile": True, "random_fraction": 0.0},
    "h25-32x4-compiled": {"horizon": 25, "num_samples": 32, "iterations": 4, "compile": True},
    "h25-8x2-compiled": {"horizon": 25, "num_samples": 8, "iterations": 2, "compile": True},
    "h25-32x4-2threads": {"horizon": 25, "num_samples": 32, "iterations": 4, "threads": 2},
    "policy": {"name": "policy"},
}
"""Settings by name: fields of ``planners.PlannerConfig`` (``policy``: the prior alone), plus
``compile`` (``AgentConfig.compile``) and ``threads`` (torch threads for this setting; default
``--threads``)."""
AGENT_KEYS = ("compile", "threads")


@dataclass
class Args:
    """Time the agent's act against held-out success on CliffCar-v0 for several planner settings."""

    settings: list[str] = field(default_factory=lambda: list(SETTINGS))
    """Which settings to run (names of SETTINGS)."""
    episodes: int = 50
    """Held-out layouts (seeds first_seed..first_seed+episodes-1)."""
    first_seed: int = 0
    """The first layout: 0 is the benchmark's held-out set; 50 gives a second, disjoint one (no
    agent trains on seeds below 100,000)."""
    checkpoint: Path = field(default_factory=lambda: default_checkpoint("cliff-car")[0])
    """The agent to time (frozen: no online learning)."""
    reference_calls: int = 30
    """plan() calls of the reference workload (median reported)."""
    threads: int = 1
    """torch CPU threads."""
    json: Path = HERE / "results" / "act_speed.json"
    """Where the JSON goes (the table and plot go beside it)."""


def reference_ms(agent, calls: int) -> float:
    """Median ms of one plan() of the reference workload (64 x 6, H = 25) on ``agent``'s model."""
    from planners import PlannerConfig

    ones = torch.ones(agent.action_dim)
    planner = PlannerConfig(horizon=25, num_samples=64, iterations=6).build(None, -ones, ones)
    z0 = torch.zeros(agent.world_model.config.latent_dim)
    objective = agent.objective_for(z0)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        planner.plan(objective)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def run_setting(name: str, args: Args, trained: AgentConfig) -> dict:
    """One setting's row; ``trained``: the checkpoint's config with its stored objective (margin)."""
    import envs
    from agent.mpc import MPCAgent
    from evaluation import run_episode, summarize
    from planners import PlannerConfig

    setting = dict(SETTINGS[name])
    threads = setting.pop("threads", args.threads)
    compile_ = setting.pop("compile", False)
    env = envs.make_env("cliff-car")
    # the agent as trained (its margin), planning exactly as this setting says: loading with
    # keep_objective would put a stored horizon in place of an explicit 25 (it equals the default)
    config = dataclasses.replace(trained, planner=PlannerConfig(**setting), compile=compile_)
    agent = MPCAgent.load(args.checkpoint, env, config)
    torch.set_num_threads(threads)
    acts: list[float] = []
    records = []
    try:
        for seed in range(args.first_seed, args.first_seed + args.episodes):
            records.append(run_episode(agent, env, seed, learn=False))
            acts.extend(agent.plan_times_ms)
    finally:
        torch.set_num_threads(args.threads)
    first_act = acts[0]
    if compile_:  # the first act compiles (reported as first_act_ms); the rest run compiled code
        acts = acts[1:]
    summary = summarize(records, per_episode=False)
    return {"setting": name, **SETTINGS[name], "threads": threads, "episodes": summary["episodes"],
            "successes": summary["successes"], "falls": summary["falls"],
            "mean_return": summary["mean_return"], "act_ms_median": float(np.median(acts)),
            "act_ms_p95": float(np.percentile(acts, 95)), "acts": len(acts), "first_act_ms": first_act,
            "episode_seeds_fell": [r.seed for r in records if r.fell],
            "episode_seeds_failed": [r.seed for r in records if not r.success]}


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    unknown = [s for s in args.settings if s not in SETTINGS]
    if unknown:
        raise SystemExit(f"error: unknown setting(s) {unknown}; choose from {sorted(SETTINGS)}")
    try:
        check_writable([args.json])
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    import envs
    from agent.mpc import AgentConfig, MPCAgent

    probe = MPCAgent.load(args.checkpoint, envs.make_env("cliff-car"), AgentConfig(online=False), keep_objective=True)
    reference = reference_ms(probe, args.reference_calls)
    rows = []
    for name in args.settings:
        row = run_setting(name, args, probe.config)
        row["act_ratio_to_reference"] = row["act_ms_median"] / reference
        rows.append(row)
        print(f"{name}: {row['successes']}/{row['episodes']} successes, {row['falls']} falls, "
              f"act median {row['act_ms_median']:.2f} ms (p95 {row['act_ms_p95']:.2f}), "
              f"{row['act_ratio_to_reference']:.3f} x reference", flush=True)
    report = {"command": "python benchmarks/act_speed.py", "args": json.loads(json.dumps(asdict(args), default=str)),
              "reference": {"what": "gradient planner 64 x 6, H = 25, one plan() from a fixed latent",
                            "ms_median": reference}, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| setting | successes | falls | mean return | act median ms | act p95 ms | ratio to reference |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['setting']} | {r['successes']}/{r['episodes']} | {r['falls']} | {r['mean_return']:.2f} | "
              f"{r['act_ms_median']:.2f} | {r['act_ms_p95']:.2f} | {r['act_ratio_to_reference']:.3f} |" for r in rows]
    args.json.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        ax.scatter(r["act_ms_median"], r["successes"] / r["episodes"])
        ax.annotate(r["setting"], (r["act_ms_median"], r["successes"] / r["episodes"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("median act time, ms (one CPU thread)")
    ax.set_ylabel("held-out success rate")
    ax.set_title(f"CliffCar-v0, held-out layouts {args.first_seed}-{args.first_seed + args.episodes - 1}")
    fig.tight_layout()
    fig.savefig(args.json.with_suffix(".png"), dpi=120)
    print(f"wrote {args.json} (+ .md, .png)")
    return report


if __name__ == "__main__":
    main(tyro.cli(Args))
