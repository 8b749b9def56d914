"""CliffCar's map: the L-shaped plateau's frame, the void's clearance, and random layouts.

Pure geometry in plateau coordinates (origin at the reflex corner, void = {x > 0, y > 0});
the env (`envs/cliff_car.py`) places the MuJoCo bodies from a layout drawn here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CliffCarLayout", "void_clearance", "segment_clearance", "draw_layout"]

_MAX_LAYOUT_TRIES = 10_000


@dataclass(frozen=True)
class CliffCarLayout:
    """The map drawn at reset, in world coordinates (metres, radians).

    The plateau is an L: in its own frame (origin at the reflex corner, turned by
    `plateau_yaw`) the void is the quadrant {x > 0, y > 0}; edge A runs along +y at x = 0,
    edge B along +x at y = 0. Privileged: not part of the observation.
    """

    corner: np.ndarray  # (2,) world xy of the reflex corner
    plateau_yaw: float  # rotation of the plateau frame about z
    start: np.ndarray  # (2,) world xy of the car at reset
    start_yaw: float  # heading of the car at reset
    goal: np.ndarray  # (2,) world xy of the goal
    crosses_void: bool  # whether the straight segment start -> goal passes over the void

    def to_plateau_frame(self, xy: np.ndarray) -> np.ndarray:
        """World xy `(..., 2)` -> plateau-frame xy `(..., 2)` (void = {x > 0, y > 0})."""
        c, s = math.cos(self.plateau_yaw), math.sin(self.plateau_yaw)
        d = np.asarray(xy, dtype=np.float64) - self.corner
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)

    def to_world_frame(self, xy: np.ndarray) -> np.ndarray:
        """Plateau-frame xy `(..., 2)` -> world xy `(..., 2)`."""
        c, s = math.cos(self.plateau_yaw), math.sin(self.plateau_yaw)
        p = np.asarray(xy, dtype=np.float64)
        return self.corner + np.stack(
            [c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], axis=-1
        )


def void_clearance(points: np.ndarray) -> np.ndarray:
    """Signed distance from plateau-frame points `(..., 2)` to the void quadrant `(...)`.

    Positive on the plateau (how far to the nearest edge of the void quadrant), negative
    over the void (minus the depth past the nearer edge). The outer plateau border, 15 m
    from the corner, is ignored.
    """
    x, y = points[..., 0], points[..., 1]
    inside = (x > 0) & (y > 0)
    outside = np.hypot(np.maximum(-x, 0.0), np.maximum(-y, 0.0))
    return np.where(inside, -np.minimum(x, y), outside)


def segment_clearance(a: np.ndarray, b: np.ndarray, samples: int = 101) -> float:
    """Smallest `void_clearance` along the plateau-frame segment a -> b (each `(2,)`)."""
    t = np.linspace(0.0, 1.0, samples)[:, None]
    return float(void_clearance(a + t * (b - a)).min())


def draw_layout(rng: np.random.Generator, cross_void_probability: float, cross_void: bool | None) -> CliffCarLayout:
    """A random layout drawn with ``rng`` (the env's ``np_random``): corner, plateau yaw, start
    and goal 4-9 m apart; ``cross_void`` (None: with ``cross_void_probability``) puts the straight
    line between them over the void."""
    corner = rng.uniform(-2.0, 2.0, size=2)
    plateau_yaw = float(rng.uniform(-math.pi, math.pi))
    if cross_void is None:
        cross_void = bool(rng.random() < cross_void_probability)
    for _ in range(_MAX_LAYOUT_TRIES):
        if cross_void:
            # Start on the south arm, goal on the west arm, deep cut over the void.
            start = np.array([rng.uniform(1.0, 8.0), rng.uniform(-4.0, -1.0)])
            goal = np.array([rng.uniform(-4.0, -1.0), rng.uniform(1.0, 8.0)])
            ok = segment_clearance(start, goal) <= -1.0
        else:
            # Both on the south arm, 1-3 m from edge B (and >= 1 m from the corner).
            start = np.array([rng.uniform(-6.0, 10.0), rng.uniform(-3.0, -1.0)])
            goal = np.array([rng.uniform(-6.0, 10.0), rng.uniform(-3.0, -1.0)])
            ok = True
        if ok and 4.0 <= float(np.linalg.norm(goal - start)) <= 9.0:
            break
    else:  # pragma: no cover - the acceptance rate is far above 1 / _MAX_LAYOUT_TRIES
        raise RuntimeError("CliffCar: could not draw a layout; please report this.")
    if rng.random() < 0.5:  # reverse the direction of travel
        start, goal = goal, start
    if rng.random() < 0.5:  # mirror across the diagonal: south arm <-> west arm
        start, goal = start[::-1].copy(), goal[::-1].copy()
    layout = CliffCarLayout(
        corner=corner,
        plateau_yaw=plateau_yaw,
        start=np.zeros(2),
        start_yaw=float(rng.uniform(-math.pi, math.pi)),
        goal=np.zeros(2),
        crosses_void=cross_void,
    )
    return CliffCarLayout(
        corner=corner,
        plateau_yaw=plateau_yaw,
        start=layout.to_world_frame(start),
        start_yaw=layout.start_yaw,
        goal=layout.to_world_frame(goal),
        crosses_void=cross_void,
    )
