"""from_framework / to_framework against each framework's own layers (built and called in tests/native.py).

Over every case of the shared parity grid a framework's own layer can express: random weights in the
framework's layer -> from_framework -> every seqnet backend reproduces the layer's outputs and final
states; to_framework -> the layer reproduces seqnet; round trips are exact.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import backends_for, cli, jax_x64, require, skip_or_fail
from native import ADAPTERS, Native

import seqnet
from seqnet import parity

FRAMEWORKS = ("torch", "paddle", "keras", "flax")
MODULES = {"torch": "torch", "paddle": "paddle", "keras": "keras", "flax": "flax"}


def need(framework: str) -> None:
    """Skip (fail under CI=true) when the framework is missing, or any backend's."""
    if importlib.util.find_spec(MODULES[framework]) is None:
        skip_or_fail(f"{framework} is not installed: pip install {framework}")
    for backend in seqnet.backends():  # every backend runs the converted weights
        require(backend)


def _cases(direction: str) -> list:
    return [
        pytest.param(fw, case, id=f"{fw}-{case.id}")
        for fw in FRAMEWORKS
        for case in parity.GRID
        if ADAPTERS[fw].expresses(case.spec, direction)
    ]


def _inputs(fw: str, case: parity.Case, dtype: str):
    x, state, lengths = parity.inputs(case, dtype, seed=7)
    if fw == "keras" and case.spec.num_layers > 1:
        state = None  # a Keras Sequential takes no initial state
    return x, state, lengths


def assert_same(spec, got, want, lengths, tol, zero_padding):
    """Outputs and final states within tol; past each length only where both sides define zeros there."""
    (out, final), (ref, ref_final) = got, want
    assert out.shape == ref.shape
    if lengths is not None and spec.output_mode == "sequence" and not (zero_padding and spec.output_size is None):
        steps = out.shape[1] if spec.batch_first else out.shape[0]
        valid = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
        valid = (valid if spec.batch_first else valid.T)[..., None]
        out, ref = out * valid, ref * valid
    assert parity.scaled_diff(out, ref) <= tol
    finals = zip(parity.state_parts(final), parity.state_parts(ref_final), strict=True)
    for a, b in finals:
        assert a.shape == b.shape
        assert parity.scaled_diff(a, b) <= tol


@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("fw, case", _cases("from"))
def test_from_framework_reproduces_the_layer_on_every_backend(fw, case):
    need(fw)
    adapter = ADAPTERS[fw]
    native = adapter.make(case.spec, seed=3)
    spec, weights = seqnet.from_framework(native.obj, head=native.head, **_extra(fw, case.spec))
    assert spec == case.spec
    x, state, lengths = _inputs(fw, case, adapter.dtype)
    want = adapter.call(native, spec, x, state, lengths)
    for backend in backends_for(adapter.dtype):
        got = seqnet.predict(seqnet.build(spec, backend, weights, adapter.dtype), x, state, lengths)
        assert_same(spec, got, want, lengths, parity.TOLERANCE[adapter.dtype], adapter.zero_padding)


def _extra(fw: str, spec: seqnet.Spec) -> dict:
    """What the framework's layer cannot hold, given as Spec fields (Keras holds the head mode itself)."""
    return {} if fw == "keras" else {"output_mode": spec.output_mode}


@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("fw, case", _cases("to"))
def test_to_framework_reproduces_seqnet(fw, case):
    need(fw)
    adapter = ADAPTERS[fw]
    spec = case.spec
    weights = _weights_for(fw, spec)
    x, state, lengths = _inputs(fw, case, adapter.dtype)
    want = seqnet.predict(seqnet.build(spec, "numpy", weights, adapter.dtype), x, state, lengths)
    with _maybe_warns(fw, spec):
        made = seqnet.to_framework(spec, weights, fw)
    native = Native(*made) if isinstance(made, tuple) else Native(made)
    got = adapter.call(native, spec, x, state, lengths)
    assert_same(spec, got, want, lengths, parity.TOLERANCE[adapter.dtype], adapter.zero_padding)
    # and back: the same spec (zero biases stand for bias=False where the framework keeps biases)
    back_spec, back = seqnet.from_framework(native.obj, head=native.head, **_extra(fw, spec))
    assert back_spec == (spec if spec.bias or fw in ("torch", "keras") else _with(spec, bias=True))
    if fw in ("torch", "paddle") and spec.bias:  # the framework stores exactly the canonical parameters
        assert all(np.array_equal(back[k], weights[k]) for k in weights)


def _weights_for(fw: str, spec: seqnet.Spec):
    weights = {k: v.copy() for k, v in seqnet.init_weights(spec, seed=5, dtype=ADAPTERS[fw].dtype).items()}
    if fw == "flax" and spec.cell == "gru":  # NNX's GRUCell holds no b_hn (refused otherwise: tested below)
        for name in weights:
            if name.startswith("bias_hh"):
                weights[name][2 * spec.hidden_size :] = 0
    return seqnet.as_weights(spec, weights)


def _with(spec: seqnet.Spec, **changes) -> seqnet.Spec:
    return seqnet.Spec(**{**spec.to_dict(), **changes})


def _maybe_warns(fw: str, spec: seqnet.Spec):
    if fw in ("paddle", "flax") and not spec.bias:
        return pytest.warns(UserWarning, match="bias=False")
    return _nothing()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("fw, case", _cases("from"))
def test_round_trip_from_the_framework_is_exact(fw, case):
    """framework -> seqnet -> framework -> seqnet: the weights come back bit for bit."""
    need(fw)
    native = ADAPTERS[fw].make(case.spec, seed=4)
    spec, weights = seqnet.from_framework(native.obj, head=native.head, **_extra(fw, case.spec))
    made = seqnet.to_framework(spec, weights, fw)
    again = Native(*made) if isinstance(made, tuple) else Native(made)
    spec2, weights2 = seqnet.from_framework(again.obj, head=again.head, **_extra(fw, case.spec))
    assert spec2 == spec
    assert list(weights2) == list(weights)
    assert all(np.array_equal(weights2[k], weights[k]) and weights2[k].dtype == weights[k].dtype for k in weights)


def test_into_loads_into_the_users_layer_after_checking_it():
    need("torch")
    import torch

    spec = seqnet.Spec("lstm", 3, 5, num_layers=2, batch_first=False)
    weights = seqnet.init_weights(spec, seed=1)
    mine = torch.nn.LSTM(3, 5, 2)
    same = seqnet.to_framework(spec, weights, "torch", into=mine)
    assert same is mine
    assert np.array_equal(mine.weight_hh_l1.detach().numpy(), weights["weight_hh_l1"])
    with pytest.raises(
        seqnet.ConversionError,
        match=r"into=torch.nn.LSTM does not fit the spec: it has hidden_size=6 \(the spec has 5\), batch_first=True",
    ):
        seqnet.to_framework(spec, weights, "torch", into=torch.nn.LSTM(3, 6, 2, batch_first=True))


def test_a_head_comes_back_as_the_frameworks_linear_layer():
    need("torch")
    import torch

    spec = seqnet.Spec("gru", 3, 4, bidirectional=True, output_size=2, output_mode="last")
    layer, head = seqnet.to_framework(spec, seqnet.init_weights(spec), "torch")
    assert isinstance(layer, torch.nn.GRU) and isinstance(head, torch.nn.Linear) and head.in_features == 8


def test_from_framework_of_a_seqnet_model_and_bad_objects():
    spec = seqnet.Spec("rnn", 2, 3)
    model = seqnet.build(spec, "numpy", seqnet.init_weights(spec, seed=2))
    got_spec, got = seqnet.from_framework(model)
    assert got_spec == spec and np.array_equal(got["weight_ih_l0"], seqnet.weights_of(model)["weight_ih_l0"])
    with pytest.raises(seqnet.ConversionError, match="cannot read a builtins.dict"):
        seqnet.from_framework({"weight_ih_l0": 1})
    with pytest.raises(
        seqnet.ConversionError,
        match=r"a path must end in one of \[.*'.pdparams', '.pt', '.pth', '.safetensors', '.tflite'\]",
    ):
        seqnet.from_framework("model.bin")
    with pytest.raises(seqnet.SpecError, match=r"unknown Spec field\(s\) \['hiden_size'\]"):
        seqnet.from_framework(model, hiden_size=3)


# -- refusals, each named --------------------------------------------------------------------------------------
def _keras_refusals():
    import keras

    L = keras.layers
    seq = lambda *layers: keras.Sequential([keras.Input((None, 3)), *layers])  # noqa: E731
    return [
        (
            lambda: seq(L.LSTM(4, recurrent_activation="hard_sigmoid")),
            r"recurrent_activation='hard_sigmoid'; seqnet's gates use 'sigmoid'",
        ),
        (lambda: seq(L.Bidirectional(L.GRU(4), merge_mode="sum")), r"merge_mode='sum'; seqnet concatenates"),
        (lambda: seq(L.LSTM(4, go_backwards=True)), r"go_backwards=True on a lone layer"),
        (lambda: seq(L.LSTM(4, activation="relu")), r"activation='relu'; a seqnet LSTM uses 'tanh'"),
        (lambda: seq(L.SimpleRNN(4, activation="elu")), r"activation='elu'; seqnet's RNN offers"),
        (lambda: seq(L.Masking(), L.LSTM(4)), r"\(Masking\) cannot be part of a seqnet Spec"),
        (
            lambda: seq(L.LSTM(4, return_sequences=True), L.LSTM(5)),
            r"has hidden_size=5 where layer .* has 4: a seqnet Spec stacks equal layers",
        ),
        (lambda: seq(L.LSTM(4, return_sequences=True), L.GRU(4)), r"has cell='gru' where layer .* has 'lstm'"),
        (lambda: seq(L.LSTM(4), L.Dense(2, activation="softmax")), r"activation='softmax'; seqnet's head is linear"),
        (lambda: seq(L.Dense(2)), r"holds no recurrent layer"),
    ]


@pytest.mark.parametrize("index", range(10))
def test_keras_refusals_name_the_attribute(index):
    need("keras")
    make, message = _keras_refusals()[index]
    with pytest.raises(seqnet.ConversionError, match=message):
        seqnet.from_framework(make())


def test_keras_training_only_settings_are_dropped_with_a_warning():
    need("keras")
    import keras

    model = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(4, dropout=0.2, recurrent_dropout=0.1)])
    with pytest.warns(
        UserWarning,
        match=r"dropped, as they do not change the function seqnet computes: .*\.dropout, .*\.recurrent_dropout",
    ):
        spec, _ = seqnet.from_framework(model)
    assert spec.dropout == 0.0
    stacked = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.GRU(4, return_sequences=True),
            keras.layers.Dropout(0.3),
            keras.layers.GRU(4),
        ]
    )
    assert seqnet.from_framework(stacked)[0].dropout == 0.3  # Dropout between layers is seqnet's dropout


def test_keras_functional_chain_is_read_and_branches_refused():
    need("keras")
    import keras

    inp = keras.Input((None, 3))
    out = keras.layers.Dense(2)(keras.layers.LSTM(4)(keras.layers.LSTM(4, return_sequences=True)(inp)))
    spec, _ = seqnet.from_framework(keras.Model(inp, out))
    assert (spec.num_layers, spec.output_mode, spec.output_size) == (2, "last", 2)
    a = keras.layers.LSTM(4)(inp)
    branched = keras.Model(inp, keras.layers.Concatenate()([a, keras.layers.GRU(4)(inp)]))
    with pytest.raises(seqnet.ConversionError, match="not a plain chain"):
        seqnet.from_framework(branched)


def _flax_refusals():
    import jax
    from flax import nnx

    r = nnx.Rngs(0)
    return [
        (
            lambda: nnx.RNN(nnx.LSTMCell(3, 4, activation_fn=jax.nn.gelu, rngs=r)),
            r"activation_fn=.*; a seqnet LSTM uses tanh",
        ),
        (
            lambda: nnx.RNN(nnx.GRUCell(3, 4, gate_fn=jax.nn.hard_sigmoid, rngs=r)),
            r"gate_fn=.*; seqnet's gates use the sigmoid",
        ),
        (lambda: nnx.RNN(nnx.SimpleCell(3, 4, residual=True, rngs=r)), r"SimpleCell\(residual=True\)"),
        (lambda: nnx.RNN(nnx.GRUCell(3, 4, rngs=r), reverse=True), r"reverse=True on a lone RNN"),
        (
            lambda: nnx.Bidirectional(
                nnx.RNN(nnx.GRUCell(3, 4, rngs=r)), nnx.RNN(nnx.GRUCell(3, 4, rngs=r)), merge_fn=lambda a, b: a + b
            ),
            r"merge_fn=.*; seqnet concatenates",
        ),
        (
            lambda: nnx.RNN(nnx.SimpleCell(3, 4, activation_fn=jax.nn.softplus, rngs=r)),
            r"activation_fn=.*; seqnet's RNN offers tanh, relu and sigmoid",
        ),
    ]


@pytest.mark.parametrize("index", range(6))
def test_flax_refusals_name_the_attribute(index):
    need("flax")
    make, message = _flax_refusals()[index]
    with pytest.raises(seqnet.ConversionError, match=message):
        seqnet.from_framework(make())


@pytest.mark.parametrize(
    "framework, spec, message",
    [
        (
            "torch",
            seqnet.Spec("rnn", 2, 3, activation="sigmoid"),
            r"torch.nn has no standard layer for Spec.activation='sigmoid': .*seqnet.build\(spec, 'torch'\)",
        ),
        (
            "torch",
            seqnet.Spec("gru", 2, 3, gru_variant="reset_before"),
            r"Spec.gru_variant='reset_before'.*seqnet.build\(spec, 'torch'\)",
        ),
        (
            "paddle",
            seqnet.Spec("rnn", 2, 3, activation="sigmoid"),
            r"paddle.nn has no standard layer for Spec.activation='sigmoid'.*seqnet.build\(spec, 'paddle'\)",
        ),
        ("paddle", seqnet.Spec("gru", 2, 3, gru_variant="reset_before"), r"Spec.gru_variant='reset_before'"),
        (
            "keras",
            seqnet.Spec("lstm", 2, 3, proj_size=2),
            r"Keras has no standard layer for Spec.proj_size=2: Keras's LSTM has no projection; "
            r"seqnet.build\(spec, 'jax'\)",
        ),
        (
            "keras",
            seqnet.Spec("lstm", 2, 3, batch_first=False),
            r"batch-major input .* Spec.batch_first=False cannot be expressed",
        ),
        ("flax", seqnet.Spec("lstm", 2, 3, proj_size=2), r"flax has no standard layer for Spec.proj_size=2"),
        (
            "flax",
            seqnet.Spec("gru", 2, 3, gru_variant="reset_before"),
            r"flax has no standard layer for Spec.gru_variant='reset_before'",
        ),
    ],
)
def test_to_framework_refuses_what_the_layer_cannot_express(framework, spec, message):
    need(framework)
    with pytest.raises(seqnet.NotExpressible, match=message) as info:
        seqnet.to_framework(spec, seqnet.init_weights(spec), framework)
    assert isinstance(info.value, seqnet.ConversionError)  # what callers catching conversions already catch


def test_nnx_gru_refuses_a_reset_bias_that_linen_holds():
    need("flax")
    with jax_x64():  # float64 weights: flax computes them in float64 only in JAX's 64-bit mode
        spec = seqnet.Spec("gru", 3, 4)
        weights = seqnet.init_weights(spec, seed=1, dtype="float64")
        with pytest.raises(
            seqnet.ConversionError, match=r"nnx.GRUCell has no bias inside the reset product .* api='linen'"
        ):
            seqnet.to_framework(spec, weights, "flax")
        (module, variables) = seqnet.to_framework(spec, weights, "flax", api="linen")
        x = np.random.default_rng(0).standard_normal((2, 5, 3))
        out = module.apply(variables, x)
        ref, _ = seqnet.predict(seqnet.build(spec, "numpy", weights, "float64"), x)
        assert parity.scaled_diff(np.asarray(out), ref) <= 1e-10


# -- flax linen: cells with their params ------------------------------------------------------------------------
@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize("cell", ["LSTMCell", "OptimizedLSTMCell", "GRUCell", "SimpleCell"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_linen_modules_with_params(cell, bidirectional):
    need("flax")
    import jax
    import jax.numpy as jnp
    from flax import linen as nn

    make = lambda: getattr(nn, cell)(5, param_dtype=jnp.float64, dtype=jnp.float64)  # noqa: E731
    module = nn.Bidirectional(nn.RNN(make()), nn.RNN(make())) if bidirectional else nn.RNN(make())
    x = np.random.default_rng(1).standard_normal((3, 6, 4))
    variables = module.init(jax.random.PRNGKey(0), x)
    variables = jax.tree_util.tree_map(
        lambda a: a + 0.1 * jax.random.normal(jax.random.PRNGKey(1), a.shape, a.dtype), variables
    )
    lengths = np.array([6, 2, 4])
    carry, out = module.apply(variables, x, seq_lengths=jnp.asarray(lengths), return_carry=True)
    spec, weights = seqnet.from_framework(module, params=variables)
    assert (spec.cell, spec.bidirectional, spec.hidden_size, spec.input_size) == (
        {"SimpleCell": "rnn", "GRUCell": "gru"}.get(cell, "lstm"),
        bidirectional,
        5,
        4,
    )
    mine, state = seqnet.predict(seqnet.build(spec, "jax", weights, "float64"), x, lengths=lengths)
    valid = (np.arange(6)[None, :] < lengths[:, None])[..., None]
    assert parity.scaled_diff(mine, np.asarray(out) * valid) <= 1e-10
    if not bidirectional:  # the cell alone, with params of the cell only
        bare_spec, bare = seqnet.from_framework(module.cell, params=variables["params"]["cell"])
        assert bare_spec == spec and all(np.array_equal(bare[k], weights[k]) for k in weights)
    with pytest.raises(seqnet.ConversionError, match="holds no weights: pass its variables"):
        seqnet.from_framework(module)


# -- checkpoints -----------------------------------------------------------------------------------------------------
def _torch_model():
    import torch

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)
            self.encoder = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3, batch_first=True)
            self.fc = torch.nn.Linear(6, 5)

        def forward(self, x):
            return self.fc(self.encoder(x)[0])

    torch.manual_seed(0)
    return Tagger().double()


def test_torch_checkpoint_spec_inferred_and_written_back(tmp_path):
    need("torch")
    import torch

    model = _torch_model()
    torch.save(model.state_dict(), tmp_path / "tagger.pt")
    checkpoint = torch.load(tmp_path / "tagger.pt", weights_only=True)
    spec, weights = seqnet.from_state_dict(checkpoint, "torch", head="fc", batch_first=True)
    assert spec == seqnet.Spec("lstm", 4, 6, num_layers=2, bidirectional=True, proj_size=3, output_size=5)
    x = torch.randn(2, 7, 4, dtype=torch.float64)
    out, _ = seqnet.predict(seqnet.build(spec, "numpy", weights, "float64"), x.numpy())
    assert parity.scaled_diff(out, model(x).detach().numpy()) <= 1e-12
    # to_state_dict goes back into a fresh model of the user's
    fresh = _torch_model()
    torch.nn.init.zeros_(fresh.encoder.weight_ih_l0)
    missing, unexpected = fresh.load_state_dict(
        seqnet.to_state_dict(spec, weights, "torch", prefix="encoder.", head="fc"), strict=False
    )
    assert missing == ["embed.weight"] and unexpected == []
    assert torch.equal(fresh(x), model(x))


def test_checkpoint_errors_list_what_was_found():
    need("torch")
    import torch

    two = {
        "enc.weight_ih_l0": torch.zeros(8, 3),
        "enc.weight_hh_l0": torch.zeros(8, 2),
        "dec.weight_ih_l0": torch.zeros(8, 3),
        "dec.weight_hh_l0": torch.zeros(8, 2),
    }
    with pytest.raises(
        seqnet.ConversionError,
        match=r"several recurrent layers or cells: 'dec.' \(layer\), 'enc.' \(layer\); pass prefix=",
    ):
        seqnet.from_state_dict(two)
    assert seqnet.from_state_dict(two, prefix="dec.")[0].cell == "lstm"
    with pytest.raises(
        seqnet.ConversionError,
        match=r"weight_ih_l0 has 10 rows: not 1, 3 or 4 gate blocks .*found:\n  weight_ih_l0 \[10, 3\]",
    ):
        seqnet.from_state_dict({"weight_ih_l0": torch.zeros(10, 3), "weight_hh_l0": torch.zeros(10, 5)})
    broken = {
        "rnn.weight_ih_l0": torch.zeros(12, 3),
        "rnn.weight_hh_l0": torch.zeros(12, 4),
        "rnn.weight_ih_l1": torch.zeros(12, 4),
    }
    with pytest.raises(
        seqnet.ConversionError,
        match=r"(?s)is inconsistent: .*missing weight_hh_l1 \[12, 4\].*\n found:\n  rnn.weight_ih_l0 \[12, 3\]",
    ):
        seqnet.from_state_dict(broken)
    with pytest.raises(seqnet.ConversionError, match=r"no recurrent layer or cell under prefix 'x.'"):
        seqnet.from_state_dict(two, prefix="x.")
    with pytest.raises(seqnet.ConversionError, match=r"head='fc': the checkpoint has no fc.weight"):
        seqnet.from_state_dict(two, prefix="enc.", head="fc")


def test_paddle_checkpoint_with_projection_reads_the_cell_names():
    need("paddle")
    spec = seqnet.Spec("lstm", 4, 6, num_layers=2, bidirectional=True, proj_size=2, output_size=3, batch_first=False)
    weights = seqnet.init_weights(spec, seed=9)
    state = seqnet.to_state_dict(spec, weights, "paddle", prefix="model.rnn.", head="model.out")
    assert "model.rnn.0.cell_bw.weight_ho" in state and tuple(state["model.rnn.0.cell_bw.weight_ho"].shape) == (6, 2)
    assert tuple(state["model.out.weight"].shape) == (4, 3)  # paddle.nn.Linear is (in, out)
    got_spec, got = seqnet.from_state_dict(state, "paddle", head="model.out", batch_first=False)
    assert got_spec == spec and all(np.array_equal(got[k], weights[k]) for k in weights)
    # the user's own layer takes the entries by set_state_dict
    layer, head = seqnet.to_framework(spec, seqnet.init_weights(spec, seed=1), "paddle")
    layer.set_state_dict({k[len("model.rnn.") :]: v for k, v in state.items() if k.startswith("model.rnn.")})
    assert np.array_equal(layer[1].cell_bw.weight_ho.numpy(), weights["weight_hr_l1_reverse"].T)


# -- Keras on its torch backend ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_keras_conversions_on_the_torch_backend():
    """The Keras cases of the one-layer combinations again (two of the grid's five: a layer with and without a
    bidirectional "last" head; the stacks run on JAX's Keras above) in a process whose Keras runs on torch
    (Keras picks its backend at import)."""
    need("keras")
    need("torch")
    if os.environ.get("KERAS_BACKEND") == "torch":
        pytest.skip("this process already runs Keras on torch")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__)),
         "-k", "keras and L1 and not torch_backend"],
        env=env, capture_output=True, text=True, cwd=Path(__file__).parent.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary
    probe = "import os, keras; print(keras.backend.backend())"
    assert (
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout.strip() == "torch"
    )


# -- seqnet.convert.run: each framework's own call, NumPy in and out ---------------------------------------------
@pytest.mark.usefixtures("x64")  # float64 on every backend: JAX computes float64 only in its 64-bit mode
@pytest.mark.parametrize(
    "fw, case",
    [p for p in _cases("from") if p.values[1].spec.output_size is None and p.values[1].spec.output_mode == "sequence"],
)
def test_run_calls_the_layer_as_its_users_do(fw, case):
    need(fw)
    from seqnet.convert import run

    adapter = ADAPTERS[fw]
    native = adapter.make(case.spec, seed=6)
    x, state, lengths = _inputs(fw, case, adapter.dtype)
    got = run(native.obj, x, state, lengths)
    assert_same(
        case.spec,
        got,
        adapter.call(native, case.spec, x, state, lengths),
        lengths,
        1e-6 if fw == "keras" else 1e-12,
        True,
    )


# -- seqnet convert -------------------------------------------------------------------------------------------------
def test_convert_cli_between_checkpoints_with_a_parity_report(tmp_path):
    need("torch")
    need("paddle")
    import torch

    model = _torch_model()
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "tagger.pt")
    done = cli(
        "convert", tmp_path / "tagger.pt", tmp_path / "tagger.pdparams", "--head", "model.fc", "--batch-first", "true"
    )
    assert done.returncode == 0, done.stderr
    assert "layer under 'model.encoder.', head 'model.fc'" in done.stdout
    assert "in torch's own layer vs " in done.stdout and "in paddle's own layer: largest difference" in done.stdout
    difference = float(done.stdout.split("largest difference ")[1].split(" ")[0])
    assert difference <= 1e-10  # float64 weights
    # the .pdparams is what Paddle's own loader and layer take
    from seqnet_backends.paddle.model import paddle

    spec = seqnet.Spec("lstm", 4, 6, num_layers=2, bidirectional=True, proj_size=3, output_size=5)
    layer, _ = seqnet.to_framework(spec, seqnet.init_weights(spec, dtype="float64"), "paddle")
    state = paddle.load(str(tmp_path / "tagger.pdparams"))
    missing, unexpected = layer.set_state_dict({k: v for k, v in state.items() if not k.startswith("head.")})
    assert missing == [] and unexpected == []
    x = np.random.default_rng(0).standard_normal((2, 5, 4))
    mine = layer(paddle.to_tensor(x))[0].numpy()
    theirs = model.encoder(torch.tensor(x))[0].detach().numpy()
    assert parity.scaled_diff(mine, theirs) <= 1e-12
    # and back to torch and to seqnet's own file; a zero tolerance shows the exit code
    assert cli("convert", tmp_path / "tagger.pdparams", tmp_path / "back.pt", "--head", "head").returncode == 0
    assert cli("convert", tmp_path / "back.pt", tmp_path / "back.safetensors", "--head", "head").returncode == 0
    loaded_spec, _ = seqnet.load(tmp_path / "back.safetensors")
    assert loaded_spec == spec
    torch.save(seqnet.to_state_dict(spec, seqnet.init_weights(spec), "torch"), tmp_path / "f32.pt")
    strict = cli("convert", tmp_path / "f32.pt", tmp_path / "f32.pdparams", "--tolerance", "0")
    assert strict.returncode == 1 and "MISMATCH" in strict.stdout  # float32 paths differ by rounding


def test_convert_never_unpickles_code(tmp_path):
    need("torch")
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    for name in ("evil.pt", "evil.pdparams"):
        (tmp_path / name).write_bytes(pickle.dumps({"weight_ih_l0": Evil()}))
        done = cli("convert", tmp_path / name, tmp_path / "out.safetensors")
        assert done.returncode == 2 and "never unpickles arbitrary code" in done.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.safetensors").exists()


def test_plain_safetensors_state_dict_converts(tmp_path):
    need("torch")
    from safetensors.torch import save_file

    model = _torch_model()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "plain.safetensors")
    with pytest.raises(seqnet.FileFormatError, match="holds no seqnet spec"):
        seqnet.load(tmp_path / "plain.safetensors")
    spec, weights = seqnet.from_framework(tmp_path / "plain.safetensors", head="fc")
    assert spec.proj_size == 3 and spec.output_size == 5
    done = cli("convert", tmp_path / "plain.safetensors", tmp_path / "mine.safetensors", "--head", "fc")
    assert done.returncode == 0, done.stderr


def test_torch_and_paddle_refuse_what_is_not_a_recurrent_layer():
    need("torch")
    need("paddle")
    import torch
    from seqnet_backends.paddle.model import paddle

    with pytest.raises(
        seqnet.ConversionError,
        match=r"reads torch's nn.RNN, nn.LSTM and nn.GRU, nn.RNNCell, nn.LSTMCell and nn.GRUCell .* not a Linear",
    ):
        seqnet.from_framework(torch.nn.Linear(2, 3))
    with pytest.raises(
        seqnet.ConversionError,
        match=r"reads Paddle's nn.SimpleRNN, nn.LSTM and nn.GRU, nn.SimpleRNNCell, .* not a Linear",
    ):
        seqnet.from_framework(paddle.nn.Linear(2, 3))
    with pytest.raises(seqnet.ConversionError, match=r"head has in_features=5: the recurrent layer gives 8"):
        seqnet.from_framework(torch.nn.GRU(2, 4, bidirectional=True), head=torch.nn.Linear(5, 1))
    with pytest.raises(seqnet.ConversionError, match=r"params= is for flax.linen modules"):
        seqnet.from_framework(torch.nn.GRU(2, 4), params={})


def test_into_for_paddle_keras_and_flax():
    """to_framework(..., into=layer) checks the user's layer and sets the weights in it, for each framework."""
    need("paddle")
    need("keras")
    need("flax")
    import keras
    from flax import nnx
    from seqnet_backends.paddle.model import paddle

    spec = seqnet.Spec("gru", 3, 4, bidirectional=True)
    weights = seqnet.init_weights(spec, seed=3)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    want, _ = seqnet.predict(seqnet.build(spec, "numpy", weights), x)
    mine = paddle.nn.GRU(3, 4, direction="bidirect")
    assert seqnet.to_framework(spec, weights, "paddle", into=mine) is mine
    assert parity.scaled_diff(mine(paddle.to_tensor(x))[0].numpy(), want) <= 1e-5
    with pytest.raises(seqnet.ConversionError, match=r"into=paddle.nn.GRU does not fit the spec: it has hidden_size=5"):
        seqnet.to_framework(spec, weights, "paddle", into=paddle.nn.GRU(3, 5, direction="bidirect"))
    layer = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))
    layer.build((None, None, 3))
    assert seqnet.to_framework(spec, weights, "keras", into=layer) is layer
    assert parity.scaled_diff(keras.ops.convert_to_numpy(layer(x)), want) <= 1e-5
    gru_spec = seqnet.Spec("lstm", 3, 4)
    lstm_weights = seqnet.init_weights(gru_spec, seed=1)
    module = nnx.RNN(nnx.OptimizedLSTMCell(3, 4, rngs=nnx.Rngs(0)))
    assert seqnet.to_framework(gru_spec, lstm_weights, "flax", into=module) is module
    lstm_want, _ = seqnet.predict(seqnet.build(gru_spec, "numpy", lstm_weights), x)
    assert parity.scaled_diff(np.asarray(module(x)), lstm_want) <= 1e-5


def test_a_checkpoint_its_framework_cannot_run_is_run_by_numpy(tmp_path):
    """A sigmoid RNN saved as a torch checkpoint: torch.nn has no layer for it (NotExpressible), so the parity
    report runs the file's weights by the NumPy reference; any other conversion error would propagate."""
    need("torch")
    from seqnet import files

    spec = seqnet.Spec("rnn", 2, 3, activation="sigmoid")
    weights = seqnet.init_weights(spec, seed=1)
    written = files.write(tmp_path / "m.pt", spec, weights)
    x = np.random.default_rng(0).standard_normal((2, 4, 2)).astype(np.float32)
    outputs, ran_by = files.run(written, x)
    assert ran_by == "seqnet's NumPy reference"
    h = np.zeros((2, 3), np.float32)  # by hand: h_t = sigmoid(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)
    for t in range(4):
        z = x[:, t] @ weights["weight_ih_l0"].T + weights["bias_ih_l0"] + h @ weights["weight_hh_l0"].T
        h = 1 / (1 + np.exp(-(z + weights["bias_hh_l0"])))
        assert np.allclose(outputs[:, t], h, atol=1e-6)
