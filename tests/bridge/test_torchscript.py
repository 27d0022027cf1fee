"""TorchScript files as sources: scripted (with data-dependent control flow) and traced modules convert
through torch.onnx's TorchScript exporter and verify against the loaded ScriptModule; other zips and damaged
files are refused with one line."""

import numpy as np
import onnx
import pytest
import torch

from bridge.errors import UsageError
from bridge.sources import load_source
from bridge.torchscript import zip_kind
from tests.conftest import run_bridge


class Gate(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return torch.relu(self.a(x))
        return torch.tanh(self.b(x)) * 2


class Conv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c, self.l = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.l(self.c(x).mean((2, 3)))


@pytest.fixture
def files(tmp_path):
    torch.manual_seed(0)
    paths = {"scripted": tmp_path / "gate.pt", "traced": tmp_path / "conv.jit", "weights": tmp_path / "weights.pt"}
    torch.jit.save(torch.jit.script(Gate().eval()), str(paths["scripted"]))
    torch.jit.save(torch.jit.trace(Conv().eval(), torch.randn(1, 3, 16, 16)), str(paths["traced"]))
    torch.save(Conv().state_dict(), paths["weights"])
    data = paths["scripted"].read_bytes()
    paths["truncated"] = tmp_path / "truncated.pt"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["pickle"] = tmp_path / "legacy.pt"
    torch.save(Conv().state_dict(), paths["pickle"], _use_new_zipfile_serialization=False)
    return paths


def test_zip_kinds_tell_torchscript_from_a_state_dict(files):
    assert zip_kind(files["scripted"]) == "torchscript" and zip_kind(files["traced"]) == "torchscript"
    assert zip_kind(files["weights"]) == "state_dict"
    assert zip_kind(files["pickle"]) == "pickle"
    with pytest.raises(UsageError, match="damaged zip"):
        zip_kind(files["truncated"])


def test_a_torchscript_file_loads_as_a_torch_source_with_forward_names(files):
    model = load_source(str(files["scripted"]))
    assert model.format == "torch" and isinstance(model.handle, torch.jit.ScriptModule)
    assert model.input_names == ["x"] and model.stem == "gate"


@pytest.mark.slow
def test_scripted_module_with_if_converts_and_both_branches_match(files, tmp_path):
    from bridge.api import convert, verify

    positive, negative = np.ones((2, 8), np.float32), -np.ones((2, 8), np.float32)
    result = convert(str(files["scripted"]), to="onnx,tf", out_dir=tmp_path / "out", inputs={"x": positive})
    assert result.passed, [p.to_json() for p in result.parity]
    onnx_file = next(a.path for a in result.artifacts if a.format == "onnx")
    assert "If" in {n.op_type for n in onnx.load(str(onnx_file)).graph.node}
    assert result.artifacts[0].converter == "torch.onnx (torchscript)"
    other = verify(result.artifacts, str(files["scripted"]), inputs={"x": negative})
    assert other.passed and all(o.max_abs < 1e-5 for p in other.parity for o in p.outputs)


@pytest.mark.slow
def test_traced_module_converts_with_input_shape(files, tmp_path):
    from bridge.api import convert

    result = convert(str(files["traced"]), to="tf", out_dir=tmp_path / "out", input_shapes=["x:2x3x16x16"])
    assert result.passed and {p.format for p in result.parity} == {"onnx", "tf"}


@pytest.mark.parametrize("kind, fragment", [("weights", "holds weights only"), ("truncated", "damaged zip"),
                                            ("pickle", "is a pickle")])
def test_files_that_are_not_torchscript_are_refused(files, kind, fragment):
    with pytest.raises(UsageError, match=fragment):
        load_source(str(files[kind]))


def test_a_truncated_pt_exits_2_with_one_line(files, tmp_path):
    result = run_bridge("convert", str(files["truncated"]), "--to", "onnx", "--out", str(tmp_path / "out"),
                        "--input-shape", "x:1x3x16x16")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "damaged zip" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_input_shape_says_which_to_pass(files):
    from bridge.inputs import resolve_inputs

    with pytest.raises(UsageError, match="pass --input-shape x:"):
        resolve_inputs(load_source(str(files["scripted"])))


def test_trainable_from_a_torchscript_file_exits_3_naming_what_to_pass_instead(files, tmp_path):
    result = run_bridge("convert", str(files["traced"]), "--to", "tf", "--trainable", "--out", str(tmp_path / "out"),
                        "--input-shape", "x:1x3x16x16")
    lines = [line for line in result.stderr.splitlines() if line.strip() and line.startswith("error")]
    assert result.returncode == 3 and len(lines) == 1 and "file.py:NAME" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()
