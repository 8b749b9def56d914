"""R(z) on the pretraining replay's observations under different checkpoints' encoders: does the
loop's encoder drift move a frozen R? Prints mean R on states k<=10 steps before a fall vs the rest,
the ROC-AUC of R for 'falls within 10 steps', and the correlation with the first checkpoint's R."""
import sys
import numpy as np
import torch
import envs
from agent.buffer import ReplayBuffer
from agent.mpc import AgentConfig, MPCAgent

torch.set_num_threads(1)
buf = ReplayBuffer.load(sys.argv[1])
slots = buf.valid_slots()
obs = buf.obs[slots]
# steps to the next fall within each episode
near = np.zeros(len(slots), bool)
pos = {s: i for i, s in enumerate(slots)}
for ep in buf.episodes():
    fell = buf.fell[ep].astype(bool)
    if fell.any():
        idx = np.array([pos[s] for s in ep])
        last = np.flatnonzero(fell)[-1]
        near[idx[max(0, last - 10):last + 1]] = True
def roc_auc_score(y, score):
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score)); ranks[order] = np.arange(1, len(score) + 1)
    pos = y.sum(); neg = len(y) - pos
    return (ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg)


env = envs.make_env("cliff-car")
ref = None
for path in sys.argv[2:]:
    agent = MPCAgent.load(path, env, AgentConfig(online=False))
    with torch.no_grad():
        z = agent.world_model.encode(torch.as_tensor(obs))
        r = agent.critic.risk(z).numpy()
    auc = roc_auc_score(near, r)
    corr = np.corrcoef(ref, r)[0, 1] if ref is not None else 1.0
    ref = r if ref is None else ref
    print(f"{path}: R near falls {r[near].mean():.3f}, elsewhere {r[~near].mean():.4f} (median {np.median(r[~near]):.4f}), "
          f"AUC {auc:.3f}, corr with first {corr:.3f}")
