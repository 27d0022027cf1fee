"""Gradient and training-step parity, and the trainable SavedModel in plain TensorFlow (issue 11)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bridge
from bridge.verify.gradients import LossSpec
from tests.conftest import FIXTURES, run_bridge

pytestmark = pytest.mark.slow

SEED = f"{FIXTURES / 'seed_mlp.py'}:SeedMLP"
ZOO = "fixtures.models.zoo"


def _all_pass(result):
    failed = [(g.mode, g.name, g.noise_ratio, g.problem) for g in result.gradients if not g.passed]
    assert not failed, failed
    params = {n for n, p in result.source.handle.named_parameters()}
    for mode in {g.mode for g in result.gradients}:
        assert {g.name for g in result.gradients if g.mode == mode and g.kind == "parameter"} == params


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return bridge.convert(SEED, to="tf", out_dir=tmp_path_factory.mktemp("seed"), gradients=True, train_steps=20)


def test_seed_mlp_gradients_and_20_sgd_steps(seed):
    _all_pass(seed)
    assert {g.kind for g in seed.gradients} == {"input", "parameter"} and {g.mode for g in seed.gradients} == {"eval"}
    sgd, adam = seed.train_steps
    assert sgd.optimizer == "sgd" and len(sgd.torch_loss) == len(sgd.tf_loss) == 20
    assert sgd.max_rel_loss_diff <= 1e-4 and sgd.passed and adam.passed
    assert sgd.torch_loss[-1] != sgd.torch_loss[0]  # it trained
    assert {d["name"] for d in sgd.drift} == {"net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias"}
    data = seed.to_json()
    assert {"name", "max_abs", "norm", "passed"} <= set(data["gradients"][0])
    assert data["train_steps"][0]["tf_loss"] == sgd.tf_loss and data["passed"] is True


def test_html_plots_both_loss_curves_and_lists_gradients(seed, tmp_path):
    from bridge.report.html import render_html

    page = render_html(seed.to_json())
    assert "Gradients" in page and "net.1.weight" in page
    assert page.count('class="curve') >= 4  # torch and tf, for SGD and for Adam


@pytest.mark.parametrize("name,loss", [("cnn", "mse"), ("text:BertEncoder", "sum"), ("sequence:LstmTagger", "sum"),
                                       ("sequence:GruClassifier", "cross_entropy")])
def test_every_parameter_gradient_within_the_calibrated_rule(name, loss, tmp_path):
    source = "fixtures.models.small_cnn:SmallCNN" if name == "cnn" else f"{ZOO}.{name}"
    labels = {}
    if loss == "mse":  # softmax outputs sum to one: the plain sum has no gradient to speak of
        labels = {"output": np.random.default_rng(0).random((2, 10)).astype(np.float32)}
    elif loss == "cross_entropy":
        labels = {"logits": np.array([0, 2])}
    result = bridge.convert(source, to="tf", out_dir=tmp_path, gradients=True, loss=LossSpec(loss, labels))
    assert result.passed, result.to_json()["parity"]
    _all_pass(result)
    if name == "cnn":  # BatchNorm: batch statistics in train mode, running ones in eval mode
        assert {g.mode for g in result.gradients} == {"eval", "train"}


def test_an_op_without_a_tf_gradient_is_named_with_the_parameters_it_cuts_off(tmp_path):
    """A Relu handler that routes through ResizeArea (an identity here, with no gradient in TF): the forward
    parity still holds and is reported; the gradient check names the op and the tensors before it."""
    import tensorflow as tf

    from bridge_converters.onnx_tf.registry import OPS

    key = max((k for k in OPS.keys() if k.op_type == "Relu"), key=lambda k: k.since)
    original = OPS._handlers[key]

    def relu_through_resize_area(ctx):
        x = ctx.inputs[0]
        size = tf.shape(x)[1]
        y = tf.raw_ops.ResizeArea(images=tf.reshape(x, [-1, size, 1, 1]), size=tf.stack([size, 1]))
        return tf.nn.relu(tf.reshape(y, tf.shape(x)))

    OPS._handlers[key] = relu_through_resize_area
    try:
        result = bridge.convert(SEED, to="tf", out_dir=tmp_path, gradients=True)
    finally:
        OPS._handlers[key] = original
    assert all(p.passed for p in result.parity) and result.parity
    cut = {g.name for g in result.gradients if g.problem.startswith("no TF gradient: ResizeArea (ONNX node ")}
    assert cut == {"x", "net.1.weight", "net.1.bias"}  # upstream of the first ReLU
    # TF differentiates the SavedModel function as a whole: the rest is not computed, and says so
    assert all(g.problem.startswith("not computed") for g in result.gradients if g.name.startswith("net.3"))
    assert not any(g.passed for g in result.gradients)
    [note] = result.gradient_notes
    assert "ResizeArea" in note and "net.1.weight" in note and "net.3" not in note
    assert not result.passed and result.exit_code == 1


def test_trainable_savedmodel_fine_tunes_in_plain_tensorflow_without_bridge(tmp_path):
    result = bridge.convert("fixtures.models.small_cnn:SmallCNN", to="tf", out_dir=tmp_path, trainable=True)
    assert result.passed
    saved = next(a.path for a in result.artifacts if a.format == "tf")
    np.save(tmp_path / "x.npy", result.inputs["x"])
    code = f"""
import sys; sys.modules['bridge'] = None; sys.modules['bridge_converters'] = None
import numpy as np, tensorflow as tf, keras
m = tf.saved_model.load({str(saved)!r})
x = tf.constant(np.load({str(tmp_path / 'x.npy')!r}))
print(sorted(v.name for v in m.parameters)[:2], len(m.buffers))
served = m.signatures['serving_default'](x=x)['output']
infer = m.forward(x, training=False)['output']
print(float(tf.reduce_max(tf.abs(served - infer))))
before = m.buffers[0].numpy().copy()
train = m.forward(x=x, training=True)['output']
print(float(tf.reduce_max(tf.abs(train - infer))) > 1e-4, float(np.abs(m.buffers[0].numpy() - before).max()) > 0)
opt = keras.optimizers.Adam(1e-2)
target = tf.one_hot([1, 3], 10)
losses = []
for _ in range(5):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(m.forward(x, training=True)['output'] - target))
    grads = tape.gradient(loss, m.parameters)
    opt.apply_gradients(zip(grads, m.parameters))
    losses.append(float(loss))
print(losses[-1] < losses[0])
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    lines = out.stdout.strip().splitlines()[-4:]
    assert lines[0] == "['features_0_bias:0', 'features_0_weight:0'] 4"
    assert float(lines[1]) == 0.0  # serving is forward(training=False)
    assert lines[2] == "True True"  # batch statistics in training, and the running ones move
    assert lines[3] == "True"  # a Keras optimizer fine-tunes it
    meta = json.loads((saved / "assets.extra" / "bridge.json").read_text())
    assert meta["parameters"]["features.0.weight"] == "features_0_weight"
    assert meta["buffers"]["features.1.running_mean"] == "features_1_running_mean"


def test_dropout_follows_the_training_argument(tmp_path):
    import tensorflow as tf
    import torch

    class Drop(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc, self.drop = torch.nn.Linear(64, 64), torch.nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(self.fc(x))

    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    result = bridge.convert(Drop(), to="tf", out_dir=tmp_path, inputs={"x": x}, trainable=True)
    assert result.passed
    m = tf.saved_model.load(str(next(a.path for a in result.artifacts if a.format == "tf")))
    infer = m.forward(x=x, training=False)["output"].numpy()
    train = m.forward(x=x, training=True)["output"].numpy()
    np.testing.assert_allclose(infer, m.signatures["serving_default"](x=x)["output"].numpy())
    kept = train != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(train[kept], 2 * infer[kept], rtol=1e-5)


def test_cli_gradients_report_and_refusals(tmp_path):
    report = tmp_path / "r.json"
    proc = run_bridge("convert", SEED, "--to", "tf", "--out", str(tmp_path / "o"), "--gradients", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert len(data["gradients"]) == 5 and all(g["passed"] for g in data["gradients"])
    assert "gradients" in proc.stdout
    plain = tmp_path / "plain"
    bridge.convert(SEED, to="tf", out_dir=plain, verify=False)
    saved = next(plain.glob("*_savedmodel"))
    refused = run_bridge("verify", str(saved), "--reference", SEED, "--gradients")
    assert refused.returncode == 2 and "--trainable" in refused.stderr
    onnx_file = tmp_path / "o" / "SeedMLP.onnx"
    refused = run_bridge("convert", str(onnx_file), "--to", "tf", "--out", str(tmp_path / "p"), "--gradients")
    assert refused.returncode == 2 and "PyTorch" in refused.stderr
    refused = run_bridge("convert", SEED, "--to", "tf", "--out", str(tmp_path / "q"), "--loss", "cross_entropy", "--gradients")
    assert refused.returncode == 2 and "--labels" in refused.stderr
