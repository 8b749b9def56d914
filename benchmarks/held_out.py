"""Measure the MPC agent on held-out layouts against issue #5's targets and write JSON (never pass/fail).

    python benchmarks/held_out.py                       # everything below (~tens of minutes)
    python benchmarks/held_out.py --tasks cliff-car --episodes 10 --oracle-episodes 3   # quicker

- cliff-car: the shipped checkpoint on held-out seeds seed..seed+episodes-1 (pretraining
  data uses seeds >= 1,000,000): success rate, falls, mean return, median `act` time on one thread.
- oracle: the same episodes' first ``oracle_episodes`` seeds driven by CEM planning on the
  true MuJoCo simulator (the env's state is copied and candidate sequences rolled out in
  MuJoCo); the agent's mean return on those seeds is compared with the oracle's.
- pendulum: Pendulum-v1 from scratch: pretrain on ``pendulum_collect_steps`` env steps,
  then run episodes with online learning; all env steps of data are counted.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import tyro

from agent.checkpoint import default_checkpoint
from agent.utils import machine_info
from evaluation.report import check_writable

HERE = Path(__file__).resolve().parent

RESULTS = HERE / "results"
"""This benchmark's results folder (beside the script, wherever it is run from)."""


@dataclass
class Args:
    """Measure the MPC agent on held-out cliff-car layouts, against a simulator oracle, and on Pendulum-v1."""

    tasks: list[str] = field(default_factory=lambda: ["cliff-car", "oracle", "pendulum"])
    """Which measurements to run: cliff-car, oracle, pendulum."""
    episodes: int = 50
    """Held-out cliff-car episodes (seeds seed..seed+episodes-1)."""
    seed: int = 0
    """First held-out seed (also the first oracle seed and the first Pendulum episode's)."""
    layouts: list[int] | None = None
    """Held-out cliff-car seeds to run instead of seed..seed+episodes-1 (e.g. ``--layouts 2 5 21``
    to rerun the layouts one setting lost with another); each episode is independent of the others
    (the agent is reset with its layout's seed), so a layout's result is the one it gets in a full run."""
    planner: str = "gradient"
    """Planner of the learned agent."""
    num_samples: int | None = None
    """Planner candidates per iteration (None: the agent's default, ``AgentConfig().planner``, as
    ``run_agent.py`` and ``train.py`` plan). Before session 20 this script used the planner's
    fast preset instead, 64 x 6 where the agent plans 32 x 4: ``--num-samples 64 --iterations 6``
    reproduces those numbers."""
    iterations: int | None = None
    """Planner iterations per act (None: the agent's default)."""
    horizon: int | None = None
    """Planning horizon of the learned agent (None: the one the checkpoint stores, unless
    --risk-step-coef is given; else the default, 25)."""
    online: bool = True
    """Online learning during the cliff-car episodes (the CLI's default)."""
    risk_step_coef: float | None = None
    """The learned agent's per-step risk margin (``AgentConfig.risk_step_coef``; needs a checkpoint
    with a fall-risk critic). None: the checkpoint's objective settings, margin included."""
    checkpoint: Path = field(default_factory=lambda: default_checkpoint("cliff-car")[0])
    """The cliff-car agent's checkpoint (default: the shipped one)."""
    oracle_episodes: int = 10
    """Seeds (seed..seed+n-1) on which the simulator oracle is run (it is slow: CEM over MuJoCo)."""
    oracle_samples: int = 128
    oracle_iterations: int = 4
    oracle_horizon: int = 15
    pendulum_collect_steps: int = 2000
    """Env steps of reward-free exploration data Pendulum-v1's agent is pretrained on."""
    pendulum_updates: int = 3000
    pendulum_episodes: int = 5
    """Pendulum episodes after pretraining (200 steps each; counted as data too, online)."""
    threads: int = 1
    """Torch CPU threads (the README's act times are for one thread)."""
    json: Path = RESULTS / "held_out.json"
    """Write the report here."""


def learned_planner(args: Args):
    """The learned agent's planner: the agent's own default budget (what ``run_agent.py`` and
    ``train.py`` plan with), with ``--planner``, ``--horizon``, ``--num-samples`` and
    ``--iterations`` where given."""
    from agent.mpc import AgentConfig

    planner = dataclasses.replace(AgentConfig().planner, name=args.planner)
    for name in ("horizon", "num_samples", "iterations"):
        if getattr(args, name) is not None:
            setattr(planner, name, getattr(args, name))
    return planner


def cliff_car_seeds(args: Args) -> list[int]:
    """The held-out cliff-car seeds to run: ``--layouts`` if given, else seed..seed+episodes-1."""
    return list(args.layouts) if args.layouts is not None else list(range(args.seed, args.seed + args.episodes))


def run_learned(args: Args) -> dict:
    import envs
    from agent.mpc import AgentConfig, MPCAgent, objective_settings
    from evaluation import run_episode, summarize

    env = envs.make_env("cliff-car")
    planner = learned_planner(args)
    config = AgentConfig(planner=planner, online=args.online, risk_step_coef=args.risk_step_coef or 0.0)
    agent = MPCAgent.load(args.checkpoint, env, config, keep_objective=args.risk_step_coef is None)
    start = time.perf_counter()
    results = [run_episode(agent, env, seed, learn=args.online) for seed in cliff_car_seeds(args)]
    summary = summarize(results, pretraining_falls=int(agent.pretraining_stats.get("falls", 0)))
    summary.update(wall_seconds=time.perf_counter() - start, planner=args.planner,
                   online=args.online, risk_step_coef=agent.config.risk_step_coef,
                   objective=objective_settings(agent.config), planner_settings=asdict(agent.config.planner),
                   pretraining=agent.pretraining_stats)
    return summary


def run_oracle(args: Args) -> dict:
    """CEM on the true simulator: the ceiling a perfect world model could reach."""
    import envs
    from evaluation import EpisodeRecord, summarize
    from planners import CEMPlanner

    env = envs.make_env("cliff-car")
    low, high = env.action_space.low, env.action_space.high
    planner = CEMPlanner(horizon=args.oracle_horizon, action_low=low, action_high=high,
                         **{**CEMPlanner.FAST_PRESET, "num_samples": args.oracle_samples,
                            "iterations": args.oracle_iterations})  # the per-control-step preset
    sim = env.unwrapped

    def objective(actions: torch.Tensor) -> torch.Tensor:  # (N, H, A) -> (N,)
        return torch.as_tensor(sim.rollout_costs(actions.double().numpy()), dtype=actions.dtype)

    results = []
    for seed in range(args.seed, args.seed + args.oracle_episodes):
        obs, info = env.reset(seed=seed)
        planner.reset(seed)
        plan, ret, steps, times = None, 0.0, 0, []
        while True:
            t0 = time.perf_counter()
            init = None if plan is None else torch.cat([plan[1:], plan[-1:]])
            plan = planner.plan(objective, init=init).actions
            times.append((time.perf_counter() - t0) * 1e3)
            obs, reward, terminated, truncated, info = env.step(plan[0].numpy())
            ret += float(reward)
            steps += 1
            if terminated or truncated:
                break
        results.append(EpisodeRecord(seed=seed, ret=ret, fell=bool(info["fell"]),
                                     success=bool(info["success"]), steps=steps,
                                     env_step=steps, median_plan_ms=float(np.median(times))))
        print(f"oracle seed {seed}: return {ret:.2f} fell {info['fell']} success {info['success']}")
    summary = summarize(results)
    summary["settings"] = dict(samples=args.oracle_samples, iterations=args.oracle_iterations,
                               horizon=args.oracle_horizon)
    return summary


def run_pendulum(args: Args) -> dict:
    import envs
    from agent.mpc import AgentConfig, MPCAgent
    from agent.pretrain import PretrainConfig
    from evaluation import run_episode, summarize

    start = time.perf_counter()
    pcfg = PretrainConfig(env="Pendulum-v1", collect_steps=args.pendulum_collect_steps,
                          updates=args.pendulum_updates)
    config = AgentConfig(planner=dataclasses.replace(learned_planner(args), horizon=AgentConfig().planner.horizon),
                         online=True)
    agent = MPCAgent.pretrain("Pendulum-v1", config, pretrain_config=pcfg, progress=False)
    env = envs.make_env("Pendulum-v1")
    seeds = range(args.seed, args.seed + args.pendulum_episodes)
    results = [run_episode(agent, env, seed) for seed in seeds]
    summary = summarize(results)
    summary.update(
        wall_seconds=time.perf_counter() - start,
        pretrain_steps=int(agent.pretraining_stats.get("steps", args.pendulum_collect_steps)),
        total_env_steps=int(agent.pretraining_stats.get("steps", 0)) + sum(r.steps for r in results),
    )
    return summary


def main(args: Args) -> dict:
    if args.threads < 1:
        raise SystemExit(f"error: --threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    unknown = set(args.tasks) - {"cliff-car", "oracle", "pendulum"}
    if unknown:
        raise SystemExit(f"error: unknown task(s) {sorted(unknown)}; choose from cliff-car, oracle, pendulum")
    if args.layouts is not None and (not args.layouts or min(args.layouts) < 0 or len(set(args.layouts)) < len(args.layouts)):
        raise SystemExit(f"error: --layouts takes distinct seeds >= 0, got {args.layouts}")
    if args.layouts is not None and args.online:
        raise SystemExit("error: --layouts runs chosen layouts of a frozen agent; add --no-online (online "
                         "learning would make each layout's result depend on the ones before it)")
    if "cliff-car" in args.tasks and not args.checkpoint.is_file():
        raise SystemExit(f"error: checkpoint {args.checkpoint} does not exist; pass --checkpoint PATH")
    try:
        check_writable([args.json])
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    report: dict = {
        "command": " ".join(["python", "benchmarks/held_out.py", *sys.argv[1:]]),
        "machine": machine_info(),
    }
    if "cliff-car" in args.tasks:
        report["cliff_car"] = run_learned(args)
        s = report["cliff_car"]
        print(f"cliff-car: {s['successes']}/{s['episodes']} successes, {s['falls']} falls, "
              f"mean return {s['mean_return']:.2f}, median act {s['median_plan_ms']:.2f} ms")
    if "oracle" in args.tasks:
        report["oracle"] = run_oracle(args)
        if "cliff_car" in report:
            agent_returns = [e["return"] for e in report["cliff_car"]["per_episode"][: args.oracle_episodes]]
            report["agent_over_oracle_return"] = {
                "agent_mean_return_same_seeds": float(np.mean(agent_returns)),
                "oracle_mean_return": report["oracle"]["mean_return"],
            }
    if "pendulum" in args.tasks:
        report["pendulum"] = run_pendulum(args)
        s = report["pendulum"]
        print(f"Pendulum-v1: mean return {s['mean_return']:.1f} with {s['total_env_steps']} env steps of data")
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    return report


if __name__ == "__main__":
    main(tyro.cli(Args))
