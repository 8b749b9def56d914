import torch, numpy as np
from agent.objective import planning_cost
def probe(agent, tag):
    rng = np.random.default_rng(1)
    b = agent.buffer.sample(512, 1, rng)
    with torch.no_grad():
        z = agent.world_model.encode(b["obs"][:, 0])
        v_real = agent.terminal_value(z)
        zz = z.clone()
        for _ in range(25):
            zz = agent.world_model.next(zz, agent.policy(zz))
        v_pi25 = agent.terminal_value(zz)
        zr = z.clone()
        for _ in range(25):
            zr = agent.world_model.next(zr, torch.zeros(zr.shape[0], agent.action_dim))
        v_zero25 = agent.terminal_value(zr)
    q = lambda t: [round(float(x), 1) for x in torch.quantile(t, torch.tensor([0.01, 0.5, 0.99]))]
    print(tag, "V real", q(v_real), "V after 25 pi steps", q(v_pi25), "V after 25 zero steps", q(v_zero25), flush=True)

def trace_episode(agent, env, seed, last=30):
    obs, _ = env.reset(seed=seed); agent.reset(seed=seed)
    rows = []; done = False
    while not done:
        a = agent.act(obs)
        z0 = agent._encode(obs)
        plan = agent._plan
        with torch.no_grad():
            H = plan.shape[0]
            zs = [z0[None]]
            for t in range(H): zs.append(agent.world_model.next(zs[-1], plan[None, t]))
            st = torch.cat(zs[:-1]); p = agent.world_model.fall_prob(st, plan)
            pf = float(1 - torch.prod(1 - p))
            vt = float(agent.terminal_value(zs[-1]))
            J = float(planning_cost(agent.world_model, agent.terminal_value, z0, plan[None], agent.gamma)[0])
            Jz = float(planning_cost(agent.world_model, agent.terminal_value, z0, torch.zeros_like(plan)[None], agent.gamma)[0])
        rows.append((round(J,1), round(Jz,1), round(pf,2), round(vt,1)))
        obs, _, te, tr, info = env.step(a); done = te or tr
    print("seed", seed, "fell" if info.get("fell") else ("succ" if info.get("success") else "timeout"), "len", len(rows))
    for r in rows[-last:]: print("  J %6.1f  Jzero %6.1f  Pfall %.2f  Vterm %6.1f" % r)
