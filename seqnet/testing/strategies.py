"""Hypothesis strategies for seqnet: Specs, weights and model calls that shrink to the smallest failing case.

Requirements: hypothesis and numpy (`pip install 'seqnet[testing]'`).

    from hypothesis import given
    from seqnet.testing import specs, weights, calls

    @given(data=st.data())
    def test_mine(data):
        spec = data.draw(specs(cell="lstm", max_layers=2))
        w = data.draw(weights(spec))
        call = data.draw(calls(spec))          # call.x, call.state, call.lengths, call.dtype

Every strategy draws its choices in an order that shrinks toward the plainest case: cell "rnn", sizes 1,
one layer, no direction, no head, no lengths, no state. Arrays come from a drawn seed (NumPy's generator),
so drawing stays fast for any size and a failure reports the seed that reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised where hypothesis is missing
    raise ImportError("seqnet.testing's strategies need hypothesis: pip install 'seqnet[testing]'") from exc

from seqnet.errors import SpecError
from seqnet.parity import random_state
from seqnet.spec import CELLS, GRU_VARIANTS, OUTPUT_MODES, Spec, activations_of
from seqnet.weights import Weights, init_weights

_FIELDS = {"cell", "input_size", "hidden_size", "num_layers", "bidirectional", "bias", "batch_first", "dropout",
           "activation", "proj_size", "gru_variant", "output_size", "output_mode", "peephole"}  # fmt: skip


def _strategy(value: Any) -> st.SearchStrategy:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


@st.composite
def specs(
    draw: Any,
    max_input: int = 6,
    max_hidden: int = 8,
    max_layers: int = 3,
    max_output: int = 4,
    registered: bool = False,
    **fixed: Any,
) -> Spec:
    """A Hypothesis strategy of valid Specs, shrinking toward the plainest one.

    Parameters
    ----------
    max_input, max_hidden, max_layers, max_output : int
        The largest sizes drawn.
    registered : bool
        Draw the cell from every registered cell (`seqnet.cells()`: rnn, lstm, gru first, so it shrinks to rnn),
        not only the built-ins; ``cell="mine"`` or ``cell=st.sampled_from([...])`` names registered cells too. A
        registered cell's Specs keep the built-in-only fields at their defaults, and ``bias`` at True where its
        parameters do not depend on it.
    **fixed
        A Spec field fixed to a value or to a strategy of values (``cell="gru"``,
        ``bidirectional=st.just(True)``); fields that apply to one cell only (activation, proj_size,
        gru_variant, peephole) are drawn where they apply.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Spec
    """
    unknown = sorted(set(fixed) - _FIELDS)
    if unknown:
        raise SpecError(f"specs() has no Spec field(s) {unknown}; fields: {sorted(_FIELDS)}")
    pick = lambda name, default: draw(_strategy(fixed[name])) if name in fixed else draw(default)  # noqa: E731
    from seqnet.cell import cells

    cell = pick("cell", st.sampled_from(list(cells()) if registered else CELLS))
    hidden = pick("hidden_size", st.integers(1, max_hidden))
    inputs = pick("input_size", st.integers(1, max_input))
    fields: dict[str, Any] = {
        "cell": cell,
        "input_size": inputs,
        "hidden_size": hidden,
        "num_layers": pick("num_layers", st.integers(1, max_layers)),
        "bidirectional": pick("bidirectional", st.booleans()),
        "bias": pick(
            "bias",
            st.booleans().map(lambda b: not b) if cell in CELLS or _uses_bias(cell, inputs, hidden) else st.just(True),
        ),  # shrinks toward bias=True, the default  # fmt: skip
        "batch_first": pick("batch_first", st.booleans().map(lambda b: not b)),
        "activation": pick("activation", st.sampled_from(activations_of(cell))),
        "gru_variant": pick("gru_variant", st.sampled_from(GRU_VARIANTS) if cell == "gru" else st.just("reset_after")),
        "proj_size": pick("proj_size", st.integers(0, hidden - 1) if cell == "lstm" and hidden > 1 else st.just(0)),
        "output_size": pick("output_size", st.none() | st.integers(1, max_output)),
        "output_mode": pick("output_mode", st.sampled_from(OUTPUT_MODES)),
        "peephole": pick("peephole", st.booleans() if cell == "lstm" else st.just(False)),
    }
    fields["dropout"] = pick("dropout", st.just(0.0) if fields["num_layers"] == 1 else st.sampled_from([0.0, 0.25]))
    return Spec(**fields)


def _uses_bias(cell: str, input_size: int, hidden_size: int) -> bool:
    """Whether a registered cell takes Spec.bias=False (refused where its parameters do not depend on it)."""
    try:
        Spec(cell, input_size, hidden_size, bias=False)
    except SpecError:
        return False
    return True


@st.composite
def weights(draw: Any, spec: Spec, dtype: str = "float32", scales: tuple[float, ...] = (1.0, 0.5, 2.0)) -> Weights:
    """A Hypothesis strategy of canonical weights for `spec`: PyTorch's initialisation from a drawn seed, times a
    drawn scale (larger scales reach the saturating parts of the nonlinearities).

    Parameters
    ----------
    spec : Spec
    dtype : str
        "float32" or "float64".
    scales : tuple of float
        The scales drawn from (the first is where it shrinks to).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Weights
    """
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from(scales))
    base = init_weights(spec, seed=seed, dtype=dtype)
    return base.map(lambda a: (a * scale).astype(a.dtype))


@dataclass(frozen=True)
class Call:
    """One model call, as `calls` draws it.

    Attributes
    ----------
    x : numpy.ndarray
        (B, T, input_size), or (T, B, input_size) with ``batch_first=False``.
    state : numpy.ndarray, pair of numpy.ndarray, or None
    lengths : integer numpy.ndarray (B,) or None
    dtype : str
    seed : int
        The seed the arrays came from (-1 for calls given by hand).
    """

    x: np.ndarray
    state: Any
    lengths: np.ndarray | None
    dtype: str
    seed: int

    def describe(self) -> str:
        """The call in one line: shapes, dtype, seed, lengths."""
        parts = () if self.state is None else (self.state if isinstance(self.state, tuple) else (self.state,))
        state = " and ".join(str(list(s.shape)) for s in parts) or "none"
        lengths = None if self.lengths is None else self.lengths.tolist()
        return f"x {list(self.x.shape)} {self.dtype} (seed {self.seed}), state {state}, lengths {lengths}"


@st.composite
def calls(
    draw: Any, spec: Spec, dtype: str | st.SearchStrategy | None = None, max_batch: int = 4, max_steps: int = 6,
    lengths: bool | None = None, state: bool | None = None,
) -> Call:  # fmt: skip
    """A Hypothesis strategy of calls of a model of `spec`.

    Parameters
    ----------
    spec : Spec
    dtype : str or strategy, optional
        The dtype (default: float32 or float64).
    max_batch, max_steps : int
        The largest B and T drawn.
    lengths, state : bool, optional
        Force lengths (B,) in 1..T and an initial state on or off (default: drawn).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Call
    """
    chosen = draw(_strategy(dtype)) if dtype is not None else draw(st.sampled_from(["float32", "float64"]))
    batch = draw(st.integers(1, max_batch))
    steps = draw(st.integers(1, max_steps))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    shape = (batch, steps, spec.input_size) if spec.batch_first else (steps, batch, spec.input_size)
    x = rng.standard_normal(shape).astype(chosen)
    with_lengths = draw(st.booleans()) if lengths is None else lengths
    lens = np.array(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))) if with_lengths else None
    initial = None
    if draw(st.booleans()) if state is None else state:
        initial = random_state(spec, batch, rng, chosen)
    return Call(x, initial, lens, chosen, seed)
