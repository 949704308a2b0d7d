"""The Paddle backend against Paddle's own layers built by hand, and its Paddle-user contract."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import native
import numpy as np
import pytest
from conftest import importorskip, skip_or_fail

import seqnet
from seqnet import InputError, Spec, init_weights, parity

if importlib.util.find_spec("paddle") is None:  # found without importing: Paddle's own import prints warnings
    skip_or_fail("the paddle backend needs paddlepaddle: pip install 'seqnet[paddle]'")
from seqnet_backends.paddle.model import paddle  # noqa: E402  (quiet import)

FUSED_CASES = [
    c for c in parity.GRID
    if c.spec.activation != "sigmoid" and c.spec.gru_variant == "reset_after" and not c.spec.peephole and c.spec.bias
]  # fmt: skip


def _own_layer(spec, weights):
    """paddle.nn.SimpleRNN/LSTM/GRU built by hand; weights set through the cell-level names (the flat
    names are shifted with proj_size) and Paddle's weight_ho = weight_hr transposed."""
    paddle.set_default_dtype("float64")
    try:
        layer = native.Paddle.layer(spec)
    finally:
        paddle.set_default_dtype("float32")
    for k in range(spec.num_layers):
        cells = (
            [(layer[k].cell_fw, ""), (layer[k].cell_bw, "_reverse")] if spec.bidirectional else [(layer[k].cell, "")]
        )
        for cell, s in cells:
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).set_value(weights[f"{name}_l{k}{s}"])
            if spec.proj_size:
                cell.weight_ho.set_value(weights[f"weight_hr_l{k}{s}"].T)
    return layer


@pytest.mark.parametrize("case", FUSED_CASES, ids=lambda c: c.id)
def test_matches_paddles_own_layer(case):
    spec = case.spec
    weights = init_weights(spec, seed=5, dtype="float64")
    x, state, lengths = parity.inputs(case, "float64", seed=1)
    layer = _own_layer(spec, weights)
    st = (
        None
        if state is None
        else (tuple(map(paddle.to_tensor, state)) if spec.cell == "lstm" else paddle.to_tensor(state))
    )
    seq, final = layer(paddle.to_tensor(x), st, None if lengths is None else paddle.to_tensor(lengths))
    seq = seq.numpy()
    hn = (final[0] if spec.cell == "lstm" else final).numpy()
    if lengths is not None:  # seqnet's contract: zero past a length (Paddle leaves projected outputs non-zero)
        mask = (np.arange(parity.STEPS)[None, :] < lengths[:, None])[..., None]
        seq = seq * (mask if spec.batch_first else mask.transpose(1, 0, 2))
    if spec.output_mode == "last":
        seq = np.concatenate(list(hn[-spec.num_directions :]), axis=1)
    if spec.output_size:
        seq = seq @ weights["head.weight"].T + weights["head.bias"]
        if lengths is not None and spec.output_mode == "sequence":
            seq = seq * (mask if spec.batch_first else mask.transpose(1, 0, 2))
    out, mine = seqnet.predict(seqnet.build(spec, "paddle", weights, "float64"), x, state, lengths)
    assert parity.scaled_diff(out, seq) <= 1e-12
    theirs = final if isinstance(final, tuple) else (final,)
    mine = mine if isinstance(mine, tuple) else (mine,)
    for a, b in zip(mine, theirs, strict=True):
        assert parity.scaled_diff(a, b.numpy()) <= 1e-12


def test_paddle_projection_trap_is_real():
    """The facts the mapping stands on: Paddle's projected outputs past a length are not zero."""
    spec = Spec("lstm", 3, 5, proj_size=2)
    layer = _own_layer(spec, init_weights(spec, seed=1, dtype="float64"))
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 6, 3)))
    seq, _ = layer(x, None, paddle.to_tensor(np.array([6, 2])))
    assert np.abs(seq.numpy()[1, 2:]).max() > 1e-3
    out, _ = seqnet.build(spec, "paddle", init_weights(spec, seed=1, dtype="float64"), "float64")(
        x, lengths=paddle.to_tensor(np.array([6, 2]))
    )
    assert np.all(out.numpy()[1, 2:] == 0)


def test_fused_path_choice():
    assert seqnet.build(Spec("lstm", 3, 4, proj_size=2), "paddle").fused
    assert not seqnet.build(Spec("lstm", 3, 4, bias=False), "paddle").fused
    assert not seqnet.build(Spec("rnn", 3, 4, activation="sigmoid"), "paddle").fused
    assert not seqnet.build(Spec("gru", 3, 4, gru_variant="reset_before"), "paddle").fused


def test_save_with_paddle_and_train_with_paddle_optimizer(tmp_path):
    spec = Spec("lstm", 3, 6, num_layers=2, output_size=1, output_mode="last")
    model = seqnet.build(spec, "paddle", init_weights(spec, seed=2))
    paddle.save(model.state_dict(), str(tmp_path / "m.pdparams"))
    other = seqnet.build(spec, "paddle", init_weights(spec, seed=9))
    other.set_state_dict(paddle.load(str(tmp_path / "m.pdparams")))
    assert all(
        np.array_equal(a, b)
        for a, b in zip(seqnet.weights_of(other).values(), seqnet.weights_of(model).values(), strict=True)
    )
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((16, 8, 3)).astype("float32"))
    y = paddle.to_tensor(np.random.default_rng(1).standard_normal((16, 1)).astype("float32"))
    opt = paddle.optimizer.Adam(learning_rate=0.02, parameters=model.parameters())
    losses = []
    for _ in range(30):
        loss = paddle.mean((model(x)[0] - y) ** 2)
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_classification_example_trains():
    import runpy

    example = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "paddle_text_classification.py"))
    losses = example["train"](steps=60, verbose=False)
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m(np.zeros((2, 3, 3), np.float32)), "x must be a paddle.Tensor"),
        (lambda m: m(paddle.zeros([2, 3])), "expected 3 dimensions"),
        (lambda m: m(paddle.zeros([2, 3, 4])), "input_size=3"),
        (lambda m: m(paddle.zeros([2, 3, 3], dtype="float64")), "x has dtype float64, the model computes in float32"),
        (lambda m: m(paddle.zeros([2, 3, 3]), state=paddle.zeros([1, 3, 4])), "state h has shape [1, 3, 4]"),
        (lambda m: m(paddle.zeros([2, 3, 3]), lengths=paddle.to_tensor([4, 3])), "out of range"),
    ],
)
def test_bad_input_errors_before_paddle(call, words):
    model = seqnet.build(Spec("gru", 3, 4), "paddle")
    with pytest.raises(InputError) as info:
        call(model)
    assert words in str(info.value)


def test_quiet_import_keeps_other_frameworks_threads():
    code = (
        "import os, seqnet, numpy as np; assert 'OMP_NUM_THREADS' not in os.environ;"
        "m = seqnet.build(seqnet.Spec('gru', 2, 3), 'paddle');"
        "assert 'OMP_NUM_THREADS' not in os.environ, os.environ.get('OMP_NUM_THREADS')"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "ccache" not in out.stderr and "Warning" not in out.stderr, out.stderr


def test_paddle_reverse_gradient_bug_is_worked_around():
    """Paddle's fused SimpleRNN, bidirectional with lengths and an initial state, gets the reverse
    direction's gradient wrong (torch's nn.RNN is the reference); seqnet's model gets it right."""
    torch = importorskip("torch", "torch is the independent reference here")
    rng = np.random.default_rng(0)
    x, h0, lengths = rng.standard_normal((3, 5, 4)), rng.standard_normal((2, 3, 6)), np.array([4, 1, 5])
    spec = Spec("rnn", 4, 6, bidirectional=True)
    weights = init_weights(spec, seed=1, dtype="float64")
    ref = torch.nn.RNN(4, 6, bidirectional=True, batch_first=True).double()
    ref.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.tensor(lengths), True, False)
    y, _ = ref(packed, torch.tensor(h0))
    (torch.nn.utils.rnn.pad_packed_sequence(y, True)[0] ** 2).sum().backward()
    expected = ref.weight_hh_l0_reverse.grad.numpy()

    own = _own_layer(spec, weights)
    y, _ = own(paddle.to_tensor(x), paddle.to_tensor(h0), paddle.to_tensor(lengths))
    (y**2).sum().backward()
    paddle_is_wrong = np.abs(own[0].cell_bw.weight_hh.grad.numpy() - expected).max() > 0.1

    model = seqnet.build(spec, "paddle", weights, "float64")
    y, _ = model(paddle.to_tensor(x), paddle.to_tensor(h0), paddle.to_tensor(lengths))
    (y**2).sum().backward()
    assert model.fused
    assert np.abs(model.rnn[0].cell_bw.weight_hh.grad.numpy() - expected).max() < 1e-10
    assert paddle_is_wrong, f"Paddle {paddle.__version__} fixed the reverse-gradient bug: the workaround can go"


def test_repeated_calls_reach_hooks_and_the_layers_answer():
    """A call like the last accepted one goes straight to paddle.nn.LSTM: hooks on model.rnn still run."""
    spec = Spec("lstm", 3, 5)
    model = seqnet.build(spec, "paddle", init_weights(spec))
    x = paddle.randn([2, 4, 3])
    first = model(x)[0].numpy()
    seen = []
    model.rnn.register_forward_post_hook(lambda layer, args, out: seen.append(list(args[0].shape)))
    again = model(x)[0].numpy()
    assert seen == [[2, 4, 3]] and np.array_equal(first, again)
    with pytest.raises(InputError, match="last dimension must be input_size=3"):
        model(paddle.randn([2, 4, 4]))
