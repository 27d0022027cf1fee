"""Passes of the ONNX -> TF backend: ONNX-level passes on the ModelProto before the graph walk (shapes,
fuse, and the optional ones below), and the layout pass and the shape values (``shape_values.py``) that
the walk itself applies; each module states its contract.

The onnx -> tf edge also runs the ones named in ``ConvertOptions.extra["passes"]``, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PASSES", "run_passes"]

# name -> "module:function"; each function rewrites the model in place and returns whether it changed it
PASSES = {
    "fake_quant": "bridge_converters.onnx_tf.passes.fake_quant:fake_quant_pairs",
    "edge_pad_max_pool": "bridge_converters.onnx_tf.passes.edge_pad_max_pool:edge_pad_max_pools",
}


def run_passes(model: Any, names: Sequence[str]) -> list[str]:
    """Run the named passes on ``model``; returns the names of those that changed it."""
    import importlib

    changed = []
    for name in names:
        if name not in PASSES:
            raise ValueError(f"unknown onnx -> tf pass '{name}'; known: {', '.join(PASSES)}")
        module, _, function = PASSES[name].partition(":")
        if getattr(importlib.import_module(module), function)(model):
            changed.append(name)
    return changed
