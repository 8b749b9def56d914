"""The example CLIs from any directory: bad input is one `error:` line, exit 2, nothing written.

Bad input is checked in-process (fast) and, for one case per CLI, as a real process; the
end-to-end runs are subprocesses from a scratch working directory (so a stray ``runs/`` or
output file would show up there) with a scratch ``XDG_CACHE_HOME``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
LEDGE = "examples.custom_env:make_ledge_walker"


def run(script: str, *args: str, cwd: Path, timeout: float = 300, **env_vars: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), **env_vars)
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_error_line(done, *says: str) -> str:
    """``done``: a finished process, or anything with ``returncode`` and ``stderr``."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    for part in says:
        assert part in errors[0], errors[0]
    return errors[0]


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*"))


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A scratch working directory holding a text file that is no checkpoint."""
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def scripts():
    """examples/run_agent.py and examples/pretrain.py imported as modules (they import ``_cli``)."""
    import importlib

    sys.path.insert(0, str(REPO / "examples"))
    try:
        yield SimpleNamespace(run_agent=importlib.import_module("run_agent"),
                              pretrain=importlib.import_module("pretrain"))
    finally:
        sys.path.remove(str(REPO / "examples"))
        for name in ("run_agent", "pretrain", "_cli"):
            sys.modules.pop(name, None)


def run_in_process(module, argv: list[str], capsys) -> SimpleNamespace:
    """Parse ``argv`` with tyro and call ``module.main``; what a process would report."""
    try:
        module.main(module.parse(module.Args, argv))
        code = 0
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)


RUN_AGENT_BAD_INPUT = [
    (["--env", "examples.custom_env:nope"], ["has no attribute 'nope'", "make_ledge_walker"]),
    (["--env", "no_such_module:Env"], ["cannot import module 'no_such_module'", "PYTHONPATH"]),
    (["--env", "no-such-env"], ["unknown env spec 'no-such-env'", "cliff-car"]),
    (["--env", "CartPole-v1"], ["continuous (Box) action space"]),
    (["--checkpoint", "{work}/missing.pt"], ["missing.pt: no such file", "--train-if-missing"]),
    (["--checkpoint", "{work}/notes.txt"], ["is not a latent-mpc checkpoint"]),
    (["--checkpoint", "{work}"], ["is a directory"]),
    (["--train-if-missing"], ["needs --checkpoint"]),
    (["--retrain"], ["would overwrite the shipped checkpoint"]),
    (["--video", "/nonexistent_dir_of_latent_mpc_tests/x.mp4"], ["at the filesystem root"]),
    (["--video", "{work}/episode.avi"], [".gif or .mp4"]),
    (["--json", "{work}/notes.txt/summary.json"], ["is a file, not a directory"]),
    (["--json", "{work}"], ["is a directory; give a file name"]),
    (["--log-dir", "{work}/notes.txt"], ["is a file, not a directory"]),
    (["--threads", "0"], ["--threads must be >= 1"]),
    (["--episodes", "0"], ["--episodes must be >= 1"]),
    (["--planner.name", "newton", "--episodes", "1"], ["unknown planner 'newton'"]),
]


@pytest.mark.parametrize(("args", "says"), RUN_AGENT_BAD_INPUT, ids=lambda v: " ".join(v)[:40])
def test_run_agent_refuses_bad_input_in_one_line_and_writes_nothing(scripts, workdir, capsys, args, says):
    before = files_under(workdir)
    argv = [a.format(work=workdir) for a in args] + ["--no-progress"]
    assert_one_error_line(run_in_process(scripts.run_agent, argv, capsys), *says)
    assert files_under(workdir) == before
    assert not Path("/nonexistent_dir_of_latent_mpc_tests").exists()


@pytest.mark.parametrize("script", ["examples/run_agent.py", "examples/pretrain.py"])
def test_a_bad_env_is_one_line_and_exit_2_from_a_real_process(workdir, script):
    done = run(script, "--env", "examples.custom_env:nope", cwd=workdir, timeout=120)
    assert_one_error_line(done, "has no attribute 'nope'")
    assert files_under(workdir) == [workdir / "notes.txt"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--env", "examples.custom_env:nope"], ["has no attribute 'nope'"]),
        (["--env", "CartPole-v1"], ["continuous (Box) action space"]),
        (["--env", "Pendulum-v1", "--checkpoint", "/nonexistent_dir_of_latent_mpc_tests/x.pt"], ["at the filesystem root"]),
        (["--env", "Pendulum-v1", "--log-dir", "{work}/notes.txt"], ["is a file, not a directory"]),
        (["--env", "Pendulum-v1", "--threads", "0"], ["--threads must be >= 1"]),
    ],
    ids=lambda v: " ".join(v)[:40],
)
def test_pretrain_refuses_bad_input_in_one_line_and_writes_nothing(scripts, workdir, capsys, args, says):
    before = files_under(workdir)
    argv = [a.format(work=workdir) for a in args]
    assert_one_error_line(run_in_process(scripts.pretrain, argv, capsys), *says)
    assert files_under(workdir) == before


def _unwritable_directory(tmp_path: Path) -> Path:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for candidate in (locked, Path("/sys"), Path("/proc")):
        try:
            with tempfile.TemporaryFile(dir=candidate):
                pass
        except OSError:
            return candidate
    pytest.skip("no unwritable directory here (running as root on writable file systems)")


def test_run_agent_refuses_an_unwritable_video_directory_before_any_episode(scripts, workdir, capsys):
    directory = _unwritable_directory(workdir)
    try:
        done = run_in_process(scripts.run_agent, ["--video", str(directory / "x.mp4")], capsys)
    finally:
        (workdir / "locked").chmod(0o700)
    assert_one_error_line(done, "not writable")
    assert "loading" not in done.stdout  # refused before the checkpoint, let alone an episode


@pytest.mark.parametrize(
    ("script", "opening"),
    [
        ("examples/run_agent.py", "Run the latent-MPC agent"),
        ("examples/pretrain.py", "Collect exploration data"),
        ("examples/custom_env.py", "Train the MPC agent online on the ledge walker"),
        ("benchmarks/env_speed.py", "Measure CliffCar-v0's env steps/s"),
        ("benchmarks/world_model.py", "Measure a world-model checkpoint"),
    ],
)
def test_help_opens_with_what_the_cli_does_from_any_directory(workdir, script, opening):
    done = run(script, "--help", cwd=workdir, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("usage:") and lines[1].startswith(opening), lines[:3]
    assert "--threads" in done.stdout


def test_run_agent_trains_when_asked_logs_where_asked_and_reuses_the_checkpoint(workdir):
    checkpoint, summary, logs = workdir / "ledge.pt", workdir / "out" / "summary.json", workdir / "tb"
    args = ("--env", LEDGE, "--episodes", "1", "--train-steps", "200", "--seed-steps", "100",
            "--batch-size", "32", "--checkpoint", str(checkpoint), "--train-if-missing", "--json",
            str(summary), "--log-dir", str(logs), "--planner.horizon", "5", "--no-progress")
    first = run("examples/run_agent.py", *args, cwd=workdir)
    assert first.returncode == 0, first.stderr[-2000:]
    assert checkpoint.exists() and summary.exists()
    assert f"TensorBoard logs: {logs}" in first.stdout
    kinds = sorted(run_dir.name.split("__")[1] for run_dir in logs.iterdir())
    assert kinds == ["run_agent", "train"]  # the training's logs under --log-dir too
    again = run("examples/run_agent.py", *args, cwd=workdir)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"loading checkpoint {checkpoint}" in again.stdout
    assert not (workdir / "runs").exists()


def test_custom_env_caches_what_it_trains(workdir):
    args = ("--train-steps", "200", "--seed-steps", "100", "--batch-size", "32", "--episodes", "1",
            "--no-progress", "--planner.horizon", "5", "--log-dir", str(workdir / "tb"))
    cache = workdir / "cache"
    first = run("examples/custom_env.py", *args, cwd=workdir, XDG_CACHE_HOME=str(cache))
    assert first.returncode == 0, first.stderr[-2000:]
    cached = cache / "latent-mpc" / "custom_env_make_ledge_walker.pt"
    assert cached.exists() and "training the agent online" in first.stdout
    assert "mean return" in first.stdout and "ep   seed" in first.stdout  # run_agent's table
    again = run("examples/custom_env.py", *args, cwd=workdir, XDG_CACHE_HOME=str(cache))
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"loading checkpoint {cached}" in again.stdout


def test_run_agent_drives_a_checkpoint_with_its_own_objective_unless_told_not_to(scripts, workdir, capsys):
    """A checkpoint trained with a risk margin is driven with it (and says so); the margin is in
    the summary; ``--no-checkpoint-objective`` drives it with the flags' values only."""
    import json

    import gymnasium as gym
    import numpy as np
    import torch

    from agent.critic import CriticConfig
    from agent.mpc import AgentConfig, MPCAgent
    from agent.world_model import WorldModelConfig

    env = gym.make("Pendulum-v1")
    agent = MPCAgent(env, AgentConfig(risk_step_coef=0.1), wm_config=WorldModelConfig(latent_dim=4, hidden_dim=16),
                     critic_config=CriticConfig(hidden_dim=16, risk_coef=1.0))
    agent.world_model.set_normalizer(np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32))
    agent.save(workdir / "margin.pt")
    base = ["--env", "Pendulum-v1", "--checkpoint", str(workdir / "margin.pt"), "--episodes", "1", "--no-online",
            "--planner.horizon", "3", "--planner.num-samples", "4", "--planner.iterations", "1", "--no-progress",
            "--log-dir", str(workdir / "tb")]
    kept = run_in_process(scripts.run_agent, [*base, "--json", str(workdir / "kept.json")], capsys)
    assert kept.returncode == 0, kept.stderr[-2000:]
    assert "objective: risk_step_coef=0.1 (the checkpoint's" in kept.stdout
    assert json.loads((workdir / "kept.json").read_text())["objective"] == {"risk_step_coef": 0.1}
    # The report names the machine: on another CPU the same command can drive other episodes.
    assert json.loads((workdir / "kept.json").read_text())["machine"]["torch"] == torch.__version__
    plain = run_in_process(scripts.run_agent, [*base, "--no-checkpoint-objective", "--json", str(workdir / "plain.json")],
                           capsys)
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert "objective:" not in plain.stdout
    assert json.loads((workdir / "plain.json").read_text())["objective"] == {}
