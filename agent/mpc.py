"""The MPC agent: plan through the learned world model, act, observe, learn online.

At every step the agent encodes the observation into a latent ``z0``, builds the
planning objective over candidate action sequences ``a`` of shape ``(N, H, A)``

    J(a) = Σ_t γ^t alive_t [(1 - p_t) cost(z_t, a_t) + p_t fall_cost] + γ^H alive_H V(z_H)
    z_{t+1} = next(z_t, a_t),  p_t = fall_prob(z_t, a_t),  alive_{t+1} = alive_t (1 - p_t)

where ``V`` is the critic's pessimistic cost-to-go, hands it to a planner from
:mod:`planners` (gradient descent through the model by default), executes the first
action and keeps the rest of the plan, shifted by one step, as the next warm start.

References: LeCun, "A Path Towards Autonomous Machine Intelligence" (2022) for the
architecture; Hansen et al., TD-MPC2 (2024) for latent MPC with a terminal value.
"""

from __future__ import annotations

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
from agent.checkpoint import build_from_checkpoint, load_checkpoint, replay_path, save_checkpoint
from agent.critic import Critic, CriticConfig
from agent.objective import planning_objective
from agent.train import Trainer
from agent.utils import resolve_device
from agent.world_model import WorldModel, WorldModelConfig
from planners import PlannerConfig


@dataclass
class AgentConfig:
    """How the agent plans and learns online."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    online: bool = True
    """Keep training the world model and critic on the agent's own experience."""
    update_every: int = 50
    """Env steps between bursts of online updates."""
    updates_per_step: float = 0.5
    """Gradient updates per new env step while the agent is still learning the task (from
    scratch, or right after its own pretraining); a burst does update_every × this many."""
    min_online_steps: int = 1000
    """Replay steps required before online updates start (avoids overfitting a tiny buffer)."""
    finetune_updates_per_step: float = 0.1
    """Gradient updates per env step when fine-tuning a loaded, trained checkpoint."""
    online_lr: float = 1e-5
    """Adam step size when fine-tuning a loaded, trained checkpoint (learning agents use the
    configs' own rates). A fresh Adam moves every weight by about lr per step whatever the
    gradient: on the shipped cliff-car agent, 0.5 updates/step at 1e-4 drifted it from 48 to
    25 successes in 50 held-out episodes; 0.1 at 1e-5 keeps it (README)."""
    random_steps: int = 0
    """First env steps taken with exploration noise instead of the planner (from scratch: > 0)."""
    batch_size: int = 256
    buffer_capacity: int = 200_000
    device: str = "auto"
    """"auto": CUDA when available, else CPU."""


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

    Build one with :meth:`load` (a checkpoint), :meth:`pretrain` (collect data and train
    first) or the constructor (fresh networks, learning from scratch online).

    Args:
        env: the environment the agent will act in (only its spaces are used).
        config: planning and online-learning settings.
        world_model, critic: trained networks; fresh ones when None.
        seed: seeds the planner, exploration noise and online updates.
        pretraining_stats: what the pretraining data cost (steps, episodes, falls), reported
            honestly by the benchmarks.
    """

    def __init__(
        self,
        env: gym.Env,
        config: AgentConfig | None = None,
        *,
        world_model: WorldModel | None = None,
        critic: Critic | None = None,
        wm_config: WorldModelConfig | None = None,
        critic_config: CriticConfig | None = None,
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

        # A trained model handed in (a checkpoint) is fine-tuned gently; a fresh one learns.
        self.fine_tuning = world_model is not None
        if world_model is None:
            world_model = WorldModel(self.obs_dim, self.action_dim, wm_config or WorldModelConfig())
        if critic is None:
            critic = Critic(world_model.config.latent_dim, critic_config or CriticConfig())
        self.world_model = world_model.to(self.device)
        self.critic = critic.to(self.device)
        self.pretraining_stats = dict(pretraining_stats or {"steps": 0, "episodes": 0, "falls": 0})

        self.planner = self._make_planner()
        self.trainer: Trainer | None = None
        self.buffer = ReplayBuffer(self.obs_dim, self.action_dim, self.config.buffer_capacity)
        self._rng = np.random.default_rng(seed)
        self._noise = np.zeros(self.action_dim)
        self._plan: torch.Tensor | None = None  # (H, A) previous plan, normalised actions
        self.total_steps = 0
        self.plan_times_ms: list[float] = []  # wall time of each act() in the current episode
        self.last_plan_cost: float = float("nan")
        self.plan_failures = 0
        self.last_update_info: dict[str, float] = {}

    # ------------------------------------------------------------------ construction
    def _make_planner(self) -> planners.Planner:
        ones = torch.ones(self.action_dim)
        pc = dataclasses.replace(self.config.planner, seed=self.seed)
        return pc.build(None, -ones, ones, device=self.device)

    @classmethod
    def load(
        cls, path: str | Path, env: gym.Env, config: AgentConfig | None = None, *, seed: int = 0
    ) -> MPCAgent:
        """Load a checkpoint written by :meth:`save` or ``examples/pretrain.py``.

        Raises ``ValueError`` when the checkpoint was made for other observation/action
        spaces, and a clear error for a missing or corrupt file.
        """
        state, meta = load_checkpoint(path, env)
        world_model, critic = build_from_checkpoint(state, meta)
        if config is None and "agent_config" in meta:
            config = agent_config_from_dict(meta["agent_config"])
        agent = cls(
            env,
            config,
            world_model=world_model,
            critic=critic,
            seed=seed,
            pretraining_stats=meta.get("pretraining"),
            env_id=meta.get("env_id"),
        )
        rehearsal = replay_path(path)
        if agent.config.online and rehearsal.exists():
            # Online updates mix this pretraining subset with new experience: trained on its
            # own (fall-free) driving alone, the fall head forgets falls and the car drives off.
            agent.buffer = ReplayBuffer.load(rehearsal, capacity=agent.config.buffer_capacity)
            if agent.buffer.obs_dim != agent.obs_dim or agent.buffer.action_dim != agent.action_dim:
                raise ValueError(
                    f"{rehearsal} holds obs/action dims ({agent.buffer.obs_dim}, "
                    f"{agent.buffer.action_dim}) but the checkpoint has ({agent.obs_dim}, "
                    f"{agent.action_dim}); delete it or re-run examples/pretrain.py"
                )
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
        """Collect exploration data in ``env``, train the world model and critic, return the agent.

        ``env`` is a Gymnasium env or an env spec accepted by :func:`envs.make_env`; the data
        is collected in fresh copies made from its spec. ``pretrain_config`` is an
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
        agent = cls(
            env_obj,
            config,
            world_model=result.world_model,
            critic=result.critic,
            seed=pcfg.seed,
            pretraining_stats=result.stats,
            env_id=spec,
        )
        agent.buffer = result.buffer
        agent.trainer = result.trainer  # keeps learning at the pretraining rate
        agent.fine_tuning = False
        return agent

    def save(self, path: str | Path, replay_steps: int = 20_000) -> None:
        """Write state dicts and plain metadata atomically (loadable with ``weights_only=True``),
        and up to ``replay_steps`` transitions of the replay buffer beside it for online
        rehearsal (``x.replay.npz``; 0 or an empty buffer: none)."""
        from agent.checkpoint import make_meta

        meta = make_meta(
            env_id=self.env_id,
            observation_space=self.observation_space,
            action_space=self.action_space,
            wm_config=self.world_model.config,
            critic_config=self.critic.config,
            pretraining=self.pretraining_stats,
        )
        meta["agent_config"] = dataclasses.asdict(self.config)
        state = {"world_model": self.world_model.state_dict(), "critic": self.critic.state_dict()}
        save_checkpoint(path, state, meta)
        if replay_steps > 0 and self.buffer.num_steps > 0:
            self.buffer.subset(replay_steps, np.random.default_rng(self.seed)).save(replay_path(path))

    # ------------------------------------------------------------------ acting
    def reset(self, seed: int | None = None) -> None:
        """Start a new episode: forget the warm start; reseed the planner if ``seed`` is given."""
        self._plan = None
        self._noise[:] = 0.0
        self.plan_times_ms = []
        if seed is not None:
            self.planner.reset(seed)
            self._rng = np.random.default_rng(seed)

    @property
    def gamma(self) -> float:
        return float(self.critic.config.gamma)

    def objective_for(self, z0: torch.Tensor) -> planners.Objective:
        """The planning objective (:mod:`agent.objective`) from latent ``z0 (Z,)``, with the
        critic's pessimistic cost-to-go as terminal value: actions (N, H, A) -> (N,)."""
        return planning_objective(self.world_model, self.critic.pessimistic, z0, self.gamma)

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != self.observation_space.shape:
            raise ValueError(
                f"observation has shape {obs.shape}, but this agent was built for "
                f"{self.observation_space.shape} (env {self.env_id!r}). Use the env the agent "
                "was trained on, or pretrain a new agent for this env."
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
        if self.total_steps < self.config.random_steps:
            action = self._explore()
        else:
            action = self._plan_action(obs)
        self.plan_times_ms.append((time.perf_counter() - start) * 1e3)
        return denormalize_action(action, self.action_space).astype(self.action_space.dtype)

    def _explore(self) -> np.ndarray:
        # Ornstein-Uhlenbeck-like correlated noise: smooth random driving, not jitter.
        self._noise = 0.8 * self._noise + 0.6 * self._rng.standard_normal(self.action_dim)
        return np.clip(self._noise, -1.0, 1.0)

    def _plan_action(self, obs: np.ndarray) -> np.ndarray:
        z0 = self._encode(obs)
        init = None
        if self._plan is not None:
            init = planners.shift(self._plan)  # (H, A): drop the executed action, repeat the last
        try:
            result = self.planner.plan(self.objective_for(z0), init=init)
        except RuntimeError:
            # Every candidate's cost was NaN/inf: keep following the previous plan (or stand
            # still) rather than sending garbage to env.step.
            self.plan_failures += 1
            fallback = init if init is not None else torch.zeros(self.planner.horizon, self.action_dim)
            self._plan = fallback
            self.last_plan_cost = float("nan")
            return fallback[0].cpu().numpy()
        self._plan = result.actions.detach()
        self.last_plan_cost = result.cost
        action = self._plan[0].cpu().numpy()
        if not np.all(np.isfinite(action)):  # planners promise this never happens; be sure
            self.plan_failures += 1
            return np.zeros(self.action_dim)
        return np.clip(action, -1.0, 1.0)

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
        """Record a transition; with online learning on, train every ``update_every`` steps.

        Returns the last update's scalar losses (empty when no update ran).
        """
        info = info or {}
        self.buffer.add(
            np.asarray(obs, dtype=np.float32),
            normalize_action(np.asarray(action, dtype=np.float32), self.action_space),
            -float(reward),
            np.asarray(next_obs, dtype=np.float32),
            bool(terminated),
            bool(truncated),
            info.get("fell"),  # None: the env does not say, so a termination counts as a fall
        )
        self.total_steps += 1
        if not self.config.online:
            return {}
        if self.buffer.num_steps < max(self.config.min_online_steps, self.config.batch_size):
            return {}
        if self.total_steps % self.config.update_every != 0:
            return {}
        rate = self.config.finetune_updates_per_step if self.fine_tuning else self.config.updates_per_step
        return self.update(max(1, int(round(self.config.update_every * rate))))

    def update(self, num_updates: int) -> dict[str, float]:
        """Run ``num_updates`` gradient steps on world model and critic from the replay buffer."""
        if self.trainer is None:
            wm_config, critic_config = self.world_model.config, self.critic.config
            if self.fine_tuning:
                wm_config = dataclasses.replace(wm_config, lr=self.config.online_lr)
                critic_config = dataclasses.replace(critic_config, lr=self.config.online_lr)
            self.trainer = Trainer(
                self.world_model, self.critic, wm_config, critic_config, seed=self.seed
            )
            if self.buffer.num_steps and not self.world_model.normalizer_ready:
                self.world_model.set_normalizer(self.buffer.observations())
        info: dict[str, float] = {}
        horizon = self.world_model.config.horizon
        for _ in range(num_updates):
            batch = self.buffer.sample(self.config.batch_size, horizon, self._rng)
            info = self.trainer.update(batch)
        self.last_update_info = info
        return info


def agent_config_from_dict(d: dict[str, Any]) -> AgentConfig:
    d = dict(d)
    planner = PlannerConfig(**d.pop("planner", {}))
    return AgentConfig(planner=planner, **d)


def _env_id(env: gym.Env) -> str | None:
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None)
