"""The MPC agent: plan through the learned world model, act, observe, learn online.

At every step the agent encodes the observation into a latent ``z0`` and minimises the
planning objective of :mod:`agent.objective` over action sequences ``(N, H, A)``,

    J(a) = sum_t gamma^t alive_t [(1 - p_t) cost(z_t, a_t) + p_t fall_cost] + gamma^H alive_H V(z_H)

with the terminal value ``V(z) = Q(z, pi(z))`` from the critic and the policy prior. The
planner (gradient descent through the model by default) starts from the better of two
warm starts: the previous plan shifted by one step, and the policy prior's own rollout
through the model. The agent executes the first action and plans again.

With a world model that has members (``WorldModelConfig.fall_members``/``dynamics_members``)
two settings of :class:`AgentConfig` shape the objective: ``fall_pessimism`` makes ``p_t``
pessimistic where the fall members disagree (always, evaluation included), and
``novelty_coef`` adds a bonus for the dynamics members' disagreement on transitions not
predicted to fall, only while the agent explores (``training``). Both are 0 by default. With a
fall-risk critic (``CriticConfig.risk_coef``), ``risk_step_coef`` prices its ``R(z_t)`` at every
imagined step, not only at the plan's end (off by default).

Learning is one loop for every agent (see :meth:`MPCAgent.observe`): ``seed_steps`` random
actions while nothing is known, then planning, with ``updates_per_step`` gradient updates
of world model, critic and policy per env step. A loaded agent continues with the same
losses, its optimiser states included, so its first steps are not the sign-sized steps of a
fresh Adam.

References: LeCun, "A Path Towards Autonomous Machine Intelligence" (2022) for the
architecture; Hansen, Su, Wang, TD-MPC2 (2024) for latent MPC with a learned Q and a
policy prior.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import planners
from agent.buffer import ReplayBuffer, denormalize_action, normalize_action
from agent.checkpoint import (
    build_from_checkpoint,
    build_value_policy,
    flatten_state,
    format_for,
    load_checkpoint,
    make_meta,
    replay_path,
    save_checkpoint,
    unflatten_state,
)
from agent.critic import Critic, CriticConfig, discount_for_episode_length
from agent.objective import planning_cost, planning_objective, trajectory_cost
from agent.policy import Policy, PolicyConfig
from agent.train import Trainer, set_units_from_buffer
from agent.utils import resolve_device
from agent.world_model import WorldModel, WorldModelConfig
from planners import PlannerConfig

POLICY_MODE = "policy"
"""``AgentConfig.planner.name`` that acts with the policy prior alone (no planning)."""


def _default_planner() -> PlannerConfig:
    return PlannerConfig(horizon=25, num_samples=32, iterations=4)


@dataclass
class AgentConfig:
    """How the agent plans and learns online (one set of defaults for every env)."""

    planner: PlannerConfig = field(default_factory=_default_planner)
    """The planner and its budget; ``name="policy"`` acts with the policy prior alone."""
    online: bool = True
    """Keep training world model, critic and policy on the agent's own experience."""
    seed_steps: int = 1000
    """Env steps of uniformly random actions before a fresh agent starts planning (and
    updating: the first update burst is this many updates on the seed data)."""
    updates_per_step: float = 1.0
    """Gradient updates per env step once learning has started (fractions accumulate)."""
    explore_noise: float = 0.1
    """Std of Gaussian noise added to each planned action while training (normalised units)."""
    batch_size: int = 256
    """Windows per update."""
    buffer_capacity: int = 200_000
    """Replay transitions kept (allocated up front); the oldest are overwritten."""
    device: str = "auto"
    """"auto": CUDA when available, else CPU."""
    fall_pessimism: float = 0.0
    """kappa of the planner's fall probability ``sigmoid(mean + kappa std)`` over the fall-head
    members' logits (:mod:`agent.objective`): where they disagree it leans to the members that
    predict a fall. 0: their mean. Needs ``WorldModelConfig.fall_members >= 2``."""
    novelty_coef: float = 0.0
    """Curiosity while training (never in evaluation): a bonus of this many step costs per unit of
    the dynamics members' disagreement, for transitions not predicted to fall. 0: off. Needs
    ``WorldModelConfig.dynamics_members >= 2``."""
    risk_step_coef: float = 0.0
    """A margin from danger at every imagined step, always (evaluation included): each step's cost
    gains ``risk_step_coef * fall_cost * R(z_t)``, the fall-risk critic's discounted probability that
    the data's own driving falls from there (:mod:`agent.critic`), so plans keep off states from
    which the data fell soon after rather than only ending away from them. 0: off. Needs a critic
    with fall-risk heads (``CriticConfig.risk_coef > 0``); README has its measurements."""
    freeze_risk: bool = False
    """Keep the fall-risk critic ``R(z)`` as it was learnt from the agent's first data (a loaded
    checkpoint's, or a fresh agent's seeding burst): later online updates leave its heads unchanged.
    ``R`` is the fall probability of *the data's* behaviour, so once the agent's own driving, kept
    safe by ``risk_step_coef``, fills the buffer, ``R`` learns that the states near danger are safe
    and the margin wears away (README has the measurement). Needs fall-risk heads."""
    freeze_world_model: bool = False
    """Keep the world model (encoder, dynamics, cost and fall heads) as loaded: online updates train
    the critic and the policy prior only. For an agent whose world model was learnt elsewhere -- a
    safe world's background knowledge, reward-free (``examples/pretrain.py``) -- that then learns
    a task in the dangerous world, as DINO-WM and V-JEPA 2-AC keep their pretrained encoders. On
    the safe-world agents README measures, the world model's continued training (on the task's
    data or on its own pretraining data alike) cost held-out goals and brought falls that the
    critic's and policy's did not (README, sessions 22-23). Updates skip the world model's
    backward pass, so they are cheaper. An untrained agent is refused: it has no world model to keep."""
    freeze_encoder: bool = False
    """Keep the encoder (and so the latent space) as loaded while the rest of the world model --
    dynamics, cost and fall heads -- keeps learning, as do the critic and policy: the world model
    still learns what the new task's data shows (its hazards, its falls) in the latent space
    that every learnt head, and the frozen ``R`` of ``freeze_risk``, was fitted in. On the
    safe-world agents README measures, the encoder's continued training is the part that cost
    held-out goals (README, session 23). Implied by ``freeze_world_model``; an untrained agent is
    refused."""
    compile: bool = False
    """Plan through ``torch.compile``d objectives (one graph per candidate-batch shape, with and
    without gradient): on the shipped agent's model, one CPU thread, an act of the default 32 x 4
    planner took 17 ms instead of 24 (README). The first compile takes tens of seconds; inductor
    caches it on disk, so later processes start in seconds. Off by default so that short runs and
    tests do not pay it."""

    def __post_init__(self):
        if self.seed_steps < 0 or self.updates_per_step < 0 or self.explore_noise < 0:
            raise ValueError(
                f"need seed_steps >= 0, updates_per_step >= 0 and explore_noise >= 0, got "
                f"{self.seed_steps}, {self.updates_per_step}, {self.explore_noise}"
            )
        if self.fall_pessimism < 0 or self.novelty_coef < 0 or self.risk_step_coef < 0:
            raise ValueError(f"need fall_pessimism, novelty_coef and risk_step_coef >= 0, got "
                             f"{self.fall_pessimism}, {self.novelty_coef} and {self.risk_step_coef}")
        names = sorted(planners.PLANNERS) + [POLICY_MODE]
        if self.planner.name.lower() not in names:
            raise ValueError(f"unknown planner {self.planner.name!r}; choose one of {names}")
        if self.batch_size < 2 or self.buffer_capacity < self.batch_size:
            raise ValueError(f"need batch_size >= 2 and buffer_capacity >= batch_size, got "
                             f"{self.batch_size}, {self.buffer_capacity}")


NEUTRAL_SETTINGS = {("agent", "fall_pessimism"): 0.0, ("agent", "novelty_coef"): 0.0,
                    ("agent", "risk_step_coef"): 0.0, ("agent", "freeze_risk"): False, ("agent", "compile"): False,
                    ("agent", "freeze_world_model"): False, ("agent", "freeze_encoder"): False,
                    ("agent", "planner", "random_fraction"): None}
"""The settings above added after runs were recorded, at the values that reproduce those runs
(see ``agent.loop.NEUTRAL_SETTINGS``, which takes them in)."""


def check_members(config: AgentConfig, wm_config: WorldModelConfig, critic_config: CriticConfig) -> None:
    """Refuse planning settings that need an ensemble the world model does not have, or heads the critic lacks."""
    if config.risk_step_coef and critic_config.risk_coef <= 0:
        raise ValueError(
            f"risk_step_coef={config.risk_step_coef} needs the fall-risk critic R(z), but this agent's critic has "
            "none; train one with --critic.risk-coef 1 or set --risk-step-coef 0"
        )
    if config.freeze_risk and critic_config.risk_coef <= 0:
        raise ValueError(
            "freeze_risk needs the fall-risk critic R(z), but this agent's critic has none; train one with "
            "--critic.risk-coef 1 or drop --freeze-risk"
        )
    if config.fall_pessimism and wm_config.fall_members < 2:
        raise ValueError(
            f"fall_pessimism={config.fall_pessimism} needs fall-head members that can disagree, but the world "
            f"model has {wm_config.fall_members} fall head; train one with --world-model.fall-members K (K >= 2, "
            "e.g. 5) or set --fall-pessimism 0"
        )
    if config.novelty_coef and wm_config.dynamics_members < 2:
        raise ValueError(
            f"novelty_coef={config.novelty_coef} needs dynamics members whose disagreement measures novelty, "
            f"but the world model has {wm_config.dynamics_members}; train one with --world-model.dynamics-members "
            "K (K >= 2, e.g. 5) or set --novelty-coef 0"
        )


def check_env_spaces(env: gym.Env) -> None:
    """Raise a clear error if ``env`` cannot be planned in: continuous Box actions, flat Box observations."""
    act_space = env.action_space
    if not isinstance(act_space, gym.spaces.Box):
        raise TypeError(
            f"MPCAgent needs a continuous (Box) action space, got {act_space!r}. The planner "
            "optimises actions by gradient descent and sampling in a continuous box; for a "
            "Discrete env, wrap it so it takes continuous actions (e.g. a gymnasium.ActionWrapper "
            "that maps a Box score vector to the argmax action) or pick a continuous variant "
            "(e.g. MountainCarContinuous-v0 instead of MountainCar-v0)."
        )
    if len(act_space.shape) != 1:
        raise TypeError(f"MPCAgent needs a 1-D Box action space, got shape {act_space.shape}.")
    if not (np.all(np.isfinite(act_space.low)) and np.all(np.isfinite(act_space.high))):
        raise ValueError(
            f"MPCAgent needs finite action bounds, got low={act_space.low}, high={act_space.high}. "
            "Wrap the env with gymnasium.wrappers.RescaleAction or ClipAction to bounded actions."
        )
    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise TypeError(
            f"MPCAgent needs a flat Box observation space, got {obs_space!r}. Wrap the env with "
            "gymnasium.wrappers.FlattenObservation (Dict/Tuple/2-D Box) before making the agent; "
            "examples/run_agent.py does this for you."
        )


class MPCAgent:
    """Model-predictive control through a learned latent world model.

    Build one with :meth:`load` (a checkpoint), :meth:`pretrain` (reward-free data first) or
    the constructor (fresh networks that learn online from the first step).

    Args:
        env: the environment the agent will act in (only its spaces and spec are used).
        config: planning and online-learning settings.
        world_model, critic, policy: trained networks; fresh ones when None.
        value_policy: the frozen policy the critic's values assume, if not the prior (a
            distilled agent's; see :meth:`keep_value_policy`).
        seed: seeds initialisation, the planner, exploration and batch sampling.
        pretraining_stats: what the agent learned from before this object existed (env
            steps, episodes, falls, ...), carried into checkpoints and reports.
    """

    def __init__(
        self,
        env: gym.Env,
        config: AgentConfig | None = None,
        *,
        world_model: WorldModel | None = None,
        critic: Critic | None = None,
        policy: Policy | None = None,
        value_policy: Policy | None = None,
        wm_config: WorldModelConfig | None = None,
        critic_config: CriticConfig | None = None,
        policy_config: PolicyConfig | None = None,
        seed: int = 0,
        pretraining_stats: dict[str, Any] | None = None,
        env_id: str | None = None,
    ) -> None:
        check_env_spaces(env)
        self.config = config or AgentConfig()
        self.action_space: gym.spaces.Box = env.action_space
        self.observation_space: gym.spaces.Box = env.observation_space
        self.obs_dim = int(np.prod(self.observation_space.shape))
        self.action_dim = int(self.action_space.shape[0])
        self.env_id = env_id or _env_id(env)
        self.device = resolve_device(self.config.device)
        self.seed = seed
        torch.manual_seed(seed)

        if world_model is None:
            world_model = WorldModel(self.obs_dim, self.action_dim, wm_config or WorldModelConfig())
        if critic is None:
            critic_config = critic_config or CriticConfig()
            if critic_config.gamma is None:
                steps = getattr(getattr(env, "spec", None), "max_episode_steps", None)
                critic_config = dataclasses.replace(critic_config, gamma=discount_for_episode_length(steps))
            critic = Critic(world_model.config.latent_dim, self.action_dim, critic_config)
        if policy is None:
            policy = Policy(world_model.config.latent_dim, self.action_dim, policy_config or PolicyConfig())
        check_members(self.config, world_model.config, critic.config)
        for name in ("freeze_world_model", "freeze_encoder"):
            if getattr(self.config, name) and not world_model.normalizer_ready:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{name} keeps a trained world model, but this agent's is untrained; start from one "
                                 f"with --init-checkpoint PATH (e.g. examples/pretrain.py's) or drop {flag}")
        self.world_model = world_model.to(self.device)
        self.critic = critic.to(self.device)
        self.policy = policy.to(self.device)
        self.pretraining_stats = dict(pretraining_stats or {"steps": 0, "episodes": 0, "falls": 0})

        self.planner = self._make_planner()
        self.trainer = Trainer(self.world_model, self.critic, self.policy, seed=seed)
        self.value_policy: Policy | None = None
        """The frozen policy the critic's values assume, when it differs from the prior
        (:meth:`keep_value_policy`); None: the prior itself."""
        if value_policy is not None:
            self.value_policy = value_policy.to(self.device).eval().requires_grad_(False)
            self.trainer.value_policy = self.value_policy
        self.buffer = ReplayBuffer(self.obs_dim, self.action_dim, self.config.buffer_capacity)
        self.training = False
        """Exploration on (seed-phase random actions, noise on planned actions); the learning
        loop turns it on while it collects experience and off for evaluation episodes."""
        self._rng = np.random.default_rng(seed)
        self._plan: torch.Tensor | None = None  # (H, A) previous plan, normalised actions
        self._update_credit = 0.0
        self._online_counts = {"steps": 0, "episodes": 0, "falls": 0}
        self.total_steps = 0
        self.plan_times_ms: list[float] = []  # wall time of each act() in the current episode
        self.last_plan_cost: float = float("nan")
        self.plan_failures = 0
        self.last_update_info: dict[str, float] = {}
        self._compiled: dict[tuple, Any] = {}  # compiled objectives by their optional terms (config.compile)
        self._risk_fitted = self.started  # freeze_risk: R learns in a fresh agent's first burst only

    # ------------------------------------------------------------------ construction
    @property
    def policy_mode(self) -> bool:
        """Whether the agent acts with the policy prior alone (``planner.name == "policy"``)."""
        return self.config.planner.name.lower() == POLICY_MODE

    def _make_planner(self) -> planners.Planner | None:
        if self.policy_mode:
            return None
        ones = torch.ones(self.action_dim)
        pc = dataclasses.replace(self.config.planner, seed=self.seed)
        return pc.build(None, -ones, ones, device=self.device)

    @property
    def started(self) -> bool:
        """Whether the networks have been trained (normalisers set): planning can start."""
        return self.world_model.normalizer_ready

    @classmethod
    def load(
        cls, path: str | Path, env: gym.Env, config: AgentConfig | None = None, *, seed: int = 0,
        keep_objective: bool = False,
    ) -> MPCAgent:
        """Load a checkpoint written by :meth:`save` or ``examples/pretrain.py``.

        ``config`` None: the settings saved with the checkpoint. With ``keep_objective``, the
        objective settings (:data:`OBJECTIVE_FIELDS`, and the planning horizon) that ``config`` leaves
        at their defaults are the checkpoint's, so an agent trained with a risk margin, or shipped
        to plan 50 steps ahead, is driven that way (see
        :func:`with_objective_of`). Raises ``ValueError`` when the checkpoint was made for other observation/action
        spaces, and a clear error for a missing or corrupt file. Optimiser states saved with
        the checkpoint are restored, and so is the replay subset saved beside it
        (``x.replay.npz``), so online learning continues where training stopped.
        """
        state, meta = load_checkpoint(path, env)
        world_model, critic, policy = build_from_checkpoint(state, meta)
        if "agent_config" in meta and (config is None or keep_objective):
            stored = agent_config_from_dict(meta["agent_config"])
            config = stored if config is None else with_objective_of(config, stored)
        agent = cls(env, config, world_model=world_model, critic=critic, policy=policy,
                    value_policy=build_value_policy(state, meta), seed=seed,
                    pretraining_stats=meta.get("pretraining"), env_id=meta.get("env_id"))
        if "trainer" in state:
            agent.trainer.load_state_dict(unflatten_state(state["trainer"]))
        rehearsal = replay_path(path)
        if agent.config.online and rehearsal.exists():
            buffer = ReplayBuffer.load(rehearsal, capacity=agent.config.buffer_capacity)
            if buffer.obs_dim != agent.obs_dim or buffer.action_dim != agent.action_dim:
                raise ValueError(
                    f"{rehearsal} holds obs/action dims ({buffer.obs_dim}, {buffer.action_dim}) but the "
                    f"checkpoint has ({agent.obs_dim}, {agent.action_dim}); delete it or retrain"
                )
            agent.buffer = buffer
        return agent

    @classmethod
    def pretrain(
        cls,
        env: gym.Env | str,
        config: AgentConfig | None = None,
        *,
        pretrain_config: Any = None,
        progress: bool = True,
        seed: int | None = None,
    ) -> MPCAgent:
        """Collect reward-free exploration data in ``env``, train on it, return the agent.

        An option, not a prerequisite: a fresh agent learns online by itself. ``env`` is a
        Gymnasium env or an env spec accepted by :func:`envs.make_env`; the data is collected
        in fresh copies made from its spec. ``pretrain_config`` is an
        :class:`agent.pretrain.PretrainConfig`.
        """
        from agent.pretrain import PretrainConfig
        from agent.pretrain import pretrain as run_pretraining
        from envs import make_env

        spec = env if isinstance(env, str) else _env_id(env)
        if spec is None:
            raise ValueError(
                "MPCAgent.pretrain needs to make copies of the env for data collection, but this "
                "env has no spec id. Pass the env spec string instead (a Gymnasium id or "
                "'package.module:Factory')."
            )
        env_obj = make_env(spec) if isinstance(env, str) else env
        check_env_spaces(env_obj)  # fail before collecting data, not after
        pcfg = pretrain_config or PretrainConfig(env=spec)
        if seed is not None:
            pcfg = dataclasses.replace(pcfg, seed=seed)
        result = run_pretraining(spec, pcfg, progress=progress)
        agent = cls(env_obj, config, world_model=result.world_model, critic=result.critic,
                    policy=result.policy, seed=pcfg.seed, pretraining_stats=result.stats, env_id=spec)
        agent.buffer = result.buffer
        agent.trainer = result.trainer  # keeps its optimiser states
        return agent

    def save(self, path: str | Path, replay_steps: int = 20_000) -> None:
        """Write state dicts (networks and optimisers) and plain metadata atomically (loadable
        with ``weights_only=True``), and up to ``replay_steps`` transitions of the replay
        buffer beside it for online rehearsal (``x.replay.npz``; 0 or an empty buffer: none)."""
        meta = make_meta(
            env_id=self.env_id,
            observation_space=self.observation_space,
            action_space=self.action_space,
            wm_config=self.world_model.config,
            critic_config=self.critic.config,
            policy_config=self.policy.config,
            pretraining=self.experience_stats(),
        )
        meta["agent_config"] = dataclasses.asdict(self.config)
        state = {"world_model": self.world_model.state_dict(), "critic": self.critic.state_dict(),
                 "policy": self.policy.state_dict(), "trainer": flatten_state(self.trainer.state_dict())}
        if self.value_policy is not None:
            meta["value_policy"] = True
            meta["format_version"] = format_for(meta)
            state["value_policy"] = self.value_policy.state_dict()
        save_checkpoint(path, state, meta)
        if replay_steps > 0 and self.buffer.num_steps > 0:
            self.buffer.subset(replay_steps, np.random.default_rng(self.seed)).save(replay_path(path))

    def experience_stats(self) -> dict[str, Any]:
        """What this agent learned from: its pretraining stats plus the env steps, episodes and
        falls it has observed online since (every transition passed to :meth:`observe`)."""
        stats = dict(self.pretraining_stats)
        for key, value in self._online_counts.items():
            stats[key] = int(stats.get(key, 0)) + value
        return stats

    def experience_counts(self) -> dict[str, int]:
        """Env steps, finished episodes and falls passed to :meth:`observe` by this object."""
        return dict(self._online_counts)

    # ------------------------------------------------------------------ acting
    def reset(self, seed: int | None = None) -> None:
        """Start a new episode: forget the warm start; reseed the planner if ``seed`` is given."""
        self._plan = None
        self.plan_times_ms = []
        if seed is not None:
            if self.planner is not None:
                self.planner.reset(seed)
            self._rng = np.random.default_rng(seed)

    @property
    def gamma(self) -> float:
        return self.critic.gamma

    def terminal_value(self, z: torch.Tensor) -> torch.Tensor:
        """Cost-to-go beyond the horizon, ``V(z) = Q(z, pi(z))`` (pessimistic over heads): ``(N, Z) -> (N,)``.

        ``pi`` is the value policy when the agent has one (:meth:`keep_value_policy`), else the prior.
        An in-sample critic (``CriticConfig.target="expectile"``) gives its state value ``V(z)``; a
        fall-risk critic (``risk_coef > 0``) adds ``risk_coef * fall_cost * R(z)``."""
        if self.critic.in_sample:
            value = self.critic.pessimistic_value(z)
        else:
            value = self.critic.pessimistic(z, self.value_policy_or_prior(z))
        if self.critic.risk_heads is not None:
            value = value + self.critic.config.risk_coef * self.world_model.fall_cost * self.critic.risk(z)
        return value

    def value_policy_or_prior(self, z: torch.Tensor) -> torch.Tensor:
        """The action the critic's values assume at ``z``: the value policy's, else the prior's."""
        return (self.policy if self.value_policy is None else self.value_policy)(z)

    def keep_value_policy(self) -> None:
        """Freeze a copy of the current policy prior as the *value policy*: from now on the terminal
        value and the critic's TD targets use it, while the prior itself may change (distillation).

        Why: the critic learnt ``Q(z, a)`` with targets bootstrapped through the prior it was
        trained with, and on the actions that prior took. A prior distilled from the planner
        proposes other actions, and ``Q`` at them is extrapolation: on the shipped agent the default
        planner went from 45/50 held-out successes and 1 fall to 37/50 and 4 falls when its
        terminal value used the distilled prior (README). Idempotent. An in-sample critic
        (``CriticConfig.target="expectile"``) never evaluates the prior's actions, so it needs none:
        a no-op."""
        if self.value_policy is None and not self.critic.in_sample:
            self.value_policy = copy.deepcopy(self.policy).eval().requires_grad_(False)
            self.trainer.value_policy = self.value_policy

    def _objective_terms(self) -> dict[str, Any]:
        """The objective's optional terms: pessimism and the risk margin always, curiosity only while exploring."""
        return {"fall_pessimism": self.config.fall_pessimism,
                "novelty_coef": self.config.novelty_coef if self.training else 0.0,
                "state_cost": self.step_risk if self.config.risk_step_coef else None}

    def step_risk(self, z: torch.Tensor) -> torch.Tensor:
        """The per-step risk margin ``risk_step_coef * fall_cost * R(z)``: ``(..., Z) -> (...)``."""
        return self.config.risk_step_coef * self.world_model.fall_cost * self.critic.risk(z)

    def objective_for(self, z0: torch.Tensor) -> planners.Objective:
        """The planning objective (:mod:`agent.objective`) from latent ``z0 (Z,)``: actions (N, H, A) -> (N,)."""
        terms = self._objective_terms()
        if not self.config.compile:
            return planning_objective(self.world_model, self.terminal_value, z0, self.gamma, **terms)
        key = tuple(sorted(terms.items()))
        if key not in self._compiled:
            def cost(z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
                return planning_cost(self.world_model, self.terminal_value, z, actions, self.gamma, **terms)

            self._compiled[key] = torch.compile(cost, dynamic=False)
        compiled = self._compiled[key]
        return lambda actions: compiled(z0, actions)

    @torch.no_grad()
    def policy_rollout(self, z0: torch.Tensor, horizon: int) -> torch.Tensor:
        """The policy prior's actions along its own imagined trajectory from ``z0 (Z,)``: ``(H, A)``."""
        z, actions = z0[None], []
        for _ in range(horizon):
            a = self.policy(z)
            actions.append(a[0])
            z = self.world_model.next(z, a)
        return torch.stack(actions)

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != self.observation_space.shape:
            raise ValueError(
                f"observation has shape {obs.shape}, but this agent was built for "
                f"{self.observation_space.shape} (env {self.env_id!r}). Use the env the agent "
                "was trained on, or train a new agent for this env."
            )
        if not np.all(np.isfinite(obs)):
            bad = np.flatnonzero(~np.isfinite(obs)).tolist()
            raise ValueError(
                f"observation contains NaN/inf at indices {bad}: {obs.tolist()}. The agent cannot "
                "plan from it; check the env (or a wrapper) that produced it."
            )
        return obs

    @torch.no_grad()
    def _encode(self, obs: np.ndarray) -> torch.Tensor:
        return self.world_model.encode(torch.as_tensor(obs, device=self.device)[None])[0]

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Plan from ``obs`` and return the first action, inside the env's action bounds."""
        obs = self._check_obs(obs)
        start = time.perf_counter()
        if self.training and not self.started:
            action = self._rng.uniform(-1.0, 1.0, self.action_dim)  # seeding: nothing learnt yet
        else:
            z0 = self._encode(obs)
            if self.policy_mode:
                with torch.no_grad():
                    action = self.policy(z0[None])[0].cpu().numpy()
            else:
                action = self._plan_action(z0)
            if self.training and self.config.explore_noise > 0:
                action = action + self.config.explore_noise * self._rng.standard_normal(self.action_dim)
        self.plan_times_ms.append((time.perf_counter() - start) * 1e3)
        return denormalize_action(np.clip(action, -1.0, 1.0), self.action_space).astype(self.action_space.dtype)

    @torch.no_grad()
    def warm_start(self, z0: torch.Tensor, horizon: int) -> torch.Tensor:
        """The planner's warm start from ``z0 (Z,)``: ``(H, A)``.

        The better (lower objective) of the previous plan shifted by one step and the policy
        prior's rollout through the model; the policy's alone on an episode's first step. Both
        ride in one batched rollout (row 0 the shifted plan, row 1 the policy), so choosing
        costs one pass of the dynamics, not three.
        """
        if self._plan is None:
            return self.policy_rollout(z0, horizon)
        shifted = planners.shift(self._plan)  # (H, A)
        z = z0[None].expand(2, -1)
        latents, actions = [z], []
        for t in range(horizon):
            a = torch.cat([shifted[t : t + 1], self.policy(z[1:])])  # (2, A)
            actions.append(a)
            z = self.world_model.next(z, a)
            latents.append(z)
        actions_t = torch.stack(actions, dim=1)  # (2, H, A)
        costs = trajectory_cost(self.world_model, self.terminal_value, latents, actions_t, self.gamma,
                                **self._objective_terms())
        return actions_t[0] if bool(costs[0] < costs[1]) else actions_t[1]

    @contextlib.contextmanager
    def _weights_frozen(self):
        """Planning differentiates with respect to the actions only: while it runs, no weight
        asks for a gradient. Eager autograd skips weight gradients it is not asked for anyway,
        but a compiled backward (``config.compile``) computes one for every input that requires
        it, which would cost as much as the action gradient itself."""
        params = [p for net in (self.world_model, self.critic, self.policy) for p in net.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)

    def _plan_action(self, z0: torch.Tensor) -> np.ndarray:
        init = self.warm_start(z0, self.planner.horizon)  # (H, A)
        try:
            with self._weights_frozen():
                result = self.planner.plan(self.objective_for(z0), init=init)
        except RuntimeError:
            # Every candidate's cost was NaN/inf: follow the warm start rather than sending
            # garbage to env.step.
            self.plan_failures += 1
            self._plan = init
            self.last_plan_cost = float("nan")
            return init[0].cpu().numpy()
        self._plan = result.actions.detach()
        self.last_plan_cost = result.cost
        action = self._plan[0].cpu().numpy()
        if not np.all(np.isfinite(action)):  # planners promise this never happens; be sure
            self.plan_failures += 1
            return np.zeros(self.action_dim)
        return action

    # ------------------------------------------------------------------ learning
    def observe(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        truncated: bool,
        info: dict[str, Any] | None = None,
    ) -> dict[str, float]:
        """Record a transition and, with online learning on, learn from the replay buffer.

        A fresh agent waits for ``seed_steps`` transitions, then sets its normalisers from
        them and makes ``seed_steps`` updates at once; from then on (and from the first step
        for a trained agent) it makes ``updates_per_step`` updates per call. Returns the last
        update's scalars (empty when no update ran).
        """
        info = info or {}
        fell = info.get("fell")  # None: the env does not say, so a termination counts as a fall
        # What the fall head learns: the env's fall, unless the caller labels another event
        # (``info["fall_label"]``, e.g. a safe world's drop); the counters keep the env's falls.
        label = info.get("fall_label", fell)
        self.buffer.add(
            np.asarray(obs, dtype=np.float32),
            normalize_action(np.asarray(action, dtype=np.float32), self.action_space),
            -float(reward),
            np.asarray(next_obs, dtype=np.float32),
            bool(terminated),
            bool(truncated),
            label,
        )
        counts = self._online_counts
        counts["steps"] += 1
        if terminated or truncated:
            counts["episodes"] += 1
            counts["falls"] += int(bool(terminated) if fell is None else bool(fell))
        self.total_steps += 1
        if not self.config.online:
            return {}
        if not self.started:
            if self.buffer.num_steps < max(self.config.seed_steps, self.config.batch_size):
                return {}
            self.initialise_from_buffer()
            return self.update(max(self.config.seed_steps, 1))
        if (terminated or truncated) and (bool(terminated) if label is None else bool(label)):
            self._refresh_fall_cost()
        self._update_credit += self.config.updates_per_step
        count = int(self._update_credit)
        self._update_credit -= count
        return self.update(count) if count else {}

    def initialise_from_buffer(self) -> None:
        """Set the data-derived units from the replay buffer (once, before the first update of
        a fresh agent): see :func:`agent.train.set_units_from_buffer`."""
        set_units_from_buffer(self.world_model, self.critic, self.buffer)

    def _refresh_fall_cost(self) -> None:
        """``fall_cost`` = mean cost of every fall transition in the buffer (it may have had none
        when the units were first set)."""
        slots = self.buffer.valid_slots()
        fell = self.buffer.fell[slots]
        if fell.any():
            self.world_model.fall_cost.fill_(float(self.buffer.cost[slots][fell].mean()))

    def update(self, num_updates: int) -> dict[str, float]:
        """Run ``num_updates`` gradient steps on world model, critic and policy from the replay buffer."""
        if not self.started:
            self.initialise_from_buffer()
        info: dict[str, float] = {}
        horizon = self.world_model.config.horizon
        self.trainer.learn_risk = not (self.config.freeze_risk and self._risk_fitted)
        self.trainer.learn_world_model = not self.config.freeze_world_model
        self.trainer.learn_encoder = not (self.config.freeze_world_model or self.config.freeze_encoder)
        self._risk_fitted = self._risk_fitted or num_updates > 0
        for _ in range(num_updates):
            batch = self.buffer.sample(self.config.batch_size, horizon, self._rng)
            info = self.trainer.update(batch)
        if num_updates:
            self.world_model.eval()
            self.last_update_info = info
        return info


OBJECTIVE_FIELDS = ("risk_step_coef", "freeze_risk", "fall_pessimism", "freeze_world_model", "freeze_encoder")
"""The :class:`AgentConfig` settings that shape what the agent optimises and learns rather than how
hard it plans: part of what a checkpoint's agent *is* (``MPCAgent.load(..., keep_objective=True)``)."""

PLANNER_OBJECTIVE_FIELDS = ("horizon",)
"""The :class:`PlannerConfig` settings kept the same way. The horizon belongs to the objective: it
sets how much of a plan's cost is the critic's terminal value and how much the world model's step
costs, and an agent can be reliable at one horizon and stall at another (README, session 18)."""


def with_objective_of(config: AgentConfig, stored: AgentConfig) -> AgentConfig:
    """``config`` with each :data:`OBJECTIVE_FIELDS` and :data:`PLANNER_OBJECTIVE_FIELDS` setting it
    leaves at its default taken from ``stored``.

    A value given explicitly wins, unless it equals the default: to drive a checkpoint without its
    stored objective, load it with ``keep_objective=False``."""
    default = AgentConfig()
    kept = {name: getattr(stored, name) for name in OBJECTIVE_FIELDS
            if getattr(config, name) == getattr(default, name)}
    planner = {name: getattr(stored.planner, name) for name in PLANNER_OBJECTIVE_FIELDS
               if getattr(config.planner, name) == getattr(default.planner, name)}
    return dataclasses.replace(config, planner=dataclasses.replace(config.planner, **planner), **kept)


def objective_settings(config: AgentConfig) -> dict[str, Any]:
    """The :data:`OBJECTIVE_FIELDS` of ``config`` that differ from the defaults (for messages and reports)."""
    default = AgentConfig()
    return {name: getattr(config, name) for name in OBJECTIVE_FIELDS if getattr(config, name) != getattr(default, name)}


def agent_config_from_dict(d: dict[str, Any]) -> AgentConfig:
    """Rebuild an :class:`AgentConfig` from ``dataclasses.asdict`` output (checkpoint metadata)."""
    d = dict(d)
    planner = PlannerConfig(**d.pop("planner", {}))
    known = {f.name for f in dataclasses.fields(AgentConfig)}
    return AgentConfig(planner=planner, **{k: v for k, v in d.items() if k in known})


def _env_id(env: gym.Env) -> str | None:
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None)
