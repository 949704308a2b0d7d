"""Cross-backend parity: the grid of specs every backend is tested over, and the comparison.

Requirements: numpy; each backend's framework when that backend is compared.

`GRID` is the one definition of the parity grid that every backend's tests share: each cell kind (rnn with
tanh, relu and sigmoid; lstm with and without projection, and with peepholes; gru reset_after and
reset_before) under five combinations of layers (1-3), direction, bias, head (none, "sequence", "last"),
lengths, initial state and batch_first, so every feature meets every cell.

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
    "lstm-peephole": {"cell": "lstm", "peephole": True},
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
        state = random_state(spec, BATCH, rng, dtype)
    return x, state, (LENGTHS.copy() if case.lengths else None)


def random_state(spec: Spec, batch: int, rng: np.random.Generator, dtype: str) -> Any:
    """An initial state for `batch` sequences, 0.5 * standard normal, drawn from `rng` part by part in
    `spec.state_shapes` order: one array, or the tuple of the parts (an LSTM's (h, c)); its absolute value where
    the spec's states are positive (`Spec.positive_state`)."""
    parts = tuple((0.5 * rng.standard_normal(shape)).astype(dtype) for shape in spec.state_shapes(batch).values())
    if spec.positive_state:
        parts = tuple(np.abs(p) for p in parts)
    return parts if len(parts) > 1 else parts[0]


class ParityError(AssertionError):
    """Two models that should compute the same function do not, or a model's result does not have the structure
    its Spec prescribes (the message says which part, and how)."""


def state_parts(state: Any) -> tuple[Any, ...]:
    """A final state's parts: (h, c) of an LSTM's pair, (h,) of one array."""
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def check_result(spec: Spec, result: Any, x_shape: tuple[int, ...], dtype: str, who: str = "the model") -> None:
    """Raise ParityError unless a call's `result` is exactly what `spec` prescribes for an input of `x_shape`:
    the pair (outputs, state); outputs of `spec.output_shape(x_shape)`; the state one array h, or for a
    cell of several parts the tuple of them in `spec.state_shapes` order (an LSTM's (h, c)), each part of its
    shape; everything in `dtype`. Values are not looked at: that is the comparison's job.
    """

    def fail(what: str) -> None:
        raise ParityError(f"{who} returned {what}\n  spec: {spec}")

    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"a {type(result).__name__}, not the pair (outputs, state)")
    out, state = result
    batch = x_shape[0] if spec.batch_first else x_shape[1]
    expected = spec.state_shapes(batch)
    names = ", ".join(expected)
    if len(expected) > 1 and not (isinstance(state, tuple) and len(state) == len(expected)):
        got = f"a tuple of {len(state)} part(s)" if isinstance(state, (tuple, list)) else type(state).__name__
        fail(f"a state of {got}: expected the {len(expected)} parts ({names})")
    if len(expected) == 1 and isinstance(state, (tuple, list)):
        fail(f"a state of a {type(state).__name__} of {len(state)}: expected one array h")
    parts = [("outputs", out, spec.output_shape(x_shape))]
    parts += [
        (f"state {name}", value, shape)
        for (name, shape), value in zip(expected.items(), state_parts(state), strict=True)
    ]
    for name, value, shape in parts:
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            fail(f"{name} as a {type(value).__name__}, not an array")
        if tuple(value.shape) != tuple(shape):
            fail(f"{name} of shape {list(value.shape)}: expected {list(shape)}")
        if np.dtype(value.dtype).name != dtype:
            fail(f"{name} in {np.dtype(value.dtype).name}: expected {dtype}")


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

    Raises
    ------
    ParityError
        Where a backend's result lacks a state part, has parts in another order or shape, or another dtype.
    """
    weights = init_weights(spec, dtype=dtype) if weights is None else as_weights(spec, weights, dtype)
    if x is None:
        shape = (BATCH, STEPS, spec.input_size) if spec.batch_first else (STEPS, BATCH, spec.input_size)
        x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    results = {b: predict(build(spec, b, weights, dtype), x, state, lengths) for b in backends}
    for name, result in results.items():
        check_result(spec, result, x.shape, dtype, f"backend {name!r}")
    ref_out, ref_state = results[backends[0]]
    report = {}
    for name, (out, final) in results.items():
        pairs = zip(state_parts(final), state_parts(ref_state), strict=True)
        report[name] = {"outputs": scaled_diff(out, ref_out), "state": max(scaled_diff(a, b) for a, b in pairs)}
    return report
