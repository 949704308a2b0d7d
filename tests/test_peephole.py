"""The peephole LSTM (Gers and Schmidhuber 2000; ONNX's LSTM with input P): every backend against a float64 loop
written here from the equations (not seqnet's code) and against ONNX Runtime's own LSTM operator with a P of
its own; files round trip; the frameworks' layers, which have no peepholes, refuse by name. The parity grid
(seqnet.parity, kind "lstm-peephole") runs it through every backend's parity, gradient and export tests too.
"""

import importlib.util

import numpy as np
import pytest
from conftest import require, skip_or_fail

import seqnet
from seqnet.errors import BackendError, NotExpressible

BACKENDS = ("numpy", "torch", "paddle", "jax", "onnxruntime")


def need(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"{module} is not installed: pip install {module}")


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def by_hand(spec, weights, x, lengths=None, peepholes=True):
    """x (B, T, I) -> (outputs (B, T, D*H_out), h_n, c_n), one step at a time in float64: i = sig(W_i x + R_i h +
    b_i + p_i c), f likewise with p_f c, c' = f c + i tanh(W_g x + R_g h + b_g), o = sig(W_o x + R_o h + b_o +
    p_o c'), h' = o tanh(c') (times W_hr with a projection). `peepholes=False` drops the p terms. A step past a
    sequence's length keeps the state and outputs zero."""
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    H, D = spec.hidden_size, spec.num_directions
    valid = np.arange(steps)[None, :] < (steps if lengths is None else np.asarray(lengths)[:, None])
    hs, cs, layer_in = [], [], x
    for layer in range(spec.num_layers):
        outs = []
        for d, suffix in enumerate(("", "_reverse")[:D]):
            w = {k[: -len(f"_l{layer}{suffix}")]: np.asarray(v, np.float64)
                 for k, v in weights.items() if k.endswith(f"_l{layer}{suffix}")}  # fmt: skip
            b = w.get("bias_ih", 0) + w.get("bias_hh", 0)
            p = w["weight_peephole"] if peepholes else np.zeros((3, H))
            h, c = np.zeros((batch, spec.hidden_out)), np.zeros((batch, H))
            ys = np.zeros((batch, steps, spec.hidden_out))
            for t in range(steps - 1, -1, -1) if d else range(steps):
                a = layer_in[:, t] @ w["weight_ih"].T + h @ w["weight_hh"].T + b
                i = _sigmoid(a[:, :H] + p[0] * c)
                f = _sigmoid(a[:, H : 2 * H] + p[1] * c)
                c_new = f * c + i * np.tanh(a[:, 2 * H : 3 * H])
                o = _sigmoid(a[:, 3 * H :] + p[2] * c_new)
                h_new = o * np.tanh(c_new)
                if "weight_hr" in w:
                    h_new = h_new @ w["weight_hr"].T
                keep = valid[:, t : t + 1]
                h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
                ys[:, t] = np.where(keep, h_new, 0)
            outs.append(ys)
            hs.append(h)
            cs.append(c)
        layer_in = np.concatenate(outs, axis=2)
    return layer_in, np.stack(hs), np.stack(cs)


SPECS = {
    "plain": seqnet.Spec("lstm", 3, 4, peephole=True),
    "bi-2-layers": seqnet.Spec("lstm", 3, 4, num_layers=2, bidirectional=True, peephole=True),
    "proj": seqnet.Spec("lstm", 3, 4, proj_size=2, bidirectional=True, peephole=True),
    "nobias": seqnet.Spec("lstm", 3, 4, bias=False, peephole=True),
}


def _weights(spec, seed=0):
    """PyTorch's initialisation plus noise: peepholes of order 1, so that they change the outputs."""
    rng = np.random.default_rng(seed)
    weights = seqnet.init_weights(spec, seed=seed, dtype="float64")
    return seqnet.as_weights(spec, {k: v + 0.7 * rng.standard_normal(v.shape) for k, v in weights.items()})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SPECS)
def test_every_backend_computes_the_peephole_equations(name, backend):
    require(backend)
    spec = SPECS[name]
    weights = _weights(spec)
    rng = np.random.default_rng(1)
    x, lengths = rng.standard_normal((3, 7, 3)), np.array([7, 2, 5])
    want, h_n, c_n = by_hand(spec, weights, x, lengths)
    without = by_hand(spec, weights, x, lengths, peepholes=False)[0]
    assert np.abs(want - without).max() > 0.05  # the peepholes matter here: a backend that drops them fails
    for dtype, tol in (("float32", 1e-5), ("float64", 1e-12)):
        if dtype == "float64" and backend == "onnxruntime":
            continue  # onnxruntime's LSTM kernel is float32 only
        with seqnet.testing.computing(backend, dtype):
            model = seqnet.build(spec, backend, weights.astype(dtype), dtype)
            out, (h, c) = seqnet.predict(model, x.astype(dtype), lengths=lengths)
        scale = max(1.0, np.abs(want).max())
        assert np.abs(out - want).max() / scale < tol, (dtype, np.abs(out - want).max())
        assert np.abs(h - h_n).max() < tol * max(1.0, np.abs(h_n).max())
        assert np.abs(c - c_n).max() < tol * max(1.0, np.abs(c_n).max())


def _foreign_lstm_node(hidden=3, inputs=2, seed=5):
    """An ONNX model of one bidirectional LSTM node with peepholes, made with onnx.helper as another exporter
    would (ONNX's gate order i, o, f, c and P rows i, o, f), none of it written by seqnet."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {"W": rng.normal(0, 0.6, (2, 4 * hidden, inputs)), "R": rng.normal(0, 0.6, (2, 4 * hidden, hidden)),
              "B": rng.normal(0, 0.3, (2, 8 * hidden)), "P": rng.normal(0, 1.0, (2, 3 * hidden))}  # fmt: skip
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in arrays.items()]
    node = helper.make_node("LSTM", ["X", "W", "R", "B", "", "", "", "P"], ["Y", "Y_h", "Y_c"], name="lstm",
                            hidden_size=hidden, direction="bidirectional")  # fmt: skip
    graph = helper.make_graph(
        [node], "foreign", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", inputs])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "Y_h", "Y_c")], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_onnx_lstm_with_peepholes_from_another_exporter_converts_and_agrees_with_onnxruntime():
    need("onnx", "onnxruntime")
    import onnxruntime as ort

    model = _foreign_lstm_node()
    spec, weights = seqnet.from_framework(model)
    assert spec == seqnet.Spec("lstm", 2, 3, bidirectional=True, batch_first=False, peephole=True)
    x = np.random.default_rng(2).standard_normal((6, 4, 2)).astype(np.float32)  # (T, B, I)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y, y_h, y_c = session.run(None, {"X": x})
    theirs = y.transpose(0, 2, 1, 3).reshape(6, 4, 6)  # Y (T, D, B, H) -> (T, B, D*H)
    for backend in ("numpy", "torch", "jax"):
        require(backend)
        out, (h, c) = seqnet.predict(seqnet.build(spec, backend, weights), x)
        assert np.abs(out - theirs).max() < 1e-5 and np.abs(h - y_h).max() < 1e-5 and np.abs(c - y_c).max() < 1e-5


@pytest.mark.parametrize("name", ["plain", "proj"])
def test_export_onnx_writes_p_or_a_scan_and_reads_back_exactly(name, tmp_path):
    need("onnx", "onnxruntime")
    spec = SPECS[name]
    weights = _weights(spec).astype("float32")
    model = seqnet.export_onnx(spec, weights, tmp_path / "m.onnx", lengths=True)
    ops = {node.op_type: node for node in model.graph.node}
    if spec.proj_size:  # ONNX's LSTM has no projection: the registry's LSTM step in a Scan
        assert "Scan" in ops and "LSTM" not in ops
    else:
        assert len(ops["LSTM"].input) == 8 and ops["LSTM"].input[7]  # the peepholes as input P
    back_spec, back = seqnet.from_framework(tmp_path / "m.onnx")
    assert back_spec == spec and all(np.array_equal(back[k], weights[k]) for k in weights)


def test_a_torch_state_dict_with_peepholes_round_trips():
    require("torch")
    spec = SPECS["bi-2-layers"]
    weights = _weights(spec)
    entries = seqnet.to_state_dict(spec, weights, "torch", prefix="encoder.lstm.")
    assert "encoder.lstm.weight_peephole_l1_reverse" in entries
    back_spec, back = seqnet.from_state_dict(entries, "torch", prefix="encoder.")
    assert back_spec == spec and all(np.array_equal(back[k], weights[k]) for k in weights)
    assert seqnet.Spec.from_json(spec.to_json()) == spec and "peephole" not in seqnet.Spec("lstm", 3, 4).to_dict()


@pytest.mark.parametrize(
    "framework, message",
    [
        ("torch", r"torch.nn has no standard layer for Spec.peephole=True: nn.LSTM has no peephole connections"),
        ("paddle", r"paddle.nn has no standard layer for Spec.peephole=True: paddle.nn.LSTM has no peephole"),
        ("keras", r"Keras has no standard layer for Spec.peephole=True: Keras's LSTM has no peephole"),
        ("flax", r"flax has no standard layer for Spec.peephole=True: flax's LSTM cells have no peephole"),
    ],
)
def test_frameworks_without_peepholes_refuse_by_name(framework, message):
    need({"torch": "torch", "paddle": "paddle", "keras": "keras", "flax": "flax"}[framework])
    spec = SPECS["plain"]
    with pytest.raises(NotExpressible, match=message):
        seqnet.to_framework(spec, _weights(spec), framework)


def test_the_fused_layers_decline_and_the_generic_path_runs():
    require("torch")
    spec = SPECS["plain"]
    assert not seqnet.build(spec, "torch", _weights(spec)).fused
    with pytest.raises(BackendError, match=r"fused=True is not possible .*nn.LSTM has no peephole connections"):
        seqnet.build(spec, "torch", _weights(spec), fused=True)
