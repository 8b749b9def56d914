"""Environments: `CliffCar-v0` and `CliffCarKerb-v0` (registered on import) and `make_env`,
which resolves a spec.

```python
import envs
env = envs.make_env("cliff-car")                       # short name
env = envs.make_env("Pendulum-v1")                     # any registered Gymnasium id
env = envs.make_env("my_pkg.my_mod:MyEnv", size=3)     # your own env class or factory
env = envs.make_env("cliff-car", render_mode="rgb_array")   # kwargs go to the env
env = envs.make_env("dm_control/cartpole-swingup-v0")   # DeepMind Control, flattened (extra "dmc")
```

Anything `make_env` cannot build raises `MakeEnvError` (a `ValueError`) with a one-line
message that says what was wrong and how to fix it; the CLIs print it as `error: ...`.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import gymnasium as gym

from envs.cliff_car import CliffCarEnv, CliffCarLayout
from envs.cliff_car_kerb import CliffCarKerbEnv

__all__ = ["SHORT_NAMES", "CliffCarEnv", "CliffCarKerbEnv", "CliffCarLayout", "MakeEnvError", "make_env"]

CLIFF_CAR_MAX_EPISODE_STEPS = 300
"""15 s at dt = 0.05 s: room to drive round the corner; a car that stalls is cut off."""

if "CliffCar-v0" not in gym.registry:
    gym.register(
        id="CliffCar-v0",
        entry_point="envs.cliff_car:CliffCarEnv",
        max_episode_steps=CLIFF_CAR_MAX_EPISODE_STEPS,
    )
if "CliffCarKerb-v0" not in gym.registry:  # the safe world: 40 cm kerbs instead of the 20 m cliff
    gym.register(
        id="CliffCarKerb-v0",
        entry_point="envs.cliff_car_kerb:CliffCarKerbEnv",
        max_episode_steps=CLIFF_CAR_MAX_EPISODE_STEPS,
    )

SHORT_NAMES: dict[str, str] = {
    "cliff-car": "CliffCar-v0",
    "cliffcar": "CliffCar-v0",
    "cliff-car-kerb": "CliffCarKerb-v0",
    "cliffcarkerb": "CliffCarKerb-v0",
}
"""Short names accepted by `make_env`, mapped to registered Gymnasium ids."""

DMC_PREFIX = "dm_control/"
"""Ids of DeepMind Control tasks, which Shimmy registers when it is imported."""
DMC_INSTALL = "pip install -e '.[dmc]'"
"""The optional extra that brings Shimmy, dm_control and a MuJoCo that dm_control runs on."""


class MakeEnvError(ValueError):
    """`make_env` could not build an env from a spec; the message is one line saying why and
    what to do. The underlying exception, if any, is its `__cause__`."""


def make_env(spec: str, **kwargs: Any) -> gym.Env:
    """Build an environment from a spec string; keyword arguments go to the env.

    Accepted forms:
    1. a short name from `SHORT_NAMES`, e.g. `"cliff-car"`;
    2. any registered Gymnasium id, e.g. `"CliffCar-v0"` or `"Pendulum-v1"`;
    3. `"package.module:Factory"`: `Factory(**kwargs)` must return a `gymnasium.Env`. The
       module must be importable by Python's usual rules: installed (e.g. `pip install -e .`),
       on `PYTHONPATH`, or beside the script being run. The working directory is not added
       (run with `PYTHONPATH=.` to import from it). The factory is called as is (no time
       limit is added);
    4. a DeepMind Control task through Shimmy, `"dm_control/<domain>-<task>-v0"` (e.g.
       `"dm_control/cartpole-swingup-v0"`; optional extra: `pip install -e '.[dmc]'`). Its
       dict of observations is flattened (`gymnasium.wrappers.FlattenObservation`) into the
       flat Box the agent and the SB3 baselines take; its 1,000-step time limit is dm_control's.

    Raises:
        MakeEnvError: the spec matches none of the forms (the message lists them), the module
            or attribute cannot be found or imported, building the env raised, or a factory
            did not return a `gymnasium.Env`.
        TypeError: the spec is not a string.
    """
    if not isinstance(spec, str):
        raise TypeError(f"make_env: spec must be a string, got {type(spec).__name__} {spec!r}.")
    name = spec.strip()
    if name.startswith(DMC_PREFIX):
        return _make_dmc(spec, name, kwargs)
    if name.lower() in SHORT_NAMES:
        return _build(spec, f"gymnasium.make({SHORT_NAMES[name.lower()]!r})",
                      lambda: gym.make(SHORT_NAMES[name.lower()], **kwargs))
    if name in gym.registry:
        return _build(spec, f"gymnasium.make({name!r})", lambda: gym.make(name, **kwargs))
    if ":" in name:
        return _make_from_factory(name, kwargs)
    raise MakeEnvError(_unknown_spec_message(spec))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def _build(spec: str, what: str, build: Any) -> gym.Env:
    try:
        return build()
    except Exception as error:
        raise MakeEnvError(
            f"make_env({spec!r}): {what} raised {_first_line(error)}; check the env's keyword "
            "arguments and its code"
        ) from error


def _make_from_factory(spec: str, kwargs: dict[str, Any]) -> gym.Env:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or ":" in attr:
        raise MakeEnvError(_unknown_spec_message(spec))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise MakeEnvError(
                f"make_env({spec!r}): cannot import module {module_name!r} ({error}); a user "
                "module must be importable: install it (pip install -e <its project>) or add the "
                "directory that holds it to PYTHONPATH (e.g. PYTHONPATH=. when you run from there)"
            ) from error
        raise MakeEnvError(  # the user's module was found but one of its own imports is missing
            f"make_env({spec!r}): module {module_name!r} needs {missing!r}, which is not "
            f"installed ({error}); install it, or run `python -c 'import {module_name}'` for the "
            "traceback"
        ) from error
    except Exception as error:
        raise MakeEnvError(
            f"make_env({spec!r}): importing module {module_name!r} raised {_first_line(error)}; "
            f"run `python -c 'import {module_name}'` for the traceback"
        ) from error
    factory: Any = module
    for depth, part in enumerate(attr.split(".")):
        if not hasattr(factory, part):
            hint = _factory_hint(factory, part)
            owner = module_name if depth == 0 else ".".join([module_name, *attr.split(".")[:depth]])
            raise MakeEnvError(
                f"make_env({spec!r}): {owner!r} has no attribute {part!r}; expected an env class "
                f"or a function returning a gymnasium.Env.{hint}"
            )
        factory = getattr(factory, part)
    if not callable(factory):
        raise MakeEnvError(
            f"make_env({spec!r}): {attr!r} is a {type(factory).__name__}, not callable; name an "
            "env class or a function returning a gymnasium.Env"
        )
    env = _build(spec, f"{attr}(**{kwargs!r})", lambda: factory(**kwargs))
    if not isinstance(env, gym.Env):
        raise MakeEnvError(
            f"make_env({spec!r}): {attr}(**kwargs) returned {type(env).__name__}, expected a "
            "gymnasium.Env (subclass gymnasium.Env or return one from the factory)"
        )
    return env


def _make_dmc(spec: str, name: str, kwargs: dict[str, Any]) -> gym.Env:
    """A DeepMind Control task registered by Shimmy, its observation dict flattened."""
    try:
        import shimmy  # noqa: F401 - importing it registers the dm_control/ ids
    except ImportError as error:
        raise MakeEnvError(
            f"make_env({spec!r}): DeepMind Control tasks need Shimmy and dm_control, which are not "
            f"installed ({_first_line(error)}); install the optional extra: {DMC_INSTALL}"
        ) from error
    if name not in gym.registry:
        known = [i for i in gym.registry if i.startswith(DMC_PREFIX)]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise MakeEnvError(
            f"make_env({spec!r}): no such DeepMind Control task.{hint} Shimmy registers "
            f"{len(known)} ids of the form 'dm_control/<domain>-<task>-v0', e.g. "
            "'dm_control/cartpole-swingup-v0'"
        )
    try:
        env = gym.make(name, **kwargs)
    except Exception as error:
        import mujoco  # noqa: PLC0415 - only for the message

        raise MakeEnvError(
            f"make_env({spec!r}): building it raised {_first_line(error)}; dm_control runs only on "
            f"the MuJoCo release line it was built for (dm_control 1.0.50 on MuJoCo 3.17, not 4; "
            f"installed here: MuJoCo {mujoco.__version__}), which {DMC_INSTALL} installs"
        ) from error
    if isinstance(env.observation_space, gym.spaces.Dict):
        env = gym.wrappers.FlattenObservation(env)
    return env


def _factory_hint(owner: Any, missing: str) -> str:
    """" Did you mean ...?" or " It defines: ..." over the callables defined in ``owner``."""
    home = getattr(owner, "__name__", None)
    names = sorted(
        n for n, v in vars(owner).items()
        if not n.startswith("_") and callable(v) and getattr(v, "__module__", home) == home
    )
    close = difflib.get_close_matches(missing, names, n=3, cutoff=0.6)
    if close:
        return f" Did you mean {' or '.join(repr(c) for c in close)}?"
    return f" It defines: {', '.join(names[:8])}." if names else ""


def _unknown_spec_message(spec: str) -> str:
    candidates = list(SHORT_NAMES) + list(gym.registry)
    close = difflib.get_close_matches(spec, candidates, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"make_env: unknown env spec {spec!r}.{hint} Accepted forms: (1) a short name, one of "
        f"{sorted(SHORT_NAMES)}; (2) a registered Gymnasium id such as 'CliffCar-v0' or "
        "'Pendulum-v1' (see gymnasium.registry); (3) 'package.module:Factory' naming an env "
        "class or a function that returns a gymnasium.Env, in a module Python can import "
        "(installed, or on PYTHONPATH); (4) a DeepMind Control task such as "
        f"'dm_control/cartpole-swingup-v0' (optional extra: {DMC_INSTALL})."
    )
