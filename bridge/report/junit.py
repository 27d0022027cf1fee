"""JUnit XML from the JSON report, for CI test reporters (GitLab, Jenkins, GitHub actions).

One ``<testsuite>`` per parity stage (``tf/tensorflow/cpu vs torch``), one ``<testcase>`` per output. A failed
output carries its numbers in ``<failure message=...>`` because most reporters show only the message in their
summary view; the body repeats them one per line with the error histogram. A stage that could not run at all
(``error``) is one testcase with ``<error>``: JUnit's distinction between "wrong answer" and "did not run".

Input is the report *dict* (``ConversionResult.to_json()`` or a loaded report file), so a report written
yesterday renders the same as a live one. Non-finite numbers may arrive as strings ("nan", "inf").
"""

from __future__ import annotations

import math
import numbers
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.report._write import write_text_atomic

__all__ = ["junit_xml", "write_junit", "stage_name", "fmt_num"]

# XML 1.0 forbids most control characters; error messages captured from frameworks can hold ANSI escapes.
_XML_INVALID = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Report = Mapping[str, Any]


def _clean(text: Any) -> str:
    return _XML_INVALID.sub("", str(text))


def stage_name(stage: Mapping[str, Any]) -> str:
    """``format/runtime/device vs reference``: the suite name, and the classname of its testcases."""
    return (f"{stage.get('label', stage.get('format', '?'))}/{stage.get('runtime', '?')}/{stage.get('device', '?')}"
            f" vs {stage.get('reference', '?')}")


def fmt_num(value: Any) -> str:
    """Compact number for messages; strings (the report's "nan"/"inf") and None pass through."""
    if value is None:
        return "-"
    # numbers.* rather than int/float: a live report (not read back from JSON) may hold numpy scalars.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    return f"{value:.3g}"


def _mismatch(out: Mapping[str, Any]) -> str:
    ratio = out.get("mismatch_ratio")
    if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not math.isfinite(ratio):
        return f"mismatch {fmt_num(ratio)}"
    text = f"mismatch {ratio:.2%}"
    shape = out.get("shape")
    if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
        size = math.prod(shape)
        text += f" ({round(ratio * size)} of {size})"
    return text


def _failure_message(out: Mapping[str, Any]) -> str:
    parts = []
    if out.get("problem"):
        parts.append(str(out["problem"]))
    if "min_snr_db" in out:  # judged by the quantized rule: SNR and cosine, not tolerances
        parts.append(f"snr {fmt_num(out.get('snr_db'))} dB (min {fmt_num(out.get('min_snr_db'))})")
        parts.append(f"cosine {fmt_num(out.get('cosine'))} (min {fmt_num(out.get('min_cosine'))})")
        return "; ".join(parts)
    if out.get("rule") == "calibrated":
        parts.append(f"error {fmt_num(out.get('error'))} = {fmt_num(out.get('noise_ratio'))}x the noise floor "
                     f"{fmt_num(out.get('noise_floor'))} (limit {fmt_num(out.get('noise_factor'))}x)")
    parts.append(f"max_abs {fmt_num(out.get('max_abs'))} (atol {fmt_num(out.get('atol'))})")
    parts.append(f"max_rel {fmt_num(out.get('max_rel'))} (rtol {fmt_num(out.get('rtol'))})")
    parts.append(_mismatch(out))
    if out.get("worst_index") is not None:
        parts.append(f"worst index {list(out['worst_index'])}")
    if out.get("nonfinite_mismatches"):
        parts.append(f"{out['nonfinite_mismatches']} non-finite mismatches")
    return "; ".join(parts)


def _failure_details(out: Mapping[str, Any]) -> str:
    keys = ("problem", "max_abs", "max_rel", "mean_abs", "cosine", "mismatch_ratio", "worst_index",
            "nonfinite_mismatches", "atol", "rtol", "rule", "error", "noise_floor", "noise_ratio", "noise_factor",
            "noise_limit", "shape", "dtype")
    lines = [f"{k}: {fmt_num(out[k]) if not isinstance(out[k], list) else out[k]}" for k in keys if k in out]
    hist = out.get("histogram")
    if isinstance(hist, Mapping) and hist.get("counts"):
        lines.append("abs error per decade:")
        edges, counts = hist.get("edges", []), hist["counts"]
        for i, count in enumerate(counts):
            lo = fmt_num(edges[i]) if i < len(edges) else "?"
            hi = fmt_num(edges[i + 1]) if i + 1 < len(edges) else "?"
            lines.append(f"  [{lo}, {hi}): {count}")
    return "\n".join(lines)


def _suite(parent: ET.Element, name: str, properties: Mapping[str, Any]) -> ET.Element:
    suite = ET.SubElement(parent, "testsuite", name=_clean(name))
    props = ET.SubElement(suite, "properties")
    for key, value in properties.items():
        if value not in (None, ""):
            ET.SubElement(props, "property", name=key, value=_clean(value))
    return suite


def _add_stage(root: ET.Element, report: Report, stage: Mapping[str, Any], prefix: str) -> None:
    name = prefix + stage_name(stage)
    source = report.get("source") or {}
    suite = _suite(root, name, {
        "source": source.get("path"), "source_format": source.get("format"),
        "bridge_version": report.get("bridge_version"), "format": stage.get("format"),
        "runtime": stage.get("runtime"), "device": stage.get("device"), "reference": stage.get("reference"),
    })
    if stage.get("error"):
        case = ET.SubElement(suite, "testcase", classname=_clean(name), name="run", time="0")
        message = _clean(stage["error"])
        err = ET.SubElement(case, "error", message=message.splitlines()[0] if message else "error", type="StageError")
        err.text = message
    for out in stage.get("outputs") or []:
        case = ET.SubElement(suite, "testcase", classname=_clean(name), name=_clean(out.get("name", "?")), time="0")
        if stage.get("advisory"):  # a --keep-float baseline: reported, not judged
            ET.SubElement(case, "skipped", message=_clean(f"baseline for --keep-float; {_failure_message(out)}"))
            continue
        if not out.get("passed", False):
            fail = ET.SubElement(case, "failure", message=_clean(_failure_message(out)), type="ParityFailure")
            fail.text = _clean(_failure_details(out))


def _add_latency(root: ET.Element, report: Report, prefix: str) -> None:
    """Bench entries that carry a verdict (a latency baseline check) become testcases too; others are data."""
    judged = [b for b in report.get("bench") or [] if isinstance(b.get("passed"), bool)]
    if not judged:
        return
    name = prefix + "latency"
    suite = _suite(root, name, {"bridge_version": report.get("bridge_version")})
    for entry in judged:
        case_name = (f"{entry.get('format', '?')}/{entry.get('runtime', '?')}/{entry.get('device', '?')}"
                     f" batch {entry.get('batch', '?')}")
        case = ET.SubElement(suite, "testcase", classname=_clean(name), name=_clean(case_name), time="0")
        if not entry["passed"]:
            numbers = "; ".join(f"{k} {fmt_num(v)}" for k, v in entry.items()
                                if k not in ("format", "runtime", "device", "batch", "passed"))
            fail = ET.SubElement(case, "failure", message=_clean(numbers), type="LatencyRegression")
            fail.text = _clean(numbers.replace("; ", "\n"))


def _count(suite: ET.Element) -> tuple[int, int, int]:
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("time", "0")
    return len(cases), failures, errors


def junit_xml(report: Report | Sequence[Report]) -> str:
    """JUnit XML text for one report dict, or for a list of them (one per model, as ``bridge check`` makes).

    With a list, suite names are prefixed with each report's source path so suites from different models
    stay apart in the CI view.
    """
    reports = [report] if isinstance(report, Mapping) else list(report)
    root = ET.Element("testsuites", name="bridge")
    for rep in reports:
        prefix = f"{(rep.get('source') or {}).get('path', '?')}: " if len(reports) > 1 else ""
        for stage in rep.get("parity") or []:
            _add_stage(root, rep, stage, prefix)
        _add_latency(root, rep, prefix)
    totals = [0, 0, 0]
    for suite in root.findall("testsuite"):
        for i, n in enumerate(_count(suite)):
            totals[i] += n
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: Report | Sequence[Report], path: str | Path) -> Path:
    """Write :func:`junit_xml` to ``path`` atomically; returns the path."""
    return write_text_atomic(junit_xml(report), path)
