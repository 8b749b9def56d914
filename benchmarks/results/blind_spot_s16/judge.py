"""Replay the 6,000-update agent's fatal approaches; ask each checkpoint's model whether that agent's plan falls.

For the last 25 steps before each fall: the plan the driving agent chose, the simulator's verdict on it
(rollout_costs > 50: it drives off), and every model's P(fall within the plan) from the same observation.
"""
import sys, json
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
torch.set_num_threads(1)
driver_ck, seeds, judges = sys.argv[1], [int(s) for s in sys.argv[2].split(',')], sys.argv[4:]
env = envs.make_env('cliff-car'); sim = env.unwrapped
driver = MPCAgent.load(driver_ck, env, AgentConfig(online=False))
models = {j: MPCAgent.load(j, env, AgentConfig(online=False)) for j in judges}
rows = []
for seed in seeds:
    obs, info = env.reset(seed=seed); driver.reset(seed=seed); rec = []
    while True:
        a = driver.act(obs); plan = driver._plan.clone()
        truth = float(sim.rollout_costs(plan[None].double().numpy())[0])
        rec.append((np.asarray(obs, np.float32), plan, truth))
        obs, r, te, tr, info = env.step(a)
        if te or tr: break
    if not info['fell']:
        print('seed', seed, 'no fall'); continue
    T = len(rec)
    for t in range(max(0, T - 25), T):
        o, plan, truth = rec[t]
        row = dict(seed=seed, k=T - t, plan_falls_in_sim=truth > 50)
        for j, ag in models.items():
            with torch.no_grad():
                z = ag.world_model.encode(torch.as_tensor(o)[None])
                lat = ag.world_model.rollout(z, plan[None])
                p = ag.world_model.fall_prob(lat[:, :-1], plan[None])[0]
                row[j.split('/')[-1]] = round(float(1 - torch.prod(1 - p)), 3)
        rows.append(row)
        print(row, flush=True)
json.dump(rows, open(sys.argv[3], 'w'), indent=1)
