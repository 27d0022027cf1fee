"""The models ``make bench`` measures, built with random weights at a healthy activation scale.

PyTorch side: ResNet-50, MobileNetV2 and a BERT-style encoder from ``transformers`` configs, the FPN text
detector fixture, and the fixture zoo's models under 1M parameters. Keras side: the same CNNs written
natively (``keras.applications``, ``weights=None``), what a TensorFlow user would have built by hand.

Random BatchNorm statistics (mean 0, variance 1) leave activations to shrink or grow layer after layer;
random MobileNetV2 drives them to 1e-22, where arithmetic turns denormal and a latency ratio measures
that instead of the model. So both sides' BatchNorm statistics are measured on random images first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BenchModel", "torch_models", "tiny_models", "keras_model", "calibrate_torch_batchnorm"]

SEED = 0


@dataclass
class BenchModel:
    """A PyTorch model to convert: the module, its feeds, and how the conversion is asked for."""

    name: str
    build: Callable[[], Any]  # -> nn.Module (eval mode)
    feeds: Callable[[], dict[str, np.ndarray]]
    dynamic: dict[str, dict[int, str]] = field(default_factory=dict)  # exported dynamic, then fixed by input_shapes
    input_shapes: list[str] = field(default_factory=list)  # for the ONNX -> TFLite step of a dynamic export
    bench_feeds: Callable[[], dict[str, np.ndarray]] | None = None  # when timed at another size than traced
    keras: str | None = None  # the keras.applications architecture of the same network


def calibrate_torch_batchnorm(module: Any, shape: tuple[int, ...], rounds: int = 2) -> Any:
    import torch

    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    module.train()
    generator = torch.Generator().manual_seed(SEED + 100)
    with torch.no_grad():
        for _ in range(rounds):
            module(torch.randn(*shape, generator=generator))
    return module.eval()


def _image(shape: tuple[int, ...] = (1, 3, 224, 224)) -> dict[str, np.ndarray]:
    return {"pixel_values": np.random.default_rng(SEED).standard_normal(shape).astype(np.float32)}


class _Pooled:
    """transformers vision backbones return a ModelOutput; the bench converts the pooled features."""

    @staticmethod
    def wrap(backbone: Any) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.backbone = backbone

            def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
                return self.backbone(pixel_values).pooler_output.flatten(1)

        return Pooled().eval()


def _resnet50() -> Any:
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(SEED)
    # keras.applications.ResNet50 is ResNet v1, striding in the first 1x1 convolution of a block; transformers'
    # default is v1.5 (stride in the 3x3, about 6% more arithmetic). Compare the same network.
    config = ResNetConfig(downsample_in_bottleneck=True)
    return calibrate_torch_batchnorm(_Pooled.wrap(ResNetModel(config)), (4, 3, 224, 224))


def _mobilenet_v2() -> Any:
    import torch
    from transformers import MobileNetV2Config, MobileNetV2Model

    torch.manual_seed(SEED)
    return calibrate_torch_batchnorm(_Pooled.wrap(MobileNetV2Model(MobileNetV2Config())), (4, 3, 224, 224))


def _bert() -> Any:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(SEED)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    bert = BertModel(config, add_pooling_layer=False).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return Encoder().eval()


def _bert_feeds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    mask = np.ones((1, 128), np.int64)
    mask[0, 100:] = 0  # padding, so the attention mask really masks
    return {"input_ids": rng.integers(1000, 30000, (1, 128)).astype(np.int64), "attention_mask": mask}


def _fpn() -> Any:
    from fixtures.models.zoo.detection import FpnDetector

    return FpnDetector().eval()


def torch_models() -> list[BenchModel]:
    return [
        BenchModel("resnet50", _resnet50, _image, keras="ResNet50"),
        BenchModel("mobilenet_v2", _mobilenet_v2, _image, keras="MobileNetV2"),
        BenchModel("bert_encoder", _bert, _bert_feeds),
        # exported with dynamic H and W at 128x128, converted to TFLite for 640x640 as a detector is deployed
        BenchModel("fpn_detector", _fpn, lambda: {"x": _image((1, 3, 128, 128))["pixel_values"]},
                   dynamic={"x": {2: "height", 3: "width"}}, input_shapes=["x:1x3x640x640"],
                   bench_feeds=lambda: {"x": _image((1, 3, 640, 640))["pixel_values"]}),
    ]


ZOO = ["text:BertEncoder", "text:GptDecoder", "text:LlamaDecoder", "text:T5Encoder", "vision:ViT", "vision:ResNet",
       "vision:MobileNet", "vision:ConvNeXt", "vision:UNet", "vision:Conv3dBlock", "sequence:LstmTagger",
       "sequence:GruClassifier", "sequence:AudioFrontEnd", "sequence:WhisperEncoder", "detection:FpnDetector"]


def tiny_models(max_parameters: int = 1_000_000) -> list[str]:
    """The fixture zoo's SOURCE strings for models under ``max_parameters``."""
    from bridge.sources import load_source

    tiny = []
    for name in ZOO:
        source = f"fixtures.models.zoo.{name}"
        module = load_source(source).handle
        if sum(p.numel() for p in module.parameters()) < max_parameters:
            tiny.append(source)
    return tiny


def keras_model(architecture: str) -> Any:
    """``keras.applications.<architecture>`` with random weights and calibrated BatchNorm, NHWC 224x224,
    global-average pooled like the PyTorch side's pooler output."""
    from bridge._frameworks import import_tensorflow

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(SEED)
    model = getattr(keras.applications, architecture)(weights=None, include_top=False, pooling="avg",
                                                      input_shape=(224, 224, 3))
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0  # the moving statistics become the calibration batch's
    batch = np.random.default_rng(SEED + 100).standard_normal((8, 224, 224, 3)).astype(np.float32)
    model(batch, training=True)
    return model
