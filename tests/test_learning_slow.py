"""Long learning targets (``pytest -m slow``): the default agent must learn from nothing."""

import pytest
import torch

from agent.loop import TrainConfig
from evaluation.training import run_training

pytestmark = pytest.mark.slow


def test_default_agent_learns_pendulum_swing_up_from_scratch(tmp_path):
    """A random policy scores about -1,200 on Pendulum-v1; the agent must swing up and hold
    the pendulum (mean held-out return above -400) after 3,000 env steps of its own."""
    torch.set_num_threads(1)
    config = TrainConfig(env="Pendulum-v1", steps=3000, seed=0, eval_every=3000, eval_episodes=5,
                         checkpoint=tmp_path / "pendulum.pt", log_dir=None)
    report = run_training(config, progress_bar=False, log=lambda _: None)
    final = report["evals"][-1]
    assert final["step"] == 3000 and final["episodes"] == 5
    assert final["mean_return"] > -400, report["evals"]
