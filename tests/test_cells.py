"""Cells of your own (issue 21): the Cell contract, the one registry, Specs and weights of registered cells, and
the same function on every backend that runs them, against references written here by hand."""

from __future__ import annotations

import json

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


def indrnn_by_hand(w, x, h0=None, lengths=None, layers=1, bidirectional=False):
    """The IndRNN by a plain NumPy loop (batch_first x), seqnet's stacking, direction and padding rules."""
    batch, steps, _ = x.shape
    dirs = 2 if bidirectional else 1
    hs, layer_in = [], x
    for k in range(layers):
        outs = []
        for d, s in enumerate(("", "_reverse")[:dirs]):
            W, b, u = w[f"weight_ih_l{k}{s}"], w[f"bias_ih_l{k}{s}"], w[f"weight_hh_l{k}{s}"]
            h = np.zeros((batch, u.shape[0])) if h0 is None else h0[k * dirs + d].copy()
            ys = np.zeros((batch, steps, u.shape[0]))
            for t in range(steps - 1, -1, -1) if d else range(steps):
                new = np.maximum(layer_in[:, t] @ W.T + b + u * h, 0)
                valid = np.ones(batch, bool) if lengths is None else t < lengths
                h = np.where(valid[:, None], new, h)
                ys[:, t] = np.where(valid[:, None], new, 0)
            outs.append(ys)
            hs.append(h)
        layer_in = np.concatenate(outs, axis=-1)
    return layer_in, np.stack(hs)


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


@pytest.mark.parametrize("backend", ("torch", "paddle", "jax"))
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


def test_numpy_refuses_gradients_of_a_registered_cell_by_name():
    spec = seqnet.Spec("indrnn", 3, 4)
    with pytest.raises(seqnet.BackendError, match=r"cell 'indrnn'.*torch, paddle or jax"):
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
    with pytest.raises(seqnet.SpecError, match=r"Spec.cell='minrnn' is not allowed: one of the registered cells "
                                               r"\['rnn', 'lstm', 'gru', 'indrnn', 'twopart'\]"):  # fmt: skip
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


def test_onnxruntime_refuses_a_registered_cell_by_name():
    require("onnxruntime")
    with pytest.raises(seqnet.BackendError, match=r"cell 'indrnn'.*not yet"):
        seqnet.build(seqnet.Spec("indrnn", 3, 4), "onnxruntime")


def test_check_cell_passes_a_right_cell_on_every_backend():
    for backend in ("torch", "paddle", "jax", "onnxruntime"):
        require(backend)
    report = seqnet.testing.check_cell(TwoPart())
    ran = {key.split(": ")[-1] for key in report if " vs numpy" in key}
    assert ran == {"torch vs numpy", "paddle vs numpy", "jax vs numpy"}
    assert "not run: onnxruntime" in report
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
