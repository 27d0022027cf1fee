import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_tf


def strings(*values, shape=None):
    a = np.array(values, dtype=object)
    return a.reshape(shape) if shape is not None else a


def test_string_concat_broadcast():
    check_node("StringConcat", {"x": strings("a", "bc", "", "é", shape=(2, 2)), "y": strings("1", "-")}, opset=20)


def test_string_concat_scalar():
    check_node("StringConcat", {"x": np.array("ab", dtype=object), "y": strings("x", "yz")}, opset=20)


@pytest.mark.parametrize("pattern", [r"\w+@\w+\.com", r"a.*", r"", r"[0-9]{2,3}"])
def test_regex_full_match(pattern):
    x = strings("bob@mail.com", "abc", "", "123", "1234", "a@b.org", shape=(2, 3))
    check_node("RegexFullMatch", {"x": x}, {"pattern": pattern}, opset=20)


@pytest.mark.parametrize("attrs", [
    {},
    {"delimiter": ""},
    {"delimiter": ","},
    {"delimiter": ",,"},
    {"delimiter": ",", "maxsplit": 1},
    {"maxsplit": 1},
    {"maxsplit": 2},
    {"maxsplit": 0},
])
def test_string_split(attrs):
    x = strings("a,b,,c", "  hello  big world ", "", "one", ",x,", "p q", shape=(2, 3))
    check_node("StringSplit", {"x": x}, attrs, opset=20, n_outputs=2)


def test_string_split_empty():
    check_node("StringSplit", {"x": np.zeros((0, 2), dtype=object)}, {"delimiter": "-"}, opset=20, n_outputs=2)


def test_string_split_scalar():
    # onnx's reference evaluator cannot split a 0-d tensor; the expected value is Python's str.split.
    x = {"x": np.array("a-b--c", dtype=object)}
    parts, count = run_tf(make_node_model("StringSplit", x, {"delimiter": "-"}, n_outputs=2, opset=20), x)
    assert parts.tolist() == [b"a", b"b", b"", b"c"] and count.dtype == np.int64 and count.shape == () and count == 4


@pytest.mark.parametrize("attrs", [
    {"is_case_sensitive": 1},
    {"is_case_sensitive": 1, "stopwords": ["monday"]},
    {"case_change_action": "LOWER", "is_case_sensitive": 1, "stopwords": ["Monday"]},
    {"case_change_action": "UPPER", "stopwords": ["monday", "SUNDAY"]},
    {"case_change_action": "LOWER", "stopwords": ["monday", "SUNDAY"]},
    {"case_change_action": "UPPER", "stopwords": ["monday", "Tuesday", "sunday"]},
])
@pytest.mark.parametrize("shape", [(4,), (1, 4)])
def test_string_normalizer(attrs, shape):
    x = strings("Monday", "tuesday", "monday", "Sunday", shape=shape)
    check_node("StringNormalizer", {"x": x}, attrs, opset=10)


@pytest.mark.parametrize("action", ["LOWER", "UPPER"])
def test_string_normalizer_unicode_case(action):
    # The reference evaluator also strips accents (not in the spec), so compare with Python's case mapping.
    words = ["Ärger", "çava", "ÉTÉ", "monday"]
    x = {"x": strings(*words)}
    model = make_node_model("StringNormalizer", x, {"case_change_action": action, "stopwords": ["MONDAY"]}, opset=10)
    (got,) = run_tf(model, x)
    change = str.lower if action == "LOWER" else str.upper
    assert [g.decode() for g in got] == [change(w) for w in words[:3]]
