"""Signal processing: DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix.

ONNX keeps complex values as a trailing dimension of 2 (real, imaginary); a trailing 1 means a real signal.
TF's FFTs work along the innermost axis of complex tensors, so the transformed axis is moved to the end
and back. Window and mel formulas follow onnx's reference implementation (computed in float64, then cast).
"""

from __future__ import annotations

import math
from typing import Any

from bridge_converters.onnx_tf.dtypes import tf_dtype
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


# -- DFT --------------------------------------------------------------------------------------------
def _to_end_perm(axis: Any, rank: int) -> Any:
    """The permutation moving ``axis`` (a Python int or an int scalar tensor in [0, rank)) last."""
    import tensorflow as tf

    if isinstance(axis, int):
        return [a for a in range(rank) if a != axis] + [axis]
    axis = tf.cast(axis, tf.int32)
    return tf.concat([tf.range(axis), tf.range(axis + 1, rank), [axis]], 0)


def _fit_length(c: Any, n: Any) -> Any:
    """Truncate or zero-pad the last axis of ``c`` to ``n`` (numpy's ``fft(x, n)`` convention)."""
    import tensorflow as tf

    c = c[..., :n]
    extra = tf.maximum(tf.cast(n, tf.int32) - tf.shape(c)[-1], 0)
    rank = c.shape.rank
    return tf.pad(c, tf.concat([tf.zeros([rank - 1, 2], tf.int32), [[0, extra]]], 0))


def dft(ctx: Any, x: Any, axis: Any, length: Any, inverse: bool, onesided: bool) -> Any:
    """ONNX DFT of ``x`` ([..., 1 | 2]) along ``axis`` (int or scalar tensor, may be negative) with
    ``length`` points (None: the axis length, or 2 * (len - 1) for an inverse one-sided transform)."""
    import tensorflow as tf

    rank = x.shape.rank
    if rank is None or x.shape[-1] not in (1, 2):
        raise ctx.unsupported("DFT needs a static rank and a static trailing dimension of 1 or 2")
    out_dtype = x.dtype
    x = tf.cast(x, tf.float64 if x.dtype == tf.float64 else tf.float32)  # TF's FFTs take float32/64 only
    is_real = x.shape[-1] == 1
    if isinstance(axis, int):
        axis = axis % rank
        if axis == rank - 1:
            raise ctx.unsupported("DFT axis cannot be the trailing (real, imaginary) dimension")
    else:
        axis = tf.math.floormod(tf.reshape(tf.cast(axis, tf.int32), []), rank)
    perm = _to_end_perm(axis, rank - 1)
    inv_perm = tf.math.invert_permutation(perm) if tf.is_tensor(perm) else [perm.index(a) for a in range(rank - 1)]
    signal = tf.transpose(x[..., 0], perm)
    if length is None:
        size = signal.shape[-1] if signal.shape[-1] is not None else tf.shape(signal)[-1]
        length = 2 * (size - 1) if inverse and onesided else size
    elif tf.is_tensor(length):
        length = tf.reshape(tf.cast(length, tf.int32), [])
    else:
        length = int(length)
    if is_real:
        c = tf.complex(signal, tf.zeros_like(signal))
    else:
        c = tf.complex(signal, tf.transpose(x[..., 1], perm))
    if inverse and onesided:
        # numpy's irfft: the first length // 2 + 1 bins (zero-padded), a real result of ``length`` points.
        result = tf.signal.irfft(c, fft_length=tf.reshape(length, [1]))
        return tf.cast(tf.transpose(result, inv_perm)[..., None], out_dtype)
    if is_real and not inverse:
        # Like numpy, a real signal takes the real-input FFT; the upper half of a two-sided result is the
        # conjugate mirror of bins 1 .. n - n // 2 - 1 (a c2c FFT would leave float32 noise in bins that are
        # exactly real, such as the Nyquist bin).
        result = tf.signal.rfft(signal, fft_length=tf.reshape(length, [1]))
        if not onesided:
            mirror = tf.math.conj(tf.reverse(result[..., 1:length - length // 2], [-1]))
            result = tf.concat([result, mirror], -1)
    else:
        c = _fit_length(c, length)
        result = tf.signal.ifft(c) if inverse else tf.signal.fft(c)
        if onesided:
            result = result[..., :length // 2 + 1]
    result = tf.transpose(result, inv_perm)
    return tf.cast(tf.stack([tf.math.real(result), tf.math.imag(result)], -1), out_dtype)


def _dft_length(ctx: Any) -> Any:
    if not ctx.has_input(1):
        return None
    value = ctx.const(1)
    return int(value.reshape(-1)[0]) if value is not None else ctx.inputs[1]


@onnx_op("DFT", since=17)
def dft_17(ctx: Any) -> Any:
    return dft(ctx, ctx.inputs[0], int(ctx.attr("axis", 1)), _dft_length(ctx), bool(ctx.attr("inverse", 0)),
               bool(ctx.attr("onesided", 0)))


@onnx_op("DFT", since=20)
def dft_20(ctx: Any) -> Any:
    axis: Any = -2
    if ctx.has_input(2):
        value = ctx.const(2)
        axis = int(value.reshape(-1)[0]) if value is not None else ctx.inputs[2]
    return dft(ctx, ctx.inputs[0], axis, _dft_length(ctx), bool(ctx.attr("inverse", 0)),
               bool(ctx.attr("onesided", 0)))


# -- STFT -------------------------------------------------------------------------------------------
@onnx_op("STFT", since=17)
def stft(ctx: Any) -> Any:
    import tensorflow as tf

    x = ctx.inputs[0]  # [batch, length, 1 | 2]
    if x.shape.rank != 3:
        raise ctx.unsupported("STFT needs a signal of static rank 3")
    step = tf.reshape(tf.cast(ctx.inputs[1], tf.int32), [])
    window = ctx.input(2)
    length = tf.shape(x)[1]
    if ctx.has_input(3):
        frame_length = tf.reshape(tf.cast(ctx.inputs[3], tf.int32), [])
    elif window is not None:
        frame_length = tf.shape(window)[0]
    else:
        frame_length = length
    window_size = tf.shape(window)[0] if window is not None else frame_length
    n_frames = 1 + (length - frame_length) // step
    # Frames start every ``step`` samples and span the window; past the end they read zeros.
    x = tf.pad(x, [[0, 0], [0, tf.maximum(window_size - frame_length, 0)], [0, 0]])
    index = tf.range(n_frames)[:, None] * step + tf.range(window_size)[None, :]
    frames = tf.gather(x, index, axis=1)  # [batch, frames, window, 1 | 2]
    if window is not None:
        frames = frames * tf.reshape(tf.cast(window, frames.dtype), [1, 1, -1, 1])
    # A static FFT length keeps the output's bin count static.
    fft_length = frame_length
    if ctx.const(3) is not None:
        fft_length = int(ctx.const(3).reshape(-1)[0])
    elif not ctx.has_input(3) and window is not None and window.shape[0] is not None:
        fft_length = window.shape[0]
    return dft(ctx, frames, 2, fft_length, False, bool(ctx.attr("onesided", 1)))


# -- windows ----------------------------------------------------------------------------------------
def _window(ctx: Any, formula: Any) -> Any:
    import tensorflow as tf

    size = tf.reshape(ctx.inputs[0], [])
    n = tf.cast(tf.range(size), tf.float64)
    denom = tf.cast(size, tf.float64)
    if not ctx.attr("periodic", 1):
        denom = denom - 1
    return tf.cast(formula(n, denom), tf_dtype(ctx.attr("output_datatype", 1)))


@onnx_op("HannWindow", since=17)
def hann_window(ctx: Any) -> Any:
    import tensorflow as tf

    return _window(ctx, lambda n, d: tf.square(tf.sin(n * math.pi / d)))


@onnx_op("HammingWindow", since=17)
def hamming_window(ctx: Any) -> Any:
    import tensorflow as tf

    alpha = 25.0 / 46.0
    return _window(ctx, lambda n, d: alpha - tf.cos(n * math.pi * 2 / d) * (1 - alpha))


@onnx_op("BlackmanWindow", since=17)
def blackman_window(ctx: Any) -> Any:
    import tensorflow as tf

    return _window(ctx, lambda n, d: tf.cos(n * (math.pi * 2) / d) * -0.5 + tf.cos(n * (math.pi * 4) / d) * 0.08
                   + 0.42)


# -- MelWeightMatrix --------------------------------------------------------------------------------
@onnx_op("MelWeightMatrix", since=17)
def mel_weight_matrix(ctx: Any) -> Any:
    import tensorflow as tf

    num_mel, dft_length, rate = (tf.cast(tf.reshape(ctx.inputs[i], []), tf.int64) for i in range(3))
    low, high = (tf.reshape(ctx.inputs[i], []) for i in (3, 4))
    log10 = math.log(10)

    def to_mel(hz: Any) -> Any:
        # The reference takes log1p in the input's float type and the rest in float64.
        return tf.cast(2595 * tf.math.log1p(hz / 700), tf.float64) / log10

    low_mel, high_mel = to_mel(low), to_mel(high)
    mel_step = (high_mel - low_mel) / tf.cast(num_mel + 2, tf.float64)
    hz = 700 * tf.math.expm1((tf.cast(tf.range(num_mel + 2), tf.float64) * mel_step + low_mel) / 2595 * log10)
    bins = tf.cast(tf.math.floordiv(tf.cast(dft_length + 1, tf.float64) * hz, tf.cast(rate, tf.float64)), tf.int64)
    left, center, right = bins[None, :-2], bins[None, 1:-1], bins[None, 2:]
    j = tf.range(dft_length // 2 + 1, dtype=tf.int64)[:, None]
    f64 = lambda v: tf.cast(v, tf.float64)  # noqa: E731
    # Rising edge from left to center (a single 1 at center when they meet), falling edge center..right-1;
    # the falling edge is written last, so it wins at the center.
    rise = tf.where(center > left, f64(j - left) / f64(tf.maximum(center - left, 1)), 1.0)
    rise = tf.where((j >= left) & (j <= center), rise, 0.0)
    fall = f64(right - j) / f64(tf.maximum(right - center, 1))
    out = tf.where((j >= center) & (j < right), fall, rise)
    return tf.cast(out, tf_dtype(ctx.attr("output_datatype", 1)))
