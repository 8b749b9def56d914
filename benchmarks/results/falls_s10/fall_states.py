"""Where CliffCar agents fall: speed, direction and goal distance at the falling step.

A one-off script of session 10 (README, issues #11 and #12). Reads replay files (``x.replay.npz``,
the rehearsal sample saved beside a checkpoint; :class:`agent.buffer.ReplayBuffer`'s format) and
reports, over the transitions labelled ``fell``: how many were driven in reverse (forward velocity,
observation 0, below -0.05 m/s), how many slowly (|v| < 0.3 m/s), the goal distance (observation 3)
and the saturation of the actions. Observation indices are CliffCar's (``envs/cliff_car.py``).

    python benchmarks/results/falls_s10/fall_states.py OUT.json NAME=RUN.replay.npz ...
"""
import json
import sys

import numpy as np

out, rows = sys.argv[1], {}
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    d = np.load(path)
    fell = d["fell"].astype(bool)
    goal = d["terminated"].astype(bool) & ~fell
    v, dist, act = d["obs"][fell, 0], d["obs"][fell, 3], d["action"][fell]
    rows[name] = {
        "file": path, "transitions": int(len(fell)), "episodes": int(len(np.unique(d["episode"]))),
        "falls": int(fell.sum()), "goals": int(goal.sum()),
        "reverse": int((v < -0.05).sum()), "slow": int((np.abs(v) < 0.3).sum()),
        "speed_p10_p50_p90": [round(float(x), 2) for x in np.percentile(v, [10, 50, 90])] if fell.any() else None,
        "goal_distance_p10_p50_p90": [round(float(x), 2) for x in np.percentile(dist, [10, 50, 90])] if fell.any() else None,
        "saturated_actions": round(float((np.abs(act) > 0.9).mean()), 3) if fell.any() else None,
        "saturated_actions_all_steps": round(float((np.abs(d["action"]) > 0.9).mean()), 3),
    }
    print(name, rows[name])
json.dump(rows, open(out, "w"), indent=1)
