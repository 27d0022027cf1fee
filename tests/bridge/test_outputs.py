import dataclasses
from collections import OrderedDict

import torch

from bridge.outputs import flatten_outputs


def names(value):
    return [n for n, _ in flatten_outputs(value)]


def test_single_tensor_and_tuples():
    t = torch.zeros(1)
    assert names(t) == ["output"]
    assert names((t,)) == ["output"]
    assert names((t, t)) == ["output_0", "output_1"]
    assert names([t, (t, t)]) == ["output_0", "output_1_0", "output_1_1"]


def test_dicts_and_model_output_like_objects_keep_their_keys():
    t = torch.zeros(1)
    assert names({"logits": t, "hidden": (t, t)}) == ["logits", "hidden_0", "hidden_1"]

    class ModelOutput(OrderedDict):  # transformers' ModelOutput is an OrderedDict subclass
        pass

    assert names(ModelOutput(last_hidden_state=t, pooler_output=t)) == ["last_hidden_state", "pooler_output"]


def test_dataclasses_in_field_order_and_none_dropped():
    @dataclasses.dataclass
    class Out:
        loss: torch.Tensor | None
        logits: torch.Tensor
        extra: dict

    t = torch.zeros(1)
    assert names(Out(None, t, {"a": t})) == ["logits", "extra.a"]
