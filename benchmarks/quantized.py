"""Quantized TFLite against float32 TFLite: ResNet-50 as fp16 and int8, latency measured in the same run.

    python -m benchmarks.quantized [--json results.json] [--threads N]

The ResNet-50 of the model zoo (25.6M parameters, random weights, 1x3x224x224) goes through the public API:
torch -> ONNX -> SavedModel -> float32, fp16 and int8 TFLite (int8 calibrated on 16 generated batches, which
is enough for timing; accuracy needs real data). Every TFLite runs in LiteRT with the same thread count; the
rows carry p50 latency, size in bytes, SNR against torch over the calibration samples, and each quantized
p50 as a ratio to the float32 TFLite's. The target: int8 p50 <= 0.6x float32's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

INT8_TARGET = 0.6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", dest="json_path")
    parser.add_argument("--threads", type=int, default=None, help="LiteRT threads for every row (default: LiteRT's)")
    parser.add_argument("--min-time", type=float, default=3.0, help="seconds of timed calls per row")
    args = parser.parse_args()

    import numpy as np
    import torch

    import bridge
    from fixtures.models.zoo.vision import resnet50

    module = resnet50().eval()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32))
    with tempfile.TemporaryDirectory() as tmp:
        result = bridge.convert(module, to="tflite", out_dir=tmp, inputs=[x], quantize="fp16,int8")
        tflites = [a for a in result.artifacts if a.format == "tflite"]
        sizes = {a.label: a.size_bytes for a in tflites}
        timed = bridge.bench(tflites, inputs=[x], threads=(args.threads,), min_seconds=args.min_time)
    quality = {q["label"]: q for q in result.quantization}
    rows = []
    for entry in timed.bench:
        label = entry.get("label", entry["format"])
        q = quality.get(label, {})
        rows.append({"model": "resnet50", "artifact": label, "threads": entry.get("threads"),
                     "p50_ms": entry["p50_ms"], "p90_ms": entry["p90_ms"], "size_bytes": sizes[label],
                     "p50_vs_float_tflite": entry.get("p50_vs_float_tflite", 1.0 if label == "tflite" else None),
                     "snr_db_vs_torch": q.get("snr_db"), "cosine_vs_torch": q.get("cosine"),
                     "verdict": q.get("passed", True) if q else None})
    int8 = next(r for r in rows if r["artifact"] == "tflite[int8]")
    report = {"rows": rows, "int8_target_vs_float": INT8_TARGET,
              "int8_meets_target": int8["p50_vs_float_tflite"] is not None and int8["p50_vs_float_tflite"] <= INT8_TARGET}
    print(f"{'artifact':<16} {'p50 ms':>9} {'x float':>8} {'bytes':>12} {'SNR dB':>8}")
    for r in rows:
        ratio = r["p50_vs_float_tflite"]
        snr = r["snr_db_vs_torch"]
        print(f"{r['artifact']:<16} {r['p50_ms']:>9.2f} {ratio if ratio is not None else '-':>8} {r['size_bytes']:>12,} "
              f"{snr if snr is None else round(snr, 1)!s:>8}")
    print(f"int8 p50 / float32 p50 = {int8['p50_vs_float_tflite']} (target <= {INT8_TARGET}): "
          f"{'met' if report['int8_meets_target'] else 'NOT met'}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
