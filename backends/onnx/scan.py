"""An LSTM layer with a projection (proj_size) in ONNX: a `Scan` over the cell, since ONNX's LSTM has none.

Requirements: onnx and numpy.

Per direction: the input product for every step at once, gx = x W_ih^T + b_ih + b_hh (T, B, 4H); a Scan
whose body is one step of the canonical cell,

    a = gx_t + h R^T;  (i, f, g, o) = split(a);  c' = sig(f) c + sig(i) tanh(g);  h' = (sig(o) tanh(c')) W_hr^T

kept where the step is valid (`Where`, bit-exact) and zero in the outputs past a length. The reverse
direction runs the same Scan over `ReverseSequence(x, lengths)` (the valid part of each sequence reversed,
the padding left in place) and reverses its outputs back: PyTorch's packed semantics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.spec import Spec
from seqnet.weights import Weights


def projected_lstm_layer(
    g: Any, spec: Spec, weights: Weights, k: int, layer_in: str, seq_lens: str, h_init: str, c_init: str
) -> tuple[str, str, str]:
    """Layer k of a projected LSTM on the graph builder `g`: (Y (T, D, B, P), Y_h (D, B, P), Y_c (D, B, H))."""
    shape = g.op("Shape", [layer_in])
    steps = g.op("Gather", [shape, g.const([0], "index", np.int64)], axis=0)
    batch = g.op("Gather", [shape, g.const([1], "index", np.int64)], axis=0)
    # int64 lengths (ReverseSequence takes no other), full where the call gives none
    lens = g.op("Cast", [seq_lens], to=7) if seq_lens else g.op("Expand", [steps, batch])
    t = g.op("Range", [g.const(0, "start", np.int64), g.op("Squeeze", [steps]), g.const(1, "one", np.int64)])
    column = g.op("Unsqueeze", [t, g.const([1], "axes", np.int64)])
    valid = g.op("Less", [column, g.op("Unsqueeze", [lens, g.const([0], "axes", np.int64)])])
    valid = g.op("Unsqueeze", [valid, g.const([2], "axes", np.int64)])  # (T, B, 1) bool
    ys, hs, cs = [], [], []
    for d, suffix in enumerate(("", "_reverse")[: spec.num_directions]):
        x = layer_in if d == 0 else g.op("ReverseSequence", [layer_in, lens], batch_axis=1, time_axis=0)
        names = {n: f"{n}_l{k}{suffix}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")}
        gx = g.op("MatMul", [x, g.const(np.ascontiguousarray(weights[names["weight_ih"]].T), f"Wih_l{k}{suffix}")])
        if spec.bias:  # both biases kept, so the weights come back from the file exactly
            gx = g.op(
                "Add",
                [
                    g.op("Add", [gx, g.const(weights[names["bias_ih"]], f"bih_l{k}{suffix}")]),
                    g.const(weights[names["bias_hh"]], f"bhh_l{k}{suffix}"),
                ],
            )
        h0 = _initial(g, h_init, d, batch, spec.proj_size)
        c0 = _initial(g, c_init, d, batch, spec.hidden_size)
        r_t = g.const(np.ascontiguousarray(weights[names["weight_hh"]].T), f"Rt_l{k}{suffix}")
        hr_t = g.const(np.ascontiguousarray(weights[names["weight_hr"]].T), f"Whr_l{k}{suffix}")
        body = _body(g, spec, r_t, hr_t, f"l{k}{suffix}")
        h_last, c_last, y = g.op("Scan", [h0, c0, gx, valid], 3, body=body, num_scan_inputs=2)
        if d == 1:
            y = g.op("ReverseSequence", [y, lens], batch_axis=1, time_axis=0)
        axis1 = g.const([1], "axes", np.int64)
        axis0 = g.const([0], "axes", np.int64)
        ys.append(g.op("Unsqueeze", [y, axis1]))
        hs.append(g.op("Unsqueeze", [h_last, axis0]))
        cs.append(g.op("Unsqueeze", [c_last, axis0]))
    join = lambda parts, axis: parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=axis)  # noqa: E731
    return join(ys, 1), join(hs, 0), join(cs, 0)


def _initial(g: Any, state: str, d: int, batch: str, size: int) -> str:
    """Direction d's initial state (B, size): a row of the given (D, B, size) state, or zeros."""
    if state:
        return g.op(
            "Squeeze",
            [
                g.op(
                    "Slice",
                    [state, g.const([d], "s", np.int64), g.const([d + 1], "e", np.int64), g.const([0], "a", np.int64)],
                ),
                g.const([0], "a", np.int64),
            ],
        )
    return g.op(
        "Expand",
        [g.const(np.zeros((1, size)), "zeros"), g.op("Concat", [batch, g.const([size], "n", np.int64)], axis=0)],
    )


def _body(g: Any, spec: Spec, r_t: str, hr_t: str, tag: str) -> Any:
    """The Scan body: state (h, c), scan inputs (gx_t, valid_t) -> (h, c, y_t); R^T and W_hr^T from outside."""
    from onnx import TensorProto, helper

    elem = TensorProto.FLOAT if g.dtype == np.float32 else TensorProto.DOUBLE
    hidden = spec.hidden_size
    nodes: list[Any] = []

    def op(kind: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        names = [f"{tag}_{kind.lower()}_{len(nodes)}_{i}" for i in range(outputs)]
        nodes.append(helper.make_node(kind, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    a = op("Add", ["gx_t", op("MatMul", ["h", r_t])])
    gates = [op("Slice", [a, _c(nodes, tag, [i * hidden]), _c(nodes, tag, [(i + 1) * hidden]), _c(nodes, tag, [1])])
             for i in range(4)]  # fmt: skip
    i, f, gg, o = gates
    c_new = op("Add", [op("Mul", [op("Sigmoid", [f]), "c"]), op("Mul", [op("Sigmoid", [i]), op("Tanh", [gg])])])
    h_new = op("MatMul", [op("Mul", [op("Sigmoid", [o]), op("Tanh", [c_new])]), hr_t])
    nodes.append(helper.make_node("Where", ["valid_t", h_new, "h"], ["h_out"]))
    nodes.append(helper.make_node("Where", ["valid_t", c_new, "c"], ["c_out"]))
    zero = _c(nodes, tag, 0.0, g.dtype)
    nodes.append(helper.make_node("Where", ["valid_t", h_new, zero], ["y_t"]))
    value = helper.make_tensor_value_info
    return helper.make_graph(
        nodes,
        f"lstm_projection_{tag}",
        [
            value("h", elem, None),
            value("c", elem, None),
            value("gx_t", elem, None),
            value("valid_t", TensorProto.BOOL, None),
        ],
        [value("h_out", elem, None), value("c_out", elem, None), value("y_t", elem, None)],
    )


def _c(nodes: list[Any], tag: str, value: Any, dtype: Any = np.int64) -> str:
    """A Constant node inside the body."""
    from onnx import helper, numpy_helper

    name = f"{tag}_const_{len(nodes)}"
    nodes.append(
        helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype=dtype)))
    )
    return name
