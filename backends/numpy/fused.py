"""The NumPy backend's fused inference kernels: the same equations as cells.py, arranged for speed.

Requirements: numpy.

cells.py is the reference people read, and it is what training runs (its steps keep what the backward
pass needs). For a forward pass without gradients the model runs these kernels instead (the NumPy
backend's "fused path", as torch's nn.LSTM is torch's): `build(spec, "numpy", fused=False)` runs cells.py.
What makes them faster, each measured on 2 cores at B64 T100 H256 (the benchmark's size M):

- The state is kept feature-major, h as (H_out, B), so each step's product is W_hh h with W_hh in its
  canonical (G*H, H_out) layout: on 2 threads (64 x 256 by 256 x 1024, median of 200) W_hh @ h_T took 0.20 ms,
  h @ W_hh.T with W_hh.T stored contiguous 0.23 ms, and the textbook h @ W_hh.T (a transposed view) 0.28 ms;
  every gate is then a contiguous block of rows.
- The biases a cell adds outside any gate product are added once per chunk of steps into the input's
  contribution (b_ih + b_hh for the LSTM, and for the GRU's r and z), not once per step.
- Every nonlinearity runs in place in one buffer per step, and every one is a tanh: a sigmoid gate is
  computed as sig(z) = (1 + tanh(z / 2)) / 2, with the halving folded into its weight rows and bias (exact:
  a power of two), and the LSTM's rows are stored in the order i, f, o, g so that one tanh covers all four
  gates and one add and one multiply finish the three sigmoid gates. NumPy's float32 tanh over the (4H, B)
  block took 20 us against 50 us for exp, + 1 and reciprocal (the formulation used before); whole forward,
  interleaved medians at size M: LSTM 50.9 -> 48.2 ms and GRU 39.6 -> 35.8 ms on 2 threads, 60.0 -> 58.9
  and 47.4 -> 41.9 ms on one. The identity is exact in real numbers; in float32 the results differ from
  the reference cells by a few 1e-7, inside seqnet's parity tolerance, and the tests hold both paths to it.
- Without lengths a step writes its h into one of two state buffers, which the next step reads, and that h
  is copied transposed into the batch-major outputs.

Shapes (feature-major inside): gx (G*H, n*B) for a chunk of n steps; h (H_out, B); c (H, B); outputs
(T, B, H_out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cells import Params


class FusedDirection:
    """One layer-direction's weights, prepared once for the fused kernel of its cell (feature-major)."""

    def __init__(self, cell: str, p: Params, gru_variant: str = "reset_after"):
        self.cell, self.variant = cell, gru_variant
        if cell not in ("lstm", "gru"):
            raise ValueError(f"fused kernels exist for lstm and gru, not {cell!r} (an rnn runs cells.py)")
        gh, n = p.w_hh.shape[0], p.w_hh.shape[0] // {"lstm": 4, "gru": 3}[cell]
        self.hidden = n
        b_ih = p.b_ih if p.b_ih is not None else np.zeros(gh, p.w_hh.dtype)
        b_hh = p.b_hh if p.b_hh is not None else np.zeros(gh, p.w_hh.dtype)
        bias = b_ih.copy()
        self.b_hn = None
        if cell == "lstm":
            bias += b_hh
            order = np.r_[0 : 2 * n, 3 * n : 4 * n, 2 * n : 3 * n]  # rows i, f, o, g: the sigmoid gates first
        else:
            bias[: 2 * n] += b_hh[: 2 * n]
            self.b_hn = b_hh[2 * n :, None].copy()  # inside r * (W_hn h + b_hn): stays in the step
            order = np.arange(gh)  # r, z, n: the sigmoid gates are first already
        sigmoid_rows = 3 * n if cell == "lstm" else 2 * n
        scale = np.ones(gh, p.w_hh.dtype)
        scale[:sigmoid_rows] = 0.5  # sig(z) = (1 + tanh(z / 2)) / 2: the halving is exact in binary floating point
        self.w_ih = np.ascontiguousarray(p.w_ih[order] * scale[:, None])
        self.w_hh = np.ascontiguousarray(p.w_hh[order] * scale[:, None])
        self.bias = (bias[order] * scale)[:, None]
        self.w_hr = p.w_hr

    def inputs(self, xs: np.ndarray) -> np.ndarray:
        """The input's contribution for a chunk of n steps: xs (n, B, I) -> (G*H, n*B), as stored."""
        gx = np.matmul(self.w_ih, xs.reshape(-1, xs.shape[2]).T)
        gx += self.bias
        return gx

    def step(self, gx: np.ndarray, h: np.ndarray, c: np.ndarray | None, out: np.ndarray, work: dict) -> None:
        """One step: the new h into `out` (H_out, B), the new c into `c` in place; `work` holds the buffers."""
        n = self.hidden
        if self.cell == "lstm":
            a = np.matmul(self.w_hh, h, out=work["a"])
            a += gx
            np.tanh(a, out=a)  # rows i, f, o held z / 2: now tanh(z / 2); rows g held z: now g = tanh(z)
            s = a[: 3 * n]
            s += 1.0
            s *= 0.5  # sig(z) = (1 + tanh(z / 2)) / 2: the gates i, f, o
            i, f, o, g = a[:n], a[n : 2 * n], a[2 * n : 3 * n], a[3 * n :]
            assert c is not None
            c *= f
            np.multiply(i, g, out=work["t"])
            c += work["t"]  # c' = f c + i g
            m = out if self.w_hr is None else work["m"]
            np.tanh(c, out=m)
            m *= o  # m = o tanh(c')
            if self.w_hr is not None:
                np.matmul(self.w_hr, m, out=out)  # h' = W_hr m
        else:
            if self.variant == "reset_after":
                a = np.matmul(self.w_hh, h, out=work["a"])
                rz, hn = a[: 2 * n], a[2 * n :]
                hn += self.b_hn
            else:
                rz = np.matmul(self.w_hh[: 2 * n], h, out=work["rz"])
            rz += gx[: 2 * n]
            np.tanh(rz, out=rz)
            rz += 1.0
            rz *= 0.5  # r, z = sig(.) = (1 + tanh(. / 2)) / 2
            r, z = rz[:n], rz[n:]
            if self.variant == "reset_after":
                hn *= r  # r (W_hn h + b_hn)
            else:
                np.multiply(r, h, out=work["rh"])
                hn = np.matmul(self.w_hh[2 * n :], work["rh"], out=work["hn"])  # W_hn (r h)
                hn += self.b_hn
            hn += gx[2 * n :]
            np.tanh(hn, out=hn)  # n
            np.subtract(h, hn, out=out)
            out *= z
            out += hn  # h' = n + z (h - n)

    def buffers(self, batch: int, dtype: Any) -> dict[str, np.ndarray]:
        """The step's scratch arrays, made once per call."""
        n = self.hidden
        rows = {"a": self.bias.shape[0], "t": n, "m": n}
        if self.cell == "gru" and self.variant == "reset_before":
            rows.update(rz=2 * n, rh=n, hn=n)
        return {name: np.empty((size, batch), dtype) for name, size in rows.items()}


def run_direction(
    d: FusedDirection, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, mask: np.ndarray | None, reverse: bool,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """One layer-direction over time: xs (T, B, I), h0 (B, H_out), c0 (B, H), mask (T, B, 1) bool or None ->
    (outputs (T, B, H_out), h (B, H_out), c (B, H))."""
    steps, batch = xs.shape[0], xs.shape[1]
    dtype = xs.dtype
    ys = np.empty((steps, batch, h0.shape[1]), dtype)  # batch-major outputs: each step's h transposed in
    states = np.empty((2, h0.shape[1], batch), dtype)  # the state, feature-major, double-buffered
    work = d.buffers(batch, dtype)
    h = h0.T.copy()  # copies: the kernels write into the state (ascontiguousarray would alias a (B, 1) or (1, H)
    c = None if c0 is None else c0.T.copy()  # state of the caller's, and change it)
    spare = np.empty_like(h)  # masked steps: the new state in a buffer of its own
    c_prev = None if c is None else np.empty_like(c)
    starts = range(0, steps, chunk)
    for start in reversed(starts) if reverse else starts:
        gx = d.inputs(xs[start : start + chunk])
        block = range(start, start + gx.shape[1] // batch)
        for t in reversed(block) if reverse else block:
            gx_t = gx[:, (t - start) * batch : (t - start + 1) * batch]
            if mask is None:
                new = states[t % 2]
                d.step(gx_t, h, c, new, work)
                h = new
                np.copyto(ys[t], new.T)
                continue
            valid = mask[t].T  # (1, B)
            if c is not None and c_prev is not None:
                np.copyto(c_prev, c)
            d.step(gx_t, h, c, spare, work)
            np.multiply(spare.T, valid.T, out=ys[t])  # zero past the length
            np.copyto(h, spare, where=valid)  # the state stays where the step is past the length
            if c is not None and c_prev is not None:
                np.copyto(c, c_prev, where=~valid)
    return ys, np.ascontiguousarray(h.T), (None if c is None else np.ascontiguousarray(c.T))
