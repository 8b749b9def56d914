"""Fall-head members on falls they have not seen: mean vs pessimistic fall probability (JSON).

    python benchmarks/fall_uncertainty.py --env cliff-car

Reward-free exploration data (``agent.collect``, random waypoints, no guides) is split by
episode: ``holdout_fraction`` of the fall episodes and ``holdout_other_fraction`` of the
others are held out, and a world model with ``fall_members`` fall heads (and ``dynamics_members`` novelty
predictors) is trained on the rest with the agent's own :class:`agent.train.Trainer`. Then,
on every transition, the members' logits ``l_k`` from the encoded observation and the true
action give the scores

- ``member_mean``: ``mean_k sigmoid(l_k)``, the members' mean probability;
- ``mean_logit``: ``sigmoid(mean_k l_k)``, what the planner uses with no pessimism;
- ``pessimistic_{kappa}``: ``sigmoid(mean_k l_k + kappa std_k l_k)``
  (:func:`agent.objective.pessimistic_fall_prob`, the planner's with ``fall_pessimism=kappa``);
- ``member_max``: ``max_k sigmoid(l_k)``.

Reported: each score's mean on the fall transitions the members were trained on (seen), on
the held-out fall transitions (unseen edges) and on held-out non-fall transitions (the false
alarms a pessimistic planner pays for), and its ROC-AUC of held-out falls against held-out
non-falls, one-step and for "a fall within ``fall_window`` steps" from imagined rollouts with
the true actions (``1 - prod_t (1 - p_t)``). Also the members' logit spread and the dynamics
members' novelty on seen and unseen data. A measurement, never pass/fail.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import tyro

from agent.buffer import ReplayBuffer
from agent.collect import collect
from agent.critic import Critic, CriticConfig, discount_for_episode_length
from agent.objective import pessimistic_fall_prob
from agent.policy import Policy
from agent.train import Trainer, set_units_from_buffer
from agent.world_model import WorldModel, WorldModelConfig
from evaluation.metrics import roc_auc

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    """Train fall-head members on some falls and measure their probabilities on held-out falls (JSON)."""

    env: str = "cliff-car"
    """Env spec (envs.make_env)."""
    seed: int = 0
    """Seeds collection, the split, initialisation and batch sampling."""
    collect_steps: int = 20_000
    """Env steps of reward-free exploration data (random waypoints, no guides)."""
    num_envs: int = 8
    """Parallel envs during collection."""
    holdout_fraction: float = 0.9
    """Share of the fall episodes held out of training: 0.9 leaves the members a few falls (3 of
    25 at the defaults), the regime of a learner's first falls."""
    holdout_other_fraction: float = 0.5
    """Share of the episodes without a fall held out (the negatives of the ROC-AUC)."""
    updates: int = 2_000
    """Gradient updates of the world model (and critic and policy, as the agent trains them)."""
    batch_size: int = 128
    """Windows per update."""
    pessimism: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    """kappa values of the pessimistic probability to report."""
    fall_window: int = 5
    """k of "a fall within k steps" from imagined rollouts."""
    world_model: WorldModelConfig = field(default_factory=lambda: WorldModelConfig(fall_members=5, dynamics_members=5))
    """The world model trained (``--world-model.fall-members 1``: one head, the reference; every score is then its probability)."""
    json: Path | None = REPO / "benchmarks" / "results" / "fall_uncertainty.json"
    """Where to write the results (None: print only)."""
    threads: int = 1
    """torch CPU threads."""


def split_episodes(buffer: ReplayBuffer, fall_fraction: float, other_fraction: float,
                   rng: np.random.Generator) -> tuple[list, list]:
    """Slot arrays of the training and held-out episodes: ``fall_fraction`` of the fall episodes
    and ``other_fraction`` of the others held out."""
    episodes = buffer.episodes()
    falls = [e for e in episodes if buffer.fell[e].any()]
    others = [e for e in episodes if not buffer.fell[e].any()]
    train, held = [], []
    for group, fraction in ((falls, fall_fraction), (others, other_fraction)):
        order = rng.permutation(len(group))
        cut = int(round(fraction * len(group)))
        held += [group[i] for i in order[:cut]]
        train += [group[i] for i in order[cut:]]
    return train, held


def sub_buffer(buffer: ReplayBuffer, episodes: list) -> ReplayBuffer:
    """A new buffer holding ``episodes`` (slot arrays of ``buffer``)."""
    out = ReplayBuffer(buffer.obs_dim, buffer.action_dim, max(sum(len(e) for e in episodes), 1))
    for slots in episodes:
        out.add_episode({k: getattr(buffer, k)[slots] for k in
                         ("obs", "action", "cost", "next_obs", "terminated", "truncated", "fell")})
    return out


@torch.no_grad()
def scores_of(world_model: WorldModel, buffer: ReplayBuffer, kappas: list[float], window: int) -> dict[str, np.ndarray]:
    """Per-transition scores (one-step and within ``window`` steps), labels and novelty."""
    slots = buffer.valid_slots()
    out: dict[str, list] = {}
    for start in range(0, len(slots), 2048):
        b = buffer.gather(slots[start:start + 2048], window)
        latents = world_model.rollout(world_model.encode(b["obs"][:, 0]), b["action"])[:, :-1]  # (B, k, Z)
        logits = world_model.fall_logits(latents, b["action"])  # (B, k, K)
        probs = {"member_mean": torch.sigmoid(logits).mean(-1), "mean_logit": torch.sigmoid(logits.mean(-1)),
                 "member_max": torch.sigmoid(logits).amax(-1)}
        probs.update({f"pessimistic_{kappa:g}": pessimistic_fall_prob(logits, kappa) for kappa in kappas})
        for name, p in probs.items():  # (B, k)
            out.setdefault(name, []).append(p[:, 0].numpy())
            window_p = 1 - torch.prod(1 - p * b["mask"], dim=1)
            out.setdefault(f"{name}_within_{window}", []).append(window_p.numpy())
        out.setdefault("logit_std", []).append(logits[:, 0].std(-1, unbiased=False).numpy())
        out.setdefault("fell", []).append(b["fell"][:, 0].numpy().astype(bool))
        out.setdefault(f"fell_within_{window}", []).append((b["fell"] * b["mask"]).amax(1).numpy().astype(bool))
        if world_model.config.dynamics_members:
            out.setdefault("novelty", []).append(world_model.novelty(latents[:, 0], b["action"][:, 0]).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def main(args: Args) -> dict:
    torch.set_num_threads(args.threads)
    os.environ.setdefault("MUJOCO_GL", "egl")
    start = time.perf_counter()
    data, stats = collect(args.env, args.collect_steps, seed=args.seed, num_envs=args.num_envs)
    rng = np.random.default_rng([args.seed, 7])
    train_eps, held_eps = split_episodes(data, args.holdout_fraction, args.holdout_other_fraction, rng)
    train_buf, held_buf = sub_buffer(data, train_eps), sub_buffer(data, held_eps)

    torch.manual_seed(args.seed)
    world_model = WorldModel(data.obs_dim, data.action_dim, args.world_model)
    import envs  # noqa: PLC0415 - registers the project's envs for the episode length

    probe = envs.make_env(args.env)
    steps = getattr(probe.spec, "max_episode_steps", None)
    probe.close()
    latent = args.world_model.latent_dim
    critic = Critic(latent, data.action_dim, CriticConfig(gamma=discount_for_episode_length(steps)))
    policy = Policy(latent, data.action_dim)
    set_units_from_buffer(world_model, critic, train_buf)
    trainer = Trainer(world_model, critic, policy, seed=args.seed)
    sample_rng = np.random.default_rng([args.seed, 2])
    train_start = time.perf_counter()
    info: dict[str, float] = {}
    for _ in range(args.updates):
        info = trainer.update(train_buf.sample(args.batch_size, args.world_model.horizon, sample_rng))
    train_seconds = time.perf_counter() - train_start
    world_model.eval()

    seen = scores_of(world_model, train_buf, args.pessimism, args.fall_window)
    held = scores_of(world_model, held_buf, args.pessimism, args.fall_window)
    names = [k for k in held if k.startswith(("member_", "mean_logit", "pessimistic_")) and "_within_" not in k]
    window = f"within_{args.fall_window}"
    table = {}
    for name in names:
        table[name] = {
            "seen_falls_mean": float(seen[name][seen["fell"]].mean()),
            "unseen_falls_mean": float(held[name][held["fell"]].mean()),
            "unseen_falls_median": float(np.median(held[name][held["fell"]])),
            "unseen_non_falls_mean": float(held[name][~held["fell"]].mean()),
            "roc_auc_unseen": roc_auc(held[name], held["fell"]),
            f"roc_auc_unseen_{window}": roc_auc(held[f"{name}_{window}"], held[f"fell_{window}"]),
            f"unseen_falls_{window}_mean": float(held[f"{name}_{window}"][held[f"fell_{window}"]].mean()),
            f"unseen_non_falls_{window}_mean": float(held[f"{name}_{window}"][~held[f"fell_{window}"]].mean()),
        }
    spread = {part: {"falls": float(d["logit_std"][d["fell"]].mean()),
                     "non_falls": float(d["logit_std"][~d["fell"]].mean())} for part, d in (("seen", seen), ("unseen", held))}
    result = {
        "env": args.env,
        "data": {**stats.as_dict(), "train_steps": train_buf.num_steps, "held_out_steps": held_buf.num_steps,
                 "train_falls": int(seen["fell"].sum()), "held_out_falls": int(held["fell"].sum())},
        "scores": table,
        "member_logit_std": spread,
        "final_losses": {k: v for k, v in info.items() if k.startswith("losses/")},
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "config": {k: v for k, v in asdict(args).items() if k != "json"},
        "command": " ".join(["python benchmarks/fall_uncertainty.py", *sys.argv[1:]]),
    }
    if "novelty" in held:
        result["novelty"] = {"seen": float(seen["novelty"].mean()), "unseen": float(held["novelty"].mean()),
                             "unseen_falls": float(held["novelty"][held["fell"]].mean()),
                             "seen_falls": float(seen["novelty"][seen["fell"]].mean())}
    print(f"data: {stats.steps} steps, {stats.falls} falls; trained on {result['data']['train_falls']} falls, "
          f"held out {result['data']['held_out_falls']}; {args.updates} updates in {train_seconds:.0f} s")
    print("| score | seen falls | unseen falls | unseen non-falls | ROC-AUC unseen (1 step / within "
          f"{args.fall_window}) |\n|---|---|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | {row['seen_falls_mean']:.3f} | {row['unseen_falls_mean']:.3f} | "
              f"{row['unseen_non_falls_mean']:.4f} | {row['roc_auc_unseen']:.4f} / {row[f'roc_auc_unseen_{window}']:.4f} |")
    print(f"member logit std: {spread}")
    if "novelty" in result:
        print(f"novelty: {result['novelty']}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
