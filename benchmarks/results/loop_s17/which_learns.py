"""Online learning stalls the candidate on layouts it reaches frozen: which network's updates do it?
Runs the given layouts online (README's first command's setting: one update per step, no
exploration) with only one of world model / critic / policy learning (the others' Adam lr = 0).

    python which_learns.py CKPT OUT.json SEED [SEED ...]
"""
import json
import sys

import torch

import envs
from agent.mpc import AgentConfig, MPCAgent
from evaluation import run_episode

torch.set_num_threads(1)
path, out, seeds = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
env = envs.make_env("cliff-car")
rows = {}
for learner in ("none", "world_model", "critic", "policy", "all"):
    rows[learner] = []
    for seed in seeds:
        agent = MPCAgent.load(path, env, AgentConfig(), seed=seed, keep_objective=True)
        optims = {"world_model": agent.trainer.wm_optim, "critic": agent.trainer.critic_optim,
                  "policy": agent.trainer.policy_optim}
        for name, opt in optims.items():
            if learner not in (name, "all"):
                for group in opt.param_groups:
                    group["lr"] = 0.0
        r = run_episode(agent, env, seed, learn=True)
        rows[learner].append({"seed": seed, "success": bool(r.success), "fell": bool(r.fell), "steps": r.steps,
                              "return": round(r.ret, 2)})
        print(learner, rows[learner][-1], flush=True)
json.dump({"command": "python which_learns.py " + " ".join(sys.argv[1:]), "rows": rows}, open(out, "w"), indent=1)
