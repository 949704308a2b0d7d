"""What every seqnet backend must honour. Run: pytest --pyargs seqnet.testing.conformance --seqnet-backend NAME.

The tests take three fixtures: `seqnet_backend` (the name), `seqnet_options` (build options) and
`seqnet_examples` (Hypothesis examples); seqnet's pytest plugin (seqnet/testing/plugin.py) makes them from
the command line, and a test suite can import these tests and give the fixtures itself (seqnet's own tests
do, for every backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqnet
from seqnet import parity
from seqnet.registry import get_backend
from seqnet.testing.cells import computing
from seqnet.testing.reference import generic_numpy
from seqnet.testing.strategies import calls, specs, weights

# one case per cell kind, cycling through the grid's combinations: where gradients are compared
GRADIENT_CASES = [parity.GRID[i * len(parity.COMBOS) + i % len(parity.COMBOS)] for i in range(len(parity.CELL_KINDS))]


@pytest.fixture
def record(seqnet_backend: str) -> Any:
    found = get_backend(seqnet_backend)
    if not found.available():
        pytest.fail(f"backend {seqnet_backend!r} is registered but not available: pip install {found.install}")
    return found


def _dtypes(record: Any) -> list[str]:
    return [d for d in ("float32", "float64") if d in record.dtypes]


def _each_dtype(record: Any) -> Iterator[str]:
    """Each of float32 and float64 that the backend declares, the loop's body computing in it (`computing`)."""
    for dtype in _dtypes(record):
        with computing(record.name, dtype):
            yield dtype


def reference(spec: Any, w: Any, x: Any, state: Any, lengths: Any, backend: str) -> tuple[Any, Any]:
    """The NumPy backend; for the NumPy backend itself, seqnet.generic's loop in NumPy (independent cells)."""
    if backend == "numpy":
        return generic_numpy(spec, w, x, state, lengths)
    return seqnet.predict(seqnet.build(spec, "numpy", w, w.dtype.name), x, state, lengths)


def assert_matches(spec: Any, got: Any, want: Any, x_shape: Any, dtype: str, where: str) -> None:
    """`got` has exactly the structure the Spec prescribes (state parts: number, order, shapes; dtype) and the
    values of `want` within the dtype's tolerance."""
    parity.check_result(spec, got, tuple(x_shape), dtype, f"{where}: the backend")
    tol = parity.TOLERANCE[dtype]
    assert parity.scaled_diff(got[0], want[0]) <= tol, (
        f"{where}: outputs differ by {parity.scaled_diff(got[0], want[0]):.3g}"
    )
    parts = zip(spec.state_shapes(1), parity.state_parts(got[1]), parity.state_parts(want[1]), strict=True)
    for name, a, b in parts:
        assert parity.scaled_diff(a, b) <= tol, f"{where}: final state {name} differs by {parity.scaled_diff(a, b):.3g}"


def test_registered_and_available(seqnet_backend: str, record: Any) -> None:
    assert seqnet_backend in seqnet.backends()
    assert record.dtypes and set(_dtypes(record)), f"{seqnet_backend} declares no float32 or float64: {record.dtypes}"
    impl = record.load()
    for function in ("build", "weights_of", "to_numpy", "from_numpy"):
        assert callable(getattr(impl, function, None)), f"the backend module has no {function}()"


@pytest.mark.parametrize("case", parity.GRID, ids=lambda c: c.id)
def test_parity_grid(seqnet_backend: str, record: Any, seqnet_options: dict, case: Any) -> None:
    for dtype in _each_dtype(record):
        w = seqnet.init_weights(case.spec, seed=11, dtype=dtype)
        x, state, lengths = parity.inputs(case, dtype, seed=3)
        model = seqnet.build(case.spec, seqnet_backend, w, dtype, **seqnet_options)
        got = seqnet.predict(model, x, state, lengths)
        assert_matches(
            case.spec, got, reference(case.spec, w, x, state, lengths, seqnet_backend), x.shape, dtype, case.id
        )


@pytest.mark.parametrize("case", parity.GRID, ids=lambda c: c.id)
def test_weights_of_round_trip_is_exact(seqnet_backend: str, record: Any, seqnet_options: dict, case: Any) -> None:
    dtype = _dtypes(record)[-1]
    w = seqnet.init_weights(case.spec, seed=2, dtype=dtype)
    with computing(seqnet_backend, dtype):
        back = seqnet.weights_of(seqnet.build(case.spec, seqnet_backend, w, dtype, **seqnet_options))
    assert list(back) == list(w)
    for name in w:
        assert back[name].dtype == w[name].dtype and np.array_equal(back[name], w[name]), name


def test_outputs_in_the_declared_dtype_and_shape(seqnet_backend: str, record: Any, seqnet_options: dict) -> None:
    for spec in (seqnet.Spec("lstm", 3, 4, num_layers=2, bidirectional=True, output_size=2),
                 seqnet.Spec("gru", 3, 4, output_size=2, output_mode="last", batch_first=False)):  # fmt: skip
        for dtype in _each_dtype(record):
            model = seqnet.build(spec, seqnet_backend, seqnet.init_weights(spec, dtype=dtype), dtype, **seqnet_options)
            x = np.zeros((2, 5, 3) if spec.batch_first else (5, 2, 3), dtype)
            parity.check_result(spec, seqnet.predict(model, x), x.shape, dtype, f"{seqnet_backend} ({dtype})")


def test_a_dtype_it_does_not_declare_is_refused(seqnet_backend: str, record: Any) -> None:
    missing = [d for d in ("float32", "float64", "float16", "bfloat16") if d not in record.dtypes]
    spec = seqnet.Spec("rnn", 2, 3)
    for dtype in missing:
        with pytest.raises(seqnet.WeightsError, match=f"dtype='{dtype}' is not supported"):
            seqnet.build(spec, seqnet_backend, dtype=dtype)


def test_single_steps_single_sequences_and_lengths_of_one(
    seqnet_backend: str, record: Any, seqnet_options: dict
) -> None:
    dtype = _dtypes(record)[0]
    for spec in (seqnet.Spec("lstm", 1, 1, bidirectional=True, proj_size=0),
                 seqnet.Spec("gru", 2, 1, num_layers=2, output_size=1, output_mode="last")):  # fmt: skip
        w = seqnet.init_weights(spec, seed=4, dtype=dtype)
        model = seqnet.build(spec, seqnet_backend, w, dtype, **seqnet_options)
        for batch, steps, lengths in ((1, 1, None), (1, 1, np.array([1])), (3, 4, np.array([1, 1, 1]))):
            x = np.random.default_rng(batch + steps).standard_normal((batch, steps, spec.input_size)).astype(dtype)
            got = seqnet.predict(model, x, None, lengths)
            assert_matches(
                spec, got, reference(spec, w, x, None, lengths, seqnet_backend), x.shape, dtype, f"B{batch} T{steps}"
            )


@pytest.mark.parametrize("batch, hidden", [(1, 1), (1, 4), (3, 1), (3, 4)])
def test_a_call_leaves_its_inputs_unchanged(seqnet_backend: str, record: Any, seqnet_options: dict, batch: int,
                                            hidden: int) -> None:  # fmt: skip
    """A model must not write into the caller's x, state or lengths (in-place kernels must copy first)."""
    dtype = _dtypes(record)[0]
    for spec in (seqnet.Spec("lstm", 2, hidden, bidirectional=True), seqnet.Spec("gru", 2, hidden)):
        model = seqnet.build(
            spec, seqnet_backend, seqnet.init_weights(spec, seed=1, dtype=dtype), dtype, **seqnet_options
        )
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, 3, 2)).astype(dtype)
        rows = spec.num_directions
        h = rng.standard_normal((rows, batch, hidden)).astype(dtype)
        state = (h, rng.standard_normal((rows, batch, hidden)).astype(dtype)) if spec.cell == "lstm" else h
        lengths = np.full(batch, 2)
        copies = [a.copy() for a in (x, lengths, *(state if isinstance(state, tuple) else (state,)))]
        for call_lengths in (None, lengths):
            seqnet.predict(model, x, state, call_lengths)
        after = (x, lengths, *(state if isinstance(state, tuple) else (state,)))
        assert all(np.array_equal(a, b) for a, b in zip(after, copies, strict=True)), f"{spec.cell} changed its inputs"


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: c.id)
def test_gradients_equal_the_reference(seqnet_backend: str, record: Any, case: Any) -> None:
    if not hasattr(record.load(), "value_and_grad"):
        with pytest.raises(seqnet.BackendError, match="inference only"):
            _gradients(case, seqnet_backend, _dtypes(record)[0])
        return
    for dtype in _each_dtype(record):
        loss, grads, dx = _gradients(case, seqnet_backend, dtype)
        if seqnet_backend == "numpy":
            _check_by_finite_differences(case, dtype, loss, grads)
            continue
        ref_loss, ref_grads, ref_dx = _gradients(case, "numpy", dtype)
        tol = {"float32": 1e-4, "float64": 1e-9}[dtype]
        assert list(grads) == list(ref_grads), f"gradients of {list(grads)}, expected {list(ref_grads)}"
        assert abs(loss - ref_loss) <= tol * max(1.0, abs(ref_loss))
        assert parity.scaled_diff(dx, ref_dx) <= tol
        for name in ref_grads:
            assert parity.scaled_diff(grads[name], ref_grads[name]) <= tol, name


def _gradients(case: Any, backend: str, dtype: str) -> tuple[float, Any, np.ndarray]:
    spec = case.spec
    w = seqnet.init_weights(spec, seed=8, dtype=dtype)
    x, state, lengths = parity.inputs(case, dtype, seed=5)
    target = np.random.default_rng(1).standard_normal(spec.output_shape(x.shape)).astype(dtype)
    return seqnet.value_and_grad(spec, w, x, target, "mse", backend, state, lengths)


def _check_by_finite_differences(case: Any, dtype: str, loss: float, grads: Any) -> None:
    if dtype != "float64":
        return
    spec = case.spec
    w = seqnet.init_weights(spec, seed=8, dtype=dtype)
    x, state, lengths = parity.inputs(case, dtype, seed=5)
    target = np.random.default_rng(1).standard_normal(spec.output_shape(x.shape)).astype(dtype)
    rng = np.random.default_rng(0)
    for name in list(w)[:: max(1, len(w) // 6)]:
        index = tuple(int(rng.integers(n)) for n in w[name].shape)
        step = 1e-6
        values = []
        for sign in (1, -1):
            changed = {k: v.copy() for k, v in w.items()}
            changed[name][index] += sign * step
            values.append(seqnet.value_and_grad(spec, changed, x, target, "mse", "numpy", state, lengths)[0])
        estimate = (values[0] - values[1]) / (2 * step)
        assert abs(estimate - grads[name][index]) <= 1e-6 * max(1.0, abs(estimate)), (name, index)


def _bad_calls(spec: Any, dtype: str) -> list[tuple[str, Any, str]]:
    other = "float64" if dtype == "float32" else "float32"
    x = np.zeros((2, 3, spec.input_size), dtype)
    return [
        ("rank", (np.zeros((2, 3), dtype), None, None), "expected 3 dimensions"),
        ("input size", (np.zeros((2, 3, spec.input_size + 1), dtype), None, None), f"input_size={spec.input_size}"),
        ("dtype", (x.astype(other), None, None), f"x has dtype {other}, the model computes in {dtype}"),
        ("state shape", (x, np.zeros((1, 3, spec.hidden_size), dtype), None), "state h has shape [1, 3, 4]"),
        ("lengths range", (x, None, np.array([4, 1])), "out of range: each must be in 1..3"),
        ("lengths zero", (x, None, np.array([0, 1])), "out of range"),
        ("lengths dtype", (x, None, np.array([1.0, 2.0])), "expected integers"),
        ("lengths shape", (x, None, np.array([1, 2, 3])), "lengths has shape [3]: expected (2,)"),
    ]


def test_bad_input_gets_seqnets_errors(seqnet_backend: str, record: Any, seqnet_options: dict) -> None:
    dtype = _dtypes(record)[0]
    spec = seqnet.Spec("gru", 3, 4)
    model = seqnet.build(spec, seqnet_backend, seqnet.init_weights(spec, dtype=dtype), dtype, **seqnet_options)
    for what, (x, state, lengths), words in _bad_calls(spec, dtype):
        with pytest.raises(seqnet.InputError) as info:
            seqnet.predict(model, x, state, lengths)
        assert words in str(info.value), f"{what}: {info.value}"
    with pytest.raises(seqnet.BackendError, match="has no option 'not_an_option'"):
        seqnet.build(spec, seqnet_backend, not_an_option=1)


def test_property_parity(seqnet_backend: str, record: Any, seqnet_options: dict, seqnet_examples: int) -> None:
    dtypes = _dtypes(record)

    @settings(max_examples=seqnet_examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def check(data: Any) -> None:
        spec = data.draw(specs(max_layers=2, max_hidden=6, max_input=5), label="spec")
        dtype = data.draw(st.sampled_from(dtypes), label="dtype")
        w = data.draw(weights(spec, dtype=dtype), label="weights")
        call = data.draw(calls(spec, dtype=dtype), label="call")
        with computing(seqnet_backend, dtype):
            got = seqnet.predict(seqnet.build(spec, seqnet_backend, w, dtype, **seqnet_options), call.x, call.state,
                                 call.lengths)  # fmt: skip
        want = reference(spec, w, call.x, call.state, call.lengths, seqnet_backend)
        assert_matches(spec, got, want, call.x.shape, dtype, f"{spec}, {call.describe()}")

    check()
