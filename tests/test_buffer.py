"""Replay buffer windows, npz round trip, action scaling and vector-env collection."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from agent.buffer import ReplayBuffer, denormalize_action, normalize_action
from agent.collect import TRAIN_SEED_OFFSET, collect


def fill(buffer: ReplayBuffer, lengths, end="terminated"):
    """Episodes whose obs encode (episode, step): obs = [episode, step], next_obs = [episode, step + 1]."""
    for ep, length in enumerate(lengths):
        for t in range(length):
            last = t == length - 1
            buffer.add([ep, t], [0.1 * t], cost=float(t), next_obs=[ep, t + 1],
                       terminated=last and end == "terminated", truncated=last and end == "truncated",
                       fell=last and end == "terminated" and ep % 2 == 0)


@pytest.mark.parametrize("capacity", [1000, 37])  # 37: the ring wraps and overwrites old episodes
def test_windows_never_cross_episode_ends(capacity):
    buffer = ReplayBuffer(obs_dim=2, action_dim=1, capacity=capacity)
    fill(buffer, [3, 9, 1, 14, 6, 2, 11])
    batch = buffer.sample(512, horizon=5, rng=np.random.default_rng(0))
    obs, mask, term = batch["obs"], batch["mask"], batch["terminated"]
    assert obs.shape == (512, 6, 2) and mask.shape == (512, 5)
    assert torch.all(mask[:, 0] == 1), "the first transition of a window is always real"
    for b in range(512):
        valid = int(mask[b].sum())
        assert torch.all(mask[b, :valid] == 1) and torch.all(mask[b, valid:] == 0)
        episode = obs[b, 0, 0]
        # every real transition continues the same episode by exactly one step
        assert torch.all(obs[b, : valid + 1, 0] == episode)
        assert torch.all(torch.diff(obs[b, : valid + 1, 1]) == 1)
        # termination can only be the last real transition, and padding repeats the last obs
        assert term[b, : valid - 1].sum() == 0
        assert torch.all(obs[b, valid + 1 :] == obs[b, valid])
        assert torch.all(batch["cost"][b, valid:] == 0)
    assert term.sum() > 0 and batch["fell"].sum() > 0


def test_truncation_ends_windows_and_counts():
    buffer = ReplayBuffer(2, 1, 100)
    fill(buffer, [4, 4], end="truncated")
    assert buffer.num_steps == 8 and buffer.num_episodes == 2 and buffer.num_falls == 0
    batch = buffer.gather(np.array([0, 2]), horizon=4)
    assert batch["mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["truncated"][1].tolist() == [0, 1, 0, 0] and batch["terminated"].sum() == 0


def test_npz_round_trip(tmp_path):
    buffer = ReplayBuffer(2, 1, 40)
    fill(buffer, [5, 12, 7, 30])  # wraps
    buffer.save(tmp_path / "buf.npz")
    loaded = ReplayBuffer.load(tmp_path / "buf.npz")
    assert (loaded.num_steps, loaded.num_episodes, loaded.num_falls) == (buffer.num_steps, buffer.num_episodes, buffer.num_falls)
    a = buffer.sample(64, 6, np.random.default_rng(3))
    b = loaded.sample(64, 6, np.random.default_rng(3))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # new data after loading starts a new episode
    loaded.add([99, 0], [0.0], 0.0, [99, 1], False, False)
    assert loaded.episode[loaded.valid_slots()[-1]] > buffer.episode.max()


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        ReplayBuffer.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        ReplayBuffer.load(tmp_path / "junk.npz")


def test_add_rejects_wrong_shapes():
    buffer = ReplayBuffer(3, 2, 10)
    with pytest.raises(ValueError, match=r"obs and next_obs must have shape \(3,\)"):
        buffer.add(np.zeros(4), np.zeros(2), 0.0, np.zeros(3), False, False)
    with pytest.raises(ValueError, match=r"action must have shape \(2,\)"):
        buffer.add(np.zeros(3), np.zeros(1), 0.0, np.zeros(3), False, False)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4, 3, np.random.default_rng(0))


def test_action_scaling_round_trip():
    space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32), dtype=np.float32)
    actions = np.array([[-2.0, 0.0], [0.0, 5.0], [2.0, 10.0]])
    u = normalize_action(actions, space)
    np.testing.assert_allclose(u, [[-1, -1], [0, 0], [1, 1]], atol=1e-6)
    np.testing.assert_allclose(denormalize_action(u, space), actions, atol=1e-5)
    with pytest.raises(ValueError, match="finite"):
        normalize_action(actions, gym.spaces.Box(-np.inf, np.inf, (2,)))


class CountingEnv(gym.Env):
    """obs = [step count, reset seed marker]; ends at a random length, falls on odd lengths."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    seeds: list = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            CountingEnv.seeds.append(seed)
        self.t, self.length = 0, int(self.np_random.integers(2, 9))
        return np.array([0.0, 1.0], np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        info = {"fell": done and self.length % 2 == 1, "success": done and self.length % 2 == 0}
        return np.array([self.t, 0.0], np.float32), -float(self.t), done and self.length < 8, done and self.length == 8, info


def test_collect_stores_true_final_observation_and_flags():
    CountingEnv.seeds = []
    buffer, stats = collect(CountingEnv, num_steps=400, seed=2, num_envs=3)
    assert stats.steps == buffer.num_steps >= 400
    assert all(s >= TRAIN_SEED_OFFSET for s in CountingEnv.seeds) and len(set(CountingEnv.seeds)) == 3
    for slots in buffer.episodes():
        steps = buffer.obs[slots, 0]
        np.testing.assert_array_equal(steps, np.arange(len(slots)))  # starts at a reset obs
        # SAME_STEP autoreset: next_obs of the last step is the final obs, not the reset obs
        np.testing.assert_array_equal(buffer.next_obs[slots, 0], np.arange(1, len(slots) + 1))
        np.testing.assert_array_equal(buffer.cost[slots], np.arange(1, len(slots) + 1))
    ends = buffer.terminated | buffer.truncated
    assert stats.episodes == int(ends[: buffer.num_steps].sum())
    assert stats.falls == buffer.num_falls > 0 and stats.successes > 0
    assert np.all(buffer.fell <= buffer.terminated)  # falls are terminations
    assert np.abs(buffer.action[: buffer.num_steps]).max() <= 1.0
    # temporally correlated: consecutive actions differ much less than independent draws would
    assert np.abs(np.diff(buffer.action[: buffer.num_steps, 0])).mean() < 0.5


def test_collect_is_deterministic():
    a, sa = collect("Pendulum-v1", 300, seed=5, num_envs=2)
    b, sb = collect("Pendulum-v1", 300, seed=5, num_envs=2)
    c, _ = collect("Pendulum-v1", 300, seed=6, num_envs=2)
    assert sa == sb
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.action, b.action)
    assert not np.array_equal(a.obs, c.obs)


def test_cliff_car_exploration_reaches_edges_and_goals():
    envs = pytest.importorskip("envs")

    assert envs.make_env("cliff-car").spec.id == "CliffCar-v0"
    buffer, stats = collect("cliff-car", 3000, seed=2, num_envs=8, guide="env", guide_fraction=0.5)
    assert stats.falls >= 3 and stats.successes >= 1, stats
    assert buffer.num_falls == stats.falls
    fell = buffer.fell[: buffer.num_steps]
    # falls carry the env's fall penalty; successes are terminations that are not falls
    assert np.all(buffer.cost[: buffer.num_steps][fell] > 50)
    assert int((buffer.terminated[: buffer.num_steps] & ~fell).sum()) == stats.successes


def _episodes_buffer(num: int = 30, fall_every: int = 5, seed: int = 0) -> tuple[ReplayBuffer, np.ndarray]:
    """Episodes of 5-29 steps whose observations carry their index; every ``fall_every``-th falls."""
    buffer = ReplayBuffer(obs_dim=3, action_dim=2, capacity=1000)
    lengths = np.random.default_rng(seed).integers(5, 30, size=num)
    for i, length in enumerate(lengths):
        for t in range(length):
            last = t == length - 1
            buffer.add(np.full(3, i, np.float32), np.zeros(2), 0.1, np.full(3, i, np.float32),
                       terminated=last and i % fall_every == 0, truncated=last and i % fall_every != 0,
                       fell=last and i % fall_every == 0)
    return buffer, lengths


def _fall_share(buffer: ReplayBuffer) -> float:
    episodes = buffer.episodes()
    return sum(len(e) for e in episodes if buffer.fell[e].any()) / sum(len(e) for e in episodes)


def test_subset_keeps_whole_episodes_in_the_data_proportions(tmp_path):
    buffer, lengths = _episodes_buffer()
    budget = buffer.num_steps // 2
    subset = buffer.subset(budget, np.random.default_rng(1))
    assert budget - 29 <= subset.num_steps <= budget  # whole episodes: at most one short of the budget
    # the share of steps in fall episodes stays the data's (every fall first would double it here)
    assert abs(_fall_share(subset) - _fall_share(buffer)) < 0.1, (_fall_share(subset), _fall_share(buffer))
    assert 0 < subset.num_falls < buffer.num_falls
    for slots in subset.episodes():  # each kept episode is whole: one source id, full length
        ids = np.unique(subset.obs[slots, 0])
        assert ids.size == 1 and len(slots) == lengths[int(ids[0])]
    subset.save(tmp_path / "r.npz")
    grown = ReplayBuffer.load(tmp_path / "r.npz", capacity=5000)
    assert grown.capacity == 5000 and grown.num_steps == subset.num_steps


def test_subset_keeps_a_fall_even_when_falls_are_rare():
    buffer, _ = _episodes_buffer(num=30, fall_every=29)  # episodes 0 and 29 fall
    subset = buffer.subset(40, np.random.default_rng(0))
    assert subset.num_falls >= 1 and subset.num_steps <= 40
