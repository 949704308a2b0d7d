"""The PaddlePaddle backend: a Spec as a native `paddle.nn.Layer`.

Requirements: paddlepaddle (>= 3.0).

Fused path: `paddle.nn.SimpleRNN` / `LSTM` / `GRU` for every spec they express (they match PyTorch's
equations and gate orders); the generic path runs seqnet.generic's cell loop in paddle ops for the rest
(`activation="sigmoid"`, `gru_variant="reset_before"`, `peephole=True`) or when asked for with fused=False.

Where Paddle differs from seqnet's conventions, this module maps them explicitly (checked against Paddle
3.3 itself, see ../shared/design/weight-layouts.md and the tests):
- `direction="bidirect"` for bidirectional, `time_major = not batch_first`, `sequence_length` for lengths.
- Parameters are mapped through the cell-level names (`{k}.cell_fw.weight_ih`, `{k}.cell.weight_hh`):
  with `proj_size > 0` Paddle's flat names (`weight_ih_l0_reverse`, ...) point at the wrong tensors.
- Paddle's projection `weight_ho` is (H, P), the transpose of PyTorch's `weight_hr` (P, H).
- With `proj_size > 0`, Paddle's outputs past a sequence's length are not zero: they are masked here.
- Paddle's fused rnn kernel cannot be differentiated in eval mode (backward fails with "Tensor holds no
  memory"): train in train mode, as Paddle expects (models are built in train mode, as any new Layer).
- `bias=False` runs on the generic path: Paddle 3.3.1's RNN layers crash when built with
  bias_ih_attr=False (IndexError in RNNBase), and with zero biases frozen (stop_gradient=True) the fused
  kernel's backward fails ("Required tensor shall not be nullptr").
- `paddle.nn.Linear` stores its weight as (in, out): the head's weight is transposed on the way in and out.
- Paddle's RNN kernels do not check `sequence_length`: a length above T corrupted the heap (glibc "malloc():
  invalid size", an abort, Paddle 3.3.1); seqnet checks every length before Paddle sees it.
- `paddle.jit.to_static`: inputs arrive as PIR values with open dims (-1); the checks use the known dims and
  skip values, and open dims are read at run time with paddle.shape. In dynamic mode every eager Tensor is
  an instance of `paddle.static.Variable`, so static values are recognised as `paddle.pir.Value` only.
- Importing paddle sets OMP_NUM_THREADS=1 for the whole process and prints warnings: `import_paddle`
  imports it quietly and restores the environment; Paddle's own math uses OMP_NUM_THREADS if the user set
  it, else every core (as PyTorch does).
- A trap seqnet cannot hide: with 2 threads, after one `paddle.optimizer.Adam` step every later
  paddle.nn.LSTM forward in the process ran about 4x slower (size M: 90 ms before, 390 ms after; not after
  SGD, not with 1 thread; Paddle 3.3.1, measured on 2 cores). `seqnet.fit` runs its optimizer in NumPy.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import warnings
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from seqnet.errors import BackendError, InputError
from seqnet.generic import cell_forward, choose_scan
from seqnet.inputs import check_call, dtype_name
from seqnet.losses import weights_of_steps
from seqnet.spec import Spec
from seqnet.stream import Steps
from seqnet.weights import Weights, layer_names, layout


def import_paddle():
    """Import paddle without its warnings and without changing OMP_NUM_THREADS for other frameworks."""
    before = os.environ.get("OMP_NUM_THREADS")
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        import paddle
    if before is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = before
    threads = int(before) if before and before.isdigit() else (os.cpu_count() or 1)
    paddle.base.core.set_num_threads(threads)
    return paddle


if TYPE_CHECKING:  # the type checker reads the module; at run time it is imported quietly, below
    import paddle
else:
    paddle = import_paddle()
F = paddle.nn.functional
# scan="auto": a linear form's blocked scan from 1,024 steps on; measured on 2 CPU cores (benchmarks/results/
# cpu-scans.md, minGRU B 8 H 256): within noise of the sequential form below, at or under it in most cells above
PARALLEL_FROM = 1024
_FUSED = {"rnn": paddle.nn.SimpleRNN, "lstm": paddle.nn.LSTM, "gru": paddle.nn.GRU}


def missing_form(spec: Spec) -> tuple[str, str] | None:
    """(the Spec field, why) where Paddle's RNN layers have no form for `spec`; None where they have one."""
    if spec.cell not in _FUSED:
        return "cell", f"Paddle has no layer for cell {spec.cell!r}: it runs on the generic path"
    if spec.cell == "rnn" and spec.activation == "sigmoid":
        return "activation", "paddle.nn.SimpleRNN offers tanh and relu only"
    if spec.cell == "gru" and spec.gru_variant == "reset_before":
        return "gru_variant", "paddle.nn.GRU applies the reset gate after the hidden product only"
    if spec.peephole:
        return "peephole", "paddle.nn.LSTM has no peephole connections"
    return None


def fused_reason(spec: Spec) -> str | None:
    """Why Paddle's fused layer cannot express `spec` (None if it can)."""
    missing = missing_form(spec)
    if missing:
        return missing[1]
    if not spec.bias:
        return (
            "Paddle 3.3.1's RNN layers crash when built with bias_ih_attr=False, and their fused kernel cannot "
            "differentiate with frozen zero biases"
        )
    return None


_DEFAULT_DTYPE = threading.Lock()


@contextlib.contextmanager
def default_dtype(dtype: str):
    """Paddle creates parameters in its default dtype (Layer.to(dtype=...) fails on RNN layers). The default
    is process-wide, so seqnet's builds take turns (threads building float32 and float64 models at once)."""
    with _DEFAULT_DTYPE:
        old = paddle.get_default_dtype()
        paddle.set_default_dtype(cast(Any, dtype))
        try:
            yield
        finally:
            paddle.set_default_dtype(old)


def fused_layer(spec: Spec):
    """Paddle's own SimpleRNN / LSTM / GRU with the spec's hyper-parameters (fresh weights)."""
    kwargs: dict[str, Any] = dict(
        num_layers=spec.num_layers,
        direction="bidirect" if spec.bidirectional else "forward",
        time_major=not spec.batch_first,
        dropout=spec.dropout,
    )
    if spec.cell == "rnn":
        kwargs["activation"] = spec.activation
    if spec.proj_size:
        kwargs["proj_size"] = spec.proj_size
    return _FUSED[spec.cell](spec.input_size, spec.hidden_size, **kwargs)


def _cell_name(spec: Spec, layer: int, suffix: str) -> str:
    """The sublayer holding one layer-direction's cell: '0.cell', '0.cell_fw' or '0.cell_bw'."""
    if not spec.bidirectional:
        return f"{layer}.cell"
    return f"{layer}.cell_bw" if suffix else f"{layer}.cell_fw"


def paddle_names(spec: Spec) -> dict[str, tuple[str, bool]]:
    """Canonical name -> (its path inside Paddle's own SimpleRNN/LSTM/GRU, whether stored transposed).

    Through the cell-level names ('0.cell_fw.weight_ih'): with proj_size Paddle's flat names are shifted.
    Paddle's projection `weight_ho` (H, P) is the transpose of the canonical `weight_hr` (P, H)."""
    mapping = {}
    for layer, suffix in layer_names(spec):
        cell = _cell_name(spec, layer, suffix)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
            canonical = f"{name}_l{layer}{suffix}"
            if canonical in layout(spec):
                mapping[canonical] = (f"{cell}.weight_ho", True) if name == "weight_hr" else (f"{cell}.{name}", False)
    return mapping


def canonical_to_paddle(spec: Spec, fused: bool) -> dict[str, tuple[str, bool]]:
    """Canonical name -> (the model's parameter name, whether the array is stored transposed)."""
    if fused:
        mapping = {canonical: (f"rnn.{path}", t) for canonical, (path, t) in paddle_names(spec).items()}
    else:
        mapping = {
            canonical: (f"rnn.{canonical}", False) for canonical in layout(spec) if not canonical.startswith("head.")
        }
    if spec.output_size:
        mapping["head.weight"] = ("head.weight", True)
        mapping["head.bias"] = ("head.bias", False)
    return mapping


class GenericRNN(paddle.nn.Layer):
    """seqnet.generic's cell-and-loop in paddle ops; parameters under the canonical names."""

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec
        for name, shape in layout(spec).items():
            if not name.startswith("head."):
                self.add_parameter(name, self.create_parameter(list(shape)))

    def forward(self, *args):
        raise TypeError("GenericRNN holds parameters only; SeqnetPaddle runs seqnet.generic over them")


class _Ops:
    """seqnet.generic's ops in paddle."""

    sigmoid = staticmethod(F.sigmoid)
    tanh = staticmethod(paddle.tanh)
    relu = staticmethod(F.relu)
    stack = staticmethod(paddle.stack)
    unstack = staticmethod(paddle.unbind)
    where = staticmethod(paddle.where)

    def __init__(self, training: bool):
        self.training = training

    @staticmethod
    def linear(x, w, b):
        out = paddle.matmul(x, w, transpose_y=True)
        return out if b is None else out + b

    @staticmethod
    def matmul(x, w_t):
        return paddle.matmul(x, w_t)

    @staticmethod
    def transpose(w):
        w_t = paddle.transpose(w, [1, 0])
        return w_t.contiguous() if paddle.in_dynamic_mode() else w_t  # a strided operand: matmul 3x longer

    exp, log, abs, sqrt = (
        staticmethod(paddle.exp),
        staticmethod(paddle.log),
        staticmethod(paddle.abs),
        staticmethod(paddle.sqrt),
    )
    softplus, maximum, minimum = staticmethod(F.softplus), staticmethod(paddle.maximum), staticmethod(paddle.minimum)

    @staticmethod
    def split(x, n: int):
        return paddle.chunk(x, n, axis=-1)

    @staticmethod
    def mean(x):
        return paddle.mean(x, axis=-1, keepdim=True)

    @staticmethod
    def var(x):
        return paddle.var(x, axis=-1, keepdim=True, unbiased=False)

    @staticmethod
    def swap01(x):
        return x.transpose([1, 0, *range(2, len(x.shape))])

    @staticmethod
    def zeros(shape, like):  # a static graph's open dims (-1) from `like`'s dim at the same place, at run time
        if all(isinstance(n, int) and n >= 0 for n in shape):
            return paddle.zeros(list(shape), dtype=like.dtype)
        return paddle.zeros([n if isinstance(n, int) and n >= 0 else paddle.shape(like)[i] for i, n in
                             enumerate(shape)], dtype=like.dtype)  # fmt: skip

    @staticmethod
    def concat(xs):
        return paddle.concat(xs, axis=-1)

    @staticmethod
    def concat0(xs):
        return paddle.concat(xs, axis=0)

    def dropout(self, x, rate: float):
        return F.dropout(x, rate, training=self.training, mode="upscale_in_train")


@paddle.jit.not_to_static
def _generic(spec: Spec, ops: Any, param: Any, x: Any, state: Any, mask: Any, training: bool, batch: Any,
             scan: str = "auto") -> Any:  # fmt: skip
    """seqnet.generic.cell_forward, which `paddle.jit.to_static` runs as written instead of rewriting it (it cannot
    rewrite the registry's code, and needs not: the loop runs over a static T and nothing in it branches on a
    tensor's value, so in a static graph it unrolls as traced). The zero state is made here, from `batch`, which
    a static graph reads at run time."""
    if state is None:
        parts = tuple(paddle.zeros([rows, batch, size], dtype=x.dtype) for rows, _, size in
                      spec.state_shapes(1).values())  # fmt: skip
        state = parts if len(parts) > 1 else parts[0]
    scan = choose_scan(scan, x.shape[1 if spec.batch_first else 0], PARALLEL_FROM)  # -1 in a static graph
    return cell_forward(spec, ops, param, x, state, mask, training, scan)


class SeqnetPaddle(paddle.nn.Layer, Steps):
    """A seqnet model as a paddle Layer. `outputs, state = model(x, state=None, lengths=None)`.

    `model.rnn` is paddle.nn.SimpleRNN/LSTM/GRU on the fused path (`model.fused`), else `GenericRNN`;
    `model.head` the optional paddle.nn.Linear (weight stored (in, out), Paddle's layout).
    """

    seqnet_backend = "paddle"

    def __init__(self, spec: Spec, fused: bool):
        super().__init__()
        self.spec = spec
        self.rnn = fused_layer(spec) if fused else GenericRNN(spec)
        self.head = (
            paddle.nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size) if spec.output_size else None
        )
        self.__dict__["_fused"] = fused  # plain attributes, read on every call
        self.__dict__["_param"] = self.rnn.parameters()[0]  # its dtype is the model's

    @property
    def fused(self) -> bool:
        """Whether `rnn` is Paddle's fused SimpleRNN/LSTM/GRU (else seqnet's GenericRNN)."""
        return self.__dict__["_fused"]

    @property
    def dtype(self) -> str:
        """The dtype the model computes in ('float32' or 'float64')."""
        return dtype_name(self.__dict__["_param"].dtype)

    def forward(self, x, state=None, lengths=None):
        rnn = self._sub_layers["rnn"]
        # Without lengths every check depends on the types, shapes and dtypes of x and state alone: a call like
        # the last accepted one (a stream of one-step calls) needs no new verdict. (None for a static graph's
        # values, which _signature does not take.)
        signature = None if lengths is not None else _signature(x, state)
        hooked = rnn._forward_pre_hooks or rnn._forward_post_hooks
        if signature is not None and signature == self.__dict__.get("_plain") and not hooked:
            return rnn.forward(x, state, None)  # checked before, and nothing of seqnet's to add: the layer's answer
        spec = self.spec
        fused = self.__dict__["_fused"]  # plain attributes: Layer.__getattr__ is a slow path on every call
        head = self._sub_layers.get("head")
        static = isinstance(x, _STATIC)  # paddle.jit.to_static: shapes may be open (-1), values unknown
        if static and not fused and x.shape[1 if spec.batch_first else 0] < 0:  # before any op is made
            raise InputError(
                "paddle.jit.to_static: the generic path runs a Python loop over time, so its InputSpec needs a fixed "
                f"time axis (e.g. InputSpec([None, 50, {spec.input_size}])), not None; the fused path takes any length"
            )
        if signature is None or signature != self.__dict__.get("_accepted"):
            for name, value in (("x", x), ("state", state)):
                _require_tensors(name, value)
            lengths, values = _lengths_tensor(lengths, static)
            check_call(spec, self.dtype, x, state, lengths, values)
            self.__dict__["_accepted"] = signature
            # a call the fused layer answers as it is (no lengths, no head, the sequence out): the next one like
            # it goes straight to the layer (the first lines of this method)
            layer_alone = fused and head is None and spec.output_mode == "sequence"
            self.__dict__["_plain"] = signature if layer_alone else None
        # a static graph's open dims (-1) are read at run time; known ones stay ints (unbind needs them)
        dims = [n if n >= 0 else paddle.shape(x)[i] for i, n in enumerate(x.shape)] if static else x.shape
        batch, steps = (dims[0], dims[1]) if spec.batch_first else (dims[1], dims[0])
        mask = None
        if lengths is not None:  # (T, B, 1), 1 for valid steps
            mask = (paddle.arange(steps)[:, None] < lengths[None, :]).astype(x.dtype)[:, :, None]
        if isinstance(state, list):  # an LSTM's [h, c] (or a registered cell's parts) as the tuple seqnet returns
            state = tuple(state)
        last = None
        if not fused:  # the registry's generic loop over the cell's step
            seq, final, last = self._forward_generic(x, state, mask, batch)
        elif spec.bidirectional and lengths is not None and state is not None:
            # Paddle 3.3.1's fused kernel gives wrong gradients for the reverse direction when lengths and an
            # initial state come together (forward is right; tests/test_paddle_backend.py shows it): run the
            # generic loop over the fused layer's own parameters instead
            seq, final, last = self._forward_generic(x, state, mask, batch)
        elif spec.proj_size and lengths is not None:
            with warnings.catch_warnings():  # Paddle's LSTM with proj_size calls a deprecated API of its own
                warnings.filterwarnings("ignore", message=r"(?s).*sequence_mask.*deprecated")
                seq, final = rnn(x, state, lengths)
            assert mask is not None  # made from the lengths
            seq = seq * (mask.transpose([1, 0, 2]) if spec.batch_first else mask)  # Paddle leaves them non-zero
        elif not static and not rnn._forward_pre_hooks and not rnn._forward_post_hooks:
            seq, final = rnn.forward(x, state, lengths)  # what Layer.__call__ does without hooks, minus its checks
        else:
            seq, final = rnn(x, state, lengths)
        if spec.output_mode == "last":
            hn = final[0] if isinstance(final, (tuple, list)) else final
            out = last if last is not None else paddle.concat(list(hn[-spec.num_directions :]), axis=1)
            return (head(out) if head is not None else out), final
        if head is None:
            return seq, final
        out = head(seq)
        if mask is not None:
            out = out * (mask.transpose([1, 0, 2]) if spec.batch_first else mask)
        return out, final

    def _forward_generic(self, x, state, mask, batch):
        """The registry's generic loop over the cell's step (seqnet.generic.cell_forward) with the canonical
        parameters: (outputs, final state, each direction's last output). The zero state is made here, from
        `batch`, which a static graph reads at run time."""
        return _generic(self.spec, _Ops(self.training), self._canonical_param, x, state, mask, self.training, batch,
                        getattr(self, "_scan", "auto"))  # fmt: skip

    def _canonical_param(self, name: str):
        """The parameter under its canonical name, on either path (transposed back where Paddle stores it
        transposed); None where the spec has none."""
        found = canonical_to_paddle(self.spec, self.fused).get(name)
        if found is None:
            return None
        param = walk(self, found[0])
        return param.T if found[1] else param


def walk(node: Any, dotted: str) -> Any:
    """The sublayer or parameter at a dotted path ('rnn.0.cell_fw.weight_ih'): named_parameters() lists
    shared tensors under one name only, and with proj_size its flat names are shifted, so paths are walked."""
    for part in dotted.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)
    return node


# what paddle.jit.to_static passes instead of tensors: PIR values. (Not paddle.static.Variable: in dynamic
# mode isinstance(tensor, paddle.static.Variable) is True for every eager Tensor.)
_STATIC = (paddle.pir.Value,)


def _signature(x: Any, state: Any) -> tuple | None:
    """What a call's checks depend on (without lengths): shapes and dtypes of eager tensors; None (check in
    full) for anything else."""
    tensor = paddle.Tensor
    if type(x) is not tensor:
        return None
    if state is None:
        return (x.shape, x.dtype)
    if type(state) is tensor:
        return (x.shape, x.dtype, state.shape, state.dtype)
    if type(state) is tuple and len(state) == 2 and type(state[0]) is tensor and type(state[1]) is tensor:
        h, c = state
        return (x.shape, x.dtype, h.shape, h.dtype, c.shape, c.dtype)
    return None


def _lengths_tensor(lengths: Any, static: bool) -> tuple[Any, np.ndarray | None]:
    """(lengths as int64 for Paddle, their values for the checks or None in a static graph)."""
    if lengths is None:
        return None, None
    if isinstance(lengths, _STATIC):
        if "int" not in dtype_name(lengths.dtype):
            raise InputError(f"lengths has dtype {dtype_name(lengths.dtype)}: expected integers")
        return lengths.astype("int64"), None
    array = lengths.numpy() if isinstance(lengths, paddle.Tensor) else np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise InputError(f"lengths has dtype {array.dtype}: expected integers")
    array = array.astype(np.int64)
    return paddle.to_tensor(array), array


def _require_tensors(name: str, value: Any) -> None:
    parts = value if isinstance(value, (tuple, list)) else (value,)
    for part in parts:
        if part is not None and not isinstance(part, (paddle.Tensor, *_STATIC)):
            raise InputError(f"{name} must be a paddle.Tensor, got {type(part).__name__} (use paddle.to_tensor)")


# -- the backend's functions (the same names in every backend) ---------------------------------------------
def build(spec: Spec, weights: Weights, dtype: str = "float32", device: str | None = None, fused: bool | None = None,
          scan: str = "auto"):  # fmt: skip
    """A `SeqnetPaddle`; fused=None picks Paddle's fused layer where the spec allows it.

    `device` ("cpu", "gpu:0", ...) is passed to paddle.set_device, Paddle's process-wide placement. `scan` is how
    a cell with a linear form runs (seqnet.build checks it).
    """
    from .devices import check_device

    device = check_device(device)
    reason = fused_reason(spec)
    if fused and reason:
        raise BackendError(f"fused=True is not possible for {spec}: {reason}")
    if device is not None:
        paddle.set_device(device)
    with default_dtype(dtype):
        model = SeqnetPaddle(spec, fused=reason is None if fused is None else fused)
    model._scan = scan
    for canonical, (name, transposed) in canonical_to_paddle(spec, model.fused).items():
        value = np.asarray(weights[canonical], dtype=dtype)
        walk(model, name).set_value(value.T if transposed else value)
    return model  # in train mode, as every new paddle Layer


def weights_of(model: SeqnetPaddle) -> dict[str, np.ndarray]:
    out = {}
    for canonical, (name, transposed) in canonical_to_paddle(model.spec, model.fused).items():
        value = walk(model, name).numpy()
        out[canonical] = np.ascontiguousarray(value.T if transposed else value)
    return out


def to_numpy(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, paddle.Tensor) else np.asarray(value)


def from_numpy(value: Any, model: SeqnetPaddle):
    return paddle.to_tensor(np.asarray(value))


def loss_fn(loss: str, outputs, target, w):
    """seqnet.losses' definition in paddle ops (differentiable); w weighs each output position."""
    if loss == "mse":
        return paddle.sum(w.unsqueeze(-1) * (outputs - target) ** 2) / outputs.shape[-1]
    logp = F.log_softmax(outputs, axis=-1)
    picked = paddle.take_along_axis(logp, target.astype("int64").unsqueeze(-1), axis=-1).squeeze(-1)
    return -paddle.sum(w * picked)


def no_grad() -> Any:
    """The context seqnet.predict runs a model in: no autograd graph."""
    return paddle.no_grad()


# Paddle's autograd walks (and frees) its graph recursively: the generic path's one node chain per step
# overflowed the main thread's 8 MB stack between T 3,000 and 6,000 (a segmentation fault, Paddle 3.3.1,
# value_and_grad of a 32-unit GRU). Such calls run in a thread with this much stack (reserved, not committed).
LONG_SEQUENCE = 1000
BIG_STACK = 1 << 30


def value_and_grad(
    spec, weights, x, target, loss="mse", state=None, lengths=None, dtype="float32", training=False, dropout_seed=0
):
    """(loss, gradient Weights, dL/dx) through paddle autograd (long sequences on the generic path in a thread
    with a large stack, see BIG_STACK)."""
    args = (spec, weights, x, target, loss, state, lengths, dtype, training, dropout_seed)
    steps = np.shape(x)[1 if spec.batch_first else 0]
    if steps <= LONG_SEQUENCE:  # the common case, in the caller's thread
        return _value_and_grad(*args)
    return _on_big_stack(_value_and_grad, *args)


def _on_big_stack(fn: Any, *args: Any) -> Any:
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    previous = threading.stack_size(BIG_STACK)
    try:
        worker = threading.Thread(target=target, name="seqnet-paddle-big-stack")
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _value_and_grad(spec, weights, x, target, loss, state, lengths, dtype, training, dropout_seed):
    # Paddle's fused rnn kernel keeps nothing for backward in eval mode (its grad fails: "Tensor holds no
    # memory"); without dropout, train mode computes the same function, and with dropout outside training
    # the generic path (which differentiates in eval mode) is used.
    model = build(spec, weights, dtype, fused=None if (training or not spec.dropout) else False)
    model.train() if (training or model.fused) else model.eval()
    xt = paddle.to_tensor(np.asarray(x), stop_gradient=False)
    st = None
    if state is not None:
        st = tuple(paddle.to_tensor(s) for s in state) if isinstance(state, tuple) else paddle.to_tensor(state)
    outputs, _ = model(xt, st, lengths)
    w = paddle.to_tensor(weights_of_steps(spec, tuple(outputs.shape), lengths, dtype))
    value = loss_fn(loss, outputs, paddle.to_tensor(np.asarray(target)), w)
    value.backward()
    grads = {}
    for canonical, (name, transposed) in canonical_to_paddle(spec, model.fused).items():
        g = walk(model, name).grad.numpy()
        grads[canonical] = np.ascontiguousarray(g.T if transposed else g)
    assert xt.grad is not None
    return float(value), Weights({n: grads[n] for n in layout(spec)}), xt.grad.numpy().copy()


def devices() -> list[str]:
    """The devices this framework can place a model on here (`seqnet info` lists them)."""
    from .devices import devices as found

    return found()
