"""One runtime held open and timed on request, alone in its own process (``python -m bridge.verify.bench_worker FD``).

The scheduler (``bridge.verify.bench_rounds``) talks to it over a socket inherited as file descriptor FD:
one pickled request in, one pickled reply out. Standard output and error are free for the runtime's own
logs. The same :class:`BenchSession` answers in-process when a target cannot be reopened elsewhere.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bridge.errors import first_line

__all__ = ["BenchSession", "describe_target", "main"]


def describe_target(target: Any) -> dict[str, Any] | None:
    """What a fresh process needs to reopen ``target``; None when only this process holds it (a live module)."""
    from bridge.model import Artifact

    if isinstance(target, Artifact):
        return {"artifact": {"format": target.format, "path": str(target.path), "converter": target.converter,
                             "input_names": list(target.input_names), "output_names": list(target.output_names),
                             "meta": dict(target.meta), "variant": target.variant}}
    if target.format in ("onnx", "pt2") and Path(str(target.path)).is_file():
        return {"source": str(target.path)}
    return None  # a PyTorch source may carry --weights or live state: it is timed where it was loaded


def _open(description: dict[str, Any]) -> Any:
    from bridge.model import Artifact
    from bridge.sources import load_source

    if "artifact" in description:
        fields = dict(description["artifact"])
        return Artifact(**{**fields, "path": Path(fields["path"])})
    return load_source(description["source"])


class BenchSession:
    """Answers the scheduler's requests for one runner: open, feeds, warmup, round, overhead, close."""

    def __init__(self, target: Any = None) -> None:
        self.target, self.runner = target, None
        self.prepared: dict[int, dict[str, Any]] = {}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            reply = getattr(self, f"_{request['op']}")(request)
        except Exception as exc:  # reported with the entry it spoils, never raised across the socket
            return {"error": f"{type(exc).__name__}: {first_line(exc)}"[:300]}
        if self.runner is not None:
            reply["runtime"] = self.runner.runtime
        return reply

    def _open(self, request: dict[str, Any]) -> dict[str, Any]:
        from bridge.runtimes import load_runner

        target = self.target if self.target is not None else _open(request["target"])
        self.runner = load_runner(target, request["device"], threads=request["threads"], spin=request.get("spin", True))
        return {"device": self.runner.device}

    def _feeds(self, request: dict[str, Any]) -> dict[str, Any]:
        from bridge.verify.bench import prepare_feeds

        self.prepared[request["batch"]] = prepare_feeds(self.runner, request["feeds"])
        return {}

    def _warmup(self, request: dict[str, Any]) -> dict[str, Any]:
        for _ in range(request["calls"]):
            self.runner._run(self.prepared[request["batch"]])
        return {}

    def _round(self, request: dict[str, Any]) -> dict[str, Any]:
        from bridge.verify.bench import time_calls

        prepared = self.prepared[request["batch"]]
        self.runner._run(prepared)  # untimed: caches and thread pools are cold after the other runtimes' turns
        return {"times_ms": time_calls(self.runner, prepared, request.get("runs"), request.get("seconds", 0.2),
                                       min_runs=request.get("min_runs", 2))}

    def _overhead(self, request: dict[str, Any]) -> dict[str, Any]:
        from bridge.verify.bench import harness_overhead_ms

        return {"ms": harness_overhead_ms(self.runner, request["feeds"])}

    def _close(self, request: dict[str, Any]) -> dict[str, Any]:
        self.runner, self.prepared = None, {}
        return {}


def main(argv: list[str] | None = None) -> None:
    import socket
    from multiprocessing.connection import Connection

    args = sys.argv[1:] if argv is None else argv
    conn = Connection(socket.socket(fileno=int(args[0])).detach())
    session = BenchSession()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the scheduler went away
            return
        reply = session.handle(request)
        conn.send(reply)
        if request.get("op") == "close":
            return


if __name__ == "__main__":
    main()
