"""make conformance's harness on a few of ONNX's own cases: statuses, reasons and the per-op summary."""

import json

from tools.conformance import main


def test_conformance_harness_reports_pass_fail_and_skip(tmp_path, capsys):
    out = tmp_path / "c.json"
    # relu and abs pass; training dropout expects numpy's random stream (fails); UINT4 has no TF kernels (skips)
    assert main(["--filter", r"^test_(relu|abs|training_dropout|cast_FLOAT_to_UINT4)$", "--jobs", "1",
                 "--json", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "2 passed, 1 failed, 1 skipped"
    data = json.loads(out.read_text())
    assert data["cases"]["test_relu"]["status"] == "passed"
    assert "max abs error" in data["cases"]["test_training_dropout"]["reason"]
    assert "no kernels for UINT4" in data["cases"]["test_cast_FLOAT_to_UINT4"]["reason"]
    assert data["per_op"]["Relu"] == {"passed": 1}
