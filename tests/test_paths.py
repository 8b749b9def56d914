"""agent.paths: shipped checkpoints via $LATENT_MPC_CHECKPOINTS or the checkout, else the cache."""

from __future__ import annotations

from pathlib import Path

from agent import checkpoint, paths

REPO = Path(__file__).resolve().parents[1]


def test_the_checkout_ships_cliff_car(monkeypatch):
    monkeypatch.delenv(paths.CHECKPOINTS_ENV_VAR, raising=False)
    assert paths.shipped_dir() == REPO / "checkpoints"
    assert paths.default_checkpoint("cliff-car") == (REPO / "checkpoints" / "cliff-car.pt", True)


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    (tmp_path / "cliff-car.pt").write_bytes(b"")
    monkeypatch.setenv(paths.CHECKPOINTS_ENV_VAR, str(tmp_path))
    assert paths.default_checkpoint("cliff-car") == (tmp_path / "cliff-car.pt", True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.default_checkpoint("Pendulum-v1") == (
        tmp_path / "cache" / "latent-mpc" / "Pendulum-v1.pt", False)


def test_an_install_without_a_checkout_falls_back_to_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.CHECKPOINTS_ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "_SOURCE_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.shipped_dir() is None
    assert paths.default_checkpoint("cliff-car") == (
        tmp_path / "cache" / "latent-mpc" / "cliff-car.pt", False)


def test_names_and_the_old_import_place():
    assert paths.env_slug("examples.custom_env:make") == "examples.custom_env_make"
    assert paths.env_slug("::") == "env"
    assert checkpoint.default_checkpoint is paths.default_checkpoint
    assert checkpoint.env_slug is paths.env_slug and checkpoint.cache_dir is paths.cache_dir
