"""The NumPy reference backend against hand computations, identities and the lengths semantics."""

import math

import numpy as np
import pytest

import seqnet
from seqnet import InputError, Spec, init_weights


def sig(a):
    return 1 / (1 + math.exp(-a))


def scalar_weights(spec, **values):
    """Weights for a 1-unit model from scalars / lists (gate blocks in canonical order)."""
    return {
        name: np.array(values[name], dtype=np.float64).reshape(shape) for name, shape in seqnet.layout(spec).items()
    }


X = [1.0, 2.0, -1.0]


def run(spec, weights, x=X, **kw):
    model = seqnet.build(spec, weights=weights, dtype="float64")
    return model(np.array(x, dtype=np.float64).reshape(1, -1, 1), **kw)


@pytest.mark.parametrize("activation, act", [("tanh", math.tanh), ("relu", lambda a: max(a, 0.0)), ("sigmoid", sig)])
def test_rnn_by_hand(activation, act):
    spec = Spec("rnn", 1, 1, activation=activation)
    w = scalar_weights(spec, weight_ih_l0=0.5, weight_hh_l0=-0.3, bias_ih_l0=0.1, bias_hh_l0=0.2)
    h, expected = 0.0, []
    for x in X:
        h = act(0.5 * x + 0.1 - 0.3 * h + 0.2)
        expected.append(h)
    y, hn = run(spec, w)
    assert np.allclose(y.ravel(), expected, atol=1e-14) and np.isclose(hn.item(), expected[-1])


def test_lstm_by_hand():
    spec = Spec("lstm", 1, 1)
    wi, wh, bi, bh = [0.5, -0.4, 0.3, 0.2], [0.1, 0.6, -0.7, 0.25], [0.05, 0.1, -0.2, 0.3], [0.0, 0.2, 0.1, -0.1]
    w = scalar_weights(spec, weight_ih_l0=wi, weight_hh_l0=wh, bias_ih_l0=bi, bias_hh_l0=bh)
    h = c = 0.0
    expected = []
    for x in X:
        a = [wi[k] * x + bi[k] + wh[k] * h + bh[k] for k in range(4)]
        i, f, g, o = sig(a[0]), sig(a[1]), math.tanh(a[2]), sig(a[3])
        c = f * c + i * g
        h = o * math.tanh(c)
        expected.append(h)
    y, (hn, cn) = run(spec, w)
    assert np.allclose(y.ravel(), expected, atol=1e-14)
    assert np.isclose(hn.item(), h) and np.isclose(cn.item(), c)


def stable_sig(a):
    """The logistic function without overflow for large |a| (an independent form: exp of a non-positive number)."""
    return 1 / (1 + math.exp(-a)) if a >= 0 else math.exp(a) / (1 + math.exp(a))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fused", [True, False])
def test_lstm_saturated_gates_by_hand(dtype, fused):
    """Pre-activations of +-1e4 and +-30: gates at exactly 0 or 1 and at the edge, no NaN or overflow, on the
    fused kernels (tanh-based sigmoids) and the reference cells (exp-based) alike."""
    spec = Spec("lstm", 1, 1)
    wi, bi = [3e3, -20.0, 1e4, 30.0], [0.0, 0.0, 0.0, 0.0]
    w = scalar_weights(spec, weight_ih_l0=wi, weight_hh_l0=[0.0] * 4, bias_ih_l0=bi, bias_hh_l0=[0.0] * 4)
    h = c = 0.0
    expected = []
    for x in X:
        a = [wi[k] * x for k in range(4)]
        i, f, g, o = stable_sig(a[0]), stable_sig(a[1]), math.tanh(a[2]), stable_sig(a[3])
        c = f * c + i * g
        h = o * math.tanh(c)
        expected.append(h)
    model = seqnet.build(spec, weights=seqnet.Weights(w).astype(dtype), dtype=dtype, fused=fused)
    with np.errstate(invalid="raise", divide="raise"):  # no NaN made on either path (the reference's exp may overflow
        # to inf by design, which gives the right 0)
        y, _ = model(np.array(X, dtype=dtype).reshape(1, -1, 1))
    assert np.all(np.isfinite(y)) and np.allclose(y.ravel(), expected, atol=1e-6 if dtype == "float32" else 1e-13)


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_gru_by_hand(variant):
    spec = Spec("gru", 1, 1, gru_variant=variant)
    wi, wh, bi, bh = [0.5, -0.4, 0.3], [0.1, 0.6, -0.7], [0.05, 0.1, -0.2], [0.2, -0.3, 0.4]
    w = scalar_weights(spec, weight_ih_l0=wi, weight_hh_l0=wh, bias_ih_l0=bi, bias_hh_l0=bh)
    h, expected = 0.3, []
    for x in X:
        r = sig(wi[0] * x + bi[0] + wh[0] * h + bh[0])
        z = sig(wi[1] * x + bi[1] + wh[1] * h + bh[1])
        if variant == "reset_after":
            n = math.tanh(wi[2] * x + bi[2] + r * (wh[2] * h + bh[2]))
        else:
            n = math.tanh(wi[2] * x + bi[2] + wh[2] * (r * h) + bh[2])
        h = (1 - z) * n + z * h
        expected.append(h)
    y, hn = run(spec, w, state=np.full((1, 1, 1), 0.3))
    assert np.allclose(y.ravel(), expected, atol=1e-14)


def test_gru_variants_differ():
    spec_a, spec_b = Spec("gru", 3, 4), Spec("gru", 3, 4, gru_variant="reset_before")
    w = init_weights(spec_a, seed=1, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    a, _ = seqnet.build(spec_a, weights=w, dtype="float64")(x)
    b, _ = seqnet.build(spec_b, weights=w, dtype="float64")(x)
    assert np.abs(a - b).max() > 1e-3


def test_projected_lstm_by_hand():
    spec = Spec("lstm", 1, 2, proj_size=1)
    rng = np.random.default_rng(4)
    w = {name: rng.standard_normal(shape) * 0.5 for name, shape in seqnet.layout(spec).items()}
    h, c = np.zeros(1), np.zeros(2)
    outs = []
    for x in X:
        a = w["weight_ih_l0"] @ [x] + w["bias_ih_l0"] + w["weight_hh_l0"] @ h + w["bias_hh_l0"]
        i, f, g, o = 1 / (1 + np.exp(-a[0:2])), 1 / (1 + np.exp(-a[2:4])), np.tanh(a[4:6]), 1 / (1 + np.exp(-a[6:8]))
        c = f * c + i * g
        h = w["weight_hr_l0"] @ (o * np.tanh(c))
        outs.append(h[0])
    y, (hn, cn) = run(spec, w)
    assert y.shape == (1, 3, 1) and cn.shape == (1, 1, 2)
    assert np.allclose(y.ravel(), outs, atol=1e-14) and np.allclose(cn.ravel(), c)


def _models(spec, seed=0):
    return seqnet.build(spec, weights=init_weights(spec, seed=seed, dtype="float64"), dtype="float64")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_lengths_mean_each_sequence_run_alone(cell):
    spec = Spec(cell, 3, 4, num_layers=2, bidirectional=True)
    model = _models(spec)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 2, 4])
    y, state = model(x, lengths=lengths)
    h = state[0] if cell == "lstm" else state
    for b, n in enumerate(lengths):
        alone_y, alone_state = model(x[b : b + 1, :n])
        alone_h = alone_state[0] if cell == "lstm" else alone_state
        assert np.allclose(y[b, :n], alone_y[0], atol=1e-13)
        assert np.all(y[b, n:] == 0)  # steps past a length output zero
        assert np.allclose(h[:, b], alone_h[:, 0], atol=1e-13)  # final state at the last valid step
    # garbage in the padding changes nothing
    x2 = x.copy()
    x2[1, 2:] = 1e3
    y2, _ = model(x2, lengths=lengths)
    assert np.array_equal(y, y2)


def test_reverse_direction_is_forward_on_reversed_input():
    spec = Spec("lstm", 3, 4, bidirectional=True)
    w = init_weights(spec, seed=2, dtype="float64")
    forward_only = Spec("lstm", 3, 4)
    reverse_as_forward = {k.replace("_reverse", ""): v for k, v in w.items() if k.endswith("_reverse")}
    x = np.random.default_rng(2).standard_normal((2, 5, 3))
    y, (h, c) = seqnet.build(spec, weights=w, dtype="float64")(x)
    yr, (hr, cr) = seqnet.build(forward_only, weights=reverse_as_forward, dtype="float64")(x[:, ::-1].copy())
    assert np.allclose(y[:, :, 4:], yr[:, ::-1], atol=1e-14)
    assert np.allclose(h[1], hr[0]) and np.allclose(c[1], cr[0])


def test_time_major_equals_batch_first():
    a = _models(Spec("gru", 3, 4, num_layers=2))
    b = _models(Spec("gru", 3, 4, num_layers=2, batch_first=False))
    x = np.random.default_rng(3).standard_normal((2, 5, 3))
    ya, ha = a(x, lengths=[5, 3])
    yb, hb = b(x.transpose(1, 0, 2).copy(), lengths=[5, 3])
    assert np.allclose(ya, yb.transpose(1, 0, 2)) and np.allclose(ha, hb)


def test_heads():
    spec_seq = Spec("gru", 3, 4, bidirectional=True, output_size=2)
    spec_last = Spec("gru", 3, 4, bidirectional=True, output_size=2, output_mode="last")
    plain = Spec("gru", 3, 4, bidirectional=True)
    w = init_weights(spec_seq, seed=5, dtype="float64")
    x = np.random.default_rng(5).standard_normal((2, 5, 3))
    lengths = np.array([5, 3])
    feats, h = seqnet.build(plain, weights={k: v for k, v in w.items() if "head" not in k}, dtype="float64")(
        x, lengths=lengths
    )
    W, bias = w["head.weight"], w["head.bias"]
    y_seq, _ = seqnet.build(spec_seq, weights=w, dtype="float64")(x, lengths=lengths)
    assert np.allclose(y_seq[0], feats[0] @ W.T + bias)
    assert np.allclose(y_seq[1, :3], feats[1, :3] @ W.T + bias) and np.all(y_seq[1, 3:] == 0)
    y_last, _ = seqnet.build(spec_last, weights=w, dtype="float64")(x, lengths=lengths)
    # forward direction: output at the last valid step; reverse direction: its output at step 0
    last_feats = np.stack([np.concatenate([feats[b, n - 1, :4], feats[b, 0, 4:]]) for b, n in enumerate(lengths)])
    assert y_last.shape == (2, 2)
    assert np.allclose(y_last, last_feats @ W.T + bias)
    no_head, _ = seqnet.build(
        Spec("gru", 3, 4, bidirectional=True, output_mode="last"), weights=w_no_head(w), dtype="float64"
    )(x, lengths=lengths)
    assert np.allclose(no_head, last_feats)


def w_no_head(w):
    return {k: v for k, v in w.items() if "head" not in k}


def test_initial_state_is_used():
    spec = Spec("lstm", 2, 3, num_layers=2)
    model = _models(spec)
    x = np.zeros((1, 1, 2))
    h0 = np.random.default_rng(0).standard_normal((2, 1, 3))
    c0 = np.random.default_rng(1).standard_normal((2, 1, 3))
    y0, _ = model(x)
    y1, _ = model(x, state=(h0, c0))
    assert not np.allclose(y0, y1)


def test_dropout_train_only():
    spec = Spec("rnn", 4, 64, num_layers=2, dropout=0.5)
    model = _models(spec)
    x = np.random.default_rng(0).standard_normal((8, 6, 4))
    ref, _ = model(x)
    again, _ = model(x)
    assert np.array_equal(ref, again)
    model.train()
    dropped, _ = model(x)
    assert not np.allclose(dropped, ref)
    model.eval()
    assert np.array_equal(model(x)[0], ref)
    # a one-layer model's output is unaffected by dropout (it acts between layers only)
    single = Spec("rnn", 4, 64, num_layers=2, dropout=0.0)
    m = _models(single).train()
    assert np.array_equal(m(x)[0], _models(single)(x)[0])


def test_float32_close_to_float64():
    spec = Spec("lstm", 3, 8, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((4, 7, 3))
    y64, _ = seqnet.build(spec, weights=init_weights(spec, dtype="float64"), dtype="float64")(x)
    y32, _ = seqnet.build(spec)(x.astype(np.float32))
    assert y32.dtype == np.float32 and np.abs(y32 - y64).max() < 1e-5


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m(np.zeros((2, 3), np.float32)), "expected 3 dimensions (B, T, input_size)"),
        (lambda m: m(np.zeros((2, 3, 4), np.float32)), "last dimension must be input_size=3"),
        (lambda m: m(np.zeros((2, 3, 3), np.float64)), "x has dtype float64, the model computes in float32"),
        (lambda m: m(np.zeros((2, 3, 3), np.int64)), "x has dtype int64"),
        (lambda m: m(np.zeros((2, 3, 3), np.float32), state=np.zeros((4, 2, 5), np.float32)), "(h, c)"),
        (
            lambda m: m(np.zeros((2, 3, 3), np.float32), state=(np.zeros((4, 1, 5), np.float32),) * 2),
            "state h has shape [4, 1, 5]: expected [4, 2, 5]",
        ),
        (lambda m: m(np.zeros((2, 3, 3), np.float32), lengths=[1, 2, 3]), "lengths has shape [3]: expected (2,)"),
        (lambda m: m(np.zeros((2, 3, 3), np.float32), lengths=[0, 2]), "out of range: each must be in 1..3"),
        (lambda m: m(np.zeros((2, 3, 3), np.float32), lengths=[4, 2]), "out of range"),
        (lambda m: m(np.zeros((2, 3, 3), np.float32), lengths=[1.5, 2.0]), "expected integers"),
    ],
)
def test_bad_input_errors(call, words):
    model = seqnet.build(Spec("lstm", 3, 5, num_layers=2, bidirectional=True))
    with pytest.raises(InputError) as info:
        call(model)
    assert words in str(info.value)
