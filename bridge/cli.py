"""The ``bridge`` command line. Thin: parse options, call the API, print, exit with the contract's code.

Nothing here imports torch or TensorFlow at start-up; ``bridge --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from bridge._version import __version__
from bridge.errors import BridgeError, EXIT_INTERNAL, UsageError, first_line

__all__ = ["main", "cli"]


def _fail(exc: BridgeError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(exc.exit_code)


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn BridgeErrors into one line and their exit code; other errors are bugs: one line, exit 4."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BridgeError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo("error: interrupted; nothing was written", err=True)
            sys.exit(130)
        except Exception as exc:
            if os.environ.get("BRIDGE_DEBUG"):
                raise
            first = first_line(exc)
            click.echo(f"error: internal error {type(exc).__name__}: {first} (rerun with BRIDGE_DEBUG=1 for a traceback and report it)", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


def _tolerances(values: Sequence[str], option: str) -> tuple[float | None, dict[str, float]]:
    default: float | None = None
    per: dict[str, float] = {}
    for text in values:
        name, _, num = text.rpartition(":")
        try:
            value = float(num)
        except ValueError:
            raise UsageError(f"malformed {option} '{text}'; expected a number or NAME:NUMBER") from None
        if value < 0:
            raise UsageError(f"{option} '{text}' is negative")
        if name:
            per[name] = value
        else:
            default = value
    return default, per


def _build_tolerances(atol: Sequence[str], rtol: Sequence[str], noise_factor: float = 8.0) -> Any:
    from bridge.verify.compare import Tolerances

    a, per_a = _tolerances(atol, "--atol")
    r, per_r = _tolerances(rtol, "--rtol")
    if not noise_factor > 0:
        raise UsageError(f"--noise-factor {noise_factor:g} must be positive (default 8)")
    tol = Tolerances(per_output_atol=per_a, per_output_rtol=per_r, noise_factor=noise_factor)
    if a is not None:
        tol.atol = a
    if r is not None:
        tol.rtol = r
    tol.explicit = a is not None or r is not None  # a default atol/rtol: every output by the fixed rule
    return tol


def _input_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--inputs", "inputs", type=click.Path(dir_okay=False), help="Inputs .npz: arrays keyed by input name (or in_0, in_1, ...)."),
        click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:1x3x224x224[:dtype]", help="Random input of this shape (repeatable)."),
        click.option("--input-range", "input_ranges", multiple=True, metavar="NAME:LOW:HIGH", help="Draw random values for NAME from [LOW, HIGH), e.g. token ids."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed for random inputs."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True),
        click.option("--atol", multiple=True, metavar="X|NAME:X", help="Absolute tolerance (default 1e-4), per output with NAME:X; switches those outputs to the fixed rule."),
        click.option("--rtol", multiple=True, metavar="Y|NAME:Y", help="Relative tolerance (default 1e-3), per output with NAME:Y; switches those outputs to the fixed rule."),
        click.option("--noise-factor", "noise_factor", type=float, default=8.0, show_default=True, help="Calibrated rule (the default for PyTorch sources): pass within this many times the source's own float32 error against float64."),
        click.option("--shapes", metavar="'x:1x3x64x64;x:4x3x96x96'", help="Verify at several input shapes (sets split by ';', inputs by ',')."),
        click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the JSON report here."),
        click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write a JUnit XML report here."),
        click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a self-contained HTML report with plots here."),
        click.option("--weights", type=click.Path(dir_okay=False), help="Trained weights for the module: .safetensors (preferred) or a .pt/.pth state dict; for a Caffe prototxt, its .caffemodel."),
        click.option("--trust-pickle", is_flag=True, help="Allow --weights pickles beyond plain tensors (runs the pickle's code: only for files you trust)."),
        click.option("--localize", is_flag=True, default=None, help="Name the first ONNX node where TensorFlow diverges, or Caffe layer where ONNX does, and rank a quantized TFLite's layers by the SNR each loses (automatic when an artifact fails)."),
        click.option("--quiet", is_flag=True, help="No progress output."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _training_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--gradients", is_flag=True, help="Compare gradients of the loss w.r.t. every input and parameter: PyTorch autograd against tf.GradientTape on the trainable SavedModel (implies --trainable)."),
        click.option("--loss", type=click.Choice(["sum", "mse", "cross_entropy"]), default="sum", show_default=True, help="Loss for --gradients and --train-steps: sum of outputs, MSE against --labels (or zeros), cross-entropy over the last axis against --labels."),
        click.option("--labels", type=click.Path(dir_okay=False), help="Targets .npz for --loss, keyed by output name (class indices for cross_entropy)."),
        click.option("--train-steps", "train_steps", type=click.IntRange(min=0), default=0, help="Run N steps of SGD and of Adam in PyTorch and TensorFlow from the same weights; compare loss curves and parameter drift."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _defaults(which: int) -> str:
    from bridge.verify.quant import DEFAULTS

    return ", ".join(f"{mode} {bounds[which]:g}" for mode, bounds in DEFAULTS.items())


def _verdict_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """How quantized artifacts are judged (shared by convert and verify)."""
    options = [
        click.option("--calibration", type=click.Path(), metavar="FILE.npz|FOLDER",
                     help="Samples (arrays keyed by input name, first axis = samples; or a folder of .npz/.npy) that "
                          "calibrate int8/int8x16 and on which quantized artifacts are judged."),
        click.option("--min-snr", "min_snr", multiple=True, metavar="DB|MODE:DB",
                     help=f"Quantized artifacts pass at this SNR in dB or more (defaults: {_defaults(0)})."),
        click.option("--min-cosine", "min_cosine", multiple=True, metavar="C|MODE:C",
                     help=f"...and this cosine similarity or more (defaults: {_defaults(1)})."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _loss(loss: str, labels: str | None) -> Any:
    from bridge.verify.gradients import LossSpec, load_labels

    return LossSpec(loss, load_labels(labels) if labels else {})


def _quant_thresholds(min_snr: Sequence[str], min_cosine: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
    from bridge.verify.quant import parse_thresholds

    return parse_thresholds(min_snr, "--min-snr"), parse_thresholds(min_cosine, "--min-cosine")


def _bench_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--isolate/--in-process", "isolate", default=True, show_default=True,
                      help="Time each artifact alone in its own process (--in-process: all here, ONNX Runtime's spinning off).")(fn)
    fn = click.option("--rounds", type=click.IntRange(min=1), default=5, show_default=True,
                      help="Alternating rounds over the runtimes; ratios to ONNX Runtime are medians of per-round ratios.")(fn)
    fn = click.option("--threads", "threads", type=click.IntRange(min=1), multiple=True,
                      help="Intra-op threads, the same for every runtime (repeatable; default: the CPUs available).")(fn)
    return click.option("--batch", "batches", type=int, multiple=True, help="Batch size to time, repeating the first sample (repeatable; default: the inputs as given).")(fn)


def _ranges(values: Sequence[str]) -> dict[str, tuple[float, float]]:
    from bridge.inputs import parse_input_range

    return {name: (low, high) for name, low, high in map(parse_input_range, values)}


def _finish(result: Any, report_path: str | None, junit_path: str | None = None, html_path: str | None = None) -> None:
    from bridge.report import print_bench, print_parity, write_json

    for line in getattr(result, "warnings", []):
        click.echo(f"warning: {line}", err=True)
    if result.parity:
        print_parity(result.parity)
        if getattr(result, "quantization", None):
            from bridge.report.quant import print_quantization

            print_quantization(result.quantization, result.parity)
        failure = result.first_failure
        if failure:
            click.echo(f"parity first breaks at {failure.get('label', failure['format'])} ({failure['runtime']}) against {failure['reference']}"
                       + (f" with inputs {failure['inputs']}" if failure.get("inputs") else ""))
    for loc in getattr(result, "localization", []):
        click.echo(f"localised: {loc.describe()}")
    if getattr(result, "gradients", None) or getattr(result, "gradient_notes", None):
        from bridge.report.table import print_gradients

        print_gradients(result.gradients, result.gradient_notes)
    if getattr(result, "train_steps", None):
        from bridge.report.table import print_train_steps

        print_train_steps(result.train_steps)
    if result.bench:
        print_bench(result.bench, result.harness_overhead_ms)
    for warning in getattr(result, "bench_warnings", []):
        click.echo(f"warning: {warning}", err=True)
    data = result.to_json()
    if report_path:
        write_json(data, report_path)
    if junit_path:
        from bridge.report.junit import write_junit

        write_junit(data, junit_path)
    if html_path:
        from bridge.report.html import write_html

        write_html(data, html_path)
    sys.exit(result.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bridge")
def cli() -> None:
    """Convert PyTorch models to ONNX and TensorFlow, and prove the numbers match at every hop.

    SOURCE is path/to/file.py:NAME, package.module:NAME, model.onnx, model.pt2, a TorchScript file
    (torch.jit.save) or a Caffe deploy.prototxt (its weights through --weights model.caffemodel; OpenCV
    runs it as the reference). A file.py source runs that Python code: only use code you trust.

    Exit codes: 0 converted and every parity check passed; 1 a parity check failed; 2 bad input or
    usage; 3 conversion unsupported (every unsupported op listed); 4 internal error.
    """


@cli.command()
@click.argument("source")
@click.option("--to", "to", required=True, metavar="FORMAT[,FORMAT...]", help="Target formats, e.g. onnx,tf.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@_input_options
@click.option("--dynamic", multiple=True, metavar="NAME:AXIS[=label]", help="Keep an input axis dynamic (repeatable); every other input dim is fixed in the artifacts.")
@click.option("--opset", type=int, help="ONNX opset for the torch export.")
@click.option("--xla", is_flag=True, help="Compile the SavedModel's serving function with XLA (jit_compile); bench it to see whether it helps.")
@click.option("--quantize", metavar="MODE[,MODE...]",
              help="Also write a quantized TFLite per mode beside the float one: fp16 (float16 weights), dynamic "
                   "(int8 weights, float activations), int8 (full integer, calibrated), int8x16 (int16 activations).")
@_verdict_options
@click.option("--int8-io", "int8_io", is_flag=True,
              help="int8/int8x16: integer inputs and outputs too (scale and zero point in the artifact's metadata).")
@click.option("--keep-float", "keep_float", multiple=True, metavar="PATTERN",
              help="int8: also write a variant with the layers matching PATTERN (glob on module or ONNX node names) "
                   "left in float, and report the accuracy and size it buys back (repeatable).")
@click.option("--verify/--no-verify", default=True, show_default=True, help="Run every artifact and compare with the source.")
@click.option("--bench", "do_bench", is_flag=True, help="Also time the source and every artifact (see 'bridge bench').")
@_bench_options
@click.option("--force", is_flag=True, help="Overwrite existing artifacts.")
@click.option("--trainable", is_flag=True, help="SavedModel with trainable variables named after the PyTorch parameters and a forward(..., training) signature that switches BatchNorm and Dropout.")
@_training_options
@_guarded
def convert(source: str, to: str, out_dir: str, inputs: str | None, input_shapes: tuple[str, ...],
            input_ranges: tuple[str, ...], seed: int, device: str, atol: tuple[str, ...], rtol: tuple[str, ...],
            noise_factor: float,
            shapes: str | None, report_path: str | None, junit_path: str | None, html_path: str | None,
            weights: str | None, trust_pickle: bool, localize: bool | None, quiet: bool, dynamic: tuple[str, ...], opset: int | None, verify: bool, do_bench: bool, batches: tuple[int, ...],
            threads: tuple[int, ...], rounds: int, isolate: bool, force: bool, xla: bool, trainable: bool,
            gradients: bool, loss: str, labels: str | None, train_steps: int, quantize: str | None,
            calibration: str | None, min_snr: tuple[str, ...], min_cosine: tuple[str, ...], int8_io: bool,
            keep_float: tuple[str, ...]) -> None:
    """Convert SOURCE to each --to format (through every format on the way) and verify parity.

    With --quantize, quantized TFLite artifacts are judged by SNR and cosine against the source and the
    float TFLite; --localize ranks their layers by the SNR each loses.
    """
    from bridge.api import convert as api_convert
    from bridge.inputs import parse_dynamic

    tol = _build_tolerances(atol, rtol, noise_factor)
    snr, cosine = _quant_thresholds(min_snr, min_cosine)
    if (snr or cosine) and not quantize:
        raise UsageError("--min-snr and --min-cosine judge quantized artifacts; add --quantize")
    result = api_convert(
        source, to=to, out_dir=out_dir, inputs=inputs, input_shapes=input_shapes, input_ranges=_ranges(input_ranges),
        shapes=shapes, dynamic=parse_dynamic(dynamic), opset=opset, verify=verify, device=device, tolerances=tol,
        seed=seed, force=force, quiet=quiet, bench_batches=(batches or (None,)) if do_bench else (),
        threads=threads or (None,), bench_rounds=rounds, bench_isolate=isolate, localize=localize, weights=weights,
        trust_pickle=trust_pickle, xla=xla, trainable=trainable, gradients=gradients, loss=_loss(loss, labels),
        train_steps=train_steps,
        quantize=quantize, calibration=calibration, int8_io=int8_io, keep_float=keep_float,
        min_snr=snr or None, min_cosine=cosine or None,
    )
    if not quiet:
        from bridge.inspect.figures import GraphFigures, describe_figures

        for artifact in result.artifacts:
            click.echo(f"wrote {artifact.label:<6} {artifact.path}  ({artifact.converter}, {artifact.convert_seconds:.1f}s, "
                       f"{artifact.size_bytes:,} bytes)", err=True)
            if artifact.graph and "ops" in artifact.graph:
                figures = GraphFigures(artifact.format, **{k: v for k, v in artifact.graph.items()
                                                           if k in GraphFigures.__dataclass_fields__})
                click.echo(f"       graph: {describe_figures(figures)}", err=True)
    _finish(result, report_path, junit_path, html_path)


@cli.command()
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--reference", required=True, metavar="SOURCE", help="The source to compare against.")
@_input_options
@_training_options
@_verdict_options
@_guarded
def verify(artifacts: tuple[str, ...], reference: str, inputs: str | None, input_shapes: tuple[str, ...],
           input_ranges: tuple[str, ...], seed: int, device: str, atol: tuple[str, ...], rtol: tuple[str, ...],
           noise_factor: float, shapes: str | None, report_path: str | None, junit_path: str | None, html_path: str | None,
           weights: str | None, trust_pickle: bool, localize: bool | None, quiet: bool, gradients: bool, loss: str,
           labels: str | None, train_steps: int, calibration: str | None, min_snr: tuple[str, ...],
           min_cosine: tuple[str, ...]) -> None:
    """Check existing ARTIFACTS against a reference SOURCE (exit 1 on mismatch).

    A quantized .tflite (bridge's metadata, or integer kernels) is judged by SNR and cosine.
    """
    from bridge.api import verify as api_verify

    snr, cosine = _quant_thresholds(min_snr, min_cosine)
    result = api_verify(list(artifacts), reference, inputs, input_shapes=input_shapes,
                        input_ranges=_ranges(input_ranges), shapes=shapes, device=device,
                        tolerances=_build_tolerances(atol, rtol, noise_factor), seed=seed, localize=localize,
                        weights=weights, trust_pickle=trust_pickle, gradients=gradients, loss=_loss(loss, labels),
                        train_steps=train_steps, calibration=calibration, min_snr=snr or None,
                        min_cosine=cosine or None)
    _finish(result, report_path, junit_path, html_path)


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="ARTIFACT_OR_SOURCE...")
@click.option("--inputs", "inputs", type=click.Path(dir_okay=False), help="Inputs .npz (see convert).")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME:1x3x224x224[:dtype]")
@click.option("--input-range", "input_ranges", multiple=True, metavar="NAME:LOW:HIGH")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@_bench_options
@click.option("--runs", type=int, help="Time exactly this many calls (default: as many as fit in --min-time).")
@click.option("--min-time", "min_time", type=float, default=1.0, show_default=True, help="Seconds of timed calls per case.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write a JUnit XML report here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML report with latency charts here.")
@_guarded
def bench(targets: tuple[str, ...], inputs: str | None, input_shapes: tuple[str, ...], input_ranges: tuple[str, ...],
          seed: int, device: str, batches: tuple[int, ...], threads: tuple[int, ...], rounds: int, isolate: bool,
          runs: int | None, min_time: float, report_path: str | None, junit_path: str | None, html_path: str | None) -> None:
    """Latency (p50/p90/p99, mean) and throughput of each artifact or SOURCE, per batch size and thread count.

    Measured the way a deployment runs: each artifact alone in its own process, the same --threads for every
    runtime, --rounds alternating rounds; the ratio to ONNX Runtime is the median of the per-round ratios.
    Warm-up calls first; only the runtime call is timed, and the harness's own overhead is shown once. Warns
    when inputs or activations are near the denormal range.
    """
    from bridge.api import bench as api_bench

    result = api_bench(list(targets), inputs, input_shapes=input_shapes, input_ranges=_ranges(input_ranges),
                       batches=batches or (None,), threads=threads or (None,), device=device, seed=seed, runs=runs,
                       min_seconds=min_time, rounds=rounds, isolate=isolate)
    _finish(result, report_path, junit_path, html_path)


@cli.command()
@click.argument("report_json", type=click.Path(dir_okay=False, exists=True))
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Render the HTML report here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Render the JUnit XML here.")
@_guarded
def report(report_json: str, html_path: str | None, junit_path: str | None) -> None:
    """Render a JSON report again as HTML and/or JUnit XML."""
    import json

    try:
        data = json.loads(open(report_json).read())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{report_json} is not a readable JSON report ({type(exc).__name__})") from exc
    if not isinstance(data, (dict, list)):
        raise UsageError(f"{report_json} is not a bridge report")
    if not html_path and not junit_path:
        raise UsageError("nothing to render; pass --html FILE and/or --junit FILE")
    if html_path:
        from bridge.report.html import write_html

        write_html(data, html_path)
    if junit_path:
        from bridge.report.junit import write_junit

        write_junit(data, junit_path)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--shard", metavar="i/n", help="Check only every n-th model starting at the i-th (1-based), for CI matrices.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="Write a JUnit XML report here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML report here.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@_guarded
def check(config: str, shard: str | None, report_path: str | None, junit_path: str | None, html_path: str | None,
          quiet: bool) -> None:
    """Convert and verify every model in a bridge.toml; exit 1 on a parity failure or a latency regression."""
    from bridge.check import run_check
    from bridge.report import write_json

    result = run_check(config, shard, quiet=quiet)
    for rep in result.reports:
        status = "pass" if rep["passed"] else "FAIL"
        detail = rep.get("error") or "; ".join(
            f"{b['format']} p50 {b['p50_ms']:.3f} ms > baseline {b['baseline_p50_ms']:.3f} ms"
            for b in rep.get("bench", []) if b.get("passed") is False
        ) or ("" if rep["passed"] else "parity: " + ", ".join(
            f"{p['format']} vs {p['reference']}" for p in rep["parity"] if not p["passed"]))
        click.echo(f"{status}  {rep['name']}  {detail}".rstrip())
    click.echo(f"{sum(r['passed'] for r in result.reports)} passed, {sum(not r['passed'] for r in result.reports)} failed (shard {result.shard})")
    if report_path:
        write_json(result.to_json(), report_path)
    if junit_path:
        from bridge.report.junit import write_junit

        write_junit(result.reports, junit_path)
    if html_path:
        from bridge.report.html import write_html

        write_html(result.reports, html_path)
    sys.exit(result.exit_code)


@cli.command()
@_guarded
def formats() -> None:
    """List formats and the converter edges between them."""
    from bridge.formats import FORMATS
    from bridge.registry import REGISTRY

    click.echo("formats:")
    for fmt in FORMATS.values():
        click.echo(f"  {fmt.name:<12} {fmt.description}")
    click.echo("converters:")
    for edge in REGISTRY.edges():
        click.echo(f"  {edge.source:>6} -> {edge.target:<8} {edge.name}")


@cli.command()
@_guarded
def ops() -> None:
    """List the ONNX ops the TensorFlow backend supports, with their since-versions."""
    from bridge.registry import REGISTRY

    edge = REGISTRY.get("onnx", "tf")
    listing = edge.supported_ops() if edge.supported_ops else []
    for domain, op_type, since in listing:
        click.echo(f"{domain or 'ai.onnx'}\t{op_type}\t{since}")
    click.echo(f"{len({(d, o) for d, o, _ in listing})} ops, {len(listing)} handlers", err=True)


@cli.command()
@click.argument("file")
@_guarded
def inspect(file: str) -> None:
    """Print inputs, outputs, opset, op histogram and parameter count of a model file (a Caffe prototxt: layers by type)."""
    from bridge.inspect import inspect_file

    click.echo(inspect_file(file))


def _terminate(signum: int, frame: Any) -> None:
    # SIGINT and SIGTERM unwind the same way, so staging folders are removed and no partial artifact remains.
    from bridge.atomic import request_stop

    request_stop()
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    cli.main(args=list(argv) if argv is not None else None, prog_name="bridge")
