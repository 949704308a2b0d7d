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
- The LSTM's one product per step does everything linear: its operand is z = [h; x_t; 1] (H_out + I + 1, B)
  and one weight matrix holds the hidden weights, the input weights and the biases side by side, so there is
  no separate input product and no addition of its result or of a bias. Measured at size M, interleaved
  against the input's products taken 16 steps at a time beforehand: 49.7 -> 41.9, 42.9 -> 34.2 and
  58.3 -> 44.9 ms in three runs (the chunked input product, whose operand is transposed, ran at about
  115 GFLOP/s; the products alone, back to back, reach 75-81% of the best 1024 x 1024 product). The GRU keeps
  the chunked input products (taken `chunk` steps at a time, with the biases outside r * (.) folded in):
  stacking its products needs zero blocks (r multiplies W_hn h + b_hn only), and that measured slower in the
  benchmark run (M 34.9 -> 41.7 ms, L 319 -> 438 ms).
- Every nonlinearity runs in place in one buffer per step, and every one is a tanh: a sigmoid gate is
  computed as sig(z) = (1 + tanh(z / 2)) / 2, with the halving folded into its weight rows and bias (exact:
  a power of two), and the LSTM's rows are stored in the order i, f, o, g so that one tanh covers all four
  gates and one add and one multiply finish the three sigmoid gates. NumPy's float32 tanh over the (4H, B)
  block took 20 us against 50 us for exp, + 1 and reciprocal (the formulation used before); whole forward,
  interleaved medians at size M: LSTM 50.9 -> 48.2 ms and GRU 39.6 -> 35.8 ms on 2 threads, 60.0 -> 58.9
  and 47.4 -> 41.9 ms on one. The identity is exact in real numbers; in float32 the results differ from
  the reference cells by a few 1e-7, inside seqnet's parity tolerance, and the tests hold both paths to it.
- A step writes its new h into z's h rows (the product has read them), and that h is copied transposed into
  the batch-major outputs.

Shapes (feature-major inside): z (H_out + I + 1, B) for the LSTM, (H_out, B) for the GRU; gx (3H, n*B) for a
chunk of n steps; h (H_out, B); c (H, B); outputs (T, B, H_out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cells import Params


def tanh_rows(cell: str, n: int) -> tuple[np.ndarray, int]:
    """How the kernels (these and bptt.py's) store a cell's gate rows so that one tanh gives every gate: the
    rows reordered with the sigmoid gates first (LSTM i, f, o, g; the GRU's r, z, n already are), and how many
    leading rows are sigmoid gates, stored halved: sig(z) = (1 + tanh(z / 2)) / 2 (halving is exact)."""
    if cell == "lstm":
        return np.r_[0 : 2 * n, 3 * n : 4 * n, 2 * n : 3 * n], 3 * n
    return np.arange(3 * n), 2 * n


class FusedDirection:
    """One layer-direction's weights, prepared once for the fused kernel of its cell (feature-major).

    The step's product is `w @ z`. For the LSTM z = [h; x_t; 1] (H_out + I + 1 rows) and w = [W_hh | W_ih | b]
    with the rows in the order i, f, o, g: one product does everything linear. For the GRU z = h and w = W_hh;
    the input's contribution (with the biases outside r * (.)) comes from `inputs`, one product for a chunk
    of steps. Sigmoid rows are stored halved."""

    def __init__(self, cell: str, p: Params, gru_variant: str = "reset_after"):
        self.cell, self.variant = cell, gru_variant
        if cell not in ("lstm", "gru"):
            raise ValueError(f"fused kernels exist for lstm and gru, not {cell!r} (an rnn runs cells.py)")
        gh, h_out = p.w_hh.shape
        n = gh // {"lstm": 4, "gru": 3}[cell]
        self.hidden = n
        dtype = p.w_hh.dtype
        b_ih = p.b_ih if p.b_ih is not None else np.zeros(gh, dtype)
        b_hh = p.b_hh if p.b_hh is not None else np.zeros(gh, dtype)
        self.stacked = cell == "lstm"  # whether the step's operand holds x_t and 1 below h
        self.w_ih = self.bias = self.b_hn = None
        order, sigmoid_rows = tanh_rows(cell, n)
        if cell == "lstm":
            w = np.concatenate([p.w_hh[order], p.w_ih[order], (b_ih + b_hh)[order, None]], axis=1)
            w[:sigmoid_rows] *= 0.5
        else:
            half = np.ones(gh, dtype)
            half[:sigmoid_rows] = 0.5  # r and z
            w = p.w_hh * half[:, None]
            bias = b_ih.copy()
            bias[: 2 * n] += b_hh[: 2 * n]
            self.w_ih = np.ascontiguousarray(p.w_ih * half[:, None])
            self.bias = (bias * half)[:, None]
            self.b_hn = b_hh[2 * n :, None].copy()  # inside r * (W_hn h + b_hn): stays in the step
        self.w = np.ascontiguousarray(w)
        self.w_hr = p.w_hr

    def inputs(self, xs: np.ndarray) -> np.ndarray | None:
        """The GRU's input contribution for a chunk of n steps: xs (n, B, I) -> (3H, n*B), as stored; None for
        the LSTM, whose step's product takes x_t itself."""
        if self.w_ih is None:
            return None
        gx = np.matmul(self.w_ih, xs.reshape(-1, xs.shape[2]).T)
        gx += self.bias
        return gx

    def step(self, z: np.ndarray, gx: np.ndarray | None, c: np.ndarray | None, out: np.ndarray, work: dict) -> None:
        """One step: z holds h (H_out, B) in its first rows (then x_t and 1 for the LSTM), gx the GRU's input
        contribution (3H, B); the new h into `out` (H_out, B), which may be z's h rows themselves (the product
        has read them); the new c into `c` in place; `work` holds the buffers."""
        n = self.hidden
        if self.cell == "lstm":
            a = np.matmul(self.w, z, out=work["a"])
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
            return
        assert gx is not None and self.b_hn is not None
        h = z
        if self.variant == "reset_after":
            a = np.matmul(self.w, h, out=work["a"])
            rz, hn = a[: 2 * n], a[2 * n :]
            hn += self.b_hn
        else:
            rz = np.matmul(self.w[: 2 * n], h, out=work["rz"])
        rz += gx[: 2 * n]
        np.tanh(rz, out=rz)
        rz += 1.0
        rz *= 0.5  # r, z = sig(.) = (1 + tanh(. / 2)) / 2
        r, zg = rz[:n], rz[n:]
        if self.variant == "reset_after":
            hn *= r  # r (W_hn h + b_hn)
        else:
            np.multiply(r, h, out=work["rh"])
            hn = np.matmul(self.w[2 * n :], work["rh"], out=work["hn"])  # W_hn (r h)
            hn += self.b_hn
        hn += gx[2 * n :]
        np.tanh(hn, out=hn)  # n
        np.subtract(h, hn, out=out)
        out *= zg
        out += hn  # h' = n + z (h - n)

    def buffers(self, batch: int, dtype: Any) -> dict[str, np.ndarray]:
        """The step's scratch arrays, made once per call."""
        n = self.hidden
        rows = {"a": self.w.shape[0], "t": n, "m": n}
        if self.cell == "gru" and self.variant == "reset_before":
            rows.update(rz=2 * n, rh=n, hn=n)
        return {name: np.empty((size, batch), dtype) for name, size in rows.items()}


def run_direction(
    d: FusedDirection, xs: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, mask: np.ndarray | None, reverse: bool,
    chunk: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """One layer-direction over time: xs (T, B, I), h0 (B, H_out), c0 (B, H), mask (T, B, 1) bool or None ->
    (outputs (T, B, H_out), h (B, H_out), c (B, H)). The GRU's input products are taken `chunk` steps at a time."""
    steps, batch, h_out = xs.shape[0], xs.shape[1], h0.shape[1]
    dtype = xs.dtype
    ys = np.empty((steps, batch, h_out), dtype)  # batch-major outputs: each step's h transposed in
    z = np.empty((h_out + xs.shape[2] + 1 if d.stacked else h_out, batch), dtype)  # the step's operand
    h, x_t = z[:h_out], z[h_out:-1]
    h[...] = h0.T  # a copy: the kernels write into the state, never into the caller's arrays
    if d.stacked:
        z[-1] = 1.0  # the bias column's operand
    c = None if c0 is None else c0.T.copy()
    work = d.buffers(batch, dtype)
    spare = np.empty_like(h)  # masked steps: the new state in a buffer of its own
    c_prev = None if c is None else np.empty_like(c)
    starts = range(0, steps, chunk)
    for start in reversed(starts) if reverse else starts:
        gx = d.inputs(xs[start : start + chunk])
        block = range(start, min(start + chunk, steps))
        for t in reversed(block) if reverse else block:
            gx_t = None if gx is None else gx[:, (t - start) * batch : (t - start + 1) * batch]
            if d.stacked:
                np.copyto(x_t, xs[t].T)
            if mask is None:
                d.step(z, gx_t, c, h, work)
                np.copyto(ys[t], h.T)
                continue
            valid = mask[t].T  # (1, B)
            if c is not None and c_prev is not None:
                np.copyto(c_prev, c)
            d.step(z, gx_t, c, spare, work)
            np.multiply(spare.T, valid.T, out=ys[t])  # zero past the length
            np.copyto(h, spare, where=valid)  # the state stays where the step is past the length
            if c is not None and c_prev is not None:
                np.copyto(c, c_prev, where=~valid)
    return ys, np.ascontiguousarray(h.T), (None if c is None else np.ascontiguousarray(c.T))
