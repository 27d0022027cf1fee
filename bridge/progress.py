"""Progress for long steps: a rich spinner on a terminal, silence otherwise or when quiet."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator

__all__ = ["Progress"]


class Progress:
    def __init__(self, quiet: bool = False) -> None:
        self.enabled = not quiet and sys.stderr.isatty()

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        from rich.console import Console

        console = Console(stderr=True)
        start = time.perf_counter()
        with console.status(description):
            yield
        console.print(f"[green]✓[/] {description} [dim]({time.perf_counter() - start:.1f}s)[/]")
