"""A bench that measures what a deployment sees.

- Each runtime is timed alone: every artifact runs in its own worker process (``bench_worker``), so thread
  pools that spin after a call (ONNX Runtime's, TensorFlow's Eigen pool, OpenMP) never steal the CPU from
  the runtime being timed. A target only this process holds (a PyTorch source) is timed here, with the
  other workers idle; with ``isolate=False`` everything runs here and ONNX Runtime's spinning is disabled.
- Every runtime gets the same intra-op thread count (default: the CPUs this process may use); TensorFlow
  runs ops in the caller's thread (its runner is a Session, as in TensorFlow Serving) and torch one
  inter-op thread, like ONNX Runtime's sequential executor.
- Rounds alternate between the runtimes (the order rotates each round), with a pause before each turn so
  the previous runtime's pools go to sleep; a ratio to ONNX Runtime is the median of the per-round ratios,
  so load that comes and goes on a shared machine moves both sides of a ratio together.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.verify.bench import BenchResult, batched_feeds, summarize_times
from bridge.verify.bench_worker import BenchSession, describe_target

__all__ = ["BenchPlan", "BenchOutcome", "run_bench", "ratios_to_onnxruntime", "available_cpus"]

_OPEN_TIMEOUT_S = 600.0  # a worker imports its framework and loads the model
_CALL_TIMEOUT_S = 900.0


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class BenchPlan:
    batches: Sequence[int | None] = (None,)
    threads: Sequence[int | None] = (None,)
    runs: int | None = None  # total timed calls per case, split over the rounds
    min_seconds: float = 1.0  # otherwise: timed seconds per case, split over the rounds
    rounds: int = 5
    warmup: int = 5
    isolate: bool = True
    settle_s: float = 0.05  # pause before each turn: long enough for spinning pools to go to sleep


@dataclass
class BenchOutcome:
    entries: list[dict[str, Any]] = field(default_factory=list)
    harness_overhead_ms: float | None = None


class _Worker:
    """A session in its own process (``proc`` set) or in this one."""

    def __init__(self, target: Any, device: str, threads: int, isolate: bool) -> None:
        self.target, self.format, self.error, self.runtime = target, target.format, "", ""
        self.label = target.label if getattr(target, "variant", "") else ""
        self.quantize = (getattr(target, "meta", None) or {}).get("quantize", "")
        description = describe_target(target) if isolate else None
        self.isolation = "subprocess" if description is not None else "in-process"
        self.proc: Any = None
        self._open = {"op": "open", "target": description, "device": device, "threads": threads,
                      "spin": self.isolation == "subprocess"}
        if description is None:
            self.session = BenchSession(target)
        else:
            self._spawn(threads)

    def _spawn(self, threads: int) -> None:
        import socket
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TF_NUM_INTRAOP_THREADS": str(threads),
               "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "bridge.verify.bench_worker", str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, env=env)
        theirs.close()
        self.conn = Connection(ours.detach())

    def start(self) -> None:
        """Send the open request; a subprocess loads while the other workers load too."""
        if self.proc is not None:
            self.conn.send(self._open)

    def finish_start(self) -> None:
        reply = self.session.handle(self._open) if self.proc is None else self._reply(_OPEN_TIMEOUT_S)
        self._note(reply)

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        if self.error:
            return {"error": self.error}
        message = {"op": op, **fields}
        if self.proc is None:
            reply = self.session.handle(message)
        else:
            try:
                self.conn.send(message)
            except OSError:
                reply = {"error": self._died()}
            else:
                reply = self._reply(_CALL_TIMEOUT_S)
        return self._note(reply)

    def _note(self, reply: dict[str, Any]) -> dict[str, Any]:
        self.runtime = reply.get("runtime", self.runtime)
        if reply.get("error"):
            self.error = reply["error"]
        return reply

    def _reply(self, timeout_s: float) -> dict[str, Any]:
        try:
            if not self.conn.poll(timeout_s):
                self.proc.kill()
                return {"error": f"the bench worker gave no answer within {timeout_s:.0f} s"}
            return self.conn.recv()
        except (EOFError, OSError):
            return {"error": self._died()}

    def _died(self) -> str:
        code = self.proc.wait()
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        return f"the bench worker exited with code {code}" + (f": {lines[-1][:200]}" if lines else "")

    def close(self) -> None:
        if self.proc is None:
            self.session.handle({"op": "close"})
            return
        try:
            if self.proc.poll() is None:
                self.conn.send({"op": "close"})
                self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.conn.close()
        self._log.close()


def _round_sizes(plan: BenchPlan) -> tuple[int, list[int | None], float]:
    """Rounds, timed calls per round (None: by time), seconds per round."""
    rounds = max(1, plan.rounds if plan.runs is None else min(plan.rounds, plan.runs))
    if plan.runs is None:
        return rounds, [None] * rounds, plan.min_seconds / rounds
    base, extra = divmod(plan.runs, rounds)
    return rounds, [base + (i < extra) for i in range(rounds)], 0.0


def _batch_of(feeds: Mapping[str, Any]) -> int:
    shape = getattr(next(iter(feeds.values()), None), "shape", ())
    return int(shape[0]) if shape else 1


def _bench_batch(workers: list[_Worker], feeds: Sequence[Mapping[str, Any]], batch: int | None, threads: int,
                 device: str, plan: BenchPlan) -> list[BenchResult]:
    size = batch or _batch_of(feeds[0])
    key = batch or 0
    for w, own in zip(workers, feeds):
        w.request("feeds", batch=key, feeds=batched_feeds(own, batch) if batch else dict(own))
        w.request("warmup", batch=key, calls=plan.warmup)
    rounds, runs, seconds = _round_sizes(plan)
    min_runs = max(1, math.ceil(10 / rounds))  # at least 10 calls per case, as bench_runner guarantees
    times: dict[int, list[list[float]]] = {i: [] for i in range(len(workers))}
    errors: dict[int, str] = {}
    for r in range(rounds):
        for i in [(j + r) % len(workers) for j in range(len(workers))]:
            if workers[i].error:
                continue
            time.sleep(plan.settle_s)
            reply = workers[i].request("round", batch=key, runs=runs[r], seconds=seconds, min_runs=min_runs)
            if reply.get("error"):
                errors[i] = reply["error"]
            else:
                times[i].append(reply["times_ms"])
    results = []
    for i, w in enumerate(workers):
        entry = BenchResult(w.format, w.runtime or w.format, device, size, threads, isolation=w.isolation,
                            label=w.label, quantize=w.quantize)
        error = errors.get(i) or w.error
        if error or not times[i]:
            entry.error = error or "no timed calls"
        else:
            summarize_times(entry, [t for series in times[i] for t in series], plan.warmup)
            entry.rounds = len(times[i])
            entry.round_p50_ms = [round(statistics.median(series), 4) for series in times[i]]
        results.append(entry)
    return results


def run_bench(targets: Sequence[Any], feeds: Mapping[str, Any] | Sequence[Mapping[str, Any]], device: str,
              plan: BenchPlan) -> BenchOutcome:
    """Time every target (Model or Artifact) on ``feeds`` per batch size and thread count (see the module doc).

    ``feeds`` is one mapping for every target, or one per target (e.g. an NHWC twin of a model).
    """
    per_target = [feeds] * len(targets) if isinstance(feeds, Mapping) else list(feeds)
    if len(per_target) != len(targets):
        raise ValueError(f"{len(targets)} targets but {len(per_target)} feed sets")
    outcome = BenchOutcome()
    for count in plan.threads:
        threads = count or available_cpus()
        workers = [_Worker(t, device, threads, plan.isolate) for t in targets]
        try:
            for w in workers:
                w.start()
            for w in workers:
                w.finish_start()
            for batch in plan.batches:
                results = _bench_batch(workers, per_target, batch, threads, device, plan)
                outcome.entries += [r.to_json() for r in results]
            if outcome.harness_overhead_ms is None:
                reply = workers[0].request("overhead", feeds=dict(per_target[0]))
                outcome.harness_overhead_ms = reply.get("ms")
        finally:
            for w in workers:
                w.close()
    ratios_to_onnxruntime(outcome.entries)
    return outcome


def ratios_to_onnxruntime(bench: list[dict[str, Any]]) -> None:
    """Each entry's latency over ONNX Runtime's at the same device, batch and threads, measured in the same run:
    the median of the per-round ratios when both ran the same rounds, else the ratio of the p50s."""
    baseline = {(b["device"], b["batch"], b["threads"]): b for b in bench
                if b["runtime"] == "onnxruntime" and not b.get("error") and b["p50_ms"] > 0}
    for b in bench:
        ref = baseline.get((b["device"], b["batch"], b["threads"]))
        if ref is None or b.get("error"):
            continue
        mine, theirs = b.get("round_p50_ms") or [], ref.get("round_p50_ms") or []
        if mine and len(mine) == len(theirs) and all(t > 0 for t in theirs):
            per_round = [round(m / t, 3) for m, t in zip(mine, theirs)]
            b["p50_vs_onnxruntime"] = round(statistics.median(per_round), 3)
            b["p50_vs_onnxruntime_rounds"] = per_round
        else:
            b["p50_vs_onnxruntime"] = round(b["p50_ms"] / ref["p50_ms"], 3)
