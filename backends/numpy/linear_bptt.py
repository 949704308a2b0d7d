"""The backward pass of a linear recurrence, written by hand: what NumPy's gradients of minGRU, minLSTM and every
cell with a linear form run, so that autograd records no step of the time loop.

Requirements: numpy, autograd (`seqnet[autograd]`).

For h_t = a_t * h_{t-1} + b_t (t = 0..T-1, h_{-1} = h0) and g_t = dL/dh_t from everything downstream, the total
gradient at each step runs backwards as one more linear recurrence,

    G_t = g_t + a_{t+1} * G_{t+1}         (G_{T-1} = g_{T-1})

and then  dL/db_t = G_t,  dL/da_t = G_t * h_{t-1},  dL/dh0 = a_0 * G_0.  A reverse direction (h_t from h_{t+1})
mirrors each index. Both the forward and this backward recurrence run as `seqnet.generic.blocked_scan`, so
a training step is O(T) work in about 6 sqrt(T) whole-array steps; autograd differentiates only what makes a
and b (one matrix product over all steps) and what reads h.

Shapes: a, b, the outputs and their gradients (T, B, H); h0 (B, H).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from seqnet.generic import blocked_scan

from .cell_model import NumpyOps

_PLAIN = NumpyOps()  # plain NumPy: no autograd boxes reach the backward pass


def backward(a: np.ndarray, h0: np.ndarray, hs: np.ndarray, g: np.ndarray, reverse: bool):
    """(dL/da, dL/db, dL/dh0) of hs = the recurrence over (a, b) from h0, given g = dL/dhs."""
    one = np.ones_like(a[:1])
    if reverse:  # h_t = a_t h_{t+1} + b_t: G_t = g_t + a_{t-1} G_{t-1}, from the first step on
        big_g = blocked_scan(_PLAIN, np.concatenate([one, a[:-1]]), g, np.zeros_like(h0), False)
        before = np.concatenate([hs[1:], h0[None]])
        return big_g * before, big_g, a[-1] * big_g[-1]
    big_g = blocked_scan(_PLAIN, np.concatenate([a[1:], one]), g, np.zeros_like(h0), True)
    before = np.concatenate([h0[None], hs[:-1]])
    return big_g * before, big_g, a[0] * big_g[0]


@lru_cache(maxsize=1)
def recurrence() -> Any:
    """`linear_scan(a, b, h0, reverse)` as an autograd primitive with the hand-written backward pass above."""
    from autograd.extend import defvjp_argnums, primitive

    @primitive
    def linear_scan(a: Any, b: Any, h0: Any, reverse: bool) -> Any:
        return blocked_scan(_PLAIN, a, b, h0, reverse)

    def vjp_maker(argnums: Any, hs: Any, args: Any, kwargs: Any) -> Any:
        a, _, h0, reverse = args

        def vjp(g: Any) -> tuple[Any, ...]:
            found = backward(a, h0, hs, g, reverse)
            return tuple(found[i] for i in argnums)

        return vjp

    defvjp_argnums(linear_scan, vjp_maker)
    return linear_scan
