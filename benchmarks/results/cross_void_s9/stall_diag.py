"""Stalls of a frozen cliff agent: where the car stands, and how the model scores a plan that works.

For held-out layouts, every `every` steps: the model's objective J of (a) the plan chosen,
(b) standing still (zeros), (c) the cautious seeker's next H actions simulated closed-loop in a
cloned env; with the true simulated cost of each. Ends: stall / fall / goal, clearance to void.

A one-off script of session 9 (README, issue #11):
    python benchmarks/results/cross_void_s9/stall_diag.py CHECKPOINT OUT.json 12
"""
import json, sys
import numpy as np, torch
import envs
from agent.mpc import AgentConfig, MPCAgent
from agent.objective import planning_cost
from envs.cliff_car_drivers import cautious_seeker
from envs.cliff_car_layout import void_clearance

ckpt, out, n_eps = sys.argv[1], sys.argv[2], int(sys.argv[3])
every = 10
torch.set_num_threads(1)
env = envs.make_env("cliff-car"); twin = envs.make_env("cliff-car")
agent = MPCAgent.load(ckpt, env, AgentConfig(online=False), seed=0)
agent.eval() if hasattr(agent, "eval") else None
H = agent.planner.horizon

def terms(z0, actions):
    a = torch.as_tensor(actions, dtype=torch.float32)[None]
    z = [z0[None]]
    with torch.no_grad():
        for t in range(a.shape[1]): z.append(agent.world_model.next(z[-1], a[:, t]))
        st = torch.stack(z[:-1], 1)
        p = agent.world_model.fall_prob(st, a)[0]
        J = planning_cost(agent.world_model, agent.terminal_value, z0, a, agent.gamma)[0]
        V = agent.terminal_value(z[-1])[0]
    return float(J), float(1 - torch.prod(1 - p)), float(V)

def seeker_actions(u, obs):
    twin.reset(seed=cur_seed)
    tw = twin.unwrapped
    tw.set_state(u.data.qpos.copy(), u.data.qvel.copy())
    o = obs.copy(); acts = []
    for _ in range(H):
        a = cautious_seeker(o[None])[0]; acts.append(a)
        o, r, term, trunc, info = twin.step(a)
        if term: break
    while len(acts) < H: acts.append(np.zeros(2))
    return np.array(acts)

rows = []
for ep in range(n_eps):
    cur_seed = ep
    obs, info = env.reset(seed=ep); agent.reset(seed=ep)
    u = env.unwrapped; lay = u.layout
    samples = []; ret = 0; end = "stall"
    for t in range(300):
        a = agent.act(obs)
        if t % every == 0:
            z0 = agent._encode(obs)
            plan = agent._plan.cpu().numpy()
            sk = seeker_actions(u, obs)
            cand = np.stack([plan, np.zeros_like(plan), sk])
            true = u.rollout_costs(cand)
            s = {"t": t, "clear": float(void_clearance(lay.to_plateau_frame(u.car_xy))),
                 "goal_d": float(obs[3]), "v": float(obs[0])}
            for name, c, tc in zip(("plan", "still", "seeker"), cand, true):
                J, pf, V = terms(z0, c); s[name] = {"J": round(J, 2), "pfall": round(pf, 3), "V": round(V, 2), "true": round(float(tc), 2)}
            samples.append(s)
        obs, r, term, trunc, info = env.step(a); ret += r
        if term or trunc:
            end = "fall" if info["fell"] else ("goal" if info["success"] else "stall"); break
    row = {"seed": ep, "cross_void": bool(lay.crosses_void), "end": end, "return": ret, "steps": t + 1,
           "final_clear": float(void_clearance(lay.to_plateau_frame(u.car_xy))), "final_goal_d": float(obs[3]), "samples": samples}
    rows.append(row)
    print(ep, end, row["cross_void"], round(ret, 1), t + 1, "clear %.2f goal %.2f" % (row["final_clear"], row["final_goal_d"]), flush=True)
    last = samples[-3:]
    for s in last: print("   ", s)
json.dump(rows, open(out, "w"), indent=1)
