"""String ops: StringConcat, StringSplit, StringNormalizer, RegexFullMatch.

ONNX strings arrive as tf.string (UTF-8 bytes). RegexFullMatch uses RE2 on both sides. Case changes use
TF's UTF-8 aware ``tf.strings.lower/upper`` (full Unicode simple case mapping, like Python's for the common
scripts).
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


@onnx_op("StringConcat", since=20)
def string_concat(ctx: Any) -> Any:
    import tensorflow as tf

    # tf.add concatenates strings with numpy-style broadcasting.
    return tf.add(ctx.inputs[0], ctx.inputs[1])


@onnx_op("RegexFullMatch", since=20)
def regex_full_match(ctx: Any) -> Any:
    import tensorflow as tf

    return tf.strings.regex_full_match(ctx.inputs[0], ctx.attr("pattern", ""))


@onnx_op("StringSplit", since=20)
def string_split(ctx: Any) -> Any:
    """Substrings padded with "" to ``x.shape + [max count]``, and the counts. Without a delimiter (or with
    ""), runs of whitespace separate and leading/trailing whitespace is dropped, like Python's ``str.split``."""
    import tensorflow as tf

    x = ctx.inputs[0]
    if x.shape.rank is None:
        raise ctx.unsupported("the input rank must be static")
    sep = ctx.attr("delimiter") or None
    maxsplit = ctx.attr("maxsplit")
    maxsplit = -1 if maxsplit is None else int(maxsplit)
    flat = tf.reshape(x, [-1])
    if sep is None:
        # Python drops leading whitespace even before an unsplit remainder (maxsplit=0); TF does not.
        flat = tf.strings.regex_replace(flat, r"^[ \t\n\v\f\r]+", "")
    parts = tf.strings.split(flat, sep=sep, maxsplit=maxsplit)
    if sep is None:
        # With maxsplit TF may emit a trailing "" piece; Python's whitespace split never yields empty pieces.
        parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
    lengths = parts.row_lengths()
    dense = parts.to_tensor(default_value="")
    width = tf.shape(dense, out_type=tf.int64)[1:]
    out_shape = tf.concat([tf.shape(x, out_type=tf.int64), width], 0)
    return tf.reshape(dense, out_shape), tf.reshape(lengths, tf.shape(x, out_type=tf.int64))


@onnx_op("StringNormalizer", since=10)
def string_normalizer(ctx: Any) -> Any:
    """Case change, then removal of the elements that are stop words (compared after the same case change
    when ``is_case_sensitive`` is 0). Input is [C] or [1, C]; when nothing is left the output is [""]
    (or [[""]]). Unlike onnx's reference evaluator this does not strip accents from non-ASCII text
    (TF has no Unicode NFKD normalization) and removes whole elements, as the spec and onnxruntime do."""
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    if rank not in (1, 2) or (rank == 2 and x.shape[0] not in (None, 1)):
        raise ctx.unsupported("the input must be [C] or [1, C]")
    action = ctx.attr("case_change_action", "NONE")
    sensitive = bool(ctx.attr("is_case_sensitive", 0))
    stops = list(ctx.attr("stopwords", []) or [])
    change = {"LOWER": str.lower, "UPPER": str.upper}.get(action)
    tf_change = {"LOWER": tf.strings.lower, "UPPER": tf.strings.upper}.get(action)
    if action not in ("NONE", "LOWER", "UPPER"):
        raise ctx.unsupported(f"case_change_action {action!r}")
    flat = tf.reshape(x, [-1])
    y = tf_change(flat, encoding="utf-8") if tf_change else flat
    if not stops:
        return tf.reshape(y, tf.shape(x))
    if sensitive:
        key, stop_keys = flat, stops
    elif change is not None:
        key, stop_keys = y, [change(s) for s in stops]
    else:
        key, stop_keys = tf.strings.lower(flat, encoding="utf-8"), [s.lower() for s in stops]
    is_stop = tf.reduce_any(key[:, None] == tf.constant(stop_keys, tf.string)[None, :], axis=1)
    kept = tf.boolean_mask(y, ~is_stop)
    kept = tf.cond(tf.size(kept) > 0, lambda: kept, lambda: tf.constant([""]))
    return kept[None, :] if rank == 2 else kept
