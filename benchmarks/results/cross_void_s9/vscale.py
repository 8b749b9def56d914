"""Frozen agent on held-out cross-void layouts with its terminal value scaled: goals / falls / stalls.

A one-off script of session 9 (README, issue #11):
    python benchmarks/results/cross_void_s9/vscale.py CHECKPOINT OUT.json 1,0.5,0 10 [gradient|cem]
drives the first 10 held-out seeds whose layout crosses the void, once per scale of V.
"""
import json, sys
import torch, envs
from agent.mpc import AgentConfig, MPCAgent
from planners.config import PlannerConfig
ckpt, out = sys.argv[1], sys.argv[2]; planner = sys.argv[5] if len(sys.argv) > 5 else "gradient"; scales = [float(s) for s in sys.argv[3].split(",")]; n = int(sys.argv[4])
torch.set_num_threads(1)
env = envs.make_env("cliff-car")
seeds = [s for s in range(200) if env.reset(seed=s)[1]["crosses_void"]][:n]
res = {}
for sc in scales:
    agent = MPCAgent.load(ckpt, env, AgentConfig(online=False, planner=PlannerConfig(name=planner)), seed=0)
    base = agent.terminal_value
    agent.terminal_value = (lambda z, base=base, sc=sc: sc * base(z))
    ends = []
    for s in seeds:
        obs, _ = env.reset(seed=s); agent.reset(seed=s); ret = 0.0
        for t in range(300):
            obs, r, term, trunc, info = env.step(agent.act(obs)); ret += r
            if term or trunc: break
        ends.append("g" if info["success"] else "f" if info["fell"] else "s")
    res[sc] = {"seeds": seeds, "ends": ends, "goals": ends.count("g"), "falls": ends.count("f"), "stalls": ends.count("s")}
    print(sc, "".join(ends), res[sc]["goals"], res[sc]["falls"], res[sc]["stalls"], flush=True)
json.dump({"checkpoint": ckpt, "planner": planner, "results": res}, open(out, "w"), indent=1)
