"""ai.onnx.ml linear models, scalings, tree ensembles (v1/v3) and feature transforms, one node at a time
against ONNX Runtime (which implements every one of them)."""

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.converters.onnx_tf.ops.node_check import run_reference, run_tf

rng = np.random.default_rng(0)
ML = "ai.onnx.ml"
F, I, S = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64, onnx.TensorProto.STRING
X = rng.standard_normal((6, 4)).astype(np.float32)


def model(op, inputs, attrs, out_types, opset=1):
    outs = [f"y{i}" for i in range(len(out_types))]
    node = helper.make_node(op, list(inputs), outs, domain=ML, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                         v.shape) for k, v in inputs.items()],
                              [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, opset)])


def check(op, inputs, attrs, out_types, opset=1, rtol=1e-5, atol=1e-6):
    m = model(op, inputs, attrs, out_types, opset)
    got, want = run_tf(m, inputs), run_reference(m, inputs, "onnxruntime")
    for i, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w)
        assert g.shape == w.shape, (i, g.shape, w.shape)
        if w.dtype.kind in "OU":
            assert [v.decode() for v in g.ravel()] == [str(v) for v in w.ravel()], i
        else:
            assert g.dtype == w.dtype, (i, g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")
    return got


COEF3 = rng.standard_normal(12).astype(np.float32).tolist()


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"])
@pytest.mark.parametrize("labels", [{"classlabels_ints": [3, 5, 9]}, {"classlabels_strings": ["a", "b", "c"]}])
def test_linear_classifier(post, labels):
    out = [I if "classlabels_ints" in labels else S, F]
    check("LinearClassifier", {"x": X}, {"coefficients": COEF3, "intercepts": [0.1, -0.2, 0.3], "post_transform": post,
                                        **labels}, out)


def test_linear_classifier_with_more_coefficients_than_features_reads_them_as_onnx_runtime_does():
    """The corpus's logreg_iris.onnx (OnnxMLTools): 3 classes x 4 features of coefficients, 2-feature rows."""
    check("LinearClassifier", {"x": X[:, :2]}, {"coefficients": COEF3, "intercepts": [0.1, -0.2, 0.3],
                                               "post_transform": "LOGISTIC", "classlabels_ints": [0, 1, 2]}, [I, F])


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC"])
@pytest.mark.parametrize("labels", [[4, 7], [0, 1]])
def test_linear_classifier_binary(post, labels):
    check("LinearClassifier", {"x": X}, {"coefficients": COEF3[:4], "intercepts": [0.1], "post_transform": post,
                                        "classlabels_ints": labels}, [I, F])


@pytest.mark.parametrize("dtype", [np.float32])
def test_linear_regressor(dtype):
    x = (X * 3).astype(dtype)
    check("LinearRegressor", {"x": x}, {"coefficients": COEF3[:8], "intercepts": [0.5, 1.5], "targets": 2}, [F])


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(norm):
    check("Normalizer", {"x": X}, {"norm": norm}, [F])


@pytest.mark.parametrize("attrs", [{"offset": [0.5], "scale": [2.0]}, {"offset": [0.1, 0.2, 0.3, 0.4], "scale": [1.0, 2.0, 3.0, 4.0]}])
def test_scaler(attrs):
    check("Scaler", {"x": X.astype(np.float64)}, attrs, [F])


def _forest(n_classes, weight_classes, positive=True):
    """Two depth-2 trees over 4 features; every leaf has a weight for each class in ``weight_classes``."""
    a = {"nodes_treeids": [], "nodes_nodeids": [], "nodes_featureids": [], "nodes_modes": [], "nodes_values": [],
         "nodes_truenodeids": [], "nodes_falsenodeids": [], "nodes_missing_value_tracks_true": []}
    w = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    modes = ["BRANCH_LEQ", "BRANCH_GT", "BRANCH_LT"]
    for t in range(2):
        for n, (mode, f, v, tr, fa) in enumerate([(modes[t], t, 0.1, 1, 2), (modes[2 - t], 2, -0.3, 3, 4),
                                                  ("BRANCH_GTE", 3, 0.4, 5, 6)] + [("LEAF", 0, 0.0, 0, 0)] * 4):
            for k, val in zip(a, [t, n, f, mode, v, tr, fa, n % 2]):
                a[k].append(val)
            if mode == "LEAF":
                for c in weight_classes:
                    for k, val in zip(w, [t, n, c, float(rng.uniform(0, 1) if positive else rng.uniform(-1, 1))]):
                        w[k].append(val)
    return a, w


@pytest.mark.parametrize("agg", ["SUM", "AVERAGE", "MIN", "MAX"])
@pytest.mark.parametrize("opset", [1, 3])
def test_tree_ensemble_regressor(agg, opset):
    a, w = _forest(2, [0, 1])
    x = X.copy()
    x[1, 0] = np.nan
    attrs = {**a, **{f"target_{k}": v for k, v in w.items()}, "n_targets": 2, "aggregate_function": agg,
             "base_values": [0.25, -0.5]}
    check("TreeEnsembleRegressor", {"x": x}, attrs, [F], opset=opset)


def test_float32_tree_ensemble_reaches_tflite_with_builtin_kernels(tmp_path):
    """The corpus's skl2onnx gradient boosting: splits exact in float32 walk in float32, so TFLite (which has
    no float64 kernels) needs no Flex op, and the scores still match ONNX Runtime."""
    import bridge
    from tests.fixtures.test_model_zoo import _tflite_ops

    a, w = _forest(1, [0])
    attrs = {**a, **{f"target_{k}": v for k, v in w.items()}, "n_targets": 1, "base_values": [0.25]}
    path = tmp_path / "trees.onnx"
    m = model("TreeEnsembleRegressor", {"x": X}, attrs, [F])
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y0", F, [len(X), 1]))
    onnx.save(m, path)
    result = bridge.convert(str(path), to="tflite", out_dir=tmp_path / "out", inputs={"x": X})
    assert result.passed, result.to_json()["parity"]
    ops = _tflite_ops(next(a.path for a in result.artifacts if a.format == "tflite"))
    assert not [op for op in ops if op.startswith("Flex")], ops



def test_double_tree_ensemble_reaches_tflite_with_builtin_kernels(tmp_path):
    """atspm-detector's LightGBM files: float64 X and splits. The SavedModel adds leaf weights in float64 (a
    TF-only form); TFLite, which has no float64 kernels, walks the same int64 order keys with builtins and
    adds in float32. Both take every branch ONNX Runtime takes, on inputs a double step from each split."""
    import bridge
    from tests.converters.onnx_tf.ops.test_ml import double_forest_at_its_thresholds, ml_model
    from tests.fixtures.test_model_zoo import _tflite_ops

    attrs, x = double_forest_at_its_thresholds(range(6))
    path = tmp_path / "trees.onnx"
    m = ml_model("TreeEnsemble", {"x": x}, attrs, onnx.TensorProto.DOUBLE)
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, [len(x), 2]))
    onnx.save(m, path)
    result = bridge.convert(str(path), to="tflite", out_dir=tmp_path / "out", inputs={"x": x}, quiet=True)
    assert result.passed, result.to_json()["parity"]
    saved = next(a for a in result.artifacts if a.format == "tf")
    assert saved.meta["tf_only_forms"] == 1
    ops = _tflite_ops(next(a.path for a in result.artifacts if a.format == "tflite"))
    assert "BITCAST" in ops and not [op for op in ops if op.startswith("Flex")], ops
    scores = {s.format: max(o.max_abs for o in s.outputs) for s in result.parity if s.reference == "onnx"}
    assert scores["tf"] < 1e-12 and 1e-12 < scores["tflite"] < 1e-6, scores  # TFLite adds in float32

@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC"])
def test_tree_ensemble_classifier_multiclass(post):
    a, w = _forest(3, [0, 1, 2])
    attrs = {**a, **{f"class_{k}": v for k, v in w.items()}, "classlabels_int64s": [10, 20, 30], "post_transform": post,
             "base_values": [0.1, 0.0, -0.1]}
    check("TreeEnsembleClassifier", {"x": X}, attrs, [I, F], opset=3)


@pytest.mark.parametrize("positive,base,post", [(True, None, "NONE"), (False, [0.3], "LOGISTIC"),
                                                (False, None, "NONE"), (True, [0.2, 0.2], "NONE")])
def test_tree_ensemble_classifier_binary(positive, base, post):
    # weights for one class only (scikit-learn's binary forests and boosting): ORT's binary rules
    a, w = _forest(2, [0], positive)
    attrs = {**a, **{f"class_{k}": v for k, v in w.items()}, "classlabels_strings": ["no", "yes"], "post_transform": post,
             **({"base_values": base} if base else {})}
    check("TreeEnsembleClassifier", {"x": X}, attrs, [S, F])


def test_zipmap_is_the_dense_probabilities():
    p = rng.random((3, 2)).astype(np.float32)
    m = model("ZipMap", {"p": p}, {"classlabels_int64s": [7, 9]}, [F])
    m.graph.output[0].CopyFrom(helper.make_value_info("y0", helper.make_sequence_type_proto(
        helper.make_map_type_proto(I, helper.make_tensor_type_proto(F, None)))))
    (got,), (want,) = run_tf(m, {"p": p}), run_reference(m, {"p": p}, "onnxruntime")
    assert want == [{7: pytest.approx(float(r[0])), 9: pytest.approx(float(r[1]))} for r in p]
    np.testing.assert_array_equal(got, p)


@pytest.mark.parametrize("x,attrs", [
    (np.array([[1.0, np.nan], [np.nan, 4.0]], np.float32), {"imputed_value_floats": [-1.0, -2.0]}),
    (np.array([[1.0, 0.0], [0.0, 4.0]], np.float32), {"imputed_value_floats": [9.0], "replaced_value_float": 0.0}),
    (np.array([[1, -1], [-1, 4]], np.int64), {"imputed_value_int64s": [5, 6], "replaced_value_int64": -1}),
])
def test_imputer(x, attrs):
    check("Imputer", {"x": x}, attrs, [helper.np_dtype_to_tensor_dtype(x.dtype)])


@pytest.mark.parametrize("x,attrs", [
    (np.array([[3], [1], [8]], np.int64), {"cats_int64s": [1, 3, 5]}),
    (np.array([[3.0, 5.7]], np.float32), {"cats_int64s": [5, 3]}),
    (np.array([["b"], ["z"], ["a"]], dtype=object), {"cats_strings": ["a", "b"]}),
])
def test_one_hot_encoder(x, attrs):
    check("OneHotEncoder", {"x": x}, attrs, [F])


def test_feature_vectorizer():
    a, b, c = X[:, :2], X[:, 2:], np.arange(6, dtype=np.float32)[:, None]
    check("FeatureVectorizer", {"a": a, "b": b, "c": c}, {"inputdimensions": [2, 1, 3]}, [F])


@pytest.mark.parametrize("x,out", [(np.array([["a", "q"], ["c", "b"]], dtype=object), I),
                                   (np.array([2, 0, 7], np.int64), S)])
def test_category_mapper(x, out):
    check("CategoryMapper", {"x": x}, {"cats_strings": ["a", "b", "c"], "cats_int64s": [0, 1, 2], "default_int64": -9,
                                       "default_string": "?"}, [out])


SV = rng.standard_normal((5, 4)).astype(np.float32)


@pytest.mark.parametrize("kernel", ["LINEAR", "POLY", "RBF", "SIGMOID"])
def test_svm_regressor(kernel):
    attrs = {"kernel_type": kernel, "kernel_params": [0.3, 0.5, 2.0], "support_vectors": SV.ravel().tolist(),
             "n_supports": 5, "coefficients": rng.standard_normal(5).astype(np.float32).tolist(), "rho": [0.2]}
    check("SVMRegressor", {"x": X}, attrs, [F], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel", ["LINEAR", "RBF", "SIGMOID"])
@pytest.mark.parametrize("proba", [False, True])
def test_svm_classifier_one_vs_one(kernel, proba):
    # 3 classes with 2, 1 and 2 support vectors; 3 pairwise classifiers
    attrs = {"kernel_type": kernel, "kernel_params": [0.3, 0.5, 2.0], "support_vectors": SV.ravel().tolist(),
             "vectors_per_class": [2, 1, 2], "coefficients": rng.standard_normal(10).astype(np.float32).tolist(),
             "rho": [0.1, -0.2, 0.3], "classlabels_ints": [4, 5, 6]}
    if proba:
        attrs.update(prob_a=[-1.5, -2.0, -0.7], prob_b=[0.1, -0.1, 0.05])
    check("SVMClassifier", {"x": X}, attrs, [I, F], rtol=1e-4, atol=1e-5)
