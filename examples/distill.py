"""Distil a thorough planner into an agent's policy prior (DAgger) and save the agent.

    python examples/distill.py --checkpoint checkpoints/cliff-car.pt --out /tmp/fast.pt
    python examples/distill.py --checkpoint X.pt --out Y.pt --planner.num-samples 8 --planner.iterations 2 \
        --distill.teacher.num-samples 64 --distill.teacher.iterations 6 --distill.rounds 3

The teacher (``--distill.teacher.*``, default 64 candidates x 6 iterations at horizon 25)
labels every state; the student is the agent with ``--planner.*`` (the fast setting it will
act with), warm-started by the policy being taught. Round 0 the teacher drives, later rounds
the student (``--distill.teacher-rounds``; see ``agent/distill.py``). The distillation episodes are real env steps: they
are added to the checkpoint's experience counts (steps, episodes, falls) and listed under
``pretraining.distillation`` in its metadata. World model and critic are not changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from _cli import check_output_file, fail, parse, set_threads

from agent.distill import DistillConfig, distill_policy
from planners import PlannerConfig


def _student() -> PlannerConfig:
    return PlannerConfig(horizon=25, num_samples=8, iterations=2)


@dataclass
class Args:
    """Distil the planner into the policy prior of a checkpoint."""

    checkpoint: Path
    """The agent to start from (its env is the one it was trained for)."""
    out: Path
    """Where the distilled agent goes (with its rehearsal data beside it, as the input had)."""
    planner: PlannerConfig = field(default_factory=_student)
    """The student's setting: the fast planner the distilled agent is meant to act with, or
    ``--planner.name policy`` for the policy prior alone."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """Rounds, episodes, teacher and imitation settings."""
    json: Path | None = None
    """Also write the distillation summary here."""
    threads: int = 1
    """torch CPU threads (1: reproducible)."""


def main(args: Args) -> dict:
    set_threads(args.threads)
    out = check_output_file(args.out, "--out")
    if args.json is not None:
        args.json = check_output_file(args.json, "--json", suffixes=(".json",))
    if not args.checkpoint.is_file():
        fail(f"--checkpoint {args.checkpoint} does not exist; pass a checkpoint written by pretrain.py or train.py")
    import envs
    from agent.checkpoint import load_checkpoint
    from agent.mpc import AgentConfig, MPCAgent

    try:
        _, meta = load_checkpoint(args.checkpoint)
        env = envs.make_env(meta["env_id"])
        agent = MPCAgent.load(args.checkpoint, env, AgentConfig(planner=args.planner), seed=args.distill.seed,
                              keep_objective=True)  # the teacher plans, and the student acts, with the agent's margin
    except (ValueError, envs.MakeEnvError, KeyError) as err:
        fail(str(err).splitlines()[0])
    from tqdm import tqdm

    with tqdm(desc="distilling", unit="step") as bar:
        summary = distill_policy(agent, env, args.distill, progress=bar)
    for number, r in enumerate(summary["rounds"]):
        print(f"round {number} ({r['driver']} drives): {r['episodes']} episodes, {r['steps']} steps, "
              f"{r['falls']} falls, {r['successes']} successes; imitation MSE {r['imitation_mse_before']:.4f} -> "
              f"{r['imitation_mse_after']:.4f} on {r['labels']} labels")
    print(f"distillation: {summary['steps']} env steps, {summary['falls']} falls (added to the agent's experience)")
    out.parent.mkdir(parents=True, exist_ok=True)
    agent.save(out)
    print(f"saved {out}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main(parse(Args))
