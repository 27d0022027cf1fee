"""Tasks run one at a time in long-lived worker processes, so that a crash or a hang costs one task, not
the whole run. Used by the conformance suite and the fuzzer.

Protocol: a worker reads one task per line on stdin and answers one JSON object per line on stdout; with
``handshake`` it first writes ``{"ready": true}`` once its imports are done (start-up is not timed as a task).
"""

from __future__ import annotations

import json
import selectors
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Worker", "WorkerPool"]


@dataclass
class Worker:
    number: int
    proc: Any
    task: str | None = None
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    done: int = 0

    def send(self, task: str) -> None:
        self.task, self.started = task, time.monotonic()
        self.proc.stdin.write(f"{task}\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class WorkerPool:
    """``argv_for(number)`` starts worker ``number``; ``run`` feeds it tasks until all have an answer."""

    def __init__(self, argv_for: Callable[[int], list[str]], jobs: int, timeout_s: float,
                 env: dict[str, str] | None = None, handshake: bool = False, recycle_after: int | None = None,
                 start_timeout_s: float = 180.0) -> None:
        self.argv_for, self.jobs, self.timeout_s, self.env = argv_for, max(1, jobs), timeout_s, env
        self.handshake, self.recycle_after, self.start_timeout_s = handshake, recycle_after, start_timeout_s
        self._numbers = iter(range(1 << 30))

    def run(self, tasks: Sequence[str], on_result: Callable[[str, dict[str, Any], Worker], None],
            on_failure: Callable[[str, str, str, Worker], None],
            on_retire: Callable[[Worker], None] | None = None) -> None:
        """``on_failure(task, kind, detail, worker)`` with kind "died" or "hang"; ``on_retire`` after a worker ends."""
        pending = list(reversed(tasks))
        sel = selectors.DefaultSelector()

        def spawn() -> None:
            proc = subprocess.Popen(self.argv_for(number := next(self._numbers)), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env)
            worker = Worker(number, proc, ready=not self.handshake)
            sel.register(proc.stdout, selectors.EVENT_READ, worker)
            if worker.ready and pending:
                worker.send(pending.pop())

        def retire(worker: Worker) -> None:
            sel.unregister(worker.proc.stdout)
            worker.stop()
            if on_retire:
                on_retire(worker)

        def next_task(worker: Worker) -> None:
            if self.recycle_after and worker.done >= self.recycle_after and pending:
                retire(worker)
                spawn()
            elif pending:
                worker.send(pending.pop())

        for _ in range(min(self.jobs, len(pending))):
            spawn()
        try:
            while sel.get_map():
                for key, _ in sel.select(timeout=1.0):
                    worker: Worker = key.data
                    line = worker.proc.stdout.readline()
                    if not line:  # the worker died: mid-task that is the task's failure (segfault, abort, OOM kill)
                        code = worker.proc.wait()
                        if worker.task is not None:
                            on_failure(worker.task, "died", f"worker exit status {code}", worker)
                        elif not worker.ready:
                            raise RuntimeError(f"worker {worker.number} failed to start (exit {code})")
                        retire(worker)
                        if pending:
                            spawn()
                        continue
                    message = json.loads(line)
                    if message.get("ready") and not worker.ready:
                        worker.ready = True
                    else:
                        task, worker.task = worker.task, None
                        worker.done += 1
                        on_result(task, message, worker)  # type: ignore[arg-type]
                    if worker.task is None:
                        if pending:
                            next_task(worker)
                        else:
                            retire(worker)
                now = time.monotonic()
                for key in list(sel.get_map().values()):
                    worker = key.data
                    limit = self.timeout_s if worker.task is not None else (None if worker.ready else self.start_timeout_s)
                    if limit is not None and now - worker.started > limit:
                        if worker.task is None:
                            raise RuntimeError(f"a worker did not start within {limit:g}s")
                        on_failure(worker.task, "hang", f"no answer after {limit:g}s", worker)
                        retire(worker)
                        if pending:
                            spawn()
        finally:
            for key in list(sel.get_map().values()):
                retire(key.data)
