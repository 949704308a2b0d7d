"""seqnet.testing: cross-framework parity checks for your own test suite, and a conformance suite for backends.

Requirements: numpy; hypothesis for the strategies and pytest for the conformance suite
(`pip install 'seqnet[testing]'`).

    from seqnet.testing import assert_same_function, specs, weights, calls, check_backend

    assert_same_function(my_torch_lstm, seqnet.build(spec, "paddle", w))   # same outputs, states (and gradients)
    @given(st.data())                                                        # Hypothesis strategies that shrink
    def test(data): spec = data.draw(specs(cell="gru")); ...
    check_backend("mybackend")     # == pytest --pyargs seqnet.testing.conformance --seqnet-backend mybackend
    check_cell(MyCell())           # a cell of your own: the same function, gradients and padding on every backend

Tolerances are seqnet.parity's (scaled differences: float32 1e-5, float64 1e-10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqnet.testing.cells import check_cell, computing
from seqnet.testing.compare import ParityError, assert_same_function, model_spec

__all__ = [
    "Call",
    "ParityError",
    "assert_same_function",
    "calls",
    "check_backend",
    "check_cell",
    "computing",
    "model_spec",
    "specs",
    "weights",
]


def __getattr__(name: str) -> Any:
    """The Hypothesis strategies, imported on first use (they need hypothesis)."""
    if name in ("specs", "weights", "calls", "Call"):
        from seqnet.testing import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'seqnet.testing' has no attribute {name!r}")


def check_backend(
    name: str, examples: int = 25, options: dict[str, Any] | None = None, pytest_args: Sequence[str] = ()
) -> int:
    """Run the conformance suite on backend `name` in this process.

    Parameters
    ----------
    name : str
        A registered backend.
    examples : int
        Hypothesis examples of the property run.
    options : dict, optional
        Build options, e.g. ``{"fused": False}``.
    pytest_args : sequence of str
        More pytest arguments ("-x", "-q").

    Returns
    -------
    int
        pytest's exit code: 0 when the backend conforms.
    """
    import json

    import pytest

    args = ["--pyargs", "seqnet.testing.conformance", "--seqnet-backend", name, "--seqnet-examples", str(examples),
            "-p", "no:cacheprovider"]  # fmt: skip
    for key, value in (options or {}).items():
        args += ["--seqnet-option", f"{key}={json.dumps(value)}"]
    return int(pytest.main([*args, *pytest_args]))
