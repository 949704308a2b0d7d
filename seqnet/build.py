"""`build` and `weights_of`: a Spec and canonical weights into a backend's native model, and back.

Requirements: numpy. The backend's framework is imported by the backend, on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from seqnet.errors import BackendError, SpecError
from seqnet.registry import check_options, get_backend
from seqnet.spec import Spec
from seqnet.weights import DTYPES, Weights, as_weights, check_dtype, init_weights


def build(
    spec: Spec,
    backend: str = "numpy",
    weights: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    **options: Any,
) -> Any:
    """The backend's native model of `spec` computing with `weights` (fresh `init_weights(spec)` if None).

    Every model is called the same way: `outputs, state = model(x, state=None, lengths=None)`.
    `dtype` is "float32" or "float64" on every backend; torch also takes "float16" and "bfloat16" (where
    torch supports them on the device; the weights are given and returned in float32).
    Options are the backend's (torch: device, fused; paddle: device, fused; numpy: seed for dropout).
    Spec, weights and dtype are checked here, before any framework is imported.
    """
    if not isinstance(spec, Spec):
        raise SpecError(f"build needs a seqnet.Spec, got {type(spec).__name__}")
    found = get_backend(backend)
    dtype = check_dtype(dtype, allowed=found.dtypes)
    canonical = dtype if dtype in DTYPES else "float32"  # half precision: the backend casts float32 weights
    checked = init_weights(spec, dtype=canonical) if weights is None else as_weights(spec, weights, canonical)
    impl = found.load()
    check_options(impl.build, options, f"build(..., backend={backend!r})", fixed=("spec", "weights", "dtype"))
    return impl.build(spec, checked, dtype, **options)


def weights_of(model: Any) -> Weights:
    """The canonical weights of any model `build` returned: NumPy arrays in the model's dtype (float32 for a
    float16 or bfloat16 torch model)."""
    name = getattr(model, "seqnet_backend", None)
    if name is None:
        raise BackendError(f"weights_of needs a model made by seqnet.build, got {type(model).__name__}")
    impl = get_backend(name).load()
    return as_weights(model.spec, impl.weights_of(model), finite=False)  # what the model holds, even diverged


def predict(model: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[Any, Any]:
    """Call any backend's model on NumPy inputs and get NumPy back: (outputs, state), in inference mode.

    The same line works for every backend (demos, parity checks, a REPL). A torch or Paddle model starts in
    train mode, as every new Module and Layer does (dropout on where the spec has it): predict runs it in
    eval mode and restores its mode after. Inside a framework's own training code, call the model directly
    with that framework's tensors instead.
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
