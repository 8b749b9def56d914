"""Scratch probe (session 15): how sure is the fall head of the falls in its own training data?

    python benchmarks/results/pretrain_updates_s15/fall_head_recall.py OUT.json REPLAY.npz CKPT [CKPT ...]

For every fall episode of REPLAY (a checkpoint's rehearsal buffer: its pretraining data) at
least 31 steps long, and as many fall-free episodes: from the encoded observation k steps
before the episode's end, the model rolls out along the actions that were taken; P(k) is
its probability of a fall along them, ``1 - prod(1 - p_t)``. ``k = 1`` is the fall head on
the last transition itself. Also the critic's value 10 steps before the end. Not a test.
"""
import json
import sys

import numpy as np
import torch

from agent.buffer import ReplayBuffer
from agent.mpc import AgentConfig, MPCAgent
from envs import make_env

torch.set_num_threads(1)
out_path, replay, checkpoints = sys.argv[1], sys.argv[2], sys.argv[3:]
buf = ReplayBuffer.load(replay)
env = make_env("cliff-car")
episodes = buf.episodes()
falls = [e for e in episodes if buf.fell[e[-1]] and len(e) >= 31]
safe = [e for e in episodes if not buf.fell[e].any() and len(e) >= 31][: len(falls)]
out = {"replay": replay, "fall_episodes": len(falls), "safe_episodes": len(safe), "checkpoints": {}}
for ck in checkpoints:
    agent = MPCAgent.load(ck, env, AgentConfig(), seed=0)
    wm = agent.world_model
    res = {}
    with torch.no_grad():
        for name, pool in (("fall", falls), ("safe", safe)):
            probs = {k: [] for k in (1, 3, 5, 10, 15, 20, 25)}
            values = []
            for e in pool:
                for k in probs:
                    idx = e[len(e) - k:]
                    z = wm.encode(torch.as_tensor(buf.obs[idx[0]])[None])
                    a = torch.as_tensor(buf.action[idx])[None]
                    p = wm.fall_prob(wm.rollout(z, a)[:, :-1], a)
                    probs[k].append(float(1 - torch.prod(1 - p, dim=-1)))
                values.append(float(agent.critic.value(wm.encode(torch.as_tensor(buf.obs[e[-10]])[None])).mean()))
            res[name] = {"P_mean": {k: float(np.mean(v)) for k, v in probs.items()},
                         "P_median": {k: float(np.median(v)) for k, v in probs.items()},
                         "value_10_before_end": float(np.mean(values))}
    out["checkpoints"][ck] = res
    print(ck, "fall P(1,5,10):", [round(res["fall"]["P_mean"][k], 3) for k in (1, 5, 10)],
          "safe P(25):", round(res["safe"]["P_mean"][25], 4), flush=True)
with open(out_path, "w") as f:
    json.dump(out, f, indent=1)
