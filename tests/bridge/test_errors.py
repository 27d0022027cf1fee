"""One-line messages from exceptions: the cause, not a preamble."""

import pytest

from bridge.errors import first_line


def test_first_line_of_a_plain_message():
    assert first_line(ValueError("\n  bad shape\nmore detail")) == "bad shape"
    assert first_line(KeyError()) == "KeyError"


def test_a_torchscript_failure_names_its_cause_from_the_last_line():
    torch = pytest.importorskip("torch")

    @torch.jit.script
    def every(x: torch.Tensor, step: int) -> torch.Tensor:
        return x[:, ::step]

    with pytest.raises(Exception) as info:
        every(torch.zeros(1, 4), 0)
    line = first_line(info.value)
    assert line.startswith("The following operation failed in the TorchScript interpreter: RuntimeError: ")
    assert line.endswith("slice step must be positive") and "\n" not in line

    @torch.jit.script
    def rate(sr: int) -> int:
        if sr != 16000:
            raise ValueError("Supported sampling rates: 16000")
        return sr

    with pytest.raises(Exception) as info:
        rate(0)
    assert first_line(info.value).endswith(": builtins.ValueError: Supported sampling rates: 16000")
