"""Losses, their definitions and a NumPy reference with its gradient.

Requirements: numpy.

Every backend computes the same losses in its own framework (for its autograd); this module is the
definition they are tested against.

- "mse": the mean of the squared error over valid steps and features. For sequence outputs (B, T, F)
  and lengths n_b: sum over b, t < n_b, f of (y - target)^2 / (F * sum_b n_b). For "last" outputs
  (B, F): the mean over B and F.
- "cross_entropy": outputs are class logits; target holds integer class ids, (B, T) for sequence outputs
  (mean over valid steps) or (B,) for "last" outputs (mean over the batch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.errors import InputError
from seqnet.spec import Spec

LOSSES = ("mse", "cross_entropy")


def step_mask(batch: int, steps: int, lengths: Any | None, dtype: Any) -> np.ndarray:
    """(B, T) array, 1 where step t < lengths[b], else 0 (all ones without lengths)."""
    if lengths is None:
        return np.ones((batch, steps), dtype=dtype)
    return (np.arange(steps)[None, :] < np.asarray(lengths)[:, None]).astype(dtype)


def check_target(spec: Spec, loss: str, outputs_shape: tuple[int, ...], target: Any) -> None:
    """An InputError unless `target` fits the outputs' shape (shape and kind) for `loss`."""
    if loss not in LOSSES:
        raise InputError(f"loss={loss!r} is not allowed: one of {LOSSES}")
    shape = tuple(int(n) for n in target.shape)
    kind = np.dtype(str(target.dtype).rsplit(".", 1)[-1]).kind
    if loss == "mse":
        if shape != tuple(outputs_shape):
            raise InputError(f"target has shape {list(shape)}: mse needs the outputs' shape {list(outputs_shape)}")
        if kind != "f":
            raise InputError(f"target has dtype {target.dtype}: mse needs a floating target")
    else:
        if spec.output_size is None:
            raise InputError("loss='cross_entropy' needs class logits: give the Spec an output_size (a head)")
        if shape != tuple(outputs_shape[:-1]):
            raise InputError(
                f"target has shape {list(shape)}: cross_entropy needs integer class ids of shape "
                f"{list(outputs_shape[:-1])}"
            )
        if kind not in "iu":
            raise InputError(f"target has dtype {target.dtype}: cross_entropy needs integer class ids")
        ids = np.asarray(target)
        if ids.size and (ids.min() < 0 or ids.max() >= spec.output_size):
            bad = sorted({int(v) for v in ids.ravel() if v < 0 or v >= spec.output_size})
            raise InputError(
                f"target holds class ids {bad[:10]}{' ...' if len(bad) > 10 else ''} out of range: each must be in "
                f"0..{spec.output_size - 1} (output_size={spec.output_size} classes)"
            )


def weights_of_steps(spec: Spec, outputs_shape: tuple[int, ...], lengths: Any | None, dtype: Any) -> np.ndarray:
    """The weight of each output position in the mean, shaped like the outputs without features:
    (B, T) or (T, B) for sequence outputs, (B,) for "last"."""
    if spec.output_mode == "last":
        return np.full(outputs_shape[:1], 1.0 / outputs_shape[0], dtype=dtype)
    batch, steps = (outputs_shape[0], outputs_shape[1]) if spec.batch_first else (outputs_shape[1], outputs_shape[0])
    mask = step_mask(batch, steps, lengths, dtype)
    mask = mask / mask.sum()
    return mask if spec.batch_first else mask.T


def loss_and_grad(spec: Spec, loss: str, outputs: np.ndarray, target: np.ndarray, lengths: Any | None):
    """(loss value, dloss/doutputs) in NumPy: the reference every backend's loss must equal."""
    check_target(spec, loss, outputs.shape, target)
    w = weights_of_steps(spec, outputs.shape, lengths, outputs.dtype)
    if loss == "mse":
        features = outputs.shape[-1]
        diff = outputs - target
        value = np.sum(w[..., None] * diff * diff) / features
        return value, (2.0 / features) * w[..., None] * diff
    shifted = outputs - outputs.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, np.asarray(target)[..., None].astype(np.int64), axis=-1)[..., 0]
    value = -np.sum(w * picked)
    onehot = np.zeros_like(outputs)
    np.put_along_axis(onehot, np.asarray(target)[..., None].astype(np.int64), 1.0, axis=-1)
    return value, w[..., None] * (np.exp(log_p) - onehot)
