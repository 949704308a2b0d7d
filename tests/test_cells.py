"""Cells of your own (issue 21): the Cell contract, the one registry, Specs and weights of registered cells, and
the same function on every backend that runs them, against references written here by hand."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import require

import seqnet
import seqnet.testing
from seqnet.cell import CellError
from seqnet.testing import computing


class IndRNN(seqnet.Cell):  # Li et al. 2018: h' = relu(W x + b + u * h), the issue's acceptance example
    name = "indrnn"
    state = ("h",)

    def parameters(self, spec, input_size):
        H = spec.hidden_size
        return {"weight_ih": (H, input_size), "bias_ih": (H,), "weight_hh": (H,)}

    def step(self, ops, p, x, state):
        h = ops.relu(ops.linear(x, p["weight_ih"], p["bias_ih"]) + p["weight_hh"] * state[0])
        return h, (h,)


class TwoPart(seqnet.Cell):
    """Two state parts of different sizes and an output that is neither (Keras's own test cell returns o1 + o2):
    a = tanh(W x + V a), b = 0.5 * b + sigmoid(U x), output a + (first H of) b."""

    name = "twopart"
    state = ("a", "b")
    options = {"decay": 0.5}

    def parameters(self, spec, input_size):
        H = spec.hidden_size
        return {"w": (H, input_size), "v": (H, H), "u": (H + 1, input_size)}

    def state_sizes(self, spec):
        return {"a": spec.hidden_size, "b": spec.hidden_size + 1}

    def step(self, ops, p, x, state, spec):
        a, b = state
        a = ops.tanh(ops.linear(x, p["w"], None) + ops.linear(a, p["v"], None))
        b = spec.option("decay") * b + ops.sigmoid(ops.linear(x, p["u"], None))
        return a + b[..., : spec.hidden_size], (a, b)


@pytest.fixture(autouse=True)
def _cells_registered():
    seqnet.register_cell(IndRNN(), replace=True)
    seqnet.register_cell(TwoPart(), replace=True)


def by_hand(step, names, w, x, h0=None, lengths=None, layers=1, bidirectional=False):
    """A one-part cell by a plain NumPy loop (batch_first x), seqnet's stacking, direction and padding rules:
    step(g, x_t, h) -> h' with g the layer-direction's parameters `names`, h (B, H) sized by g[names[-1]]."""
    batch, steps, _ = x.shape
    dirs = 2 if bidirectional else 1
    hs, layer_in = [], x
    for k in range(layers):
        outs = []
        for d, s in enumerate(("", "_reverse")[:dirs]):
            g = {n: w[f"{n}_l{k}{s}"] for n in names}
            size = g[names[-1]].shape[0]
            h = np.zeros((batch, size)) if h0 is None else h0[k * dirs + d].copy()
            ys = np.zeros((batch, steps, size))
            for t in range(steps - 1, -1, -1) if d else range(steps):
                new = step(g, layer_in[:, t], h)
                valid = np.ones(batch, bool) if lengths is None else t < lengths
                h = np.where(valid[:, None], new, h)
                ys[:, t] = np.where(valid[:, None], new, 0)
            outs.append(ys)
            hs.append(h)
        layer_in = np.concatenate(outs, axis=-1)
    return layer_in, np.stack(hs)


def indrnn_by_hand(w, x, h0=None, lengths=None, layers=1, bidirectional=False):
    """The IndRNN by hand: h' = relu(W x + b + u * h)."""

    def step(g, xt, h):
        return np.maximum(xt @ g["weight_ih"].T + g["bias_ih"] + g["weight_hh"] * h, 0)

    return by_hand(step, ("weight_ih", "bias_ih", "weight_hh"), w, x, h0, lengths, layers, bidirectional)


def acceptance_spec() -> seqnet.Spec:
    """The issue's acceptance Spec (made inside each test: the cells are registered per test, never at import)."""
    return seqnet.Spec("indrnn", input_size=8, hidden_size=16, num_layers=2, bidirectional=True)


BACKENDS = ("numpy", "torch", "paddle", "jax")


def test_the_acceptance_example_names_its_weights():
    weights = seqnet.init_weights(acceptance_spec(), seed=0)
    assert list(weights)[:3] == ["weight_ih_l0", "bias_ih_l0", "weight_hh_l0"]
    assert list(weights)[-1] == "weight_hh_l1_reverse"
    assert weights["weight_ih_l1"].shape == (16, 32) and weights["weight_hh_l0"].shape == (16,)
    assert np.abs(weights["weight_ih_l0"]).max() <= 1 / 4  # U(-1/sqrt(H), 1/sqrt(H)), H 16


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_registered_cell_computes_the_hand_written_function_on_every_backend(backend):
    require(backend)
    weights = seqnet.init_weights(acceptance_spec(), seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 6, 8))
    h0 = rng.standard_normal((4, 3, 16))
    lengths = np.array([6, 2, 4])
    want_out, want_h = indrnn_by_hand(weights, x, h0, lengths, layers=2, bidirectional=True)
    with computing(backend, "float64"):
        out, h = seqnet.predict(seqnet.build(acceptance_spec(), backend, weights, "float64"), x, h0, lengths)
    assert out.shape == want_out.shape and h.shape == want_h.shape
    assert np.abs(out - want_out).max() < 1e-10 and np.abs(h - want_h).max() < 1e-10


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_state_parts_an_option_a_head_and_the_last_output(backend):
    """A cell whose parts differ in size and whose output is not its state, with an option, a head,
    output_mode='last' and lengths: every backend equals the NumPy backend (float64)."""
    require(backend)
    spec = seqnet.Spec("twopart", 3, 4, bidirectional=True, output_size=2, output_mode="last",
                       cell_options={"decay": 0.25})  # fmt: skip
    weights = seqnet.init_weights(spec, seed=1, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3))
    state = (rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 5)))
    lengths = np.array([5, 3])
    ref = seqnet.predict(seqnet.build(spec, "numpy", weights, "float64"), x, state, lengths)
    with computing(backend, "float64"):
        got = seqnet.predict(seqnet.build(spec, backend, weights, "float64"), x, state, lengths)
    seqnet.parity.check_result(spec, got, x.shape, "float64")
    assert got[1][1].shape == (2, 2, 5)
    for a, b in zip((got[0], *got[1]), (ref[0], *ref[1]), strict=True):
        assert np.abs(a - b).max() < 1e-10
    other = seqnet.Spec("twopart", 3, 4, bidirectional=True, output_size=2, output_mode="last")
    assert np.abs(seqnet.predict(seqnet.build(other, "numpy", weights, "float64"), x, state, lengths)[0]
                  - ref[0]).max() > 1e-3  # the option changes the function  # fmt: skip


@pytest.mark.parametrize("backend", ("numpy", "torch", "paddle", "jax"))
def test_gradients_of_a_registered_cell_equal_finite_differences(backend):
    require(backend)
    spec = seqnet.Spec("indrnn", 3, 4, bidirectional=True, output_size=2)
    weights = seqnet.init_weights(spec, seed=2, dtype="float64")
    rng = np.random.default_rng(2)
    x, target, lengths = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2)), np.array([5, 3])
    with computing(backend, "float64"):
        loss, grads, dx = seqnet.value_and_grad(spec, weights, x, target, "mse", backend, lengths=lengths)

    def numpy_loss(w, xx):  # seqnet's mse over valid steps, through the hand-written NumPy forward
        seq, _ = indrnn_by_hand(w, xx, None, lengths, bidirectional=True)
        out = seq @ w["head.weight"].T + w["head.bias"]
        valid = (np.arange(5)[None, :] < lengths[:, None])[..., None]
        return float(np.sum(valid * (out - target) ** 2) / valid.sum() / 2)

    assert abs(loss - numpy_loss(weights, x)) < 1e-10
    step = 1e-6
    for name, index in (("weight_ih_l0", (1, 2)), ("weight_hh_l0_reverse", (3,)), ("bias_ih_l0", (0,)),
                        ("head.weight", (1, 3))):  # fmt: skip
        up, down = ({k: v.copy() for k, v in weights.items()} for _ in range(2))
        up[name][index] += step
        down[name][index] -= step
        estimate = (numpy_loss(up, x) - numpy_loss(down, x)) / (2 * step)
        assert abs(grads[name][index] - estimate) < 1e-7, (name, grads[name][index], estimate)
    bumped = x.copy()
    bumped[0, 1, 2] += step
    lowered = x.copy()
    lowered[0, 1, 2] -= step
    assert abs(dx[0, 1, 2] - (numpy_loss(weights, bumped) - numpy_loss(weights, lowered)) / (2 * step)) < 1e-7


def test_numpy_says_what_to_install_for_gradients_of_a_registered_cell(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_autograd(name, *args, **kwargs):
        if name.split(".")[0] == "autograd":
            raise ModuleNotFoundError("No module named 'autograd'", name="autograd")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_autograd)
    monkeypatch.delitem(__import__("sys").modules, "autograd", raising=False)
    spec = seqnet.Spec("indrnn", 3, 4)
    with pytest.raises(seqnet.BackendUnavailable, match=r"cell 'indrnn'.*seqnet\[autograd\].*torch, paddle or jax"):
        seqnet.value_and_grad(spec, seqnet.init_weights(spec), np.zeros((1, 2, 3), "float32"),
                              np.zeros((1, 2, 4), "float32"))  # fmt: skip


def test_save_and_load_record_the_cell(tmp_path):
    spec = seqnet.Spec("twopart", 3, 4, cell_options={"decay": 0.25})
    weights = seqnet.init_weights(spec, seed=3)
    seqnet.save(tmp_path / "m.safetensors", spec, weights)
    back_spec, back = seqnet.load(tmp_path / "m.safetensors")
    assert back_spec == spec and back_spec.option("decay") == 0.25
    assert all(np.array_equal(back[k], weights[k]) for k in weights)
    assert json.loads(spec.to_json())["cell_options"] == {"decay": 0.25}
    from seqnet import cell

    cell._cells.pop("twopart")
    with pytest.raises(seqnet.FileFormatError, match=r"Spec.cell='twopart' is not allowed: one of the registered"):
        seqnet.load(tmp_path / "m.safetensors")


def test_the_registry_knows_every_cell_and_refuses_what_breaks_the_contract():
    assert list(seqnet.cells())[:3] == ["rnn", "lstm", "gru"] and "indrnn" in seqnet.cells()
    known = r"\['rnn', 'lstm', 'gru', 'mingru', 'minlstm', 'indrnn', 'twopart'\]"
    message = r"Spec.cell='minrnn' is not allowed: one of the registered cells " + known
    with pytest.raises(seqnet.SpecError, match=message):
        seqnet.Spec("minrnn", 2, 3)
    with pytest.raises(CellError, match="needs a seqnet.Cell"):
        seqnet.register_cell(object())
    with pytest.raises(CellError, match="built-in cell's"):
        seqnet.register_cell(type("LSTM2", (IndRNN,), {"name": "lstm"})())
    with pytest.raises(CellError, match="already registered"):
        seqnet.register_cell(type("Other", (IndRNN,), {})())
    with pytest.raises(CellError, match="name must be lowercase"):
        seqnet.register_cell(type("Bad", (IndRNN,), {"name": "Ind RNN"})())
    with pytest.raises(CellError, match="state must be a non-empty tuple"):
        seqnet.register_cell(type("Bad", (IndRNN,), {"name": "bad", "state": "h"})())


def test_spec_fields_a_cell_does_not_use_are_refused_by_name():
    with pytest.raises(seqnet.SpecError, match=r"Spec.proj_size=2 is not allowed: 0 for cell='indrnn'"):
        seqnet.Spec("indrnn", 3, 4, proj_size=2)
    with pytest.raises(seqnet.SpecError, match=r"Spec.gru_variant='reset_before' is not allowed"):
        seqnet.Spec("indrnn", 3, 4, gru_variant="reset_before")
    with pytest.raises(seqnet.SpecError, match=r"Spec.cell_options has 'decai', which cell 'twopart' does not "
                                               r"take: its options \['decay'\]"):  # fmt: skip
        seqnet.Spec("twopart", 3, 4, cell_options={"decai": 0.1})
    with pytest.raises(seqnet.SpecError, match=r"cell_options\['decay'\]='fast' is not allowed: a float"):
        seqnet.Spec("twopart", 3, 4, cell_options={"decay": "fast"})
    with pytest.raises(
        seqnet.SpecError, match=r"Spec.bias=False is not allowed: True \(the default\) for cell='indrnn'"
    ):
        seqnet.Spec("indrnn", 3, 4, bias=False)
    for framework in ("torch", "paddle", "keras", "flax"):
        with pytest.raises(seqnet.NotExpressible, match=f"{framework} has no standard layer for Spec.cell='indrnn'"):
            seqnet.to_framework(
                seqnet.Spec("indrnn", 3, 4), seqnet.init_weights(seqnet.Spec("indrnn", 3, 4)), framework
            )
    with pytest.raises(seqnet.SpecError, match="cell_options is for registered cells"):
        seqnet.Spec("lstm", 3, 4, cell_options={"decay": 0.1})


def test_a_cell_with_impossible_parameters_or_a_wrong_step_is_named():
    class BadShapes(IndRNN):
        name = "badshapes"

        def parameters(self, spec, input_size):
            return {"weight_ih": (spec.hidden_size, 0)}

    seqnet.register_cell(BadShapes())
    with pytest.raises(CellError, match=r"cell 'badshapes': parameter 'weight_ih' has shape \(4, 0\)"):
        seqnet.Spec("badshapes", 3, 4)

    class DropsState(IndRNN):
        name = "dropsstate"

        def step(self, ops, p, x, state):
            h, _ = super().step(ops, p, x, state)
            return h, ()

    seqnet.register_cell(DropsState())
    spec = seqnet.Spec("dropsstate", 3, 4)
    with pytest.raises(CellError, match=r"cell 'dropsstate': step returned 0 state part\(s\); the cell declares 1"):
        seqnet.build(spec, "numpy")(np.zeros((1, 2, 3), "float32"))

    class WideOutput(IndRNN):
        name = "wideoutput"

        def step(self, ops, p, x, state):
            h, new = super().step(ops, p, x, state)
            return ops.concat([h, h]), new

    seqnet.register_cell(WideOutput())
    with pytest.raises(CellError, match=r"an output of shape \[1, 8\]: expected \[1, 4\]"):
        seqnet.build(seqnet.Spec("wideoutput", 3, 4), "numpy")(np.zeros((1, 2, 3), "float32"))


@pytest.mark.parametrize("cell", ["indrnn", "twopart", "mingru_test", "indrnn_pre"])
def test_export_onnx_of_a_registered_cell_runs_in_onnxruntime_and_reads_back(cell, tmp_path):
    """The step traced into Scans: onnxruntime computes the hand-written function (the IndRNN), or the NumPy
    backend's (the others), with lengths and a state, every layout and output mode; the file gives its weights."""
    require("onnxruntime")
    seqnet.register_cell(MinGRU(), replace=True)
    seqnet.register_cell(PrecomputedIndRNN(), replace=True)
    rng = np.random.default_rng(6)
    for spec in (seqnet.Spec(cell, 3, 4, num_layers=2, bidirectional=True),
                 seqnet.Spec(cell, 3, 4, bidirectional=True, batch_first=False, output_size=2),
                 seqnet.Spec(cell, 3, 4, output_size=2, output_mode="last")):  # fmt: skip
        weights = seqnet.init_weights(spec, seed=6)
        x = rng.standard_normal((3, 6, 3) if spec.batch_first else (6, 3, 3)).astype("float32")
        lengths = np.array([6, 2, 4])
        parts = tuple(rng.standard_normal(shape).astype("float32") for shape in spec.state_shapes(3).values())
        state = parts if len(parts) > 1 else parts[0]
        w64, x64 = weights.astype("float64"), x.astype("float64")
        state64 = tuple(p.astype("float64") for p in parts)
        if cell == "indrnn" and spec.output_size is None:
            want = indrnn_by_hand(w64, x64, state64[0], lengths, layers=2, bidirectional=True)
        else:
            model64 = seqnet.build(spec, "numpy", w64, "float64")
            want = seqnet.predict(model64, x64, state64 if len(parts) > 1 else state64[0], lengths)
        model = seqnet.build(spec, "onnxruntime", weights)
        for args in ((state, lengths), (None, None)):
            out, final = seqnet.predict(model, x, *args)
            if args[0] is None:
                want = seqnet.predict(seqnet.build(spec, "numpy", weights), x)
            assert np.abs(out - want[0]).max() < 1e-5, spec
            for got, ref in zip(seqnet.parity.state_parts(final), seqnet.parity.state_parts(want[1]), strict=True):
                assert np.abs(got - ref).max() < 1e-5, spec
        path = tmp_path / f"{cell}.onnx"
        seqnet.export_onnx(spec, weights, path, lengths=True, initial_state=True)
        read_spec, read = seqnet.from_framework(path)
        assert read_spec == spec and all(np.array_equal(read[k], weights[k]) for k in weights)
        names = [i.name for i in __import__("onnx").load(path).graph.input]
        assert names == ["x", "lengths", *(f"{p}0" for p in spec.state_shapes(1))]


def test_check_cell_passes_a_right_cell_on_every_backend():
    for backend in ("torch", "paddle", "jax", "onnxruntime", "litert"):
        require(backend)
    report = seqnet.testing.check_cell(TwoPart())
    ran = {key.split(": ")[-1] for key in report if " vs numpy" in key}
    assert ran == {
        "torch vs numpy",
        "paddle vs numpy",
        "jax vs numpy",
        "onnx round trip (onnxruntime vs numpy, float32)",
        "litert vs numpy, float32",
    }
    assert not [key for key in report if key.startswith("not run")]
    assert any("finite differences" in key for key in report)
    assert all(value <= 1e-6 for key, value in report.items() if not key.startswith("not run"))


class TorchIsOff(IndRNN):
    """Wrong on purpose: its step adds 1e-3 when it runs on torch tensors."""

    name = "torchisoff"

    def step(self, ops, p, x, state):
        h, new = super().step(ops, p, x, state)
        return (h + 1e-3, (h + 1e-3,)) if type(x).__module__.startswith("torch") else (h, new)


def test_check_cell_fails_a_cell_whose_step_differs_between_frameworks():
    require("torch")
    with pytest.raises(seqnet.testing.ParityError, match=r"a and b compute different functions(.|\n)*torchisoff"):
        seqnet.testing.check_cell(TorchIsOff(), backends=["torch"])


class WrongLengths(IndRNN):
    """Wrong on purpose: a cell that reads the step count from a global counter (state it should not keep)."""

    name = "wronglengths"
    calls = 0

    def step(self, ops, p, x, state):
        WrongLengths.calls += 1
        h, _ = super().step(ops, p, x, state)
        return h * (1 + 0.01 * (WrongLengths.calls % 3)), (h,)


def test_check_cell_fails_a_cell_that_is_not_a_function_of_its_inputs():
    with pytest.raises(seqnet.testing.ParityError, match="lengths: sequence"):
        seqnet.testing.check_cell(WrongLengths(), backends=[])


class MinGRU(seqnet.Cell):
    """Feng et al. 2024's minGRU as a linear form: z = sigmoid(W_z x + b_z), h~ = W_h x + b_h,
    h_t = (1 - z) h_{t-1} + z h~: a = 1 - z, b = z h~, from the inputs alone."""

    name = "mingru_test"
    state = ("h",)

    def parameters(self, spec, input_size):
        H = spec.hidden_size
        return {"weight_z": (H, input_size), "bias_z": (H,), "weight_h": (H, input_size), "bias_h": (H,)}

    def linear(self, ops, p, xs):
        z = ops.sigmoid(ops.linear(xs, p["weight_z"], p["bias_z"]))
        return 1 - z, z * ops.linear(xs, p["weight_h"], p["bias_h"])


def mingru_by_hand(w, x, h0=None, lengths=None, layers=1, bidirectional=False):
    """minGRU by hand, step by step: z = sigmoid(W_z x + b_z), h' = (1 - z) h + z (W_h x + b_h)."""

    def step(g, xt, h):
        z = 1 / (1 + np.exp(-(xt @ g["weight_z"].T + g["bias_z"])))
        return (1 - z) * h + z * (xt @ g["weight_h"].T + g["bias_h"])

    return by_hand(step, ("weight_z", "weight_h", "bias_h", "bias_z"), w, x, h0, lengths, layers, bidirectional)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_linear_form_runs_as_a_scan_and_computes_the_loop_by_hand(backend):
    """A cell with only a linear form (no step): the parallel scan of each backend (the blocked scan on numpy,
    torch and paddle, lax.associative_scan on JAX) against a step-by-step NumPy loop; T 7 is no power of 2."""
    require(backend)
    seqnet.register_cell(MinGRU(), replace=True)
    spec = seqnet.Spec("mingru_test", input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    weights = seqnet.init_weights(spec, seed=3, dtype="float64")
    rng = np.random.default_rng(3)
    x, h0, lengths = rng.standard_normal((4, 7, 3)), rng.standard_normal((4, 4, 5)), np.array([7, 1, 4, 6])
    want_out, want_h = mingru_by_hand(weights, x, h0, lengths, layers=2, bidirectional=True)
    with computing(backend, "float64"):
        out, h = seqnet.predict(seqnet.build(spec, backend, weights, "float64"), x, h0, lengths)
        last = seqnet.Spec("mingru_test", 3, 5, bidirectional=True, output_mode="last")
        w_last = {k: v for k, v in weights.items() if "_l1" not in k}
        got_last, _ = seqnet.predict(seqnet.build(last, backend, w_last, "float64"), x, h0[:2], lengths)
    assert np.abs(out - want_out).max() < 1e-10 and np.abs(h - want_h).max() < 1e-10
    seq, _ = mingru_by_hand(w_last, x, h0[:2], lengths, bidirectional=True)
    want_last = np.concatenate([seq[np.arange(4), lengths - 1, :5], seq[:, 0, 5:]], axis=1)
    assert np.abs(got_last - want_last).max() < 1e-10


@pytest.mark.parametrize("backend", ("numpy", "torch", "paddle", "jax"))
def test_gradients_through_a_linear_form_equal_finite_differences(backend):
    require(backend)
    seqnet.register_cell(MinGRU(), replace=True)
    spec = seqnet.Spec("mingru_test", 2, 3, bidirectional=True)
    weights = seqnet.init_weights(spec, seed=4, dtype="float64")
    rng = np.random.default_rng(4)
    x, target, lengths = rng.standard_normal((2, 6, 2)), rng.standard_normal((2, 6, 6)), np.array([6, 3])
    with computing(backend, "float64"):
        loss, grads, _ = seqnet.value_and_grad(spec, weights, x, target, "mse", backend, lengths=lengths)

    def numpy_loss(w):
        seq, _ = mingru_by_hand(w, x, None, lengths, bidirectional=True)
        valid = (np.arange(6)[None, :] < lengths[:, None])[..., None]
        return float(np.sum(valid * (seq - target) ** 2) / (valid.sum() * 6))

    assert abs(loss - numpy_loss(weights)) < 1e-10
    for name, index in (("weight_z_l0", (1, 0)), ("bias_h_l0_reverse", (2,))):
        up, down = ({k: v.copy() for k, v in weights.items()} for _ in range(2))
        up[name][index] += 1e-6
        down[name][index] -= 1e-6
        estimate = (numpy_loss(up) - numpy_loss(down)) / 2e-6
        assert abs(grads[name][index] - estimate) < 1e-7, (name, grads[name][index], estimate)


@pytest.mark.parametrize("reverse", [False, True])
def test_the_blocked_scan_equals_the_recurrence_for_every_length_and_block(reverse):
    from backends.numpy.cell_model import NumpyOps
    from seqnet.generic import blocked_scan

    rng = np.random.default_rng(5)
    for steps, block in [(s, None) for s in (*range(1, 10), 17, 100)] + [(10, 1), (10, 3), (10, 10), (10, 64)]:
        a, b, h0 = rng.uniform(0, 1, (steps, 2, 3)), rng.standard_normal((steps, 2, 3)), rng.standard_normal((2, 3))
        want, h = np.zeros_like(b), h0
        for t in range(steps - 1, -1, -1) if reverse else range(steps):
            h = a[t] * h + b[t]
            want[t] = h
        got = blocked_scan(NumpyOps(), a, b, h0, reverse, block)
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-12, (steps, block)


class PrecomputedIndRNN(IndRNN):
    """The IndRNN with its input product computed once over all steps: step reads (W x_t + b, x_t) as a tuple."""

    name = "indrnn_pre"
    seen: list = []

    def precompute(self, ops, p, xs):
        return ops.linear(xs, p["weight_ih"], p["bias_ih"]), xs

    def step(self, ops, p, x, state):
        gx, raw = x
        PrecomputedIndRNN.seen.append((tuple(gx.shape), tuple(raw.shape)))
        h = ops.relu(gx + p["weight_hh"] * state[0])
        return h, (h,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_precompute_runs_once_and_step_reads_its_slices(backend):
    require(backend)
    seqnet.register_cell(PrecomputedIndRNN(), replace=True)
    spec = seqnet.Spec("indrnn_pre", input_size=8, hidden_size=16, num_layers=2, bidirectional=True)
    weights = seqnet.init_weights(spec, seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    x, h0, lengths = rng.standard_normal((3, 6, 8)), rng.standard_normal((4, 3, 16)), np.array([6, 2, 4])
    want_out, want_h = indrnn_by_hand(weights, x, h0, lengths, layers=2, bidirectional=True)
    PrecomputedIndRNN.seen = []
    with computing(backend, "float64"):
        out, h = seqnet.predict(seqnet.build(spec, backend, weights, "float64"), x, h0, lengths)
    assert np.abs(out - want_out).max() < 1e-10 and np.abs(h - want_h).max() < 1e-10
    assert PrecomputedIndRNN.seen[0] == ((3, 16), (3, 8))  # one step's slices: (B, H) and (B, I)


def test_a_cell_without_step_or_with_a_wrong_linear_form_is_named():
    class NoStep(seqnet.Cell):
        name = "nostep"

        def parameters(self, spec, input_size):
            return {"w": (spec.hidden_size, input_size)}

    with pytest.raises(CellError, match="'nostep'.*neither step"):
        seqnet.register_cell(NoStep())

    class TwoPartLinear(MinGRU):
        name = "twopartlinear"
        state = ("h", "c")

    with pytest.raises(CellError, match="'twopartlinear'.*one state part"):
        seqnet.register_cell(TwoPartLinear())

    class Short(MinGRU):
        name = "short_linear"

        def linear(self, ops, p, xs):
            a, b = super().linear(ops, p, xs)
            return a[..., :2], b

    seqnet.register_cell(Short(), replace=True)
    spec = seqnet.Spec("short_linear", 3, 4)
    shapes = r"a of shape \[5, 2, 2\]: expected \[5, 2, 4\]"
    with pytest.raises(CellError, match=r"'short_linear': linear\(\) gave " + shapes):
        seqnet.predict(seqnet.build(spec, "numpy"), np.zeros((2, 5, 3), "float32"))


def test_the_conformance_suite_checks_a_cell_per_backend(tmp_path):
    """`pytest --pyargs seqnet.testing.conformance --seqnet-cell module:Cell`, as a cell author runs it (its own
    process): a cell wrong on torch alone fails on torch with the mismatch shown and passes everywhere else; the
    backend tests are deselected, not run."""
    import os
    import subprocess
    import sys

    for backend in ("torch", "paddle", "jax", "onnxruntime", "litert"):
        require(backend)
    here = os.path.dirname(__file__)  # this module, importable there: its TorchIsOff is the cell checked
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "seqnet.testing.conformance", "--seqnet-cell",
                          "test_cells:TorchIsOff", "-p", "no:cacheprovider", "-q", "-rA"],  # fmt: skip
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    out = run.stdout
    assert run.returncode == 1, out[-3000:]
    assert "FAILED" in out and "test_the_cell_conforms_on_the_backend[torch]" in out, out[-3000:]
    assert "a and b compute different functions" in out and "torchisoff" in out, out[-3000:]
    for backend in ("paddle", "jax", "onnxruntime", "litert"):
        passed = rf"PASSED \S*test_cell.py::test_the_cell_conforms_on_the_backend\[{backend}\]"
        assert re.search(passed, out), out[-3000:]
    assert "1 failed, 5 passed" in out and "deselected" in out, out[-3000:]


def test_specs_draws_registered_cells_with_fields_they_take():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    seqnet.register_cell(MinGRU(), replace=True)
    seen = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(spec=seqnet.testing.specs(registered=True))
    def draw(spec):
        seen.add(spec.cell)
        assert seqnet.init_weights(spec)  # a valid Spec of a registered cell, with its weights

    draw()
    assert {"indrnn", "twopart", "mingru_test"} & seen and {"rnn", "lstm", "gru"} & seen, seen

    @settings(max_examples=20, deadline=None, database=None)
    @given(spec=seqnet.testing.specs(cell=st.sampled_from(["indrnn", "twopart"])))
    def fixed(spec):
        assert spec.cell in ("indrnn", "twopart") and spec.bias and spec.proj_size == 0

    fixed()


@pytest.mark.slow
def test_a_compiled_torch_model_of_a_registered_cell_computes_the_same_function():
    """build(..., compile=True): torch.compile of the step loop (the forward, in place) gives the eager model's
    outputs, states and gradients; the model stays a SeqnetTorch that weights_of reads."""
    require("torch")
    import torch

    spec = seqnet.Spec("indrnn", 3, 4, bidirectional=True, output_size=2)
    weights = seqnet.init_weights(spec, seed=7)
    rng = np.random.default_rng(7)
    x, lengths = rng.standard_normal((2, 3, 3)).astype("float32"), np.array([3, 2])
    eager, compiled = seqnet.build(spec, "torch", weights), seqnet.build(spec, "torch", weights, compile=True)
    results = []
    for model in (eager, compiled):
        xt = torch.tensor(x, requires_grad=True)
        out, h = model(xt, lengths=torch.tensor(lengths))
        (out.square().sum() + h.sum()).backward()
        results.append((out.detach().numpy(), h.detach().numpy(), xt.grad.numpy(), model.head.weight.grad.numpy()))
    for got, want in zip(results[1], results[0], strict=True):
        assert np.abs(got - want).max() < 1e-5
    assert all(np.array_equal(a, b) for a, b in zip(seqnet.weights_of(compiled).values(), weights.values(),
                                                     strict=True))  # fmt: skip
    with pytest.raises(seqnet.BackendError, match="compile='yes' is not allowed: True or False"):
        seqnet.build(spec, "torch", weights, compile="yes")


@pytest.mark.parametrize("case", seqnet.parity.GRID, ids=lambda c: c.id)
def test_the_builtin_cells_through_the_registry_equal_the_numpy_reference(case):
    """rnn, lstm and gru are registered cells whose steps are their equations: seqnet.generic's loop over them
    (what every backend without a fused layer for a spec runs) equals the NumPy backend's own cells, in float64,
    over the whole parity grid."""
    from backends.numpy.cell_model import CellModel

    weights = seqnet.init_weights(case.spec, seed=8, dtype="float64")
    x, state, lengths = seqnet.parity.inputs(case, "float64", seed=8)
    want = seqnet.predict(seqnet.build(case.spec, "numpy", weights, "float64", fused=False), x, state, lengths)
    got = CellModel(case.spec, weights, "float64")(x, state, lengths)
    assert np.abs(got[0] - want[0]).max() < 1e-12
    for a, b in zip(seqnet.parity.state_parts(got[1]), seqnet.parity.state_parts(want[1]), strict=True):
        assert np.abs(a - b).max() < 1e-12
