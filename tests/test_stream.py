"""The streaming call `model.step(x_t, state)` (seqnet.stream): x_t (B, I) in, (y_t, state) out, on every backend.

Expected values: the NumPy reference run on the whole sequence in float64 (the parity grid's anchor; a step at a
time is a different path through every backend), torch's own nn.LSTMCell for the torch path's outputs and
gradients; the refusals by their messages."""

import numpy as np
import pytest
from conftest import importorskip, jax_x64, require

import seqnet
from seqnet.errors import InputError, SpecError
from seqnet.registry import get_backend

SPECS = {
    "lstm-head": seqnet.Spec("lstm", 4, 6, output_size=3),
    "gru-time-major": seqnet.Spec("gru", 4, 6, batch_first=False),
    "rnn-last": seqnet.Spec("rnn", 4, 6, output_mode="last"),
    "lstm-2-layers-proj": seqnet.Spec("lstm", 4, 6, num_layers=2, proj_size=3),
    "mingru": seqnet.Spec("mingru", 4, 6, num_layers=2),
}


BACKENDS = ("numpy", "torch", "paddle", "jax", "onnxruntime", "litert")


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("any_backend", BACKENDS)
def test_a_stream_of_steps_computes_the_whole_sequences_outputs_and_state(name, any_backend):
    require(any_backend)
    spec = SPECS[name]
    weights = seqnet.init_weights(spec, seed=3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 4) if spec.batch_first else (5, 2, 4))
    shapes = spec.state_shapes(2)
    state = tuple(0.3 * rng.standard_normal(shapes[part]) for part in shapes)
    state = state if len(state) == 2 else state[0]
    want, want_state = seqnet.predict(seqnet.build(spec, "numpy", weights, "float64"), x, state)
    dtype, tol = ("float32", 1e-5) if any_backend in ("onnxruntime", "litert") else ("float64", 1e-10)
    with jax_x64():
        model = seqnet.build(spec, any_backend, weights, dtype)
        impl = get_backend(any_backend).load()
        carried = tuple(impl.from_numpy(s.astype(dtype), model) for s in seqnet.parity.state_parts(state))
        carried = carried if len(carried) == 2 else carried[0]
        steps = []
        for t in range(5):
            x_t = np.ascontiguousarray(x[:, t] if spec.batch_first else x[t]).astype(dtype)
            y_t, carried = model.step(impl.from_numpy(x_t, model), carried)
            assert tuple(y_t.shape) == (2, spec.features_out)
            steps.append(impl.to_numpy(y_t))
    if spec.output_mode == "last":
        assert np.abs(steps[-1] - want).max() < tol
    else:
        assert np.abs(np.stack(steps, 1 if spec.batch_first else 0) - want).max() < tol
    for got, expected in zip(seqnet.parity.state_parts(carried), seqnet.parity.state_parts(want_state), strict=True):
        assert np.abs(impl.to_numpy(got) - expected).max() < tol


@pytest.mark.parametrize("any_backend", BACKENDS)
def test_step_refuses_a_bidirectional_spec_and_a_step_of_the_wrong_shape(any_backend):
    require(any_backend)
    spec = seqnet.Spec("gru", 4, 6, bidirectional=True)
    model = seqnet.build(spec, any_backend, seqnet.init_weights(spec))
    impl = get_backend(any_backend).load()
    with pytest.raises(SpecError, match=r"bidirectional=True cannot stream"):
        model.step(impl.from_numpy(np.zeros((2, 4), "float32"), model))
    spec = seqnet.Spec("gru", 4, 6)
    model = seqnet.build(spec, any_backend, seqnet.init_weights(spec))
    for shape in [(2, 1, 4), (2, 5)]:
        with pytest.raises(InputError, match=r"x_t must be one time step of shape \(B, input_size=4\), got \("):
            model.step(impl.from_numpy(np.zeros(shape, "float32"), model))


def test_torch_steps_are_torch_cells_steps_with_the_same_gradients_and_checked_when_the_shapes_change():
    torch = importorskip("torch", "the torch path needs torch")
    spec = seqnet.Spec("lstm", 4, 6)
    weights = seqnet.init_weights(spec, seed=5)
    model = seqnet.build(spec, "torch", weights, "float64")
    cell = seqnet.to_framework(spec, weights, "torch", cell=True).double()
    x = torch.as_tensor(np.random.default_rng(6).standard_normal((3, 7, 4)))
    state, carry = None, None
    loss, cell_loss = 0, 0
    for t in range(7):  # the second call on runs torch.lstm_cell directly (the first one is checked in full)
        y_t, state = model.step(x[:, t], state)
        carry = cell(x[:, t], carry)
        loss, cell_loss = loss + (y_t**2).sum(), cell_loss + (carry[0] ** 2).sum()
        assert torch.equal(y_t, carry[0]) and torch.equal(state[1][0], carry[1])
    loss.backward()
    cell_loss.backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        got = getattr(model.rnn, f"{name}_l0").grad
        assert torch.allclose(got, getattr(cell, name).grad, rtol=1e-12, atol=1e-12), name
    with pytest.raises(InputError, match=r"state"):  # a state of another batch: seqnet's check, not torch's
        model.step(x[:, 0], (state[0][:, :2], state[1]))
    with pytest.raises(InputError, match=r"dtype"):
        model.step(x[:, 0].float(), state)
