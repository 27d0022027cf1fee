"""The Caffe runner (OpenCV DNN): blob-named outputs, every top of a multi-top layer, feed validation,
CPU only, and the layer outputs localisation reads."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.errors import UsageError
from bridge.runtimes import load_runner
from bridge.sources import load_source
from tests.converters.caffe_onnx.caffe_files import write_net

pytest.importorskip("cv2")

NET = ('name: "t"\ninput: "data"\ninput_shape { dim: 1 dim: 4 dim: 3 dim: 3 }\n'
       'layer { name: "double" type: "Power" bottom: "data" top: "p" power_param { scale: 2 } }\n'
       'layer { name: "relu" type: "ReLU" bottom: "p" top: "p" }\n'
       'layer { name: "halves" type: "Slice" bottom: "p" top: "lo" top: "hi" slice_param { slice_point: 1 } }\n'
       'layer { name: "exp" type: "Exp" bottom: "hi" top: "e" }\n')


def _model(tmp_path):
    text, _ = write_net(tmp_path, NET)
    return load_source(str(text))


def test_runs_caffe_and_names_outputs_by_blob(tmp_path):
    model = _model(tmp_path)
    assert model.format == "caffe" and model.output_names == ["lo", "e"]
    runner = load_runner(model)
    assert runner.runtime == "opencv-dnn" and runner.input_names == ["data"]
    x = np.random.default_rng(0).standard_normal((1, 4, 3, 3)).astype(np.float32)
    out = runner.run({"data": x})
    assert list(out) == ["lo", "e"]
    np.testing.assert_allclose(out["lo"], np.maximum(2 * x, 0)[:, :1], rtol=1e-6)
    np.testing.assert_allclose(out["e"], np.exp(np.maximum(2 * x, 0)[:, 1:]), rtol=1e-5)
    # any blob, by its last writer; both tops of the Slice
    blobs = runner.blobs({"data": x}, ["p", "lo", "hi"])
    np.testing.assert_allclose(blobs["p"], np.maximum(2 * x, 0), rtol=1e-6)
    np.testing.assert_allclose(blobs["hi"], np.maximum(2 * x, 0)[:, 1:], rtol=1e-6)
    layers = runner.layer_outputs({"data": x}, ["double", "halves"])
    np.testing.assert_allclose(layers["double"][0], 2 * x, rtol=1e-6)  # before the in-place ReLU
    assert [v.shape for v in layers["halves"]] == [(1, 1, 3, 3), (1, 3, 3, 3)]


def test_feeds_are_validated(tmp_path):
    runner = load_runner(_model(tmp_path))
    with pytest.raises(UsageError, match=r"shape \[1, 4, 3\]; expected 1x4x3x3"):
        runner.run({"data": np.zeros((1, 4, 3), np.float32)})
    with pytest.raises(UsageError, match="missing"):
        runner.run({"x": np.zeros((1, 4, 3, 3), np.float32)})


def test_cuda_is_refused(tmp_path):
    with pytest.raises(UsageError, match="--device cuda: the Caffe reference"):
        load_runner(_model(tmp_path), "cuda")
