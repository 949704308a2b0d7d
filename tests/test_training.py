"""fit(): the same loss curve on every backend, the optimizers' arithmetic, clipping, progress."""

import numpy as np
import pytest
from conftest import require

import seqnet
from seqnet import InputError, Spec, fit, init_weights
from seqnet.training import SGD, Adam, clip_by_global_norm


def _data(spec, count=24, steps=7, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, steps, spec.input_size))
    y = np.tanh(np.cumsum(x[..., : spec.output_size], axis=1) / 2)  # learnable: a running sum
    lengths = rng.integers(1, steps + 1, size=count)
    return x, y, lengths


@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("optimizer, clip, lr", [("adam", None, 0.01), ("sgd", 0.5, 0.1)])
def test_same_loss_curve_on_every_backend(optimizer, clip, lr):
    spec = Spec("lstm", 3, 5, num_layers=2, bidirectional=True, output_size=2)
    weights = init_weights(spec, seed=1, dtype="float64")
    x, y, lengths = _data(spec)
    curves = {}
    for backend in ("numpy", "torch", "paddle", "jax"):
        require(backend)
        trained, history = fit(
            spec, weights, x, y, backend=backend, optimizer=optimizer, lr=lr, epochs=34, batch_size=8,
            clip_norm=clip, seed=3, lengths=lengths,
        )  # fmt: skip
        curves[backend] = (np.array(history.loss), trained)
    ref, ref_weights = curves["numpy"]
    assert len(ref) >= 100
    assert ref[-10:].mean() < 0.9 * ref[:10].mean()  # it learns
    for backend, (curve, trained) in curves.items():
        assert np.max(np.abs(curve - ref) / np.abs(ref)) <= 1e-6, backend
        assert all(np.allclose(trained[k], ref_weights[k], rtol=1e-6, atol=1e-9) for k in ref_weights), backend


def test_adam_by_hand():
    opt = Adam(lr=0.1)
    w = {"a": np.array([1.0, -2.0])}
    g = {"a": np.array([0.5, 0.25])}
    w1 = opt.update(w, g)
    # first Adam step moves each weight by lr * sign(g) (bias-corrected m/sqrt(v) = g/|g|)
    assert np.allclose(w1["a"], [0.9, -2.1], atol=1e-7)
    w2 = opt.update(w1, {"a": np.array([-0.5, 0.25])})
    m = 0.9 * 0.05 + 0.1 * -0.5
    v = 0.999 * 0.00025 + 0.001 * 0.25
    step = 0.1 * (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    assert np.isclose(w2["a"][0], 0.9 - step)


def test_sgd_momentum_by_hand():
    opt = SGD(lr=0.1, momentum=0.9)
    w = opt.update({"a": np.array([1.0])}, {"a": np.array([1.0])})
    w = opt.update(w, {"a": np.array([1.0])})
    assert np.isclose(w["a"][0], 1.0 - 0.1 - 0.1 * 1.9)


def test_clip_by_global_norm():
    grads = {"a": np.array([3.0]), "b": np.array([4.0])}
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == 5.0 and np.allclose(clipped["a"], 0.6) and np.allclose(clipped["b"], 0.8)
    same, _ = clip_by_global_norm(grads, 10.0)
    assert np.array_equal(same["a"], grads["a"])


def test_fit_learns_and_is_reproducible():
    spec = Spec("gru", 2, 8, output_size=1, output_mode="last")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10, 2)).astype(np.float32)
    y = x[:, :, :1].sum(axis=1) / 3  # the running sum: a job for a recurrent state
    w0 = init_weights(spec, seed=0)
    a, hist_a = fit(spec, w0, x, y, epochs=40, batch_size=16, lr=0.02, seed=1)
    b, hist_b = fit(spec, w0, x, y, epochs=40, batch_size=16, lr=0.02, seed=1)
    assert hist_a.loss == hist_b.loss and all(np.array_equal(a[k], b[k]) for k in a)
    assert hist_a.epoch_loss[-1] < 0.1 * hist_a.epoch_loss[0]
    assert a["weight_ih_l0"].dtype == np.float32


def test_progress_only_when_asked_or_on_a_terminal(capsys):
    spec = Spec("rnn", 1, 2)
    x = np.zeros((4, 3, 1), np.float32)
    fit(spec, init_weights(spec), x, x[..., :1].repeat(2, -1), epochs=2, batch_size=2)
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    fit(spec, init_weights(spec), x, x[..., :1].repeat(2, -1), epochs=2, batch_size=2, progress=True)
    assert "epoch 2/2 step 4/4" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(epochs=0), "epochs=0 is not allowed"),
        (dict(batch_size=2.5), "batch_size=2.5 is not allowed"),
        (dict(lr=-1), "lr=-1 is not allowed"),
        (dict(optimizer="rmsprop"), "optimizer='rmsprop' is not allowed: one of ('adam', 'sgd')"),
        (dict(clip_norm=0), "clip_norm=0 is not allowed"),
    ],
)
def test_fit_argument_errors(kwargs, words):
    spec = Spec("rnn", 1, 2)
    x = np.zeros((4, 3, 1), np.float32)
    with pytest.raises(InputError) as info:
        fit(spec, init_weights(spec), x, np.zeros((4, 3, 2), np.float32), **kwargs)
    assert words in str(info.value)


def test_value_and_grad_is_exported():
    assert seqnet.value_and_grad is seqnet.training.value_and_grad
