"""`check_cell`: one call that shows a cell of your own computes the same function on every backend.

Requirements: numpy; the frameworks of the backends checked (hypothesis is not needed).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from seqnet.errors import BackendError
from seqnet.parity import TOLERANCE, ParityError, random_state, scaled_diff, state_parts
from seqnet.spec import Spec


def computing(backend: str, dtype: str) -> Any:
    """The block in which `backend`'s models of `dtype` are built and called: the backend module's optional
    `dtype_context(dtype)` (JAX's turns its 64-bit mode on for float64, for the block only), else nothing."""
    from seqnet.registry import get_backend

    context = getattr(get_backend(backend).load(), "dtype_context", None)
    return context(dtype) if context is not None else contextlib.nullcontext()


def check_cell(cell: Any, *, backends: Any = None, dtype: str = "float64", seed: int = 0) -> dict[str, float]:
    """Check that a cell computes one function on every backend that runs registered cells, and that its
    gradients are right.

    For three Specs of the cell (one layer; two bidirectional layers with a head; a head on output_mode="last")
    and calls with and without lengths and an initial state:

    - each backend against the NumPy backend: outputs and every state part (number, order, shapes, dtype,
      values), through `assert_same_function`;
    - gradients (every weight and x) of each backend that computes them against the first of them, and the
      first against central finite differences of the NumPy forward's loss;
    - lengths: each sequence's outputs and final state equal those of the sequence cut to its length and run
      alone, in both directions, and outputs past a length are zero;
    - the ONNX round trip, where onnxruntime is among the backends: `export_onnx` (the step traced into Scans)
      run by onnxruntime against NumPy in float32, whatever `dtype` (onnxruntime has no float64), and the
      weights `from_framework` reads back from the file, exactly;
    - any other float32-only backend (litert: the step traced into WHILE loops) against NumPy in float32.

    Parameters
    ----------
    cell : Cell
        A `seqnet.Cell` (registered here if it is not yet).
    backends : sequence of str, optional
        Default: every installed backend but numpy; one that refuses registered cells, or `dtype` and float32
        too, is reported under "not run".
    dtype : str
        "float64" (the default: differences then show the function, not rounding) or "float32".
    seed : int

    Returns
    -------
    dict of str to float
        The largest difference of each check; "not run: <backend>" entries name the backends left out.

    Raises
    ------
    ParityError
        Naming the check, the Spec, the input and the largest difference.
    """
    import seqnet
    from seqnet.testing.compare import assert_same_function, default_inputs

    cell = seqnet.register_cell(cell, replace=True)
    names = [b for b in (seqnet.backends() if backends is None else backends) if b != "numpy"]
    specs = [
        Spec(cell.name, 3, 4),
        Spec(cell.name, 3, 4, num_layers=2, bidirectional=True, output_size=2),
        Spec(cell.name, 2, 3, bidirectional=True, output_size=2, output_mode="last", batch_first=False),
    ]
    report: dict[str, float] = {}
    graded: list[str] = []
    for spec in specs:
        weights = seqnet.init_weights(spec, seed=seed, dtype=dtype)
        reference = seqnet.build(spec, "numpy", weights, dtype)
        report[f"{spec}: lengths (numpy)"] = _check_lengths(spec, reference, dtype, seed)
        for name in names:
            if name == "onnxruntime":  # float32 only, whatever dtype: checked on its own
                report[f"{spec}: onnx round trip (onnxruntime vs numpy, float32)"] = _check_onnx(spec, weights, seed)
                continue
            if dtype not in seqnet.registry.get_backend(name).dtypes:
                if "float32" in seqnet.registry.get_backend(name).dtypes:  # a float32 runtime (litert): on its own
                    report[f"{spec}: {name} vs numpy, float32"] = _check_float32(spec, weights, name, seed)
                else:
                    report[f"not run: {name}"] = float("nan")
                continue
            with computing(name, dtype):
                try:
                    model = seqnet.build(spec, name, weights, dtype)
                except BackendError as exc:
                    if "registered cell" not in str(exc):
                        raise
                    report[f"not run: {name}"] = float("nan")
                    continue
                found = assert_same_function(model, reference, seed=seed)
                report[f"{spec}: {name} vs numpy"] = max(found.values())
                report[f"{spec}: lengths ({name})"] = _check_lengths(spec, model, dtype, seed)
                if hasattr(seqnet.registry.implementation(name), "value_and_grad") and name not in graded:
                    graded.append(name)
        if graded:
            report[f"{spec}: gradients vs finite differences ({graded[0]})"] = _check_gradients(
                spec, weights, graded, dtype, seed, default_inputs(spec, dtype, 3, seed)[2]
            )
    return report


def _check_onnx(spec: Spec, weights: Any, seed: int) -> float:
    """onnxruntime against NumPy in float32 (outputs and states, with lengths and a state), and the weights read
    back from the exported model equal to those written."""
    import seqnet

    weights32 = weights.astype("float32")
    found = _check_float32(spec, weights32, "onnxruntime", seed)
    read_spec, read = seqnet.from_framework(seqnet.export_onnx(spec, weights32, lengths=True, initial_state=True))
    if read_spec != spec or sorted(read) != sorted(weights32):
        raise ParityError(f"onnx round trip: read back {read_spec} with {sorted(read)}\n  spec: {spec}")
    for name in weights32:
        if not np.array_equal(read[name], weights32[name]):
            raise ParityError(f"onnx round trip: {name} read back differs from the one written\n  spec: {spec}")
    return found


def _check_float32(spec: Spec, weights: Any, backend: str, seed: int) -> float:
    """A float32-only backend (onnxruntime, litert) against NumPy in float32: outputs and states, with lengths
    and a state; the largest difference."""
    import seqnet
    from seqnet.testing.compare import assert_same_function

    weights32 = weights.astype("float32")
    found = assert_same_function(seqnet.build(spec, backend, weights32), seqnet.build(spec, "numpy", weights32,
                                 "float32"), seed=seed)  # fmt: skip
    return max(found.values())


def _check_lengths(spec: Spec, model: Any, dtype: str, seed: int) -> float:
    """Largest difference between each sequence's results in a padded batch and the sequence run alone."""
    import seqnet

    rng = np.random.default_rng(seed + 7)
    batch, steps = 3, 5
    lengths = np.array([5, 2, 3])
    shape = (batch, steps, spec.input_size) if spec.batch_first else (steps, batch, spec.input_size)
    x = rng.standard_normal(shape).astype(dtype)
    state = random_state(spec, batch, rng, dtype)
    out, final = seqnet.predict(model, x, state, lengths)
    worst = 0.0
    for b, n in enumerate(lengths.tolist()):
        alone_x = x[b : b + 1, :n] if spec.batch_first else x[:n, b : b + 1]
        alone_state = tuple(p[:, b : b + 1] for p in state_parts(state))
        alone_out, alone_final = seqnet.predict(model, alone_x, alone_state if len(alone_state) > 1 else alone_state[0])
        if spec.output_mode == "last":
            pairs = [(out[b : b + 1], alone_out)]
        else:
            mine = out[b : b + 1, :n] if spec.batch_first else out[:n, b : b + 1]
            past = out[b, n:] if spec.batch_first else out[n:, b]
            if past.size and np.abs(past).max() != 0:
                raise ParityError(f"lengths: outputs past length {n} are not zero\n  spec: {spec}")
            pairs = [(mine, alone_out)]
        pairs += [(p[:, b : b + 1], q) for p, q in zip(state_parts(final), state_parts(alone_final), strict=True)]
        diff = max(scaled_diff(p, q) for p, q in pairs)
        if not diff <= TOLERANCE[dtype]:
            raise ParityError(f"lengths: sequence {b} (length {n}) in a padded batch differs from it alone by "
                              f"{diff:.3g}\n  spec: {spec}\n  backend: {model.seqnet_backend}")  # fmt: skip
        worst = max(worst, diff)
    return worst


def _check_gradients(spec: Spec, weights: Any, graded: list[str], dtype: str, seed: int, call: Any) -> float:
    """The first gradient backend against central finite differences of the NumPy forward's mse; the others
    against the first. Returns the largest difference against the finite differences."""
    import seqnet
    from seqnet.losses import loss_and_grad

    x = np.asarray(call.x, dtype)
    target = np.random.default_rng(seed + 11).standard_normal(spec.output_shape(x.shape)).astype(dtype)
    results = {}
    for name in graded:
        with computing(name, dtype):
            results[name] = seqnet.value_and_grad(spec, weights, x, target, "mse", name, call.state, call.lengths)
    first_loss, first_grads, _ = results[graded[0]]
    limit = 10 * TOLERANCE[dtype]
    for name in graded[1:]:
        loss, grads, _ = results[name]
        diff = max([abs(loss - first_loss)] + [scaled_diff(grads[k], first_grads[k]) for k in first_grads])
        if not diff <= limit:
            raise ParityError(f"gradients: {name} and {graded[0]} differ by {diff:.3g}\n  spec: {spec}")
    if dtype != "float64":
        return 0.0  # finite differences need float64

    def loss_of(w: dict[str, np.ndarray]) -> float:
        model = seqnet.build(spec, "numpy", w, dtype)
        out, _ = seqnet.predict(model, x, call.state, call.lengths)
        return float(loss_and_grad(spec, "mse", out, target, call.lengths)[0])

    rng = np.random.default_rng(seed)
    worst, step = 0.0, 1e-6
    for name, value in weights.items():
        index = tuple(int(rng.integers(n)) for n in value.shape)
        up, down = ({k: np.array(v) for k, v in weights.items()} for _ in range(2))
        up[name][index] += step
        down[name][index] -= step
        estimate = (loss_of(up) - loss_of(down)) / (2 * step)
        diff = abs(first_grads[name][index] - estimate) / max(1.0, abs(estimate))
        if not diff <= 1e-6:
            raise ParityError(f"gradients: {graded[0]}'s dL/d{name}{list(index)} is {first_grads[name][index]:.8g}, "
                              f"finite differences give {estimate:.8g}\n  spec: {spec}")  # fmt: skip
        worst = max(worst, diff)
    return worst
