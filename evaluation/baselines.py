"""Model-free baselines from Stable-Baselines3: SAC and PPO with SB3's defaults.

Each trains on an :class:`~evaluation.episodes.EpisodeRecorder`-wrapped env for exactly
a budget of env steps, so its falls and successes are counted by the same code as the
MPC agent's. SB3's own logger is set explicitly (TensorBoard under the run's log folder,
or nothing), so a run leaves no ``/tmp/SB3-<time>/`` folder behind.

Reference: Raffin et al., "Stable-Baselines3: Reliable Reinforcement Learning
Implementations", JMLR 2021.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.episodes import EpisodeRecorder

SB3_AGENTS = ("sac", "ppo")
"""The baselines' agent names in a comparison."""


@dataclass
class SB3Config:
    """Settings of the Stable-Baselines3 baselines (everything else is SB3's default)."""

    learning_starts: int = 1000
    """SAC: env steps of uniform random actions before the first gradient step (SB3: 100; at most 100 with --quick)."""
    sac_batch_size: int = 256
    """SAC: minibatch size of each gradient step."""
    ppo_n_steps: int = 2048
    """PPO: env steps per rollout before each update."""
    device: str = "cpu"
    """Torch device for SB3; the comparison is timed on CPU."""
    budget_steps: int | None = None
    """Env steps for the SB3 agents only (None: the common --budget-steps). A longer run measures SAC's falls before competence, which it seldom reaches within the MPC agents' budget."""


def _import_sb3():
    try:
        import stable_baselines3
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "the SAC/PPO baselines need Stable-Baselines3; install it with "
            '`pip install -e ".[baselines]"` or drop sac/ppo from --agents'
        ) from error
    return stable_baselines3


def sb3_logger(log_dir: str | Path | None) -> Any:
    """An SB3 logger writing TensorBoard events to ``log_dir``, or nowhere if None.

    SB3's default logger makes a ``{tempdir}/SB3-<time>`` folder even when it writes
    nothing, and never removes it; one made here creates no folder unless asked to.
    """
    from stable_baselines3.common.logger import Logger, configure

    if log_dir is None:
        return Logger(folder=None, output_formats=[])
    return configure(str(log_dir), ["tensorboard"])


def make_sb3_model(algo: str, env: EpisodeRecorder, budget_steps: int, seed: int, config: SB3Config):
    """An untrained SB3 ``algo`` ("sac" or "ppo") on ``env``, with this project's few settings."""
    sb3 = _import_sb3()
    if algo == "sac":
        return sb3.SAC(
            "MlpPolicy",
            env,
            learning_starts=min(config.learning_starts, budget_steps),
            batch_size=config.sac_batch_size,
            seed=seed,
            device=config.device,
            verbose=0,
        )
    if algo == "ppo":
        return sb3.PPO(
            "MlpPolicy",
            env,
            n_steps=config.ppo_n_steps,
            batch_size=min(64, config.ppo_n_steps),
            seed=seed,
            device=config.device,
            verbose=0,
        )
    raise ValueError(f"unknown SB3 algorithm {algo!r}; expected one of {list(SB3_AGENTS)}")


def run_sb3(
    algo: str,
    env: EpisodeRecorder,
    budget_steps: int,
    seed: int,
    config: SB3Config,
    log_dir: str | Path | None = None,
) -> None:
    """Train SB3 ``algo`` on ``env`` for exactly ``budget_steps`` env steps; records land in ``env.series``.

    ``log_dir``: SB3's own TensorBoard scalars (losses, entropy) go there; None: nowhere.
    """
    _import_sb3()  # a clear message if SB3 is missing
    from stable_baselines3.common.callbacks import BaseCallback

    class StopAtBudget(BaseCallback):
        # PPO collects whole rollouts; stop it mid-rollout so every agent gets the same budget.
        def _on_step(self) -> bool:
            return env.total_steps < budget_steps

    model = make_sb3_model(algo, env, budget_steps, seed, config)
    logger = sb3_logger(log_dir)
    model.set_logger(logger)
    env.restart()
    try:
        model.learn(total_timesteps=budget_steps, callback=StopAtBudget(), progress_bar=False)
    finally:
        logger.close()
