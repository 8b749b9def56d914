"""Why does the agent fall? Per step: the plan's own predicted fall risk, its terminal value, the
dynamics members' disagreement along it (needs a model with dynamics members), and, for the last
30 steps, the same model's fall risk along the actions actually executed.

    python plandiag_nov.py CHECKPOINT SEEDS OUT.json
"""
import sys, json
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
torch.set_num_threads(1)
ck, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(',')]
env = envs.make_env('cliff-car')
agent = MPCAgent.load(ck, env, AgentConfig(online=False))
wm = agent.world_model
lo, hi = env.action_space.low, env.action_space.high
out = []
ALLNOV = []
for seed in seeds:
    obs, info = env.reset(seed=seed); agent.reset(seed=seed)
    rec = []
    while True:
        a = agent.act(obs)
        plan = agent._plan.clone()  # (H, A) normalised
        with torch.no_grad():
            z0 = agent._encode(np.asarray(obs, np.float32))
            lat = wm.rollout(z0[None], plan[None])  # (1, H+1, Z)
            p = wm.fall_prob(lat[:, :-1], plan[None])[0]
            V = float(agent.terminal_value(lat[:, -1])[0])
            V0 = float(agent.terminal_value(z0[None])[0])
            nov = wm.novelty(lat[:, :-1], plan[None])[0]
            NOVM, NOVX = float(nov.mean()), float(nov.max())
            ALLNOV.append(NOVM)
        an = 2 * (np.asarray(a) - lo) / (hi - lo) - 1
        rec.append(dict(obs=np.asarray(obs, np.float32), a=an.astype(np.float32), plan_pfall=float(1 - torch.prod(1 - p)),
                        plan_p5=float(1 - torch.prod(1 - p[:5])), plan_cost=agent.last_plan_cost, VH=V, V0=V0, nov_mean=NOVM, nov_max=NOVX))
        obs, r, term, trunc, info = env.step(a)
        if term or trunc:
            break
    fell = bool(info.get('fell'))
    # executed-actions risk: from step t, the model's P(fall) over the actual actions t..end
    A = torch.as_tensor(np.stack([x['a'] for x in rec]))
    T = len(rec)
    for t in range(max(0, T - 30), T):
        with torch.no_grad():
            z = wm.encode(torch.as_tensor(rec[t]['obs'])[None])
            acts = A[t:][None]
            lat = wm.rollout(z, acts)
            p = wm.fall_prob(lat[:, :-1], acts)[0]
            rec[t]['exec_pfall'] = float(1 - torch.prod(1 - p))
    tail = [{k: round(v, 4) for k, v in x.items() if k not in ('obs', 'a')} | {'k': T - t} for t, x in enumerate(rec) if t >= T - 12]
    print(f'seed {seed} fell {fell} success {info.get("success")} steps {T}')
    for x in tail: print('  ', x)
    out.append(dict(seed=seed, fell=fell, steps=T, tail=tail))
print('all-steps plan novelty mean: quantiles 10/50/90/99', np.quantile(ALLNOV, [0.1, 0.5, 0.9, 0.99]).round(5).tolist())
json.dump(out, open(sys.argv[3], 'w'), indent=1)
