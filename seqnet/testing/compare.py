"""`assert_same_function`: two models compared on the same inputs, with a failure message that says where.

Requirements: numpy; the frameworks of the models compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from seqnet.errors import SeqnetError
from seqnet.parity import TOLERANCE, ParityError, check_result, random_state, scaled_diff, state_parts
from seqnet.spec import Spec

__all__ = ["ParityError", "assert_same_function", "default_inputs", "model_spec"]


def model_spec(model: Any) -> tuple[Spec, str]:
    """(Spec, dtype) of a model seqnet built or of any object from_framework reads."""
    from seqnet.build import weights_of
    from seqnet.convert import from_framework

    if getattr(model, "seqnet_backend", None) is not None:
        return model.spec, weights_of(model).dtype.name
    spec, weights = from_framework(model)
    return spec, weights.dtype.name


def default_inputs(spec: Spec, dtype: str, examples: int = 3, seed: int = 0) -> list[Any]:
    """`examples` calls with B 3 and T 5: plain, with lengths, with lengths and an initial state, then again
    with other seeds."""
    from seqnet.testing.strategies import Call

    out = []
    for i in range(examples):
        rng = np.random.default_rng(seed + i)
        shape = (3, 5, spec.input_size) if spec.batch_first else (5, 3, spec.input_size)
        x = rng.standard_normal(shape).astype(dtype)
        lengths = np.array([5, 1, 3]) if i % 3 else None
        state = None
        if i % 3 == 2:
            state = random_state(spec, 3, rng, dtype)
        out.append(Call(x, state, lengths, dtype, seed + i))
    return out


def _largest(name: str, got: np.ndarray, want: np.ndarray) -> tuple[float, str]:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return float("inf"), f"{name}: shapes differ, a {list(got.shape)} and b {list(want.shape)}"
    if got.size == 0:
        return 0.0, name
    diff = scaled_diff(got, want)
    where = np.unravel_index(int(np.argmax(np.abs(got - want))), got.shape)
    return diff, f"{name} {diff:.3g} at {list(map(int, where))} (a {got[where]:.6g}, b {want[where]:.6g})"


def assert_same_function(
    a: Any,
    b: Any,
    *,
    inputs: Iterable[Any] | None = None,
    examples: int = 3,
    seed: int = 0,
    gradients: bool = False,
    tolerance: float | None = None,
) -> dict[str, float]:
    """Assert that `a` and `b` compute the same function on the same inputs.

    Outputs and final states (and with `gradients` the loss's gradients for every weight and for x) are
    compared as scaled differences within `seqnet.parity.TOLERANCE` for their dtype (float32 1e-5, float64
    1e-10; gradients ten times that), unless `tolerance` is given.

    Parameters
    ----------
    a, b : object
        Models `seqnet.build` made, or anything `seqnet.from_framework` reads (a torch ``nn.LSTM``, a Keras
        model, a flax module, an ONNX model), called the framework's own way.
    inputs : iterable, optional
        `Call` objects (e.g. drawn with `calls`) or (x, state, lengths) tuples; by default `examples`
        generated calls, with and without lengths and an initial state.
    examples : int
        How many calls to generate.
    seed : int
        Seed of the generated calls.
    gradients : bool
        Also compare gradients (models of backends that compute them).
    tolerance : float, optional
        Replaces the dtype's tolerance.

    Returns
    -------
    dict of str to float
        The largest differences found: "outputs", "state" (and "gradients").

    Raises
    ------
    ParityError
        Naming the Spec, the input and the largest difference with its index and both values.
    """
    spec_a, dtype_a = model_spec(a)
    spec_b, dtype_b = model_spec(b)
    for field in ("input_size", "batch_first", "cell"):
        if getattr(spec_a, field) != getattr(spec_b, field):
            raise ParityError(f"a and b differ in {field}: {getattr(spec_a, field)!r} and {getattr(spec_b, field)!r}\n"
                              f"  a: {spec_a}\n  b: {spec_b}")  # fmt: skip
    dtype = "float32" if "float32" in (dtype_a, dtype_b) else "float64"
    limit = TOLERANCE[dtype] if tolerance is None else tolerance
    calls = default_inputs(spec_a, dtype, examples, seed) if inputs is None else [_as_call(c, dtype) for c in inputs]
    worst: dict[str, float] = {"outputs": 0.0, "state": 0.0}
    for call in calls:
        x = np.asarray(call.x, dtype=dtype)
        state = None if call.state is None else _cast(call.state, dtype)
        got = _run_checked(a, "a", spec_a, dtype_a, call, x, state)
        want = _run_checked(b, "b", spec_b, dtype_b, call, x, state)
        checks = [_largest("outputs", got[0], want[0])]
        names = spec_a.state_shapes(1)
        parts = zip(names, state_parts(got[1]), state_parts(want[1]), strict=True)
        checks += [_largest(f"state {name}", s, t) for name, s, t in parts]
        _raise_if(checks, limit, spec_a, call)
        worst["outputs"] = max(worst["outputs"], checks[0][0])
        worst["state"] = max([worst["state"]] + [c[0] for c in checks[1:]])
    if gradients:
        for call in calls:
            worst["gradients"] = max(worst.get("gradients", 0.0), _compare_gradients(a, b, spec_a, call, dtype, limit))
    return worst


def _run_checked(model: Any, side: str, spec: Spec, dtype: str, call: Any, x: np.ndarray, state: Any) -> Any:
    """`model` called on its own copies of the inputs, in its own dtype; ParityError if it wrote into them or if
    its result lacks a state part, orders or shapes them otherwise than its Spec, or comes in another dtype."""
    from seqnet.convert import run

    own_x, own_state = x.astype(dtype), None if state is None else _cast(state, dtype)
    own_lengths = None if call.lengths is None else np.array(call.lengths)
    given = [own_x, *(state_parts(own_state) if own_state is not None else ()), own_lengths]
    given = [v for v in given if v is not None]
    before = [v.copy() for v in given]
    result = run(model, own_x, own_state, own_lengths)
    if not all(np.array_equal(u, v) for u, v in zip(before, given, strict=True)):
        raise ParityError(
            f"{side} wrote into its inputs (x, state or lengths)\n  spec: {spec}\n  input: {call.describe()}"
        )
    result = tuple(result) if isinstance(result, list) else result
    check_result(spec, result, x.shape, dtype, side)
    return result


def _as_call(given: Any, dtype: str) -> Any:
    """A Call from a Call or an (x, state, lengths) tuple."""
    from seqnet.testing.strategies import Call

    if isinstance(given, Call):
        return given
    x, state, lengths = given
    return Call(np.asarray(x), state, None if lengths is None else np.asarray(lengths), dtype, -1)


def _cast(state: Any, dtype: str) -> Any:
    return (
        tuple(np.asarray(s, dtype=dtype) for s in state) if isinstance(state, tuple) else np.asarray(state, dtype=dtype)
    )


def _raise_if(checks: list[tuple[float, str]], limit: float, spec: Spec, call: Any, what: str = "") -> None:
    bad = [text for diff, text in checks if not diff <= limit]
    if bad:
        raise ParityError(
            f"a and b compute different functions{what}:\n  spec: {spec}\n  input: {call.describe()}\n"
            f"  largest difference: " + "; ".join(bad) + f"\n  tolerance: {limit:g} (scaled: |a - b| / max(1, |b|))"
        )


def _compare_gradients(a: Any, b: Any, spec: Spec, call: Any, dtype: str, limit: float) -> float:
    from seqnet.build import weights_of
    from seqnet.training import value_and_grad

    results = []
    for model in (a, b):
        name = getattr(model, "seqnet_backend", None)
        if name is None:
            raise SeqnetError("gradients=True compares models seqnet.build made (on backends that compute gradients)")
        out_shape = spec.output_shape(call.x.shape)
        target = np.random.default_rng(call.seed).standard_normal(out_shape).astype(dtype)
        results.append(value_and_grad(spec, weights_of(model), np.asarray(call.x, dtype), target, backend=name,
                                      state=None if call.state is None else _cast(call.state, dtype),
                                      lengths=call.lengths, dtype=dtype))  # fmt: skip
    (loss_a, grads_a, dx_a), (loss_b, grads_b, dx_b) = results
    checks = [_largest("loss", np.asarray(loss_a), np.asarray(loss_b)), _largest("dL/dx", dx_a, dx_b)]
    if list(grads_a) != list(grads_b):
        raise ParityError(
            f"a and b give gradients of other weights: a {list(grads_a)}, b {list(grads_b)}\n  spec: {spec}"
        )
    checks += [_largest(f"dL/d{name}", grads_a[name], grads_b[name]) for name in grads_a]
    gradient_limit = limit * 10  # gradients sum over steps and batch: one order of magnitude more rounding
    _raise_if(checks, gradient_limit, spec, call, " (gradients)")
    return max(c[0] for c in checks)
