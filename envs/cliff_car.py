"""CliffCar-v0: drive a differential-drive car to a goal on a plateau without falling off.

The MuJoCo model lives in `envs/assets/cliff_car.xml` (its opening comment lists joints,
actuators and sensors in order). The env follows the conventions of Gymnasium's own
MuJoCo envs (`gymnasium/envs/mujoco/half_cheetah_v5.py`): a markdown class docstring,
every cost weight a typed keyword argument, cost terms in `info`, randomness drawn from
`self.np_random`, and the time limit left to `register(..., max_episode_steps=...)`.
"""

from __future__ import annotations

import math
from typing import Any

import mujoco
import numpy as np
from gymnasium import spaces, utils
from gymnasium.envs.mujoco import MujocoEnv

from envs import cliff_car_drivers
from envs.cliff_car_layout import CliffCarLayout, draw_layout
from envs.cliff_car_model import (
    ASSET_PATH,
    CAR_REACH,
    CLIFF_DEPTH,
    MIN_DROP_HEIGHT,
    Rangefinders,
    load_model,
    rollout_positions,
)

N_FRONT_RAYS = 11  # 90 deg right to 90 deg left in 18 deg steps
N_REAR_RAYS = 5  # 120 to 240 deg: backing up is driving too
N_RAYS = N_FRONT_RAYS + N_REAR_RAYS
"""Rangefinders in the fan, right (-90 deg) to left (+90 deg) in steps of 18 deg."""

OBS_NAMES = (
    "forward_velocity",
    "lateral_velocity",
    "yaw_rate",
    "goal_distance",
    "goal_bearing_cos",
    "goal_bearing_sin",
    "height",
) + tuple(f"range_{i}" for i in range(N_RAYS))
"""Name of each observation index, in order."""

COST_TERMS = ("progress", "control", "time", "fall", "success")
"""Cost terms reported in `info` as `cost_<name>`; they sum to `info["cost"]`."""

SURVIVABLE_DROP_HEIGHT = 1.0
"""Edges that drop at most this far (m) are survivable: driving off one is a drop, not a fall."""

_ARM_HALF_EXTENT = 15.0  # the plateau reaches this far from the corner (see the XML)
_START_HEIGHT = 0.1  # car body origin above the plateau when its wheels touch it
_CLIFF_FALL_HEIGHT = -0.5  # the 20 m cliff's detection height, and the shallowest any world uses


def _yaw_from_quat(q: np.ndarray) -> float:
    w, x, y, z = q
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def _check_weight(name: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(
            f"CliffCarEnv: {name} must be a float, got {type(value).__name__} {value!r}."
        )
    if not math.isfinite(value):
        raise ValueError(f"CliffCarEnv: {name} must be finite, got {value}.")
    if value < minimum:
        raise ValueError(f"CliffCarEnv: {name} must be >= {minimum}, got {value}.")
    return float(value)


class CliffCarEnv(MujocoEnv, utils.EzPickle):
    r"""
    ## Description
    A two-wheeled car (differential drive, a low-friction front skid) starts on a raised,
    L-shaped plateau whose two straight edges meet at a reflex corner and drop 20 m to low
    ground (`drop_height`; `CliffCarKerb-v0` is this world with 40 cm kerbs). It must drive
    to a goal on the plateau. In most layouts the goal lies on the
    other arm of the L, so the straight line from start to goal runs over the void: a
    controller that cuts the corner falls. Per reset the plateau is moved and turned, and
    the start pose and goal are drawn anew, so a policy must read the edge from its
    rangefinders rather than memorise a map.

    ## Action Space
    `Box(-1, 1, (2,), float32)`:

    | Num | Action  | Meaning at +1                                     |
    |-----|---------|---------------------------------------------------|
    | 0   | forward | both wheels forward at 20 rad/s (2 m/s)           |
    | 1   | turn    | right wheel +6 rad/s, left -6 rad/s on top: turn left (~3 rad/s in place) |

    Each is the target of a velocity servo with limited force, so the car accelerates
    over about a second. Actions outside [-1, 1] are clipped (not an error); an action with
    NaN or inf, or of the wrong shape, raises `ValueError`.

    ## Observation Space
    `Box(float32, (23,))`, finite bounds; values are clipped into them. Frames are the
    car's heading frame (x forward, y left, z up):

    | Num  | Observation                                   | Unit  | Bounds      |
    |------|-----------------------------------------------|-------|-------------|
    | 0    | forward velocity                              | m/s   | [-5, 5]     |
    | 1    | lateral velocity                              | m/s   | [-5, 5]     |
    | 2    | yaw rate                                      | rad/s | [-10, 10]   |
    | 3    | distance to the goal (in the ground plane)    | m     | [0, 40]     |
    | 4    | cos of the goal bearing (0 = straight ahead)  |       | [-1, 1]     |
    | 5    | sin of the goal bearing (+ = to the left)     |       | [-1, 1]     |
    | 6    | height of the car body above the plateau top  | m     | [-2, 2]     |
    | 7-17 | front rangefinders, 90 deg right to 90 deg left in 18 deg steps, pitched 11 deg down from a 0.36 m mast | m | [0, `max_range`] |
    | 18-22 | rear rangefinders at 120, 150, 180, 210, 240 deg (counter-clockwise from ahead), same pitch | m | [0, `max_range`] |

    On flat ground a ray reads about 1.8 m; over the void it reads `max_range` (MuJoCo's
    -1 "no hit" too). No map coordinates are observed.

    ## Rewards
    reward = -cost, cost = sum of the terms, each reported in `info` as `cost_<name>`:
    - *progress*: `-progress_weight * (d_prev - d_now)`, d the distance to the goal;
      negative when the car gets closer.
    - *control*: `control_cost_weight * |a|^2` (clipped action).
    - *time*: `time_cost` every step.
    - *fall*: `fall_cost` on the step the car drives off the plateau (falls, or drops off a kerb).
    - *success*: `-success_bonus` on the step the car reaches the goal.

    ## Starting State
    The plateau corner is drawn uniformly in [-2, 2]^2 m and the plateau yaw in [-pi, pi).
    With probability `cross_void_probability` start and goal lie on different arms, the
    straight segment between them passing at least 1 m deep over the void; otherwise they
    lie on the same arm, 1-3 m from its edge. Start and goal are at least 1 m from any edge
    and 4-9 m apart; the start heading is uniform in [-pi, pi); the car is at rest.
    `reset(options={"cross_void": bool})` forces the layout kind.

    ## Episode End
    - Termination (drove off an edge): the car body drops below `fall_height` (m, relative
      to the plateau top). `info["dropped"] = True` in every world; `info["fell"] = True`
      when the edges drop more than `SURVIVABLE_DROP_HEIGHT` (1 m), as the 20 m cliff's do.
    - Termination (success): the car is within `goal_radius` of the goal.
      `info["success"] = True`.
    - Truncation: 300 steps (15 s) through `register(..., max_episode_steps=300)`.

    ## Arguments
    `gymnasium.make("CliffCar-v0", fall_cost=200.0, render_mode="rgb_array")` or
    `envs.make_env("cliff-car", ...)`:

    | Parameter                | Type    | Default | Description |
    |--------------------------|---------|---------|-------------|
    | `progress_weight`        | float   | 1.0     | cost per metre gained (-) or lost (+) toward the goal |
    | `control_cost_weight`    | float   | 0.01    | cost per unit squared action |
    | `time_cost`              | float   | 0.01    | cost per step |
    | `fall_cost`              | float   | 100.0   | cost of driving off the plateau |
    | `success_bonus`          | float   | 10.0    | cost reduction for reaching the goal |
    | `goal_radius`            | float   | 0.5     | success distance (m) |
    | `drop_height`            | float   | 20.0    | how far the plateau's edges drop (m), in [0.4, 20]; below 20 m the low ground is a plane the rangefinders do not see (see `CliffCarKerbEnv`) |
    | `fall_height`            | float   | None    | height (m) of the car body below which it has driven off; None: -0.5, or `0.35 - drop_height` for drops under 0.85 m (before any part of the car can touch the low ground) |
    | `max_range`              | float   | 5.0     | rangefinder readings are clipped to this (m) |
    | `cross_void_probability` | float   | 0.6     | share of layouts whose start-goal line crosses the void |
    | `frame_skip`             | int     | 5       | physics steps (0.01 s) per env step |
    | `render_mode`            | str     | None    | "rgb_array" or "depth_array" (no "human" window) |
    | `width`, `height`        | int     | 480     | rendered frame size |
    | `camera_name`            | str     | "track" | "track" follows the car from above and behind |

    ## Exploration guides
    `CliffCarEnv.exploration_guides` lists two hand-written controllers (demonstrations, see
    `envs/cliff_car_drivers.py`): a goal seeker that ignores the edge and one that backs off
    from the void. A data collector may let them steer a share of its exploration episodes;
    each maps observations `(N, 23)` to actions `(N, 2)` and reads nothing else.

    ## Version History
    - v0: first version; `info["dropped"]` and `drop_height` added later (same dynamics,
      observations and rewards).
    """

    exploration_guides = (cliff_car_drivers.goal_seeker, cliff_car_drivers.cautious_seeker)
    """Hand-written controllers `(N, obs) -> (N, action)` offered to exploration (demonstrations)."""

    # No "human": its GLFW window cannot open on a headless machine, where check_env(env) would
    # crash trying it; record rgb_array frames instead.
    metadata = {"render_modes": ["rgb_array", "depth_array"], "render_fps": 20}

    def __init__(
        self,
        progress_weight: float = 1.0,
        control_cost_weight: float = 0.01,
        time_cost: float = 0.01,
        fall_cost: float = 100.0,
        success_bonus: float = 10.0,
        goal_radius: float = 0.5,
        fall_height: float | None = None,
        max_range: float = 5.0,
        cross_void_probability: float = 0.6,
        frame_skip: int = 5,
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        camera_name: str | None = "track",
        drop_height: float = CLIFF_DEPTH,
        **kwargs: Any,
    ):
        # Keywords, not positions: a subclass with other defaults (CliffCarKerbEnv) pickles too.
        utils.EzPickle.__init__(
            self,
            progress_weight=progress_weight,
            control_cost_weight=control_cost_weight,
            time_cost=time_cost,
            fall_cost=fall_cost,
            success_bonus=success_bonus,
            goal_radius=goal_radius,
            fall_height=fall_height,
            max_range=max_range,
            cross_void_probability=cross_void_probability,
            frame_skip=frame_skip,
            render_mode=render_mode,
            width=width,
            height=height,
            camera_name=camera_name,
            drop_height=drop_height,
            **kwargs,
        )
        self._progress_weight = _check_weight("progress_weight", progress_weight)
        self._control_cost_weight = _check_weight("control_cost_weight", control_cost_weight)
        self._time_cost = _check_weight("time_cost", time_cost)
        self._fall_cost = _check_weight("fall_cost", fall_cost)
        self._success_bonus = _check_weight("success_bonus", success_bonus)
        self._goal_radius = _check_weight("goal_radius", goal_radius, minimum=1e-3)
        self._drop_height = _check_weight("drop_height", drop_height, minimum=MIN_DROP_HEIGHT)
        if self._drop_height > CLIFF_DEPTH:
            raise ValueError(
                f"CliffCarEnv: drop_height must be in [{MIN_DROP_HEIGHT}, {CLIFF_DEPTH}] m (the floor "
                f"lies {CLIFF_DEPTH} m down), got {drop_height}."
            )
        if fall_height is None:  # as late as possible, but before the car can touch the low ground
            fall_height = max(_CLIFF_FALL_HEIGHT, round(CAR_REACH - self._drop_height, 9))
        # The car rests on the low ground with its body origin at _START_HEIGHT - drop_height.
        lowest = max(-19.0, round(_START_HEIGHT - self._drop_height + 0.01, 9))
        self._fall_height = _check_weight("fall_height", fall_height, minimum=lowest)
        if self._fall_height >= 0.0:
            raise ValueError(
                f"CliffCarEnv: fall_height must be < 0 (below the plateau top), got {fall_height}."
            )
        self._fatal_drop = self._drop_height > SURVIVABLE_DROP_HEIGHT
        self._max_range = _check_weight("max_range", max_range, minimum=0.1)
        self._cross_void_probability = _check_weight(
            "cross_void_probability", cross_void_probability
        )
        if self._cross_void_probability > 1.0:
            raise ValueError(
                f"CliffCarEnv: cross_void_probability must be in [0, 1], got {cross_void_probability}."
            )
        if isinstance(frame_skip, bool) or not isinstance(frame_skip, int) or frame_skip < 1:
            raise ValueError(f"CliffCarEnv: frame_skip must be a positive int, got {frame_skip!r}.")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"CliffCarEnv: render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}."
            )
        if self._drop_height < CLIFF_DEPTH:  # MuJoCo draws its sensors' rays, which stop at the low ground
            kwargs.setdefault("visual_options", {mujoco.mjtVisFlag.mjVIS_RANGEFINDER: False})
        # render_fps must match 1 / dt (MujocoEnv checks it).
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / (0.01 * frame_skip)))}

        obs_low = np.array([-5.0, -5.0, -10.0, 0.0, -1.0, -1.0, -2.0] + [0.0] * N_RAYS, np.float32)
        obs_high = np.array(
            [5.0, 5.0, 10.0, 40.0, 1.0, 1.0, 2.0] + [self._max_range] * N_RAYS, np.float32
        )
        observation_space = spaces.Box(obs_low, obs_high, dtype=np.float32)
        MujocoEnv.__init__(
            self,
            ASSET_PATH,
            frame_skip,
            observation_space=observation_space,
            render_mode=render_mode,
            width=width,
            height=height,
            camera_name=camera_name,
            **kwargs,
        )
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

        self._plateau_id = self.model.body("plateau").id
        self._goal_site_ids = (self.model.site("goal").id, self.model.site("goal_pole").id)
        self._goal_site_heights = self.model.site_pos[list(self._goal_site_ids), 2].copy()
        self._rangefinders = Rangefinders(self.model, N_RAYS)
        self._goal = np.zeros(2)
        self._layout: CliffCarLayout | None = None
        self._rollout_datas: list[mujoco.MjData] = []

    # ------------------------------------------------------------------ properties
    @property
    def layout(self) -> CliffCarLayout:
        """The map drawn at the last reset (privileged information, e.g. for scripted tests)."""
        if self._layout is None:
            raise RuntimeError("CliffCarEnv.layout: call reset() first.")
        return self._layout

    @property
    def goal(self) -> np.ndarray:
        """World xy of the goal, `(2,)`."""
        return self._goal.copy()

    @property
    def fall_cost(self) -> float:
        """Cost of driving off an edge (what `rollout_costs` charges for it)."""
        return float(self._fall_cost)

    @property
    def car_xy(self) -> np.ndarray:
        """World xy of the car body origin, `(2,)`."""
        return self.data.qpos[:2].copy()

    @property
    def car_yaw(self) -> float:
        """Heading of the car (rad)."""
        return _yaw_from_quat(self.data.qpos[3:7])

    # ------------------------------------------------------------------ gym API
    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = self._check_action(action)
        distance_before = self._distance_to_goal(self.data.qpos)
        self.data.ctrl[:] = action
        # mj_rnePostConstraint (MujocoEnv's default) is skipped: no force sensors here.
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        # Rangefinders are computed inside mj_step before the last integration; bring them
        # up to date with the state we observe.
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_sensorPos(self.model, self.data)

        distance = self._distance_to_goal(self.data.qpos)
        dropped = bool(self.data.qpos[2] < self._fall_height)  # drove off an edge
        fell = dropped and self._fatal_drop
        success = bool(distance <= self._goal_radius) and not dropped
        terms = self._cost_terms(distance_before, distance, action, dropped, success)
        cost = float(sum(terms.values()))
        info: dict[str, Any] = {
            "cost": cost,
            "fell": fell,
            "dropped": dropped,
            "success": success,
            "distance_to_goal": distance,
            **{f"cost_{name}": value for name, value in terms.items()},
        }
        return self._get_obs(), -cost, dropped or success, False, info

    def reset_model(self) -> np.ndarray:
        return self._apply_layout(self._draw_layout(cross_void=None))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset; `options={"cross_void": True | False}` forces the layout kind."""
        cross_void = None
        if options is not None:
            unknown = set(options) - {"cross_void"}
            if unknown:
                raise ValueError(
                    f"CliffCarEnv.reset: unknown option(s) {sorted(unknown)}; the only option "
                    "is 'cross_void' (bool)."
                )
            cross_void = options.get("cross_void")
            if cross_void is not None and not isinstance(cross_void, bool):
                raise TypeError(
                    f"CliffCarEnv.reset: options['cross_void'] must be a bool, got {cross_void!r}."
                )
        # MujocoEnv.reset calls reset_model(); we need the option there, so do it here.
        super(MujocoEnv, self).reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        obs = self._apply_layout(self._draw_layout(cross_void=cross_void))
        return obs, self._get_reset_info()

    def _get_reset_info(self) -> dict[str, Any]:
        distance = self._distance_to_goal(self.data.qpos)
        return {"distance_to_goal": distance, "crosses_void": self.layout.crosses_void}

    # ------------------------------------------------------------------ oracle
    def rollout_costs(self, actions: np.ndarray, n_threads: int = 1) -> np.ndarray:
        """Total cost of each open-loop action sequence from the current state.

        Simulates with `mujoco.rollout` on private `MjData`s: the env's state is unchanged.
        The cost per step is the one `step` reports (fall cost included); a sequence stops
        accumulating after the step on which it drives off an edge or reaches the goal.

        Args:
            actions: `(N, H, 2)` candidate action sequences (clipped to [-1, 1]).
            n_threads: native threads for the rollouts.

        Returns:
            `(N,)` float64 total cost per sequence (lower is better).
        """
        if self._layout is None:
            raise RuntimeError("rollout_costs: call reset() first.")
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 3 or actions.shape[2] != 2 or actions.shape[0] < 1 or actions.shape[1] < 1:
            raise ValueError(
                f"rollout_costs: actions must have shape (N, H, 2) with N, H >= 1, got {actions.shape}."
            )
        if not np.all(np.isfinite(actions)):
            raise ValueError("rollout_costs: actions contain NaN or inf; pass finite actions.")
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
            raise ValueError(f"rollout_costs: n_threads must be a positive int, got {n_threads!r}.")
        actions = np.clip(actions, -1.0, 1.0)
        n, horizon, _ = actions.shape
        while len(self._rollout_datas) < n_threads:
            self._rollout_datas.append(mujoco.MjData(self.model))

        qpos = rollout_positions(self.model, self.data, self._rollout_datas[:n_threads], actions, self.frame_skip)

        distance = np.hypot(qpos[..., 0] - self._goal[0], qpos[..., 1] - self._goal[1])  # (N, H)
        distance_before = np.concatenate(
            [np.full((n, 1), self._distance_to_goal(self.data.qpos)), distance[:, :-1]], axis=1
        )
        dropped = qpos[..., 2] < self._fall_height  # (N, H)
        success = (distance <= self._goal_radius) & ~dropped
        step_cost = (
            -self._progress_weight * (distance_before - distance)
            + self._control_cost_weight * np.sum(actions**2, axis=2)
            + self._time_cost
            + self._fall_cost * dropped
            - self._success_bonus * success
        )  # (N, H)
        ended = np.cumsum(dropped | success, axis=1) > 0  # True from the terminal step on
        alive = np.concatenate([np.ones((n, 1), bool), ~ended[:, :-1]], axis=1)
        return np.sum(step_cost * alive, axis=1)

    # ------------------------------------------------------------------ internals
    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        # MujocoEnv's loads the XML file; a shallower world adds its low ground (cliff_car_model).
        model = load_model(self._drop_height)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def _check_action(self, action: Any) -> np.ndarray:
        array = np.asarray(action, dtype=np.float64)
        if array.shape != (2,):
            raise ValueError(
                f"CliffCarEnv.step: action must have shape (2,) = (forward, turn), got shape "
                f"{array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(
                f"CliffCarEnv.step: action contains NaN or inf: {array.tolist()}; pass finite "
                "values in [-1, 1] (out-of-range values are clipped)."
            )
        return np.clip(array, -1.0, 1.0)

    def _cost_terms(
        self, distance_before: float, distance: float, action: np.ndarray, dropped: bool, success: bool
    ) -> dict[str, float]:
        return {
            "progress": -self._progress_weight * (distance_before - distance),
            "control": self._control_cost_weight * float(np.sum(action**2)),
            "time": self._time_cost,
            "fall": self._fall_cost if dropped else 0.0,
            "success": -self._success_bonus if success else 0.0,
        }

    def _distance_to_goal(self, qpos: np.ndarray) -> float:
        return float(math.hypot(qpos[0] - self._goal[0], qpos[1] - self._goal[1]))

    def _get_obs(self) -> np.ndarray:
        qpos, qvel = self.data.qpos, self.data.qvel
        yaw = _yaw_from_quat(qpos[3:7])
        c, s = math.cos(yaw), math.sin(yaw)
        forward = c * qvel[0] + s * qvel[1]
        lateral = -s * qvel[0] + c * qvel[1]
        # Free-joint angular velocity is in the body frame: its z is the yaw rate.
        yaw_rate = qvel[5]
        dx, dy = self._goal[0] - qpos[0], self._goal[1] - qpos[1]
        distance = math.hypot(dx, dy)
        if distance > 1e-9:
            bearing_cos = (c * dx + s * dy) / distance
            bearing_sin = (-s * dx + c * dy) / distance
        else:
            bearing_cos, bearing_sin = 1.0, 0.0
        ranges = self._rangefinders.read(self.data)
        ranges = np.where(ranges < 0.0, self._max_range, ranges)  # -1 = no hit = far away
        obs = np.concatenate(
            [[forward, lateral, yaw_rate, distance, bearing_cos, bearing_sin, qpos[2]], ranges]
        ).astype(np.float32)
        return np.clip(obs, self.observation_space.low, self.observation_space.high)

    def _draw_layout(self, cross_void: bool | None) -> CliffCarLayout:
        return draw_layout(self.np_random, self._cross_void_probability, cross_void)

    def _apply_layout(self, layout: CliffCarLayout) -> np.ndarray:
        self._layout = layout
        self._goal = layout.goal.copy()
        model = self.model
        model.body_pos[self._plateau_id] = [layout.corner[0], layout.corner[1], 0.0]
        half = 0.5 * layout.plateau_yaw
        model.body_quat[self._plateau_id] = [math.cos(half), 0.0, 0.0, math.sin(half)]
        for site_id, height in zip(self._goal_site_ids, self._goal_site_heights, strict=True):
            model.site_pos[site_id] = [layout.goal[0], layout.goal[1], height]

        qpos = self.init_qpos.copy()
        half = 0.5 * layout.start_yaw
        qpos[:7] = [
            layout.start[0],
            layout.start[1],
            _START_HEIGHT,
            math.cos(half),
            0.0,
            0.0,
            math.sin(half),
        ]
        self.set_state(qpos, np.zeros(self.model.nv))
        return self._get_obs()
