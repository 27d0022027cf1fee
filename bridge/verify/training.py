"""Training-step parity: N optimizer steps from the same weights on the same batch in PyTorch and in plain
TensorFlow on the trainable SavedModel, with SGD and with Adam (``torch.optim`` against
``keras.optimizers``, same hyperparameters), compared by their loss curves and by where the parameters end.

Both are judged with the noise-calibrated rule: the truth is the same N steps on a float64 copy of the
module; the floor is float32 PyTorch's own distance from it (largest over the curve, or over a tensor).
Keras's Adam is the same algorithm as PyTorch's written differently: it adds epsilon to sqrt(v) before
the bias correction (PyTorch after) and computes the bias corrections ``1 - beta**t`` in float32 (PyTorch
in float64; with beta_2 = 0.999 float32 loses five digits there, a 6e-6 relative error in every early
step). So before step t Keras is given the learning rate and epsilon that make its update PyTorch's:
the comparison is of the converted graph's gradients, not of two optimizers' arithmetic.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bridge.model import Artifact
from bridge.verify.gradients import LossSpec, TrainableSavedModel, tf_loss, torch_loss, training_modes
from bridge.verify.noise import noise_limit

__all__ = ["OPTIMIZERS", "ADAM_EPS", "TrainStepsParity", "train_steps_parity", "torch_train"]

OPTIMIZERS = {"sgd": 1e-2, "adam": 1e-3}  # optimizer -> learning rate
ADAM_EPS = 1e-8  # torch.optim.Adam's default
ADAM_BETA_1, ADAM_BETA_2 = 0.9, 0.999


@dataclass
class TrainStepsParity:
    optimizer: str
    learning_rate: float
    steps: int
    mode: str
    passed: bool = False
    torch_loss: list[float] = field(default_factory=list)  # before each step
    tf_loss: list[float] = field(default_factory=list)
    float64_loss: list[float] = field(default_factory=list)
    max_rel_loss_diff: float = 0.0  # TF against PyTorch float32, relative to |loss|
    loss_error: float = 0.0  # TF against float64, largest over the curve
    loss_floor: float = 0.0
    loss_ratio: float = 0.0
    drift: list[dict[str, Any]] = field(default_factory=list)  # per parameter after the last step
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != ""}


def torch_train(module: Any, feeds: Mapping[str, Any], spec: LossSpec, optimizer: str, lr: float, steps: int,
                mode: str, double: bool = False) -> tuple[list[float], dict[str, Any], dict[str, Any]]:
    """(losses before each step, parameters before, parameters after) from ``steps`` steps on a copy."""
    import numpy as np
    import torch

    from bridge.outputs import flatten_outputs

    work = copy.deepcopy(module)
    if double:
        work = work.double()
    work.train(mode == "train")
    start = {n: p.detach().numpy().astype(np.float64) for n, p in work.named_parameters()}
    params = [p for p in work.parameters() if p.requires_grad]
    opt = (torch.optim.SGD(params, lr=lr) if optimizer == "sgd"
           else torch.optim.Adam(params, lr=lr, betas=(ADAM_BETA_1, ADAM_BETA_2), eps=ADAM_EPS))
    args = []
    for value in feeds.values():
        array = np.array(value, copy=True)
        args.append(torch.from_numpy(array.astype(np.float64) if double and array.dtype.kind == "f" else array))
    losses = []
    previous = torch.get_default_dtype()
    if double:
        torch.set_default_dtype(torch.float64)
    try:
        for _ in range(steps):
            opt.zero_grad()
            loss = torch_loss(dict(flatten_outputs(work(*args))), spec)
            losses.append(float(loss))
            loss.backward()
            opt.step()
    finally:
        torch.set_default_dtype(previous)
    end = {n: p.detach().numpy().astype(np.float64) for n, p in work.named_parameters()}
    return losses, start, end


def _tf_train(artifact: Artifact, feeds: Mapping[str, Any], spec: LossSpec, optimizer: str, lr: float, steps: int,
              mode: str) -> tuple[list[float], dict[str, Any]]:
    import keras
    import numpy as np
    import tensorflow as tf

    model = TrainableSavedModel(artifact)  # fresh variables for each optimizer
    names = list(model.parameters)
    variables = [model.parameters[n] for n in names]
    opt = (keras.optimizers.SGD(learning_rate=lr) if optimizer == "sgd"
           else keras.optimizers.Adam(learning_rate=lr, beta_1=ADAM_BETA_1, beta_2=ADAM_BETA_2, epsilon=ADAM_EPS))
    inputs = {n: tf.constant(v) for n, v in feeds.items()}
    losses = []
    for step in range(1, steps + 1):
        with tf.GradientTape() as tape:
            loss = tf_loss(model.forward(inputs, mode == "train"), spec)
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if optimizer == "adam":  # read at each (eager) step; see the module's docstring
            _torch_adam_step(opt, lr, step)
        opt.apply_gradients(zip(grads, variables))
        losses.append(float(loss))
    return losses, {n: np.asarray(v.numpy(), dtype=np.float64) for n, v in zip(names, variables)}


def _torch_adam_step(opt: Any, lr: float, step: int) -> None:
    """Keras's learning rate and epsilon for ``step`` such that its update equals torch.optim.Adam's."""
    import tensorflow as tf

    correction1, correction2 = 1 - ADAM_BETA_1**step, 1 - ADAM_BETA_2**step  # float64, as PyTorch
    t = tf.constant(float(step), tf.float32)  # what Keras computes, op for op
    keras1 = 1 - tf.pow(tf.constant(ADAM_BETA_1, tf.float32), t)
    keras2 = 1 - tf.pow(tf.constant(ADAM_BETA_2, tf.float32), t)
    alpha = lr * correction2**0.5 / correction1
    opt.learning_rate = float(alpha * float(keras1) / float(tf.sqrt(keras2)))
    opt.epsilon = ADAM_EPS * correction2**0.5


def train_steps_parity(module: Any, artifact: Artifact, feeds: Mapping[str, Any], spec: LossSpec, steps: int,
                       noise_factor: float = 8.0) -> list[TrainStepsParity]:
    import numpy as np

    from bridge.errors import first_line

    mode = training_modes(module)[0][-1]
    results = []
    for optimizer, lr in OPTIMIZERS.items():
        res = TrainStepsParity(optimizer, lr, steps, mode)
        results.append(res)
        res.torch_loss, start, end32 = torch_train(module, feeds, spec, optimizer, lr, steps, mode)
        res.float64_loss, _, end64 = torch_train(module, feeds, spec, optimizer, lr, steps, mode, double=True)
        try:
            res.tf_loss, end_tf = _tf_train(artifact, feeds, spec, optimizer, lr, steps, mode)
        except Exception as exc:  # e.g. an op without a gradient: the gradient check names it
            res.problem = f"TensorFlow training failed: {type(exc).__name__}: {first_line(exc)[:200]}"
            continue
        t32, t64, ttf = (np.asarray(v, dtype=np.float64) for v in (res.torch_loss, res.float64_loss, res.tf_loss))
        res.max_rel_loss_diff = float((np.abs(ttf - t32) / np.maximum(np.abs(t32), 1e-30)).max())
        res.loss_floor = float(np.abs(t32 - t64).max())
        res.loss_error = float(np.abs(ttf - t64).max())
        res.loss_ratio = res.loss_error / res.loss_floor if res.loss_floor > 0 else (0.0 if res.loss_error == 0 else float("inf"))
        ok = res.loss_error <= noise_limit(res.loss_floor, float(np.abs(t64).max()), noise_factor)
        for name in end32:
            if name not in end_tf:
                continue
            update = float(np.abs(end64[name] - start[name]).max())
            floor = float(np.abs(end32[name] - end64[name]).max())
            error = float(np.abs(end_tf[name] - end64[name]).max())
            # the ULP allowance is taken of the weights' own scale: that is where their rounding happens
            limit = noise_limit(floor, float(np.abs(end64[name]).max()), noise_factor)
            res.drift.append({"name": name, "max_abs": float(np.abs(end_tf[name] - end32[name]).max()),
                              "update": update, "error": error, "noise_floor": floor,
                              "noise_ratio": error / floor if floor > 0 else (0.0 if error == 0 else float("inf")),
                              "passed": error <= limit})
            ok = ok and res.drift[-1]["passed"]
        res.passed = ok
    return results
