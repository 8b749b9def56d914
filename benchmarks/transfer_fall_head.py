"""A fall head learned in a safe world, scored on the 20 m cliff's falls (JSON).

    python examples/pretrain.py --env cliff-car-kerb --fall-key dropped --fall-cost 100 \\
        --collect-steps 20000 --updates 2000 --guide-fraction 0 --checkpoint /tmp/kerb.pt
    python benchmarks/transfer_fall_head.py --checkpoint /tmp/kerb.pt

Issue #12's safe-world route can only work if what the kerb world teaches the fall head
carries over to the cliff. This collects reward-free random-exploration data on the target
env (``agent.collect``, random waypoints, no guides, collection seed ``--seed``, so other
layouts than pretraining's seed 0), encodes every transition's observation with each
checkpoint's world model and scores it with the fall head's probability for the action taken.
Two kinds of positives are each scored against the same negatives, every transition that
starts with the car still on the plateau (all but the falling episodes' last few):

- ``fall``: the env's fall transitions (``info["fell"]``: the car body 0.5 m below the top);
- ``over_edge``: in an episode that falls, the transition on which the car body first goes
  below ``--edge-height`` (-0.05 m): the kerb world's drop event as it happens on the cliff,
  3-5 steps before the fall is reported.

The transitions in between (the car in the air) are neither. Both are one-step questions,
which the car's height alone nearly answers once it is in the air; what a planner needs is
the third:

- ``ahead``: transitions that start on the plateau ``1 .. window-1`` steps before their
  episode's ``over_edge`` one, scored by the probability of a fall within ``window`` steps
  that the world model imagines from there with the actions taken (``1 - prod_t (1 - p_t)``
  along its own latent rollout), against the same negatives scored the same way.

Reported per checkpoint and label: ROC-AUC, the mean probability on the positives and on the
negatives, and the counts; with the checkpoint's own pretraining stats (env, steps, falls,
drops). Pass several checkpoints (e.g. also ``checkpoints/cliff-car.pt``, trained on the
cliff's own falls) to score them on the same data. A measurement, never pass/fail.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import tyro

from agent.buffer import ReplayBuffer
from agent.checkpoint import build_from_checkpoint, load_checkpoint
from agent.collect import collect
from evaluation.metrics import roc_auc

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    """Score safe-world fall heads on the 20 m cliff's falls: ROC-AUC and mean fall probability (JSON)."""

    checkpoint: list[Path] = field(default_factory=list)
    """Checkpoints whose fall heads are scored (e.g. one pretrained on cliff-car-kerb)."""
    env: str = "cliff-car"
    """The target env the data is collected in (envs.make_env spec)."""
    collect_steps: int = 20_000
    """Env steps of reward-free random exploration on the target env."""
    guide_fraction: float = 0.0
    """Share of episodes steered by the env's hand-written drivers (0: random waypoints only)."""
    num_envs: int = 8
    """Parallel envs during collection."""
    seed: int = 1
    """Collection seed (env seeds 1,000,000 + 1000 * seed + i); pretraining's default is 0."""
    window: int = 5
    """Steps of the imagined rollouts behind ``ahead``."""
    edge_height: float = -0.05
    """Body height (m, observation 'height') that marks going over the edge: the kerb world's drop."""
    json: Path | None = REPO / "benchmarks" / "results" / "transfer_fall_head.json"
    """Where to write the results (None: print only)."""
    threads: int = 1
    """torch CPU threads."""


def edge_labels(buffer: ReplayBuffer, height_index: int, edge_height: float,
                window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per stored transition (chronological), ``(over_edge, airborne, ahead)``, each
    ``(num_steps,)`` bool: the first transition of a falling episode whose next observation's
    height is below ``edge_height``; that one with every later one of its episode (the fall
    included); the ``window - 1`` transitions before it."""
    over_edge, airborne, ahead = (np.zeros(buffer.num_steps, bool) for _ in range(3))
    position = {int(slot): i for i, slot in enumerate(buffer.valid_slots())}
    for slots in buffer.episodes():
        if not buffer.fell[slots].any():
            continue
        below = np.flatnonzero(buffer.next_obs[slots, height_index] < edge_height)
        first = below[0] if below.size else len(slots) - 1
        index = np.array([position[int(s)] for s in slots])
        over_edge[index[first]] = True
        airborne[index[first:]] = True
        ahead[index[max(first - window + 1, 0):first]] = True
    return over_edge, airborne, ahead


def score(path: Path, buffer: ReplayBuffer, window: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """The checkpoint's fall probability of every transition and of a fall within ``window``
    steps of its imagined rollout with the actions taken (each ``(num_steps,)``), and its
    pretraining stats."""
    state, meta = load_checkpoint(path)
    world_model, _, _ = build_from_checkpoint(state, meta)
    batch = buffer.gather(buffer.valid_slots(), window)  # obs (N, W+1, O), action (N, W, A), mask (N, W)
    with torch.no_grad():
        z = world_model.encode(batch["obs"][:, 0])  # (N, Z)
        survive = torch.ones(len(z))
        for t in range(window):
            p = world_model.fall_prob(z, batch["action"][:, t]) * batch["mask"][:, t]  # (N,)
            if t == 0:
                one_step = p.clone()
            survive = survive * (1 - p)
            z = world_model.next(z, batch["action"][:, t])
    stats = meta.get("pretraining", {})
    keep = ("env", "env_id", "fall_key", "steps", "episodes", "falls", "drops", "updates", "fall_cost")
    return one_step.double().numpy(), (1 - survive).double().numpy(), {k: stats.get(k) for k in keep}


def summarize(prob: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> dict:
    """ROC-AUC of ``positive`` against ``negative`` transitions (masks), and their mean probabilities."""
    scored = positive | negative
    return {
        "roc_auc": round(roc_auc(prob[scored], positive[scored]), 4),
        "mean_prob_positive": round(float(prob[positive].mean()), 4) if positive.any() else None,
        "mean_prob_negative": round(float(prob[negative].mean()), 4),
        "positives": int(positive.sum()),
        "negatives": int(negative.sum()),
    }


def main(args: Args) -> dict:
    if not args.checkpoint:
        raise SystemExit("error: pass at least one --checkpoint to score")
    torch.set_num_threads(args.threads)
    from envs.cliff_car import OBS_NAMES

    start = time.perf_counter()
    buffer, stats = collect(args.env, args.collect_steps, seed=args.seed, num_envs=args.num_envs,
                            guide="env", guide_fraction=args.guide_fraction)
    over_edge, airborne, ahead = edge_labels(buffer, OBS_NAMES.index("height"), args.edge_height, args.window)
    fall = buffer.fell[buffer.valid_slots()]
    on_plateau = ~airborne & ~ahead
    results = {"args": json.loads(json.dumps(asdict(args), default=str)), "data": stats.as_dict(), "checkpoints": []}
    for path in args.checkpoint:
        prob, within, pretraining = score(path, buffer, args.window)
        row = {"checkpoint": str(path), "pretraining": pretraining,
               "fall": summarize(prob, fall, ~airborne), "over_edge": summarize(prob, over_edge, ~airborne),
               "ahead": summarize(within, ahead, on_plateau)}
        results["checkpoints"].append(row)
    results["wall_s"] = round(time.perf_counter() - start, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main(tyro.cli(Args))
