"""Atomic output: build an artifact in a temporary sibling, rename it into place only when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bridge.errors import UsageError

__all__ = ["atomic_path", "remove_path", "check_writable"]


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def check_writable(path: Path, force: bool) -> None:
    if (path.exists() or path.is_symlink()) and not force:
        raise UsageError(f"{path} already exists; pass --force to overwrite it")


@contextlib.contextmanager
def atomic_path(target: Path, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``, on failure it vanishes."""
    target = Path(target)
    check_writable(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    tmp = staging / target.name
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"converter wrote nothing to {tmp}")
        if target.exists() or target.is_symlink():
            # Swap: move the old one aside first so a crash between the two renames loses nothing.
            old = staging / (target.name + ".old")
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
