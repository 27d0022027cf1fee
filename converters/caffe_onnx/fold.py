"""Pass: fold BatchNorm (and the Scale after it) into the Convolution before it.

Contract. Pre: weights attached. Folds Convolution -> BatchNorm [-> Scale] only where that is exact: the
convolution's output feeds nothing but the BatchNorm, the BatchNorm's nothing but the Scale, neither is
a net output, the BatchNorm uses its global statistics and the Scale is per channel (axis 1, one axis,
one bottom). Post: the Convolution writes the last folded layer's top with the folded weights and a bias;
the folded layers leave the list and are named in ``Layer.folded``. Returns how many chains it folded.
Blobs that do not fit are left alone, for the layer handlers to report.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.caffe_onnx.net import CaffeNet, Layer, blob_array, blob_shape

__all__ = ["fold_batchnorm"]


def _consumers(net: CaffeNet) -> tuple[dict[tuple[str, int], list[Layer]], set[tuple[str, int]]]:
    """Readers of every blob version (blob, writer index; -1 for an input), and the versions the net returns."""
    version: dict[str, int] = {name: -1 for name, _ in net.inputs}
    readers: dict[tuple[str, int], list[Layer]] = {}
    for layer in net.layers:
        for bottom in layer.bottoms:
            readers.setdefault((bottom, version.get(bottom, -2)), []).append(layer)
        for top in layer.tops:
            version[top] = layer.index
    finals = {(blob, version[blob]) for blob in net.outputs}
    return readers, finals


def _only_reader(layer: Layer, readers: dict[tuple[str, int], list[Layer]], finals: set[tuple[str, int]],
                 layer_type: str) -> Layer | None:
    if len(layer.tops) != 1:
        return None
    key = (layer.tops[0], layer.index)
    nxt = readers.get(key, [])
    if key in finals or len(nxt) != 1 or nxt[0].type != layer_type or len(nxt[0].bottoms) != 1 or len(nxt[0].tops) != 1:
        return None
    return nxt[0]


def _arrays(layer: Layer, count: int, channels: int) -> list[Any] | None:
    """The layer's per-channel blobs (all of ``channels`` values, the BatchNorm factor of one), or None."""
    if layer.blobs is None or len(layer.blobs) != count:
        return None
    out = []
    for blob in layer.blobs:
        shape = blob_shape(blob)
        size = 1
        for d in shape:
            size *= d
        if size not in (channels, 1) or (len(blob.data) or len(blob.double_data)) != size:
            return None
        out.append(blob_array(blob, shape, layer.name).reshape(-1))
    return out


def _fold_one(conv: Layer, bn: Layer, scale: Layer | None) -> bool:
    import numpy as np

    param = conv.param("convolution_param")
    if param.axis not in (1, -3) or conv.blobs is None or len(conv.blobs) != (2 if param.bias_term else 1):
        return False
    weight_shape = blob_shape(conv.blobs[0])
    if len(weight_shape) < 3:
        return False
    channels = weight_shape[0]
    bn_param = bn.param("batch_norm_param")
    if bn_param.HasField("use_global_stats") and not bn_param.use_global_stats:
        return False
    stats = _arrays(bn, 3, channels)
    if stats is None or stats[0].size != channels or stats[1].size != channels or stats[2].size != 1:
        return False
    if scale is not None:
        sp = scale.param("scale_param")
        if sp.axis not in (1, -3) or sp.num_axes != 1:
            return False
        affine = _arrays(scale, 2 if sp.bias_term else 1, channels)
        if affine is None or any(a.size != channels for a in affine):
            return False
        gamma, beta = affine[0], (affine[1] if sp.bias_term else np.zeros(channels, np.float32))
    else:
        gamma, beta = np.ones(channels, np.float32), np.zeros(channels, np.float32)
    try:
        weight = blob_array(conv.blobs[0], weight_shape, conv.name).astype(np.float64)
        bias = (blob_array(conv.blobs[1], blob_shape(conv.blobs[1]), conv.name).reshape(-1).astype(np.float64)
                if param.bias_term else np.zeros(channels))
    except Exception:
        return False
    if bias.size != channels:
        return False
    # Caffe's BatchNorm keeps sums: the statistics are the blobs divided by the scale factor (0 stays 0).
    factor = float(stats[2][0])
    factor = 0.0 if factor == 0 else 1.0 / factor
    mean, var = stats[0].astype(np.float64) * factor, stats[1].astype(np.float64) * factor
    a = gamma.astype(np.float64) / np.sqrt(var + float(bn_param.eps))
    conv.arrays = [(weight * a.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(np.float32),
                   ((bias - mean) * a + beta).astype(np.float32)]
    last = scale or bn
    conv.tops = list(last.tops)
    conv.folded = [bn.name] + ([scale.name] if scale is not None else [])
    return True


def fold_batchnorm(net: CaffeNet) -> int:
    folded = 0
    readers, finals = _consumers(net)
    removed: set[str] = set()
    for conv in list(net.layers):
        if conv.type != "Convolution" or conv.name in removed:
            continue
        bn = _only_reader(conv, readers, finals, "BatchNorm")
        if bn is None:
            continue
        scale = _only_reader(bn, readers, finals, "Scale")
        if _fold_one(conv, bn, scale):
            removed.update(conv.folded)
            folded += 1
    net.layers = [layer for layer in net.layers if layer.name not in removed]
    return folded
