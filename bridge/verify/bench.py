"""Latency and throughput: warm-up, then a fixed count or a minimum time of runtime calls.

These are the timing primitives; ``bridge.verify.bench_rounds`` schedules them the way a deployment runs
(each runtime alone, the same threads, alternating rounds). Only the runtime call is timed (the runner's ``_run`` on feeds validated once beforehand); the harness's
own per-call overhead (validation, name mapping) is measured separately and reported once.
"""

from __future__ import annotations

from bridge.errors import first_line

import statistics
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BenchResult", "bench_runner", "batched_feeds", "harness_overhead_ms", "prepare_feeds", "time_calls",
           "summarize_times"]


@dataclass
class BenchResult:
    format: str
    runtime: str
    device: str
    batch: int
    threads: int | None
    runs: int = 0
    warmup: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    throughput_per_s: float = 0.0
    error: str = ""
    rounds: int = 0  # alternating rounds (0: one uninterrupted series)
    round_p50_ms: list[float] = field(default_factory=list)
    isolation: str = ""  # "subprocess": this runtime alone in its own process; "in-process": spinning pools off
    label: str = ""  # an artifact variant's label ("tflite[int8]") when one format has several
    quantize: str = ""  # the quantisation mode of a quantized artifact

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("error", "rounds", "round_p50_ms", "isolation", "label", "quantize"):
            if not data[key]:
                data.pop(key)
        return data


def batched_feeds(feeds: Mapping[str, Any], batch: int) -> dict[str, Any]:
    """Feeds with axis 0 resized to ``batch`` by repeating the first sample (0-d inputs are kept)."""
    import numpy as np

    out = {}
    for name, value in feeds.items():
        array = np.asarray(value)
        out[name] = array if array.ndim == 0 else np.ascontiguousarray(np.repeat(array[:1], batch, axis=0))
    return out


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return 0.0
    k = (len(sorted_ms) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (k - lo)


def prepare_feeds(runner: Any, feeds: Mapping[str, Any]) -> dict[str, Any]:
    """Feeds validated once against the runner's inputs, in its order: what every timed call is given."""
    from bridge.runtimes.base import validate_feeds

    validate_feeds(runner.input_specs, feeds, runner.runtime)
    return {s.name: feeds[s.name] for s in runner.input_specs} if runner.input_specs else dict(feeds)


def time_calls(runner: Any, prepared: Mapping[str, Any], runs: int | None = None, min_seconds: float = 1.0,
               min_runs: int = 10, max_runs: int = 10_000) -> list[float]:
    """Milliseconds of each runtime call: ``runs`` calls, or as many as fit in ``min_seconds`` (>= ``min_runs``)."""
    times: list[float] = []
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        runner._run(prepared)
        times.append((time.perf_counter() - t0) * 1e3)
        if runs is not None:
            if len(times) >= runs:
                return times
        elif (len(times) >= min_runs and time.perf_counter() - started >= min_seconds) or len(times) >= max_runs:
            return times


def summarize_times(result: BenchResult, times: list[float], warmup: int) -> BenchResult:
    """Fill ``result``'s percentiles, mean and throughput from every timed call."""
    ordered = sorted(times)
    result.runs, result.warmup = len(times), warmup
    result.p50_ms = round(_percentile(ordered, 0.5), 4)
    result.p90_ms = round(_percentile(ordered, 0.9), 4)
    result.p99_ms = round(_percentile(ordered, 0.99), 4)
    result.mean_ms = round(statistics.fmean(times), 4) if times else 0.0
    result.throughput_per_s = round(result.batch * 1e3 / result.mean_ms, 2) if result.mean_ms else 0.0
    return result


def bench_runner(runner: Any, fmt: str, feeds: Mapping[str, Any], batch: int, threads: int | None = None,
                 warmup: int = 5, runs: int | None = None, min_seconds: float = 1.0, max_runs: int = 10_000) -> BenchResult:
    """Time ``runner`` on ``feeds``: ``runs`` calls if given, else as many as fit in ``min_seconds`` (at least 10)."""
    result = BenchResult(fmt, runner.runtime, runner.device, batch, threads)
    try:
        prepared = prepare_feeds(runner, feeds)
        for _ in range(warmup):
            runner._run(prepared)
        times = time_calls(runner, prepared, runs, min_seconds, max_runs=max_runs)
    except Exception as exc:  # a shape the artifact can't take (static batch), a runtime error: reported, not raised
        result.error = first_line(exc)
        return result
    return summarize_times(result, times, warmup)


def harness_overhead_ms(runner: Any, feeds: Mapping[str, Any], repeats: int = 20) -> float:
    """Median cost of ``run()`` (validation, mapping) beyond the runtime call ``_run()`` itself."""
    prepared = {s.name: feeds[s.name] for s in runner.input_specs} if runner.input_specs else dict(feeds)
    full, bare = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.run(feeds)
        t1 = time.perf_counter()
        runner._run(prepared)
        t2 = time.perf_counter()
        full.append(t1 - t0)
        bare.append(t2 - t1)
    return round(max(0.0, statistics.median(full) - statistics.median(bare)) * 1e3, 4)
