"""A seqnet Spec and its weights as a LiteRT (TensorFlow Lite) flatbuffer, batch and time axes dynamic.

Requirements: ai-edge-litert (the schema it ships, and flatbuffers) and numpy. No TensorFlow.

Fused path: LiteRT's builtin sequence operators, one per layer: UNIDIRECTIONAL_SEQUENCE_LSTM for every LSTM
(peepholes as its cell_to_* inputs, proj_size as its projection weights, the two biases summed) and
UNIDIRECTIONAL_SEQUENCE_RNN for a tanh or relu RNN; BIDIRECTIONAL_SEQUENCE_LSTM and _RNN (merged outputs) for
both directions. The operators keep their state in variable tensors: those tensors are the file's state
inputs and outputs (set them before a call, read them after; LiteRT carries them from call to call when
nobody sets them, a streaming model's own state).

Generic path (everything else: the GRU, the sigmoid RNN, cells of your own, lengths): seqnet.generic's
`cell_forward` traced through `graph.LiteOps`, one WHILE loop per layer-direction over the registered cell's
step; lengths mask each step as on every backend (LiteRT's sequence operators take no lengths).

Inputs, in order: `x` (B, T, I), or (T, B, I) with batch_first=False; `lengths` (B,) int32 on the generic
path when asked for; then each state part (h, then c for an LSTM) of each layer-direction (layer-major,
forward first), each (B, H_out) for h and (B, H) for c, named `h_l0`, `h_l0_reverse`, `c_l0`, ... Outputs:
`outputs` ((B, T, F), or (B, F) for output_mode="last"), then the final state parts in the inputs' order.
The Spec is stored in the model's metadata ("seqnet.spec"), as in seqnet's ONNX files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from seqnet.errors import ConversionError
from seqnet.generic import cell_forward
from seqnet.io import SPEC_KEY
from seqnet.spec import Spec
from seqnet.weights import Weights

from .graph import QUANTIZE, LiteOps, Op, Opt, Subgraph, Value, Writer, options


def missing_form(spec: Spec, quantize: str | None = None) -> tuple[str, str] | None:
    """(the field, why) where LiteRT's fused sequence operators have no form for `spec` stored as `quantize`
    says; None where they have one."""
    if spec.cell not in ("rnn", "lstm"):
        return "cell", f"LiteRT has no fused sequence operator for cell {spec.cell!r}, which runs as a WHILE loop"
    if spec.cell == "rnn" and spec.activation not in ("tanh", "relu"):
        return "activation", "UNIDIRECTIONAL_SEQUENCE_RNN offers tanh and relu only"
    if spec.cell == "rnn" and spec.bidirectional and quantize == "int8":  # measured: a segmentation fault
        return "quantize", "BIDIRECTIONAL_SEQUENCE_RNN crashes the process with int8 weights (ai-edge-litert 2.3.0)"
    return None


def state_inputs(spec: Spec) -> list[tuple[str, int]]:
    """The file's state inputs and outputs, in order, each (name, size): each part of each layer-direction."""
    suffixes = ("", "_reverse")[: spec.num_directions]
    return [(f"{part}_l{k}{s}", shape[-1]) for part, shape in spec.state_shapes(1).items()
            for k in range(spec.num_layers) for s in suffixes]  # fmt: skip


def export(spec: Spec, weights: Weights, lengths: bool = False, fused: bool | None = None,
           quantize: str | None = None) -> bytes:  # fmt: skip
    """The flatbuffer of `spec` with `weights` (float32): the fused operators where they express the spec and no
    lengths are asked for (fused=None), else the WHILE loops; fused=True refuses what they cannot express.
    quantize: the weight matrices stored as float32 (None), int8 (dynamic-range: LiteRT's hybrid kernels) or
    float16 (dequantized to float32 as they are read)."""
    if quantize not in QUANTIZE:
        raise ConversionError(f"quantize={quantize!r} is not allowed: one of {QUANTIZE}")
    reason = missing_form(spec, quantize)
    if fused and (reason or lengths):
        why = reason[1] if reason else "LiteRT's sequence operators take no lengths"
        raise ConversionError(f"fused=True: {why}; build with fused=None to run the WHILE-loop path")
    use_fused = fused is not False and reason is None and not lengths
    writer = Writer("seqnet")
    graph = writer.subgraph("main")
    ops = LiteOps(writer, graph, quantize)
    x_shape = ("batch", "steps", spec.input_size) if spec.batch_first else ("steps", "batch", spec.input_size)
    x = Value(ops, graph, graph.tensor(x_shape, name="x"), x_shape)
    graph.inputs.append(ops.ref(x))
    mask = _mask(ops, graph, x, spec) if lengths else None
    states = []
    for name, size in state_inputs(spec):
        index = graph.tensor(("batch", size), name=name, variable=use_fused)
        graph.inputs.append(index)
        states.append(Value(ops, graph, index, ("batch", size)))
    arrays = weights.astype("float32")
    params = {name: ops.constant(arrays[name]) for name in arrays}
    if use_fused:
        seq, maybe_last = _fused(spec, ops, arrays, params, x, states)
        finals = states  # the operators' variable tensors: the state after the call
    else:
        seq, finals, maybe_last = _generic(spec, ops, params, x, states, mask)
    out = maybe_last if spec.output_mode == "last" and maybe_last is not None else seq
    if spec.output_size is not None:
        out = ops.linear(out, params["head.weight"], params["head.bias"])
        if spec.output_mode == "sequence" and mask is not None:
            out = out * (ops.swap01(mask) if spec.batch_first else mask)
    graph.tensors[ops.ref(out)].name = "outputs"
    if not use_fused:  # the fused path's final state is its inputs' variable tensors, under their names
        for (name, _), value in zip(state_inputs(spec), finals, strict=True):
            graph.tensors[ops.ref(value)].name = f"{name}_n"
    graph.outputs = [ops.ref(out)] + [ops.ref(v) for v in finals]
    return writer.to_bytes({SPEC_KEY: spec.to_json().encode()})


def _mask(ops: LiteOps, graph: Subgraph, x: Value, spec: Spec) -> Value:
    """The `lengths` input (B,) int32 and the mask it makes, (T, B, 1) float32: 1 up to each length."""
    index = graph.tensor(("batch",), np.int32, name="lengths")
    graph.inputs.append(index)
    lengths = Value(ops, graph, index, ("batch",), np.int32)
    steps = ops.dim(x, 1 if spec.batch_first else 0)
    zero, one = ops.constant(np.int32(0), np.int32), ops.constant(np.int32(1), np.int32)
    t = ops.emit(Op.RANGE, [zero, steps, one], ("steps",), np.int32)
    column = ops.emit(Op.EXPAND_DIMS, [t, one], ("steps", 1), np.int32)
    row = ops.emit(Op.EXPAND_DIMS, [lengths, zero], (1, "batch"), np.int32)
    valid = ops.emit(Op.LESS, [column, row], ("steps", "batch"), bool)
    as_float = ops.emit(Op.CAST, [valid], ("steps", "batch"))
    return ops.emit(Op.EXPAND_DIMS, [as_float, ops.constant(np.int32(2), np.int32)], ("steps", "batch", 1))


def _generic(spec: Spec, ops: LiteOps, params: dict[str, Value], x: Value, states: list[Value],
             mask: Value | None) -> tuple[Value, list[Value], Value]:  # fmt: skip
    """seqnet.generic's loop over the registered cell's step: WHILE loops (graph.LiteOps.scan)."""
    rows = spec.num_layers * spec.num_directions
    parts = [ops.stack(states[i : i + rows]) for i in range(0, len(states), rows)]
    state = tuple(parts) if len(parts) > 1 else parts[0]
    # a linear form step by step: the graph's T is open, so no blocked scan over it
    seq, final, last = cell_forward(spec, ops, params.get, x, state, mask, False, scan="sequential")
    finals = [row for part in (final if isinstance(final, tuple) else (final,)) for row in ops.unstack(part)]
    return seq, finals, last


def _fused(spec: Spec, ops: LiteOps, arrays: Weights, params: dict[str, Value], x: Value,
           states: list[Value]) -> tuple[Value, Value | None]:  # fmt: skip
    """One LiteRT fused sequence operator per layer (UNIDIRECTIONAL_SEQUENCE_LSTM / _RNN, or for both directions
    BIDIRECTIONAL_SEQUENCE_LSTM / _RNN with merged outputs): (the top layer's outputs, what output_mode="last"
    reads, None for the sequence mode: the forward direction's last output and the reverse one's first)."""
    rows, lstm, bi = spec.num_layers * spec.num_directions, spec.cell == "lstm", spec.bidirectional
    # The bidirectional operators run time-major: BIDIRECTIONAL_SEQUENCE_LSTM with time_major=False measured wrong
    # in ai-edge-litert 2.3.0 (outputs 0.17 and c 0.96 off the NumPy reference at B 3, T 6; time-major exact)
    time_major = bi or not spec.batch_first
    layer_in = ops.swap01(x) if time_major and spec.batch_first else x
    for k in range(spec.num_layers):
        inputs: list[Any] = [layer_in]
        state: list[Value] = []
        for d, suffix in enumerate(("", "_reverse")[: spec.num_directions]):
            row = k * spec.num_directions + d
            inputs += _direction_inputs(spec, ops, arrays, params, f"_l{k}{suffix}")
            state += [states[row], states[rows + row]] if lstm else [states[row]]
        shape = (*layer_in.shape[:2], spec.num_directions * spec.hidden_out)
        fields: dict[str, Any] = {"timeMajor": time_major, "fusedActivationFunction": _ACT[spec.activation]}
        if bi:
            fields["mergeOutputs"] = True
        if lstm and not bi:  # input, 17 weights, h, c, 4 layer-normalisation coefficients
            op, kind, cls = (
                Op.UNIDIRECTIONAL_SEQUENCE_LSTM,
                Opt.UnidirectionalSequenceLSTMOptions,
                schema.UnidirectionalSequenceLSTMOptionsT,
            )
            inputs += [*state, None, None, None, None]
        elif lstm:  # input, 17 weights per direction, (h, c) per direction, an aux input and its 8 weights
            op, kind, cls = (
                Op.BIDIRECTIONAL_SEQUENCE_LSTM,
                Opt.BidirectionalSequenceLSTMOptions,
                schema.BidirectionalSequenceLSTMOptionsT,
            )
            inputs += [*state, *([None] * 9)]
        elif not bi:  # input, W, R, b, h
            op, kind, cls = Op.UNIDIRECTIONAL_SEQUENCE_RNN, Opt.SequenceRNNOptions, schema.SequenceRNNOptionsT
            inputs += state
        else:  # input, (W, R, b) forward, h forward, (W, R, b) reverse, h reverse, an aux input and its 2 weights
            op, kind, cls = (
                Op.BIDIRECTIONAL_SEQUENCE_RNN,
                Opt.BidirectionalSequenceRNNOptions,
                schema.BidirectionalSequenceRNNOptionsT,
            )
            inputs = [layer_in, *inputs[1:4], state[0], *inputs[4:7], state[1], None, None, None]
        layer_in = ops.emit(op, inputs, shape, np.float32, kind, options(cls, **fields))
    seq = ops.swap01(layer_in) if time_major and spec.batch_first else layer_in
    if spec.output_mode != "last":
        return seq, None
    at = (lambda t, f: (t, slice(None), f)) if time_major else (lambda t, f: (slice(None), t, f))
    h = spec.hidden_out
    parts = [ops.index(layer_in, at(-1, slice(0, h)))] + ([ops.index(layer_in, at(0, slice(h, None)))] if bi else [])
    return seq, ops.concat(parts)


_ACT = {"tanh": schema.ActivationFunctionType.TANH, "relu": schema.ActivationFunctionType.RELU}


def _direction_inputs(spec: Spec, ops: LiteOps, arrays: Weights, params: dict[str, Value], suffix: str) -> list[Any]:
    """One direction's weights as LiteRT's sequence operators take them (LiteRT keeps one bias per gate: the two
    summed). LSTM, 17 inputs: input weights (i, f, g, o), recurrent weights (i, f, g, o), peepholes (i, f, o),
    biases (i, f, g, o), projection weights, projection bias (none). RNN: W, R, b."""
    w_ih, w_hh = np.asarray(arrays[f"weight_ih{suffix}"]), np.asarray(arrays[f"weight_hh{suffix}"])
    bias = np.zeros(w_ih.shape[0], np.float32)
    for n in ("bias_ih", "bias_hh"):
        if f"{n}{suffix}" in arrays:
            bias = bias + arrays[f"{n}{suffix}"]
    if spec.cell == "rnn":
        return [ops.weight(ops.constant(w_ih)), ops.weight(ops.constant(w_hh)), ops.constant(bias)]
    gates = [ops.weight(ops.constant(a)) for a in np.split(w_ih, 4)]
    recurrent = [ops.weight(ops.constant(a)) for a in np.split(w_hh, 4)]
    peep: list[Any] = [None, None, None]
    if spec.peephole:
        peep = [ops.constant(a) for a in np.asarray(arrays[f"weight_peephole{suffix}"])]
    proj = ops.weight(params[f"weight_hr{suffix}"]) if spec.proj_size else None
    return [*gates, *recurrent, *peep, *[ops.constant(a) for a in np.split(bias, 4)], proj, None]
