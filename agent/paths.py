"""Where checkpoints are found and cached, from a source checkout or an installed package.

A checkpoint for an env spec is named ``{env_slug(spec)}.pt`` (a file-name form of the spec) and looked
up in two places, in this order:

1. the *shipped* directory, :func:`shipped_dir`: ``$LATENT_MPC_CHECKPOINTS`` when that
   variable is set, else ``checkpoints/`` of the source checkout this code runs from (an
   editable install, or a clone on ``PYTHONPATH``); a wheel installed into
   site-packages has no shipped directory unless the variable points at one;
2. the cache, :func:`cache_dir`: ``$XDG_CACHE_HOME/latent-mpc`` (default
   ``~/.cache/latent-mpc``), where the CLIs keep the agents they train on the spot.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["CHECKPOINTS_ENV_VAR", "env_slug", "shipped_dir", "cache_dir", "default_checkpoint"]

CHECKPOINTS_ENV_VAR = "LATENT_MPC_CHECKPOINTS"
"""Environment variable naming a directory of shipped checkpoints; overrides the checkout's."""

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def env_slug(spec: str) -> str:
    """File-name form of an env spec: ``"examples.custom_env:make"`` -> ``"examples.custom_env_make"``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec).strip("_") or "env"


def shipped_dir() -> Path | None:
    """``$LATENT_MPC_CHECKPOINTS`` if set, else the source checkout's ``checkpoints/``, else None.

    A source checkout is recognised by ``pyproject.toml`` and ``checkpoints/`` beside the
    ``agent`` package; an install into site-packages has neither.
    """
    configured = os.environ.get(CHECKPOINTS_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "checkpoints").is_dir():
        return _SOURCE_ROOT / "checkpoints"
    return None


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/latent-mpc`` (default ``~/.cache/latent-mpc``): checkpoints pretrained on the spot."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latent-mpc"


def default_checkpoint(spec: str) -> tuple[Path, bool]:
    """``(path, shipped)``: the shipped ``{env}.pt`` if there is one, else its path in the cache."""
    name = f"{env_slug(spec)}.pt"
    shipped = shipped_dir()
    if shipped is not None and (shipped / name).is_file():
        return shipped / name, True
    return cache_dir() / name, False
