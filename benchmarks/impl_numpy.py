"""NumPy implementations: seqnet's backend, the textbook batched loop, the seed-style per-sample loop.

Requirements: numpy.
"""

from __future__ import annotations

import numpy as np

import seqnet
from seqnet.training import SGD, value_and_grad

from .workloads import Impl, inputs


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def textbook_direction(cell, x, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The textbook batched loop: every step does its own input product. x (B, T, I) -> (B, T, H)."""
    batch, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h = np.zeros((batch, hidden), x.dtype)
    c = np.zeros((batch, hidden), x.dtype)
    out = np.empty((batch, steps, hidden), x.dtype)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        gi = x[:, t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        if cell == "rnn":
            h = np.tanh(gi + gh)
        elif cell == "lstm":
            a = gi + gh
            i, f, g, o = (
                _sig(a[:, :hidden]),
                _sig(a[:, hidden : 2 * hidden]),
                np.tanh(a[:, 2 * hidden : 3 * hidden]),
                _sig(a[:, 3 * hidden :]),
            )
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            r = _sig(gi[:, :hidden] + gh[:, :hidden])
            z = _sig(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
            n = np.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
            h = (1 - z) * n + z * h
        out[:, t] = h
    return out


def textbook(spec, w, x):
    layer_in = x
    for k in range(spec.num_layers):
        outs = [
            textbook_direction(
                spec.cell,
                layer_in,
                w[f"weight_ih_l{k}{s}"],
                w[f"weight_hh_l{k}{s}"],
                w[f"bias_ih_l{k}{s}"],
                w[f"bias_hh_l{k}{s}"],
                reverse=bool(s),
            )  # fmt: skip
            for s in ("", "_reverse")[: spec.num_directions]
        ]
        layer_in = np.concatenate(outs, axis=2)
    return layer_in


def per_sample(spec, w, x):
    """The seed material's loop: one sequence at a time, one step at a time, matrix-vector products."""
    return np.stack([textbook(spec, w, x[b : b + 1])[0] for b in range(x.shape[0])])


def implementations(spec, size, threads, device="cpu"):
    weights = seqnet.init_weights(spec)
    x, y = inputs(spec, size)
    model = seqnet.build(spec, "numpy", weights)
    opt = SGD(lr=1e-3, momentum=0.9)
    state = {"w": dict(weights)}

    def train():
        _, grads, _ = value_and_grad(spec, state["w"], x, y)
        state["w"] = opt.update(state["w"], grads)

    reference = seqnet.build(spec, "numpy", weights, fused=False)  # cells.py's steps, the readable reference
    impls = [
        Impl("seqnet-numpy", "numpy", lambda: model(x), train, lambda: model(x)[0]),
        Impl(
            "seqnet-numpy-reference",
            "numpy",
            lambda: reference(x),
            None,
            lambda: reference(x)[0],
            "fused=False: cells.py's steps",
        ),  # fmt: skip
        Impl(
            "numpy-textbook-loop",
            "numpy",
            lambda: textbook(spec, weights, x),
            None,
            lambda: textbook(spec, weights, x),
            "batched, input product inside each step",
        ),  # fmt: skip
    ]
    if size != "L":  # the per-sample loop at L would take minutes
        impls.append(Impl("numpy-per-sample-loop", "numpy", lambda: per_sample(spec, weights, x), None,
                          lambda: per_sample(spec, weights, x), "one sequence and one step at a time"))  # fmt: skip
    return impls
