"""The NumPy backend's model of a registered cell (seqnet.cells): seqnet.generic's loop over the cell's step in
NumPy ops, and its gradients through HIPS autograd (`pip install 'seqnet[autograd]'`), which differentiates the
same NumPy code.

Requirements: numpy; autograd for `value_and_grad` (else it is refused by name).

Why autograd, decided by measurement (2-core CPU, an LSTM written as a user cell, B 32 T 100, 2 threads): a
value-and-gradient took 130 ms at H 64 and 561 ms at H 256 (I 128), against torch's 42 and 193 ms, with the same
loss and gradients within 3.5e-10 (float32 sums in another order). Three times torch, and no code of the cell's
beyond its step: a NumPy user trains a cell of their own without a framework; the speed is torch's, paddle's or
jax's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.generic import cell_forward, choose_scan
from seqnet.inputs import check_call
from seqnet.spec import Spec
from seqnet.stream import Steps
from seqnet.weights import Weights, check_dtype

# scan="auto" for a forward: the sequential form at every T; the blocked scan's forward measured 1.12-1.39x its time
# on 2 CPU cores (benchmarks/results/cpu-scans.md, minGRU B 8 H 256). Gradients always take the hand-written
# backward pass of linear_bptt.py, around the blocked scan.
PARALLEL_FROM: int | None = None


class NumpyOps:
    """The ops a cell's step gets (docs/guides/cells.md), in NumPy, or in autograd's NumPy (`xp`) for gradients."""

    def __init__(self, rng: Any = None, xp: Any = np) -> None:
        self.rng, self.xp = rng, xp
        if xp is not np:  # gradients: a linear form's recurrence with its backward pass written by hand
            from .linear_bptt import recurrence

            self.linear_scan = recurrence()

    def sigmoid(self, a: Any) -> Any:
        return 1.0 / (1.0 + self.xp.exp(-a))

    def tanh(self, a: Any) -> Any:
        return self.xp.tanh(a)

    def relu(self, a: Any) -> Any:
        return self.xp.maximum(a, 0)

    def exp(self, a: Any) -> Any:
        return self.xp.exp(a)

    def log(self, a: Any) -> Any:
        return self.xp.log(a)

    def abs(self, a: Any) -> Any:
        return self.xp.abs(a)

    def sqrt(self, a: Any) -> Any:
        return self.xp.sqrt(a)

    def softplus(self, a: Any) -> Any:
        return self.xp.logaddexp(0, a)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.xp.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.xp.minimum(a, b)

    def where(self, m: Any, a: Any, b: Any) -> Any:
        return self.xp.where(m, a, b)

    def stack(self, xs: list[Any]) -> Any:
        return self.xp.stack(xs)

    def matmul(self, a: Any, b: Any) -> Any:
        return self.xp.matmul(a, b)

    def linear(self, x: Any, w: Any, b: Any) -> Any:
        if x.ndim > 2:  # one 2-D product: autograd's matmul backward would broadcast w's gradient over T first
            out = self.xp.reshape(self.xp.matmul(self.xp.reshape(x, (-1, x.shape[-1])), w.T), (*x.shape[:-1], -1))
        else:
            out = self.xp.matmul(x, w.T)
        return out if b is None else out + b

    def split(self, x: Any, n: int) -> list[Any]:
        return self.xp.split(x, n, axis=-1)

    def concat(self, xs: list[Any]) -> Any:
        return self.xp.concatenate(xs, axis=-1)

    def concat0(self, xs: list[Any]) -> Any:
        return self.xp.concatenate(xs, axis=0)

    def unstack(self, x: Any) -> list[Any]:
        return [x[t] for t in range(x.shape[0])]

    def mean(self, x: Any) -> Any:
        return self.xp.mean(x, axis=-1, keepdims=True)

    def var(self, x: Any) -> Any:
        return self.xp.var(x, axis=-1, keepdims=True)

    def swap01(self, x: Any) -> Any:
        return self.xp.swapaxes(x, 0, 1)

    def zeros(self, shape: tuple[int, ...], like: Any) -> Any:
        return np.zeros(shape, like.dtype)

    def dropout(self, x: Any, rate: float) -> Any:
        keep = self.rng.random(x.shape) < 1 - rate
        return self.xp.where(keep, x / (1 - rate), 0)


class CellModel(Steps):
    """A registered cell's model in NumPy: `outputs, state = model(x, state=None, lengths=None)`, shapes as for
    every seqnet model (the state one array, or a tuple of the cell's parts)."""

    seqnet_backend = "numpy"

    def __init__(self, spec: Spec, weights: Weights, dtype: str = "float32", seed: int = 0, scan: str = "auto"):
        self.spec, self.dtype, self.scan = spec, check_dtype(dtype), scan
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
        return self.forward(NumpyOps(self._rng), self.weights, *self.checked(x, state, lengths))

    def checked(self, x: Any, state: Any, lengths: Any) -> tuple[Any, Any, Any]:
        """(x, state, mask (T, B, 1) of the model's dtype or None) as NumPy arrays, after seqnet's checks."""
        x = np.asarray(x)
        state = None if state is None else (tuple(np.asarray(s) for s in state) if isinstance(state, (tuple, list))
                                            else np.asarray(state))  # fmt: skip
        lengths = None if lengths is None else np.asarray(lengths)
        _, steps = check_call(self.spec, self.dtype, x, state, lengths, lengths)
        mask = None
        if lengths is not None:
            mask = (np.arange(steps)[:, None] < lengths[None, :])[:, :, None].astype(self.dtype)
        return x, state, mask

    def forward(self, ops: NumpyOps, weights: Any, x: Any, state: Any, mask: Any) -> tuple[Any, Any]:
        """The checked call's computation in `ops` with `weights` (a mapping), mask (T, B, 1) or None."""
        spec = self.spec
        scan = choose_scan(self.scan, x.shape[1 if spec.batch_first else 0], PARALLEL_FROM)
        seq, final, last = cell_forward(spec, ops, weights.get, x, state, mask, self.training, scan)
        out = last if spec.output_mode == "last" else seq
        if spec.output_size is not None:
            out = ops.linear(out, weights["head.weight"], weights["head.bias"])
            if spec.output_mode == "sequence" and mask is not None:
                out = out * (np.swapaxes(mask, 0, 1) if spec.batch_first else mask)
        return out, final


def value_and_grad(spec: Spec, weights: Weights, x: Any, target: Any, loss: str, state: Any, lengths: Any,
                   dtype: str, training: bool, dropout_seed: int) -> tuple[float, dict[str, Any], Any]:  # fmt: skip
    """(loss, gradients, dL/dx) of a registered cell by autograd's reverse mode over `CellModel.forward`; the loss
    and its gradient with respect to the outputs are seqnet.losses' (the reference every backend's equals)."""
    import autograd
    import autograd.numpy as anp

    from seqnet.losses import loss_and_grad

    # a linear form through its hand-written backward pass (linear_bptt.py), the parallel form's, at every length
    model = CellModel(spec, weights, dtype, seed=dropout_seed, scan="parallel").train(training)
    x, parts, mask = model.checked(x, state, lengths)
    ops = NumpyOps(np.random.default_rng(dropout_seed), xp=anp)

    def outputs_of(arrays: tuple[dict[str, Any], Any]) -> Any:
        return model.forward(ops, arrays[0], arrays[1], parts, mask)[0]

    vjp, outputs = autograd.make_vjp(outputs_of)((dict(model.weights), x))
    value, d_outputs = loss_and_grad(spec, loss, np.asarray(outputs), np.asarray(target), lengths)
    grads, dx = vjp(d_outputs.astype(model.dtype))
    names = list(model.weights)
    return float(value), {n: np.asarray(grads[n], model.dtype) for n in names}, np.asarray(dx, model.dtype)
