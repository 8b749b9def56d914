"""At each of the last N steps before a fall: can the simulator escape (CEM, 256 x 6, on rollout_costs)?
What do the simulator and the model say about the chosen plan, the escape and four constant manoeuvres
(full reverse, reverse turning either way, stop)?

    python doomdiag.py CHECKPOINT SEEDS OUT.json N
"""
import sys, json
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
from planners import CEMPlanner
from agent.objective import planning_cost
torch.set_num_threads(1)
ck, seeds, last = sys.argv[1], [int(s) for s in sys.argv[2].split(',')], int(sys.argv[4])
env = envs.make_env('cliff-car'); sim = env.unwrapped
agent = MPCAgent.load(ck, env, AgentConfig(online=False)); wm = agent.world_model
H = 25
cem = CEMPlanner(horizon=H, action_low=env.action_space.low, action_high=env.action_space.high,
                 **{**CEMPlanner.FAST_PRESET, 'num_samples': 256, 'iterations': 6})
def obj(actions):
    return torch.as_tensor(sim.rollout_costs(actions.double().numpy()), dtype=actions.dtype)
out = []
for seed in seeds:
    # first pass: length of the episode
    obs, info = env.reset(seed=seed); agent.reset(seed=seed); T = 0
    while True:
        obs, r, te, tr, info = env.step(agent.act(obs)); T += 1
        if te or tr: break
    if not info['fell']:
        print('seed', seed, 'no fall'); continue
    obs, info = env.reset(seed=seed); agent.reset(seed=seed); t = 0; rows = []
    while True:
        a = agent.act(obs); plan = agent._plan.clone()
        if T - t <= last:
            cem.reset(seed)
            best = cem.plan(obj, init=None).actions  # true-sim escape attempt
            hand = torch.tensor([[-1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0], [0.0, 0.0]])[:, None, :].expand(4, H, 2)
            true_best = float(obj(best[None])[0]); true_hand = obj(hand.contiguous()).tolist()
            true_plan = float(obj(plan[None])[0])
            with torch.no_grad():
                z0 = agent._encode(np.asarray(obs, np.float32))
                cand = torch.cat([plan[None], best[None], hand])
                J = planning_cost(wm, agent.terminal_value, z0, cand, agent.gamma)
                lat = wm.rollout(z0[None].expand(len(cand), -1), cand)
                pf = 1 - torch.prod(1 - wm.fall_prob(lat[:, :-1], cand), dim=1)
                nov = wm.novelty(lat[:, :-1], cand).mean(1) if wm.config.dynamics_members else torch.zeros(len(cand))
            rows.append(dict(k=T - t, true_plan=round(true_plan, 1), true_escape=round(true_best, 1),
                             true_hand=[round(x, 1) for x in true_hand],
                             J_plan=round(float(J[0]), 1), J_escape=round(float(J[1]), 1), J_hand=[round(float(x), 1) for x in J[2:]],
                             pf_plan=round(float(pf[0]), 3), pf_escape=round(float(pf[1]), 3), pf_hand=[round(float(x), 3) for x in pf[2:]],
                             nov_plan=round(float(nov[0]), 5), nov_escape=round(float(nov[1]), 5), nov_hand=[round(float(x), 5) for x in nov[2:]],
                             speed=round(float(np.hypot(*sim.data.qvel[:2])), 2)))
            print(seed, rows[-1], flush=True)
        obs, r, te, tr, info = env.step(a); t += 1
        if te or tr: break
    out.append(dict(seed=seed, rows=rows))
json.dump(out, open(sys.argv[3], 'w'), indent=1)
