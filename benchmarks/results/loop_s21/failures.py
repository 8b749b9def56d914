"""Which held-out layouts each agent failed, from held_out.py reports (F: fell, s: stalled to the
300-step limit). Usage: python failures.py NAME=REPORT.json[+REPORT2.json] ... (a '+' joins one
agent's reports on different layouts)."""
import json
import sys

rows = {}
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    episodes = [e for part in path.split("+") for e in json.load(open(part))["cliff_car"]["per_episode"]]
    rows[name] = {e["seed"]: "F" if e["fell"] else ("." if e["success"] else "s") for e in episodes}
layouts = sorted({seed for row in rows.values() for seed in row})
width = max(len(n) for n in rows)
print(" " * width, "".join(str(s % 10) for s in layouts), "  goals falls stalls")
for name, row in rows.items():
    marks = "".join(row.get(s, " ") for s in layouts)
    print(name.ljust(width), marks, f"  {marks.count('.'):>2}/{len(row)} {marks.count('F'):>3} {marks.count('s'):>4}")
