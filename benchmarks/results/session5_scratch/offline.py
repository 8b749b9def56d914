"""Offline drift: load checkpoint, N more updates on its rehearsal buffer with chosen parts frozen, eval held-out."""
import json, sys, time, argparse
import numpy as np, torch
from agent.mpc import AgentConfig, MPCAgent
from envs import make_env
p = argparse.ArgumentParser()
p.add_argument("--ckpt", default="benchmarks/results/kerb/kerb-seed0.pt")
p.add_argument("--updates", type=int, default=2000)
p.add_argument("--frozen", default="")  # comma list of wm_optim,critic_optim,policy_optim
p.add_argument("--episodes", type=int, default=10)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--tag", default="")
p.add_argument("--patch", default="")
p.add_argument("--trace", type=int, default=-1)  # python code run with `agent` in scope before updates
a = p.parse_args()
torch.set_num_threads(1)
env = make_env("cliff-car")
cfg = AgentConfig(batch_size=a.batch)
agent = MPCAgent.load(a.ckpt, env, cfg, seed=0)
for name in a.frozen.split(","):
    if name:
        for g in getattr(agent.trainer, name).param_groups: g["lr"] = 0.0
if a.patch:
    exec(a.patch)
t = time.time()
info = agent.update(a.updates) if a.updates else {}
tu = time.time() - t
agent.training = False
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__)); from probe import probe, trace_episode
probe(agent, a.tag)
if a.trace >= 0:
    trace_episode(agent, env, a.trace); raise SystemExit
out = []
for seed in range(a.episodes):
    obs, _ = env.reset(seed=seed); agent.reset(seed=seed)
    done = False; info2 = {}
    while not done:
        obs, _, te, tr, info2 = env.step(agent.act(obs)); done = te or tr
    out.append("F" if info2.get("fell") else ("S" if info2.get("success") else "."))
rec = {"tag": a.tag, "updates": a.updates, "frozen": a.frozen, "batch": a.batch, "eval": "".join(out),
       "S": out.count("S"), "F": out.count("F"), "update_s": round(tu, 1),
       "info": {k: round(v, 4) for k, v in info.items()}}
print(json.dumps(rec), flush=True)
with open("/tmp/drift/results.jsonl", "a") as f: f.write(json.dumps(rec) + "\n")
