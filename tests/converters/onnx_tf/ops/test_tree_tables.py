"""The numpy table builder behind the v1/v3 tree ensembles: roots, leaf roots, weights, depth and the
errors a broken ensemble gets, on forests small enough to check by hand."""

import numpy as np
import onnx
import pytest

from bridge.errors import UnsupportedError
from bridge_converters.onnx_tf.ops._tree_tables import legacy_forest, tree_depth
from tests.converters.onnx_tf.ops.test_ml import ml_model
from tests.converters.onnx_tf.ops.node_check import run_tf


def _attrs(branch=5, right=9):
    """Tree 7: node ``branch`` (x0 <= 0.5) -> leaves 2 / ``right``, listed leaf first and ids out of order;
    tree 3: a lone leaf. Leaf ``right`` lists two weights for output 1, which add up."""
    return {"nodes_treeids": [7, 7, 7, 3], "nodes_nodeids": [2, branch, right, 0],
            "nodes_modes": ["LEAF", "BRANCH_LEQ", "LEAF", "LEAF"], "nodes_featureids": [0, 0, 0, 0],
            "nodes_values": np.array([0.0, 0.5, 0.0, 0.0]), "nodes_truenodeids": [0, 2, 0, 0],
            "nodes_falsenodeids": [0, right, 0, 0], "nodes_missing_value_tracks_true": [0, 1, 0, 0],
            "target_treeids": [7, 7, 7, 3], "target_nodeids": [2, right, right, 0], "target_ids": [0, 1, 1, 0],
            "target_weights": np.array([1.0, 2.0, 0.25, 4.0])}


def test_a_forest_with_a_leaf_root_and_repeated_weights():
    forest = legacy_forest(_attrs(), "target", 2)
    t = forest.tables
    # one branch row for node 5, then the row that stands in for tree 3's lone leaf (leaf row 2)
    assert t["modes"].tolist() == [0, 0] and t["splits"].tolist() == [0.5, 0.0]
    assert t["true_ids"].tolist() == [0, 2] and t["false_ids"].tolist() == [1, 2]
    assert t["true_leaf"].tolist() == [True, True] and t["missing"].tolist() == [True, False]
    assert forest.roots == [0, 1] and forest.root_leaf == [False, True] and forest.depth == 1
    np.testing.assert_array_equal(forest.weights, [[1.0, 0.0], [0.0, 2.25], [4.0, 0.0]])
    np.testing.assert_array_equal(forest.has, [[True, False], [False, True], [True, False]])


def test_a_tree_deeper_than_the_recursion_limit_has_its_depth():
    n = 5000  # branch i -> branch i + 1 on the true side, leaf 0 on the false side; the last one: both leaves
    true_ids, true_leaf = np.arange(1, n + 1), np.zeros(n, bool)
    true_ids[-1], true_leaf[-1] = 0, True
    assert tree_depth([0], true_ids, np.zeros(n, np.int64), true_leaf, np.ones(n, bool), [False]) == n


@pytest.mark.parametrize("change,message", [
    ({"nodes_truenodeids": [0, 4, 0, 0]}, "node 5 of tree 7 points at a node that does not exist"),
    ({"nodes_modes": ["LEAF", "BRANCH_ODD", "LEAF", "LEAF"]}, "node modes ['BRANCH_ODD']"),
    ({"target_nodeids": [2, 5, 9, 0]}, "a target weight names tree 7 node 5 output 1, which is no leaf or output"),
    ({"target_ids": [0, 1, 2, 0]}, "a target weight names tree 7 node 9 output 2"),
    ({"nodes_modes": ["BRANCH_LEQ", "BRANCH_LEQ", "BRANCH_LEQ", "LEAF"], "nodes_truenodeids": [9, 2, 2, 0],
      "nodes_falsenodeids": [9, 9, 2, 0]}, "the node graph has a cycle"),  # root 5 -> 2 <-> 9
])
def test_a_broken_forest_names_what_is_broken(change, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        legacy_forest({**_attrs(), **change}, "target", 2)


def test_the_handler_reports_a_broken_forest_as_unsupported():
    attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in _attrs().items()}
    attrs["nodes_truenodeids"] = [0, 4, 0, 0]
    model = ml_model("TreeEnsembleRegressor", {"x": np.zeros((2, 1), np.float32)}, {**attrs, "n_targets": 2},
                     onnx.TensorProto.FLOAT, opset=3)
    with pytest.raises(UnsupportedError, match="points at a node that does not exist"):
        run_tf(model, {"x": np.zeros((2, 1), np.float32)})


def test_the_converted_forest_walks_its_trees():
    """By hand: x0 <= 0.5 reaches leaf 2 (1 to output 0), else the leaf whose two weights add to 2.25 on
    output 1; NaN goes the true way; tree 3's lone leaf adds 4 to output 0 for every sample. (ONNX Runtime
    and onnx's reference both misread a tree listed out of order; the ensembles exporters write, root first,
    are checked against them in test_ml_models.py.)"""
    attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in _attrs().items()}
    x = np.array([[0.25], [0.5], [0.75], [np.nan]], np.float32)
    model = ml_model("TreeEnsembleRegressor", {"x": x}, {**attrs, "n_targets": 2}, onnx.TensorProto.FLOAT, opset=3)
    np.testing.assert_allclose(run_tf(model, {"x": x})[0], [[5, 0], [5, 0], [4, 2.25], [5, 0]], rtol=1e-6)
