"""Atomic output: artifacts are built in a staging folder beside the output and renamed into place only
when complete, so an interrupted run never leaves a half-written artifact where a later step looks."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from bridge.errors import UsageError

__all__ = ["check_writable", "remove_path", "staging_dir", "replace_into", "request_stop", "raise_if_stopped"]

_STAGING = re.compile(r"^\.bridge-(\d+)-.*\.partial$")
# Set by the SIGINT/SIGTERM handler. The handler also raises, but an exception raised while Python runs a
# finaliser (TensorFlow has many) is swallowed, so the pipeline checks this flag between steps too.
_stop = threading.Event()


def request_stop() -> None:
    _stop.set()


def raise_if_stopped() -> None:
    if _stop.is_set():
        raise KeyboardInterrupt


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def check_writable(path: Path, force: bool) -> None:
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(parent: Path) -> None:
    """Remove staging folders left by runs that were killed outright (SIGKILL, power loss)."""
    for entry in parent.iterdir():
        match = _STAGING.match(entry.name)
        if match and entry.is_dir() and not _alive(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A private folder in ``parent`` (same filesystem, so renames are atomic), removed on any exit."""
    parent.mkdir(parents=True, exist_ok=True)
    _sweep(parent)
    staging = Path(tempfile.mkdtemp(prefix=f".bridge-{os.getpid()}-", suffix=".partial", dir=parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_into(new: Path, final: Path, staging: Path) -> None:
    """Move ``new`` to ``final``; an existing ``final`` is first moved aside into ``staging`` (and dropped
    with it), so at every instant ``final`` is either the complete old artifact or the complete new one."""
    if final.exists() or final.is_symlink():
        os.replace(final, staging / f"{final.name}.old")
    os.replace(new, final)
