"""Drive held-out cliff layouts frozen (no learning), with or without the training exploration noise.
python noise_eval.py CHECKPOINT OUT.json NOISE [SEED0 N]"""
import json, sys, time
import torch
import envs
from agent.mpc import AgentConfig, MPCAgent, PlannerConfig
from evaluation import run_episode, summarize
torch.set_num_threads(1)
ckpt, out, noise = sys.argv[1], sys.argv[2], float(sys.argv[3])
s0, n = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (0, 10)
env = envs.make_env("cliff-car")
config = AgentConfig(planner=PlannerConfig(horizon=50), online=False, risk_step_coef=0.003, explore_noise=noise)
agent = MPCAgent.load(ckpt, env, config)
agent.training = noise > 0  # exploration noise on; online=False: no learning
t = time.time()
recs = [run_episode(agent, env, s, learn=False) for s in range(s0, s0 + n)]
summ = summarize(recs)
summ["per_episode"] = [{"seed": s, "ret": r.ret, "success": bool(r.success), "fell": bool(r.fell), "length": r.steps} for s, r in zip(range(s0, s0 + n), recs)]
summ.update(checkpoint=ckpt, noise=noise, wall_s=time.time() - t)
json.dump(summ, open(out, "w"), indent=1, default=str)
print(ckpt, "noise", noise, summ["successes"], summ["falls"], [("G" if e["success"] else "F" if e["fell"] else "x") for e in summ["per_episode"]])
