import numpy as np
import pytest

from tests.converters.onnx_tf.ops.node_check import check_node, make_node_model, run_reference, run_tf

INTS = np.array([[1, 1, 3, 3, 3, 7, 2, 4], [8, 6, 7, 5, 6, 8, 7, 1]], np.int32)
# Unigrams 2, 3, 5, 4 then bigrams (5, 6), (7, 8), (6, 7), (3, 3), and one trigram (5, 6, 8).
POOL = dict(ngram_counts=[0, 4, 12], ngram_indexes=[0, 1, 2, 3, 4, 5, 6, 7, 8],
            pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 3, 3, 5, 6, 8])


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("grams,skip", [((1, 1), 0), ((2, 2), 0), ((1, 2), 3), ((2, 3), 2), ((1, 3), 5), ((3, 3), 1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_tfidf_ints(mode, grams, skip, weighted):
    attrs = {**POOL, "mode": mode, "min_gram_length": grams[0], "max_gram_length": grams[1], "max_skip_count": skip}
    if weighted:
        attrs["weights"] = [0.5, 1.0, 2.0, 1.5, 0.25, 3.0, 1.0, 0.75, 4.0]
    # onnx's reference evaluator fails on IDF/TFIDF without weights; onnxruntime runs them.
    runtime = "reference" if weighted or mode == "TF" else "onnxruntime"
    check_node("TfIdfVectorizer", {"x": INTS}, attrs, opset=9, runtime=runtime)
    check_node("TfIdfVectorizer", {"x": INTS[1].astype(np.int64)}, attrs, opset=9, runtime=runtime)


def test_tfidf_strings_and_indexes():
    x = np.array([["a", "b", "a", "c", "b", "a"], ["c", "c", "a", "b", "z", "b"]], dtype=object)
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=1, ngram_counts=[0, 3],
                 ngram_indexes=[4, 0, 2, 1, 5], pool_strings=["a", "b", "c", "a", "b", "c", "c"])
    check_node("TfIdfVectorizer", {"x": x}, attrs, opset=9)


def test_tfidf_short_rows_and_dynamic_shape():
    attrs = {**POOL, "mode": "TF", "min_gram_length": 1, "max_gram_length": 3, "max_skip_count": 4}
    x = {"x": INTS[:, :3].astype(np.int64)}
    model = make_node_model("TfIdfVectorizer", x, attrs, opset=9)
    for dim in model.graph.input[0].type.tensor_type.shape.dim:
        dim.dim_param = "n"
    np.testing.assert_array_equal(run_tf(model, x)[0], run_reference(model, x)[0])
