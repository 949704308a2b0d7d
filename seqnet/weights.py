"""Canonical weights: named NumPy arrays in PyTorch's names, shapes and gate orders.

Requirements: numpy.

For layer k and direction suffix s ("" forward, "_reverse" backward), G gate blocks (rnn 1, lstm 4, gru 3),
H = hidden_size, H_out = proj_size or H, I_k = input_size for k = 0 else D * H_out:

    weight_ih_l{k}{s}  (G*H, I_k)     gate blocks stacked in order: lstm (i, f, g, o), gru (r, z, n)
    weight_hh_l{k}{s}  (G*H, H_out)
    bias_ih_l{k}{s}    (G*H,)         only when spec.bias
    bias_hh_l{k}{s}    (G*H,)         only when spec.bias
    weight_peephole_l{k}{s}  (3, H)   only when spec.peephole: rows (i, f, o), the peepholes of the input and
                                      forget gates (on c_{t-1}) and of the output gate (on c_t)
    weight_hr_l{k}{s}  (P, H)         only when spec.proj_size = P > 0
    head.weight        (output_size, D * H_out)   only when spec.output_size
    head.bias          (output_size,)

A registered cell of a user's (seqnet.cells) has the parameters its `parameters(spec, input_size)` gives, as
"{name}_l{k}{s}" in its order for each layer and direction, then the head; H_out is its output_size.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from seqnet.errors import SpecError, WeightsError
from seqnet.spec import Spec

DTYPES = ("float32", "float64")


def check_dtype(dtype: Any, field: str = "dtype", allowed: tuple[str, ...] = DTYPES) -> str:
    """The canonical name of a supported float dtype, or a WeightsError naming what is allowed.

    `allowed` is DTYPES for canonical weights (NumPy arrays); a backend may compute in more (torch:
    float16 and bfloat16), named as strings or as the framework's dtype objects (torch.bfloat16).
    """
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype).rsplit(".", 1)[-1]
    if name not in allowed:
        raise WeightsError(f"{field}={dtype!r} is not supported: one of {allowed}")
    return name


def layer_names(spec: Spec) -> Iterator[tuple[int, str]]:
    """(layer, suffix) for every layer and direction, in PyTorch's parameter order."""
    for layer in range(spec.num_layers):
        for suffix in ("", "_reverse")[: spec.num_directions]:
            yield layer, suffix


def cell_parameters(spec: Spec) -> Iterator[tuple[int, str, str, tuple[int, ...]]]:
    """(layer, suffix, parameter name, shape) of a registered cell's parameters, layer by layer and direction
    by direction, each checked (seqnet.cells.check_parameters)."""
    from seqnet.cell import check_parameters, get_cell

    cell = get_cell(spec.cell)
    for layer, s in layer_names(spec):
        for name, shape in check_parameters(cell, spec, spec.layer_input_size(layer)).items():
            yield layer, s, name, shape


def require_spec(spec: Any, where: str) -> None:
    """A SpecError unless `spec` is a seqnet.Spec (before anything reads its fields)."""
    if not isinstance(spec, Spec):
        raise SpecError(f"{where} needs a seqnet.Spec, got {type(spec).__name__}")


def layout(spec: Spec) -> dict[str, tuple[int, ...]]:
    """The name and shape of every canonical weight of `spec`.

    Parameters
    ----------
    spec : Spec
        The model.

    Returns
    -------
    dict of str to tuple of int
        Name to shape, in PyTorch's state_dict order: ``weight_ih_l{k}{s}`` (G*H, I_k), ``weight_hh_l{k}{s}``
        (G*H, H_out), ``bias_ih_l{k}{s}`` and ``bias_hh_l{k}{s}`` (G*H,), ``weight_peephole_l{k}{s}`` (3, H),
        ``weight_hr_l{k}{s}`` (P, H),
        ``head.weight`` (output_size, D*H_out) and ``head.bias`` (output_size,), where they exist.
    """
    require_spec(spec, "layout")
    gh, hidden, out = spec.gates * spec.hidden_size, spec.hidden_size, spec.hidden_out
    shapes: dict[str, tuple[int, ...]] = {}
    if not spec.builtin:
        for layer, s, name, shape in cell_parameters(spec):
            shapes[f"{name}_l{layer}{s}"] = shape
    for layer, s in layer_names(spec) if spec.builtin else ():
        shapes[f"weight_ih_l{layer}{s}"] = (gh, spec.layer_input_size(layer))
        shapes[f"weight_hh_l{layer}{s}"] = (gh, out)
        if spec.bias:
            shapes[f"bias_ih_l{layer}{s}"] = (gh,)
            shapes[f"bias_hh_l{layer}{s}"] = (gh,)
        if spec.peephole:
            shapes[f"weight_peephole_l{layer}{s}"] = (3, hidden)
        if spec.proj_size:
            shapes[f"weight_hr_l{layer}{s}"] = (spec.proj_size, hidden)
    if spec.output_size is not None:
        shapes["head.weight"] = (spec.output_size, spec.num_directions * out)
        shapes["head.bias"] = (spec.output_size,)
    return shapes


class Weights(Mapping[str, np.ndarray]):
    """A read-only mapping of canonical name to NumPy array, in canonical order (see `layout`).

    Made by `init_weights`, `as_weights` or `seqnet.weights_of`; ``dict(weights)`` gives a plain dict.
    Writable arrays are copied and every stored array is read-only, so neither the caller nor a model built
    from the weights can change them behind the other's back.

    Parameters
    ----------
    arrays : mapping of str to array
        The arrays, already in canonical names and order (`as_weights` checks and orders a mapping).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self._arrays = {}
        for name, value in arrays.items():
            array = np.asarray(value)
            if array.flags.writeable:
                array = array.copy()
                array.flags.writeable = False
            self._arrays[name] = array

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v.dtype}{list(v.shape)}" for k, v in self._arrays.items())
        return f"Weights({{{inner}}})"

    @property
    def dtype(self) -> np.dtype:
        """The common dtype of the arrays."""
        return next(iter(self._arrays.values())).dtype

    def astype(self, dtype: Any) -> Weights:
        """The same weights cast to `dtype` ("float32" or "float64")."""
        return Weights({k: v.astype(check_dtype(dtype)) for k, v in self._arrays.items()})

    def map(self, fn: Any) -> Weights:
        """A new Weights with fn(array) for every array."""
        return Weights({k: fn(v) for k, v in self._arrays.items()})


def as_weights(spec: Spec, arrays: Mapping[str, Any], dtype: Any = None, finite: bool = True) -> Weights:
    """`arrays` checked against `spec` and put in canonical order.

    Parameters
    ----------
    spec : Spec
        The model the weights are for.
    arrays : mapping of str to array-like
        A dict of NumPy arrays, what `seqnet.load` or safetensors returned, a state_dict converted to NumPy.
    dtype : str, optional
        Cast to "float32" or "float64".
    finite : bool
        Refuse NaN and infinite values (the default, for weights given to seqnet; gradients are not checked).

    Returns
    -------
    Weights

    Raises
    ------
    WeightsError
        One error listing every missing, unexpected, mis-shaped, non-float and non-finite entry.
    """
    require_spec(spec, "as_weights")
    if not isinstance(arrays, Mapping):
        raise WeightsError(f"weights must be a mapping of name -> array, got {type(arrays).__name__}")
    expected = layout(spec)
    converted = {name: np.asarray(value) for name, value in arrays.items()}
    problems = [f"missing {name} {list(shape)}" for name, shape in expected.items() if name not in converted]
    problems += [f"unexpected {name}" for name in converted if name not in expected]
    problems += [
        f"{name} has shape {list(converted[name].shape)}, expected {list(shape)}"
        for name, shape in expected.items()
        if name in converted and converted[name].shape != shape
    ]
    problems += [
        f"{name} has dtype {converted[name].dtype}, expected a floating dtype"
        for name in expected
        if name in converted and converted[name].dtype.kind != "f"
    ]
    if problems:
        raise WeightsError(f"weights do not fit {spec}:\n  " + "\n  ".join(problems))
    problems = [
        f"{name} holds {int(np.isnan(converted[name]).sum())} NaN and {int(np.isinf(converted[name]).sum())} "
        f"infinite values"
        for name in expected
        if finite and not np.isfinite(converted[name]).all()
    ]
    if problems:
        raise WeightsError("weights must be finite:\n  " + "\n  ".join(problems))
    target = check_dtype(dtype) if dtype is not None else None
    return Weights({n: converted[n] if target is None else converted[n].astype(target) for n in expected})


def init_weights(spec: Spec, seed: int = 0, dtype: Any = "float32") -> Weights:
    """PyTorch's default initialisation, reproducible on every machine and for every backend.

    Every recurrent weight and bias is uniform in [-1/sqrt(H), 1/sqrt(H)] (as ``torch.nn.LSTM``); the head is
    uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] (as ``torch.nn.Linear``). Each array is drawn in float64 from
    its own PCG64 stream keyed by (seed, name), then cast: adding a head or a layer leaves the other arrays
    unchanged.

    Parameters
    ----------
    spec : Spec
        The model.
    seed : int
        A non-negative integer.
    dtype : str
        "float32" or "float64".

    Returns
    -------
    Weights
        Shapes as `layout` gives them.
    """
    require_spec(spec, "init_weights")
    dtype = check_dtype(dtype)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise WeightsError(f"seed={seed!r} is not allowed: a non-negative integer")
    arrays = {}
    if not spec.builtin:
        from seqnet.cell import get_cell

        cell = get_cell(spec.cell)
        for layer, s, base, shape in cell_parameters(spec):
            name = f"{base}_l{layer}{s}"
            rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
            value = np.asarray(cell.init(base, shape, spec, rng), dtype=np.float64)
            if value.shape != shape:
                raise SpecError(
                    f"cell {spec.cell!r}: init({base!r}) gave shape {list(value.shape)}, expected {list(shape)}"
                )
            arrays[name] = value.astype(dtype)
    for name, shape in layout(spec).items():
        if name in arrays:
            continue
        fan_in = shape[-1] if name == "head.weight" else None
        if name == "head.bias":
            fan_in = layout(spec)["head.weight"][1]
        bound = 1.0 / np.sqrt(fan_in if fan_in is not None else spec.hidden_size)
        rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(name.encode())]))
        arrays[name] = rng.uniform(-bound, bound, size=shape).astype(dtype)
    return Weights(arrays)
