"""CliffCarKerb-v0: CliffCar whose plateau edges drop 40 cm instead of 20 m (a safe world).

A world in which driving off an edge is harmless, for learning what driving off does
before acting on the 20 m cliff (issue #12's "safe world" route). Everything the agent can
observe before the drop is the cliff's; only the consequence and its cost differ.
"""

from __future__ import annotations

from typing import Any

from envs.cliff_car import CliffCarEnv

__all__ = ["CliffCarKerbEnv", "KERB_DROP_HEIGHT", "KERB_DROP_COST"]

KERB_DROP_HEIGHT = 0.4
"""How far the kerb world's edges drop (m): the shallowest drop a CliffCar world allows."""
KERB_DROP_COST = 1.0
"""Cost of driving off a kerb: small next to the 20 m cliff's fall cost of 100."""


class CliffCarKerbEnv(CliffCarEnv):
    r"""
    ## Description
    `CliffCar-v0` with kerbs: the same L-shaped plateau, layouts (same seed, same map),
    car, physics, actions, observation layout and cost terms, but the plateau's edges drop
    `drop_height` = 0.4 m to a low ground instead of 20 m. Driving off is survivable, so an
    agent may learn here, without a catastrophe, what driving off an edge does.

    ## What the agent sees
    The low ground is a plane at z = -`drop_height` in geom group 2 that the rangefinders
    do not see: they are cast over every other geom group, which is exactly what the 20 m
    cliff's rangefinder sensors see (bit for bit). So at an edge the rays read the 20 m rock
    face and a void beyond `max_range`, as on the cliff, rather than the kerb's low ground
    1.5-4 m away. It is drawn in `render()` all the same (MuJoCo's drawing of its own
    rangefinder rays, which would stop at it, is switched off). Until a part of the car touches
    the low ground the physics are the cliff's too, and the drop is detected before that
    can happen (`fall_height`), so along the same actions the observations of both worlds
    are identical up to and including the step the car drops: the largest difference,
    measured over 20 seeds driving straight off the nearest edge and 20 seeds of random
    actions biased forward (`tests/test_kerb_world.py`), is 0.0 in every observation index.
    What differs is *when* the episode ends: the cliff reports its fall when the car body
    is 0.5 m below the plateau top, the kerb world its drop at 0.05 m, 3-5 steps (0.15-0.25 s)
    earlier in the same runs, while the car is still in the air over the edge. (A drop of
    0.85 m or more would be detected at -0.5 m, on the cliff's step.)

    ## Episode End
    - Termination (drop): the car body goes below `fall_height` (default -0.05 m, relative
      to the plateau top). `info["dropped"] = True`, `info["fell"] = False`, and the
      cost term `fall` is `fall_cost` (default 1.0). The 20 m cliff reports a fall with
      `info["fell"] = True` *and* `info["dropped"] = True`: one key, `dropped`, means "drove
      off an edge" in both worlds.
    - Termination (success) and truncation (300 steps): as in `CliffCar-v0`.

    ## Arguments
    As `CliffCarEnv`, with other defaults:

    | Parameter     | Type  | Default | Description |
    |---------------|-------|---------|-------------|
    | `drop_height` | float | 0.4     | how far the edges drop (m); at most 1 m is a drop, not a fall |
    | `fall_cost`   | float | 1.0     | cost of driving off a kerb |
    | `fall_height` | float | None    | None: `0.35 - drop_height` (m), before any part of the car (0.315 m from its body origin at most) can touch the low ground |

    ## Version History
    - v0: first version.
    """

    def __init__(self, drop_height: float = KERB_DROP_HEIGHT, fall_cost: float = KERB_DROP_COST, **kwargs: Any):
        super().__init__(drop_height=drop_height, fall_cost=fall_cost, **kwargs)
