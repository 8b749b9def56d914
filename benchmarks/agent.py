"""Measure the MPC agent against issue #5's targets and write JSON (never pass/fail).

    python benchmarks/agent.py                       # everything below (~tens of minutes)
    python benchmarks/agent.py --tasks cliff-car --episodes 10 --oracle-episodes 3   # quicker

- cliff-car: the shipped checkpoint on held-out seeds 0..episodes-1 (pretraining data uses
  seeds >= 1,000,000): success rate, falls, mean return, median `act` time on one thread.
- oracle: the same episodes' first ``oracle_episodes`` seeds driven by CEM planning on the
  true MuJoCo simulator (the env's state is copied and candidate sequences rolled out in
  MuJoCo); the agent's mean return on those seeds is compared with the oracle's.
- pendulum: Pendulum-v1 from scratch: pretrain on ``pendulum_pretrain_steps`` env steps,
  then run episodes with online learning; all env steps of data are counted.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# First on the path, always: this file's own name would otherwise shadow the `agent` package.
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import tyro  # noqa: E402


@dataclass
class Args:
    tasks: list[str] = field(default_factory=lambda: ["cliff-car", "oracle", "pendulum"])
    """Which measurements to run: cliff-car, oracle, pendulum."""
    episodes: int = 50
    """Held-out cliff-car episodes (seeds 0..episodes-1)."""
    planner: str = "gradient"
    """Planner of the learned agent."""
    horizon: int | None = None
    """Planning horizon of the learned agent (None: the agent's default)."""
    online: bool = True
    """Online learning during the cliff-car episodes (the CLI's default)."""
    checkpoint: Path = REPO / "checkpoints" / "cliff-car.pt"
    oracle_episodes: int = 10
    """Seeds (0..n-1) on which the simulator oracle is run (it is slow: CEM over MuJoCo)."""
    oracle_samples: int = 128
    oracle_iterations: int = 4
    oracle_horizon: int = 15
    pendulum_pretrain_steps: int = 2000
    pendulum_updates: int = 3000
    pendulum_episodes: int = 5
    """Pendulum episodes after pretraining (200 steps each; counted as data too, online)."""
    out: Path = REPO / "benchmarks" / "results" / "agent.json"


def run_learned(args: Args) -> dict:
    import envs
    from agent.evaluate import run_episode, summarize
    from agent.mpc import AgentConfig, MPCAgent, PlannerConfig

    env = envs.make_env("cliff-car")
    planner = PlannerConfig(name=args.planner)
    if args.horizon is not None:
        planner.horizon = args.horizon
    config = AgentConfig(planner=planner, online=args.online)
    agent = MPCAgent.load(args.checkpoint, env, config)
    start = time.perf_counter()
    results = [run_episode(agent, env, seed, learn=args.online) for seed in range(args.episodes)]
    summary = summarize(results)
    summary.update(wall_seconds=time.perf_counter() - start, planner=args.planner,
                   online=args.online, planner_settings=asdict(config.planner),
                   pretraining=agent.pretraining_stats)
    return summary


def run_oracle(args: Args) -> dict:
    """CEM on the true simulator: the ceiling a perfect world model could reach."""
    import envs
    from agent.evaluate import EpisodeResult, summarize
    from planners import CEMPlanner

    env = envs.make_env("cliff-car")
    low, high = env.action_space.low, env.action_space.high
    planner = CEMPlanner(horizon=args.oracle_horizon, action_low=low, action_high=high,
                         num_samples=args.oracle_samples, iterations=args.oracle_iterations)
    sim = env.unwrapped

    def objective(actions: torch.Tensor) -> torch.Tensor:  # (N, H, A) -> (N,)
        return torch.as_tensor(sim.rollout_costs(actions.double().numpy()), dtype=actions.dtype)

    results = []
    for seed in range(args.oracle_episodes):
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
        results.append(EpisodeResult(seed, ret, bool(info["fell"]), bool(info["success"]),
                                     steps, float(np.median(times))))
        print(f"oracle seed {seed}: return {ret:.2f} fell {info['fell']} success {info['success']}")
    summary = summarize(results)
    summary["settings"] = dict(samples=args.oracle_samples, iterations=args.oracle_iterations,
                               horizon=args.oracle_horizon)
    return summary


def run_pendulum(args: Args) -> dict:
    import envs
    from agent.evaluate import run_episode, summarize
    from agent.mpc import AgentConfig, MPCAgent, PlannerConfig
    from agent.pretrain import PretrainConfig

    start = time.perf_counter()
    pcfg = PretrainConfig(env="Pendulum-v1", collect_steps=args.pendulum_pretrain_steps,
                          updates=args.pendulum_updates)
    config = AgentConfig(planner=PlannerConfig(name=args.planner), online=True)
    agent = MPCAgent.pretrain("Pendulum-v1", config, pretrain_config=pcfg, progress=False)
    env = envs.make_env("Pendulum-v1")
    results = [run_episode(agent, env, seed) for seed in range(args.pendulum_episodes)]
    summary = summarize(results)
    summary.update(
        wall_seconds=time.perf_counter() - start,
        pretrain_steps=int(agent.pretraining_stats.get("steps", args.pendulum_pretrain_steps)),
        total_env_steps=int(agent.pretraining_stats.get("steps", 0)) + sum(r.steps for r in results),
    )
    return summary


def main(args: Args) -> dict:
    torch.set_num_threads(1)
    unknown = set(args.tasks) - {"cliff-car", "oracle", "pendulum"}
    if unknown:
        raise SystemExit(f"error: unknown task(s) {sorted(unknown)}; choose from cliff-car, oracle, pendulum")
    report: dict = {
        "command": " ".join(["python", "benchmarks/agent.py", *sys.argv[1:]]),
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "processor": platform.processor()},
    }
    if "cliff-car" in args.tasks:
        report["cliff_car"] = run_learned(args)
        s = report["cliff_car"]
        print(f"cliff-car: {s['successes']}/{s['episodes']} successes, {s['falls']} falls, "
              f"mean return {s['mean_return']:.2f}, median act {s['median_plan_ms']:.2f} ms")
    if "oracle" in args.tasks:
        report["oracle"] = run_oracle(args)
        if "cliff_car" in report:
            agent_returns = [e["ret"] for e in report["cliff_car"]["per_episode"][: args.oracle_episodes]]
            report["agent_over_oracle_return"] = {
                "agent_mean_return_same_seeds": float(np.mean(agent_returns)),
                "oracle_mean_return": report["oracle"]["mean_return"],
            }
    if "pendulum" in args.tasks:
        report["pendulum"] = run_pendulum(args)
        s = report["pendulum"]
        print(f"Pendulum-v1: mean return {s['mean_return']:.1f} with {s['total_env_steps']} env steps of data")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main(tyro.cli(Args))
