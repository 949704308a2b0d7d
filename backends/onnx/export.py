"""A seqnet Spec and its weights as an ONNX model: the standard RNN, LSTM and GRU operators.

Requirements: onnx (>= 1.14) and numpy.

One RNN/LSTM/GRU node per layer (both directions in one node, `direction="bidirectional"`), weights as
initializers in ONNX's layout: `W` (D, G*H, I), `R` (D, G*H, H), `B` (D, 2*G*H) = [input biases, recurrent
biases]; gate blocks LSTM (i, o, f, c) = canonical blocks (0, 3, 1, 2), GRU (z, r, h) = (1, 0, 2).
`linear_before_reset` is 1 for the reset-after GRU and 0 for the reset-before one; the RNN's
`activations` is Tanh, Relu or Sigmoid. An LSTM's peepholes are the input `P` (D, 3*H), rows (i, o, f) =
canonical rows (0, 2, 1). Layers chain through Transpose + Reshape of Y (T, D, B, H) into
(T, B, D*H). With `lengths`, `sequence_lens` gives PyTorch's packed semantics (zero outputs past a length,
the final state at the last valid step, the reverse direction within each length); a head in sequence
mode is masked the same way. `output_mode="last"` reads the top layer's `Y_h`.

proj_size: ONNX's LSTM has no projection (a projected LSTM with peepholes runs the registry's LSTM step in
Scans, cells.py, as registered cells do). Such a spec is expressed by a `Scan` over an LSTM cell with the
projection (scan.py; the reverse direction through `ReverseSequence` within each length), decided by
measurement rather than refused: it computes the same function (tested over the parity grid), and on ONNX
Runtime 1.32's CPU (2-core AMD EPYC, 2 threads, B64 T100 I128 H256, median of 15) a Scan LSTM with
proj_size 255 ran a forward in 41.4 ms against 31.4 ms for the fused LSTM operator without projection,
whose steps have a third fewer multiply-adds (seqnet's NumPy backend: 74.3 and 51.3 ms); with proj_size
128, 38.6 ms. A projected LSTM deploys at the fused operator's speed per multiply-add, give or take 10%.

Inputs: `x` (B, T, I) or (T, B, I) with batch_first=False, batch and time axes dynamic; optional `lengths`
(B,) int64; optional initial `h0` (L*D, B, H_out) and `c0` (L*D, B, H) for an LSTM. Outputs: `outputs`,
`h_n` and for an LSTM `c_n`, in seqnet's layout. The Spec is stored in the model's metadata ("seqnet.spec"),
so seqnet reads back what the graph alone cannot say (batch_first, the head's mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.errors import ConversionError
from seqnet.io import SPEC_KEY
from seqnet.spec import Spec
from seqnet.weights import Weights

DEFAULT_OPSET = 17
MIN_OPSET = 14
# canonical gate blocks in ONNX's order
ORDER = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}
OPS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}


def to_onnx_order(array: np.ndarray, cell: str) -> np.ndarray:
    """Gate blocks (along axis 0) from canonical order to ONNX's."""
    blocks = np.split(array, len(ORDER[cell]), axis=0)
    return np.concatenate([blocks[i] for i in ORDER[cell]], axis=0)


def from_onnx_order(array: np.ndarray, cell: str) -> np.ndarray:
    """Gate blocks (along axis 0) from ONNX's order to canonical."""
    blocks = np.split(array, len(ORDER[cell]), axis=0)
    inverse = np.argsort(ORDER[cell])
    return np.concatenate([blocks[i] for i in inverse], axis=0)


class _Graph:
    """A small builder over onnx.helper: nodes, initializers, fresh names."""

    def __init__(self, dtype: np.dtype):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.dtype = dtype
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, value: Any, base: str, dtype: Any = None) -> str:
        name = self.name(base)
        array = np.asarray(value, dtype=dtype if dtype is not None else self.dtype)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1, **attrs: Any) -> Any:
        names = [self.name(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(self.helper.make_node(op_type, inputs, names, name=self.name(f"{op_type}_node"), **attrs))
        return names[0] if len(names) == 1 else names


def export(
    spec: Spec, weights: Weights, opset: int | None = None, lengths: bool = False, initial_state: bool = False,
    dtype: str | None = None,
) -> Any:  # fmt: skip
    """The onnx.ModelProto of `spec` with `weights` (checked with onnx.checker)."""
    import onnx
    from onnx import TensorProto, helper

    opset = DEFAULT_OPSET if opset is None else opset
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise ConversionError(f"opset={opset!r} is not allowed: an integer in {MIN_OPSET}..{newest}")
    dtype = dtype or weights.dtype.name
    if dtype not in ("float32", "float64"):
        raise ConversionError(f"dtype={dtype!r} is not allowed: 'float32' or 'float64'")
    if spec.cell not in OPS or (spec.peephole and spec.proj_size):  # the cell's step traced into Scans (cells.py)
        from .cells import export_cell

        model = export_cell(spec, weights, opset, lengths, initial_state, dtype)
        model.ir_version = min(model.ir_version, 10)
        helper.set_model_props(model, {SPEC_KEY: spec.to_json()})
        onnx.checker.check_model(model, full_check=True)
        return model
    np_dtype = np.dtype(dtype)
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    g = _Graph(np_dtype)
    d, rows = spec.num_directions, spec.num_layers * spec.num_directions
    x_axes: list[str | int] = (
        ["batch", "steps", spec.input_size] if spec.batch_first else ["steps", "batch", spec.input_size]
    )
    inputs = [helper.make_tensor_value_info("x", elem, x_axes)]
    xs = g.op("Transpose", ["x"], perm=[1, 0, 2]) if spec.batch_first else "x"
    seq_lens = ""
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]))
        seq_lens = g.op("Cast", ["lengths"], to=TensorProto.INT32)
    h0 = c0 = None
    if initial_state:
        inputs.append(helper.make_tensor_value_info("h0", elem, [rows, "batch", spec.hidden_out]))
        h0 = "h0"
        if spec.cell == "lstm":
            inputs.append(helper.make_tensor_value_info("c0", elem, [rows, "batch", spec.hidden_size]))
            c0 = "c0"
    layer_in, hs, cs = xs, [], []
    for k in range(spec.num_layers):
        h_init = _rows(g, h0, k * d, (k + 1) * d) if h0 else ""
        c_init = _rows(g, c0, k * d, (k + 1) * d) if c0 else ""
        if spec.proj_size:
            from .scan import projected_lstm_layer

            y, y_h, y_c = projected_lstm_layer(g, spec, weights, k, layer_in, seq_lens, h_init, c_init)
        else:
            y, y_h, y_c = _fused_layer(g, spec, weights, k, layer_in, seq_lens, h_init, c_init)
        hs.append(y_h)
        if y_c:
            cs.append(y_c)
        # Y (T, D, B, H) -> (T, B, D*H)
        layer_in = g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), g.const([0, 0, -1], "shape", np.int64)])
    _stack_rows(g, hs, "h_n")
    outputs = [helper.make_tensor_value_info("h_n", elem, [rows, "batch", spec.hidden_out])]
    if cs:
        _stack_rows(g, cs, "c_n")
        outputs.append(helper.make_tensor_value_info("c_n", elem, [rows, "batch", spec.hidden_size]))
    if spec.output_mode == "last":  # the top layer's final states of each direction: (D, B, H) -> (B, D*H)
        top = hs[-1]
        feats = g.op("Reshape", [g.op("Transpose", [top], perm=[1, 0, 2]), g.const([0, -1], "shape", np.int64)])
        out_axes: list[Any] = ["batch", spec.features_out]
    else:
        feats = layer_in
        out_axes = ["batch", "steps", spec.features_out] if spec.batch_first else ["steps", "batch", spec.features_out]
    if spec.output_size is not None:
        w = g.const(np.ascontiguousarray(weights["head.weight"].T), "head_weight")
        feats = g.op("Add", [g.op("MatMul", [feats, w]), g.const(weights["head.bias"], "head_bias")])
        if spec.output_mode == "sequence" and lengths:
            feats = g.op("Mul", [feats, _valid_mask(g, xs, seq_lens)])
    if spec.output_mode == "sequence" and spec.batch_first:
        feats = g.op("Transpose", [feats], perm=[1, 0, 2])
    g.op("Identity", [feats], ["outputs"])
    outputs.insert(0, helper.make_tensor_value_info("outputs", elem, out_axes))
    graph = helper.make_graph(g.nodes, "seqnet", inputs, outputs, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="seqnet")
    model.ir_version = min(model.ir_version, 10)  # onnxruntime 1.20+ reads IR 10
    helper.set_model_props(model, {SPEC_KEY: spec.to_json()})
    onnx.checker.check_model(model, full_check=True)
    return model


def _stack_rows(g: _Graph, parts: list[str], name: str) -> None:
    """The layers' (D, B, H) final states as one (L*D, B, H) output `name`."""
    g.op("Concat", parts, [name], axis=0) if len(parts) > 1 else g.op("Identity", parts, [name])


def _rows(g: _Graph, state: str, start: int, end: int) -> str:
    return g.op(
        "Slice",
        [state, g.const([start], "start", np.int64), g.const([end], "end", np.int64), g.const([0], "axes", np.int64)],
    )


def _valid_mask(g: _Graph, xs: str, seq_lens: str) -> str:
    """(T, B, 1) in the model's dtype: 1 where step t < lengths[b]."""
    steps = g.op("Gather", [g.op("Shape", [xs]), g.const(0, "zero", np.int64)], axis=0)
    t = g.op("Range", [g.const(0, "start", np.int64), steps, g.const(1, "one", np.int64)])
    lens = g.op("Cast", [seq_lens], to=7)  # int64
    valid = g.op(
        "Less",
        [
            g.op("Unsqueeze", [t, g.const([1], "axes", np.int64)]),
            g.op("Unsqueeze", [lens, g.const([0], "axes", np.int64)]),
        ],
    )
    as_float = g.op("Cast", [valid], to=1 if g.dtype == np.float32 else 11)
    return g.op("Unsqueeze", [as_float, g.const([2], "axes", np.int64)])


def _fused_layer(
    g: _Graph, spec: Spec, weights: Weights, k: int, layer_in: str, seq_lens: str, h_init: str, c_init: str
):
    """One standard RNN/LSTM/GRU node for layer k: (Y, Y_h, Y_c or None)."""
    directions = [f"_l{k}{s}" for s in ("", "_reverse")[: spec.num_directions]]
    w = np.stack([to_onnx_order(weights[f"weight_ih{s}"], spec.cell) for s in directions])
    r = np.stack([to_onnx_order(weights[f"weight_hh{s}"], spec.cell) for s in directions])
    names = [layer_in, g.const(w, f"W_l{k}"), g.const(r, f"R_l{k}")]
    if spec.bias:
        b = np.stack(
            [
                np.concatenate(
                    [to_onnx_order(weights[f"bias_ih{s}"], spec.cell), to_onnx_order(weights[f"bias_hh{s}"], spec.cell)]
                )
                for s in directions
            ]
        )
        names.append(g.const(b, f"B_l{k}"))
    else:
        names.append("")
    names += [seq_lens, h_init]
    if spec.cell == "lstm":
        names.append(c_init)
    if spec.peephole:  # ONNX's P rows (i, o, f): canonical rows (0, 2, 1)
        p = np.stack([weights[f"weight_peephole{s}"][[0, 2, 1]].reshape(-1) for s in directions])
        names.append(g.const(p, f"P_l{k}"))
    while names and names[-1] == "":
        names.pop()
    attrs: dict[str, Any] = {
        "hidden_size": spec.hidden_size,
        "direction": "bidirectional" if spec.bidirectional else "forward",
    }
    if spec.cell == "rnn":
        attrs["activations"] = [ACTIVATIONS[spec.activation]] * spec.num_directions
    if spec.cell == "gru":
        attrs["linear_before_reset"] = int(spec.gru_variant == "reset_after")
    outs = g.op(OPS[spec.cell], names, 3 if spec.cell == "lstm" else 2, **attrs)
    return outs[0], outs[1], (outs[2] if spec.cell == "lstm" else None)
