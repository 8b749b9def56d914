"""Follow-up of which_learns.py: the critic's online updates stall the candidate. Variant A: the
critic learns at a tenth of its learning rate; variant B: only its Q heads learn (V heads' lr 0),
world model and policy learning as usual. Layouts as given, README's first command's setting.

    python critic_variants.py CKPT VARIANT OUT.json SEED [SEED ...]     # VARIANT: lr0.1 | q_only
"""
import json
import sys

import torch

import envs
from agent.mpc import AgentConfig, MPCAgent
from evaluation import run_episode

torch.set_num_threads(1)
path, variant, out, seeds = sys.argv[1], sys.argv[2], sys.argv[3], [int(s) for s in sys.argv[4:]]
env = envs.make_env("cliff-car")
rows = []
for seed in seeds:
    agent = MPCAgent.load(path, env, AgentConfig(), seed=seed, keep_objective=True)
    opt = agent.trainer.critic_optim
    if variant == "lr0.1":
        for group in opt.param_groups:
            group["lr"] *= 0.1
    elif variant == "q_only":  # one param group: move the V heads' parameters to a zero-lr group
        value_ids = {id(p) for p in agent.critic.value_heads.parameters()}
        group = opt.param_groups[0]
        keep = [p for p in group["params"] if id(p) not in value_ids]
        frozen = [p for p in group["params"] if id(p) in value_ids]
        group["params"] = keep
        opt.add_param_group({"params": frozen, "lr": 0.0})
    else:
        raise SystemExit(f"unknown variant {variant}")
    r = run_episode(agent, env, seed, learn=True)
    rows.append({"seed": seed, "success": bool(r.success), "fell": bool(r.fell), "steps": r.steps, "return": round(r.ret, 2)})
    print(variant, rows[-1], flush=True)
json.dump({"command": "python critic_variants.py " + " ".join(sys.argv[1:]), "rows": rows}, open(out, "w"), indent=1)
