"""Whole Caffe networks built here (random weights, our own schema), converted once to ONNX, TF and TFLite
and checked against OpenCV: a VGG-style classifier, a ResNet-style one with BatchNorm + Scale folded into
its convolutions and Eltwise shortcuts, a legacy V1-format net, and an SSD-style detection head whose
detections are matched one to one."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from tests.converters.caffe_onnx.caffe_files import convert_and_check

pytest.importorskip("cv2")
pytestmark = pytest.mark.slow

rng = np.random.default_rng(7)


def _w(*shape: int) -> np.ndarray:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def _b(n: int) -> np.ndarray:
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


def _conv(name: str, bottom: str, out: int, k: int = 3, pad: int = 1, stride: int = 1, bias: bool = True) -> str:
    extra = "" if bias else " bias_term: false"
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" param {{ lr_mult: 1 }} '
            f'convolution_param {{ num_output: {out} kernel_size: {k} pad: {pad} stride: {stride}{extra} '
            f'weight_filler {{ type: "xavier" }} }} }}\n')


def _relu(name: str, blob: str) -> str:
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def test_vgg_style_classifier(tmp_path):
    proto = ('name: "vgg_tiny"\nlayer { name: "data" type: "Input" top: "data" '
             'input_param { shape { dim: 1 dim: 3 dim: 32 dim: 32 } } }\n'
             + _conv("conv1_1", "data", 8) + _relu("relu1_1", "conv1_1") + _conv("conv1_2", "conv1_1", 8)
             + _relu("relu1_2", "conv1_2")
             + 'layer { name: "pool1" type: "Pooling" bottom: "conv1_2" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
             + _conv("conv2_1", "pool1", 16) + _relu("relu2_1", "conv2_1")
             + 'layer { name: "pool2" type: "Pooling" bottom: "conv2_1" top: "pool2" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }\n'
             + 'layer { name: "fc6" type: "InnerProduct" bottom: "pool2" top: "fc6" inner_product_param { num_output: 32 } }\n'
             + _relu("relu6", "fc6")
             + 'layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }\n'
             + 'layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7" inner_product_param { num_output: 10 } }\n'
             + 'layer { name: "prob" type: "Softmax" bottom: "fc7" top: "prob" }\n')
    blobs = {"conv1_1": [_w(8, 3, 3, 3), _b(8)], "conv1_2": [_w(8, 8, 3, 3), _b(8)], "conv2_1": [_w(16, 8, 3, 3), _b(16)],
             "fc6": [_w(32, 16 * 8 * 8), _b(32)], "fc7": [_w(10, 32), _b(10)]}
    result = convert_and_check(tmp_path, proto, blobs)
    assert result.source.output_names == ["prob"]


def _bn_scale(name: str, blob: str, channels: int, blobs: dict) -> str:
    factor = np.float32(rng.uniform(0.5, 2.0))
    blobs[f"{name}_bn"] = [rng.standard_normal(channels).astype(np.float32) * factor,
                           (np.abs(rng.standard_normal(channels)) + 0.5).astype(np.float32) * factor,
                           np.array([factor], np.float32)]
    blobs[f"{name}_scale"] = [rng.uniform(0.5, 1.5, channels).astype(np.float32), _b(channels)]
    return (f'layer {{ name: "{name}_bn" type: "BatchNorm" bottom: "{blob}" top: "{blob}" '
            f'batch_norm_param {{ use_global_stats: true }} }}\n'
            f'layer {{ name: "{name}_scale" type: "Scale" bottom: "{blob}" top: "{blob}" scale_param {{ bias_term: true }} }}\n')


def test_resnet_style_batchnorm_scale_eltwise(tmp_path):
    blobs: dict = {}
    proto = 'name: "resnet_tiny"\ninput: "data"\ninput_dim: 2\ninput_dim: 3\ninput_dim: 16\ninput_dim: 16\n'
    proto += _conv("conv1", "data", 8, bias=False) + _bn_scale("conv1", "conv1", 8, blobs) + _relu("conv1_relu", "conv1")
    blobs["conv1"] = [_w(8, 3, 3, 3)]
    bottom = "conv1"
    for block in ("res2a", "res2b"):
        proto += _conv(f"{block}_branch2a", bottom, 8, bias=False) + _bn_scale(f"{block}_branch2a", f"{block}_branch2a", 8, blobs)
        proto += _relu(f"{block}_branch2a_relu", f"{block}_branch2a")
        proto += _conv(f"{block}_branch2b", f"{block}_branch2a", 8, bias=False)
        proto += _bn_scale(f"{block}_branch2b", f"{block}_branch2b", 8, blobs)
        blobs[f"{block}_branch2a"] = [_w(8, 8, 3, 3)]
        blobs[f"{block}_branch2b"] = [_w(8, 8, 3, 3)]
        proto += (f'layer {{ name: "{block}" type: "Eltwise" bottom: "{bottom}" bottom: "{block}_branch2b" top: "{block}" '
                  'eltwise_param { operation: SUM } }\n') + _relu(f"{block}_relu", block)
        bottom = block
    proto += (f'layer {{ name: "pool" type: "Pooling" bottom: "{bottom}" top: "pool" pooling_param {{ pool: AVE global_pooling: true }} }}\n'
              'layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 5 } }\n'
              'layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }\n')
    blobs["fc"] = [_w(5, 8), _b(5)]
    result = convert_and_check(tmp_path, proto, blobs)
    model = onnx.load(str(next(a.path for a in result.artifacts if a.format == "onnx")))
    layers = json.loads({p.key: p.value for p in model.metadata_props}["bridge.caffe_layers"])
    folded = {entry["layer"]: entry["folded"] for entry in layers if entry["folded"]}
    assert folded == {name: [f"{name}_bn", f"{name}_scale"]
                      for name in ("conv1", "res2a_branch2a", "res2a_branch2b", "res2b_branch2a", "res2b_branch2b")}
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 5 and "Mul" not in ops and "BatchNormalization" not in ops


def test_v1_format_net(tmp_path):
    proto = ('name: "v1net"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 12\ninput_dim: 12\n'
             'layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2 '
             'convolution_param { num_output: 4 kernel_size: 3 stride: 1 } }\n'
             'layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }\n'
             'layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: AVE kernel_size: 3 stride: 2 } }\n'
             'layers { name: "norm1" type: LRN bottom: "pool1" top: "norm1" lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }\n'
             'layers { name: "fc" type: INNER_PRODUCT bottom: "norm1" top: "fc" inner_product_param { num_output: 6 } }\n'
             'layers { name: "prob" type: SOFTMAX bottom: "fc" top: "prob" }\n')
    blobs = {"conv1": [_w(4, 3, 3, 3), _b(4)], "fc": [_w(6, 4 * 5 * 5), _b(6)]}
    result = convert_and_check(tmp_path, proto, blobs, v1=True)
    assert result.source.output_names == ["prob"]


def _head(name: str, bottom: str, priors: int, classes: int, min_size: float, max_size: float, blobs: dict,
          channels: int) -> str:
    text = ""
    for kind, depth in (("loc", priors * 4), ("conf", priors * classes)):
        layer = f"{name}_mbox_{kind}"
        blobs[layer] = [_w(depth, channels, 3, 3) * (0.3 if kind == "loc" else 0.15), _b(depth)]
        text += _conv(layer, bottom, depth)
        text += (f'layer {{ name: "{layer}_perm" type: "Permute" bottom: "{layer}" top: "{layer}_perm" '
                 'permute_param { order: 0 order: 2 order: 3 order: 1 } }\n'
                 f'layer {{ name: "{layer}_flat" type: "Flatten" bottom: "{layer}_perm" top: "{layer}_flat" '
                 'flatten_param { axis: 1 } }\n')
    text += (f'layer {{ name: "{name}_mbox_priorbox" type: "PriorBox" bottom: "{bottom}" bottom: "data" '
             f'top: "{name}_mbox_priorbox" prior_box_param {{ min_size: {min_size} max_size: {max_size} '
             'aspect_ratio: 2 flip: true clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }\n')
    return text


def test_ssd_style_head_detections_match(tmp_path):
    classes, priors = 3, 4
    blobs: dict = {"conv1": [_w(8, 3, 3, 3), _b(8)], "conv2": [_w(8, 8, 3, 3), _b(8)],
                   "conv1_norm": [np.full(8, 20.0, np.float32)]}
    proto = ('name: "ssd_tiny"\ninput: "data"\ninput_shape { dim: 1 dim: 3 dim: 32 dim: 32 }\n'
             + _conv("conv1", "data", 8, stride=2) + _relu("relu1", "conv1")
             + 'layer { name: "conv1_norm" type: "Normalize" bottom: "conv1" top: "conv1_norm" '
               'norm_param { across_spatial: false channel_shared: false } }\n'
             + _conv("conv2", "conv1", 8, stride=2) + _relu("relu2", "conv2")
             + _head("conv1_norm", "conv1_norm", priors, classes, 6, 12, blobs, 8)
             + _head("conv2", "conv2", priors, classes, 12, 24, blobs, 8))
    for kind, axis in (("loc", 1), ("conf", 1), ("priorbox", 2)):
        suffix = "" if kind == "priorbox" else "_flat"
        proto += (f'layer {{ name: "mbox_{kind}" type: "Concat" bottom: "conv1_norm_mbox_{kind}{suffix}" '
                  f'bottom: "conv2_mbox_{kind}{suffix}" top: "mbox_{kind}" concat_param {{ axis: {axis} }} }}\n')
    proto += (f'layer {{ name: "mbox_conf_reshape" type: "Reshape" bottom: "mbox_conf" top: "mbox_conf_reshape" '
              f'reshape_param {{ shape {{ dim: 0 dim: -1 dim: {classes} }} }} }}\n'
              'layer { name: "mbox_conf_softmax" type: "Softmax" bottom: "mbox_conf_reshape" top: "mbox_conf_softmax" '
              'softmax_param { axis: 2 } }\n'
              'layer { name: "mbox_conf_flatten" type: "Flatten" bottom: "mbox_conf_softmax" top: "mbox_conf_flatten" }\n'
              'layer { name: "detection_out" type: "DetectionOutput" bottom: "mbox_loc" bottom: "mbox_conf_flatten" '
              f'bottom: "mbox_priorbox" top: "detection_out" detection_output_param {{ num_classes: {classes} '
              'share_location: true background_label_id: 0 nms_param { nms_threshold: 0.45 top_k: 100 } '
              'code_type: CENTER_SIZE keep_top_k: 40 confidence_threshold: 0.3 } }\n')
    result = convert_and_check(tmp_path, proto, blobs)
    for stage in result.parity:
        (out,) = stage.outputs
        assert out.rule == "detections", (stage.format, out.rule)
        d = out.detections
        assert d["reference"] > 5 and d["matched"] == d["reference"] == d["candidate"], (stage.format, stage.reference, d)
        assert d["missing"] == d["extra"] == d["borderline"] == 0
        assert d["max_score_error"] <= 1e-4 and d["max_box_error"] <= 1e-4
