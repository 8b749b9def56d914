"""Run the latent-MPC agent in a Gymnasium environment and report how it did.

    python examples/run_agent.py --env cliff-car                 # shipped checkpoint
    python examples/run_agent.py --env Pendulum-v1               # trains first (examples/train.py defaults), then caches
    python examples/run_agent.py --env my_pkg.my_mod:MyEnv       # your env; my_pkg importable
    python examples/run_agent.py --agent.planner.horizon 15 --agent.no-online
    python examples/run_agent.py --help

Episodes use seeds ``--seed .. --seed + episodes - 1``; training episodes use seeds
>= 1,000,000, so these are layouts the agent never saw. Prints one row per episode
and a summary; ``--json`` writes the summary, ``--video`` records the first episode, and
TensorBoard logs (this run's and any training's) go under ``--log-dir``.

Which checkpoint: ``--checkpoint PATH`` if given (it must exist unless
``--train-if-missing``); else the shipped one (``$LATENT_MPC_CHECKPOINTS`` or the source
checkout's ``checkpoints/``, see ``agent/paths.py``); else the cached one
(``~/.cache/latent-mpc``); else it trains the agent online (``examples/train.py``'s defaults) and caches the result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro
from _cli import (
    EPISODE_HEADER,
    check_directory,
    check_output_file,
    episode_row,
    fail,
    parse,
    set_threads,
    summary_lines,
    write_text,
)

from agent.loop import TrainConfig
from agent.mpc import AgentConfig
from agent.paths import default_checkpoint, env_slug
from agent.utils import machine_info


@dataclass
class Args:
    """Run the latent-MPC agent for a few episodes and print a row per episode and a summary."""

    env: str = "cliff-car"
    """Env: a short name (cliff-car), a Gymnasium id (Pendulum-v1) or 'package.module:Factory'
    (the module must be importable: installed, or on PYTHONPATH)."""
    episodes: int = 10
    """Episodes to run."""
    seed: int = 0
    """First episode seed (episode i uses seed + i); also seeds the planner."""
    agent: Annotated[AgentConfig, tyro.conf.arg(name="")] = field(default_factory=AgentConfig)
    """How the agent plans and learns online (every field a flag: --planner.name, --planner.horizon,
    --no-online, ...)."""
    checkpoint: Path | None = None
    """Checkpoint to load; it must exist unless --train-if-missing (default: the shipped
    checkpoints/<env>.pt or $LATENT_MPC_CHECKPOINTS/<env>.pt, else the cache, else train)."""
    checkpoint_objective: bool = True
    """Drive a loaded agent with the objective it was trained with: each of --risk-step-coef,
    --freeze-risk, --fall-pessimism and --planner.horizon left at its default takes the
    checkpoint's value, so an agent trained with a margin from the edges, or shipped to plan 50
    steps ahead, is driven that way. --no-checkpoint-objective: exactly the flags' values."""
    train_if_missing: bool = False
    """With --checkpoint: train and save there when the file does not exist yet."""
    retrain: bool = False
    """Train even if the checkpoint exists and overwrite it (never the shipped one)."""
    train_steps: int = TrainConfig.steps
    """Env steps the agent learns from when it has to be trained first (examples/train.py's
    --steps, with its defaults for everything else)."""
    json: Path | None = None
    """Write the summary (episodes, mean_return, falls, successes, median_plan_ms, pretraining,
    ...) here as JSON. Output paths are checked before any work: a missing directory is
    created only under a writable existing one other than the filesystem root."""
    video: Path | None = None
    """Record the first episode to this .mp4 or .gif (offscreen MuJoCo: MUJOCO_GL=egl if unset);
    same directory rule as --json."""
    log_dir: Path = Path("runs")
    """TensorBoard root for this run and any training (tensorboard --logdir DIR); same
    directory rule as --json."""
    threads: int = 1
    """torch CPU threads, set before any work (README's plan times are for one)."""
    progress: bool = True
    """Show progress bars."""


def _check_outputs(args: Args) -> None:
    """Refuse unwritable output paths before any episode or training; create nothing."""
    if args.json is not None:
        args.json = check_output_file(args.json, "--json")
    if args.video is not None:
        args.video = check_output_file(args.video, "--video", suffixes=(".mp4", ".gif"))
    args.log_dir = check_directory(args.log_dir, "--log-dir")


def _resolve_checkpoint(args: Args) -> tuple[Path, bool, bool]:
    """``(path, shipped, train)``: where the checkpoint is and whether to train it first."""
    if args.checkpoint is not None:
        path, shipped = args.checkpoint, False
        if path.exists() and not path.is_file():
            fail(f"--checkpoint {path}: is a directory, not a checkpoint file")
        if not path.exists() and not (args.train_if_missing or args.retrain):
            fail(f"--checkpoint {path}: no such file; pass an existing checkpoint, or add "
                 "--train-if-missing to train one and save it there")
    else:
        if args.train_if_missing:
            fail("--train-if-missing needs --checkpoint PATH (without one, a missing checkpoint "
                 "is always trained and cached)")
        path, shipped = default_checkpoint(args.env)
        if shipped and args.retrain:
            fail(f"--retrain would overwrite the shipped checkpoint {path}; pass --checkpoint "
                 "PATH to train into another file")
    train = args.retrain or not path.exists()
    if train:
        check_output_file(path, "--checkpoint")
    return path, shipped, train


def main(args: Args) -> dict:
    """Run the episodes and return the summary (also printed, and written with ``--json``)."""
    set_threads(args.threads)
    if args.episodes < 1:
        fail(f"--episodes must be >= 1, got {args.episodes}")
    _check_outputs(args)
    if args.video is not None:
        os.environ.setdefault("MUJOCO_GL", "egl")
    import gymnasium as gym
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    import envs
    from agent.mpc import MPCAgent, check_env_spaces, objective_settings
    from evaluation import run_episode, summarize

    torch.manual_seed(args.seed)
    try:
        env = envs.make_env(args.env, **({"render_mode": "rgb_array"} if args.video else {}))
    except (envs.MakeEnvError, TypeError) as err:
        fail(str(err))
    if isinstance(env.observation_space, gym.spaces.Dict | gym.spaces.Tuple):
        env = gym.wrappers.FlattenObservation(env)
    try:
        check_env_spaces(env)  # before any training: fail in seconds, not minutes
    except (TypeError, ValueError) as err:
        fail(str(err))

    path, shipped, train = _resolve_checkpoint(args)
    try:
        if not train:
            print(f"loading {'shipped ' if shipped else ''}checkpoint {path}")
            agent = MPCAgent.load(path, env, args.agent, seed=args.seed, keep_objective=args.checkpoint_objective)
        else:
            from evaluation.training import run_training

            reason = "--retrain" if path.exists() else f"no checkpoint for {args.env!r} at {path}"
            print(f"{reason}: training the agent online first with examples/train.py's defaults "
                  f"({args.train_steps:,} env steps; on one CPU thread expect about "
                  f"{args.train_steps / 15 / 60:.0f} min, 10-20 env steps/s with updates)")
            config = TrainConfig(env=args.env, steps=args.train_steps, seed=args.seed, checkpoint=path,
                                 log_dir=args.log_dir, agent=dataclasses.replace(args.agent, online=True))
            report = run_training(config, progress_bar=args.progress)
            print(f"trained in {report['wall_s'] / 60:.1f} min: {report['episodes']} episodes, "
                  f"{report['falls']} falls, {report['successes']} successes; saved {path} "
                  "(reused by the next run; --retrain to redo)")
            agent = MPCAgent.load(path, env, args.agent, seed=args.seed, keep_objective=args.checkpoint_objective)
    except (ValueError, TypeError, FileNotFoundError) as err:
        fail(str(err))

    objective = objective_settings(agent.config)
    if agent.config.planner.horizon != args.agent.planner.horizon:
        objective["planner.horizon"] = agent.config.planner.horizon
    if objective:
        print("objective: " + ", ".join(f"{k}={v}" for k, v in objective.items())
              + (" (the checkpoint's; --no-checkpoint-objective to drive it without)" if args.checkpoint_objective else ""))
    run_dir = args.log_dir / f"{env_slug(args.env)}__run_agent__{args.seed}__{int(time.time())}"
    writer = SummaryWriter(str(run_dir))
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
        f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items()))

    frames: list[np.ndarray] = []
    results = []
    print(EPISODE_HEADER)
    bar = tqdm(range(args.episodes), desc="episodes", disable=not args.progress, leave=False)
    for i in bar:
        seed = args.seed + i
        on_frame = frames.append if (args.video is not None and i == 0) else None
        r = run_episode(agent, env, seed, learn=args.agent.online, on_frame=on_frame)
        results.append(r)
        tqdm.write(episode_row(i, r))
        step = agent.total_steps
        writer.add_scalar("charts/episodic_return", r.ret, step)
        writer.add_scalar("charts/fell", float(r.fell), step)
        writer.add_scalar("charts/success", float(r.success), step)
        writer.add_scalar("charts/median_plan_ms", r.median_plan_ms, step)
        for k, v in agent.last_update_info.items():
            writer.add_scalar(k, v, step)
    writer.close()
    env.close()

    summary = summarize(results, pretraining_falls=int(agent.pretraining_stats.get("falls", 0)))
    summary.update(env=args.env, planner=args.agent.planner.name, online=args.agent.online,
                   seed=args.seed, checkpoint=str(path), objective=objective, pretraining=agent.experience_stats(),
                   checkpoint_experience=dict(agent.pretraining_stats),
                   plan_failures=agent.plan_failures, machine=machine_info())
    print()
    for line in summary_lines(summary):
        print(line)
    print(f"TensorBoard logs: {run_dir} (tensorboard --logdir {args.log_dir})")
    if args.json is not None:
        write_text(args.json, json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    if args.video is not None and frames:
        import imageio.v3 as iio

        args.video.parent.mkdir(parents=True, exist_ok=True)
        fps = int(env.metadata.get("render_fps", 20) or 20)
        if args.video.suffix.lower() == ".gif":
            iio.imwrite(args.video, np.stack(frames), duration=1000 / fps, loop=0)
        else:
            iio.imwrite(args.video, np.stack(frames), fps=fps)
        print(f"wrote {args.video} ({len(frames)} frames)")
    return summary


if __name__ == "__main__":
    main(parse(Args))
