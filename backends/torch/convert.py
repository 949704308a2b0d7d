"""Conversions between seqnet and PyTorch's own layers and checkpoints.

Requirements: numpy; torch for live layers and tensors. torch is imported on first use, so a state dict of
NumPy arrays (read from a safetensors file, say) converts without it.

seqnet's canonical layout *is* PyTorch's: `nn.RNN` / `nn.LSTM` / `nn.GRU` hold exactly the canonical names
and shapes (`weight_ih_l{k}{_reverse}` (G*H, I), gate blocks lstm (i, f, g, o), gru (r, z, n), `weight_hr_l{k}`
(P, H) with proj_size), and a head is an `nn.Linear` (weight (out, in)). Nothing is transposed or reordered.

torch's layers cannot express `activation="sigmoid"` (nn.RNN offers tanh and relu) or the reset-before GRU:
`to_framework` refuses those and names `seqnet.build(spec, "torch")`, whose generic path runs them.

Cells: `nn.RNNCell`, `nn.LSTMCell` and `nn.GRUCell` hold one layer's weights under the cell names `weight_ih`,
`weight_hh`, `bias_ih`, `bias_hh` (no `_l0`), with the layers' shapes and gate orders; each reads as a one-layer
Spec, `to_framework(..., cell=True)` writes one, and a checkpoint's cell-style entries read as a one-layer
layer's, alone or among a whole model's entries.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, import_framework
from seqnet.imported import (
    CANONICAL_NAME,
    CELL_PARAMS,
    LAYER_MODES,
    Imported,
    cannot_express,
    canonical_float,
    cell_entries,
    check_fits,
    choose_layer,
    describe,
    head_entries,
    infer_fields,
)
from seqnet.spec import Spec
from seqnet.weights import Weights


def _torch() -> Any:
    return import_framework("torch", "torch layers and tensors need torch: pip install torch")


_CELLS = {"RNNCell": "rnn", "LSTMCell": "lstm", "GRUCell": "gru"}


def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    """The Spec fields and canonical arrays of an `nn.RNN` / `nn.LSTM` / `nn.GRU` or an `nn.RNNCell` /
    `nn.LSTMCell` / `nn.GRUCell` (and an `nn.Linear` head)."""
    nn = _torch().nn
    if params is not None:
        raise ConversionError("params= is for flax.linen modules; a torch layer holds its own weights")
    if isinstance(obj, nn.RNNCellBase) and type(obj).__name__ in _CELLS:
        return _from_cell(obj, head)
    if not isinstance(obj, nn.RNNBase) or obj.mode not in LAYER_MODES:
        raise ConversionError(
            f"from_framework reads torch's nn.RNN, nn.LSTM and nn.GRU, nn.RNNCell, nn.LSTMCell and nn.GRUCell (or a "
            f"model seqnet.build made), not a {type(obj).__name__}"
        )
    cell, activation = LAYER_MODES[obj.mode]
    fields = {
        "cell": cell,
        "input_size": obj.input_size,
        "hidden_size": obj.hidden_size,
        "num_layers": obj.num_layers,
        "bidirectional": obj.bidirectional,
        "bias": obj.bias,
        "batch_first": obj.batch_first,
        "dropout": float(obj.dropout),
        "proj_size": obj.proj_size,
    }
    if cell == "rnn":
        fields["activation"] = activation
    arrays = {name: canonical_float(value) for name, value in obj.state_dict().items()}
    if head is not None:
        fields["output_size"], arrays["head.weight"], arrays["head.bias"] = _read_head(obj, head)
    return Imported(fields, arrays, f"the torch.nn.{type(obj).__name__}")


def _from_cell(obj: Any, head: Any) -> Imported:
    """A torch cell as a one-layer Spec: its names with `_l0`."""
    cell = _CELLS[type(obj).__name__]
    fields: dict[str, Any] = {"cell": cell, "input_size": obj.input_size, "hidden_size": obj.hidden_size,
                              "bias": obj.bias}  # fmt: skip
    if cell == "rnn":
        fields["activation"] = obj.nonlinearity
    arrays = {f"{name}_l0": canonical_float(value) for name, value in obj.state_dict().items()}
    if head is not None:
        fields["output_size"], arrays["head.weight"], arrays["head.bias"] = _read_head(obj, head)
    return Imported(fields, arrays, f"the torch.nn.{type(obj).__name__}")


def _read_head(layer: Any, head: Any) -> tuple[int, np.ndarray, np.ndarray]:
    nn = _torch().nn
    if not isinstance(head, nn.Linear):
        raise ConversionError(f"head must be a torch.nn.Linear, got {type(head).__name__}")
    if isinstance(layer, nn.RNNCellBase):
        features = layer.hidden_size
    else:
        features = (2 if layer.bidirectional else 1) * (layer.proj_size or layer.hidden_size)
    if head.in_features != features:
        raise ConversionError(
            f"head has in_features={head.in_features}: the recurrent layer gives {features} features per step"
        )
    weight = canonical_float(head.weight)
    bias = canonical_float(head.bias) if head.bias is not None else np.zeros(head.out_features, weight.dtype)
    return head.out_features, weight, bias


def _require_expressible(spec: Spec) -> None:
    """A NotExpressible for a spec torch.nn's layers cannot run (a sigmoid RNN, the reset-before GRU)."""
    from .model import missing_form

    missing = missing_form(spec)
    if missing:
        field, why = missing
        raise cannot_express("torch.nn", field, getattr(spec, field), why, "torch")


def to_framework(spec: Spec, weights: Weights, into: Any = None, device: Any = None, dtype: Any = None,
                 cell: bool = False) -> Any:  # fmt: skip
    """torch's own `nn.RNN` / `nn.LSTM` / `nn.GRU` (and `nn.Linear` head) with `weights` loaded, in the weights'
    dtype unless `dtype` is given, on `device`; or the weights loaded into `into` (a layer or a cell). cell=True:
    the one-layer, one-direction spec as torch's `nn.RNNCell` / `nn.LSTMCell` / `nn.GRUCell`."""
    torch = _torch()
    from .model import fused_layer

    if not isinstance(cell, bool):
        raise ConversionError(f"cell={cell!r} is not allowed: True or False")
    _require_expressible(spec)
    rnn_state = {
        name: torch.from_numpy(np.array(value)) for name, value in weights.items() if not name.startswith("head.")
    }
    if into is not None:
        layer, head = _unpack_into(spec, into)
        check_fits(spec, from_framework(layer).fields, f"torch.nn.{type(layer).__name__}")
        if isinstance(layer, torch.nn.RNNCellBase):
            rnn_state = {name.removesuffix("_l0"): value for name, value in rnn_state.items()}
        layer.load_state_dict(rnn_state)  # copies into the existing parameters: their device and dtype stay
        if head is not None:
            _read_head(layer, head)
            head.load_state_dict(
                {
                    "weight": torch.from_numpy(np.array(weights["head.weight"])),
                    "bias": torch.from_numpy(np.array(weights["head.bias"])),
                }
            )
            return layer, head
        return layer
    target = getattr(torch, str(dtype).rsplit(".", 1)[-1]) if dtype is not None else getattr(torch, weights.dtype.name)
    if cell:
        layer = cell_layer(spec).to(dtype=target)
        rnn_state = {name.removesuffix("_l0"): value for name, value in rnn_state.items()}
    else:
        layer = fused_layer(spec).to(dtype=target)
    layer.load_state_dict(rnn_state)  # after the cast, so float64 weights keep every bit
    layer = layer.to(device=device)
    if spec.output_size is None:
        return layer
    head = torch.nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size).to(dtype=target)
    head.load_state_dict(
        {
            "weight": torch.from_numpy(np.array(weights["head.weight"])),
            "bias": torch.from_numpy(np.array(weights["head.bias"])),
        }
    )
    return layer, head.to(device=device)


def cell_layer(spec: Spec) -> Any:
    """torch's own cell for a one-layer, one-direction spec (fresh weights), or NotExpressible naming the field."""
    nn = _torch().nn
    if spec.num_layers != 1:
        why = "a cell is one layer; to_framework without cell=True gives a stacked layer"
        raise cannot_express("torch.nn's cells", "num_layers", spec.num_layers, why, "torch")
    if spec.bidirectional:
        raise cannot_express("torch.nn's cells", "bidirectional", True, "a cell runs one direction", "torch")
    if spec.proj_size:
        raise cannot_express("torch.nn's cells", "proj_size", spec.proj_size, "nn.LSTMCell has no projection", "torch")
    if spec.cell == "rnn":
        return nn.RNNCell(spec.input_size, spec.hidden_size, bias=spec.bias, nonlinearity=spec.activation)
    cls = nn.LSTMCell if spec.cell == "lstm" else nn.GRUCell
    return cls(spec.input_size, spec.hidden_size, bias=spec.bias)


def _unpack_into(spec: Spec, into: Any) -> tuple[Any, Any]:
    if spec.output_size is None:
        if isinstance(into, tuple):
            raise ConversionError("into= is one recurrent layer for a spec without a head, got a tuple")
        return into, None
    if not (isinstance(into, tuple) and len(into) == 2):
        raise ConversionError("into= must be the pair (recurrent layer, nn.Linear) for a spec with a head")
    return into


def from_state_dict(arrays: dict[str, Any], prefix: str, head: str | None) -> Imported:
    """The recurrent layer's entries under `prefix` in a torch checkpoint (canonical names after the prefix), or a
    cell's (`weight_ih`, `weight_hh`, ... after the prefix: a one-layer layer's)."""
    names = list(arrays)
    at, kind = choose_layer(layer_prefixes(names), names, prefix, "the torch checkpoint")
    if kind == "cell":
        used = cell_entries(names, at)
    else:
        used = {
            name: name[len(at) :] for name in names if name.startswith(at) and CANONICAL_NAME.match(name[len(at) :])
        }
    sub = {canonical: canonical_float(arrays[name]) for name, canonical in used.items()}
    source = f"the torch checkpoint's {kind} under prefix {at!r}"
    found = describe({name: arrays[name] for name in used})  # the checkpoint's own names
    fields = infer_fields(sub, source, found)
    if head is not None:
        weight, bias = head_entries(arrays, head)
        fields["output_size"], sub["head.weight"], sub["head.bias"] = int(weight.shape[0]), weight, bias
        used.update({f"{head}.weight": "head.weight", f"{head}.bias": "head.bias"})
    return Imported(fields, sub, source, found, at, list(used))


def layer_prefixes(names: list[str]) -> dict[str, str]:
    """Each prefix at which a checkpoint in torch's names holds a recurrent layer (`weight_ih_l0`) or a cell
    (`weight_ih`), to "layer" or "cell"."""
    found = {m.group(1): "layer" for name in names if (m := re.match(r"^(.*)weight_ih_l0$", name))}
    found.update({name[: -len("weight_ih")]: "cell" for name in names if name.endswith("weight_ih")})
    return found


def to_state_dict(spec: Spec, weights: Weights, prefix: str, head: str, cell: bool = False) -> dict[str, Any]:
    """torch tensors under torch's names: `{prefix}weight_ih_l0`, ..., `{head}.weight`, `{head}.bias`; with
    cell=True a torch cell's (`{prefix}weight_ih`, ...)."""
    torch = _torch()
    if cell:
        cell_layer(spec)  # a spec a cell cannot hold is refused by name
    out = {}
    for name, value in weights.items():
        canonical = name.removesuffix("_l0") if cell else name
        key = f"{head}.{name[len('head.') :]}" if name.startswith("head.") else f"{prefix}{canonical}"
        out[key] = torch.from_numpy(np.array(value))
    return out


def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """The torch layer called torch's way (lengths through pack_padded_sequence); NumPy in and out."""
    torch = _torch()
    if isinstance(obj, torch.nn.RNNCellBase):
        return run_cell(obj, x, state, lengths)
    pack = torch.nn.utils.rnn
    param = next(obj.parameters())
    xt = torch.as_tensor(np.asarray(x), dtype=param.dtype, device=param.device)
    st = None
    if state is not None:
        parts = [torch.as_tensor(np.asarray(s), dtype=param.dtype, device=param.device) for s in _parts(state)]
        st = tuple(parts) if obj.mode == "LSTM" else parts[0]
    with torch.no_grad():
        if lengths is None:
            seq, final = obj(xt, st)
        else:
            packed = pack.pack_padded_sequence(
                xt, torch.as_tensor(np.asarray(lengths)), batch_first=obj.batch_first, enforce_sorted=False
            )
            seq, final = obj(packed, st)
            seq, _ = pack.pad_packed_sequence(
                seq, batch_first=obj.batch_first, total_length=xt.shape[int(obj.batch_first)]
            )
    numpy = lambda t: t.detach().cpu().numpy()  # noqa: E731
    return numpy(seq), (tuple(map(numpy, final)) if isinstance(final, tuple) else numpy(final))


def run_cell(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """A torch cell stepped over x (B, T, I) the way its users write the loop, `h = cell(x[:, t], h)`; past a
    sequence's length the state is kept and the output is zero. state (1, B, H) (an LSTM's pair) in and out."""
    torch = _torch()
    param = next(obj.parameters())
    as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=param.dtype, device=param.device)  # noqa: E731
    xt = as_tensor(x)
    batch, steps = xt.shape[0], xt.shape[1]
    lstm = isinstance(obj, torch.nn.LSTMCell)
    if state is None:
        carry = tuple(xt.new_zeros(batch, obj.hidden_size) for _ in range(2 if lstm else 1))
    else:
        carry = tuple(as_tensor(s)[0] for s in _parts(state))
    valid = None if lengths is None else torch.arange(steps)[None, :] < torch.as_tensor(np.asarray(lengths))[:, None]
    outs = []
    with torch.no_grad():
        for t in range(steps):
            new = obj(xt[:, t], carry) if lstm else (obj(xt[:, t], carry[0]),)
            if valid is not None:  # past a length: the state kept, the output zero
                keep = valid[:, t : t + 1].to(xt.device)
                new = tuple(torch.where(keep, n, o) for n, o in zip(new, carry, strict=True))
                outs.append(torch.where(keep, new[0], torch.zeros_like(new[0])))
            else:
                outs.append(new[0])
            carry = new
    numpy = lambda t: t.detach().cpu().numpy()  # noqa: E731
    final = tuple(numpy(c[None]) for c in carry)
    return numpy(torch.stack(outs, 1)), (final if lstm else final[0])


def _parts(state: Any) -> list[Any]:
    return list(state) if isinstance(state, (tuple, list)) else [state]


# -- checkpoint files (.pt, .pth) ---------------------------------------------------------------------------------
def read_file(path: Any) -> dict[str, Any]:
    """A torch checkpoint's tensors by dotted name, read with torch.load(weights_only=True): never unpickling
    arbitrary code. Nested dicts ({"model": state_dict, "optimizer": ...}) are flattened ("model.rnn.weight_ih_l0")."""
    torch = _torch()
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or ValueError by cause
        raise ConversionError(
            f"{str(path)!r}: torch.load(weights_only=True) refused it ({type(exc).__name__}: {str(exc)[:300]}); seqnet "
            "reads tensors only and never unpickles arbitrary code"
        ) from exc
    return _flatten(loaded, torch)


def _flatten(value: Any, torch: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, torch.Tensor):
        return {prefix[:-1]: value}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, torch, f"{prefix}{key}."))
        return out
    return {}


def write_file(path: Any, spec: Spec, weights: Weights, prefix: str, head: str) -> None:
    """torch.save of `to_state_dict` (torch tensors under torch's names), written atomically."""
    torch = _torch()
    from seqnet.io import atomic_write

    state = to_state_dict(spec, weights, prefix, head)
    atomic_write(path, lambda handle: torch.save(state, handle))


def run_file(path: Any, spec: Spec, prefix: str, head: str | None, x: np.ndarray) -> np.ndarray:
    """The checkpoint run in torch's own layer, loaded by torch's own load_state_dict (strict) from the file's
    entries: the outputs of the model the file holds, with seqnet's head and output_mode applied in NumPy."""
    from seqnet.imported import apply_head

    from .model import fused_layer

    torch = _torch()
    _require_expressible(spec)
    state = read_file(path)
    if f"{prefix}weight_ih" in state:  # a cell's entries: the cell, stepped as its users step it
        cell = cell_layer(spec).to(dtype=state[f"{prefix}weight_ih"].dtype)
        cell.load_state_dict({n: state[f"{prefix}{n}"] for n in CELL_PARAMS if f"{prefix}{n}" in state})
        seq, final = run_cell(cell, x if spec.batch_first else np.swapaxes(x, 0, 1))
        seq = seq if spec.batch_first else np.swapaxes(seq, 0, 1)
        hn = final[0] if isinstance(final, tuple) else final
        weight = None if head is None else state[f"{head}.weight"].numpy()
        bias = None if head is None else state[f"{head}.bias"].numpy()
        return apply_head(spec, seq, hn, weight, bias)
    first = state[f"{prefix}weight_ih_l0"]
    layer = fused_layer(spec).to(dtype=first.dtype)
    layer.load_state_dict(
        {
            k[len(prefix) :]: v
            for k, v in state.items()
            if k.startswith(prefix) and CANONICAL_NAME.match(k[len(prefix) :])
        }
    )
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
        seq, final = layer(torch.as_tensor(x, dtype=first.dtype))
    hn = final[0] if isinstance(final, tuple) else final
    weight = None if head is None else state[f"{head}.weight"].numpy()
    bias = None if head is None else state[f"{head}.bias"].numpy()
    return apply_head(spec, seq.numpy(), hn.numpy(), weight, bias)
