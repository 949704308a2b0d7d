"""Parity on randomly drawn specs and shapes, edge sizes included (B, T or H of 1, lengths all below T).

The shared grid (seqnet.parity.GRID) covers every feature at one size; these seeded draws vary the sizes,
so shape bugs that one size hides (a squeezed axis at B=1, a slice at H=1) still fail a test.
"""

import numpy as np
import pytest
from conftest import require

import seqnet
from seqnet import parity
from seqnet.weights import init_weights


def _draw(seed: int):
    rng = np.random.default_rng(seed)
    cell = str(rng.choice(["rnn", "lstm", "gru"]))
    hidden = int(rng.integers(1, 6))
    kwargs = dict(
        num_layers=int(rng.integers(1, 4)),
        bidirectional=bool(rng.integers(2)),
        bias=bool(rng.integers(2)),
        batch_first=bool(rng.integers(2)),
    )
    if cell == "rnn":
        kwargs["activation"] = str(rng.choice(["tanh", "relu", "sigmoid"]))
    if cell == "gru":
        kwargs["gru_variant"] = str(rng.choice(["reset_after", "reset_before"]))
    if cell == "lstm" and hidden > 1 and rng.integers(2):
        kwargs["proj_size"] = int(rng.integers(1, hidden))
    if rng.integers(2):
        kwargs["output_size"] = int(rng.integers(1, 4))
        kwargs["output_mode"] = str(rng.choice(["sequence", "last"]))
    spec = seqnet.Spec(cell, int(rng.integers(1, 5)), hidden, **kwargs)
    batch, steps = int(rng.choice([1, 2, 5])), int(rng.choice([1, 2, 7]))
    x = rng.standard_normal((batch, steps, spec.input_size) if spec.batch_first else (steps, batch, spec.input_size))
    lengths = None
    if rng.integers(2):
        lengths = rng.integers(1, steps + 1, size=batch)
    state = None
    if rng.integers(2):
        rows = spec.num_layers * spec.num_directions
        h = rng.standard_normal((rows, batch, spec.hidden_out))
        state = (h, rng.standard_normal((rows, batch, spec.hidden_size))) if cell == "lstm" else h
    return spec, x, state, lengths


@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("seed", range(40))
def test_random_spec_agrees_on_every_backend(seed):
    spec, x, state, lengths = _draw(seed)
    weights = init_weights(spec, seed=seed, dtype="float64")
    ref_out, ref_state = seqnet.predict(seqnet.build(spec, "numpy", weights, "float64"), x, state, lengths)
    assert ref_out.shape == spec.output_shape(x.shape)
    for backend in ("torch", "paddle", "jax"):
        require(backend)
        out, final = seqnet.predict(seqnet.build(spec, backend, weights, "float64"), x, state, lengths)
        assert parity.scaled_diff(out, ref_out) <= 1e-10, (backend, spec)
        pairs = zip(parity.state_parts(final), parity.state_parts(ref_state), strict=True)
        assert all(parity.scaled_diff(a, b) <= 1e-10 for a, b in pairs), (backend, spec)


@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("seed", range(100, 116))
def test_random_spec_gradients_agree_on_every_backend(seed):
    spec, x, state, lengths = _draw(seed)
    weights = init_weights(spec, seed=seed, dtype="float64")
    target = np.random.default_rng(seed).standard_normal(spec.output_shape(x.shape))
    ref_value, ref_grads, ref_dx = seqnet.value_and_grad(spec, weights, x, target, "mse", "numpy", state, lengths)
    for backend in ("torch", "paddle", "jax"):
        require(backend)
        value, grads, dx = seqnet.value_and_grad(spec, weights, x, target, "mse", backend, state, lengths)
        assert abs(value - ref_value) <= 1e-9 * max(1.0, abs(ref_value)), (backend, spec)
        for name in ref_grads:
            scale = max(float(np.abs(ref_grads[name]).max()), 1e-12)
            assert np.abs(grads[name] - ref_grads[name]).max() <= 1e-9 * scale, (backend, spec, name)
        assert np.abs(dx - ref_dx).max() <= 1e-9 * max(float(np.abs(ref_dx).max()), 1e-12), (backend, spec)
