"""Pretraining: collect reward-free exploration data, train world model and critic, report.

    result = pretrain(spec, PretrainConfig(env=spec))
    save_pretrained(f"checkpoints/{env_slug(spec)}.pt", result)

TensorBoard logs go to ``{log_dir}/{env}__pretrain__{seed}__{time}`` with tags
``losses/...`` and ``charts/...`` and the hyper-parameters as a text table (CleanRL's
layout). Deterministic for a seed on CPU: collection seeds, network initialisation and
batch sampling all derive from ``config.seed``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.buffer import ReplayBuffer
from agent.checkpoint import env_slug, flatten_state, make_meta, save_checkpoint
from agent.collect import collect, make_env_fn
from agent.critic import Critic, CriticConfig, discount_for_episode_length
from agent.policy import Policy, PolicyConfig
from agent.train import Trainer, set_units_from_buffer
from agent.utils import episode_cost_to_go, hparam_table, resolve_device
from agent.world_model import WorldModel, WorldModelConfig

__all__ = ["PretrainConfig", "PretrainResult", "pretrain", "save_pretrained", "discounted_returns"]


@dataclass
class PretrainConfig:
    """Data collection and training budget of a pretraining run."""

    env: str
    """Env spec, as ``envs.make_env`` takes it: a short name, a Gymnasium id, or package.module:Factory."""
    seed: int = 0
    """Seeds collection (env seeds 1,000,000 + 1000 * seed + i), initialisation and sampling."""
    collect_steps: int = 100_000
    """Env transitions of reward-free exploration data; its falls and goal reaches are
    counted in the result's stats and the checkpoint's metadata."""
    num_envs: int = 8
    """Parallel envs (Gymnasium SyncVectorEnv) during collection."""
    guide_fraction: float = 0.5
    """Share of exploration episodes steered by one of the hand-written controllers the env
    offers as ``exploration_guides`` (demonstrations; an env that offers none: no episode)."""
    updates: int = 3_000
    """Gradient updates of world model and critic."""
    batch_size: int = 128
    """Windows per update."""
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    log_dir: str | None = "runs"
    """TensorBoard root: a run goes to ``{log_dir}/{env}__pretrain__{seed}__{time}``, relative
    to the working directory unless absolute (None: no logs)."""
    log_every: int = 50
    """Updates between TensorBoard scalar writes."""
    device: str = "auto"
    """"auto" (CUDA when available, else CPU), "cpu" or "cuda"."""
    threads: int | None = None
    """torch CPU threads, set when pretraining starts (None: leave the process's setting)."""

    def __post_init__(self):
        if self.collect_steps < 1 or self.updates < 0 or self.batch_size < 2 or self.num_envs < 1:
            raise ValueError(
                f"need collect_steps >= 1, updates >= 0, batch_size >= 2, num_envs >= 1; got "
                f"{self.collect_steps}, {self.updates}, {self.batch_size}, {self.num_envs}"
            )


@dataclass
class PretrainResult:
    """Everything a pretraining run produced."""

    world_model: WorldModel
    critic: Critic
    policy: Policy
    buffer: ReplayBuffer
    trainer: Trainer
    stats: dict[str, Any]
    """steps, episodes, falls, successes, truncations, updates, collect/train/wall seconds, final losses."""
    observation_space: Any = None
    action_space: Any = None
    env_id: str | None = None


def discounted_returns(buffer: ReplayBuffer, gamma: float) -> np.ndarray:
    """Monte-Carlo discounted cost-to-go of every stored transition (no bootstrap), ``(num_steps,)``."""
    return episode_cost_to_go(buffer.cost, buffer.episodes(), gamma)


def pretrain(env_spec: str | None = None, config: PretrainConfig | None = None, progress: bool = True) -> PretrainResult:
    """Collect ``config.collect_steps`` exploration transitions, then train for ``config.updates``.

    ``env_spec`` overrides ``config.env`` (a spec string, or a zero-argument env constructor).
    """
    if config is None:
        if env_spec is None:
            raise ValueError("pretrain needs an env: pass env_spec or a PretrainConfig(env=...)")
        config = PretrainConfig(env=env_spec if isinstance(env_spec, str) else "callable")
    spec = env_spec if env_spec is not None else config.env
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    start = time.perf_counter()

    buffer, collect_stats = collect(spec, config.collect_steps, seed=config.seed, num_envs=config.num_envs,
                                    progress=progress, guide="env", guide_fraction=config.guide_fraction)
    collect_seconds = time.perf_counter() - start
    probe = make_env_fn(spec)()
    observation_space, action_space = probe.observation_space, probe.action_space
    env_id = spec if isinstance(spec, str) else getattr(getattr(probe, "spec", None), "id", None)
    max_episode_steps = getattr(getattr(probe, "spec", None), "max_episode_steps", None)
    probe.close()

    torch.manual_seed(config.seed)
    world_model = WorldModel(buffer.obs_dim, buffer.action_dim, config.world_model)
    critic_config = config.critic
    if critic_config.gamma is None:
        critic_config = dataclasses.replace(critic_config, gamma=discount_for_episode_length(max_episode_steps))
    critic = Critic(config.world_model.latent_dim, buffer.action_dim, critic_config)
    policy = Policy(config.world_model.latent_dim, buffer.action_dim, config.policy)
    set_units_from_buffer(world_model, critic, buffer)
    world_model.to(device)
    critic.to(device)
    policy.to(device)
    trainer = Trainer(world_model, critic, policy, seed=config.seed)

    writer = None
    if config.log_dir is not None and config.updates > 0:
        from torch.utils.tensorboard import SummaryWriter

        name = env_slug(env_id or "env")
        writer = SummaryWriter(str(Path(config.log_dir) / f"{name}__pretrain__{config.seed}__{int(time.time())}"))
        writer.add_text("hyperparameters", hparam_table(config))
        for key, value in collect_stats.as_dict().items():
            writer.add_scalar(f"charts/data_{key}", value, 0)

    rng = np.random.default_rng([config.seed, 2])
    horizon = config.world_model.horizon
    info: dict[str, float] = {}
    iterator = range(config.updates)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(iterator, desc="pretrain", unit="update")
        iterator = bar
    train_start = time.perf_counter()
    for step in iterator:
        batch = buffer.sample(config.batch_size, horizon, rng, device=device)
        info = trainer.update(batch)
        if writer is not None and (step % config.log_every == 0 or step == config.updates - 1):
            for key, value in info.items():
                writer.add_scalar(key, value, step)
            writer.add_scalar("charts/updates_per_second", (step + 1) / (time.perf_counter() - train_start), step)
        if bar is not None and step % 25 == 0:
            bar.set_postfix(latent=f"{info['losses/latent']:.3g}", fall=f"{info['losses/fall']:.3g}",
                            critic=f"{info['losses/critic']:.3g}")
    if writer is not None:
        writer.close()
    world_model.eval()
    critic.eval()
    policy.eval()

    wall = time.perf_counter() - start
    stats: dict[str, Any] = {
        **collect_stats.as_dict(),
        "fall_cost": float(world_model.fall_cost),
        "value_scale": float(critic.value_scale),
        "updates": config.updates,
        "collect_seconds": round(collect_seconds, 2),
        "train_seconds": round(time.perf_counter() - train_start, 2),
        "wall_seconds": round(wall, 2),
        "final": {k: float(v) for k, v in info.items()},
    }
    return PretrainResult(world_model, critic, policy, buffer, trainer, stats, observation_space, action_space, env_id)


def save_pretrained(path: str | Path, result: PretrainResult, config: PretrainConfig | None = None) -> Path:
    """Write the networks, optimiser states and metadata of ``result`` (not the buffer) as a checkpoint."""
    extra = {"pretrain_config": dataclasses.asdict(config)} if config is not None else {}
    meta = make_meta(
        result.env_id, result.observation_space, result.action_space,
        result.world_model.config, result.critic.config, pretraining=result.stats,
        policy_config=result.policy.config, **extra,
    )
    state = {"world_model": result.world_model.state_dict(), "critic": result.critic.state_dict(),
             "policy": result.policy.state_dict(), "trainer": flatten_state(result.trainer.state_dict())}
    return save_checkpoint(path, state, meta)

