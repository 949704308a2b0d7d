"""The NumPy backend's fused training kernels: a forward pass that records a tape, and BPTT over it.

Requirements: numpy.

cells.py's `step` and `back` are the equations people read, one step at a time with fresh arrays; training
by them spends much of its time on per-step temporaries and on accumulating the weight gradients step by
step (a (G*H, H) product and a (G*H, H) addition at every step). These kernels compute the same gradients
for the two cells most training uses, the LSTM without projection and the reset-after GRU (cuDNN's,
torch's, Paddle's), arranged for speed:

- Batch-major, nothing transposed per step: step t's gates are the block t of one (T, B, G*H) array, the
  recurrent product is h (B, H) @ W_hh^T with W_hh^T stored contiguous once per call.
- The rows of the weights are reordered so the sigmoid gates come first (LSTM i, f, o, g), and their
  forward copies halved, so one tanh over the step's whole block gives every gate
  (sig(z) = (1 + tanh(z / 2)) / 2, as in fused.py). The backward uses the reordered, unscaled weights.
- The tape holds what the backward reads: the activated gates, tanh of each new cell (LSTM) or the
  hidden product (GRU), and the states h_0 .. h_T (and c_0 .. c_T): without lengths the outputs are a view
  of the states, so nothing is copied per step.
- Each weight gradient is one product over all steps after the loop: dW_hh = sum_t da_t^T h_(t-1) = DA^T H
  with DA (T*B, G*H) and H (T*B, H), and dW_ih = DA^T X likewise; dL/dx is DA W_ih. The per-step work is
  the elementwise gate derivatives (into preallocated buffers) and the product da_t W_hh.

Measured on the session machine (2 cores, 2 threads), one training step at size M (B64 T100 I128 H256),
interleaved medians of value_and_grad against cells.py's path: LSTM 147-160 against 177-187 ms, GRU 139-154
against 150-176 ms.

Other specs (the RNN cell, an LSTM with proj_size, the reset-before GRU) train by cells.py, and so does
everything with fused=False. The tests hold these kernels to cells.py's gradients over the parity grid
(1e-12 in float64), to finite differences and to torch's autograd.

Shapes: xs (T, B, I); h0, c0 (B, H); mask (T, B, 1) bool or None; outputs (T, B, H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cells import Params
from .fused import tanh_rows


def supports(cell: str, gru_variant: str, params: Params) -> bool:
    """Whether these kernels train this layer-direction (else cells.py does)."""
    return (cell == "lstm" and params.w_hr is None and params.w_ph is None) or (
        cell == "gru" and gru_variant == "reset_after"
    )


@dataclass
class Tape:
    """What one layer-direction's forward recorded for its backward, indexed by time step t. The states run
    in the order the steps ran: step t reads states[t + 1] and writes states[t] when reverse, else reads
    states[t] and writes states[t + 1]. Without lengths the outputs are a view of `states`: a caller must not
    change them before the backward pass."""

    cell: str
    reverse: bool
    xs: np.ndarray  # (T, B, I): the layer's input
    states: np.ndarray  # (T + 1, B, H): h_0 .. h_T
    cells: np.ndarray | None  # LSTM (T + 1, B, H): c_0 .. c_T
    gates: np.ndarray  # LSTM (T, B, 4H): i, f, o, g activated (this order); GRU (T, B, 3H): r, z, n
    extra: np.ndarray  # LSTM (T, B, H): tanh of each new cell; GRU (T, B, 3H): W_hh h + b_hh (r, z rows halved)
    weights: dict[str, np.ndarray]  # the layouts the kernels use (see `_layouts`)

    def entering(self, t: int) -> int:
        """Index in `states` / `cells` of the state step t reads."""
        return t + 1 if self.reverse else t


def _layouts(cell: str, p: Params, dtype: np.dtype) -> dict[str, np.ndarray]:
    """The weights as the kernels use them. Rows reordered so the sigmoid gates come first (LSTM: i, f, o, g;
    the GRU's r, z, n already are), and the forward copies' sigmoid rows halved (sig(z) = (1 + tanh(z / 2)) / 2,
    so one tanh covers every gate; halving is exact); the backward uses the reordered, unscaled weights."""
    gh, n = p.w_hh.shape[0], p.w_hh.shape[1]
    order, sigmoid_rows = tanh_rows(cell, n)
    scale = np.ones(gh, dtype)
    scale[:sigmoid_rows] = 0.5
    b_ih = np.zeros(gh, dtype) if p.b_ih is None else p.b_ih
    b_hh = np.zeros(gh, dtype) if p.b_hh is None else p.b_hh
    bias_in = b_ih + b_hh if cell == "lstm" else b_ih  # the GRU keeps b_hh in the step: b_hn sits inside r * (.)
    return {
        "order": order,
        "w_ih": p.w_ih[order],  # (G*H, I)
        "w_hh": p.w_hh[order],  # (G*H, H)
        "w_ih_t": np.ascontiguousarray((p.w_ih[order] * scale[:, None]).T),  # (I, G*H), scaled
        "w_hh_t": np.ascontiguousarray((p.w_hh[order] * scale[:, None]).T),  # (H, G*H), scaled
        "bias_in": bias_in[order] * scale,
        "b_hh": b_hh[order] * scale,
    }


def forward(
    cell: str, p: Params, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, mask: np.ndarray | None,
    reverse: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Tape]:  # fmt: skip
    """One layer-direction over time, recording the tape: (outputs (T, B, H), h (B, H), c (B, H) or None, tape)."""
    steps, batch, n = xs.shape[0], xs.shape[1], h0.shape[1]
    dtype = xs.dtype
    w = _layouts(cell, p, dtype)
    width = w["w_hh"].shape[0]  # G*H
    gx = xs.reshape(-1, xs.shape[2]) @ w["w_ih_t"]  # every step's input product at once: (T*B, G*H)
    gx += w["bias_in"]
    gx = gx.reshape(steps, batch, width)
    states = np.empty((steps + 1, batch, n), dtype)
    cells = np.empty((steps + 1, batch, n), dtype) if cell == "lstm" else None
    start = steps if reverse else 0
    states[start] = h0
    if cells is not None:
        cells[start] = c0
    tape = Tape(cell, reverse, xs, states, cells, np.empty((steps, batch, width), dtype),
                np.empty((steps, batch, n if cell == "lstm" else width), dtype), w)  # fmt: skip
    ys = states[:-1] if reverse else states[1:]  # the outputs are the states, unless lengths make them differ
    if mask is not None:
        ys = np.empty((steps, batch, n), dtype)
        new_h, new_c = np.empty((batch, n), dtype), np.empty((batch, n), dtype)
    t_buf = np.empty((batch, n), dtype)
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        h_in, out = (t + 1, t) if reverse else (t, t + 1)
        h = states[h_in]
        a = tape.gates[t]
        h_new = states[out] if mask is None else new_h
        if cell == "lstm":
            assert cells is not None
            c_new = cells[out] if mask is None else new_c
            np.matmul(h, w["w_hh_t"], out=a)
            a += gx[t]
            np.tanh(a, out=a)  # i, f, o held z / 2: now tanh(z / 2); g held z: now g = tanh(z)
            s = a[:, : 3 * n]
            s += 1.0
            s *= 0.5  # i, f, o = sig(z)
            i, f, o, g = a[:, :n], a[:, n : 2 * n], a[:, 2 * n : 3 * n], a[:, 3 * n :]
            np.multiply(f, cells[h_in], out=c_new)
            np.multiply(i, g, out=t_buf)
            c_new += t_buf  # c' = f c + i g
            np.tanh(c_new, out=tape.extra[t])
            np.multiply(o, tape.extra[t], out=h_new)  # h' = o tanh(c')
        else:
            gh = tape.extra[t]
            np.matmul(h, w["w_hh_t"], out=gh)
            gh += w["b_hh"]  # r and z rows halved, as gx's
            rz = a[:, : 2 * n]
            np.add(gx[t, :, : 2 * n], gh[:, : 2 * n], out=rz)
            np.tanh(rz, out=rz)
            rz += 1.0
            rz *= 0.5  # r, z = sig(.)
            r, z, cand = a[:, :n], a[:, n : 2 * n], a[:, 2 * n :]
            np.multiply(r, gh[:, 2 * n :], out=cand)
            cand += gx[t, :, 2 * n :]
            np.tanh(cand, out=cand)  # n = tanh(x_n + r (W_hn h + b_hn))
            np.subtract(h, cand, out=h_new)
            h_new *= z
            h_new += cand  # h' = n + z (h - n)
        if mask is not None:
            valid = mask[t]  # (B, 1)
            np.multiply(new_h, valid, out=ys[t])  # zero past the length
            states[out] = h  # the state stays where the step is past the length
            np.copyto(states[out], new_h, where=valid)
            if cells is not None:
                cells[out] = cells[h_in]
                np.copyto(cells[out], new_c, where=valid)
    end = 0 if reverse else steps
    return ys, states[end].copy(), (None if cells is None else cells[end].copy()), tape


def backward(
    p: Params, g: Params, tape: Tape, dys: np.ndarray, dh: np.ndarray, mask: np.ndarray | None,
    norms: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """BPTT of `forward`: dys (T, B, H) = dL/d(outputs), dh (B, H) = dL/d(last state). Adds every weight
    gradient of the layer-direction into `g`; returns dL/d(its input) (T, B, I). `norms`, if given, receives
    the batch's mean norm of dL/dh_t at every step (the gradient flow through time)."""
    steps, batch, n = dys.shape
    w = tape.weights
    width = w["w_hh"].shape[0]
    dtype = dys.dtype
    lstm = tape.cell == "lstm"
    da_all = np.empty((steps, batch, width), dtype)  # dL/d(W_hh h + ...) per step, in the kernel's row order
    da_new = None if lstm else np.empty((steps, batch, n), dtype)  # GRU: dL/d(x_n part), which differs there
    mult, deriv = np.empty((batch, width), dtype), np.empty((batch, width), dtype)
    d_out, dh_prev, tmp = (np.empty((batch, n), dtype) for _ in range(3))
    dh = np.array(dh, dtype)
    dc = np.zeros((batch, n), dtype) if lstm else None
    for t in range(steps) if tape.reverse else range(steps - 1, -1, -1):
        h_in = tape.entering(t)
        np.add(dys[t], dh, out=d_out)  # dL/dh_t: through this step's output and the next step
        if norms is not None:
            norms[t] = np.linalg.norm(d_out, axis=1).mean()
        carry_h = carry_c = None
        if mask is not None:  # past a sequence's length the step passed its state through unchanged
            valid = mask[t]
            carry_h = np.where(valid, 0, dh)
            d_out *= valid
            if dc is not None:
                carry_c = np.where(valid, 0, dc)
                dc *= valid
        a, da = tape.gates[t], da_all[t]
        if lstm:
            assert dc is not None and tape.cells is not None
            i, f, o, gg = a[:, :n], a[:, n : 2 * n], a[:, 2 * n : 3 * n], a[:, 3 * n :]
            tc = tape.extra[t]
            np.multiply(tc, tc, out=tmp)
            np.subtract(1, tmp, out=tmp)
            tmp *= o
            tmp *= d_out
            dc += tmp  # dL/dc_t = dc + dh o (1 - tanh(c_t)^2)
            np.multiply(dc, gg, out=mult[:, :n])  # the factor each gate's derivative meets: i <- dc g
            np.multiply(dc, tape.cells[h_in], out=mult[:, n : 2 * n])  # f <- dc c_(t-1)
            np.multiply(d_out, tc, out=mult[:, 2 * n : 3 * n])  # o <- dh tanh(c_t)
            np.multiply(dc, i, out=mult[:, 3 * n :])  # g <- dc i
            np.subtract(1, a[:, : 3 * n], out=deriv[:, : 3 * n])
            deriv[:, : 3 * n] *= a[:, : 3 * n]  # sig' = s (1 - s)
            np.multiply(gg, gg, out=deriv[:, 3 * n :])
            np.subtract(1, deriv[:, 3 * n :], out=deriv[:, 3 * n :])  # tanh' = 1 - g^2
            np.multiply(mult, deriv, out=da)
            np.matmul(da, w["w_hh"], out=dh_prev)
            dc *= f  # dL/dc_(t-1)
        else:
            assert da_new is not None
            r, z, cand = a[:, :n], a[:, n : 2 * n], a[:, 2 * n :]
            d_n = da_new[t]
            np.multiply(cand, cand, out=d_n)
            np.subtract(1, d_n, out=d_n)
            np.subtract(1, z, out=tmp)
            d_n *= tmp
            d_n *= d_out  # dh (1 - z) (1 - n^2)
            d_z = da[:, n : 2 * n]
            np.subtract(tape.states[h_in], cand, out=d_z)
            d_z *= d_out
            tmp *= z
            d_z *= tmp  # dh (h - n) z (1 - z)
            d_r = da[:, :n]
            np.subtract(1, r, out=d_r)
            d_r *= r
            d_r *= tape.extra[t][:, 2 * n :]
            d_r *= d_n  # d_n (W_hn h + b_hn) r (1 - r)
            np.multiply(d_n, r, out=da[:, 2 * n :])  # dL/d(W_hn h + b_hn)
            np.matmul(da, w["w_hh"], out=dh_prev)
            np.multiply(d_out, z, out=tmp)
            dh_prev += tmp  # dL/dh_(t-1) = dh z + da W_hh
        dh, dh_prev = dh_prev, dh
        if carry_h is not None:
            dh += carry_h
        if carry_c is not None and dc is not None:
            dc += carry_c
    # every step's weight gradients in one product each: dW = sum_t da_t^T h_(t-1) = DA^T H
    order, xs = w["order"], tape.xs
    flat = da_all.reshape(-1, width)
    entering = (tape.states[1:] if tape.reverse else tape.states[:-1]).reshape(-1, n)
    flat_x = xs.reshape(-1, xs.shape[2])
    # b_hh's gradient, and b_ih's where the input's product takes the same pre-activation (a spec has both
    # biases or neither)
    d_bias = None if g.b_hh is None else flat.sum(axis=0)
    g.w_hh[order] += flat.T @ entering
    if g.b_hh is not None and d_bias is not None:
        g.b_hh[order] += d_bias
    if lstm:  # the input's products take the same pre-activation gradients
        g.w_ih[order] += flat.T @ flat_x
        if g.b_ih is not None and d_bias is not None:
            g.b_ih[order] += d_bias
        return (flat @ w["w_ih"]).reshape(xs.shape)
    assert da_new is not None  # the GRU's n rows: the input's product is outside r * (.)
    flat_new = da_new.reshape(-1, n)
    rz = slice(0, 2 * n)
    new = slice(2 * n, 3 * n)
    g.w_ih[rz] += flat[:, rz].T @ flat_x
    g.w_ih[new] += flat_new.T @ flat_x
    if g.b_ih is not None and d_bias is not None:
        g.b_ih[rz] += d_bias[rz]
        g.b_ih[new] += flat_new.sum(axis=0)
    d_x = flat[:, rz] @ w["w_ih"][rz]
    d_x += flat_new @ w["w_ih"][new]
    return d_x.reshape(xs.shape)
