"""The one episode loop: an agent acts in an env, a recorder wrapper writes the records.

:class:`EpisodeRecorder` watches ``env.step`` and appends one :class:`EpisodeRecord` per
finished episode, judged by an :class:`~evaluation.outcomes.OutcomeRule`. It works under
any driver — :func:`run_episode` below, or SB3's own training loop — so every agent is
measured by the very same code. :func:`run_for_steps` drives an agent for a budget of env
steps (a learning run); :func:`run_episode` drives one episode (an evaluation).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from evaluation.metrics import EpisodeRecord
from evaluation.outcomes import OutcomeRule, resolve_outcome_rule


class Agent(Protocol):
    """What the loop needs of an agent; :class:`agent.mpc.MPCAgent` has this shape.

    An agent may also keep ``plan_times_ms`` (MPCAgent does); the loop does not read it:
    it times each ``act`` call itself, which is the act time DESIGN.md defines.
    """

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; reseed the agent's randomness if ``seed`` is given."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """The action to take in ``obs``."""

    def observe(self, obs, action, reward, next_obs, terminated, truncated, info) -> Any:
        """Learn from one transition (an agent that does not learn ignores it)."""


EpisodeCallback = Callable[[EpisodeRecord, Sequence[EpisodeRecord]], None]
"""Called as ``callback(record, series)`` each time an episode ends (logging, progress)."""


class EpisodeRecorder(gym.Wrapper):
    """Appends an :class:`EpisodeRecord` to ``series`` each time an episode ends.

    Env steps and wall time are counted from construction (or :meth:`restart`); an episode
    still running when the driver stops is not recorded. A driver that times its agent
    reports each ``act`` call with :meth:`note_act_ms` before the step it leads to.
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
        self.restart()

    def restart(self) -> None:
        """Start the clock, the step count and the act times afresh (call right before the run)."""
        self.total_steps = 0
        self.act_times_ms: list[float] = []
        self._start = time.perf_counter()
        self._new_episode(None)

    def _new_episode(self, seed: int | None) -> None:
        self._episode_return = 0.0
        self._episode_steps = 0
        self._episode_seed = seed
        self._episode_first_act = len(self.act_times_ms)

    @property
    def elapsed(self) -> float:
        """Seconds since construction or :meth:`restart`."""
        return time.perf_counter() - self._start

    def note_act_ms(self, milliseconds: float) -> None:
        """Record the wall time of one ``agent.act`` call of the current episode."""
        self.act_times_ms.append(float(milliseconds))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._new_episode(seed)
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.total_steps += 1
        self._episode_steps += 1
        self._episode_return += float(reward)
        if self.progress is not None:
            self.progress.update(1)
        if terminated or truncated:
            fell, success = self.rule.judge(self._episode_return, terminated, info)
            act_ms = self.act_times_ms[self._episode_first_act :]
            record = EpisodeRecord(
                ret=self._episode_return,
                fell=fell,
                success=success,
                steps=self._episode_steps,
                env_step=self.total_steps,
                wall_time=self.elapsed,
                seed=self._episode_seed,
                median_plan_ms=statistics.median(act_ms) if act_ms else None,
            )
            self.series.append(record)
            for callback in self.callbacks:
                callback(record, self.series)
            self._new_episode(None)
        return obs, reward, terminated, truncated, info


def run_episode(
    agent: Agent,
    env: gym.Env,
    seed: int | None = None,
    *,
    learn: bool = True,
    rule: OutcomeRule | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    step_limit: int | None = None,
) -> EpisodeRecord | None:
    """One episode from ``env.reset(seed=seed)`` and ``agent.reset(seed=seed)``; its record.

    ``env``: a plain env (judged by ``rule``, default :func:`resolve_outcome_rule` for it,
    with no success where none can be known), or an :class:`EpisodeRecorder` that keeps
    counting a longer run. ``learn``: feed every transition to ``agent.observe``.
    ``on_frame`` receives ``env.render()`` after the reset and after every step (video).
    ``step_limit``: stop once the recorder has counted this many env steps; an episode cut
    short that way is not recorded and the result is None.
    """
    if isinstance(env, EpisodeRecorder):
        recorder = env
    else:
        recorder = EpisodeRecorder(env, rule or resolve_outcome_rule(env, require_success=False))
    recorded = len(recorder.series)
    obs, _ = recorder.reset(seed=seed)
    agent.reset(seed=seed)
    if on_frame is not None:
        on_frame(recorder.render())
    while step_limit is None or recorder.total_steps < step_limit:
        start = time.perf_counter()
        action = agent.act(obs)
        recorder.note_act_ms(1000.0 * (time.perf_counter() - start))
        next_obs, reward, terminated, truncated, info = recorder.step(action)
        if on_frame is not None:
            on_frame(recorder.render())
        if learn:
            agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
        obs = next_obs
        if terminated or truncated:
            return recorder.series[recorded]
    return None


def run_for_steps(agent: Agent, recorder: EpisodeRecorder, budget_steps: int, seed: int) -> None:
    """Drive ``agent`` for exactly ``budget_steps`` env steps, learning online via ``observe``.

    The first episode is reset with ``seed``; later ones continue the env's and the
    agent's random streams. The records land in ``recorder.series``.
    """
    recorder.action_space.seed(seed)
    recorder.restart()
    episode_seed: int | None = seed
    while recorder.total_steps < budget_steps:
        run_episode(agent, recorder, episode_seed, step_limit=budget_steps)
        episode_seed = None
