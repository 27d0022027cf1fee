"""Errors that reach the user carry their exit code and a one-line message that says what to do."""

from __future__ import annotations

import re

__all__ = [
    "BridgeError",
    "UsageError",
    "ParityError",
    "UnsupportedError",
    "EXIT_OK",
    "EXIT_PARITY",
    "EXIT_USAGE",
    "EXIT_UNSUPPORTED",
    "EXIT_INTERNAL",
    "first_line",
]

EXIT_OK = 0
EXIT_PARITY = 1
EXIT_USAGE = 2
EXIT_UNSUPPORTED = 3
EXIT_INTERNAL = 4  # a bug in bridge, never a user mistake


class BridgeError(Exception):
    """Base of every error bridge reports to a user; ``exit_code`` is the CLI's exit status."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str) -> None:
        # Keep it on one line: the CLI prints exactly this.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class UsageError(BridgeError):
    """Bad input or usage: a missing file, a malformed option, an invalid model (exit 2)."""

    exit_code = EXIT_USAGE


class ParityError(BridgeError):
    """A parity or regression check failed (exit 1)."""

    exit_code = EXIT_PARITY


class UnsupportedError(BridgeError):
    """The conversion is not supported, e.g. ops the backend lacks (exit 3).

    ``unsupported`` maps each missing item (an op such as ``Foo`` or ``com.ms::Bar``) to its count.
    """

    exit_code = EXIT_UNSUPPORTED

    def __init__(self, message: str, unsupported: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.unsupported = dict(unsupported or {})


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when it has none), at most 300 chars.

    A message that carries a traceback of its own (TorchScript's interpreter raises "The following
    operation failed in the TorchScript interpreter." and the cause only in its last line) gets that
    last line, the cause, after its first.
    """
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    line = text[0] if text else type(exc).__name__
    traced = len(text) > 2 and any(t.startswith("Traceback") for t in text[1:])
    if traced and re.match(r"[\w.]+(Error|Exception): ", text[-1]):
        line = f"{line.rstrip('.')}: {text[-1]}"
    return line if len(line) <= 300 else line[:297] + "..."
