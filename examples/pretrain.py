"""Pretrain a world model and critic for an env and save a checkpoint.

    python examples/pretrain.py --env cliff-car                       # -> checkpoints/cliff-car.pt
    python examples/pretrain.py --env Pendulum-v1 --updates 1000 --out /tmp/pendulum.pt
    tensorboard --logdir runs

Collects reward-free exploration data (seeds >= 1,000,000), trains the JEPA world model
and the cost-to-go critic, prints what the data cost (steps, episodes, falls, successes)
and writes state dicts plus metadata (no replay buffer) to ``--out``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run from anywhere without installing the package

import numpy as np  # noqa: E402
import tyro  # noqa: E402

from agent.checkpoint import SHIPPED_DIR, env_slug, replay_path  # noqa: E402
from agent.pretrain import PretrainConfig, pretrain, save_pretrained  # noqa: E402


@dataclass
class Args(PretrainConfig):
    """Collect exploration data, train world model and critic, save a checkpoint."""

    threads: int | None = 1
    """torch CPU threads (1: bitwise-reproducible and comparable timings; None: torch's default)."""
    out: Path | None = None
    """Checkpoint path (default: checkpoints/<env>.pt in the repository)."""
    save_buffer: Path | None = None
    """Also write the whole collected replay buffer as .npz here (never stored in the checkpoint)."""
    replay_steps: int = 20_000
    """Transitions of the data kept beside the checkpoint (<out>.replay.npz; every fall episode
    first) for online learning to rehearse; 0: write none."""


def main(args: Args) -> Path:
    out = args.out or SHIPPED_DIR / f"{env_slug(args.env)}.pt"
    config = PretrainConfig(**{k: v for k, v in asdict(args).items() if k in PretrainConfig.__dataclass_fields__})
    config.world_model, config.critic = args.world_model, args.critic  # keep the dataclasses (asdict made dicts)
    result = pretrain(args.env, config, progress=True)
    path = save_pretrained(out, result, config)
    if args.save_buffer is not None:
        result.buffer.save(args.save_buffer)
    if args.replay_steps > 0:
        rehearsal = result.buffer.subset(args.replay_steps, np.random.default_rng(args.seed))
        rehearsal.save(replay_path(path))
        print(f"saved {replay_path(path)} ({rehearsal.num_steps} steps, {rehearsal.num_falls} falls, "
              f"{replay_path(path).stat().st_size / 1e6:.1f} MB) for online rehearsal")
    stats = {k: v for k, v in result.stats.items() if k != "final"}
    print(json.dumps(stats, indent=2))
    print(f"data: {stats['steps']} env steps, {stats['episodes']} episodes, {stats['falls']} falls, "
          f"{stats['successes']} successes; pretraining took {stats['wall_seconds']:.0f} s")
    size_mb = path.stat().st_size / 1e6
    print(f"saved {path} ({size_mb:.1f} MB)")
    return path


if __name__ == "__main__":
    main(tyro.cli(Args))
