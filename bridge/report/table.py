"""The parity table printed on the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["parity_table", "print_parity"]


def _num(value: float) -> str:
    return f"{value:.2e}" if value else "0"


def parity_table(parity: Sequence[Any]) -> Any:
    from rich.table import Table

    table = Table(title="parity", title_justify="left")
    for col in ("format", "runtime", "device", "vs", "output", "max_abs", "max_rel", "atol", "rtol", "result"):
        table.add_column(col, justify="right" if col in ("max_abs", "max_rel", "atol", "rtol") else "left")
    for stage in parity:
        if stage.error:
            table.add_row(stage.format, stage.runtime, stage.device, stage.reference, "-", "", "", "", "",
                          f"[red]FAIL[/] {stage.error}")
            continue
        for out in stage.outputs:
            verdict = "[green]pass[/]" if out.passed else f"[red]FAIL[/]{' ' + out.problem if out.problem else ''}"
            table.add_row(stage.format, stage.runtime, stage.device, stage.reference, out.name, _num(out.max_abs),
                          _num(out.max_rel), f"{out.atol:g}", f"{out.rtol:g}", verdict)
    return table


def print_parity(parity: Sequence[Any], console: Any = None) -> None:
    from rich.console import Console

    if console is None:
        console = Console() if Console().is_terminal else Console(width=140)
    console.print(parity_table(parity))
