"""Write Caffe nets for tests with bridge's own schema: a prototxt (text) and a .caffemodel (binary)
holding the given blobs, and run one conversion to every format against OpenCV."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bridge_converters.caffe_onnx.schema import messages

__all__ = ["write_caffemodel", "write_net", "convert_and_check", "rng"]

rng = np.random.default_rng(0)


def write_caffemodel(path: Path, blobs: Mapping[str, Sequence[np.ndarray]], v1: bool = False,
                     legacy_4d: bool = False) -> Path:
    """A .caffemodel with ``blobs`` per layer name (``layers`` entries when ``v1``; 4-d num/channels/height/
    width blob shapes when ``legacy_4d``)."""
    m = messages()
    net = m.NetParameter(name="weights")
    for name, arrays in blobs.items():
        layer = net.layers.add(name=name) if v1 else net.layer.add(name=name)
        for array in arrays:
            blob = layer.blobs.add()
            array = np.asarray(array, np.float32)
            if legacy_4d:
                dims = [1] * (4 - array.ndim) + list(array.shape)
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(array.shape)
            blob.data.extend(array.ravel().tolist())
    path.write_bytes(net.SerializeToString())
    return path


def write_net(folder: Path, prototxt: str, blobs: Mapping[str, Sequence[np.ndarray]] | None = None,
              v1: bool = False, name: str = "deploy") -> tuple[Path, Path | None]:
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / f"{name}.prototxt"
    text.write_text(prototxt)
    weights = write_caffemodel(folder / f"{name}.caffemodel", blobs, v1=v1) if blobs is not None else None
    return text, weights


def convert_and_check(folder: Path, prototxt: str, blobs: Mapping[str, Sequence[np.ndarray]] | None = None, *,
                      inputs: Mapping[str, np.ndarray] | None = None, atol: float = 1e-4, v1: bool = False,
                      to: str = "tflite") -> Any:
    """One conversion to ONNX, TF and TFLite, verified against OpenCV: every artifact within ``atol``."""
    import bridge
    from bridge.verify.compare import Tolerances

    text, weights = write_net(folder, prototxt, blobs, v1=v1)
    result = bridge.convert(str(text), to=to, out_dir=folder / "out", inputs=dict(inputs) if inputs else None,
                            weights=weights, tolerances=Tolerances(atol=atol, rtol=0.0), force=True)
    formats = {a.format for a in result.artifacts}
    assert {"onnx", "tf", "tflite"} <= formats or to != "tflite", formats
    against_caffe = [p for p in result.parity if p.reference == "caffe"]
    assert {p.format for p in against_caffe} == formats
    for stage in against_caffe:
        assert not stage.error, (stage.format, stage.error)
        for out in stage.outputs:
            assert out.passed, (stage.format, out.name, out.problem, out.max_abs)
    assert result.passed
    return result


def convert_and_check_numpy(folder: Path, prototxt: str, blobs: Mapping[str, Sequence[np.ndarray]] | None,
                            inputs: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
                            atol: float = 1e-4) -> None:
    """For what OpenCV cannot run (or runs unlike Caffe): one conversion, every artifact against Caffe's
    formula computed with numpy."""
    import bridge
    from bridge.runtimes import load_runner

    text, weights = write_net(folder, prototxt, blobs)
    result = bridge.convert(str(text), to="tflite", out_dir=folder / "out", inputs=dict(inputs), weights=weights,
                            verify=False, force=True)
    assert {a.format for a in result.artifacts} == {"onnx", "tf", "tflite"}
    for artifact in result.artifacts:
        got = load_runner(artifact).run(dict(inputs))
        for name, want in expected.items():
            value = got[name] if name in got else next(iter(got.values()))
            np.testing.assert_allclose(value, want, rtol=0, atol=atol, err_msg=f"{artifact.format} {name}")
