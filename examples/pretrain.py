"""Pretrain the agent on reward-free exploration data (world model, critic, policy prior) and save a checkpoint.

    python examples/pretrain.py --env cliff-car --guide-fraction 0 --seed 1 --updates 12000 --critic.risk-coef 1
        # -> the weights of checkpoints/cliff-car.pt (benchmarks/results/ship_s19/make_shipped.py adds its objective)
    python examples/pretrain.py --env cliff-car --guide-fraction 0.5   # -> checkpoints/cliff-car-demos.pt
    python examples/pretrain.py --env Pendulum-v1 --updates 1000 --checkpoint /tmp/pendulum.pt
    python examples/pretrain.py --env cliff-car-kerb --fall-key dropped --fall-cost 100 --checkpoint kerb.pt
    python examples/pretrain.py ... --resume                   # continue an interrupted run (same flags)
    tensorboard --logdir runs                                  # the --log-dir default

Collects reward-free exploration data (seeds >= 1,000,000), trains the JEPA world model
and the cost-to-go critic, prints what the data cost (steps, episodes, falls, successes)
and writes state dicts plus metadata (no replay buffer) to ``--checkpoint``, with a
rehearsal subset of the data beside it for online learning.

Safe-world pretraining (issue #12): on ``cliff-car-kerb``, whose 40 cm drops are not falls,
``--fall-key dropped`` labels the fall head with the drops and ``--fall-cost 100`` prices
them as the 20 m cliff does; ``examples/train.py --env cliff-car --init-checkpoint kerb.pt``
then acts on the cliff, reporting the kerb world's experience in a column of its own.

While it runs, the collected data (after collection) and the training state (every
``--save-every`` updates) are kept in ``<checkpoint>.resume/``; ``--resume`` continues from
there to the weights an uninterrupted run would have written, and refuses other settings.
The folder is removed once the checkpoint is written.
"""

from __future__ import annotations

import json
import shutil
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
    """Transitions of the data kept beside the checkpoint (<checkpoint>.replay.npz; whole
    episodes, falls in the data's own proportion) for online learning to rehearse; 0: write none."""
    resume: bool = False
    """Continue the interrupted pretraining whose resume state is in <checkpoint>.resume/."""


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
    resume_dir = out.with_name(out.name + ".resume")
    result = pretrain(args.env, config, progress=True, resume_dir=resume_dir, resume=args.resume)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = save_pretrained(out, result, config)
    if args.save_buffer is not None:
        args.save_buffer.parent.mkdir(parents=True, exist_ok=True)
        result.buffer.save(args.save_buffer)
    if args.replay_steps > 0:
        rehearsal = result.buffer.subset(args.replay_steps, np.random.default_rng(args.seed))
        rehearsal.save(replay_path(path))
        print(f"saved {replay_path(path)} ({rehearsal.num_steps} steps, {rehearsal.num_falls} labelled falls, "
              f"{replay_path(path).stat().st_size / 1e6:.1f} MB) for online rehearsal")
    if resume_dir.exists():
        shutil.rmtree(resume_dir)  # the checkpoint supersedes the resume state
    stats = {k: v for k, v in result.stats.items() if k != "final"}
    print(json.dumps(stats, indent=2))
    print(f"data ({stats['env_id'] or stats['env']}): {stats['steps']} env steps, {stats['episodes']} episodes, "
          f"{stats['falls']} falls, {stats['drops']} drops, {stats['successes']} successes; fall head labelled by "
          f"info[{stats['fall_key']!r}] ({stats['fall_labels']} episodes); pretraining took "
          f"{stats['wall_seconds']:.0f} s")
    size_mb = path.stat().st_size / 1e6
    print(f"saved {path} ({size_mb:.1f} MB)")
    if args.log_dir is not None:
        print(f"TensorBoard logs under {args.log_dir} (tensorboard --logdir {args.log_dir})")
    return path


if __name__ == "__main__":
    parsed = parse(Args)
    try:
        main(parsed)
    except (ValueError, FileNotFoundError) as err:  # a refused resume, a fall key the env never reports
        fail(str(err).splitlines()[0])
