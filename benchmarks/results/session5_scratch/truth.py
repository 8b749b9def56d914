"""Per step of a held-out episode: model's view vs the simulator's truth, for the plan and for escapes."""
import sys, torch, numpy as np
from agent.mpc import AgentConfig, MPCAgent
from agent.objective import planning_cost
from agent.buffer import denormalize_action
from envs import make_env
torch.set_num_threads(1)
ckpt, seed = sys.argv[1], int(sys.argv[2])
zeroV = len(sys.argv) > 3
env = make_env("cliff-car")
agent = MPCAgent.load(ckpt, env, AgentConfig(), seed=0)
if zeroV: agent.terminal_value = lambda z: torch.zeros(z.shape[0])
agent.training = False
u = env.unwrapped
obs, _ = env.reset(seed=seed); agent.reset(seed=seed)
H = 25
escapes = np.array([np.tile(a, (H, 1)) for a in ([0, 0], [-1, 0], [-1, 1], [-1, -1], [0, 1], [0, -1], [1, 1], [1, -1])], dtype=float)
rows = []; done = False; t = 0
while not done:
    a = agent.act(obs); plan = agent._plan
    z0 = agent._encode(obs)
    with torch.no_grad():
        Jm = float(planning_cost(agent.world_model, agent.terminal_value, z0, plan[None], agent.gamma)[0])
        zs = [z0[None]]
        for k in range(H): zs.append(agent.world_model.next(zs[-1], plan[None, k]))
        pm = float(1 - torch.prod(1 - agent.world_model.fall_prob(torch.cat(zs[:-1]), plan)))
        esc = torch.as_tensor(escapes, dtype=torch.float32)
        Jesc_m = planning_cost(agent.world_model, agent.terminal_value, z0, esc, agent.gamma).numpy()
    true_plan = u.rollout_costs(plan.numpy()[None].astype(float))[0]
    true_esc = u.rollout_costs(escapes)
    speed = float(np.linalg.norm(u.data.qvel[:2]))
    rows.append((t, speed, pm, Jm, true_plan, Jesc_m.min(), true_esc.min(), int(np.argmin(true_esc))))
    obs, _, te, tr, info = env.step(a); done = te or tr; t += 1
print("seed", seed, "fell" if info.get("fell") else ("succ" if info.get("success") else "timeout"), "len", t)
print("  t  speed  Pplan_model  Jplan_model  Jplan_true  Jesc_model_min  Jesc_true_min  best_esc")
for r in rows[-30:]: print("  %3d %5.2f  %5.2f  %7.1f  %7.1f  %7.1f  %7.1f  %d" % r)
