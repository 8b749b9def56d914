"""Held-out cliff layouts, frozen agent, with a per-step risk cost: cost(z, a) + coef * fall_cost * R(z).

R is the fall-risk critic (discounted probability that the data's own driving falls from z);
coef 0 is the checkpoint's own planner (its risk critic then only in the terminal value).
    python riskstep.py CHECKPOINT COEF FIRST_SEED EPISODES OUT.json
"""
import sys, json, time
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
from evaluation import run_episode, summarize
torch.set_num_threads(1)
ck, coef, first, n, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
env = envs.make_env('cliff-car')
agent = MPCAgent.load(ck, env, AgentConfig(online=False))
wm, critic = agent.world_model, agent.critic
if coef:
    base = wm.cost
    wm.cost = lambda z, a: base(z, a) + coef * wm.fall_cost * critic.risk(z)
t0 = time.perf_counter()
res = [run_episode(agent, env, s, learn=False) for s in range(first, first + n)]
summary = summarize(res)
summary.update(checkpoint=ck, coef=coef, seeds=[first, first + n - 1], wall_s=time.perf_counter() - t0,
               command='python ' + ' '.join(sys.argv))
stalls = sum(1 for r in res if not r.fell and not r.success)
print(f'{ck} coef {coef}: {summary["successes"]}/{n} successes, {summary["falls"]} falls, {stalls} stalls, '
      f'mean return {summary["mean_return"]:.2f}, {summary["wall_s"]:.0f} s')
json.dump(summary, open(out, 'w'), indent=1, default=str)
