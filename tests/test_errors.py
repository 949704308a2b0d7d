"""The error catalogue: every public function answers bad input with a seqnet error naming the argument, the
value and what is allowed, raised before any framework sees it, on every backend where the case applies
(model calls both with NumPy arrays and with the backend's native tensors)."""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import require

import seqnet
from seqnet import (
    BackendError,
    ConversionError,
    FileFormatError,
    InputError,
    SeqnetError,
    Spec,
    SpecError,
    TrainingError,
    WeightsError,
)
from seqnet.registry import get_backend

GRU = Spec("gru", 3, 4)
LSTM = Spec("lstm", 3, 4)
HEAD = Spec("gru", 3, 4, output_size=3, output_mode="last")
ALL = ("numpy", "torch", "paddle", "jax", "onnxruntime")
TRAINING = ("numpy", "torch", "paddle", "jax")


@dataclass
class Bad:
    id: str
    call: Callable[..., Any]  # (backend) -> ..., or () -> ... for backend-free cases
    error: type
    words: str  # a regex the message must contain
    backends: tuple[str, ...] = ()  # empty: backend-free


def _weights(spec: Spec = GRU, **changes: Any) -> dict:
    w = {k: v.copy() for k, v in seqnet.init_weights(spec).items()}
    for name, value in changes.items():
        w[name] = value
    return w


def _nan() -> np.ndarray:
    a = seqnet.init_weights(GRU)["weight_hh_l0"].copy()
    a[1, 2] = np.nan
    return a


def _inf() -> np.ndarray:
    a = seqnet.init_weights(GRU)["bias_ih_l0"].copy()
    a[0] = np.inf
    return a


def _x(batch: int = 2, steps: int = 3, features: int = 3, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, steps, features)).astype(dtype)


SPEC_CASES = [
    Bad(
        "cell",
        lambda: Spec("cnn", 3, 4),
        SpecError,
        r"Spec.cell='cnn' is not allowed: one of the registered cells \['rnn', 'lstm', 'gru', 'mingru', 'minlstm'\]",
    ),
    Bad("cell type", lambda: Spec(3, 3, 4), SpecError, r"Spec.cell=3 is not allowed"),
    Bad("input_size", lambda: Spec("rnn", 0, 4), SpecError, r"Spec.input_size=0 is not allowed: a positive integer"),
    Bad("hidden_size str", lambda: Spec("rnn", 3, "4"), SpecError, r"Spec.hidden_size='4' is not allowed: a positive"),
    Bad("num_layers bool", lambda: Spec("rnn", 3, 4, num_layers=True), SpecError, r"Spec.num_layers=True"),
    Bad(
        "bidirectional",
        lambda: Spec("rnn", 3, 4, bidirectional="yes"),
        SpecError,
        r"bidirectional='yes' .*True or False",
    ),
    Bad("dropout 1", lambda: Spec("rnn", 3, 4, num_layers=2, dropout=1.0), SpecError, r"Spec.dropout=1.0 .*\[0, 1\)"),
    Bad("dropout nan", lambda: Spec("rnn", 3, 4, num_layers=2, dropout=float("nan")), SpecError, r"Spec.dropout=nan"),
    Bad("dropout one layer", lambda: Spec("rnn", 3, 4, dropout=0.2), SpecError, r"0 when num_layers=1"),
    Bad("activation", lambda: Spec("rnn", 3, 4, activation="gelu"), SpecError, r"one of \('tanh', 'relu', 'sigmoid'\)"),
    Bad("activation lstm", lambda: Spec("lstm", 3, 4, activation="relu"), SpecError, r"'tanh' \(the default\)"),
    Bad("proj_size big", lambda: Spec("lstm", 3, 4, proj_size=4), SpecError, r"smaller than hidden_size=4"),
    Bad("proj_size gru", lambda: Spec("gru", 3, 4, proj_size=2), SpecError, r"applies to cell='lstm' only"),
    Bad("proj_size negative", lambda: Spec("lstm", 3, 4, proj_size=-1), SpecError, r"a non-negative integer"),
    Bad(
        "peephole gru",
        lambda: Spec("gru", 3, 4, peephole=True),
        SpecError,
        r"Spec.peephole=True is not allowed: False \(the default\) for cell='gru'; peepholes apply to cell='lstm' only",
    ),
    Bad("peephole mingru", lambda: Spec("mingru", 3, 4, peephole=True), SpecError, r"for cell='mingru'; peepholes"),
    Bad("peephole str", lambda: Spec("lstm", 3, 4, peephole="yes"), SpecError, r"Spec.peephole='yes' .*True or False"),
    Bad(
        "gru_variant",
        lambda: Spec("gru", 3, 4, gru_variant="cho"),
        SpecError,
        r"one of \('reset_after', 'reset_before'\)",
    ),
    Bad(
        "gru_variant lstm",
        lambda: Spec("lstm", 3, 4, gru_variant="reset_before"),
        SpecError,
        r"applies to cell='gru' only",
    ),
    Bad("output_size", lambda: Spec("gru", 3, 4, output_size=0), SpecError, r"None or a positive integer"),
    Bad("output_mode", lambda: Spec("gru", 3, 4, output_mode="first"), SpecError, r"one of \('sequence', 'last'\)"),
    Bad("from_dict type", lambda: Spec.from_dict([1]), SpecError, r"Spec.from_dict needs a dict, got list"),
    Bad(
        "from_dict unknown",
        lambda: Spec.from_dict({"cell": "gru", "input_size": 3, "hiden_size": 4}),
        SpecError,
        r"unknown Spec field\(s\) \['hiden_size'\]",
    ),  # fmt: skip
    Bad(
        "from_dict missing",
        lambda: Spec.from_dict({"cell": "gru", "input_size": 3}),
        SpecError,
        r"required field\(s\) \['hidden_size'\] missing",
    ),  # fmt: skip
    Bad("from_json syntax", lambda: Spec.from_json("{"), SpecError, r"Spec JSON is not valid JSON"),
    Bad("from_json list", lambda: Spec.from_json("[]"), SpecError, r"needs a dict, got list"),
    Bad(
        "from_json types",
        lambda: Spec.from_json('{"cell": "gru", "input_size": "3", "hidden_size": 4}'),
        SpecError,
        r"Spec.input_size='3' is not allowed",
    ),  # fmt: skip
]

WEIGHT_CASES = [
    Bad(
        "seed",
        lambda: seqnet.init_weights(GRU, seed=-1),
        WeightsError,
        r"seed=-1 is not allowed: a non-negative integer",
    ),
    Bad("init dtype", lambda: seqnet.init_weights(GRU, dtype="int32"), WeightsError, r"dtype='int32' is not supported"),
    Bad("init spec", lambda: seqnet.init_weights("gru"), SpecError, r"init_weights needs a seqnet.Spec, got str"),
    Bad("layout spec", lambda: seqnet.layout(3), SpecError, r"layout needs a seqnet.Spec, got int"),
    Bad("as_weights type", lambda: seqnet.as_weights(GRU, [1]), WeightsError, r"must be a mapping of name -> array"),
    Bad(
        "as_weights problems",
        lambda: seqnet.as_weights(GRU, {**_weights(), "bias_x": np.zeros(1), "weight_ih_l0": np.zeros((12, 2))}),
        WeightsError,
        r"(?s)unexpected bias_x.*weight_ih_l0 has shape \[12, 2\], expected \[12, 3\]",
    ),  # fmt: skip
]

BUILD_CASES = [
    Bad(
        "nan weights",
        lambda b: seqnet.build(GRU, b, _weights(weight_hh_l0=_nan())),
        WeightsError,
        r"weights must be finite:\n  weight_hh_l0 holds 1 NaN and 0 infinite values",
        ALL,
    ),  # fmt: skip
    Bad(
        "inf weights",
        lambda b: seqnet.build(GRU, b, _weights(bias_ih_l0=_inf())),
        WeightsError,
        r"bias_ih_l0 holds 0 NaN and 1 infinite values",
        ALL,
    ),  # fmt: skip
    Bad(
        "int weights",
        lambda b: seqnet.build(GRU, b, _weights(bias_hh_l0=np.zeros(12, int))),
        WeightsError,
        r"bias_hh_l0 has dtype int64, expected a floating dtype",
        ALL,
    ),  # fmt: skip
    Bad(
        "missing weights",
        lambda b: seqnet.build(GRU, b, {k: v for k, v in _weights().items() if k != "bias_hh_l0"}),
        WeightsError,
        r"missing bias_hh_l0 \[12\]",
        ALL,
    ),  # fmt: skip
    Bad(
        "dtype",
        lambda b: seqnet.build(GRU, b, dtype="int8"),
        WeightsError,
        r"dtype='int8' is not supported: one of",
        ALL,
    ),
    Bad("option", lambda b: seqnet.build(GRU, b, fusd=True), BackendError, r"has no option 'fusd'", ALL),
    Bad("spec", lambda b: seqnet.build("gru", b), SpecError, r"build needs a seqnet.Spec, got str", ALL),
    Bad(
        "backend",
        lambda: seqnet.build(GRU, "tensorflow"),
        BackendError,
        r"backend='tensorflow' is not registered; known",
    ),
    Bad("backend type", lambda: seqnet.build(GRU, 3), BackendError, r"backend=3 is not allowed: a backend name"),
]


def _call_cases() -> list[tuple[str, Spec, Callable[[], tuple], str]]:
    """(id, spec, () -> (x, state, lengths), words) for model calls; run with NumPy and with native tensors."""
    h = lambda *shape, dtype="float32": np.zeros(shape, dtype)  # noqa: E731
    return [
        ("rank", GRU, lambda: (h(2, 3), None, None), r"x has shape \[2, 3\]: expected 3 dimensions"),
        ("input size", GRU, lambda: (_x(features=4), None, None), r"its last dimension must be input_size=3"),
        (
            "x dtype",
            GRU,
            lambda: (_x(dtype="float64"), None, None),
            r"x has dtype float64, the model computes in float32",
        ),
        ("empty batch", GRU, lambda: (h(0, 3, 3), None, None), r"batch and time must be at least 1"),
        ("no steps", GRU, lambda: (h(2, 0, 3), None, None), r"batch and time must be at least 1"),
        ("state shape", GRU, lambda: (_x(), h(2, 2, 4), None), r"state h has shape \[2, 2, 4\]: expected \[1, 2, 4\]"),
        ("state batch", GRU, lambda: (_x(), h(1, 3, 4), None), r"state h has shape \[1, 3, 4\]: expected \[1, 2, 4\]"),
        ("state dtype", GRU, lambda: (_x(), h(1, 2, 4, dtype="float64"), None), r"state h has dtype float64"),
        ("lstm state single", LSTM, lambda: (_x(), h(1, 2, 4), None), r"an LSTM state must be the pair \(h, c\)"),
        ("lstm c shape", LSTM, lambda: (_x(), (h(1, 2, 4), h(1, 2, 5)), None), r"state c has shape \[1, 2, 5\]"),
        ("gru state pair", GRU, lambda: (_x(), (h(1, 2, 4), h(1, 2, 4)), None), r"a gru state is one array h"),
        ("lengths count", GRU, lambda: (_x(), None, np.array([1, 2, 3])), r"lengths has shape \[3\]: expected \(2,\)"),
        (
            "lengths high",
            GRU,
            lambda: (_x(), None, np.array([4, 1])),
            r"lengths \[4, 1\] out of range: each must be in 1..3",
        ),
        ("lengths zero", GRU, lambda: (_x(), None, np.array([0, 1])), r"lengths \[0, 1\] out of range"),
        (
            "lengths float",
            GRU,
            lambda: (_x(), None, np.array([1.0, 2.0])),
            r"lengths has dtype float\d*: expected integers",
        ),
        (
            "lengths 2-D",
            GRU,
            lambda: (_x(), None, np.array([[1], [2]])),
            r"lengths has shape \[2, 1\]: expected \(2,\)",
        ),
    ]


def _train_cases() -> list[Bad]:
    x, y_seq = _x(4, 3), np.zeros((4, 3, 4), np.float32)
    ids = np.array([0, 1, 2, 1])

    def vag(b, spec=GRU, target=y_seq, **kw):
        return seqnet.value_and_grad(spec, seqnet.init_weights(spec), x, target, backend=b, **kw)

    def fit(b, y=y_seq, **kw):
        return seqnet.fit(GRU, seqnet.init_weights(GRU), x, y, backend=b, **{"lr": 0.01, "epochs": 1, **kw})

    y_nan = y_seq.copy()
    y_nan[0, 0, 0] = np.nan
    return [
        Bad("loss name", lambda b: vag(b, loss="mae"), InputError, r"loss='mae' is not allowed: one of", TRAINING),
        Bad(
            "mse shape",
            lambda b: vag(b, target=y_seq[:, :2]),
            InputError,
            r"target has shape \[4, 2, 4\]: mse needs",
            TRAINING,
        ),
        Bad(
            "mse int", lambda b: vag(b, target=y_seq.astype(int)), InputError, r"mse needs a floating target", TRAINING
        ),
        Bad(
            "ce no head",
            lambda b: vag(b, target=np.zeros((4, 3), int), loss="cross_entropy"),
            InputError,
            r"cross_entropy' needs class logits: give the Spec an output_size",
            TRAINING,
        ),  # fmt: skip
        Bad(
            "ce float",
            lambda b: vag(b, HEAD, ids.astype(float), loss="cross_entropy"),
            InputError,
            r"cross_entropy needs integer class ids",
            TRAINING,
        ),  # fmt: skip
        Bad(
            "ce range",
            lambda b: vag(b, HEAD, np.array([0, 1, 3, 1]), loss="cross_entropy"),
            InputError,
            r"class ids \[3\] out of range: each must be in 0..2 \(output_size=3",
            TRAINING,
        ),  # fmt: skip
        Bad(
            "ce negative",
            lambda b: vag(b, HEAD, np.array([0, -1, 2, 1]), loss="cross_entropy"),
            InputError,
            r"class ids \[-1\] out of range",
            TRAINING,
        ),  # fmt: skip
        Bad(
            "ce batch",
            lambda b: vag(b, HEAD, ids[:3], loss="cross_entropy"),
            InputError,
            r"target has shape \[3\]: cross_entropy needs integer class ids of shape \[4\]",
            TRAINING,
        ),  # fmt: skip
        Bad("inference only", lambda b: vag(b), BackendError, r"'onnxruntime' is inference only", ("onnxruntime",)),
        Bad("epochs", lambda b: fit(b, epochs=0), InputError, r"epochs=0 is not allowed: a positive integer", TRAINING),
        Bad("batch_size", lambda b: fit(b, batch_size=2.5), InputError, r"batch_size=2.5 is not allowed", TRAINING),
        Bad(
            "lr negative",
            lambda b: fit(b, lr=-1),
            InputError,
            r"lr=-1 is not allowed: a positive finite number",
            TRAINING,
        ),
        Bad("lr inf", lambda b: fit(b, lr=float("inf")), InputError, r"lr=inf is not allowed", TRAINING),
        Bad("lr nan", lambda b: fit(b, lr=float("nan")), InputError, r"lr=nan is not allowed", TRAINING),
        Bad(
            "clip_norm",
            lambda b: fit(b, clip_norm=0),
            InputError,
            r"clip_norm=0 is not allowed: None or a positive",
            TRAINING,
        ),
        Bad(
            "optimizer",
            lambda b: fit(b, optimizer="rmsprop"),
            InputError,
            r"optimizer='rmsprop' is not allowed",
            TRAINING,
        ),
        Bad("seed", lambda b: fit(b, seed=-1), InputError, r"seed=-1 is not allowed: a non-negative integer", TRAINING),
        Bad(
            "x y batch",
            lambda b: fit(b, y=y_seq[:3]),
            InputError,
            r"x holds 4 sequences \(axis 0\) but y has shape \[3, 3, 4\]",
            TRAINING,
        ),
        Bad(
            "fit lengths",
            lambda b: fit(b, lengths=np.array([1, 2])),
            InputError,
            r"lengths has shape \[2\]: expected \(4,\)",
            TRAINING,
        ),
        Bad("fit y nan", lambda b: fit(b, y=y_nan), InputError, r"y holds 1 non-finite values", TRAINING),
        Bad(
            "fit diverges",
            lambda b: _diverge(b),
            TrainingError,
            r"the loss \((nan|inf)\) became non-finite at step 2 \(epoch 2, backend '\w+'\)",
            TRAINING,
        ),  # fmt: skip
        Bad("gradient_flow steps", lambda: seqnet.gradient_flow(GRU, steps=0), InputError, r"steps=0 is not allowed"),
    ]


def _diverge(backend: str) -> Any:
    """A ReLU RNN trained by SGD with lr 1e30: the first step's update makes the second step's loss overflow."""
    spec = Spec("rnn", 3, 4, activation="relu")
    x, y = _x(4, 3), np.ones((4, 3, 4), np.float32)
    with np.errstate(all="ignore"):
        return seqnet.fit(spec, seqnet.init_weights(spec), x, y, backend=backend, lr=1e30, optimizer="sgd", epochs=4)


def _safetensors_file(tmp: Any, edit: Callable[[dict, bytes], tuple[dict, bytes]]) -> Any:
    path = tmp / "m.safetensors"
    seqnet.save(path, GRU, seqnet.init_weights(GRU))
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header, body = edit(json.loads(data[8 : 8 + size]), data[8 + size :])
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def _first(header: dict) -> str:
    return next(k for k in header if k != "__metadata__")


def _file_cases(tmp: Any) -> list[Bad]:
    def entry(edit_entry: Callable[[dict], None]) -> Callable[[dict, bytes], tuple[dict, bytes]]:
        def edit(header: dict, body: bytes) -> tuple[dict, bytes]:
            edit_entry(header)
            return header, body

        return edit

    def meta(value: str) -> Callable[[dict], None]:
        return lambda h: h["__metadata__"].update({"seqnet.spec": value})

    plain = tmp / "plain.safetensors"
    from safetensors.numpy import save_file

    save_file({k: np.array(v) for k, v in seqnet.init_weights(GRU).items()}, str(plain))
    nan_file = tmp / "nan.safetensors"
    save_file({k: np.array(v) for k, v in _weights(weight_hh_l0=_nan()).items()}, str(nan_file),
              metadata={"seqnet.spec": GRU.to_json()})  # fmt: skip
    empty = tmp / "empty.safetensors"
    empty.write_bytes(b"")
    load = seqnet.load
    return [
        Bad(
            "trailing bytes",
            lambda: load(_safetensors_file(tmp, lambda h, b: (h, b + b"xx"))),
            FileFormatError,
            r"not a valid safetensors file: .*not fully covered",
        ),  # fmt: skip
        Bad(
            "truncated",
            lambda: load(_safetensors_file(tmp, lambda h, b: (h, b[:-4]))),
            FileFormatError,
            r"not fully covered",
        ),
        Bad(
            "overlap",
            lambda: load(
                _safetensors_file(
                    tmp, entry(lambda h: h["bias_hh_l0"].update(data_offsets=h["bias_ih_l0"]["data_offsets"]))
                )
            ),
            FileFormatError,
            r"not a valid safetensors file: .*(invalid offset|not fully covered)",
        ),  # fmt: skip
        Bad(
            "beyond end",
            lambda: load(
                _safetensors_file(tmp, entry(lambda h: h[_first(h)].update(data_offsets=[10**6, 10**6 + 48])))
            ),
            FileFormatError,
            r"not a valid safetensors file",
        ),  # fmt: skip
        Bad(
            "dtype",
            lambda: load(_safetensors_file(tmp, entry(lambda h: h[_first(h)].update(dtype="Q9")))),
            FileFormatError,
            r"unknown variant `Q9`",
        ),  # fmt: skip
        Bad(
            "no spec",
            lambda: load(plain),
            FileFormatError,
            r"holds no seqnet spec \(metadata key 'seqnet.spec' missing\)",
        ),
        Bad(
            "spec json",
            lambda: load(_safetensors_file(tmp, entry(meta("{")))),
            FileFormatError,
            r"holds an invalid spec: Spec JSON",
        ),
        Bad(
            "spec value",
            lambda: load(_safetensors_file(tmp, entry(meta('{"cell": "cnn"}')))),
            FileFormatError,
            r"invalid spec: .*required|invalid spec: Spec.cell",
        ),  # fmt: skip
        Bad(
            "weights misfit",
            lambda: load(_safetensors_file(tmp, entry(meta(LSTM.to_json())))),
            FileFormatError,
            r"(?s)its weights do not fit its spec: .*weight_ih_l0 has shape \[12, 3\], expected \[16, 3\]",
        ),  # fmt: skip
        Bad("non-finite", lambda: load(nan_file), FileFormatError, r"weights must be finite"),
        Bad("missing file", lambda: load(tmp / "nowhere.safetensors"), FileFormatError, r"cannot be read|No such file"),
        Bad("empty file", lambda: load(empty), FileFormatError, r"not a valid safetensors file"),
        Bad("path type", lambda: load(3), SeqnetError, r"load needs a path \(str or os.PathLike\), got int"),
        Bad(
            "save nan",
            lambda: seqnet.save(tmp / "n.safetensors", GRU, _weights(weight_hh_l0=_nan())),
            WeightsError,
            r"weights must be finite",
        ),  # fmt: skip
        Bad(
            "save spec", lambda: seqnet.save(tmp / "n.safetensors", "gru", {}), SeqnetError, r"save needs a seqnet.Spec"
        ),
    ]


CONVERT_CASES = [
    Bad(
        "to_framework name",
        lambda: seqnet.to_framework(GRU, seqnet.init_weights(GRU), "tensorflow"),
        BackendError,
        r"converter='tensorflow' is not registered; known converters",
    ),  # fmt: skip
    Bad(
        "to_framework spec",
        lambda: seqnet.to_framework("gru", {}, "torch"),
        SpecError,
        r"to_framework needs a seqnet.Spec",
    ),
    Bad(
        "to_framework option",
        lambda: seqnet.to_framework(GRU, seqnet.init_weights(GRU), "torch", fused=True),
        BackendError,
        r"to_framework\(..., 'torch'\) has no option 'fused'",
    ),  # fmt: skip
    Bad("from_framework object", lambda: seqnet.from_framework(3), ConversionError, r"cannot read a builtins.int"),
    Bad(
        "from_state_dict type",
        lambda: seqnet.from_state_dict([1]),
        ConversionError,
        r"must be a mapping of name -> tensor",
    ),
    Bad(
        "from_state_dict prefix",
        lambda: seqnet.from_state_dict({}, prefix=3),
        ConversionError,
        r"prefix=3 is not allowed",
    ),
    Bad(
        "export lengths",
        lambda: seqnet.export_onnx(GRU, seqnet.init_weights(GRU), lengths="yes"),
        ConversionError,
        r"lengths='yes' is not allowed: True or False",
    ),  # fmt: skip
    Bad(
        "export opset",
        lambda: seqnet.export_onnx(GRU, seqnet.init_weights(GRU), opset=9),
        ConversionError,
        r"opset=9 is not allowed: an integer in 14..",
    ),  # fmt: skip
    Bad(
        "weights_of",
        lambda: seqnet.weights_of(object()),
        BackendError,
        r"weights_of needs a model made by seqnet.build",
    ),
    Bad("predict", lambda: seqnet.predict(object(), _x()), BackendError, r"predict needs a model made by seqnet.build"),
]


def _params(cases: list[Bad]) -> list:
    out = []
    for case in cases:
        for backend in case.backends or (None,):
            out.append(pytest.param(case, backend, id=f"{case.id}-{backend}" if backend else case.id))
    return out


def _check(case: Bad, backend: str | None) -> None:
    if backend is not None:
        require(backend)
    with pytest.raises(case.error) as info:
        case.call(backend) if backend is not None else case.call()
    assert isinstance(info.value, SeqnetError), f"{type(info.value).__name__} is not a seqnet error"
    assert info.match(case.words)


@pytest.mark.parametrize(
    "case, backend", _params(SPEC_CASES + WEIGHT_CASES + BUILD_CASES + _train_cases() + CONVERT_CASES)
)
def test_catalogue(case, backend):
    _check(case, backend)


FILE_CASES = 15


@pytest.mark.parametrize("index", range(FILE_CASES))
def test_file_catalogue(index, tmp_path):
    _check(_file_cases(tmp_path)[index], None)


CALLS = _call_cases()
NATIVE_MODES = (False, True, "after good calls")  # a model called with NumPy arrays, native tensors, after good calls


@pytest.mark.parametrize(
    "native", [False, True, "after good calls"], ids=["numpy", "native", "native-warm"]
)  # NATIVE_MODES
@pytest.mark.parametrize("backend", ALL)
@pytest.mark.parametrize("index", range(len(CALLS)), ids=[c[0] for c in CALLS])
def test_model_call_catalogue(index, backend, native):
    """Every bad call is refused by name, also by a model that accepted good calls just before (torch and Paddle
    remember the last accepted call's shapes and go straight to their layer for a call like it)."""
    require(backend)
    name, spec, make, words = CALLS[index]
    model = seqnet.build(spec, backend, seqnet.init_weights(spec))
    x, state, lengths = make()
    impl = get_backend(backend).load()

    def to(v):
        if v is None:
            return None
        return tuple(impl.from_numpy(p, model) for p in v) if isinstance(v, tuple) else impl.from_numpy(v, model)

    if native == "after good calls":
        good = np.zeros((2, 3, spec.input_size) if spec.batch_first else (3, 2, spec.input_size), np.float32)
        for _ in range(2):
            model(to(good))
    with pytest.raises(InputError) as info:
        if native:
            model(to(x), state=to(state), lengths=to(lengths))
        else:
            seqnet.predict(model, x, state, lengths)
    assert info.match(words), f"{name}: {info.value}"


CATALOGUE = SPEC_CASES + WEIGHT_CASES + BUILD_CASES + _train_cases() + CONVERT_CASES


def catalogue_counts() -> tuple[int, int]:
    """(distinct bad inputs, runs): what test_catalogue, test_file_catalogue and test_model_call_catalogue hold."""
    distinct = len(CATALOGUE) + FILE_CASES + len(CALLS)
    runs = len(_params(CATALOGUE)) + FILE_CASES + len(CALLS) * len(ALL) * len(NATIVE_MODES)
    return distinct, runs


def test_the_catalogue_is_large_and_the_docs_state_its_size(request):
    distinct, runs = catalogue_counts()
    assert distinct >= 60
    collected = [item for item in request.session.items if item.originalname in
                 ("test_catalogue", "test_file_catalogue", "test_model_call_catalogue")]  # fmt: skip
    if len(collected) > 1:  # the whole module collected: the count is what ran
        assert len(collected) == runs, (len(collected), runs)
    stated = f"{distinct} bad inputs ({runs} runs"
    root = Path(__file__).parent.parent
    for page in ("README.md", "docs/reliability.md"):
        text = " ".join((root / page).read_text().split())
        assert stated in text, f"{page} does not say {stated!r}"


# -- errors keep their cause ----------------------------------------------------------------------------------
def test_a_missing_framework_says_so_and_any_other_import_error_propagates(tmp_path, monkeypatch):
    from seqnet.errors import import_framework

    with pytest.raises(seqnet.BackendUnavailable, match="pip install nothing") as info:
        import_framework("a_framework_not_installed", "pip install nothing")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    (tmp_path / "broken_backend.py").write_text("import a_dependency_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:  # the module is there; what it imports is not: not "missing"
        import_framework("broken_backend", "pip install broken")
    assert not isinstance(info.value, seqnet.BackendUnavailable) and info.value.name == "a_dependency_not_installed"


def test_an_import_error_inside_seqnets_paddle_module_is_not_called_a_missing_paddle(monkeypatch):
    from seqnet_backends.paddle import convert

    monkeypatch.setitem(sys.modules, "seqnet_backends.paddle.model", None)  # importing it now fails
    with pytest.raises(ImportError) as info:
        convert._model()
    assert not isinstance(info.value, seqnet.BackendUnavailable), info.value


def test_a_converted_error_keeps_the_frameworks_exception_as_its_cause(tmp_path):
    require("torch")
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(seqnet.ConversionError, match="never unpickles arbitrary code") as info:
        seqnet.from_framework(path)
    assert info.value.__cause__ is not None and "ConversionError" not in type(info.value.__cause__).__name__
