"""The two MPC agents of a comparison, built through :class:`agent.mpc.MPCAgent`'s public API.

- ``mpc_pretrained``: the agent from its checkpoint (shipped, cached, or pretrained on the
  spot); what its pretraining data cost is reported beside its task-phase figures.
- ``mpc_scratch``: a fresh agent that learns its world model from the task's steps alone.

Every use of :class:`agent.mpc.AgentConfig`'s fields is in :func:`mpc_agent_config`, so
a change to the agent's settings is adapted there and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym

from agent.checkpoint import cache_dir, default_checkpoint, env_slug
from evaluation.episodes import Agent

if TYPE_CHECKING:
    from agent import AgentConfig
    from evaluation.config import ComparisonConfig


@dataclass
class MPCCompareConfig:
    """How the two MPC agents are built and how they plan and learn during the comparison."""

    pretrain_updates: int | None = None
    """Gradient updates of pretraining on the spot (None: 3000, or 50 with --quick)."""
    online_learning: bool = True
    """Let both MPC agents update their world model and critic while they act."""
    scratch_seed_steps: int | None = None
    """``mpc_scratch``: first env steps of random actions before planning starts (they count in
    its budget; None: the agent's default, at most 200 with --quick)."""
    planner: Literal["gradient", "cem", "mppi"] = "gradient"
    """Planner of ``mpc_scratch`` and of a pretrained-on-the-spot agent (a checkpoint keeps its own)."""
    planner_preset: Literal["fast", "agent"] = "agent"
    """agent: the agent's (or checkpoint's) own planner settings; fast: the planner class's
    cheap replanning preset (its FAST_PRESET) for both MPC agents."""
    planner_iterations: int | None = None
    """Override the planner's iterations per step for both MPC agents (None: keep the preset's)."""
    updates_per_step: float | None = None
    """Online gradient updates per env step for both MPC agents (None: the agent's default); the main cost of online learning."""
    device: str = "cpu"
    """Torch device of the MPC agents; CPU so that wall times compare with SB3's."""


def mpc_agent_config(
    settings: MPCCompareConfig, base: AgentConfig | None = None, seed_steps: int | None = None
) -> AgentConfig:
    """``base`` (a fresh ``AgentConfig`` if None) with the comparison's MPC ``settings`` applied.

    The only place here that reads or sets ``AgentConfig`` / ``PlannerConfig`` fields.
    """
    from agent import AgentConfig

    if base is None:
        base = AgentConfig()
        base = dataclasses.replace(base, planner=dataclasses.replace(base.planner, name=settings.planner))
    planner = base.planner
    if settings.planner_preset == "fast":
        planner = dataclasses.replace(planner, preset="fast", num_samples=None, iterations=None)
    if settings.planner_iterations is not None:
        planner = dataclasses.replace(planner, iterations=settings.planner_iterations)
    changes: dict[str, Any] = dict(
        planner=planner, online=settings.online_learning, device=settings.device
    )
    if seed_steps is not None:
        changes["seed_steps"] = seed_steps
    if settings.updates_per_step is not None:
        changes["updates_per_step"] = settings.updates_per_step
    return dataclasses.replace(base, **changes)


def make_mpc_scratch(env: gym.Env, config: ComparisonConfig) -> Agent:
    """A fresh, untrained MPC agent: it learns its world model only from the task's own steps."""
    from agent import MPCAgent

    agent_config = mpc_agent_config(config.mpc, seed_steps=config.mpc.scratch_seed_steps)
    agent = MPCAgent(env, agent_config, seed=config.seed)
    agent.training = True  # it learns while it acts: random seeding steps, then noisy plans
    return agent


def _pretrain_config(config: ComparisonConfig, collect_steps: int, updates: int):
    from agent import PretrainConfig

    return PretrainConfig(
        env=config.env,
        collect_steps=collect_steps,
        updates=updates,
        seed=config.seed,
        log_dir=str(config.log_dir) if config.tensorboard else None,
    )


def make_mpc_pretrained(env: gym.Env, config: ComparisonConfig) -> Agent:
    """The MPC agent from its checkpoint, or pretrained on the spot (and cached) when there is none.

    With ``config.collect_steps`` set it is always pretrained on that many exploration
    steps drawn with ``config.seed`` (or loaded from that run's cache), so each seed of a
    multi-seed comparison pays for, and reports, its own pretraining falls. A loaded agent
    keeps the settings stored in its checkpoint except those the comparison sets for both
    MPC agents (planner preset, online learning, device).
    """
    from agent import MPCAgent

    if config.checkpoint and config.collect_steps is not None:
        raise ValueError(
            "--checkpoint and --collect-steps contradict each other: pass a checkpoint to "
            "load, or a number of exploration steps to pretrain on, not both"
        )
    collect_steps = config.collect_steps or (300 if config.quick else 3000)
    updates = config.mpc.pretrain_updates or (50 if config.quick else 3000)
    if config.collect_steps is not None:
        # Its own data, drawn with this run's seed, so that seeds differ honestly.
        name = f"{env_slug(config.env)}__{collect_steps}steps_{updates}updates__seed{config.seed}.pt"
        path = cache_dir() / name
    elif config.checkpoint:
        path = Path(config.checkpoint)
    else:
        path = default_checkpoint(config.env)[0]
    if path.exists():
        stored = MPCAgent.load(path, env, seed=config.seed).config
        agent = MPCAgent.load(path, env, mpc_agent_config(config.mpc, stored), seed=config.seed)
        agent.training = config.mpc.online_learning
        return agent
    if config.checkpoint:
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; pass an existing --checkpoint, or leave it "
            "unset to use the shipped one (or pretrain one on the spot)"
        )
    agent = MPCAgent.pretrain(
        config.env,
        mpc_agent_config(config.mpc),
        pretrain_config=_pretrain_config(config, collect_steps, updates),
        progress=config.progress,
    )
    if not config.quick:
        agent.save(path)
    agent.training = config.mpc.online_learning
    return agent


MPC_FACTORIES = {"mpc_pretrained": make_mpc_pretrained, "mpc_scratch": make_mpc_scratch}
"""How each MPC agent of a comparison is built, by name."""
