"""The online learning loop: act, observe, learn, evaluate now and then, checkpoint, resume.

    report = train(TrainConfig(env=spec, steps=5000), judge=..., evaluate=...)

One loop for every agent, fresh or loaded: training episode ``k`` starts from
``env.reset(seed=train_seed(seed, k))`` (seeds >= 1,000,000, so held-out evaluation seeds
below it are never trained on), the agent explores (``agent.training``), and every
transition goes to ``agent.observe``, which does the learning. Every ``eval_every`` env
steps the caller's ``evaluate(agent)`` runs held-out episodes with exploration off and no
learning. The loop names no env: how an episode is judged (fall, success) and how held-out
episodes are run are the caller's (``evaluation.training`` wires in the project's rules).

Resuming: at the end of an episode, at most every ``save_every`` env steps, the whole state
is written under ``{checkpoint}.resume/`` — networks, optimiser moments, the full replay
buffer, every random generator, the counters and the records so far — and ``resume=True``
continues from it. Because episodes are seeded by their index, a resumed run takes the same
actions as an uninterrupted one (same seed, CPU). A resume of a run made for another env,
seed or configuration is refused before anything is overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.buffer import ReplayBuffer
from agent.checkpoint import cache_dir, env_slug
from agent.critic import NEUTRAL_SETTINGS as CRITIC_NEUTRAL
from agent.critic import CriticConfig
from agent.mpc import NEUTRAL_SETTINGS as AGENT_NEUTRAL
from agent.mpc import AgentConfig, MPCAgent
from agent.policy import PolicyConfig
from agent.utils import hparam_table, machine_info
from agent.world_model import NEUTRAL_SETTINGS as WORLD_MODEL_NEUTRAL
from agent.world_model import WorldModelConfig

__all__ = ["TrainConfig", "train", "train_seed", "competence_step", "best_eval", "Judge", "Evaluate"]

TRAIN_SEED_OFFSET = 1_000_000
Judge = Callable[[float, bool, Mapping[str, Any]], tuple[bool, bool]]
"""``(return, terminated, last info) -> (fell, success)`` of a finished episode."""
Evaluate = Callable[[MPCAgent], dict[str, Any]]
"""Runs held-out episodes with the agent (no learning); returns at least ``episodes,
mean_return, successes, falls``."""
COMPETENCE_WINDOW, COMPETENCE_SUCCESSES = 10, 9
NEUTRAL_SETTINGS: dict[tuple[str, ...], Any] = {**WORLD_MODEL_NEUTRAL, **AGENT_NEUTRAL, **CRITIC_NEUTRAL}
"""Settings added after runs were recorded, as ``(section, ..., name): value`` (a path into the
nested config, e.g. ``("agent", "planner", "random_fraction")``): while a setting holds
the value that reproduces the earlier behaviour it is left out of :meth:`TrainConfig.fingerprint`,
so those runs' resume states and benchmark reports (whose file names hash the fingerprint) still
match. Any other value is in the fingerprint like every setting."""


TOP_LEVEL_NEUTRAL: dict[str, Any] = {"fall_key": "fell", "fall_cost": None}
""":class:`TrainConfig` fields added after runs were recorded, at the values that reproduce them
(left out of the fingerprint while they hold them, as ``NEUTRAL_SETTINGS``)."""


OUTPUT_ONLY = ("json", "progress")
"""Fields a front end adds to :class:`TrainConfig` that change no action (where the report goes,
a progress bar): left out of the fingerprint, so a run resumes with its report written elsewhere.
Torch's thread count stays in it: on CPU it can change the arithmetic."""


def train_seed(seed: int, episode: int) -> int:
    """Env seed of training episode ``episode`` of run ``seed`` (never a held-out seed)."""
    return TRAIN_SEED_OFFSET + 100_000 * seed + episode


@dataclass
class TrainConfig:
    """An online learning run: the env, its budget, evaluation, checkpoints and the agent."""

    env: str
    """Env spec, as ``envs.make_env`` takes it: a short name, a Gymnasium id, or package.module:Factory."""
    steps: int = 10_000
    """Env steps to learn from (seeding steps included)."""
    seed: int = 0
    """Seeds the agent, its exploration and the training episodes' layouts."""
    eval_every: int = 1_000
    """Env steps between evaluations on held-out seeds (0: none)."""
    eval_episodes: int = 5
    """Held-out episodes per evaluation (seeds 0..M-1), planner acting, no learning."""
    checkpoint: Path | None = None
    """Where the trained agent is written (and its resume state, beside it in
    ``{checkpoint}.resume/``); None: the cache, ``~/.cache/latent-mpc/{env}.pt``, which
    ``run_agent.py --env {env}`` then picks up."""
    resume: bool = False
    """Continue the interrupted run whose resume state is beside ``checkpoint``."""
    init_checkpoint: Path | None = None
    """Start from a trained agent instead of fresh networks (its experience is counted)."""
    fall_key: str = "fell"
    """The ``info`` event the fall head learns as a fall, as ``examples/pretrain.py --fall-key``
    takes it: ``"dropped"`` lets an agent practise in a safe world and learn its own drops there
    as the falls they would be in the dangerous one. The report's falls, and the
    agent's experience counters, stay the env's own (``info["fell"]``)."""
    fall_cost: float | None = None
    """Price of each ``fall_key`` event in what the agent learns (e.g. the dangerous world's fall
    cost for a safe world's drops, which cost little there); None: the env's own cost."""
    keep_best: bool = True
    """Also keep the agent of the best evaluation so far (highest mean return, the earliest on a
    tie) at ``{checkpoint stem}.best.pt``, as SB3's ``EvalCallback`` keeps ``best_model``: online
    learning can lose ground after it has got somewhere (README, "drift"), and this is the agent to
    use then. It is chosen on the evaluation seeds, so measure it on other seeds."""
    save_every: int = 2_000
    """Env steps between resume-state writes (at the next episode end)."""
    log_dir: Path | None = Path("runs")
    """TensorBoard root: the run goes to ``{log_dir}/{env}__train__{seed}__{time}`` (None: no logs)."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"--steps must be >= 1, got {self.steps}")
        if self.eval_every < 0 or self.save_every < 1:
            raise ValueError(f"need --eval-every >= 0 and --save-every >= 1, got {self.eval_every}, {self.save_every}")
        if self.eval_every and self.eval_episodes < 1:
            raise ValueError(f"--eval-every {self.eval_every} needs --eval-episodes >= 1 "
                             f"(got {self.eval_episodes}); pass --eval-every 0 to train without evaluation")
        for name in ("freeze_world_model", "freeze_encoder"):
            if getattr(self.agent, name) and self.init_checkpoint is None:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} keeps a trained world model; give it one with --init-checkpoint PATH "
                                 f"(e.g. examples/pretrain.py's) or drop {flag}")
        if not self.fall_key:
            raise ValueError("--fall-key must name an info key (e.g. fell, dropped), got an empty string")
        if self.fall_cost is not None and not (np.isfinite(self.fall_cost) and self.fall_cost >= 0):
            raise ValueError(f"--fall-cost must be a finite cost >= 0 (e.g. 100), got {self.fall_cost}")
        if self.init_checkpoint is None and self.agent.online and self.steps < self.agent.seed_steps:
            raise ValueError(
                f"--steps {self.steps} is smaller than --seed-steps {self.agent.seed_steps}: the agent would "
                "only act randomly and never learn; raise --steps or lower --seed-steps"
            )

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint is not None else cache_dir() / f"{env_slug(self.env)}.pt"

    @property
    def resume_dir(self) -> Path:
        path = self.checkpoint_path
        return path.with_name(path.name + ".resume")

    @property
    def best_checkpoint_path(self) -> Path:
        path = self.checkpoint_path
        return path.with_name(f"{path.stem}.best{path.suffix}")

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with the interrupted one (not the budget or paths)."""
        d = dataclasses.asdict(self)
        for key in ("steps", "checkpoint", "resume", "log_dir", "save_every", "keep_best"):
            d.pop(key)
        for key in OUTPUT_ONLY:  # a front end's own fields (``examples/train.py``'s report path, bar)
            d.pop(key, None)
        for (*parents, name), neutral in NEUTRAL_SETTINGS.items():
            node: Any = d
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict) and name in node and node[name] == neutral:
                del node[name]
        for name, neutral in TOP_LEVEL_NEUTRAL.items():
            if d.get(name, neutral) == neutral:
                d.pop(name, None)
        return json.loads(json.dumps(d, default=str))


def competence_step(episodes: list[dict[str, Any]]) -> int | None:
    """Env step at which 9 of the last 10 training episodes had succeeded, or None."""
    for i in range(COMPETENCE_WINDOW - 1, len(episodes)):
        window = episodes[i - COMPETENCE_WINDOW + 1: i + 1]
        if sum(e["success"] for e in window) >= COMPETENCE_SUCCESSES:
            return int(episodes[i]["step"])
    return None


@dataclass
class _Progress:
    """Counters and records of a run; saved as JSON beside the resume state."""

    total_steps: int = 0
    episode: int = 0
    episodes: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    act_ms: list[float] = field(default_factory=list)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to the resume state")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _make_agent(config: TrainConfig, env) -> MPCAgent:
    if config.init_checkpoint is not None:
        agent = MPCAgent.load(config.init_checkpoint, env, config.agent, seed=config.seed)
        elsewhere = other_world(agent.pretraining_stats, config.env, getattr(getattr(env, "spec", None), "id", None))
        if elsewhere is not None:
            # Learned in another env (a safe world): this env's experience starts at zero, the other
            # world's is carried in its own column, and the agent now belongs to this env.
            agent.pretraining_stats = {"steps": 0, "episodes": 0, "falls": 0, "other_world": elsewhere}
            agent.env_id = config.env
        return agent
    return MPCAgent(env, config.agent, wm_config=config.world_model, critic_config=config.critic,
                    policy_config=config.policy, seed=config.seed, env_id=config.env)


def _save_resume(config: TrainConfig, agent: MPCAgent, progress: _Progress) -> None:
    """Write the full training state; ``progress.json`` last, so a crash mid-write keeps the old state."""
    folder = config.resume_dir
    folder.mkdir(parents=True, exist_ok=True)
    generation = progress.total_steps
    state_path, buffer_path = folder / f"state-{generation}.pt", folder / f"buffer-{generation}.npz"
    agent.save(state_path, replay_steps=0)
    agent.buffer.save(buffer_path)
    torch.save({"torch_rng": torch.get_rng_state(),
                "planner_rng": agent.planner._generator.get_state() if agent.planner is not None else torch.zeros(0),
                "fall_cost": agent.world_model.fall_cost.detach().clone()},
               folder / f"rng-{generation}.pt")
    record = {
        "generation": generation,
        "fingerprint": config.fingerprint(),
        "progress": dataclasses.asdict(progress),
        "agent": {"total_steps": agent.total_steps, "update_credit": agent._update_credit,
                  "online_counts": agent.experience_counts(), "rng": agent._rng.bit_generator.state,
                  "pretraining": agent.pretraining_stats},
    }
    tmp = folder / "progress.json.tmp"
    tmp.write_text(json.dumps(record, default=_json_default))
    os.replace(tmp, folder / "progress.json")
    for old in folder.iterdir():
        if old.name != "progress.json" and "-" in old.name and not old.name.split("-", 1)[1].startswith(f"{generation}."):
            old.unlink()


def _load_resume(config: TrainConfig, env) -> tuple[MPCAgent, _Progress]:
    folder = config.resume_dir
    progress_file = folder / "progress.json"
    if not progress_file.exists():
        raise FileNotFoundError(
            f"--resume: no resume state at {folder}; start the run without --resume (or pass the "
            "--checkpoint of the run to continue)"
        )
    record = json.loads(progress_file.read_text())
    theirs, ours = record["fingerprint"], config.fingerprint()
    theirs = {k: v for k, v in theirs.items() if k not in OUTPUT_ONLY}  # states written before they left it
    if theirs != ours:
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise ValueError(
            f"--resume: the run at {folder} was made with other settings ({', '.join(differ)} differ, e.g. "
            f"{differ[0]}={theirs.get(differ[0])!r} there, {ours.get(differ[0])!r} here); nothing was "
            "overwritten. Resume with the same flags, or pass another --checkpoint"
        )
    generation = record["generation"]
    agent = MPCAgent.load(folder / f"state-{generation}.pt", env, config.agent, seed=config.seed)
    agent.buffer = ReplayBuffer.load(folder / f"buffer-{generation}.npz", capacity=config.agent.buffer_capacity)
    rng = torch.load(folder / f"rng-{generation}.pt", weights_only=True)
    torch.set_rng_state(rng["torch_rng"])
    if agent.planner is not None:
        agent.planner._generator.set_state(rng["planner_rng"])
    agent.world_model.fall_cost.copy_(rng["fall_cost"])
    saved = record["agent"]
    agent.total_steps, agent._update_credit = saved["total_steps"], saved["update_credit"]
    agent._online_counts = dict(saved["online_counts"])
    agent.pretraining_stats = dict(saved["pretraining"])
    agent._rng.bit_generator.state = saved["rng"]
    return agent, _Progress(**record["progress"])


def train(
    config: TrainConfig,
    *,
    judge: Judge,
    evaluate: Evaluate | None = None,
    make_env: Callable[[str], Any] | None = None,
    progress_bar: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run ``config`` and return its report (the JSON of ``examples/train.py``).

    ``judge`` decides each finished training episode's fall and success; ``evaluate`` runs
    the held-out evaluations (None: none); ``make_env`` builds the env (default
    :func:`envs.make_env`).
    """
    if make_env is None:
        from envs import make_env as make_env  # noqa: PLC0415 - the default factory
    env = make_env(config.env)
    if config.resume:
        agent, progress = _load_resume(config, env)
        log(f"resuming {config.env} seed {config.seed} at env step {progress.total_steps:,} from {config.resume_dir}")
    else:
        agent, progress = _make_agent(config, env), _Progress()
    agent.training = True
    experience_before = dict(agent.pretraining_stats)

    writer = None
    if config.log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        run_dir = Path(config.log_dir) / f"{env_slug(config.env)}__train__{config.seed}__{int(time.time())}"
        writer = SummaryWriter(str(run_dir))
        writer.add_text("hyperparameters", hparam_table(config))
        log(f"TensorBoard logs: {run_dir} (tensorboard --logdir {config.log_dir})")
    bar = None
    if progress_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=progress.total_steps, desc=f"train {config.env}", unit="step")

    start = time.perf_counter() - progress.wall_s
    last_save = progress.total_steps
    next_eval = (progress.total_steps // config.eval_every + 1) * config.eval_every if config.eval_every else None

    def run_eval() -> None:
        saved_plan = agent._plan
        agent.training = False
        result = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in evaluate(agent).items()}
        agent.training = True
        agent._plan = saved_plan
        result["step"] = progress.total_steps
        progress.evals.append(result)
        if config.keep_best and best_eval(progress.evals) is result:
            agent.save(config.best_checkpoint_path)  # deterministic: it draws from no generator of the run
        if writer is not None:
            for key in ("mean_return", "successes", "falls"):
                writer.add_scalar(f"eval/{key}", result[key], progress.total_steps)
        if bar is not None:
            bar.set_postfix(eval_return=f"{result['mean_return']:.1f}", eval_successes=result["successes"])

    while progress.total_steps < config.steps:
        seed = train_seed(config.seed, progress.episode)
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        ret, length, finished = 0.0, 0, False
        while progress.total_steps < config.steps:
            planning = agent.started
            tick = time.perf_counter()
            action = agent.act(obs)
            if planning:  # seeding steps (random actions) are not acts worth timing
                progress.act_ms.append((time.perf_counter() - tick) * 1e3)
            next_obs, reward, terminated, truncated, info = env.step(action)
            ret, length = ret + float(reward), length + 1
            done = bool(terminated or truncated)
            if done:
                fell, success = judge(ret, bool(terminated), info)
                if "fell" not in info:  # tell the fall head what the episode's judge decided
                    info = {**info, "fell": fell}
            learn_reward = reward
            if config.fall_key != "fell" or config.fall_cost is not None:
                event = bool(terminated) and bool(info.get(config.fall_key, False))
                info = {**info, "fall_label": event}  # what the fall head learns (MPCAgent.observe)
                if event and config.fall_cost is not None:
                    learn_reward = -config.fall_cost
            update = agent.observe(obs, action, learn_reward, next_obs, terminated, truncated, info)
            progress.total_steps += 1
            if bar is not None:
                bar.update(1)
            if writer is not None and update and progress.total_steps % 100 == 0:
                for key, value in update.items():
                    writer.add_scalar(key, value, progress.total_steps)
            if next_eval is not None and evaluate is not None and progress.total_steps >= next_eval:
                run_eval()
                next_eval += config.eval_every
            obs = next_obs
            if done:
                finished = True
                break
        if not finished:
            break  # the budget ended mid-episode: that episode is not counted as finished
        progress.episodes.append({"step": progress.total_steps, "return": ret, "length": length,
                                  "fell": bool(fell), "success": bool(success)})
        progress.episode += 1
        if writer is not None:
            writer.add_scalar("charts/episode_return", ret, progress.total_steps)
            writer.add_scalar("charts/falls", sum(e["fell"] for e in progress.episodes), progress.total_steps)
        if progress.total_steps - last_save >= config.save_every and progress.total_steps < config.steps:
            progress.wall_s = time.perf_counter() - start
            _save_resume(config, agent, progress)
            last_save = progress.total_steps

    progress.wall_s = time.perf_counter() - start
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.close()
    agent.save(config.checkpoint_path)
    if config.resume_dir.exists():
        shutil.rmtree(config.resume_dir)  # the run is complete: its checkpoint supersedes the state
    report = build_report(config, progress, experience_before, agent,
                          env_id=getattr(getattr(env, "spec", None), "id", None))
    log(f"wrote {config.checkpoint_path}")
    return report


def best_eval(evals: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The evaluation whose agent ``keep_best`` kept: the highest mean return, the earliest on a tie."""
    best = None
    for result in evals:
        if best is None or result["mean_return"] > best["mean_return"]:
            best = result
    return best


def other_world(before: Mapping[str, Any], env: str, env_id: str | None) -> dict[str, Any] | None:
    """The experience in ``before`` (an agent's pretraining stats) when it comes from another env
    than ``env`` (the run's spec; ``env_id``: its Gymnasium id), as ``{env, steps, episodes,
    falls, drops}``; None when it is this env's. Stats that name no env (checkpoints older than
    the safe world) count as this env's, as they always did."""
    spec, gym_id = before.get("env"), before.get("env_id")
    if spec is None and gym_id is None:
        return None
    if spec == env or (gym_id is not None and gym_id in (env_id, env)):
        return None
    return {"env": gym_id or spec, "steps": int(before.get("steps", 0)), "episodes": int(before.get("episodes", 0)),
            "falls": int(before.get("falls", 0)), "drops": int(before.get("drops", 0))}


def build_report(config: TrainConfig, progress: _Progress, before: dict[str, Any], agent: MPCAgent,
                 env_id: str | None = None) -> dict[str, Any]:
    """The run's JSON: the keys DESIGN.md names for ``train.py``, plus the per-episode series.

    ``before`` is what the agent had learned from when the run began (its checkpoint's stats).
    Falls count every env step learned from *in this env* (``env_id``: its Gymnasium id), that
    experience included; experience from another env (a safe world learned in before this one)
    goes in a column of its own, ``other_world`` (None when there is none).
    """
    episodes = progress.episodes
    competent_at = competence_step(episodes)
    elsewhere = other_world(before, config.env, env_id)
    if elsewhere is not None:
        experience = {**agent.experience_counts(), "other_world": elsewhere}
        before = {}
    else:
        experience = agent.experience_stats()
        elsewhere = before.get("other_world")
    prior_falls, prior_steps = int(before.get("falls", 0)), int(before.get("steps", 0))
    train_falls = sum(e["fell"] for e in episodes)
    if competent_at is None:
        falls_before = None
    else:
        falls_before = prior_falls + sum(e["fell"] for e in episodes if e["step"] <= competent_at)
    return {
        "env": config.env,
        "seed": config.seed,
        "steps": progress.total_steps,
        "episodes": len(episodes),
        "falls": prior_falls + train_falls,
        "training_falls": train_falls,
        "successes": sum(e["success"] for e in episodes),
        "eval_falls": sum(int(e["falls"]) for e in progress.evals),
        "competent_at": competent_at,
        "falls_before_competent": falls_before,
        "falls_so_far_if_not_competent": None if competent_at is not None else prior_falls + train_falls,
        "pretraining": {"steps": prior_steps, "falls": prior_falls, "episodes": int(before.get("episodes", 0))},
        "other_world": elsewhere,
        "evals": progress.evals,
        "best_eval": best_eval(progress.evals) if config.keep_best else None,
        "best_checkpoint": str(config.best_checkpoint_path) if config.keep_best and progress.evals else None,
        "wall_s": round(progress.wall_s, 2),
        "steps_per_s": round(progress.total_steps / progress.wall_s, 2) if progress.wall_s > 0 else None,
        "act_ms_median": round(statistics.median(progress.act_ms), 3) if progress.act_ms else None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "machine": machine_info(),
        "checkpoint": str(config.checkpoint_path),
        "experience": experience,
        "config": config.fingerprint(),
        "series": episodes,
    }
