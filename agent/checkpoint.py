"""Checkpoints: state dicts plus a plain-typed metadata dict, loaded with ``weights_only=True``.

A checkpoint file is ``torch.save({"format": "latent-mpc", "format_version": 3 to 7,
"state": {name: state_dict}, "meta": meta})``. ``meta`` holds only str/int/float/bool/None,
lists and dicts: env id, observation/action space shapes and bounds, configs
(``dataclasses.asdict``), pretraining stats (steps, episodes, falls, ...) and package
versions. Saving writes a temporary file in the same directory and renames it, so a
crash never leaves a half-written checkpoint under the real name.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agent.critic import NEUTRAL_SETTINGS as CRITIC_NEUTRAL
from agent.critic import Critic, CriticConfig
from agent.policy import Policy, PolicyConfig
from agent.world_model import MEMBER_SETTINGS, WorldModel, WorldModelConfig

__all__ = ["FORMAT_VERSION", "OLDEST_FORMAT", "format_for", "save_checkpoint", "load_checkpoint", "make_meta",
           "space_meta", "build_from_checkpoint", "build_value_policy", "env_slug", "cache_dir", "default_checkpoint",
           "flatten_state", "unflatten_state"]

FORMAT_VERSION = 7
"""The newest format this code writes and reads. 7: a world model with a termination head
(``termination_head`` true in its config, an ``end_head`` in its state); code that predates it
would plan as if goals did not end episodes, so it must refuse the file (without the head the
setting is left out of the config and the file keeps the format it had). 6: an in-sample critic
(``critic_config["target"] == "expectile"``: a state-value ensemble ``value_heads`` beside the Q
heads, the planner's terminal value) or a fall-risk critic (``risk_coef > 0``, ``risk_heads``);
code that predates it would plan with another terminal value, so it must refuse the file (a
default critic's config leaves these settings out, so such a file keeps the format it had).
5: a separate *value policy* (``value_policy`` state, ``meta["value_policy"] = True``): the policy the critic was trained with, kept for the
terminal value and the critic's targets after the policy prior was distilled from the planner
(``agent/distill.py``); code that predates it would plan with the wrong terminal value, so it
must refuse the file. 4: a world model with an ensemble
(``fall_members >= 2`` or ``dynamics_members >= 2`` in its config; the fall head's state is
then an :class:`agent.layers.Ensemble`'s). 3: a Q critic, a policy prior and optimiser states
(``policy``, ``trainer``), one fall head. 2 and 1 held a state-value critic and no policy (1
also named the fall head ``terminal_head``): refused. A model without an ensemble is still
written as format 3, its config without the ensemble settings, so that the code from before
format 4 reads it too."""
OLDEST_FORMAT = 3
"""The oldest format this code reads."""
_MAGIC = "latent-mpc"
_CRITIC_NEUTRAL = {path[-1]: value for path, value in CRITIC_NEUTRAL.items()}
"""The critic settings of format 6 at their format-3 values (name -> value)."""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """Versions of the packages a checkpoint depends on (None when not installed as a dist)."""
    import gymnasium
    import mujoco

    return {
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco.__version__,
        "numpy": np.__version__,
        "latent-mpc": _version("latent-mpc") or "0.1.0+source",
    }


def _bounds(values: np.ndarray) -> list:
    # JSON-like floats; +-inf survive as floats (torch's weights_only unpickler accepts them).
    return [float(v) for v in np.asarray(values, np.float64).reshape(-1)]


def space_meta(space: gym.Space) -> dict[str, Any]:
    """Plain description of a Box space: ``{"type", "shape", "low", "high", "dtype"}``."""
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"checkpoints describe Box spaces only, got {space!r}")
    return {"type": "Box", "shape": [int(s) for s in space.shape], "low": _bounds(space.low),
            "high": _bounds(space.high), "dtype": str(space.dtype)}


def _plain(value: Any) -> Any:
    """Convert dataclasses / numpy scalars / tuples to plain types; reject anything else."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str):
        return str(value)  # str subclasses (e.g. torch's TorchVersion) would need unpickling
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if value is None:
        return value
    raise TypeError(f"checkpoint metadata must hold plain types, got {type(value).__name__}: {value!r}")


def format_for(meta: dict[str, Any]) -> int:
    """The format a checkpoint with this metadata is written in: 7 with a termination head, 6 with an
    in-sample critic, 5 with
    a value policy, 4 when its world model has an ensemble, else 3 (the oldest that fits, so older
    code still reads what it can)."""
    if (meta.get("world_model_config") or {}).get("termination_head"):
        return 7
    critic = meta.get("critic_config") or {}
    if any(critic.get(name, neutral) != neutral for name, neutral in _CRITIC_NEUTRAL.items()):
        return 6
    if meta.get("value_policy"):
        return 5
    wm = meta.get("world_model_config") or {}
    return 4 if int(wm.get("fall_members", 1)) > 1 or int(wm.get("dynamics_members", 0)) > 0 else 3


def make_meta(
    env_id: str | None,
    observation_space: gym.Space,
    action_space: gym.Space,
    wm_config: WorldModelConfig,
    critic_config: CriticConfig,
    pretraining: dict[str, Any] | None = None,
    policy_config: PolicyConfig | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata dict of a checkpoint (plain types only). ``pretraining``: what the agent
    learned from (env steps, episodes, falls, ...), every env step counted."""
    wm_meta = dataclasses.asdict(wm_config)
    if not wm_config.has_members:
        # Without an ensemble its settings do nothing; leaving them out keeps the file a format-3
        # checkpoint that code from before format 4 reads too.
        for name in MEMBER_SETTINGS:
            wm_meta.pop(name)
    if not wm_config.termination_head:
        wm_meta.pop("termination_head")  # as above: the file stays readable by older code
    critic_meta = dataclasses.asdict(critic_config)
    if all(critic_meta[name] == neutral for name, neutral in _CRITIC_NEUTRAL.items()):
        # The default: leaving the newer settings out keeps the file readable by older code.
        for name in _CRITIC_NEUTRAL:
            critic_meta.pop(name)
    meta = {
        "format_version": None,  # set below from the configs
        "env_id": env_id,
        "observation_space": space_meta(observation_space),
        "action_space": space_meta(action_space),
        "world_model_config": wm_meta,
        "critic_config": critic_meta,
        "policy_config": dataclasses.asdict(policy_config or PolicyConfig()),
        "pretraining": dict(pretraining or {}),
        "versions": package_versions(),
    }
    meta.update(extra)
    meta["format_version"] = format_for(meta)
    return _plain(meta)


def save_checkpoint(path: str | os.PathLike, state: dict[str, dict[str, torch.Tensor]], meta: dict[str, Any]) -> Path:
    """Atomically write ``state`` (name -> state dict) and ``meta`` (plain types) to ``path``."""
    path = Path(path)
    for name, sd in state.items():
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise TypeError(f"state[{name!r}] must be a state dict (str -> Tensor); pass module.state_dict()")
    payload = {
        "format": _MAGIC,
        "format_version": format_for(meta),
        "state": {name: {k: v.detach().cpu().clone() for k, v in sd.items()} for name, sd in state.items()},
        "meta": _plain(meta),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _check_space(kind: str, saved: dict[str, Any], space: gym.Space) -> None:
    actual = space_meta(space)
    if tuple(saved["shape"]) != tuple(actual["shape"]):
        raise ValueError(
            f"checkpoint was made for an {kind} space of shape {tuple(saved['shape'])}, but this env's "
            f"{kind} space has shape {tuple(actual['shape'])}; use the env it was trained on or "
            "pretrain a new checkpoint for this env (examples/pretrain.py --env ...)"
        )
    for bound in ("low", "high"):
        a, b = np.asarray(saved[bound]), np.asarray(actual[bound])
        same = np.array_equal(np.isinf(a), np.isinf(b)) and np.allclose(
            np.where(np.isinf(a), 0, a), np.where(np.isinf(b), 0, b), rtol=1e-5, atol=1e-6
        )
        if not same:
            raise ValueError(
                f"checkpoint was made for an {kind} space with {bound}={saved[bound]}, but this env has "
                f"{bound}={actual[bound]} (shape {tuple(actual['shape'])} both); the networks' scaling "
                "would be wrong: use the matching env or pretrain for this one"
            )


def _written_by_torch_save(path: Path) -> bool:
    """Whether ``path`` starts like a ``torch.save`` file (a zip archive); unreadable: assume so."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return True


def _not_a_checkpoint(path: Path) -> ValueError:
    return ValueError(
        f"{path} is not a latent-mpc checkpoint: not a torch.save file at all (another kind of "
        "file, or truncated or corrupt from its first bytes); pass a .pt file written by "
        "examples/pretrain.py or MPCAgent.save"
    )


def load_checkpoint(path: str | os.PathLike, env: gym.Env | None = None) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read ``(state, meta)`` written by :func:`save_checkpoint`, with ``weights_only=True``.

    Raises ``FileNotFoundError`` for a missing file, ``ValueError`` for a truncated/corrupt
    file, a file with pickled Python objects, a foreign file or a newer format, and — when
    ``env`` is given — for observation/action spaces that differ from the saved ones.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; create one with `python examples/pretrain.py --env <env> --out {path}`"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = next((line.strip() for line in str(err).splitlines() if "global" in line.lower()), None)
        if detail is None and not _written_by_torch_save(path):
            raise _not_a_checkpoint(path) from None
        if detail is None:  # not a refused object: the byte stream itself is broken
            raise ValueError(
                f"{path} is truncated or corrupt and cannot be read as a checkpoint (unpickling failed: "
                f"{str(err).splitlines()[-1][:200]}); re-create it with examples/pretrain.py"
            ) from None
        raise ValueError(
            f"{path} holds pickled Python objects that a weights-only load refuses to run ({detail}); "
            "latent-mpc checkpoints contain only tensors and plain metadata. Only load files you trust, "
            "and re-create this one with examples/pretrain.py"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        if not _written_by_torch_save(path):
            raise _not_a_checkpoint(path) from None
        raise ValueError(
            f"{path} is truncated or corrupt and cannot be read as a checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); re-create it with examples/pretrain.py"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _MAGIC:
        raise ValueError(f"{path} is not a latent-mpc checkpoint (no '{_MAGIC}' format tag)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {version!r}, this code reads formats {OLDEST_FORMAT} to {FORMAT_VERSION}; "
            "upgrade latent-mpc"
        )
    _refuse_old(path, version)
    state, meta = payload["state"], payload["meta"]
    if env is not None:
        _check_space("observation", meta["observation_space"], env.observation_space)
        _check_space("action", meta["action_space"], env.action_space)
    return state, meta


def _refuse_old(path: Path, version: int) -> None:
    if version < OLDEST_FORMAT:
        raise ValueError(
            f"{path} is a latent-mpc checkpoint of format {version}, made before the online learning "
            f"loop (a state-value critic, no policy prior); this code reads formats {OLDEST_FORMAT} to "
            f"{FORMAT_VERSION}. Retrain it: `python examples/train.py --env <env> --checkpoint <path>` "
            "(or examples/pretrain.py)"
        )


def build_from_checkpoint(
    state: dict[str, dict[str, torch.Tensor]], meta: dict[str, Any]
) -> tuple[WorldModel, Critic, Policy]:
    """Rebuild ``(WorldModel, Critic, Policy)`` in eval mode from :func:`load_checkpoint`'s output."""
    wm_config = WorldModelConfig(**meta["world_model_config"])
    # A setting the file leaves out was written at its neutral value, which need not be today's default.
    critic_config = CriticConfig(**{**_CRITIC_NEUTRAL, **meta["critic_config"]})
    policy_config = PolicyConfig(**meta.get("policy_config", {}))
    obs_dim = math.prod(meta["observation_space"]["shape"])
    action_dim = math.prod(meta["action_space"]["shape"])
    world_model = WorldModel(obs_dim, action_dim, wm_config)
    critic = Critic(wm_config.latent_dim, action_dim, critic_config)
    policy = Policy(wm_config.latent_dim, action_dim, policy_config)
    try:
        world_model.load_state_dict(state["world_model"])
        critic.load_state_dict(state["critic"])
        policy.load_state_dict(state["policy"])
    except (KeyError, RuntimeError) as err:
        raise ValueError(f"checkpoint state does not match its configs: {str(err).splitlines()[0]}") from None
    return world_model.eval(), critic.eval(), policy.eval()


def build_value_policy(state: dict[str, dict[str, torch.Tensor]], meta: dict[str, Any]) -> Policy | None:
    """The checkpoint's value policy (format 5), frozen and in eval mode, or None when it has none."""
    if "value_policy" not in state:
        return None
    policy = Policy(int(meta["world_model_config"]["latent_dim"]), math.prod(meta["action_space"]["shape"]),
                    PolicyConfig(**meta.get("policy_config", {})))
    try:
        policy.load_state_dict(state["value_policy"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint value policy does not match its config: {str(err).splitlines()[0]}") from None
    return policy.eval().requires_grad_(False)


def flatten_state(state: dict[str, Any], prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested optimiser state -> flat ``{"a/b/c": tensor}`` (checkpoints hold tensors only)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_state(value, name + "/"))
        elif isinstance(value, list):
            out.update(flatten_state(dict(enumerate(value)), name + "/#"))
        elif isinstance(value, torch.Tensor):
            out[name] = value
        else:
            out[name] = torch.tensor(value)
    return out


def unflatten_state(flat: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Inverse of :func:`flatten_state` (lists were marked with ``#``; int keys restored)."""
    root: dict[str, Any] = {}
    for name, value in flat.items():
        parts = name.split("/")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def rebuild(node: Any) -> Any:
        if not isinstance(node, dict):
            return node.item() if node.dim() == 0 and not node.is_floating_point() else node
        if node and all(k.startswith("#") for k in node):
            return [rebuild(node[k]) for k in sorted(node, key=lambda k: int(k[1:]))]
        return {(int(k) if k.isdigit() else k): rebuild(v) for k, v in node.items()}

    return rebuild(root)


def replay_path(checkpoint: str | os.PathLike) -> Path:
    """Where the rehearsal replay of a checkpoint lives: ``x.pt`` -> ``x.replay.npz``.

    It holds a subset of the pretraining data in the data's own proportions (see
    ``ReplayBuffer.subset``) so that online learning keeps rehearsing what it learned from,
    falls included; the checkpoint itself holds no data.
    """
    return Path(checkpoint).with_suffix(".replay.npz")


# Where checkpoints are found and cached lives in agent.paths; re-exported for older imports.
from agent.paths import cache_dir, default_checkpoint, env_slug, shipped_dir  # noqa: E402, F401
