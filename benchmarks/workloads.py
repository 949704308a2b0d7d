"""What the harness measures: sizes, FLOP counts, and the `Impl` record each framework module returns.

Requirements: numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqnet import Spec

SIZES = {
    "S": dict(batch=32, steps=100, input=32, hidden=64, layers=1, bidirectional=False),
    "M": dict(batch=64, steps=100, input=128, hidden=256, layers=1, bidirectional=False),
    "L": dict(batch=64, steps=200, input=128, hidden=256, layers=2, bidirectional=True),
}
CELLS = ("rnn", "lstm", "gru")


@dataclass
class Impl:
    """One implementation at one size: `forward()` and (where it trains) `train_step()`, each blocking
    until done; `group` is the framework it is compared within; `output()` returns its forward result
    as NumPy (for the same-results check), where it shares seqnet's weights."""

    name: str
    group: str
    forward: Callable[[], object]
    train_step: Callable[[], object] | None = None
    output: Callable[[], np.ndarray] | None = None
    note: str = ""


def spec_for(cell: str, size: str) -> Spec:
    s = SIZES[size]
    return Spec(cell, s["input"], s["hidden"], num_layers=s["layers"], bidirectional=s["bidirectional"])


def flops(spec: Spec, batch: int, steps: int) -> float:
    """Forward FLOPs: 2 B T (I_k + H) G H for each layer k and direction (the matrix products)."""
    total = 0.0
    for layer in range(spec.num_layers):
        total += 2.0 * batch * steps * (spec.layer_input_size(layer) + spec.hidden_size) * spec.gates * spec.hidden_size
    return total * spec.num_directions


def inputs(spec: Spec, size: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x (B, T, I), target (B, T, D*H)) in float32."""
    s = SIZES[size]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((s["batch"], s["steps"], s["input"])).astype(np.float32)
    y = rng.standard_normal((s["batch"], s["steps"], spec.num_directions * s["hidden"])).astype(np.float32)
    return x, y
