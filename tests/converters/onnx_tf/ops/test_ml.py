import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

rng = np.random.default_rng(0)
ML = "ai.onnx.ml"


def ml_model(op, inputs, attrs, out_type, opset=5):
    node = helper.make_node(op, list(inputs), ["y"], domain=ML, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                         v.shape) for k, v in inputs.items()],
                              [helper.make_tensor_value_info("y", out_type, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(ML, opset)])


def check(op, inputs, attrs, out_type, opset=5, runtime="reference", rtol=1e-6):
    model = ml_model(op, inputs, attrs, out_type, opset)
    (got,), (want,) = run_tf(model, inputs), run_reference(model, inputs, runtime)
    want = np.asarray(want)
    assert got.shape == want.shape
    if want.dtype.kind in "OU":
        assert [g.decode() for g in got.ravel()] == [str(w) for w in want.ravel()]
    else:
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)
    return got


S = onnx.TensorProto.STRING
WORDS = np.array([["a", "b", "zz"], ["c", "", "a"]], dtype=object)


@pytest.mark.parametrize("inputs,attrs,out_type", [
    ({"x": WORDS}, {"keys_strings": ["a", "b", "c"], "values_int64s": [3, 1, 2]}, onnx.TensorProto.INT64),
    ({"x": WORDS}, {"keys_strings": ["a", "b", "a"], "values_floats": [0.5, 1.5, 2.5], "default_float": 7.0},
     onnx.TensorProto.FLOAT),
    ({"x": np.array([4, -1, 7, 4], np.int64)}, {"keys_int64s": [7, 4], "values_strings": ["seven", "four"]}, S),
    ({"x": np.array([4, -1, 7, 4], np.int64)},
     {"keys_int64s": [7, 4], "values_strings": ["seven", "four"], "default_string": "?"}, S),
    ({"x": np.array([0.5, -0.0, 2.0, np.nan], np.float32)},
     {"keys_floats": [0.0, 0.5], "values_floats": [10.0, 20.0]}, onnx.TensorProto.FLOAT),
    ({"x": WORDS}, {"keys_tensor": numpy_helper.from_array(np.array(["a", "c"], dtype=object)),
                    "values_tensor": numpy_helper.from_array(np.array([5, 6], np.int16)),
                    "default_tensor": numpy_helper.from_array(np.array([-9], np.int16))}, onnx.TensorProto.INT16),
    ({"x": np.array([1, 2, 3], np.int32)},
     {"keys_tensor": numpy_helper.from_array(np.array([3, 1], np.int32)),
      "values_tensor": numpy_helper.from_array(np.array([0.25, 0.75], np.float64)),
      "default_tensor": numpy_helper.from_array(np.array([-1.0], np.float64))}, onnx.TensorProto.DOUBLE),
])
def test_label_encoder(inputs, attrs, out_type):
    check("LabelEncoder", inputs, attrs, out_type, opset=4)


def test_label_encoder_v1_classes():
    got = run_tf(ml_model("LabelEncoder", {"x": WORDS}, {"classes_strings": ["b", "a"], "default_int64": 9},
                          onnx.TensorProto.INT64, opset=1), {"x": WORDS})[0]
    np.testing.assert_array_equal(got, [[1, 0, 9], [9, 9, 1]])
    x = {"x": np.array([1, 5, 0], np.int64)}
    got = run_tf(ml_model("LabelEncoder", x, {"classes_strings": ["b", "a"]}, S, opset=1), x)[0]
    assert got.tolist() == [b"a", b"_Unused", b"b"]


@pytest.mark.parametrize("shape,idx", [((4,), [3, 0]), ((2, 5), [[4, 1, 1]]), ((2, 3, 4), [2]), ((3, 4), [[0], [3]])])
def test_array_feature_extractor(shape, idx):
    x = rng.standard_normal(shape).astype(np.float32)
    check("ArrayFeatureExtractor", {"x": x, "i": np.array(idx, np.int64)}, {}, onnx.TensorProto.FLOAT, opset=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binarizer(dtype):
    x = np.array([[-1.0, 0.3, 0.5], [np.nan, 2.0, 0.49]], dtype)
    check("Binarizer", {"x": x}, {"threshold": 0.49}, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), opset=1)


# -- TreeEnsemble -------------------------------------------------------------------------------------------
def random_forest(n_trees, depth, n_features, n_targets, modes):
    """Random trees with nodes numbered in depth-first order (the order membership sets are listed in)."""
    nodes = {k: [] for k in ("modes", "feats", "splits", "true_ids", "false_ids", "true_leaf", "false_leaf",
                             "missing")}
    leaves_t, leaves_w, members, roots = [], [], [], []

    def leaf():
        leaves_t.append(int(rng.integers(n_targets)))
        leaves_w.append(float(rng.integers(-20, 20)) / 4)
        return len(leaves_t) - 1

    def build(d):
        i = len(nodes["modes"])
        mode = int(rng.choice(modes))
        nodes["modes"].append(mode)
        nodes["feats"].append(int(rng.integers(n_features)))
        nodes["splits"].append(float(rng.integers(-4, 4)) / 2 if mode != 6 else 0.0)
        nodes["missing"].append(int(rng.integers(2)))
        if mode == 6:
            members.extend([float(v) for v in rng.choice([-1.5, -1.0, 0.5, 1.0, 1.5], 2, replace=False)] + [np.nan])
        for side in ("true", "false"):
            nodes[f"{side}_ids"].append(-1)
            nodes[f"{side}_leaf"].append(0)
        for side in ("true", "false"):
            if d == depth or rng.random() < 0.2:
                nodes[f"{side}_ids"][i], nodes[f"{side}_leaf"][i] = leaf(), 1
            else:
                nodes[f"{side}_ids"][i] = build(d + 1)
        return i

    for _ in range(n_trees):
        roots.append(build(1))
    attrs = dict(
        n_targets=n_targets, tree_roots=roots,
        nodes_modes=numpy_helper.from_array(np.array(nodes["modes"], np.uint8), "nodes_modes"),
        nodes_featureids=nodes["feats"],
        nodes_splits=numpy_helper.from_array(np.array(nodes["splits"], np.float32), "nodes_splits"),
        nodes_truenodeids=nodes["true_ids"], nodes_falsenodeids=nodes["false_ids"],
        nodes_trueleafs=nodes["true_leaf"], nodes_falseleafs=nodes["false_leaf"],
        nodes_missing_value_tracks_true=nodes["missing"],
        leaf_targetids=leaves_t,
        leaf_weights=numpy_helper.from_array(np.array(leaves_w, np.float32), "leaf_weights"),
    )
    if members:
        attrs["membership_values"] = numpy_helper.from_array(np.array(members, np.float32), "membership_values")
    return attrs


X_TREE = (rng.integers(-4, 4, (7, 3)) / 2).astype(np.float32)
X_TREE[1, 0] = X_TREE[4, 2] = np.nan


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
@pytest.mark.parametrize("modes", [[0], [0, 1, 2, 3, 4, 5], [0, 4, 6]])
def test_tree_ensemble(aggregate, modes):
    attrs = random_forest(n_trees=3, depth=4, n_features=3, n_targets=2, modes=modes)
    check("TreeEnsemble", {"x": X_TREE}, {**attrs, "aggregate_function": aggregate}, onnx.TensorProto.FLOAT)


def test_tree_ensemble_dynamic_batch():
    attrs = random_forest(n_trees=4, depth=5, n_features=3, n_targets=3, modes=[0, 3, 6])
    x = {"x": X_TREE}
    model = ml_model("TreeEnsemble", x, {**attrs, "aggregate_function": 0}, onnx.TensorProto.FLOAT)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    np.testing.assert_allclose(run_tf(model, x)[0], run_reference(model, x)[0], rtol=1e-6)


def test_tree_ensemble_leaf_root_double():
    attrs = random_forest(n_trees=2, depth=3, n_features=3, n_targets=3, modes=[1, 3])
    # A third tree that is a single leaf: both branches of its root point at the same leaf.
    attrs["tree_roots"] = [*attrs["tree_roots"], 0]
    attrs["nodes_trueleafs"][0] = attrs["nodes_falseleafs"][0] = 1
    attrs["nodes_truenodeids"][0] = attrs["nodes_falsenodeids"][0] = 0
    check("TreeEnsemble", {"x": X_TREE.astype(np.float64)}, attrs, onnx.TensorProto.DOUBLE)


@pytest.mark.parametrize("post", [1, 2, 3, 4])
def test_tree_ensemble_post_transform(post):
    # onnx's reference evaluator ignores post_transform (and onnxruntime 1.32 swaps SOFTMAX and LOGISTIC), so
    # the expected value is the reference's raw scores put through the reference's transform helpers.
    from onnx.reference.ops.aionnxml import _common_classifier as cc

    attrs = random_forest(n_trees=2, depth=3, n_features=3, n_targets=3, modes=[0, 2])
    if post == 4:  # probit wants scores in (0, 1)
        weights = rng.uniform(0.05, 0.45, len(attrs["leaf_targetids"])).astype(np.float32)
        attrs["leaf_weights"] = numpy_helper.from_array(weights, "leaf_weights")
    x = {"x": X_TREE}
    (raw,) = run_reference(ml_model("TreeEnsemble", x, attrs, onnx.TensorProto.FLOAT), x)
    (got,) = run_tf(ml_model("TreeEnsemble", x, {**attrs, "post_transform": post}, onnx.TensorProto.FLOAT), x)
    raw = np.array(raw, np.float64)
    want = {1: cc.softmax, 2: cc.logistic, 3: cc.softmax_zero, 4: cc.probit}[post](raw)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def double_forest_at_its_thresholds(modes=(0, 1, 2, 3, 4, 5, 6)):
    """A float64 TreeEnsemble (atspm-detector's LightGBM files) whose splits and set members float32 cannot
    hold, and inputs on, and one double step either side of, every one of them: rounded to float32, each
    such neighbour equals its split, so a float32 walk would take the wrong branch."""
    attrs = random_forest(n_trees=4, depth=4, n_features=3, n_targets=2, modes=list(modes))
    splits = numpy_helper.to_array(attrs["nodes_splits"]).astype(np.float64) + 0.1
    attrs["nodes_splits"] = numpy_helper.from_array(splits, "nodes_splits")
    if "membership_values" in attrs:
        members = numpy_helper.to_array(attrs["membership_values"]).astype(np.float64) + 0.1
        attrs["membership_values"] = numpy_helper.from_array(members, "membership_values")
        splits = np.concatenate([splits, members[~np.isnan(members)]])
    attrs["leaf_weights"] = numpy_helper.from_array(
        numpy_helper.to_array(attrs["leaf_weights"]).astype(np.float64) / 3, "leaf_weights")
    near = np.concatenate([splits, np.nextafter(splits, np.inf), np.nextafter(splits, -np.inf), [np.nan, -0.0, 0.0]])
    assert np.any((near.astype(np.float32) == splits[0].astype(np.float32)) & (near != splits[0]))
    x = np.random.default_rng(3).choice(near, (64, 3))
    return attrs, x


@pytest.mark.parametrize("runtime,modes", [("reference", range(7)), ("onnxruntime", range(6))])
def test_double_tree_ensemble_compares_every_double_exactly(runtime, modes):
    """onnxruntime takes integer set members only: against it the forest has no MEMBER node."""
    attrs, x = double_forest_at_its_thresholds(modes)
    check("TreeEnsemble", {"x": x}, attrs, onnx.TensorProto.DOUBLE, runtime=runtime, rtol=1e-12)
