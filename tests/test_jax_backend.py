"""The JAX backend: pure apply under jit, vmap and grad, no retracing, float64 mode, input checks."""

import numpy as np
import pytest
from conftest import check_half_precision, gates_swapped, importorskip, require

import seqnet
from seqnet import BackendError, InputError, Spec, init_weights, parity

jax = importorskip("jax", "the jax backend needs jax: pip install 'seqnet[jax]'")
jnp = jax.numpy


@pytest.fixture(autouse=True)
def _jax_required():
    require("jax")


CASES = [c for c in parity.GRID if c.lengths][::3]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_jit_and_vmap_match_numpy(case, x64):
    spec = case.spec
    weights = init_weights(spec, seed=2, dtype="float64")
    x, state, lengths = parity.inputs(case, "float64", seed=4)
    ref, ref_state = seqnet.predict(seqnet.build(spec, "numpy", weights, "float64"), x, state, lengths)
    model = seqnet.build(spec, "jax", weights, "float64")
    out, _ = jax.jit(model.apply)(model.params, jnp.asarray(x), state, jnp.asarray(lengths))
    assert parity.scaled_diff(out, ref) <= 1e-10
    # vmap over an extra leading axis of independent inputs: the same answers, stacked
    xs = np.stack([x, x[::-1].copy()]) if spec.batch_first else np.stack([x, x[:, ::-1].copy()])
    batched, _ = jax.vmap(lambda xi: model.apply(model.params, xi, state, jnp.asarray(lengths)))(jnp.asarray(xs))
    assert parity.scaled_diff(batched[0], ref) <= 1e-10
    second, _ = seqnet.build(spec, "numpy", weights, "float64")(xs[1], state, lengths)
    assert parity.scaled_diff(batched[1], second) <= 1e-10


def test_grad_of_pure_apply_matches_finite_difference(x64):
    spec = Spec("gru", 2, 3, num_layers=2, bidirectional=True, output_size=1, output_mode="last")
    model = seqnet.build(spec, "jax", init_weights(spec, seed=1, dtype="float64"), "float64")
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 4, 2)))
    lengths = jnp.asarray([4, 2])

    def loss(params):
        return jnp.sum(model.apply(params, x, lengths=lengths)[0] ** 2)

    grads = jax.grad(loss)(model.params)
    name, idx, eps = "weight_hh_l1_reverse", (4, 1), 1e-6
    plus = dict(model.params, **{name: model.params[name].at[idx].add(eps)})
    minus = dict(model.params, **{name: model.params[name].at[idx].add(-eps)})
    numeric = (loss(plus) - loss(minus)) / (2 * eps)
    assert abs(float(grads[name][idx]) - float(numeric)) < 1e-8


def test_no_retrace_when_only_length_values_change():
    spec = Spec("lstm", 3, 4, bidirectional=True)
    model = seqnet.build(spec, "jax")
    traces = []

    def counted(params, x, lengths):
        traces.append(1)
        return model.apply(params, x, lengths=lengths)[0]

    fn = jax.jit(counted)
    x = jnp.ones((3, 6, 3), jnp.float32)
    for lengths in ([6, 2, 3], [1, 1, 1], [5, 6, 4]):
        fn(model.params, x, jnp.asarray(lengths))
    assert len(traces) == 1
    # the model's own call is jitted too, and reuses its trace
    model(x, lengths=np.array([6, 2, 3]))
    size = model._jitted._cache_size()
    model(x, lengths=np.array([1, 2, 3]))
    assert model._jitted._cache_size() == size


def test_float64_needs_x64_mode():
    spec = Spec("rnn", 2, 3)
    assert not jax.config.read("jax_enable_x64")  # as users run JAX: the suite turns it on only where it must
    with pytest.raises(BackendError, match="jax_enable_x64"):
        seqnet.build(spec, "jax", dtype="float64")
    assert seqnet.build(spec, "jax").params["weight_ih_l0"].dtype == jnp.float32
    with jax.enable_x64(True):
        assert seqnet.build(spec, "jax", dtype="float64").params["weight_ih_l0"].dtype == jnp.float64
    assert not jax.config.read("jax_enable_x64")


def test_params_are_a_pytree_usable_by_optax_style_code():
    spec = Spec("rnn", 2, 3, output_size=1)
    model = seqnet.build(spec, "jax")
    leaves = jax.tree_util.tree_leaves(model.params)
    assert len(leaves) == len(seqnet.layout(spec))
    shifted = jax.tree_util.tree_map(lambda p: p * 0, model.params)
    out, _ = model.apply(shifted, jnp.ones((1, 2, 2), jnp.float32))
    assert np.allclose(out, 0)  # all-zero weights and biases give zero outputs


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m(jnp.zeros((2, 3))), "expected 3 dimensions"),
        (lambda m: m(jnp.zeros((2, 3, 4))), "input_size=3"),
        (lambda m: m(jnp.zeros((2, 3, 3), jnp.float32), lengths=jnp.asarray([0, 3])), "out of range"),
        (lambda m: m(jnp.zeros((2, 3, 3), jnp.float32), lengths=jnp.asarray([1.0, 3.0])), "expected integers"),
        (lambda m: jax.jit(m.apply)(m.params, jnp.zeros((2, 3, 4), jnp.float32)), "input_size=3"),
    ],
)
def test_bad_input_errors_before_jax(call, words):
    model = seqnet.build(Spec("gru", 3, 4), "jax")
    with pytest.raises(InputError) as info:
        call(model)
    assert words in str(info.value)


def test_a_float64_jax_array_to_a_float32_model_is_refused(x64):
    model = seqnet.build(Spec("gru", 3, 4), "jax")
    with pytest.raises(InputError, match="x has dtype float64, the model computes in float32"):
        model(jnp.zeros((2, 3, 3), jnp.float64))


def test_dropout_with_a_key_only():
    spec = Spec("gru", 3, 16, num_layers=2, dropout=0.5)
    model = seqnet.build(spec, "jax")
    x = jnp.ones((2, 5, 3), jnp.float32)
    plain, _ = model.apply(model.params, x)
    again, _ = model.apply(model.params, x)
    dropped, _ = model.apply(model.params, x, dropout_key=jax.random.PRNGKey(1))
    assert np.array_equal(plain, again) and not np.allclose(plain, dropped)


@pytest.mark.parametrize("case", parity.GRID[::2], ids=lambda c: c.id)
def test_hoisted_input_products_match_numpy(case, x64):
    """The input products hoisted out of the scan (what GPUs run) compute NumPy's outputs, final state and
    gradients whatever platform runs the tests; the per-step placement is XLA:CPU's default, which every
    parity and gradient test of the JAX backend runs on a CPU. Every other grid case (each cell kind meets two
    or three of the five combinations; the hoist changes where the input product runs, not the combinations'
    code): the whole grid measured 111 s of the suite's 1887 worker-seconds."""
    hoist = True
    from seqnet_backends.jax.model import forward, loss_fn

    from seqnet.losses import weights_of_steps

    spec = case.spec
    loss = "cross_entropy" if spec.output_size else "mse"
    weights = init_weights(spec, seed=5, dtype="float64")
    x, state, lengths = parity.inputs(case, "float64", seed=3)
    rng = np.random.default_rng(7)
    shape = spec.output_shape(x.shape)
    target = rng.integers(0, spec.output_size, shape[:-1]) if spec.output_size else rng.standard_normal(shape)
    ref_out, ref_state = seqnet.build(spec, "numpy", weights, "float64")(x, state, lengths)
    ref_value, ref_grads, ref_dx = seqnet.value_and_grad(spec, weights, x, target, loss, "numpy", state, lengths)

    params = {name: jnp.asarray(value) for name, value in weights.items()}
    state_j = None if state is None else jax.tree_util.tree_map(jnp.asarray, state)
    lengths_j = None if lengths is None else jnp.asarray(lengths)
    w = jnp.asarray(weights_of_steps(spec, shape, lengths, "float64"))

    def objective(params, x):
        outputs, final = forward(spec, params, x, state_j, lengths_j, hoist=hoist)
        return loss_fn(loss, outputs, jnp.asarray(target), w), (outputs, final)

    (value, (out, final)), (grads, dx) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        params, jnp.asarray(x)
    )
    assert parity.scaled_diff(out, ref_out) <= 1e-10
    for got, want in zip(jax.tree_util.tree_leaves(final), jax.tree_util.tree_leaves(ref_state), strict=True):
        assert parity.scaled_diff(got, want) <= 1e-10
    assert abs(float(value) - ref_value) <= 1e-9 * max(1.0, abs(ref_value))
    for name in ref_grads:
        assert parity.scaled_diff(grads[name], ref_grads[name]) <= 1e-9, name
    assert parity.scaled_diff(dx, ref_dx) <= 1e-9


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision(dtype):
    """float16 and bfloat16 models: NumPy's float64 answers within HALF_UNITS of the format's rounding units
    (lengths, both directions, two layers, a head), float32 back from predict and weights_of, and a pure
    apply that differentiates in that dtype."""
    spec = Spec("lstm", 3, 8, num_layers=2, bidirectional=True, output_size=2)
    weights = init_weights(spec, seed=2)
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 5, 1])
    reference = seqnet.build(spec, "numpy", weights.astype(np.float64), "float64")
    ref, ref_state = seqnet.predict(reference, x.astype(np.float64), None, lengths)
    model = seqnet.build(spec, "jax", weights, dtype=dtype)
    assert all(str(p.dtype) == dtype for p in model.params.values())
    out, state = seqnet.predict(model, x, lengths=lengths)
    check_half_precision(model, out, state, ref, ref_state, weights, dtype)
    wrong = seqnet.build(spec, "jax", gates_swapped(spec, weights), dtype=dtype)
    with pytest.raises(AssertionError, match="rounding units off"):
        check_half_precision(
            wrong, *seqnet.predict(wrong, x, lengths=lengths), ref, ref_state, seqnet.weights_of(wrong), dtype
        )
    with pytest.raises(InputError, match=f"x has dtype float32, the model computes in {dtype}"):
        model(jnp.asarray(x))
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, jnp.asarray(x, dtype))[0].astype(jnp.float32) ** 2))(model.params)
    assert all(str(g.dtype) == dtype and bool(jnp.all(jnp.isfinite(g))) for g in grads.values())


def test_predict_refuses_float64_input_to_a_float32_model_as_users_run_jax():
    """With JAX's 64-bit mode off (its default, and how this suite runs float32 JAX tests), jnp.asarray rounds a
    float64 array to float32: predict would then have accepted what every other backend refuses (found when
    the suite stopped turning the mode on for every test)."""
    assert not jax.config.read("jax_enable_x64")
    spec = Spec("gru", 3, 4)
    model = seqnet.build(spec, "jax", init_weights(spec))
    with pytest.raises(seqnet.InputError, match="x has dtype float64, the model computes in float32"):
        seqnet.predict(model, np.zeros((2, 3, 3)))
    with pytest.raises(seqnet.InputError, match="state h has dtype float64"):
        seqnet.predict(model, np.zeros((2, 3, 3), np.float32), np.zeros((1, 2, 4)))
