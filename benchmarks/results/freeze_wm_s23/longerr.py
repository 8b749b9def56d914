"""Scratch (session 23): open-loop prediction of the summed step cost over k = 5..100 steps of real
trajectories, per model. Does continued world-model training trade long-horizon accuracy for short?"""
import sys, json, glob, numpy as np, torch
sys.path.insert(0, ".")
torch.set_num_threads(1)
import envs
from agent.mpc import AgentConfig, MPCAgent
from agent.buffer import ReplayBuffer
env = envs.make_env("cliff-car")
K = (5, 25, 50, 100)
buf = ReplayBuffer.load("benchmarks/results/horizon_s22/cliff-car_from_kerb-s2_h100_3000.replay.npz")
order = buf.valid_slots()
rng = np.random.default_rng(0)
def windows(slots_pool, n):
    starts = rng.choice(slots_pool, n, replace=False)
    b = buf.gather(starts, 100)
    keep = b["mask"].sum(1) == 100
    return {k: v[keep] for k, v in b.items()}
sets = {"kerb rehearsal": windows(order[:-3000], 400), "loop's cliff steps": windows(order[-3000:], 400)}
# fresh trajectories: the frozen held-out drives of session 23 (not in any buffer)
fresh = {"obs": [], "action": [], "cost": []}
for f in sorted(glob.glob("benchmarks/results/freeze_wm_s23/fallprobe_*_*.json")):
    d = json.load(open(f)); O = np.array(d["obs"], np.float32); A = np.array(d["actions"], np.float32)
    env.reset(seed=d["layout"]); c = []
    for a in A:
        c.append(-env.step(a)[1])
    for s in range(0, len(A) - 100, 10):
        fresh["obs"].append(O[s:s + 101]); fresh["action"].append(A[s:s + 100]); fresh["cost"].append(np.array(c[s:s + 100], np.float32))
sets["fresh held-out drives"] = {k: torch.as_tensor(np.array(v)) for k, v in fresh.items()}
for p in sys.argv[1:]:
    ag = MPCAgent.load(p, env, AgentConfig(online=False), keep_objective=False); wm = ag.world_model
    for name, b in sets.items():
        with torch.no_grad():
            z = wm.encode(b["obs"][:, 0]); pc = []; zs = []
            for t in range(100):
                pc.append(wm.cost(z, b["action"][:, t])); z = wm.next(z, b["action"][:, t]); zs.append(z)
            pc = torch.stack(pc, 1); zs = torch.stack(zs, 1)
            zt = wm.encode_target(b["obs"][:, 1:])
            scale = zt.reshape(-1, zt.shape[-1]).std(0).mean()
        row = []
        for k in K:
            err = (pc[:, :k].sum(1) - b["cost"][:, :k].sum(1)).abs().mean()
            lat = ((zs[:, k - 1] - zt[:, k - 1]).norm(dim=-1) / (scale * zt.shape[-1] ** 0.5)).mean()
            row.append(f"k={k}: cost |err| {err:.3f} latent err {lat:.3f}")
        print(f"{p.split('/')[-1]:22s} {name:22s} (n={len(b['cost'])}): " + "; ".join(row), flush=True)
