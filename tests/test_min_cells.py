"""minGRU and minLSTM (Feng et al. 2024), built-in cells with a linear form: every backend, both scans, against a
float64 loop written here from the paper's equations (not seqnet's code), at T = 4,096 where the gates keep
almost everything; gradients through both forms; the refusals.
"""

import numpy as np
import pytest
from conftest import require

import seqnet
from seqnet.errors import BackendError, InputError, SpecError
from seqnet.testing import check_cell, computing

TRAIN = ("numpy", "torch", "paddle", "jax")


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _g(v):
    return np.where(v >= 0, v + 0.5, _sigmoid(v))


def by_hand(spec, weights, x, h0=None, lengths=None):
    """The paper's section 3, one step at a time, in float64: (outputs (B, T, D*H), final h (L*D, B, H)); a step
    past a sequence's length keeps h and outputs zero."""
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    H, D = spec.hidden_size, spec.num_directions
    valid = np.arange(steps)[None, :] < (steps if lengths is None else np.asarray(lengths)[:, None])
    finals, layer_in = [], x
    for layer in range(spec.num_layers):
        outs = []
        for d, suffix in enumerate(("", "_reverse")[:D]):
            w = np.asarray(weights[f"weight_ih_l{layer}{suffix}"], np.float64)
            b = np.asarray(weights.get(f"bias_ih_l{layer}{suffix}", np.zeros(len(w))), np.float64)
            h = np.zeros((batch, H)) if h0 is None else np.asarray(h0[layer * D + d], np.float64).copy()
            ys = np.zeros((batch, steps, H))
            for t in range(steps - 1, -1, -1) if d else range(steps):
                pre = layer_in[:, t] @ w.T + b
                cand = pre[:, -H:] if spec.activation == "identity" else _g(pre[:, -H:])
                if spec.cell == "mingru":
                    z = _sigmoid(pre[:, :H])
                    new = (1 - z) * h + z * cand
                else:
                    f, i = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H : 2 * H])
                    new = f / (f + i) * h + i / (f + i) * cand
                h = np.where(valid[:, t, None], new, h)
                ys[:, t] = np.where(valid[:, t, None], h, 0)
            outs.append(ys)
            finals.append(h)
        layer_in = np.concatenate(outs, axis=-1)
    return layer_in, np.stack(finals)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("activation", ["identity", "g"])
def test_every_backend_and_both_scans_compute_the_papers_equations(cell, activation):
    spec = seqnet.Spec(cell, 3, 5, num_layers=2, bidirectional=True, activation=activation)
    weights = seqnet.init_weights(spec, seed=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 9, 3)).astype(np.float32)
    lengths = np.array([9, 3, 5, 1])
    h0 = np.abs(rng.standard_normal((4, 4, 5))).astype(np.float32)  # positive: the g form's states are
    want, want_h = by_hand(spec, weights, x, h0, lengths)
    for backend in (*TRAIN, "onnxruntime"):
        require(backend)
        for scan in ("parallel", "sequential") if backend != "onnxruntime" else (None,):
            options = {} if scan is None else {"scan": scan}
            out, h = seqnet.predict(seqnet.build(spec, backend, weights, **options), x, h0, lengths)
            assert np.abs(out - want).max() < 1e-5 and np.abs(h - want_h).max() < 1e-5, (backend, scan)


def _retaining(cell, steps, dtype):
    """A one-layer spec, weights whose gates keep ~all of h (1 - z ~ 1e-4 for minGRU; f' ~ 1 - 1e-4 for minLSTM),
    inputs of T steps, an initial state."""
    spec = seqnet.Spec(cell, 2, 3)
    weights = dict(seqnet.init_weights(spec, seed=0))
    shift = np.zeros(len(weights["bias_ih_l0"]))
    shift[:3] = -9.2 if cell == "mingru" else 9.2  # z = sigmoid(-9.2) ~ 1e-4; f ~ 1, i small beside it
    if cell == "minlstm":
        shift[3:6] = -9.2
    weights["bias_ih_l0"] = (weights["bias_ih_l0"] + shift).astype(np.float32)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, steps, 2)).astype(dtype)
    h0 = np.full((1, 2, 3), 0.7, dtype)
    return spec, weights, x, h0


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_both_scans_hold_their_precision_at_4096_steps_where_the_gates_keep_almost_everything(cell):
    """Scaled error at most 1e-4 in float32 and 1e-10 in float64 against the float64 loop, with an initial state
    and lengths and without; a plain cumulative product of 4,096 gates near 1 - 1e-4 is what drifts."""
    steps = 4096
    spec, weights, x, h0 = _retaining(cell, steps, np.float32)
    lengths = np.array([steps, 3001])
    cases = [(None, None), (h0, lengths)]
    wants = [by_hand(spec, weights, x, h, n) for h, n in cases]
    for backend in TRAIN:
        require(backend)
        for scan in ("parallel", "sequential"):
            for dtype in ("float32", "float64"):
                tol = 1e-4 if dtype == "float32" else 1e-10
                with computing(backend, dtype):
                    model = seqnet.build(spec, backend, weights, dtype=dtype, scan=scan)
                    for (h, n), (want, want_h) in zip(cases, wants, strict=True):
                        xd, hd = x.astype(dtype), None if h is None else h.astype(dtype)
                        out, final = seqnet.predict(model, xd, hd, n)
                        scale = np.abs(want).max()
                        err = max(np.abs(out - want).max(), np.abs(final - want_h).max()) / scale
                        assert err < tol, (backend, scan, dtype, h is not None, err)


def test_gradients_through_both_scans_agree_and_match_finite_differences():
    """torch's, Paddle's and JAX's autograd through the parallel and the sequential form equal NumPy's float64
    gradients (autograd over the sequential form); and check_cell's finite differences on every backend."""
    for backend in TRAIN:
        require(backend)
    spec = seqnet.Spec("minlstm", 3, 4, bidirectional=True, activation="g", output_size=2)
    weights = seqnet.init_weights(spec, seed=0)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((3, 6, 3)), rng.standard_normal((3, 6, 2))
    lengths = np.array([6, 2, 4])
    _, ref, _ = seqnet.value_and_grad(spec, weights, x, y, lengths=lengths, backend="numpy", dtype="float64")
    import torch

    for scan in ("parallel", "sequential"):
        model = seqnet.build(spec, "torch", weights, dtype="float64", scan=scan)
        out, _ = model(torch.from_numpy(x), lengths=torch.from_numpy(lengths))
        mask = torch.from_numpy((np.arange(6)[None, :] < lengths[:, None]).astype(np.float64))
        ((mask[..., None] * (out - torch.from_numpy(y)) ** 2).sum() / (mask.sum() * 2)).backward()
        grads = {n.removeprefix("rnn."): p.grad.numpy() for n, p in model.named_parameters()}
        assert max(np.abs(grads[k] - ref[k]).max() for k in ref) < 1e-10, scan
    import jax
    import jax.numpy as jnp
    import paddle

    mask = (np.arange(6)[None, :] < lengths[:, None]).astype(np.float64)
    for scan in ("parallel", "sequential"):
        with computing("jax", "float64"):
            model = seqnet.build(spec, "jax", weights, dtype="float64", scan=scan)

            def loss(params, model=model):
                out = model.apply(params, jnp.asarray(x), lengths=jnp.asarray(lengths))[0]
                return jnp.sum(mask[..., None] * (out - y) ** 2) / (mask.sum() * 2)

            grads = {k: np.asarray(v) for k, v in jax.grad(loss)(model.params).items()}
        assert max(np.abs(grads[k] - ref[k]).max() for k in ref) < 1e-10, ("jax", scan)
        model = seqnet.build(spec, "paddle", weights, dtype="float64", scan=scan)
        out, _ = model(paddle.to_tensor(x), lengths=paddle.to_tensor(lengths))
        ((paddle.to_tensor(mask)[..., None] * (out - paddle.to_tensor(y)) ** 2).sum() / (mask.sum() * 2)).backward()
        from seqnet_backends.paddle.model import canonical_to_paddle, walk

        grads = {}
        for canonical, (name, transposed) in canonical_to_paddle(spec, model.fused).items():
            g = walk(model, name).grad.numpy()
            grads[canonical] = g.T if transposed else g
        assert max(np.abs(grads[k] - ref[k]).max() for k in ref) < 1e-10, ("paddle", scan)
    check_cell(seqnet.cells()["mingru"])


def test_numpy_trains_a_mingru():
    spec = seqnet.Spec("mingru", 1, 8, output_size=1)
    t = np.linspace(0, 6, 40)
    x = np.sin(t)[None, :-1, None].repeat(4, 0).astype(np.float32)
    y = np.sin(t)[None, 1:, None].repeat(4, 0).astype(np.float32)
    _, history = seqnet.fit(spec, seqnet.init_weights(spec, seed=0), x, y, backend="numpy", lr=0.05, epochs=30)
    assert history.epoch_loss[-1] < 0.5 * history.epoch_loss[0]


def test_the_refusals_name_what_is_wrong():
    with pytest.raises(SpecError, match=r"Spec.activation='tanh' is not allowed: one of \('identity', 'g'\)"):
        seqnet.Spec("mingru", 3, 4, activation="tanh")
    with pytest.raises(SpecError, match=r"scan='parallel' is not allowed for cell='gru', which has no linear form"):
        seqnet.build(seqnet.Spec("gru", 3, 4), "numpy", scan="parallel")
    with pytest.raises(BackendError, match=r"scan='fast' is not allowed: one of \('auto', 'parallel', 'sequential'\)"):
        seqnet.build(seqnet.Spec("mingru", 3, 4), "numpy", scan="fast")
    spec = seqnet.Spec("minlstm", 3, 4, activation="g")
    x = np.zeros((2, 5, 3), np.float32)
    negative = np.full((1, 2, 4), -0.1, np.float32)
    for backend in TRAIN:
        require(backend)
        model = seqnet.build(spec, backend)
        with pytest.raises(InputError, match=r"state h has negative values .*activation='g'"):
            seqnet.predict(model, x, negative)
    assert seqnet.Spec("mingru", 3, 4).activation == "identity"  # the cell's default, not the RNN's tanh
    assert seqnet.Spec.from_json(seqnet.Spec("minlstm", 3, 4, activation="g").to_json()).activation == "g"


@pytest.mark.parametrize("reverse", [False, True])
def test_the_hand_written_backward_of_a_linear_recurrence_matches_finite_differences(reverse):
    """backends/numpy/linear_bptt.py: dL/da, dL/db, dL/dh0 of L = sum(c * h) against central differences."""
    from seqnet_backends.numpy.cell_model import NumpyOps
    from seqnet_backends.numpy.linear_bptt import backward

    from seqnet.generic import blocked_scan

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.2, 1.0, (11, 2, 3)), rng.standard_normal((11, 2, 3))
    h0, c = rng.standard_normal((2, 3)), rng.standard_normal((11, 2, 3))

    def loss(a, b, h0):
        return float((c * blocked_scan(NumpyOps(), a, b, h0, reverse)).sum())

    found = backward(a, h0, blocked_scan(NumpyOps(), a, b, h0, reverse), c, reverse)
    for which, value in enumerate((a, b, h0)):
        for index in [(0, 0, 0), (5, 1, 2), (10, 0, 1)][: 3 if value.ndim == 3 else 0] or [(0, 0), (1, 2)]:
            up, down = [v.copy() for v in (a, b, h0)], [v.copy() for v in (a, b, h0)]
            up[which][index] += 1e-6
            down[which][index] -= 1e-6
            estimate = (loss(*up) - loss(*down)) / 2e-6
            assert abs(found[which][index] - estimate) < 1e-7, (which, index)
