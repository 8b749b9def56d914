"""benchmarks/fall_foresight.py's simulator check: it must tell a sequence that drives off from one that does not."""

from __future__ import annotations

import numpy as np
from conftest import benchmark_fixture

from envs import make_env

fall_foresight = benchmark_fixture("fall_foresight")


def test_simulator_check_tells_falls_from_safe_sequences(fall_foresight):
    env = make_env("cliff-car")
    env.reset(seed=0)
    horizon = 120
    standing = np.zeros((horizon, 2))
    arc = np.tile([1.0, 0.3], (horizon, 1))  # 6 s of a full-speed left arc: off the edge on layout 0
    falls = fall_foresight._true_falls(env, np.stack([standing, arc]))
    assert falls.tolist() == [False, True]
    # The check leaves the env where it was: a real step from here still starts at rest.
    _, _, terminated, _, info = env.step(np.zeros(2, dtype=np.float32))
    assert not terminated and not info["fell"]


def test_lookahead_counts_the_run_that_ends_at_the_fall(fall_foresight):
    flags = [False, True, False, True, True, True]
    assert fall_foresight._first_of_run(flags, len(flags), lookback=30) == 3
    assert fall_foresight._first_of_run(flags, len(flags), lookback=2) == 2
    assert fall_foresight._first_of_run([True, False], 2, lookback=30) == 0
