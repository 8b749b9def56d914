"""Environments: `CliffCar-v0` (registered on import) and `make_env`, which resolves a spec.

```python
import envs
env = envs.make_env("cliff-car")                       # short name
env = envs.make_env("Pendulum-v1")                     # any registered Gymnasium id
env = envs.make_env("my_pkg.my_mod:MyEnv", size=3)     # your own env class or factory
env = envs.make_env("cliff-car", render_mode="rgb_array")   # kwargs go to the env
```
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from typing import Any

import gymnasium as gym

from envs.cliff_car import CliffCarEnv, CliffCarLayout

__all__ = ["SHORT_NAMES", "CliffCarEnv", "CliffCarLayout", "make_env"]

CLIFF_CAR_MAX_EPISODE_STEPS = 300
"""15 s at dt = 0.05 s; a scripted controller that drives around the corner needs ~5 s."""

if "CliffCar-v0" not in gym.registry:
    gym.register(
        id="CliffCar-v0",
        entry_point="envs.cliff_car:CliffCarEnv",
        max_episode_steps=CLIFF_CAR_MAX_EPISODE_STEPS,
    )

SHORT_NAMES: dict[str, str] = {
    "cliff-car": "CliffCar-v0",
    "cliffcar": "CliffCar-v0",
}
"""Short names accepted by `make_env`, mapped to registered Gymnasium ids."""


def make_env(spec: str, **kwargs: Any) -> gym.Env:
    """Build an environment from a spec string; keyword arguments go to the env.

    Accepted forms:
    1. a short name from `SHORT_NAMES`, e.g. `"cliff-car"`;
    2. any registered Gymnasium id, e.g. `"CliffCar-v0"` or `"Pendulum-v1"`;
    3. `"package.module:Factory"`: `Factory(**kwargs)` must return a `gymnasium.Env`; the
       module is imported from the current directory or `PYTHONPATH`. It is called as is
       (no time limit is added).

    Raises:
        ValueError: the spec matches none of the forms (the message lists them).
        TypeError: the spec is not a string, or a factory did not return a `gymnasium.Env`.
        ImportError / AttributeError: the module or attribute of form 3 cannot be found.
    """
    if not isinstance(spec, str):
        raise TypeError(f"make_env: spec must be a string, got {type(spec).__name__} {spec!r}.")
    name = spec.strip()
    if name.lower() in SHORT_NAMES:
        return gym.make(SHORT_NAMES[name.lower()], **kwargs)
    if name in gym.registry:
        return gym.make(name, **kwargs)
    if ":" in name:
        return _make_from_factory(name, kwargs)
    raise ValueError(_unknown_spec_message(spec))


def _make_from_factory(spec: str, kwargs: dict[str, Any]) -> gym.Env:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or ":" in attr:
        raise ValueError(_unknown_spec_message(spec))
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)  # a user's module next to their script must be importable
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name != missing and not module_name.startswith(missing + "."):
            raise  # the user's module was found but one of its own imports is missing
        raise ImportError(
            f"make_env({spec!r}): cannot import module {module_name!r} ({error}). Run from the "
            "directory that holds it or add that directory to PYTHONPATH."
        ) from error
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise AttributeError(
                f"make_env({spec!r}): module {module_name!r} has no attribute {attr!r}; expected "
                "an env class or a function returning a gymnasium.Env."
            )
        factory = getattr(factory, part)
    if not callable(factory):
        raise TypeError(f"make_env({spec!r}): {attr!r} is not callable (an env class or factory).")
    env = factory(**kwargs)
    if not isinstance(env, gym.Env):
        raise TypeError(
            f"make_env({spec!r}): {attr}(**kwargs) returned {type(env).__name__}, expected a "
            "gymnasium.Env (subclass gymnasium.Env or return one from the factory)."
        )
    return env


def _unknown_spec_message(spec: str) -> str:
    candidates = list(SHORT_NAMES) + list(gym.registry)
    close = difflib.get_close_matches(spec, candidates, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"make_env: unknown env spec {spec!r}.{hint} Accepted forms: (1) a short name, one of "
        f"{sorted(SHORT_NAMES)}; (2) a registered Gymnasium id such as 'CliffCar-v0' or "
        "'Pendulum-v1' (see gymnasium.registry); (3) 'package.module:Factory' naming an env "
        "class or a function that returns a gymnasium.Env, importable from the current "
        "directory or PYTHONPATH."
    )
