"""Run the latent-MPC agent in a Gymnasium environment and report how it did.

    python examples/run_agent.py --env cliff-car                 # shipped checkpoint
    python examples/run_agent.py --env Pendulum-v1               # pretrains first, then caches
    python examples/run_agent.py --env my_pkg.my_mod:MyEnv       # your own env
    python examples/run_agent.py --help

Episodes use seeds ``--seed .. --seed + episodes - 1``; pretraining data is collected on
seeds >= 1,000,000, so these are layouts the agent never saw. Prints one row per episode
and a summary; ``--json`` writes the summary, ``--video`` records the first episode, and
TensorBoard logs go to ``runs/`` (``tensorboard --logdir runs``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

import tyro  # noqa: E402

from agent.checkpoint import default_checkpoint, env_slug  # noqa: E402


@dataclass
class Args:
    env: str = "cliff-car"
    """Env: a short name (cliff-car), a Gymnasium id (Pendulum-v1) or 'package.module:Factory'."""
    episodes: int = 10
    """Episodes to run."""
    seed: int = 0
    """First episode seed (episode i uses seed + i); also seeds the planner."""
    planner: Literal["gradient", "cem", "mppi"] = "gradient"
    """Trajectory optimiser used at every step."""
    online: bool = True
    """Keep learning from the agent's own experience (--no-online to freeze the model)."""
    checkpoint: Path | None = None
    """Checkpoint to load (default: checkpoints/<env>.pt when shipped, else the cache)."""
    pretrain_steps: int = 3000
    """Env steps of exploration data to collect when the env has no checkpoint yet."""
    pretrain_updates: int = 3000
    """Gradient updates of world model and critic when pretraining."""
    retrain: bool = False
    """Pretrain even if a checkpoint exists (overwrites the cached one)."""
    json: Path | None = None
    """Write the summary (episodes, mean_return, falls, successes, median_plan_ms, ...) here."""
    video: Path | None = None
    """Record the first episode to this .mp4 or .gif (uses MUJOCO_GL=egl offscreen if unset)."""
    logdir: Path = Path("runs")
    """TensorBoard log root."""
    threads: int = 1
    """torch CPU threads (plan times in README are for one thread)."""
    device: str = "auto"
    """'auto' (CUDA if available, else CPU), 'cpu' or 'cuda'."""
    progress: bool = True
    """Show progress bars."""


def main(args: Args) -> dict:
    if args.video is not None:
        os.environ.setdefault("MUJOCO_GL", "egl")
    import gymnasium as gym
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    import envs
    from agent.evaluate import run_episode, summarize
    from agent.mpc import AgentConfig, MPCAgent, PlannerConfig, check_env_spaces

    if args.episodes < 1:
        raise SystemExit(f"error: --episodes must be >= 1, got {args.episodes}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    try:
        env_kwargs = {"render_mode": "rgb_array"} if args.video else {}
        env = envs.make_env(args.env, **env_kwargs)
    except (ValueError, ImportError, TypeError) as err:
        raise SystemExit(f"error: {err}") from None
    if isinstance(env.observation_space, gym.spaces.Dict | gym.spaces.Tuple):
        env = gym.wrappers.FlattenObservation(env)
    try:
        check_env_spaces(env)  # before any pretraining: fail in seconds, not minutes
    except (TypeError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None

    config = AgentConfig(
        planner=PlannerConfig(name=args.planner), online=args.online, device=args.device
    )
    if args.checkpoint is not None:
        path, shipped = args.checkpoint, False
    else:
        path, shipped = default_checkpoint(args.env)
    try:
        if path.exists() and not args.retrain:
            print(f"loading {'shipped ' if shipped else ''}checkpoint {path}")
            agent = MPCAgent.load(path, env, config, seed=args.seed)
        else:
            from agent.pretrain import PretrainConfig

            print(f"no checkpoint for {args.env!r} at {path}: collecting {args.pretrain_steps} "
                  f"env steps and pretraining ({args.pretrain_updates} updates) first")
            pcfg = PretrainConfig(
                env=args.env, collect_steps=args.pretrain_steps, updates=args.pretrain_updates
            )
            agent = MPCAgent.pretrain(args.env, config, pretrain_config=pcfg, progress=args.progress)
            agent.save(path)
            print(f"saved checkpoint {path} (reused by the next run; --retrain to redo)")
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None

    run_name = f"{env_slug(args.env)}__run_agent__{args.seed}__{int(time.time())}"
    writer = SummaryWriter(str(args.logdir / run_name))
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(
        f"|{k}|{v}|" for k, v in dataclasses.asdict(args).items()))

    frames: list[np.ndarray] = []
    results = []
    header = f"{'ep':>3} {'seed':>6} {'return':>9} {'fell':>5} {'success':>7} {'steps':>5} {'plan ms':>8}"
    print(header)
    bar = tqdm(range(args.episodes), desc="episodes", disable=not args.progress, leave=False)
    for i in bar:
        seed = args.seed + i
        on_frame = frames.append if (args.video is not None and i == 0) else None
        r = run_episode(agent, env, seed, learn=args.online, on_frame=on_frame)
        results.append(r)
        tqdm.write(f"{i:>3} {seed:>6} {r.ret:>9.2f} {str(r.fell):>5} {str(r.success):>7} "
                   f"{r.steps:>5} {r.median_plan_ms:>8.2f}")
        step = agent.total_steps
        writer.add_scalar("charts/episodic_return", r.ret, step)
        writer.add_scalar("charts/fell", float(r.fell), step)
        writer.add_scalar("charts/success", float(r.success), step)
        writer.add_scalar("charts/median_plan_ms", r.median_plan_ms, step)
        for k, v in agent.last_update_info.items():
            writer.add_scalar(k, v, step)
    writer.close()
    env.close()

    summary = summarize(results)
    summary.update(env=args.env, planner=args.planner, online=args.online, seed=args.seed,
                   checkpoint=str(path), pretraining=agent.pretraining_stats,
                   plan_failures=agent.plan_failures)
    print(
        f"\n{summary['episodes']} episodes | mean return {summary['mean_return']:.2f} | "
        f"falls {summary['falls']} | successes {summary['successes']} | "
        f"median plan {summary['median_plan_ms']:.2f} ms"
    )
    pre = agent.pretraining_stats
    if pre:
        print(f"pretraining data: {pre.get('steps', 0)} env steps, {pre.get('falls', 0)} falls")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.json}")
    if args.video is not None and frames:
        import imageio.v3 as iio

        args.video.parent.mkdir(parents=True, exist_ok=True)
        fps = int(env.metadata.get("render_fps", 20) or 20)
        if args.video.suffix == ".gif":
            iio.imwrite(args.video, np.stack(frames), duration=1000 / fps, loop=0)
        else:
            iio.imwrite(args.video, np.stack(frames), fps=fps)
        print(f"wrote {args.video} ({len(frames)} frames)")
    return summary


if __name__ == "__main__":
    main(tyro.cli(Args))
