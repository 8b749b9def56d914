"""Summarise a training run from its TensorBoard events (for runs stopped before train.py wrote its JSON).

    python tb_summary.py LOG_DIR OUT.json

Per training episode: the env step it ended at, its return, whether it fell (the cumulative
``charts/falls`` went up) and whether it reached the goal (return > 5: CliffCar's goal bonus);
plus the evaluations.
"""
import glob
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

events = sorted(glob.glob(sys.argv[1] + "/**/events*", recursive=True))[-1]
acc = EventAccumulator(events, size_guidance={"scalars": 0})
acc.Reload()
falls, returns = acc.Scalars("charts/falls"), acc.Scalars("charts/episode_return")
episodes, before = [], 0.0
for f, r in zip(falls, returns):
    episodes.append({"env_step": f.step, "return": round(r.value, 3), "fell": f.value > before, "success": r.value > 5})
    before = f.value
tags = acc.Tags()["scalars"]
evals = {t.split("/")[1]: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags if t.startswith("eval/")}
summary = {"events": events, "episodes": len(episodes), "falls": int(before),
           "successes": sum(e["success"] for e in episodes), "last_env_step": falls[-1].step if falls else 0,
           "outcomes": "".join("F" if e["fell"] else "S" if e["success"] else "." for e in episodes),
           "evals": evals, "per_episode": episodes}
json.dump(summary, open(sys.argv[2], "w"), indent=1)
print({k: v for k, v in summary.items() if k != "per_episode"})
