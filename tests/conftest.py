"""Shared test setup: offscreen MuJoCo rendering, one CPU thread, nothing written into the
repository or the user's cache, the example env importable, loading benchmark scripts."""

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"

# The tests use examples/custom_env.py as a user's env module ("examples.custom_env:...").
# make_env imports only what Python can import, so put the repository root on the path,
# here and for the CLIs the tests start, as `PYTHONPATH=.` does for a user in the checkout.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)


@pytest.fixture(autouse=True, scope="session")
def _scratch_working_directory(tmp_path_factory):
    """Run every test in a scratch directory with a scratch cache.

    Relative defaults such as ``runs/`` (TensorBoard) then land in a temporary folder, not
    the repository, and checkpoints the CLIs cache go to a temporary ``XDG_CACHE_HOME``,
    not ``~/.cache``. Shipped checkpoints still come from the repository's ``checkpoints/``.
    """
    scratch = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(scratch)
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        patch.delenv("LATENT_MPC_CHECKPOINTS", raising=False)
        yield scratch


@pytest.fixture(autouse=True)
def _single_thread_torch():
    torch.set_num_threads(1)
    yield


def load_benchmark(name: str):
    """Import ``benchmarks/{name}.py`` (not a package) as module ``name`` (see :func:`benchmark_fixture`)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while defining their classes
    spec.loader.exec_module(module)
    return module


def benchmark_fixture(name: str, fixture_name: str | None = None):
    """A module-scoped fixture (called ``fixture_name``, default ``name``) that yields
    ``benchmarks/{name}.py`` imported and removes it from ``sys.modules`` afterwards."""

    @pytest.fixture(scope="module", name=fixture_name or name)
    def _benchmark():
        module = load_benchmark(name)
        yield module
        sys.modules.pop(name, None)

    return _benchmark
