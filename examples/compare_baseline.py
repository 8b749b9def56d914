"""Model-free SAC (and PPO) against the latent-MPC agent: falls while learning, steps to 90 % success.

    python examples/compare_baseline.py --env cliff-car --json benchmarks/results/compare_cliff-car.json \
        --plot benchmarks/results/compare_cliff-car.png
    python examples/compare_baseline.py --env Pendulum-v1 --quick          # CI smoke test
    python examples/compare_baseline.py --agents sac ppo mpc_scratch --budget-steps 5000
    python examples/compare_baseline.py --help

Every agent gets the same env, seed and budget of env steps; the MPC agents learn online
while they act, one from its pretrained world model (its pretraining falls and steps are
reported beside the task-phase figures), one from scratch. Prints a markdown table;
``--json`` holds every per-episode series, ``--plot`` draws them, TensorBoard logs go to
``--log-dir`` (``tensorboard --logdir runs``). Ctrl-C keeps what was recorded so far.
Several seeds in parallel processes, with a summary over them: ``benchmarks/compare_seeds.py``.
The measuring code is the ``evaluation`` package.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping

import tyro

from evaluation.compare import AgentFactory, run_comparison
from evaluation.config import ComparisonConfig
from evaluation.report import check_writable, markdown_report, results_table

DESCRIPTION = (
    "Compare model-free SB3 baselines (SAC, PPO) with the MPC agent, pretrained and from "
    "scratch: falls, success and return against env steps."
)


def main(config: ComparisonConfig, agent_factories: Mapping[str, AgentFactory] | None = None) -> int:
    """Run the comparison, print the table; exit status 130 if interrupted, else 0."""
    import torch

    torch.set_num_threads(config.threads)
    check_writable(config.outputs)
    report = run_comparison(config, agent_factories)
    print(results_table(report))
    if config.markdown:
        command = " ".join(shlex.quote(arg) for arg in ["python", *sys.argv])
        with open(config.markdown, "w") as handle:
            handle.write(markdown_report(report, command))
        print(f"table:  {config.markdown}")
    if config.json:
        print(f"report: {config.json}")
    if config.plot:
        print(f"plot:   {config.plot}")
    if report["interrupted"]:
        print("interrupted: the report holds what was recorded so far")
        return 130
    return 0


if __name__ == "__main__":
    config = tyro.cli(ComparisonConfig, description=DESCRIPTION)
    try:
        status = main(config)
    except (ValueError, TypeError, ImportError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    sys.exit(status)
