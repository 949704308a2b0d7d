"""The references a backend is checked against: the NumPy backend, and for the NumPy backend itself an
independent second implementation (seqnet.generic's cell loop in NumPy ops) and finite differences.

Requirements: numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.generic import run_stack
from seqnet.spec import Spec
from seqnet.weights import Weights


class _NumpyOps:
    """seqnet.generic's ops in NumPy (no dropout: references run in inference)."""

    @staticmethod
    def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        out = x @ w.T
        return out if b is None else out + b

    matmul = staticmethod(np.matmul)
    transpose = staticmethod(np.transpose)
    sigmoid = staticmethod(lambda a: 0.5 * (1.0 + np.tanh(0.5 * a)))  # another formula than the backend's
    tanh = staticmethod(np.tanh)
    relu = staticmethod(lambda a: np.maximum(a, 0))
    split = staticmethod(lambda x, n: np.split(x, n, axis=-1))
    where = staticmethod(np.where)
    stack = staticmethod(np.stack)
    concat = staticmethod(lambda xs: np.concatenate(xs, axis=-1))

    @staticmethod
    def unstack(x: np.ndarray) -> list[np.ndarray]:
        return list(x)


def generic_numpy(spec: Spec, weights: Weights, x: np.ndarray, state: Any = None, lengths: Any = None):
    """(outputs, state) of `spec` by seqnet.generic's loop in NumPy: an implementation independent of the NumPy
    backend's cells, used to check the NumPy backend itself."""
    dtype = weights.dtype
    xs = np.asarray(x, dtype).transpose(1, 0, 2) if spec.batch_first else np.asarray(x, dtype)
    steps, batch = xs.shape[:2]
    rows = spec.num_layers * spec.num_directions
    if state is None:
        h0 = np.zeros((rows, batch, spec.hidden_out), dtype)
        c0 = np.zeros((rows, batch, spec.hidden_size), dtype) if spec.cell == "lstm" else None
    else:
        h0, c0 = (np.asarray(state[0]), np.asarray(state[1])) if spec.cell == "lstm" else (np.asarray(state), None)
    mask = None
    if lengths is not None:
        mask = (np.arange(steps)[:, None] < np.asarray(lengths)[None, :])[:, :, None].astype(dtype)
    seq, hs, cs = run_stack(spec, _NumpyOps, weights.get, xs, h0, c0, mask, False)
    hn = np.stack(hs)
    final = (hn, np.stack(cs)) if spec.cell == "lstm" else hn
    out = np.concatenate(list(hn[-spec.num_directions :]), axis=1) if spec.output_mode == "last" else seq
    if spec.output_size is not None:
        out = out @ weights["head.weight"].T + weights["head.bias"]
        if spec.output_mode == "sequence" and mask is not None:
            out = out * mask
    if spec.output_mode == "sequence" and spec.batch_first:
        out = out.transpose(1, 0, 2)
    return out, final
