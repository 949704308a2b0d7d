"""Conversions between seqnet and PyTorch's own layers and checkpoints.

Requirements: numpy; torch for live layers and tensors. torch is imported on first use, so a state dict of
NumPy arrays (read from a safetensors file, say) converts without it.

seqnet's canonical layout *is* PyTorch's: `nn.RNN` / `nn.LSTM` / `nn.GRU` hold exactly the canonical names
and shapes (`weight_ih_l{k}{_reverse}` (G*H, I), gate blocks lstm (i, f, g, o), gru (r, z, n), `weight_hr_l{k}`
(P, H) with proj_size), and a head is an `nn.Linear` (weight (out, in)). Nothing is transposed or reordered.

torch's layers cannot express `activation="sigmoid"` (nn.RNN offers tanh and relu) or the reset-before GRU:
`to_framework` refuses those and names `seqnet.build(spec, "torch")`, whose generic path runs them.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from seqnet.convert import (
    CANONICAL_NAME,
    LAYER_MODES,
    Imported,
    cannot_express,
    canonical_float,
    check_fits,
    describe,
    find_prefix,
    head_entries,
    infer_fields,
)
from seqnet.errors import ConversionError, import_framework
from seqnet.spec import Spec
from seqnet.weights import Weights


def _torch() -> Any:
    return import_framework("torch", "torch layers and tensors need torch: pip install torch")


def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    """The Spec fields and canonical arrays of an `nn.RNN` / `nn.LSTM` / `nn.GRU` (and an `nn.Linear` head)."""
    nn = _torch().nn
    if params is not None:
        raise ConversionError("params= is for flax.linen modules; a torch layer holds its own weights")
    if not isinstance(obj, nn.RNNBase) or obj.mode not in LAYER_MODES:
        raise ConversionError(
            f"from_framework reads torch's nn.RNN, nn.LSTM and nn.GRU (or a model seqnet.build made), "
            f"not a {type(obj).__name__}"
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


def _read_head(layer: Any, head: Any) -> tuple[int, np.ndarray, np.ndarray]:
    nn = _torch().nn
    if not isinstance(head, nn.Linear):
        raise ConversionError(f"head must be a torch.nn.Linear, got {type(head).__name__}")
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
    from .model import fused_reason

    reason = fused_reason(spec)
    if reason:
        field = "activation" if spec.cell == "rnn" else "peephole" if spec.peephole else "gru_variant"
        raise cannot_express("torch.nn", field, getattr(spec, field), reason, "torch")


def to_framework(spec: Spec, weights: Weights, into: Any = None, device: Any = None, dtype: Any = None) -> Any:
    """torch's own `nn.RNN` / `nn.LSTM` / `nn.GRU` (and `nn.Linear` head) with `weights` loaded, in the weights'
    dtype unless `dtype` is given, on `device`; or the weights loaded into `into`."""
    torch = _torch()
    from .model import fused_layer

    _require_expressible(spec)
    rnn_state = {
        name: torch.from_numpy(np.array(value)) for name, value in weights.items() if not name.startswith("head.")
    }
    if into is not None:
        layer, head = _unpack_into(spec, into)
        check_fits(spec, from_framework(layer).fields, f"torch.nn.{type(layer).__name__}")
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


def _unpack_into(spec: Spec, into: Any) -> tuple[Any, Any]:
    if spec.output_size is None:
        if isinstance(into, tuple):
            raise ConversionError("into= is one recurrent layer for a spec without a head, got a tuple")
        return into, None
    if not (isinstance(into, tuple) and len(into) == 2):
        raise ConversionError("into= must be the pair (recurrent layer, nn.Linear) for a spec with a head")
    return into


def from_state_dict(arrays: dict[str, Any], prefix: str, head: str | None) -> Imported:
    """The recurrent layer's entries under `prefix` in a torch checkpoint (canonical names after the prefix)."""
    found = find_prefix(list(arrays), prefix, r"^(.*)weight_ih_l0$", "the torch checkpoint")
    sub = {
        name[len(found) :]: canonical_float(value)
        for name, value in arrays.items()
        if name.startswith(found) and CANONICAL_NAME.match(name[len(found) :])
    }
    source = f"the torch checkpoint's layer under prefix {found!r}"
    fields = infer_fields(sub, source)
    if head is not None:
        weight, bias = head_entries(arrays, head)
        fields["output_size"], sub["head.weight"], sub["head.bias"] = int(weight.shape[0]), weight, bias
    return Imported(fields, sub, source, describe(sub), found)


def to_state_dict(spec: Spec, weights: Weights, prefix: str, head: str) -> dict[str, Any]:
    """torch tensors under torch's names: `{prefix}weight_ih_l0`, ..., `{head}.weight`, `{head}.bias`."""
    torch = _torch()
    out = {}
    for name, value in weights.items():
        key = f"{head}.{name[len('head.') :]}" if name.startswith("head.") else f"{prefix}{name}"
        out[key] = torch.from_numpy(np.array(value))
    return out


def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """The torch layer called torch's way (lengths through pack_padded_sequence); NumPy in and out."""
    torch = _torch()
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
    from seqnet.convert import apply_head

    from .model import fused_layer

    torch = _torch()
    _require_expressible(spec)
    state = read_file(path)
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
