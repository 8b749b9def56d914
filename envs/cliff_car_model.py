"""CliffCar's MuJoCo model: the XML asset, the low ground of a kerb world, and the rangefinder fan.

The 20 m cliff is `envs/assets/cliff_car.xml` as it stands (its floor plane at z = -20 is the
ground below the plateau). A shallower world (`drop_height` < 20 m) is the same XML with one
static body appended at the end of the world body: a plane at z = -drop_height, the *low
ground*, in geom group 2. Appending it last keeps every other body and geom index, so the
car's physics are the cliff world's until a car geom touches the low ground.

The rangefinders of a kerb world do not see the low ground: they are cast with
`mujoco.mj_multiRay` over every geom group but 2, which sees exactly what MuJoCo's own
rangefinder sensors see in the cliff model (bit for bit, tested). So on the plateau, at an
edge and while dropping, a kerb world's rangefinders read what the cliff's read: the 20 m
rock faces and a void beyond `max_range`. The low ground is still drawn (group 2 is rendered).
"""

from __future__ import annotations

import os

import mujoco
import mujoco.rollout
import numpy as np

__all__ = ["ASSET_PATH", "CLIFF_DEPTH", "MIN_DROP_HEIGHT", "CAR_REACH", "load_model", "Rangefinders",
           "rollout_positions"]

ASSET_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "cliff_car.xml")

CLIFF_DEPTH = 20.0
"""How far below the plateau top the XML's floor plane lies (m): the deepest drop there is."""

CAR_REACH = 0.35
"""Distance (m) from the car body's origin that covers every collision geom of the car (the
farthest point, a wheel sphere's rim, is 0.315 m away), with a margin. While the body origin
is higher than ``CAR_REACH - drop_height`` above the plateau top, no part of the car can touch
the low ground."""

MIN_DROP_HEIGHT = 0.4
"""The shallowest drop a world may have (m): deep enough that a car driving off is detected
(origin below ``CAR_REACH - drop_height`` = -0.05 m) before any part of it touches the low ground."""

LOW_GROUND_GROUP = 2
"""Geom group of a kerb world's low ground: rendered (groups 0-2 are), invisible to the rays."""
_RAY_GROUPS = np.array([g != LOW_GROUND_GROUP for g in range(mujoco.mjNGROUP)], np.uint8)


def load_model(drop_height: float) -> mujoco.MjModel:
    """The compiled model of a world whose plateau edges drop ``drop_height`` m.

    ``CLIFF_DEPTH`` (20 m): the XML as it is, loaded as before. Shallower: the XML plus a
    ``low_ground`` plane (group 2, the floor's material) at z = -drop_height, appended after
    the car so no other index moves.
    """
    if drop_height >= CLIFF_DEPTH:
        return mujoco.MjModel.from_xml_path(ASSET_PATH)
    spec = mujoco.MjSpec.from_file(ASSET_PATH)
    body = spec.worldbody.add_body(name="low_ground")
    body.add_geom(
        name="low_ground",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[200.0, 200.0, 50.0],
        pos=[0.0, 0.0, -float(drop_height)],
        group=LOW_GROUND_GROUP,
        material="floor",
    )
    return spec.compile()


class Rangefinders:
    """Reads the fan of rangefinders ``range_0 .. range_{n-1}`` as the agent sees them.

    In the cliff model (no low ground) it reads MuJoCo's rangefinder sensors. In a kerb
    world it casts the same rays itself with ``mj_multiRay`` from the shared mast site,
    skipping geom group 2 (the low ground), which returns what the sensors would read in the
    cliff model. Call after ``mj_kinematics``; -1 means no hit.
    """

    def __init__(self, model: mujoco.MjModel, n_rays: int):
        self.model = model
        self.use_sensors = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "low_ground") < 0
        self.sensor_adr = np.array([model.sensor(f"range_{i}").adr[0] for i in range(n_rays)], np.int64)
        self.site_ids = np.array([model.site(f"range_{i}").id for i in range(n_rays)], np.int64)
        positions = model.site_pos[self.site_ids]
        if not self.use_sensors and not np.all(positions == positions[0]):
            raise ValueError("Rangefinders: the rays must share one site position to be cast with mj_multiRay")
        self.car_body = int(model.site_bodyid[self.site_ids[0]])
        self._geomid = np.zeros(n_rays, np.int32)
        self._dist = np.zeros(n_rays, np.float64)

    def read(self, data: mujoco.MjData) -> np.ndarray:
        """Distances along each ray, ``(n_rays,)`` float64 (-1: no hit)."""
        if self.use_sensors:
            return data.sensordata[self.sensor_adr]  # fancy indexing copies
        directions = data.site_xmat[self.site_ids][:, [2, 5, 8]]  # (n, 3): each site's z-axis
        mujoco.mj_multiRay(
            self.model, data, data.site_xpos[self.site_ids[0]].copy(), directions.reshape(-1).copy(),
            _RAY_GROUPS, 1, self.car_body, self._geomid, self._dist, None, len(self._dist), mujoco.mjMAXVAL,
        )
        return self._dist.copy()


def rollout_positions(
    model: mujoco.MjModel, data: mujoco.MjData, datas: list[mujoco.MjData], actions: np.ndarray, frame_skip: int
) -> np.ndarray:
    """Car body position (x, y, z) after each env step of the open-loop ``actions (N, H, 2)``
    from ``data``'s state, ``(N, H, 3)``; simulated with ``mujoco.rollout`` on ``datas`` (one
    per thread), so ``data`` is left unchanged."""
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    initial_state = np.empty(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, initial_state, spec)
    control = np.repeat(actions, frame_skip, axis=1)  # (N, H * frame_skip, 2)
    state, _ = mujoco.rollout.rollout(
        model,
        datas,
        initial_state[None],
        control,
        control_spec=mujoco.mjtState.mjSTATE_CTRL,
        initial_warmstart=data.qacc_warmstart[None].copy(),
    )
    qpos_at = mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_TIME)
    return state[:, frame_skip - 1 :: frame_skip, qpos_at : qpos_at + 3]
