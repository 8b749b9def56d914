"""How fast does each agent drive on held-out layouts (frozen)? Speed from the simulator's qvel.

    python speed.py SEEDS OUT.json CHECKPOINT...
"""
import sys, json
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
torch.set_num_threads(1)
seeds, out = [int(s) for s in sys.argv[1].split(',')], sys.argv[2]
env = envs.make_env('cliff-car'); sim = env.unwrapped
res = {}
for ck in sys.argv[3:]:
    agent = MPCAgent.load(ck, env, AgentConfig(online=False))
    rows = []
    for seed in seeds:
        obs, info = env.reset(seed=seed); agent.reset(seed=seed); sp = []
        while True:
            obs, r, te, tr, info = env.step(agent.act(obs)); sp.append(float(np.hypot(*sim.data.qvel[:2])))
            if te or tr: break
        rows.append(dict(seed=seed, fell=bool(info['fell']), success=bool(info['success']), steps=len(sp),
                         mean_speed=float(np.mean(sp)), p90_speed=float(np.quantile(sp, 0.9))))
    res[ck] = rows
    print(ck, 'mean speed %.2f  p90 %.2f' % (np.mean([r['mean_speed'] for r in rows]), np.mean([r['p90_speed'] for r in rows])),
          ''.join('F' if r['fell'] else 'S' if r['success'] else '.' for r in rows), flush=True)
json.dump(res, open(out, 'w'), indent=1)
