import pytest

from bridge.errors import UsageError
from bridge.registry import REGISTRY, ConverterRegistry


def test_builtin_edges_come_from_entry_points_and_paths_are_shortest():
    chain = REGISTRY.path("torch", "tf")
    assert [(c.source, c.target) for c in chain] == [("torch", "onnx"), ("onnx", "tf")]
    assert REGISTRY.path("onnx", "onnx") == []


def test_duplicate_edge_is_an_error_and_unreachable_target_a_usage_error():
    reg = ConverterRegistry(entry_point_group=None)
    reg.register("a", "b")(lambda *a: None)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", "b")(lambda *a: None)
    reg.register("b", "c")(lambda *a: None)
    reg.register("a", "x")(lambda *a: None)
    reg.register("x", "y")(lambda *a: None)
    reg.register("y", "c")(lambda *a: None)
    assert [(e.source, e.target) for e in reg.path("a", "c")] == [("a", "b"), ("b", "c")]
    with pytest.raises(UsageError, match="no conversion path"):
        reg.path("c", "a")
