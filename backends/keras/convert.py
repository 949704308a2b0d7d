"""Conversions between seqnet and Keras 3's own recurrent layers.

Requirements: keras (3.x) on its JAX or torch backend. seqnet never imports TensorFlow: where keras is not
imported yet, KERAS_BACKEND and ~/.keras/keras.json are respected as Keras itself reads them; when neither
names a backend, seqnet sets KERAS_BACKEND to "jax" (or "torch" where JAX is missing) before importing
keras; a configured "tensorflow" is refused with a message.

What converts: `SimpleRNN`, `LSTM`, `GRU` (reset_after True and False) and `keras.layers.RNN` over their
cells, `Bidirectional` (merge_mode "concat"), and a `Sequential` or functional model that is a plain chain
of them (num_layers), with `Dropout` layers between them (Spec.dropout) and one final linear `Dense` (the
head). A last recurrent layer with `return_sequences=False` is output_mode "last": for a forward layer its
last valid output, for a Bidirectional the concatenated final states, exactly seqnet's "last".

Weights (one place per direction, below): Keras kernels are input-major, `kernel` (I, G*H) and
`recurrent_kernel` (H, G*H), transposed into PyTorch's (G*H, I) and (G*H, H). LSTM columns are (i, f, c, o),
PyTorch's (i, f, g, o): no reorder. GRU columns are (z, r, h), reordered into (r, z, n). Keras's single
bias is `bias_ih` with a zero `bias_hh` (back to Keras: their sum); a reset-after GRU's bias (2, 3H) is
(bias_ih, bias_hh). `Dense` kernel (F, O) is the head's weight transposed.

Refused, naming the attribute: recurrent_activation other than "sigmoid" (e.g. "hard_sigmoid"), an LSTM or
GRU activation other than "tanh", merge_mode other than "concat", a lone `go_backwards=True` layer, layers of
different sizes or kinds in one stack, a Dense with an activation, any other layer in a model. Dropped with
a warning, because they do not change the function seqnet computes: `dropout`, `recurrent_dropout`,
regularizers and constraints (training only), `stateful` (seqnet models take the state as an argument).
Keras repeats the last valid output at masked steps unless `zero_output_for_mask=True` (Bidirectional
sets it); seqnet's outputs are zero there, so layers made by `to_framework` set it.

Keras has no LSTM projection (proj_size) and its layers are batch-major: `to_framework` refuses those.
Layers made by `to_framework` compute in float32 (float64 weights are rounded): Keras 3.15 on JAX fails to run
a float64 SimpleRNN (its scan carry turns float32) and computes parts of a float64 GRU in float32
(differences of 4e-8 measured against float64 references).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, NotExpressible, import_framework
from seqnet.imported import Imported, cannot_express, canonical_float, check_fits
from seqnet.registry import _findable
from seqnet.spec import Spec
from seqnet.weights import Weights

_CELLS = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
_CELL_CLASSES = {"SimpleRNNCell": "rnn", "LSTMCell": "lstm", "GRUCell": "gru"}
_LAYERS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
# Keras's gate blocks in canonical order: GRU (z, r, h) -> (r, z, n); LSTM (i, f, c, o) is (i, f, g, o).
_ORDER = {"rnn": [0], "lstm": [0, 1, 2, 3], "gru": [1, 0, 2]}
_TRAINING_ONLY = (
    "dropout",
    "recurrent_dropout",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
)


def _keras() -> Any:
    """keras, imported on the user's configured backend (never TensorFlow)."""
    if "keras" not in sys.modules:
        chosen = os.environ.get("KERAS_BACKEND") or _configured_backend()
        if chosen == "tensorflow":
            raise ConversionError(
                "Keras is configured for TensorFlow (KERAS_BACKEND or keras.json), which seqnet does not use: "
                "set KERAS_BACKEND=jax or KERAS_BACKEND=torch before importing keras"
            )
        if not chosen:
            os.environ["KERAS_BACKEND"] = "jax" if _findable("jax") else "torch"
    return import_framework("keras", "Keras layers need keras 3: pip install keras", ("keras", "jax", "torch"))


def _configured_backend() -> str | None:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        return json.loads(Path(home, "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def _np(variable: Any) -> np.ndarray:
    return canonical_float(_keras().ops.convert_to_numpy(variable))


# -- one place per direction: Keras arrays <-> canonical arrays --------------------------------------------
def _reorder(array: np.ndarray, cell: str, axis: int = 0) -> np.ndarray:
    """Gate blocks along `axis` from Keras's order to the canonical one (the permutation is its own inverse)."""
    blocks = np.split(array, len(_ORDER[cell]), axis=axis)
    return np.concatenate([blocks[i] for i in _ORDER[cell]], axis=axis)


def keras_to_canonical(cell: str, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray | None) -> dict:
    """weight_ih, weight_hh, bias_ih, bias_hh from one Keras cell's kernel, recurrent_kernel and bias."""
    out = {"weight_ih": _reorder(kernel.T, cell), "weight_hh": _reorder(recurrent.T, cell)}
    if bias is not None:
        if bias.ndim == 2:  # reset-after GRU: (input bias, recurrent bias)
            out["bias_ih"], out["bias_hh"] = _reorder(bias[0], cell), _reorder(bias[1], cell)
        else:
            out["bias_ih"], out["bias_hh"] = _reorder(bias, cell), np.zeros_like(bias)
    return out


def canonical_to_keras(cell: str, reset_after: bool, w: dict) -> list[np.ndarray]:
    """[kernel, recurrent_kernel(, bias)] of one Keras cell from canonical arrays (biases summed where Keras
    keeps one)."""
    arrays = [
        np.ascontiguousarray(_reorder(w["weight_ih"], cell).T),
        np.ascontiguousarray(_reorder(w["weight_hh"], cell).T),
    ]
    if w.get("bias_ih") is not None:
        if cell == "gru" and reset_after:
            arrays.append(np.stack([_reorder(w["bias_ih"], cell), _reorder(w["bias_hh"], cell)]))
        else:
            arrays.append(_reorder(w["bias_ih"] + w["bias_hh"], cell))
    return arrays


# -- reading --------------------------------------------------------------------------------------------------
def _chain(obj: Any) -> list[Any]:
    """The layers of a Keras layer, Sequential or functional model that is a plain chain."""
    keras = _keras()
    if not isinstance(obj, keras.Model):
        return [obj]
    layers = [layer for layer in obj.layers if not isinstance(layer, keras.layers.InputLayer)]
    if type(obj).__name__ != "Sequential":
        if len(obj.inputs) != 1 or len(obj.outputs) != 1:
            raise ConversionError(
                f"the Keras model {obj.name!r} has {len(obj.inputs)} inputs and "
                f"{len(obj.outputs)} outputs: seqnet reads a plain chain of layers"
            )
        previous = obj.inputs[0]
        for layer in layers:
            nodes = layer._inbound_nodes
            if len(nodes) != 1 or len(nodes[0].input_tensors) != 1 or nodes[0].input_tensors[0] is not previous:
                raise ConversionError(f"the Keras model {obj.name!r} is not a plain chain at layer {layer.name!r}")
            previous = nodes[0].output_tensors[0]
    return layers


def _recurrent(layer: Any) -> tuple[str, Any] | None:
    """(cell kind, the forward RNN layer) of a recurrent layer or Bidirectional; None for other layers."""
    keras = _keras()
    inner = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
    if not isinstance(inner, keras.layers.RNN):
        return None
    kind = _CELLS.get(type(inner).__name__) or _CELL_CLASSES.get(type(inner.cell).__name__)
    if kind is None:
        raise ConversionError(
            f"Keras layer {layer.name!r}: an RNN over a {type(inner.cell).__name__}; seqnet reads SimpleRNN, LSTM "
            "and GRU cells"
        )
    return kind, inner


def _settings(layer: Any, kind: str, inner: Any, dropped: list[str]) -> dict[str, Any]:
    """The Spec-relevant settings of one recurrent layer, after refusing what the Spec cannot express."""
    keras = _keras()
    config, cell_config = inner.get_config(), inner.cell.get_config()
    where = f"Keras layer {layer.name!r}"
    bidirectional = isinstance(layer, keras.layers.Bidirectional)
    if bidirectional:
        if layer.merge_mode != "concat":
            raise ConversionError(
                f"{where}: merge_mode={layer.merge_mode!r}; seqnet concatenates the directions (merge_mode='concat')"
            )
        backward = layer.backward_layer
        if type(backward) is not type(inner) or _signature(backward) != _signature(inner):
            raise ConversionError(
                f"{where}: its backward layer differs from its forward layer; seqnet's directions are alike"
            )
    elif config.get("go_backwards"):
        raise ConversionError(
            f"{where}: go_backwards=True on a lone layer; seqnet runs a reverse direction only "
            "inside a bidirectional layer (keras.layers.Bidirectional)"
        )
    activation = cell_config.get("activation")
    if kind != "rnn" and activation != "tanh":
        raise ConversionError(f"{where}: activation={activation!r}; a seqnet {kind.upper()} uses 'tanh'")
    if kind == "rnn" and activation not in ("tanh", "relu", "sigmoid"):
        raise ConversionError(f"{where}: activation={activation!r}; seqnet's RNN offers 'tanh', 'relu' and 'sigmoid'")
    if kind != "rnn" and cell_config.get("recurrent_activation") != "sigmoid":
        raise ConversionError(
            f"{where}: recurrent_activation={cell_config.get('recurrent_activation')!r}; seqnet's gates use "
            "'sigmoid' (the logistic function)"
        )
    for name in _TRAINING_ONLY:
        if cell_config.get(name) not in (None, 0, 0.0):
            dropped.append(f"{layer.name}.{name}")
    if config.get("stateful"):
        dropped.append(f"{layer.name}.stateful")
    return {
        "cell": kind,
        "hidden_size": int(cell_config["units"]),
        "bidirectional": bidirectional,
        "bias": bool(cell_config.get("use_bias", True)),
        "activation": activation if kind == "rnn" else "tanh",
        "gru_variant": "reset_after" if kind != "gru" or cell_config.get("reset_after", True) else "reset_before",
        "return_sequences": bool(config.get("return_sequences")),
    }


def _signature(inner: Any) -> dict:
    ignore = ("name", "go_backwards", "trainable", "seed")
    return {k: v for k, v in inner.cell.get_config().items() if k not in ignore}


def _cells(layer: Any) -> list[Any]:
    keras = _keras()
    if isinstance(layer, keras.layers.Bidirectional):
        return [layer.forward_layer.cell, layer.backward_layer.cell]
    return [layer.cell]


def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    """The Spec fields and canonical arrays of a Keras recurrent layer, Bidirectional, or plain stack."""
    keras = _keras()
    if params is not None or head is not None:
        raise ConversionError("params= and head= do not apply to Keras: put the Dense head in the Sequential")
    layers = _chain(obj)
    recurrent, settings, rates, dense = [], [], [], None
    dropped: list[str] = []
    for position, layer in enumerate(layers):
        found = _recurrent(layer)
        if found is not None:
            if dense is not None:
                raise ConversionError(f"Keras layer {layer.name!r} follows the Dense head; the head must come last")
            recurrent.append(layer)
            settings.append(_settings(layer, *found, dropped))
        elif isinstance(layer, keras.layers.Dropout) and recurrent and position < len(layers) - 1:
            rates.append(float(layer.rate))
        elif isinstance(layer, keras.layers.Dense) and dense is None and position == len(layers) - 1:
            if layer.get_config()["activation"] != "linear":
                raise ConversionError(
                    f"Keras layer {layer.name!r}: activation={layer.get_config()['activation']!r}; "
                    "seqnet's head is linear"
                )
            dense = layer
        else:
            raise ConversionError(
                f"Keras layer {layer.name!r} ({type(layer).__name__}) cannot be part of a seqnet Spec: seqnet reads "
                "recurrent layers, Dropout between them and one final linear Dense"
            )
    if not recurrent:
        raise ConversionError(f"the Keras object {getattr(obj, 'name', obj)!r} holds no recurrent layer")
    first = settings[0]
    for index, s in enumerate(settings):
        for name, value in s.items():
            if name != "return_sequences" and value != first[name]:
                raise ConversionError(
                    f"Keras layer {recurrent[index].name!r} has {name}={value!r} where layer {recurrent[0].name!r} has "
                    f"{first[name]!r}: a seqnet Spec stacks equal layers"
                )
        if index < len(settings) - 1 and not s["return_sequences"]:
            raise ConversionError(f"Keras layer {recurrent[index].name!r} has return_sequences=False inside a stack")
    if len(set(rates)) > 1 or len(rates) not in (0, len(recurrent) - 1):
        raise ConversionError(
            f"Dropout between the Keras layers has rates {rates}: seqnet drops out equally between every pair of layers"
        )
    if dropped:
        warnings.warn(
            f"Keras settings dropped, as they do not change the function seqnet computes: {', '.join(dropped)}",
            stacklevel=4,
        )
    kernel0 = _np(_cells(recurrent[0])[0].kernel)
    fields = {key: first[key] for key in ("cell", "hidden_size", "bidirectional", "bias", "activation", "gru_variant")}
    fields.update(
        input_size=int(kernel0.shape[0]),
        num_layers=len(recurrent),
        batch_first=True,
        dropout=rates[0] if rates else 0.0,
        proj_size=0,
        output_mode="sequence" if settings[-1]["return_sequences"] else "last",
    )
    arrays: dict[str, np.ndarray] = {}
    for k, layer in enumerate(recurrent):
        for cell, suffix in zip(_cells(layer), ("", "_reverse")[: len(_cells(layer))], strict=True):
            bias = _np(cell.bias) if fields["bias"] else None
            for name, value in keras_to_canonical(
                fields["cell"], _np(cell.kernel), _np(cell.recurrent_kernel), bias
            ).items():
                arrays[f"{name}_l{k}{suffix}"] = value
    if dense is not None:
        kernel = _np(dense.kernel)
        fields["output_size"] = int(kernel.shape[1])
        arrays["head.weight"] = np.ascontiguousarray(kernel.T)
        arrays["head.bias"] = _np(dense.bias) if dense.bias is not None else np.zeros(kernel.shape[1], kernel.dtype)
    return Imported(fields, arrays, f"the Keras {type(obj).__name__} {getattr(obj, 'name', '')!r}")


# -- writing --------------------------------------------------------------------------------------------------
def to_framework(spec: Spec, weights: Weights, into: Any = None) -> Any:
    """Keras's own layers with `weights` set: one recurrent layer (or Bidirectional) for a one-layer spec
    without a head, else a `Sequential` (Dropout between layers, the Dense head last); or the weights set
    into `into`, a Keras layer or model of the same structure."""
    keras = _keras()
    if spec.proj_size:
        raise cannot_express("Keras", "proj_size", spec.proj_size, "Keras's LSTM has no projection", "jax")
    if spec.peephole:
        raise cannot_express("Keras", "peephole", True, "Keras's LSTM has no peephole connections", "jax")
    if not spec.batch_first:
        raise NotExpressible(
            "Keras's recurrent layers take batch-major input (B, T, I) only: Spec.batch_first=False cannot be "
            "expressed; convert dataclasses.replace(spec, batch_first=True) (the same weights) and pass x batch-major"
        )
    dtype = "float32"  # see the module docstring: Keras's RNNs are not float64-clean on JAX
    if into is None:
        layers: list[Any] = []
        for k in range(spec.num_layers):
            last = k == spec.num_layers - 1
            options: dict[str, Any] = dict(
                units=spec.hidden_size,
                activation=spec.activation,
                use_bias=spec.bias,
                return_sequences=not last or spec.output_mode == "sequence",
                zero_output_for_mask=True,
                dtype=dtype,
            )
            if spec.cell != "rnn":
                options["recurrent_activation"] = "sigmoid"
            if spec.cell == "gru":
                options["reset_after"] = spec.gru_variant == "reset_after"
            layer = getattr(keras.layers, _LAYERS[spec.cell])(**options)
            layers.append(
                keras.layers.Bidirectional(layer, merge_mode="concat", dtype=dtype) if spec.bidirectional else layer
            )
            if spec.dropout and not last:
                layers.append(keras.layers.Dropout(spec.dropout))
        if spec.output_size is not None:
            layers.append(keras.layers.Dense(spec.output_size, dtype=dtype))
        if len(layers) == 1:
            into = layers[0]
            into.build((None, None, spec.input_size))
        else:
            into = keras.Sequential([keras.Input((None, spec.input_size), dtype=dtype), *layers])
    else:
        imported = from_framework(into)
        check_fits(
            spec, {k: v for k, v in imported.fields.items() if k != "bias" or spec.bias == v}, "the Keras object"
        )
    recurrent = [layer for layer in _chain(into) if _recurrent(layer) is not None]
    for k, layer in enumerate(recurrent):
        for cell, suffix in zip(_cells(layer), ("", "_reverse")[: len(_cells(layer))], strict=True):
            w = {name: weights.get(f"{name}_l{k}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            for variable, value in zip(
                _cell_variables(cell), canonical_to_keras(spec.cell, spec.gru_variant == "reset_after", w), strict=True
            ):
                variable.assign(value.astype(variable.dtype))
    if spec.output_size is not None:
        dense = _chain(into)[-1]
        dense.kernel.assign(np.ascontiguousarray(weights["head.weight"].T).astype(dense.kernel.dtype))
        dense.bias.assign(weights["head.bias"].astype(dense.bias.dtype))
    return into


def _cell_variables(cell: Any) -> list[Any]:
    return [cell.kernel, cell.recurrent_kernel] + ([cell.bias] if cell.bias is not None else [])


# -- running Keras's own layers -------------------------------------------------------------------------------
def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """Keras's own layers called Keras's way (lengths as a mask, states through return_state twins of each
    layer): NumPy outputs and the final state in seqnet's layout."""
    keras = _keras()
    imported = from_framework(obj)
    spec = Spec(**imported.fields)
    layers = _chain(obj)
    dtype = str(layers[0].dtype_policy.compute_dtype if hasattr(layers[0], "dtype_policy") else "float32")
    value = np.asarray(x, dtype=dtype)
    mask = None if lengths is None else np.arange(value.shape[1])[None, :] < np.asarray(lengths)[:, None]
    d = spec.num_directions
    parts = (
        [np.asarray(s, dtype=dtype) for s in (state if isinstance(state, (tuple, list)) else [state])]
        if state is not None
        else None
    )
    hs, cs, k = [], [], 0
    for layer in layers:
        if _recurrent(layer) is None:
            if isinstance(layer, keras.layers.Dense):
                value = keras.ops.convert_to_numpy(layer(value))
            continue
        initial = None
        if parts is not None:
            rows = range(k * d, (k + 1) * d)
            initial = [p[r] for r in rows for p in parts]  # Keras: [h_f, c_f, h_b, c_b]
        result = _twin(layer)(value, mask=mask, initial_state=initial)
        states = [keras.ops.convert_to_numpy(s) for s in result[1:]]
        per = len(states) // d
        for direction in range(d):
            hs.append(states[direction * per])
            if per == 2:
                cs.append(states[direction * per + 1])
        value = keras.ops.convert_to_numpy(layer(value, mask=mask, initial_state=initial))
        k += 1
    final = (np.stack(hs), np.stack(cs)) if cs else np.stack(hs)
    return value, final


def _twin(layer: Any) -> Any:
    """A copy of a recurrent layer that returns its sequences and states, with the same weights."""
    keras = _keras()
    config = layer.get_config()
    if isinstance(layer, keras.layers.Bidirectional):
        for key in ("layer", "backward_layer"):
            config[key]["config"].update(return_sequences=True, return_state=True)
    else:
        config.update(return_sequences=True, return_state=True)
    twin = type(layer).from_config(config)
    twin.build((None, None, _cells(layer)[0].kernel.shape[0]))
    twin.set_weights(layer.get_weights())
    return twin


# -- Keras files (.keras, .h5) --------------------------------------------------------------------------------------
def file_config(path: Any) -> dict[str, Any]:
    """The model config a Keras file holds, read as JSON and nothing else: `.keras` (Keras 3's zip, its
    config.json) or `.h5` (Keras 2's and tf.keras's HDF5, its `model_config` attribute, through h5py)."""
    import zipfile

    where = repr(str(path))
    if str(path).lower().endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise ConversionError(f"{where} is not a Keras 3 .keras file (a zip holding config.json): {exc}") from exc
    h5py = import_framework("h5py", "Keras .h5 files need h5py: pip install h5py")
    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except OSError as exc:
        raise ConversionError(f"{where} is not an HDF5 file: {exc}") from exc
    if raw is None:
        raise ConversionError(f"{where} holds weights only (no model_config): build the model in Keras, "
                              "load_weights, then seqnet.from_framework(model)")  # fmt: skip
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _code_layers(config: Any) -> list[str]:
    """The Lambda layers of a model config (their names), found before Keras sees the file: loading one would
    run code the file carries."""
    found = []
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            found.append(str(config.get("config", {}).get("name", "?")))
        for value in config.values():
            found += _code_layers(value)
    elif isinstance(config, list):
        for value in config:
            found += _code_layers(value)
    return found


def load_file(path: Any) -> Any:
    """The Keras model of a `.keras` or `.h5` file, through keras.saving.load_model(safe_mode=True,
    compile=False), after its config is read and a Lambda layer refused by name (nothing in the file runs)."""
    lambdas = _code_layers(file_config(path))
    if lambdas:
        raise ConversionError(f"{str(path)!r} holds Lambda layer(s) {lambdas}: loading one would run code the file "
                              "carries, so seqnet refuses the file (nothing in it ran)")  # fmt: skip
    keras = _keras()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*HDF5 file")
            return keras.saving.load_model(os.fspath(path), safe_mode=True, compile=False)
    except (ValueError, TypeError, OSError) as exc:
        raise ConversionError(f"Keras could not load {str(path)!r}: {str(exc)[:300]}") from exc


def read_file(path: Any) -> Imported:
    """A Keras file's recurrent layers as `from_framework` reads the loaded model."""
    imported = from_framework(load_file(path))
    imported.source = f"{str(path)!r} ({imported.source.removeprefix('the ')})"
    return imported


def write_file(path: Any, spec: Spec, weights: Weights, prefix: str = "", head: str = "head") -> None:
    """`to_framework`'s Keras model saved as a Keras 3 `.keras` file, atomically (prefix and head do not apply:
    the file holds the model)."""
    import tempfile

    if not str(path).lower().endswith(".keras"):
        raise ConversionError(f"{str(path)!r}: seqnet writes Keras 3 .keras files; .h5 is read only (Keras 3 "
                              "deprecates writing it)")  # fmt: skip
    keras = _keras()
    made = to_framework(spec, weights)
    model = made if isinstance(made, keras.Model) else keras.Sequential([keras.Input((None, spec.input_size)), made])
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".keras", dir=target.parent or ".")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_file(path: Any, spec: Spec, prefix: str, head: str | None, x: np.ndarray) -> np.ndarray:
    """The file's model, loaded by Keras (as `load_file`), called on x (B, T, I)."""
    keras = _keras()
    model = load_file(path)
    return np.asarray(keras.ops.convert_to_numpy(model(np.asarray(x, np.float32))))


def inventory(path: Any) -> tuple[list[Any], list[str]]:
    """(the file's model as a seqnet.imported.Found record, its other layers), for `seqnet inspect`: the config
    read as JSON first (a Lambda layer is named and nothing loads), then the model by Keras's safe loader."""
    from seqnet.errors import SeqnetError
    from seqnet.imported import Found, finish

    config = file_config(path)
    layers = [str(layer.get("class_name")) for layer in config.get("config", {}).get("layers", [])]
    try:  # load_file refuses a Lambda layer by name before Keras sees the file
        imported = from_framework(load_file(path))
        spec = finish(imported, {})[0]
        return [Found("model", str(config.get("class_name")), spec, imported.found)], layers
    except SeqnetError as exc:
        return [Found("model", str(config.get("class_name")), None, [], str(exc))], layers
