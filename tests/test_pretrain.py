"""Pretraining: determinism for a seed, stats, checkpoint of the result, TensorBoard logs."""

import numpy as np
import pytest
import torch

from agent.checkpoint import build_from_checkpoint, load_checkpoint
from agent.critic import CriticConfig
from agent.pretrain import PretrainConfig, discounted_returns, pretrain, save_pretrained
from agent.world_model import WorldModelConfig


def tiny(seed: int, log_dir=None) -> PretrainConfig:
    return PretrainConfig(
        env="Pendulum-v1", seed=seed, collect_steps=300, num_envs=2, updates=6, batch_size=16,
        world_model=WorldModelConfig(latent_dim=8, hidden_dim=32, horizon=5),
        critic=CriticConfig(hidden_dim=32), log_dir=log_dir, device="cpu",
    )


def weights(result):
    return {**result.world_model.state_dict(), **{f"critic.{k}": v for k, v in result.critic.state_dict().items()}}


def test_same_seed_same_weights_different_seed_different(tmp_path):
    a = pretrain(config=tiny(3, log_dir=str(tmp_path / "runs")), progress=False)
    b = pretrain(config=tiny(3), progress=False)
    c = pretrain(config=tiny(4), progress=False)
    wa, wb, wc = weights(a), weights(b), weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa if wa[k].is_floating_point())
    assert a.stats["steps"] >= 300 and a.stats["updates"] == 6 and a.trainer.num_updates == 6
    assert {"episodes", "falls", "successes", "wall_seconds", "final"} <= a.stats.keys()
    assert np.isfinite(a.stats["final"]["losses/latent"])
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("Pendulum-v1__pretrain__3__")
    assert any(f.name.startswith("events.out.tfevents") for f in runs[0].iterdir())


def test_save_pretrained_round_trip(tmp_path):
    result = pretrain(config=tiny(0), progress=False)
    path = save_pretrained(tmp_path / "pendulum.pt", result, tiny(0))
    state, meta = load_checkpoint(path)
    world_model, critic, policy = build_from_checkpoint(state, meta)
    obs = torch.randn(4, 3)
    with torch.no_grad():
        assert torch.equal(world_model.encode(obs), result.world_model.encode(obs))
    assert meta["pretraining"]["steps"] == result.stats["steps"]
    assert meta["pretrain_config"]["collect_steps"] == 300
    assert path.stat().st_size < 2_000_000  # no replay buffer inside


def test_discounted_returns_match_definition():
    result = pretrain(config=tiny(1), progress=False)
    buffer = result.buffer
    returns = discounted_returns(buffer, 0.9)
    first = buffer.episodes()[0]
    costs = buffer.cost[first]
    assert returns[0] == pytest.approx(sum(0.9**i * c for i, c in enumerate(costs)), rel=1e-5)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="collect_steps"):
        PretrainConfig(env="Pendulum-v1", collect_steps=0)


def test_cli_writes_checkpoint_and_logs_where_asked(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "models" / "pendulum.pt"  # a missing directory under a writable one
    cmd = [sys.executable, str(repo / "examples" / "pretrain.py"), "--env", "Pendulum-v1", "--collect-steps", "200",
           "--num-envs", "2", "--updates", "3", "--batch-size", "8", "--world-model.hidden-dim", "16",
           "--critic.hidden-dim", "16", "--log-dir", str(tmp_path / "tb"), "--replay-steps", "50",
           "--checkpoint", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "falls" in done.stdout and out.exists() and out.with_suffix(".replay.npz").exists()
    state, meta = load_checkpoint(out)
    assert meta["env_id"] == "Pendulum-v1" and meta["pretraining"]["updates"] == 3
    assert meta["world_model_config"]["hidden_dim"] == 16 and meta["pretrain_config"]["threads"] == 1
    assert [r.name.split("__")[1] for r in (tmp_path / "tb").iterdir()] == ["pretrain"]
    assert not (tmp_path / "runs").exists()
    assert meta["pretraining"]["env_id"] == "Pendulum-v1" and meta["pretraining"]["fall_key"] == "fell"
    assert not out.with_name("pendulum.pt.resume").exists()  # a finished run leaves its checkpoint only
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert again.returncode == 2 and again.stderr.strip().startswith("error: --resume: no pretraining resume state")
    assert len(again.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- resuming
class Interrupt(Exception):
    pass


def all_tensors(result):
    from agent.checkpoint import flatten_state

    nets = {"wm": result.world_model, "critic": result.critic, "policy": result.policy}
    out = {f"{name}.{k}": v for name, net in nets.items() for k, v in net.state_dict().items()}
    out.update({f"trainer.{k}": v for k, v in flatten_state(result.trainer.state_dict()).items()})
    return out


def resumable(seed: int = 3) -> PretrainConfig:
    config = tiny(seed)
    config.updates, config.save_every = 9, 2
    return config


def test_interrupted_pretraining_resumes_to_the_same_tensors(tmp_path, monkeypatch):
    from agent.train import Trainer

    whole = pretrain(config=resumable(), progress=False, resume_dir=tmp_path / "whole.resume")
    update = Trainer.update
    calls = {"n": 0}

    def dies_in_update_six(self, batch):  # a killed process stops mid-run
        calls["n"] += 1
        if calls["n"] == 6:
            raise Interrupt
        return update(self, batch)

    folder = tmp_path / "run.resume"
    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "update", dies_in_update_six)
        with pytest.raises(Interrupt):
            pretrain(config=resumable(), progress=False, resume_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["buffer.npz", "progress.json", "state-4.pt"]
    resumed = pretrain(config=resumable(), progress=False, resume_dir=folder, resume=True)
    assert resumed.trainer.num_updates == 9 and resumed.stats["steps"] == whole.stats["steps"]
    a, b = all_tensors(whole), all_tensors(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.stats["final"] == whole.stats["final"]


def test_resume_refuses_other_settings_and_overwrites_nothing(tmp_path):
    folder = tmp_path / "run.resume"
    config = resumable()
    config.updates = 5
    pretrain(config=config, progress=False, resume_dir=folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ValueError, match="other settings.*seed"):
        pretrain(config=resumable(seed=4), progress=False, resume_dir=folder, resume=True)
    other = resumable()
    other.fall_key = "dropped"
    with pytest.raises(ValueError, match="fall_key"):
        pretrain(config=other, progress=False, resume_dir=folder, resume=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    with pytest.raises(FileNotFoundError, match="no pretraining resume state"):
        pretrain(config=resumable(), progress=False, resume_dir=tmp_path / "none", resume=True)


def test_a_fall_key_pendulum_never_reports_is_one_clear_error():
    config = tiny(0)
    config.fall_key = "dropped"
    with pytest.raises(ValueError, match=r"reported no info\['dropped'\] in 300 steps"):
        pretrain(config=config, progress=False)
