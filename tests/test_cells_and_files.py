"""The models people have: single-step cells (torch's RNNCell, LSTMCell and GRUCell, Paddle's cells and the
nn.RNN / nn.BiRNN wrappers over them), cell-style checkpoint names, recurrent nodes inside larger ONNX graphs,
Keras's .keras and .h5 files, and `seqnet inspect`. Expected values come from each framework's own cell, stepped
by the test's own loop or by Paddle's own wrappers, from onnxruntime running the whole graph, and from Keras."""

import importlib.util
import warnings

import numpy as np
import pytest
from conftest import cli, jax_x64, require, skip_or_fail

import seqnet
from seqnet.errors import ConversionError, NotExpressible
from seqnet.registry import get_backend

BACKENDS = ("numpy", "torch", "paddle", "jax")


def need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        skip_or_fail(f"{module} is not installed: pip install {module}")


def _everywhere(spec, weights, x, state, want_out, want_state, tol=1e-10):
    """Every backend, float64, from the converted weights, against the framework's own results: the whole
    sequence in one call, and (one direction) the streaming call model.step(x_t, state) a step at a time."""
    with jax_x64():
        for backend in BACKENDS:
            require(backend)
            model = seqnet.build(spec, backend, weights, "float64")
            out, final = seqnet.predict(model, x, state)
            assert np.abs(out - want_out).max() < tol, backend
            for a, b in zip(seqnet.parity.state_parts(final), seqnet.parity.state_parts(want_state), strict=True):
                assert np.abs(a - b).max() < tol, backend
            if spec.bidirectional:
                continue
            impl = get_backend(backend).load()
            carried = tuple(impl.from_numpy(s, model) for s in seqnet.parity.state_parts(state))
            carried = carried if len(carried) == 2 else carried[0]
            steps = []
            for t in range(x.shape[1]):
                y_t, carried = model.step(impl.from_numpy(np.ascontiguousarray(x[:, t]), model), carried)
                steps.append(impl.to_numpy(y_t))
            assert np.abs(np.stack(steps, 1) - want_out).max() < tol, backend
            for a, b in zip(seqnet.parity.state_parts(carried), seqnet.parity.state_parts(want_state), strict=True):
                assert np.abs(impl.to_numpy(a) - b).max() < tol, backend


# -- torch ------------------------------------------------------------------------------------------------------
TORCH_CELLS = [("RNNCell", {"nonlinearity": "tanh"}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
               ("GRUCell", {})]  # fmt: skip


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name, options", TORCH_CELLS, ids=lambda v: v if isinstance(v, str) else "")
def test_a_torch_cell_converts_and_every_backend_steps_it_as_the_cell_does(name, options, bias):
    need("torch")
    import torch

    torch.manual_seed(1)
    cell = getattr(torch.nn, name)(3, 5, bias=bias, **options).double()
    spec, weights = seqnet.from_framework(cell)
    assert (spec.cell, spec.num_layers, spec.bidirectional, spec.bias) == (
        {"RNNCell": "rnn", "LSTMCell": "lstm", "GRUCell": "gru"}[name], 1, False, bias)  # fmt: skip
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 3))
    lstm = name == "LSTMCell"
    carry = tuple(torch.as_tensor(rng.standard_normal((2, 5))) for _ in range(2 if lstm else 1))
    state = tuple(c.numpy()[None] for c in carry) if lstm else carry[0].numpy()[None]
    outs = []
    with torch.no_grad():  # the loop a streaming model writes
        for t in range(x.shape[1]):
            carry = cell(torch.as_tensor(x[:, t]), carry) if lstm else (cell(torch.as_tensor(x[:, t]), carry[0]),)
            outs.append(carry[0].numpy())
    want_state = tuple(c.numpy()[None] for c in carry) if lstm else carry[0].numpy()[None]
    _everywhere(spec, weights, x, state, np.stack(outs, 1), want_state)
    back = seqnet.to_framework(spec, weights, "torch", cell=True)
    assert type(back) is type(cell) and back.bias == bias
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), cell.state_dict().values(), strict=True))


def test_torch_cells_refuse_what_a_cell_cannot_hold():
    need("torch")
    for spec, message in [
        (seqnet.Spec("lstm", 3, 4, num_layers=2), r"torch.nn's cells has no standard layer for Spec.num_layers=2: "
                                                  r"a cell is one layer"),
        (seqnet.Spec("gru", 3, 4, bidirectional=True), r"Spec.bidirectional=True: a cell runs one direction"),
        (seqnet.Spec("lstm", 3, 4, proj_size=2), r"Spec.proj_size=2: nn.LSTMCell has no projection"),
        (seqnet.Spec("rnn", 3, 4, activation="sigmoid"), r"Spec.activation='sigmoid': nn.RNN offers tanh and relu"),
    ]:  # fmt: skip
        with pytest.raises(NotExpressible, match=message):
            seqnet.to_framework(spec, seqnet.init_weights(spec), "torch", cell=True)
    with pytest.raises(ConversionError, match=r"cell='yes' is not allowed: True or False"):
        seqnet.to_framework(
            seqnet.Spec("gru", 3, 4), seqnet.init_weights(seqnet.Spec("gru", 3, 4)), "torch", cell="yes"
        )


# -- Paddle -----------------------------------------------------------------------------------------------------
def _paddle_cell(paddle, name, bias, **options):
    no_bias = {} if bias else {"bias_ih_attr": False, "bias_hh_attr": False}
    return getattr(paddle.nn, name)(3, 5, **options, **no_bias)


PADDLE_CASES = [  # (cell, its options, bias, wrapper): every cell kind bare, in nn.RNN and in nn.BiRNN
    ("SimpleRNNCell", {"activation": "tanh"}, True, "cell"), ("SimpleRNNCell", {"activation": "relu"}, False, "RNN"),
    ("SimpleRNNCell", {"activation": "tanh"}, True, "BiRNN"), ("LSTMCell", {}, False, "cell"),
    ("LSTMCell", {}, True, "BiRNN"), ("LSTMCell", {"proj_size": 2}, True, "RNN"),
    ("LSTMCell", {"proj_size": 2}, False, "BiRNN"), ("GRUCell", {}, True, "cell"), ("GRUCell", {}, True, "RNN"),
    ("GRUCell", {}, False, "BiRNN"),
]  # fmt: skip


def _case_id(case):
    name, options, bias, wrapper = case
    return f"{name}-{wrapper}{'' if bias else '-nobias'}{'-proj' if options.get('proj_size') else ''}" + (
        "-relu" if options.get("activation") == "relu" else "")  # fmt: skip


@pytest.mark.parametrize("name, options, bias, wrapper", PADDLE_CASES, ids=[_case_id(c) for c in PADDLE_CASES])
def test_paddle_cells_and_their_wrappers_convert_and_agree_with_paddles_own_call(name, options, bias, wrapper):
    need("paddle")
    from seqnet_backends.paddle.model import paddle

    paddle.seed(3)
    paddle.set_default_dtype("float64")
    try:
        made = [_paddle_cell(paddle, name, bias, **options) for _ in range(2)]
        obj = {"cell": made[0], "RNN": paddle.nn.RNN(made[0]), "BiRNN": paddle.nn.BiRNN(*made)}[wrapper]
    finally:
        paddle.set_default_dtype("float32")
    spec, weights = seqnet.from_framework(obj)
    assert spec.bias == bias and spec.bidirectional == (wrapper == "BiRNN") and spec.proj_size == options.get(
        "proj_size", 0)  # fmt: skip
    x = np.random.default_rng(4).standard_normal((3, 6, 3))
    lengths = np.array([6, 2, 4])
    layer = obj if wrapper != "cell" else paddle.nn.RNN(obj)  # Paddle's own loop over the cell
    with paddle.no_grad():
        out, final = layer(paddle.to_tensor(x), _zeros(paddle, spec, wrapper), paddle.to_tensor(lengths))
    out = out.numpy() * (np.arange(6)[None, :] < lengths[:, None])[..., None]  # Paddle's outputs past a length
    finals = list(final) if wrapper == "BiRNN" else [final]
    finals = [tuple(f) if name == "LSTMCell" else (f,) for f in finals]
    parts = tuple(np.stack([d[i].numpy() for d in finals]) for i in range(len(finals[0])))
    with jax_x64():
        for backend in BACKENDS:
            require(backend)
            got, got_final = seqnet.predict(seqnet.build(spec, backend, weights, "float64"), x, lengths=lengths)
            assert np.abs(got - out).max() < 1e-10, backend
            for a, b in zip(seqnet.parity.state_parts(got_final), parts, strict=True):
                assert np.abs(a - b).max() < 1e-10, backend
    back = seqnet.to_framework(spec, weights, "paddle", cell=True)
    assert seqnet.from_framework(back)[0] == spec


def _zeros(paddle, spec, wrapper):
    """An explicit zero state: nn.RNN's own is in Paddle's default dtype, and H wide for a projected LSTMCell's h."""
    h, c = paddle.zeros([3, spec.hidden_out], "float64"), paddle.zeros([3, spec.hidden_size], "float64")
    one = (h, c) if spec.cell == "lstm" else h
    return (one, one) if wrapper == "BiRNN" else one


def test_paddle_refuses_a_lone_reverse_rnn_and_mixed_cells():
    need("paddle")
    from seqnet_backends.paddle.model import paddle

    with pytest.raises(ConversionError, match=r"is_reverse=True alone; seqnet runs a reverse direction only beside"):
        seqnet.from_framework(paddle.nn.RNN(paddle.nn.GRUCell(3, 4), is_reverse=True))
    with pytest.raises(ConversionError, match=r"its cells differ .*a seqnet Spec's directions are the same cell"):
        seqnet.from_framework(paddle.nn.BiRNN(paddle.nn.GRUCell(3, 4), paddle.nn.GRUCell(3, 5)))
    spec = seqnet.Spec("gru", 3, 4, num_layers=2)
    with pytest.raises(NotExpressible, match=r"paddle.nn's cells has no standard layer for Spec.num_layers=2"):
        seqnet.to_framework(spec, seqnet.init_weights(spec), "paddle", cell=True)


# -- checkpoints with cell-style names --------------------------------------------------------------------------
def _streaming_model():
    """A streaming model's checkpoint: convolutions around an LSTMCell, as the issue's audio model is built."""
    import torch

    torch.manual_seed(5)
    model = torch.nn.ModuleDict({"conv": torch.nn.Conv1d(4, 8, 3), "lstm_cell": torch.nn.LSTMCell(8, 16),
                                 "fc": torch.nn.Linear(16, 2)})  # fmt: skip
    return model


def test_a_cell_among_a_whole_models_entries_converts_and_round_trips():
    need("torch")
    model = _streaming_model()
    state = model.state_dict()
    spec, weights = seqnet.from_state_dict(state, head="fc")
    assert spec == seqnet.Spec("lstm", 8, 16, output_size=2)
    cell = model["lstm_cell"]
    assert all(np.array_equal(weights[f"{k}_l0"], v.detach().numpy()) for k, v in cell.state_dict().items())
    again = seqnet.to_state_dict(spec, weights, "torch", prefix="lstm_cell.", head="fc", cell=True)
    assert sorted(again) == sorted(k for k in state if not k.startswith("conv."))
    with_layer = {**state, **{f"enc.{k}": v for k, v in seqnet.to_state_dict(spec, weights, "torch").items()}}
    with pytest.raises(ConversionError, match=r"several recurrent layers or cells: 'enc.' \(layer\), 'lstm_cell.' "
                                              r"\(cell\); pass prefix="):  # fmt: skip
        seqnet.from_state_dict(with_layer)
    assert seqnet.from_state_dict(with_layer, prefix="lstm_cell.")[0] == seqnet.Spec("lstm", 8, 16)
    broken = {**state, "lstm_cell.weight_hh": state["lstm_cell.weight_hh"][:, :15]}
    message = (r"cell under prefix 'lstm_cell.': weight_ih_l0 has 64 rows: not 1, 3 or 4 gate blocks .* of hidden size "
               r"15; found:\n  lstm_cell.weight_ih \[64, 8\]\n  lstm_cell.weight_hh \[64, 15\]")  # fmt: skip
    with pytest.raises(ConversionError, match=message):
        seqnet.from_state_dict(broken, prefix="lstm_cell.")


def test_a_paddle_birnn_checkpoint_reads_through_its_cell_names():
    need("paddle")
    from seqnet_backends.paddle.model import paddle

    paddle.seed(6)
    state = paddle.nn.BiRNN(paddle.nn.GRUCell(3, 4), paddle.nn.GRUCell(3, 4)).state_dict()
    entries = {f"decoder.birnn.{k}": v for k, v in state.items()} | {"decoder.out.weight": paddle.zeros([8, 2])}
    spec, weights = seqnet.from_state_dict(entries, "paddle")
    assert spec == seqnet.Spec("gru", 3, 4, bidirectional=True)
    assert np.array_equal(weights["weight_hh_l0_reverse"], state["cell_bw.weight_hh"].numpy())


def test_seqnet_convert_and_inspect_read_a_cell_among_a_models_entries(tmp_path):
    need("torch")
    import torch

    torch.save(_streaming_model().state_dict(), tmp_path / "stream.pt")
    listed = cli("inspect", tmp_path / "stream.pt")
    assert listed.returncode == 0, listed.stderr
    assert "cell 'lstm_cell.': Spec(cell='lstm', input_size=8, hidden_size=16, num_layers=1" in listed.stdout
    assert "lstm_cell.weight_ih [64, 8]" in listed.stdout and "conv.weight [8, 4, 3]" in listed.stdout
    done = cli("convert", tmp_path / "stream.pt", tmp_path / "stream.onnx", "--head", "fc")
    assert done.returncode == 0, done.stderr
    assert "torch's own layer" in done.stdout and ": ok" in done.stdout  # the cell itself ran for the parity check
    assert seqnet.from_framework(tmp_path / "stream.onnx")[0] == seqnet.Spec("lstm", 8, 16, output_size=2)


def test_inspect_lists_an_onnx_files_recurrent_nodes_and_why_one_is_not_a_spec(tmp_path):
    need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.ones((1, 12, 3), np.float32), "W"),
             numpy_helper.from_array(np.ones((1, 12, 4), np.float32), "R")]  # fmt: skip
    nodes = [helper.make_node("GRU", ["X", "W", "R"], ["Y", "Y_h"], name="gru", hidden_size=4, linear_before_reset=1),
             helper.make_node("GRU", ["X", "W", "R"], ["Z", "Z_h"], name="clipped", hidden_size=4, clip=2.0),
             helper.make_node("Relu", ["Y"], ["out"], name="relu")]  # fmt: skip
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", 3])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits)  # fmt: skip
    (tmp_path / "two.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    found = seqnet.files.inspect(tmp_path / "two.onnx")
    assert [(f.where, f.spec) for f in found.found][0] == (
        "gru",
        seqnet.Spec("gru", 3, 4, bias=False, batch_first=False),
    )
    assert found.found[1].spec is None and "clip=2.0; seqnet's cells have no clip" in found.found[1].problem
    assert found.other == ["Relu x1"]


# -- recurrent nodes inside larger ONNX graphs ------------------------------------------------------------------
def _branching_cell_model(path):
    """A streaming step as torch.onnx.export writes it: an LSTMCell under a branch on the state, so one LSTM node
    in each If branch, whose W, R and B each branch computes from the cell's tensors by Slice and Concat."""
    import torch

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell, self.fc = torch.nn.LSTMCell(4, 6), torch.nn.Linear(6, 2)

        def forward(self, x, h, c):
            if h.sum() > 0:
                h2, c2 = self.cell(x, (h, c))
            else:
                h2, c2 = self.cell(x, (torch.zeros_like(h), torch.zeros_like(c)))
            return self.fc(h2), c2

    torch.manual_seed(7)
    step = torch.jit.script(Step())
    torch.onnx.export(step, (torch.randn(2, 4), torch.randn(2, 6), torch.randn(2, 6)), str(path), dynamo=False)
    return step


def test_an_lstm_inside_if_branches_with_computed_weights_converts(tmp_path):
    need("torch")
    need("onnx")
    need("onnxruntime")
    import onnxruntime as ort
    import torch

    step = _branching_cell_model(tmp_path / "step.onnx")
    listed = seqnet.files.inspect(tmp_path / "step.onnx")
    assert [f.where for f in listed.found] == ["/If[then_branch]/cell/LSTM", "/If[else_branch]/cell_1/LSTM"]
    spec, weights = seqnet.from_framework(tmp_path / "step.onnx")  # both branches hold the same layer: one
    assert spec == seqnet.Spec("lstm", 4, 6, batch_first=False)
    for name, value in step.cell.state_dict().items():  # the Slice/Concat chains evaluated back to the cell's own
        assert np.abs(weights[f"{name}_l0"] - value.numpy()).max() < 1e-7, name
    rng = np.random.default_rng(8)
    x, h, c = (rng.standard_normal(s).astype(np.float32) for s in ((2, 4), (2, 6), (2, 6)))
    h = np.abs(h)  # the branch that reads the state
    session = ort.InferenceSession(str(tmp_path / "step.onnx"), providers=["CPUExecutionProvider"])
    _, c_next = session.run(None, dict(zip([i.name for i in session.get_inputs()], (x, h, c), strict=True)))
    _, (_, c_mine) = seqnet.predict(seqnet.build(spec, "numpy", weights), x[None], (h[None], c[None]))
    assert np.abs(c_mine[0] - c_next).max() < 1e-6
    with torch.no_grad():
        assert np.abs(c_mine[0] - step.cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))[1]
                      .numpy()).max() < 1e-6  # fmt: skip
    chosen = seqnet.from_framework(tmp_path / "step.onnx", node="/If[else_branch]/cell_1/LSTM")
    assert chosen[0] == spec
    done = cli("convert", tmp_path / "step.onnx", tmp_path / "step.pt")
    assert done.returncode == 0, done.stderr
    assert "layer under '/If[then_branch]/cell/LSTM'" in done.stdout and ": ok" in done.stdout


def _two_subgraph_nodes(hidden_b=4, w_from_input=False):
    from onnx import TensorProto, helper, numpy_helper

    def branch(name, hidden):
        inits = [numpy_helper.from_array(np.full((1, 3 * hidden, 3), 0.1, np.float32), f"W_{name}"),
                 numpy_helper.from_array(np.full((1, 3 * hidden, hidden), 0.2, np.float32), f"R_{name}")]  # fmt: skip
        w = "X" if w_from_input and name == "a" else f"W_{name}"
        node = helper.make_node("GRU", ["X", w, f"R_{name}"], [f"Y_{name}"], name=f"gru_{name}", hidden_size=hidden)
        out = helper.make_tensor_value_info(f"Y_{name}", TensorProto.FLOAT, None)
        return helper.make_graph([node], name, [], [out], inits)

    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", 3])
    node = helper.make_node("If", ["cond"], ["Y"], name="pick", then_branch=branch("a", 4),
                            else_branch=branch("b", hidden_b))  # fmt: skip
    graph = helper.make_graph([node], "g", [cond, x], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    return helper.make_model(graph)


def test_several_different_nodes_in_subgraphs_are_listed_and_one_is_chosen_by_name():
    need("onnx")
    model = _two_subgraph_nodes(hidden_b=5)
    with pytest.raises(ConversionError, match=r"holds 2 different recurrent layers in its subgraphs: "
                                              r"\[\['pick\[else_branch\]/gru_b'\], \['pick\[then_branch\]/gru_a'\]\]; "
                                              r"pass node= one of"):  # fmt: skip
        seqnet.from_framework(model)
    assert seqnet.from_framework(model, node="gru_b")[0].hidden_size == 5
    assert seqnet.from_framework(_two_subgraph_nodes(hidden_b=4))[0].hidden_size == 4  # the same layer twice
    with pytest.raises(ConversionError, match=r"no RNN, LSTM or GRU node named 'gru_c': its recurrent nodes are "):
        seqnet.from_framework(model, node="gru_c")
    with pytest.raises(ConversionError, match=r"its 'X' is computed from the graph's input 'X', not from stored"):
        seqnet.from_framework(_two_subgraph_nodes(w_from_input=True), node="gru_a")
    need("torch")
    import torch

    with pytest.raises(ConversionError, match=r"node='gru_a' is for ONNX graphs, not a GRU"):
        seqnet.from_framework(torch.nn.GRU(3, 4), node="gru_a")


# -- Keras files ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_files_as_every_keras_tutorial_saves_them_convert(suffix, tmp_path):
    need("keras")
    need("h5py")
    import keras

    keras.utils.set_random_seed(9)
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(5, return_sequences=True),
                              keras.layers.GRU(5), keras.layers.Dense(2)])  # fmt: skip
    with warnings.catch_warnings():  # .h5: Keras 2's and tf.keras's format for years; Keras 3 still writes it
        warnings.simplefilter("ignore")
        model.save(tmp_path / f"m{suffix}")
    with pytest.raises(ConversionError, match=r"Keras layer 'gru\w*' has cell='gru' where layer 'lstm\w*' has 'lstm'"):
        seqnet.from_framework(tmp_path / f"m{suffix}")  # what the Spec cannot express, by name, from a file too
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.GRU(5, return_sequences=True),
                              keras.layers.GRU(5), keras.layers.Dense(2)])  # fmt: skip
    path = tmp_path / f"g{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(path)
    spec, weights = seqnet.from_framework(path)
    assert spec == seqnet.Spec("gru", 3, 5, num_layers=2, output_size=2, output_mode="last")
    x = np.random.default_rng(10).standard_normal((2, 6, 3)).astype(np.float32)
    want = keras.ops.convert_to_numpy(model(x))
    assert np.abs(seqnet.predict(seqnet.build(spec, "numpy", weights), x)[0] - want).max() < 1e-5
    if suffix == ".keras":
        seqnet.files.write(tmp_path / "back.keras", spec, weights)
    else:  # the command line once: seqnet convert runs both files in Keras for its parity report
        done = cli("convert", path, tmp_path / "back.keras")
        assert done.returncode == 0, done.stderr
        assert "keras's own layer" in done.stdout and ": ok" in done.stdout
    again = keras.saving.load_model(tmp_path / "back.keras")
    assert np.abs(keras.ops.convert_to_numpy(again(x)) - want).max() < 1e-5


def test_a_keras_file_with_a_lambda_layer_is_refused_and_nothing_in_it_runs(tmp_path):
    need("keras")
    import keras

    ran = tmp_path / "ran"
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.Lambda(lambda t: t * 2, name="doubler"),
                              keras.layers.LSTM(4)])  # fmt: skip
    model.save(tmp_path / "m.keras")
    code = f"lambda t: (open({str(ran)!r}, 'w'), t)[1]"  # what a hostile file's function does when it runs
    import json
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    config["config"]["layers"][0]["config"]["function"] = {"class_name": "__lambda__", "config": {"code": code}}
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "hostile.keras", "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    for path in (tmp_path / "m.keras", tmp_path / "hostile.keras"):
        with pytest.raises(ConversionError, match=r"holds Lambda layer\(s\) \['doubler'\]: loading one would run code"):
            seqnet.from_framework(path)
        listed = cli("inspect", path)
        assert listed.returncode == 0 and "Lambda layer(s) ['doubler']" in listed.stdout, listed.stderr
    assert not ran.exists()


def test_an_onnx_file_whose_external_data_points_outside_its_folder_is_refused(tmp_path):
    need("onnx")
    from onnx import TensorProto, helper, numpy_helper

    (tmp_path / "secret.bin").write_bytes(bytes(range(256)))
    (tmp_path / "models").mkdir()
    weight = numpy_helper.from_array(np.zeros((1, 12, 3), np.float32), "W")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", "144")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    recurrent = numpy_helper.from_array(np.zeros((1, 12, 4), np.float32), "R")
    node = helper.make_node("GRU", ["X", "W", "R"], ["Y"], hidden_size=4)
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", 3])]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)]
    graph = helper.make_graph([node], "g", inputs, outputs, [weight, recurrent])
    path = tmp_path / "models" / "evil.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    for read in (seqnet.from_framework, seqnet.files.inspect):
        with pytest.raises(ConversionError, match=r"is not an ONNX model: .*'../secret.bin' points outside the dir"):
            read(path)
