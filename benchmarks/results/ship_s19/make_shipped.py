"""Remake checkpoints/cliff-car.pt (session 19) from the pretraining run's output.

    python examples/pretrain.py --env cliff-car --guide-fraction 0 --seed 1 --updates 12000 \
        --critic.risk-coef 1 --checkpoint pre_s1_u12000_risk.pt
    python benchmarks/results/ship_s19/make_shipped.py pre_s1_u12000_risk.pt cliff-car.pt [CHECK.pt]

The weights are the pretraining run's, unchanged; what this adds is the objective the agent is
driven with, stored in the checkpoint's metadata so that ``run_agent.py`` and
``MPCAgent.load(..., keep_objective=True)`` use it: a 0.003 fall-risk margin at every imagined
step, the fall-risk critic frozen if it learns online, and a 50-step planning horizon.
With CHECK.pt, compare every tensor and the metadata with that file and say whether they match.
"""
import sys

import torch

import envs
from agent.checkpoint import load_checkpoint
from agent.mpc import AgentConfig, MPCAgent
from planners import PlannerConfig

src, dst = sys.argv[1], sys.argv[2]
config = AgentConfig(risk_step_coef=0.003, freeze_risk=True, planner=PlannerConfig(horizon=50))
MPCAgent.load(src, envs.make_env("cliff-car"), config).save(dst)
print(f"wrote {dst}")
if len(sys.argv) > 3:
    (a, ma), (b, mb) = load_checkpoint(dst), load_checkpoint(sys.argv[3])

    def same(x, y) -> bool:
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, torch.Tensor):
            return isinstance(y, torch.Tensor) and torch.equal(x, y)
        return x == y

    drop = ("versions",)
    print("state equal:", same(a, b), "| metadata equal (but versions):",
          same({k: v for k, v in ma.items() if k not in drop}, {k: v for k, v in mb.items() if k not in drop}))
