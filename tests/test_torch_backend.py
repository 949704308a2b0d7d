"""The PyTorch backend against PyTorch's own layers built by hand, and its torch-user contract."""

import dataclasses

import numpy as np
import pytest
from conftest import check_half_precision, gates_swapped, importorskip

import seqnet
from seqnet import BackendError, InputError, Spec, init_weights, parity

torch = importorskip("torch", "the torch backend needs torch: pip install 'seqnet[torch]'")
nn = torch.nn
pack = torch.nn.utils.rnn

FUSED_CASES = [
    c for c in parity.GRID
    if c.spec.activation != "sigmoid" and c.spec.gru_variant == "reset_after" and not c.spec.peephole
]  # fmt: skip


def _own_layer(spec, weights):
    """nn.RNN/LSTM/GRU (+ nn.Linear) built by hand from the canonical weights: the third party."""
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[spec.cell]
    extra = {"nonlinearity": spec.activation} if spec.cell == "rnn" else {}
    if spec.proj_size:
        extra["proj_size"] = spec.proj_size
    layer = cls(
        spec.input_size,
        spec.hidden_size,
        spec.num_layers,
        bias=spec.bias,
        batch_first=spec.batch_first,
        bidirectional=spec.bidirectional,
        **extra,
    ).double()
    layer.load_state_dict({k: torch.tensor(v) for k, v in weights.items() if not k.startswith("head.")})
    return layer


@pytest.mark.parametrize("case", FUSED_CASES, ids=lambda c: c.id)
def test_matches_pytorchs_own_layer(case):
    spec = case.spec
    weights = init_weights(spec, seed=5, dtype="float64")
    x, state, lengths = parity.inputs(case, "float64", seed=1)
    layer = _own_layer(spec, weights)
    xt = torch.tensor(x)
    st = None if state is None else (tuple(map(torch.tensor, state)) if spec.cell == "lstm" else torch.tensor(state))
    if lengths is None:
        seq, final = layer(xt, st)
    else:
        packed = pack.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=spec.batch_first, enforce_sorted=False
        )
        seq, final = layer(packed, st)
        seq, _ = pack.pad_packed_sequence(
            seq, batch_first=spec.batch_first, total_length=x.shape[1 if spec.batch_first else 0]
        )
    hn = final[0] if spec.cell == "lstm" else final
    if spec.output_mode == "last":
        seq = torch.cat(list(hn[-spec.num_directions :]), dim=1)
    if spec.output_size:
        seq = seq @ torch.tensor(weights["head.weight"]).T + torch.tensor(weights["head.bias"])
        if lengths is not None and spec.output_mode == "sequence":
            mask = torch.arange(parity.STEPS)[None, :] < torch.tensor(lengths)[:, None]
            seq = seq * (mask if spec.batch_first else mask.T)[..., None]
    out, mine = seqnet.predict(seqnet.build(spec, "torch", weights, "float64"), x, state, lengths)
    assert parity.scaled_diff(out, seq.detach().numpy()) <= 1e-12
    theirs = final if isinstance(final, tuple) else (final,)
    mine = mine if isinstance(mine, tuple) else (mine,)
    for a, b in zip(mine, theirs, strict=True):
        assert parity.scaled_diff(a, b.detach().numpy()) <= 1e-12


@pytest.mark.parametrize("case", FUSED_CASES[::2], ids=lambda c: c.id)
def test_a_stream_of_one_step_calls_is_the_layers_function_and_gradient(case):
    """One-step calls (T = 1) run torch's cell functions instead of the fused layer (SeqnetTorch._step_fused):
    one such call equals torch's own layer on that step, outputs, final state and the gradient of a loss with
    respect to every parameter; for one direction a stream of them, the state carried, equals the layer over
    the whole sequence (a reverse direction reads the future, so a bidirectional model does not stream)."""
    spec = dataclasses.replace(case.spec, output_size=None, output_mode="sequence")  # the layer's own function
    weights = {k: v for k, v in init_weights(case.spec, seed=6, dtype="float64").items() if not k.startswith("head")}
    x, state, _ = parity.inputs(case, "float64", seed=2)
    layer = _own_layer(spec, weights)
    tensor = lambda s: None if s is None else (tuple(map(torch.tensor, s)) if spec.cell == "lstm" else torch.tensor(s))  # noqa: E731
    at = lambda t: torch.tensor(x[:, t : t + 1] if spec.batch_first else x[t : t + 1])  # noqa: E731
    model = seqnet.build(spec, "torch", weights, "float64")
    y, final = model(at(0), tensor(state))
    want, want_final = layer(at(0), tensor(state))
    assert parity.scaled_diff(y.detach().numpy(), want.detach().numpy()) <= 1e-12
    for a, b in zip(parity.state_parts(final), parity.state_parts(want_final), strict=True):
        assert parity.scaled_diff(a.detach().numpy(), b.detach().numpy()) <= 1e-12
    (y**2).sum().backward()
    (want**2).sum().backward()
    for name, param in layer.named_parameters():
        assert torch.allclose(dict(model.rnn.named_parameters())[name].grad, param.grad, rtol=1e-10, atol=1e-12), name
    if spec.bidirectional:
        return
    carried, outs = tensor(state), []
    with torch.no_grad():
        for t in range(parity.STEPS):
            y, carried = model(at(t), carried)
            outs.append(y)
        whole, whole_final = layer(torch.tensor(x), tensor(state))
    assert parity.scaled_diff(torch.cat(outs, 1 if spec.batch_first else 0).numpy(), whole.numpy()) <= 1e-12
    for a, b in zip(parity.state_parts(carried), parity.state_parts(whole_final), strict=True):
        assert parity.scaled_diff(a.numpy(), b.numpy()) <= 1e-12


def test_fused_where_possible_generic_otherwise():
    assert seqnet.build(Spec("lstm", 3, 4, proj_size=2), "torch").fused
    assert seqnet.build(Spec("rnn", 3, 4, activation="relu"), "torch").fused
    assert not seqnet.build(Spec("rnn", 3, 4, activation="sigmoid"), "torch").fused
    assert not seqnet.build(Spec("gru", 3, 4, gru_variant="reset_before"), "torch").fused
    assert not seqnet.build(Spec("gru", 3, 4), "torch", fused=False).fused
    with pytest.raises(BackendError, match="reset gate after the hidden product"):
        seqnet.build(Spec("gru", 3, 4, gru_variant="reset_before"), "torch", fused=True)


def test_state_dict_loads_into_users_own_layer():
    spec = Spec("lstm", 3, 5, num_layers=2, bidirectional=True, proj_size=2)
    model = seqnet.build(spec, "torch", init_weights(spec, seed=4))
    mine = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
    mine.load_state_dict(model.rnn.state_dict())  # unchanged, strict
    x = torch.randn(2, 6, 3)
    assert torch.equal(mine(x)[0], model(x)[0])


def test_trains_with_torch_optim_and_dropout_only_in_train_mode():
    spec = Spec("gru", 3, 8, num_layers=2, dropout=0.5, output_size=1, output_mode="last")
    model = seqnet.build(spec, "torch")
    x, y = torch.randn(16, 10, 3), torch.randn(16, 1)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    model.train()
    assert not torch.equal(model(x)[0], model(x)[0])
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.eval()
    first = torch.mean((model(x)[0] - y) ** 2).item()
    for _ in range(30):
        opt.zero_grad()
        loss = torch.mean((model(x)[0] - y) ** 2)
        loss.backward()
        opt.step()
    assert loss.item() < first
    # weights_of sees the trained parameters
    assert not np.array_equal(seqnet.weights_of(model)["weight_ih_l0"], init_weights(spec)["weight_ih_l0"])


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m(np.zeros((2, 3, 3), np.float32)), "x must be a torch.Tensor"),
        (lambda m: m(torch.zeros(2, 3)), "expected 3 dimensions"),
        (lambda m: m(torch.zeros(2, 3, 4)), "input_size=3"),
        (lambda m: m(torch.zeros(2, 3, 3, dtype=torch.float64)), "x has dtype float64, the model computes in float32"),
        (
            lambda m: m(torch.zeros(2, 3, 3), state=torch.zeros(1, 3, 4)),
            "state h has shape [1, 3, 4]: expected [1, 2, 4]",
        ),
        (lambda m: m(torch.zeros(2, 3, 3), lengths=torch.tensor([0, 3])), "out of range"),
        (lambda m: m(torch.zeros(2, 3, 3), lengths=torch.tensor([1.0, 3.0])), "expected integers"),
    ],
)
def test_bad_input_errors_before_torch(call, words):
    model = seqnet.build(Spec("gru", 3, 4), "torch")
    with pytest.raises(InputError) as info:
        call(model)
    assert words in str(info.value)


def test_float64_and_device_option():
    model = seqnet.build(Spec("rnn", 2, 3), "torch", dtype="float64", device="cpu")
    assert next(model.parameters()).dtype == torch.float64
    out, _ = model(torch.zeros(1, 2, 2, dtype=torch.float64))
    assert out.dtype == torch.float64


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision(dtype):
    """bfloat16 and float16 models against NumPy's float64 within HALF_UNITS rounding units of each part's scale
    (lengths, both directions, two layers, a head); the same model with two gate blocks swapped fails that check."""
    spec = Spec("lstm", 3, 8, num_layers=2, bidirectional=True, output_size=2)
    weights = init_weights(spec, seed=2)
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 5, 1])
    reference = seqnet.build(spec, "numpy", weights.astype(np.float64), "float64")
    ref, ref_state = seqnet.predict(reference, x.astype(np.float64), lengths=lengths)
    model = seqnet.build(spec, "torch", weights, dtype=dtype)
    assert next(model.parameters()).dtype == getattr(torch, dtype)
    out, state = seqnet.predict(model, x, lengths=lengths)
    check_half_precision(model, out, state, ref, ref_state, weights, dtype)
    wrong = seqnet.build(spec, "torch", gates_swapped(spec, weights), dtype=dtype)
    with pytest.raises(AssertionError, match="rounding units off"):
        check_half_precision(
            wrong, *seqnet.predict(wrong, x, lengths=lengths), ref, ref_state, seqnet.weights_of(wrong), dtype
        )


def test_half_precision_is_refused_where_the_backend_lacks_it():
    allowed = r"one of \('float32', 'float64'\)$"
    with pytest.raises(seqnet.WeightsError, match=rf"dtype='bfloat16' is not supported: {allowed}"):
        seqnet.build(Spec("rnn", 2, 3), "numpy", dtype="bfloat16")
    with pytest.raises(seqnet.WeightsError, match="dtype='int8' is not supported"):
        seqnet.build(Spec("rnn", 2, 3), "torch", dtype="int8")


def test_torch_compile_and_ddp_take_the_model(tmp_path):
    spec = Spec("gru", 3, 8, num_layers=2, output_size=2)
    model = seqnet.build(spec, "torch", init_weights(spec, seed=1))
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 3, 2, 1])
    expected = model(x, lengths=lengths)[0]
    assert torch.equal(torch.compile(model)(x, lengths=lengths)[0], expected)
    dist = torch.distributed
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        loss = (ddp(x, lengths=lengths)[0] ** 2).mean()
        loss.backward()
        assert torch.equal(ddp(x, lengths=lengths)[0], expected)
        assert all(p.grad is not None for p in model.parameters())
    finally:
        dist.destroy_process_group()


def test_repeated_calls_reach_hooks_and_the_layers_answer():
    """A call like the last accepted one goes straight to nn.LSTM: hooks on model.rnn still run, results equal."""
    spec = Spec("lstm", 3, 5)
    model = seqnet.build(spec, "torch", init_weights(spec))
    x = torch.randn(2, 4, 3)
    first = model(x)[0]
    seen = []
    model.rnn.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    again = model(x)[0]
    assert seen == [x.shape] and torch.equal(first, again)
    with pytest.raises(InputError, match="last dimension must be input_size=3"):
        model(torch.randn(2, 4, 4))
