import struct

import numpy as np
import pytest
from onnx.backend.test.case.node import _image_decoder_data as frozen

from bridge.errors import UnsupportedError
from bridge_converters.onnx_tf import build_program
from tests.converters.onnx_tf.ops.node_check import make_node_model, run_tf

# onnx's reference decodes with Pillow, which is not installed here; onnx ships Pillow's outputs for its cases.
CASES = {
    "jpeg_rgb": "RGB", "jpeg_bgr": "BGR", "jpeg_grayscale": "Grayscale", "png_rgb": "RGB", "bmp_rgb": "RGB",
    "webp_rgb": "RGB", "pnm_rgb": "RGB", "tiff_rgb": "RGB",
}


def _decode(data: np.ndarray, pixel_format: str) -> np.ndarray:
    model = make_node_model("ImageDecoder", {"data": data}, {"pixel_format": pixel_format}, opset=20)
    return run_tf(model, {"data": data})[0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_pillow(case):
    sample = getattr(frozen, f"image_decoder_decode_{case}")
    got = _decode(np.asarray(sample.data, np.uint8), CASES[case])
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, sample.output)


def test_grayscale_png_and_its_rgb_expansion():
    import tensorflow as tf

    gray = np.arange(12 * 5, dtype=np.uint8).reshape(12, 5, 1) * 4
    data = np.frombuffer(tf.io.encode_png(gray).numpy(), np.uint8)
    np.testing.assert_array_equal(_decode(data, "Grayscale"), gray)
    np.testing.assert_array_equal(_decode(data, "RGB"), np.repeat(gray, 3, axis=2))


def test_ppm_header_whitespace():
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) + 120
    data = np.frombuffer(b"P6 3\t2\r\n255\n" + pixels.tobytes(), np.uint8)
    np.testing.assert_array_equal(_decode(data, "BGR"), pixels[:, :, ::-1])


def _tiff(pixels: np.ndarray, big_endian: bool, rows_per_strip: int, photometric: int) -> np.ndarray:
    """A baseline uncompressed TIFF, written by hand: header, one IFD, then the arrays and strips."""
    order = ">" if big_endian else "<"
    height, width, samples = pixels.shape
    rows = [pixels[r:r + rows_per_strip].tobytes() for r in range(0, height, rows_per_strip)]
    n_entries = 9
    extra_at = 8 + 2 + 12 * n_entries + 4
    extra = b""

    def entry(tag: int, kind: int, values: list[int]) -> bytes:
        nonlocal extra
        fmt = order + ("H" if kind == 3 else "I") * len(values)
        packed = struct.pack(fmt, *values)
        if len(packed) <= 4:
            return struct.pack(order + "HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
        offset = extra_at + len(extra)
        extra += packed
        return struct.pack(order + "HHII", tag, kind, len(values), offset)

    bits = entry(258, 3, [8] * samples)
    counts = entry(279, 4, [len(r) for r in rows])
    # Strips go after the arrays; their offsets array is sized before it is filled in.
    strip_at = extra_at + len(extra) + (4 * len(rows) if len(rows) > 1 else 0)
    starts = [strip_at + sum(len(r) for r in rows[:i]) for i in range(len(rows))]
    offsets = entry(273, 4, starts)
    ifd = [entry(256, 4, [width]), entry(257, 4, [height]), bits, entry(259, 3, [1]), entry(262, 3, [photometric]),
           offsets, entry(277, 3, [samples]), entry(278, 4, [rows_per_strip]), counts]
    head = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(order + "I", 8)
    body = head + struct.pack(order + "H", n_entries) + b"".join(ifd) + b"\0" * 4 + extra + b"".join(rows)
    return np.frombuffer(body, np.uint8)


@pytest.mark.parametrize("samples,photometric,rows_per_strip,big_endian", [
    (3, 2, 2, False), (4, 2, 5, True), (1, 1, 1, True), (1, 0, 3, False),  # RGB, RGBA, grey, WhiteIsZero grey
])
def test_tiff_layouts(samples, photometric, rows_per_strip, big_endian):
    pixels = np.random.default_rng(1).integers(0, 256, (5, 4, samples), dtype=np.uint8)
    want = pixels[:, :, [0, 1, 2] if samples >= 3 else [0, 0, 0]]
    if photometric == 0:
        want = 255 - want
    got = _decode(_tiff(pixels, big_endian, rows_per_strip, photometric), "RGB")
    np.testing.assert_array_equal(got, want)


def test_constant_jpeg2000_is_unsupported():
    sample = frozen.image_decoder_decode_jpeg2k_rgb
    data = np.asarray(sample.data, np.uint8)
    model = make_node_model("ImageDecoder", {}, {"pixel_format": "RGB"}, opset=20, initializers={"data": data})
    with pytest.raises(UnsupportedError, match="JPEG 2000"):
        build_program(model, use_variables=False)
