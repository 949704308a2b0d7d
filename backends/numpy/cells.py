"""The three recurrent cells in NumPy: one step forward, and the same step backward.

Requirements: numpy.

This is the readable reference of seqnet's equations (README "Equations" says the same). Shapes, for batch
B, hidden size H, H_out = proj_size or H, G gate blocks (rnn 1, lstm 4, gru 3):

    gx    (B, G*H)   the input's contribution W_ih x_t + b_ih, computed for a chunk of steps at a time
    h     (B, H_out) the previous hidden state
    c     (B, H)     the previous LSTM cell state (None for rnn and gru)
    p     `Params`   one layer-direction's weights, canonical layout (W_hh is (G*H, H_out))

`step(p, gx, h, c) -> (h_new, c_new, cache)`; `back(p, cache, dh, dc, g) -> (dgx, dh_prev, dc_prev)`
takes the loss's gradient with respect to h_new (and c_new), adds the step's share of dW_hh, db_hh and
dW_hr into the gradient record `g`, and returns the gradients flowing to gx, h and c. That is the
backpropagation-through-time recurrence: dL/dh_{t-1} = dL/dh_t . dh_t/dh_{t-1} + (direct terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)). exp(-a) overflows to inf for a below about -88 (float32), giving exactly 0: the
    model runs its loops under np.errstate(over="ignore"). Measured 1.6x faster than (1 + tanh(a/2)) / 2."""
    return 1.0 / (1.0 + np.exp(-a))


@dataclass
class Params:
    """One layer-direction's weights; also used as the record of their gradients."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray | None = None
    b_hh: np.ndarray | None = None
    w_hr: np.ndarray | None = None
    w_ph: np.ndarray | None = None  # an LSTM's peepholes (3, H), rows (i, f, o)

    def zeros_like(self) -> Params:
        """A record of zeros of the same shapes (the gradients' start)."""

        def zeros(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.zeros_like(a)

        return Params(np.zeros_like(self.w_ih), np.zeros_like(self.w_hh), zeros(self.b_ih), zeros(self.b_hh),
                      zeros(self.w_hr), zeros(self.w_ph))  # fmt: skip

    def astuple(self) -> tuple[np.ndarray | None, ...]:
        """The arrays in the order of NAMES."""
        return (self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.w_hr, self.w_ph)


NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "weight_peephole")  # Params' canonical names


def _hidden_product(p: Params, h: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
    """W_hh[rows] h + b_hh[rows]."""
    out = h @ p.w_hh[rows].T
    return out if p.b_hh is None else out + p.b_hh[rows]


def _hidden_back(p: Params, g: Params, h: np.ndarray, da: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
    """Backward of `_hidden_product`: accumulates dW_hh[rows], db_hh[rows]; returns dL/dh."""
    g.w_hh[rows] += da.T @ h
    if g.b_hh is not None:
        g.b_hh[rows] += da.sum(axis=0)
    return da @ p.w_hh[rows]


class RNNCell:
    """h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh, relu or sigmoid."""

    def __init__(self, activation: str = "tanh"):
        self.activation = activation

    def act(self, a: np.ndarray) -> np.ndarray:
        if self.activation == "tanh":
            return np.tanh(a)
        if self.activation == "relu":
            return np.maximum(a, 0)
        return sigmoid(a)

    def act_grad(self, y: np.ndarray) -> np.ndarray:
        """act'(a) written with the output y = act(a)."""
        if self.activation == "tanh":
            return 1 - y * y
        if self.activation == "relu":
            return (y > 0).astype(y.dtype)
        return y * (1 - y)

    def step(self, p: Params, gx: np.ndarray, h: np.ndarray, c: None):
        h_new = self.act(gx + _hidden_product(p, h))
        return h_new, None, (h, h_new)

    def back(self, p: Params, cache, dh: np.ndarray, dc: None, g: Params):
        h, h_new = cache
        da = dh * self.act_grad(h_new)
        return da, _hidden_back(p, g, h, da), None


class LSTMCell:
    """Gates (i, f, g, o) = (sig, sig, tanh, sig)(W_ih x + b_ih + W_hh h + b_hh);
    c' = f * c + i * g;  m = o * tanh(c');  h' = m, or W_hr m with a projection.
    With peepholes P (3, H): i and f add P[0] * c and P[1] * c before their sigmoid, o adds P[2] * c'."""

    def step(self, p: Params, gx: np.ndarray, h: np.ndarray, c: np.ndarray):
        a = gx + _hidden_product(p, h)
        n = c.shape[1]
        a_i, a_f, a_o = a[:, :n], a[:, n : 2 * n], a[:, 3 * n :]
        if p.w_ph is not None:
            a_i, a_f = a_i + p.w_ph[0] * c, a_f + p.w_ph[1] * c
        i, f = sigmoid(a_i), sigmoid(a_f)
        g = np.tanh(a[:, 2 * n : 3 * n])
        c_new = f * c + i * g
        o = sigmoid(a_o if p.w_ph is None else a_o + p.w_ph[2] * c_new)
        tc = np.tanh(c_new)
        m = o * tc
        h_new = m if p.w_hr is None else m @ p.w_hr.T
        return h_new, c_new, (h, c, i, f, g, o, c_new, tc, m)

    def back(self, p: Params, cache, dh: np.ndarray, dc: np.ndarray, grads: Params):
        h, c, i, f, g, o, c_new, tc, m = cache
        if p.w_hr is None:
            dm = dh
        else:
            grads.w_hr += dh.T @ m
            dm = dh @ p.w_hr
        da_o = dm * tc * o * (1 - o)
        dc = dc + dm * o * (1 - tc * tc)  # dL/dc' through h' = o tanh(c')
        if p.w_ph is not None:
            dc = dc + da_o * p.w_ph[2]  # and through the output gate's peephole
        da_i, da_f = dc * g * i * (1 - i), dc * c * f * (1 - f)
        da = np.concatenate([da_i, da_f, dc * i * (1 - g * g), da_o], axis=1)
        dc_prev = dc * f
        if p.w_ph is not None:
            assert grads.w_ph is not None
            grads.w_ph += np.stack([(da_i * c).sum(axis=0), (da_f * c).sum(axis=0), (da_o * c_new).sum(axis=0)])
            dc_prev = dc_prev + da_i * p.w_ph[0] + da_f * p.w_ph[1]
        return da, _hidden_back(p, grads, h, da), dc_prev


class GRUCell:
    """r = sig(W_ir x + b_ir + W_hr h + b_hr);  z = sig(W_iz x + b_iz + W_hz h + b_hz);
    reset_after:  n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   (cuDNN, PyTorch, Paddle)
    reset_before: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)   (Cho et al. 2014)
    h' = (1 - z) * n + z * h."""

    def __init__(self, variant: str = "reset_after"):
        self.reset_after = variant == "reset_after"

    def step(self, p: Params, gx: np.ndarray, h: np.ndarray, c: None):
        n_h = p.w_hh.shape[0] // 3
        rz, new = slice(0, 2 * n_h), slice(2 * n_h, 3 * n_h)
        if self.reset_after:
            gh = _hidden_product(p, h)
            rz_gates = sigmoid(gx[:, rz] + gh[:, rz])
            r, z = rz_gates[:, :n_h], rz_gates[:, n_h:]
            extra = gh[:, new]
            n = np.tanh(gx[:, new] + r * extra)
        else:
            rz_gates = sigmoid(gx[:, rz] + _hidden_product(p, h, rz))
            r, z = rz_gates[:, :n_h], rz_gates[:, n_h:]
            extra = r * h
            n = np.tanh(gx[:, new] + _hidden_product(p, extra, new))
        h_new = n + z * (h - n)
        return h_new, None, (h, r, z, n, extra)

    def back(self, p: Params, cache, dh: np.ndarray, dc: None, grads: Params):
        h, r, z, n, extra = cache
        n_h = n.shape[1]
        rz, new = slice(0, 2 * n_h), slice(2 * n_h, 3 * n_h)
        dan = dh * (1 - z) * (1 - n * n)
        daz = dh * (h - n) * z * (1 - z)
        if self.reset_after:
            dar = dan * extra * r * (1 - r)
            dh_prev = dh * z + _hidden_back(p, grads, h, np.concatenate([dar, daz, dan * r], axis=1))
        else:
            d_rh = _hidden_back(p, grads, extra, dan, new)
            dar = d_rh * h * r * (1 - r)
            dh_prev = dh * z + d_rh * r + _hidden_back(p, grads, h, np.concatenate([dar, daz], axis=1), rz)
        return np.concatenate([dar, daz, dan], axis=1), dh_prev, None


OWN_CELLS = ("rnn", "lstm", "gru")  # the cells written here, with hand-written backward passes


def make_cell(cell: str, activation: str = "tanh", gru_variant: str = "reset_after"):
    """The cell object for a spec's cell name."""
    if cell == "rnn":
        return RNNCell(activation)
    if cell == "lstm":
        return LSTMCell()
    return GRUCell(gru_variant)
