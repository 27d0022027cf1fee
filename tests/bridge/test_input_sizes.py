"""Sizes generated inputs give an ONNX source's dynamic axes: images get an image's size, from the
model's metadata where its exporter wrote one; everything else stays 1."""

import pytest

from bridge.input_sizes import IMAGE_SIZE, sized_dims, with_example_shapes
from bridge.inputs import random_inputs
from bridge.model import InputSpec


def _sized(spec, metadata=None):
    (out,), notes = with_example_shapes([spec], metadata or {})
    return out.example_shape, notes


def test_an_nchw_image_with_dynamic_height_and_width_gets_224():
    shape, notes = _sized(InputSpec("images", ("batch", 3, "height", "width")))
    assert shape == (1, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert notes == ["generated inputs size image input 'images' 1x3x224x224, from an image input's usual size; "
                     "pass --input-shape for the size the model is meant for"]


def test_an_nhwc_uint8_image_gets_224_too():
    assert _sized(InputSpec("x", (None, None, None, 3), "uint8"))[0] == (1, 224, 224, 3)


@pytest.mark.parametrize("metadata,want", [({"imgsz": "[1280, 1280]", "batch": "1"}, (1, 3, 1280, 1280)),
                                           ({"imgsz": "[480, 640]", "batch": "4"}, (4, 3, 480, 640)),
                                           ({"imgsz": "320"}, (1, 3, 320, 320))])
def test_ultralytics_metadata_gives_the_size_it_was_exported_for(metadata, want):
    shape, notes = _sized(InputSpec("images", ("batch", 3, "height", "width")), metadata)
    assert shape == want and "from the model's metadata (imgsz)" in notes[0]


@pytest.mark.parametrize("spec", [InputSpec("x", (1, 5, "h", "w")),  # five channels: not an image
                                  InputSpec("x", (1, 3, "T")), InputSpec("ids", (1, 3, "h", "w"), "int64"),
                                  InputSpec("x", (1, 3, 224, "w")),  # only one side dynamic
                                  InputSpec("x", (1, 3, 64, 64)), InputSpec("x", None)])  # type: ignore[arg-type]
def test_other_inputs_keep_size_1(spec):
    assert _sized(spec) == (None, [])


def test_generated_inputs_take_the_example_shape_and_the_hint_names_every_guess():
    (spec,), _ = with_example_shapes([InputSpec("x", ("n", 3, "h", None))], {})
    assert random_inputs([spec])["x"].shape == (1, 3, 224, 224)
    assert sized_dims([spec, InputSpec("t", (1, "T"))]) == ["x[0]=n (1)", "x[2]=h (224)", "x[3] (224)", "t[1]=T (1)"]
