"""CliffCar-v0 speed on one CPU thread: env steps/s, oracle rollouts, render frames/s.

    MUJOCO_GL=egl python benchmarks/env_speed.py                      # writes the JSON
    MUJOCO_GL=egl python benchmarks/env_speed.py --picture docs/cliff_car.png

Steps use uniformly random actions and reset when an episode ends (reset time included).
Each figure is the median over `rounds` timed rounds, run interleaved (one round of each
measurement in turn) so that load from other processes hits all of them alike.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402

import envs  # noqa: E402
from agent.utils import machine_info  # noqa: E402
from envs.cliff_car import CliffCarEnv  # noqa: E402
from envs.cliff_car_layout import segment_clearance  # noqa: E402


@dataclass
class Args:
    """Measure CliffCar-v0's env steps/s, oracle rollouts/s and render frames/s; write JSON."""

    json: Path = Path(__file__).resolve().parent / "results" / "env_speed.json"
    """Where to write the JSON results."""
    rounds: int = 5
    """Timed rounds per measurement (the median is reported)."""
    steps_per_round: int = 4000
    """Env steps per timed round."""
    frames_per_round: int = 60
    """Rendered frames per timed round and size."""
    rollout_batch: int = 64
    """N of the oracle `rollout_costs` measurement (sequences per call)."""
    rollout_horizon: int = 30
    """H of the oracle `rollout_costs` measurement (steps per sequence)."""
    picture: Path | None = None
    """If set, only render the README picture of the scene to this PNG path."""
    seed: int = 0
    """Seed for layouts and random actions."""
    threads: int = 1
    """torch CPU threads, set before any work (MuJoCo stepping here is single-threaded)."""


def _time_steps(env, rng: np.random.Generator, steps: int) -> float:
    actions = rng.uniform(-1.0, 1.0, size=(steps, 2)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def _time_render(env, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        env.step(env.action_space.sample())
        env.render()
    return frames / (time.perf_counter() - start)


def _time_rollouts(env: CliffCarEnv, rng: np.random.Generator, batch: int, horizon: int) -> float:
    actions = rng.uniform(-1.0, 1.0, size=(batch, horizon, 2))
    start = time.perf_counter()
    env.rollout_costs(actions)
    return batch * horizon / (time.perf_counter() - start)


def benchmark(args: Args) -> dict:
    rng = np.random.default_rng(args.seed)
    wrapped = envs.make_env("cliff-car")
    bare = CliffCarEnv()
    small = envs.make_env("cliff-car", render_mode="rgb_array", width=64, height=64)
    large = envs.make_env("cliff-car", render_mode="rgb_array", width=480, height=480)
    for index, env in enumerate((wrapped, bare, small, large)):
        env.reset(seed=args.seed + index)
        env.action_space.seed(args.seed + index)
    # Warm up (first render creates the GL context).
    _time_steps(wrapped, rng, 200)
    _time_steps(bare, rng, 200)
    _time_render(small, 5)
    _time_render(large, 5)
    _time_rollouts(bare, rng, 4, 4)

    samples: dict[str, list[float]] = {
        "steps_per_second": [],
        "steps_per_second_unwrapped": [],
        "rollout_steps_per_second": [],
        "render_fps_64": [],
        "render_fps_480": [],
    }
    for _ in range(args.rounds):
        samples["steps_per_second"].append(_time_steps(wrapped, rng, args.steps_per_round))
        samples["steps_per_second_unwrapped"].append(_time_steps(bare, rng, args.steps_per_round))
        samples["rollout_steps_per_second"].append(
            _time_rollouts(bare, rng, args.rollout_batch, args.rollout_horizon)
        )
        samples["render_fps_64"].append(_time_render(small, args.frames_per_round))
        samples["render_fps_480"].append(_time_render(large, args.frames_per_round))
    for env in (wrapped, bare, small, large):
        env.close()

    return {
        **{name: round(statistics.median(values), 1) for name, values in samples.items()},
        "samples": {name: [round(v, 1) for v in values] for name, values in samples.items()},
        "notes": {
            "steps_per_second": "envs.make_env('cliff-car') (TimeLimit and Gymnasium checkers "
            "included), random actions, resets included, one env step = 5 physics steps",
            "steps_per_second_unwrapped": "CliffCarEnv() directly, same loop",
            "rollout_steps_per_second": f"CliffCarEnv.rollout_costs on ({args.rollout_batch}, "
            f"{args.rollout_horizon}, 2) random actions, 1 thread, env steps per second",
            "render_fps_64": "rgb_array 64x64 frames per second (each after one env step)",
            "render_fps_480": "rgb_array 480x480 frames per second (each after one env step)",
        },
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        "machine": {
            **machine_info(),
            "threads": args.threads,
            "MUJOCO_GL": os.environ.get("MUJOCO_GL"),
            "cpu_count": os.cpu_count(),
            # Other processes compete for the CPU when this exceeds ~cpu_count - 1.
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        },
    }


def _add_line(scene: mujoco.MjvScene, a: np.ndarray, b: np.ndarray, rgba, width: float) -> None:
    if scene.ngeom >= scene.maxgeom:
        return
    geom = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(
        geom, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), np.eye(3).ravel(), rgba
    )
    mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, width, a, b)
    scene.ngeom += 1


def render_picture(path: Path, seed: int = 2) -> None:
    """Two panels: a wide view of the layout, and what `env.render()` shows (the tracking camera).

    The wide view marks the straight start-to-goal line (red, over the void) and the way
    round the corner (green); the car has driven a few steps from its start.
    """
    import imageio.v3 as iio

    env = CliffCarEnv(render_mode="rgb_array", width=450, height=450)
    env.reset(seed=seed, options={"cross_void": True})
    layout = env.layout
    # Drive a little toward the inner corner so the car is in motion, on the plateau.
    waypoint = layout.to_world_frame(np.array([-1.5, -1.5]))
    for _ in range(25):
        delta = waypoint - env.car_xy
        bearing = math.atan2(delta[1], delta[0]) - env.car_yaw
        bearing = (bearing + math.pi) % (2 * math.pi) - math.pi
        env.step(np.array([max(0.0, math.cos(bearing)) ** 4, np.clip(2 * bearing, -1, 1)]))
    tracking_view = env.render()

    env.model.vis.global_.offwidth = max(env.model.vis.global_.offwidth, 800)
    renderer = mujoco.Renderer(env.model, 450, 800)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    start = layout.to_plateau_frame(layout.start)
    goal = layout.to_plateau_frame(layout.goal)
    centre = layout.to_world_frame((start + goal) / 2)
    camera.lookat[:] = [centre[0], centre[1], -1.0]
    camera.distance = 18.0
    camera.elevation = -35.0
    # From above the start arm, looking across the void at the other arm's cliff face.
    camera.azimuth = math.degrees(layout.plateau_yaw) + 130.0
    renderer.update_scene(env.data, camera)
    lift = 0.03
    a, b = layout.start, layout.goal
    _add_line(renderer.scene, np.r_[a, lift], np.r_[b, lift], np.array([0.9, 0.1, 0.1, 1.0]), 0.05)
    assert segment_clearance(start, goal) < 0
    for p, q in ((layout.start, waypoint), (waypoint, layout.goal)):
        _add_line(
            renderer.scene, np.r_[p, lift], np.r_[q, lift], np.array([0.1, 0.8, 0.2, 1.0]), 0.05
        )
    wide_view = renderer.render()
    renderer.close()
    env.close()

    gap = np.full((450, 8, 3), 255, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.concatenate([wide_view, gap, tracking_view], axis=1))
    print(f"wrote {path}")


def main(args: Args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    if args.picture is not None:
        render_picture(args.picture)
        return
    results = benchmark(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main(tyro.cli(Args))
