import numpy as np
import pytest

from bridge.errors import UsageError
from bridge.inputs import load_npz, parse_dynamic, parse_input_range, parse_input_shape, random_inputs, resolve_inputs
from bridge.model import InputSpec, Model


def test_parse_input_shape():
    assert parse_input_shape("x:1x3x224x224") == InputSpec("x", (1, 3, 224, 224), None)  # the model's dtype
    assert parse_input_shape("ids:2x16:int64") == InputSpec("ids", (2, 16), "int64")
    assert parse_input_shape("t:scalar:float") == InputSpec("t", (), "float32")


@pytest.mark.parametrize("text", ["x", "x:", "x:1x", "x:axb", ":1x2", "x:1x2:complex7"])
def test_malformed_input_shape(text):
    with pytest.raises(UsageError):
        parse_input_shape(text)


def test_parse_dynamic_and_range():
    assert parse_dynamic(["x:0=batch", "x:2"]) == {"x": {0: "batch", 2: "x_dim2"}}
    with pytest.raises(UsageError):
        parse_dynamic(["x:batch"])
    assert parse_input_range("ids:0:100") == ("ids", 0.0, 100.0)
    with pytest.raises(UsageError):
        parse_input_range("ids:5:1")


def test_random_inputs_are_seeded_and_respect_ranges():
    specs = [InputSpec("x", (2, 3), "float32"), InputSpec("ids", (4, 8), "int64"), InputSpec("m", (3,), "bool")]
    a = random_inputs(specs, seed=3, ranges={"ids": (5, 9)})
    b = random_inputs(specs, seed=3, ranges={"ids": (5, 9)})
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["x"].dtype == np.float32 and a["ids"].dtype == np.int64 and a["m"].dtype == bool
    assert a["ids"].min() >= 5 and a["ids"].max() < 9
    c = random_inputs(specs, seed=4)
    assert not np.array_equal(a["x"], c["x"])


def test_npz_by_name_and_by_position(tmp_path):
    x, y = np.ones((2, 2), np.float32), np.zeros(3, np.int64)
    np.savez(tmp_path / "named.npz", a=x, b=y)
    np.savez(tmp_path / "pos.npz", in_0=x, in_1=y)
    for name in ("named.npz", "pos.npz"):
        feeds = load_npz(tmp_path / name, ["a", "b"])
        assert list(feeds) == ["a", "b"] and feeds["b"].dtype == np.int64
    with pytest.raises(UsageError, match="expected keys"):
        load_npz(tmp_path / "named.npz", ["q"])


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z:
        z.write(tmp_path / "obj.npy", "x.npy")
    with pytest.raises(UsageError, match="plain arrays"):
        load_npz(tmp_path / "evil.npz", ["x"])


def test_resolve_prefers_explicit_then_shapes_then_examples():
    model = Model(format="torch", handle=None, path="m", stem="m", input_names=["x"],
                  example_inputs={"x": np.zeros((1, 2), np.float32)})
    assert resolve_inputs(model)["x"].shape == (1, 2)
    assert resolve_inputs(model, shapes=[InputSpec("x", (5, 2))])["x"].shape == (5, 2)
    assert resolve_inputs(model, inputs=[np.ones((7, 2), np.float32)])["x"].shape == (7, 2)
    with pytest.raises(UsageError, match="not inputs of the model"):
        resolve_inputs(model, shapes=[InputSpec("y", (5, 2))])
    bare = Model(format="torch", handle=None, path="m", stem="m", input_names=["x"])
    with pytest.raises(UsageError, match="--input-shape"):
        resolve_inputs(bare)


def test_an_input_shape_without_a_dtype_takes_the_declared_one():
    """magika's ONNX model reads int32 bytes: ``--input-shape bytes:1x2048`` must feed int32, not float32."""
    model = Model(format="onnx", handle=None, path="m.onnx", stem="m", input_names=["bytes", "x"],
                  input_specs=[InputSpec("bytes", ("n", 2048), "int32"), InputSpec("x", ("n", 3), "float16")])
    feeds = resolve_inputs(model, shapes=[parse_input_shape("bytes:1x2048"), parse_input_shape("x:1x3")])
    assert feeds["bytes"].dtype == np.int32 and feeds["bytes"].shape == (1, 2048)
    assert feeds["x"].dtype == np.float16
    with pytest.raises(UsageError, match="declares int32; write bytes:1x2048 without a dtype"):
        resolve_inputs(model, shapes=[parse_input_shape("bytes:1x2048:float32"), parse_input_shape("x:1x3")])
    bare = Model(format="torch", handle=None, path="m", stem="m", input_names=["x"])
    assert resolve_inputs(bare, shapes=[parse_input_shape("x:2x2")])["x"].dtype == np.float32
