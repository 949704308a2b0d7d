"""Conversions between seqnet and flax's own recurrent modules: NNX, and linen cells with their params.

Requirements: flax (0.10+) and jax. The JAX backend runs what this converts; flax is imported on first use.

What converts: NNX `nnx.RNN` and `nnx.Bidirectional` (default concatenating merge_fn) over `LSTMCell`,
`OptimizedLSTMCell`, `GRUCell` and `SimpleCell`, alone or stacked in an `nnx.Sequential`, `nnx.List` or a
Python list (with `nnx.Dropout` between layers: Spec.dropout); and linen cells, `nn.RNN`, `nn.Bidirectional`
and `nn.Sequential` of them with their variables (`from_framework(module, params=variables)`).

Weights (one place per direction, below). flax kernels are input-major (in, out): transposed into
PyTorch's (out, in). flax's cells keep one bias where PyTorch has two, because the two are added:
- LSTM: input kernels `ii, if, ig, io` without bias, hidden kernels `hi, hf, hg, ho` with bias (NNX
  `OptimizedLSTMCell`: `dense_i` (I, 4H) and `dense_h` (H, 4H) with bias, gates i, f, g, o): bias_ih is the
  hidden bias, bias_hh zero; back to flax, their sum.
- GRU: reset applied after the hidden product, PyTorch's GRU. linen: `ir, iz, in` with bias, `hr, hz`
  without, `hn` with bias (inside the reset product): b_ir + b_hr, b_iz + b_hz, b_in, b_hn. NNX `GRUCell`:
  `dense_i` (I, 3H) with bias, `dense_h` (H, 3H) WITHOUT bias, so NNX cannot hold a non-zero b_hn (inside
  r * (W_hn h + b_hn) it does not fold into another bias): `to_framework` refuses such weights for NNX
  and names `api="linen"`, which holds it.
- SimpleCell: `i` / `dense_i` with bias, `h` / `dense_h` without: bias_ih = b_i + ..., bias_hh zero.

Refused, naming the attribute: a custom `gate_fn` or `activation_fn` (seqnet's are sigmoid and tanh; the
simple cell also relu and sigmoid), `SimpleCell(residual=True)`, a lone `reverse=True` RNN, a
Bidirectional with another merge_fn, other cells (MGUCell, ConvLSTMCell). flax has no LSTM projection and
no reset-before GRU: `to_framework` refuses those, pointing to `seqnet.build(spec, "jax")`.

flax's traits, documented rather than changed: with seq_lengths the cells run on past each length, so
outputs there are not zero (the final carry is taken at the last valid step); `nnx.Sequential` passes
seq_lengths to its first layer only: with lengths, call the layers in turn (as `run` does).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, import_framework
from seqnet.imported import Imported, cannot_express, canonical_float, check_fits
from seqnet.spec import Spec
from seqnet.weights import Weights

_KINDS = {"LSTMCell": "lstm", "OptimizedLSTMCell": "lstm", "GRUCell": "gru", "SimpleCell": "rnn"}
_LSTM_GATES = ("i", "f", "g", "o")
_GRU_GATES = ("r", "z", "n")


def _flax() -> tuple[Any, Any, Any, Any]:
    """(jax, jax.numpy, flax.nnx, flax.linen)."""
    message = "flax modules need flax and jax: pip install flax"
    jax = import_framework("jax", message)
    linen = import_framework("flax.linen", message, ("flax", "jax"))
    nnx = import_framework("flax.nnx", message, ("flax", "jax"))
    return jax, jax.numpy, nnx, linen


def _activations() -> dict[Any, str]:
    jax, jnp, _, _ = _flax()
    return {jnp.tanh: "tanh", jax.nn.relu: "relu", jax.nn.sigmoid: "sigmoid"}


def _linen(obj: Any) -> bool:
    return isinstance(obj, _flax()[3].Module)


# -- recognising the structure ----------------------------------------------------------------------------------
def _layers(obj: Any) -> list[Any]:
    """The layers of a module or a stack (NNX Sequential / List, linen Sequential, Python list)."""
    _, _, nnx, linen = _flax()
    if isinstance(obj, (list, tuple)):
        return list(obj)
    if isinstance(obj, nnx.Sequential):
        return list(obj.layers)
    if isinstance(obj, nnx.List):
        return list(obj)
    if isinstance(obj, linen.Sequential):
        return list(obj.layers)
    return [obj]


def _cell_kind(cell: Any, where: str) -> tuple[str, str]:
    """(seqnet cell, activation) of a flax cell, refusing what the Spec cannot express."""
    kind = _KINDS.get(type(cell).__name__)
    if kind is None:
        raise ConversionError(
            f"{where}: a flax {type(cell).__name__}; seqnet reads LSTMCell, OptimizedLSTMCell, GRUCell and SimpleCell"
        )
    acts = _activations()
    if kind == "rnn":
        if getattr(cell, "residual", False):
            raise ConversionError(
                f"{where}: SimpleCell(residual=True) adds h to the pre-activation; seqnet's RNN has no residual term"
            )
        activation = acts.get(cell.activation_fn)
        if activation is None:
            raise ConversionError(
                f"{where}: activation_fn={cell.activation_fn!r}; seqnet's RNN offers tanh, relu and sigmoid"
            )
        return kind, activation
    if acts.get(cell.activation_fn) != "tanh":
        raise ConversionError(f"{where}: activation_fn={cell.activation_fn!r}; a seqnet {kind.upper()} uses tanh")
    if acts.get(cell.gate_fn) != "sigmoid":
        raise ConversionError(f"{where}: gate_fn={cell.gate_fn!r}; seqnet's gates use the sigmoid")
    return kind, "tanh"


def _directions(layer: Any, where: str) -> tuple[list[Any], bool]:
    """(the RNN modules of one layer, forward first; time_major) of an RNN or Bidirectional."""
    import flax.linen.recurrent as linen_recurrent
    import flax.nnx.nn.recurrent as nnx_recurrent

    _, _, nnx, linen = _flax()
    if isinstance(layer, (nnx.Bidirectional, linen.Bidirectional)):
        default = linen_recurrent._concatenate if _linen(layer) else nnx_recurrent._concatenate
        if layer.merge_fn is not default:
            raise ConversionError(f"{where}: merge_fn={layer.merge_fn!r}; seqnet concatenates the directions")
        return [layer.forward_rnn, layer.backward_rnn], bool(layer.time_major)
    if isinstance(layer, (nnx.RNN, linen.RNN)):
        if layer.reverse:
            raise ConversionError(
                f"{where}: reverse=True on a lone RNN; seqnet runs a reverse direction only inside "
                "a bidirectional layer (nnx.Bidirectional)"
            )
        return [layer], bool(layer.time_major)
    if type(layer).__name__ in _KINDS:  # a bare cell: one forward direction, batch-major as nn.RNN's default
        return [layer], False
    raise ConversionError(
        f"{where}: a {type(layer).__name__}; seqnet reads flax RNN and Bidirectional layers, "
        "their cells, and Dropout between layers"
    )


def _cell(rnn: Any) -> Any:
    return rnn if type(rnn).__name__ in _KINDS else rnn.cell


# -- one place per direction: flax arrays <-> canonical ---------------------------------------------------------
def _nnx_get(variable: Any) -> np.ndarray:
    return canonical_float(np.asarray(variable[...]))


def _flax_to_canonical(kind: str, cls: str, get: Any) -> dict[str, np.ndarray]:
    """Canonical weight_ih, weight_hh, bias_ih, bias_hh of one cell; `get(path)` reads a kernel or bias by its
    linen name ('ii.kernel') or NNX attribute path ('dense_i.kernel')."""
    if kind == "lstm" and cls == "OptimizedLSTMCell" and get.nnx:
        w_ih, w_hh, b = get("dense_i.kernel").T, get("dense_h.kernel").T, get("dense_h.bias")
    elif kind == "lstm":
        inputs = {"i": "ii", "f": "if_" if get.nnx else "if", "g": "ig", "o": "io"}  # NNX renames `if`
        w_ih = np.concatenate([get(f"{inputs[g]}.kernel").T for g in _LSTM_GATES])
        w_hh = np.concatenate([get(f"h{g}.kernel").T for g in _LSTM_GATES])
        b = np.concatenate([get(f"h{g}.bias") for g in _LSTM_GATES])
    elif get.nnx:  # NNX GRUCell and SimpleCell: dense_i with bias, dense_h without
        w_ih, w_hh, b = get("dense_i.kernel").T, get("dense_h.kernel").T, get("dense_i.bias")
    elif kind == "gru":
        w_ih = np.concatenate([get(f"i{g}.kernel").T for g in _GRU_GATES])
        w_hh = np.concatenate([get(f"h{g}.kernel").T for g in _GRU_GATES])
        b = np.concatenate([get(f"i{g}.bias") for g in _GRU_GATES])
        b_hn = get("hn.bias")
        return {
            "weight_ih": w_ih,
            "weight_hh": w_hh,
            "bias_ih": b,
            "bias_hh": np.concatenate([np.zeros_like(b_hn), np.zeros_like(b_hn), b_hn]),
        }
    else:  # linen SimpleCell
        w_ih, w_hh, b = get("i.kernel").T, get("h.kernel").T, get("i.bias")
    return {
        "weight_ih": np.ascontiguousarray(w_ih),
        "weight_hh": np.ascontiguousarray(w_hh),
        "bias_ih": b,
        "bias_hh": np.zeros_like(b),
    }


def _canonical_to_flax(
    kind: str, cls: str, nnx_api: bool, w: dict[str, np.ndarray], where: str
) -> dict[str, np.ndarray]:
    """flax path -> array for one cell from canonical weights (biases folded where flax keeps one)."""
    hidden = w["weight_hh"].shape[1]
    b_ih, b_hh = w["bias_ih"], w["bias_hh"]
    t = lambda a: np.ascontiguousarray(a.T)  # noqa: E731
    if kind == "lstm" and cls == "OptimizedLSTMCell" and nnx_api:
        return {"dense_i.kernel": t(w["weight_ih"]), "dense_h.kernel": t(w["weight_hh"]), "dense_h.bias": b_ih + b_hh}
    if kind == "lstm":
        out = {}
        for k, g in enumerate(_LSTM_GATES):
            rows = slice(k * hidden, (k + 1) * hidden)
            out[f"{'if_' if (nnx_api and g == 'f') else 'i' + g}.kernel"] = t(w["weight_ih"][rows])
            out[f"h{g}.kernel"] = t(w["weight_hh"][rows])
            out[f"h{g}.bias"] = b_ih[rows] + b_hh[rows]
        return out
    if kind == "gru":
        r, z, n = (slice(k * hidden, (k + 1) * hidden) for k in range(3))
        if nnx_api:
            if np.any(b_hh[n]):
                raise ConversionError(
                    f"{where}: flax.nnx.GRUCell has no bias inside the reset product r * (W_hn h + b_hn), and "
                    f"these weights have one (max |b_hn| = {float(np.max(np.abs(b_hh[n]))):.3g}): use "
                    "to_framework(spec, weights, 'flax', api='linen'), whose GRUCell holds it, or "
                    "seqnet.build(spec, 'jax')"
                )
            folded = np.concatenate([b_ih[r] + b_hh[r], b_ih[z] + b_hh[z], b_ih[n]])
            return {"dense_i.kernel": t(w["weight_ih"]), "dense_i.bias": folded, "dense_h.kernel": t(w["weight_hh"])}
        out = {}
        for g, rows in zip(_GRU_GATES, (r, z, n), strict=True):
            out[f"i{g}.kernel"], out[f"h{g}.kernel"] = t(w["weight_ih"][rows]), t(w["weight_hh"][rows])
        out.update({"ir.bias": b_ih[r] + b_hh[r], "iz.bias": b_ih[z] + b_hh[z], "in.bias": b_ih[n], "hn.bias": b_hh[n]})
        return out
    if nnx_api:
        return {"dense_i.kernel": t(w["weight_ih"]), "dense_i.bias": b_ih + b_hh, "dense_h.kernel": t(w["weight_hh"])}
    return {"i.kernel": t(w["weight_ih"]), "i.bias": b_ih + b_hh, "h.kernel": t(w["weight_hh"])}


class _Getter:
    """Reads 'a.b' paths from an NNX module or a linen params dict."""

    def __init__(self, source: Any, nnx_api: bool):
        self.source, self.nnx = source, nnx_api

    def __call__(self, path: str) -> np.ndarray:
        node = self.source
        for part in path.split("."):
            node = getattr(node, part) if self.nnx else node[part]
        return _nnx_get(node) if self.nnx else canonical_float(np.asarray(node))


# -- reading ----------------------------------------------------------------------------------------------------
def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    """The Spec fields and canonical arrays of flax recurrent modules (linen: with `params`)."""
    _, _, nnx, linen = _flax()
    layers = _layers(obj)
    linen_api = any(_linen(layer) for layer in layers)
    if linen_api and params is None:
        raise ConversionError(
            "a flax.linen module holds no weights: pass its variables, from_framework(module, params=variables)"
        )
    if not linen_api and params is not None:
        raise ConversionError("params= is for flax.linen modules; an NNX module holds its own weights")
    trees = _linen_trees(obj, layers, params) if linen_api else [None] * len(layers)
    recurrent: list[tuple[Any, list[Any], Any]] = []
    rates: list[float] = []
    settings: list[tuple[tuple[str, str], bool, bool]] = []
    for position, (layer, tree) in enumerate(zip(layers, trees, strict=True)):
        where = f"flax layer {position} ({type(layer).__name__})"
        if isinstance(layer, (nnx.Dropout, linen.Dropout)):
            if not recurrent or position == len(layers) - 1:
                raise ConversionError(f"{where}: Dropout only between recurrent layers maps to Spec.dropout")
            rates.append(float(layer.rate))
            continue
        rnns, time_major = _directions(layer, where)
        kinds = [_cell_kind(_cell(rnn), where) for rnn in rnns]
        if len(set(kinds)) != 1 or len({type(_cell(rnn)).__name__ for rnn in rnns}) != 1:
            raise ConversionError(f"{where}: its two directions have different cells")
        recurrent.append((layer, rnns, tree))
        settings.append((kinds[0], len(rnns) == 2, time_major))
    if not recurrent:
        raise ConversionError("the flax object holds no recurrent layer")
    for index, s in enumerate(settings):
        if s != settings[0]:
            raise ConversionError(
                f"flax layer {index} has (cell, bidirectional, time_major)={s} where layer 0 has "
                f"{settings[0]}: a seqnet Spec stacks equal layers"
            )
    if len(set(rates)) > 1 or len(rates) not in (0, len(recurrent) - 1):
        raise ConversionError(
            f"Dropout between the flax layers has rates {rates}: seqnet drops out equally between every pair of layers"
        )
    (kind, activation), bidirectional, time_major = settings[0]
    arrays: dict[str, np.ndarray] = {}
    for k, (layer, rnns, tree) in enumerate(recurrent):
        for d, (rnn, suffix) in enumerate(zip(rnns, ("", "_reverse")[: len(rnns)], strict=True)):
            cell = _cell(rnn)
            if linen_api:
                cell_tree = (
                    tree
                    if type(layer).__name__ in _KINDS
                    else (tree[("forward_rnn", "backward_rnn")[d]] if bidirectional else tree)
                )
                cell_tree = cell_tree.get("cell", cell_tree)
                get = _Getter(cell_tree, False)
            else:
                get = _Getter(cell, True)
            for name, value in _flax_to_canonical(kind, type(cell).__name__, get).items():
                arrays[f"{name}_l{k}{suffix}"] = value
    hidden = arrays["weight_hh_l0"].shape[1]
    fields = {
        "cell": kind,
        "input_size": int(arrays["weight_ih_l0"].shape[1]),
        "hidden_size": int(hidden),
        "num_layers": len(recurrent),
        "bidirectional": bidirectional,
        "bias": True,
        "batch_first": not time_major,
        "dropout": rates[0] if rates else 0.0,
        "activation": activation,
    }
    if head is not None:
        if not isinstance(head, nnx.Linear):
            raise ConversionError(f"head must be a flax.nnx.Linear, got {type(head).__name__}")
        kernel = _nnx_get(head.kernel)
        if kernel.shape[0] != (2 if bidirectional else 1) * hidden:
            raise ConversionError(
                f"head has in_features={kernel.shape[0]}: the recurrent layers give "
                f"{(2 if bidirectional else 1) * hidden} features"
            )
        fields["output_size"] = int(kernel.shape[1])
        arrays["head.weight"] = np.ascontiguousarray(kernel.T)
        arrays["head.bias"] = _nnx_get(head.bias) if head.bias is not None else np.zeros(kernel.shape[1], kernel.dtype)
    return Imported(fields, arrays, f"the flax {type(obj).__name__}")


def _linen_trees(obj: Any, layers: list[Any], params: Any) -> list[Any]:
    """Each layer's params subtree: variables may be {'params': ...} or the params themselves; a stack's are
    {'layers_0': ...} (linen Sequential) or a list."""
    tree = params.get("params", params) if isinstance(params, dict) else params
    if len(layers) == 1 and not isinstance(obj, (list, tuple)) and not hasattr(obj, "layers"):
        return [tree]
    if isinstance(tree, (list, tuple)):
        return list(tree)
    return [tree.get(f"layers_{i}") for i in range(len(layers))]


# -- writing ----------------------------------------------------------------------------------------------------
def to_framework(spec: Spec, weights: Weights, into: Any = None, api: str = "nnx", cell: str = "LSTMCell") -> Any:
    """flax's own modules with `weights`: api="nnx" (default) an `nnx.RNN` / `nnx.Bidirectional`, or an
    `nnx.Sequential` of them (nnx.Dropout between) for several layers, and an `nnx.Linear` head as
    (module, head); api="linen" (module, variables). `cell` picks "LSTMCell" or "OptimizedLSTMCell" for an
    LSTM. `into` (NNX): a module of the same structure to set the weights into."""
    jax, jnp, nnx, linen = _flax()
    if api not in ("nnx", "linen"):
        raise ConversionError(f"api={api!r} is not allowed: 'nnx' or 'linen'")
    if cell not in ("LSTMCell", "OptimizedLSTMCell"):
        raise ConversionError(f"cell={cell!r} is not allowed: 'LSTMCell' or 'OptimizedLSTMCell'")
    if spec.proj_size:
        raise cannot_express("flax", "proj_size", spec.proj_size, "flax's LSTM cells have no projection", "jax")
    if spec.peephole:
        raise cannot_express("flax", "peephole", True, "flax's LSTM cells have no peephole connections", "jax")
    if spec.gru_variant == "reset_before":
        raise cannot_express(
            "flax", "gru_variant", "reset_before", "flax's GRUCell resets after the hidden product", "jax"
        )
    arrays = dict(weights)
    if not spec.bias:
        warnings.warn(
            "Spec.bias=False: flax's cells always hold biases, so they are zero here (the same function; "
            "they are trainable)",
            stacklevel=3,
        )
        arrays.update(
            {
                f"{n}_l{k}{s}": np.zeros(spec.gates * spec.hidden_size, weights.dtype)
                for n in ("bias_ih", "bias_hh")
                for k in range(spec.num_layers)
                for s in ("", "_reverse")[: spec.num_directions]
            }
        )
    cls = {"lstm": cell, "gru": "GRUCell", "rnn": "SimpleCell"}[spec.cell]
    if into is not None and api == "nnx":  # the weights go into the cells the user's module has
        first = _layers(into[0] if spec.output_size is not None else into)[0]
        cls = type(_cell(_directions(first, "into")[0][0])).__name__
    dtype = jnp.dtype(weights.dtype.name)
    per_cell = {
        (k, s): _canonical_to_flax(
            spec.cell,
            cls,
            api == "nnx",
            {n: arrays[f"{n}_l{k}{s}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
            f"layer {k}{s}",
        )
        for k in range(spec.num_layers)
        for s in ("", "_reverse")[: spec.num_directions]
    }
    act = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[spec.activation]
    if api == "linen":
        if into is not None:
            raise ConversionError("into= applies to NNX modules; a linen module's weights are its variables")
        return _to_linen(spec, cls, act, per_cell, weights, dtype)
    if into is None:
        into = _make_nnx(spec, cls, act, dtype)
    else:
        check_fits(
            spec,
            {k: v for k, v in from_framework(into[0] if spec.output_size else into).fields.items() if k != "bias"},
            f"the flax {type(into).__name__}",
        )
    module, head = into if spec.output_size is not None else (into, None)
    recurrent = [layer for layer in _layers(module) if not isinstance(layer, nnx.Dropout)]
    for k, layer in enumerate(recurrent):
        rnns, _ = _directions(layer, f"layer {k}")
        for rnn, s in zip(rnns, ("", "_reverse")[: len(rnns)], strict=True):
            for path, value in per_cell[(k, s)].items():
                node = _cell(rnn)
                for part in path.split("."):
                    node = getattr(node, part)
                node[...] = jnp.asarray(value, dtype=node[...].dtype)
    if head is not None:
        head.kernel[...] = jnp.asarray(weights["head.weight"].T, dtype=head.kernel[...].dtype)
        head.bias[...] = jnp.asarray(weights["head.bias"], dtype=head.bias[...].dtype)
        return module, head
    return module


def _make_nnx(spec: Spec, cls: str, act: Any, dtype: Any) -> Any:
    _, _, nnx, _ = _flax()
    rngs = nnx.Rngs(0)

    def make_cell(features: int) -> Any:
        options: dict[str, Any] = {"rngs": rngs, "param_dtype": dtype, "dtype": dtype}
        if spec.cell == "rnn":
            options["activation_fn"] = act
        return getattr(nnx, cls)(features, spec.hidden_size, **options)

    layers: list[Any] = []
    for k in range(spec.num_layers):
        features = spec.layer_input_size(k)
        time_major = not spec.batch_first
        if spec.bidirectional:
            layer = nnx.Bidirectional(
                nnx.RNN(make_cell(features), time_major=time_major),
                nnx.RNN(make_cell(features), time_major=time_major),
                time_major=time_major,
            )
        else:
            layer = nnx.RNN(make_cell(features), time_major=time_major)
        layers.append(layer)
        if spec.dropout and k < spec.num_layers - 1:
            layers.append(nnx.Dropout(spec.dropout, rngs=rngs))
    module = layers[0] if len(layers) == 1 else nnx.Sequential(*layers)
    if spec.output_size is None:
        return module
    head = nnx.Linear(
        spec.num_directions * spec.hidden_size, spec.output_size, rngs=rngs, param_dtype=dtype, dtype=dtype
    )
    return module, head


def _to_linen(spec: Spec, cls: str, act: Any, per_cell: dict, weights: Weights, dtype: Any) -> Any:
    jax, jnp, _, linen = _flax()

    def make_cell() -> Any:
        options: dict[str, Any] = {"features": spec.hidden_size, "param_dtype": dtype, "dtype": dtype}
        if spec.cell == "rnn":
            options["activation_fn"] = act
        return getattr(linen, cls)(**options)

    def tree(k: int, s: str) -> dict:
        out: dict = {}
        for path, value in per_cell[(k, s)].items():
            module, leaf = path.split(".")
            out.setdefault(module, {})[leaf] = jnp.asarray(value, dtype=dtype)
        return {"cell": out}

    layers, trees = [], []
    for k in range(spec.num_layers):
        time_major = not spec.batch_first
        if spec.bidirectional:
            layers.append(
                linen.Bidirectional(
                    linen.RNN(make_cell(), time_major=time_major),
                    linen.RNN(make_cell(), time_major=time_major),
                    time_major=time_major,
                )
            )
            trees.append({"forward_rnn": tree(k, ""), "backward_rnn": tree(k, "_reverse")})
        else:
            layers.append(linen.RNN(make_cell(), time_major=time_major))
            trees.append(tree(k, ""))
        if spec.dropout and k < spec.num_layers - 1:
            layers.append(linen.Dropout(spec.dropout, deterministic=True))
            trees.append({})
    if len(layers) == 1:
        module, params = layers[0], trees[0]
    else:
        module = linen.Sequential(layers)
        params = {f"layers_{i}": t for i, t in enumerate(trees) if t}
    if spec.output_size is None:
        return module, {"params": params}
    head = linen.Dense(spec.output_size, param_dtype=dtype, dtype=dtype)
    head_params = {
        "kernel": jnp.asarray(weights["head.weight"].T, dtype=dtype),
        "bias": jnp.asarray(weights["head.bias"], dtype=dtype),
    }
    return (module, {"params": params}), (head, {"params": head_params})


# -- running flax's own modules ---------------------------------------------------------------------------------
def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """flax's own modules called flax's way (seq_lengths, return_carry; layer by layer for a stack); a linen
    module as the pair (module, variables). NumPy outputs and the final state in seqnet's layout."""
    _, jnp, nnx, linen = _flax()
    params = None
    if isinstance(obj, tuple) and len(obj) == 2 and _linen(obj[0]):
        obj, params = obj
    imported = from_framework(obj, params=params)
    spec = Spec(**imported.fields)
    layers = _layers(obj)
    trees = _linen_trees(obj, layers, params) if params is not None else [None] * len(layers)
    value = jnp.asarray(x, dtype=imported.arrays["weight_ih_l0"].dtype)
    seq_lengths = None if lengths is None else jnp.asarray(lengths)
    d = spec.num_directions
    parts = (
        [jnp.asarray(s, dtype=value.dtype) for s in (state if isinstance(state, (tuple, list)) else [state])]
        if state is not None
        else None
    )
    hs, cs, k = [], [], 0
    for layer, tree in zip(layers, trees, strict=True):
        if isinstance(layer, (nnx.Dropout, linen.Dropout)):
            continue
        initial = None
        if parts is not None:
            carries = [
                (parts[1][k * d + i], parts[0][k * d + i]) if spec.cell == "lstm" else parts[0][k * d + i]
                for i in range(d)
            ]  # flax's LSTM carry is (c, h)
            initial = tuple(carries) if d == 2 else carries[0]
        if type(layer).__name__ in _KINDS:
            layer = (nnx.RNN if not _linen(layer) else linen.RNN)(layer)
            tree = {"cell": tree} if tree is not None else None
        kwargs = {"initial_carry": initial, "seq_lengths": seq_lengths, "return_carry": True}
        carry, value = layer.apply({"params": tree}, value, **kwargs) if tree is not None else layer(value, **kwargs)
        for c in carry if d == 2 else (carry,):
            if spec.cell == "lstm":
                cs.append(np.asarray(c[0]))
                hs.append(np.asarray(c[1]))
            else:
                hs.append(np.asarray(c))
        k += 1
    final = (np.stack(hs), np.stack(cs)) if cs else np.stack(hs)
    return np.asarray(value), final
