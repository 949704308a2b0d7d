"""Mutant "mutant_grad_sum": the forward right, the loss summed instead of averaged (loss, gradients and
dL/dx all scaled by the number of averaged elements), as a port that picks the wrong reduction computes."""

import numpy as np
from seqnet_backends.numpy.model import value_and_grad as _reference

from . import MutantModel, from_numpy, to_numpy, weights_of  # noqa: F401


class Model(MutantModel):
    seqnet_backend = "mutant_grad_sum"


def build(spec, weights, dtype="float32"):
    return Model(spec, weights, dtype, "none")


def value_and_grad(spec, weights, x, target, loss="mse", state=None, lengths=None, dtype="float32", training=False,
                   dropout_seed=0):  # fmt: skip
    value, grads, dx = _reference(spec, weights, x, target, loss, state, lengths, dtype, training, dropout_seed)
    n = np.asarray(target).size
    return value * n, {k: g * n for k, g in grads.items()}, dx * n
