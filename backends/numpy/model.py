"""The NumPy backend: seqnet's reference model, forward and hand-written backward (BPTT).

Requirements: numpy.

Vectorised over the batch: each time step is a few (B, ...) matrix products, never a per-sample loop. On
the reference cells' path the input's contribution W_ih x_t + b_ih is one matrix product for every 16
steps (`NumpyRNN.input_chunk`; the fused kernels of fused.py fold it into each step's one product):
measured on 2 cores, LSTM forward at B64 T200 2-layer bidirectional, 531 ms against 574 ms for all steps at
once (a 52 MB temporary per direction) and 624 ms for the textbook loop's product inside every step; at
B64 T100 H256 50 ms against 50 and 52 ms. Lengths are a (T, B, 1) mask: a step past a sequence's length
keeps the state and outputs zero. Unmasked calls take the same code path with mask None.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.inputs import check_call
from seqnet.losses import loss_and_grad
from seqnet.spec import Spec
from seqnet.stream import Steps
from seqnet.weights import Weights, as_weights, check_dtype, layer_names

from . import bptt
from .cell_model import CellModel
from .cells import NAMES, OWN_CELLS, Params, make_cell
from .fused import FusedDirection
from .fused import run_direction as run_fused


def _keep(mask: np.ndarray | None, new: np.ndarray, old: np.ndarray | float) -> np.ndarray:
    """new where the step is valid, old past a sequence's length."""
    return new if mask is None else np.where(mask, new, old)


class NumpyRNN(Steps):
    """A seqnet model in NumPy. `outputs, state = model(x, state=None, lengths=None)`.

    x (B, T, I) (or (T, B, I) when spec.batch_first is False) in the model's dtype; state h
    (L*D, B, H_out) or (h, c) for LSTM; lengths (B,) integers in 1..T. `model.train()` turns dropout
    between layers on (seeded by `model.seed`), `model.eval()` off (the default).
    """

    seqnet_backend = "numpy"
    input_chunk = 16  # steps whose input products are one matrix product (see _run_direction)

    def __init__(self, spec: Spec, weights: Weights, dtype: str = "float32", seed: int = 0, fused: bool = True):
        self.spec = spec
        self.fused = fused
        self._fused_directions: list[FusedDirection] | None = None
        self.dtype = check_dtype(dtype)
        self.weights = weights.astype(self.dtype)
        self.cell = make_cell(spec.cell, spec.activation, spec.gru_variant)
        w = self.weights
        self.params = [
            Params(
                w[f"weight_ih_l{k}{s}"],
                w[f"weight_hh_l{k}{s}"],
                w.get(f"bias_ih_l{k}{s}"),
                w.get(f"bias_hh_l{k}{s}"),
                w.get(f"weight_hr_l{k}{s}"),
                w.get(f"weight_peephole_l{k}{s}"),
            )  # fmt: skip
            for k, s in layer_names(spec)
        ]
        self.training = False
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def train(self, mode: bool = True) -> NumpyRNN:
        self.training = mode
        return self

    def eval(self) -> NumpyRNN:
        return self.train(False)

    def __repr__(self) -> str:
        return f"NumpyRNN({self.spec}, dtype={self.dtype})"

    def __call__(self, x: Any, state: Any = None, lengths: Any = None):
        outputs, state, _ = self.forward(x, state, lengths)
        return outputs, state

    # -- forward ---------------------------------------------------------------------------------------
    def forward(self, x: Any, state: Any = None, lengths: Any = None, keep_cache: bool = False):
        """(outputs, state, cache); cache is what `backward` needs (None unless keep_cache)."""
        spec = self.spec
        x = np.asarray(x)
        lengths_np = None if lengths is None else np.asarray(lengths)
        batch, steps = check_call(spec, self.dtype, x, state, lengths_np, lengths_np)
        xs = x if not spec.batch_first else np.ascontiguousarray(x.transpose(1, 0, 2))  # time-major, contiguous
        mask = None if lengths_np is None else (np.arange(steps)[:, None] < lengths_np[None, :])[:, :, None]
        h0, c0 = self._initial_state(state, batch)
        rows = spec.num_layers * spec.num_directions
        hn = np.empty((rows, batch, spec.hidden_out), self.dtype)
        cn = np.empty((rows, batch, spec.hidden_size), self.dtype) if spec.cell == "lstm" else None
        cache: dict[str, Any] = {"mask": mask, "layers": [], "x": xs, "batch_steps": (batch, steps)}
        layer_in = xs
        for layer in range(spec.num_layers):
            outs, direction_caches = [], []
            for d in range(spec.num_directions):
                row = layer * spec.num_directions + d
                p = self.params[row]
                c_row = None if c0 is None else c0[row]
                if self.fused and spec.cell != "rnn" and not spec.peephole and not keep_cache:  # the fused kernels
                    steps_cache: list | bptt.Tape | None = None
                    ys, hn[row], c_last = run_fused(
                        self._fused_for(row), layer_in, h0[row], c_row, mask, d == 1, self.input_chunk
                    )
                elif self.fused and keep_cache and bptt.supports(spec.cell, spec.gru_variant, p):
                    # training: the fused training kernels (bptt.py), recording their tape
                    ys, hn[row], c_last, steps_cache = bptt.forward(
                        spec.cell, p, layer_in, h0[row], c_row, mask, d == 1
                    )
                else:  # training by the reference cells (and fused=False), keeping what BPTT needs
                    steps_cache = [] if keep_cache else None
                    ys, hn[row], c_last = self._run_direction(p, layer_in, h0[row], c_row, mask, d == 1, steps_cache)
                if cn is not None:
                    cn[row] = c_last
                outs.append(ys)
                direction_caches.append(steps_cache)
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            drop = self._dropout_mask(out.shape) if layer < spec.num_layers - 1 else None
            if drop is not None:
                out = out * drop
            cache["layers"].append({"input": layer_in, "directions": direction_caches, "drop": drop})
            layer_in = out
        final = (hn, cn) if spec.cell == "lstm" else hn
        outputs = self._head(layer_in, hn, mask, cache)
        if spec.batch_first and spec.output_mode == "sequence":
            outputs = outputs.transpose(1, 0, 2)
        return np.ascontiguousarray(outputs), final, (cache if keep_cache else None)

    def _fused_for(self, row: int) -> FusedDirection:
        """The prepared fused kernel of layer-direction `row` (made on first use, then kept)."""
        if self._fused_directions is None:
            spec = self.spec
            self._fused_directions = [FusedDirection(spec.cell, p, spec.gru_variant) for p in self.params]
        return self._fused_directions[row]

    def _initial_state(self, state: Any, batch: int):
        spec = self.spec
        rows = spec.num_layers * spec.num_directions
        if state is None:
            h0 = np.zeros((rows, batch, spec.hidden_out), self.dtype)
            c0 = np.zeros((rows, batch, spec.hidden_size), self.dtype) if spec.cell == "lstm" else None
            return h0, c0
        if spec.cell == "lstm":
            return np.asarray(state[0]), np.asarray(state[1])
        return np.asarray(state), None

    @np.errstate(over="ignore")  # sigmoid's exp(-a) may overflow to inf, which gives the right 0
    def _run_direction(
        self, p: Params, xs: np.ndarray, h: np.ndarray, c: np.ndarray | None, mask, reverse: bool, caches
    ):
        """One layer-direction over time. xs (T, B, I) -> outputs (T, B, H_out), last h, last c.

        The input's contribution gx = W_ih x_t + b_ih does not depend on h, so it is computed for
        `input_chunk` steps at a time, one matrix product per chunk of steps.
        """
        steps, chunk = xs.shape[0], self.input_chunk
        ys = np.empty((steps, h.shape[0], h.shape[1]), self.dtype)
        starts = range(0, steps, chunk)
        for start in reversed(starts) if reverse else starts:
            inputs = xs[start : start + chunk]  # (n, B, I) -> one (n*B, I) @ (I, G*H) product
            gx = (inputs.reshape(-1, inputs.shape[2]) @ p.w_ih.T).reshape(inputs.shape[0], inputs.shape[1], -1)
            if p.b_ih is not None:
                gx += p.b_ih
            block = range(start, start + gx.shape[0])
            for t in reversed(block) if reverse else block:
                m = None if mask is None else mask[t]
                h_new, c_new, step_cache = self.cell.step(p, gx[t - start], h, c)
                ys[t] = _keep(m, h_new, 0)
                h = _keep(m, h_new, h)
                c = None if c is None else _keep(m, c_new, c)
                if caches is not None:
                    caches.append((t, step_cache))
        return ys, h, c

    def _dropout_mask(self, shape: tuple[int, ...]) -> np.ndarray | None:
        rate = self.spec.dropout
        if not self.training or rate == 0:
            return None
        return (self._rng.random(shape) >= rate).astype(self.dtype) / (1 - rate)

    def _features_last(self, hn: np.ndarray) -> np.ndarray:
        """Top layer's final state of each direction, concatenated: (B, D*H_out)."""
        d = self.spec.num_directions
        return np.concatenate(list(hn[-d:]), axis=1)

    def _head(self, seq: np.ndarray, hn: np.ndarray, mask, cache: dict) -> np.ndarray:
        spec = self.spec
        feats = self._features_last(hn) if spec.output_mode == "last" else seq
        cache["features"] = feats
        if spec.output_size is None:
            return feats
        out = feats @ self.weights["head.weight"].T + self.weights["head.bias"]
        return out if spec.output_mode == "last" else _keep(mask, out, 0)

    # -- backward (backpropagation through time) -------------------------------------------------------
    def backward(self, cache: dict, d_outputs: np.ndarray, record_dh: list | None = None):
        """Gradients of a loss given dL/d(outputs): (canonical gradient Weights, dL/dx in x's layout).

        `record_dh`, if a list, receives for each layer-direction the norm of dL/dh_t at every step t
        (an array (T,), the batch's mean of per-sequence norms): the gradient flow through time.
        """
        spec = self.spec
        mask = cache["mask"]
        batch, steps = cache["batch_steps"]
        grads = {name: np.zeros_like(value) for name, value in self.weights.items()}
        pgrads = [p.zeros_like() for p in self.params]
        if spec.batch_first and spec.output_mode == "sequence":
            d_outputs = d_outputs.transpose(1, 0, 2)
        d_feats = d_outputs
        if spec.output_size is not None:
            d_out = d_outputs if (spec.output_mode == "last" or mask is None) else d_outputs * mask
            flat_f = cache["features"].reshape(-1, cache["features"].shape[-1])
            flat_d = d_out.reshape(-1, d_out.shape[-1])
            grads["head.weight"] = flat_d.T @ flat_f
            grads["head.bias"] = flat_d.sum(axis=0)
            d_feats = d_out @ self.weights["head.weight"]
        d = spec.num_directions
        h_out = spec.hidden_out
        d_hn = np.zeros((spec.num_layers * d, batch, h_out), self.dtype)
        if spec.output_mode == "last":
            for k in range(d):
                d_hn[spec.num_layers * d - d + k] = d_feats[:, k * h_out : (k + 1) * h_out]
            d_seq = np.zeros((steps, batch, d * h_out), self.dtype)
        else:
            d_seq = d_feats
        for layer in reversed(range(spec.num_layers)):
            lc = cache["layers"][layer]
            if lc["drop"] is not None:
                d_seq = d_seq * lc["drop"]
            d_in = np.zeros_like(lc["input"])
            for k in range(d):
                row = layer * d + k
                p, g = self.params[row], pgrads[row]
                dys = d_seq[:, :, k * h_out : (k + 1) * h_out]
                steps_cache = lc["directions"][k]
                norms = None if record_dh is None else np.zeros(steps)  # dL/dh_t's norm at every step, if asked
                if record_dh is not None:
                    record_dh.append(norms)
                if isinstance(steps_cache, bptt.Tape):  # the fused training kernels: they add every gradient
                    d_in += bptt.backward(p, g, steps_cache, dys, d_hn[row], mask, norms)
                    continue
                dgx = self._back_direction(p, g, steps_cache, dys, d_hn[row], mask, norms)
                flat_dgx = dgx.reshape(-1, dgx.shape[-1])
                g.w_ih += flat_dgx.T @ lc["input"].reshape(-1, lc["input"].shape[-1])
                if g.b_ih is not None:
                    g.b_ih += flat_dgx.sum(axis=0)
                d_in += dgx @ p.w_ih
            d_seq = d_in
        for (k, s), g in zip(layer_names(spec), pgrads, strict=True):
            for name, value in zip(NAMES, g.astuple(), strict=True):
                if value is not None:
                    grads[f"{name}_l{k}{s}"] = value
        dx = d_seq.transpose(1, 0, 2) if spec.batch_first else d_seq
        return Weights(grads), np.ascontiguousarray(dx)

    def _back_direction(
        self, p: Params, g: Params, caches: list, dys: np.ndarray, dh: np.ndarray, mask, norms: np.ndarray | None
    ) -> np.ndarray:
        """Backward of `_run_direction`: walks its steps in reverse; returns dL/dgx (T, B, G*H). `norms`, if
        given, receives the batch's mean norm of dL/dh_t at every step."""
        dgx = np.zeros((dys.shape[0], dys.shape[1], p.w_hh.shape[0]), self.dtype)
        dc = np.zeros((dys.shape[1], self.spec.hidden_size), self.dtype) if self.spec.cell == "lstm" else None
        for t, step_cache in reversed(caches):
            m = None if mask is None else mask[t]
            dh_new = _keep(m, dys[t] + dh, 0)  # dL/d(h_new): through this step's output and the next step
            if norms is not None:
                norms[t] = np.linalg.norm(dys[t] + dh, axis=1).mean()
            dgx[t], dh_prev, dc_prev = self.cell.back(
                p, step_cache, dh_new, _keep(m, dc, 0) if dc is not None else None, g
            )
            dh = dh_prev + (0 if m is None else np.where(m, 0, dh))
            if dc is not None:
                dc = dc_prev + (0 if m is None else np.where(m, 0, dc))
        return dgx


# -- the backend's functions (the same names in every backend) ---------------------------------------------
def build(
    spec: Spec, weights: Weights, dtype: str = "float32", seed: int = 0, fused: bool = True, scan: str = "auto"
) -> NumpyRNN | CellModel:
    """A `NumpyRNN`; `seed` seeds its dropout masks; fused=False runs the reference cells (cells.py) for every
    call (by default a forward without gradients runs the fused kernels of fused.py). A registered cell of a
    user's gets a `CellModel` (cell_model.py: seqnet.generic's loop over its step); `scan` is how a cell with a
    linear form runs (seqnet.build checks it)."""
    if spec.cell not in OWN_CELLS:  # the registry's generic loop over the cell's step
        return CellModel(spec, weights, dtype, seed=seed, scan=scan)
    return NumpyRNN(spec, weights, dtype, seed=seed, fused=fused)


def weights_of(model: NumpyRNN | CellModel) -> Weights:
    return model.weights


def to_numpy(value: Any) -> np.ndarray:
    return np.asarray(value)


def value_and_grad(
    spec, weights, x, target, loss="mse", state=None, lengths=None, dtype="float32", training=False, dropout_seed=0,
    fused=True,
):  # fmt: skip
    """(loss, gradient Weights, dL/dx) by the hand-written backward pass: bptt.py's fused kernels where they
    apply, cells.py's reference steps elsewhere and for fused=False."""
    if spec.cell not in OWN_CELLS:  # autograd differentiates the NumPy loop over the cell's step
        from seqnet.errors import import_framework

        import_framework("autograd", f"cell {spec.cell!r} is a registered cell: the NumPy backend computes its "
                         "gradients through HIPS autograd, which is not installed (pip install 'seqnet[autograd]'); "
                         "or run value_and_grad and fit on torch, paddle or jax, whose trained weights build the same "
                         "model here")  # fmt: skip
        from .cell_model import value_and_grad as cell_value_and_grad

        checked = as_weights(spec, weights, dtype)
        return cell_value_and_grad(spec, checked, x, target, loss, state, lengths, dtype, training, dropout_seed)
    model = NumpyRNN(spec, as_weights(spec, weights, dtype), dtype, seed=dropout_seed, fused=fused).train(training)
    outputs, _, cache = model.forward(x, state, lengths, keep_cache=True)
    value, d_outputs = loss_and_grad(spec, loss, outputs, np.asarray(target), lengths)
    grads, dx = model.backward(cache, d_outputs)
    return float(value), grads, dx


def from_numpy(value: Any, model: NumpyRNN) -> np.ndarray:
    return np.asarray(value)
