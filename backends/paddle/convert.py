"""Conversions between seqnet and PaddlePaddle's own layers and checkpoints.

Requirements: numpy; paddlepaddle for live layers, tensors and writing `.pdparams` (imported quietly on first
use, see backends/paddle/model.py). A state dict of NumPy arrays converts without it.

Paddle's `nn.SimpleRNN` / `nn.LSTM` / `nn.GRU` compute PyTorch's equations with PyTorch's gate orders, and
name their parameters twice: flat (`weight_ih_l0_reverse`) and per cell (`0.cell_bw.weight_ih`). The cell
names are the ones to trust: with `proj_size` the flat names are shifted onto the wrong tensors (Paddle
3.3.1; `weight_ih_l0_reverse` holds a (H, P) projection). So layers and checkpoints are read through the
cell names, and the projection `weight_ho` (H, P) is transposed into the canonical `weight_hr` (P, H).
`paddle.nn.Linear` stores its weight (in, out): a head is transposed both ways.

What Paddle's layers cannot express: activation="sigmoid" and the reset-before GRU (refused, pointing to
`seqnet.build(spec, "paddle")`). bias=False: Paddle 3.3.1 crashes building its RNN layers without biases, so
`to_framework` gives the layer zero biases (the same function; they are trainable) and warns.
"""

from __future__ import annotations

import re
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

_CELL_KEY = re.compile(r"^(\d+)\.(cell|cell_fw|cell_bw)\.(weight_ih|weight_hh|bias_ih|bias_hh|weight_ho)$")


def _model() -> Any:
    """backends/paddle/model.py (paddle imported quietly), or BackendUnavailable."""
    return import_framework(
        f"{__package__}.model", "Paddle layers and tensors need paddlepaddle: pip install paddlepaddle", ("paddle",)
    )


def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    """The Spec fields and canonical arrays of a `paddle.nn.SimpleRNN` / `LSTM` / `GRU` (and a Linear head)."""
    paddle = _model().paddle
    if params is not None:
        raise ConversionError("params= is for flax.linen modules; a Paddle layer holds its own weights")
    if not isinstance(obj, paddle.nn.layer.rnn.RNNBase) or obj.mode not in LAYER_MODES:
        raise ConversionError(
            f"from_framework reads Paddle's nn.SimpleRNN, nn.LSTM and nn.GRU (or a model seqnet.build made), "
            f"not a {type(obj).__name__}"
        )
    cell, activation = LAYER_MODES[obj.mode]
    first = obj[0].cell_fw if obj.num_directions == 2 else obj[0].cell
    fields: dict[str, Any] = {
        "cell": cell,
        "input_size": obj.input_size,
        "hidden_size": obj.hidden_size,
        "num_layers": obj.num_layers,
        "bidirectional": obj.num_directions == 2,
        "bias": getattr(first, "bias_ih", None) is not None,
        "batch_first": not obj.time_major,
        "dropout": float(obj.dropout),
        "proj_size": int(obj.proj_size or 0),
    }
    if cell == "rnn":
        fields["activation"] = activation
    spec = Spec(**fields)
    model = _model()
    arrays = {}
    for canonical, (path, transposed) in model.paddle_names(spec).items():
        value = canonical_float(model.walk(obj, path))
        arrays[canonical] = np.ascontiguousarray(value.T) if transposed else value
    if head is not None:
        if not isinstance(head, paddle.nn.Linear):
            raise ConversionError(f"head must be a paddle.nn.Linear, got {type(head).__name__}")
        weight = canonical_float(head.weight)  # (in, out)
        if weight.shape[0] != spec.num_directions * spec.hidden_out:
            raise ConversionError(
                f"head has {weight.shape[0]} input features: the recurrent layer gives "
                f"{spec.num_directions * spec.hidden_out} per step"
            )
        fields["output_size"] = int(weight.shape[1])
        arrays["head.weight"] = np.ascontiguousarray(weight.T)
        arrays["head.bias"] = (
            canonical_float(head.bias) if head.bias is not None else np.zeros(weight.shape[1], weight.dtype)
        )
    return Imported(fields, arrays, f"the paddle.nn.{type(obj).__name__}")


def _require_expressible(spec: Spec) -> None:
    """A NotExpressible for a spec paddle.nn's layers cannot run (a sigmoid RNN, the reset-before GRU; a spec
    without biases gets zero biases, with a warning, instead)."""
    missing = _model().missing_form(spec)
    if missing:
        field, why = missing
        raise cannot_express("paddle.nn", field, getattr(spec, field), why, "paddle")


def to_framework(spec: Spec, weights: Weights, into: Any = None) -> Any:
    """Paddle's own `nn.SimpleRNN` / `nn.LSTM` / `nn.GRU` (and `nn.Linear` head) with `weights` set, in the
    weights' dtype; or the weights set into `into` (a layer, or (layer, Linear) with a head)."""
    model = _model()
    paddle = model.paddle
    _require_expressible(spec)
    arrays = dict(weights)
    if not spec.bias:
        warnings.warn(
            "Spec.bias=False: Paddle 3.3.1 cannot build its RNN layers without biases, so this layer has zero "
            "biases (the same function; they are trainable)",
            stacklevel=3,
        )
        full = Spec(**{**spec.to_dict(), "bias": True})
        arrays.update({name: np.zeros(shape, weights.dtype) for name, shape in _bias_shapes(full).items()})
        spec = full
    if into is not None:
        layer, head = (into, None) if spec.output_size is None else _pair(into)
        fields = from_framework(layer).fields
        fields.pop("bias")  # a layer with biases holds bias=False as zeros
        check_fits(spec, fields, f"paddle.nn.{type(layer).__name__}")
    else:
        with model.default_dtype(weights.dtype.name):
            layer = model.fused_layer(spec)
            head = (
                paddle.nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size) if spec.output_size else None
            )
    dtype = model.dtype_name(next(iter(layer.parameters())).dtype)
    for canonical, (path, transposed) in model.paddle_names(spec).items():
        value = np.asarray(arrays[canonical], dtype=dtype)
        model.walk(layer, path).set_value(value.T if transposed else value)
    if head is None:
        return layer
    head.weight.set_value(np.asarray(arrays["head.weight"], dtype=dtype).T)
    head.bias.set_value(np.asarray(arrays["head.bias"], dtype=dtype))
    return layer, head


def _pair(into: Any) -> tuple[Any, Any]:
    if not (isinstance(into, tuple) and len(into) == 2):
        raise ConversionError("into= must be the pair (recurrent layer, paddle.nn.Linear) for a spec with a head")
    return into


def _bias_shapes(spec: Spec) -> dict[str, tuple[int, ...]]:
    from seqnet.weights import layout

    return {name: shape for name, shape in layout(spec).items() if name.startswith("bias_")}


def from_state_dict(arrays: dict[str, Any], prefix: str, head: str | None) -> Imported:
    """The recurrent layer under `prefix` in a Paddle checkpoint, read through its cell-level names (the flat
    names only where no cell names exist: a checkpoint trimmed to them)."""
    pattern = r"^((?:.*\.)?)0\.cell(?:_fw)?\.weight_ih$"
    names = list(arrays)
    if not any(re.match(pattern, name) for name in names):  # flat names only: PyTorch's layout
        from seqnet_backends.torch.convert import from_state_dict as flat

        imported = flat(arrays, prefix, None)
        imported.source = imported.source.replace("torch", "Paddle")
    else:
        found = find_prefix(names, prefix, pattern, "the Paddle checkpoint")
        sub = {}
        for name, value in arrays.items():
            match = _CELL_KEY.match(name[len(found) :]) if name.startswith(found) else None
            if match:
                layer, cell, param = match.groups()
                suffix = "_reverse" if cell == "cell_bw" else ""
                if param == "weight_ho":
                    sub[f"weight_hr_l{layer}{suffix}"] = np.ascontiguousarray(canonical_float(value).T)
                else:
                    sub[f"{param}_l{layer}{suffix}"] = canonical_float(value)
        source = f"the Paddle checkpoint's layer under prefix {found!r}"
        imported = Imported(infer_fields(sub, source), sub, source, describe(sub), found)
    if head is not None:
        weight, bias = head_entries(arrays, head, transposed=True)  # Paddle's Linear stores (in, out)
        imported.arrays["head.weight"], imported.arrays["head.bias"] = weight, bias
        imported.fields["output_size"] = int(weight.shape[0])
    assert all(CANONICAL_NAME.match(n) or n.startswith("head.") for n in imported.arrays)
    return imported


def to_state_dict(spec: Spec, weights: Weights, prefix: str, head: str) -> dict[str, Any]:
    """Paddle tensors under the names Paddle's own layer holds (flat and per cell) after `prefix`; the head
    (weight (in, out)) under `head`."""
    made = to_framework(spec, weights)
    layer, linear = made if isinstance(made, tuple) else (made, None)
    out = {f"{prefix}{name}": value for name, value in layer.state_dict().items()}
    if linear is not None:
        out.update({f"{head}.{name}": value for name, value in linear.state_dict().items()})
    return out


def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """The Paddle layer called Paddle's way (`sequence_length`); NumPy in and out. Paddle's own outputs: with
    proj_size they are not zero past a length (a Paddle trait seqnet's backend masks)."""
    paddle = _model().paddle
    dtype = next(iter(obj.parameters())).dtype
    to = lambda a: paddle.to_tensor(np.asarray(a)).astype(dtype)  # noqa: E731
    st = None
    if state is not None:
        st = tuple(to(s) for s in state) if obj.mode == "LSTM" else to(state)
    seq_len = None if lengths is None else paddle.to_tensor(np.asarray(lengths, dtype=np.int64))
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*sequence_mask.*deprecated")
        seq, final = obj(to(x), st, seq_len)
    return seq.numpy(), (tuple(f.numpy() for f in final) if isinstance(final, (tuple, list)) else final.numpy())


# -- checkpoint files (.pdparams) -------------------------------------------------------------------------------
def read_file(path: Any) -> dict[str, Any]:
    """A `.pdparams` file's arrays by name, read by a restricted unpickler that builds NumPy arrays and
    plain containers only (paddle.save pickles a dict of arrays): no arbitrary code runs, paddle not needed."""
    import pickle

    allowed = {
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"), ("collections", "OrderedDict"),
    }  # fmt: skip

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) not in allowed:
                raise pickle.UnpicklingError(f"{module}.{name} is not a NumPy array part")
            return super().find_class(module, name)

    try:
        with open(path, "rb") as handle:
            loaded = Restricted(handle).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise ConversionError(
            f"{str(path)!r} is not a Paddle state dict of arrays ({type(exc).__name__}: {exc}); seqnet never "
            "unpickles arbitrary code"
        ) from exc
    if not isinstance(loaded, dict):
        raise ConversionError(f"{str(path)!r} holds a {type(loaded).__name__}, not a Paddle state dict")
    return {str(k): v for k, v in loaded.items() if isinstance(v, np.ndarray)}


def write_file(path: Any, spec: Spec, weights: Weights, prefix: str, head: str) -> None:
    """What paddle.save writes for a state dict (a pickled dict of NumPy arrays under the names Paddle's own
    layer holds), written atomically; paddle.load and set_state_dict read it (tested)."""
    import pickle

    from seqnet.io import atomic_write

    state = {name: np.asarray(value.numpy()) for name, value in to_state_dict(spec, weights, prefix, head).items()}
    atomic_write(path, lambda handle: pickle.dump(state, handle, protocol=4))


def run_file(path: Any, spec: Spec, prefix: str, head: str | None, x: np.ndarray) -> np.ndarray:
    """The checkpoint run in Paddle's own layer, filled by Paddle's own set_state_dict from the file's entries;
    seqnet's head (Paddle's Linear weight is (in, out)) and output_mode applied in NumPy."""
    from seqnet.convert import apply_head

    model = _model()
    _require_expressible(spec)
    paddle = model.paddle
    state = read_file(path)
    dtype = str(state[next(k for k in state if k.startswith(prefix) and k.endswith("weight_ih"))].dtype)
    with model.default_dtype(dtype):
        layer = model.fused_layer(spec)
    missing, _ = layer.set_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
    if missing:
        raise ConversionError(f"{str(path)!r}: Paddle's layer found no entries for {missing}")
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*sequence_mask.*deprecated")
        seq, final = layer(paddle.to_tensor(np.asarray(x, dtype=dtype)))
    hn = final[0] if isinstance(final, (tuple, list)) else final
    weight = None if head is None else state[f"{head}.weight"].T
    bias = None if head is None else state[f"{head}.bias"]
    return apply_head(spec, seq.numpy(), hn.numpy(), weight, bias)
