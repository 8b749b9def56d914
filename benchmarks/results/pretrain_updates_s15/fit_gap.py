"""Scratch probe (session 15): does the world model overfit its pretraining data as updates go on?

    python benchmarks/results/pretrain_updates_s15/fit_gap.py OUT.json TRAIN.replay.npz OTHER.replay.npz CKPT [CKPT ...]

TRAIN: a rehearsal subset of the checkpoints' own pretraining data; OTHER: the same kind of
data collected with another seed, which they never saw. For each checkpoint: the relative
multi-step latent prediction error (``latent_prediction_error``, 0 perfect, 1 a mean
predictor) at horizons 1 and 5, on 4,096 windows of 5 steps from each buffer, the same
windows for every checkpoint. Not a test.
"""
import json
import sys

import numpy as np
import torch

from agent.buffer import ReplayBuffer
from agent.mpc import AgentConfig, MPCAgent
from agent.world_model import latent_prediction_error
from envs import make_env

torch.set_num_threads(1)
out_path, train_path, other_path, checkpoints = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
env = make_env("cliff-car")
batches = {name: ReplayBuffer.load(path).sample(4096, 5, np.random.default_rng(0))
           for name, path in (("train", train_path), ("other", other_path))}
out = {"train": train_path, "other": other_path, "checkpoints": {}}
for ck in checkpoints:
    agent = MPCAgent.load(ck, env, AgentConfig(), seed=0)
    row = {}
    for name, batch in batches.items():
        err = latent_prediction_error(agent.world_model, batch)
        row[name] = {"latent_error_h1": float(err[0]), "latent_error_h5": float(err[-1])}
    out["checkpoints"][ck] = row
    print(ck, {n: (round(r["latent_error_h1"], 4), round(r["latent_error_h5"], 4)) for n, r in row.items()}, flush=True)
with open(out_path, "w") as f:
    json.dump(out, f, indent=1)
