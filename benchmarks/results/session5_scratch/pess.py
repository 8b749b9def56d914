import torch
def member_cost(model, V, z0, actions, gamma, agg="max"):
    n, H, _ = actions.shape
    z = z0.expand(n, -1) if z0.dim() == 1 else z0
    K = model.config.dynamics_members
    # trajectories: main + K members -> (K+1, N, Z)
    zs = [torch.cat([z[None], z[None].expand(K, -1, -1)], 0)]
    for t in range(H):
        cur = zs[-1]
        a = actions[:, t]
        main = model.next(cur[0], a)[None]
        mem = model.next_members(cur[1:], a[None].expand(K, -1, -1))  # (K, N, K, Z)
        idx = torch.arange(K)
        mem = mem[idx, :, idx]  # member k applied to its own trajectory: (K, N, Z)
        zs.append(torch.cat([main, mem], 0))
    states = torch.stack(zs[:-1], 2)  # (K+1, N, H, Z)
    acts = actions[None].expand(K + 1, -1, -1, -1)
    p = model.fall_prob(states, acts)
    c = model.cost(states, acts)
    step = (1 - p) * c + p * model.fall_cost
    surv = torch.cumprod(1 - p, 2)
    alive = torch.cat([surv.new_ones(K + 1, n, 1), surv[..., :-1]], 2)
    disc = gamma ** torch.arange(H + 1, dtype=actions.dtype)
    tot = (disc[:-1] * alive * step).sum(-1)
    zH = zs[-1]
    tot = tot + disc[-1] * surv[..., -1] * V(zH.reshape(-1, zH.shape[-1])).reshape(K + 1, n)
    if agg == "max":
        return tot.max(0).values
    return tot.mean(0) + float(agg) * tot.std(0)

def install(agent, agg="max"):
    import agent.mpc as m
    def objective_for(z0):
        return lambda actions: member_cost(agent.world_model, agent.terminal_value, z0, actions, agent.gamma, agg)
    agent.objective_for = objective_for
    orig = m.planning_cost
    def pc(model, V, z0, actions, gamma, **kw):
        return member_cost(model, V, z0, actions, gamma, agg)
    m.planning_cost = pc
