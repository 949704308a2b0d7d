"""Mutant "mutant_grad_reverse_bias": the forward right, the reverse direction's bias_hh gradients dropped
(zeros), as a hand-written backward pass that forgets one term computes."""

import numpy as np
from seqnet_backends.numpy.model import value_and_grad as _reference

from . import MutantModel, from_numpy, to_numpy, weights_of  # noqa: F401


class Model(MutantModel):
    seqnet_backend = "mutant_grad_reverse_bias"


def build(spec, weights, dtype="float32"):
    return Model(spec, weights, dtype, "none")


def value_and_grad(spec, weights, x, target, loss="mse", state=None, lengths=None, dtype="float32", training=False,
                   dropout_seed=0):  # fmt: skip
    value, grads, dx = _reference(spec, weights, x, target, loss, state, lengths, dtype, training, dropout_seed)
    grads = {k: np.zeros_like(g) if k.startswith("bias_hh") and k.endswith("_reverse") else g for k, g in grads.items()}
    return value, grads, dx
