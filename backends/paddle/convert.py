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

Cells: `nn.SimpleRNNCell`, `nn.LSTMCell` (with `proj_size`, its `weight_ho` (H, P)) and `nn.GRUCell` name their
weights `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`; `nn.RNN(cell)` holds them under `cell.` and `nn.BiRNN`
under `cell_fw.` and `cell_bw.`. Each reads as a one-layer Spec (BiRNN: bidirectional; a lone `is_reverse=True`
RNN is refused, as seqnet runs a reverse direction only beside a forward one), and `to_framework(...,
cell=True)` writes the cell (a BiRNN of two for a bidirectional spec). A cell built with `bias_ih_attr=False`
holds frozen zero biases: read back as bias=False.
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
    check_fits,
    choose_layer,
    describe,
    head_entries,
    infer_fields,
)
from seqnet.spec import Spec
from seqnet.weights import Weights

_CELL_KEY = re.compile(r"^(\d+)\.(cell|cell_fw|cell_bw)\.(weight_ih|weight_hh|bias_ih|bias_hh|weight_ho)$")


def _model() -> Any:
    """backends/paddle/model.py (paddle imported quietly), or BackendUnavailable."""
    return import_framework(
        f"{__package__}.model", "Paddle layers and tensors need paddlepaddle: pip install paddlepaddle", ("paddle",)
    )


_CELLS = {"SimpleRNNCell": "rnn", "LSTMCell": "lstm", "GRUCell": "gru"}


def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    """The Spec fields and canonical arrays of a `paddle.nn.SimpleRNN` / `LSTM` / `GRU`, a cell
    (`SimpleRNNCell`, `LSTMCell`, `GRUCell`) or an `nn.RNN` / `nn.BiRNN` over cells (and a Linear head)."""
    paddle = _model().paddle
    if params is not None:
        raise ConversionError("params= is for flax.linen modules; a Paddle layer holds its own weights")
    if isinstance(obj, (paddle.nn.RNN, paddle.nn.BiRNN)) or type(obj).__name__ in _CELLS:
        return _from_cells(obj, head)
    if not isinstance(obj, paddle.nn.layer.rnn.RNNBase) or obj.mode not in LAYER_MODES:
        raise ConversionError(
            f"from_framework reads Paddle's nn.SimpleRNN, nn.LSTM and nn.GRU, nn.SimpleRNNCell, nn.LSTMCell and "
            f"nn.GRUCell, and nn.RNN and nn.BiRNN over them (or a model seqnet.build made), not a {type(obj).__name__}"
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


def _from_cells(obj: Any, head: Any) -> Imported:
    """A Paddle cell, or nn.RNN / nn.BiRNN over cells, as a one-layer Spec."""
    paddle = _model().paddle
    what = f"the paddle.nn.{type(obj).__name__}"
    batch_first = True
    if isinstance(obj, paddle.nn.BiRNN):
        cells, batch_first = [obj.cell_fw, obj.cell_bw], not obj.time_major
    elif isinstance(obj, paddle.nn.RNN):
        if obj.is_reverse:
            raise ConversionError(f"{what}: is_reverse=True alone; seqnet runs a reverse direction only beside a "
                                  "forward one (paddle.nn.BiRNN)")  # fmt: skip
        cells, batch_first = [obj.cell], not obj.time_major
    else:
        cells = [obj]
    described = [_cell_fields(cell, what) for cell in cells]
    if len(described) == 2 and described[0][0] != described[1][0]:
        raise ConversionError(f"{what}: its cells differ ({described[0][0]} forward, {described[1][0]} backward); "
                              "a seqnet Spec's directions are the same cell")  # fmt: skip
    fields: dict[str, Any] = {**described[0][0], "bidirectional": len(cells) == 2, "batch_first": batch_first}
    arrays: dict[str, np.ndarray] = {}
    for (_, found), suffix in zip(described, ("", "_reverse"), strict=False):
        arrays.update({f"{name}_l0{suffix}": value for name, value in found.items()})
    if not fields["bias"]:
        arrays = {name: value for name, value in arrays.items() if not name.startswith("bias_")}
    if head is not None:
        weight = canonical_float(head.weight)  # (in, out)
        features = len(cells) * (fields.get("proj_size") or fields["hidden_size"])
        if not isinstance(head, paddle.nn.Linear) or weight.shape[0] != features:
            raise ConversionError(f"head must be a paddle.nn.Linear with {features} input features, got {head!r}")
        fields["output_size"] = int(weight.shape[1])
        arrays["head.weight"], arrays["head.bias"] = np.ascontiguousarray(weight.T), canonical_float(head.bias)
    return Imported(fields, arrays, what)


def _cell_fields(cell: Any, what: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(Spec fields, canonical arrays without the layer suffix) of one Paddle cell."""
    kind = _CELLS.get(type(cell).__name__)
    if kind is None:
        raise ConversionError(f"{what} holds a {type(cell).__name__}: seqnet reads Paddle's SimpleRNNCell, LSTMCell "
                              "and GRUCell")  # fmt: skip
    weight_ih = canonical_float(cell.weight_ih)
    frozen_zero = [b is not None and b.stop_gradient and not np.any(b.numpy()) for b in (cell.bias_ih, cell.bias_hh)]
    fields: dict[str, Any] = {"cell": kind, "input_size": int(weight_ih.shape[1]), "hidden_size": int(cell.hidden_size),
                              "bias": not all(frozen_zero)}  # fmt: skip
    if kind == "rnn":
        fields["activation"] = cell.activation
    arrays = {name: canonical_float(getattr(cell, name)) for name in CELL_PARAMS}
    if kind == "lstm" and getattr(cell, "proj_size", None):
        fields["proj_size"] = int(cell.proj_size)
        arrays["weight_hr"] = np.ascontiguousarray(canonical_float(cell.weight_ho).T)
    return fields, arrays


def _require_expressible(spec: Spec) -> None:
    """A NotExpressible for a spec paddle.nn's layers cannot run (a sigmoid RNN, the reset-before GRU; a spec
    without biases gets zero biases, with a warning, instead)."""
    missing = _model().missing_form(spec)
    if missing:
        field, why = missing
        raise cannot_express("paddle.nn", field, getattr(spec, field), why, "paddle")


def to_framework(spec: Spec, weights: Weights, into: Any = None, cell: bool = False) -> Any:
    """Paddle's own `nn.SimpleRNN` / `nn.LSTM` / `nn.GRU` (and `nn.Linear` head) with `weights` set, in the
    weights' dtype; or the weights set into `into` (a layer, or (layer, Linear) with a head). cell=True: a
    one-layer spec as Paddle's cell (`SimpleRNNCell`, `LSTMCell`, `GRUCell`), an `nn.BiRNN` of two for a
    bidirectional one."""
    model = _model()
    paddle = model.paddle
    if not isinstance(cell, bool):
        raise ConversionError(f"cell={cell!r} is not allowed: True or False")
    _require_expressible(spec)
    given = _pair(into)[0] if into is not None and spec.output_size is not None else into
    if cell or (given is not None and _is_cells(given)):
        return _to_cells(spec, weights, into)
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
    return _set_weights(layer, head, model.paddle_names(spec), arrays)


def _set_weights(layer: Any, head: Any, paths: dict[str, tuple[str, bool]], arrays: Any) -> Any:
    """`arrays` set into `layer` at `paths` (canonical name -> (path, stored transposed)) and into the Linear
    `head`, in the layer's dtype: the layer, or (layer, head)."""
    model = _model()
    dtype = model.dtype_name(next(iter(layer.parameters())).dtype)
    for canonical, (path, transposed) in paths.items():
        value = np.asarray(arrays[canonical], dtype=dtype)
        model.walk(layer, path).set_value(value.T if transposed else value)
    if head is None:
        return layer
    head.weight.set_value(np.asarray(arrays["head.weight"], dtype=dtype).T)
    head.bias.set_value(np.asarray(arrays["head.bias"], dtype=dtype))
    return layer, head


def _is_cells(obj: Any) -> bool:
    paddle = _model().paddle
    return isinstance(obj, (paddle.nn.RNN, paddle.nn.BiRNN)) or type(obj).__name__ in _CELLS


def cell_layer(spec: Spec) -> Any:
    """Paddle's own cell for a one-layer spec (fresh weights; frozen zero biases for bias=False), an nn.BiRNN of
    two for a bidirectional one; NotExpressible for more layers."""
    paddle = _model().paddle
    if spec.num_layers != 1:
        why = "a cell is one layer; to_framework without cell=True gives a stacked layer"
        raise cannot_express("paddle.nn's cells", "num_layers", spec.num_layers, why, "paddle")
    no_bias = {} if spec.bias else {"bias_ih_attr": False, "bias_hh_attr": False}

    def make() -> Any:
        if spec.cell == "rnn":
            return paddle.nn.SimpleRNNCell(spec.input_size, spec.hidden_size, activation=spec.activation, **no_bias)
        if spec.cell == "lstm":
            return paddle.nn.LSTMCell(spec.input_size, spec.hidden_size, proj_size=spec.proj_size, **no_bias)
        return paddle.nn.GRUCell(spec.input_size, spec.hidden_size, **no_bias)

    return paddle.nn.BiRNN(make(), make(), time_major=not spec.batch_first) if spec.bidirectional else make()


def cell_paths(spec: Spec) -> dict[str, tuple[str, bool]]:
    """Canonical name -> (its path in `cell_layer(spec)`, whether stored transposed)."""
    from seqnet.weights import layout

    names = layout(spec)
    mapping = {}
    for suffix, at in (("", "cell_fw." if spec.bidirectional else ""), ("_reverse", "cell_bw.")):
        for name in (*CELL_PARAMS, "weight_hr"):
            if f"{name}_l0{suffix}" in names:
                path = f"{at}weight_ho" if name == "weight_hr" else f"{at}{name}"
                mapping[f"{name}_l0{suffix}"] = (path, name == "weight_hr")
    return mapping


def _to_cells(spec: Spec, weights: Weights, into: Any) -> Any:
    model = _model()
    paddle = model.paddle
    if into is not None:
        layer, head = (into, None) if spec.output_size is None else _pair(into)
        check_fits(spec, from_framework(layer).fields, f"paddle.nn.{type(layer).__name__}")
    else:
        with model.default_dtype(weights.dtype.name):
            layer = cell_layer(spec)
            head = (
                paddle.nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size) if spec.output_size else None
            )
    return _set_weights(layer, head, cell_paths(spec), weights)


def _pair(into: Any) -> tuple[Any, Any]:
    if not (isinstance(into, tuple) and len(into) == 2):
        raise ConversionError("into= must be the pair (recurrent layer, paddle.nn.Linear) for a spec with a head")
    return into


def _bias_shapes(spec: Spec) -> dict[str, tuple[int, ...]]:
    from seqnet.weights import layout

    return {name: shape for name, shape in layout(spec).items() if name.startswith("bias_")}


_LAYER_FIRST = re.compile(r"^((?:.*\.)?)0\.cell(?:_fw)?\.weight_ih$")  # a layer's: "rnn.0.cell_fw.weight_ih"
_ANY_LAYER = re.compile(r"(?:^|\.)\d+\.cell(?:_fw|_bw)?\.weight_ih$")


def _cell_prefixes(names: list[str]) -> dict[str, str]:
    """prefix -> "cell" for each cell's entries that are not a layer's: `P.weight_ih` (a cell), `P.cell.weight_ih`
    (nn.RNN), `P.cell_fw.weight_ih` (nn.BiRNN); flat layer names (`weight_ih_l0`) do not end in weight_ih."""
    found = {}
    for name in names:
        if not name.endswith("weight_ih") or _ANY_LAYER.search(name):
            continue
        rest = name[: -len("weight_ih")]
        if rest.endswith("cell_bw."):
            continue
        for wrapper in ("cell_fw.", "cell."):
            if rest.endswith(wrapper):
                rest = rest[: -len(wrapper)]
                break
        found[rest] = "cell"
    return found


def _paddle_prefixes(names: list[str]) -> dict[str, str]:
    found = {m.group(1): "layer" for name in names if (m := _LAYER_FIRST.match(name))}
    found.update(_cell_prefixes(names))
    return found


def layer_prefixes(names: list[str]) -> dict[str, str]:
    """Each prefix at which a Paddle checkpoint holds a recurrent layer or a cell, to "layer" or "cell" (PyTorch's
    flat names where it holds no Paddle names)."""
    from seqnet_backends.torch.convert import layer_prefixes as flat

    return _paddle_prefixes(names) or flat(names)


def from_state_dict(arrays: dict[str, Any], prefix: str, head: str | None) -> Imported:
    """The recurrent layer or cell under `prefix` in a Paddle checkpoint: a layer read through its cell-level
    names (the flat names only where no cell names exist: a checkpoint trimmed to them), a cell, nn.RNN or
    nn.BiRNN through its cells' names (`weight_ih`, `cell.weight_ih`, `cell_fw.weight_ih`, ...)."""
    names = list(arrays)
    found = _paddle_prefixes(names)
    if not found:  # flat names only: PyTorch's layout
        from seqnet_backends.torch.convert import from_state_dict as flat

        imported = flat(arrays, prefix, None)
        imported.source = imported.source.replace("torch", "Paddle")
    else:
        at, kind = choose_layer(found, names, prefix, "the Paddle checkpoint")
        sub: dict[str, np.ndarray] = {}
        used: list[str] = []
        for name, value in arrays.items():
            rest = name[len(at) :] if name.startswith(at) else None
            key = _canonical_key(rest, kind) if rest is not None else None
            if key is not None:
                canonical, transposed = key
                sub[canonical] = (
                    np.ascontiguousarray(canonical_float(value).T) if transposed else canonical_float(value)
                )
                used.append(name)
            elif kind == "layer" and rest is not None and CANONICAL_NAME.match(rest):
                used.append(name)  # the flat name of a tensor read through its cell name
        source = f"the Paddle checkpoint's {kind} under prefix {at!r}"
        described = describe({name: arrays[name] for name in used})  # the checkpoint's own names
        imported = Imported(infer_fields(sub, source, described), sub, source, described, at, used)
    if head is not None:
        weight, bias = head_entries(arrays, head, transposed=True)  # Paddle's Linear stores (in, out)
        imported.arrays["head.weight"], imported.arrays["head.bias"] = weight, bias
        imported.fields["output_size"] = int(weight.shape[0])
        imported.used += [f"{head}.weight", f"{head}.bias"]
    assert all(CANONICAL_NAME.match(n) or n.startswith("head.") for n in imported.arrays)
    return imported


def _canonical_key(rest: str, kind: str) -> tuple[str, bool] | None:
    """(canonical name, stored transposed) of an entry's name after the prefix, or None if not the layer's."""
    if kind == "layer":
        match = _CELL_KEY.match(rest)
        if not match:
            return None
        layer, cell, param = match.groups()
    else:
        cell, _, param = rest.rpartition(".")
        if cell not in ("", "cell", "cell_fw", "cell_bw") or param not in (*CELL_PARAMS, "weight_ho"):
            return None
        layer = "0"
    suffix = "_reverse" if cell == "cell_bw" else ""
    if param == "weight_ho":
        return f"weight_hr_l{layer}{suffix}", True
    return f"{param}_l{layer}{suffix}", False


def to_state_dict(spec: Spec, weights: Weights, prefix: str, head: str, cell: bool = False) -> dict[str, Any]:
    """Paddle tensors under the names Paddle's own layer holds (flat and per cell) after `prefix`, or with
    cell=True its cell's (an nn.BiRNN's `cell_fw.` and `cell_bw.`); the head (weight (in, out)) under `head`."""
    made = to_framework(spec, weights, cell=cell)
    layer, linear = made if isinstance(made, tuple) else (made, None)
    out = {f"{prefix}{name}": value for name, value in layer.state_dict().items()}
    if linear is not None:
        out.update({f"{head}.{name}": value for name, value in linear.state_dict().items()})
    return out


def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """The Paddle layer called Paddle's way (`sequence_length`); NumPy in and out. Paddle's own outputs: with
    proj_size they are not zero past a length (a Paddle trait seqnet's backend masks)."""
    paddle = _model().paddle
    if _is_cells(obj):
        return _run_cells(obj, x, state, lengths)
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


def _run_cells(obj: Any, x: Any, state: Any, lengths: Any) -> tuple[np.ndarray, Any]:
    """A cell (through Paddle's own nn.RNN, which steps it), nn.RNN or nn.BiRNN called Paddle's way; outputs past a
    length zeroed (Paddle's are not), state (D, B, H) (an LSTM's pair) in and out."""
    paddle = _model().paddle
    layer = obj if isinstance(obj, (paddle.nn.RNN, paddle.nn.BiRNN)) else paddle.nn.RNN(obj)
    bi = isinstance(layer, paddle.nn.BiRNN)
    lstm = type(layer.cell_fw if bi else layer.cell).__name__ == "LSTMCell"
    dtype = next(iter(layer.parameters())).dtype
    to = lambda a: paddle.to_tensor(np.asarray(a)).astype(dtype)  # noqa: E731
    cells = [layer.cell_fw, layer.cell_bw] if bi else [layer.cell]
    if state is None:  # zeros given explicitly: nn.RNN's own default is H wide for a projected LSTMCell's h
        batch = np.shape(x)[1 if layer.time_major else 0]
        out_size = getattr(cells[0], "proj_size", 0) or cells[0].hidden_size
        sizes = (out_size, cells[0].hidden_size) if lstm else (out_size,)
        zeros = tuple(np.zeros((len(cells), batch, n), np.dtype(_model().dtype_name(dtype))) for n in sizes)
        state = zeros if lstm else zeros[0]
    parts = [np.asarray(s) for s in (state if lstm else (state,))]
    per_direction = [tuple(to(p[d]) for p in parts) for d in range(len(parts[0]))]
    chosen = [d if lstm else d[0] for d in per_direction]
    st = tuple(chosen) if bi else chosen[0]
    seq_len = None if lengths is None else paddle.to_tensor(np.asarray(lengths, dtype=np.int64))
    with paddle.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*sequence_mask.*deprecated")
        seq, final = layer(to(x), st, seq_len)
    seq = seq.numpy()
    if lengths is not None:
        time_major = layer.time_major
        steps = seq.shape[0 if time_major else 1]
        valid = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
        seq = seq * (valid.T if time_major else valid)[..., None]
    by_direction = [tuple(f) if lstm else (f,) for f in (list(final) if bi else [final])]
    stacked = tuple(np.stack([d[i].numpy() for d in by_direction]) for i in range(len(by_direction[0])))
    return seq, (stacked if lstm else stacked[0])


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
    from seqnet.imported import apply_head

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
