"""What the example CLIs share: one-line errors, torch threads, output-path checks, the episode table.

The scripts beside this file import it as ``_cli`` (Python puts a script's own directory
on ``sys.path``). Every check here runs before any work and writes nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

OUTPUT_RULE = (
    "its directory must exist or be creatable: the nearest existing ancestor must be a "
    "writable directory other than the filesystem root"
)
"""The rule every output path (--json, --video, --log-dir, a checkpoint to write) follows."""


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2 (a usage error, no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse(cls: type, argv: list[str] | None = None, **kwargs: Any) -> Any:
    """``tyro.cli(cls, args=argv, **kwargs)``, with a config's own checks (``__post_init__``,
    run while tyro builds it) reported as one ``error:`` line instead of a traceback."""
    import tyro

    try:
        return tyro.cli(cls, args=argv, **kwargs)
    except ValueError as err:
        fail(str(err).splitlines()[0])


def set_threads(threads: int) -> None:
    """Set torch's CPU threads before any work; refuse a count below 1."""
    if threads < 1:
        fail(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _writable(directory: Path) -> bool:
    try:  # a probe file, deleted on close: what matters is whether the OS lets us write
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def check_directory(path: Path, flag: str, shown: Path | None = None) -> Path:
    """Check that directory ``path`` exists and is writable, or can be created; create nothing.

    Creating is allowed under a writable existing ancestor that is not the filesystem root,
    so a mistyped absolute path such as ``/nonexistent_dir/x`` is refused instead of
    quietly adding a directory at the root. Errors name ``shown`` (default ``path``).
    """
    path = Path(path).expanduser().absolute()
    shown = path if shown is None else shown
    if path.exists():
        if not path.is_dir():
            fail(f"{flag} {shown}: {path} is a file, not a directory")
        if not _writable(path):
            fail(f"{flag} {shown}: directory {path} is not writable")
        return path
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"{flag} {shown}: {ancestor} is a file, not a directory")
    if ancestor == Path(ancestor.anchor):
        fail(f"{flag} {shown}: would create {path.relative_to(ancestor).parts[0]!r} at the "
             f"filesystem root {ancestor}; make that directory first or pick another path")
    if not _writable(ancestor):
        fail(f"{flag} {shown}: cannot create it, {ancestor} is not writable")
    return path


def check_output_file(path: Path, flag: str, suffixes: Iterable[str] | None = None) -> Path:
    """Check that file ``path`` can be written (see :data:`OUTPUT_RULE`); create nothing."""
    path = Path(path).expanduser().absolute()
    if suffixes is not None and path.suffix.lower() not in set(suffixes):
        fail(f"{flag} {path}: expected a file ending in {' or '.join(sorted(suffixes))}")
    if path.is_dir():
        fail(f"{flag} {path}: is a directory; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        fail(f"{flag} {path}: file is not writable")
    check_directory(path.parent, flag, shown=path)
    return path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, creating its (checked) parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


EPISODE_HEADER = f"{'ep':>3} {'seed':>6} {'return':>9} {'fell':>5} {'success':>7} {'steps':>5} {'plan ms':>8}"
"""Column titles of :func:`episode_row`."""


def episode_row(index: int, result: Any) -> str:
    """One table row for an episode record (``seed, ret, fell, success, steps, median_plan_ms``)."""
    return (f"{index:>3} {result.seed:>6} {result.ret:>9.2f} {str(result.fell):>5} "
            f"{str(result.success):>7} {result.steps:>5} {result.median_plan_ms:>8.2f}")


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary under the table: episodes, mean return, falls, successes, plan time, data."""
    lines = [
        f"{summary['episodes']} episodes | mean return {summary['mean_return']:.2f} | "
        f"falls {summary['falls']} | successes {summary['successes']} | "
        f"median plan {summary['median_plan_ms']:.2f} ms"
    ]
    pre = summary.get("pretraining") or {}
    if pre:
        line = f"learned from: {int(pre.get('steps', 0)):,} env steps, {int(pre.get('falls', 0)):,} falls"
        before = summary.get("checkpoint_experience")
        if before is not None and int(before.get("steps", 0)) != int(pre.get("steps", 0)):
            # Online learning in these episodes adds to what the checkpoint had learned from.
            line += (f" (the checkpoint's {int(before.get('steps', 0)):,} and {int(before.get('falls', 0)):,}, "
                     "plus these episodes')")
        lines.append(line)
    return lines
