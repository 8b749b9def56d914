"""In-loop evaluation vs the same agent reloaded from the checkpoint the loop wrote (cliff, seed 0)."""
import json, shutil, dataclasses, numpy as np, torch, envs
from pathlib import Path
from agent.loop import TrainConfig
from agent.mpc import AgentConfig, MPCAgent
from planners import PlannerConfig
from evaluation.training import run_training
from evaluation import run_episode
torch.set_num_threads(1)
src = Path("benchmarks/results/kerb_s19/cliff-car_from_kerb-s0_h50.pt.resume")
dst = Path("/tmp/lvr/x.pt.resume"); shutil.rmtree(dst.parent, ignore_errors=True); shutil.copytree(src, dst)
ag = AgentConfig(planner=PlannerConfig(horizon=50), risk_step_coef=0.003, freeze_risk=True)
cfg = TrainConfig(env="cliff-car", seed=0, steps=2300, checkpoint=Path("/tmp/lvr/x.pt"), resume=True, agent=ag,
                  init_checkpoint=Path("benchmarks/results/kerb_s19/kerb-s0.pt"), eval_every=2300, eval_episodes=2, log_dir=None)
fp = json.loads((dst / "progress.json").read_text())["fingerprint"]
object.__setattr__(cfg, "fingerprint", lambda: {k: v for k, v in fp.items() if k not in ("json", "progress")})
rep = run_training(cfg, progress_bar=False)
print("in-loop eval", rep["evals"], flush=True)
env = envs.make_env("cliff-car")
b = MPCAgent.load("/tmp/lvr/x.pt", env, ag)
rets = [run_episode(b, env, s, learn=False).ret for s in range(2)]
print("reloaded", rets, np.mean(rets))
