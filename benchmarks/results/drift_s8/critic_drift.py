"""Session 8 scratch: what changes in the critic when a sound kerb agent trains longer offline?

    python benchmarks/results/drift_s8/critic_drift.py CHECKPOINT OUT.json UPDATES [PESSIMISM ...]

Loads CHECKPOINT (with its rehearsal buffer), measures the critic at the data's states k steps
before each drop (k = 1..30) and at random data states: terminal value V(z) = mean + kappa std
of Q(z, pi(z)) over heads, the heads' std, and the data's own discounted cost-to-go there.
Then makes UPDATES loop updates on the rehearsal buffer (as online_drift.py --offline) and
measures again, and drives held-out cliff layouts 0-9 frozen with each critic pessimism kappa
given (default 0.5), before and after.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root
from agent.mpc import AgentConfig, MPCAgent  # noqa: E402
from agent.utils import episode_cost_to_go
from benchmarks.online_drift import drive_layouts  # noqa: E402
from envs import make_env  # noqa: E402

torch.set_num_threads(1)
ckpt, out, updates = sys.argv[1], sys.argv[2], int(sys.argv[3])
kappas = [float(k) for k in sys.argv[4:]] or [0.5]
env = make_env("cliff-car")
agent = MPCAgent.load(ckpt, env, AgentConfig(), seed=0)
buf = agent.buffer
eps = buf.episodes()
ctg = episode_cost_to_go(buf.cost, eps, agent.critic.gamma)  # per slot in valid order? check below
order = np.concatenate(eps)
ctg_by_slot = dict(zip(order.tolist(), np.asarray(ctg).tolist(), strict=False)) if len(ctg) == len(order) else {}
pre = {k: [] for k in range(1, 31)}
for seg in eps:
    last = seg[-1]
    if buf.fell[last]:
        for k in range(1, 31):
            if len(seg) >= k:
                pre[k].append(seg[-k])
rng = np.random.default_rng(0)
rand_slots = rng.choice(order, size=2000, replace=False)


@torch.no_grad()
def measure(agent):
    def at(slots):
        obs = torch.as_tensor(buf.obs[slots])
        z = agent.world_model.encode(obs)
        q = agent.critic.q(z, agent.value_policy_or_prior(z))  # (N, K)
        rec = {"n": len(slots), "q_mean": float(q.mean()), "head_std": float(q.std(-1, unbiased=False).mean()),
               "v_terminal": float(agent.terminal_value(z).mean())}
        if ctg_by_slot:
            rec["data_ctg"] = float(np.mean([ctg_by_slot[int(s)] for s in slots]))
        return rec
    res = {"random": at(rand_slots)}
    for k in (1, 3, 5, 10, 15, 20, 30):
        if pre[k]:
            res[f"pre{k}"] = at(np.array(pre[k]))
    return res


def drive(agent, kappa):
    agent.training = False
    old = agent.critic.config.pessimism
    agent.critic.config.pessimism = kappa
    outcomes = drive_layouts(agent, env, range(10))
    agent.critic.config.pessimism = old
    return outcomes


record = {"checkpoint": ckpt, "updates": updates, "drops": len(pre[1]), "before": measure(agent)}
print(json.dumps(record["before"]), flush=True)
record["drive_before"] = {str(k): drive(agent, k) for k in kappas}
print(record["drive_before"], flush=True)
agent.training = True
agent.update(updates)
record["after"] = measure(agent)
print(json.dumps(record["after"]), flush=True)
record["drive_after"] = {str(k): drive(agent, k) for k in kappas}
print(record["drive_after"], flush=True)
agent.save(out.replace(".json", ".pt"), replay_steps=0)
json.dump(record, open(out, "w"), indent=2)
