"""Scratch (session 23): at the layout's first state, how does each model score each agent's executed
first 100 actions? (is the loop's stall its objective's view or its planner's failure?)"""
import sys, json, numpy as np, torch
sys.path.insert(0, ".")
torch.set_num_threads(1)
import envs
from agent.mpc import AgentConfig, MPCAgent
from agent.objective import planning_cost
from agent.math import *  # noqa
env = envs.make_env("cliff-car")
layout = int(sys.argv[1]); t0 = int(sys.argv[2]) if len(sys.argv) > 2 else 0
def load(p):
    cfg = AgentConfig(online=False, risk_step_coef=0.003); cfg.planner.horizon = 100
    return MPCAgent.load(p, env, cfg, keep_objective=False)
agents = {"loop": load("benchmarks/results/horizon_s22/cliff-car_from_kerb-s2_h100_3000.pt"), "start": load("benchmarks/results/kerb_s19/kerb-s2.pt")}
runs = {k: json.load(open(f"benchmarks/results/freeze_wm_s23/fallprobe_{k}_{layout}.json")) for k in agents}
obs0 = torch.as_tensor(runs["start"]["obs"][t0], dtype=torch.float32)
assert np.allclose(runs["start"]["obs"][0], runs["loop"]["obs"][0])
def parts(ag, acts):
    wm = ag.world_model
    with torch.no_grad():
        z = wm.encode(obs0[None]); alive = 1.0; disc = 1.0; c = m = f = 0.0
        for t in range(acts.shape[0]):
            a = acts[t][None]; p = float(wm.fall_prob(z, a))
            c += disc * alive * (1 - p) * float(wm.cost(z, a)); m += disc * alive * (1 - p) * float(ag.step_risk(z))
            f += disc * alive * p * float(wm.fall_cost); alive *= 1 - p; disc *= ag.gamma; z = wm.next(z, a)
        v = disc * alive * float(ag.terminal_value(z))
    return c, m, f, v, c + m + f + v
for who in agents:
    acts = torch.as_tensor(np.array(runs[who]["actions"][t0:t0 + 100]), dtype=torch.float32)
    for judge, ag in agents.items():
        c, m, f, v, J = parts(ag, acts)
        print(f"layout {layout} t0={t0}: {who:5s}'s executed actions judged by {judge:5s} model: J {J:7.3f} = cost {c:7.3f} + margin {m:6.3f} + fall {f:6.3f} + V {v:6.3f}")
# the real discounted cost of the same 100 actions (the env is deterministic from its seed)
for who in agents:
    env.reset(seed=layout); acts = runs[who]["actions"]
    for t in range(t0):
        env.step(np.array(acts[t], dtype=np.float32))
    disc, c = 1.0, 0.0
    preds = {k: [] for k in agents}
    for t in range(t0, min(t0 + 100, len(acts))):
        _, r, term, trunc, info = env.step(np.array(acts[t], dtype=np.float32)); c += disc * (-r); disc *= agents["loop"].gamma
        if term: break
    print(f"layout {layout} t0={t0}: {who:5s}'s executed actions, real discounted cost {c:7.3f} (term={term})")
