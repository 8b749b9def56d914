"""Scratch (session 23): at states where the planner's chosen plan falls for certain, is there a plan in the
model that does not (planner stuck on a saturated plateau), or does every plan fall (the model's belief)?"""
import sys, json, numpy as np, torch
sys.path.insert(0, ".")
torch.set_num_threads(1)
import envs, dataclasses
from agent.mpc import AgentConfig, MPCAgent
from agent.objective import planning_cost
env = envs.make_env("cliff-car")
path, js = sys.argv[1], sys.argv[2]
ts = [int(x) for x in sys.argv[3:]]
cfg = AgentConfig(online=False, risk_step_coef=0.003); cfg.planner.horizon = 100
ag = MPCAgent.load(path, env, cfg, keep_objective=False)
d = json.load(open(js)); O = torch.as_tensor(d["obs"], dtype=torch.float32)
H = 100; rng = np.random.default_rng(0)
wm = ag.world_model
def evaluate(z, acts):
    with torch.no_grad():
        J = planning_cost(wm, ag.terminal_value, z, acts, ag.gamma, **ag._objective_terms())
        zz = z.expand(len(acts), -1); alive = torch.ones(len(acts))
        for t in range(H):
            alive = alive * (1 - wm.fall_prob(zz, acts[:, t])); zz = wm.next(zz, acts[:, t])
    return J, 1 - alive
for t in ts:
    z = wm.encode(O[t][None])[0]
    grid = torch.tensor([[f, s] for f in np.linspace(-1, 1, 9) for s in np.linspace(-1, 1, 9)], dtype=torch.float32)
    const = grid[:, None, :].expand(-1, H, -1).contiguous()
    # turn k steps then constant: 81 x ... keep it simple: random smooth sequences
    knots = rng.uniform(-1, 1, (2000, 6, 2))
    xs = np.linspace(0, 5, H)
    smooth = np.stack([np.stack([np.interp(xs, np.arange(6), k[:, j]) for j in range(2)], -1) for k in knots])
    smooth = torch.as_tensor(smooth, dtype=torch.float32)
    # the executed future (for reference) padded with zeros
    for name, acts in [("const", const), ("smooth", smooth)]:
        J, pf = evaluate(z, acts)
        i = int(J.argmin())
        safe = pf < 0.5
        print(f"t={t} {name:6s}: best J {J[i]:.2f} (P fall {pf[i]:.3f}, acts {acts[i,0].numpy().round(2)}); "
              f"{int(safe.sum())}/{len(acts)} plans with P(fall)<0.5, best of those J {J[safe].min() if safe.any() else float('nan'):.2f}")
    print(f"t={t} chosen plan (logged): P(fall) {d['plans'][t][0]:.3f}, cost {d['plans'][t][2]:.2f}", flush=True)
