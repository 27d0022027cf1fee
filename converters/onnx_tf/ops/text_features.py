"""TfIdfVectorizer: n-gram (with skips) counting against a fixed pool, then TF / IDF / TFIDF weighting.

The pool is static, so at conversion time each pooled token gets a small code and each pooled n-gram a
single int64 key (its token codes as digits in base V+2). At run time every (gram size n, skip distance d) pair is
one strided window over the tokens: the window's key is looked up among the pooled n-grams and hits are
counted per row into their ``ngram_indexes`` slot. This counts exactly what onnx's reference trie walk
counts: an n-gram X[s], X[s+d], ..., X[s+(n-1)d] that lies inside the row and is in the pool with
min_gram_length <= n <= max_gram_length, unigrams once (they do not depend on d).
"""

from __future__ import annotations

from typing import Any

from bridge_converters.onnx_tf.ops.ml import lookup
from bridge_converters.onnx_tf.registry import onnx_op

__all__: list[str] = []


def _pool_ngrams(ctx: Any) -> tuple[list[Any], dict[tuple[Any, ...], int]]:
    """The pooled tokens and ``{n-gram tuple: output index}`` for the gram sizes in range."""
    pool = ctx.attr("pool_int64s")
    if pool is None:
        pool = [s.encode() for s in ctx.attr("pool_strings", [])]
    pool = list(pool)
    counts = [int(c) for c in ctx.attr("ngram_counts", [])]
    indexes = [int(i) for i in ctx.attr("ngram_indexes", [])]
    lo, hi = int(ctx.attr("min_gram_length")), int(ctx.attr("max_gram_length"))
    grams: dict[tuple[Any, ...], int] = {}
    ngram_id = 0
    for i, start in enumerate(counts):
        n = i + 1
        end = counts[i + 1] if i + 1 < len(counts) else len(pool)
        for k in range(max(end - start, 0) // n):
            if lo <= n <= hi:
                # A repeated n-gram keeps its last id, as in the reference's trie.
                grams[tuple(pool[start + k * n:start + (k + 1) * n])] = indexes[ngram_id]
            ngram_id += 1
    return pool, grams


@onnx_op("TfIdfVectorizer", since=9)
def tfidf_vectorizer(ctx: Any) -> Any:
    import numpy as np
    import tensorflow as tf

    x = ctx.inputs[0]
    rank = x.shape.rank
    if rank not in (0, 1, 2):
        raise ctx.unsupported("the input must be [C] or [B, C]")
    mode = ctx.attr("mode")
    if mode not in ("TF", "IDF", "TFIDF"):
        raise ctx.unsupported(f"mode {mode!r}")
    lo, hi = int(ctx.attr("min_gram_length")), int(ctx.attr("max_gram_length"))
    max_skip = int(ctx.attr("max_skip_count", 0))
    out_size = max(int(i) for i in ctx.attr("ngram_indexes")) + 1
    weights = ctx.attr("weights")
    _, grams = _pool_ngrams(ctx)

    rows = tf.reshape(x, [1, -1]) if rank < 2 else x
    if rows.dtype != tf.string:
        rows = tf.cast(rows, tf.int64)
    n_rows = tf.shape(rows, out_type=tf.int64)[0]
    width = tf.shape(rows, out_type=tf.int64)[1]
    counts = tf.zeros(tf.stack([n_rows, out_size]), tf.float32)
    if grams:
        vocab = sorted({t for g in grams for t in g})
        # Pooled tokens get codes 1..V and others V + 1: no digit is 0, so keys of different sizes differ.
        base = len(vocab) + 2
        if float(base) ** hi >= 2.0**62:
            raise ctx.unsupported("the n-gram pool is too large to key n-grams as int64")
        keys = np.array(vocab, dtype=object if rows.dtype == tf.string else np.int64)
        codes = lookup(ctx, rows, keys, np.arange(1, len(vocab) + 1, dtype=np.int64), np.int64(len(vocab) + 1))
        code_of = {t: i + 1 for i, t in enumerate(vocab)}
        gram_keys = np.array([sum(code_of[t] * base**k for k, t in enumerate(g)) for g in grams], np.int64)
        gram_slots = np.array(list(grams.values()), np.int64)
        row_ids = tf.range(n_rows)[:, None]
        segments, n_seg = [], n_rows * out_size
        for n in range(max(lo, 1), hi + 1):
            for d in range(1, (1 if n == 1 else max_skip + 1) + 1):
                starts = tf.maximum(width - (n - 1) * d, 0)
                key = tf.zeros(tf.stack([n_rows, starts]), tf.int64)
                for k in range(n):
                    key += codes[:, k * d:k * d + starts] * (base**k)
                slot = lookup(ctx, key, gram_keys, gram_slots, np.int64(-1))
                # Misses go to one extra segment past the end, dropped below.
                segments.append(tf.reshape(tf.where(slot >= 0, row_ids * out_size + slot, n_seg), [-1]))
        seg = tf.concat(segments, 0)
        hits = tf.math.unsorted_segment_sum(tf.ones_like(seg, tf.float32), seg, n_seg + 1)[:-1]
        counts = tf.reshape(hits, tf.stack([n_rows, out_size]))
    if mode == "TF":
        y = counts
    elif mode == "IDF":
        w = tf.constant(np.asarray(weights, np.float32)) if weights else tf.ones([out_size], tf.float32)
        y = tf.where(counts > 0, w, 0.0)
    else:
        y = counts * tf.constant(np.asarray(weights, np.float32)) if weights else counts
    return y[0] if rank < 2 else y
