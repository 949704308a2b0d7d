"""`build` and `weights_of`: a Spec and canonical weights into a backend's native model, and back.

Requirements: numpy. The backend's framework is imported by the backend, on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from seqnet.errors import BackendError, SpecError
from seqnet.protocols import Model
from seqnet.registry import check_options, get_backend, resolve_backend
from seqnet.spec import Spec
from seqnet.weights import DTYPES, Weights, as_weights, check_dtype, init_weights, require_spec


def build(
    spec: Spec,
    backend: str | None = None,
    weights: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    **options: Any,
) -> Model:
    """The backend's native model of `spec`, computing with `weights`.

    Every model is called the same way: ``outputs, state = model(x, state=None, lengths=None)``, x
    (B, T, input_size) or (T, B, input_size) with ``batch_first=False``.

    Parameters
    ----------
    spec : Spec
        The model.
    backend : str, optional
        A registered backend: "numpy", "torch", "paddle", "jax", "onnxruntime" or a plugin's. Default: the
        default backend (`seqnet.set_backend`, else the environment variable SEQNET_BACKEND, else "numpy").
    weights : mapping of name to array, optional
        Canonical weights (`layout` lists them); None draws `init_weights(spec)`.
    dtype : str
        "float32" or "float64" on every backend that declares it (JAX's float64 needs its 64-bit mode,
        onnxruntime is float32 only); torch and jax also "float16" and "bfloat16" (weights in and out as
        float32).
    **options
        The backend's options: numpy ``seed``, ``fused``; torch ``device``, ``fused``, ``compile``; paddle ``device``,
        ``fused``; jax ``device``; onnxruntime ``providers``, ``threads``, ``opset``. A misspelt one is an error
        naming the closest. numpy, torch, paddle and jax also take ``scan`` for a cell with a linear form
        (mingru, minlstm): "parallel" (one scan over all steps: a blocked scan, or lax.associative_scan on JAX),
        "sequential" (a step at a time)
        or "auto" (the default: whichever the backend measured faster at the call's length).

    Returns
    -------
    Model
        The framework's native object: `NumpyRNN`, a ``torch.nn.Module``, a ``paddle.nn.Layer``, `JaxRNN`,
        `OnnxRNN`.

    Raises
    ------
    SpecError, WeightsError, BackendError, BackendUnavailable
        Checked here, before any framework is imported.
    """
    require_spec(spec, "build")
    backend = resolve_backend(backend)
    found = get_backend(backend)
    dtype = check_dtype(dtype, allowed=found.dtypes)
    canonical = dtype if dtype in DTYPES else "float32"  # half precision: the backend casts float32 weights
    checked = init_weights(spec, dtype=canonical) if weights is None else as_weights(spec, weights, canonical)
    if "scan" in options:
        check_scan(spec, options["scan"])
    impl = found.load()
    check_options(impl.build, options, f"build(..., backend={backend!r})", fixed=("spec", "weights", "dtype"))
    return impl.build(spec, checked, dtype, **options)


def check_scan(spec: Spec, scan: Any) -> None:
    """`build`'s scan option: one of seqnet.generic.SCANS, for a cell with a linear form only."""
    from seqnet.cell import cells, get_cell, is_linear
    from seqnet.generic import SCANS

    if not isinstance(scan, str) or scan not in SCANS:
        raise BackendError(f"scan={scan!r} is not allowed: one of {SCANS}")
    if not is_linear(get_cell(spec.cell)):
        linear = [name for name, cell in cells().items() if is_linear(cell)]
        raise SpecError(f"scan={scan!r} is not allowed for cell={spec.cell!r}, which has no linear form (it runs a "
                        f"step at a time); scan applies to the cells with one: {linear}")  # fmt: skip


def weights_of(model: Any) -> Weights:
    """The canonical weights of any model `build` returned.

    Parameters
    ----------
    model : Model
        A model of any backend, trained or not.

    Returns
    -------
    Weights
        NumPy arrays in the model's dtype (float32 for a float16 or bfloat16 model), exactly the values
        the model holds.
    """
    name = getattr(model, "seqnet_backend", None)
    if name is None:
        raise BackendError(f"weights_of needs a model made by seqnet.build, got {type(model).__name__}")
    impl = get_backend(name).load()
    return as_weights(model.spec, impl.weights_of(model), finite=False)  # what the model holds, even diverged


def predict(model: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """Any backend's model on NumPy inputs, in inference mode, with NumPy back.

    A torch or Paddle model starts in train mode, as every new Module and Layer does (dropout on where the
    spec has it): predict runs it in eval mode, without an autograd graph, and restores its mode after.
    Inside a framework's own training code, call the model with that framework's tensors instead.

    Parameters
    ----------
    model : Model
        A model of any backend.
    x : numpy.ndarray
        (B, T, input_size), or (T, B, input_size) with ``batch_first=False``, in the model's dtype.
    state : numpy.ndarray or pair of numpy.ndarray, optional
        h (L*D, B, H_out), for an LSTM (h, c) with c (L*D, B, hidden_size).
    lengths : integer numpy.ndarray (B,), optional
        Each sequence's length in 1..T.

    Returns
    -------
    outputs : numpy.ndarray
        (B, T, D*H_out), (B, T, output_size) with a head, or (B, output_size) for ``output_mode="last"``.
    state : numpy.ndarray or pair of numpy.ndarray
        The final state, in the layout of ``state``.
    """
    name = getattr(model, "seqnet_backend", None)
    if name is None:
        raise BackendError(f"predict needs a model made by seqnet.build, got {type(model).__name__}")
    impl = get_backend(name).load()

    def native(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (tuple, list)):
            return tuple(impl.from_numpy(v, model) for v in value)
        return impl.from_numpy(value, model)

    training = getattr(model, "training", False)
    if training:
        model.eval()
    try:
        with impl.no_grad() if hasattr(impl, "no_grad") else contextlib.nullcontext():  # no autograd graph
            outputs, final = model(native(x), state=native(state), lengths=native(lengths))
    finally:
        if training:
            model.train()
    final = tuple(impl.to_numpy(s) for s in final) if isinstance(final, tuple) else impl.to_numpy(final)
    return impl.to_numpy(outputs), final
