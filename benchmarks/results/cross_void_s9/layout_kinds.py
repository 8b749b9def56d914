"""Training episodes of cliff runs split by layout kind: cross-void (X) or same-arm (s), ending in a goal,
a fall or a stall (timeout). A one-off script of session 9 (README, issue #11).

    python benchmarks/results/cross_void_s9/layout_kinds.py OUT.json RUN.json|progress.json ...

Takes a training report (``series``) or a resume state's ``progress.json`` (``progress.episodes``); the
layouts are recomputed from the training seeds (``agent.loop.train_seed``), seed read from the file.
"""
import json
import sys
from collections import Counter

import envs
from agent.loop import train_seed

out, paths = sys.argv[1], sys.argv[2:]
env = envs.make_env("cliff-car")
rows = {}
for path in paths:
    d = json.load(open(path))
    progress = d.get("progress")
    episodes = progress["episodes"] if progress else d["series"]
    seed = int((d.get("fingerprint") or d.get("config") or {}).get("seed", d.get("seed", 0)))
    steps = progress["total_steps"] if progress else d["steps"]
    counts, seq = Counter(), []
    for k, e in enumerate(episodes):
        _, info = env.reset(seed=train_seed(seed, k))
        key = ("cross_void" if info["crosses_void"] else "same_arm") + "_" + (
            "goal" if e["success"] else "fall" if e["fell"] else "stall")
        counts[key] += 1
        seq.append(key)
    rows[path] = {"seed": seed, "env_steps": steps, "episodes": len(episodes), **dict(sorted(counts.items())), "sequence": seq}
    print(path, steps, dict(sorted(counts.items())))
json.dump(rows, open(out, "w"), indent=1)
