"""A registered cell (seqnet.Cell) as ONNX: its `step` traced through an ONNX implementation of `ops` into the
body of a `Scan`, so one cell definition also deploys.

Requirements: onnx and numpy.

`OnnxOps` gives a cell's step (and `precompute` / `linear`) `Value`s instead of arrays: each op appends ONNX
nodes to the graph being built and returns the Value of its result, with its shape (ints, or the names of the
dynamic axes "batch" and "steps"). Arithmetic with Python numbers in either order (`1 - z`, `0.5 * x`), unary
minus, comparisons and slicing (`v[..., a:b]`, `v[k]`) work on Values as on arrays; numbers become constants of
the model's dtype. seqnet.generic's `cell_forward` runs unchanged on them: `ops.scan` becomes one ONNX `Scan`
per layer-direction whose body is the traced step (the reverse direction scans backwards, with
`scan_input_directions`, and a step past a length keeps the state by `Where`, as on every backend); a linear
form is scanned step by step (h = a h + b in the body). The canonical weights are initializers under their
canonical names (the graph's outer scope, which every body reads), so `from_framework` reads them back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from seqnet.generic import GraphOps, broadcast_shape, flatten, unflatten
from seqnet.spec import Spec
from seqnet.weights import Weights

INT64_MAX = np.iinfo(np.int64).max


class Builder:
    """The graph being built: its nodes, the model's initializers (always the outer graph's: a Scan body
    reads them from the outer scope) and one name counter for the graph and every body."""

    def __init__(self, dtype: np.dtype, opset: int):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype, self.opset = np.dtype(dtype), opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def body(self) -> Builder:
        """A builder of a subgraph's nodes: this one's initializers and names (so no name repeats)."""
        sub = Builder.__new__(Builder)
        sub.__dict__.update(self.__dict__)
        sub.nodes = []
        sub.name = self.name  # type: ignore[method-assign]
        return sub

    def const(self, value: Any, base: str = "const", dtype: Any = None, name: str | None = None) -> str:
        name = name or self.name(base)
        array = np.asarray(value, dtype=dtype if dtype is not None else self.dtype)
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], outputs: int | list[str] = 1, **attrs: Any) -> list[str]:
        names = [self.name(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, **attrs))
        return names


class Value:
    """A tensor of the graph: `name` and `shape` (ints; "batch", "steps" or None for dims the graph leaves open).
    A weight is a Value whose `array` is known; it becomes an initializer when first used."""

    __array_priority__ = 1000  # numpy scalars defer to Value's operators

    def __init__(self, ops: OnnxOps, name: str | None, shape: tuple[Any, ...], array: np.ndarray | None = None,
                 base: str = "w"):  # fmt: skip
        self.ops, self._name, self.shape, self.array, self._base = ops, name, tuple(shape), array, base

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self.ops.root.const(self.array, name=self._base)
        return self._name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"Value({self._name or self._base!r}, shape={self.shape})"

    def _binary(self, kind: str, other: Any, swap: bool = False) -> Value:
        other = self.ops.as_value(other)
        a, b = (other, self) if swap else (self, other)
        return self.ops.emit(kind, [a, b], broadcast_shape(a.shape, b.shape))

    def __add__(self, other: Any) -> Value:
        return self._binary("Add", other)

    def __radd__(self, other: Any) -> Value:
        return self._binary("Add", other, swap=True)

    def __sub__(self, other: Any) -> Value:
        return self._binary("Sub", other)

    def __rsub__(self, other: Any) -> Value:
        return self._binary("Sub", other, swap=True)

    def __mul__(self, other: Any) -> Value:
        return self._binary("Mul", other)

    def __rmul__(self, other: Any) -> Value:
        return self._binary("Mul", other, swap=True)

    def __truediv__(self, other: Any) -> Value:
        return self._binary("Div", other)

    def __rtruediv__(self, other: Any) -> Value:
        return self._binary("Div", other, swap=True)

    def __pow__(self, other: Any) -> Value:
        return self._binary("Pow", other)

    def __neg__(self) -> Value:
        return self.ops.emit("Neg", [self], self.shape)

    def __gt__(self, other: Any) -> Value:
        return self._binary("Greater", other)

    def __lt__(self, other: Any) -> Value:
        return self._binary("Less", other)

    def __getitem__(self, index: Any) -> Value:
        return self.ops.index(self, index)


class OnnxOps(GraphOps):
    """seqnet.generic's ops building ONNX nodes (the module docstring says how)."""

    UNARY = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "exp": "Exp", "log": "Log", "abs": "Abs",
             "sqrt": "Sqrt"}  # fmt: skip

    def __init__(self, builder: Builder):
        self.root = builder  # initializers go here
        self.g = builder  # nodes go here: the graph, or the Scan body being traced

    # -- values ---------------------------------------------------------------------------------------------
    def as_value(self, value: Any) -> Value:
        if isinstance(value, Value):
            return value
        array = np.asarray(value)
        if array.dtype == bool:
            return Value(self, self.root.const(array, "bool", dtype=bool), array.shape)
        return Value(self, self.root.const(array, "number"), array.shape)

    def emit(self, op_type: str, inputs: Sequence[Any], shape: tuple[Any, ...], **attrs: Any) -> Value:
        names = [self.as_value(v).name if v is not None else "" for v in inputs]
        return Value(self, self.g.node(op_type, names, **attrs)[0], shape)

    def _ints(self, values: Sequence[int]) -> str:
        return self.root.const(np.asarray(values, np.int64), "ints", dtype=np.int64)

    # -- the ops a cell's step gets ----------------------------------------------------------------------
    def linear(self, x: Value, w: Value, b: Value | None) -> Value:
        shape = (*x.shape[:-1], w.shape[0])
        if x.ndim == 2:  # one step: Gemm with W in PyTorch's (out, in) layout, as the initializer holds it
            return self.emit("Gemm", [x, w] + ([b] if b is not None else []), shape, transB=1)
        out = self.emit("MatMul", [x, self.emit("Transpose", [w], (w.shape[1], w.shape[0]), perm=[1, 0])], shape)
        return out if b is None else out + b

    def matmul(self, a: Value, b: Value) -> Value:
        return self.emit("MatMul", [a, b], (*a.shape[:-1], b.shape[-1]))

    def _unary(self, op_type: str) -> Callable[[Value], Value]:
        return lambda x: self.emit(op_type, [x], self.as_value(x).shape)

    def maximum(self, a: Any, b: Any) -> Value:
        return self.as_value(a)._binary("Max", b)

    def minimum(self, a: Any, b: Any) -> Value:
        return self.as_value(a)._binary("Min", b)

    def mean(self, x: Value) -> Value:
        shape = (*x.shape[:-1], 1)
        if self.root.opset >= 18:
            return self.emit("ReduceMean", [x, Value(self, self._ints([-1]), (1,))], shape, keepdims=1)
        return self.emit("ReduceMean", [x], shape, axes=[-1], keepdims=1)

    def split(self, x: Value, n: int) -> list[Value]:
        size = x.shape[-1] // n
        return [self.index(x, (Ellipsis, slice(i * size, (i + 1) * size))) for i in range(n)]

    def concat(self, xs: Sequence[Value]) -> Value:
        xs = [self.as_value(v) for v in xs]
        last = sum(v.shape[-1] for v in xs)
        return xs[0] if len(xs) == 1 else self.emit("Concat", xs, (*xs[0].shape[:-1], last), axis=-1)

    def concat0(self, xs: Sequence[Value]) -> Value:
        xs = [self.as_value(v) for v in xs]
        return xs[0] if len(xs) == 1 else self.emit("Concat", xs, (None, *xs[0].shape[1:]), axis=0)

    def where(self, m: Any, a: Any, b: Any) -> Value:
        m, a, b = self.as_value(m), self.as_value(a), self.as_value(b)
        return self.emit("Where", [m, a, b], broadcast_shape(broadcast_shape(m.shape, a.shape), b.shape))

    def stack(self, xs: Sequence[Value]) -> Value:
        axis = Value(self, self._ints([0]), (1,))
        rows = [self.emit("Unsqueeze", [v, axis], (1, *v.shape)) for v in xs]
        return rows[0] if len(rows) == 1 else self.emit("Concat", rows, (len(rows), *xs[0].shape), axis=0)

    def swap01(self, x: Value) -> Value:
        perm = [1, 0, *range(2, x.ndim)]
        return self.emit("Transpose", [x], tuple(x.shape[i] for i in perm), perm=perm)

    def zeros(self, shape: tuple[Any, ...], like: Value) -> Value:
        """Zeros of `shape`; an open dim takes its size from the dim of `like` that has the same name."""
        if all(isinstance(n, int) for n in shape):
            return Value(self, self.root.const(np.zeros(shape), "zeros"), tuple(shape))
        dims = self.emit("Shape", [like], (like.ndim,))
        parts = []
        for n in shape:
            if isinstance(n, int):
                parts.append(Value(self, self._ints([n]), (1,)))
            else:
                where = like.shape.index(n)
                parts.append(self.emit("Gather", [dims, Value(self, self._ints([where]), (1,))], (1,), axis=0))
        size = self.emit("Concat", parts, (len(shape),), axis=0) if len(parts) > 1 else parts[0]
        fill = self.root.numpy_helper.from_array(np.zeros(1, self.root.dtype))
        return self.emit("ConstantOfShape", [size], tuple(shape), value=fill)

    def dropout(self, x: Value, rate: float) -> Value:  # inference graphs: dropout is off
        return x

    def index(self, x: Value, index: Any) -> Value:
        """x[k] (an int on the first axis, which it removes: Gather) or slices (Slice), `...` allowed."""
        if isinstance(index, int):
            return self.emit("Gather", [x, Value(self, self.root.const(np.int64(index), "at", np.int64), ())],
                             x.shape[1:], axis=0)  # fmt: skip
        items = index if isinstance(index, tuple) else (index,)
        if Ellipsis in items:
            at = items.index(Ellipsis)
            items = items[:at] + (slice(None),) * (x.ndim - len(items) + 1) + items[at + 1 :]
        starts, ends, axes, shape = [], [], [], list(x.shape)
        for axis, item in enumerate(items):
            if not isinstance(item, slice) or item.step not in (None, 1):
                raise TypeError(f"ONNX values take ints and slices of step 1 as indices, not {item!r}")
            if item == slice(None):
                continue
            start, stop = item.start or 0, INT64_MAX if item.stop is None else item.stop
            starts.append(start)
            ends.append(stop)
            axes.append(axis)
            n = shape[axis]
            shape[axis] = len(range(n)[start:stop]) if isinstance(n, int) else None
        if not axes:
            return x
        inputs = [x, *(Value(self, self._ints(v), (len(v),)) for v in (starts, ends, axes))]
        return self.emit("Slice", inputs, tuple(shape))

    # -- the loops ----------------------------------------------------------------------------------------
    def scan(self, body: Callable[..., Any], carry: Any, xs: Any, reverse: bool) -> tuple[Any, Any]:
        """lax.scan's contract as one ONNX Scan node whose body is `body` traced on this graph's Values."""
        helper = self.root.helper
        carry_leaves, carry_tree = flatten(carry)
        x_leaves, x_tree = flatten(xs)
        elem = helper.np_dtype_to_tensor_dtype(self.root.dtype)
        outer, body_builder = self.g, self.root.body()
        body_inputs, inner_carry, inner_x = [], [], []
        for v in carry_leaves:
            name = self.root.name("carry")
            inner_carry.append(Value(self, name, v.shape))
            body_inputs.append(helper.make_tensor_value_info(name, elem, None))
        for v in x_leaves:
            name = self.root.name("x_t")
            inner_x.append(Value(self, name, v.shape[1:]))
            body_inputs.append(helper.make_tensor_value_info(name, elem, None))
        self.g = body_builder
        try:
            new_carry, y = body(unflatten(carry_tree, inner_carry), unflatten(x_tree, inner_x))
            new_leaves, new_tree = flatten(new_carry)
            y_leaves, y_tree = flatten(y)
            outputs = []
            for v in [*new_leaves, *y_leaves]:
                name = self.root.name("out")
                body_builder.node("Identity", [self.as_value(v).name], [name])
                outputs.append(helper.make_tensor_value_info(name, elem, None))
        finally:
            self.g = outer
        graph = helper.make_graph(body_builder.nodes, self.root.name("scan_body"), body_inputs, outputs)
        names = [self.root.name("scan_out") for _ in range(len(new_leaves) + len(y_leaves))]
        attrs: dict[str, Any] = {"body": graph, "num_scan_inputs": len(x_leaves)}
        if reverse:
            attrs["scan_input_directions"] = [1] * len(x_leaves)
            attrs["scan_output_directions"] = [1] * len(y_leaves)
        outer.node("Scan", [v.name for v in [*carry_leaves, *x_leaves]], names, **attrs)
        steps = x_leaves[0].shape[0]
        finals = [Value(self, n, v.shape) for n, v in zip(names[: len(new_leaves)], new_leaves, strict=True)]
        ys = [Value(self, n, (steps, *v.shape)) for n, v in zip(names[len(new_leaves) :], y_leaves, strict=True)]
        return unflatten(new_tree, finals), unflatten(y_tree, ys)


def export_cell(spec: Spec, weights: Weights, opset: int, lengths: bool, initial_state: bool, dtype: str) -> Any:
    """The onnx.ModelProto of a registered cell's spec (inputs x[, lengths][, <part>0 ...]; outputs outputs,
    <part>_n ...), checked by export.py's caller."""
    from onnx import TensorProto, helper

    from seqnet.generic import cell_forward

    builder = Builder(np.dtype(dtype), opset)
    ops = OnnxOps(builder)
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    x_axes: tuple[Any, ...] = ("batch", "steps") if spec.batch_first else ("steps", "batch")
    x_axes += (spec.input_size,)
    inputs = [helper.make_tensor_value_info("x", elem, list(x_axes))]
    x = Value(ops, "x", x_axes)
    xs = ops.swap01(x) if spec.batch_first else x
    mask = None
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]))
        steps = ops.emit("Gather", [ops.emit("Shape", [xs], (3,)), Value(ops, ops._ints([0]), (1,))], (1,), axis=0)
        t = ops.emit("Range", [Value(ops, builder.const(0, "zero", np.int64), ()),
                               ops.emit("Squeeze", [steps], ()), Value(ops, builder.const(1, "one", np.int64), ())],
                     ("steps",))  # fmt: skip
        column = ops.emit("Unsqueeze", [t, Value(ops, ops._ints([1]), (1,))], ("steps", 1))
        row = ops.emit("Unsqueeze", [Value(ops, "lengths", ("batch",)), Value(ops, ops._ints([0]), (1,))], (1, "batch"))
        valid = ops.emit("Less", [column, row], ("steps", "batch"))
        as_float = ops.emit("Cast", [valid], ("steps", "batch"), to=elem)
        mask = ops.emit("Unsqueeze", [as_float, Value(ops, ops._ints([2]), (1,))], ("steps", "batch", 1))
    shapes = spec.state_shapes("batch")  # type: ignore[arg-type]  # the open batch axis, by name
    state = None
    if initial_state:
        parts = []
        for part, shape in shapes.items():
            inputs.append(helper.make_tensor_value_info(f"{part}0", elem, list(shape)))
            parts.append(Value(ops, f"{part}0", shape))
        state = tuple(parts) if len(parts) > 1 else parts[0]
    arrays = weights.astype(dtype)
    params = {name: Value(ops, None, arrays[name].shape, arrays[name], base=name) for name in arrays}
    # a linear form step by step in the Scan: the graph's T is open, so no blocked scan over it
    seq, final, last = cell_forward(spec, ops, params.get, x, state, mask, False, scan="sequential")
    out = last if spec.output_mode == "last" else seq
    if spec.output_size is not None:
        out = ops.linear(out, params["head.weight"], params["head.bias"])
        if spec.output_mode == "sequence" and mask is not None:
            out = out * (ops.swap01(mask) if spec.batch_first else mask)
    builder.node("Identity", [out.name], ["outputs"])
    outputs = [helper.make_tensor_value_info("outputs", elem, list(out.shape))]
    for part, value in zip(shapes, final if isinstance(final, tuple) else (final,), strict=True):
        builder.node("Identity", [value.name], [f"{part}_n"])
        outputs.append(helper.make_tensor_value_info(f"{part}_n", elem, list(shapes[part])))
    graph = helper.make_graph(builder.nodes, "seqnet", inputs, outputs, builder.initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="seqnet")
