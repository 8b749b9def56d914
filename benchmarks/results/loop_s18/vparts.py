"""What does the terminal value's value part encode? On replay states: V (value heads) vs goal distance and 100*R."""
import sys, json
import numpy as np, torch
import envs
from agent.mpc import MPCAgent, AgentConfig
torch.set_num_threads(1)
env = envs.make_env('cliff-car')
out_path = sys.argv[1]
replay = np.load(sys.argv[2])
obs = replay['obs'] if 'obs' in replay else replay[list(replay.keys())[0]]
print({k: replay[k].shape for k in replay.keys()})
rng = np.random.default_rng(0)
idx = rng.choice(len(obs), 5000, replace=False)
O = torch.as_tensor(obs[idx], dtype=torch.float32)
out = {}
for ck in sys.argv[3:]:
    ag = MPCAgent.load(ck, env, AgentConfig(online=False), keep_objective=True)
    with torch.no_grad():
        z = ag.world_model.encode(O)
        R = ag.critic.risk(z).numpy() * 100 * ag.critic.config.risk_coef
        V = ag.terminal_value(z).numpy() - R  # the value part: V(z), or Q(z, pi(z)) with policy targets
    d = obs[idx, 3]
    X = np.stack([np.ones_like(d), d, R], 1)
    coef, *_ = np.linalg.lstsq(X, V, rcond=None)
    resid = V - X @ coef
    r2 = 1 - resid.var() / V.var()
    row = dict(V_mean=float(V.mean()), V_std=float(V.std()), corr_V_dist=float(np.corrcoef(V, d)[0, 1]),
               corr_V_R=float(np.corrcoef(V, R)[0, 1]), fit=dict(const=float(coef[0]), per_m=float(coef[1]), per_100R=float(coef[2]), r2=float(r2)))
    print(ck, json.dumps(row)); out[ck] = row
json.dump(out, open(out_path, 'w'), indent=1)
