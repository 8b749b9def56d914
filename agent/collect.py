"""Reward-free exploration data, collected with Gymnasium vector envs.

The exploration policy never looks at rewards. In normalised action space it steers
toward a random *waypoint action* that is held for a random number of steps (long
holds drive far in one direction: to, along and over edges) and adds Ornstein-Uhlenbeck
noise for temporally correlated wiggles. Each episode draws its own smoothness, noise
level and hold time, so the data mixes calm driving, aggressive driving and jitter.

Optionally a share of the episodes follows a *guide* instead of random waypoints, with
weaker noise on top: a hand-written controller (a demonstration) ``obs (N, O) -> normalised
actions (N, A)``. Guides come from the caller or, with ``guide="env"``, from the env
itself: an env offers them as a sequence ``exploration_guides`` on its unwrapped instance
(the ``envs`` package documents its own); an env that offers none gets random waypoints
only. This module names no env and reads no observation index.

Seeds: collection resets env ``i`` with seed ``TRAIN_SEED_OFFSET + 1000 * seed + i``
(>= 1,000,000) once; its later episodes continue that env's random stream (autoreset).
Evaluation and benchmarks use seeds below ``TRAIN_SEED_OFFSET``
(e.g. 0..999 for held-out episodes), so train and test layouts never coincide.

Fall labels: a terminating transition is labelled a fall (the buffer's ``fell``, which the
world model's fall head learns) when the env's last ``info`` says so under ``fall_key``:
``"fell"`` by default, and a termination counts when the env does not report the key (the
convention of generic envs); another key names another event, e.g. ``"dropped"`` in a safe
world whose drops off an edge are not falls. :class:`CollectStats` counts falls
(``info["fell"]``) and drops (``info["dropped"]``) apart from the labels.

Autoreset: the vector env runs with ``AutoresetMode.SAME_STEP``; when sub-env ``i`` ends,
the step returns the *reset* observation and the true last observation sits in
``info["final_obs"][i]`` (its info in ``info["final_info"]``). :func:`collect` stores the
true final observation as ``next_obs`` of the last transition (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import gymnasium as gym
import numpy as np

from agent.buffer import ReplayBuffer, denormalize_action

__all__ = ["TRAIN_SEED_OFFSET", "Guide", "exploration_guides", "ExplorationPolicy", "CollectStats",
           "collect", "make_env_fn"]

TRAIN_SEED_OFFSET = 1_000_000
"""Collection seeds start here; evaluation uses seeds below it."""

EnvSpec = str | Callable[[], gym.Env]


def make_env_fn(spec: EnvSpec, **kwargs) -> Callable[[], gym.Env]:
    """A zero-argument env constructor from an env spec (see :func:`envs.make_env`) or a callable."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"env spec must be a str (see envs.make_env) or a callable, got {type(spec).__name__}")

    def make() -> gym.Env:
        try:
            from envs import make_env
        except ImportError:  # envs/ not importable: fall back to Gymnasium's registry
            return gym.make(spec, **kwargs)
        return make_env(spec, **kwargs)

    return make


@dataclass
class CollectStats:
    """What a collection run produced; ``falls`` counts episodes that ended in a fall."""

    steps: int = 0
    """Env transitions stored."""
    episodes: int = 0
    """Episodes that ended (terminated or truncated)."""
    falls: int = 0
    """Finished episodes whose last transition is a fall (``info['fell']``, else ``terminated``)."""
    drops: int = 0
    """Finished episodes whose last transition drove off an edge (``info['dropped']``; 0 when
    the env does not report it). In a safe world these are not falls."""
    fall_labels: int = 0
    """Finished episodes whose last transition is labelled a fall for the fall head (the
    ``fall_key`` event; the same as ``falls`` with the default key)."""
    successes: int = 0
    """Finished episodes with ``info['success']``."""
    truncations: int = 0
    """Finished episodes cut by the time limit."""
    unfinished: int = 0
    """Episodes still running when collection stopped (stored, not counted above)."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


Guide = Callable[[np.ndarray], np.ndarray]
"""A hand-written controller steering exploration: observations ``(N, O)`` -> normalised actions ``(N, A)``."""


def exploration_guides(env: gym.Env) -> list[Guide]:
    """The guides ``env`` offers (``env.unwrapped.exploration_guides``), in order; ``[]`` if none.

    Raises ``TypeError`` when the attribute is there but is not a sequence of callables.
    """
    offered = getattr(env.unwrapped, "exploration_guides", None)
    if offered is None:
        return []
    guides = list(offered) if isinstance(offered, Sequence) else None
    if guides is None or not all(callable(g) for g in guides):
        raise TypeError(
            f"{type(env.unwrapped).__name__}.exploration_guides must be a sequence of callables "
            f"obs (N, O) -> normalised actions (N, A), got {offered!r}"
        )
    return guides


class ExplorationPolicy:
    """Waypoint-following action with OU noise, per sub-env; actions ``(N, A)`` in ``[-1, 1]``.

    With guides, a ``guide_fraction`` of the episodes follow one guide's action (drawn per
    episode; plus the same correlated noise, weaker) instead of random waypoints.
    """

    def __init__(self, num_envs: int, action_dim: int, rng: np.random.Generator,
                 guide: Guide | Sequence[Guide] | None = None, guide_fraction: float = 0.0):
        self.num_envs, self.action_dim, self.rng = num_envs, action_dim, rng
        self.guides = [] if guide is None else [guide] if callable(guide) else list(guide)
        self.guide_fraction = guide_fraction if self.guides else 0.0
        self.guided = np.zeros(num_envs, bool)
        self.which_guide = np.zeros(num_envs, np.int64)
        self.drift = np.zeros((num_envs, action_dim))
        self.action = np.zeros((num_envs, action_dim))
        self.noise = np.zeros((num_envs, action_dim))
        self.target = np.zeros((num_envs, action_dim))
        self.hold_left = np.zeros(num_envs, np.int64)
        self.smoothing = np.zeros(num_envs)  # fraction of the gap to the waypoint closed per step
        self.noise_scale = np.zeros(num_envs)
        self.mean_hold = np.zeros(num_envs)
        for i in range(num_envs):
            self.reset(i)

    def reset(self, i: int) -> None:
        """New episode for sub-env ``i``: draw its style."""
        rng = self.rng
        self.guided[i] = rng.random() < self.guide_fraction
        if self.guides:
            self.which_guide[i] = rng.integers(len(self.guides))
        self.drift[i] = rng.uniform(-0.7, 0.7, self.action_dim)  # per-episode habit: go far one way
        self.smoothing[i] = rng.uniform(0.05, 0.5)
        self.noise_scale[i] = rng.choice([0.05, 0.1, 0.2] if self.guided[i] else [0.05, 0.2, 0.5])
        self.mean_hold[i] = rng.choice([5.0, 20.0, 60.0])
        self.action[i] = rng.uniform(-0.3, 0.3, self.action_dim)
        self.noise[i] = 0.0
        self.hold_left[i] = 0

    def __call__(self, obs: np.ndarray | None = None) -> np.ndarray:
        """Next actions ``(N, A)``; ``obs (N, O)`` is only read by the guide."""
        rng = self.rng
        for i in np.flatnonzero(self.hold_left <= 0):
            # Waypoints around the episode's drift, often saturated: full throttle/steer is
            # where edges get met.
            self.target[i] = np.clip(self.drift[i] + rng.uniform(-1.0, 1.0, self.action_dim), -1, 1)
            self.hold_left[i] = 1 + rng.geometric(1.0 / self.mean_hold[i])
        self.hold_left -= 1
        self.noise += -0.15 * self.noise + self.noise_scale[:, None] * rng.standard_normal(self.noise.shape)
        target = self.target
        if self.guided.any() and obs is not None:
            target = self.target.copy()
            for g, guide in enumerate(self.guides):
                rows = self.guided & (self.which_guide == g)
                if rows.any():
                    target[rows] = guide(obs[rows])
        self.action += self.smoothing[:, None] * (target - self.action)
        return np.clip(self.action + self.noise, -1.0, 1.0)


def _final_flag(final_info: dict, key: str, i: int) -> bool | None:
    """``final_info[key][i]`` when the sub-env reported it at its last step, else None."""
    if key in final_info and final_info.get(f"_{key}", np.ones(i + 1, bool))[i]:
        return bool(final_info[key][i])
    return None


def collect(
    env: EnvSpec,
    num_steps: int,
    seed: int = 0,
    num_envs: int = 4,
    buffer: ReplayBuffer | None = None,
    seed_offset: int = TRAIN_SEED_OFFSET,
    progress: bool = False,
    guide: Guide | Sequence[Guide] | Literal["env"] | None = None,
    guide_fraction: float = 0.0,
    fall_key: str = "fell",
) -> tuple[ReplayBuffer, CollectStats]:
    """Run the exploration policy for ``num_steps`` transitions in ``num_envs`` parallel envs.

    ``env`` is an env spec for :func:`envs.make_env` or a zero-argument constructor.
    Sub-env ``i`` is reset with seed ``seed_offset + 1000 * seed + i``; pass a seed offset
    below ``TRAIN_SEED_OFFSET`` for held-out data. ``guide`` (see :class:`ExplorationPolicy`)
    drives ``guide_fraction`` of the episodes; ``"env"`` takes the env's own
    :func:`exploration_guides` (none: every episode follows random waypoints). Completed episodes are added to the
    buffer as they finish, then any unfinished ones. ``fall_key`` is the ``info`` key whose
    events at a termination label the buffer's ``fell`` (see the module docstring). Returns
    ``(buffer, stats)``.

    Raises ``ValueError`` after collection when ``fall_key`` is not ``"fell"`` and no step's
    ``info`` carried it: no transition could have been labelled (the message lists the keys
    the env did report).
    """
    if num_steps < 1 or not 1 <= num_envs <= 1000:
        raise ValueError(f"need num_steps >= 1 and 1 <= num_envs <= 1000, got {num_steps} and {num_envs}")
    env_fn = make_env_fn(env)
    vec = gym.vector.SyncVectorEnv([env_fn for _ in range(num_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    try:
        act_space = vec.single_action_space
        obs_space = vec.single_observation_space
        if not isinstance(act_space, gym.spaces.Box) or not isinstance(obs_space, gym.spaces.Box):
            raise TypeError(f"collect needs Box observation and action spaces, got {obs_space} and {act_space}")
        obs_dim, action_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))
        if buffer is None:
            buffer = ReplayBuffer(obs_dim, action_dim, capacity=num_steps + num_envs)
        if isinstance(guide, str):
            if guide != "env":
                raise ValueError(f"guide must be a callable, a sequence of them, 'env' or None; got {guide!r}")
            guide = exploration_guides(vec.envs[0])
        policy = ExplorationPolicy(num_envs, action_dim, np.random.default_rng([seed, 12345]), guide, guide_fraction)
        stats = CollectStats()
        keys = ("obs", "action", "cost", "next_obs", "terminated", "truncated", "fell")
        running = [{k: [] for k in keys} for _ in range(num_envs)]
        obs, _ = vec.reset(seed=[seed_offset + 1000 * seed + i for i in range(num_envs)])
        info_keys: set[str] = set()  # every info key the env reported, to explain a missing fall_key
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=num_steps, desc="collect", unit="step")
        while stats.steps < num_steps:
            action = policy(obs)  # (N, A) normalised
            env_action = denormalize_action(action, act_space)
            next_obs, reward, terminated, truncated, info = vec.step(env_action)
            final_info = info.get("final_info", {})
            info_keys.update(info, final_info)
            for i in range(num_envs):
                done = bool(terminated[i] or truncated[i])
                true_next = info["final_obs"][i] if done else next_obs[i]
                fell = False
                if terminated[i]:
                    reported = _final_flag(final_info, fall_key, i)
                    fell = True if reported is None else reported
                episode = running[i]
                for key, value in zip(keys, (obs[i], action[i], -float(reward[i]), true_next,
                                             bool(terminated[i]), bool(truncated[i]), fell), strict=True):
                    episode[key].append(value)
                if done:
                    buffer.add_episode({k: np.asarray(v) for k, v in episode.items()})
                    running[i] = {k: [] for k in keys}
                    stats.episodes += 1
                    stats.fall_labels += int(fell)
                    ended = bool(terminated[i])  # falls and drops end an episode; a time limit is neither
                    stats.falls += int(ended and _final_flag(final_info, "fell", i) is not False)
                    stats.drops += int(ended and bool(_final_flag(final_info, "dropped", i)))
                    stats.truncations += int(truncated[i] and not terminated[i])
                    stats.successes += int(bool(_final_flag(final_info, "success", i)))
                    policy.reset(i)
            obs = next_obs
            stats.steps += num_envs
            if bar is not None:
                bar.update(num_envs)
        for episode in running:
            if episode["obs"]:
                buffer.add_episode({k: np.asarray(v) for k, v in episode.items()})
                stats.unfinished += 1
        if bar is not None:
            bar.close()
        if fall_key != "fell" and fall_key not in info_keys:
            reported = sorted(k for k in info_keys if not k.startswith("_") and k not in ("final_obs", "final_info"))
            raise ValueError(
                f"fall key {fall_key!r}: the env reported no info[{fall_key!r}] in {stats.steps} steps "
                f"({stats.episodes} episodes), so no transition could be labelled a fall; its info keys "
                f"are {reported}. Pass one of those (e.g. --fall-key fell), or an env that reports it"
            )
        return buffer, stats
    finally:
        vec.close()
