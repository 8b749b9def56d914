"""Learn a task online with the latent-MPC agent: random seeding steps, then planning, one update per env step.

    python examples/train.py --env Pendulum-v1 --steps 5000 --json runs/pendulum.json
    python examples/train.py --env cliff-car --steps 30000 --checkpoint my-car.pt
    python examples/train.py --env cliff-car --steps 30000 --checkpoint my-car.pt --resume   # after an interruption
    python examples/train.py --env my_pkg.my_mod:MyEnv --steps 10000 --eval-every 1000
    python examples/train.py --help

Every ``--eval-every`` env steps the agent runs ``--eval-episodes`` held-out episodes
(seeds 0..M-1, never trained on) with exploration off and no learning. The trained agent
is written to ``--checkpoint`` (default: the cache that ``run_agent.py --env ENV`` reads),
the agent of its best evaluation to ``{checkpoint stem}.best.pt`` (``--no-keep-best``: not),
its resume state beside it while the run lasts; ``--json`` writes the report (falls,
competence, evaluations, speed); TensorBoard logs go under ``--log-dir``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro
from _cli import check_directory, check_output_file, fail, parse, set_threads, write_text

from agent.loop import TrainConfig
from agent.mpc import AgentConfig


@dataclass
class Args(TrainConfig):
    """Learn a task online with the latent-MPC agent and write its checkpoint and report."""

    agent: Annotated[AgentConfig, tyro.conf.arg(name="")] = field(default_factory=AgentConfig)
    """How the agent plans and learns (flags without prefix: --seed-steps, --planner.name, ...)."""
    json: Path | None = None
    """Write the report here (env, seed, steps, episodes, falls, successes, eval_falls,
    competent_at, falls_before_competent, evals, wall_s, steps_per_s, act_ms_median, peak_rss_mb)."""
    threads: int = 1
    """torch CPU threads, set before any work."""
    progress: bool = True
    """Show a progress bar."""


def main(args: Args) -> dict:
    set_threads(args.threads)
    if args.json is not None:
        check_output_file(args.json, "--json")
    check_output_file(args.checkpoint_path, "--checkpoint")
    if args.log_dir is not None:
        check_directory(args.log_dir, "--log-dir")
    if args.init_checkpoint is not None and not Path(args.init_checkpoint).is_file():
        fail(f"--init-checkpoint {args.init_checkpoint}: no such file")
    from evaluation.training import run_training

    report = run_training(args, progress_bar=args.progress)
    report["command"] = "python examples/train.py " + " ".join(sys.argv[1:])
    if args.json is not None:
        write_text(args.json, json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    competent = report["competent_at"]
    print(f"{report['env']} seed {report['seed']}: {report['steps']:,} env steps, {report['episodes']} episodes, "
          f"{report['falls']} falls (all experience counted), {report['successes']} successes; "
          + (f"competent at step {competent:,} after {report['falls_before_competent']} falls"
             if competent is not None else "not competent (9 of the last 10 episodes) yet")
          + f"; {report['steps_per_s']} env steps/s, act {report['act_ms_median']} ms median")
    if report["evals"]:
        last = report["evals"][-1]
        print(f"last evaluation (step {last['step']:,}): mean return {last['mean_return']:.1f}, "
              f"{last['successes']}/{last['episodes']} successes, {last['falls']} falls")
        best = report.get("best_eval")
        if best is not None and best is not last:
            print(f"best evaluation (step {best['step']:,}): mean return {best['mean_return']:.1f}, "
                  f"{best['successes']}/{best['episodes']} successes, {best['falls']} falls; that agent is "
                  f"{report['best_checkpoint']}")
    return report


if __name__ == "__main__":
    parsed = parse(Args)  # the configs check their budgets while they are built
    try:
        main(parsed)
    except (ValueError, FileNotFoundError, TypeError) as err:
        fail(str(err).splitlines()[0])
