"""Model-free SAC against the latent-MPC agent: falls while learning, steps to 90 % success.

    python examples/compare_baseline.py --env cliff-car --json benchmarks/results/compare_cliff-car.json \
        --plot benchmarks/results/compare_cliff-car.png
    python examples/compare_baseline.py --env Pendulum-v1 --quick          # CI smoke test
    python examples/compare_baseline.py --agents sac ppo mpc_scratch --budget-steps 5000
    python examples/compare_baseline.py --help

Every agent gets the same env, seed and budget of env steps; the MPC agents learn online
while they act, one from its pretrained world model (its pretraining falls and steps are
reported beside the task-phase figures), one from scratch. Prints a markdown table;
``--json`` holds every per-episode series, ``--plot`` draws them, TensorBoard logs go to
``runs/`` (``tensorboard --logdir runs``). Ctrl-C keeps what was recorded so far.
Several seeds in parallel processes, with a summary over them: ``benchmarks/compare_seeds.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(REPO))

import tyro  # noqa: E402

from agent.compare import ComparisonConfig, main  # noqa: E402

if __name__ == "__main__":
    config = tyro.cli(ComparisonConfig)
    try:
        status = main(config)
    except (ValueError, TypeError, ImportError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    sys.exit(status)
