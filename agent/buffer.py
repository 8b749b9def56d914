"""Episode replay buffer (numpy) with sub-sequence sampling that never crosses episode ends.

Everything below the env boundary works with actions scaled to ``[-1, 1]^A`` from the
env's Box bounds; :func:`normalize_action` / :func:`denormalize_action` convert, and the
buffer stores normalised actions.

Window semantics (what :meth:`ReplayBuffer.sample` returns): a window starts at any
stored transition and runs for ``horizon`` transitions of the *same* episode. When the
episode ends inside the window (terminated, truncated, or not yet finished), the
transitions after its last one are padding: ``mask`` is 0 there, ``obs`` repeats the
last real next observation, actions/costs/flags are 0. So a terminal (or truncated)
step can appear at any position of a window but is always the last valid one; losses
must be weighted by ``mask``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces

__all__ = ["ReplayBuffer", "normalize_action", "denormalize_action"]

_BUFFER_FORMAT_VERSION = 1


def _check_box(space: spaces.Space) -> spaces.Box:
    if not isinstance(space, spaces.Box):
        raise TypeError(
            f"expected a gymnasium.spaces.Box action space, got {type(space).__name__}; "
            "latent-mpc plans continuous actions, wrap discrete envs first"
        )
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError(
            f"action space bounds must be finite to scale actions to [-1, 1], got "
            f"low={space.low}, high={space.high}; wrap the env with "
            "gymnasium.wrappers.ClipAction/RescaleAction to give it finite bounds"
        )
    return space


def normalize_action(action: np.ndarray, space: spaces.Box) -> np.ndarray:
    """Env action ``(..., A)`` within ``[low, high]`` -> normalised action in ``[-1, 1]``."""
    space = _check_box(space)
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    scaled = 2.0 * (np.asarray(action, dtype=np.float64) - low) / (high - low) - 1.0
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def denormalize_action(action: np.ndarray, space: spaces.Box) -> np.ndarray:
    """Normalised action ``(..., A)`` in ``[-1, 1]`` -> env action within ``[low, high]``."""
    space = _check_box(space)
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    clipped = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    return (low + (clipped + 1.0) * 0.5 * (high - low)).astype(space.dtype)


class ReplayBuffer:
    """Ring buffer of transitions grouped into episodes.

    Each transition stores ``obs, action (normalised), cost (= -reward), next_obs,
    terminated, truncated, fell`` plus its episode id and step index, which is how
    :meth:`sample` knows where an episode ends even after the ring wraps around.
    """

    def __init__(self, obs_dim: int, action_dim: int, capacity: int = 1_000_000):
        for name, value in (("obs_dim", obs_dim), ("action_dim", action_dim), ("capacity", capacity)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.obs_dim, self.action_dim, self.capacity = int(obs_dim), int(action_dim), int(capacity)
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, action_dim), np.float32)
        self.cost = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, bool)
        self.truncated = np.zeros(capacity, bool)
        self.fell = np.zeros(capacity, bool)
        self.episode = np.full(capacity, -1, np.int64)  # -1: slot never written
        self.step = np.zeros(capacity, np.int64)
        self._cursor = 0  # next slot to write
        self._size = 0
        self._episode_id = 0  # id of the episode being written
        self._episode_step = 0
        self._episodes_finished = 0

    # ------------------------------------------------------------------ writing
    def add(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        cost: float,
        next_obs: np.ndarray,
        terminated: bool,
        truncated: bool,
        fell: bool | None = None,
    ) -> None:
        """Store one transition; ``action`` already normalised to ``[-1, 1]``, shape ``(A,)``.

        ``fell`` is the failure label for the termination head: pass ``info["fell"]`` when
        the env reports it; ``None`` means "termination is failure" (``fell = terminated``),
        the convention of generic envs whose only termination is failing. The episode ends
        (``end_episode``) automatically when ``terminated or truncated``.
        """
        obs = np.asarray(obs, np.float32).reshape(-1)
        next_obs = np.asarray(next_obs, np.float32).reshape(-1)
        action = np.asarray(action, np.float32).reshape(-1)
        if obs.shape != (self.obs_dim,) or next_obs.shape != (self.obs_dim,):
            raise ValueError(
                f"obs and next_obs must have shape ({self.obs_dim},), got {obs.shape} and "
                f"{next_obs.shape}; the buffer was created with obs_dim={self.obs_dim}"
            )
        if action.shape != (self.action_dim,):
            raise ValueError(
                f"action must have shape ({self.action_dim},), got {action.shape}; "
                f"the buffer was created with action_dim={self.action_dim}"
            )
        i = self._cursor
        self.obs[i], self.next_obs[i], self.action[i] = obs, next_obs, action
        self.cost[i] = float(cost)
        self.terminated[i], self.truncated[i] = bool(terminated), bool(truncated)
        self.fell[i] = bool(terminated) if fell is None else bool(fell)
        self.episode[i], self.step[i] = self._episode_id, self._episode_step
        self._cursor = (i + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)
        self._episode_step += 1
        if terminated or truncated:
            self.end_episode()

    def end_episode(self) -> None:
        """Close the current episode (e.g. when the caller resets the env mid-episode)."""
        if self._episode_step > 0:
            self._episode_id += 1
            self._episode_step = 0
            self._episodes_finished += 1

    def add_episode(self, episode: dict[str, np.ndarray]) -> None:
        """Store a whole episode: dict of arrays ``obs (T, O)``, ``action (T, A)``, ``cost (T,)``,
        ``next_obs (T, O)``, ``terminated (T,)``, ``truncated (T,)``, ``fell (T,)``."""
        self.end_episode()
        length = len(episode["cost"])
        for t in range(length):
            self.add(
                episode["obs"][t], episode["action"][t], episode["cost"][t], episode["next_obs"][t],
                episode["terminated"][t], episode["truncated"][t], episode["fell"][t],
            )
        self.end_episode()

    # ------------------------------------------------------------------ reading
    @property
    def num_steps(self) -> int:
        """Transitions currently stored."""
        return self._size

    @property
    def num_episodes(self) -> int:
        """Distinct episodes (finished or running) with at least one stored transition."""
        return int(np.unique(self.episode[: self._size]).size) if self._size else 0

    @property
    def num_falls(self) -> int:
        """Stored transitions labelled as falls (one per fallen episode)."""
        return int(self.fell[: self._size].sum())

    def __len__(self) -> int:
        return self._size

    def valid_slots(self) -> np.ndarray:
        """Indices of stored transitions in chronological order, shape ``(num_steps,)``."""
        if self._size < self.capacity:
            return np.arange(self._size)
        return (np.arange(self.capacity) + self._cursor) % self.capacity

    def window_indices(self, starts: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots ``(B, H)`` of the windows starting at ``starts (B,)`` and their mask ``(B, H)``.

        Slot ``t`` is valid when it holds step ``step[start] + t`` of the same episode and no
        earlier step of the window ended the episode.
        """
        offsets = np.arange(horizon)
        slots = (starts[:, None] + offsets[None, :]) % self.capacity  # (B, H)
        same = (self.episode[slots] == self.episode[starts][:, None]) & (
            self.step[slots] == self.step[starts][:, None] + offsets[None, :]
        )
        done = self.terminated[slots] | self.truncated[slots]
        ended_before = np.zeros_like(done)
        ended_before[:, 1:] = np.cumsum(done, axis=1)[:, :-1] > 0
        mask = np.cumprod(same & ~ended_before, axis=1).astype(bool)
        return slots, mask

    def sample(
        self, batch_size: int, horizon: int, rng: np.random.Generator, device: str | torch.device = "cpu"
    ) -> dict[str, torch.Tensor]:
        """Sample ``batch_size`` windows of ``horizon`` transitions (see module docstring).

        Returns float32 tensors ``obs (B, H+1, O)``, ``action (B, H, A)``, ``cost (B, H)``,
        ``terminated (B, H)``, ``truncated (B, H)``, ``fell (B, H)``, ``mask (B, H)``.
        """
        if self._size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer; collect data first")
        if horizon < 1 or batch_size < 1:
            raise ValueError(f"batch_size and horizon must be >= 1, got {batch_size} and {horizon}")
        starts = self.valid_slots()[rng.integers(0, self._size, size=batch_size)]
        return self.gather(starts, horizon, device)

    def gather(self, starts: np.ndarray, horizon: int, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Windows starting at the given slots ``(B,)``; same layout as :meth:`sample`."""
        slots, mask = self.window_indices(np.asarray(starts, np.int64), horizon)
        # The last valid slot's next_obs fills the padded observations.
        last = np.take_along_axis(slots, (mask.sum(1, keepdims=True) - 1).clip(0), axis=1)[:, 0]
        next_obs = np.where(mask[..., None], self.next_obs[slots], self.next_obs[last][:, None])
        obs = np.concatenate([self.obs[slots[:, :1]], next_obs], axis=1)  # (B, H+1, O)
        m = mask.astype(np.float32)
        out = {
            "obs": obs,
            "action": self.action[slots] * m[..., None],
            "cost": self.cost[slots] * m,
            "terminated": self.terminated[slots] * m,
            "truncated": self.truncated[slots] * m,
            "fell": self.fell[slots] * m,
            "mask": m,
        }
        return {k: torch.as_tensor(np.ascontiguousarray(v), dtype=torch.float32, device=device) for k, v in out.items()}

    def observations(self) -> np.ndarray:
        """All stored observations (both ends of every transition), shape ``(2 * num_steps, O)``."""
        order = self.valid_slots()
        return np.concatenate([self.obs[order], self.next_obs[order]])

    def episodes(self) -> list[np.ndarray]:
        """Slot indices of each stored episode, in chronological order, as a list of ``(T_i,)``."""
        order = self.valid_slots()
        ids = self.episode[order]
        breaks = np.flatnonzero(np.diff(ids) != 0) + 1
        return [seg for seg in np.split(order, breaks) if seg.size]

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write the stored transitions (chronological) to ``path`` (``.npz``), atomically."""
        path = Path(path)
        order = self.valid_slots()
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(
            tmp,
            format_version=np.int64(_BUFFER_FORMAT_VERSION),
            obs_dim=np.int64(self.obs_dim), action_dim=np.int64(self.action_dim),
            capacity=np.int64(self.capacity),
            obs=self.obs[order], next_obs=self.next_obs[order], action=self.action[order],
            cost=self.cost[order], terminated=self.terminated[order], truncated=self.truncated[order],
            fell=self.fell[order], episode=self.episode[order], step=self.step[order],
            current_episode_step=np.int64(self._episode_step),
        )
        os.replace(tmp, path)

    def subset(self, num_steps: int, rng: np.random.Generator) -> ReplayBuffer:
        """A new buffer of whole episodes holding at most ``num_steps`` transitions, in the
        proportions of this one: the same share of steps from episodes that end in a fall
        (at least one such episode when there is any), the rest from the others, each drawn
        in random order. Used to ship a small rehearsal set beside a checkpoint so online
        learning does not forget the pretraining data.

        Why proportional: training continues on this set, and a set richer in falls than the
        data teaches the critic other values at the very same states. Putting every fall
        episode first (this method's behaviour until session 8) made 61 of 80 safe-world episodes
        drops where the data had 61 of 199, and 2,000 more updates on it raised the critic's
        cost-to-go 20 steps before a drop from 14 to 30, where the same updates on the data's
        own mix left it at 14 (README, "the rehearsal set").
        """
        episodes = self.episodes()
        falls = [e for e in episodes if self.fell[e].any()]
        others = [e for e in episodes if not self.fell[e].any()]
        total = sum(len(e) for e in episodes)
        fall_steps = sum(len(e) for e in falls)
        fall_budget = round(num_steps * fall_steps / total) if total else 0
        out = ReplayBuffer(self.obs_dim, self.action_dim, max(int(num_steps), 1))

        def take(pool: list[np.ndarray], budget: int, at_least_one: bool = False) -> None:
            used = 0
            for i in rng.permutation(len(pool)):
                slots = pool[i]
                fits = used + len(slots) <= budget or (at_least_one and used == 0)
                if not fits or out.num_steps + len(slots) > num_steps:
                    continue
                out.add_episode({name: getattr(self, name)[slots] for name in (
                    "obs", "action", "cost", "next_obs", "terminated", "truncated", "fell")})
                used += len(slots)

        take(falls, fall_budget, at_least_one=True)
        take(others, int(num_steps) - out.num_steps)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike, capacity: int | None = None) -> ReplayBuffer:
        """Read a buffer written by :meth:`save`; raises ``ValueError`` on a foreign/corrupt file.

        ``capacity``: room for this many transitions (at least what the file holds), e.g. to
        keep adding online experience after the loaded data.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no replay buffer at {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as err:  # zipfile/OSError/ValueError: all mean "not a readable npz"
            raise ValueError(f"{path} is not a readable replay-buffer .npz ({err}); re-save it") from err
        required = {"format_version", "obs_dim", "action_dim", "capacity", "obs", "episode", "step"}
        if not required <= arrays.keys():
            raise ValueError(f"{path} lacks fields {sorted(required - arrays.keys())}; not a ReplayBuffer file")
        n = len(arrays["obs"])
        size = max(n, int(capacity if capacity is not None else arrays["capacity"]))
        buffer = cls(int(arrays["obs_dim"]), int(arrays["action_dim"]), size)
        for name in ("obs", "next_obs", "action", "cost", "terminated", "truncated", "fell", "episode", "step"):
            getattr(buffer, name)[:n] = arrays[name]
        buffer._size, buffer._cursor = n, n % buffer.capacity
        # Episode ids restart after the largest stored id so new data never merges into old.
        last_id = int(arrays["episode"][-1]) if n else -1
        running = int(arrays["current_episode_step"]) if "current_episode_step" in arrays else 0
        buffer._episode_id = last_id if running > 0 else last_id + 1
        buffer._episode_step = running
        buffer._episodes_finished = buffer._episode_id
        return buffer
