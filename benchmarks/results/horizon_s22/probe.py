"""Session 22's probe: a frozen agent on chosen held-out layouts at a chosen horizon. Written before
`held_out.py --layouts` existed; that command takes the same code path (checked on layout 1: the same
return to every digit), so use it instead: `held_out.py --tasks cliff-car --no-online --horizon H
--risk-step-coef 0.003 --checkpoint X --layouts ...`."""
import dataclasses, json, sys, time, argparse
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import envs
from agent.mpc import AgentConfig, MPCAgent
from evaluation import run_episode

p = argparse.ArgumentParser()
p.add_argument("--checkpoint"); p.add_argument("--horizon", type=int, default=50)
p.add_argument("--risk-step-coef", type=float, default=0.003)
p.add_argument("--num-samples", type=int, default=None); p.add_argument("--iterations", type=int, default=None)
p.add_argument("--layouts", type=int, nargs="+"); p.add_argument("--json")
a = p.parse_args()
torch.set_num_threads(1)
env = envs.make_env("cliff-car")
planner = dataclasses.replace(AgentConfig().planner, horizon=a.horizon)
if a.num_samples: planner.num_samples = a.num_samples
if a.iterations: planner.iterations = a.iterations
agent = MPCAgent.load(a.checkpoint, env, AgentConfig(planner=planner, online=False, risk_step_coef=a.risk_step_coef), keep_objective=False)
out = {"args": vars(a), "episodes": []}
for s in a.layouts:
    t0 = time.time()
    r = run_episode(agent, env, s, learn=False)
    d = dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r)
    d["wall"] = time.time() - t0
    out["episodes"].append(d)
    print(s, "success" if d.get("success") else ("FALL" if d.get("fell") else "stall"), round(d.get("ret", 0), 2), d.get("steps"), round(d["wall"]), flush=True)
    json.dump(out, open(a.json, "w"), indent=1, default=str)
g = sum(e["success"] for e in out["episodes"]); f = sum(e["fell"] for e in out["episodes"])
print(f"{g}/{len(out['episodes'])} goals, {f} falls")
