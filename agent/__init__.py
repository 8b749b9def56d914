"""latent-mpc's agent: world model, critic, policy prior, replay buffer, the learning loop and the MPC agent.

    from agent import MPCAgent
    agent = MPCAgent.load(path, env)   # or MPCAgent(env): fresh networks that learn online
    action = agent.act(obs)

Names are imported on first use, so ``import agent.buffer`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MPCAgent": "agent.mpc",
    "AgentConfig": "agent.mpc",
    "PlannerConfig": "planners",
    "WorldModel": "agent.world_model",
    "WorldModelConfig": "agent.world_model",
    "Critic": "agent.critic",
    "CriticConfig": "agent.critic",
    "Policy": "agent.policy",
    "PolicyConfig": "agent.policy",
    "TrainConfig": "agent.loop",
    "train": "agent.loop",
    "ReplayBuffer": "agent.buffer",
    "Trainer": "agent.train",
    "PretrainConfig": "agent.pretrain",
    "pretrain": "agent.pretrain",
    "save_checkpoint": "agent.checkpoint",
    "load_checkpoint": "agent.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
