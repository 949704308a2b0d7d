"""The NumPy backend's model of a registered cell (seqnet.cells): seqnet.generic's loop over the cell's step in
NumPy ops. Forward only: gradients of a user's cell need an autodiff backend (torch, paddle or jax).

Requirements: numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.generic import cell_forward
from seqnet.inputs import check_call
from seqnet.spec import Spec
from seqnet.weights import Weights, check_dtype


class NumpyOps:
    """The ops a cell's step gets (docs/guides/cells.md), in NumPy."""

    sigmoid = staticmethod(lambda a: 1.0 / (1.0 + np.exp(-a)))
    tanh, relu = staticmethod(np.tanh), staticmethod(lambda a: np.maximum(a, 0))
    exp, log, abs, sqrt = staticmethod(np.exp), staticmethod(np.log), staticmethod(np.abs), staticmethod(np.sqrt)
    softplus = staticmethod(lambda a: np.logaddexp(0, a))
    maximum, minimum, where, stack = (staticmethod(np.maximum), staticmethod(np.minimum), staticmethod(np.where),
                                      staticmethod(np.stack))  # fmt: skip
    matmul = staticmethod(np.matmul)

    def __init__(self, rng: Any = None) -> None:
        self.rng = rng

    @staticmethod
    def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        return x @ w.T if b is None else x @ w.T + b

    @staticmethod
    def split(x: np.ndarray, n: int) -> list[np.ndarray]:
        return np.split(x, n, axis=-1)

    @staticmethod
    def concat(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs, axis=-1)

    @staticmethod
    def concat0(xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs, axis=0)

    @staticmethod
    def unstack(x: np.ndarray) -> list[np.ndarray]:
        return list(x)

    @staticmethod
    def mean(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=-1, keepdims=True)

    @staticmethod
    def var(x: np.ndarray) -> np.ndarray:
        return x.var(axis=-1, keepdims=True)

    @staticmethod
    def swap01(x: np.ndarray) -> np.ndarray:
        return np.swapaxes(x, 0, 1)

    @staticmethod
    def zeros(shape: tuple[int, ...], like: np.ndarray) -> np.ndarray:
        return np.zeros(shape, like.dtype)

    def dropout(self, x: np.ndarray, rate: float) -> np.ndarray:
        return np.where(self.rng.random(x.shape) < 1 - rate, x / (1 - rate), 0).astype(x.dtype)


class CellModel:
    """A registered cell's model in NumPy: `outputs, state = model(x, state=None, lengths=None)`, shapes as for
    every seqnet model (the state one array, or a tuple of the cell's parts)."""

    seqnet_backend = "numpy"

    def __init__(self, spec: Spec, weights: Weights, dtype: str = "float32", seed: int = 0):
        self.spec, self.dtype = spec, check_dtype(dtype)
        self.weights = weights.astype(self.dtype)
        self.training, self.seed = False, seed
        self._rng = np.random.default_rng(seed)

    def train(self, mode: bool = True) -> CellModel:
        self.training = mode
        return self

    def eval(self) -> CellModel:
        return self.train(False)

    def __repr__(self) -> str:
        return f"CellModel({self.spec}, dtype={self.dtype})"

    def __call__(self, x: Any, state: Any = None, lengths: Any = None) -> tuple[Any, Any]:
        spec = self.spec
        x = np.asarray(x)
        state = None if state is None else (tuple(np.asarray(s) for s in state) if isinstance(state, (tuple, list))
                                            else np.asarray(state))  # fmt: skip
        lengths = None if lengths is None else np.asarray(lengths)
        batch, steps = check_call(spec, self.dtype, x, state, lengths, lengths)
        mask = None
        if lengths is not None:
            mask = (np.arange(steps)[:, None] < lengths[None, :])[:, :, None].astype(self.dtype)
        seq, final, last = cell_forward(spec, NumpyOps(self._rng), self.weights.get, x, state, mask, self.training)
        out = last if spec.output_mode == "last" else seq
        if spec.output_size is not None:
            out = out @ self.weights["head.weight"].T + self.weights["head.bias"]
            if spec.output_mode == "sequence" and mask is not None:
                out = out * (np.swapaxes(mask, 0, 1) if spec.batch_first else mask)
        return out, final
