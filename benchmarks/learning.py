"""Learning curves of the latent-MPC agent and SAC: same tasks, seeds, env-step budgets and evaluation steps.

    python benchmarks/learning.py                                   # every task, seed 0, one process
    python benchmarks/learning.py --tasks pendulum hopper --workers 2
    python benchmarks/learning.py --budget-scale 0.2 --work-dir /tmp/smoke --json /tmp/smoke/learning.json
    python benchmarks/learning.py --no-run                          # redraw from the runs in --work-dir

Every (task, agent, seed) is one run of the task's budget of env steps (times
``--budget-scale``). The MPC agent learns online from scratch with ``examples/train.py``'s
settings, on the CPU (:func:`evaluation.training.run_training`); SAC is Stable-Baselines3's with its
defaults except ``learning_starts=1000`` (:func:`evaluation.baselines.make_sb3_model`).
Both agents:

- train on the same episodes: training episode ``k`` of seed ``s`` starts from
  ``reset(seed=agent.loop.train_seed(s, k))`` (SAC through :class:`TrainingSeeds`);
- are evaluated every ``--eval-every`` env steps on ``--eval-episodes`` held-out episodes
  (seeds ``0..M-1``, never trained on) in an env of their own: the MPC agent plans with
  exploration off and no learning, SAC acts with its deterministic policy. (SB3 calls the
  hook after the env step and before that step's gradient update, so SAC is evaluated one
  update behind the MPC agent: 1 of thousands.);
- have their training episodes judged (fall, success) by the env's outcome rule
  (:func:`evaluation.outcomes.resolve_outcome_rule`), through the same code.

A run's ``wall_s`` and ``steps_per_s`` include its evaluations. ``act_ms_median`` is the
MPC agent's planning time in training, SAC's deterministic ``predict`` in evaluation.

Tasks (name: env, budget): pendulum: Pendulum-v1, 5k; inverted-pendulum:
InvertedPendulum-v5, 5k; mountain-car: MountainCarContinuous-v0, 20k; half-cheetah:
HalfCheetah-v5, 30k; hopper: Hopper-v5, 30k; cartpole-swingup: DeepMind Control's
cartpole swing-up through Shimmy (``dm_control/cartpole-swingup-v0`` with a
``FlattenObservation`` wrapper), 20k; cliff-car: cliff-car from scratch, 30k;
ledge-walker: the env of ``examples/custom_env.py``, 10k (run with ``PYTHONPATH=.`` from
the repository root, so that ``examples`` imports). The DeepMind Control task needs the
optional extra, ``pip install -e '.[dmc]'`` (Shimmy, dm_control and the MuJoCo 3.x it runs
on). Where it cannot be built (the extra missing, or a dm_control that does not run on the
installed MuJoCo), Walker2d-v5 with 30k steps stands in for it, and the JSON says so and why.

Resuming: a finished run writes its report to ``--work-dir`` under a name holding a hash
of everything that decides its result; a rerun with the same settings skips it. An MPC
run that was interrupted continues from its resume state (``TrainConfig(resume=True)``;
checkpoint and resume state in ``--work-dir``); an interrupted SAC run starts again (it
is cheap). The merged JSON, markdown table and plot are rewritten after every finished
run and cover every task with runs of these settings in ``--work-dir``, so tasks run in
separate invocations (``--tasks a b`` then ``--tasks c d``, other flags the same) end up
in one table.

``--workers N`` runs N runs at a time, each in a fresh process (spawn) with one torch
thread; with ``--workers 1`` they run one after the other in this process, so a run's
``peak_rss_mb`` is this process's peak so far.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import math
import multiprocessing
import resource
import shlex
import statistics
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import tyro

from agent.critic import CriticConfig
from agent.loop import TrainConfig, competence_step, train_seed
from agent.mpc import AgentConfig
from agent.policy import PolicyConfig
from agent.world_model import WorldModelConfig
from envs import make_env  # DeepMind Control ids too (flattened), with the 'dmc' extra

HERE = Path(__file__).resolve().parent

RESULTS = HERE / "results"
"""This benchmark's results folder (beside the script, wherever it is run from)."""

TaskName = Literal["pendulum", "inverted-pendulum", "mountain-car", "half-cheetah", "hopper",
                   "cartpole-swingup", "cliff-car", "ledge-walker"]
AgentName = Literal["mpc", "sac"]
AGENT_LABELS = {"mpc": "latent MPC (from scratch)", "sac": "SAC (SB3 defaults)"}


@dataclass(frozen=True)
class Task:
    """A learning task: its name on the command line, its env spec and its budget of env steps."""

    name: str
    env: str
    budget: int


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("pendulum", "Pendulum-v1", 5_000),
    Task("inverted-pendulum", "InvertedPendulum-v5", 5_000),
    Task("mountain-car", "MountainCarContinuous-v0", 20_000),
    Task("half-cheetah", "HalfCheetah-v5", 30_000),
    Task("hopper", "Hopper-v5", 30_000),
    Task("cartpole-swingup", "dm_control/cartpole-swingup-v0", 20_000),
    Task("cliff-car", "cliff-car", 30_000),
    Task("ledge-walker", "examples.custom_env:make_ledge_walker", 10_000),
)}
"""The benchmark's tasks at full budget, in table order."""
DMC_STAND_IN = Task("cartpole-swingup", "Walker2d-v5", 30_000)
"""What runs under the name cartpole-swingup where the DeepMind Control env cannot be built."""


@dataclass
class Args:
    """Learning curves of the latent-MPC agent and SB3 SAC on the same tasks, seeds, budgets and evaluation steps."""

    tasks: tuple[TaskName, ...] = tuple(TASKS)  # type: ignore[assignment]
    """Tasks to run (all by default; see the module docstring for envs and budgets)."""
    agents: tuple[AgentName, ...] = ("mpc", "sac")
    """Agents to run on every task and seed."""
    seeds: tuple[int, ...] = (0,)
    """Seeds; every agent gets every seed."""
    budget_scale: float = 1.0
    """Multiply every task's budget by this (rounded to a multiple of 10 env steps), e.g. 0.05 for a smoke run."""
    eval_every: int | None = None
    """Env steps between evaluations (None: a tenth of each task's budget)."""
    eval_episodes: int = 5
    """Held-out episodes per evaluation (seeds 0..M-1)."""
    workers: int = 1
    """Runs at a time, each in its own process with one torch thread (1: one after the other, here)."""
    json: Path = RESULTS / "learning.json"
    """Merged results: per task, per agent, per seed, the run's report."""
    plot: Path | None = None
    """PNG: one panel per task, evaluation return against env steps (None: beside --json)."""
    markdown: Path | None = None
    """Markdown table (None: beside --json)."""
    work_dir: Path = RESULTS / "learning"
    """Per-run reports, MPC checkpoints and resume states."""
    log_dir: Path | None = None
    """TensorBoard root for both agents' training logs (None: none)."""
    run: bool = True
    """--no-run: run nothing, only merge and redraw what --work-dir holds."""
    sac_learning_starts: int = 1000
    """SAC: env steps of random actions before its first gradient step (SB3's default is 100)."""
    save_every: int = 2_000
    """MPC: env steps between writes of the resume state (at the next episode end)."""
    agent: AgentConfig = field(default_factory=lambda: AgentConfig(device="cpu"))
    """MPC agent: how it plans and learns (train.py's defaults, but on the CPU as SAC is; smaller
    settings make a smoke test fast)."""
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    """MPC agent: world-model sizes and training (train.py's defaults)."""
    critic: CriticConfig = field(default_factory=CriticConfig)
    """MPC agent: critic (train.py's defaults)."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """MPC agent: policy prior (train.py's defaults)."""

    def __post_init__(self) -> None:
        for flag, values in (("--tasks", self.tasks), ("--agents", self.agents), ("--seeds", self.seeds)):
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{flag} needs distinct values, got {' '.join(map(str, values)) or 'none'}")
        unknown = [name for name in self.tasks if name not in TASKS]
        if unknown:
            raise ValueError(f"--tasks: unknown {', '.join(unknown)}; choose from {', '.join(TASKS)}")
        if not self.budget_scale > 0:
            raise ValueError(f"--budget-scale must be > 0, got {self.budget_scale}")
        if self.eval_every is not None and self.eval_every < 1:
            raise ValueError(f"--eval-every must be >= 1 (or left out: a tenth of the budget), got {self.eval_every}")
        if self.eval_episodes < 1 or self.workers < 1 or self.save_every < 1 or self.sac_learning_starts < 0:
            raise ValueError("need --eval-episodes, --workers and --save-every >= 1 and --sac-learning-starts >= 0, "
                             f"got {self.eval_episodes}, {self.workers}, {self.save_every}, {self.sac_learning_starts}")
        # Reports record absolute paths, so they do not depend on where this ran from.
        self.json, self.work_dir = self.json.resolve(), self.work_dir.resolve()
        self.plot = (self.plot or self.json.with_suffix(".png")).resolve()
        self.markdown = (self.markdown or self.json.with_suffix(".md")).resolve()
        if self.log_dir is not None:
            self.log_dir = self.log_dir.resolve()


# --- tasks and envs ------------------------------------------------------------------------


@functools.cache
def dmc_problem() -> str | None:
    """Why the DeepMind Control cartpole cannot be built here, or None if it can."""
    try:
        env = make_env(TASKS["cartpole-swingup"].env)
        env.reset(seed=0)
        env.close()
    except Exception as error:  # any failure means the stand-in runs; the JSON keeps the reason
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0] if text else 'no detail'}"
    return None


def resolve_task(name: str) -> dict[str, Any]:
    """A task's env, budget and notes as they will run here (the DMC stand-in if need be)."""
    task = TASKS[name]
    entry: dict[str, Any] = {"env": task.env, "budget_full": task.budget}
    if name == "cartpole-swingup":
        problem = dmc_problem()
        if problem is None:
            entry["wrappers"] = ["FlattenObservation"]
        else:
            versions = ", ".join(f"{pkg} {_version(pkg)}" for pkg in ("shimmy", "dm_control", "mujoco"))
            entry.update(env=DMC_STAND_IN.env, budget_full=DMC_STAND_IN.budget, stand_in_for=task.env,
                         stand_in_reason=f"{task.env} could not be built ({versions}): {problem}")
    return entry


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version(package.replace("_", "-"))
    except PackageNotFoundError:
        return "not installed"


def scaled_budget(budget: int, scale: float) -> int:
    """``budget * scale`` rounded to a multiple of 10 env steps (at least 10)."""
    return max(10, round(budget * scale / 10) * 10)


# --- runs ----------------------------------------------------------------------------------


@dataclass
class Run:
    """One (task, agent, seed) run, with everything a worker process needs."""

    task: str
    env: str
    agent: str
    seed: int
    steps: int
    eval_every: int
    eval_episodes: int
    work_dir: Path
    log_dir: Path | None
    sac_learning_starts: int
    mpc: TrainConfig | None = None
    """The MPC run's configuration (None for SAC); its checkpoint lies in ``work_dir``."""
    progress_bar: bool = False

    def settings(self) -> dict[str, Any]:
        """What decides the run's result (not paths): hashed into its file names."""
        if self.mpc is not None:
            return {"agent": self.agent, "steps": self.steps, **self.mpc.fingerprint()}
        return {"agent": self.agent, "env": self.env, "seed": self.seed, "steps": self.steps,
                "eval_every": self.eval_every, "eval_episodes": self.eval_episodes,
                "learning_starts": self.sac_learning_starts}

    @property
    def stem(self) -> str:
        text = json.dumps(self.settings(), sort_keys=True, default=str)
        return f"{self.task}__{self.agent}__seed{self.seed}__{hashlib.sha1(text.encode()).hexdigest()[:8]}"

    @property
    def report_path(self) -> Path:
        return self.work_dir / f"{self.stem}.json"

    def log(self, message: str) -> None:
        print(f"[{self.task} {self.agent} seed {self.seed}] {message}", flush=True)


def plan_runs(args: Args, task_names: tuple[str, ...] | list[str], strict: bool) -> list[Run]:
    """The runs of ``task_names`` x agents x seeds; ``strict``: refuse a task the flags make
    unrunnable (else leave its runs out: the merge looks for every task's runs)."""
    runs = []
    for name in task_names:
        entry = resolve_task(name)
        steps = scaled_budget(entry["budget_full"], args.budget_scale)
        eval_every = args.eval_every if args.eval_every is not None else max(1, steps // 10)
        try:
            if eval_every > steps:
                raise ValueError(f"--eval-every {eval_every} is more than its budget of {steps} env steps: "
                                 "no evaluation would run; lower --eval-every or raise --budget-scale")
            for seed in args.seeds:
                for agent in args.agents:
                    run = Run(task=name, env=entry["env"], agent=agent, seed=seed, steps=steps,
                              eval_every=eval_every, eval_episodes=args.eval_episodes, work_dir=args.work_dir,
                              log_dir=args.log_dir, sac_learning_starts=args.sac_learning_starts,
                              progress_bar=args.workers == 1 and sys.stdout.isatty())
                    if agent == "mpc":
                        run.mpc = mpc_config(args, run)
                        # The stem hashes the config's fingerprint, which leaves the checkpoint out.
                        run.mpc.checkpoint = run.work_dir / f"{run.stem}.pt"
                    runs.append(run)
        except ValueError as error:
            if strict:
                raise ValueError(f"task {name}: {str(error).splitlines()[0]}") from None
            runs = [run for run in runs if run.task != name]
    return runs


def mpc_config(args: Args, run: Run) -> TrainConfig:
    """The MPC run's ``TrainConfig`` (its checkpoint, set by the caller, goes in ``run.work_dir``)."""
    if args.agent.online and run.steps < args.agent.seed_steps:
        raise ValueError(f"its budget of {run.steps} env steps is below --agent.seed-steps "
                         f"{args.agent.seed_steps}: the agent would never learn; raise --budget-scale "
                         "or lower --agent.seed-steps")
    return TrainConfig(env=run.env, steps=run.steps, seed=run.seed, eval_every=run.eval_every,
                       eval_episodes=run.eval_episodes, log_dir=args.log_dir, save_every=args.save_every,
                       agent=copy.deepcopy(args.agent), world_model=copy.deepcopy(args.world_model),
                       critic=copy.deepcopy(args.critic), policy=copy.deepcopy(args.policy))


def resumable(config: TrainConfig) -> TrainConfig:
    """``config`` with ``resume=True`` if an interrupted run left its resume state, else as is."""
    return dataclasses.replace(config, resume=(config.resume_dir / "progress.json").is_file())


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def run_mpc(run: Run) -> dict[str, Any]:
    """Train the MPC agent online (resuming an interrupted run); its report."""
    from evaluation.training import run_training  # noqa: PLC0415

    assert run.mpc is not None
    return run_training(resumable(run.mpc), progress_bar=run.progress_bar, log=run.log, make_env=make_env)


class TrainingSeeds(gym.Wrapper):
    """Resets training episode ``k`` with ``train_seed(seed, k)``, as the MPC loop does,
    whatever seed the driver passes (SB3 seeds its first reset only)."""

    def __init__(self, env: gym.Env, seed: int) -> None:
        super().__init__(env)
        self.run_seed, self.episode = seed, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        episode_seed = train_seed(self.run_seed, self.episode)
        self.episode += 1
        return self.env.reset(seed=episode_seed, options=options)


class DeterministicSB3:
    """An SB3 model as an :class:`evaluation.episodes.Agent`: its deterministic action, no learning."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs):
        return self.model.predict(obs, deterministic=True)[0]

    def observe(self, *transition) -> None:
        return None


def run_sac(run: Run) -> dict[str, Any]:
    """Train SB3 SAC for exactly ``run.steps`` env steps, evaluating as the MPC loop does; its report."""
    import stable_baselines3  # noqa: PLC0415
    from stable_baselines3.common.callbacks import BaseCallback  # noqa: PLC0415

    from evaluation.baselines import SB3Config, make_sb3_model, sb3_logger  # noqa: PLC0415
    from evaluation.episodes import EpisodeRecorder, run_episode  # noqa: PLC0415
    from evaluation.outcomes import resolve_outcome_rule  # noqa: PLC0415

    env, eval_env = make_env(run.env), make_env(run.env)
    rule = resolve_outcome_rule(eval_env, require_success=False)  # as run_training judges the MPC agent
    recorder = EpisodeRecorder(env, rule)
    sb3_config = SB3Config(learning_starts=run.sac_learning_starts)
    model = make_sb3_model("sac", TrainingSeeds(recorder, run.seed), run.steps, run.seed, sb3_config)
    logger = sb3_logger(None if run.log_dir is None else run.log_dir / f"{run.stem}")
    model.set_logger(logger)
    greedy = DeterministicSB3(model)
    evals: list[dict[str, Any]] = []
    act_ms: list[float] = []

    def evaluate(step: int) -> None:
        records = [run_episode(greedy, eval_env, seed=i, learn=False, rule=rule) for i in range(run.eval_episodes)]
        act_ms.extend(r.median_plan_ms for r in records if r.median_plan_ms is not None)
        evals.append({"episodes": len(records), "mean_return": statistics.fmean(r.ret for r in records),
                      "successes": sum(bool(r.success) for r in records),
                      "falls": sum(bool(r.fell) for r in records), "step": step})
        run.log(f"step {step:,}: eval mean return {evals[-1]['mean_return']:.1f}")

    class EvaluateEvery(BaseCallback):
        # Called after each env step, before that step's gradient update.
        def _on_step(self) -> bool:
            if self.num_timesteps % run.eval_every == 0:
                evaluate(self.num_timesteps)
            return recorder.total_steps < run.steps

    recorder.restart()
    start = time.perf_counter()
    try:
        model.learn(total_timesteps=run.steps, callback=EvaluateEvery(), progress_bar=False)
    finally:
        logger.close()
        env.close()
        eval_env.close()
    wall_s = time.perf_counter() - start
    series = [{"step": r.env_step, "return": r.ret, "length": r.steps, "fell": bool(r.fell),
               "success": bool(r.success)} for r in recorder.series]
    competent_at = competence_step(series)
    falls = sum(e["fell"] for e in series)
    return {
        "env": run.env,
        "seed": run.seed,
        "steps": recorder.total_steps,
        "episodes": len(series),
        "falls": falls,
        "training_falls": falls,
        "successes": sum(e["success"] for e in series),
        "eval_falls": sum(int(e["falls"]) for e in evals),
        "competent_at": competent_at,
        "falls_before_competent": None if competent_at is None
        else sum(e["fell"] for e in series if e["step"] <= competent_at),
        "falls_so_far_if_not_competent": falls if competent_at is None else None,
        "evals": evals,
        "wall_s": round(wall_s, 2),
        "steps_per_s": round(recorder.total_steps / wall_s, 2) if wall_s > 0 else None,
        "act_ms_median": round(statistics.median(act_ms), 3) if act_ms else None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "config": {"algorithm": "SAC", "policy": "MlpPolicy", "learning_starts": min(run.sac_learning_starts, run.steps),
                   "batch_size": sb3_config.sac_batch_size, "device": sb3_config.device,
                   "stable_baselines3": stable_baselines3.__version__, "everything else": "SB3 defaults"},
        "series": series,
    }


def execute(run: Run) -> Path:
    """Do one run and write its report to ``run.report_path`` (atomically); the path."""
    import torch  # noqa: PLC0415

    from evaluation.report import git_commit, write_json  # noqa: PLC0415

    torch.set_num_threads(1)
    run.work_dir.mkdir(parents=True, exist_ok=True)
    run.log("started")
    report = run_mpc(run) if run.agent == "mpc" else run_sac(run)
    report = {"task": run.task, "agent": run.agent, "settings": run.settings(), "git_commit": git_commit(),
              "finished_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **report}
    write_json(report, run.report_path)
    run.log(f"done: {report['steps']:,} env steps in {report['wall_s']:.0f} s, "
            f"last eval return {report['evals'][-1]['mean_return'] if report['evals'] else float('nan'):.1f}")
    return run.report_path


def _init_worker() -> None:
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)


# --- merging, table, plot ------------------------------------------------------------------


def curve(reports: list[dict[str, Any]]) -> dict[str, list[float]] | None:
    """Evaluation return over seeds at the steps every seed evaluated: mean, min, max; None if none."""
    if not reports:
        return None
    by_seed = [{int(e["step"]): float(e["mean_return"]) for e in r["evals"]} for r in reports]
    steps = sorted(set.intersection(*(set(d) for d in by_seed)))
    if not steps:
        return None
    rows = [[d[s] for d in by_seed] for s in steps]
    return {"steps": steps, "mean_return": [statistics.fmean(r) for r in rows],
            "min_return": [min(r) for r in rows], "max_return": [max(r) for r in rows]}


def _mean(reports: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in reports if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def summarize_task(entry: dict[str, Any]) -> dict[str, Any]:
    """Per agent: the seed-mean curve, final return, falls, wall time, speed; plus the MPC
    agent's first evaluation step at or above SAC's final return (None: never)."""
    summary: dict[str, Any] = {}
    for agent, runs in entry["agents"].items():
        reports = list(runs.values())
        mean_curve = curve(reports)
        summary[agent] = {
            "seeds": len(reports),
            "return_at_budget": mean_curve["mean_return"][-1] if mean_curve else None,
            "last_eval_step": mean_curve["steps"][-1] if mean_curve else None,
            "falls": _mean(reports, "falls"),
            "eval_falls": _mean(reports, "eval_falls"),
            "wall_s": _mean(reports, "wall_s"),
            "steps_per_s": _mean(reports, "steps_per_s"),
            "curve": mean_curve,
        }
    mpc, sac = summary.get("mpc"), summary.get("sac")
    reached = None
    if mpc and sac and mpc["curve"] and sac["return_at_budget"] is not None:
        target = sac["return_at_budget"]
        reached = next((s for s, r in zip(mpc["curve"]["steps"], mpc["curve"]["mean_return"], strict=True)
                        if r >= target), None)
    summary["mpc_steps_to_sac_final_return"] = reached
    return summary


def merge(args: Args, runs: list[Run]) -> dict[str, Any]:
    """Every finished run of ``runs`` in one dict: per task, per agent, per seed, its report."""
    from evaluation.report import git_commit  # noqa: PLC0415

    tasks: dict[str, Any] = {}
    missing = []
    for run in runs:
        if not run.report_path.is_file():
            if run.task in args.tasks:
                missing.append(f"{run.task}/{run.agent}/seed {run.seed}")
            continue
        if run.task not in tasks:
            entry = resolve_task(run.task)
            entry.update(budget=run.steps, eval_every=run.eval_every, eval_episodes=run.eval_episodes, agents={})
            tasks[run.task] = entry
        report = json.loads(run.report_path.read_text())
        tasks[run.task]["agents"].setdefault(run.agent, {})[str(run.seed)] = report
    ordered = {name: tasks[name] for name in TASKS if name in tasks}
    for entry in ordered.values():
        entry["summary"] = summarize_task(entry)
    return {
        "benchmark": "learning curves, latent MPC vs SAC (issue #11)",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "seeds": list(args.seeds),
        "agents": list(args.agents),
        "budget_scale": args.budget_scale,
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "sac_learning_starts": args.sac_learning_starts,
        "args": json.loads(json.dumps(dataclasses.asdict(args), default=str)),
        "missing": missing,
        "tasks": ordered,
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _number(value: float | None, spec: str = ".1f") -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and spec != ".1f":
        return f"{int(value):,}"
    return format(value, spec)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def markdown(merged: dict[str, Any], command: str | None = None) -> str:
    """The table: a row per task; figures are means over seeds; – marks a run not (yet) made."""
    seeds, episodes = merged["seeds"], merged["eval_episodes"]
    every = "a tenth of the budget" if merged["eval_every"] is None else f"{merged['eval_every']:,}"
    lines = [
        f"Learning curves: latent MPC from scratch vs SAC (SB3 defaults, learning_starts="
        f"{merged['sac_learning_starts']}), seeds {', '.join(map(str, seeds))}, the same env-step budgets "
        f"(x {merged['budget_scale']:g}); both evaluated every {every} env steps on "
        f"{_count(episodes, 'held-out episode')}. Figures are means over seeds; returns are the last "
        "evaluation's mean return; wall time includes the evaluations; – marks a run not made yet.",
        "",
        "| task | budget | MPC return at budget | SAC return at budget | MPC steps to SAC's final return "
        "| falls MPC / SAC | wall time MPC / SAC | env steps/s MPC / SAC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for name, entry in merged["tasks"].items():
        summary = entry["summary"]
        mpc, sac = summary.get("mpc", {}), summary.get("sac", {})
        reached = summary["mpc_steps_to_sac_final_return"]
        if not (mpc.get("curve") and sac.get("curve")):
            reached_text = "–"
        else:
            reached_text = "never" if reached is None else f"{reached:,}"
        label = f"{name} ({entry['env']})"
        if "stand_in_for" in entry:
            label += " *"
            notes.append(f"\\* {entry['env']} stands in for {entry['stand_in_for']}: {entry['stand_in_reason']}")
        lines.append(
            f"| {label} | {entry['budget']:,} | {_number(mpc.get('return_at_budget'))} "
            f"| {_number(sac.get('return_at_budget'))} | {reached_text} "
            f"| {_number(mpc.get('falls'), 'g')} / {_number(sac.get('falls'), 'g')} "
            f"| {_duration(mpc.get('wall_s'))} / {_duration(sac.get('wall_s'))} "
            f"| {_number(mpc.get('steps_per_s'))} / {_number(sac.get('steps_per_s'))} |"
        )
    if merged["missing"]:
        notes.append(f"Not run yet: {', '.join(merged['missing'])}.")
    if notes:
        lines += [""] + notes
    if command:
        lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def plot(merged: dict[str, Any], path: Path) -> None:
    """One panel per task: evaluation mean return against env steps, a line per agent
    (the mean over seeds; with several seeds, the band spans their min and max)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    names = list(merged["tasks"])
    columns = max(1, min(4, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(max(6.0, 4.3 * columns), 3.4 * rows + 0.6), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        entry = merged["tasks"][name]
        for index, agent in enumerate(AGENT_LABELS):
            stats = entry["summary"].get(agent, {}).get("curve")
            if not stats:
                continue
            color = f"C{index}"
            ax.plot(stats["steps"], stats["mean_return"], marker="o", markersize=3, color=color,
                    label=AGENT_LABELS[agent])
            if entry["summary"][agent]["seeds"] > 1:
                ax.fill_between(stats["steps"], stats["min_return"], stats["max_return"], color=color, alpha=0.2)
        env_name = entry["env"].rsplit(":", 1)[-1]  # a factory spec by its factory's name
        title = f"{name}: {env_name}" + (" (stand-in)" if "stand_in_for" in entry else "")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel(f"eval return, mean of {_count(entry['eval_episodes'], 'episode')}")
        ax.set_xlim(0, 1.03 * entry["budget"])
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    if not names:
        axes.flat[0].text(0.5, 0.5, "no finished runs yet", ha="center", va="center")
    handles, labels = {}, {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
            labels[label] = label
    if handles:
        fig.legend(list(handles.values()), list(labels), loc="lower center", ncol=len(handles), fontsize=9)
    seeds = ", ".join(map(str, merged["seeds"]))
    fig.suptitle(f"Evaluation return while learning (seed{'s' if len(merged['seeds']) > 1 else ''} {seeds})",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(args: Args, every_run: list[Run], command: str | None) -> dict[str, Any]:
    """Merge what --work-dir holds into --json, --markdown and --plot (each written whole)."""
    from evaluation.report import write_json  # noqa: PLC0415

    merged = merge(args, every_run)
    write_json(merged, args.json)
    table = markdown(merged, command)
    tmp = args.markdown.with_name(f".{args.markdown.name}.tmp")
    tmp.write_text(table)
    tmp.replace(args.markdown)
    plot(merged, args.plot)
    return merged


# --- main ----------------------------------------------------------------------------------


def main(args: Args, command: str | None = None) -> dict[str, Any]:
    """Run what is missing of the selected runs, rewriting the merged outputs after each; the merge."""
    from evaluation.report import check_writable  # noqa: PLC0415

    check_writable([args.json, args.plot, args.markdown])
    selected = plan_runs(args, args.tasks, strict=True)
    # The merge also takes the other tasks' runs made with these settings in earlier invocations.
    others = plan_runs(args, [name for name in TASKS if name not in args.tasks], strict=False)
    every_run = sorted(selected + others, key=lambda r: (list(TASKS).index(r.task), r.agent, r.seed))
    pending = []
    for run in selected:
        if run.report_path.is_file():
            run.log(f"finished earlier: {run.report_path.name}")
        else:
            pending.append(run)
    if args.run and pending:
        if "sac" in args.agents:
            try:
                import stable_baselines3  # noqa: F401, PLC0415
            except ImportError:
                raise ValueError('the SAC runs need Stable-Baselines3: pip install -e ".[baselines]", '
                                 "or pass --agents mpc") from None
        for task in dict.fromkeys(run.task for run in pending):  # fail now, not hours in
            env = make_env(next(r.env for r in pending if r.task == task))
            env.close()
        args.work_dir.mkdir(parents=True, exist_ok=True)
    else:
        pending = []
    write_outputs(args, every_run, command)
    # Long runs first, so the pool does not end on one of them alone.
    pending.sort(key=lambda r: (r.agent != "mpc", -r.steps))
    failures: list[str] = []

    def failed(run: Run, error: BaseException) -> None:
        failures.append(f"{run.task}/{run.agent}/seed {run.seed}: {type(error).__name__}: {error}")
        run.log(f"FAILED: {type(error).__name__}: {error}")

    if args.workers == 1:
        for run in pending:
            try:
                execute(run)
            except Exception as error:  # one failed run must not cost the others; all are listed at the end
                traceback.print_exc()
                failed(run, error)
            write_outputs(args, every_run, command)
    elif pending:
        fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}  # a clean process per run
        pool = ProcessPoolExecutor(max_workers=args.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, **fresh)
        try:
            futures = {pool.submit(execute, run): run for run in pending}
            for future in as_completed(futures):
                try:
                    future.result()
                except Exception as error:  # as above
                    failed(futures[future], error)
                write_outputs(args, every_run, command)
        except KeyboardInterrupt:
            # Leaving the pool to wind down would start the queued runs and wait for the running
            # ones: stop them. An MPC run keeps its last resume state (written atomically).
            for child in multiprocessing.active_children():
                child.terminate()
            pool.shutdown(wait=True, cancel_futures=True)  # the pool, now broken, winds down at once
            raise
        pool.shutdown()
    merged = write_outputs(args, every_run, command)
    print(markdown(merged, command))
    print(f"results: {args.json}\ntable:   {args.markdown}\nplot:    {args.plot}\nruns:    {args.work_dir}")
    if failures:
        raise RuntimeError(f"{len(failures)} run(s) failed (the others are merged): " + "; ".join(failures))
    return merged


if __name__ == "__main__":
    try:
        parsed = tyro.cli(Args)
    except ValueError as err:
        raise SystemExit(f"error: {str(err).splitlines()[0]}") from None
    flags = [a for a in sys.argv[1:] if a != "--no-run"]  # the command that made the runs
    try:
        main(parsed, command=" ".join(shlex.quote(a) for a in ["python", "benchmarks/learning.py", *flags]))
    except (ValueError, RuntimeError) as err:
        raise SystemExit(f"error: {err}") from None
    except KeyboardInterrupt:
        raise SystemExit("interrupted: finished runs stay in --work-dir and interrupted MPC runs resume; "
                         "rerun the same command to continue") from None
