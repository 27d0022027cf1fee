"""``bridge check bridge.toml``: convert and verify a list of models, gate on parity and latency.

    [defaults]                       # optional, applies to every model
    targets = ["onnx", "tf"]
    atol = 1e-4
    rtol = 1e-3
    latency_regression = 0.25        # fail when p50 exceeds the baseline by more than 25 %
    out_dir = "bridge-check-out"

    [[model]]
    name = "seed-mlp"                # optional; defaults to the source's NAME
    source = "fixtures/models/seed_mlp.py:SeedMLP"
    targets = ["tf"]
    inputs = "inputs.npz"            # or input_shapes = ["x:1x1x28x28"], input_ranges = ["ids:0:100"]
    atol_per_output = { logits = 1e-3 }
    latency_baseline = { onnx = 0.5, tf = 2.0 }   # p50 ms on the model's inputs, per format (or "torch")

Relative paths resolve from the config file's folder. ``--shard i/n`` (1-based) takes every n-th model.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge._version import __version__
from bridge.errors import EXIT_OK, EXIT_PARITY, BridgeError, UsageError
from bridge.verify.compare import Tolerances

__all__ = ["CheckResult", "load_check_config", "parse_shard", "run_check"]

_MODEL_KEYS = {"name", "source", "targets", "inputs", "input_shapes", "input_ranges", "atol", "rtol",
               "atol_per_output", "rtol_per_output", "latency_baseline", "latency_regression", "shapes", "out_dir",
               "device"}


@dataclass
class CheckResult:
    reports: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = EXIT_OK
    shard: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {"bridge_version": __version__, "shard": self.shard, "passed": self.passed, "models": self.reports}


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 1, 1
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"malformed --shard '{text}'; expected i/n with 1 <= i <= n, e.g. 2/4")
    return int(match[1]), int(match[2])


def load_check_config(path: str | Path) -> list[dict[str, Any]]:
    """Each model's settings with the defaults applied and relative paths resolved."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such config file: {path}")
    try:
        config = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    defaults = config.get("defaults", {})
    models = config.get("model", [])
    if not isinstance(models, list) or not models:
        raise UsageError(f"{path} lists no models; add [[model]] tables with a source")
    resolved = []
    for i, entry in enumerate(models):
        merged = {**defaults, **entry}
        unknown = set(merged) - _MODEL_KEYS
        if unknown:
            raise UsageError(f"{path}: model {i + 1} has unknown keys {sorted(unknown)}")
        if "source" not in merged:
            raise UsageError(f"{path}: model {i + 1} has no source")
        source = str(merged["source"])
        file_part = source.rpartition(":")[0] if ":" in source else source
        if file_part.endswith((".py", ".onnx", ".pt2")) and not Path(file_part).is_absolute():
            source = str(path.parent / source)
        merged["source"] = source
        if "inputs" in merged:
            merged["inputs"] = str(path.parent / merged["inputs"])
        merged.setdefault("name", source.rpartition(":")[2] or Path(source).stem)
        merged["out_dir"] = str(path.parent / merged.get("out_dir", "bridge-check-out"))
        resolved.append(merged)
    return resolved


def _tolerances(model: dict[str, Any]) -> Tolerances:
    tol = Tolerances(per_output_atol=dict(model.get("atol_per_output", {})),
                     per_output_rtol=dict(model.get("rtol_per_output", {})))
    if "atol" in model:
        tol.atol = float(model["atol"])
    if "rtol" in model:
        tol.rtol = float(model["rtol"])
    tol.explicit = "atol" in model or "rtol" in model  # as on the command line: the fixed rule for every output
    return tol


def _gate_latency(report: dict[str, Any], baseline: dict[str, float], share: float) -> bool:
    """Mark each bench entry against its baseline; True when none regressed."""
    ok = True
    for entry in report["bench"]:
        limit = baseline.get(entry["format"])
        if limit is None:
            continue
        entry["baseline_p50_ms"] = float(limit)
        entry["passed"] = not entry.get("error") and entry["p50_ms"] <= float(limit) * (1.0 + share)
        ok = ok and entry["passed"]
    return ok


def run_check(config_path: str | Path, shard: str | None = None, quiet: bool = True) -> CheckResult:
    from bridge.api import convert

    index, count = parse_shard(shard)
    models = load_check_config(config_path)
    mine = [m for k, m in enumerate(models) if k % count == index - 1]
    result = CheckResult(shard=f"{index}/{count}")
    for model in mine:
        baseline = dict(model.get("latency_baseline", {}))
        try:
            conversion = convert(
                model["source"], to=model.get("targets", ["onnx", "tf"]), out_dir=Path(model["out_dir"]) / model["name"],
                inputs=model.get("inputs"), input_shapes=model.get("input_shapes", ()),
                input_ranges={n: (lo, hi) for n, lo, hi in (_range(r) for r in model.get("input_ranges", ()))},
                shapes=model.get("shapes"), tolerances=_tolerances(model), device=model.get("device", "cpu"),
                force=True, quiet=quiet, bench_batches=(None,) if baseline else (),
            )
        except BridgeError as exc:
            result.reports.append({"bridge_version": __version__, "name": model["name"],
                                   "source": {"path": model["source"], "format": ""}, "passed": False,
                                   "error": str(exc), "exit_code": exc.exit_code, "parity": [], "bench": []})
            result.exit_code = max(result.exit_code, exc.exit_code)
            continue
        report = {"name": model["name"], **conversion.to_json()}
        latency_ok = _gate_latency(report, baseline, float(model.get("latency_regression", 0.25)))
        report["passed"] = report["passed"] and latency_ok
        result.reports.append(report)
        if not report["passed"]:
            result.exit_code = max(result.exit_code, EXIT_PARITY)
    return result


def _range(text: str) -> tuple[str, float, float]:
    from bridge.inputs import parse_input_range

    return parse_input_range(text)
