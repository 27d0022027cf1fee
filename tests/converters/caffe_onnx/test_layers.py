"""One net per Caffe layer type (or parameter form), converted once to ONNX, TF and TFLite and checked
against OpenCV's own Caffe runtime: ONNX Runtime, TensorFlow and LiteRT within 1e-4 of OpenCV."""

from __future__ import annotations

import numpy as np
import pytest

from tests.converters.caffe_onnx.caffe_files import convert_and_check, convert_and_check_numpy

pytest.importorskip("cv2")


def _r(*shape: int) -> np.ndarray:
    # seeded per shape, so every case is reproducible on its own
    return np.random.default_rng(sum(shape) + len(shape)).standard_normal(shape).astype(np.float32)


def _net(layers: str, *inputs: tuple[str, tuple[int, ...]]) -> str:
    head = "".join(f'input: "{n}"\ninput_shape {{ {" ".join(f"dim: {d}" for d in s)} }}\n' for n, s in inputs)
    return f'name: "case"\n{head}{layers}'


X = ("data", (2, 4, 7, 8))

CASES = {
    # -- conv family -------------------------------------------------------------------------------
    "conv": (_net('layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
                  'convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }', X),
             {"c": [_r(6, 4, 3, 3), _r(6)]}),
    "conv_group_dilation_hw": (_net(
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 6 '
        'bias_term: false group: 2 dilation: 2 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0 } }', X),
        {"c": [_r(6, 2, 3, 2)]}),
    "conv_repeated_fields": (_net(
        'layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 3 '
        'kernel_size: 3 kernel_size: 1 stride: 1 stride: 2 pad: 1 pad: 0 } }', X), {"c": [_r(3, 4, 3, 1), _r(3)]}),
    "deconv": (_net('layer { name: "d" type: "Deconvolution" bottom: "data" top: "d" '
                    'convolution_param { num_output: 4 kernel_size: 4 stride: 2 pad: 1 group: 2 } }', X),
               {"d": [_r(4, 2, 4, 4), _r(4)]}),
    "inner_product": (_net('layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                           'inner_product_param { num_output: 5 } }', X), {"fc": [_r(5, 4 * 7 * 8), _r(5)]}),
    "inner_product_axis2": (_net('layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                                 'inner_product_param { num_output: 3 axis: 2 } }', X), {"fc": [_r(3, 7 * 8), _r(3)]}),
    # -- pooling -----------------------------------------------------------------------------------
    "pool_max_ceil": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                           'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }', X), None),
    "pool_max_pad_clip": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                               'pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 } }', X), None),
    "pool_ave_pad": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                          'pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }', X), None),
    "pool_ave_ceil_overhang": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                                    'pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride: 2 } }', X), None),
    "pool_floor_mode": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                             'pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 ceil_mode: false } }', X), None),
    "pool_global_ave": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                             'pooling_param { pool: AVE global_pooling: true } }', X), None),
    "pool_global_max": (_net('layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
                             'pooling_param { pool: MAX global_pooling: true } }', X), None),
    # -- activations -------------------------------------------------------------------------------
    "relu": (_net('layer { name: "a" type: "ReLU" bottom: "data" top: "a" }', X), None),
    "relu_negative_slope": (_net('layer { name: "a" type: "ReLU" bottom: "data" top: "a" '
                                 'relu_param { negative_slope: 0.1 } }', X), None),
    "relu6": (_net('layer { name: "s" type: "Power" bottom: "data" top: "s" power_param { scale: 4 } }\n'
                   'layer { name: "a" type: "ReLU6" bottom: "s" top: "a" }', X), None),
    "prelu": (_net('layer { name: "a" type: "PReLU" bottom: "data" top: "a" }', X), {"a": [_r(4)]}),
    "prelu_shared": (_net('layer { name: "a" type: "PReLU" bottom: "data" top: "a" '
                          'prelu_param { channel_shared: true } }', X), {"a": [np.array([0.3], np.float32)]}),
    "sigmoid": (_net('layer { name: "a" type: "Sigmoid" bottom: "data" top: "a" }', X), None),
    "tanh": (_net('layer { name: "a" type: "TanH" bottom: "data" top: "a" }', X), None),
    "elu": (_net('layer { name: "a" type: "ELU" bottom: "data" top: "a" elu_param { alpha: 0.5 } }', X), None),
    "absval": (_net('layer { name: "a" type: "AbsVal" bottom: "data" top: "a" }', X), None),
    "power": (_net('layer { name: "a" type: "Power" bottom: "data" top: "a" '
                   'power_param { power: 2 scale: 0.5 shift: 1 } }', X), None),
    "exp": (_net('layer { name: "a" type: "Exp" bottom: "data" top: "a" exp_param { base: 2 scale: 0.5 shift: 0.25 } }', X), None),
    "log": (_net('layer { name: "p" type: "Power" bottom: "data" top: "p" power_param { shift: 4 } }\n'
                 'layer { name: "a" type: "Log" bottom: "p" top: "a" }', X), None),
    "bnll": (_net('layer { name: "a" type: "BNLL" bottom: "data" top: "a" }', X), None),
    "dropout": (_net('layer { name: "a" type: "Dropout" bottom: "data" top: "a" dropout_param { dropout_ratio: 0.3 } }', X), None),
    "softmax": (_net('layer { name: "a" type: "Softmax" bottom: "data" top: "a" }', X), None),
    "softmax_last_axis": (_net('layer { name: "a" type: "Softmax" bottom: "data" top: "a" softmax_param { axis: -1 } }', X), None),
    # -- normalisation and affine ------------------------------------------------------------------
    "batchnorm": (_net('layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" batch_norm_param { eps: 0.001 } }', X),
                  {"bn": [_r(4) * 8, np.abs(_r(4)) * 8 + 1, np.array([8.0], np.float32)]}),
    "scale_bias_term": (_net('layer { name: "s" type: "Scale" bottom: "data" top: "s" scale_param { bias_term: true } }', X),
                        {"s": [_r(4), _r(4)]}),
    "scale_axis_num_axes": (_net('layer { name: "s" type: "Scale" bottom: "data" top: "s" '
                                 'scale_param { axis: 2 num_axes: 2 } }', X), {"s": [_r(7, 8)]}),
    "scale_two_bottoms": (_net('layer { name: "s" type: "Scale" bottom: "data" bottom: "factor" top: "s" '
                               'scale_param { axis: 0 } }', X, ("factor", (2, 4))), None),
    "lrn_across_channels": (_net('layer { name: "n" type: "LRN" bottom: "data" top: "n" '
                                 'lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 } }', X), None),
    "lrn_within_channel": (_net('layer { name: "n" type: "LRN" bottom: "data" top: "n" '
                                'lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL } }', X), None),
    "normalize_per_position": (_net('layer { name: "n" type: "Normalize" bottom: "data" top: "n" '
                                    'norm_param { across_spatial: false channel_shared: false } }', X), {"n": [_r(4) * 10]}),
    "normalize_across_spatial": (_net('layer { name: "n" type: "Normalize" bottom: "data" top: "n" '
                                      'norm_param { across_spatial: true channel_shared: true } }', X),
                                 {"n": [np.array([20.0], np.float32)]}),
    # -- eltwise -----------------------------------------------------------------------------------
    "eltwise_prod": (_net('layer { name: "e" type: "Eltwise" bottom: "data" bottom: "other" top: "e" '
                          'eltwise_param { operation: PROD } }', X, ("other", (2, 4, 7, 8))), None),
    "eltwise_sum_coeff": (_net('layer { name: "e" type: "Eltwise" bottom: "data" bottom: "other" bottom: "third" top: "e" '
                               'eltwise_param { operation: SUM coeff: 1 coeff: -0.5 coeff: 2 } }',
                               X, ("other", (2, 4, 7, 8)), ("third", (2, 4, 7, 8))), None),
    "eltwise_max": (_net('layer { name: "e" type: "Eltwise" bottom: "data" bottom: "other" top: "e" '
                         'eltwise_param { operation: MAX } }', X, ("other", (2, 4, 7, 8))), None),
    # -- shape -------------------------------------------------------------------------------------
    "concat": (_net('layer { name: "c" type: "Concat" bottom: "data" bottom: "other" top: "c" }',
                    X, ("other", (2, 3, 7, 8))), None),
    "slice_points": (_net('layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b" top: "c" '
                          'slice_param { axis: 3 slice_point: 2 slice_point: 5 } }', X), None),
    # OpenCV splits evenly among the tops something reads, so both are read
    "slice_even": (_net('layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b" }\n'
                        'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" }', X), None),
    "split": (_net('layer { name: "s" type: "Split" bottom: "data" top: "a" top: "b" }\n'
                   'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" eltwise_param { operation: PROD } }', X), None),
    "flatten": (_net('layer { name: "f" type: "Flatten" bottom: "data" top: "f" }', X), None),
    "flatten_axes": (_net('layer { name: "f" type: "Flatten" bottom: "data" top: "f" flatten_param { axis: 2 end_axis: 3 } }', X), None),
    "reshape": (_net('layer { name: "r" type: "Reshape" bottom: "data" top: "r" '
                     'reshape_param { shape { dim: 0 dim: -1 dim: 4 } } }', X), None),
    "reshape_axis": (_net('layer { name: "r" type: "Reshape" bottom: "data" top: "r" '
                          'reshape_param { shape { dim: 2 dim: 2 } axis: 1 num_axes: 1 } }', X), None),
    "permute": (_net('layer { name: "p" type: "Permute" bottom: "data" top: "p" permute_param { order: 0 order: 2 order: 3 order: 1 } }', X), None),
    "crop": (_net('layer { name: "c" type: "Crop" bottom: "data" bottom: "ref" top: "c" crop_param { axis: 2 offset: 1 offset: 2 } }',
                  X, ("ref", (2, 4, 5, 5))), None),
    "shuffle_channel": (_net('layer { name: "s" type: "ShuffleChannel" bottom: "data" top: "s" '
                             'shuffle_channel_param { group: 2 } }', X), None),
    # -- resize and priors -------------------------------------------------------------------------
    "interp_zoom": (_net('layer { name: "i" type: "Interp" bottom: "data" top: "i" interp_param { zoom_factor: 2 } }', X), None),
    "interp_size": (_net('layer { name: "i" type: "Interp" bottom: "data" top: "i" interp_param { height: 5 width: 11 } }', X), None),
    "prior_box": (_net('layer { name: "pb" type: "PriorBox" bottom: "data" bottom: "image" top: "pb" prior_box_param { '
                       'min_size: 10 max_size: 20 aspect_ratio: 2 aspect_ratio: 3 flip: true clip: false '
                       'variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset: 0.5 } }\n'
                       'layer { name: "keep" type: "Power" bottom: "data" top: "keep" }',
                       X, ("image", (2, 3, 56, 64))), None),
    "prior_box_clip_step": (_net('layer { name: "pb" type: "PriorBox" bottom: "data" bottom: "image" top: "pb" '
                                 'prior_box_param { min_size: 30 aspect_ratio: 2 flip: false clip: true variance: 0.1 step: 8 } }\n'
                                 'layer { name: "keep" type: "Power" bottom: "data" top: "keep" }',
                                 X, ("image", (2, 3, 56, 64))), None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_against_opencv(case, tmp_path):
    prototxt, blobs = CASES[case]
    convert_and_check(tmp_path, prototxt, blobs)


def _align_corners(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Caffe's Interp (bilinear, corners aligned) in numpy."""
    def axis_weights(n_in: int, n_out: int) -> np.ndarray:
        pos = np.arange(n_out) * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
        lo = np.minimum(np.floor(pos).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (pos - lo)
        m[np.arange(n_out), hi] += pos - lo
        return m
    return np.einsum("ph,nchw,qw->ncpq", axis_weights(x.shape[2], h), x.astype(np.float64), axis_weights(x.shape[3], w))


def _lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    pad = (size - 1) // 2
    sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (pad, pad), (0, 0), (0, 0)))
    total = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x / (k + alpha / size * total) ** beta


_X = _r(2, 4, 7, 8)
_W = _r(4 * 7 * 8, 5)
_B = _r(4)
_OFF = _r(4, 7)

# OpenCV lacks Bias and Interp's shrink_factor, and ignores LRN's k, Log's base/scale/shift, InnerProduct's
# transpose and Concat's legacy concat_dim: these are checked against Caffe's formulas in numpy.
NUMPY_CASES = {
    "bias": (_net('layer { name: "b" type: "Bias" bottom: "data" top: "b" }', X), {"b": [_B]}, {"data": _X},
             {"b": _X + _B[None, :, None, None]}),
    "bias_two_bottoms": (_net('layer { name: "b" type: "Bias" bottom: "data" bottom: "offset" top: "b" }',
                              X, ("offset", (4, 7))), None, {"data": _X, "offset": _OFF},
                         {"b": _X + _OFF[None, :, :, None]}),
    "log_base_scale_shift": (_net('layer { name: "a" type: "Log" bottom: "data" top: "a" '
                                  'log_param { base: 10 scale: 0.5 shift: 4 } }', X), None, {"data": _X},
                             {"a": np.log10(4 + 0.5 * _X.astype(np.float64))}),
    "lrn_k": (_net('layer { name: "n" type: "LRN" bottom: "data" top: "n" '
                   'lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }', X), None, {"data": _X},
              {"n": _lrn(_X, 3, 0.5, 0.75, 2.0)}),
    "inner_product_transpose": (_net('layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                                     'inner_product_param { num_output: 5 transpose: true bias_term: false } }', X),
                                {"fc": [_W]}, {"data": _X}, {"fc": _X.reshape(2, -1).astype(np.float64) @ _W}),
    "concat_dim_legacy": (_net('layer { name: "c" type: "Concat" bottom: "data" bottom: "other" top: "c" '
                               'concat_param { concat_dim: 2 } }', X, ("other", (2, 4, 2, 8))), None,
                          {"data": _X, "other": _X[:, :, :2]}, {"c": np.concatenate([_X, _X[:, :, :2]], axis=2)}),
    "interp_shrink_zoom": (_net('layer { name: "i" type: "Interp" bottom: "data" top: "i" '
                                'interp_param { shrink_factor: 2 zoom_factor: 3 } }', X), None, {"data": _X},
                           {"i": _align_corners(_X, 10, 10)}),
}


@pytest.mark.parametrize("case", sorted(NUMPY_CASES))
def test_layer_against_caffe_formula(case, tmp_path):
    prototxt, blobs, inputs, expected = NUMPY_CASES[case]
    convert_and_check_numpy(tmp_path, prototxt, blobs, inputs, expected)


_PRIORS, _CLASSES = 60, 4


def _detection_case(code_type: str, background: int) -> tuple[str, dict[str, np.ndarray]]:
    """DetectionOutput alone on given priors (variance 0.1/0.2), locations and scores, for two images."""
    gen = np.random.default_rng(11)
    centers, sizes = gen.uniform(0.1, 0.9, (_PRIORS, 2)), gen.uniform(0.05, 0.3, (_PRIORS, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1).reshape(-1)
    prior = np.stack([boxes, np.tile([0.1, 0.1, 0.2, 0.2], _PRIORS)])[None].astype(np.float32)
    inputs = {"loc": (gen.standard_normal((2, _PRIORS * 4)) * 0.5).astype(np.float32),
              "conf": gen.uniform(0, 1, (2, _PRIORS * _CLASSES)).astype(np.float32), "prior": prior}
    proto = _net('layer { name: "det" type: "DetectionOutput" bottom: "loc" bottom: "conf" bottom: "prior" top: "det" '
                 f'detection_output_param {{ num_classes: {_CLASSES} share_location: true background_label_id: {background} '
                 f'nms_param {{ nms_threshold: 0.3 top_k: 20 }} code_type: {code_type} keep_top_k: 15 '
                 'confidence_threshold: 0.2 } }',
                 ("loc", (2, _PRIORS * 4)), ("conf", (2, _PRIORS * _CLASSES)), ("prior", (1, 2, _PRIORS * 4)))
    return proto, inputs


@pytest.mark.parametrize("code_type,background", [("CORNER", 2), ("CENTER_SIZE", 3)])
def test_detection_output_batch_of_two(tmp_path, code_type, background):
    """Two images, the background class in the middle or last, detections matched one to one with OpenCV's.
    (OpenCV reads neither CORNER_SIZE nor a background_label_id of -1.)"""
    proto, inputs = _detection_case(code_type, background)
    result = convert_and_check(tmp_path, proto, None, inputs=inputs)
    for stage in result.parity:
        d = stage.outputs[0].detections
        assert stage.outputs[0].rule == "detections" and d["reference"] == 30 and d["matched"] == 30, d


def test_detection_output_corner_size_is_corner_with_offsets_scaled_by_each_prior_size(tmp_path):
    """Caffe's DecodeBBox for CORNER_SIZE: xmin = prior.xmin + variance * loc.xmin * prior_width (ymin, xmax,
    ymax alike). OpenCV reads no CORNER_SIZE, so the reference is OpenCV's CORNER run on those scaled offsets."""
    import bridge
    from bridge.runtimes import load_runner
    from bridge.runtimes.caffe import CaffeRunner
    from bridge.sources import load_source
    from bridge.verify.detections import match_boxes
    from tests.converters.caffe_onnx.caffe_files import write_net

    proto, inputs = _detection_case("CORNER_SIZE", 0)
    boxes = inputs["prior"][0, 0].reshape(-1, 4)
    sizes = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1).reshape(-1)
    corner, _ = write_net(tmp_path / "corner", proto.replace("code_type: CORNER_SIZE", "code_type: CORNER"))
    expected = CaffeRunner(load_source(str(corner))).run({**inputs, "loc": inputs["loc"] * sizes})["det"]
    text, _ = write_net(tmp_path / "corner_size", proto)
    result = bridge.convert(str(text), to="tflite", out_dir=tmp_path / "out", inputs=inputs, verify=False)
    assert {a.format for a in result.artifacts} == {"onnx", "tf", "tflite"}
    for artifact in result.artifacts:
        match = match_boxes(expected, next(iter(load_runner(artifact).run(inputs).values())), atol=1e-5, rtol=1e-4)
        assert match["passed"] and match["matched"] == match["reference"] == 30, (artifact.format, match)
