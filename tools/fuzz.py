"""Fuzz the ONNX front door and the ONNX->TF backend: only BridgeErrors may come out, never a crash or hang.

    python -m tools.fuzz --cases 10000 --seed 0 --timeout-s 30 [--jobs 2] [--verify-rate 0.02] [--save-dir DIR]
    python -m tools.fuzz --replay DIR/case.onnx [--verify]     # rerun one saved case in-process, with traceback
    python -m tools.fuzz --seed S --only-case I [--verify-rate R]  # or regenerate case I of seed S

Each case is a pure function of ``(seed, index)``: a random small graph (sometimes invalid on purpose),
a semantic breakage of a valid one (opset, order, names, types, outputs), or a valid one's serialized
bytes damaged (truncated, bit-flipped, overwritten, spliced). It goes through ``load_onnx_checked``, then
the TF backend's ``build_program``, and for a ``--verify-rate`` fraction the whole ``bridge.convert``
(SavedModel, ONNX Runtime and TensorFlow on random inputs, compared). Cases run in worker processes so
a segfault or a hang is recorded with its reproducer, not fatal. The last line is ``N cases, M crashes``.

This is a developer tool for the ONNX->TF edge, so unlike the rest of ``bridge`` it imports the backend
(``bridge_converters.onnx_tf``) directly, and only inside the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["make_case", "run_case", "run_fuzz", "main"]

_RECYCLE_AFTER = 250  # cases per worker before a fresh one (TF keeps some memory per traced function)
_START_TIMEOUT_S = 180.0


# -- cases -------------------------------------------------------------------------------------------
def make_case(seed: int, index: int, verify_rate: float = 0.0) -> tuple[str, bytes, bool]:
    """``(kind, serialized bytes, verify?)`` for case ``index`` of run ``seed``."""
    import numpy as np

    from tools._fuzz_gen import mutate_bytes, mutate_model, random_model

    rng = np.random.default_rng([seed, index])
    verify = bool(rng.random() < verify_rate)
    r = rng.random()
    if r < 0.4:
        return "graph", random_model(rng).SerializeToString(), verify
    if r < 0.6:
        return "semantic", mutate_model(rng, random_model(rng, invalid=False)).SerializeToString(), verify
    data = random_model(rng, invalid=False).SerializeToString()
    other = random_model(rng, invalid=False).SerializeToString() if rng.random() < 0.3 else b""
    return "bytes", mutate_bytes(rng, data, other), verify


def run_case(path: Path, verify: bool, scratch: Path) -> dict[str, Any]:
    """Load, convert and maybe verify one file. ``crash`` is set when anything but a BridgeError escaped."""
    from bridge.errors import BridgeError, first_line
    from bridge.onnx_io import load_onnx_checked
    from bridge_converters.onnx_tf import build_program

    stage = "load"
    try:
        model = load_onnx_checked(path)
        stage = "convert"
        build_program(model)
        if not verify:
            return {"outcome": "converted"}
        stage = "verify"
        import bridge

        out = scratch / "verify-out"
        try:
            result = bridge.convert(str(path), to="tf", out_dir=out, force=True, localize=False)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return {"outcome": "verified" if result.passed else "mismatch"}
    except BridgeError as exc:
        info = {"outcome": f"exit {exc.exit_code} at {stage}", "error": str(exc)[:300]}
        cause = exc.__cause__
        if stage != "load" and cause is not None and not isinstance(cause, BridgeError):
            # A valid model a handler choked on: not a crash (the user gets exit 3), but news for its owner.
            ops = ",".join(sorted(getattr(exc, "unsupported", {}))) or "?"
            info["wrapped"] = f"{info['outcome']}: {type(cause).__name__} in {ops}"
        return info
    except Exception as exc:
        return {"outcome": "crash", "crash": "exception", "stage": stage,
                "error": f"{type(exc).__name__}: {first_line(exc)}",
                "traceback": "".join(traceback.format_exception(exc)[-6:])}



# -- the worker --------------------------------------------------------------------------------------
def _worker(seed: int, verify_rate: float, scratch: Path) -> None:
    """Read case indices on stdin, answer one JSON line each on the original stdout."""
    import faulthandler

    out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # TF and handlers must not corrupt the protocol
    faulthandler.enable(open(scratch / "faulthandler.log", "w"))  # noqa: SIM115 - lives as long as the process
    from bridge._frameworks import import_tensorflow

    import_tensorflow()
    import bridge_converters.onnx_tf  # noqa: F401  (registers the handlers before the first timed case)

    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        index = int(line)
        kind, data, verify = make_case(seed, index, verify_rate)
        # Named so that the driver can save it, kind and all, if this process dies on it.
        path = scratch / f"case-{index}-{kind}{'-verify' if verify else ''}.onnx"
        path.write_bytes(data)
        result = {"index": index, "kind": kind, "verify": verify, **run_case(path, verify, scratch)}
        if result["outcome"] != "crash":  # a crash's file stays for the driver to save
            path.unlink()
        out.write(json.dumps(result) + "\n")
        out.flush()


def run_fuzz(cases: int, seed: int = 0, timeout_s: float = 30.0, jobs: int = 2, verify_rate: float = 0.02,
             save_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Run ``cases`` cases on ``jobs`` workers; returns outcome counts and the crashes found."""
    from bridge.workers import Worker, WorkerPool

    outcomes: Counter[str] = Counter()
    wrapped: Counter[str] = Counter()
    examples: dict[str, tuple[int, str]] = {}
    crashes: list[dict[str, Any]] = []
    start = time.monotonic()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
           "TF_NUM_INTEROP_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory(prefix="bridge-fuzz-") as tmp:
        def scratch(worker: Worker) -> Path:
            return Path(tmp) / f"worker-{worker.number}"

        def argv(number: int) -> list[str]:
            folder = Path(tmp) / f"worker-{number}"
            folder.mkdir(parents=True, exist_ok=True)
            return [sys.executable, "-m", "tools.fuzz", "--worker", "--seed", str(seed), "--verify-rate",
                    str(verify_rate), "--scratch", str(folder)]

        def answered(_task: str, result: dict[str, Any], worker: Worker) -> None:
            if result["outcome"] == "crash":
                crashes.append(_save(result, seed, save_dir, None, scratch(worker)))
            outcomes[result["outcome"]] += 1
            if "wrapped" in result:
                wrapped[result["wrapped"]] += 1
                examples.setdefault(result["wrapped"], (result["index"], result["error"]))
            done = sum(outcomes.values())
            if progress and done % 100 == 0:
                print(f"\r{done}/{cases} {len(crashes)} crashes", end="", file=sys.stderr, flush=True)

        def failed(task: str, kind: str, detail: str, worker: Worker) -> None:
            # The case file the worker wrote; none means it died generating the case (ONNX's own inference).
            found = sorted(scratch(worker).glob(f"case-{task}-*.onnx"))
            stem = found[0].stem.split("-") if found else [None, None, "generation"]
            try:
                fault = (scratch(worker) / "faulthandler.log").read_text()[:2500]
            except OSError:
                fault = ""
            crash = {"index": int(task), "kind": stem[2], "verify": "verify" in stem,
                     "crash": "process died" if kind == "died" else "hang", "error": detail, "fault": fault}
            crashes.append(_save(crash, seed, save_dir, found[0].read_bytes() if found else None))
            outcomes["crash"] += 1

        pool = WorkerPool(argv, jobs, timeout_s, env, handshake=True, recycle_after=_RECYCLE_AFTER,
                          start_timeout_s=_START_TIMEOUT_S)
        pool.run([str(i) for i in range(cases)], answered, failed,
                 on_retire=lambda worker: shutil.rmtree(scratch(worker), ignore_errors=True))
    if progress:
        print(file=sys.stderr)
    return {"cases": sum(outcomes.values()), "seconds": time.monotonic() - start, "outcomes": dict(outcomes),
            "wrapped": {k: (n, *examples[k]) for k, n in wrapped.most_common()}, "crashes": crashes}


def _save(crash: dict[str, Any], seed: int, save_dir: Path | None, data: bytes | None,
          scratch: Path | None = None) -> dict[str, Any]:
    """Write the reproducer and what happened; returns ``crash`` with ``reproducer`` set."""
    if data is None and scratch is not None:  # the worker lives on and left the case file for us
        found = sorted(scratch.glob(f"case-{crash['index']}-*.onnx"))
        data = found[0].read_bytes() if found else None
        for path in found:
            path.unlink()
    crash["rerun"] = f"python -m tools.fuzz --seed {seed} --only-case {crash['index']}"
    if save_dir is None:
        return crash
    save_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{crash['crash'].replace(' ', '-')}-seed{seed}-case{crash['index']}"
    if data is not None:
        path = save_dir / f"{stem}.onnx"
        path.write_bytes(data)
        crash["reproducer"] = str(path)
    (save_dir / f"{stem}.json").write_text(json.dumps(crash, indent=1) + "\n")
    return crash


def _replay(path: Path | None, verify: bool, seed: int = 0, index: int | None = None, verify_rate: float = 0.0) -> int:
    """Run one case in this process (a saved file, or case ``index`` of ``seed``) and print what happened."""
    from bridge._frameworks import import_tensorflow

    import_tensorflow()
    with tempfile.TemporaryDirectory(prefix="bridge-fuzz-") as tmp:
        if path is None:
            assert index is not None
            kind, data, verify = make_case(seed, index, verify_rate)
            path = Path(tmp) / f"case-{index}-{kind}.onnx"
            path.write_bytes(data)
        result = run_case(path, verify, Path(tmp))
    print(result.pop("traceback", ""), end="")
    print(json.dumps(result))
    return 1 if result["outcome"] == "crash" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout-s", type=float, default=30.0, help="per case; a case that takes longer is a hang")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--verify-rate", type=float, default=0.02,
                        help="fraction of cases that also run bridge.convert with verification")
    parser.add_argument("--save-dir", type=Path, default=Path("fuzz-crashes"), help="reproducers of crashes go here")
    parser.add_argument("--replay", type=Path, help="run one saved .onnx in-process and print what happened")
    parser.add_argument("--verify", action="store_true", help="with --replay: verify too")
    parser.add_argument("--only-case", type=int, help="run case N of --seed in-process and print what happened")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.seed, args.verify_rate, args.scratch)
        return 0
    if args.replay or args.only_case is not None:
        return _replay(args.replay, args.verify, args.seed, args.only_case, args.verify_rate)
    summary = run_fuzz(args.cases, args.seed, args.timeout_s, args.jobs, args.verify_rate, args.save_dir,
                       progress=sys.stderr.isatty())
    for crash in summary["crashes"]:
        print(f"CRASH {crash['crash']} case {crash['index']} ({crash['kind']}{', verify' if crash['verify'] else ''})"
              f"{' at ' + crash['stage'] if 'stage' in crash else ''}: {crash['error']}")
        if crash.get("reproducer"):
            print(f"  reproducer: {crash['reproducer']}  (python -m tools.fuzz --replay {crash['reproducer']}"
                  f"{' --verify' if crash['verify'] else ''})")
        print(f"  rerun: {crash['rerun']} --verify-rate {args.verify_rate}")
        if crash.get("fault"):  # where the dead worker was: the top of its faulthandler dump
            lines = [ln for ln in crash["fault"].strip().splitlines() if ln.strip() and "Extension modules" not in ln]
            print("\n".join("  " + ln for ln in lines[:14]))
    for what, (n, index, error) in summary["wrapped"].items():
        print(f"note: {n}x {what} (a handler raised; reported as a BridgeError), e.g. case {index}: {error}")
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(summary["outcomes"].items()))
    print(f"seed {args.seed}, {summary['seconds']:.0f}s; {outcomes}")
    print(f"{summary['cases']} cases, {len(summary['crashes'])} crashes")
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
