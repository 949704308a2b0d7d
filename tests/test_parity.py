"""seqnet.parity itself: the grid covers every feature, and compare() reports every backend.

The grid is run on every backend and path by the conformance suite (tests/test_conformance.py collects
seqnet.testing.conformance for numpy, torch and Paddle on both paths, jax, onnxruntime and a toy plugin).
"""

import pytest
from conftest import backends_for, require

import seqnet
from seqnet import parity
from seqnet.testing import computing


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compare_reports_every_backend(dtype):
    spec = seqnet.Spec("gru", 3, 4, bidirectional=True)
    for backend in seqnet.backends():
        require(backend)
    with computing("jax", dtype):  # JAX: its 64-bit mode for the float64 comparison, this block only
        report = parity.compare(spec, backends=backends_for(dtype), dtype=dtype)
    assert set(report) == set(backends_for(dtype)) and len(report) >= 4
    tol = parity.TOLERANCE[dtype]
    assert all(r["outputs"] <= tol and r["state"] <= tol for r in report.values())


def test_the_grid_covers_every_feature():
    specs = [c.spec for c in parity.GRID]
    assert {s.cell for s in specs} == {"rnn", "lstm", "gru"}
    assert {s.activation for s in specs if s.cell == "rnn"} == {"tanh", "relu", "sigmoid"}
    assert {s.gru_variant for s in specs if s.cell == "gru"} == {"reset_after", "reset_before"}
    assert any(s.proj_size for s in specs)
    assert {s.num_layers for s in specs} == {1, 2, 3}
    assert {s.bidirectional for s in specs} == {True, False} and {s.bias for s in specs} == {True, False}
    assert {s.batch_first for s in specs} == {True, False}
    assert {(s.output_size is not None, s.output_mode) for s in specs} == {
        (False, "sequence"),
        (True, "sequence"),
        (True, "last"),
        (False, "last"),
    }
    assert {c.lengths for c in parity.GRID} == {True, False} and {c.state for c in parity.GRID} == {True, False}
