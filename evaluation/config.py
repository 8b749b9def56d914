"""What a comparison runs: its agents, env, budget, outputs, and the checks on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evaluation.baselines import SB3_AGENTS, SB3Config
from evaluation.metrics import DEFAULT_TARGET, DEFAULT_WINDOW
from evaluation.mpc_agents import MPCCompareConfig

MPC_AGENTS = ("mpc_pretrained", "mpc_scratch")
AGENT_NAMES = SB3_AGENTS + MPC_AGENTS
"""Every agent name the comparison knows."""

DEFAULT_AGENTS = ("sac", "mpc_pretrained", "mpc_scratch")

AGENT_LABELS = {
    "sac": "SAC (model-free)",
    "ppo": "PPO (model-free)",
    "mpc_pretrained": "MPC, pretrained world model",
    "mpc_scratch": "MPC, from scratch",
}
"""How tables and plots name each agent."""

DEFAULT_BUDGET_STEPS = 4_000
"""Env steps per agent in a full comparison (see the README for the measured wall time)."""

QUICK_BUDGET_STEPS = 600
"""Env steps per agent with ``--quick`` (raised to the env's minimum if that is larger)."""

QUICK_WINDOW = 3
"""Rolling success window with ``--quick``: a smoke test cannot afford 20 episodes."""


def parse_agent_names(agents: tuple[str, ...]) -> tuple[str, ...]:
    """Agent names from ``--agents`` (separate words or comma-separated); a clear error if wrong."""
    names: list[str] = []
    for item in agents:
        names.extend(part.strip() for part in str(item).split(",") if part.strip())
    unknown = [name for name in names if name not in AGENT_NAMES]
    if unknown:
        raise ValueError(
            f"unknown agent name(s) {unknown}; valid names are {list(AGENT_NAMES)}, "
            "e.g. --agents sac mpc_pretrained mpc_scratch"
        )
    if not names:
        raise ValueError(f"no agents to run; pass --agents with some of {list(AGENT_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"agent names must not repeat, got {names}")
    return tuple(names)


@dataclass
class ComparisonConfig:
    """One comparison: every agent in ``agents`` on ``env`` for ``budget_steps`` env steps each."""

    env: str = "cliff-car"
    """Env spec: ``cliff-car``, a Gymnasium id (``Pendulum-v1``) or ``package.module:Factory``."""
    agents: tuple[str, ...] = DEFAULT_AGENTS
    """Agents to run, in order: any of sac, ppo, mpc_pretrained, mpc_scratch (comma-separated also works)."""
    budget_steps: int | None = None
    """Env steps per agent (None: 4000, or with --quick 600 raised to the window's minimum; see DEFAULT_BUDGET_STEPS)."""
    seed: int = 0
    """Seed of every agent and env (the same for all, so they face the same start states)."""
    quick: bool = False
    """Smoke-test mode: small budget and window, shorter pretraining; for CI, not for conclusions."""
    window: int | None = None
    """Episodes in the rolling success window (None: 10, or 3 with --quick)."""
    target: float = DEFAULT_TARGET
    """Rolling success rate that counts as competent."""
    success_threshold: float | None = None
    """An episode with return >= this counts as a success (None: the env's ``info['success']``, else its registered reward_threshold, e.g. 950 for InvertedPendulum-v5; -200 for Pendulum-v1)."""
    terminated_is_fall: bool | None = None
    """Count every ``terminated`` episode as a fall (None: ``info['fell']`` if the env reports it, else a termination that is no success)."""
    checkpoint: str | None = None
    """Checkpoint of ``mpc_pretrained`` (None: ``checkpoints/{env}.pt`` if shipped, else the cache; pretrained on the spot if neither exists)."""
    collect_steps: int | None = None
    """``mpc_pretrained``: pretrain on the spot on this many env steps of reward-free exploration data drawn with --seed (cached per env, steps and seed) instead of loading a checkpoint; None: load the checkpoint, or pretrain on 3000 steps (300 with --quick) if there is none."""
    json: str | None = None
    """Write the report here, after each agent and on Ctrl-C."""
    plot: str | None = None
    """Write a PNG here: cumulative falls and rolling success rate vs env steps."""
    markdown: str | None = None
    """Write the results table (markdown, with the command that made it) here."""
    tensorboard: bool = True
    """Log per-episode scalars to ``{log_dir}/{env}__compare__{seed}__{time}``."""
    log_dir: str = "runs"
    """Parent folder of the TensorBoard runs."""
    progress: bool = True
    """Show a progress bar per agent."""
    threads: int = 1
    """Torch CPU threads (the README's wall times are for one thread)."""
    sb3: SB3Config = field(default_factory=SB3Config)
    """Settings of the SB3 baselines."""
    mpc: MPCCompareConfig = field(default_factory=MPCCompareConfig)
    """Settings of the MPC agents."""

    def __post_init__(self) -> None:
        self.agents = parse_agent_names(self.agents)
        if self.window is None:
            self.window = QUICK_WINDOW if self.quick else DEFAULT_WINDOW
        if self.window < 1:
            raise ValueError(f"window must be at least 1 episode, got {self.window}")
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"target must be a success rate in (0, 1], got {self.target}")
        if self.budget_steps is not None and self.budget_steps < 1:
            raise ValueError(
                f"budget_steps must be a positive number of env steps, got {self.budget_steps}"
            )
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.quick:
            # A smoke-test budget of a few hundred steps leaves no time after 1000 random ones.
            self.sb3.learning_starts = min(self.sb3.learning_starts, 100)
            self.mpc.scratch_seed_steps = min(self.mpc.scratch_seed_steps or 200, 200)

    @property
    def outputs(self) -> list[Path]:
        """The files this comparison writes (``--json``, ``--plot``, ``--markdown``), if asked for."""
        return [Path(p) for p in (self.json, self.plot, self.markdown) if p]
