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

The way through is one-directional: this module (the public API) calls seqnet.files for a path and the
converters for an object; seqnet.files calls the converters' readers; they all build on seqnet.imported
(`Imported`, `finish`, `infer_fields`, ...), which imports none of them. Nothing calls back up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seqnet import files
from seqnet.errors import ConversionError, NotExpressible, SeqnetError
from seqnet.imported import Imported, finish, head_name
from seqnet.io import atomic_write
from seqnet.registry import Converter, check_options, converters, get_backend, get_converter
from seqnet.spec import Spec
from seqnet.weights import Weights, as_weights, require_spec


def from_framework(
    obj: Any, *, params: Any = None, head: Any = None, node: str | None = None, **spec_fields: Any
) -> tuple[Spec, Weights]:
    """The Spec and canonical weights of a framework's own recurrent layer, model or file.

    Parameters
    ----------
    obj : object or path
        A torch ``nn.RNN``/``LSTM``/``GRU`` or ``nn.RNNCell``/``LSTMCell``/``GRUCell`` (a one-layer Spec); a paddle
        ``nn.SimpleRNN``/``LSTM``/``GRU``, ``nn.SimpleRNNCell``/``LSTMCell``/``GRUCell``, or ``nn.RNN``/``nn.BiRNN``
        over such cells; a Keras 3 ``SimpleRNN``,
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
    node : str, optional
        An ONNX graph's recurrent node to read, by name, alone as a one-layer Spec: needed where a graph holds
        several different ones in subgraphs (`seqnet inspect` lists them); nodes in `If` branches, `Loop` and
        `Scan` bodies are found, and weights a branch computes from stored ones are evaluated.
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
        return _from_path(Path(obj), params=params, head=head, node=node, **spec_fields)
    if node is not None:
        converter = owner(obj)
        if converter.name != "onnx":
            raise ConversionError(f"node={node!r} is for ONNX graphs, not a {type(obj).__name__}")
        return finish(converter.load().from_framework(obj, node=node), spec_fields)
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
        The converter's: torch ``device``, ``dtype``; torch and Paddle ``cell=True`` (the framework's own cell,
        ``nn.LSTMCell`` and the like, for a one-layer spec; Paddle's ``nn.BiRNN`` of two for a bidirectional one);
        flax ``api``, ``cell`` (its LSTM cell class); onnx ``opset``, ``lengths``, ``initial_state``.

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
    return finish(impl.from_state_dict(arrays, prefix, head_name(head)), spec_fields)


def to_state_dict(
    spec: Spec, weights: Mapping[str, Any], framework: str, prefix: str = "", head: str = "head", cell: bool = False
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
    cell : bool
        The names the framework's cell holds (`weight_ih`, ..., no `_l0`; Paddle's `cell_fw.` and `cell_bw.`
        for a bidirectional spec, as its `nn.BiRNN` holds them), for a one-layer spec.

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
    if not isinstance(cell, bool):
        raise ConversionError(f"cell={cell!r} is not allowed: True or False")
    return impl.to_state_dict(spec, checked, prefix, head_name(head) or "head", cell=cell)


def export_tflite(
    spec: Spec,
    weights: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    *,
    lengths: bool = False,
    fused: bool | None = None,
    quantize: str | None = None,
) -> bytes:
    """`spec` with `weights` as a LiteRT (TensorFlow Lite) flatbuffer, float32; written to `path` atomically if
    given. Written without TensorFlow, through the schema ai-edge-litert ships; needs ``seqnet[litert]``.

    LiteRT's fused UNIDIRECTIONAL_SEQUENCE_LSTM (peepholes and proj_size included) and UNIDIRECTIONAL_SEQUENCE_RNN
    (tanh, relu) where they express the spec, one per layer, BIDIRECTIONAL_SEQUENCE_LSTM / _RNN for both
    directions; a WHILE loop over the cell's step for the rest (the GRU, the sigmoid RNN, registered
    cells) and for lengths, which LiteRT's sequence operators do not take. Batch and time axes are dynamic
    (shape signature -1: ``Interpreter.resize_tensor_input`` takes any size) and the file's size does not
    depend on T.

    Inputs, in order: ``x``; ``lengths`` (B,) int32 with `lengths`; each state part of each layer-direction,
    ``h_l0``, ``h_l0_reverse``, ..., then ``c_l0``, ... for an LSTM, each (B, size). Outputs: ``outputs``, then
    the final state parts in the same order. On the fused path the state parts are the operators' variable
    tensors: set them before a call (zeros for none), or leave them and LiteRT carries the state to the next
    call.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array
    path : str or os.PathLike, optional
    lengths : bool
        Add the ``lengths`` input (the WHILE-loop path).
    fused : bool or None
        None: the fused operators where they express the spec; True: refuse a spec they cannot express;
        False: the WHILE loops for every spec.
    quantize : {None, "int8", "float16"}
        How the weight matrices are stored: float32; int8, symmetric per tensor (dynamic-range quantization:
        LiteRT's hybrid kernels take float inputs and quantize them on the fly), a quarter of the size; float16,
        dequantized to float32 where they are read, half the size. Biases and everything else stay float32.

    Returns
    -------
    bytes
        The flatbuffer.
    """
    require_spec(spec, "export_tflite")
    checked = as_weights(spec, weights)
    if not isinstance(lengths, bool):
        raise ConversionError(f"lengths={lengths!r} is not allowed: True or False")
    if fused not in (None, True, False):
        raise ConversionError(f"fused={fused!r} is not allowed: True, False or None")
    impl = get_backend("litert").load()
    data: bytes = impl.export(spec, checked, lengths=lengths, fused=fused, quantize=quantize)
    if path is not None:
        atomic_write(path, lambda handle: handle.write(data))
    return data


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


def _from_path(
    path: Path, params: Any = None, head: Any = None, node: str | None = None, **spec_fields: Any
) -> tuple[Spec, Weights]:
    """A model file by its suffix (seqnet.files.read): a checkpoint infers its Spec as from_state_dict does."""
    if params is not None:
        raise ConversionError("params= is for flax.linen modules, not for a file")
    found = files.read(path, head=head, node=node, **spec_fields)
    return found.spec, found.weights


def _suffixes() -> list[str]:
    return sorted(files.formats())


def _with(function: str) -> list[str]:
    names = []
    for name, converter in converters().items():
        try:
            if hasattr(converter.load(), function):
                names.append(name)
        except SeqnetError:
            continue
    return names
