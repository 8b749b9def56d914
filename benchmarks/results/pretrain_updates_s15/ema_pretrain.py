"""Scratch probe (session 15): pretrain on cliff-car without drivers as examples/pretrain.py does,
keeping Polyak averages (EMA, step TAU per update) of every network's weights; save the raw
networks (bit-identical to ``examples/pretrain.py --guide-fraction 0 --seed SEED --updates
UPDATES``) and each average as checkpoints, each with a 20,000-step rehearsal buffer beside it.

    python benchmarks/results/pretrain_updates_s15/ema_pretrain.py SEED UPDATES OUT_PREFIX TAU [TAU ...]
"""
import sys

import numpy as np
import torch

import agent.train as T
from agent.checkpoint import replay_path
from agent.pretrain import PretrainConfig, pretrain, save_pretrained

torch.set_num_threads(1)
seed, updates, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
taus = [float(t) for t in sys.argv[4:]]
emas = {}  # tau -> list of (param, ema tensor)
orig = T.Trainer.update

def update(self, batch):
    out = orig(self, batch)
    nets = (self.world_model, self.critic, self.policy)
    with torch.no_grad():
        for tau in taus:
            if tau not in emas:
                emas[tau] = [(p, p.detach().clone()) for net in nets for p in net.parameters()]
            else:
                for p, e in emas[tau]:
                    e.lerp_(p.detach(), tau)
    return out

T.Trainer.update = update
config = PretrainConfig(env="cliff-car", seed=seed, updates=updates, guide_fraction=0.0, log_dir=None)
result = pretrain("cliff-car", config, progress=False)
path = save_pretrained(f"{prefix}_raw.pt", result, config)
rehearsal = result.buffer.subset(20_000, np.random.default_rng(seed))
rehearsal.save(replay_path(path))
for tau in taus:
    with torch.no_grad():
        for p, e in emas[tau]:
            p.copy_(e)
    path = save_pretrained(f"{prefix}_ema{tau}.pt", result, config)
    rehearsal.save(replay_path(path))
    print("saved", path, flush=True)
