"""Which network's online learning costs the loop its held-out goals? Hybrids of the pretrained
agent (A0) and the loop's output (A1): world model from one, critic + policy from the other,
frozen with the margin on layouts 0..N-1.

    python swap.py A0.pt A1.pt N OUT.json
"""
import json
import sys

import torch

import envs
from agent.mpc import AgentConfig, MPCAgent
from evaluation import run_episode, summarize

torch.set_num_threads(1)
first, second, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
env = envs.make_env("cliff-car")
config = AgentConfig(online=False, risk_step_coef=0.003)
rows = {}
for name, wm_from, rest_from in [("wm1+rest0", second, first), ("wm0+rest1", first, second)]:
    agent = MPCAgent.load(rest_from, env, config)
    donor = MPCAgent.load(wm_from, env, config)
    agent.world_model.load_state_dict(donor.world_model.state_dict())
    results = [run_episode(agent, env, seed, learn=False) for seed in range(n)]
    s = summarize(results, per_episode=False)
    rows[name] = {"successes": s["successes"], "falls": s["falls"], "mean_return": s["mean_return"],
                  "outcomes": "".join("F" if r.fell else "S" if r.success else "." for r in results)}
    print(name, rows[name], flush=True)
json.dump({"command": "python swap.py " + " ".join(sys.argv[1:]), "rows": rows}, open(out, "w"), indent=1)
