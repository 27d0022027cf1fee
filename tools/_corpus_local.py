"""Models the corpus produces here with other exporters: tf2onnx from Keras models with seeded random weights,
skl2onnx from scikit-learn pipelines trained on data sets scikit-learn bundles, torch.onnx's TorchScript
exporter at old opsets, and ONNX Runtime's transformer optimizer. Each builder writes one ONNX file."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

__all__ = ["keras_mobilenet_v2", "keras_cnn_lstm", "torchscript_cnn_opset9", "torchscript_gru_opset11",
           "torchscript_encoder_opset13", "skl_iris_pca_mlp", "skl_diabetes_mlp", "skl_iris_logreg",
           "skl_diabetes_gbr", "ort_optimized_encoder"]


@contextlib.contextmanager
def _quiet() -> Any:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- tf2onnx -------------------------------------------------------------------------------------------------
def _keras_to_onnx(model: Any, shape: tuple[int | None, ...], target: Path, opset: int = 13) -> None:
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec(shape, tf.float32, name="input"),)
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    with _quiet():
        tf2onnx.convert.from_function(fn, input_signature=spec, opset=opset, output_path=str(target))


def keras_mobilenet_v2(target: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    _keras_to_onnx(model, (None, 96, 96, 3), target)


def keras_cnn_lstm(target: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 6)), keras.layers.Conv1D(8, 3, padding="same", activation="relu"),
                              keras.layers.LSTM(16), keras.layers.Dense(3, activation="softmax")])
    _keras_to_onnx(model, (None, 12, 6), target)


# -- torch.onnx, TorchScript exporter --------------------------------------------------------------------
def _torchscript_export(module: Any, example: Any, target: Path, opset: int) -> None:
    import torch

    module.eval()
    with _quiet(), torch.no_grad():
        torch.onnx.export(module, (example,), str(target), input_names=["x"], output_names=["y"],
                          opset_version=opset, dynamo=False, dynamic_axes={"x": {0: "batch"}})


def torchscript_cnn_opset9(target: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 4, 3, padding=1), nn.Sigmoid())
    with torch.no_grad():  # BatchNorm with non-trivial statistics
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    _torchscript_export(net, torch.randn(1, 3, 32, 32), target, opset=9)


def torchscript_gru_opset11(target: Path) -> None:
    import torch
    from torch import nn

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(10, 16, batch_first=True, bidirectional=True)
            self.head = nn.Linear(32, 5)

        def forward(self, x: Any) -> Any:
            return self.head(self.gru(x)[0]).log_softmax(-1)

    torch.manual_seed(0)
    _torchscript_export(Tagger(), torch.randn(2, 7, 10), target, opset=11)


class _Encoder:
    """A BERT-style encoder written out (embedding, attention, LayerNorm, erf GELU) as exporters see it."""

    @staticmethod
    def build(hidden: int = 32, heads: int = 4, layers: int = 2, vocab: int = 100) -> Any:
        import torch
        from torch import nn

        class Layer(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.qkv, self.out = nn.Linear(hidden, 3 * hidden), nn.Linear(hidden, hidden)
                self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
                self.ff1, self.ff2 = nn.Linear(hidden, 2 * hidden), nn.Linear(2 * hidden, hidden)

            def forward(self, x: Any) -> Any:
                b, t, _ = x.shape
                q, k, v = self.qkv(x).view(b, t, 3, heads, hidden // heads).permute(2, 0, 3, 1, 4)
                att = torch.softmax(q @ k.transpose(-1, -2) / (hidden // heads) ** 0.5, -1)
                x = self.ln1(x + self.out((att @ v).transpose(1, 2).reshape(b, t, hidden)))
                return self.ln2(x + self.ff2(nn.functional.gelu(self.ff1(x))))

        class Encoder(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embed, self.pos = nn.Embedding(vocab, hidden), nn.Parameter(torch.randn(1, 64, hidden) * 0.1)
                self.layers = nn.ModuleList(Layer() for _ in range(layers))

            def forward(self, input_ids: Any) -> Any:
                x = self.embed(input_ids) + self.pos[:, : input_ids.shape[1]]
                for layer in self.layers:
                    x = layer(x)
                return x

        torch.manual_seed(0)
        return Encoder().eval()


def torchscript_encoder_opset13(target: Path) -> None:
    import torch

    class Wrapped(torch.nn.Module):  # float input, as the corpus feeds it
        def __init__(self) -> None:
            super().__init__()
            self.layer = _Encoder.build().layers[0]

        def forward(self, x: Any) -> Any:
            return self.layer(x)

    _torchscript_export(Wrapped(), torch.randn(2, 9, 32), target, opset=13)


def ort_optimized_encoder(target: Path) -> None:
    import torch
    from onnxruntime.transformers.optimizer import optimize_model

    raw = target.with_name(target.stem + "_raw.onnx")
    with _quiet(), torch.no_grad():
        torch.onnx.export(_Encoder.build(), (torch.randint(0, 100, (1, 16)),), str(raw), input_names=["input_ids"],
                          output_names=["hidden"], opset_version=14, dynamo=False)
        optimized = optimize_model(str(raw), model_type="bert", num_heads=4, hidden_size=32, opt_level=1)
        optimized.save_model_to_file(str(target))
    raw.unlink()


def ort_quantized_encoder(target: Path) -> None:
    """The optimised encoder through ORT's recipe for CPU serving: quantize_dynamic, then the graph optimiser
    saved to disk (DynamicQuantizeMatMul and the rest of ORT's fused kernels)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    optimized = target.with_name(target.stem + "_optimized.onnx")
    quantized = target.with_name(target.stem + "_q.onnx")
    ort_optimized_encoder(optimized)
    with _quiet():
        quantize_dynamic(optimized, quantized, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # contrib ops lack shapes
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(target)
        ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])
    optimized.unlink()
    quantized.unlink()


# -- skl2onnx --------------------------------------------------------------------------------------------
def _skl(model: Any, data: Any, target: Path) -> None:
    import onnx
    from skl2onnx import to_onnx

    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    with _quiet():
        onx = to_onnx(model, data[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
    # skl2onnx names its input "X"; the corpus feeds it by that name.
    onnx.save(onx, str(target))


def _iris() -> Any:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype("float32"), y


def _diabetes() -> Any:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return x.astype("float32"), y


def skl_iris_pca_mlp(target: Path) -> None:
    from sklearn.decomposition import PCA
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline

    x, y = _iris()
    with _quiet():
        model = make_pipeline(PCA(3), MLPClassifier(hidden_layer_sizes=(16,), max_iter=800, random_state=0)).fit(x, y)
    _skl(model, x, target)


def skl_diabetes_mlp(target: Path) -> None:
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _diabetes()
    with _quiet():
        model = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=800,
                                                             random_state=0)).fit(x, y)
    _skl(model, x, target)


def skl_iris_logreg(target: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _iris()
    _skl(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y), x, target)


def skl_diabetes_gbr(target: Path) -> None:
    from sklearn.ensemble import GradientBoostingRegressor

    x, y = _diabetes()
    _skl(GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(x, y), x, target)
