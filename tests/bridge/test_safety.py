"""Issue 5: untrusted weights and external data, atomic and deterministic output."""

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from bridge.errors import UsageError
from bridge.onnx_io import load_onnx_checked
from bridge.weights import load_weights
from tests.conftest import FIXTURES, ROOT, run_bridge

SEED = f"{FIXTURES / 'seed_mlp.py'}:SeedMLP"


# -- weights -----------------------------------------------------------------------------------------
class _Payload:
    """Unpickling this would create a file: the classic pickle code-execution payload."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"net.1.weight": _Payload(str(marker))}, f)
    from fixtures.models.seed_mlp import SeedMLP

    with pytest.raises(UsageError, match="--trust-pickle"):
        load_weights(SeedMLP(), evil)
    assert not marker.exists()
    result = run_bridge("convert", SEED, "--to", "onnx", "--out", str(tmp_path / "out"), "--weights", str(evil))
    assert result.returncode == 2 and "--trust-pickle" in result.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_safetensors_and_state_dict_weights_change_the_outputs(tmp_path):
    from safetensors.torch import save_file

    from fixtures.models.seed_mlp import SeedMLP

    trained = SeedMLP()
    with torch.no_grad():
        for p in trained.parameters():
            p.mul_(-2.0)
    save_file(trained.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    x = trained.example_inputs()[0]
    for name in ("w.safetensors", "w.pt"):
        fresh = SeedMLP()
        load_weights(fresh, tmp_path / name)
        torch.testing.assert_close(fresh(x), trained(x))
    with pytest.raises(UsageError, match="does not fit the model"):
        load_weights(torch.nn.Linear(2, 2), tmp_path / "w.safetensors")


def test_whole_pickled_model_needs_explicit_trust(tmp_path):
    from fixtures.models.seed_mlp import SeedMLP

    torch.save(SeedMLP(), tmp_path / "whole.pt")
    with pytest.raises(UsageError, match="--trust-pickle"):
        load_weights(SeedMLP(), tmp_path / "whole.pt")
    load_weights(SeedMLP(), tmp_path / "whole.pt", trust_pickle=True)


# -- external data -----------------------------------------------------------------------------------
def _external_model(folder, location, offset=0, length=None, extra_key=None):
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weight.data_location = TensorProto.EXTERNAL
    entries = {"location": location, "offset": str(offset)}
    if length is not None:
        entries["length"] = str(length)
    if extra_key:
        entries[extra_key] = "1"
    for k, v in entries.items():
        e = weight.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], initializer=[weight])
    path = folder / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), path)
    return path


@pytest.fixture
def secret(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    return secret, model_dir


def _refused_before_read(path, fragment, monkeypatch):
    import builtins

    opened = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    with pytest.raises(UsageError, match=fragment):
        load_onnx_checked(path)
    assert not any("secret" in f or f.endswith(".bin") for f in opened), opened


def test_external_data_climbing_out_is_refused(secret, monkeypatch):
    _, model_dir = secret
    _refused_before_read(_external_model(model_dir, "../secret"), "climbs out", monkeypatch)


def test_external_data_absolute_path_is_refused(secret, monkeypatch):
    target, model_dir = secret
    _refused_before_read(_external_model(model_dir, str(target)), "absolute", monkeypatch)


def test_external_data_through_symlink_is_refused(secret, monkeypatch):
    target, model_dir = secret
    (model_dir / "weights.bin").symlink_to(target)
    _refused_before_read(_external_model(model_dir, "weights.bin"), "symlink", monkeypatch)
    (model_dir / "linked_dir").symlink_to(target.parent)
    _refused_before_read(_external_model(model_dir, "linked_dir/secret"), "symlink", monkeypatch)


def test_external_data_hard_link_bad_range_and_unknown_keys_are_refused(secret, monkeypatch):
    target, model_dir = secret
    os.link(target, model_dir / "hard.bin")
    _refused_before_read(_external_model(model_dir, "hard.bin"), "hard-linked", monkeypatch)
    (model_dir / "w.bin").write_bytes(np.ones(4, np.float32).tobytes())
    _refused_before_read(_external_model(model_dir, "w.bin", offset=8, length=16), "outside", monkeypatch)
    _refused_before_read(_external_model(model_dir, "w.bin", extra_key="evil"), "unknown external-data keys", monkeypatch)


def test_valid_external_data_loads(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model = load_onnx_checked(_external_model(tmp_path, "w.bin", length=16))
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(model.graph.initializer[0]), np.arange(4, dtype=np.float32))


# -- atomic and deterministic output ------------------------------------------------------------------
def _snapshot(out):
    # fingerprint.pb holds a random UUID per save; everything else is deterministic
    return {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != "fingerprint.pb"}


@pytest.mark.slow
def test_killed_conversion_leaves_old_output_intact(tmp_path):
    out = tmp_path / "out"
    first = run_bridge("convert", "fixtures.models.small_cnn:SmallCNN", "--to", "tf", "--out", str(out), "--no-verify")
    assert first.returncode == 0, first.stderr
    before = _snapshot(out)
    (out / "SmallCNN.onnx").write_bytes(b"old onnx")  # so a replacement would show
    before[Path("SmallCNN.onnx")] = b"old onnx"
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGINT):
        proc = subprocess.Popen([sys.executable, "-m", "bridge", "convert", "fixtures.models.small_cnn:SmallCNN",
                                 "--to", "tf", "--out", str(out), "--force", "--no-verify"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        # strike while the SavedModel is being written in the staging folder
        while not list(tmp_path.glob(f".bridge-{proc.pid}-*/SmallCNN_savedmodel")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the conversion finished before it could be interrupted"
            time.sleep(0.02)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert _snapshot(out) == before, f"{sig!r}: the existing output changed"
        if sig != signal.SIGKILL:
            assert proc.returncode != 0
            assert not list(tmp_path.glob(".bridge-*")), "staging folder left behind"
    # a later run sweeps the staging folder the SIGKILLed run could not remove
    again = run_bridge("convert", "fixtures.models.small_cnn:SmallCNN", "--to", "onnx", "--out", str(tmp_path / "o2"),
                       "--no-verify")
    assert again.returncode == 0 and not list(tmp_path.glob(".bridge-*"))


@pytest.mark.slow
def test_two_conversions_are_byte_identical_across_hash_seeds(tmp_path):
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"o{seed}"
        r = run_bridge("convert", "fixtures.models.small_cnn:SmallCNN", "--to", "tf", "--out", str(out), "--no-verify",
                       env={"PYTHONHASHSEED": seed})
        assert r.returncode == 0, r.stderr
        outs.append(out)
    a, b = outs
    assert (a / "SmallCNN.onnx").read_bytes() == (b / "SmallCNN.onnx").read_bytes()
    sm_a, sm_b = a / "SmallCNN_savedmodel", b / "SmallCNN_savedmodel"
    files = sorted(p.relative_to(sm_a) for p in sm_a.rglob("*") if p.is_file() and p.name != "fingerprint.pb")
    assert files == sorted(p.relative_to(sm_b) for p in sm_b.rglob("*") if p.is_file() and p.name != "fingerprint.pb")
    for rel in files:  # the graph, the variables and our metadata (fingerprint.pb holds a random UUID)
        assert (sm_a / rel).read_bytes() == (sm_b / rel).read_bytes(), rel


@pytest.mark.slow
def test_large_model_weights_go_to_fresh_external_data_that_moves_with_the_model(tmp_path):
    """Above the threshold (2 GiB in practice; 0 here) the exporter writes <name>.onnx.data beside the model."""
    from bridge.model import ConvertOptions
    from bridge.pipeline import plan, run_conversions
    from bridge.runtimes import load_runner
    from bridge.sources import load_source

    model = load_source(SEED)
    feeds = {"x": model.example_inputs["x"]}
    out = tmp_path / "out"
    stale = out / "SeedMLP.onnx.data"
    out.mkdir()
    stale.write_bytes(b"stale bytes from an older run")
    options = ConvertOptions(feeds=feeds, extra={"external_data_threshold": 0})
    artifacts = run_conversions(model, plan("torch", ["tf"]), out, options, force=True)
    onnx_artifact = artifacts[0]
    assert onnx_artifact.companions == [stale]
    assert stale.read_bytes() != b"stale bytes from an older run"  # written fresh, never appended to
    assert stale.stat().st_size > 784 * 128 * 4
    reference = load_runner(model).run(feeds)["output"]
    for artifact in artifacts:
        np.testing.assert_allclose(load_runner(artifact).run(feeds)["output"], reference, atol=1e-5)
