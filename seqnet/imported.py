"""What a converter reads, and the pieces every converter shares to turn it into a Spec and Weights.

Requirements: numpy. No framework, and nothing above it: the converters (`backends/<framework>/convert.py`) and
the file readers (seqnet.files) import this module, and seqnet.convert, the public API, imports them all, so
the path from a file or a layer to a Spec runs one way.

A converter's reader hands back an `Imported`: the Spec fields its source determines, canonical arrays
(NumPy, PyTorch's names and layouts) and a description of the source for error messages. `finish` adds the
caller's fields and checks the weights against the Spec. `infer_fields` reads the Spec from canonical names
and shapes; `choose_layer` finds the one recurrent layer or cell among a checkpoint's entries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, NotExpressible, SpecError, WeightsError
from seqnet.spec import Spec
from seqnet.weights import Weights, as_weights

CANONICAL_NAME = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr|weight_peephole)_l(\d+)(_reverse)?$")
CELL_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")  # a cell's own names (torch's, Paddle's)
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
    prefix: str = ""  # where a checkpoint held the layer; an ONNX node read alone: its qualified name
    used: list[str] = field(default_factory=list)  # the checkpoint's own names of the entries read


@dataclass
class Found:
    """One recurrent layer, cell or graph node a file holds: where it is, the Spec read from it (None, with the
    reason, where it cannot be one) and the file's own names of its entries."""

    kind: str  # "model" (a seqnet file), "layer", "cell" or "node"
    where: str  # a checkpoint's prefix, an ONNX node's name
    spec: Spec | None
    entries: list[str]
    problem: str = ""


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


def infer_fields(arrays: Mapping[str, np.ndarray], source: str, found: list[str] | None = None) -> dict[str, Any]:
    """The Spec fields that canonical names and shapes determine: cell (from the gate rows), sizes, layers,
    direction, bias, proj_size, peephole, and output_size where `head.weight` is present. `found` describes the
    entries under the source's own names for the error messages (default: the canonical ones)."""
    found = describe(arrays) if found is None else found

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


def choose_layer(found: Mapping[str, str], names: list[str], prefix: str, source: str) -> tuple[str, str]:
    """(prefix, kind) of the one recurrent layer or cell under `prefix`, from `found`: each prefix at which a
    converter saw one, to its kind ("layer" for `weight_ih_l0` names, "cell" for a cell's `weight_ih`). An error
    listing them all if several are found, or the entries if none is."""
    if prefix and prefix in found:  # the prefix given exactly, even with another layer below it
        return prefix, found[prefix]
    under = {p: kind for p, kind in found.items() if p.startswith(prefix)}
    if len(under) == 1:
        return next(iter(under.items()))
    if not under:
        sample = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ConversionError(f"{source} holds no recurrent layer or cell under prefix {prefix!r}; its entries: "
                              f"{sample}")  # fmt: skip
    listed = ", ".join(f"{p!r} ({kind})" for p, kind in sorted(under.items()))
    raise ConversionError(f"{source} holds several recurrent layers or cells: {listed}; pass prefix= one of them")


def cell_entries(names: list[str], prefix: str) -> dict[str, str]:
    """A cell's names under `prefix` -> canonical one-layer names: `weight_ih` -> `weight_ih_l0`, and so on for
    weight_hh, bias_ih and bias_hh (torch's RNNCell, LSTMCell and GRUCell; Paddle's cells)."""
    return {f"{prefix}{n}": f"{n}_l0" for n in CELL_PARAMS if f"{prefix}{n}" in names}


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


def head_name(head: str | None) -> str | None:
    if head is None:
        return None
    if not isinstance(head, str) or not head.strip("."):
        raise ConversionError(f"head={head!r} is not allowed: the name of the linear layer, such as 'fc'")
    return head.rstrip(".")
