"""Image decoding: ImageDecoder (opset 20).

The encoded bytes arrive as a 1-D uint8 tensor and are decoded in-graph. TensorFlow decodes JPEG, PNG, GIF,
BMP, WebP and JPEG XL; JPEGs use the accurate integer IDCT, which is libjpeg's (and so Pillow's, the
reference's) default. Binary PPM (P6) and baseline TIFF (uncompressed 8-bit strips, what Pillow writes by
default) are parsed with tensor ops. JPEG 2000 and compressed TIFF have no TF decoder: a constant JPEG 2000
image is reported unsupported at conversion; a run-time one fails when run.
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []

_NO_TF_DECODER = {b"\x00\x00\x00\x0cjP": "JPEG 2000", b"\xff\x4f\xff\x51": "JPEG 2000"}
# Binary PPM: magic, width, height and maxval separated by whitespace, then one whitespace byte.
_PPM_HEADER = r"^(P6\s+(\d+)\s+(\d+)\s+(\d+)\s)"


def _as_bytes(x: Any) -> Any:
    """A scalar string holding the bytes of a 1-D uint8 tensor."""
    import tensorflow as tf

    table = tf.constant([bytes([i]) for i in range(256)])
    return tf.strings.reduce_join(tf.gather(table, tf.cast(tf.reshape(x, [-1]), tf.int32)))


def _decode_ppm(data: Any) -> Any:
    import tensorflow as tf

    # The header fits in 64 bytes; the pixel bytes after it are masked to ASCII so the regex (UTF-8) sees text.
    head = tf.io.decode_raw(tf.strings.substr(data, 0, 64), tf.uint8)
    head = _as_bytes(tf.where(head < 128, head, tf.constant(ord("x"), tf.uint8)))

    def field(group: int) -> Any:
        text = tf.strings.regex_replace(head, _PPM_HEADER + r"(?s:.*)$", rf"\{group}")
        return text if group == 1 else tf.strings.to_number(text, tf.int32)

    header, width, height, maxval = (field(g) for g in (1, 2, 3, 4))
    tf.debugging.assert_less_equal(maxval, 255, "ImageDecoder: 16-bit PPM images are not supported")
    pixels = tf.strings.substr(data, tf.strings.length(header), width * height * 3)
    return tf.reshape(tf.io.decode_raw(pixels, tf.uint8), tf.stack([height, width, 3]))


def _decode_tiff(raw: Any) -> Any:
    """Baseline TIFF from its bytes (1-D uint8): the first image, uncompressed, 8 bits per sample, chunky."""
    import tensorflow as tf

    b = tf.cast(raw, tf.int64)
    little = tf.equal(b[0], ord("I"))

    def number(offset: Any, size: int) -> Any:
        parts = [tf.gather(b, offset + i) for i in range(size)]
        le = sum(p * 256**i for i, p in enumerate(parts))
        be = sum(p * 256**i for i, p in enumerate(reversed(parts)))
        return tf.where(little, le, be)

    ifd = number(tf.constant(4, tf.int64), 4)
    entry = ifd + 2 + 12 * tf.range(number(ifd, 2))
    tags, types, counts = number(entry, 2), number(entry + 2, 2), number(entry + 4, 4)

    def field(tag: int, default: int) -> Any:
        """The SHORT or LONG values of ``tag`` (inline when they fit in 4 bytes), or [default]."""
        hit = tf.where(tf.equal(tags, tag))[:, 0]

        def read() -> Any:
            i = hit[0]
            size = tf.where(tf.equal(types[i], 3), tf.constant(2, tf.int64), 4)
            base = tf.where(counts[i] * size <= 4, entry[i] + 8, number(entry[i] + 8, 4))
            offsets = base + tf.range(counts[i]) * size
            return tf.cond(tf.equal(size, 2), lambda: number(offsets, 2), lambda: number(offsets, 4))

        return tf.cond(tf.size(hit) > 0, read, lambda: tf.constant([default], tf.int64))

    width, height = field(256, 0)[0], field(257, 0)[0]
    samples, photometric = field(277, 1)[0], field(262, 1)[0]
    checks = [
        tf.debugging.assert_equal(field(259, 1)[0], tf.constant(1, tf.int64),
                                  message="ImageDecoder: only uncompressed TIFF is supported"),
        tf.debugging.assert_equal(field(258, 1), tf.constant(8, tf.int64),
                                  message="ImageDecoder: only 8-bit TIFF samples are supported"),
        tf.debugging.assert_equal(tf.equal(field(284, 1)[0], 1) | tf.equal(samples, 1), True,
                                  message="ImageDecoder: planar TIFF is not supported"),
    ]
    with tf.control_dependencies(checks):
        starts = field(273, 0)
        strips = tf.ragged.range(starts, starts + field(279, 0)).flat_values
    pixels = tf.gather(raw, strips)[:height * width * samples]
    image = tf.reshape(pixels, tf.stack([height, width, samples]))
    # Grey (with or without alpha) repeats its sample; RGB(A) keeps the first three.
    image = tf.gather(image, tf.where(samples >= 3, tf.range(3, dtype=tf.int64), tf.zeros([3], tf.int64)), axis=2)
    return tf.where(tf.equal(photometric, 0), 255 - image, image)  # WhiteIsZero


def _decode_rgb(raw: Any) -> Any:
    import tensorflow as tf

    data = _as_bytes(raw)
    magic = tf.strings.substr(data, 0, 4)
    return tf.case([
        (tf.equal(tf.strings.substr(magic, 0, 3), b"\xff\xd8\xff"),
         lambda: tf.io.decode_jpeg(data, 3, dct_method="INTEGER_ACCURATE")),
        (tf.strings.regex_full_match(tf.strings.substr(magic, 0, 3), r"P6\s"), lambda: _decode_ppm(data)),
        (tf.equal(magic, b"II*\x00") | tf.equal(magic, b"MM\x00*"), lambda: _decode_tiff(raw)),
    ], default=lambda: tf.io.decode_image(data, 3, expand_animations=False))


@onnx_op("ImageDecoder", since=20)
def image_decoder(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    pixel_format = ctx.attr("pixel_format", "RGB")
    if pixel_format not in ("RGB", "BGR", "Grayscale"):
        raise ctx.unsupported(f"pixel_format {pixel_format!r}")
    encoded = ctx.const(0)
    if encoded is not None:
        head = np.asarray(encoded, np.uint8).tobytes()[:8]
        for magic, name in _NO_TF_DECODER.items():
            if head.startswith(magic):
                raise ctx.unsupported(f"TensorFlow has no {name} decoder")
    rgb = tf.ensure_shape(_decode_rgb(tf.reshape(ctx.inputs[0], [-1])), [None, None, 3])
    if pixel_format == "BGR":
        return tf.reverse(rgb, [-1])
    if pixel_format == "RGB":
        return rgb
    # Pillow's RGB -> L conversion: ITU-R 601-2 luma in 16-bit fixed point, rounded.
    r, g, b = tf.unstack(tf.cast(rgb, tf.int32), axis=-1)
    luma = tf.bitwise.right_shift(r * 19595 + g * 38470 + b * 7471 + 0x8000, 16)
    return tf.cast(luma, tf.uint8)[..., None]
