"""Two toy plugin backends, as a third party would write them (used by the conformance tests).

"twin" computes with its own loop (seqnet.testing.reference's NumPy version of seqnet.generic) and keeps
its weights as given: it conforms. "doubler" doubles its outputs: the conformance suite must catch it.
"""

from __future__ import annotations

import numpy as np

from seqnet import Backend
from seqnet.testing.reference import generic_numpy

twin = Backend(name="twin", module="toy_backends", requires=("numpy",))
doubler = Backend(name="doubler", module="toy_backends_doubler", requires=("numpy",))


class TwinModel:
    seqnet_backend = "twin"

    def __init__(self, spec, weights, dtype):
        self.spec, self.weights, self.dtype = spec, weights, dtype

    def __call__(self, x, state=None, lengths=None):
        from seqnet.inputs import check_call

        x = np.asarray(x)
        lengths = None if lengths is None else np.asarray(lengths)
        check_call(self.spec, self.dtype, x, state, lengths, lengths)
        return generic_numpy(self.spec, self.weights, x, state, lengths)


def build(spec, weights, dtype="float32"):
    return TwinModel(spec, weights, dtype)


def weights_of(model):
    return model.weights


def to_numpy(value):
    return np.asarray(value)


def from_numpy(value, model):
    return np.asarray(value)
