"""End to end: models saved after ONNX Runtime's optimisers carry com.microsoft contrib ops; each converts
to a SavedModel that matches ONNX Runtime on the optimised file within 1e-4.

A BERT-style encoder and a GPT-style decoder (fixtures/models/zoo/text.py) are exported by torch.onnx,
then optimised two ways: by ``onnxruntime.transformers.optimizer.optimize_model`` (on an export with
dynamic batch and sequence axes, as models are shipped, which it fuses furthest) and by ORT's offline graph
optimisation at ORT_ENABLE_EXTENDED (on a static export, which it fuses furthest). A small CNN goes
through the offline path for FusedConv.
"""

import warnings
from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from bridge.api import convert
from fixtures.models.small_cnn import SmallCNN
from fixtures.models.zoo.text import HEADS, SEQ, VOCAB, BertEncoder, GptDecoder

pytestmark = pytest.mark.slow

MODELS = {
    "bert": (BertEncoder, ["input_ids", "attention_mask"]),
    "gpt": (GptDecoder, ["input_ids"]),
    "cnn": (SmallCNN, ["x"]),
}


def _export(name, path, dynamic):
    cls, names = MODELS[name]
    model = cls().eval()
    axes = {n: {0: "batch", 1: "seq"} if name != "cnn" else {0: "batch"} for n in names} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, model.example_inputs(), str(path), input_names=names, dynamo=False, opset_version=17,
                          dynamic_axes=axes)


def _transformer_optimizer(src, dst, name):
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(str(src), model_type="bert" if name == "bert" else "gpt2", num_heads=HEADS, hidden_size=32)
    opt.save_model_to_file(str(dst))


def _offline(src, dst, name):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])


def _feeds(name):
    rng = np.random.default_rng(1)
    if name == "cnn":
        return {"x": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    feeds = {"input_ids": rng.integers(1, VOCAB, (2, SEQ)).astype(np.int64)}
    if name == "bert":
        mask = np.ones((2, SEQ), np.int64)
        mask[1, 7:] = 0
        feeds["attention_mask"] = mask
    return feeds


# What each optimiser must have fused, so that the test covers the contrib ops it claims to.
EXPECTED = {
    ("bert", "transformer"): {"EmbedLayerNormalization", "Attention", "SkipLayerNormalization", "BiasGelu"},
    ("gpt", "transformer"): {"SkipLayerNormalization", "FastGelu"},
    ("bert", "offline"): {"SkipLayerNormalization", "FusedMatMul", "Gelu", "FusedGemm"},
    ("gpt", "offline"): {"SkipLayerNormalization", "FusedMatMul"},
    ("cnn", "offline"): {"FusedConv"},
}


@pytest.mark.parametrize("name,how", sorted(EXPECTED))
def test_ort_optimized_model_matches_onnxruntime(tmp_path, name, how):
    src, dst = tmp_path / f"{name}.onnx", tmp_path / f"{name}_{how}.onnx"
    _export(name, src, dynamic=how == "transformer")
    (_transformer_optimizer if how == "transformer" else _offline)(src, dst, name)
    contrib = Counter(n.op_type for n in onnx.load(str(dst)).graph.node if n.domain == "com.microsoft")
    assert EXPECTED[name, how] <= set(contrib), contrib

    result = convert(str(dst), to="tf", out_dir=tmp_path / "out", inputs=_feeds(name))
    assert result.passed, [p.to_json() for p in result.parity]
    (stage,) = result.parity
    assert stage.reference == "onnx" and stage.format == "tf"
    for out in stage.outputs:
        assert out.max_abs < 1e-4, (out.name, out.max_abs)
