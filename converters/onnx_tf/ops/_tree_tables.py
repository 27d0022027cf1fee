"""The tables ``ml_trees.walk`` reads, built from a tree ensemble's attributes with numpy alone.

A LightGBM model of 10,000 trees lists about five million nodes: every step here is one array operation
over all of them (no Python loop per node), and errors are ValueErrors the handler turns into its
"unsupported" error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODES", "LegacyForest", "legacy_forest", "tree_depth"]

MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}


def tree_depth(roots: Any, true_ids: Any, false_ids: Any, true_leaf: Any, false_leaf: Any, root_leaf: Any) -> int:
    """The largest number of branch nodes on a root-to-leaf path: breadth first, one level at a time."""
    import numpy as np

    true_ids, false_ids = np.asarray(true_ids, np.int64), np.asarray(false_ids, np.int64)
    true_leaf, false_leaf = np.asarray(true_leaf, bool), np.asarray(false_leaf, bool)
    frontier = np.unique(np.asarray(roots, np.int64)[~np.asarray(root_leaf, bool)])
    depth = 0
    while frontier.size:
        depth += 1
        if depth > len(true_ids):  # a path longer than the node count repeats a node
            raise ValueError("TreeEnsemble: the node graph has a cycle")
        frontier = np.unique(np.concatenate([true_ids[frontier][~true_leaf[frontier]],
                                             false_ids[frontier][~false_leaf[frontier]]]))
    return depth


class _Index:
    """(tree id, node id) -> position in the node lists; the last listing of a pair wins."""

    def __init__(self, trees: Any, nodes: Any) -> None:
        import numpy as np

        self.lo = (int(trees.min()), int(nodes.min())) if len(trees) else (0, 0)
        self.span = int(nodes.max()) - self.lo[1] + 1 if len(nodes) else 1
        if len(trees) and (int(trees.max()) - self.lo[0] + 1) * self.span >= 2**62:
            raise ValueError("TreeEnsemble: tree and node ids span too wide a range")
        keys = self.keys(trees, nodes)
        self.order = np.argsort(keys, kind="stable")
        self.sorted = keys[self.order]

    def keys(self, trees: Any, nodes: Any) -> Any:
        import numpy as np

        nodes = np.asarray(nodes, np.int64) - self.lo[1]
        keys = (np.asarray(trees, np.int64) - self.lo[0]) * self.span + nodes
        return np.where((nodes < 0) | (nodes >= self.span), -1, keys)  # -1: no such node

    def find(self, trees: Any, nodes: Any) -> Any:
        """Positions of the pairs; -1 where a pair is not listed."""
        import numpy as np

        keys = self.keys(trees, nodes)
        at = np.searchsorted(self.sorted, keys, side="right") - 1
        found = (at >= 0) & (self.sorted[np.maximum(at, 0)] == keys) & (keys >= 0) if len(self.sorted) else \
            np.zeros(len(keys), bool)
        return np.where(found, self.order[np.maximum(at, 0)] if len(self.order) else -1, -1)


@dataclass
class LegacyForest:
    """What ``walk`` needs for a v1/v3 ensemble, plus the leaf weights [leaves, outputs] and which of them a
    weight was listed for."""

    tables: dict[str, Any]
    roots: list[int]
    root_leaf: list[bool]
    depth: int
    weights: Any
    has: Any


def legacy_forest(attrs: dict[str, Any], prefix: str, n_outputs: int) -> LegacyForest:
    """Tables of a TreeEnsembleClassifier/Regressor from its attributes (numpy arrays; ``nodes_modes`` a
    list of strings); ``prefix`` (``class`` or ``target``) names the attributes listing the leaf weights."""
    import numpy as np

    def ints(name: str) -> Any:
        return np.asarray(attrs.get(name, []), dtype=np.int64).ravel()

    tree_ids, node_ids = ints("nodes_treeids"), ints("nodes_nodeids")
    modes = np.asarray(attrs.get("nodes_modes", []), dtype=str)
    names, kinds = np.unique(modes, return_inverse=True)
    unknown = sorted(set(names.tolist()) - set(MODES) - {"LEAF"})
    if unknown:
        raise ValueError(f"node modes {unknown}")
    codes = np.array([MODES.get(n, -1) for n in names.tolist()], np.int64)[kinds.ravel()]
    is_leaf = modes == "LEAF"
    rank = np.zeros(len(modes), np.int64)  # a node's row in the leaf table or in the branch table
    rank[is_leaf], rank[~is_leaf] = np.arange(int(is_leaf.sum())), np.arange(int((~is_leaf).sum()))
    branches = np.nonzero(~is_leaf)[0]
    index = _Index(tree_ids, node_ids)

    tables: dict[str, Any] = {"modes": codes[branches], "feats": ints("nodes_featureids")[branches]}
    splits = np.asarray(attrs["nodes_values"], np.float64).ravel() if attrs.get("nodes_values") is not None \
        else np.zeros(len(modes))
    tables["splits"] = splits[branches]
    missing = ints("nodes_missing_value_tracks_true")
    tables["missing"] = (missing[branches] if len(missing) else np.zeros(len(branches))).astype(bool)
    pointed = []
    for side in ("true", "false"):
        ids = ints(f"nodes_{side}nodeids")[branches]
        child = index.find(tree_ids[branches], ids)
        if (child < 0).any():
            k = int(np.argmax(child < 0))
            raise ValueError(f"node {node_ids[branches[k]]} of tree {tree_ids[branches[k]]} points at a node that "
                             "does not exist")
        tables[f"{side}_ids"], tables[f"{side}_leaf"] = rank[child], is_leaf[child]
        pointed.append(index.keys(tree_ids[branches], ids))
    # A tree's root is its first listed node that no other node of the tree points at (as in ORT).
    free = np.nonzero(~np.isin(index.keys(tree_ids, node_ids), np.concatenate(pointed)))[0]
    first = free[np.sort(np.unique(tree_ids[free], return_index=True)[1])]
    roots, root_leaf = rank[first], is_leaf[first]
    # walk() reads a leaf root's leaf from true_ids: give each such root a branch row that points at it
    extra, n = int(root_leaf.sum()), len(branches)
    pad = {"modes": 0, "feats": 0, "splits": 0.0, "missing": False, "true_leaf": True, "false_leaf": True}
    for name, value in pad.items():
        tables[name] = np.concatenate([tables[name], np.full(extra, value, tables[name].dtype)])
    for side in ("true", "false"):
        tables[f"{side}_ids"] = np.concatenate([tables[f"{side}_ids"], roots[root_leaf]])
    roots = roots.copy()
    roots[root_leaf] = np.arange(n, n + extra)
    tables["table"] = np.full((max(n + extra, 1), 1), np.nan)
    if not n + extra:  # no node at all: one inert row
        tables.update(true_ids=np.zeros(1, np.int64), false_ids=np.zeros(1, np.int64),
                      true_leaf=np.ones(1, bool), false_leaf=np.ones(1, bool))
    depth = tree_depth(roots, tables["true_ids"], tables["false_ids"], tables["true_leaf"], tables["false_leaf"],
                       root_leaf)

    # Leaf weight table [leaves, outputs]: weights listed for the same (tree, node, output) add up.
    w_node, w_out = index.find(ints(f"{prefix}_treeids"), ints(f"{prefix}_nodeids")), ints(f"{prefix}_ids")
    weights = np.asarray(attrs.get(f"{prefix}_weights", []), np.float64).ravel()
    bad = (w_node < 0) | ~is_leaf[np.maximum(w_node, 0)] | (w_out < 0) | (w_out >= n_outputs) if len(w_node) else []
    if np.any(bad):
        k = int(np.argmax(bad))
        raise ValueError(f"a {prefix} weight names tree {ints(f'{prefix}_treeids')[k]} node "
                         f"{ints(f'{prefix}_nodeids')[k]} output {w_out[k]}, which is no leaf or output")
    table = np.zeros((max(int(is_leaf.sum()), 1), n_outputs))
    has = np.zeros_like(table, bool)
    np.add.at(table, (rank[w_node], w_out), weights)
    has[rank[w_node], w_out] = True
    return LegacyForest(tables, roots.tolist(), root_leaf.tolist(), depth, table, has)
