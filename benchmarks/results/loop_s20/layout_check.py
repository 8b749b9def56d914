import sys, torch, envs
from agent.mpc import AgentConfig, MPCAgent, PlannerConfig
from evaluation import run_episode
from evaluation.outcomes import resolve_outcome_rule
torch.set_num_threads(1)
ck = sys.argv[1]
env = envs.make_env("cliff-car"); rule = resolve_outcome_rule(env, require_success=False)
a = MPCAgent.load(ck, env, AgentConfig(planner=PlannerConfig(horizon=50), online=True, risk_step_coef=0.003, freeze_risk=True))
for s in map(int, sys.argv[2:]):
    r = run_episode(a, env, seed=s, learn=False, rule=rule)
    print(s, r.ret, r.fell, r.success, r.steps, flush=True)
