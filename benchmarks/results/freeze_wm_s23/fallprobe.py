"""Scratch (session 23): drive an agent on one layout (frozen, horizon 100, margin 0.003); before a fall, what
did its own model -- and the kerb start's -- predict about the executed future?"""
import sys, json, numpy as np, torch
sys.path.insert(0, ".")
torch.set_num_threads(1)
import envs
from agent.mpc import AgentConfig, MPCAgent
env = envs.make_env("cliff-car")
path, layout = sys.argv[1], int(sys.argv[2])
def load(p):
    cfg = AgentConfig(online=False, risk_step_coef=0.003); cfg.planner.horizon = 100
    return MPCAgent.load(p, env, cfg, keep_objective=False)
agent = load(path); start = load("benchmarks/results/kerb_s19/kerb-s2.pt")
print("horizon", agent.config.planner.horizon, "margin", agent.config.risk_step_coef)
obs, _ = env.reset(seed=layout); agent.reset(seed=layout)
O, A, plans = [obs], [], []
done = False
def plan_fall(ag):
    with torch.no_grad():
        wm = ag.world_model; z = wm.encode(torch.as_tensor(obs, dtype=torch.float32)[None]); alive = 1.0; ps = []
        for u in ag._plan:
            p = float(wm.fall_prob(z, u[None])); ps.append(p); alive *= 1 - p; z = wm.next(z, u[None])
        return 1 - alive, float(np.argmax(ps))
while not done:
    a = agent.act(obs)
    plans.append(plan_fall(agent) + (agent.last_plan_cost,))
    obs, r, term, trunc, info = env.step(a)
    O.append(obs); A.append(a); done = term or trunc
print("steps", len(A), "fell", info.get("fell"), "success", info.get("success"))
O = torch.as_tensor(np.array(O), dtype=torch.float32); A = torch.as_tensor(np.array(A), dtype=torch.float32)
T = len(A)
def future_fall(ag, t, k):
    """P(fall within the executed actions t..t+k-1) imagined from o_t, and R(z_t)."""
    with torch.no_grad():
        wm = ag.world_model
        z = wm.encode(O[t][None]); alive = 1.0
        for s in range(t, min(T, t + k)):
            p = float(wm.fall_prob(z, A[s][None]))
            alive *= 1 - p
            z = wm.next(z, A[s][None])
        return 1 - alive, float(ag.critic.risk(wm.encode(O[t][None])))
rows = []
for t in range(0, T, 10): print("t=%3d plan P(fall) %.3f at step %d, cost %.2f" % ((t,) + plans[t]))
for t in range(max(0, T - 40), T, 2):
    pa, ra = future_fall(agent, t, T - t); ps, rs = future_fall(start, t, T - t)
    rows.append((t, T - t, pa, ps, ra, rs, plans[t][0], plans[t][1], plans[t][2]))
    print("t=%3d (%2d to end)  P(fall|executed): agent %.3f start %.3f  R(z_t): agent %.3f start %.3f | plan P(fall) %.3f at step %d cost %.2f" % rows[-1])
json.dump({"path": path, "layout": layout, "steps": T, "fell": bool(info.get("fell")), "rows": rows,
           "plans": plans, "obs": O.tolist(), "actions": A.tolist()}, open(f"benchmarks/results/freeze_wm_s23/fallprobe_{sys.argv[3]}_{layout}.json", "w"))
