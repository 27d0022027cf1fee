"""bridge check: a config of models, parity and latency gates, shards."""

import json
import xml.etree.ElementTree as ET

import pytest

from bridge.check import load_check_config, parse_shard, run_check
from bridge.errors import UsageError
from tests.conftest import FIXTURES, run_bridge

pytestmark = pytest.mark.slow


def _config(tmp_path, second_baseline: float) -> str:
    path = tmp_path / "bridge.toml"
    path.write_text(f"""
[defaults]
targets = ["onnx"]
out_dir = "out"

[[model]]
name = "fast"
source = "{FIXTURES / 'seed_mlp.py'}:SeedMLP"
latency_baseline = {{ onnx = 1000.0 }}

[[model]]
name = "regressed"
source = "{FIXTURES / 'seed_mlp.py'}:SeedMLP"
latency_baseline = {{ onnx = {second_baseline} }}
latency_regression = 0.1
""")
    return str(path)


def test_check_fails_on_latency_regression_and_reports_it(tmp_path):
    config = _config(tmp_path, 1e-6)
    result = run_bridge("check", config, "--junit", str(tmp_path / "j.xml"), "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stderr
    assert "FAIL  regressed" in result.stdout and "pass  fast" in result.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert [m["passed"] for m in data["models"]] == [True, False]
    entry = next(b for b in data["models"][1]["bench"] if b["format"] == "onnx")
    assert entry["passed"] is False and entry["baseline_p50_ms"] == 1e-6
    root = ET.parse(tmp_path / "j.xml").getroot()
    assert int(root.get("failures")) >= 1
    assert (tmp_path / "out" / "fast" / "SeedMLP.onnx").is_file()


def test_check_passes_within_baseline_and_shards_split_the_list(tmp_path):
    config = _config(tmp_path, 1000.0)
    assert run_check(config, "1/1").exit_code == 0
    first, second = run_check(config, "1/2"), run_check(config, "2/2")
    assert [r["name"] for r in first.reports] == ["fast"]
    assert [r["name"] for r in second.reports] == ["regressed"]


def test_bad_configs_and_shards_are_usage_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[model]]\nsorce = 'x.py:Net'\n")
    with pytest.raises(UsageError, match="unknown keys"):
        load_check_config(bad)
    bad.write_text("not = [toml")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_check_config(bad)
    for shard in ("0/2", "3/2", "a/b"):
        with pytest.raises(UsageError):
            parse_shard(shard)
    result = run_bridge("check", str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and result.stderr.startswith("error: no such config file")
