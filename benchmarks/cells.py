"""A cell of a user's for the benchmark: PyTorch's LSTM written as a `seqnet.Cell` (docs/guides/cells.md), with
the canonical LSTM's parameter names, so it computes the built-in LSTM's function with the same weights (the
harness's same-results check holds it to that) through the path every registered cell takes.

Requirements: seqnet.
"""

from __future__ import annotations

from typing import Any

import seqnet

NAME = "user_lstm"


class UserLSTM(seqnet.Cell):
    """i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh); c' = sig(f) c + sig(i) tanh(g); h' = sig(o) tanh(c').
    The input products run once over all steps (`precompute`), as the fused layers do."""

    name = NAME
    state = ("h", "c")

    def parameters(self, spec: Any, input_size: int) -> dict[str, tuple[int, ...]]:
        H = spec.hidden_size
        return {"weight_ih": (4 * H, input_size), "weight_hh": (4 * H, H), "bias_ih": (4 * H,), "bias_hh": (4 * H,)}

    def precompute(self, ops: Any, p: dict[str, Any], xs: Any) -> Any:
        return ops.linear(xs, p["weight_ih"], p["bias_ih"] + p["bias_hh"])

    def step(self, ops: Any, p: dict[str, Any], gx: Any, state: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        h, c = state
        i, f, g, o = ops.split(gx + ops.linear(h, p["weight_hh"], None), 4)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, (h, c)


def user_spec(spec: seqnet.Spec) -> seqnet.Spec:
    """The LSTM `spec` as a Spec of the user cell (registered here)."""
    seqnet.register_cell(UserLSTM(), replace=True)
    return seqnet.Spec(NAME, spec.input_size, spec.hidden_size, num_layers=spec.num_layers,
                       bidirectional=spec.bidirectional)  # fmt: skip
