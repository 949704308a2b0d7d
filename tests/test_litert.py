"""The litert backend and seqnet.export_tflite: LiteRT's own kernels (ai-edge-litert's Interpreter) run the files
seqnet writes. Parity over the whole grid and random specs runs in the conformance suite (tests/
test_conformance.py, both paths); here: what the file is (its operators, its open axes, its size), LiteRT's
state carried between calls, torch's own layers as the expected values, and the refusals by their messages."""

import numpy as np
import pytest
from conftest import importorskip, require

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
        (seqnet.Spec("lstm", 4, 6, num_layers=2, bidirectional=True), "UNIDIRECTIONAL_SEQUENCE_LSTM"),
        (seqnet.Spec("lstm", 4, 6, proj_size=3, peephole=True), "UNIDIRECTIONAL_SEQUENCE_LSTM"),
        (seqnet.Spec("rnn", 4, 6, activation="relu"), "UNIDIRECTIONAL_SEQUENCE_RNN"),
        (seqnet.Spec("gru", 4, 6), None),
        (seqnet.Spec("rnn", 4, 6, activation="sigmoid"), None),
        (seqnet.Spec("mingru", 4, 6), None),
    ],
    ids=["lstm-bi", "lstm-proj-peephole", "rnn-relu", "gru", "rnn-sigmoid", "mingru"],
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
