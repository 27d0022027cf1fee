"""The Python API: the same functions the CLI calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.errors import UnsupportedError, UsageError, first_line
from bridge.inputs import parse_shape_sets, resolve_inputs, unsized_hint
from bridge.model import Artifact, ConvertOptions, InputSpec, Model
from bridge.pipeline import parse_targets, plan, run_conversions
from bridge.progress import Progress
from bridge.quantize import (calibration_batches, check_quantize_options, load_calibration, parse_modes,
                             quantize_request)
from bridge.result import ConversionResult
from bridge.runtimes import check_device
from bridge.sources import load_source
from bridge.verify.compare import StageParity, Tolerances
from bridge.verify.harness import describe_feeds, verify_artifacts

__all__ = ["convert", "verify", "bench", "ConversionResult"]

ShapeSets = Sequence[Sequence[str | InputSpec]] | str


def _load(source: Any, weights: str | Path | None, trust_pickle: bool) -> Model:
    model = load_source(source)
    if weights is not None and model.format == "caffe":
        from bridge.sources_caffe import with_caffe_weights

        return with_caffe_weights(model, weights)
    if weights is not None:
        if model.format != "torch":
            raise UsageError(f"--weights loads into a PyTorch module; {model.path} is {model.format}")
        from bridge.weights import load_weights

        load_weights(model.handle, weights, trust_pickle)
    return model


def _specs(input_shapes: Sequence[str | InputSpec]) -> list[InputSpec]:
    from bridge.inputs import parse_input_shape

    return [s if isinstance(s, InputSpec) else parse_input_shape(s) for s in input_shapes]


def _feed_sets(model: Model, inputs: Any, input_shapes: Sequence[str | InputSpec], shapes: ShapeSets | None,
               seed: int, ranges: Mapping[str, tuple[float, float]] | None) -> list[dict[str, Any]]:
    """The first set is what conversion traces with; every set is verified."""
    sets = [resolve_inputs(model, inputs, _specs(input_shapes), seed, ranges)]
    if inputs is None and not input_shapes and not shapes and model.example_inputs is None:
        model.warnings.extend(n for n in model.input_notes if n not in model.warnings)
    if not model.input_names:
        model.input_names = list(sets[0])
    if shapes:
        parsed = parse_shape_sets(shapes) if isinstance(shapes, str) else [_specs(s) for s in shapes]
        sets = [resolve_inputs(model, None, specs, seed, ranges) for specs in parsed]
    return sets


def _auto_dynamic(sets: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, str]]:
    """Axes whose size differs between input sets are dynamic."""
    dynamic: dict[str, dict[int, str]] = {}
    for name, first in sets[0].items():
        for axis, size in enumerate(getattr(first, "shape", ())):
            if any(getattr(s[name], "shape", ())[axis] != size for s in sets[1:]):
                dynamic.setdefault(name, {})[axis] = f"{name}_dim{axis}"
    return dynamic


def convert(
    source: Any,
    to: str | Sequence[str] = ("onnx", "tf"),
    out_dir: str | Path = "bridge-out",
    inputs: Any = None,
    *,
    input_shapes: Sequence[str | InputSpec] = (),
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    shapes: ShapeSets | None = None,
    dynamic: Mapping[str, Mapping[int, str]] | None = None,
    opset: int | None = None,
    verify: bool = True,
    device: str = "cpu",
    tolerances: Tolerances | None = None,
    seed: int = 0,
    force: bool = False,
    quiet: bool = True,
    bench_batches: Sequence[int | None] = (),
    threads: Sequence[int | None] = (None,),
    bench_rounds: int = 5,
    bench_isolate: bool = True,
    localize: bool | None = None,
    weights: str | Path | None = None,
    trust_pickle: bool = False,
    trainable: bool = False,
    gradients: bool = False,
    loss: Any = None,
    train_steps: int = 0,
    xla: bool = False,
    quantize: str | Sequence[str] | None = None,
    calibration: str | Path | Mapping[str, Any] | None = None,
    int8_io: bool = False,
    keep_float: Sequence[str] = (),
    min_snr: float | Mapping[str, float] | None = None,
    min_cosine: float | Mapping[str, float] | None = None,
) -> ConversionResult:
    """Convert ``source`` (a SOURCE string, a path, or a live ``nn.Module``) to every format in ``to``.

    ``inputs`` may be a path to an ``.npz``, a dict of arrays by input name, or a sequence of arrays or
    tensors. ``shapes`` (``"x:1x3x64x64;x:4x3x96x96"`` or a list of spec lists) verifies at several input
    shapes; axes that differ between them are exported as dynamic. Artifacts land in ``out_dir`` together
    or not at all. With ``verify``, each artifact runs on the same inputs as the source and every output
    is compared; ``bench_batches`` also times every runtime at those batch sizes (None: the inputs as given). ``localize`` names the first
    ONNX node where TensorFlow leaves tolerance (None: only when a TensorFlow artifact fails). ``weights``
    (``.safetensors`` or a ``.pt`` state dict) is loaded into the module first; for a Caffe
    ``deploy.prototxt`` SOURCE it is the ``.caffemodel``. ``trainable`` writes the SavedModel with trainable
    variables and a ``forward(..., training)`` signature; ``gradients`` (which implies it) compares gradients
    of ``loss`` (a ``bridge.verify.gradients.LossSpec``; default: the sum of the outputs) in PyTorch and
    TensorFlow; ``train_steps`` runs that many SGD and Adam steps in both. ``xla`` compiles the SavedModel's
    serving function with XLA (``jit_compile``).

    ``quantize`` (``"fp16"``, ``"dynamic"``, ``"int8"``, ``"int8x16"`` or a list) adds one quantized TFLite per
    mode beside the float one, each judged by SNR and cosine (``min_snr``/``min_cosine``: a number for every
    mode or a dict by mode) over ``calibration`` (an ``.npz``, a folder of them, or arrays by input name, first
    axis = samples), which also calibrates the integer modes. ``int8_io`` keeps integer inputs and outputs;
    ``keep_float`` (globs on module or node names) adds an int8 artifact with those layers left in float.
    """
    targets = parse_targets(to)
    modes = parse_modes(quantize)
    check_quantize_options(modes, targets, calibration, int8_io, keep_float)
    model = _load(source, weights, trust_pickle)
    steps = plan(model.format, targets)
    if gradients or train_steps:
        _check_training(model, [s.target for s in steps], train_steps)
        trainable = True
    sets = _feed_sets(model, inputs, input_shapes, shapes, seed, input_ranges)
    check_device(device)
    dyn = {k: dict(v) for k, v in (dynamic or {}).items()} or _auto_dynamic(sets)
    progress = Progress(quiet=quiet)
    # Trace with the largest input set: size-1 axes get specialised by torch.export.
    trace_feeds = max(sets, key=lambda f: sum(getattr(v, "size", 1) for v in f.values()))
    options = ConvertOptions(feeds=trace_feeds, opset=opset, dynamic=dyn, jit_compile=xla,
                             extra={"trainable": True} if trainable else {})
    request = None
    if modes:
        request = quantize_request(modes, calibration, int8_io, keep_float, trace_feeds, dyn, seed, input_ranges)
        options.variants["tflite"] = request.variants()
        options.extra.update(request.extra())
    references = _early_references(model, sets, device, progress) if verify else None
    given = inputs is not None or input_shapes or shapes or model.example_inputs is not None
    unsized = "" if given else unsized_hint(model.input_specs)
    try:
        artifacts = run_conversions(model, steps, Path(out_dir), options, force=force, progress=progress)
    except UnsupportedError as exc:  # shapes were specialised to random inputs sized 1 where the model is dynamic
        if not unsized:
            raise
        raise UnsupportedError(f"{exc}; {unsized}") from exc
    result = ConversionResult(source=model, inputs=sets[0], artifacts=artifacts)
    _attach_graph_figures(artifacts, result)
    calibrated = [a.label for a in artifacts if str(a.meta.get("report", {}).get("calibration", "")).startswith("generated")]
    if calibrated:
        result.notes.append(f"{', '.join(calibrated)} calibrated on generated random inputs; real data gives real "
                            "scales: pass --calibration FILE.npz")
    if verify:
        with progress.step("verifying parity"):
            result.parity = _verify_sets(model, artifacts, sets, tolerances, device, references)
            if request is not None:
                _verify_quantized_into(result, request.calibration, min_snr, min_cosine, device)
        if unsized and result.first_failure:  # a window wider than a size-1 axis, say: the size may be the cause
            result.notes.append(f"parity failed where {unsized}")
        with progress.step("localising"):
            _localize_into(result, sets, tolerances, localize, request.calibration if request is not None else None)
    if gradients or train_steps:
        with progress.step("gradients"):
            _training_into(result, gradients, loss, train_steps, tolerances)
    if bench_batches:
        with progress.step("benchmarking"):
            _bench_into(result, [model, *artifacts], sets[0], device, bench_batches, threads,
                        rounds=bench_rounds, isolate=bench_isolate)
    return result


def _check_training(model: Model, formats: Sequence[str], train_steps: int) -> None:
    if model.format != "torch":
        raise UsageError(f"--gradients and --train-steps compare with PyTorch's autograd; {model.path} is "
                         f"{model.format}, not a PyTorch module")
    if "tf" not in formats:
        raise UsageError("--gradients and --train-steps run the trainable SavedModel; add tf to --to")
    if train_steps < 0:
        raise UsageError(f"--train-steps {train_steps} must be positive")


def _training_into(result: ConversionResult, gradients: bool, loss: Any, train_steps: int,
                   tolerances: Tolerances | None) -> None:
    """Gradient parity and training-step parity on the first input set, against the trainable SavedModel."""
    from bridge.verify.gradients import LossSpec, gradient_parity
    from bridge.verify.training import train_steps_parity

    spec = loss if isinstance(loss, LossSpec) else LossSpec(loss or "sum")
    factor = (tolerances or Tolerances()).noise_factor
    saved = next(a for a in result.artifacts if a.format == "tf")
    if gradients:
        result.gradients, result.gradient_notes = gradient_parity(result.source.handle, saved, result.inputs, spec, factor)
    if train_steps:
        result.train_steps = train_steps_parity(result.source.handle, saved, result.inputs, spec, train_steps, factor)


def _early_references(model: Model, sets: Sequence[dict[str, Any]], device: str,
                      progress: Progress) -> list[dict[str, Any]] | None:
    """A big ONNX source runs in ONNX Runtime before TensorFlow loads: TensorFlow's CPU allocator keeps what
    it once held, so the two runtimes' copies of the weights would otherwise add up. Failures are left to
    verification, after conversion has reported what it cannot convert."""
    from bridge.errors import ParityError
    from bridge.verify.harness import KEEP_RUNNER_BYTES, reference_outputs

    if model.format != "onnx" or Artifact(format="onnx", path=Path(model.path)).size_bytes < KEEP_RUNNER_BYTES:
        return None
    try:
        with progress.step("running the source"):
            return [reference_outputs(model, feeds, device) for feeds in sets]
    except ParityError:
        return None


def _figures(path: Any, fmt: str) -> dict[str, Any] | None:
    from bridge.inspect.figures import graph_figures

    try:
        figures = graph_figures(path, fmt)
    except Exception as exc:  # a figure is a report detail: it never fails a conversion
        return {"error": first_line(exc)}
    return None if figures is None else figures.to_json()


def _attach_graph_figures(artifacts: Sequence[Artifact], result: ConversionResult | None = None) -> None:
    """Op count, transposes, casts, Flex ops and XNNPACK coverage of each artifact (and of an ONNX source),
    read without the weights."""
    for artifact in artifacts:
        if artifact.graph is None:
            artifact.graph = _figures(artifact.path, artifact.format)
    if result is not None and result.source.format == "onnx" and result.source_graph is None:
        result.source_graph = _figures(result.source.path, "onnx")


def _verify_quantized_into(result: ConversionResult, samples: Sequence[Mapping[str, Any]],
                           min_snr: float | Mapping[str, float] | None,
                           min_cosine: float | Mapping[str, float] | None, device: str) -> None:
    from bridge.verify.quant import QuantThresholds, summarize, verify_quantized

    result.parity += verify_quantized(result.source, result.artifacts, samples, QuantThresholds.from_options(min_snr, min_cosine), device)
    result.quantization = summarize(result.parity, result.artifacts, result.source.format)


def _verify_sets(model: Model, artifacts: Sequence[Artifact], sets: Sequence[dict[str, Any]],
                 tolerances: Tolerances | None, device: str,
                 references: Sequence[Mapping[str, Any]] | None = None) -> list[StageParity]:
    runners: dict[str, Any] = {}
    parity: list[StageParity] = []
    for i, feeds in enumerate(sets):
        label = describe_feeds(feeds) if len(sets) > 1 else ""
        parity += verify_artifacts(model, artifacts, feeds, tolerances, device, label, runners,
                                   reference=references[i] if references is not None else None)
    return parity


def verify(
    artifacts: Sequence[str | Path | Artifact],
    reference: Any,
    inputs: Any = None,
    *,
    input_shapes: Sequence[str | InputSpec] = (),
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    shapes: ShapeSets | None = None,
    device: str = "cpu",
    tolerances: Tolerances | None = None,
    seed: int = 0,
    localize: bool | None = None,
    weights: str | Path | None = None,
    trust_pickle: bool = False,
    gradients: bool = False,
    loss: Any = None,
    train_steps: int = 0,
    calibration: str | Path | Mapping[str, Any] | None = None,
    min_snr: float | Mapping[str, float] | None = None,
    min_cosine: float | Mapping[str, float] | None = None,
) -> ConversionResult:
    """Check existing artifacts against a reference SOURCE without converting anything (``gradients`` and
    ``train_steps`` as in :func:`convert`, on a SavedModel converted with ``trainable``).

    Quantized TFLite artifacts (recognised by bridge's metadata or by their kernels) are judged by SNR and
    cosine over ``calibration`` samples when given, else over the verification inputs.
    """
    from bridge.artifacts import open_artifact

    model = _load(reference, weights, trust_pickle)
    opened = [a if isinstance(a, Artifact) else open_artifact(a) for a in artifacts]
    if gradients or train_steps:
        _check_training(model, [a.format for a in opened], train_steps)
    sets = _feed_sets(model, inputs, input_shapes, shapes, seed, input_ranges)
    check_device(device)
    result = ConversionResult(source=model, inputs=sets[0], artifacts=opened)
    _attach_graph_figures(opened, result)
    result.parity = _verify_sets(model, opened, sets, tolerances, device)
    quantized = any(a.meta.get("quantize") for a in opened)
    samples = sets
    if quantized:
        if calibration is not None:
            loaded = calibration if isinstance(calibration, Mapping) else load_calibration(calibration, list(sets[0]))
            samples = calibration_batches(loaded, sets[0])
        _verify_quantized_into(result, samples, min_snr, min_cosine, device)
    _localize_into(result, sets, tolerances, localize, samples if quantized else None)
    if gradients or train_steps:
        _training_into(result, gradients, loss, train_steps, tolerances)
    return result


def _localize_into(result: ConversionResult, sets: Sequence[dict[str, Any]], tolerances: Tolerances | None,
                   localize: bool | None, samples: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Find the first diverging node: ONNX against torch (by module) or Caffe (by layer), and TensorFlow
    against ONNX (by node); rank a quantized TFLite's layers by the SNR each loses."""
    from bridge.verify.localize import localize_onnx, localize_tf

    if localize is False:
        return
    if samples:
        _localize_quantized(result, samples, localize)
    onnx_path = next((a.path for a in result.artifacts if a.format == "onnx"), None)
    if onnx_path is None and result.source.format == "onnx":
        onnx_path = result.source.path
    if onnx_path is None:
        return
    formats = {a.format for a in result.artifacts}
    for feeds in sets:
        label = describe_feeds(feeds) if len(sets) > 1 else ""
        failed = {p.format for p in result.parity if p.inputs == label and not p.passed}
        if result.source.format == "torch" and "onnx" in formats and (localize or "onnx" in failed):
            result.localization.append(localize_onnx(result.source.handle, onnx_path, feeds, tolerances))
        if result.source.format == "caffe" and "onnx" in formats and (localize or "onnx" in failed):
            from bridge.verify.localize_caffe import localize_caffe

            result.localization.append(localize_caffe(result.source, onnx_path, feeds, tolerances))
        if "tf" in formats and (localize or "tf" in failed):
            result.localization.append(localize_tf(onnx_path, feeds, tolerances))


def _localize_quantized(result: ConversionResult, samples: Sequence[Mapping[str, Any]], localize: bool | None) -> None:
    """Per-layer SNR of each quantized TFLite against the float one: every one with ``localize``, else those
    whose verdict failed (a keep-float baseline included, since it is what the fix answers)."""
    from bridge.verify.quant_layers import localize_quantized

    float_tflite = next((a for a in result.artifacts if a.format == "tflite" and not a.meta.get("quantize")), None)
    if float_tflite is None:
        return
    onnx_path = next((a.path for a in result.artifacts if a.format == "onnx"), None)
    if onnx_path is None and result.source.format == "onnx":
        onnx_path = result.source.path
    failed = {p.label for p in result.parity if p.quantize and not p.passed}
    for artifact in result.artifacts:
        if artifact.meta.get("quantize") and (localize or artifact.label in failed):
            result.localization.append(localize_quantized(float_tflite.path, artifact.path, samples, artifact.label,
                                                          onnx_path, float_tflite.meta.get("inputs")))


def bench(
    targets: Sequence[Any],
    inputs: Any = None,
    *,
    input_shapes: Sequence[str | InputSpec] = (),
    input_ranges: Mapping[str, tuple[float, float]] | None = None,
    batches: Sequence[int | None] = (None,),
    threads: Sequence[int | None] = (None,),
    device: str = "cpu",
    seed: int = 0,
    runs: int | None = None,
    min_seconds: float = 1.0,
    rounds: int = 5,
    isolate: bool = True,
) -> ConversionResult:
    """Latency percentiles and throughput of each SOURCE or artifact, per batch size and thread count.

    Each artifact runs alone in its own process with the same intra-op threads as every other runtime
    (None: the CPUs this process may use), in ``rounds`` alternating rounds; ``runs`` or ``min_seconds``
    is the total per case. Ratios to ONNX Runtime are medians of per-round ratios (see
    ``bridge.verify.bench_rounds``). ``isolate=False`` times everything in this process instead.
    """
    from bridge.artifacts import open_artifact

    if not targets:
        raise UsageError("nothing to benchmark; name an artifact or SOURCE")
    opened: list[Any] = []
    for target in targets:
        if isinstance(target, (Artifact, Model)):
            opened.append(target)
        elif isinstance(target, (str, Path)) and (Path(target).is_dir() or Path(target).suffix in (".tflite", ".pt2", ".pt", ".ts")):
            opened.append(open_artifact(target))
        else:
            opened.append(load_source(target))
    check_device(device)
    first = opened[0] if isinstance(opened[0], Model) else _model_for(opened[0])
    feeds = resolve_inputs(first, inputs, _specs(input_shapes), seed, input_ranges)
    result = ConversionResult(source=first, inputs=feeds, artifacts=[t for t in opened if isinstance(t, Artifact)])
    _attach_graph_figures(result.artifacts, result)
    _bench_into(result, opened, feeds, device, batches, threads, runs, min_seconds, rounds, isolate)
    return result


def _model_for(artifact: Artifact) -> Model:
    """A stand-in source for feed generation: the artifact's own declared inputs."""
    from bridge.runtimes import load_runner

    runner = load_runner(artifact)
    return Model(format=artifact.format, handle=None, path=str(artifact.path), stem=Path(artifact.path).stem,
                 input_names=runner.input_names, input_specs=list(runner.input_specs))


def _bench_into(result: ConversionResult, targets: Sequence[Any], feeds: Mapping[str, Any], device: str,
                batches: Sequence[int | None], threads: Sequence[int | None], runs: int | None = None,
                min_seconds: float = 1.0, rounds: int = 5, isolate: bool = True) -> None:
    from bridge.verify.bench_rounds import BenchPlan, run_bench
    from bridge.verify.denormal import denormal_warnings
    from bridge.verify.quant import ratios_to_float

    plan = BenchPlan(batches=batches, threads=threads, runs=runs, min_seconds=min_seconds, rounds=rounds,
                     isolate=isolate)
    outcome = run_bench(targets, feeds, device, plan)
    ratios_to_float(outcome.entries)
    result.bench += outcome.entries
    if result.harness_overhead_ms is None:
        result.harness_overhead_ms = outcome.harness_overhead_ms
    result.bench_warnings += denormal_warnings(targets, feeds)
