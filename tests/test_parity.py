"""Cross-backend parity over the shared grid: every framework backend equals the NumPy reference.

The grid is `seqnet.parity.GRID` (one definition for every backend). Each case runs the same canonical
weights and inputs through the NumPy backend and the framework backend, on the fused path where the spec
allows it ("auto") and on the generic cell-and-loop path forced with fused=False ("generic").
"""

import pytest
from conftest import backends_for, require

import seqnet
from seqnet import parity
from seqnet.registry import get_backend
from seqnet.weights import init_weights

PATHS = {"torch": ("auto", "generic"), "paddle": ("auto", "generic"), "jax": ("auto",), "onnxruntime": ("auto",)}
TARGETS = [(b, p) for b, paths in PATHS.items() for p in paths]


# each backend in the dtypes it computes in (onnxruntime: float32; its CPU kernels have no float64)
RUNS = [(b, p, d) for b, p in TARGETS for d in ("float32", "float64") if d in get_backend(b).dtypes]


@pytest.mark.parametrize("case", parity.GRID, ids=lambda c: c.id)
@pytest.mark.parametrize("backend, path, dtype", RUNS, ids=[f"{b}-{p}-{d}" for b, p, d in RUNS])
def test_outputs_and_state_match_numpy(backend, path, case, dtype):
    require(backend)
    weights = init_weights(case.spec, seed=11, dtype=dtype)
    x, state, lengths = parity.inputs(case, dtype, seed=3)
    ref_out, ref_state = seqnet.predict(seqnet.build(case.spec, "numpy", weights, dtype), x, state, lengths)
    options = {"fused": False} if path == "generic" else {}
    model = seqnet.build(case.spec, backend, weights, dtype, **options)
    out, final = seqnet.predict(model, x, state, lengths)
    tol = parity.TOLERANCE[dtype]
    assert out.shape == ref_out.shape
    assert parity.scaled_diff(out, ref_out) <= tol
    pairs = zip(final, ref_state) if isinstance(ref_state, tuple) else [(final, ref_state)]
    for got, want in pairs:
        assert got.shape == want.shape
        assert parity.scaled_diff(got, want) <= tol
    # weights_of returns exactly the weights given to build
    back = seqnet.weights_of(model)
    assert list(back) == list(weights)
    assert all((back[k] == weights[k]).all() for k in weights)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compare_reports_every_backend(dtype):
    spec = seqnet.Spec("gru", 3, 4, bidirectional=True)
    for backend in seqnet.backends():
        require(backend)  # JAX: 64-bit mode for the float64 comparison
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
