"""Pretrain the agent on reward-free exploration data (world model, critic, policy prior) and save a checkpoint.

    python examples/pretrain.py --env cliff-car                # -> checkpoints/cliff-car.pt
    python examples/pretrain.py --env Pendulum-v1 --updates 1000 --checkpoint /tmp/pendulum.pt
    tensorboard --logdir runs                                  # the --log-dir default

Collects reward-free exploration data (seeds >= 1,000,000), trains the JEPA world model
and the cost-to-go critic, prints what the data cost (steps, episodes, falls, successes)
and writes state dicts plus metadata (no replay buffer) to ``--checkpoint``, with a
rehearsal subset of the data beside it for online learning.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from _cli import check_directory, check_output_file, fail, parse, set_threads

from agent.checkpoint import replay_path
from agent.paths import cache_dir, env_slug, shipped_dir
from agent.pretrain import PretrainConfig, pretrain, save_pretrained


@dataclass
class Args(PretrainConfig):
    """Collect exploration data, train world model and critic, save a checkpoint."""

    threads: int = 1
    """torch CPU threads, set before any work (1: bitwise-reproducible, comparable timings)."""
    checkpoint: Path | None = None
    """Checkpoint to write (default: <env>.pt in the shipped directory, $LATENT_MPC_CHECKPOINTS
    or the source checkout's checkpoints/, else in ~/.cache/latent-mpc). Output paths are
    checked before any work: a missing directory is created only under a writable existing
    one other than the filesystem root."""
    save_buffer: Path | None = None
    """Also write the whole collected replay buffer as .npz here (never stored in the checkpoint)."""
    replay_steps: int = 20_000
    """Transitions of the data kept beside the checkpoint (<checkpoint>.replay.npz; every fall
    episode first) for online learning to rehearse; 0: write none."""


def _default_checkpoint(env: str) -> Path:
    directory = shipped_dir() or cache_dir()
    return directory / f"{env_slug(env)}.pt"


def main(args: Args) -> Path:
    """Check the inputs, pretrain, write the checkpoint (and rehearsal data); return its path."""
    set_threads(args.threads)
    import envs

    out = check_output_file(args.checkpoint or _default_checkpoint(args.env), "--checkpoint")
    if args.save_buffer is not None:
        args.save_buffer = check_output_file(args.save_buffer, "--save-buffer", suffixes=(".npz",))
    if args.log_dir is not None:
        check_directory(Path(args.log_dir), "--log-dir")
    from agent.mpc import check_env_spaces

    try:  # an unknown, broken or unplannable env fails here, not mid-collection
        probe = envs.make_env(args.env)
        check_env_spaces(probe)
        probe.close()
    except (envs.MakeEnvError, TypeError, ValueError) as err:
        fail(str(err))
    config = PretrainConfig(**{k: v for k, v in asdict(args).items() if k in PretrainConfig.__dataclass_fields__})
    config.world_model, config.critic, config.policy = args.world_model, args.critic, args.policy  # asdict made dicts
    result = pretrain(args.env, config, progress=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = save_pretrained(out, result, config)
    if args.save_buffer is not None:
        args.save_buffer.parent.mkdir(parents=True, exist_ok=True)
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
    if args.log_dir is not None:
        print(f"TensorBoard logs under {args.log_dir} (tensorboard --logdir {args.log_dir})")
    return path


if __name__ == "__main__":
    main(parse(Args))
