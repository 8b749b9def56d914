"""Success against median act time for every 0-49 row of this folder's act_speed runs (one-off plot).

    python benchmarks/results/act_speed_s6/pareto.py
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
AGENT = {"cliff-car.pt": "shipped", "cliff-car-fast.pt": "fast (E)", "distilled_e.pt": "fast (E)",
         "distilled_c.pt": "C", "distilled_d.pt": "D", "distilled_f.pt": "F", "distilled_g.pt": "G",
         "distilled_a.pt": "A (prior in the value)", "h64.pt": "hidden 64"}
points = []
for path in sorted(HERE.glob("*.json")):
    report = json.loads(path.read_text())
    if report["args"].get("first_seed", 0) != 0:
        continue
    agent = AGENT[Path(report["args"]["checkpoint"]).name]
    for row in report["rows"]:
        points.append((agent, row["setting"], row["act_ms_median"], row["successes"], row["falls"]))
fig, ax = plt.subplots(figsize=(8, 5))
for agent in sorted({p[0] for p in points}):
    mine = [p for p in points if p[0] == agent]
    ax.scatter([p[2] for p in mine], [p[3] for p in mine], label=agent, s=[20 + 15 * p[4] for p in mine])
best = []
for p in sorted(points, key=lambda p: (p[2], -p[3])):
    if p[4] == 0 and (not best or p[3] > best[-1][3]):
        best.append(p)
ax.step([p[2] for p in best], [p[3] for p in best], where="post", color="k", lw=0.8, label="front (0 falls)")
ax.axvline(10, ls="--", color="grey", lw=0.8)
ax.set_xscale("log")
ax.set_xlabel("median act time, ms (one CPU thread)")
ax.set_ylabel("successes on held-out layouts 0-49 (of 50)")
ax.set_title("CliffCar-v0: success against act time (marker size grows with falls)")
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(HERE / "pareto.png", dpi=120)
print("\n".join(f"{a:24s} {s:26s} {t:7.2f} ms {n}/50 {f} falls" for a, s, t, n, f in best))
