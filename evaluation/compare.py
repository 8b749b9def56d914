"""Head-to-head comparison: model-free learners (SB3 SAC / PPO) against the MPC agent.

The claim under test: a model-free learner falls off the cliff many times before it
learns not to; an agent that plans through a world model learned from observation
should not. Every agent gets a fresh env made from the same spec and seed and the same
budget of env steps; an :class:`~evaluation.episodes.EpisodeRecorder` around that env
writes one :class:`~evaluation.metrics.EpisodeRecord` per finished episode, so SB3 and
the MPC agent are measured by the very same code. The report's layout is in
:mod:`evaluation.report`; the figure is drawn by :mod:`evaluation.plot`.

TensorBoard runs follow CleanRL's layout: ``{log_dir}/{env}__compare__{seed}__{time}``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agent.checkpoint import env_slug
from evaluation.baselines import SB3_AGENTS, run_sb3
from evaluation.config import DEFAULT_BUDGET_STEPS, QUICK_BUDGET_STEPS, ComparisonConfig
from evaluation.episodes import Agent, EpisodeCallback, EpisodeRecorder, run_for_steps
from evaluation.metrics import EpisodeRecord
from evaluation.mpc_agents import MPC_FACTORIES
from evaluation.outcomes import OutcomeRule, resolve_outcome_rule
from evaluation.plot import plot_comparison
from evaluation.report import AgentRun, build_report, check_writable, git_commit, write_json

AgentFactory = Callable[[gym.Env, ComparisonConfig], Agent]
"""Builds an agent for an env; used for the MPC agents and for tests' stand-ins."""


def make_env(spec: str) -> gym.Env:
    """The env of ``spec`` (see :func:`envs.make_env`); a bad ``module:Factory`` is a ``ValueError``."""
    from envs import make_env as make

    try:
        return make(spec)
    except AttributeError as error:  # "package.module:Factory" names a missing attribute
        raise ValueError(str(error)) from error


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


def run_comparison(
    config: ComparisonConfig,
    agent_factories: Mapping[str, AgentFactory] | None = None,
) -> dict[str, Any]:
    """Run every agent of ``config`` in turn and return the report (see :mod:`evaluation.report`).

    ``agent_factories`` overrides how an agent is built, by name (tests pass stand-ins;
    a factory given for "sac" replaces SB3 as well). The JSON, if asked for, is rewritten
    after each agent; on Ctrl-C it is written with what was recorded so far and
    ``"interrupted": true``, and the report is returned with that flag set. Bad input (an
    env, a budget, an output path) is refused with a ``ValueError`` before any agent runs.
    """
    assert config.window is not None
    factories = {**MPC_FACTORIES, **(agent_factories or {})}

    # Check the env and the outputs once, before any agent spends time on them.
    probe = make_env(config.env)
    try:
        check_env_for_comparison(probe, config.env)
        budget = resolve_budget(config, probe)
        sb3_budget = budget
        if config.sb3.budget_steps is not None:
            sb3_budget = resolve_budget(
                dataclasses.replace(config, budget_steps=config.sb3.budget_steps), probe
            )
        env_id = probe.spec.id if probe.spec is not None else config.env
        rule = resolve_outcome_rule(probe, config.success_threshold, config.terminated_is_fall)
    finally:
        probe.close()
    check_writable(config.outputs)

    log_dir: Path | None = None
    tb: _TensorBoardLogger | None = None
    if config.tensorboard:
        log_dir = Path(config.log_dir) / (
            f"{env_slug(config.env)}__compare__{config.seed}__{int(time.time())}"
        )
        tb = _TensorBoardLogger(log_dir, config)

    runs: dict[str, AgentRun] = {}
    interrupted = False
    commit = git_commit()

    def report() -> dict[str, Any]:
        return build_report(
            config, runs, env_id=env_id, budget_steps=budget, rule=rule,
            interrupted=interrupted, git_commit=commit,
        )  # fmt: skip

    try:
        for name in config.agents:
            run = AgentRun(name=name)
            runs[name] = run
            run.budget_steps = sb3_budget if name in SB3_AGENTS else budget
            _run_one(name, run, config, rule, factories, tb, log_dir)
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
    rule: OutcomeRule,
    factories: Mapping[str, AgentFactory],
    tb: _TensorBoardLogger | None,
    log_dir: Path | None,
) -> None:
    assert config.window is not None
    window = config.window
    env = make_env(config.env)
    callbacks: list[EpisodeCallback] = []
    if tb is not None:
        callbacks.append(tb.callback(name, window))
    progress = None  # made once the agent exists, so a pretraining bar does not interleave

    def show(record: EpisodeRecord, series: Sequence[EpisodeRecord]) -> None:
        if progress is None:
            return
        recent = series[-window:]
        progress.set_postfix(
            episodes=len(series),
            falls=sum(int(r.fell) for r in series),
            success=f"{sum(int(r.success) for r in recent) / len(recent):.2f}",
            refresh=False,
        )

    callbacks.append(show)
    recorder = EpisodeRecorder(env, rule, series=run.series, callbacks=callbacks)
    try:
        if name in factories:
            # The agent sees the bare env: any pretraining it does here is not task phase.
            agent = factories[name](recorder.env, config)
            stats = dict(getattr(agent, "pretraining_stats", None) or {})
            run.pretraining_steps = int(stats.get("steps", 0))
            run.pretraining_falls = int(stats.get("falls", 0))
            run.pretraining_episodes = int(stats.get("episodes", 0))
            if stats.get("wall_seconds") is not None:
                run.pretraining_wall_seconds = float(stats["wall_seconds"])
            progress = recorder.progress = _progress_bar(name, run.budget_steps, config.progress)
            run_for_steps(agent, recorder, run.budget_steps, config.seed)
        else:
            progress = recorder.progress = _progress_bar(name, run.budget_steps, config.progress)
            sb3_log_dir = None if log_dir is None else log_dir / f"sb3_{name}"
            run_sb3(name, recorder, run.budget_steps, config.seed, config.sb3, sb3_log_dir)
    finally:
        run.env_steps = recorder.total_steps
        run.wall_seconds = recorder.elapsed
        if recorder.act_times_ms:
            run.extra["act_ms_median"] = float(np.median(recorder.act_times_ms))
        if progress is not None:
            progress.close()
        env.close()


def _progress_bar(name: str, total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{name:>15s}", unit="step", disable=not enabled, leave=True)


class _TensorBoardLogger:
    """Per-episode scalars under ``charts/{agent}/...``, x axis = the agent's env steps."""

    def __init__(self, log_dir: Path, config: ComparisonConfig) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(log_dir))
        rows = "\n".join(f"|{key}|{value}|" for key, value in _flat_config(config).items())
        self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{rows}")

    def callback(self, name: str, window: int) -> EpisodeCallback:
        falls = 0

        def log(record: EpisodeRecord, series: Sequence[EpisodeRecord]) -> None:
            nonlocal falls
            falls += int(record.fell)
            step = record.env_step
            self.writer.add_scalar(f"charts/{name}/episodic_return", record.ret, step)
            self.writer.add_scalar(f"charts/{name}/episodic_length", record.steps, step)
            self.writer.add_scalar(f"charts/{name}/cumulative_falls", falls, step)
            if len(series) >= window:
                rate = sum(int(r.success) for r in series[-window:]) / window
                self.writer.add_scalar(f"charts/{name}/rolling_success_rate", rate, step)

        return log

    def close(self) -> None:
        self.writer.close()


def _flat_config(config: ComparisonConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in dataclasses.asdict(config).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat
