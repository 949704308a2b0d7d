"""Gradients: the NumPy BPTT against finite differences, and every backend's autograd against it."""

import numpy as np
import pytest
from conftest import require
from seqnet_backends.numpy.model import value_and_grad as numpy_value_and_grad

import seqnet
from seqnet import InputError, Spec, init_weights, parity, value_and_grad
from seqnet.testing import computing

GRAD_TOL = {"float32": 1e-4, "float64": 1e-9}


def _target(case, dtype, loss, seed=7):
    spec = case.spec
    x, state, lengths = parity.inputs(case, dtype, seed=3)
    shape = spec.output_shape(x.shape)
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        return x, state, lengths, rng.integers(0, spec.output_size, size=shape[:-1])
    return x, state, lengths, rng.standard_normal(shape).astype(dtype)


def _rel(a, b):
    """max |a - b| / max(max |b|, tiny): relative to the array's scale."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


# finite differences on a sample of the grid (every cell kind, heads, lengths, state), float64
FD_CASES = parity.GRID[1::2]


@pytest.mark.parametrize("fused", [True, False], ids=["fused-kernels", "reference-cells"])
@pytest.mark.parametrize("case", FD_CASES, ids=lambda c: c.id)
def test_numpy_bptt_matches_finite_differences(case, fused):
    """Both hand-written backward passes: bptt.py's kernels (the default, for LSTM and the reset-after GRU)
    and cells.py's reference steps (fused=False, and every other spec)."""
    spec = case.spec
    weights = init_weights(spec, seed=5, dtype="float64")
    x, state, lengths, target = _target(case, "float64", "mse")
    _, grads, dx = numpy_value_and_grad(
        spec, weights, x, target, state=state, lengths=lengths, dtype="float64", fused=fused
    )
    rng = np.random.default_rng(0)
    eps = 1e-6

    def loss_at(w=weights, xx=x):
        return numpy_value_and_grad(spec, w, xx, target, state=state, lengths=lengths, dtype="float64", fused=fused)[0]

    for name in weights:
        flat = np.array(weights[name]).ravel()
        for i in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            plus, minus = flat.copy(), flat.copy()
            plus[i] += eps
            minus[i] -= eps
            wp = dict(weights, **{name: plus.reshape(weights[name].shape)})
            wm = dict(weights, **{name: minus.reshape(weights[name].shape)})
            numeric = (loss_at(wp) - loss_at(wm)) / (2 * eps)
            assert abs(grads[name].ravel()[i] - numeric) <= 1e-8 + 1e-6 * abs(numeric), name
    for idx in [(0, 0, 0), (1, 0, 2), (2, 2, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        numeric = (loss_at(xx=xp) - loss_at(xx=xm)) / (2 * eps)
        assert abs(dx[idx] - numeric) <= 1e-8 + 1e-6 * abs(numeric)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", parity.GRID, ids=lambda c: c.id)
def test_numpy_fused_bptt_equals_the_reference_cells(case, dtype):
    """bptt.py's training kernels against cells.py's steps over the whole parity grid, in training mode
    (dropout between layers from the same seed): the same loss, weight gradients and dL/dx."""
    spec = case.spec
    weights = init_weights(spec, seed=5, dtype=dtype)
    x, state, lengths, target = _target(case, dtype, "mse")
    kw = dict(state=state, lengths=lengths, dtype=dtype, training=True, dropout_seed=3)
    value, grads, dx = numpy_value_and_grad(spec, weights, x, target, fused=True, **kw)
    ref_value, ref_grads, ref_dx = numpy_value_and_grad(spec, weights, x, target, fused=False, **kw)
    tol = 1e-12 if dtype == "float64" else 2e-5
    assert abs(value - ref_value) <= tol * max(1.0, abs(ref_value))
    assert set(grads) == set(ref_grads)
    for name in ref_grads:
        assert _rel(grads[name], ref_grads[name]) <= tol, name
    assert _rel(dx, ref_dx) <= tol


def test_cross_entropy_gradient_by_finite_differences():
    spec = Spec("gru", 3, 4, bidirectional=True, output_size=3, output_mode="last")
    weights = init_weights(spec, seed=1, dtype="float64")
    x = np.random.default_rng(0).standard_normal((4, 5, 3))
    target = np.array([0, 2, 1, 2])
    lengths = np.array([5, 1, 3, 4])
    value, grads, _ = value_and_grad(spec, weights, x, target, loss="cross_entropy", lengths=lengths)
    # the loss itself by hand: mean negative log-softmax of the target class
    logits, _ = seqnet.build(spec, weights=weights, dtype="float64")(x, lengths=lengths)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert np.isclose(value, -logp[np.arange(4), target].mean())
    name, i, eps = "weight_ih_l0_reverse", (3, 1), 1e-6
    wp, wm = np.array(weights[name]), np.array(weights[name])
    wp[i] += eps
    wm[i] -= eps
    lp = value_and_grad(spec, dict(weights, **{name: wp}), x, target, "cross_entropy", lengths=lengths)[0]
    lm = value_and_grad(spec, dict(weights, **{name: wm}), x, target, "cross_entropy", lengths=lengths)[0]
    assert abs(grads[name][i] - (lp - lm) / (2 * eps)) < 1e-8


def test_mse_counts_valid_steps_only():
    spec = Spec("rnn", 1, 2, output_size=1)
    weights = init_weights(spec, dtype="float64")
    x = np.zeros((2, 3, 1))
    outputs, _ = seqnet.build(spec, weights=weights, dtype="float64")(x, lengths=[3, 1])
    target = np.ones((2, 3, 1))
    value, _, _ = value_and_grad(spec, weights, x, target, lengths=[3, 1])
    valid = [outputs[0, 0], outputs[0, 1], outputs[0, 2], outputs[1, 0]]
    assert np.isclose(value, np.mean([(v[0] - 1) ** 2 for v in valid]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", parity.GRID, ids=lambda c: c.id)
def test_backend_gradients_match_numpy(framework, case, dtype):
    spec = case.spec
    loss = "cross_entropy" if spec.output_size else "mse"
    weights = init_weights(spec, seed=5, dtype=dtype)
    x, state, lengths, target = _target(case, dtype, loss)
    ref_value, ref_grads, ref_dx = value_and_grad(spec, weights, x, target, loss, "numpy", state, lengths)
    with computing(framework, dtype):
        value, grads, dx = value_and_grad(spec, weights, x, target, loss, framework, state, lengths)
    tol = GRAD_TOL[dtype]
    assert abs(value - ref_value) <= tol * max(1.0, abs(ref_value))
    for name in ref_grads:
        assert _rel(grads[name], ref_grads[name]) <= tol, name
    assert _rel(dx, ref_dx) <= tol


def test_value_and_grad_checks_before_any_framework():
    spec = Spec("gru", 3, 4, output_size=2)
    weights = init_weights(spec)
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(InputError, match="loss='hinge' is not allowed"):
        value_and_grad(spec, weights, x, np.zeros((2, 5, 2), np.float32), loss="hinge", backend="torch")
    with pytest.raises(InputError, match=r"target has shape \[2, 5\]: mse needs the outputs' shape \[2, 5, 2\]"):
        value_and_grad(spec, weights, x, np.zeros((2, 5), np.float32), backend="jax")
    with pytest.raises(InputError, match="cross_entropy needs integer class ids"):
        value_and_grad(spec, weights, x, np.zeros((2, 5), np.float32), loss="cross_entropy")
    with pytest.raises(InputError, match="needs class logits"):
        value_and_grad(Spec("gru", 3, 4), init_weights(Spec("gru", 3, 4)), x, np.zeros((2, 5), int), "cross_entropy")
    with pytest.raises(InputError, match="x has dtype float64"):
        value_and_grad(spec, weights, x.astype(np.float64), np.zeros((2, 5, 2)), backend="paddle")


def test_gradient_flow_shows_vanishing_in_rnn_not_lstm():
    steps = 60
    norms = {}
    for cell in ("rnn", "lstm"):
        spec = Spec(cell, 1, 16)
        norms[cell] = seqnet.gradient_flow(spec, steps=steps, seed=0)
    assert norms["rnn"].shape == (steps,)
    # the gradient reaching 50 steps back, relative to the last step's
    decay = {cell: n[steps - 51] / n[-1] for cell, n in norms.items()}
    assert decay["rnn"] < 1e-6
    assert decay["lstm"] > 100 * decay["rnn"]


def test_gradient_flow_matches_autograd_for_one_step():
    """dL/dh_{T-2} by BPTT equals the torch autograd gradient of the same loss w.r.t. that state."""
    require("torch")
    import torch

    spec = Spec("gru", 2, 3)
    weights = init_weights(spec, seed=3, dtype="float64")
    x = np.random.default_rng(1).standard_normal((4, 6, 2))
    norms = seqnet.gradient_flow(spec, weights, x)
    cell = torch.nn.GRUCell(2, 3).double()
    cell.load_state_dict({k.replace("_l0", ""): torch.tensor(v) for k, v in weights.items()})
    h = torch.zeros(4, 3, dtype=torch.float64)
    states = []
    for t in range(6):
        h = cell(torch.tensor(x[:, t]), h)
        h.retain_grad()
        states.append(h)
    (0.5 * (h**2).sum()).backward()
    expected = [s.grad.norm(dim=1).mean().item() for s in states]
    assert np.allclose(norms, expected, rtol=1e-10)
