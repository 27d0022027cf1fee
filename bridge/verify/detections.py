"""Verdict rule for detection outputs: boxes compared as sets, not element by element.

A detector's output is a variable number of boxes in score order; two correct runtimes may list them in
another order or differ by one box at a threshold. Which outputs are detections is recorded by the
converter in the ONNX model (``bridge.detections`` metadata: Caffe's DetectionOutput rows
``[image, label, score, xmin, ymin, xmax, ymax]``); an output a NonMaxSuppression node makes directly
(``[n, 3]`` rows of batch, class, box) is one too, and so is output 0 of an Ultralytics NMS-free detector
(``end2end`` in its metadata: ``[image, top-k, (x1, y1, x2, y2, score, class)]``, rows in score order).

Rows: reference boxes, best first, are matched one to one with the unmatched candidate box of the same
image and label that overlaps most (IoU at least ``MIN_IOU``); a matched pair passes when its score and
its corners agree within the output's atol/rtol. A box left unmatched on either side fails the output,
unless its score lies within tolerance of the confidence threshold or of the weakest box kept under
``keep_top_k`` (a tie broken the other way): those are counted as ``borderline``, as is a matched pair out
of tolerance whose reference box lies there (it met a neighbour that the other side kept instead). Index
rows (NMS) match as sets of (batch, class, box).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.verify.compare import OutputParity, Tolerances

__all__ = ["detection_outputs", "judge_detections", "match_boxes", "match_index_rows", "MIN_IOU", "RULE",
           "DETECTIONS_KEY", "ULTRALYTICS_END2END"]

RULE = "detections"
MIN_IOU = 0.5
DETECTIONS_KEY = "bridge.detections"


def detection_outputs(onnx_path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Output name -> how its rows read, for the outputs of ``onnx_path`` that are detections."""
    from bridge.onnx_io import graph_facts

    facts = graph_facts(onnx_path)
    if facts is None:  # an unreadable model was reported elsewhere; judge element-wise
        return {}
    specs: dict[str, dict[str, Any]] = {}
    if DETECTIONS_KEY in facts.metadata:
        try:
            specs.update(json.loads(facts.metadata[DETECTIONS_KEY]))
        except ValueError:
            pass
    for name, op_type in facts.output_producers.items():
        if op_type == "NonMaxSuppression":
            specs.setdefault(name, {"layout": "nms_indices"})
    if facts.metadata.get("end2end", "").lower() == "true" and facts.metadata.get("task") == "detect" \
            and facts.output_producers:
        # Ultralytics' NMS-free detectors: output 0 is [image, top-k, (x1, y1, x2, y2, score, class)]
        specs.setdefault(next(iter(facts.output_producers)), {"layout": ULTRALYTICS_END2END})
    return specs


ULTRALYTICS_END2END = "xyxy_score_class"


def _caffe_rows(value: Any) -> tuple[Any, int] | None:
    """Ultralytics' end-to-end rows ``[B, k, 6]`` as Caffe's ``[image, label, score, x1, y1, x2, y2]``, and k."""
    import numpy as np

    value = np.asarray(value, dtype=np.float64)
    if value.ndim != 3 or value.shape[-1] != 6:
        return None
    image = np.repeat(np.arange(value.shape[0], dtype=np.float64), value.shape[1])[:, None]
    rows = value.reshape(-1, 6)
    return np.concatenate([image, rows[:, 5:6], rows[:, 4:5], rows[:, :4]], axis=1), value.shape[1]


def _iou(a: Any, b: Any) -> float:
    """IoU of two corner boxes (normalised coordinates, no +1: Caffe's JaccardOverlap)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return inter / area if area > 0 else (1.0 if all(x == y for x, y in zip(a, b)) else 0.0)


def _rows(value: Any) -> Any:
    import numpy as np

    rows = np.asarray(value, dtype=np.float64).reshape(-1, 7) if np.asarray(value).size % 7 == 0 else None
    if rows is None:
        return None
    return rows[rows[:, 1] >= 0]  # Caffe writes -1 labels when an image has no detection


def _borderline(score: float, tol: float, info: Mapping[str, Any], other: Any, image: float) -> bool:
    threshold = info.get("confidence_threshold")
    if threshold is not None and abs(score - float(threshold)) <= tol:
        return True
    keep = int(info.get("keep_top_k", -1) or -1)
    same_image = other[other[:, 0] == image] if other is not None and len(other) else other
    if keep > 0 and same_image is not None and len(same_image) >= keep:
        return score <= float(same_image[:, 2].min()) + tol
    return False


def match_boxes(reference: Any, candidate: Any, atol: float, rtol: float,
                info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Match Caffe-style detection rows ``[image, label, score, x1, y1, x2, y2]`` one to one."""
    info = info or {}
    ref, cand = _rows(reference), _rows(candidate)
    if ref is None or cand is None:
        return {"passed": False, "problem": "rows are not [image, label, score, xmin, ymin, xmax, ymax]"}
    order = sorted(range(len(ref)), key=lambda i: -ref[i, 2])
    used = [False] * len(cand)
    pairs: list[tuple[int, int, float]] = []
    missing = []
    for i in order:
        best, best_iou = -1, MIN_IOU
        for j in range(len(cand)):
            if used[j] or cand[j, 0] != ref[i, 0] or cand[j, 1] != ref[i, 1]:
                continue
            iou = _iou(ref[i, 3:], cand[j, 3:])
            if iou >= best_iou:
                best, best_iou = j, iou
        if best < 0:
            missing.append(i)
        else:
            used[best] = True
            pairs.append((i, best, best_iou))
    extra = [j for j in range(len(cand)) if not used[j]]

    def at_the_cut(rows: Any, which: list[int], other: Any) -> set[int]:
        """The rows among ``which`` whose score sits on the threshold or at the keep_top_k cut (excused)."""
        return {i for i in which if _borderline(rows[i, 2], atol + rtol * abs(rows[i, 2]), info, other, rows[i, 0])}

    off = [i for i, j, _ in pairs if abs(ref[i, 2] - cand[j, 2]) > atol + rtol * abs(ref[i, 2])
           or (abs(ref[i, 3:] - cand[j, 3:]) > atol + rtol * abs(ref[i, 3:])).any()]
    # a box at the cut that is off was matched to a neighbour the other side kept instead of its own
    excused_missing, excused_extra, excused_off = at_the_cut(ref, missing, cand), at_the_cut(cand, extra, ref), \
        at_the_cut(ref, off, cand)
    borderline = len(excused_missing) + len(excused_extra) + len(excused_off)
    unexcused_missing, unexcused_extra = len(missing) - len(excused_missing), len(extra) - len(excused_extra)
    out_of_tol = len(off) - len(excused_off)
    judged = [(i, j) for i, j, _ in pairs if i not in excused_off]
    score_err = max((abs(ref[i, 2] - cand[j, 2]) for i, j in judged), default=0.0)
    box_err = max((float(abs(ref[i, 3:] - cand[j, 3:]).max()) for i, j in judged), default=0.0)
    passed = unexcused_missing == 0 and unexcused_extra == 0 and out_of_tol == 0
    return {
        "passed": passed, "reference": int(len(ref)), "candidate": int(len(cand)), "matched": len(pairs),
        "missing": unexcused_missing, "extra": unexcused_extra, "borderline": borderline,
        "out_of_tolerance": out_of_tol, "min_iou": round(min((iou for *_, iou in pairs), default=1.0), 6),
        "max_score_error": float(score_err), "max_box_error": float(box_err), "iou_threshold": MIN_IOU,
    }


def match_index_rows(reference: Any, candidate: Any) -> dict[str, Any]:
    """NonMaxSuppression's selected indices ``[n, 3]`` as sets of (batch, class, box)."""
    import numpy as np

    ref = {tuple(int(v) for v in row) for row in np.asarray(reference).reshape(-1, 3)}
    cand = {tuple(int(v) for v in row) for row in np.asarray(candidate).reshape(-1, 3)}
    return {"passed": ref == cand, "reference": len(ref), "candidate": len(cand), "matched": len(ref & cand),
            "missing": len(ref - cand), "extra": len(cand - ref), "borderline": 0}


def judge_detections(results: Sequence[OutputParity], reference: Mapping[str, Any], candidate: Mapping[str, Any],
                     specs: Mapping[str, Mapping[str, Any]], tolerances: Tolerances | None = None) -> None:
    """Re-judge the detection outputs among ``results`` as sets of boxes (sets ``rule`` and ``detections``)."""
    import numpy as np

    tolerances = tolerances or Tolerances()
    for res in results:
        info = specs.get(res.name)
        if info is None or res.name not in reference or res.name not in candidate or res.problem == "missing":
            continue
        atol, rtol = tolerances.for_output(res.name)
        ref, cand = reference[res.name], candidate[res.name]
        if info.get("layout") == "nms_indices":
            verdict = match_index_rows(ref, cand)
        elif info.get("layout") == ULTRALYTICS_END2END:
            pair = _caffe_rows(ref), _caffe_rows(cand)
            if pair[0] is None or pair[1] is None:
                continue  # not the layout the metadata promised: element-wise it stays
            verdict = match_boxes(pair[0][0], pair[1][0], atol, rtol, {"keep_top_k": pair[0][1]})
        else:
            verdict = match_boxes(ref, cand, atol, rtol, info)
        res.rule = RULE
        res.detections = verdict
        res.passed = bool(verdict["passed"])
        res.shape = list(np.shape(reference[res.name]))
        if "max_score_error" in verdict:
            res.max_abs = max(verdict["max_score_error"], verdict["max_box_error"])
        res.problem = "" if res.passed else (
            verdict.get("problem") or f"detections: {verdict['missing']} missing, {verdict['extra']} extra, "
            f"{verdict.get('out_of_tolerance', 0)} out of tolerance of {verdict['reference']}")
