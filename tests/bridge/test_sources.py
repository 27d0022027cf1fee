import numpy as np
import pytest
import torch

from bridge.errors import UsageError
from bridge.sources import load_source
from tests.conftest import FIXTURES


def test_module_class_is_built_and_gives_example_inputs():
    model = load_source(f"{FIXTURES / 'seed_mlp.py'}:SeedMLP")
    assert model.format == "torch" and model.stem == "SeedMLP"
    assert model.input_names == ["x"]
    assert model.example_inputs["x"].shape == (4, 1, 28, 28)
    assert not model.handle.training


def test_factory_returning_module_and_inputs_names_inputs_after_forward():
    model = load_source(f"{FIXTURES / 'two_io.py'}:make_two_io")
    assert model.input_names == ["image", "text"]
    assert model.example_inputs["text"].shape == (3, 12)


def test_package_module_source():
    model = load_source("fixtures.models.small_cnn:SmallCNN")
    assert isinstance(model.handle, torch.nn.Module)


def test_live_instance_source():
    model = load_source(torch.nn.Linear(3, 2))
    assert model.stem == "Linear" and model.input_names == ["input"]
    assert model.example_inputs is None


@pytest.mark.parametrize("source, fragment", [
    ("nowhere/model.py:Net", "no such file"),
    (f"{FIXTURES / 'seed_mlp.py'}:Nope", "has no attribute 'Nope'"),
    (f"{FIXTURES / 'seed_mlp.py'}:torch", "not an nn.Module"),
    ("no_such_package_xyz.models:Net", "no module named"),
    ("model.h5", "cannot tell what"),
])
def test_bad_sources(source, fragment):
    with pytest.raises(UsageError, match=fragment):
        load_source(source)


def test_factory_returning_garbage(tmp_path):
    path = tmp_path / "factory.py"
    path.write_text("def make():\n    return 42\n")
    with pytest.raises(UsageError, match="must return an nn.Module"):
        load_source(f"{path}:make")


def test_import_error_in_user_code_is_reported(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UsageError, match="RuntimeError: boom"):
        load_source(f"{path}:Net")


def test_class_needing_arguments(tmp_path):
    path = tmp_path / "args.py"
    path.write_text("import torch\nclass Net(torch.nn.Module):\n    def __init__(self, width):\n        super().__init__()\n")
    with pytest.raises(UsageError, match="must take no arguments"):
        load_source(f"{path}:Net")


def test_onnx_source_reads_input_specs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), path)
    model = load_source(str(path))
    assert model.format == "onnx" and model.output_names == ["y"]
    assert model.input_specs[0].shape == ("batch", 3) and model.input_specs[0].dtype == "float32"
    assert np.dtype(model.input_specs[0].dtype) == np.float32


@pytest.mark.slow
def test_pt2_source_keeps_names_and_example_inputs(tmp_path):
    import bridge

    made = bridge.convert(f"{FIXTURES / 'two_io.py'}:make_two_io", to="pt2", out_dir=tmp_path / "a")
    pt2 = made.artifacts[0].path
    model = load_source(str(pt2))
    assert model.format == "torch" and model.input_names == ["image", "text"]
    assert model.example_inputs["text"].shape == (3, 12)
    again = bridge.convert(str(pt2), to="onnx", out_dir=tmp_path / "b")
    assert again.passed
    assert [o.name for o in again.parity[0].outputs] == ["similarity", "joint"]


def test_file_source_imports_its_sibling_modules_and_leaves_sys_path_as_it_was(tmp_path):
    import sys

    (tmp_path / "blocks_for_bridge_test.py").write_text(
        "import torch\n\nclass Stem(torch.nn.Module):\n    def forward(self, x):\n        return x * 2\n")
    (tmp_path / "net.py").write_text(
        "import torch\nfrom blocks_for_bridge_test import Stem\n\n"
        "class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.stem = Stem()\n\n    def forward(self, x):\n        return self.stem(x)\n")
    before = list(sys.path)
    model = load_source(f"{tmp_path / 'net.py'}:Net")
    assert type(model.handle.stem).__name__ == "Stem"
    assert sys.path == before
