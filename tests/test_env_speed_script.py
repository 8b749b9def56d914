"""benchmarks/env_speed.py runs end to end on a tiny budget and writes the documented JSON."""

from __future__ import annotations

import json

from conftest import benchmark_fixture

env_speed = benchmark_fixture("env_speed")


def test_benchmark_writes_positive_figures(env_speed, tmp_path):
    out = tmp_path / "speed.json"
    args = env_speed.Args(
        json=out,
        rounds=2,
        steps_per_round=50,
        frames_per_round=2,
        rollout_batch=2,
        rollout_horizon=3,
    )
    env_speed.main(args)
    results = json.loads(out.read_text())
    for key in (
        "steps_per_second",
        "steps_per_second_unwrapped",
        "rollout_steps_per_second",
        "render_fps_64",
        "render_fps_480",
    ):
        assert results[key] > 0.0
        assert len(results["samples"][key]) == 2
    assert results["machine"]["threads"] == 1


def test_picture_is_written(env_speed, tmp_path):
    import imageio.v3 as iio

    path = tmp_path / "scene.png"
    env_speed.render_picture(path)
    image = iio.imread(path)
    assert image.shape == (450, 800 + 8 + 450, 3)
    assert image.std() > 10.0
