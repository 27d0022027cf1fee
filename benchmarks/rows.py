"""What ``make bench`` times for each model: row kinds, each a function that adds timed targets.

A row kind takes the case (the model, its ONNX/SavedModel/TFLite artifacts, its feeds) and returns the
artifacts to time, each under a label; RATIOS names the label pairs the table reports. Adding a kind
(fp16 or int8 TFLite, say) is one decorated function and one RATIOS line, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.models import BenchModel, keras_model
from bridge.model import Artifact, ConvertOptions

__all__ = ["Timed", "Case", "ROW_KINDS", "RATIOS", "row_kind"]


@dataclass
class Timed:
    label: str  # "onnx" (ONNX Runtime, the baseline), "tf", "tflite", "tf_xla", "keras_tf", ...
    target: Artifact
    feeds: dict[str, np.ndarray]


@dataclass
class Case:
    model: BenchModel
    out_dir: Path
    artifacts: dict[str, Artifact]  # by format: onnx, tf, tflite
    feeds: dict[str, np.ndarray]  # what every PyTorch-born artifact is timed on
    record: dict[str, Any] = field(default_factory=dict)  # what this case adds to results.json


ROW_KINDS: dict[str, Callable[[Case], list[Timed]]] = {}

# (column, numerator label, denominator label): medians of per-round latency ratios measured in one run
RATIOS: list[tuple[str, str, str]] = [
    ("tf/ort", "tf", "onnx"),
    ("tflite/ort", "tflite", "onnx"),
    ("xla/ort", "tf_xla", "onnx"),
    ("tf/keras", "tf", "keras_tf"),
    ("tflite/keras", "tflite", "keras_tflite"),
]


def row_kind(name: str) -> Callable[[Callable[[Case], list[Timed]]], Callable[[Case], list[Timed]]]:
    def register(fn: Callable[[Case], list[Timed]]) -> Callable[[Case], list[Timed]]:
        if name in ROW_KINDS:
            raise ValueError(f"row kind {name!r} is registered twice")
        ROW_KINDS[name] = fn
        return fn

    return register


@row_kind("ours")
def _ours(case: Case) -> list[Timed]:
    return [Timed(fmt, case.artifacts[fmt], case.feeds) for fmt in ("onnx", "tf", "tflite") if fmt in case.artifacts]


@row_kind("xla")
def _xla(case: Case) -> list[Timed]:
    """The same ONNX file through our backend with the serving function compiled by XLA (``--xla``)."""
    from bridge.registry import REGISTRY

    if "onnx" not in case.artifacts:
        return []
    start = time.perf_counter()
    artifact = REGISTRY.get("onnx", "tf").fn(case.artifacts["onnx"], case.out_dir / "xla_savedmodel",
                                             ConvertOptions(jit_compile=True))
    case.record["onnx_to_savedmodel_xla_seconds"] = round(time.perf_counter() - start, 2)
    return [Timed("tf_xla", artifact, case.feeds)]


def _tflite_from_savedmodel(path: Path, out: Path) -> tuple[Path, float]:
    import tensorflow as tf

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=["serving_default"])
    out.write_bytes(converter.convert())
    return out, time.perf_counter() - start


@row_kind("keras")
def _keras(case: Case) -> list[Timed]:
    """The same architecture written natively in Keras, saved as a SavedModel, converted by TF's converter."""
    if not case.model.keras:
        return []
    model = keras_model(case.model.keras)
    saved = case.out_dir / "keras_savedmodel"
    model.export(str(saved), format="tf_saved_model", verbose=False)
    tflite, seconds = _tflite_from_savedmodel(saved, case.out_dir / "keras.tflite")
    case.record["keras_tflite_convert_seconds"] = round(seconds, 2)
    image = next(iter(case.feeds.values()))
    nhwc = np.ascontiguousarray(image.transpose(0, 2, 3, 1))
    tf_art, lite_art = Artifact(format="tf", path=saved), Artifact(format="tflite", path=tflite)
    name = _only_input(tf_art)
    return [Timed("keras_tf", tf_art, {name: nhwc}), Timed("keras_tflite", lite_art, {_only_input(lite_art): nhwc})]


def _only_input(artifact: Artifact) -> str:
    from bridge.runtimes import load_runner

    (name,) = load_runner(artifact).input_names
    return name
