"""How far ahead does the planning agent see the falls it then makes? Held-out CliffCar episodes, frozen agent.

    python benchmarks/fall_foresight.py --checkpoint benchmarks/results/learning/cliff-car__mpc__seed0__462222bb.pt

For every held-out episode that ends in a fall, two look-aheads, in env steps before the
fall (``info["fell"]``):

- *plan*: the first step at which the plan the agent chose predicted a fall somewhere along
  it (``1 - prod(1 - p_t) > threshold`` over its horizon) — when the agent *knew*;
- *replay*: the earliest step from which the same world model, rolled out open-loop along
  the actions that were actually executed up to the fall, predicts it — when the agent
  *could have known*.

A plan look-ahead much shorter than the replay one means the planner found action sequences
the model believes avoid the edge but that it did not follow (or that do not work): it
exploits the model's errors rather than lacking the knowledge.

Where the env can roll action sequences out in its own simulator (CliffCar's
``rollout_costs``), two more look-aheads give the truth to compare with:

- *doomed*: the first step from which every plan the agent chose would, executed in full by
  the simulator, have driven off — when the plans were already fatal in fact;
- *unavoidable*: the first step from which no sequence tried (the chosen plan and eight
  constant escapes: stop, full reverse, reverse turning either way, turn in place either way,
  full speed turning either way) avoids the fall — when it was too late for any plan.

``doomed`` well before ``plan`` says the model believed escapes that the car could no longer
make; ``plan`` after ``unavoidable`` says it saw the fall only when nothing could be done.
Never a pass/fail test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tyro

from agent.mpc import AgentConfig, MPCAgent
from evaluation.report import check_writable

HERE = Path(__file__).resolve().parent


@dataclass
class Args:
    """Measure how many steps ahead the frozen agent foresees its own falls on held-out layouts."""

    checkpoint: Path
    """The agent (frozen: no online learning)."""
    env: str = "cliff-car"
    """Env spec."""
    episodes: int = 20
    """Held-out layouts (seeds 0..episodes-1)."""
    threshold: float = 0.5
    """Predicted fall probability that counts as foreseeing the fall."""
    lookback: int = 30
    """Largest look-ahead examined (env steps before the fall)."""
    threads: int = 1
    """torch CPU threads."""
    json: Path = HERE / "results" / "fall_foresight.json"
    """Where the JSON goes."""


def _fall_within(world_model, z: torch.Tensor, actions: torch.Tensor) -> float:
    latents = world_model.rollout(z[None], actions[None])[0, :-1]
    p = world_model.fall_prob(latents, actions)
    return float(1.0 - torch.prod(1.0 - p))


ESCAPES = np.array([[0, 0], [-1, 0], [-1, 1], [-1, -1], [0, 1], [0, -1], [1, 1], [1, -1]], dtype=np.float64)
"""Constant normalised actions held over the horizon, tried as escapes by the simulator check
(CliffCar: ``[forward, turn]`` velocity targets; ``[0, 0]`` stops the car)."""


def _true_falls(env, actions: np.ndarray) -> np.ndarray:
    """Whether each normalised action sequence ``(N, H, A)`` drives off in the env's own simulator
    (its ``rollout_costs`` charge the fall cost: a total above half of it is a fall)."""
    unwrapped = env.unwrapped
    low, high = env.action_space.low, env.action_space.high
    costs = unwrapped.rollout_costs(low + (np.clip(actions, -1.0, 1.0) + 1.0) * 0.5 * (high - low))
    return costs > 0.5 * unwrapped.fall_cost


def _first_of_run(flags: list[bool], n: int, lookback: int) -> int:
    """Largest k <= lookback such that ``flags[n-k:]`` are all True (0 if ``flags[-1]`` is False)."""
    k = 0
    while k < min(lookback, n) and flags[n - k - 1]:
        k += 1
    return k


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    check_writable([args.json])
    from envs import make_env

    env = make_env(args.env)
    agent = MPCAgent.load(args.checkpoint, env, AgentConfig(online=False))
    agent.training = False
    wm = agent.world_model
    oracle = hasattr(env.unwrapped, "rollout_costs") and hasattr(env.unwrapped, "fall_cost")
    episodes = []
    for seed in range(args.episodes):
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        observations, executed, plan_risk, plan_doomed, no_escape = [obs], [], [], [], []
        done, info = False, {}
        while not done:
            action = agent.act(obs)
            with torch.no_grad():
                z = agent._encode(obs)
                plan_risk.append(_fall_within(wm, z, agent._plan))
            if oracle:
                plan = agent._plan.cpu().numpy().astype(np.float64)
                escapes = np.broadcast_to(ESCAPES[:, None, : plan.shape[1]], (len(ESCAPES), *plan.shape))
                falls = _true_falls(env, np.concatenate([plan[None], escapes]))
                plan_doomed.append(bool(falls[0]))
                no_escape.append(bool(falls.all()))
            executed.append(agent._plan[0].clone())
            obs, _, terminated, truncated, info = env.step(action)
            observations.append(obs)
            done = terminated or truncated
        record = {"seed": seed, "length": len(executed), "fell": bool(info.get("fell")),
                  "success": bool(info.get("success"))}
        if record["fell"]:
            n = len(executed)
            actions = torch.stack(executed)
            with torch.no_grad():
                replay = [_fall_within(wm, agent._encode(observations[n - k]), actions[n - k:])
                          for k in range(1, min(args.lookback, n) + 1)]
            record["plan_lookahead"] = next((k for k in range(min(args.lookback, n), 0, -1)
                                             if plan_risk[n - k] > args.threshold), 0)
            record["replay_lookahead"] = next((k for k in range(len(replay), 0, -1)
                                               if replay[k - 1] > args.threshold), 0)
            if oracle:
                record["doomed_lookahead"] = _first_of_run(plan_doomed, n, args.lookback)
                record["unavoidable_lookahead"] = _first_of_run(no_escape, n, args.lookback)
        episodes.append(record)
        print(json.dumps(record), flush=True)
    falls = [e for e in episodes if e["fell"]]
    summary = {
        "episodes": len(episodes), "falls": len(falls), "successes": sum(e["success"] for e in episodes),
        "plan_lookahead_median": float(np.median([e["plan_lookahead"] for e in falls])) if falls else None,
        "replay_lookahead_median": float(np.median([e["replay_lookahead"] for e in falls])) if falls else None,
    }
    for key in ("doomed_lookahead", "unavoidable_lookahead"):
        values = [e[key] for e in falls if key in e]
        summary[f"{key}_median"] = float(np.median(values)) if values else None
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "summary": summary, "episodes": episodes}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary))
    return result


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__.splitlines()[0]))
