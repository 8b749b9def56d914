"""Wrap probe.py output in held_out.py's report shape (cliff_car.per_episode) so failures.py reads it."""
import json, sys
src, dst = sys.argv[1:3]
d = json.load(open(src))
eps = [{"seed": e["seed"], "return": e["ret"], "fell": e["fell"], "success": e["success"], "steps": e["steps"],
        "median_plan_ms": e.get("median_plan_ms")} for e in d["episodes"]]
json.dump({"command": "probe.py " + json.dumps(d["args"]), "cliff_car": {"per_episode": eps,
          "successes": sum(e["success"] for e in eps), "falls": sum(e["fell"] for e in eps), "episodes": len(eps)}},
          open(dst, "w"), indent=1)
