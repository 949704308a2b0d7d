"""Bring your own model: seqnet from and to each framework's own layers, checkpoints and files.

Requirements: numpy. A framework is imported by its converter (`backends/<framework>/convert.py`), and
only when an object of that framework is given or asked for.

    spec, weights = from_framework(layer)                  # torch.nn.LSTM, paddle.nn.GRU, keras LSTM, flax, ONNX
    layer = to_framework(spec, weights, "torch")           # the framework's own standard layer, weights loaded
    spec, weights = from_state_dict(sd, "torch", prefix="encoder.rnn.", head="fc")
    sd = to_state_dict(spec, weights, "paddle", prefix="rnn.")

An object goes to the converter owning the top-level package of one of its classes (einops' way of
recognising a framework's objects without importing any framework); a path goes by its suffix. Every
converter module defines the same functions (Keras 3's one-folder-per-backend pattern):

    from_framework(obj, params, head) -> Imported
    to_framework(spec, weights, into, **options) -> layer, or (layer, head layer) when spec has a head
    from_state_dict(arrays, prefix, head) -> Imported      optional; arrays are NumPy already
    to_state_dict(spec, weights, prefix, head) -> dict     optional
    run(obj, x, state, lengths) -> (outputs, state)        the framework's own call, NumPy in and out

`Imported.fields` holds the Spec fields the object determines; the caller's keyword arguments give the
rest (what a checkpoint cannot hold: batch_first, activation, gru_variant, output_mode, ...) and may not
contradict what the object says.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, NotExpressible, SeqnetError, SpecError, WeightsError
from seqnet.registry import Converter, check_options, converters, get_converter
from seqnet.spec import Spec
from seqnet.weights import Weights, as_weights, require_spec

CANONICAL_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_peephole)_l(\d+)(_reverse)?$")
CELL_OF_GATES = {1: "rnn", 3: "gru", 4: "lstm"}
#: The `mode` string of torch's and Paddle's RNNBase layers -> (cell, activation).
LAYER_MODES = {
    "RNN_TANH": ("rnn", "tanh"),
    "RNN_RELU": ("rnn", "relu"),
    "LSTM": ("lstm", "tanh"),
    "GRU": ("gru", "tanh"),
}


@dataclass
class Imported:
    """What a converter read: Spec fields, canonical arrays (NumPy), and a description of the source for
    error messages (`found` lists what the source held, for an error about an inconsistent checkpoint)."""

    fields: dict[str, Any]
    arrays: dict[str, np.ndarray]
    source: str
    found: list[str] = field(default_factory=list)
    prefix: str = ""  # where a checkpoint held the layer


def from_framework(obj: Any, *, params: Any = None, head: Any = None, **spec_fields: Any) -> tuple[Spec, Weights]:
    """The Spec and canonical weights of a framework's own recurrent layer, model or file.

    Parameters
    ----------
    obj : object or path
        A torch ``nn.RNN``/``LSTM``/``GRU``; a paddle ``nn.SimpleRNN``/``LSTM``/``GRU``; a Keras 3 ``SimpleRNN``,
        ``LSTM``, ``GRU``, ``Bidirectional``, or a ``Sequential``/functional model that is a plain chain of them
        (``Dropout`` between, one final linear ``Dense``); a flax NNX ``nnx.RNN``/``nnx.Bidirectional`` (or a
        list or ``nnx.Sequential`` of them), or a linen cell, ``nn.RNN`` or ``nn.Bidirectional`` with
        `params`; an ONNX ``ModelProto``; a path to a ``.onnx``, ``.pt``, ``.pdparams`` or ``.safetensors``
        file; a model `seqnet.build` made.
    params : pytree, optional
        A flax.linen module's variables.
    head : object, optional
        The framework's linear layer applied to the outputs (torch ``nn.Linear``, ``paddle.nn.Linear``,
        ``nnx.Linear``), for frameworks whose recurrent layers hold none; for a checkpoint file, its name.
    **spec_fields
        The Spec fields the object does not determine (``output_mode="last"``, a checkpoint's ``batch_first``).

    Returns
    -------
    spec : Spec
    weights : Weights

    Raises
    ------
    ConversionError
        What the Spec cannot express, naming the attribute, its value and why; a field contradicting the object.
    """
    if isinstance(obj, (str, os.PathLike)):
        return _from_path(Path(obj), params=params, head=head, **spec_fields)
    if getattr(obj, "seqnet_backend", None) is not None and hasattr(obj, "spec"):
        from seqnet.build import weights_of

        return finish(Imported(obj.spec.to_dict(), dict(weights_of(obj)), f"the seqnet model {obj!r}"), spec_fields)
    converter = owner(obj)
    imported = converter.load().from_framework(obj, params=params, head=head)
    return finish(imported, spec_fields)


def to_framework(spec: Spec, weights: Mapping[str, Any], framework: str, *, into: Any = None, **options: Any) -> Any:
    """The framework's own standard layer computing `spec` with `weights`.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array
    framework : str
        "torch", "paddle", "keras", "flax" (NNX; ``api="linen"`` for (module, variables)) or "onnx".
    into : object, optional
        A layer you already have (with a head, the pair (layer, linear)): its hyper-parameters are checked
        against the spec and the weights loaded into it.
    **options
        The converter's: torch ``device``, ``dtype``; flax ``api``, ``cell``; onnx ``opset``, ``lengths``,
        ``initial_state``.

    Returns
    -------
    object
        The layer, or (layer, linear head) when the spec has a head (Keras: one ``Sequential`` holding the
        ``Dense`` head; onnx: a ``ModelProto``).

    Raises
    ------
    ConversionError
        A spec the framework's standard layer cannot express: the error names the field and points to
        ``seqnet.build(spec, backend)``, which runs it.
    """
    require_spec(spec, "to_framework")
    checked = as_weights(spec, weights)
    if not spec.builtin and framework != "onnx":  # ONNX writes a registered cell's step as Scans
        get_converter(framework)  # an unknown framework is named first
        raise NotExpressible(
            f"{framework} has no standard layer for Spec.cell={spec.cell!r}, a registered cell: "
            f"seqnet.build(spec, {framework if framework in ('torch', 'paddle') else 'jax'!r}) runs it as a model of "
            "that framework"
        )
    impl = get_converter(framework).load()
    check_options(impl.to_framework, options, f"to_framework(..., {framework!r})", fixed=("spec", "weights", "into"))
    return impl.to_framework(spec, checked, into=into, **options)


def from_state_dict(
    state_dict: Mapping[str, Any],
    framework: str = "torch",
    prefix: str = "",
    head: str | None = None,
    **spec_fields: Any,
) -> tuple[Spec, Weights]:
    """The Spec and weights of the recurrent layer in a whole model's checkpoint.

    Parameters
    ----------
    state_dict : mapping of str to tensor or array
        As ``model.state_dict()``, ``torch.load(..., weights_only=True)`` or ``paddle.load`` give it.
    framework : str
        The checkpoint's naming: "torch" or "paddle".
    prefix : str
        Where the layer's entries are ("encoder.rnn."); "" finds the one recurrent layer wherever it is.
    head : str, optional
        The linear layer to use as the head ("fc" for ``fc.weight`` and ``fc.bias``).
    **spec_fields
        What a checkpoint cannot hold: ``batch_first``, ``activation``, ``gru_variant``, ``output_mode``,
        ``dropout``.

    Returns
    -------
    spec : Spec
        Inferred from the names and shapes: the cell from the gate rows, layers, direction, proj_size, bias.
    weights : Weights

    Raises
    ------
    ConversionError
        No recurrent layer, several (pass `prefix`), or an inconsistent one: the message lists what was found.
    """
    if not isinstance(state_dict, Mapping):
        raise ConversionError(f"state_dict must be a mapping of name -> tensor, got {type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise ConversionError(f"prefix={prefix!r} is not allowed: a string such as 'encoder.rnn.'")
    impl = get_converter(framework).load()
    if not hasattr(impl, "from_state_dict"):
        raise ConversionError(f"framework={framework!r} has no state dicts: one of {_with('from_state_dict')}")
    arrays = {str(name): value for name, value in state_dict.items()}
    return finish(impl.from_state_dict(arrays, prefix, _head_name(head)), spec_fields)


def to_state_dict(
    spec: Spec, weights: Mapping[str, Any], framework: str, prefix: str = "", head: str = "head"
) -> dict[str, Any]:
    """The entries the framework's own layer holds for `spec`, ready for ``load_state_dict`` / ``set_state_dict``.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array
    framework : str
        "torch" or "paddle".
    prefix : str
        Put before each of the layer's names ("encoder.").
    head : str
        The name of the head's entries.

    Returns
    -------
    dict of str to tensor
        The framework's tensors under its own names (Paddle: flat and per-cell names, its Linear (in, out)).
    """
    require_spec(spec, "to_state_dict")
    checked = as_weights(spec, weights)
    impl = get_converter(framework).load()
    if not hasattr(impl, "to_state_dict"):
        raise ConversionError(f"framework={framework!r} has no state dicts: one of {_with('to_state_dict')}")
    return impl.to_state_dict(spec, checked, prefix, _head_name(head) or "head")


def export_onnx(
    spec: Spec,
    weights: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    opset: int | None = None,
    *,
    lengths: bool = False,
    initial_state: bool = False,
    dtype: str | None = None,
) -> Any:
    """`spec` with `weights` as an ONNX model, checked with ``onnx.checker``; written to `path` atomically if given.

    The standard RNN, LSTM and GRU operators, one node per layer (a Scan for a projected LSTM), the head, and
    ``output_mode="last"`` from ``Y_h``. Inputs: ``x`` with dynamic batch and time axes in the spec's layout,
    ``lengths`` (B,) int64 with `lengths`, ``h0`` (and ``c0``) with `initial_state`; outputs ``outputs``,
    ``h_n`` (and ``c_n``). Needs ``seqnet[onnx]``.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array
    path : str or os.PathLike, optional
    opset : int, optional
        14 or newer (default 17).
    lengths, initial_state : bool
        Add those inputs.
    dtype : str, optional
        The weights' by default; onnxruntime's CPU RNN kernels have float32 only.

    Returns
    -------
    onnx.ModelProto
    """
    require_spec(spec, "export_onnx")
    checked = as_weights(spec, weights)
    for name, value in (("lengths", lengths), ("initial_state", initial_state)):
        if not isinstance(value, bool):
            raise ConversionError(f"{name}={value!r} is not allowed: True or False")
    impl = get_converter("onnx").load()
    options = {"opset": opset, "lengths": lengths, "initial_state": initial_state, "dtype": dtype}
    return impl.export(spec, checked, **options) if path is None else impl.write_file(path, spec, checked, **options)


def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """A framework's own layer called the framework's way on NumPy inputs, in seqnet's conventions.

    Parameters
    ----------
    obj : object
        Anything `from_framework` reads (a linen module as the pair (module, variables)).
    x, state, lengths : numpy arrays
        As for a seqnet model call.

    Returns
    -------
    outputs : numpy.ndarray
    state : numpy.ndarray or pair of numpy.ndarray
        In seqnet's layout, (L*D, B, H) arrays.
    """
    if getattr(obj, "seqnet_backend", None) is not None:
        from seqnet.build import predict

        return predict(obj, x, state, lengths)
    return owner(obj).load().run(obj, x, state, lengths)


# -- shared by the converters ---------------------------------------------------------------------------------
def owner(obj: Any) -> Converter:
    """The converter owning one of `obj`'s classes (or, for a list or tuple, its first element's)."""
    probe = obj[0] if isinstance(obj, (list, tuple)) and obj else obj
    roots = {cls.__module__.split(".")[0] for cls in type(probe).__mro__}
    for converter in converters().values():
        if roots & set(converter.roots):
            return converter
    readable = sorted(root for c in converters().values() for root in c.roots)
    raise ConversionError(
        f"from_framework cannot read a {type(probe).__module__}.{type(probe).__qualname__}: it reads layers of "
        f"{readable}, a path to a {_suffixes()} file, or a model seqnet.build made"
    )


def finish(imported: Imported, spec_fields: Mapping[str, Any]) -> tuple[Spec, Weights]:
    """The Spec from what the source determines plus the caller's fields, and the weights checked against it."""
    allowed = {f.name for f in fields(Spec)}
    unknown = sorted(set(spec_fields) - allowed)
    if unknown:
        raise SpecError(f"unknown Spec field(s) {unknown}; allowed: {sorted(allowed)}")
    clashes = [
        f"{name}={value!r} contradicts {imported.source}, which has {name}={imported.fields[name]!r}"
        for name, value in spec_fields.items()
        if name in imported.fields and imported.fields[name] != value
    ]
    if clashes:
        raise ConversionError("; ".join(clashes))
    spec = Spec(**{**imported.fields, **spec_fields})
    try:
        return spec, as_weights(spec, imported.arrays)
    except WeightsError as exc:
        found = ("\n found:\n  " + "\n  ".join(imported.found)) if imported.found else ""
        raise ConversionError(f"{imported.source} is inconsistent: {exc}{found}") from exc


def infer_fields(arrays: Mapping[str, np.ndarray], source: str) -> dict[str, Any]:
    """The Spec fields that canonical names and shapes determine: cell (from the gate rows), sizes, layers,
    direction, bias, proj_size, peephole, and output_size where `head.weight` is present."""
    found = describe(arrays)

    def fail(why: str) -> None:
        raise ConversionError(f"{source}: {why}; found:\n  " + "\n  ".join(found or ["nothing"]))

    w_ih, w_hh, w_hr = arrays.get("weight_ih_l0"), arrays.get("weight_hh_l0"), arrays.get("weight_hr_l0")
    if w_ih is None or w_hh is None:
        fail("no weight_ih_l0 and weight_hh_l0, the first layer of a recurrent layer")
    assert w_ih is not None and w_hh is not None
    if w_ih.ndim != 2 or w_hh.ndim != 2 or (w_hr is not None and w_hr.ndim != 2):
        fail("weight_ih_l0, weight_hh_l0 and weight_hr_l0 must be matrices")
    rows, input_size = w_ih.shape
    hidden = w_hr.shape[1] if w_hr is not None else w_hh.shape[1]
    if hidden < 1 or rows % hidden or rows // hidden not in CELL_OF_GATES:
        fail(f"weight_ih_l0 has {rows} rows: not 1, 3 or 4 gate blocks (rnn, gru, lstm) of hidden size {hidden}")
    layers = sorted({int(m.group(2)) for name in arrays if (m := CANONICAL_NAME.match(name))})
    if layers != list(range(len(layers))):
        fail(f"layers {layers} are not numbered 0..L-1")
    out: dict[str, Any] = {
        "cell": CELL_OF_GATES[rows // hidden],
        "input_size": int(input_size),
        "hidden_size": int(hidden),
        "num_layers": len(layers),
        "bidirectional": "weight_ih_l0_reverse" in arrays,
        "bias": "bias_ih_l0" in arrays,
        "proj_size": int(w_hr.shape[0]) if w_hr is not None else 0,
        "peephole": "weight_peephole_l0" in arrays,
    }
    if "head.weight" in arrays:
        out["output_size"] = int(arrays["head.weight"].shape[0])
    return out


def find_prefix(names: list[str], prefix: str, pattern: str, source: str) -> str:
    """The one prefix under `prefix` at which `pattern` (a regex with one group, the prefix, matching a
    recurrent layer's first-layer weight name) occurs; an error listing them if none or several do."""
    found = sorted({m.group(1) for name in names if (m := re.match(pattern, name)) and m.group(1).startswith(prefix)})
    if len(found) == 1:
        return found[0]
    if not found:
        sample = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ConversionError(f"{source} holds no recurrent layer under prefix {prefix!r}; its entries: {sample}")
    raise ConversionError(f"{source} holds several recurrent layers: {found}; pass prefix= one of them")


def describe(arrays: Mapping[str, Any]) -> list[str]:
    """'name [shape]' for each entry, for error messages."""
    return [f"{name} {list(np.shape(value))}" for name, value in arrays.items()]


def to_numpy(value: Any) -> np.ndarray:
    """A NumPy array of a torch or paddle tensor, a jax array or an array-like (half floats as float32)."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if str(getattr(value, "dtype", "")).rsplit(".", 1)[-1] in ("bfloat16", "float16") and hasattr(value, "float"):
        value = value.float()
    if hasattr(value, "numpy"):
        value = value.numpy()
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype == np.float16 else array


def canonical_float(value: Any) -> np.ndarray:
    """A weight as a canonical float32 or float64 NumPy array (float16 and bfloat16 widened to float32)."""
    array = to_numpy(value)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float32)


def head_entries(arrays: Mapping[str, Any], head: str, transposed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The canonical weight (out, in) and bias (out,) of the linear layer `head` in a checkpoint's arrays;
    `transposed`: the file stores the weight (in, out), as Paddle's Linear does. A missing bias is zeros."""
    if f"{head}.weight" not in arrays:
        linear = sorted(name[: -len(".weight")] for name in arrays if name.endswith(".weight"))
        raise ConversionError(f"head={head!r}: the checkpoint has no {head}.weight; layers with a weight: {linear}")
    weight = canonical_float(arrays[f"{head}.weight"])
    if weight.ndim != 2:
        layout = "(in, out)" if transposed else "(out, in)"
        raise ConversionError(f"head={head!r}: {head}.weight has shape {list(weight.shape)}, not {layout}")
    if transposed:
        weight = np.ascontiguousarray(weight.T)
    bias = arrays.get(f"{head}.bias")
    return weight, (canonical_float(bias) if bias is not None else np.zeros(weight.shape[0], weight.dtype))


def cannot_express(framework: str, field_: str, value: Any, why: str, backend: str) -> NotExpressible:
    """The error for a Spec the framework's standard layer cannot express, pointing to a seqnet backend."""
    return NotExpressible(
        f"{framework} has no standard layer for Spec.{field_}={value!r}: {why}; "
        f"seqnet.build(spec, {backend!r}) runs this spec"
    )


def apply_head(
    spec: Spec, seq: np.ndarray, hn: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None
) -> np.ndarray:
    """seqnet's outputs from a framework layer's sequence outputs and final h, in NumPy: the concatenated last
    states of the top layer for output_mode="last", then the head (weight (out, in)) if there is one."""
    feats = np.concatenate(list(hn[-spec.num_directions :]), axis=1) if spec.output_mode == "last" else seq
    return feats if weight is None else feats @ np.asarray(weight).T + np.asarray(bias)


def check_fits(spec: Spec, fields_: Mapping[str, Any], what: str) -> None:
    """A ConversionError listing every hyper-parameter of `what` (a user's layer given as into=) that differs
    from the spec's."""
    wrong = [
        f"{name}={value!r} (the spec has {getattr(spec, name)!r})"
        for name, value in fields_.items()
        if getattr(spec, name) != value
    ]
    if wrong:
        raise ConversionError(f"into={what} does not fit the spec: it has " + ", ".join(wrong))


def _from_path(path: Path, params: Any = None, head: Any = None, **spec_fields: Any) -> tuple[Spec, Weights]:
    """A model file by its suffix (seqnet.files.read): a checkpoint infers its Spec as from_state_dict does."""
    from seqnet.files import read

    if params is not None:
        raise ConversionError("params= is for flax.linen modules, not for a file")
    found = read(path, head=head, **spec_fields)
    return found.spec, found.weights


def _suffixes() -> list[str]:
    from seqnet.files import formats

    return sorted(formats())


def _with(function: str) -> list[str]:
    names = []
    for name, converter in converters().items():
        try:
            if hasattr(converter.load(), function):
                names.append(name)
        except SeqnetError:
            continue
    return names


def _head_name(head: str | None) -> str | None:
    if head is None:
        return None
    if not isinstance(head, str) or not head.strip("."):
        raise ConversionError(f"head={head!r} is not allowed: the name of the linear layer, such as 'fc'")
    return head.rstrip(".")
