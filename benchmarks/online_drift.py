"""Which part of online learning makes a pretrained agent worse? Freeze parts, learn, evaluate frozen.

    python benchmarks/online_drift.py --checkpoint benchmarks/results/kerb/kerb-seed0.pt --variants all wm

For each variant the agent is loaded afresh from ``--checkpoint``, learns online for
``--steps`` env steps on ``--env`` exactly as the learning loop does (training episodes
seeded by ``agent.loop.train_seed``, exploration on, the default update rule), except that
the optimisers the variant names are given a learning rate of 0 (their networks keep their
weights; target networks still track them). Then it drives the held-out layouts
``0..episodes-1`` frozen. ``none`` (everything frozen) is the control: it must match the
checkpoint's own held-out result. Never a pass/fail test.

``--offline``: no env steps; the variant makes ``--steps`` updates on the checkpoint's own
rehearsal buffer (``x.replay.npz``) instead, so new data is ruled out as the cause.
``--terminal-value zero`` evaluates with the critic's terminal value replaced by 0: how much
of the agent's safety its model's own look-ahead carries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import tyro

from agent.loop import train_seed
from agent.mpc import AgentConfig, MPCAgent
from evaluation.report import check_writable

HERE = Path(__file__).resolve().parent

FROZEN: dict[str, tuple[str, ...]] = {
    "none": ("wm_optim", "critic_optim", "policy_optim"),
    "all": (),
    "wm": ("wm_optim",),
    "critic": ("critic_optim",),
    "policy": ("policy_optim",),
    "critic_policy": ("critic_optim", "policy_optim"),
    "wm_policy": ("wm_optim", "policy_optim"),
}
"""Variant name -> the Trainer optimisers held at learning rate 0 (``all``: every part learns)."""


@dataclass
class Args:
    """Learn online from a checkpoint with parts frozen, then evaluate frozen on held-out layouts."""

    checkpoint: Path
    """The pretrained agent."""
    env: str = "cliff-car"
    """Env spec to learn and evaluate on."""
    variants: list[str] = field(default_factory=lambda: list(FROZEN))
    """Which variants to run (names of FROZEN), one after the other."""
    steps: int = 2000
    """Online env steps per variant."""
    episodes: int = 10
    """Held-out layouts (seeds first_layout..first_layout+episodes-1) after learning."""
    first_layout: int = 0
    """First held-out layout driven after learning."""
    horizon: int | None = None
    """Planning horizon while learning and driving (None: the agent's default, 25)."""
    risk_step_coef: float = 0.0
    """The per-step fall-risk margin (``AgentConfig.risk_step_coef``), learning and driving."""
    freeze_risk: bool = False
    """Keep the fall-risk critic's heads as loaded (``AgentConfig.freeze_risk``), as ``train.py --freeze-risk``."""
    seed: int = 0
    """Seeds the agent and its training episodes."""
    offline: bool = False
    """Make ``steps`` updates on the checkpoint's rehearsal buffer instead of learning online."""
    terminal_value: Literal["critic", "zero"] = "critic"
    """Evaluate with the critic's terminal value (the agent as it is) or with none (0)."""
    lr_scale: float = 1.0
    """Multiplies the learning rate of every optimiser that is not frozen (a step-size check)."""
    wm_lr_scale: float = 1.0
    """Further multiplies the world model's learning rate (encoder, dynamics, heads)."""
    encoder_lr_scale: float = 1.0
    """Further multiplies the encoder's learning rate alone (TD-MPC2 uses 0.3; 0 freezes it):
    whether the latent space moving under the heads and critic is what breaks a good start."""
    wm_frozen: list[str] = field(default_factory=list)
    """World-model parts held at learning rate 0 while the rest of it learns (``encoder``,
    ``dynamics``, ``cost_head``, ``fall_head``): which part's updates do the harm."""
    wm_horizon: int | None = None
    """Training-window length of the world model's updates (None: the checkpoint's
    ``WorldModelConfig.horizon``): whether the length its rollouts are trained over, against the
    planner's much longer look-ahead, is what continued training wears away."""
    batch_size: int = AgentConfig().batch_size
    """Windows per update (the loop's default; ``examples/pretrain.py`` uses 128): whether the
    loop's larger batch is what wears a pretrained agent down."""
    save_dir: Path | None = None
    """Also write each variant's agent after learning to ``{save_dir}/{variant}.pt`` (with its replay
    subset), so ``held_out.py --checkpoint`` can measure it on more layouts without learning again."""
    threads: int = 1
    """torch CPU threads."""
    json: Path = HERE / "results" / "online_drift.json"
    """Where the JSON goes (one record per variant)."""


def drive_layouts(agent: MPCAgent, env, seeds) -> str:
    """Drive one held-out episode per seed as the agent is (no learning): a letter each,
    ``S`` reached the goal, ``F`` fell, ``.`` neither (it stalled until the time limit)."""
    outcomes = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        agent.reset(seed=seed)
        done, info = False, {}
        while not done:
            obs, _, terminated, truncated, info = env.step(agent.act(obs))
            done = terminated or truncated
        outcomes.append("F" if info.get("fell") else ("S" if info.get("success") else "."))
    return "".join(outcomes)


def split_wm_groups(agent: MPCAgent) -> None:
    """Give each top-level part of the world model (``encoder``, ``dynamics``, ...) a param group
    of its own in the world-model optimiser, named by ``part``. Adam keeps its moments per
    parameter object, so the moments loaded from the checkpoint stay with their parameters."""
    optim = agent.trainer.wm_optim
    (group,) = optim.param_groups  # the Trainer builds one group; the parts are split from it
    part_of = {id(p): name.split(".")[0] for name, p in agent.world_model.named_parameters()}
    parts: dict[str, list] = {}
    for p in group["params"]:
        parts.setdefault(part_of[id(p)], []).append(p)
    optim.param_groups.clear()
    for part, params in parts.items():
        optim.add_param_group({**{k: v for k, v in group.items() if k != "params"}, "params": params, "part": part})


def wm_part_scale(args: Args, part: str) -> float:
    """The learning-rate factor ``--wm-lr-scale``, ``--encoder-lr-scale`` and ``--wm-frozen`` give ``part``."""
    if part in args.wm_frozen:
        return 0.0
    return args.wm_lr_scale * (args.encoder_lr_scale if part == "encoder" else 1.0)


def run_variant(args: Args, variant: str) -> dict:
    from envs import make_env

    env = make_env(args.env)
    config = AgentConfig(batch_size=args.batch_size, risk_step_coef=args.risk_step_coef, freeze_risk=args.freeze_risk)
    if args.horizon is not None:
        config.planner.horizon = args.horizon
    agent = MPCAgent.load(args.checkpoint, env, config, seed=args.seed)
    if args.wm_horizon is not None:
        agent.world_model.config.horizon = args.wm_horizon
    split_wm_groups(agent)
    parts_known = {g["part"] for g in agent.trainer.wm_optim.param_groups}
    if set(args.wm_frozen) - parts_known:
        raise SystemExit(f"error: unknown --wm-frozen {sorted(set(args.wm_frozen) - parts_known)}; choose from {sorted(parts_known)}")
    for name in ("wm_optim", "critic_optim", "policy_optim"):
        for group in getattr(agent.trainer, name).param_groups:
            scale = args.lr_scale * (wm_part_scale(args, group["part"]) if name == "wm_optim" else 1.0)
            group["lr"] = 0.0 if name in FROZEN[variant] else group["lr"] * scale
    parts = {"world_model": agent.world_model.encoder, "critic": agent.critic.heads, "policy": agent.policy}
    before = {name: [p.detach().clone() for p in module.parameters()] for name, module in parts.items()}
    wm_before = {name: p.detach().clone() for name, p in agent.world_model.named_parameters()
                 if not name.startswith("target_")}  # the EMA target follows the encoder; not learned
    agent.training = True
    episode, step, falls, successes = 0, 0, 0, 0
    if args.offline:
        if agent.buffer.num_steps == 0:
            raise SystemExit(f"error: --offline needs the checkpoint's rehearsal buffer beside {args.checkpoint} "
                             "(x.replay.npz, written by examples/pretrain.py and train.py); there is none")
        agent.update(args.steps)
    while step < args.steps and not args.offline:
        obs, _ = env.reset(seed=train_seed(args.seed, episode))
        agent.reset(seed=train_seed(args.seed, episode))
        episode += 1
        done, info = False, {}
        while not done and step < args.steps:
            action = agent.act(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
            obs, done, step = next_obs, terminated or truncated, step + 1
        falls += int(bool(info.get("fell")))
        successes += int(bool(info.get("success")))
    agent.training = False
    saved = None
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        saved = args.save_dir / f"{variant}.pt"
        agent.save(saved)
    if args.terminal_value == "zero":
        agent.terminal_value = lambda z: torch.zeros(z.shape[:-1], device=z.device)
    changed = [name for name, module in parts.items()
               if any(not torch.equal(a, b) for a, b in zip(before[name], module.parameters(), strict=True))]
    wm_parts_changed = sorted({name.split(".")[0] for name, p in agent.world_model.named_parameters()
                               if name in wm_before and not torch.equal(wm_before[name], p)})
    layouts = list(range(args.first_layout, args.first_layout + args.episodes))
    outcomes = drive_layouts(agent, env, layouts)
    return {"variant": variant, "frozen": list(FROZEN[variant]), "lr_scale": args.lr_scale,
            "wm_lr_scale": args.wm_lr_scale, "encoder_lr_scale": args.encoder_lr_scale,
            "wm_frozen": args.wm_frozen, "steps": args.steps, "layouts": layouts,
            "horizon": agent.config.planner.horizon, "risk_step_coef": agent.config.risk_step_coef,
            "freeze_risk": agent.config.freeze_risk, "saved": None if saved is None else str(saved),
            "batch_size": args.batch_size, "wm_horizon": agent.world_model.config.horizon,
            "offline": args.offline, "terminal_value": args.terminal_value, "train_episodes": episode,
            "train_falls": falls, "train_successes": successes, "changed": changed,
            "wm_parts_changed": wm_parts_changed, "eval": outcomes,
            "eval_successes": outcomes.count("S"), "eval_falls": outcomes.count("F")}


def main(args: Args) -> list[dict]:
    if args.horizon is not None and args.horizon < 1:
        raise SystemExit(f"error: --horizon must be >= 1 planning steps, got {args.horizon}")
    if args.wm_horizon is not None and args.wm_horizon < 1:
        raise SystemExit(f"error: --wm-horizon must be >= 1 training steps, got {args.wm_horizon}")
    if args.first_layout < 0 or args.episodes < 1:
        raise SystemExit(f"error: need --first-layout >= 0 and --episodes >= 1, got {args.first_layout}, {args.episodes}")
    unknown = [v for v in args.variants if v not in FROZEN]
    if unknown:
        raise SystemExit(f"error: unknown --variants {unknown}; choose from {list(FROZEN)}")
    torch.set_num_threads(args.threads)
    check_writable([args.json])
    records = []
    for variant in args.variants:
        records.append(run_variant(args, variant))
        print(json.dumps(records[-1]), flush=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": records}, indent=2))
    return records


if __name__ == "__main__":
    main(tyro.cli(Args, description=__doc__.splitlines()[0]))
