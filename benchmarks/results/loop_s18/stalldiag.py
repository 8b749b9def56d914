"""Why does the loop-trained agent stall where its start drives round? At a stall state of agent B,
decompose the objective of B's plan and of A's plan under both agents' objectives, and play both plans
open-loop in the simulator (env replayed to the stall state)."""
import sys, json
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
from agent.buffer import denormalize_action

torch.set_num_threads(1)
ckA, ckB, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
layouts = [int(s) for s in sys.argv[4].split(',')]
env = envs.make_env('cliff-car')
cfg = AgentConfig(online=False)
A = MPCAgent.load(ckA, env, cfg, keep_objective=True)
B = MPCAgent.load(ckB, env, cfg, keep_objective=True)
print('A margin', A.config.risk_step_coef, 'B margin', B.config.risk_step_coef)


def decompose(ag, z0, plan):
    wm = ag.world_model
    with torch.no_grad():
        acts = plan[None]
        H = plan.shape[0]
        lat = [z0[None]]
        for t in range(H):
            lat.append(wm.next(lat[-1], acts[:, t]))
        states = torch.stack(lat[:-1], 1)
        p = wm.fall_prob(states, acts)
        c = wm.cost(states, acts)
        sc = ag.step_risk(states) if ag.config.risk_step_coef else torch.zeros_like(c)
        keep = 1 - p
        if getattr(wm, 'has_termination', False):
            keep = keep * (1 - wm.end_prob(states, acts))
        surv = torch.cumprod(keep, 1)
        alive = torch.cat([surv.new_ones(1, 1), surv[:, :-1]], 1)
        g = ag.gamma ** torch.arange(H + 1, dtype=torch.float32)
        w = g[:-1] * alive
        step = float((w * (1 - p) * c).sum())
        risk = float((w * (1 - p) * sc).sum())
        fall = float((w * p * wm.fall_cost).sum())
        VH = float(ag.terminal_value(lat[-1])[0])
        has_risk = ag.critic.risk_heads is not None
        RH = float(ag.critic.risk(lat[-1])[0]) if has_risk else 0.0  # the terminal's R part is risk_coef*fall_cost*RH
        Rpath = ag.critic.risk(states)[0].numpy().round(3).tolist()[::3] if has_risk else []
        term = float(g[-1] * surv[0, -1] * VH)
        return dict(step=round(step, 3), risk=round(risk, 3), fall=round(fall, 3), term=round(term, 3),
                    VH=round(VH, 3), RH=round(RH, 4), Rpath=Rpath, riskcoef=ag.critic.config.risk_coef,
                    pfall=round(float(1 - surv[0, -1]), 4), total=round(step + risk + fall + term, 3))


def run(ag, layout, max_steps=300):
    obs, info = env.reset(seed=layout); ag.reset(seed=layout)
    rec = []
    for k in range(max_steps):
        a = ag.act(obs)
        rec.append(dict(obs=np.asarray(obs, np.float32), a=a, plan=ag._plan.clone()))
        obs, r, term, trunc, info = env.step(a)
        if term or trunc:
            break
    return rec, dict(success=bool(info.get('success')), fell=bool(info.get('fell')), steps=len(rec))


def simulate(layout, prefix, plan):
    """Replay prefix actions from reset, then play plan open-loop; report outcome and goal distance."""
    obs, _ = env.reset(seed=layout)
    for a in prefix:
        obs, *_ = env.step(a)
    d0 = float(obs[3]); ret = 0.0; fell = False; succ = False
    for an in plan.numpy():
        a = denormalize_action(np.clip(an, -1, 1), env.action_space).astype(env.action_space.dtype)
        obs, r, term, trunc, info = env.step(a)
        ret += r
        if term or trunc:
            fell = bool(info.get('fell')); succ = bool(info.get('success'))
            break
    return dict(ret=round(ret, 3), d0=round(d0, 2), d_end=round(float(obs[3]), 2), fell=fell, success=succ)


def converged_plan(ag, obs, n=8):
    ag.reset(seed=0)
    for _ in range(n):
        ag.act(obs)
    return ag._plan.clone()


report = []
for L in layouts:
    recA, outA = run(A, L)
    recB, outB = run(B, L)
    print(f'layout {L}: A {outA}  B {outB}')
    item = dict(layout=L, A=outA, B=outB)
    if not outB['success'] and not outB['fell']:
        # stall state: first step after which B's speed stays tiny for 20 steps
        speed = np.array([abs(r['obs'][0]) for r in recB])
        k = next((i for i in range(len(speed) - 20) if speed[i:i + 20].max() < 0.05), len(speed) // 2)
        probes = sorted({k, min(k + 40, len(recB) - 1), len(recB) - 1})
        item['probes'] = []
        for t in probes:
            obs = recB[t]['obs']
            zA, zB = A._encode(obs), B._encode(obs)
            pB = recB[t]['plan']
            pA = converged_plan(A, obs)
            pBc = converged_plan(B, obs)
            prefix = [r['a'] for r in recB[:t]]
            row = dict(t=t, goal_dist=round(float(obs[3]), 2), speed=round(float(obs[0]), 3),
                       planB=dict(underA=decompose(A, zA, pB), underB=decompose(B, zB, pB), sim=simulate(L, prefix, pB)),
                       planB_fresh=dict(underA=decompose(A, zA, pBc), underB=decompose(B, zB, pBc), sim=simulate(L, prefix, pBc)),
                       planA=dict(underA=decompose(A, zA, pA), underB=decompose(B, zB, pA), sim=simulate(L, prefix, pA)))
            print(json.dumps(row))
            item['probes'].append(row)
    report.append(item)
    json.dump(report, open(out_path, 'w'), indent=1)
