"""World-model quality on held-out episodes, written to JSON (measurement, never pass/fail).

    python benchmarks/world_model.py --checkpoint checkpoints/cliff-car.pt

Held-out data: the same exploration policy as pretraining, on evaluation seeds
``0..num_envs-1`` (pretraining uses seeds >= 1,000,000). Figures, against the issue's goals:

- latent prediction error at horizon 1, 5, 15: ``mean ||z_h - zbar_h||^2 / sum_d Var(zbar_h)``
  from rollouts of the predictor with the true actions (goal <= 0.1 at 15);
- latent std of every dimension over held-out encodings (goal >= 0.1: no collapse);
- fall prediction: ``P(fall within k steps) = 1 - prod_t (1 - p_t)`` from imagined rollouts
  with the true actions (k = 5), ROC-AUC against "the episode falls within k steps"
  (goal >= 0.95, minimum 0.9); also restricted to falls 3..k steps ahead (the early warning
  the planner needs);
- critic: Pearson correlation of the mean value with the realised discounted cost-to-go,
  on states of episodes that ended by termination (their cost-to-go is exact) (goal >= 0.9);
- cost head: correlation with the real cost on non-fall transitions, after 0 and 14
  imagined steps, with and without the rare non-fall terminal steps (goal bonus);
- pretraining wall time, from the checkpoint's metadata (goal <= 600 s).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tyro

import envs
from agent.buffer import ReplayBuffer
from agent.checkpoint import build_from_checkpoint, load_checkpoint
from agent.collect import collect
from agent.critic import Critic
from agent.policy import Policy
from agent.utils import discounted_cost_to_go
from agent.world_model import WorldModel, latent_prediction_error
from evaluation.metrics import roc_auc

REPO = Path(__file__).resolve().parents[1]
"""The source checkout this script sits in (default checkpoint and results paths)."""


@dataclass
class Args:
    """Measure a world-model checkpoint on held-out episodes."""

    checkpoint: Path = REPO / "checkpoints" / "cliff-car.pt"
    """Checkpoint written by examples/pretrain.py."""
    env: str | None = None
    """Env spec (default: the checkpoint's env id)."""
    steps: int = 20_000
    """Held-out env steps to collect (evaluation seeds 0..num_envs-1)."""
    num_envs: int = 8
    """Parallel envs for the held-out collection."""
    guide_fraction: float = 0.5
    """Share of held-out episodes steered by the env's exploration guides (as in pretraining)."""
    fall_window: int = 5
    """k: predict a fall within the next k steps."""
    json: Path = REPO / "benchmarks" / "results" / "world_model.json"
    """Where to write the results."""
    threads: int = 1
    """torch CPU threads, set before any work."""


@torch.no_grad()
def evaluate(world_model: WorldModel, critic: Critic, policy: Policy, buffer: ReplayBuffer, fall_window: int = 5,
             batch: int = 2048) -> dict:
    """All quality figures of ``world_model``/``critic`` on the episodes in ``buffer``."""
    slots = buffer.valid_slots()
    horizon = 15
    # --- latent prediction error (windows starting at every stored transition)
    sums, counts = np.zeros(horizon), np.zeros(horizon)
    cost_pairs: dict[int, list] = {0: [], horizon - 1: []}
    for start in range(0, len(slots), batch):
        b = buffer.gather(slots[start : start + batch], horizon)
        err = latent_prediction_error(world_model, b).numpy()
        n = b["mask"].sum(0).numpy()
        ok = np.isfinite(err)
        sums[ok] += err[ok] * n[ok]
        counts[ok] += n[ok]
        latents = world_model.rollout(world_model.encode(b["obs"][:, 0]), b["action"])  # (B, H+1, Z)
        for h in cost_pairs:
            keep = (b["mask"][:, h] * (1 - b["fell"][:, h])).bool()
            pred = world_model.cost(latents[keep, h], b["action"][keep, h])
            cost_pairs[h].append(np.stack([pred.numpy(), b["cost"][keep, h].numpy(),
                                           b["terminated"][keep, h].numpy()], 1))
    rel_error = sums / np.maximum(counts, 1)

    # --- per-dimension latent std over held-out encodings
    obs = torch.as_tensor(buffer.obs[slots])
    z = torch.cat([world_model.encode(obs[i : i + batch]) for i in range(0, len(obs), batch)])
    latent_std = z.std(0).numpy()

    # --- fall within k steps from imagined rollouts with the true actions
    scores, first_fall = [], []
    for start in range(0, len(slots), batch):
        b = buffer.gather(slots[start : start + batch], fall_window)
        latents = world_model.rollout(world_model.encode(b["obs"][:, 0]), b["action"])
        p = world_model.fall_prob(latents[:, :-1], b["action"]) * b["mask"]  # (B, k)
        scores.append((1 - torch.prod(1 - p, dim=1)).numpy())
        fell = b["fell"].numpy()
        first_fall.append(np.where(fell.any(1), fell.argmax(1), -1))
    scores, first_fall = np.concatenate(scores), np.concatenate(first_fall)
    positive = first_fall >= 0
    early = first_fall >= 2  # the fall comes 3..k steps after this state
    auc_all = roc_auc(scores, positive)
    auc_early = roc_auc(scores[early | ~positive], early[early | ~positive])

    # --- critic against realised discounted cost-to-go (exact on terminated episodes)
    gamma = critic.config.gamma
    values, realised = [], []
    for ep in buffer.episodes():
        if not buffer.terminated[ep[-1]]:
            continue
        realised.append(discounted_cost_to_go(buffer.cost[ep], gamma))
        z = world_model.encode(torch.as_tensor(buffer.obs[ep]))
        values.append(critic.q(z, policy(z)).mean(-1).numpy())  # V(z) = Q(z, pi(z))
    values_np, realised_np = np.concatenate(values), np.concatenate(realised)
    corr = float(np.corrcoef(values_np, realised_np)[0, 1])

    def cost_corr(h: int, non_terminal: bool = False) -> float:
        pairs = np.concatenate(cost_pairs[h])
        if non_terminal:  # leave out the rare non-fall terminations (goal bonus)
            pairs = pairs[pairs[:, 2] == 0]
        return float(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1])

    terminal_pairs = np.concatenate(cost_pairs[0])
    terminal_pairs = terminal_pairs[terminal_pairs[:, 2] == 1]

    return {
        "latent_rel_error": {"h1": float(rel_error[0]), "h5": float(rel_error[4]), "h15": float(rel_error[14]),
                             "per_horizon": [float(e) for e in rel_error]},
        "latent_std": {"min": float(latent_std.min()), "mean": float(latent_std.mean()),
                       "max": float(latent_std.max()), "dims_below_0.1": int((latent_std < 0.1).sum())},
        "fall_prediction": {"k": fall_window, "roc_auc": auc_all, "roc_auc_3_to_k_steps_ahead": auc_early,
                            "positives": int(positive.sum()), "early_positives": int(early.sum()),
                            "negatives": int((~positive).sum()),
                            "mean_score_positive": float(scores[positive].mean()) if positive.any() else None,
                            "mean_score_negative": float(scores[~positive].mean())},
        "critic": {"pearson_vs_realised": corr, "states": int(len(values_np)),
                   "mean_value": float(values_np.mean()), "mean_realised": float(realised_np.mean()),
                   "rmse": float(np.sqrt(np.mean((values_np - realised_np) ** 2)))},
        "cost_head": {"pearson_step0": cost_corr(0), f"pearson_step{horizon - 1}": cost_corr(horizon - 1),
                      "pearson_step0_non_terminal": cost_corr(0, True),
                      f"pearson_step{horizon - 1}_non_terminal": cost_corr(horizon - 1, True),
                      "non_fall_terminal_transitions": int(len(terminal_pairs)),
                      "non_fall_terminal_mean_predicted": float(terminal_pairs[:, 0].mean()) if len(terminal_pairs) else None,
                      "non_fall_terminal_mean_real": float(terminal_pairs[:, 1].mean()) if len(terminal_pairs) else None},
    }


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:  # a bad checkpoint or env is one line, before any work
        state, meta = load_checkpoint(args.checkpoint)
        env = args.env or meta["env_id"]
        envs.make_env(env).close()
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    world_model, critic, policy = build_from_checkpoint(state, meta)
    start = time.perf_counter()
    buffer, stats = collect(env, args.steps, seed=0, num_envs=args.num_envs, seed_offset=0,
                            guide="env", guide_fraction=args.guide_fraction)
    results = evaluate(world_model, critic, policy, buffer, args.fall_window)
    pre = meta.get("pretraining", {})
    results.update({
        "env": env,
        "checkpoint": str(args.checkpoint.relative_to(REPO) if args.checkpoint.is_relative_to(REPO) else args.checkpoint),
        "held_out": {**stats.as_dict(), "seeds": f"0..{args.num_envs - 1} (+ their autoreset continuations)"},
        "pretraining": {k: pre.get(k) for k in ("steps", "episodes", "falls", "successes", "updates", "wall_seconds")},
        "goals": {"latent_rel_error_h15": "<= 0.1", "latent_std_min": ">= 0.1", "fall_roc_auc": ">= 0.95 (min 0.9)",
                  "critic_pearson": ">= 0.9", "pretrain_wall_seconds": "<= 600"},
        "eval_seconds": round(time.perf_counter() - start, 1),
        "command": f"python benchmarks/world_model.py --checkpoint {args.checkpoint.name if args.checkpoint.parent == REPO / 'checkpoints' else args.checkpoint}",
    })
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    r = results
    print(f"held-out: {stats.steps} steps, {stats.episodes} episodes, {stats.falls} falls, {stats.successes} successes")
    print("| figure | measured | goal |\n|---|---|---|")
    print(f"| latent error h=1 / 5 / 15 (relative) | {r['latent_rel_error']['h1']:.3f} / "
          f"{r['latent_rel_error']['h5']:.3f} / {r['latent_rel_error']['h15']:.3f} | <= 0.1 at 15 |")
    print(f"| min latent std per dim | {r['latent_std']['min']:.2f} | >= 0.1 |")
    print(f"| fall ROC-AUC, within {args.fall_window} steps (3..{args.fall_window} ahead) | "
          f"{r['fall_prediction']['roc_auc']:.3f} ({r['fall_prediction']['roc_auc_3_to_k_steps_ahead']:.3f}) | >= 0.95 |")
    print(f"| critic vs realised cost-to-go (Pearson) | {r['critic']['pearson_vs_realised']:.3f} | >= 0.9 |")
    ch = r["cost_head"]
    print(f"| cost head vs real cost, non-fall (step 0 / 14) | {ch['pearson_step0']:.3f} / {ch['pearson_step14']:.3f} | |")
    print(f"| same, non-terminal transitions (step 0 / 14) | {ch['pearson_step0_non_terminal']:.3f} / "
          f"{ch['pearson_step14_non_terminal']:.3f} | |")
    print(f"| pretraining wall time | {r['pretraining']['wall_seconds']} s | <= 600 s |")
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main(tyro.cli(Args))
