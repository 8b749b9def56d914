"""Pretraining: collect reward-free exploration data, train world model and critic, report.

    result = pretrain(spec, PretrainConfig(env=spec))
    save_pretrained(f"checkpoints/{env_slug(spec)}.pt", result)

TensorBoard logs go to ``{log_dir}/{env}__pretrain__{seed}__{time}`` with tags
``losses/...`` and ``charts/...`` and the hyper-parameters as a text table (CleanRL's
layout). Deterministic for a seed on CPU: collection seeds, network initialisation and
batch sampling all derive from ``config.seed``.

Background knowledge from a safe world: ``fall_key`` names the ``info`` event that labels
the fall head (e.g. ``"dropped"`` in a safe world whose drops off an edge are not falls)
and ``fall_cost`` prices that event as the world the agent will act in does (e.g. 100 for
the dangerous world). The result's stats say which env the data came from and count its steps,
episodes, falls and drops, so a report on another env can keep them in a column of their own.

Resuming: given a ``resume_dir`` (``examples/pretrain.py`` uses ``{checkpoint}.resume/``),
:func:`pretrain` writes the collected buffer there after collection and the training state
(networks, optimiser moments, random generators) every ``save_every`` updates, each
atomically; ``resume=True`` continues from it to the same weights as an uninterrupted run
(same seed, CPU). A resume made with other settings is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.buffer import ReplayBuffer
from agent.checkpoint import env_slug, flatten_state, make_meta, save_checkpoint, unflatten_state
from agent.collect import collect, make_env_fn
from agent.critic import Critic, CriticConfig, discount_for_episode_length
from agent.policy import Policy, PolicyConfig
from agent.train import Trainer, set_units_from_buffer
from agent.utils import episode_cost_to_go, hparam_table, resolve_device
from agent.world_model import WorldModel, WorldModelConfig

__all__ = ["PretrainConfig", "PretrainResult", "pretrain", "save_pretrained", "discounted_returns", "price_falls"]

_NOT_IN_FINGERPRINT = ("updates", "log_dir", "log_every", "threads", "save_every")
"""Settings a resumed pretraining may change: the budget, logging and speed, not the result."""


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
    guide_fraction: float = 0.0
    """Share of exploration episodes steered by one of the hand-written controllers the env
    offers as ``exploration_guides``: demonstrations, so off by default (issue #12: what the
    agent learns from, a baseline it is compared with gets too); an env that offers none: no episode."""
    updates: int = 3_000
    """Gradient updates of world model and critic."""
    batch_size: int = 128
    """Windows per update."""
    fall_key: str = "fell"
    """The ``info`` key whose events at a termination label the fall head's data, e.g.
    ``dropped`` in a safe world whose drops off an edge are not falls. With
    "fell", a termination the env does not label counts; any other key the env never reports
    is refused after collection."""
    fall_cost: float | None = None
    """The price of a labelled fall in the world the agent will act in (e.g. 100, what
    the dangerous world charges for the same event): every labelled transition's cost in
    the data is set to it before training (so the critic and the rehearsal data beside the
    checkpoint price it so too) and the world model's ``fall_cost`` is it. None: the data's
    own costs."""
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    log_dir: str | None = "runs"
    """TensorBoard root: a run goes to ``{log_dir}/{env}__pretrain__{seed}__{time}``, relative
    to the working directory unless absolute (None: no logs)."""
    log_every: int = 50
    """Updates between TensorBoard scalar writes."""
    save_every: int = 500
    """Updates between writes of the resume state (when there is a resume folder)."""
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
        if self.save_every < 1:
            raise ValueError(f"--save-every must be >= 1 update, got {self.save_every}")
        if not self.fall_key:
            raise ValueError("--fall-key must name an info key, e.g. fell or dropped; got an empty string")
        if self.fall_cost is not None and not (np.isfinite(self.fall_cost) and self.fall_cost >= 0):
            raise ValueError(f"--fall-cost must be a finite cost >= 0 (e.g. 100), got {self.fall_cost}")

    def fingerprint(self, env: str | None = None) -> dict[str, Any]:
        """What a resumed pretraining must share with the interrupted one (not budget, logs, threads)."""
        d = dataclasses.asdict(self)
        for key in _NOT_IN_FINGERPRINT:
            d.pop(key)
        if env is not None:
            d["env"] = env
        return json.loads(json.dumps(d, default=str))


@dataclass
class PretrainResult:
    """Everything a pretraining run produced."""

    world_model: WorldModel
    critic: Critic
    policy: Policy
    buffer: ReplayBuffer
    """The collected data as trained on (with ``fall_cost``: its labelled falls priced so)."""
    trainer: Trainer
    stats: dict[str, Any]
    """env (the spec), env_id (the Gymnasium id), fall_key, steps, episodes, falls, drops,
    fall_labels, successes, truncations, updates, collect/train/wall seconds, final losses."""
    observation_space: Any = None
    action_space: Any = None
    env_id: str | None = None


def discounted_returns(buffer: ReplayBuffer, gamma: float) -> np.ndarray:
    """Monte-Carlo discounted cost-to-go of every stored transition (no bootstrap), ``(num_steps,)``."""
    return episode_cost_to_go(buffer.cost, buffer.episodes(), gamma)


def price_falls(buffer: ReplayBuffer, fall_cost: float) -> int:
    """Set the cost of every transition labelled a fall in ``buffer`` to ``fall_cost``; returns how many."""
    slots = buffer.valid_slots()
    labelled = slots[buffer.fell[slots]]
    buffer.cost[labelled] = fall_cost
    return int(labelled.size)


def pretrain(
    env_spec: str | None = None,
    config: PretrainConfig | None = None,
    progress: bool = True,
    *,
    resume_dir: str | Path | None = None,
    resume: bool = False,
) -> PretrainResult:
    """Collect ``config.collect_steps`` exploration transitions, then train for ``config.updates``.

    ``env_spec`` overrides ``config.env`` (a spec string, or a zero-argument env constructor).
    ``resume_dir``: where the resume state is written (None: nowhere); ``resume=True``
    continues the run whose state is there (see the module docstring). Raises
    ``FileNotFoundError`` when there is none and ``ValueError`` when it was made with other
    settings, before anything is written.
    """
    if config is None:
        if env_spec is None:
            raise ValueError("pretrain needs an env: pass env_spec or a PretrainConfig(env=...)")
        config = PretrainConfig(env=env_spec if isinstance(env_spec, str) else "callable")
    spec = env_spec if env_spec is not None else config.env
    folder = Path(resume_dir) if resume_dir is not None else None
    if resume and folder is None:
        raise ValueError("pretrain(resume=True) needs the resume_dir of the run to continue")
    fingerprint = config.fingerprint(spec if isinstance(spec, str) else None)
    record = _read_resume(folder, fingerprint) if resume else None
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    start = time.perf_counter()

    if record is None:
        buffer, collected = collect(spec, config.collect_steps, seed=config.seed, num_envs=config.num_envs,
                                    progress=progress, guide="env", guide_fraction=config.guide_fraction,
                                    fall_key=config.fall_key)
        collect_stats = {**collected.as_dict(), "collect_seconds": round(time.perf_counter() - start, 2)}
        record = {"fingerprint": fingerprint, "collect": collect_stats, "update": 0, "final": {},
                  "train_seconds": 0.0}
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            buffer.save(folder / "buffer.npz")
            _write_json(folder / "progress.json", record)
    else:
        buffer = ReplayBuffer.load(folder / "buffer.npz")
        collect_stats = record["collect"]
    probe = make_env_fn(spec)()
    observation_space, action_space = probe.observation_space, probe.action_space
    gym_id = getattr(getattr(probe, "spec", None), "id", None)
    env_id = spec if isinstance(spec, str) else gym_id
    max_episode_steps = getattr(getattr(probe, "spec", None), "max_episode_steps", None)
    probe.close()
    if config.fall_cost is not None:
        price_falls(buffer, config.fall_cost)

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
    rng = np.random.default_rng([config.seed, 2])
    first = int(record["update"])
    if first > 0:
        _load_training_state(folder / f"state-{first}.pt", world_model, critic, policy, trainer, rng)

    writer = None
    if config.log_dir is not None and config.updates > first:
        from torch.utils.tensorboard import SummaryWriter

        name = env_slug(env_id or "env")
        writer = SummaryWriter(str(Path(config.log_dir) / f"{name}__pretrain__{config.seed}__{int(time.time())}"))
        writer.add_text("hyperparameters", hparam_table(config))
        for key, value in collect_stats.items():
            writer.add_scalar(f"charts/data_{key}", value, 0)

    horizon = config.world_model.horizon
    info: dict[str, float] = dict(record["final"])
    iterator = range(first, config.updates)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(iterator, desc="pretrain", unit="update", initial=first, total=config.updates)
        iterator = bar
    train_start = time.perf_counter() - float(record["train_seconds"])
    for step in iterator:
        batch = buffer.sample(config.batch_size, horizon, rng, device=device)
        info = trainer.update(batch)
        if writer is not None and (step % config.log_every == 0 or step == config.updates - 1):
            for key, value in info.items():
                writer.add_scalar(key, value, step)
            writer.add_scalar("charts/updates_per_second", (step + 1 - first) / (time.perf_counter() - train_start), step)
        if bar is not None and step % 25 == 0:
            bar.set_postfix(latent=f"{info['losses/latent']:.3g}", fall=f"{info['losses/fall']:.3g}",
                            critic=f"{info['losses/critic']:.3g}")
        done = step + 1
        if folder is not None and done % config.save_every == 0 and done < config.updates:
            record.update(update=done, final=info, train_seconds=time.perf_counter() - train_start)
            _save_training_state(folder, record, world_model, critic, policy, trainer, rng)
    if writer is not None:
        writer.close()
    if config.fall_cost is not None:  # exactly the price asked for (the data's costs are float32)
        world_model.fall_cost.fill_(config.fall_cost)
    world_model.eval()
    critic.eval()
    policy.eval()

    stats: dict[str, Any] = {
        "env": spec if isinstance(spec, str) else None,
        "env_id": gym_id,
        "fall_key": config.fall_key,
        **collect_stats,
        "fall_cost": float(world_model.fall_cost),
        "value_scale": float(critic.value_scale),
        "updates": config.updates,
        "train_seconds": round(time.perf_counter() - train_start, 2),
        "final": {k: float(v) for k, v in info.items()},
    }
    stats["wall_seconds"] = round(stats["collect_seconds"] + stats["train_seconds"], 2)
    return PretrainResult(world_model, critic, policy, buffer, trainer, stats, observation_space, action_space, env_id)


# ---------------------------------------------------------------------- resume state
def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def _read_resume(folder: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The saved progress record, after checking it was made with the same settings."""
    path = folder / "progress.json"
    if not path.exists():
        raise FileNotFoundError(
            f"--resume: no pretraining resume state at {folder}; start without --resume (or pass the "
            "--checkpoint of the run to continue)"
        )
    record = json.loads(path.read_text())
    theirs = record["fingerprint"]
    if theirs != fingerprint:
        differ = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k) != fingerprint.get(k))
        raise ValueError(
            f"--resume: the pretraining at {folder} was made with other settings ({', '.join(differ)} differ, "
            f"e.g. {differ[0]}={theirs.get(differ[0])!r} there, {fingerprint.get(differ[0])!r} here); nothing "
            "was overwritten. Resume with the same flags, or pass another --checkpoint"
        )
    return record


def _save_training_state(folder: Path, record: dict[str, Any], world_model: WorldModel, critic: Critic,
                         policy: Policy, trainer: Trainer, rng: np.random.Generator) -> None:
    """Write ``state-{update}.pt`` (networks, optimiser moments, torch RNG), then the record that
    points at it (with the batch sampler's state), then drop older states: a crash at any
    point leaves a complete earlier state."""
    update = record["update"]
    state = {"world_model": world_model.state_dict(), "critic": critic.state_dict(), "policy": policy.state_dict(),
             "trainer": flatten_state(trainer.state_dict()), "rng": {"torch": torch.get_rng_state()}}
    save_checkpoint(folder / f"state-{update}.pt", state, {"update": update})
    _write_json(folder / "progress.json", {**record, "sampler": rng.bit_generator.state})
    for old in folder.glob("state-*.pt"):
        if old.name != f"state-{update}.pt":
            old.unlink()


def _load_training_state(path: Path, world_model: WorldModel, critic: Critic, policy: Policy, trainer: Trainer,
                         rng: np.random.Generator) -> None:
    payload = torch.load(path, map_location="cpu", weights_only=True)
    state = payload["state"]
    world_model.load_state_dict(state["world_model"])
    critic.load_state_dict(state["critic"])
    policy.load_state_dict(state["policy"])
    trainer.load_state_dict(unflatten_state(state["trainer"]))
    torch.set_rng_state(state["rng"]["torch"])
    record = json.loads((path.parent / "progress.json").read_text())
    rng.bit_generator.state = record["sampler"]


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
