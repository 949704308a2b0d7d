"""A LiteRT (TensorFlow Lite) model written without TensorFlow: the flatbuffer through the schema's object API
that ai-edge-litert ships (`ai_edge_litert.schema_py_generated`), and seqnet.generic's ops as LiteRT operators.

Requirements: ai-edge-litert (its schema module and flatbuffers) and numpy.

`Writer` holds the model: its buffers (one per constant), operator codes and subgraphs. `Subgraph` holds one
subgraph's tensors and operators; a tensor's open dims (batch, steps) are written as 1 in `shape` and -1 in
`shape_signature`, so `Interpreter.resize_tensor_input` takes any size.

`LiteOps` gives seqnet.generic's `cell_forward` `Value`s instead of arrays, as backends/onnx/cells.py does for
ONNX: each op appends builtin operators to the subgraph being traced. A constant (a weight, a number) is a
Value with its array, written into whichever subgraph reads it (LiteRT subgraphs see no outer scope), and
sliced or transposed in NumPy. `ops.scan` is a WHILE loop whose body is the traced step: the body reads x_t by
GATHER at the step's index (counted down for the reverse direction) and writes y_t into a preallocated
(T, B, F) buffer by DYNAMIC_UPDATE_SLICE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from seqnet.generic import GraphOps, broadcast_shape, flatten, unflatten

Op = schema.BuiltinOperator
Opt = schema.BuiltinOptions
TYPES = {np.dtype("float32"): schema.TensorType.FLOAT32, np.dtype("int32"): schema.TensorType.INT32,
         np.dtype("bool"): schema.TensorType.BOOL, np.dtype("int8"): schema.TensorType.INT8,
         np.dtype("float16"): schema.TensorType.FLOAT16}  # fmt: skip
QUANTIZE = (None, "int8", "float16")  # how weight matrices are stored (export_tflite's quantize=)
OPEN = ("batch", "steps")  # the names of the open dims in a Value's shape


class Writer:
    """A LiteRT model being written: buffers (0 is the empty one every non-constant tensor points at), operator
    codes and subgraphs (0 is the main one)."""

    def __init__(self, description: str):
        self.description = description
        self.buffers: list[Any] = [schema.BufferT()]
        self.written: dict[int, tuple[np.ndarray, int]] = {}  # id of an array -> (the array, its buffer)
        self.codes: list[int] = []
        self.subgraphs: list[Subgraph] = []

    def subgraph(self, name: str) -> Subgraph:
        graph = Subgraph(self, name, len(self.subgraphs))
        self.subgraphs.append(graph)
        return graph

    def buffer(self, array: np.ndarray) -> int:
        """The buffer holding `array`: one per array, however many subgraphs read it."""
        if id(array) in self.written:
            return self.written[id(array)][1]
        buffer = schema.BufferT()
        buffer.data = np.ascontiguousarray(array).tobytes()
        self.buffers.append(buffer)
        self.written[id(array)] = (array, len(self.buffers) - 1)  # the array kept: its id stays its own
        return len(self.buffers) - 1

    def code(self, op: int) -> int:
        if op not in self.codes:
            self.codes.append(op)
        return self.codes.index(op)

    def to_bytes(self, metadata: dict[str, bytes] | None = None) -> bytes:
        model = schema.ModelT()
        model.version, model.description, model.buffers = 3, self.description, self.buffers
        codes = []
        for op in self.codes:
            code = schema.OperatorCodeT()
            code.builtinCode, code.deprecatedBuiltinCode, code.version = op, min(op, 127), 1
            codes.append(code)
        model.operatorCodes = codes
        model.subgraphs = [g.to_schema() for g in self.subgraphs]
        entries = []
        for name, data in (metadata or {}).items():
            entry = schema.MetadataT()
            entry.name, entry.buffer = name, self.buffer(np.frombuffer(data, np.uint8))
            entries.append(entry)
        model.metadata = entries or None
        builder = flatbuffers.Builder(1 << 16)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


class Subgraph:
    """One subgraph: tensors (by index), its inputs and outputs, its operators in execution order."""

    def __init__(self, writer: Writer, name: str, index: int):
        self.writer, self.name, self.index = writer, name, index
        self.tensors: list[Any] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.operators: list[Any] = []
        self.constants: dict[int, int] = {}  # id of a Value's array -> its tensor here

    def tensor(self, shape: Sequence[Any], dtype: Any = np.float32, name: str | None = None,
               data: np.ndarray | None = None, variable: bool = False, scale: float | None = None) -> int:  # fmt: skip
        t = schema.TensorT()
        t.name = name or f"t{len(self.tensors)}"
        t.type = TYPES[np.dtype(dtype)]
        t.shape = [d if isinstance(d, int) else 1 for d in shape]
        if any(not isinstance(d, int) for d in shape):
            t.shapeSignature = [d if isinstance(d, int) else -1 for d in shape]
        t.buffer = (
            0 if data is None else self.writer.buffer(data if data.dtype == np.dtype(dtype) else data.astype(dtype))
        )
        t.isVariable = variable
        if scale is not None:  # symmetric int8: value = scale * q
            t.quantization = options(schema.QuantizationParametersT, scale=[scale], zeroPoint=[0])
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, op: int, inputs: Sequence[int], outputs: Sequence[int], kind: int = 0, options: Any = None) -> None:
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.writer.code(op), list(inputs), list(outputs)
        o.builtinOptionsType, o.builtinOptions = kind, options
        self.operators.append(o)

    def to_schema(self) -> Any:
        g = schema.SubGraphT()
        g.name, g.tensors, g.inputs, g.outputs, g.operators = (self.name, self.tensors, self.inputs, self.outputs,
                                                                self.operators)  # fmt: skip
        return g


def options(cls: Callable[[], Any], **fields: Any) -> Any:
    """A schema options object with `fields` set (the object API's names: fusedActivationFunction, ...)."""
    made = cls()
    for name, value in fields.items():
        setattr(made, name, value)
    return made


class Value:
    """A tensor of the subgraph being traced (`index` in `graph`), its shape (ints, or "batch"/"steps" for the
    open dims) and dtype; a constant has its `array` and is written into each subgraph that reads it."""

    __array_priority__ = 1000  # numpy scalars defer to Value's operators

    def __init__(self, ops: LiteOps, graph: Subgraph | None, index: int | None, shape: Sequence[Any],
                 dtype: Any = np.float32, array: np.ndarray | None = None, scale: float | None = None):  # fmt: skip
        self.ops, self.graph, self.index, self.shape = ops, graph, index, tuple(shape)
        self.dtype, self.array, self.scale = np.dtype(dtype), array, scale

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"Value(shape={self.shape}, {'constant' if self.array is not None else self.index})"

    def _binary(self, op: int, other: Any, swap: bool = False, dtype: Any = None, kind: int = 0,
                opts: Any = None) -> Value:  # fmt: skip
        if not isinstance(other, Value):  # a Python number: a constant of this value's dtype
            other = self.ops.constant(other, np.float32 if self.dtype == bool else self.dtype)
        a, b = (other, self) if swap else (self, other)
        return self.ops.emit(op, [a, b], broadcast_shape(a.shape, b.shape), dtype or a.dtype, kind, opts)

    def __add__(self, other: Any) -> Value:
        return self._binary(Op.ADD, other)

    def __radd__(self, other: Any) -> Value:
        return self._binary(Op.ADD, other, swap=True)

    def __sub__(self, other: Any) -> Value:
        return self._binary(Op.SUB, other)

    def __rsub__(self, other: Any) -> Value:
        return self._binary(Op.SUB, other, swap=True)

    def __mul__(self, other: Any) -> Value:
        return self._binary(Op.MUL, other)

    def __rmul__(self, other: Any) -> Value:
        return self._binary(Op.MUL, other, swap=True)

    def __truediv__(self, other: Any) -> Value:
        return self._binary(Op.DIV, other)

    def __rtruediv__(self, other: Any) -> Value:
        return self._binary(Op.DIV, other, swap=True)

    def __pow__(self, other: Any) -> Value:
        return self._binary(Op.POW, other)

    def __neg__(self) -> Value:
        return self.ops.emit(Op.NEG, [self], self.shape)

    def __gt__(self, other: Any) -> Value:
        return self._binary(Op.GREATER, other, dtype=bool)

    def __lt__(self, other: Any) -> Value:
        return self._binary(Op.LESS, other, dtype=bool)

    def __getitem__(self, index: Any) -> Value:
        return self.ops.index(self, index)


class LiteOps(GraphOps):
    """seqnet.generic's ops building LiteRT operators (the module docstring says how)."""

    UNARY = {"sigmoid": Op.LOGISTIC, "tanh": Op.TANH, "relu": Op.RELU, "exp": Op.EXP, "log": Op.LOG, "abs": Op.ABS,
             "sqrt": Op.SQRT}  # fmt: skip

    def __init__(self, writer: Writer, graph: Subgraph, quantize: str | None = None):
        self.writer, self.g, self.quantize = writer, graph, quantize

    # -- values ---------------------------------------------------------------------------------------------
    def constant(self, array: Any, dtype: Any = np.float32) -> Value:
        array = np.asarray(array, dtype)
        return Value(self, None, None, array.shape, dtype, array)

    def as_value(self, value: Any) -> Value:
        return value if isinstance(value, Value) else self.constant(value)

    def ref(self, value: Any) -> int:
        """The index of `value` in the subgraph being traced (a constant written there on first use)."""
        value = self.as_value(value)
        if value.array is not None:
            key = id(value.array)
            if key not in self.g.constants:
                self.g.constants[key] = self.g.tensor(value.shape, value.dtype, data=value.array, scale=value.scale)
            return self.g.constants[key]
        if value.graph is not self.g or value.index is None:
            raise ValueError("litert: a step reads a computed value from outside its WHILE body; pass it as a "
                             "scanned input or compute it in the step")  # fmt: skip
        return value.index

    def emit(self, op: int, inputs: Sequence[Any], shape: Sequence[Any], dtype: Any = np.float32, kind: int = 0,
             opts: Any = None) -> Value:  # fmt: skip
        refs = [-1 if v is None else self.ref(v) for v in inputs]
        out = self.g.tensor(shape, dtype)
        self.g.op(op, refs, [out], kind, opts)
        return Value(self, self.g, out, shape, dtype)

    def ints(self, values: Sequence[int]) -> Value:
        return self.constant(np.asarray(values, np.int32), np.int32)

    def shape_of(self, x: Value) -> Value:
        return self.emit(Op.SHAPE, [x], (x.ndim,), np.int32, Opt.ShapeOptions,
                         options(schema.ShapeOptionsT, outType=schema.TensorType.INT32))  # fmt: skip

    def dim(self, x: Value, axis: int) -> Value:
        """x's size along `axis` as an int32 scalar."""
        if isinstance(x.shape[axis], int):
            return self.constant(np.int32(x.shape[axis]), np.int32)
        return self.emit(Op.GATHER, [self.shape_of(x), self.constant(np.int32(axis), np.int32)], (), np.int32,
                         Opt.GatherOptions, options(schema.GatherOptionsT, axis=0))  # fmt: skip

    def weight(self, w: Value) -> Value:
        """A weight matrix as `quantize` stores it: float32 as it is; "int8" symmetric per tensor (LiteRT's
        hybrid kernels multiply it with float inputs); "float16" with a DEQUANTIZE to float32 where it is read."""
        if w.array is None or w.ndim != 2 or w.dtype != np.float32 or self.quantize is None:
            return w
        if self.quantize == "int8":
            scale = float(np.abs(w.array).max()) / 127 or 1.0
            q = np.clip(np.round(w.array / scale), -127, 127).astype(np.int8)
            return Value(self, None, None, w.shape, np.int8, q, scale)
        half = self.constant(w.array.astype(np.float16), np.float16)
        return self.emit(Op.DEQUANTIZE, [half], w.shape)

    # -- the ops a cell's step gets ----------------------------------------------------------------------
    def linear(self, x: Value, w: Value, b: Value | None) -> Value:
        """FULLY_CONNECTED with W in PyTorch's (out, in) layout, as LiteRT wants it; any leading dims kept."""
        w = self.weight(w)
        fc = options(schema.FullyConnectedOptionsT, keepNumDims=True)
        return self.emit(Op.FULLY_CONNECTED, [x, w, b], (*x.shape[:-1], w.shape[0]), np.float32,
                         Opt.FullyConnectedOptions, fc)  # fmt: skip

    def transpose(self, w: Value) -> Value:
        if w.array is not None:
            return self.constant(w.array.T)
        return self.emit(Op.TRANSPOSE, [w, self.ints([1, 0])], (w.shape[1], w.shape[0]))

    def matmul(self, a: Value, b: Value) -> Value:
        if b.array is not None and b.ndim == 2:  # a weight: FULLY_CONNECTED takes it as (out, in)
            return self.linear(a, self.constant(b.array.T), None)
        return self.emit(Op.BATCH_MATMUL, [a, b], (*a.shape[:-1], b.shape[-1]))

    def _unary(self, op: int) -> Callable[[Value], Value]:
        return lambda x: self.emit(op, [x], self.as_value(x).shape)

    def maximum(self, a: Any, b: Any) -> Value:
        return self.as_value(a)._binary(Op.MAXIMUM, b)

    def minimum(self, a: Any, b: Any) -> Value:
        return self.as_value(a)._binary(Op.MINIMUM, b)

    def mean(self, x: Value) -> Value:
        return self.emit(Op.MEAN, [x, self.ints([x.ndim - 1])], (*x.shape[:-1], 1), np.float32, Opt.ReducerOptions,
                         options(schema.ReducerOptionsT, keepDims=True))  # fmt: skip

    def split(self, x: Value, n: int) -> list[Value]:
        if x.array is not None:
            return [self.constant(part) for part in np.split(x.array, n, axis=-1)]
        shape = (*x.shape[:-1], x.shape[-1] // n)
        outs = [self.g.tensor(shape) for _ in range(n)]
        self.g.op(Op.SPLIT, [self.ref(self.constant(np.int32(x.ndim - 1), np.int32)), self.ref(x)], outs,
                  Opt.SplitOptions, options(schema.SplitOptionsT, numSplits=n))  # fmt: skip
        return [Value(self, self.g, i, shape) for i in outs]

    def _concat(self, xs: Sequence[Any], axis: int) -> Value:
        xs = [self.as_value(v) for v in xs]
        if len(xs) == 1:
            return xs[0]
        shape = list(xs[0].shape)
        sizes = [v.shape[axis] for v in xs]
        shape[axis] = sum(sizes) if all(isinstance(s, int) for s in sizes) else "steps"
        return self.emit(Op.CONCATENATION, xs, shape, xs[0].dtype, Opt.ConcatenationOptions,
                         options(schema.ConcatenationOptionsT, axis=axis))  # fmt: skip

    def concat(self, xs: Sequence[Any]) -> Value:
        return self._concat(xs, self.as_value(xs[0]).ndim - 1)

    def concat0(self, xs: Sequence[Any]) -> Value:
        return self._concat(xs, 0)

    def where(self, m: Any, a: Any, b: Any) -> Value:
        m, a, b = self.as_value(m), self.as_value(a), self.as_value(b)
        return self.emit(Op.SELECT_V2, [m, a, b], broadcast_shape(broadcast_shape(m.shape, a.shape), b.shape))

    def stack(self, xs: Sequence[Value]) -> Value:
        xs = [self.as_value(v) for v in xs]
        return self.emit(Op.PACK, xs, (len(xs), *xs[0].shape), xs[0].dtype, Opt.PackOptions,
                         options(schema.PackOptionsT, valuesCount=len(xs), axis=0))  # fmt: skip

    def unstack(self, x: Value) -> list[Value]:
        if not isinstance(x.shape[0], int):
            raise ValueError("litert: unstack needs a known first axis (a scan over an open T is a WHILE loop)")
        outs = [self.g.tensor(x.shape[1:], x.dtype) for _ in range(x.shape[0])]
        self.g.op(Op.UNPACK, [self.ref(x)], outs, Opt.UnpackOptions,
                  options(schema.UnpackOptionsT, num=x.shape[0], axis=0))  # fmt: skip
        return [Value(self, self.g, i, x.shape[1:], x.dtype) for i in outs]

    def swap01(self, x: Value) -> Value:
        perm = [1, 0, *range(2, x.ndim)]
        return self.emit(Op.TRANSPOSE, [x, self.ints(perm)], tuple(x.shape[i] for i in perm), x.dtype)

    def zeros(self, shape: tuple[Any, ...], like: Value) -> Value:
        """Zeros of `shape`; an open dim takes its size from the dim of `like` that has the same name."""
        if all(isinstance(n, int) for n in shape):
            return self.constant(np.zeros(shape, np.float32))
        dims = [self.constant(np.int32(n), np.int32) if isinstance(n, int) else self.dim(like, like.shape.index(n))
                for n in shape]  # fmt: skip
        size = self.emit(Op.PACK, dims, (len(shape),), np.int32, Opt.PackOptions,
                         options(schema.PackOptionsT, valuesCount=len(dims), axis=0))  # fmt: skip
        return self.emit(Op.FILL, [size, self.constant(np.float32(0))], shape)

    def dropout(self, x: Value, rate: float) -> Value:  # inference graphs: dropout is off
        return x

    def index(self, x: Value, index: Any) -> Value:
        """x[k] (an int on the first axis, which it removes) or slices of step 1, `...` allowed: NumPy for a
        constant, else STRIDED_SLICE (a negative k counts from the end, as NumPy's)."""
        if x.array is not None:
            return self.constant(x.array[index])
        items = index if isinstance(index, tuple) else (index,)
        if Ellipsis in items:
            at = items.index(Ellipsis)
            items = items[:at] + (slice(None),) * (x.ndim - len(items) + 1) + items[at + 1 :]
        items = items + (slice(None),) * (x.ndim - len(items))
        begin, end, begin_mask, end_mask, shrink, shape = [], [], 0, 0, 0, []
        for axis, item in enumerate(items):
            n = x.shape[axis]
            if isinstance(item, int):
                begin.append(item)
                end.append(item + 1 if item != -1 else 0)
                end_mask |= (1 << axis) if item == -1 else 0
                shrink |= 1 << axis
                continue
            if item.step not in (None, 1):
                raise TypeError(f"LiteRT values take ints and slices of step 1 as indices, not {item!r}")
            begin.append(item.start or 0)
            end.append(item.stop or 0)
            begin_mask |= (1 << axis) if item.start is None else 0
            end_mask |= (1 << axis) if item.stop is None else 0
            shape.append(len(range(n)[item]) if isinstance(n, int) else n)
        return self.emit(Op.STRIDED_SLICE, [x, self.ints(begin), self.ints(end), self.ints([1] * x.ndim)], shape,
                         x.dtype, Opt.StridedSliceOptions,
                         options(schema.StridedSliceOptionsT, beginMask=begin_mask, endMask=end_mask,
                                 shrinkAxisMask=shrink))  # fmt: skip

    # -- the loop -------------------------------------------------------------------------------------------
    def scan(self, body: Callable[..., Any], carry: Any, xs: Any, reverse: bool) -> tuple[Any, Any]:
        """lax.scan's contract as one WHILE: loop variables (t, T, carry..., xs..., ys...), the body traced on a
        subgraph of its own, x_t gathered at t (T-1-t reversed), y_t written into ys at the same index.

        LiteRT's WHILE copies every loop variable from the body's outputs to its inputs on every step (and
        DYNAMIC_UPDATE_SLICE writes a whole new ys), so a step costs O(T) memory traffic and the loop O(T^2):
        measured (GRU, B 64, I 128, H 256, 2 CPU threads) 80 ms at T 100, 437 at 200, 2,010 at 400. Carrying x
        instead of the input products (a precompute in each step) measured slower at every T."""
        carry_leaves, carry_tree = flatten(carry)
        x_leaves, x_tree = flatten(xs)
        carry_leaves = [self.as_value(v) for v in carry_leaves]
        steps = self.dim(x_leaves[0], 0)
        outer = self.g
        cond, loop = self.writer.subgraph("while_cond"), self.writer.subgraph("while_body")
        # the body first, on its own inputs: its y_t's shapes size the buffers the outer graph allocates
        self.g = loop
        try:
            t_in, n_in = loop.tensor((), np.int32), loop.tensor((), np.int32)
            inner_carry = [Value(self, loop, loop.tensor(v.shape, v.dtype), v.shape, v.dtype) for v in carry_leaves]
            inner_x = [Value(self, loop, loop.tensor(v.shape, v.dtype), v.shape, v.dtype) for v in x_leaves]
            t, n = Value(self, loop, t_in, (), np.int32), Value(self, loop, n_in, (), np.int32)
            at = (n - 1) - t if reverse else t
            x_t = [self.emit(Op.GATHER, [v, at], v.shape[1:], v.dtype, Opt.GatherOptions,
                             options(schema.GatherOptionsT, axis=0)) for v in inner_x]  # fmt: skip
            new_carry, y = body(unflatten(carry_tree, inner_carry), unflatten(x_tree, x_t))
            new_leaves, new_tree = flatten(new_carry)
            y_leaves, y_tree = flatten(y)
            new_leaves = [self.as_value(v) for v in new_leaves]
            y_leaves = [self.as_value(v) for v in y_leaves]
            inner_ys = [Value(self, loop, loop.tensor(("steps", *v.shape)), ("steps", *v.shape)) for v in y_leaves]
            written = []
            for buffer, y_t in zip(inner_ys, y_leaves, strict=True):
                start = self.stack([at] + [self.constant(np.int32(0), np.int32)] * y_t.ndim)
                row = self.emit(Op.EXPAND_DIMS, [y_t, self.constant(np.int32(0), np.int32)], (1, *y_t.shape))
                written.append(self.emit(Op.DYNAMIC_UPDATE_SLICE, [buffer, row, start], buffer.shape))
            loop.inputs = [t_in, n_in] + [self.ref(v) for v in inner_carry + inner_x + inner_ys]
            loop.outputs = [self.ref(t + self.constant(np.int32(1), np.int32)), n_in]
            loop.outputs += [self.ref(v) for v in new_leaves + inner_x + written]
        finally:
            self.g = outer
        # the condition: t < T
        cond_inputs = [cond.tensor((), np.int32), cond.tensor((), np.int32)]
        cond_inputs += [cond.tensor(v.shape, v.dtype) for v in carry_leaves + x_leaves]
        cond_inputs += [cond.tensor(v.shape) for v in inner_ys]
        less = cond.tensor((), bool)
        cond.op(Op.LESS, cond_inputs[:2], [less])
        cond.inputs, cond.outputs = cond_inputs, [less]
        # the loop in the outer graph, from t = 0 and zero-filled buffers (T, B, F)
        buffers = [self.zeros(("steps", *v.shape), x_leaves[0]) for v in y_leaves]  # xs: (steps, batch, ...)
        loop_in = [self.constant(np.int32(0), np.int32), steps, *carry_leaves, *x_leaves, *buffers]
        out_values = [Value(self, outer, outer.tensor(v.shape, v.dtype), v.shape, v.dtype)
                      for v in [loop_in[0], loop_in[1], *new_leaves, *x_leaves, *buffers]]  # fmt: skip
        outer.op(Op.WHILE, [self.ref(v) for v in loop_in], [self.ref(v) for v in out_values], Opt.WhileOptions,
                 options(schema.WhileOptionsT, condSubgraphIndex=cond.index, bodySubgraphIndex=loop.index))  # fmt: skip
        finals = out_values[2 : 2 + len(new_leaves)]
        ys = out_values[2 + len(new_leaves) + len(x_leaves) :]
        return unflatten(new_tree, finals), unflatten(y_tree, ys)
