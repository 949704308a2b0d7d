"""Cross-backend parity: the grid of specs every backend is tested over, and the comparison.

Requirements: numpy; each backend's framework when that backend is compared.

`GRID` is the one definition of the parity grid that every backend's tests share: each cell kind (rnn with
tanh, relu and sigmoid; lstm with and without projection; gru reset_after and reset_before) under five
combinations of layers (1-3), direction, bias, head (none, "sequence", "last"), lengths, initial state
and batch_first, so every feature meets every cell.

`compare(spec, weights, backends=...)` runs one input through several backends from the same canonical
weights and reports the largest scaled difference of outputs and final states against the first backend:
what a user porting a model between frameworks wants to see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqnet.build import build, predict
from seqnet.spec import Spec
from seqnet.weights import as_weights, init_weights

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}

CELL_KINDS: dict[str, dict[str, Any]] = {
    "rnn-tanh": {"cell": "rnn"},
    "rnn-relu": {"cell": "rnn", "activation": "relu"},
    "rnn-sigmoid": {"cell": "rnn", "activation": "sigmoid"},
    "lstm": {"cell": "lstm"},
    "lstm-proj": {"cell": "lstm", "proj_size": 3},
    "gru": {"cell": "gru"},
    "gru-reset_before": {"cell": "gru", "gru_variant": "reset_before"},
}

# (num_layers, bidirectional, bias, head, with lengths, with initial state, batch_first)
COMBOS: list[tuple[int, bool, bool, str | None, bool, bool, bool]] = [
    (1, False, True, None, False, False, True),
    (2, True, False, "sequence", True, True, False),
    (3, True, True, "last", True, False, True),
    (2, False, True, "last", False, True, False),
    (1, True, True, "last-features", True, True, True),
]

BATCH, STEPS, INPUT, HIDDEN, OUTPUT = 3, 5, 4, 6, 2
LENGTHS = np.array([4, 1, 5])


@dataclass(frozen=True)
class Case:
    """One parity case: a spec and whether the call passes lengths and an initial state."""

    id: str
    spec: Spec
    lengths: bool
    state: bool


def _case(kind: str, combo: tuple) -> Case:
    layers, bi, bias, head, lengths, state, batch_first = combo
    spec = Spec(
        input_size=INPUT,
        hidden_size=HIDDEN,
        num_layers=layers,
        bidirectional=bi,
        bias=bias,
        batch_first=batch_first,
        output_size=OUTPUT if head in ("sequence", "last") else None,
        output_mode="last" if head and head.startswith("last") else "sequence",
        **CELL_KINDS[kind],
    )
    name = f"{kind}-L{layers}{'-bi' if bi else ''}{'' if bias else '-nobias'}-{head or 'nohead'}"
    name += f"{'-len' if lengths else ''}{'-h0' if state else ''}{'' if batch_first else '-tmajor'}"
    return Case(name, spec, lengths, state)


GRID: list[Case] = [_case(kind, combo) for kind in CELL_KINDS for combo in COMBOS]


def inputs(case: Case, dtype: str = "float32", seed: int = 0) -> tuple[np.ndarray, Any, np.ndarray | None]:
    """(x, state or None, lengths or None) as NumPy arrays for `case`."""
    spec = case.spec
    rng = np.random.default_rng(seed)
    shape = (BATCH, STEPS, INPUT) if spec.batch_first else (STEPS, BATCH, INPUT)
    x = rng.standard_normal(shape).astype(dtype)
    state = None
    if case.state:
        rows = spec.num_layers * spec.num_directions
        h = (0.5 * rng.standard_normal((rows, BATCH, spec.hidden_out))).astype(dtype)
        c = (0.5 * rng.standard_normal((rows, BATCH, spec.hidden_size))).astype(dtype)
        state = (h, c) if spec.cell == "lstm" else h
    return x, state, (LENGTHS.copy() if case.lengths else None)


def scaled_diff(a: Any, b: Any) -> float:
    """max|a - b| / max(1, max|b|): an absolute difference for values of order one, a relative one above.

    Parameters
    ----------
    a, b : array-like
        Of the same shape.

    Returns
    -------
    float
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def compare(
    spec: Spec,
    weights: Mapping[str, Any] | None = None,
    backends: Sequence[str] = ("numpy", "torch"),
    x: np.ndarray | None = None,
    state: Any = None,
    lengths: np.ndarray | None = None,
    dtype: str = "float32",
) -> dict[str, dict[str, float]]:
    """The largest scaled differences of each backend's outputs and final state against `backends[0]`.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array, optional
        Default: `init_weights(spec)`.
    backends : sequence of str
        The first is the reference.
    x : numpy.ndarray, optional
        Default: a random batch of 3 sequences of 5 steps.
    state, lengths : optional
        As for a model call.
    dtype : str

    Returns
    -------
    dict of str to dict of str to float
        backend -> {"outputs": ..., "state": ...}, each max|a - b| / max(1, max|b|).
    """
    weights = init_weights(spec, dtype=dtype) if weights is None else as_weights(spec, weights, dtype)
    if x is None:
        shape = (BATCH, STEPS, spec.input_size) if spec.batch_first else (STEPS, BATCH, spec.input_size)
        x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    results = {b: predict(build(spec, b, weights, dtype), x, state, lengths) for b in backends}
    ref_out, ref_state = results[backends[0]]
    report = {}
    for name, (out, final) in results.items():
        pairs = zip(final, ref_state) if isinstance(final, tuple) else [(final, ref_state)]
        report[name] = {"outputs": scaled_diff(out, ref_out), "state": max(scaled_diff(a, b) for a, b in pairs)}
    return report
