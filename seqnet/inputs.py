"""Checks of a model call's x, state and lengths against its Spec, shared by every backend.

Requirements: numpy. Works on any array type with `.shape` and `.dtype` (NumPy, torch, paddle, jax), so
each backend calls it before its framework sees the input, and every backend words its errors alike.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from seqnet.errors import InputError
from seqnet.spec import Spec

_DTYPE_NAMES: dict[Any, str] = {}  # dtype object -> name: a call's checks look a dtype up, not format it


def dtype_name(dtype: Any) -> str:
    """'float32' for np.float32, torch.float32, paddle.float32, jnp.float32 and their names."""
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        name = str(dtype).rsplit(".", 1)[-1]
        with contextlib.suppress(TypeError):  # an unhashable dtype: named each time
            _DTYPE_NAMES[dtype] = name
        return name


def _dim(n: Any) -> int | None:
    if type(n) is int:
        return n if n >= 0 else None
    return int(n) if isinstance(n, np.integer) and n >= 0 else None


def known_dims(value: Any) -> tuple[Any, ...]:
    """The dims of an array: ints where known; None where a trace or static graph leaves them open (a torch
    SymInt under torch.export, -1 or None in a Paddle static graph). Never int() a symbolic dim: that would
    specialise it."""
    return tuple([_dim(n) for n in value.shape])


def dims_differ(got: tuple[Any, ...], want: tuple[Any, ...]) -> bool:
    """Whether known dims contradict: unknown dims (None) on either side match anything."""
    if got == want:
        return False
    # by index, not zip: Paddle's to_static rewrites check_call, and its zip() takes no strict= (ruff B905)
    return len(got) != len(want) or any(
        got[i] is not None and want[i] is not None and got[i] != want[i] for i in range(len(got))
    )


def check_call(
    spec: Spec,
    model_dtype: str,
    x: Any,
    state: Any = None,
    lengths: Any = None,
    lengths_values: np.ndarray | None = None,
) -> tuple[Any, Any]:
    """Validate one call; returns (batch, steps), None where a trace leaves a dim open. Raises InputError
    naming what is wrong.

    `lengths_values` is the NumPy copy of `lengths` where the backend can see its values (it cannot
    inside a JAX trace); value checks are skipped when it is None.
    """
    try:
        shape, x_dtype = known_dims(x), x.dtype
    except AttributeError:
        raise InputError(f"x must be an array, got {type(x).__name__}") from None
    layout = "(B, T, input_size)" if spec.batch_first else "(T, B, input_size)"
    if len(shape) != 3:
        raise InputError(f"x has shape {list(shape)}: expected 3 dimensions {layout}")
    if shape[2] is not None and shape[2] != spec.input_size:
        raise InputError(f"x has shape {list(shape)}: its last dimension must be input_size={spec.input_size}")
    batch, steps = (shape[0], shape[1]) if spec.batch_first else (shape[1], shape[0])
    if (batch is not None and batch < 1) or (steps is not None and steps < 1):
        raise InputError(f"x has shape {list(shape)}: batch and time must be at least 1")
    if dtype_name(x_dtype) != model_dtype:
        other = dtype_name(x_dtype)
        rebuild = f" or build with dtype='{other}'" if other in ("float32", "float64", "float16", "bfloat16") else ""
        raise InputError(
            f"x has dtype {other}, the model computes in {model_dtype}: convert x "
            f"(e.g. x.astype('{model_dtype}') / x.to(torch.{model_dtype})){rebuild}"
        )
    if state is not None:
        _check_state(spec, model_dtype, state, batch)
    if lengths is not None:
        lshape = known_dims(lengths) if hasattr(lengths, "shape") else (len(lengths),)
        if dims_differ(lshape, (batch,)):
            raise InputError(f"lengths has shape {list(lshape)}: expected ({batch},), one length per sequence")
        if lengths_values is not None:
            values = np.asarray(lengths_values)
            if values.dtype.kind not in "iu":
                raise InputError(f"lengths has dtype {values.dtype}: expected integers")
            bad = (values < 1) | (values > (steps if steps is not None else np.inf))
            if bad.any():
                raise InputError(
                    f"lengths {values.tolist()} out of range: each must be in 1..{steps} (the number of steps of x)"
                )
    return batch, steps


def _check_state(spec: Spec, model_dtype: str, state: Any, batch: int) -> None:
    shapes = spec.state_shapes(batch)
    if len(shapes) > 1:
        if not isinstance(state, (tuple, list)) or len(state) != len(shapes):
            names = ", ".join(shapes)
            kind = "pair" if len(shapes) == 2 else "tuple"
            raise InputError(f"an {spec.cell.upper()} state must be the {kind} ({names}), got {type(state).__name__}")
        values = tuple(state)
    else:
        if isinstance(state, (tuple, list)):
            raise InputError(f"a {spec.cell} state is one array h, got a {type(state).__name__} of {len(state)}")
        values = (state,)
    for i, (name, expected) in enumerate(shapes.items()):  # not zip(strict=): see dims_differ
        value = values[i]
        try:
            shape, dtype = known_dims(value), value.dtype
        except AttributeError:
            raise InputError(f"state {name} must be an array, got {type(value).__name__}") from None
        if dims_differ(shape, expected):
            raise InputError(
                f"state {name} has shape {list(shape)}: expected {list(expected)} "
                f"(num_layers * directions, batch, {'hidden_size' if name == 'c' else 'H_out'})"
            )
        if dtype_name(dtype) != model_dtype:
            raise InputError(f"state {name} has dtype {dtype_name(dtype)}, the model computes in {model_dtype}")
    if spec.positive_state:
        found = concrete(values[0])
        if found is not None and found.size and found.min() < 0:
            raise InputError(f"state h has negative values (min {float(found.min()):.3g}): {spec.cell} with "
                             "activation='g' (the log-space form) keeps its states positive; give h >= 0 (zero, the "
                             "default, when no state is given)")  # fmt: skip


def concrete(value: Any) -> np.ndarray | None:
    """A framework array's values as NumPy where they exist (None inside a trace, an export or a static graph)."""
    if isinstance(value, np.ndarray):
        return value
    if "Tracer" in type(value).__name__:
        return None
    try:
        value = value.detach() if hasattr(value, "detach") else value
        return np.asarray(value.cpu() if hasattr(value, "cpu") else value)
    except Exception:  # a symbolic value of any framework: nothing to check
        return None


def checked_numpy(spec: Spec, backend: str, x: Any, state: Any, lengths: Any) -> tuple[np.ndarray, Any, Any]:
    """(x, state, lengths) of a call to a backend that takes NumPy arrays (onnxruntime, litert), after seqnet's
    checks: anything but a NumPy array is refused by name, then `check_call` in float32."""

    def array(name: str, value: Any) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise InputError(f"{name} must be a NumPy array for the {backend} backend, got {type(value).__name__}")
        return value

    x = array("x", x)
    if state is not None:
        state = tuple(array("state", s) for s in state) if isinstance(state, (tuple, list)) else array("state", state)
    lengths = None if lengths is None else array("lengths", lengths)
    check_call(spec, "float32", x, state, lengths, lengths)
    return x, state, lengths
