"""Distil the planner into the policy prior: mode 2's decisions amortised into mode 1 (DAgger).

The policy prior ``pi(z)`` learns by imitation what a thorough planner (the *teacher*,
e.g. 64 candidates x 6 iterations) does in the states that the fast agent (the *student*:
the agent's own setting, a small search warm-started by ``pi`` or ``pi`` alone) visits:

1. round 0: the teacher drives ``episodes`` episodes; every state is labelled with its action
   (``teacher_rounds`` such rounds, 1 by default);
2. the policy is regressed on all labels so far, ``||pi(z) - a_teacher||^2`` at the frozen
   encoder's latent ``z``;
3. rounds 1..: the student drives, the teacher labels each state it reaches, and step 2
   repeats on the aggregated labels (DAgger, Ross, Gordon & Bagnell 2011), so the prior
   learns to recover from its own mistakes, not only to follow the teacher's path.

Why: the planner's warm start is ``pi``'s rollout through the model. A prior that already
proposes what the teacher would do lets a far smaller search (fewer candidates and
iterations) keep the teacher's success, which is what makes real-time acting possible on
one CPU thread (issue #13), and gives the policy-only mode something to act with. Only the
policy's weights change; world model and critic stay as they are, and by default the prior as
it was before is kept as the agent's *value policy* (``MPCAgent.keep_value_policy``), the one
the critic's terminal value assumes, so that the objective the teacher plans with does not move.

The episodes are real env steps: every one of them, and every fall among them, is added to
the agent's experience (``MPCAgent.experience_stats``) and reported. They use the seeds
``first_seed, first_seed + 1, ...``, far from the held-out layouts ``0..49`` the benchmarks
evaluate on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agent.buffer import normalize_action
from agent.mpc import AgentConfig, MPCAgent
from planners import PlannerConfig

__all__ = ["DistillConfig", "distill_policy"]


def _default_teacher() -> PlannerConfig:
    return PlannerConfig(horizon=25, num_samples=64, iterations=6)


@dataclass
class DistillConfig:
    """How the policy prior is distilled from the planner (see the module docstring)."""

    rounds: int = 3
    """Data-collection rounds: the teacher drives the first ``teacher_rounds``, the student the rest (DAgger)."""
    teacher_rounds: int = 1
    """Rounds the teacher drives before the student takes over; 0 continues an earlier
    distillation in the student's own states from the start."""
    episodes: int = 20
    """Episodes per round."""
    first_seed: int = 100_000
    """Env seed of the first episode; later episodes count up (away from held-out seeds 0..)."""
    teacher: PlannerConfig = field(default_factory=_default_teacher)
    """The thorough planner whose actions label every visited state."""
    updates: int = 2000
    """Policy gradient steps after each round, on every label collected so far."""
    batch_size: int = 256
    """States per gradient step."""
    lr: float = 1e-3
    """Adam learning rate of the policy's imitation."""
    seed: int = 0
    """Seeds the batch sampling and the planners' randomness."""
    keep_value_policy: bool = True
    """Freeze the prior as it was as the agent's value policy first (``MPCAgent.keep_value_policy``),
    so the critic's terminal value, and with it the teacher, stay what they were; False lets the
    distilled prior into the terminal value (measured in README: 8 fewer held-out successes of 45)."""

    def __post_init__(self):
        if self.rounds < 1 or self.episodes < 1 or self.updates < 0 or self.batch_size < 1 or self.teacher_rounds < 0:
            raise ValueError(f"need rounds >= 1, teacher_rounds >= 0, episodes >= 1, updates >= 0 and batch_size >= 1, "
                             f"got {self.rounds}, {self.teacher_rounds}, {self.episodes}, {self.updates}, {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"need lr > 0, got {self.lr}")
        if self.teacher.name.lower() == "policy":
            raise ValueError("the teacher must be a planner, not the policy prior it teaches")


class _Labeller:
    """An agent for the episode loop: the teacher labels every state; the teacher or the
    student acts."""

    def __init__(self, teacher: MPCAgent, student: MPCAgent, teacher_drives: bool):
        self.teacher, self.student, self.teacher_drives = teacher, student, teacher_drives
        self.obs: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []

    def reset(self, seed: int | None = None) -> None:
        self.teacher.reset(seed)
        self.student.reset(seed)

    def act(self, obs: np.ndarray) -> np.ndarray:
        label = self.teacher.act(obs)
        self.obs.append(np.asarray(obs, dtype=np.float32))
        self.labels.append(normalize_action(np.asarray(label, dtype=np.float32), self.teacher.action_space))
        return label if self.teacher_drives else self.student.act(obs)

    def observe(self, *args: Any) -> None:  # the policy learns between rounds, not per step
        return None


def _fit(policy: torch.nn.Module, latents: torch.Tensor, targets: torch.Tensor, config: DistillConfig,
         optim: torch.optim.Optimizer, generator: torch.Generator) -> tuple[float, float]:
    """``config.updates`` Adam steps of ``||pi(z) - label||^2`` on the labelled latents; returns the
    mean squared error over all labels (per action, normalised units) before and after."""

    def error() -> float:
        with torch.no_grad():
            return float((policy(latents) - targets).pow(2).mean())

    before = error()
    for _ in range(config.updates):
        index = torch.randint(len(latents), (config.batch_size,), generator=generator).to(latents.device)
        loss = (policy(latents[index]) - targets[index]).pow(2).mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return before, error()


def distill_policy(agent: MPCAgent, env: gym.Env, config: DistillConfig | None = None,
                   progress: Any = None) -> dict[str, Any]:
    """Distil ``config.teacher``'s decisions into ``agent.policy`` by DAgger in ``env``.

    The student is ``agent`` acting with its own setting (a fast planner warm-started by the
    policy, or the policy alone; exploration off). Adds the
    env steps, episodes and falls of the distillation episodes to the agent's experience,
    records a summary under ``pretraining_stats["distillation"]`` and returns it: per round,
    who drove, episodes, steps, falls, successes, the imitation error before and after the
    round's updates. ``progress`` (e.g. a tqdm bar) is advanced once per env step.
    """
    from evaluation.episodes import EpisodeRecorder, run_episode
    from evaluation.outcomes import resolve_outcome_rule

    config = config or DistillConfig()
    if not agent.started:
        raise ValueError("distillation needs a trained world model (normalisers set); train or load the agent first")
    if config.keep_value_policy:
        agent.keep_value_policy()
    teacher_config = AgentConfig(planner=config.teacher, online=False, batch_size=2, buffer_capacity=2,
                                 fall_pessimism=agent.config.fall_pessimism, risk_step_coef=agent.config.risk_step_coef)
    teacher = MPCAgent(env, teacher_config, world_model=agent.world_model, critic=agent.critic,
                       policy=agent.policy, value_policy=agent.value_policy, seed=config.seed, env_id=agent.env_id)
    was_training = agent.training
    agent.training = teacher.training = False
    recorder = EpisodeRecorder(env, resolve_outcome_rule(env, require_success=False), progress=progress)
    recorder.restart()
    optim = torch.optim.Adam(agent.policy.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    obs_all: list[np.ndarray] = []
    labels_all: list[np.ndarray] = []
    rounds = []
    seed = config.first_seed
    try:
        for number in range(config.rounds):
            labeller = _Labeller(teacher, agent, teacher_drives=number < config.teacher_rounds)
            first = len(recorder.series)
            for _ in range(config.episodes):
                run_episode(labeller, recorder, seed, learn=False)
                seed += 1
            records = recorder.series[first:]
            obs_all += labeller.obs
            labels_all += labeller.labels
            with torch.no_grad():  # the encoder is frozen here: encode every labelled state once
                latents = agent.world_model.encode(torch.as_tensor(np.stack(obs_all), device=agent.device))
            targets = torch.as_tensor(np.stack(labels_all), device=agent.device)
            before, after = _fit(agent.policy, latents, targets, config, optim, generator)
            rounds.append({"driver": "teacher" if labeller.teacher_drives else "student", "episodes": len(records),
                           "steps": int(sum(r.steps for r in records)), "falls": int(sum(r.fell for r in records)),
                           "successes": int(sum(bool(r.success) for r in records)),
                           "labels": len(targets), "imitation_mse_before": before, "imitation_mse_after": after})
    finally:
        agent.training = was_training
    summary = {"teacher": dataclasses.asdict(config.teacher), "student": dataclasses.asdict(agent.config.planner),
               "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "teacher"},
               "steps": sum(r["steps"] for r in rounds), "episodes": sum(r["episodes"] for r in rounds),
               "falls": sum(r["falls"] for r in rounds), "successes": sum(r["successes"] for r in rounds),
               "rounds": rounds}
    stats = agent.pretraining_stats
    for key in ("steps", "episodes", "falls", "successes"):
        stats[key] = int(stats.get(key, 0)) + summary[key]
    stats.setdefault("distillation", []).append(summary)
    agent.plan_times_ms = []
    return summary
