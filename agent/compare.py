"""Head-to-head comparison: a model-free learner (SB3 SAC / PPO) against the MPC agent.

The claim under test: a model-free learner falls off the cliff many times before it
learns not to; an agent that plans through a world model learned from observation
should not. Every agent gets a fresh env made from the same spec and seed and the same
budget of env steps; an :class:`EpisodeRecorder` wrapper around that env writes one
:class:`~agent.metrics.EpisodeRecord` per finished episode, so SB3 and the MPC agent are
measured by the very same code. The derived figures (falls before competence, steps to
90 % success, ...) are in :mod:`agent.metrics`.

Output (see :func:`build_report`)::

    {"env": ..., "budget_steps": ..., "seed": ..., "interrupted": ...,
     "agents": {"sac": S, "mpc_pretrained": S, "mpc_scratch": S}}

with each ``S`` holding ``falls_total``, ``falls_before_competence``, ``steps_to_90``
(``null`` if never), ``final_success_rate``, ``final_return``, ``wall_seconds``,
``series`` (per episode: ``env_step``, ``return``, ``fell``, ``success``, ...), and
``pretraining_steps`` / ``pretraining_falls`` (zero unless the agent was pretrained).

References: Stable-Baselines3 (Raffin et al., JMLR 2021) for SAC and PPO; the
run-directory layout of CleanRL for TensorBoard.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np

from agent.checkpoint import cache_dir, default_checkpoint, env_slug
from agent.metrics import (
    DEFAULT_TARGET,
    DEFAULT_WINDOW,
    EpisodeRecord,
    cumulative_falls,
    rolling_success_rate,
    summarize,
)

SB3_AGENTS = ("sac", "ppo")
MPC_AGENTS = ("mpc_pretrained", "mpc_scratch")
AGENT_NAMES = SB3_AGENTS + MPC_AGENTS
"""Every agent name the comparison knows."""

DEFAULT_AGENTS = ("sac", "mpc_pretrained", "mpc_scratch")

DEFAULT_BUDGET_STEPS = 4_000
"""Env steps per agent in a full comparison (see the README for the measured wall time)."""

QUICK_BUDGET_STEPS = 600
"""Env steps per agent with ``--quick`` (raised to the env's minimum if that is larger)."""

QUICK_WINDOW = 3
"""Rolling success window with ``--quick``: a smoke test cannot afford 20 episodes."""

SUCCESS_THRESHOLDS: dict[str, float] = {
    # Envs with no notion of success in ``info``: an episode whose return reaches the
    # threshold counts as one. Pendulum-v1: a swing-up that then balances scores about
    # -150 over 200 steps, a failed one below -700.
    "Pendulum-v1": -200.0,
    # InvertedPendulum: +1 per step balanced, 1000 steps max.
    "InvertedPendulum-v4": 950.0,
    "InvertedPendulum-v5": 950.0,
    "InvertedDoublePendulum-v4": 9000.0,
    "InvertedDoublePendulum-v5": 9000.0,
    "MountainCarContinuous-v0": 90.0,
}
"""Default success thresholds on the episode return, by Gymnasium id; override with ``success_threshold``."""

TERMINATION_IS_FALL = frozenset(
    {
        "InvertedPendulum-v4",
        "InvertedPendulum-v5",
        "InvertedDoublePendulum-v4",
        "InvertedDoublePendulum-v5",
    }
)
"""Gymnasium ids whose ``terminated`` flag always means failure (the pole fell over)."""


# --------------------------------------------------------------------------- config


@dataclass
class SB3Config:
    """Settings of the Stable-Baselines3 baselines (everything else is SB3's default)."""

    learning_starts: int = 1000
    """SAC: env steps of uniform random actions before the first gradient step (SB3: 100; at most 100 with --quick)."""
    sac_batch_size: int = 256
    """SAC: minibatch size of each gradient step."""
    ppo_n_steps: int = 2048
    """PPO: env steps per rollout before each update."""
    device: str = "cpu"
    """Torch device for SB3; the comparison is timed on CPU."""
    budget_steps: int | None = None
    """Env steps for the SB3 agents only (None: the common --budget-steps). A longer run measures SAC's falls before competence, which it seldom reaches within the MPC agents' budget."""


@dataclass
class MPCCompareConfig:
    """How the two MPC agents are built."""

    checkpoint: str | None = None
    """Checkpoint of ``mpc_pretrained`` (None: ``checkpoints/{env}.pt`` if shipped, else the cache; pretrained on the spot if neither exists)."""
    pretrain_steps: int | None = None
    """Pretrain on the spot on this many env steps of exploration data drawn with --seed (cached per env, steps and seed) instead of loading a checkpoint; None: load the checkpoint, or pretrain on 3000 steps (300 with --quick) if there is none."""
    pretrain_updates: int | None = None
    """Gradient updates of pretraining on the spot (None: 3000, or 50 with --quick)."""
    online_learning: bool = True
    """Let both MPC agents update their world model and critic while they act."""
    scratch_random_steps: int = 1000
    """``mpc_scratch``: first env steps driven by exploration noise before planning starts (they count in its budget; at most 200 with --quick)."""
    planner: Literal["gradient", "cem", "mppi"] = "gradient"
    """Planner of ``mpc_scratch`` and of a pretrained-on-the-spot agent (a checkpoint keeps its own)."""
    planner_preset: Literal["fast", "agent"] = "fast"
    """fast: the planner's cheap replanning preset (its FAST_PRESET) for both MPC agents; agent: the agent's (or checkpoint's) own settings."""
    planner_iterations: int | None = None
    """Override the planner's iterations per step for both MPC agents (None: keep the preset's)."""
    updates_per_step: float | None = None
    """Online gradient updates per env step for both MPC agents (None: the agent's default); the main cost of online learning."""
    device: str = "cpu"
    """Torch device of the MPC agents; CPU so that wall times compare with SB3's."""


@dataclass
class ComparisonConfig:
    """One comparison: every agent in ``agents`` on ``env`` for ``budget_steps`` env steps each."""

    env: str = "cliff-car"
    """Env spec: ``cliff-car``, a Gymnasium id (``Pendulum-v1``) or ``package.module:Factory``."""
    agents: tuple[str, ...] = DEFAULT_AGENTS
    """Agents to run, in order: any of sac, ppo, mpc_pretrained, mpc_scratch (comma-separated also works)."""
    budget_steps: int | None = None
    """Env steps per agent (None: 4000, or with --quick 600 raised to the window's minimum; see DEFAULT_BUDGET_STEPS)."""
    seed: int = 0
    """Seed of every agent and env (the same for all, so they face the same start states)."""
    quick: bool = False
    """Smoke-test mode: small budget and window, shorter pretraining; for CI, not for conclusions."""
    window: int | None = None
    """Episodes in the rolling success window (None: 10, or 3 with --quick)."""
    target: float = DEFAULT_TARGET
    """Rolling success rate that counts as competent."""
    success_threshold: float | None = None
    """An episode with return >= this counts as a success (None: the env's ``info['success']`` or a known default, e.g. -200 for Pendulum-v1)."""
    terminated_is_fall: bool | None = None
    """Count every ``terminated`` episode as a fall (None: yes for envs like InvertedPendulum, else use ``info['fell']``)."""
    json: str | None = None
    """Write the report here, after each agent and on Ctrl-C."""
    plot: str | None = None
    """Write a PNG here: cumulative falls and rolling success rate vs env steps."""
    markdown: str | None = None
    """Write the results table (markdown, with the command that made it) here."""
    tensorboard: bool = True
    """Log per-episode scalars to ``{runs_dir}/{env}__compare__{seed}__{time}``."""
    runs_dir: str = "runs"
    """Parent folder of the TensorBoard run."""
    progress: bool = True
    """Show a progress bar per agent."""
    threads: int = 1
    """Torch CPU threads (the README's wall times are for one thread)."""
    sb3: SB3Config = field(default_factory=SB3Config)
    """Settings of the SB3 baselines."""
    mpc: MPCCompareConfig = field(default_factory=MPCCompareConfig)
    """Settings of the MPC agents."""

    def __post_init__(self) -> None:
        names: list[str] = []
        for item in self.agents:
            names.extend(part.strip() for part in str(item).split(",") if part.strip())
        unknown = [name for name in names if name not in AGENT_NAMES]
        if unknown:
            raise ValueError(
                f"unknown agent name(s) {unknown}; valid names are {list(AGENT_NAMES)}, "
                "e.g. --agents sac mpc_pretrained mpc_scratch"
            )
        if not names:
            raise ValueError(f"no agents to run; pass --agents with some of {list(AGENT_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must not repeat, got {names}")
        self.agents = tuple(names)
        if self.window is None:
            self.window = QUICK_WINDOW if self.quick else DEFAULT_WINDOW
        if self.window < 1:
            raise ValueError(f"window must be at least 1 episode, got {self.window}")
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"target must be a success rate in (0, 1], got {self.target}")
        if self.budget_steps is not None and self.budget_steps < 1:
            raise ValueError(
                f"budget_steps must be a positive number of env steps, got {self.budget_steps}"
            )
        if self.quick:
            # A smoke-test budget of a few hundred steps leaves no time after 1000 random ones.
            self.sb3.learning_starts = min(self.sb3.learning_starts, 100)
            self.mpc.scratch_random_steps = min(self.mpc.scratch_random_steps, 200)


# --------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class OutcomeRule:
    """How a finished episode is judged: did it fall, did it succeed."""

    success_threshold: float | None
    """Return at or above which an episode is a success; None: read ``info['success']``."""
    terminated_is_fall: bool
    """Treat ``terminated`` as a fall even without ``info['fell']``."""

    def judge(self, ret: float, terminated: bool, info: Mapping[str, Any]) -> tuple[bool, bool]:
        """``(fell, success)`` of an episode from its return and its last step; a fall is never a success."""
        fell = bool(info.get("fell", False)) or (self.terminated_is_fall and bool(terminated))
        if self.success_threshold is not None:
            success = ret >= self.success_threshold
        elif "success" in info:
            success = bool(info["success"])
        else:
            raise ValueError(
                "the env reports no info['success'] and no success threshold is known for it; "
                "pass --success-threshold RETURN (an episode whose return reaches it counts as "
                "a success), or report info['success'] from the env"
            )
        return fell, bool(success) and not fell


def resolve_outcome_rule(
    env_id: str | None,
    success_threshold: float | None = None,
    terminated_is_fall: bool | None = None,
) -> OutcomeRule:
    """The rule for an env: explicit arguments win, then the defaults for known ids.

    Envs that report ``info['success']`` (cliff-car) need neither argument.
    """
    threshold = success_threshold
    if threshold is None and env_id is not None:
        threshold = SUCCESS_THRESHOLDS.get(env_id)
    if terminated_is_fall is None:
        terminated_is_fall = env_id in TERMINATION_IS_FALL
    return OutcomeRule(success_threshold=threshold, terminated_is_fall=terminated_is_fall)


# --------------------------------------------------------------------- recorder


EpisodeCallback = Callable[[EpisodeRecord, Sequence[EpisodeRecord]], None]


class EpisodeRecorder(gym.Wrapper):
    """Appends an :class:`EpisodeRecord` to ``series`` each time an episode ends.

    Works under any driver (SB3's vector env, a plain loop), since it only watches
    ``step``. Env steps are counted from construction (or :meth:`restart`); an episode
    still running when the driver stops is not recorded.
    """

    def __init__(
        self,
        env: gym.Env,
        rule: OutcomeRule,
        series: list[EpisodeRecord] | None = None,
        callbacks: Sequence[EpisodeCallback] = (),
        progress: Any = None,
    ) -> None:
        super().__init__(env)
        self.rule = rule
        self.series: list[EpisodeRecord] = [] if series is None else series
        self.callbacks = list(callbacks)
        self.progress = progress
        self.total_steps = 0
        self._episode_return = 0.0
        self._episode_length = 0
        self._start = time.perf_counter()

    def restart(self) -> None:
        """Start the clock and the step count afresh (call right before the run)."""
        self.total_steps = 0
        self._episode_return = 0.0
        self._episode_length = 0
        self._start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since construction or :meth:`restart`."""
        return time.perf_counter() - self._start

    def reset(self, **kwargs: Any):
        self._episode_return = 0.0
        self._episode_length = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.total_steps += 1
        self._episode_length += 1
        self._episode_return += float(reward)
        if self.progress is not None:
            self.progress.update(1)
        if terminated or truncated:
            fell, success = self.rule.judge(self._episode_return, terminated, info)
            record = EpisodeRecord(
                env_step=self.total_steps,
                ret=self._episode_return,
                fell=fell,
                success=success,
                length=self._episode_length,
                wall_time=self.elapsed,
            )
            self.series.append(record)
            for callback in self.callbacks:
                callback(record, self.series)
            self._episode_return = 0.0
            self._episode_length = 0
        return obs, reward, terminated, truncated, info


# ---------------------------------------------------------------------- runners


class AgentLike(Protocol):
    """What the loop in :func:`run_policy_agent` needs; ``MPCAgent`` has this shape."""

    def reset(self) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...

    def observe(self, obs, action, reward, next_obs, terminated, truncated, info) -> None: ...


@dataclass
class AgentRun:
    """Everything recorded for one agent; filled while it runs, so a Ctrl-C keeps it."""

    name: str
    series: list[EpisodeRecord] = field(default_factory=list)
    env_steps: int = 0
    wall_seconds: float = 0.0
    pretraining_steps: int = 0
    pretraining_falls: int = 0
    pretraining_episodes: int = 0
    pretraining_wall_seconds: float | None = None
    budget_steps: int = 0
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def run_policy_agent(
    agent: AgentLike, env: EpisodeRecorder, budget_steps: int, seed: int, run: AgentRun
) -> None:
    """Drive ``agent`` in ``env`` for ``budget_steps`` env steps, learning online via ``observe``.

    Fills ``run`` as it goes (``extra['act_ms_median']`` is the median wall time of one
    ``agent.act`` call).
    """
    act_ms: list[float] = []
    env.action_space.seed(seed)
    env.restart()
    try:
        obs, _ = env.reset(seed=seed)
        agent.reset()
        while env.total_steps < budget_steps:
            start = time.perf_counter()
            action = agent.act(obs)
            act_ms.append(1000.0 * (time.perf_counter() - start))
            next_obs, reward, terminated, truncated, info = env.step(action)
            agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
            obs = next_obs
            if terminated or truncated:
                obs, _ = env.reset()
                agent.reset()
    finally:
        run.env_steps = env.total_steps
        run.wall_seconds = env.elapsed
        if act_ms:
            run.extra["act_ms_median"] = statistics.median(act_ms)


def _import_sb3():
    try:
        import stable_baselines3
        from stable_baselines3.common.callbacks import BaseCallback
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "the SAC/PPO baselines need Stable-Baselines3; install it with "
            '`pip install -e ".[baselines]"` or drop sac/ppo from --agents'
        ) from error
    return stable_baselines3, BaseCallback


def run_sb3(
    algo: str, env: EpisodeRecorder, budget_steps: int, seed: int, config: SB3Config, run: AgentRun
) -> None:
    """Train SB3 ``algo`` ("sac" or "ppo") on ``env`` for exactly ``budget_steps`` env steps."""
    sb3, BaseCallback = _import_sb3()

    class StopAtBudget(BaseCallback):
        # PPO collects whole rollouts; stop it mid-rollout so every agent gets the same budget.
        def _on_step(self) -> bool:
            return env.total_steps < budget_steps

    env.restart()
    try:
        if algo == "sac":
            model = sb3.SAC(
                "MlpPolicy",
                env,
                learning_starts=min(config.learning_starts, budget_steps),
                batch_size=config.sac_batch_size,
                seed=seed,
                device=config.device,
                verbose=0,
            )
        elif algo == "ppo":
            n_steps = config.ppo_n_steps
            model = sb3.PPO(
                "MlpPolicy",
                env,
                n_steps=n_steps,
                batch_size=min(64, n_steps),
                seed=seed,
                device=config.device,
                verbose=0,
            )
        else:
            raise ValueError(f"unknown SB3 algorithm {algo!r}; expected one of {list(SB3_AGENTS)}")
        model.learn(total_timesteps=budget_steps, callback=StopAtBudget(), progress_bar=False)
    finally:
        run.env_steps = env.total_steps
        run.wall_seconds = env.elapsed


# ------------------------------------------------------------------ MPC factories


AgentFactory = Callable[[gym.Env, "ComparisonConfig"], AgentLike]
"""Builds an agent for an env; used for the MPC agents and for tests' stand-ins."""


def _mpc_agent_config(config: ComparisonConfig, base: Any = None, random_steps: int | None = None):
    """``base`` (an ``AgentConfig``; a fresh one if None) with the comparison's MPC settings."""
    from agent.mpc import AgentConfig, PlannerConfig

    if base is None:
        base = AgentConfig(planner=PlannerConfig(name=config.mpc.planner))
    planner = base.planner
    if config.mpc.planner_preset == "fast":
        planner = dataclasses.replace(planner, preset="fast", num_samples=None, iterations=None)
    if config.mpc.planner_iterations is not None:
        planner = dataclasses.replace(planner, iterations=config.mpc.planner_iterations)
    changes: dict[str, Any] = dict(
        planner=planner, online=config.mpc.online_learning, device=config.mpc.device
    )
    if random_steps is not None:
        changes["random_steps"] = random_steps
    if config.mpc.updates_per_step is not None:
        changes["updates_per_step"] = config.mpc.updates_per_step
    return dataclasses.replace(base, **changes)


def make_mpc_scratch(env: gym.Env, config: ComparisonConfig) -> AgentLike:
    """A fresh, untrained MPC agent: it learns its world model only from the task's own steps."""
    from agent.mpc import MPCAgent

    agent_config = _mpc_agent_config(config, random_steps=config.mpc.scratch_random_steps)
    return MPCAgent(env, agent_config, seed=config.seed)


def make_mpc_pretrained(env: gym.Env, config: ComparisonConfig) -> AgentLike:
    """The MPC agent from its checkpoint, or pretrained on the spot (and cached) when there is none.

    With ``config.mpc.pretrain_steps`` set it is always pretrained on that many exploration
    steps drawn with ``config.seed`` (or loaded from that run's cache), so each seed of a
    multi-seed comparison pays for, and reports, its own pretraining falls. A loaded agent keeps the settings stored in its checkpoint except those the
    comparison sets for both MPC agents (planner preset, online learning, device).
    """
    from agent.mpc import MPCAgent

    if config.mpc.checkpoint and config.mpc.pretrain_steps is not None:
        raise ValueError(
            "--mpc.checkpoint and --mpc.pretrain-steps contradict each other: pass a checkpoint "
            "to load, or a number of exploration steps to pretrain on, not both"
        )
    pretrain_steps = config.mpc.pretrain_steps or (300 if config.quick else 3000)
    pretrain_updates = config.mpc.pretrain_updates or (50 if config.quick else 3000)
    if config.mpc.pretrain_steps is not None:
        # Its own data, drawn with this run's seed, so that seeds differ honestly.
        name = f"{env_slug(config.env)}__{pretrain_steps}steps_{pretrain_updates}updates__seed{config.seed}.pt"
        path = cache_dir() / name
    else:
        path = Path(config.mpc.checkpoint) if config.mpc.checkpoint else default_checkpoint(config.env)[0]
    if path.exists():
        stored = MPCAgent.load(path, env, seed=config.seed).config
        return MPCAgent.load(path, env, _mpc_agent_config(config, stored), seed=config.seed)
    if config.mpc.checkpoint:
        raise FileNotFoundError(
            f"checkpoint {path} does not exist; pass an existing --mpc.checkpoint, or leave it "
            "unset to use the shipped one (or pretrain one on the spot)"
        )
    from agent.pretrain import PretrainConfig

    pretrain_config = PretrainConfig(
        env=config.env,
        collect_steps=pretrain_steps,
        updates=pretrain_updates,
        seed=config.seed,
        log_dir=config.runs_dir if config.tensorboard else None,
    )
    agent = MPCAgent.pretrain(
        config.env,
        _mpc_agent_config(config, random_steps=0),
        pretrain_config=pretrain_config,
        progress=config.progress,
    )
    if not config.quick:
        agent.save(path)
    return agent


DEFAULT_FACTORIES: dict[str, AgentFactory] = {
    "mpc_pretrained": make_mpc_pretrained,
    "mpc_scratch": make_mpc_scratch,
}


def _pretraining_stats(agent: Any) -> dict[str, Any]:
    stats = getattr(agent, "pretraining_stats", None) or {}
    return dict(stats)


# ------------------------------------------------------------------ orchestration


def _make_env(spec: str) -> gym.Env:
    from envs import make_env

    try:
        return make_env(spec)
    except AttributeError as error:  # "package.module:Factory" names a missing attribute
        raise ValueError(str(error)) from error


def _env_id(env: gym.Env, spec: str) -> str:
    return env.spec.id if env.spec is not None else spec


def check_env_for_comparison(env: gym.Env, spec: str) -> None:
    """Reject envs the comparison cannot run: SAC and the planner need a continuous (Box) action space."""
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(
            f"env {spec!r} has a {type(env.action_space).__name__} action space; the comparison "
            "needs continuous actions (gymnasium.spaces.Box) for SAC and the gradient planner. "
            "Use a continuous-action env (e.g. Pendulum-v1) or wrap yours so that it takes a Box "
            "action (e.g. map a 1-D action in [-1, 1] onto the discrete choices)."
        )


def minimum_budget(env: gym.Env, window: int) -> int:
    """Fewest env steps that let ``window`` episodes finish even if each runs to the time limit.

    Envs without a time limit: ``window`` (one step per episode at best).
    """
    max_steps = env.spec.max_episode_steps if env.spec is not None else None
    return window * (max_steps or 1)


def resolve_budget(config: ComparisonConfig, env: gym.Env) -> int:
    """The budget for this env; raises a ``ValueError`` if the rolling window could not fill."""
    assert config.window is not None
    needed = minimum_budget(env, config.window)
    if config.budget_steps is None:
        return max(QUICK_BUDGET_STEPS if config.quick else DEFAULT_BUDGET_STEPS, needed)
    if config.budget_steps < needed:
        raise ValueError(
            f"budget of {config.budget_steps} env steps is too small to evaluate {config.env!r}: "
            f"a rolling window of {config.window} episodes of up to "
            f"{needed // config.window} steps needs at least {needed} steps. "
            f"Pass --budget-steps {needed} or more, or a smaller --window."
        )
    return config.budget_steps


def _progress_bar(name: str, total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{name:>15s}", unit="step", disable=not enabled, leave=True)


class _TensorBoardLogger:
    """Per-episode scalars under ``charts/{agent}/...``, x axis = the agent's env steps."""

    def __init__(self, log_dir: str, config: ComparisonConfig) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir)
        rows = "\n".join(f"|{key}|{value}|" for key, value in _flat_config(config).items())
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{rows}")

    def callback(self, name: str, window: int) -> EpisodeCallback:
        falls = 0

        def log(record: EpisodeRecord, series: Sequence[EpisodeRecord]) -> None:
            nonlocal falls
            falls += int(record.fell)
            step = record.env_step
            self.writer.add_scalar(f"charts/{name}/episodic_return", record.ret, step)
            self.writer.add_scalar(f"charts/{name}/episodic_length", record.length, step)
            self.writer.add_scalar(f"charts/{name}/cumulative_falls", falls, step)
            if len(series) >= window:
                rate = sum(int(r.success) for r in series[-window:]) / window
                self.writer.add_scalar(f"charts/{name}/rolling_success_rate", rate, step)

        return log

    def close(self) -> None:
        self.writer.close()


def _flat_config(config: ComparisonConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in asdict(config).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def build_report(
    config: ComparisonConfig,
    runs: Mapping[str, AgentRun],
    *,
    env_id: str,
    budget_steps: int,
    rule: OutcomeRule,
    interrupted: bool,
    git_commit: str | None = None,
) -> dict[str, Any]:
    """The JSON-ready report of a comparison (layout in the module docstring).

    ``git_commit``: the code that ran (see :func:`_git_commit`), taken when the run started.
    """
    assert config.window is not None
    agents: dict[str, Any] = {}
    for name, run in runs.items():
        summary = summarize(run.series, config.target, config.window, run.pretraining_falls)
        agents[name] = {
            **summary,
            "wall_seconds": run.wall_seconds,
            "budget_steps": run.budget_steps,
            "env_steps": run.env_steps,
            "steps_per_second": run.env_steps / run.wall_seconds if run.wall_seconds > 0 else None,
            "pretraining_steps": run.pretraining_steps,
            "pretraining_falls": run.pretraining_falls,
            "pretraining_episodes": run.pretraining_episodes,
            "pretraining_wall_seconds": run.pretraining_wall_seconds,
            "interrupted": run.interrupted,
            **run.extra,
            "series": [record.to_dict() for record in run.series],
        }
    return {
        "env": config.env,
        "env_id": env_id,
        "budget_steps": budget_steps,
        "seed": config.seed,
        "window": config.window,
        "target": config.target,
        "quick": config.quick,
        "success_rule": asdict(rule),
        "interrupted": interrupted,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit,
        "config": asdict(config),
        "agents": agents,
    }


def _git_commit() -> str | None:
    """HEAD of this checkout (``+dirty`` if modified), so a report names the code it measured."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def write_json(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``report`` atomically (a Ctrl-C mid-write leaves the previous file intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        json.dump(report, handle, indent=1, allow_nan=False, default=_json_default)
        handle.write("\n")
        tmp = handle.name
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a temporary file is private (0600); the report is not
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def run_comparison(
    config: ComparisonConfig,
    agent_factories: Mapping[str, AgentFactory] | None = None,
) -> dict[str, Any]:
    """Run every agent of ``config`` in turn and return the report (see :func:`build_report`).

    ``agent_factories`` overrides how an agent is built, by name (tests pass stand-ins;
    a factory given for "sac" replaces SB3 as well). The JSON, if asked for, is rewritten
    after each agent; on Ctrl-C it is written with what was recorded so far and
    ``"interrupted": true``, and the report is returned with that flag set.
    """
    assert config.window is not None
    factories = {**DEFAULT_FACTORIES, **(agent_factories or {})}

    # Check the env once, before any agent spends time on it.
    probe = _make_env(config.env)
    try:
        check_env_for_comparison(probe, config.env)
        budget = resolve_budget(config, probe)
        sb3_budget = budget
        if config.sb3.budget_steps is not None:
            sb3_budget = resolve_budget(
                dataclasses.replace(config, budget_steps=config.sb3.budget_steps), probe
            )
        env_id = _env_id(probe, config.env)
    finally:
        probe.close()
    rule = resolve_outcome_rule(env_id, config.success_threshold, config.terminated_is_fall)

    tb: _TensorBoardLogger | None = None
    if config.tensorboard:
        log_dir = Path(config.runs_dir) / (
            f"{env_slug(config.env)}__compare__{config.seed}__{int(time.time())}"
        )
        tb = _TensorBoardLogger(str(log_dir), config)

    runs: dict[str, AgentRun] = {}
    interrupted = False
    commit = _git_commit()

    def report() -> dict[str, Any]:
        return build_report(
            config,
            runs,
            env_id=env_id,
            budget_steps=budget,
            rule=rule,
            interrupted=interrupted,
            git_commit=commit,
        )

    try:
        for name in config.agents:
            run = AgentRun(name=name)
            runs[name] = run
            run.budget_steps = sb3_budget if name in SB3_AGENTS else budget
            _run_one(name, run, config, run.budget_steps, rule, factories, tb)
            if config.json:
                write_json(report(), config.json)
    except KeyboardInterrupt:
        interrupted = True
        if runs:
            list(runs.values())[-1].interrupted = True
    finally:
        if tb is not None:
            tb.close()
    result = report()
    if config.json:
        write_json(result, config.json)
    if config.plot and not (interrupted and not any(r.series for r in runs.values())):
        plot_comparison(result, config.plot)
    return result


def _run_one(
    name: str,
    run: AgentRun,
    config: ComparisonConfig,
    budget: int,
    rule: OutcomeRule,
    factories: Mapping[str, AgentFactory],
    tb: _TensorBoardLogger | None,
) -> None:
    assert config.window is not None
    env = _make_env(config.env)
    callbacks: list[EpisodeCallback] = []
    if tb is not None:
        callbacks.append(tb.callback(name, config.window))
    progress = None  # made once the agent exists, so a pretraining bar does not interleave

    def show(record: EpisodeRecord, series: Sequence[EpisodeRecord]) -> None:
        if progress is None:
            return
        progress.set_postfix(
            episodes=len(series),
            falls=sum(int(r.fell) for r in series),
            success=f"{sum(int(r.success) for r in series[-config.window :]) / min(len(series), config.window):.2f}",
            refresh=False,
        )

    callbacks.append(show)
    recorder = EpisodeRecorder(env, rule, series=run.series, callbacks=callbacks)
    try:
        if name in factories:
            # The agent sees the bare env: any pretraining it does here is not task phase.
            agent = factories[name](recorder.env, config)
            stats = _pretraining_stats(agent)
            run.pretraining_steps = int(stats.get("steps", 0))
            run.pretraining_falls = int(stats.get("falls", 0))
            run.pretraining_episodes = int(stats.get("episodes", 0))
            if stats.get("wall_seconds") is not None:
                run.pretraining_wall_seconds = float(stats["wall_seconds"])
            progress = recorder.progress = _progress_bar(name, budget, config.progress)
            run_policy_agent(agent, recorder, budget, config.seed, run)
        else:
            progress = recorder.progress = _progress_bar(name, budget, config.progress)
            run_sb3(name, recorder, budget, config.seed, config.sb3, run)
    finally:
        run.env_steps = recorder.total_steps
        if progress is not None:
            progress.close()
        env.close()


# ------------------------------------------------------------------------- output


AGENT_LABELS = {
    "sac": "SAC (model-free)",
    "ppo": "PPO (model-free)",
    "mpc_pretrained": "MPC, pretrained world model",
    "mpc_scratch": "MPC, from scratch",
}


def plot_comparison(report: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """PNG of cumulative falls, rolling success rate and return vs env steps, one line per agent.

    The pretrained agent's falls line starts at its pretraining falls (marked at step 0),
    so the falls it took to learn its world model are not hidden.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = int(report["window"])
    fig, (ax_falls, ax_success, ax_return) = plt.subplots(1, 3, figsize=(16, 4.8))
    for index, (name, agent) in enumerate(report["agents"].items()):
        series = [EpisodeRecord.from_dict(d) for d in agent["series"]]
        color = f"C{index}"
        label = AGENT_LABELS.get(name, name)
        offset = int(agent.get("pretraining_falls", 0))
        steps = [0] + [r.env_step for r in series]
        falls = [offset] + [offset + f for f in cumulative_falls(series)]
        end = int(agent.get("env_steps", steps[-1]))
        if end > steps[-1]:  # no fall after the last finished episode, up to the budget's end
            steps.append(end)
            falls.append(falls[-1])
        ax_falls.step(steps, falls, where="post", color=color, label=label)
        if agent.get("pretraining_steps", 0):
            ax_falls.plot([0], [offset], "o", color=color, label="_nolegend_")
            ax_falls.annotate(
                f"{offset} falls in {agent['pretraining_steps']} pretraining steps",
                (0, offset),
                textcoords="offset points",
                xytext=(6, 6),
                color=color,
                fontsize=8,
            )
        rates = rolling_success_rate(series, window)
        points = [
            (r.env_step, rate) for r, rate in zip(series, rates, strict=True) if rate is not None
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax_success.plot(xs, ys, color=color, label=label)
        if series:
            returns = [r.ret for r in series]
            smooth = [
                float(np.mean(returns[max(0, i - window + 1) : i + 1])) for i in range(len(returns))
            ]
            ax_return.plot([r.env_step for r in series], smooth, color=color, label=label)
    top = max([1.0] + [line.get_ydata().max() for line in ax_falls.get_lines()])
    if top > 30:
        # SAC may fall thousands of times, MPC a handful: a log scale keeps both readable.
        from matplotlib.ticker import FuncFormatter

        ax_falls.set_yscale("symlog", linthresh=1.0)
        ax_falls.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax_falls.set_ylim(0, top * 3)
    else:
        ax_falls.set_ylim(-0.02 * (top + 1), top * 1.15 + 1)
    ax_falls.set_xlabel("env steps (task phase)")
    ax_falls.set_ylabel("cumulative falls (incl. pretraining)")
    ax_falls.set_title("Falls while learning")
    ax_success.axhline(float(report["target"]), color="grey", linestyle="--", linewidth=1)
    ax_success.set_ylim(-0.02, 1.02)
    ax_success.set_xlabel("env steps")
    ax_success.set_ylabel(f"success rate, last {window} episodes")
    ax_success.set_title("Rolling success rate")
    ax_return.set_xlabel("env steps")
    ax_return.set_ylabel(f"episode return, mean of last {window}")
    ax_return.set_title("Return")
    for ax in (ax_falls, ax_success, ax_return):
        ax.grid(alpha=0.3)
    handles, labels = ax_falls.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), frameon=False)
    title = f"{report['env']}: {_budget_words(report)}, seed {report['seed']}"
    if report.get("interrupted"):
        title += " (interrupted)"
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "never"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return format(value, spec)


def results_table(report: Mapping[str, Any]) -> str:
    """A markdown table of the headline figures, one row per agent (for the README)."""
    lines = [
        "| agent | falls before 90 % (incl. pretraining) | falls total | env steps to 90 % "
        "| final success | final return | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, agent in report["agents"].items():
        before = agent["falls_before_competence"]
        if agent.get("pretraining_falls", 0):
            before = f"{before} ({agent['falls_before_competence_incl_pretraining']})"
        if not agent.get("reached_target", True):
            before = f"{before}, not yet competent"
        lines.append(
            f"| {AGENT_LABELS.get(name, name)} | {before} | {agent['falls_total']} "
            f"| {_fmt(agent['steps_to_90'])} | {_fmt(agent['final_success_rate'], '.2f')} "
            f"| {_fmt(agent['final_return'], '.1f')} | {agent['wall_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def _budget_words(report: Mapping[str, Any]) -> str:
    budget = report["budget_steps"]
    others = {
        name: agent["budget_steps"]
        for name, agent in report["agents"].items()
        if agent.get("budget_steps", budget) != budget
    }
    words = f"{budget} env steps per agent"
    if others:
        words += " (" + ", ".join(f"{name}: {steps}" for name, steps in others.items()) + ")"
    return words


def _describe(report: Mapping[str, Any]) -> str:
    lines = [
        f"**{report['env']}**, {_budget_words(report)}, seed {report['seed']}, "
        f"success = rolling rate over {report['window']} episodes reaching {report['target']:.0%}"
        + (" (interrupted)" if report.get("interrupted") else "")
        + "."
    ]
    for name, agent in report["agents"].items():
        if agent.get("pretraining_steps"):
            wall = agent.get("pretraining_wall_seconds")
            lines.append(
                f"{AGENT_LABELS.get(name, name)}: pretraining data cost "
                f"{agent['pretraining_steps']} env steps and {agent['pretraining_falls']} falls "
                "(counted in the parenthesised falls figure)"
                + (
                    f"; pretraining took {wall:.0f} s, not included in its wall time."
                    if wall
                    else "."
                )
            )
    return "\n".join(lines)


def load_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a report written by :func:`write_json`."""
    with open(path) as handle:
        report = json.load(handle)
    if "agents" not in report:
        raise ValueError(f"{path} is not a comparison report: it has no 'agents' key")
    return report


def main(
    config: ComparisonConfig, agent_factories: Mapping[str, AgentFactory] | None = None
) -> int:
    """Run the comparison, print the table; exit status 130 if interrupted, else 0."""
    import torch

    torch.set_num_threads(config.threads)
    report = run_comparison(config, agent_factories)
    table = results_table(report)
    print(table)
    if config.markdown:
        path = Path(config.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(shlex.quote(arg) for arg in ["python", *sys.argv])
        path.write_text(f"{_describe(report)}\n\n{table}\n\nCommand: `{command}`\n")
        print(f"table:  {config.markdown}")
    if config.json:
        print(f"report: {config.json}")
    if config.plot:
        print(f"plot:   {config.plot}")
    if report["interrupted"]:
        print("interrupted: the report holds what was recorded so far")
        return 130
    return 0
