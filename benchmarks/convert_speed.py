"""How fast our ONNX->TF backend converts, and how fast its SavedModel runs, against ONNX Runtime.

    python -m benchmarks.convert_speed [--json results.json]

ResNet-50 (25.6M parameters) is exported to ONNX once (not timed); then, with TensorFlow already
imported, the ONNX -> SavedModel conversion (load, check, trace, save) is timed. Latency of the
SavedModel in TensorFlow and of the ONNX file in ONNX Runtime is measured in the same run on the same
input, and reported as a ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def _latency_ms(fn, warmup: int = 3, runs: int = 15) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


ZOO = ["text:BertEncoder", "text:LlamaDecoder", "vision:ViT", "vision:MobileNet", "vision:UNet",
       "sequence:LstmTagger", "sequence:WhisperEncoder"]


def _zoo_latency(latency_ms) -> list[dict]:
    """Per zoo model: ONNX->SavedModel seconds and TensorFlow / ONNX Runtime p50 latency on its example inputs."""
    import bridge
    from bridge.runtimes import load_runner

    rows = []
    for name in ZOO:
        with tempfile.TemporaryDirectory() as tmp:
            result = bridge.convert(f"fixtures.models.zoo.{name}", to="tf", out_dir=tmp, verify=False)
            by_format = {a.format: a for a in result.artifacts}
            tf_runner, ort_runner = load_runner(by_format["tf"]), load_runner(by_format["onnx"])
            tf_ms = latency_ms(lambda: tf_runner.run(result.inputs))
            ort_ms = latency_ms(lambda: ort_runner.run(result.inputs))
            rows.append({"model": name, "onnx_to_savedmodel_seconds": round(by_format["tf"].convert_seconds, 2),
                         "tf_p50_ms": round(tf_ms, 3), "onnxruntime_p50_ms": round(ort_ms, 3),
                         "tf_over_onnxruntime_latency": round(tf_ms / ort_ms, 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    import numpy as np
    import torch

    from bridge._frameworks import import_tensorflow
    from bridge.model import Artifact, ConvertOptions
    from bridge.registry import REGISTRY
    from bridge.runtimes.ort import OnnxRuntimeRunner
    from bridge.runtimes.tf_savedmodel import TensorFlowRunner
    from bridge.sources import model_from_module
    from fixtures.models.zoo.vision import resnet50

    import_tensorflow()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        module = resnet50().eval()
        params = sum(p.numel() for p in module.parameters())
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        model = model_from_module(module, path="resnet50", stem="resnet50", example_inputs=(torch.from_numpy(x),))
        onnx_path = Path(tmp) / "resnet50.onnx"
        REGISTRY.get("torch", "onnx").fn(model, onnx_path, ConvertOptions(feeds={"x": x}))
        to_tf = REGISTRY.get("onnx", "tf").fn
        timings = []
        for i in range(2):
            out = Path(tmp) / f"resnet50_{i}_savedmodel"
            start = time.perf_counter()
            to_tf(Artifact(format="onnx", path=onnx_path), out, ConvertOptions())
            timings.append(time.perf_counter() - start)
        tf_runner = TensorFlowRunner(Artifact(format="tf", path=out))
        ort_runner = OnnxRuntimeRunner(Artifact(format="onnx", path=onnx_path))
        feeds = {"x": x}
        tf_ms = _latency_ms(lambda: tf_runner.run(feeds))
        ort_ms = _latency_ms(lambda: ort_runner.run(feeds))
        diff = float(np.abs(tf_runner.run(feeds)["output"] - ort_runner.run(feeds)["output"]).max())
        results = {
            "model": "resnet50", "parameters": params,
            "onnx_to_savedmodel_seconds": [round(t, 2) for t in timings],
            "tf_p50_ms": round(tf_ms, 2), "onnxruntime_p50_ms": round(ort_ms, 2),
            "tf_over_onnxruntime_latency": round(tf_ms / ort_ms, 2),
            "max_abs_tf_vs_onnxruntime": diff,
        }
    results["zoo"] = _zoo_latency(_latency_ms)
    print(json.dumps(results, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
