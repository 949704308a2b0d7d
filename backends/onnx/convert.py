"""ONNX files and models to and from seqnet: import of RNN, LSTM and GRU nodes, export, and `.onnx` files.

Requirements: onnx; onnxruntime to run a file (`run_file`, `seqnet convert`'s parity report).

Import reads the standard RNN/LSTM/GRU nodes as `torch.onnx.export`, tf2onnx and `seqnet.export_onnx` write
them: weights as initializers or Constant nodes, several nodes chained as layers (the first node's input
after a Transpose (1, 0, 2) of the graph's input means batch_first). Gate blocks are reordered from ONNX's
(LSTM i, o, f, c; GRU z, r, h) into the canonical ones, `B` (D, 2*G*H) split into bias_ih and bias_hh,
`linear_before_reset` 0 read as the reset-before GRU, an LSTM's peepholes `P` (D, 3*H), rows (i, o, f), as
`peephole=True` with `weight_peephole_l{k}` rows (i, f, o). Refused by name: `clip`, `input_forget`,
activations other than the defaults (and Tanh, Relu, Sigmoid for RNN), `activation_alpha` and
`activation_beta`, `layout=1`, a lone `direction="reverse"`, nodes that differ from each other.

A file `seqnet.export_onnx` wrote carries its Spec in the model's metadata ("seqnet.spec"): batch_first,
the head and its mode, and the projected LSTM (a Scan, see scan.py) come back from it; other files give the
recurrent layers (pass what the graph cannot hold, such as output_mode, as Spec fields).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, import_framework
from seqnet.imported import Found, Imported, canonical_float, describe
from seqnet.io import SPEC_KEY, atomic_write
from seqnet.spec import Spec
from seqnet.weights import Weights

from .export import OPS, export, from_onnx_order

_CELLS = {op: cell for cell, op in OPS.items()}
_DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
_RNN_ACTIVATIONS = {"Tanh": "tanh", "Relu": "relu", "Sigmoid": "sigmoid"}


def _onnx() -> Any:
    return import_framework("onnx", "ONNX files need onnx: pip install 'seqnet[onnx]'")


def _model_proto(obj: Any) -> tuple[Any, str]:
    onnx = _onnx()
    if isinstance(obj, (str, os.PathLike)):
        try:
            return onnx.load(os.fspath(obj)), repr(str(obj))
        except Exception as exc:  # onnx raises DecodeError and others by cause
            raise ConversionError(f"{str(obj)!r} is not an ONNX model: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, onnx.ModelProto):
        return obj, "the ONNX model"
    raise ConversionError(
        f"from_framework reads an onnx.ModelProto or a path to a .onnx file, not a {type(obj).__name__}"
    )


class _Graphs:
    """Every graph of a model (the main graph, If branches, Loop and Scan bodies): the values stored in them
    (initializers, Constant nodes), which node makes each other value, and the recurrent nodes with their
    qualified names ("/If[then_branch]/cell/LSTM"). A weight a branch computes from stored values (the Slice and
    Concat chains torch.onnx.export writes to reorder gates) is evaluated by ONNX's reference evaluator."""

    def __init__(self, onnx: Any, graph: Any, source: str):
        from onnx import numpy_helper

        self.onnx, self.source = onnx, source
        self.values: dict[str, np.ndarray] = {}
        self.producers: dict[str, Any] = {}
        self.recurrent: list[tuple[str, Any, bool]] = []  # (qualified name, node, in the main graph)
        self.others: dict[str, int] = {}  # every other operator, counted

        def walk(g: Any, where: str) -> None:
            self.values.update({init.name: numpy_helper.to_array(init) for init in g.initializer})
            for index, node in enumerate(g.node):
                own = node.name or f"{node.op_type}_{index}"
                name = f"{where}{'' if own.startswith('/') or not where else '/'}{own}"
                if node.op_type == "Constant":
                    for attr in node.attribute:
                        if attr.name == "value":
                            self.values[node.output[0]] = numpy_helper.to_array(attr.t)
                self.producers.update({out: node for out in node.output})
                if node.op_type in _CELLS:
                    self.recurrent.append((name, node, not where))
                else:
                    self.others[node.op_type] = self.others.get(node.op_type, 0) + 1
                for attr in node.attribute:
                    if attr.type == onnx.AttributeProto.GRAPH:
                        walk(attr.g, f"{name}[{attr.name}]")

        walk(graph, "")

    def value(self, name: str, where: str) -> np.ndarray:
        """A stored value, or one computed from stored values alone; an error if it depends on a graph input."""
        if name in self.values:
            return self.values[name]
        nodes, seen, stack = [], set(), [name]
        while stack:
            wanted = stack.pop()
            if wanted in seen or wanted in self.values or not wanted:
                continue
            seen.add(wanted)
            node = self.producers.get(wanted)
            if node is None:
                raise ConversionError(f"{where}: its {name!r} is computed from the graph's input {wanted!r}, not from "
                                      "stored weights")  # fmt: skip
            nodes.append(node)
            stack.extend(node.input)
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator

        needed = {i for node in nodes for i in node.input if i in self.values}
        unique = list({id(n): n for n in reversed(nodes)}.values())
        graph = helper.make_graph(unique, "weights", [], [helper.make_tensor_value_info(name, 0, None)],
                                  [numpy_helper.from_array(self.values[i], i) for i in sorted(needed)])  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        try:
            outputs: Any = ReferenceEvaluator(model).run(None, {})  # a list of arrays (typed loosely)
            computed = np.asarray(outputs[0])
        except Exception as exc:  # the reference evaluator raises by cause
            raise ConversionError(f"{where}: its {name!r} could not be evaluated from stored weights "
                                  f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
        self.values[name] = computed
        return computed


def from_framework(obj: Any, params: Any = None, head: Any = None, node: str | None = None) -> Imported:
    """The Spec fields and canonical arrays of the RNN/LSTM/GRU nodes of an ONNX model (or file): the main
    graph's nodes chained as layers, or one node (`node`, by name; needed where several distinct ones sit in
    subgraphs) as a one-layer Spec."""
    onnx = _onnx()

    if params is not None or head is not None:
        raise ConversionError("params= and head= do not apply to an ONNX model")
    model, source = _model_proto(obj)
    graph = model.graph
    graphs = _Graphs(onnx, graph, source)
    values = graphs.values
    meta = {p.key: p.value for p in model.metadata_props}
    stored = Spec.from_json(meta[SPEC_KEY]) if SPEC_KEY in meta and node is None else None
    chosen = _chosen(graphs, node, source)
    nodes = [n for _, n in chosen]
    # a node read alone (named, or the one in subgraphs): the parity report runs it alone, by this name
    alone = chosen[0][0] if chosen and (node is not None or not any(top for *_, top in graphs.recurrent)) else ""
    if stored is not None and stored.proj_size and not stored.peephole:
        return _from_seqnet_scan(stored, values, source)
    if stored is not None and (not stored.builtin or stored.proj_size):  # cells.py's Scans: canonical names
        from seqnet.weights import layout

        missing = [name for name in layout(stored) if name not in values]
        if missing:
            raise ConversionError(f"{source}: its seqnet metadata names cell {stored.cell!r}, but it has no "
                                  f"initializer {missing[0]!r}")  # fmt: skip
        found = {name: canonical_float(values[name]) for name in layout(stored)}
        return Imported(stored.to_dict(), found, source, describe(found))
    if not nodes:
        raise ConversionError(f"{source} holds no RNN, LSTM or GRU node")
    settings = [_node_settings(onnx, n, graphs, source) for n in nodes]
    for index, s in enumerate(settings[1:], 1):
        for key in ("cell", "hidden_size", "bidirectional", "activation", "gru_variant", "bias", "peephole"):
            if s[key] != settings[0][key]:
                raise ConversionError(
                    f"{source}: node {nodes[index].name or index} has {key}={s[key]!r} where the first "
                    f"has {settings[0][key]!r}: a seqnet Spec stacks equal layers"
                )
    first = settings[0]
    fields: dict[str, Any] = {**_layer_fields(first), "num_layers": len(nodes), "proj_size": 0,
                              "batch_first": _batch_first(graphs, nodes[0])}  # fmt: skip
    arrays: dict[str, np.ndarray] = {}
    for k, s in enumerate(settings):
        gh = s["W"].shape[1]
        for d, suffix in enumerate(("", "_reverse")[: 2 if s["bidirectional"] else 1]):
            arrays[f"weight_ih_l{k}{suffix}"] = from_onnx_order(s["W"][d], s["cell"])
            arrays[f"weight_hh_l{k}{suffix}"] = from_onnx_order(s["R"][d], s["cell"])
            if s["B"] is not None:
                arrays[f"bias_ih_l{k}{suffix}"] = from_onnx_order(s["B"][d][:gh], s["cell"])
                arrays[f"bias_hh_l{k}{suffix}"] = from_onnx_order(s["B"][d][gh:], s["cell"])
            if s["P"] is not None:  # ONNX's rows (i, o, f) -> canonical (i, f, o)
                arrays[f"weight_peephole_l{k}{suffix}"] = s["P"][d].reshape(3, -1)[[0, 2, 1]]
    if stored is not None:  # seqnet's own file: what the graph cannot say, and the head
        fields.update(batch_first=stored.batch_first, output_mode=stored.output_mode, dropout=stored.dropout)
        if stored.output_size is not None:
            fields["output_size"] = stored.output_size
            arrays["head.weight"] = np.ascontiguousarray(_named(values, "head_weight", source).T)
            arrays["head.bias"] = _named(values, "head_bias", source)
    return Imported(fields, arrays, source, describe(arrays), alone)


def _chosen(graphs: _Graphs, node: str | None, source: str) -> list[tuple[str, Any]]:
    """(qualified name, node) of the recurrent nodes to read: `node` alone (by qualified or plain name); else the
    main graph's, chained as layers; else the one distinct node in subgraphs (the same layer in both branches of
    an If counts once)."""
    listed = [name for name, _, _ in graphs.recurrent]
    if node is not None:
        if not isinstance(node, str):
            raise ConversionError(f"node={node!r} is not allowed: a node's name, one of {listed}")
        picked = [(name, n) for name, n, _ in graphs.recurrent if node in (name, n.name)]
        if len(picked) != 1:
            raise ConversionError(f"{source} has {'several nodes' if picked else 'no RNN, LSTM or GRU node'} named "
                                  f"{node!r}: its recurrent nodes are {listed}")  # fmt: skip
        return picked
    main = [(name, n) for name, n, top in graphs.recurrent if top]
    if main or not graphs.recurrent:
        return main
    distinct: list[tuple[Any, list[str]]] = []
    for name, n, _ in graphs.recurrent:
        key = _layer_key(graphs, n, source)
        for seen, names in distinct:
            if _same_layer(seen, key):
                names.append(name)
                break
        else:
            distinct.append((key, [name]))
    if len(distinct) > 1:
        raise ConversionError(f"{source} holds {len(distinct)} different recurrent layers in its subgraphs: "
                              f"{[names for _, names in distinct]}; pass node= one of {listed}")  # fmt: skip
    first = distinct[0][1][0]
    return [(name, n) for name, n, _ in graphs.recurrent if name == first]


def _layer_key(graphs: _Graphs, node: Any, source: str) -> Any:
    """What makes a node the layer it is: its attributes and its weights' values (None where unreadable)."""
    attrs = sorted((a.name, str(graphs.onnx.helper.get_attribute_value(a))) for a in node.attribute)
    arrays = []
    for name in list(node.input)[1:4] + list(node.input)[7:8]:
        try:
            arrays.append(None if not name else graphs.value(name, source))
        except ConversionError:
            arrays.append(name)  # compared by name where it cannot be read
    return node.op_type, attrs, arrays


def _same_layer(a: Any, b: Any) -> bool:
    if a[:2] != b[:2] or len(a[2]) != len(b[2]):
        return False
    for x, y in zip(a[2], b[2], strict=True):
        if isinstance(x, np.ndarray) != isinstance(y, np.ndarray):
            return False
        if isinstance(x, np.ndarray):
            if x.shape != y.shape or not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def _node_settings(onnx: Any, node: Any, values: _Graphs, source: str) -> dict[str, Any]:
    where = f"{source}: {node.op_type} node {node.name!r}"
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    attrs = {k: (v.decode() if isinstance(v, bytes) else [x.decode() if isinstance(x, bytes) else x for x in v]
                 if isinstance(v, list) else v) for k, v in attrs.items()}  # fmt: skip
    for name in ("clip", "activation_alpha", "activation_beta"):
        if name in attrs:
            raise ConversionError(f"{where}: {name}={attrs[name]!r}; seqnet's cells have no {name}")
    if attrs.get("input_forget", 0):
        raise ConversionError(f"{where}: input_forget={attrs['input_forget']}; seqnet's LSTM couples no gates")
    if attrs.get("layout", 0):
        raise ConversionError(f"{where}: layout={attrs['layout']} (batch-major X); seqnet reads layout=0 nodes")
    inputs = list(node.input) + [""] * 8
    direction = attrs.get("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        raise ConversionError(
            f"{where}: direction={direction!r} alone; seqnet runs a reverse direction only in a bidirectional layer"
        )
    d = 2 if direction == "bidirectional" else 1
    activations = attrs.get("activations")
    activation = "tanh"
    if node.op_type == "RNN":
        chosen = activations or ["Tanh"] * d
        if len(set(chosen)) != 1 or chosen[0] not in _RNN_ACTIVATIONS:
            raise ConversionError(f"{where}: activations={chosen}; seqnet's RNN offers one of Tanh, Relu, Sigmoid")
        activation = _RNN_ACTIVATIONS[chosen[0]]
    elif activations is not None and activations != _DEFAULT_ACTIVATIONS[node.op_type] * d:
        raise ConversionError(
            f"{where}: activations={activations}; seqnet's {node.op_type} uses {_DEFAULT_ACTIVATIONS[node.op_type]}"
        )

    def value(name: str, what: str) -> np.ndarray | None:
        return canonical_float(values.value(name, where)) if name else None

    return {
        "cell": _CELLS[node.op_type], "hidden_size": int(attrs["hidden_size"]), "bidirectional": d == 2,
        "activation": activation,
        "gru_variant": "reset_before" if node.op_type == "GRU" and not attrs.get("linear_before_reset", 0)
        else "reset_after",
        "W": value(inputs[1], "W"), "R": value(inputs[2], "R"), "B": value(inputs[3], "B"), "bias": bool(inputs[3]),
        "P": value(inputs[7], "P") if node.op_type == "LSTM" else None, "peephole": bool(inputs[7]),
    }  # fmt: skip


def _layer_fields(s: dict[str, Any]) -> dict[str, Any]:
    """The Spec fields one node's settings (`_node_settings`) determine."""
    keys = ("cell", "hidden_size", "bidirectional", "bias", "activation", "gru_variant", "peephole")
    return {**{key: s[key] for key in keys}, "input_size": int(s["W"].shape[2])}


def _batch_first(graphs: _Graphs, first: Any) -> bool:
    node = graphs.producers.get(first.input[0])
    if node is not None and node.op_type == "Transpose":
        perm = [a for a in node.attribute if a.name == "perm"]
        return bool(perm) and list(perm[0].ints) == [1, 0, 2]
    return False


def _named(values: dict, base: str, source: str) -> np.ndarray:
    """The one initializer export named `{base}_<n>`."""
    found = [name for name in values if re.fullmatch(rf"{re.escape(base)}_\d+", name)]
    if len(found) != 1:
        raise ConversionError(
            f"{source}: its seqnet metadata promises {base}, but it has {len(found)} such initializers"
        )
    return canonical_float(values[found[0]])


def _from_seqnet_scan(spec: Spec, values: dict, source: str) -> Imported:
    """A projected LSTM seqnet exported as Scans: its weights from their named initializers."""
    arrays: dict[str, np.ndarray] = {}
    for k in range(spec.num_layers):
        for suffix in ("", "_reverse")[: spec.num_directions]:
            tag = f"_l{k}{suffix}"
            arrays[f"weight_ih_l{k}{suffix}"] = np.ascontiguousarray(_named(values, f"Wih{tag}", source).T)
            arrays[f"weight_hh_l{k}{suffix}"] = np.ascontiguousarray(_named(values, f"Rt{tag}", source).T)
            arrays[f"weight_hr_l{k}{suffix}"] = np.ascontiguousarray(_named(values, f"Whr{tag}", source).T)
            if spec.bias:
                arrays[f"bias_ih_l{k}{suffix}"] = _named(values, f"bih{tag}", source)
                arrays[f"bias_hh_l{k}{suffix}"] = _named(values, f"bhh{tag}", source)
    if spec.output_size is not None:
        arrays["head.weight"] = np.ascontiguousarray(_named(values, "head_weight", source).T)
        arrays["head.bias"] = _named(values, "head_bias", source)
    return Imported(spec.to_dict(), arrays, source, describe(arrays))


def to_framework(spec: Spec, weights: Weights, into: Any = None, opset: int | None = None, lengths: bool = False,
                 initial_state: bool = False) -> Any:  # fmt: skip
    """The onnx.ModelProto of the spec (see export.py)."""
    if into is not None:
        raise ConversionError("into= does not apply to ONNX: an ONNX model is written, not loaded into")
    return export(spec, weights, opset=opset, lengths=lengths, initial_state=initial_state)


# -- files ------------------------------------------------------------------------------------------------------
def read_file(path: Any, node: str | None = None) -> Imported:
    return from_framework(Path(path), node=node)


def write_file(path: Any, spec: Spec, weights: Weights, prefix: str = "", head: str = "head", **options: Any) -> Any:
    """The model written to `path` atomically (prefix and head do not apply: ONNX holds a graph)."""
    model = export(spec, weights, **options)
    data = model.SerializeToString()
    atomic_write(path, lambda handle: handle.write(data))
    return model


def run_file(path: Any, spec: Spec, prefix: str, head: str | None, x: np.ndarray) -> np.ndarray:
    """The file run by onnxruntime (its first output: the model's outputs); with `prefix` a node's name, that
    node alone, cut out of its graph with its weights (evaluated where the graph computes them), on x."""
    if prefix:
        return _run_node(path, prefix, spec, x)
    session = _session(Path(path).read_bytes(), None, None)
    dtype = np.float32 if session.get_inputs()[0].type == "tensor(float)" else np.float64
    feeds = {session.get_inputs()[0].name: np.asarray(x, dtype=dtype)}
    return session.run(None, feeds)[0]


def _run_node(path: Any, name: str, spec: Spec, x: np.ndarray) -> np.ndarray:
    """One recurrent node of the file run alone in onnxruntime: (T, B, I) in, Y as seqnet's outputs."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    model, source = _model_proto(Path(path))
    graphs = _Graphs(onnx, model.graph, source)
    node = _chosen(graphs, name, source)[0][1]
    inits, inputs = [], ["X"]
    for i, given in enumerate(list(node.input)[1:], 1):
        keep = given and i in (1, 2, 3, 7)  # W, R, B, P: the weights; no lengths or states given
        inputs.append(f"w{i}" if keep else "")
        if keep:
            inits.append(numpy_helper.from_array(graphs.value(given, source).astype(np.float32), f"w{i}"))
    while inputs and not inputs[-1]:
        inputs.pop()
    alone = helper.make_node(node.op_type, inputs, ["Y"], **{a.name: helper.get_attribute_value(a)
                                                            for a in node.attribute})  # fmt: skip
    graph = helper.make_graph([alone], "node", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)  # fmt: skip
    cut = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    cut.ir_version = min(cut.ir_version, 10)
    xs = np.asarray(x, np.float32)
    xs = np.swapaxes(xs, 0, 1) if spec.batch_first else xs
    y = _session(cut.SerializeToString(), None, None).run(None, {"X": xs})[0]  # (T, D, B, H)
    out = y.transpose(0, 2, 1, 3).reshape(y.shape[0], y.shape[2], -1)
    return np.swapaxes(out, 0, 1) if spec.batch_first else out


def _session(data: bytes, providers: Any, threads: int | None) -> Any:
    ort = import_framework("onnxruntime", "running ONNX models needs onnxruntime: pip install 'seqnet[onnx]'")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=providers or ["CPUExecutionProvider"])


def run(obj: Any, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
    """An ONNX model (seqnet's export, or one whose inputs are x[, lengths][, h0, c0]) run by onnxruntime."""
    model, _ = _model_proto(obj)
    session = _session(model.SerializeToString(), None, None)
    names = [i.name for i in session.get_inputs()]
    feeds: dict[str, Any] = {names[0]: np.asarray(x, dtype=np.float32)}
    if lengths is not None:
        feeds["lengths"] = np.asarray(lengths, dtype=np.int64)
    if state is not None:
        parts = state if isinstance(state, (tuple, list)) else (state,)
        state_names = [n for n in names[1:] if n != "lengths"]  # h0 (c0), or a registered cell's <part>0
        feeds.update(
            {n: np.asarray(p, dtype=np.float32) for n, p in zip(state_names[: len(parts)], parts, strict=True)}
        )
    missing = sorted(set(feeds) - set(names))
    if missing:
        raise ConversionError(
            f"the ONNX model has no input {missing}: export it with lengths=True / initial_state=True"
        )
    results = session.run(None, feeds)
    return results[0], (tuple(results[1:]) if len(results) > 2 else results[1])


def inventory(path: Any) -> tuple[list[Any], list[str]]:
    """(the RNN, LSTM and GRU nodes of an ONNX file as seqnet.imported.Found records, the other operators
    counted), in the main graph and in subgraphs (If branches, Loop and Scan bodies), read from the protobuf
    only: no node of the file runs. A seqnet export gives one "model" record with its stored Spec."""
    onnx = _onnx()
    model, source = _model_proto(Path(path))
    meta = {p.key: p.value for p in model.metadata_props}
    if SPEC_KEY in meta:
        spec = Spec.from_json(meta[SPEC_KEY])
        return [Found("model", "", spec, [f"seqnet export, {len(model.graph.node)} nodes"])], []
    graphs = _Graphs(onnx, model.graph, source)
    found = [_inventory_node(onnx, node, graphs, source, name) for name, node, _ in graphs.recurrent]
    return found, [f"{op} x{n}" for op, n in sorted(graphs.others.items())]


def _inventory_node(onnx: Any, node: Any, values: _Graphs, source: str, name: str) -> Any:
    from seqnet.errors import SeqnetError

    entries = [f"{role} {node.input[i]!r}" for i, role in enumerate(("X", "W", "R", "B", "sequence_lens", "initial_h",
                                                                         "initial_c", "P")) if i < len(node.input)
               and node.input[i]]  # fmt: skip
    try:
        fields = _layer_fields(_node_settings(onnx, node, values, source))
        return Found("node", name, Spec(**fields, batch_first=False), entries)
    except SeqnetError as exc:
        return Found("node", name, None, entries, str(exc))
