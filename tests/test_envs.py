"""CliffCar-v0 and make_env: the behaviour the issue asks for, on CPU, in seconds."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.cliff_car import COST_TERMS, N_FRONT_RAYS, N_RAYS, OBS_NAMES
from envs.cliff_car_layout import segment_clearance

SEEDS = range(20)
RANGE_SLICE = slice(7, 7 + N_RAYS)
FRONT_RAY = 7 + N_FRONT_RAYS // 2


# ----------------------------------------------------------------------------- controllers
def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def steer_towards(env: gym.Env, target: np.ndarray, throttle: float = 1.0) -> np.ndarray:
    """Turn in place when facing away, drive when roughly facing the world-xy target."""
    car = env.unwrapped
    delta = target - car.car_xy
    bearing = _wrap(math.atan2(delta[1], delta[0]) - car.car_yaw)
    forward = throttle * max(0.0, math.cos(bearing)) ** 4
    return np.array([forward, np.clip(2.0 * bearing, -1.0, 1.0)], dtype=np.float32)


def safe_policy(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    """Privileged scripted driver: go round the reflex corner when the direct line is unsafe."""
    layout = env.unwrapped.layout
    car = layout.to_plateau_frame(env.unwrapped.car_xy)
    goal = layout.to_plateau_frame(layout.goal)
    if segment_clearance(car, goal) >= 0.8:
        return steer_towards(env, layout.goal)
    inner_corner_waypoint = layout.to_world_frame(np.array([-1.5, -1.5]))
    return steer_towards(env, inner_corner_waypoint)


def greedy_policy(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    """Full throttle, steer proportional to the observed goal bearing."""
    bearing = math.atan2(obs[5], obs[4])
    return np.array([1.0, np.clip(2.0 * bearing, -1.0, 1.0)], dtype=np.float32)


def run_episode(env: gym.Env, policy, seed: int) -> tuple[dict, int]:
    obs, _ = env.reset(seed=seed)
    for t in range(1, 10_000):
        obs, _, terminated, truncated, info = env.step(policy(obs, env))
        if terminated or truncated:
            return info, t
    raise AssertionError("episode did not end")


def nearest_edge_target(env: gym.Env) -> np.ndarray:
    """World xy 3 m past the edge point nearest to the car, over the void."""
    layout = env.unwrapped.layout
    x, y = layout.to_plateau_frame(env.unwrapped.car_xy)
    # The void is {x > 0, y > 0}: the nearest edge is x = 0 (for y > 0) or y = 0 (for x > 0).
    if y > 0:
        target = np.array([3.0, y])
    elif x > 0:
        target = np.array([x, 3.0])
    else:
        target = np.array([3.0, 3.0])
    return layout.to_world_frame(target)


@pytest.fixture
def env():
    environment = envs.make_env("cliff-car")
    yield environment
    environment.close()


# ----------------------------------------------------------------------------- API conformance
def test_check_env_passes():
    environment = envs.CliffCarEnv()
    check_env(environment, skip_render_check=True)
    check_env(envs.make_env("cliff-car").unwrapped)


def test_spaces_and_time_limit(env):
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert env.observation_space.shape == (len(OBS_NAMES),)
    assert np.all(np.isfinite(env.observation_space.low))
    assert np.all(np.isfinite(env.observation_space.high))
    assert env.spec.max_episode_steps == 300
    assert env.unwrapped.dt == pytest.approx(0.05)


def test_observations_stay_in_bounds_over_random_rollouts(env):
    rng = np.random.default_rng(0)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        for _ in range(150):
            action = rng.uniform(-1.5, 1.5, size=2).astype(np.float32)
            obs, _, terminated, truncated, _ = env.step(action)
            assert obs.dtype == np.float32
            assert env.observation_space.contains(obs), obs
            if terminated or truncated:
                break


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_layout_observations_and_rewards():
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, size=(60, 2)).astype(np.float32)
    runs = []
    for _ in range(2):
        environment = envs.make_env("cliff-car")
        obs, _ = environment.reset(seed=7)
        layout = environment.unwrapped.layout
        trace = [obs]
        rewards = []
        for action in actions:
            obs, reward, terminated, truncated, _ = environment.step(action)
            trace.append(obs)
            rewards.append(reward)
            if terminated or truncated:
                break
        runs.append((layout, np.array(trace), np.array(rewards)))
    (layout_a, obs_a, rew_a), (layout_b, obs_b, rew_b) = runs
    np.testing.assert_array_equal(layout_a.goal, layout_b.goal)
    np.testing.assert_array_equal(layout_a.corner, layout_b.corner)
    assert layout_a.plateau_yaw == layout_b.plateau_yaw
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)


def test_different_seeds_give_different_layouts(env):
    layouts = []
    for seed in range(5):
        env.reset(seed=seed)
        layouts.append(env.unwrapped.layout)
    corners = np.array([layout.corner for layout in layouts])
    goals = np.array([layout.goal for layout in layouts])
    yaws = np.array([layout.plateau_yaw for layout in layouts])
    assert len(np.unique(yaws)) == 5
    assert np.all(
        np.linalg.norm(corners[:, None] - corners[None], axis=-1)[~np.eye(5, dtype=bool)] > 1e-3
    )
    assert np.all(
        np.linalg.norm(goals[:, None] - goals[None], axis=-1)[~np.eye(5, dtype=bool)] > 1e-3
    )


def test_layout_geometry_respects_the_spec(env):
    kinds = []
    for seed in range(40):
        env.reset(seed=seed)
        layout = env.unwrapped.layout
        start = layout.to_plateau_frame(layout.start)
        goal = layout.to_plateau_frame(layout.goal)
        assert 4.0 - 1e-9 <= np.linalg.norm(goal - start) <= 9.0 + 1e-9
        assert segment_clearance(start, start) >= 1.0 - 1e-9  # start >= 1 m from the edges
        assert segment_clearance(goal, goal) >= 1.0 - 1e-9
        crossing = segment_clearance(start, goal) < 0.0
        assert crossing == layout.crosses_void
        kinds.append(crossing)
    assert 0.4 <= np.mean(kinds) <= 0.85  # cross_void_probability = 0.6


# ----------------------------------------------------------------------------- behaviour
def test_driving_straight_at_the_edge_falls_with_the_fall_cost():
    environment = envs.make_env("cliff-car", fall_cost=123.0)
    environment.reset(seed=3)
    target = nearest_edge_target(environment)
    saw_the_drop_before_falling = False
    for _ in range(300):
        obs, reward, terminated, truncated, info = environment.step(
            steer_towards(environment, target)
        )
        if obs[6] > 0.05 and obs[FRONT_RAY] >= environment.unwrapped._max_range:
            saw_the_drop_before_falling = True
        if terminated or truncated:
            break
    assert info["fell"] and terminated and not truncated
    assert not info["success"]
    assert info["cost_fall"] == 123.0
    assert info["cost"] > 100.0
    assert reward == -info["cost"]
    assert saw_the_drop_before_falling, "the front rangefinder should read max_range at the edge"


def test_scripted_controller_that_avoids_the_edge_reaches_the_goal(env):
    results = [run_episode(env, safe_policy, seed) for seed in SEEDS]
    successes = sum(info["success"] for info, _ in results)
    falls = sum(info["fell"] for info, _ in results)
    assert successes >= 16, f"scripted driver reached the goal on {successes}/20 seeds"
    assert falls == 0
    assert all(info["distance_to_goal"] <= 0.5 for info, _ in results if info["success"])


def test_greedy_corner_cutter_falls_on_at_least_a_third_of_seeds(env):
    falls = sum(run_episode(env, greedy_policy, seed)[0]["fell"] for seed in SEEDS)
    assert falls >= 7, f"greedy controller fell on only {falls}/20 seeds: the task is too easy"


def test_cost_terms_sum_to_cost_and_reward_is_minus_cost(env):
    rng = np.random.default_rng(2)
    seen_terminal = False
    for seed in range(3):
        env.reset(seed=seed)
        for _ in range(300):
            obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 2))
            terms = [info[f"cost_{name}"] for name in COST_TERMS]
            assert info["cost"] == pytest.approx(sum(terms), abs=1e-12)
            assert reward == -info["cost"]
            assert info["distance_to_goal"] == pytest.approx(obs[3], abs=1e-5)
            if terminated or truncated:
                seen_terminal |= terminated
                break
    # A terminal step (fall or success) also sums up: drive one off the edge.
    env.reset(seed=0)
    target = nearest_edge_target(env)
    for _ in range(300):
        _, reward, terminated, _, info = env.step(steer_towards(env, target))
        if terminated:
            break
    assert info["fell"]
    assert info["cost"] == pytest.approx(sum(info[f"cost_{n}"] for n in COST_TERMS), abs=1e-12)
    assert reward == -info["cost"]


def test_driving_toward_the_goal_costs_less_than_driving_away(env):
    env.reset(seed=5, options={"cross_void": False})
    goal = env.unwrapped.layout.goal
    toward, away = 0.0, 0.0
    for _ in range(30):
        toward += env.step(steer_towards(env, goal))[1]
    env.reset(seed=5, options={"cross_void": False})
    start = env.unwrapped.car_xy
    for _ in range(30):
        away += env.step(steer_towards(env, 2 * start - goal, throttle=0.3))[1]
    assert toward > away + 1.0  # rewards: toward the goal earns more


def test_reset_options_force_the_layout_kind(env):
    for seed in range(5):
        _, info = env.reset(seed=seed, options={"cross_void": True})
        assert info["crosses_void"] and env.unwrapped.layout.crosses_void
        _, info = env.reset(seed=seed, options={"cross_void": False})
        assert not info["crosses_void"]
    with pytest.raises(ValueError, match="cross_void"):
        env.reset(seed=0, options={"layout": "cross"})


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [[np.nan, 0.0], [0.0, np.inf]])
def test_nan_or_inf_action_raises_a_clear_error(env, bad):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.array(bad, dtype=np.float32))


def test_wrong_action_shape_raises(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.unwrapped.step(np.zeros(3))


def test_out_of_range_action_is_clipped():
    results = []
    for action in ([5.0, -3.0], [1.0, -1.0]):
        environment = envs.CliffCarEnv()
        environment.reset(seed=4)
        for _ in range(10):
            obs, reward, *_ = environment.step(np.array(action))
        results.append((obs, reward))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fall_cost": -1.0}, ValueError),
        ({"fall_cost": "100"}, TypeError),
        ({"goal_radius": 0.0}, ValueError),
        ({"fall_height": 0.5}, ValueError),
        ({"cross_void_probability": 1.5}, ValueError),
        ({"frame_skip": 0}, ValueError),
        ({"render_mode": "video"}, ValueError),
    ],
)
def test_bad_constructor_arguments_raise(kwargs, error):
    with pytest.raises(error, match="CliffCarEnv"):
        envs.CliffCarEnv(**kwargs)


# ----------------------------------------------------------------------------- rendering
def test_rgb_array_render_is_a_non_blank_frame():
    environment = envs.make_env("cliff-car", render_mode="rgb_array", width=96, height=64)
    environment.reset(seed=0)
    environment.step(np.array([1.0, 0.0], dtype=np.float32))
    frame = environment.render()
    environment.close()
    assert frame.shape == (64, 96, 3)
    assert frame.dtype == np.uint8
    assert frame.std() > 10.0  # not one flat colour
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20


# ----------------------------------------------------------------------------- oracle rollouts
def test_rollout_costs_match_stepping_and_leave_the_state_unchanged():
    environment = envs.CliffCarEnv()
    environment.reset(seed=3)
    for _ in range(5):
        environment.step(np.array([0.5, 0.2]))
    qpos, qvel = environment.data.qpos.copy(), environment.data.qvel.copy()
    obs_before = environment._get_obs()

    rng = np.random.default_rng(0)
    horizon = 60
    random_actions = rng.uniform(-1.0, 1.0, size=(2, horizon, 2))
    # A sequence that falls: turn to face the nearest edge, then full throttle.
    probe = envs.CliffCarEnv()
    probe.reset(seed=3)
    for _ in range(5):
        probe.step(np.array([0.5, 0.2]))
    target = nearest_edge_target(gym.wrappers.TimeLimit(probe, 300))
    falling = []
    for _ in range(horizon):
        action = steer_towards(gym.wrappers.TimeLimit(probe, 300), target)
        falling.append(action)
        probe.step(action)
    actions = np.concatenate([random_actions, np.array(falling, dtype=np.float64)[None]])

    costs = environment.rollout_costs(actions)
    assert costs.shape == (3,)
    np.testing.assert_array_equal(environment.rollout_costs(actions, n_threads=2), costs)
    np.testing.assert_array_equal(environment.data.qpos, qpos)
    np.testing.assert_array_equal(environment.data.qvel, qvel)
    np.testing.assert_array_equal(environment._get_obs(), obs_before)

    fell = []
    for sequence, cost in zip(actions, costs, strict=True):
        replay = envs.CliffCarEnv()
        replay.reset(seed=3)
        for _ in range(5):
            replay.step(np.array([0.5, 0.2]))
        total, info = 0.0, {}
        for action in sequence:
            _, reward, terminated, _, info = replay.step(action)
            total -= reward
            if terminated:
                break
        fell.append(info["fell"])
        assert cost == pytest.approx(total, abs=1e-6)
    assert fell[2], "the edge-seeking sequence should fall"
    assert costs[2] > 50.0


def test_rollout_costs_reject_bad_shapes_and_nan():
    environment = envs.CliffCarEnv()
    environment.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(N, H, 2\)"):
        environment.rollout_costs(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        environment.rollout_costs(np.full((1, 3, 2), np.nan))


# ----------------------------------------------------------------------------- make_env
def test_make_env_resolves_a_short_name_and_forwards_kwargs():
    environment = envs.make_env("cliff-car", fall_cost=7.0)
    assert isinstance(environment.unwrapped, envs.CliffCarEnv)
    assert environment.unwrapped._fall_cost == 7.0
    assert environment.spec.id == "CliffCar-v0"
    assert "cliff-car" in envs.SHORT_NAMES


def test_make_env_resolves_a_registered_gymnasium_id():
    environment = envs.make_env("Pendulum-v1", g=3.0)
    assert environment.unwrapped.g == 3.0
    assert isinstance(envs.make_env("CliffCar-v0").unwrapped, envs.CliffCarEnv)


USER_ENVS = (
    "import gymnasium as gym\n"
    "import numpy as np\n\n"
    "class Corridor(gym.Env):\n"
    "    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)\n"
    "    action_space = gym.spaces.Discrete(2)\n"
    "    def __init__(self, length=5):\n"
    "        self.length = length\n"
    "    def reset(self, *, seed=None, options=None):\n"
    "        super().reset(seed=seed)\n"
    "        return np.zeros(1, np.float32), {}\n"
    "    def step(self, action):\n"
    "        return np.zeros(1, np.float32), 0.0, True, False, {}\n\n"
    "def make_long(**kwargs):\n"
    "    return Corridor(length=50, **kwargs)\n\n"
    "def not_an_env():\n"
    "    return 42\n\n"
    "def broken():\n"
    "    raise RuntimeError('the simulator is not installed\\nsecond line')\n\n"
    "NOT_CALLABLE = 3\n"
)


@pytest.fixture
def user_envs(tmp_path, monkeypatch):
    """A user's env module ``my_user_envs``, importable through ``sys.path``."""
    (tmp_path / "my_user_envs.py").write_text(USER_ENVS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "my_user_envs", raising=False)
    return tmp_path


def test_make_env_resolves_a_user_factory_from_a_module(user_envs):
    environment = envs.make_env("my_user_envs:Corridor", length=9)
    assert type(environment).__name__ == "Corridor" and environment.length == 9
    assert envs.make_env("my_user_envs:make_long").length == 50


def _one_line_error(spec: str, **kwargs) -> str:
    with pytest.raises(envs.MakeEnvError) as excinfo:
        envs.make_env(spec, **kwargs)
    message = str(excinfo.value)
    assert "\n" not in message and repr(spec) in message, message
    assert isinstance(excinfo.value, ValueError)  # callers that catch ValueError keep working
    return message


@pytest.mark.parametrize(
    ("spec", "kwargs", "says"),
    [
        ("my_user_envs:not_an_env", {}, ["returned int", "expected a gymnasium.Env"]),
        ("my_user_envs:Missing", {}, ["no attribute 'Missing'", "It defines: Corridor, broken"]),
        ("my_user_envs:make_lon", {}, ["Did you mean 'make_long'"]),
        ("my_user_envs:Corridor.nope", {}, ["'my_user_envs.Corridor' has no attribute 'nope'"]),
        ("my_user_envs:NOT_CALLABLE", {}, ["not callable"]),
        ("my_user_envs:broken", {}, ["broken(**{}) raised RuntimeError: the simulator is not installed"]),
        ("my_user_envs:Corridor", {"width": 3}, ["raised TypeError", "width"]),
        ("no_such_module:Env", {}, ["cannot import module 'no_such_module'", "PYTHONPATH"]),
        ("cliff-car", {"fall_cost": -1.0}, ["raised ValueError", "fall_cost must be >= 0"]),
    ],
)
def test_every_make_env_failure_is_one_line_that_says_what_to_do(user_envs, spec, kwargs, says):
    message = _one_line_error(spec, **kwargs)
    for part in says:
        assert part in message, message


def test_make_env_reports_a_missing_dependency_of_a_user_module_as_such(tmp_path, monkeypatch):
    (tmp_path / "needs_dep.py").write_text("import surely_not_installed_dep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    message = _one_line_error("needs_dep:Env")
    assert "needs 'surely_not_installed_dep'" in message and "python -c 'import needs_dep'" in message


def test_make_env_reports_a_user_module_that_fails_to_import(tmp_path, monkeypatch):
    (tmp_path / "bad_syntax_env.py").write_text("def oops(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "raised SyntaxError" in _one_line_error("bad_syntax_env:Env")


def test_make_env_does_not_import_from_the_working_directory_on_its_own(tmp_path, monkeypatch):
    """Only what Python itself can import: the error says how to make the module importable."""
    (tmp_path / "cwd_only_env.py").write_text(
        "import gymnasium as gym\n\ndef make():\n    return gym.make('Pendulum-v1')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        "sys.path", [p for p in __import__("sys").path if p not in ("", ".", str(tmp_path))]
    )
    message = _one_line_error("cwd_only_env:make")
    assert "cannot import module 'cwd_only_env'" in message and "PYTHONPATH=." in message
    assert str(tmp_path) not in __import__("sys").path
    monkeypatch.syspath_prepend(str(tmp_path))  # what PYTHONPATH=. does
    assert envs.make_env("cwd_only_env:make").spec.id == "Pendulum-v1"


@pytest.mark.parametrize("spec", ["garbage", "cliff_car", "Cliffcar-v9", "no_such_module:Env", ""])
def test_make_env_rejects_garbage_with_the_accepted_forms(spec):
    message = _one_line_error(spec)
    if ":" not in spec:
        assert "short name" in message and "registered Gymnasium id" in message
        assert "package.module:Factory" in message and "cliff-car" in message


def test_make_env_suggests_a_close_match():
    with pytest.raises(ValueError, match="Did you mean 'cliff-car'"):
        envs.make_env("clif-car")


def test_make_env_rejects_a_non_string_spec():
    with pytest.raises(TypeError, match="must be a string"):
        envs.make_env(3)


# ----------------------------------------------------------------------------- DeepMind Control
DMC_SPEC = "dm_control/cartpole-swingup-v0"


def test_make_env_names_the_dmc_extra_when_shimmy_is_missing(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "shimmy", None)  # import shimmy -> ImportError
    message = _one_line_error(DMC_SPEC)
    assert "Shimmy and dm_control" in message and envs.DMC_INSTALL in message


def test_make_env_builds_a_dmc_task_flattened_or_says_which_mujoco_it_needs():
    """With the "dmc" extra (MuJoCo 3.x) the task builds as a flat Box env that steps; on MuJoCo 4,
    which dm_control 1.0.50 does not run on, the error says so and how to install the extra."""
    pytest.importorskip("shimmy")
    pytest.importorskip("dm_control")
    import mujoco

    if int(mujoco.__version__.split(".")[0]) >= 4:
        message = _one_line_error(DMC_SPEC)
        assert f"MuJoCo {mujoco.__version__}" in message and envs.DMC_INSTALL in message
        return
    environment = envs.make_env(DMC_SPEC)
    assert isinstance(environment.observation_space, gym.spaces.Box)
    assert environment.observation_space.shape == (5,)  # cart position, pole cos/sin, two velocities
    first, _ = environment.reset(seed=0)
    again, _ = environment.reset(seed=0)
    np.testing.assert_array_equal(first, again)
    obs, reward, terminated, truncated, _ = environment.step(environment.action_space.sample())
    assert obs.shape == (5,) and np.isfinite(reward) and not terminated and not truncated


def test_make_env_suggests_a_close_dmc_task():
    pytest.importorskip("shimmy")
    message = _one_line_error("dm_control/cartpole-swingp-v0")
    assert "Did you mean 'dm_control/cartpole-swingup-v0'" in message
