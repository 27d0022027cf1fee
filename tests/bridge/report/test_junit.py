import xml.etree.ElementTree as ET

from bridge.report.junit import junit_xml, write_junit


def test_suites_cases_and_counts(report, tmp_path):
    path = write_junit(report, tmp_path / "sub" / "report.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "onnx/onnxruntime/cpu vs torch", "tf/tensorflow/cpu vs torch", "tflite/tflite/cpu vs torch"]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "2", "1")
    tf_suite = suites[1]
    assert (tf_suite.get("tests"), tf_suite.get("failures"), tf_suite.get("errors")) == ("3", "2", "0")
    cases = tf_suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["logits", "probs<&>", "nan_out"]
    assert all(c.get("classname") == "tf/tensorflow/cpu vs torch" for c in cases)
    assert cases[0].find("failure") is None
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left behind


def test_failure_message_carries_the_numbers(report):
    root = ET.fromstring(junit_xml(report))
    case = root.find("testsuite/testcase[@name='probs<&>']")
    failure = case.find("failure")
    message = failure.get("message")
    assert "max_abs 0.5" in message and "atol 0.0001" in message and "rtol 0.001" in message
    assert "worst index [1, 3]" in message and "mismatch 7.50% (3 of 40)" in message
    assert "[0.1, 1): 1" in failure.text  # histogram in the body
    nan_case = root.find("testsuite/testcase[@name='nan_out']/failure")
    assert "1 non-finite" in nan_case.get("message")


def test_stage_error_is_an_error_case(report):
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite[@name='tflite/tflite/cpu vs torch']")
    (case,) = suite.findall("testcase")
    error = case.find("error")
    assert error.get("message") == "RuntimeError: <boom> & [31mred"  # first line, control chars dropped
    assert "line two" in error.text


def test_problem_output_and_several_reports(report):
    stage = {"format": "tf", "runtime": "tensorflow", "device": "cpu", "reference": "onnxruntime", "passed": False,
             "outputs": [{"name": "y", "passed": False, "problem": "missing", "max_abs": 0.0, "atol": 1e-4}]}
    other = {"source": {"path": "b.onnx", "format": "onnx"}, "parity": [stage], "bench": [], "passed": False}
    root = ET.fromstring(junit_xml([report, other]))
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names[-1] == "b.onnx: tf/tensorflow/cpu vs onnxruntime"
    assert names[0].startswith("fixtures/m.py:Net")
    assert root.find("testsuite/testcase[@name='y']/failure").get("message").startswith("missing; max_abs 0")
    assert root.get("tests") == "6"


def test_judged_bench_entries_become_latency_cases(report):
    report["bench"][0]["passed"] = False
    report["bench"][0]["baseline_p50_ms"] = 0.5
    report["bench"][1]["passed"] = True
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite[@name='latency']")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    assert "baseline_p50_ms 0.5" in suite.find("testcase/failure").get("message")


def test_live_report_with_numpy_scalars_and_nan(report):
    import numpy as np

    out = report["parity"][1]["outputs"][1]
    out.update(max_abs=np.float32(0.5), mismatch_ratio=float("nan"), atol=np.float64(1e-4), shape=[np.int64(4), 10])
    message = ET.fromstring(junit_xml(report)).find("testsuite/testcase[@name='probs<&>']/failure").get("message")
    assert "max_abs 0.5" in message and "mismatch nan" in message and "atol 0.0001" in message
