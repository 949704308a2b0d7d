"""The "litert" converter: `.tflite` files in and out. Reads LiteRT's fused sequence operators, in seqnet's files
and in files other converters write; writes seqnet.export_tflite's files.

Requirements: ai-edge-litert (its flatbuffer schema; the Interpreter only to run a file) and numpy.

A file is read from its flatbuffer alone (nothing in it runs). Its main subgraph's UNIDIRECTIONAL_SEQUENCE_LSTM,
UNIDIRECTIONAL_SEQUENCE_RNN, BIDIRECTIONAL_SEQUENCE_LSTM and BIDIRECTIONAL_SEQUENCE_RNN operators are the
recurrent layers: a unidirectional operator whose input comes through a REVERSE_V2 is a reverse direction, a
bidirectional one holds both, and layers are counted along the chain from the graph's input (through
REVERSE_V2, TRANSPOSE and CONCATENATION). Weights are read as float32, int8 (times its scale) or float16 (behind a
DEQUANTIZE). LiteRT keeps one bias per gate: it reads as `bias_ih`, with `bias_hh` zero (the same function).
What the Spec cannot express is refused by name: a WHILE loop (seqnet's own files say which Spec they hold, but
their weights are spread through the loop's step), a CIFG LSTM (no input gate), layer-normalisation
coefficients, a projection bias, an auxiliary input, cell or projection clipping, an activation other than
tanh (relu for the RNN). A file seqnet wrote carries its Spec in its metadata ("seqnet.spec"): the head,
output_mode and batch_first come from there; for another converter's file, batch_first follows the
operators' time_major and no head is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from seqnet.errors import ConversionError
from seqnet.imported import Found, Imported, describe
from seqnet.io import SPEC_KEY, atomic_write
from seqnet.spec import Spec
from seqnet.weights import Weights

LSTM, RNN = "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN"
BI_LSTM, BI_RNN = "BIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_RNN"
SEQUENCE_OPS = (LSTM, RNN, BI_LSTM, BI_RNN)
REFUSED = {"WHILE": "a WHILE loop (seqnet reads LiteRT's fused sequence operators)",
           "LSTM": "the one-step LSTM operator"}  # fmt: skip


class _File:
    """A parsed .tflite: the model object, operator names by code index, and tensor reading."""

    def __init__(self, path: Path):
        from ai_edge_litert import schema_py_generated as schema

        self.schema = schema
        data = path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ConversionError(f"{str(path)!r} is not a LiteRT flatbuffer (no 'TFL3' identifier)")
        self.model = schema.ModelT.InitFromPackedBuf(data, 0)
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        self.ops = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "CUSTOM") for c in self.model.operatorCodes]
        self.graph = self.model.subgraphs[0]
        self.producer = {out: op for op in self.graph.operators for out in op.outputs}
        self.path = path

    def name(self, op: Any) -> str:
        return self.ops[op.opcodeIndex]

    def metadata(self) -> dict[str, bytes]:
        return {m.name.decode() if isinstance(m.name, bytes) else m.name: bytes(self.model.buffers[m.buffer].data)
                for m in self.model.metadata or []}  # fmt: skip

    def array(self, index: int, what: str) -> np.ndarray:
        """A constant tensor as float32: float32, int8 times its scale, or float16 behind a DEQUANTIZE."""
        tensor = self.graph.tensors[index]
        op = self.producer.get(index)
        if op is not None and self.name(op) == "DEQUANTIZE":
            return self.array(op.inputs[0], what)
        data = self.model.buffers[tensor.buffer].data
        if data is None or len(data) == 0:
            raise ConversionError(f"{str(self.path)!r}: {what} is computed in the graph, not stored: seqnet reads "
                                  "stored weights")  # fmt: skip
        types = {self.schema.TensorType.FLOAT32: np.float32, self.schema.TensorType.FLOAT16: np.float16,
                 self.schema.TensorType.INT8: np.int8}  # fmt: skip
        if tensor.type not in types:
            raise ConversionError(f"{str(self.path)!r}: {what} has tensor type {tensor.type}: seqnet reads float32, "
                                  "float16 and int8 weights")  # fmt: skip
        array = np.frombuffer(bytes(data), types[tensor.type]).reshape(tensor.shape).astype(np.float32)
        if tensor.type == self.schema.TensorType.INT8:
            q = tensor.quantization
            if q is None or q.scale is None or len(q.scale) != 1 or (q.zeroPoint is not None and any(q.zeroPoint)):
                raise ConversionError(f"{str(self.path)!r}: {what} is int8 without one symmetric scale")
            array = array * np.float32(q.scale[0])
        return array


def read_file(path: Any) -> Imported:
    """The Spec fields and canonical weights of the fused sequence operators a .tflite file holds."""
    file = _File(Path(path))
    source = repr(str(path))
    for op in file.graph.operators:
        if file.name(op) in REFUSED:
            raise ConversionError(f"{source} holds {REFUSED[file.name(op)]}; seqnet reads "
                                  f"{', '.join(SEQUENCE_OPS)}")  # fmt: skip
    layers, transposed = _layers(file, source)
    saved = file.metadata().get(SPEC_KEY)
    spec_json = json.loads(saved.decode()) if saved else None
    fields, arrays, found = _read_layers(file, layers, source)
    fields["batch_first"] = fields["batch_first"] != transposed  # a TRANSPOSE before a time-major stack
    if spec_json is not None:  # seqnet's own file: what the graph alone does not say
        for name in ("batch_first", "output_size", "output_mode", "bias", "dropout"):
            if name in spec_json:
                fields[name] = spec_json[name]
        if not spec_json.get("bias", True):
            arrays = {k: v for k, v in arrays.items() if not k.startswith("bias_")}
        if spec_json.get("output_size"):
            arrays.update(_head(file, spec_json["output_size"], source))
    return Imported(fields, arrays, f"the LiteRT file {source}", found)


def _layers(file: _File, source: str) -> tuple[list[list[tuple[int, Any]]], bool]:
    """The fused operators by layer, each layer's [(direction, op)] with the forward one first (a bidirectional
    operator twice), and whether the graph's input reaches the first layer transposed (TRANSPOSE)."""
    first_input = file.graph.inputs[0]
    depth: dict[int, int] = {}  # an operator's output tensor -> its layer
    transposed = [False]

    def origin(tensor: int) -> tuple[int, bool]:
        """(the layer the tensor comes from, -1 for the graph's input; whether it went through REVERSE_V2)."""
        if tensor == first_input:
            return -1, False
        op = file.producer.get(tensor)
        if op is None:
            raise ConversionError(f"{source}: a recurrent operator reads a tensor that is neither the graph's input "
                                  "nor a layer's output")  # fmt: skip
        if op.outputs[0] in depth:
            return depth[op.outputs[0]], False
        kind = file.name(op)
        if kind in ("REVERSE_V2", "TRANSPOSE"):
            layer, _ = origin(op.inputs[0])
            transposed[0] |= kind == "TRANSPOSE" and layer == -1
            return layer, kind == "REVERSE_V2"
        if kind == "CONCATENATION":
            return max(origin(t)[0] for t in op.inputs), False
        raise ConversionError(f"{source}: a recurrent operator's input comes through {kind}; seqnet reads layers "
                              "chained by REVERSE_V2, TRANSPOSE and CONCATENATION")  # fmt: skip

    layers: dict[int, list[tuple[int, Any]]] = {}
    for op in file.graph.operators:
        if file.name(op) not in SEQUENCE_OPS:
            continue
        below, reverse = origin(op.inputs[0])
        depth[op.outputs[0]] = below + 1
        pairs = [(0, op), (1, op)] if file.name(op) in (BI_LSTM, BI_RNN) else [(int(reverse), op)]
        layers.setdefault(below + 1, []).extend(pairs)
    if not layers:
        raise ConversionError(f"{source} holds no {', '.join(SEQUENCE_OPS)} operator")
    out = [sorted(layers[k], key=lambda pair: pair[0]) for k in sorted(layers)]
    directions = {tuple(d for d, _ in layer) for layer in out}
    if directions not in ({(0,)}, {(0, 1)}):
        raise ConversionError(f"{source}: its layers hold directions {sorted(directions)}; seqnet reads one forward "
                              "operator per layer, or a forward and a reverse one")  # fmt: skip
    return out, transposed[0]


def _read_layers(file: _File, layers: list[list[tuple[int, Any]]],
                 source: str) -> tuple[dict[str, Any], dict[str, np.ndarray], list[str]]:  # fmt: skip
    """Spec fields and canonical arrays of the layers' operators."""
    schema = file.schema
    kinds = {file.name(op).removeprefix("BI").removeprefix("UNI") for layer in layers for _, op in layer}
    if len(kinds) > 1:
        raise ConversionError(f"{source} mixes LSTM and RNN operators: one Spec has one cell")
    lstm = kinds == {"DIRECTIONAL_SEQUENCE_LSTM"}
    arrays: dict[str, np.ndarray] = {}
    found: list[str] = []
    fields: dict[str, Any] = {"cell": "lstm" if lstm else "rnn", "num_layers": len(layers),
                              "bidirectional": len(layers[0]) == 2}  # fmt: skip
    acts = {schema.ActivationFunctionType.TANH: "tanh", schema.ActivationFunctionType.RELU: "relu"}
    for k, layer in enumerate(layers):
        for d, op in layer:
            suffix = f"_l{k}{'_reverse' if d else ''}"
            opts = op.builtinOptions
            act = acts.get(opts.fusedActivationFunction)
            if act is None or (lstm and act != "tanh"):
                raise ConversionError(f"{source}: {file.name(op)} with fused activation {opts.fusedActivationFunction}"
                                      f"; seqnet reads {'tanh' if lstm else 'tanh and relu'}")  # fmt: skip
            fields["batch_first"] = not opts.timeMajor
            bi = file.name(op) in (BI_LSTM, BI_RNN)
            if bi and (len(op.inputs) > (39 if lstm else 9)) and any(i >= 0 for i in op.inputs[39 if lstm else 9 :]):
                raise ConversionError(f"{source}: {file.name(op)} with an auxiliary input; seqnet's layers have none")
            if not lstm:
                fields["activation"] = act
                at = 4 * d  # the reverse direction's W, R, b follow the forward one's and its state
                ins = op.inputs
                arrays[f"weight_ih{suffix}"] = file.array(ins[1 + at], "the input weights")
                arrays[f"weight_hh{suffix}"] = file.array(ins[2 + at], "the recurrent weights")
                arrays[f"bias_ih{suffix}"] = file.array(ins[3 + at], "the bias")
                arrays[f"bias_hh{suffix}"] = np.zeros_like(arrays[f"bias_ih{suffix}"])
            else:
                arrays.update(_lstm(file, op, suffix, source, fields, 17 * d, bi))
            found.append(f"{file.name(op)} {suffix[1:]}")
    fields["input_size"] = int(arrays["weight_ih_l0"].shape[1])
    fields["hidden_size"] = int(arrays["weight_hh_l0"].shape[0] // (4 if lstm else 1))
    return fields, arrays, found


def _lstm(file: _File, op: Any, suffix: str, source: str, fields: dict[str, Any], at: int = 0,
          bi: bool = False) -> dict[str, np.ndarray]:  # fmt: skip
    """One direction of a sequence LSTM operator: its 17 weight inputs from `at` + 1 (the reverse direction of a
    bidirectional one at 18)."""
    every = list(op.inputs) + [-1] * (48 - len(op.inputs))
    ins = [every[0], *every[1 + at : 18 + at], *([-1] * 6 if bi else every[18:24])]  # layer norm at 20-23 (uni)
    opts = op.builtinOptions
    for what, value in (("cell_clip", opts.cellClip), ("proj_clip", opts.projClip)):
        if value:
            raise ConversionError(f"{source}: {LSTM} with {what}={value}; seqnet's LSTM has no clipping")
    if ins[1] < 0:
        raise ConversionError(f"{source}: a CIFG {LSTM} (no input gate, the forget gate coupled to it); seqnet's LSTM "
                              "has an input gate")  # fmt: skip
    if any(i >= 0 for i in ins[20:24]):
        raise ConversionError(f"{source}: {LSTM} with layer-normalisation coefficients; seqnet's built-in LSTM has "
                              "none (a layer-normalised LSTM is a cell of your own)")  # fmt: skip
    if ins[17] >= 0:
        raise ConversionError(f"{source}: {LSTM} with a projection bias; proj_size's projection has none")
    out = {f"weight_ih{suffix}": np.concatenate([file.array(i, "an input weight") for i in ins[1:5]]),
           f"weight_hh{suffix}": np.concatenate([file.array(i, "a recurrent weight") for i in ins[5:9]]),
           f"bias_ih{suffix}": np.concatenate([file.array(i, "a gate bias") for i in ins[12:16]])}  # fmt: skip
    out[f"bias_hh{suffix}"] = np.zeros_like(out[f"bias_ih{suffix}"])
    peep = [i >= 0 for i in ins[9:12]]
    if any(peep) and not all(peep):
        raise ConversionError(f"{source}: {LSTM} with peepholes on some gates only; seqnet's are on all three")
    if all(peep):
        out[f"weight_peephole{suffix}"] = np.stack([file.array(i, "a peephole weight") for i in ins[9:12]])
        fields["peephole"] = True
    if ins[16] >= 0:
        out[f"weight_hr{suffix}"] = file.array(ins[16], "the projection weights")
        fields["proj_size"] = int(out[f"weight_hr{suffix}"].shape[0])
    return out


def _head(file: _File, size: int, source: str) -> dict[str, np.ndarray]:
    """The head of seqnet's file: its last FULLY_CONNECTED of `size` outputs."""
    for op in reversed(file.graph.operators):
        if file.name(op) == "FULLY_CONNECTED" and file.graph.tensors[op.inputs[1]].shape[0] == size:
            return {"head.weight": file.array(op.inputs[1], "the head's weights"),
                    "head.bias": file.array(op.inputs[2], "the head's bias")}  # fmt: skip
    raise ConversionError(f"{source}: its Spec has output_size={size} but no FULLY_CONNECTED of that size")


def write_file(path: Any, spec: Spec, weights: Weights, prefix: str = "", head: str = "head") -> None:
    """seqnet.export_tflite's file written to `path` atomically (prefix and head do not apply: a graph)."""
    from .export import export

    data = export(spec, weights)
    atomic_write(path, lambda handle: handle.write(data))


def run_file(path: Any, spec: Spec, prefix: str, head: str | None, x: np.ndarray) -> np.ndarray:
    """The file run by LiteRT's Interpreter from a zero state: its first output."""
    from ai_edge_litert.interpreter import Interpreter

    from .model import quiet_stderr

    it = Interpreter(model_path=str(path))
    x = np.asarray(x, np.float32)
    batch = x.shape[0] if spec.batch_first else x.shape[1]
    details = it.get_input_details()
    for d in details:
        it.resize_tensor_input(d["index"], list(x.shape) if d is details[0] else [batch, *d["shape"][1:]])
    with quiet_stderr(True):
        it.allocate_tensors()
    it.set_tensor(details[0]["index"], x)
    for d in details[1:]:
        it.set_tensor(d["index"], np.zeros([batch, *d["shape"][1:]], np.float32))
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def inventory(path: Any) -> tuple[list[Found], list[str]]:
    """The recurrent operators a .tflite file holds, the Spec read from them (or why there is none), and the
    file's other operators; nothing in the file runs."""
    file = _File(Path(path))
    counts: dict[str, int] = {}
    for op in file.graph.operators:
        counts[file.name(op)] = counts.get(file.name(op), 0) + 1
    recurrent = [f"{name} x{n}" for name, n in counts.items() if name in (*SEQUENCE_OPS, *REFUSED)]
    other = [f"{name} x{n}" for name, n in counts.items() if name not in (*SEQUENCE_OPS, *REFUSED)]
    try:
        imported = read_file(path)
        spec = Spec(**imported.fields)
        return [Found("model", ", ".join(recurrent), spec, describe(imported.arrays))], other
    except (ConversionError, ValueError) as exc:
        return [Found("model", ", ".join(recurrent) or "main subgraph", None, recurrent, str(exc))], other


def from_framework(obj: Any, params: Any = None, head: Any = None) -> Imported:
    raise ConversionError("LiteRT models are read from their .tflite file: seqnet.from_framework('model.tflite')")


def to_framework(spec: Spec, weights: Weights, into: Any = None, **options: Any) -> Any:
    """LiteRT's own object for the spec: an ai-edge-litert Interpreter over seqnet.export_tflite's file."""
    from ai_edge_litert.interpreter import Interpreter

    from .export import export

    return Interpreter(model_content=export(spec, weights, **options))
