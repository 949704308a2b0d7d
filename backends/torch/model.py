"""The PyTorch backend: a Spec as a native `torch.nn.Module`.

Requirements: torch (>= 2.4).

Fused path: `nn.RNN` / `nn.LSTM` / `nn.GRU` (oneDNN on CPU, cuDNN on GPU) for every spec they express;
lengths go through packed sequences. Generic path: `GenericRNN`, the same cells written as a step loop in
torch ops, for what the fused layers cannot express (`activation="sigmoid"`, `gru_variant="reset_before"`,
`peephole=True`) or when asked for with `build(..., fused=False)`. Both keep the canonical parameter names,
so `model.rnn.state_dict()` is a plain PyTorch RNN state_dict on the fused path.

Shapes: x (B, T, I) or (T, B, I) when batch_first=False; h (L*D, B, H_out); c (L*D, B, H); lengths (B,).

dtypes: float32 and float64 everywhere; float16 and bfloat16 where torch supports them on the device (GPUs;
torch 2.13 runs both on the CPU too, tested). The canonical weights go in and come out as float32.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqnet import stream
from seqnet.errors import BackendError, InputError
from seqnet.generic import cell_forward, choose_scan
from seqnet.inputs import check_call, dtype_name
from seqnet.losses import weights_of_steps
from seqnet.spec import Spec
from seqnet.weights import Weights, layout

# scan="auto": a linear form's blocked scan from 1,024 steps on; measured on 2 CPU cores (benchmarks/results/
# cpu-scans.md, minGRU B 8 H 256): within noise of the sequential form below, at or under it in most cells above
PARALLEL_FROM = 1024
_FUSED = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}


def missing_form(spec: Spec) -> tuple[str, str] | None:
    """(the Spec field, why) where torch's fused layers have no form for `spec`; None where they have one."""
    if spec.cell not in _FUSED:
        return "cell", f"torch has no fused layer for cell {spec.cell!r}, which runs on the generic path"
    if spec.cell == "rnn" and spec.activation == "sigmoid":
        return "activation", "nn.RNN offers tanh and relu only"
    if spec.cell == "gru" and spec.gru_variant == "reset_before":
        return "gru_variant", "nn.GRU applies the reset gate after the hidden product only"
    if spec.peephole:
        return "peephole", "nn.LSTM has no peephole connections"
    return None


def fused_reason(spec: Spec) -> str | None:
    """Why torch's fused layer cannot express `spec` (None if it can)."""
    missing = missing_form(spec)
    return missing[1] if missing else None


def fused_layer(spec: Spec) -> nn.Module:
    """torch's own nn.RNN / nn.LSTM / nn.GRU with the spec's hyper-parameters (fresh weights)."""
    kwargs: dict[str, Any] = dict(
        input_size=spec.input_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        bias=spec.bias,
        batch_first=spec.batch_first,
        dropout=spec.dropout,
        bidirectional=spec.bidirectional,
    )
    if spec.cell == "rnn":
        kwargs["nonlinearity"] = spec.activation
    if spec.proj_size:
        kwargs["proj_size"] = spec.proj_size
    return _FUSED[spec.cell](**kwargs)


class GenericRNN(nn.Module):
    """seqnet.generic's cell-and-loop in torch ops; parameters under the canonical names (weight_ih_l0, ...)."""

    def __init__(self, spec: Spec):
        super().__init__()
        self.spec = spec
        for name, shape in layout(spec).items():
            if not name.startswith("head."):
                self.register_parameter(name, nn.Parameter(torch.empty(shape)))

    def forward(self, *args: Any) -> Any:
        raise TypeError("GenericRNN holds parameters only; SeqnetTorch runs seqnet.generic over them")


class _Ops:
    """seqnet.generic's ops in torch."""

    linear = staticmethod(F.linear)
    matmul = staticmethod(torch.matmul)
    transpose = staticmethod(torch.t)  # a view: torch's matmul takes it as a transposed BLAS operand
    sigmoid = staticmethod(torch.sigmoid)
    tanh = staticmethod(torch.tanh)
    relu = staticmethod(torch.relu)
    stack = staticmethod(torch.stack)
    unstack = staticmethod(torch.unbind)
    where = staticmethod(torch.where)

    def __init__(self, training: bool):
        self.training = training

    exp, log, abs, sqrt = (
        staticmethod(torch.exp),
        staticmethod(torch.log),
        staticmethod(torch.abs),
        staticmethod(torch.sqrt),
    )
    softplus, maximum, minimum = staticmethod(F.softplus), staticmethod(torch.maximum), staticmethod(torch.minimum)

    @staticmethod
    def split(x: torch.Tensor, n: int):
        return x.chunk(n, dim=-1)

    @staticmethod
    def mean(x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1, keepdim=True)

    @staticmethod
    def var(x: torch.Tensor) -> torch.Tensor:
        return x.var(dim=-1, keepdim=True, unbiased=False)

    @staticmethod
    def swap01(x: torch.Tensor) -> torch.Tensor:
        return x.transpose(0, 1)

    @staticmethod
    def zeros(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        return like.new_zeros(shape)

    @staticmethod
    def concat(xs):
        return torch.cat(xs, dim=-1)

    @staticmethod
    def concat0(xs):
        return torch.cat(xs, dim=0)

    def dropout(self, x: torch.Tensor, rate: float) -> torch.Tensor:
        return F.dropout(x, rate, self.training)


class SeqnetTorch(nn.Module):
    """A seqnet model as a torch Module. `outputs, state = model(x, state=None, lengths=None)`.

    `model.rnn` is the recurrent part (nn.RNN/LSTM/GRU on the fused path, `GenericRNN` otherwise),
    `model.head` the optional nn.Linear; `model.fused` says which path is used.
    """

    seqnet_backend = "torch"

    def __init__(self, spec: Spec, fused: bool):
        super().__init__()
        self.spec = spec
        self.rnn = fused_layer(spec) if fused else GenericRNN(spec)
        self.__dict__["_fused"] = fused  # a plain attribute: read on every call
        self.head = nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size) if spec.output_size else None

    @property
    def fused(self) -> bool:
        """Whether `rnn` is torch's fused nn.RNN/LSTM/GRU (else seqnet's GenericRNN)."""
        return self.__dict__["_fused"]

    def extra_repr(self) -> str:
        return f"spec={self.spec}"

    def forward(self, x: torch.Tensor, state: Any = None, lengths: Any = None):
        modules = self._modules  # read directly: nn.Module.__getattr__ is a slow path on every call
        rnn = cast(nn.Module, modules["rnn"])
        params = rnn._parameters  # the model's dtype and device, after any .to(); a registered cell's first
        param = cast(torch.Tensor, params["weight_hh_l0"] if "weight_hh_l0" in params else next(iter(params.values())))
        traced = torch.jit.is_tracing() or torch.compiler.is_compiling()  # export, trace, compile: no values
        # Every check depends on the types, shapes, dtypes and devices of x and state alone when there are no
        # lengths: a call like the last accepted one (a stream of one-step calls) needs no new verdict.
        signature = None if (traced or lengths is not None) else _signature(param, x, state)
        if signature is not None and signature == self.__dict__.get("_plain"):
            # checked before, and nothing of seqnet's to add: the layer's answer (one step: torch's cell functions)
            return self._step_fused(rnn, x, state) if self.__dict__["_plain_step"] else rnn(x, state)
        spec = self.spec
        head = modules.get("head")
        if lengths is not None:
            lengths = _lengths_tensor(lengths, traced)
        if signature is None or signature != self.__dict__.get("_accepted"):
            _require_tensors(x, state, lengths)
            check_call(
                spec, dtype_name(param.dtype), x, state, lengths, None if lengths is None or traced else lengths.numpy()
            )
            _check_device(param, x, state)
            self.__dict__["_accepted"] = signature
            # a call the fused layer answers as it is (no lengths, no head, the sequence out): the next one like
            # it goes straight to the layer (the first lines of this method)
            layer_alone = self.__dict__["_fused"] and head is None and spec.output_mode == "sequence"
            self.__dict__["_plain"] = signature if layer_alone else None
            self.__dict__["_plain_step"] = signature is not None and x.shape[1 if spec.batch_first else 0] == 1
        steps, batch = (x.shape[1], x.shape[0]) if spec.batch_first else (x.shape[0], x.shape[1])
        mask = None
        if lengths is not None:
            mask = (torch.arange(steps, device=x.device)[:, None] < lengths.to(x.device)[None, :])[
                :, :, None
            ]  # (T, B, 1)
        last = None
        if self.__dict__["_fused"] and not traced and lengths is None and steps == 1:
            seq, final = self._step_fused(rnn, x, state)
        elif self.__dict__["_fused"] and not (traced and lengths is not None):
            seq, final = self._forward_fused(rnn, x, state, lengths, steps)
        else:  # the generic loop; packed sequences have data-dependent shapes: a traced call with lengths runs it too
            seq, final, last = self._forward_generic(rnn, x, state, mask, traced)
        if spec.output_mode == "last":
            hn = final[0] if isinstance(final, tuple) else final
            out = last if last is not None else torch.cat(list(hn[-spec.num_directions :]), dim=1)
            return (head(out) if head is not None else out), final
        if head is None:
            return seq, final
        out = head(seq)
        if mask is not None:
            out = out * (mask.transpose(0, 1) if spec.batch_first else mask).to(out.dtype)
        return out, final

    def step(self, x_t: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """One time step of a stream: x_t (B, I) -> (y_t (B, D*H_out or output_size), state); see seqnet.stream.

        For one layer, one direction and no projection on the fused path, a call like the last accepted one
        runs torch's cell function (torch.lstm_cell, what nn.LSTMCell calls) and the head, nothing else."""
        modules = self._modules
        params = cast(nn.Module, modules["rnn"])._parameters
        param = cast(torch.Tensor, params.get("weight_hh_l0"))  # the fused layers have it; read when fused
        accepted = self.__dict__.get("_step_accepted")
        traced = torch.jit.is_tracing() or torch.compiler.is_compiling()
        if accepted is not None and not traced and _signature(param, x_t, state) == accepted:
            h, state = self.__dict__["_step_plan"][2](params, x_t, state)
            head = modules.get("head")
            return (head(h) if head is not None else h), state
        y_t, final = stream.step(self, x_t, state)  # every check, through the whole-sequence call
        plan = self.__dict__.get("_step_plan")  # set by that call where it ran torch's cell functions
        if self.__dict__["_fused"] and not traced and plan is not None and plan[2] is not None:
            self.__dict__["_step_accepted"] = _signature(param, x_t, state)
        return y_t, final

    def _step_fused(self, rnn, x, state):
        """One step (T = 1) of the fused layer's spec through torch's own cell functions, the ones nn.LSTMCell,
        nn.GRUCell and nn.RNNCell call, with the layer's parameters: a stream of one-step calls costs what the
        cells cost. Measured on this project's 2-core CPU, B 1: nn.LSTM at T = 1 took 3.3x an nn.LSTMCell call at
        H 64 and 13x at H 256 (oneDNN's sequence kernel set up for one step)."""
        plan = self.__dict__.get("_step_plan")
        if plan is None:  # names looked up once: each call indexes the parameters by them
            plan = self.__dict__["_step_plan"] = _step_plan(self.spec)
        step, layers, one_cell = cast(tuple[Any, list[list[tuple[int, tuple[str, ...]]]], Any], plan)
        spec = self.spec
        x0 = x.squeeze(1) if spec.batch_first else x.squeeze(0)  # T = 1
        if one_cell is not None:  # a stream's usual model; time-major outputs are the state's h view
            h, final = one_cell(rnn._parameters, x0, state)
            return (h.unsqueeze(1) if spec.batch_first else final[0] if type(final) is tuple else final), final
        p = rnn._parameters
        lstm = spec.cell == "lstm"
        if state is None:
            rows = spec.num_layers * spec.num_directions
            h0 = x0.new_zeros(rows, x0.shape[0], spec.hidden_out)
            c0 = x0.new_zeros(rows, x0.shape[0], spec.hidden_size) if lstm else None
        else:
            h0, c0 = state if lstm else (state, None)
        c0 = cast(Any, c0)  # an LSTM's (L*D, B, H), else unused
        hs, cs, inp = [], [], x0
        for k, directions in enumerate(layers):
            outs = []
            for row, names in directions:
                weights = (p[names[0]], p[names[1]], p.get(names[2]), p.get(names[3]))
                if lstm and spec.proj_size:  # torch.lstm_cell takes h H wide: the projected cell written out
                    gates = F.linear(inp, weights[0], weights[2]) + F.linear(h0[row], weights[1], weights[3])
                    i, f, g, o = gates.chunk(4, 1)
                    c = torch.sigmoid(f) * c0[row] + torch.sigmoid(i) * torch.tanh(g)
                    h = (torch.sigmoid(o) * torch.tanh(c)) @ p[names[4]].T
                    cs.append(c)
                elif lstm:
                    h, c = step(inp, (h0[row], c0[row]), *weights)
                    cs.append(c)
                else:
                    h = step(inp, h0[row], *weights)
                hs.append(h)
                outs.append(h)
            inp = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
            if self.training and spec.dropout and k < spec.num_layers - 1:
                inp = F.dropout(inp, spec.dropout, True)
        seq = inp[:, None] if spec.batch_first else inp[None]
        return seq, ((torch.stack(hs), torch.stack(cs)) if lstm else torch.stack(hs))

    def _forward_fused(self, rnn, x, state, lengths, steps):
        spec = self.spec
        if lengths is None:
            return rnn(x, state)
        packed = pack_padded_sequence(x, lengths, batch_first=spec.batch_first, enforce_sorted=False)
        out, final = rnn(packed, state)
        seq, _ = pad_packed_sequence(out, batch_first=spec.batch_first, total_length=steps)
        return seq, final

    def _forward_generic(self, rnn, x, state, mask, traced):
        """The registry's generic loop over the cell's step (seqnet.generic.cell_forward) with the recurrent
        parameters (GenericRNN's, or the fused layer's own): (outputs, final state, each direction's last output)."""
        spec = self.spec
        if traced and torch.jit.is_tracing():
            warnings.warn(
                f"seqnet: the generic path's time loop is unrolled at T={x.shape[1 if spec.batch_first else 0]} in "
                "this trace, so the traced module takes inputs of that length only; for any length use torch.export "
                "on the fused path (no lengths) or seqnet.export_onnx",
                stacklevel=3,
            )
        scan = choose_scan(self.__dict__.get("_scan", "auto"), x.shape[1 if spec.batch_first else 0], PARALLEL_FROM)
        return cell_forward(spec, _Ops(self.training), lambda n: getattr(rnn, n), x, state,
                            None if mask is None else mask.to(x.dtype), self.training, scan)  # fmt: skip


def _lengths_tensor(lengths: Any, traced: bool = False) -> torch.Tensor | None:
    if lengths is None:
        return None
    if isinstance(lengths, torch.Tensor):
        if lengths.is_floating_point():
            raise InputError(f"lengths has dtype {dtype_name(lengths.dtype)}: expected integers")
        return lengths.to(torch.int64) if traced else lengths.detach().to("cpu", torch.int64)
    array = np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise InputError(f"lengths has dtype {array.dtype}: expected integers")
    return torch.as_tensor(array, dtype=torch.int64)


def _step_plan(spec: Spec) -> tuple[Any, list[list[tuple[int, tuple[str, ...]]]], Any]:
    """What a one-step call of a fused spec runs: torch's cell function (torch.lstm_cell, what nn.LSTMCell
    calls), each layer's (state row, parameter names) per direction, and for one layer, one direction and no
    projection a function (parameters, x_t (B, I), state) -> (h (B, H), state) with nothing else in it."""
    step: Any = {"lstm": torch.lstm_cell, "gru": torch.gru_cell}.get(spec.cell) or (
        torch.rnn_tanh_cell if spec.activation == "tanh" else torch.rnn_relu_cell
    )
    kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    layers = [
        [(k * spec.num_directions + d, tuple(f"{n}_l{k}{suffix}" for n in kinds))
         for d, suffix in enumerate(("", "_reverse")[: spec.num_directions])]
        for k in range(spec.num_layers)
    ]  # fmt: skip
    if len(layers) > 1 or len(layers[0]) > 1 or spec.proj_size:
        return step, layers, None
    # Per call, B 1 H 64 on 2 CPU cores: the cell function ~16 µs, each view op ~1-2 µs, each Python line a
    # fraction: squeeze/unsqueeze (cheaper than indexing); time-major outputs share the state's view (both are
    # views of one h either way).
    w_ih, w_hh, b_ih, b_hh, _ = layers[0][0][1]
    lstm, width = spec.cell == "lstm", spec.hidden_size

    def one_cell(p: dict[str, Any], x0: torch.Tensor, state: Any) -> Any:  # x0 (B, I) -> (h (B, H), state)
        if state is None:
            zeros = x0.new_zeros(x0.shape[0], width)
            state = (zeros, zeros) if lstm else zeros
        elif lstm:
            state = (state[0].squeeze(0), state[1].squeeze(0))
        else:
            state = state.squeeze(0)
        out = step(x0, state, p[w_ih], p[w_hh], p.get(b_ih), p.get(b_hh))
        if lstm:
            return out[0], (out[0].unsqueeze(0), out[1].unsqueeze(0))
        return out, out.unsqueeze(0)

    return step, layers, one_cell


def _signature(param: torch.Tensor, x: Any, state: Any) -> tuple | None:
    """What a call's checks depend on (without lengths): the shapes, dtypes and devices of x and state; None
    (check in full) for anything but tensors."""
    tensor = torch.Tensor  # each tuple written out whole: this runs on every call of a stream
    if not isinstance(x, tensor):
        return None
    if state is None:
        return (x.shape, x.dtype, x.get_device(), param.dtype, param.get_device())
    if type(state) is tuple and len(state) == 2:
        h, c = state
        if isinstance(h, tensor) and isinstance(c, tensor):
            return (x.shape, x.dtype, x.get_device(), param.dtype, param.get_device(),
                    h.shape, h.dtype, h.get_device(), c.shape, c.dtype, c.get_device())  # fmt: skip
        return None
    if isinstance(state, tensor):
        return (x.shape, x.dtype, x.get_device(), param.dtype, param.get_device(), state.shape, state.dtype,
                state.get_device())  # fmt: skip
    return None


def _require_tensors(x: Any, state: Any, lengths: Any) -> None:
    for name, value in (("x", x), ("state", state), ("lengths", lengths)):
        for part in value if isinstance(value, (tuple, list)) else (value,):
            if part is not None and not isinstance(part, torch.Tensor):
                raise InputError(f"{name} must be a torch.Tensor, got {type(part).__name__} (use torch.from_numpy)")


def _check_device(param: torch.Tensor, x: torch.Tensor, state: Any) -> None:
    where = param.get_device()  # an int (-1 on the CPU): cheaper than comparing torch.device objects
    for part in (x, *(state if isinstance(state, (tuple, list)) else () if state is None else (state,))):
        if part.get_device() != where:
            raise InputError(f"input on {part.device}, the model on {param.device}: move it with .to('{param.device}')")


# -- the backend's functions (the same names in every backend) ---------------------------------------------
def build(spec: Spec, weights: Weights, dtype: str = "float32", device: Any = None, fused: bool | None = None,
          compile: bool = False, scan: str = "auto"):  # fmt: skip
    """A `SeqnetTorch` on `device` computing in `dtype` (float32, float64; float16 and bfloat16 where torch
    supports them on that device, mostly GPUs); fused=None picks the fused layer where the spec allows it.

    compile=True compiles the model's forward in place (`nn.Module.compile(dynamic=False)`: one graph per input
    shape, the step loop unrolled and its elementwise ops fused), for the generic path and registered cells,
    whose Python loop costs most. Measured on this project's 2-core CPU, LSTM B 32 T 100 I 32 H 64: the generic
    path's forward 13.7 -> 4.1 ms and training step 40.8 -> 14.8 ms, a user cell's 13.2 -> 6.1 and 27.5 -> 14.5
    ms, after a first call that compiles for 68-96 s (docs/guides/cells.md). `scan` is how a cell with a linear form
    runs (seqnet.build checks it)."""
    if not isinstance(compile, bool):
        raise BackendError(f"compile={compile!r} is not allowed: True or False")
    from .devices import check_device

    device = check_device(device)
    reason = fused_reason(spec)
    if fused and reason:
        raise BackendError(f"fused=True is not possible for {spec}: {reason}")
    model = SeqnetTorch(spec, fused=reason is None if fused is None else fused).to(dtype=_DTYPES[dtype])
    model.__dict__["_scan"] = scan  # a plain attribute, as _fused
    load_weights(model, weights)  # after the cast, so float64 weights keep every bit
    model = model.to(device=device)
    if compile:
        model.compile(dynamic=False)
    return model


def load_weights(model: SeqnetTorch, weights: Weights) -> None:
    """Copy canonical weights into the model's parameters (in place, keeping device and dtype)."""
    with torch.no_grad():
        for name, value in weights.items():
            target = model.get_parameter(name if name.startswith("head.") else f"rnn.{name}")
            target.copy_(torch.tensor(np.asarray(value), dtype=target.dtype))


def weights_of(model: SeqnetTorch) -> dict[str, np.ndarray]:
    return {name.removeprefix("rnn."): to_numpy(value).copy() for name, value in model.state_dict().items()}


def no_grad() -> Any:
    """The context seqnet.predict runs a model in: no autograd graph."""
    return torch.no_grad()


def to_numpy(value: Any) -> np.ndarray:
    """A NumPy copy of a tensor; float16 and bfloat16 (which NumPy lacks or cannot take from torch) as float32."""
    if not isinstance(value, torch.Tensor):
        return np.asarray(value)
    value = value.detach().cpu()
    return (value.float() if value.dtype in (torch.float16, torch.bfloat16) else value).numpy()


def from_numpy(value: Any, model: SeqnetTorch) -> torch.Tensor:
    """A NumPy array as a tensor on the model's device; floating arrays for a float16 or bfloat16 model are
    cast to its dtype (NumPy cannot hold bfloat16), other dtypes are kept for seqnet's checks."""
    array = np.asarray(value)
    param = next(model.parameters())
    tensor = torch.from_numpy(array.copy())
    if array.dtype.kind != "f":
        return tensor
    if param.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.to(param.dtype)
    return tensor.to(param.device)


def loss_fn(loss: str, outputs: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """seqnet.losses' definition in torch ops (differentiable); w weighs each output position."""
    if loss == "mse":
        return torch.sum(w[..., None] * (outputs - target) ** 2) / outputs.shape[-1]
    logp = torch.log_softmax(outputs, dim=-1)
    return -torch.sum(w * logp.gather(-1, target[..., None].long())[..., 0])


def value_and_grad(
    spec, weights, x, target, loss="mse", state=None, lengths=None, dtype="float32", training=False, dropout_seed=0
):
    """(loss, gradient Weights, dL/dx) through torch autograd."""
    model = build(spec, weights, dtype).train(training)
    xt = from_numpy(x, model).requires_grad_(True)
    st = (
        None
        if state is None
        else (tuple(from_numpy(s, model) for s in state) if isinstance(state, tuple) else from_numpy(state, model))
    )
    outputs, _ = model(xt, st, lengths)
    w = torch.from_numpy(weights_of_steps(spec, tuple(outputs.shape), lengths, dtype))
    value = loss_fn(loss, outputs, torch.from_numpy(np.asarray(target)), w)
    value.backward()
    grads = {name.removeprefix("rnn."): p.grad.detach().numpy().copy() for name, p in model.named_parameters()}
    assert xt.grad is not None
    return float(value.detach()), Weights({name: grads[name] for name in layout(spec)}), xt.grad.numpy().copy()


def devices() -> list[str]:
    """The devices this framework can place a model on here (`seqnet info` lists them)."""
    from .devices import devices as found

    return found()
