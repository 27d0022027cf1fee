"""The CLI contract: exit codes, one-line errors, nothing left behind, fast start-up."""

import json
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from tests.conftest import FIXTURES, run_bridge

SEED = f"{FIXTURES / 'seed_mlp.py'}:SeedMLP"


def test_help_imports_neither_torch_nor_tensorflow():
    code = (
        "import sys\n"
        "from bridge.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'onnxruntime'))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def _corrupt_onnx(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08\x07\x12\x04this is not a model" * 3)
    return str(path)


def _int32_input_onnx(tmp_path):
    """A model reading int32 ids, as magika's reads bytes."""
    path = tmp_path / "ids.onnx"
    graph = helper.make_graph([helper.make_node("Identity", ["ids"], ["y"])], "g",
                              [helper.make_tensor_value_info("ids", TensorProto.INT32, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, ["n", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


BAD_INPUTS = {
    "missing file": lambda tmp: ["convert", str(tmp / "nope.py") + ":Net", "--to", "tf"],
    "missing name": lambda tmp: ["convert", f"{FIXTURES / 'seed_mlp.py'}:Missing", "--to", "tf"],
    "not a module": lambda tmp: ["convert", f"{FIXTURES / 'seed_mlp.py'}:nn", "--to", "tf"],
    "malformed input shape": lambda tmp: ["convert", SEED, "--to", "tf", "--input-shape", "x:1x?x28"],
    "unknown format": lambda tmp: ["convert", SEED, "--to", "keras"],
    "corrupt onnx": lambda tmp: ["convert", _corrupt_onnx(tmp), "--to", "tf"],
    "input dtype the model contradicts": lambda tmp: ["convert", _int32_input_onnx(tmp), "--to", "tf",
                                                      "--input-shape", "ids:1x4:float32"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_nothing_written(case, tmp_path):
    out_dir = tmp_path / "out"
    result = run_bridge(*BAD_INPUTS[case](tmp_path), "--out", str(out_dir))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not out_dir.exists()


def _model_with_missing_ops(path):
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Frobnicate", ["a"], ["b"], domain="com.example"),
        helper.make_node("Frobnicate", ["b"], ["c"], domain="com.example"),
        helper.make_node("Wiggle", ["c"], ["y"], domain="com.example"),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.example", 1)])
    onnx.save(model, path)


def test_unsupported_ops_exit_3_listing_all_with_counts(tmp_path):
    src = tmp_path / "custom.onnx"
    _model_with_missing_ops(src)
    out_dir = tmp_path / "out"
    result = run_bridge("convert", str(src), "--to", "tf", "--out", str(out_dir))
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "com.example::Frobnicate x2" in lines[0] and "com.example::Wiggle x1" in lines[0]
    assert not out_dir.exists()


@pytest.mark.slow
def test_seed_mlp_to_tf_writes_onnx_and_savedmodel_and_report(tmp_path):
    out_dir, report = tmp_path / "out", tmp_path / "r.json"
    result = run_bridge("convert", SEED, "--to", "tf", "--out", str(out_dir), "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert (out_dir / "SeedMLP.onnx").is_file()
    assert (out_dir / "SeedMLP_savedmodel" / "saved_model.pb").is_file()
    data = json.loads(report.read_text())
    assert data["passed"] is True
    assert [a["format"] for a in data["artifacts"]] == ["onnx", "tf"]
    assert {(p["format"], p["reference"]) for p in data["parity"]} == {("onnx", "torch"), ("tf", "torch"), ("tf", "onnx")}
    for stage in data["parity"]:
        assert stage["passed"]
        for out in stage["outputs"]:
            assert out["max_abs"] <= 1e-5
    assert data["first_failure"] is None
    assert data["inputs"] == [{"name": "x", "shape": [4, 1, 28, 28], "dtype": "float32"}]
    # the table names both artifacts
    assert "onnx" in result.stdout and "tensorflow" in result.stdout
    # leftovers of the staging folder must be gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "r.json"]


@pytest.mark.slow
def test_existing_output_needs_force(tmp_path):
    out_dir = tmp_path / "out"
    first = run_bridge("convert", SEED, "--to", "onnx", "--out", str(out_dir), "--no-verify")
    assert first.returncode == 0, first.stderr
    before = (out_dir / "SeedMLP.onnx").read_bytes()
    again = run_bridge("convert", SEED, "--to", "onnx", "--out", str(out_dir), "--no-verify")
    assert again.returncode == 2 and "--force" in again.stderr
    assert (out_dir / "SeedMLP.onnx").read_bytes() == before
    forced = run_bridge("convert", SEED, "--to", "onnx", "--out", str(out_dir), "--no-verify", "--force")
    assert forced.returncode == 0, forced.stderr


def test_formats_lists_the_builtin_edges_from_entry_points():
    result = run_bridge("formats")
    assert result.returncode == 0
    assert "torch -> onnx" in result.stdout and "onnx -> tf" in result.stdout


def test_ops_agrees_with_the_registry():
    from bridge_converters.onnx_tf import OPS

    result = run_bridge("ops")
    assert result.returncode == 0
    listed = {tuple(line.split("\t")) for line in result.stdout.splitlines()}
    expected = {(k.domain or "ai.onnx", k.op_type, str(k.since)) for k in OPS.keys()}
    assert listed == expected
