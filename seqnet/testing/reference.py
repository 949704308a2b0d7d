"""The references a backend is checked against: the NumPy backend, and for the NumPy backend itself an
independent second implementation (seqnet.generic's cell loop in NumPy ops) and finite differences.

Requirements: numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.generic import cell_forward
from seqnet.spec import Spec
from seqnet.weights import Weights


class _NumpyOps:
    """seqnet.generic's ops in NumPy (no dropout: references run in inference), written apart from the NumPy
    backend's (another sigmoid formula among them)."""

    @staticmethod
    def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        out = x @ w.T
        return out if b is None else out + b

    matmul = staticmethod(np.matmul)
    transpose = staticmethod(np.transpose)  # for seqnet.generic.prepare
    sigmoid = staticmethod(lambda a: 0.5 * (1.0 + np.tanh(0.5 * a)))  # another formula than the backend's
    tanh = staticmethod(np.tanh)
    relu = staticmethod(lambda a: np.maximum(a, 0))
    split = staticmethod(lambda x, n: np.split(x, n, axis=-1))
    where = staticmethod(np.where)
    stack = staticmethod(np.stack)
    concat = staticmethod(lambda xs: np.concatenate(xs, axis=-1))
    swap01 = staticmethod(lambda x: np.swapaxes(x, 0, 1))
    zeros = staticmethod(lambda shape, like: np.zeros(shape, like.dtype))

    @staticmethod
    def unstack(x: np.ndarray) -> list[np.ndarray]:
        return list(x)


def generic_numpy(spec: Spec, weights: Weights, x: np.ndarray, state: Any = None, lengths: Any = None):
    """(outputs, state) of `spec` by seqnet.generic's loop over the registered cell's step, in NumPy ops of its
    own: an implementation independent of the NumPy backend's cells, used to check the NumPy backend itself."""
    dtype = weights.dtype
    x = np.asarray(x, dtype)
    steps = x.shape[1] if spec.batch_first else x.shape[0]
    if state is not None:
        state = tuple(np.asarray(s) for s in state) if isinstance(state, (tuple, list)) else np.asarray(state)
    mask = None
    if lengths is not None:
        mask = (np.arange(steps)[:, None] < np.asarray(lengths)[None, :])[:, :, None].astype(dtype)
    seq, final, last = cell_forward(spec, _NumpyOps, weights.get, x, state, mask, False)
    out = last if spec.output_mode == "last" else seq
    if spec.output_size is not None:
        out = out @ weights["head.weight"].T + weights["head.bias"]
        if spec.output_mode == "sequence" and mask is not None:
            out = out * (np.swapaxes(mask, 0, 1) if spec.batch_first else mask)
    return out, final
