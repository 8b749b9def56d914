"""Session 8 scratch: how wide is a 10-layout draw for one agent? Perturb every weight by a
relative 1e-6 (far below what one more update changes) and drive held-out cliff layouts 0-9
frozen, several times.

    python benchmarks/results/drift_s8/perturb.py CHECKPOINT OUT.json REPEATS
"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
from agent.mpc import AgentConfig, MPCAgent  # noqa: E402
from benchmarks.online_drift import drive_layouts  # noqa: E402
from envs import make_env  # noqa: E402

torch.set_num_threads(1)
ckpt, out, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = make_env("cliff-car")
runs = []
for r in range(repeats + 1):
    agent = MPCAgent.load(ckpt, env, AgentConfig(online=False), seed=0)
    if r:  # r = 0: the checkpoint as it is
        gen = torch.Generator().manual_seed(r)
        with torch.no_grad():
            for module in (agent.world_model, agent.critic, agent.policy):
                for p in module.parameters():
                    p.mul_(1 + 1e-6 * torch.randn(p.shape, generator=gen))
    agent.training = False
    outcomes = list(drive_layouts(agent, env, range(10)))
    runs.append({"perturbation": r, "eval": "".join(outcomes), "successes": outcomes.count("S"),
                 "falls": outcomes.count("F")})
    print(json.dumps(runs[-1]), flush=True)
    json.dump({"checkpoint": ckpt, "relative_noise": 1e-6, "runs": runs}, open(out, "w"), indent=2)
