"""Our own protobuf schema for the parts of ``caffe.proto`` bridge reads, built at run time.

No generated code: the messages are declared below as plain tables and turned into a
``FileDescriptorProto`` in a private descriptor pool, then into message classes with the protobuf
runtime. Field numbers and defaults are facts of the format and follow BVLC's ``caffe.proto``; the
layers that live in forks follow their origin (SSD: Permute, PriorBox, DetectionOutput, Normalize;
DeepLab/PSPNet: Interp; ShuffleNet: ShuffleChannel).

Where forks disagree on a number (DeepLab's ``interp_param`` is 143, BVLC's ``input_param`` too) the
fork's field takes a free number: a prototxt names fields, and of a ``.caffemodel`` bridge reads only
names, types, bottoms, tops and blobs, so the number of a layer-parameter message never matters there.
"""

from __future__ import annotations

from functools import cache
from typing import Any

__all__ = ["messages", "PACKAGE"]

PACKAGE = "bridge_caffe"

# field: (name, number, type, label, default); label "?" optional, "*" repeated, "*p" repeated packed.
# A type that is not a scalar names a message or an enum (nested in the message, or "Message.Enum").
_SCALARS = {"double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "bool": 8, "string": 9,
            "bytes": 12, "uint32": 13}
_ENGINE = {"DEFAULT": 0, "CAFFE": 1, "CUDNN": 2}

Field = tuple[str, int, str, str, Any]

_V1_TYPES = {
    "NONE": 0, "ABSVAL": 35, "ACCURACY": 1, "ARGMAX": 30, "BNLL": 2, "CONCAT": 3, "CONTRASTIVE_LOSS": 37,
    "CONVOLUTION": 4, "DATA": 5, "DECONVOLUTION": 39, "DROPOUT": 6, "DUMMY_DATA": 32, "EUCLIDEAN_LOSS": 7,
    "ELTWISE": 25, "EXP": 38, "FLATTEN": 8, "HDF5_DATA": 9, "HDF5_OUTPUT": 10, "HINGE_LOSS": 28, "IM2COL": 11,
    "IMAGE_DATA": 12, "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15, "MEMORY_DATA": 29,
    "MULTINOMIAL_LOGISTIC_LOSS": 16, "MVN": 34, "POOLING": 17, "POWER": 26, "RELU": 18, "SIGMOID": 19,
    "SIGMOID_CROSS_ENTROPY_LOSS": 27, "SILENCE": 36, "SOFTMAX": 20, "SOFTMAX_LOSS": 21, "SPLIT": 22,
    "SLICE": 33, "TANH": 23, "WINDOW_DATA": 24, "THRESHOLD": 31,
}

_FILLER = "FillerParameter"

# Layer-specific parameter messages: (field name in LayerParameter, number there, number in V1LayerParameter
# or None, message name). V1 numbers exist only for the layer types the V1 format had.
LAYER_PARAMS: list[tuple[str, int, int | None, str]] = [
    ("batch_norm_param", 139, None, "BatchNormParameter"),
    ("bias_param", 141, None, "BiasParameter"),
    ("concat_param", 104, 9, "ConcatParameter"),
    ("convolution_param", 106, 10, "ConvolutionParameter"),
    ("crop_param", 144, None, "CropParameter"),
    ("dropout_param", 108, 12, "DropoutParameter"),
    ("eltwise_param", 110, 24, "EltwiseParameter"),
    ("elu_param", 140, None, "ELUParameter"),
    ("exp_param", 111, 41, "ExpParameter"),
    ("flatten_param", 135, None, "FlattenParameter"),
    ("inner_product_param", 117, 17, "InnerProductParameter"),
    ("input_param", 143, None, "InputParameter"),
    ("log_param", 134, None, "LogParameter"),
    ("lrn_param", 118, 18, "LRNParameter"),
    ("pooling_param", 121, 19, "PoolingParameter"),
    ("power_param", 122, 21, "PowerParameter"),
    ("prelu_param", 131, None, "PReLUParameter"),
    ("relu_param", 123, 30, "ReLUParameter"),
    ("reshape_param", 133, None, "ReshapeParameter"),
    ("scale_param", 142, None, "ScaleParameter"),
    ("sigmoid_param", 124, 38, "SigmoidParameter"),
    ("softmax_param", 125, 39, "SoftmaxParameter"),
    ("slice_param", 126, 31, "SliceParameter"),
    ("tanh_param", 127, 37, "TanHParameter"),
    # SSD (weiliu89/caffe)
    ("permute_param", 202, None, "PermuteParameter"),
    ("prior_box_param", 203, None, "PriorBoxParameter"),
    ("detection_output_param", 204, None, "DetectionOutputParameter"),
    ("norm_param", 206, None, "NormalizeParameter"),
    # ShuffleNet's caffe (farmingyard/ShuffleNet)
    ("shuffle_channel_param", 164, None, "ShuffleChannelParameter"),
    # DeepLab / PSPNet: 143 there; a free number here (see the module docstring)
    ("interp_param", 2143, None, "InterpParameter"),
]

_NET_STATE_RULE: list[Field] = [
    ("phase", 1, "Phase", "?", None), ("min_level", 2, "int32", "?", None), ("max_level", 3, "int32", "?", None),
    ("stage", 4, "string", "*", None), ("not_stage", 5, "string", "*", None),
]

# name -> (fields, nested enums)
_MESSAGES: dict[str, tuple[list[Field], dict[str, dict[str, int]]]] = {
    "BlobShape": ([("dim", 1, "int64", "*p", None)], {}),
    "BlobProto": ([
        ("shape", 7, "BlobShape", "?", None), ("data", 5, "float", "*p", None), ("diff", 6, "float", "*p", None),
        ("double_data", 8, "double", "*p", None), ("double_diff", 9, "double", "*p", None),
        ("num", 1, "int32", "?", 0), ("channels", 2, "int32", "?", 0), ("height", 3, "int32", "?", 0),
        ("width", 4, "int32", "?", 0),
    ], {}),
    "NetState": ([("phase", 1, "Phase", "?", "TEST"), ("level", 2, "int32", "?", 0), ("stage", 3, "string", "*", None)], {}),
    "NetStateRule": (_NET_STATE_RULE, {}),
    "ParamSpec": ([
        ("name", 1, "string", "?", None), ("share_mode", 2, "DimCheckMode", "?", None),
        ("lr_mult", 3, "float", "?", 1.0), ("decay_mult", 4, "float", "?", 1.0),
    ], {"DimCheckMode": {"STRICT": 0, "PERMISSIVE": 1}}),
    _FILLER: ([
        ("type", 1, "string", "?", "constant"), ("value", 2, "float", "?", 0.0), ("min", 3, "float", "?", 0.0),
        ("max", 4, "float", "?", 1.0), ("mean", 5, "float", "?", 0.0), ("std", 6, "float", "?", 1.0),
        ("sparse", 7, "int32", "?", -1), ("variance_norm", 8, "VarianceNorm", "?", "FAN_IN"),
    ], {"VarianceNorm": {"FAN_IN": 0, "FAN_OUT": 1, "AVERAGE": 2}}),
    "BatchNormParameter": ([
        ("use_global_stats", 1, "bool", "?", None), ("moving_average_fraction", 2, "float", "?", 0.999),
        ("eps", 3, "float", "?", 1e-5),
    ], {}),
    "BiasParameter": ([("axis", 1, "int32", "?", 1), ("num_axes", 2, "int32", "?", 1), ("filler", 3, _FILLER, "?", None)], {}),
    "ConcatParameter": ([("axis", 2, "int32", "?", 1), ("concat_dim", 1, "uint32", "?", 1)], {}),
    "ConvolutionParameter": ([
        ("num_output", 1, "uint32", "?", None), ("bias_term", 2, "bool", "?", True),
        ("pad", 3, "uint32", "*", None), ("kernel_size", 4, "uint32", "*", None), ("stride", 6, "uint32", "*", None),
        ("dilation", 18, "uint32", "*", None), ("pad_h", 9, "uint32", "?", 0), ("pad_w", 10, "uint32", "?", 0),
        ("kernel_h", 11, "uint32", "?", None), ("kernel_w", 12, "uint32", "?", None),
        ("stride_h", 13, "uint32", "?", None), ("stride_w", 14, "uint32", "?", None),
        ("group", 5, "uint32", "?", 1), ("weight_filler", 7, _FILLER, "?", None), ("bias_filler", 8, _FILLER, "?", None),
        ("engine", 15, "Engine", "?", "DEFAULT"), ("axis", 16, "int32", "?", 1), ("force_nd_im2col", 17, "bool", "?", False),
    ], {"Engine": _ENGINE}),
    "CropParameter": ([("axis", 1, "int32", "?", 2), ("offset", 2, "uint32", "*", None)], {}),
    "DropoutParameter": ([("dropout_ratio", 1, "float", "?", 0.5), ("scale_train", 2, "bool", "?", True)], {}),
    "EltwiseParameter": ([
        ("operation", 1, "EltwiseOp", "?", "SUM"), ("coeff", 2, "float", "*", None),
        ("stable_prod_grad", 3, "bool", "?", True),
    ], {"EltwiseOp": {"PROD": 0, "SUM": 1, "MAX": 2}}),
    "ELUParameter": ([("alpha", 1, "float", "?", 1.0)], {}),
    "ExpParameter": ([("base", 1, "float", "?", -1.0), ("scale", 2, "float", "?", 1.0), ("shift", 3, "float", "?", 0.0)], {}),
    "FlattenParameter": ([("axis", 1, "int32", "?", 1), ("end_axis", 2, "int32", "?", -1)], {}),
    "InnerProductParameter": ([
        ("num_output", 1, "uint32", "?", None), ("bias_term", 2, "bool", "?", True),
        ("weight_filler", 3, _FILLER, "?", None), ("bias_filler", 4, _FILLER, "?", None),
        ("axis", 5, "int32", "?", 1), ("transpose", 6, "bool", "?", False),
    ], {}),
    "InputParameter": ([("shape", 1, "BlobShape", "*", None)], {}),
    "LogParameter": ([("base", 1, "float", "?", -1.0), ("scale", 2, "float", "?", 1.0), ("shift", 3, "float", "?", 0.0)], {}),
    "LRNParameter": ([
        ("local_size", 1, "uint32", "?", 5), ("alpha", 2, "float", "?", 1.0), ("beta", 3, "float", "?", 0.75),
        ("norm_region", 4, "NormRegion", "?", "ACROSS_CHANNELS"), ("k", 5, "float", "?", 1.0),
        ("engine", 6, "Engine", "?", "DEFAULT"),
    ], {"NormRegion": {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}, "Engine": _ENGINE}),
    "PoolingParameter": ([
        ("pool", 1, "PoolMethod", "?", "MAX"), ("pad", 4, "uint32", "?", 0), ("pad_h", 9, "uint32", "?", 0),
        ("pad_w", 10, "uint32", "?", 0), ("kernel_size", 2, "uint32", "?", None), ("kernel_h", 5, "uint32", "?", None),
        ("kernel_w", 6, "uint32", "?", None), ("stride", 3, "uint32", "?", 1), ("stride_h", 7, "uint32", "?", None),
        ("stride_w", 8, "uint32", "?", None), ("engine", 11, "Engine", "?", "DEFAULT"),
        ("global_pooling", 12, "bool", "?", False), ("round_mode", 13, "RoundMode", "?", "CEIL"),
        # OpenCV's and BVLC pull 3057's spelling of the same switch (number 13 there).
        ("ceil_mode", 1013, "bool", "?", True),
    ], {"PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2}, "Engine": _ENGINE, "RoundMode": {"CEIL": 0, "FLOOR": 1}}),
    "PowerParameter": ([("power", 1, "float", "?", 1.0), ("scale", 2, "float", "?", 1.0), ("shift", 3, "float", "?", 0.0)], {}),
    "PReLUParameter": ([("filler", 1, _FILLER, "?", None), ("channel_shared", 2, "bool", "?", False)], {}),
    "ReLUParameter": ([("negative_slope", 1, "float", "?", 0.0), ("engine", 2, "Engine", "?", "DEFAULT")], {"Engine": _ENGINE}),
    "ReshapeParameter": ([("shape", 1, "BlobShape", "?", None), ("axis", 2, "int32", "?", 0), ("num_axes", 3, "int32", "?", -1)], {}),
    "ScaleParameter": ([
        ("axis", 1, "int32", "?", 1), ("num_axes", 2, "int32", "?", 1), ("filler", 3, _FILLER, "?", None),
        ("bias_term", 4, "bool", "?", False), ("bias_filler", 5, _FILLER, "?", None),
    ], {}),
    "SigmoidParameter": ([("engine", 1, "Engine", "?", "DEFAULT")], {"Engine": _ENGINE}),
    "SoftmaxParameter": ([("engine", 1, "Engine", "?", "DEFAULT"), ("axis", 2, "int32", "?", 1)], {"Engine": _ENGINE}),
    "SliceParameter": ([("axis", 3, "int32", "?", 1), ("slice_point", 2, "uint32", "*", None), ("slice_dim", 1, "uint32", "?", 1)], {}),
    "TanHParameter": ([("engine", 1, "Engine", "?", "DEFAULT")], {"Engine": _ENGINE}),
    "PermuteParameter": ([("order", 1, "uint32", "*", None)], {}),
    "NormalizeParameter": ([
        ("across_spatial", 1, "bool", "?", True), ("scale_filler", 2, _FILLER, "?", None),
        ("channel_shared", 3, "bool", "?", True), ("eps", 4, "float", "?", 1e-10),
    ], {}),
    "PriorBoxParameter": ([
        ("min_size", 1, "float", "*", None), ("max_size", 2, "float", "*", None), ("aspect_ratio", 3, "float", "*", None),
        ("flip", 4, "bool", "?", True), ("clip", 5, "bool", "?", False), ("variance", 6, "float", "*", None),
        ("img_size", 7, "uint32", "?", None), ("img_h", 8, "uint32", "?", None), ("img_w", 9, "uint32", "?", None),
        ("step", 10, "float", "?", None), ("step_h", 11, "float", "?", None), ("step_w", 12, "float", "?", None),
        ("offset", 13, "float", "?", 0.5),
    ], {"CodeType": {"CORNER": 1, "CENTER_SIZE": 2, "CORNER_SIZE": 3}}),
    "NonMaximumSuppressionParameter": ([
        ("nms_threshold", 1, "float", "?", 0.3), ("top_k", 2, "int32", "?", None), ("eta", 3, "float", "?", 1.0),
    ], {}),
    "SaveOutputParameter": ([
        ("output_directory", 1, "string", "?", None), ("output_name_prefix", 2, "string", "?", None),
        ("output_format", 3, "string", "?", None), ("label_map_file", 4, "string", "?", None),
        ("name_size_file", 5, "string", "?", None), ("num_test_image", 6, "uint32", "?", None),
    ], {}),
    "DetectionOutputParameter": ([
        ("num_classes", 1, "uint32", "?", None), ("share_location", 2, "bool", "?", True),
        ("background_label_id", 3, "int32", "?", 0), ("nms_param", 4, "NonMaximumSuppressionParameter", "?", None),
        ("save_output_param", 5, "SaveOutputParameter", "?", None),
        ("code_type", 6, "PriorBoxParameter.CodeType", "?", "CORNER"),
        ("variance_encoded_in_target", 8, "bool", "?", False), ("keep_top_k", 7, "int32", "?", -1),
        ("confidence_threshold", 9, "float", "?", None), ("visualize", 10, "bool", "?", False),
        ("visualize_threshold", 11, "float", "?", None), ("save_file", 12, "string", "?", None),
    ], {}),
    "InterpParameter": ([
        ("height", 1, "int32", "?", 0), ("width", 2, "int32", "?", 0), ("zoom_factor", 3, "int32", "?", 1),
        ("shrink_factor", 4, "int32", "?", 1), ("pad_beg", 5, "int32", "?", 0), ("pad_end", 6, "int32", "?", 0),
    ], {}),
    "ShuffleChannelParameter": ([("group", 1, "uint32", "?", 1)], {}),
}

_LAYER: list[Field] = [
    ("name", 1, "string", "?", None), ("type", 2, "string", "?", None), ("bottom", 3, "string", "*", None),
    ("top", 4, "string", "*", None), ("phase", 10, "Phase", "?", None), ("loss_weight", 5, "float", "*", None),
    ("param", 6, "ParamSpec", "*", None), ("blobs", 7, "BlobProto", "*", None),
    ("propagate_down", 11, "bool", "*", None), ("include", 8, "NetStateRule", "*", None),
    ("exclude", 9, "NetStateRule", "*", None),
] + [(name, number, message, "?", None) for name, number, _, message in LAYER_PARAMS]

_V1_LAYER: list[Field] = [
    ("bottom", 2, "string", "*", None), ("top", 3, "string", "*", None), ("name", 4, "string", "?", None),
    ("include", 32, "NetStateRule", "*", None), ("exclude", 33, "NetStateRule", "*", None),
    ("type", 5, "LayerType", "?", None), ("blobs", 6, "BlobProto", "*", None), ("param", 1001, "string", "*", None),
    ("blobs_lr", 7, "float", "*", None), ("weight_decay", 8, "float", "*", None), ("loss_weight", 35, "float", "*", None),
] + [(name, v1, message, "?", None) for name, _, v1, message in LAYER_PARAMS if v1 is not None]

_NET: list[Field] = [
    ("name", 1, "string", "?", None), ("input", 3, "string", "*", None), ("input_shape", 8, "BlobShape", "*", None),
    ("input_dim", 4, "int32", "*", None), ("force_backward", 5, "bool", "?", False), ("state", 6, "NetState", "?", None),
    ("debug_info", 7, "bool", "?", False), ("layer", 100, "LayerParameter", "*", None),
    ("layers", 2, "V1LayerParameter", "*", None),
]

_TOP_ENUMS = {"Phase": {"TRAIN": 0, "TEST": 1}}


def _all_messages() -> dict[str, tuple[list[Field], dict[str, dict[str, int]]]]:
    table = dict(_MESSAGES)
    table["LayerParameter"] = (_LAYER, {})
    table["V1LayerParameter"] = (_V1_LAYER, {"LayerType": _V1_TYPES})
    table["NetParameter"] = (_NET, {})
    return table


def _default_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _file_descriptor() -> Any:
    from google.protobuf import descriptor_pb2

    table = _all_messages()
    fdp = descriptor_pb2.FileDescriptorProto(name="bridge_caffe.proto", package=PACKAGE, syntax="proto2")
    for enum_name, values in _TOP_ENUMS.items():
        enum = fdp.enum_type.add(name=enum_name)
        for value_name, number in values.items():
            enum.value.add(name=value_name, number=number)
    FD = descriptor_pb2.FieldDescriptorProto
    for message_name, (fields, enums) in table.items():
        msg = fdp.message_type.add(name=message_name)
        for enum_name, values in enums.items():
            enum = msg.enum_type.add(name=enum_name)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        for name, number, type_name, label, default in fields:
            field = msg.field.add(name=name, number=number)
            field.label = FD.LABEL_REPEATED if label.startswith("*") else FD.LABEL_OPTIONAL
            if label == "*p":
                field.options.packed = True
            if type_name in _SCALARS:
                field.type = _SCALARS[type_name]  # type: ignore[assignment]
            elif type_name in enums:
                field.type, field.type_name = FD.TYPE_ENUM, f".{PACKAGE}.{message_name}.{type_name}"
            elif type_name in _TOP_ENUMS or "." in type_name:
                field.type, field.type_name = FD.TYPE_ENUM, f".{PACKAGE}.{type_name}"
            else:
                field.type, field.type_name = FD.TYPE_MESSAGE, f".{PACKAGE}.{type_name}"
            if default is not None:
                field.default_value = _default_text(default)
    return fdp


class _Messages:
    """Message classes by name: ``messages().NetParameter()``."""

    def __init__(self) -> None:
        from google.protobuf import descriptor_pool, message_factory

        pool = descriptor_pool.DescriptorPool()
        pool.Add(_file_descriptor())
        self.pool = pool
        self._classes: dict[str, Any] = {}
        for name in _all_messages():
            self._classes[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._classes[name]
        except KeyError:
            raise AttributeError(name) from None

    def v1_type_name(self, number: int) -> str:
        enum = self.pool.FindEnumTypeByName(f"{PACKAGE}.V1LayerParameter.LayerType")
        value = enum.values_by_number.get(number)
        return value.name if value is not None else str(number)


@cache
def messages() -> _Messages:
    """The message classes (built once per process)."""
    return _Messages()
