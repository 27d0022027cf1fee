"""Caffe runner: OpenCV's DNN module (``cv2.dnn.readNetFromCaffe``), the reference for Caffe sources.

OpenCV names outputs by layer, not by blob; every blob is read as the output pin of the layer that wrote
it last (``forwardAndRetrieve`` returns all of a layer's outputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.errors import UsageError, first_line
from bridge.model import InputSpec
from bridge.runtimes.base import Runner

__all__ = ["CaffeRunner", "import_cv2"]


def import_cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise UsageError("running Caffe models needs OpenCV; pip install 'bridge-convert[caffe]' "
                         "(opencv-python-headless>=4.8,<5)") from exc
    if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromCaffe"):
        raise UsageError(f"this OpenCV ({cv2.__version__}) has no Caffe importer; install opencv-python-headless<5")
    return cv2


class CaffeRunner(Runner):
    runtime = "opencv-dnn"

    def __init__(self, target: Any, device: str = "cpu", threads: int | None = None) -> None:
        from bridge.sources_caffe import describe_caffe

        if device != "cpu":
            raise UsageError("--device cuda: the Caffe reference (OpenCV DNN from PyPI) runs on the CPU; use --device cpu")
        cv2 = import_cv2()
        if threads:
            cv2.setNumThreads(int(threads))
        files = target.handle
        prototxt = Path(getattr(files, "prototxt", target.path))
        weights = getattr(files, "weights", None)
        info = describe_caffe(prototxt)
        self._writers: dict[str, tuple[str, int]] = {b: (w[0], w[1]) for b, w in info["writers"].items()}
        try:
            self.net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights) if weights else "")
        except cv2.error as exc:
            raise UsageError(f"OpenCV cannot read {prototxt}{' with ' + str(weights) if weights else ''}: "
                             f"{first_line(exc)}") from exc
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        specs = [InputSpec(i["name"], tuple(i["shape"]), "float32") for i in info["inputs"]]
        super().__init__(specs, [o["name"] for o in info["outputs"]], device)

    def _run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        return self.blobs(feeds, self.output_names)

    def blobs(self, feeds: dict[str, Any], names: Sequence[str], fusion: bool = True) -> dict[str, Any]:
        """The values of any Caffe blobs (their last versions) on ``feeds``. ``fusion`` False keeps OpenCV
        from merging layers (BatchNorm into Convolution and the like), so every layer's own output is seen."""
        import numpy as np

        cv2 = import_cv2()
        self.net.enableFusion(fusion)
        for name, value in feeds.items():
            self.net.setInput(np.ascontiguousarray(value, dtype=np.float32), name)
        wanted = [n for n in names if n in self._writers]
        layers = list(dict.fromkeys(self._writers[n][0] for n in wanted))
        try:
            results = self.net.forwardAndRetrieve(layers) if layers else []
        except cv2.error as exc:
            raise UsageError(f"OpenCV could not run the Caffe net: {first_line(exc)}") from exc
        by_layer = dict(zip(layers, results))
        out = {}
        for name in wanted:
            layer, index = self._writers[name]
            values = by_layer[layer]
            if index < len(values):
                out[name] = np.array(values[index], copy=True)
        return out

    def layer_outputs(self, feeds: dict[str, Any], layers: Sequence[str]) -> dict[str, list[Any]]:
        """Every output of each named layer, without fusion (for localisation)."""
        import numpy as np

        self.net.enableFusion(False)
        for name, value in feeds.items():
            self.net.setInput(np.ascontiguousarray(value, dtype=np.float32), name)
        results = self.net.forwardAndRetrieve(list(layers))
        self.net.enableFusion(True)
        return {layer: [np.array(v, copy=True) for v in values] for layer, values in zip(layers, results)}
