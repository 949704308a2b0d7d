"""The litert backend and seqnet.export_tflite: LiteRT's own kernels (ai-edge-litert's Interpreter) run the files
seqnet writes. Parity over the whole grid and random specs runs in the conformance suite (tests/
test_conformance.py, both paths); here: what the file is (its operators, its open axes, its size), LiteRT's
state carried between calls, torch's own layers as the expected values, and the refusals by their messages."""

import numpy as np
import pytest
from conftest import cli, importorskip, require

import seqnet
from seqnet.errors import ConversionError, WeightsError


def _operators(data: bytes) -> set[str]:
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    return {names[code.builtinCode] for code in model.operatorCodes}


def _interpreter(data: bytes):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=data)


@pytest.mark.parametrize(
    "spec, fused_op",
    [
        (seqnet.Spec("lstm", 4, 6, num_layers=2, bidirectional=True), "BIDIRECTIONAL_SEQUENCE_LSTM"),
        (seqnet.Spec("rnn", 4, 6, bidirectional=True, batch_first=False), "BIDIRECTIONAL_SEQUENCE_RNN"),
        (seqnet.Spec("lstm", 4, 6, proj_size=3, peephole=True), "UNIDIRECTIONAL_SEQUENCE_LSTM"),
        (seqnet.Spec("rnn", 4, 6, activation="relu"), "UNIDIRECTIONAL_SEQUENCE_RNN"),
        (seqnet.Spec("gru", 4, 6), None),
        (seqnet.Spec("rnn", 4, 6, activation="sigmoid"), None),
        (seqnet.Spec("mingru", 4, 6), None),
    ],
    ids=["lstm-bi", "rnn-bi", "lstm-proj-peephole", "rnn-relu", "gru", "rnn-sigmoid", "mingru"],
)
def test_the_file_holds_litert_fused_sequence_operators_or_a_while_loop_and_open_axes(spec, fused_op):
    require("litert")
    data = seqnet.export_tflite(spec, seqnet.init_weights(spec, seed=1))
    ops = _operators(data)
    if fused_op:
        assert fused_op in ops and "WHILE" not in ops, ops
    else:
        assert "WHILE" in ops and not any("SEQUENCE" in op for op in ops), ops
    inputs = _interpreter(data).get_input_details()
    assert inputs[0]["name"] == "x" and inputs[0]["shape_signature"].tolist() == [-1, -1, 4]
    assert [d["name"] for d in inputs[1:]] == [
        f"{p}_l{k}{s}"
        for p in spec.state_shapes(1)
        for k in range(spec.num_layers)
        for s in ("", "_reverse")[: spec.num_directions]
    ]
    assert all(d["shape_signature"][0] == -1 for d in inputs[1:])  # the batch open in every state input
    assert seqnet.export_tflite(spec, seqnet.init_weights(spec, seed=1), lengths=True) != data  # another input


def test_one_file_runs_at_any_batch_and_length_and_its_size_does_not_depend_on_t():
    require("litert")
    spec = seqnet.Spec("gru", 4, 6)
    weights = seqnet.init_weights(spec, seed=2)
    model = seqnet.build(spec, "litert", weights)
    reference = seqnet.build(spec, "numpy", weights, "float64")
    for batch, steps in [(1, 1), (3, 40), (2, 7), (5, 400)]:  # one Interpreter, resized
        x = np.random.default_rng(steps).standard_normal((batch, steps, 4))
        out, h = model(x.astype(np.float32))
        want, want_h = reference(x)
        assert out.shape == (batch, steps, 6) and np.abs(out - want).max() < 1e-5 and np.abs(h - want_h).max() < 1e-5
    size = len(model.tflite())
    weights_bytes = sum(np.asarray(v).nbytes for v in weights.values())
    assert weights_bytes < size < weights_bytes + 20_000  # the weights once, and a graph that holds no T


def test_litert_carries_a_fused_files_state_from_call_to_call_when_nobody_sets_it():
    """LiteRT's fused operators keep their state in variable tensors: two invokes on the halves of a sequence,
    the state set only before the first, compute the whole sequence (a streaming model's own state)."""
    require("litert")
    spec = seqnet.Spec("lstm", 3, 5)
    weights = seqnet.init_weights(spec, seed=3)
    it = _interpreter(seqnet.export_tflite(spec, weights))
    x = np.random.default_rng(4).standard_normal((2, 8, 3)).astype(np.float32)
    details = it.get_input_details()
    for d in details:
        it.resize_tensor_input(d["index"], [2, 4, 3] if d["name"] == "x" else [2, 5])
    it.allocate_tensors()
    for d in details[1:]:
        it.set_tensor(d["index"], np.zeros((2, 5), np.float32))
    halves = []
    for half in (x[:, :4], x[:, 4:]):
        it.set_tensor(details[0]["index"], np.ascontiguousarray(half))
        it.invoke()
        halves.append(it.get_tensor(it.get_output_details()[0]["index"]))
    want, _ = seqnet.build(spec, "numpy", weights)(x)
    assert np.abs(np.concatenate(halves, axis=1) - want).max() < 1e-5


def test_the_fused_lstm_computes_torchs_own_nn_lstm_with_projection():
    require("litert")
    torch = importorskip("torch", "the expected values come from torch's nn.LSTM")
    torch.manual_seed(0)
    layer = torch.nn.LSTM(4, 6, num_layers=2, proj_size=3, bidirectional=True, batch_first=True)
    spec, weights = seqnet.from_framework(layer)
    model = seqnet.build(spec, "litert", weights)
    assert model.fused
    x = torch.randn(3, 9, 4)
    h0, c0 = torch.randn(4, 3, 3), torch.randn(4, 3, 6)
    with torch.no_grad():
        want, (want_h, want_c) = layer(x, (h0, c0))
    out, (h, c) = model(x.numpy(), (h0.numpy(), c0.numpy()))
    for got, expected in [(out, want), (h, want_h), (c, want_c)]:
        assert np.abs(got - expected.numpy()).max() < 1e-5


def test_litert_refuses_by_name_and_leaves_no_partial_file(tmp_path):
    require("litert")
    spec = seqnet.Spec("gru", 4, 6)
    weights = seqnet.init_weights(spec)
    with pytest.raises(ConversionError, match=r"fused=True: LiteRT has no fused sequence operator for cell 'gru'"):
        seqnet.export_tflite(spec, weights, tmp_path / "gru.tflite", fused=True)
    lstm = seqnet.Spec("lstm", 4, 6)
    with pytest.raises(ConversionError, match=r"fused=True: LiteRT's sequence operators take no lengths"):
        seqnet.export_tflite(lstm, seqnet.init_weights(lstm), lengths=True, fused=True)
    with pytest.raises(ConversionError, match=r"lengths='yes' is not allowed: True or False"):
        seqnet.export_tflite(spec, weights, lengths="yes")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file
    with pytest.raises(WeightsError, match=r"dtype='float64' is not supported: one of \('float32',\)"):
        seqnet.build(spec, "litert", weights, "float64")
    with pytest.raises(seqnet.BackendError, match=r"threads=0 is not allowed: a positive integer or None"):
        seqnet.build(spec, "litert", weights, threads=0)
    path = tmp_path / "gru.tflite"
    data = seqnet.export_tflite(spec, weights, path)
    assert path.read_bytes() == data


@pytest.mark.parametrize("quantize, bound", [("float16", 2e-3), ("int8", 5e-2)])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_quantized_weights_shrink_the_file_and_stay_near_the_float64_reference(cell, quantize, bound):
    """Each path with its weight matrices stored in int8 or float16: the file a quarter or half the size, the
    outputs off the float64 reference by more than float32's rounding (so the weights were quantized) and
    within the bound the docs state."""
    require("litert")
    spec = seqnet.Spec(cell, 32, 96)  # weight matrices large beside the graph, as a deployed model's
    weights = seqnet.init_weights(spec, seed=5)
    x = np.random.default_rng(6).standard_normal((4, 20, 32))
    want, _ = seqnet.build(spec, "numpy", weights, "float64")(x)
    plain = seqnet.build(spec, "litert", weights)
    model = seqnet.build(spec, "litert", weights, quantize=quantize)
    error = np.abs(model(x.astype(np.float32))[0] - want).max()
    assert np.abs(plain(x.astype(np.float32))[0] - want).max() < 1e-6 < error < bound
    ratio = len(model.tflite()) / len(plain.tflite())
    assert ratio < (0.6 if quantize == "float16" else 0.4), ratio
    with pytest.raises(ConversionError, match=r"quantize='int4' is not allowed: one of \(None, 'int8', 'float16'\)"):
        seqnet.export_tflite(spec, weights, quantize="int4")


def test_a_bidirectional_rnn_with_int8_weights_runs_its_while_loops_not_the_operator_that_crashes():
    """BIDIRECTIONAL_SEQUENCE_RNN with int8 weights killed the process (a segmentation fault) in ai-edge-litert
    2.3.0: such a spec takes the WHILE-loop path, and fused=True says why."""
    require("litert")
    spec = seqnet.Spec("rnn", 8, 16, num_layers=2, bidirectional=True)
    weights = seqnet.init_weights(spec, seed=10)
    model = seqnet.build(spec, "litert", weights, quantize="int8")
    assert not model.fused and "WHILE" in _operators(model.tflite())
    x = np.random.default_rng(11).standard_normal((3, 7, 8))
    want, _ = seqnet.build(spec, "numpy", weights, "float64")(x)
    assert 1e-5 < np.abs(model(x.astype(np.float32))[0] - want).max() < 5e-2
    assert seqnet.build(spec, "litert", weights, quantize="float16").fused
    with pytest.raises(ConversionError, match=r"BIDIRECTIONAL_SEQUENCE_RNN crashes the process with int8 weights"):
        seqnet.export_tflite(spec, weights, fused=True, quantize="int8")


def _foreign_lstm_file(path, w_ih, w_hh, bias, batch):
    """A .tflite as another converter writes a Keras LSTM: one UNIDIRECTIONAL_SEQUENCE_LSTM, batch fixed, its
    state in variable tensors that are not inputs, no seqnet metadata. Written with the schema here, not by
    seqnet's writer."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    buffers, tensors = [S.BufferT()], []

    def tensor(shape, data=None, variable=False):
        t = S.TensorT()
        t.shape, t.type, t.isVariable, t.name = list(shape), S.TensorType.FLOAT32, variable, f"t{len(tensors)}"
        t.buffer = 0
        if data is not None:
            b = S.BufferT()
            b.data = np.ascontiguousarray(data, np.float32).tobytes()
            buffers.append(b)
            t.buffer = len(buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    hidden, size = w_hh.shape[1], w_ih.shape[1]
    x = tensor([batch, 5, size])
    gates = [tensor(a.shape, a) for a in np.split(w_ih, 4)]
    recurrent = [tensor(a.shape, a) for a in np.split(w_hh, 4)]
    biases = [tensor(a.shape, a) for a in np.split(bias, 4)]
    h, c = tensor([batch, hidden], variable=True), tensor([batch, hidden], variable=True)
    y = tensor([batch, 5, hidden])
    op = S.OperatorT()
    op.opcodeIndex, op.outputs = 0, [y]
    op.inputs = [x, *gates, *recurrent, -1, -1, -1, *biases, -1, -1, h, c, -1, -1, -1, -1]
    op.builtinOptionsType = S.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = S.UnidirectionalSequenceLSTMOptionsT()
    op.builtinOptions.fusedActivationFunction = S.ActivationFunctionType.TANH
    graph = S.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [x], [y], [op]
    code = S.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = S.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.version = 1
    model = S.ModelT()
    model.version, model.buffers, model.subgraphs, model.operatorCodes = 3, buffers, [graph], [code]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))


def test_a_fused_lstm_file_another_converter_wrote_reads_and_computes_what_litert_computes(tmp_path):
    require("litert")
    rng = np.random.default_rng(7)
    w_ih, w_hh, bias = (0.4 * rng.standard_normal(s).astype(np.float32) for s in [(24, 3), (24, 6), (24,)])
    path = tmp_path / "keras_lstm.tflite"
    _foreign_lstm_file(path, w_ih, w_hh, bias, batch=2)
    it = _interpreter(path.read_bytes())
    it.allocate_tensors()
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])  # LiteRT's own kernel on the file
    spec, weights = seqnet.from_framework(path)
    assert (spec.cell, spec.input_size, spec.hidden_size, spec.num_layers, spec.batch_first) == ("lstm", 3, 6, 1, True)
    for backend in ("numpy", "torch", "litert"):
        require(backend)
        out, _ = seqnet.predict(seqnet.build(spec, backend, weights), x)
        assert np.abs(out - want).max() < 1e-5, backend
    found = seqnet.files.inspect(path)
    assert found.found[0].spec == spec


@pytest.mark.parametrize("quantize", [None, "float16", "int8"])
def test_seqnets_own_files_read_back_with_their_spec(tmp_path, quantize):
    require("litert")
    spec = seqnet.Spec("lstm", 4, 6, num_layers=2, bidirectional=True, proj_size=3, peephole=True, output_size=2,
                       output_mode="last", batch_first=False)  # fmt: skip
    weights = seqnet.init_weights(spec, seed=8)
    seqnet.export_tflite(spec, weights, tmp_path / "m.tflite", quantize=quantize)
    back_spec, back = seqnet.from_framework(tmp_path / "m.tflite")
    assert back_spec == spec
    if quantize is None:  # LiteRT keeps one bias per gate: bias_ih holds both, bias_hh is zero
        for name in weights:
            summed = weights[name] + weights[name.replace("_ih", "_hh")] if name.startswith("bias_ih") else None
            want = 0 * weights[name] if name.startswith("bias_hh") else summed if summed is not None else weights[name]
            assert np.array_equal(back[name], want), name
    x = np.random.default_rng(9).standard_normal((5, 3, 4)).astype(np.float32)
    a, _ = seqnet.build(spec, "numpy", weights)(x)
    b, _ = seqnet.build(back_spec, "numpy", back)(x)
    assert np.abs(a - b).max() < {None: 1e-6, "float16": 1e-3, "int8": 2e-2}[quantize]


def test_seqnet_convert_writes_and_reads_tflite_and_refuses_what_it_cannot_read(tmp_path):
    require("litert")
    torch = importorskip("torch", "the source checkpoint is torch's")
    layer = torch.nn.LSTM(3, 5, batch_first=True)
    torch.save(layer.state_dict(), tmp_path / "lstm.pt")
    done = cli("convert", str(tmp_path / "lstm.pt"), str(tmp_path / "lstm.tflite"))
    assert done.returncode == 0 and ": ok" in done.stdout, done.stdout + done.stderr
    done = cli("convert", str(tmp_path / "lstm.tflite"), str(tmp_path / "back.onnx"))
    assert done.returncode == 0 and ": ok" in done.stdout, done.stdout + done.stderr
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in cli("inspect", str(tmp_path / "lstm.tflite")).stdout
    spec = seqnet.Spec("gru", 3, 5)
    seqnet.export_tflite(spec, seqnet.init_weights(spec), tmp_path / "gru.tflite")
    with pytest.raises(ConversionError, match=r"holds a WHILE loop \(seqnet reads LiteRT's fused sequence operators\)"):
        seqnet.from_framework(tmp_path / "gru.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ConversionError, match=r"is not a LiteRT flatbuffer \(no 'TFL3' identifier\)"):
        seqnet.from_framework(tmp_path / "junk.tflite")
