"""The JAX backend: a Spec as a pure, jit-able function of a parameter pytree.

Requirements: jax (>= 0.4.30). No flax or equinox: a dict of arrays and `lax.scan` are all it needs, so
the model drops into flax, equinox or optax code as a plain pytree and function.

`model.params` is a dict of canonical name -> jax array; `model.apply(params, x, state=None, lengths=None)`
is pure and returns (outputs, state), so it works under jax.jit, jax.grad and jax.vmap; `model(x, ...)`
calls a jitted apply with the model's own parameters. Time runs in `lax.scan` (no Python loop over time);
lengths are a mask inside the scan (changing their values never retraces); a reverse direction scans
backwards and keeps its initial state until it reaches each sequence's last valid step.

Step formulation (chosen by measurement, docs/benchmarks.md): on XLA:CPU each step does the input product
and the hidden product itself (seqnet.generic's cell equations); on a GPU the input products of all steps
run as one matrix product before the scan (measured on an H100: M lstm forward 1.10 against 1.44 ms,
training step 3.9 against 4.8 ms; on XLA:CPU the same change measured 2x slower at S lstm), chosen at
lowering by `lax.platform_dependent`. The weights are transposed once outside the scan, and for rnn and
lstm the two biases summed once (their sum is all the cell uses); an LSTM's peepholes join its step there. The
registered cells run the registry's generic loop over the cell's step (seqnet.generic.cell_forward) in one
`lax.scan`.

float16 and bfloat16: `build(..., dtype="bfloat16")` rounds the weights once and computes in that dtype
(`seqnet.predict` and `seqnet.weights_of` give float32 back, as for torch's half-precision models).

float64: JAX computes in float32 unless x64 is enabled (`jax.config.update("jax_enable_x64", True)` or
JAX_ENABLE_X64=1 before use); `build(..., dtype="float64")` without it raises an error saying so, rather
than silently computing in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from seqnet.errors import BackendError, InputError
from seqnet.generic import PARAMS, cell_forward, cell_step, choose_scan, prepare
from seqnet.inputs import check_call
from seqnet.losses import weights_of_steps
from seqnet.spec import Spec
from seqnet.stream import Steps
from seqnet.weights import Weights, layout

HALF = ("float16", "bfloat16")  # computed in as given; weights in and out of seqnet as float32
# scan="auto" per platform: on XLA:CPU the sequential lax.scan measured 1.2-2.2x faster than associative_scan at
# every T (benchmarks/results/cpu-scans.md), so never parallel there; on accelerators the parallel form from the
# first step, as the paper measured on GPUs (not yet measured here)
PARALLEL_FROM: dict[str, int | None] = {"cpu": None, "gpu": 1, "tpu": 1}
OWN_SCAN = ("rnn", "lstm", "gru")  # the cells `_run_direction` scans itself (seqnet.generic.cell_step)


class _Ops:
    """seqnet.generic's ops in jax.numpy (the step's weights arrive transposed, from `prepare`)."""

    sigmoid = staticmethod(jax.nn.sigmoid)
    tanh = staticmethod(jnp.tanh)
    relu = staticmethod(jax.nn.relu)
    matmul = staticmethod(jnp.matmul)
    transpose = staticmethod(jnp.transpose)

    exp, log, abs, sqrt = staticmethod(jnp.exp), staticmethod(jnp.log), staticmethod(jnp.abs), staticmethod(jnp.sqrt)
    softplus, maximum, minimum = staticmethod(jax.nn.softplus), staticmethod(jnp.maximum), staticmethod(jnp.minimum)
    where, stack = staticmethod(jnp.where), staticmethod(jnp.stack)

    @staticmethod
    def split(x, n: int):
        return jnp.split(x, n, axis=-1)

    @staticmethod
    def linear(x, w, b):
        return x @ w.T if b is None else x @ w.T + b

    @staticmethod
    def unstack(x):
        return [x[t] for t in range(x.shape[0])]

    @staticmethod
    def concat(xs):
        return jnp.concatenate(xs, axis=-1)

    @staticmethod
    def mean(x):
        return jnp.mean(x, axis=-1, keepdims=True)

    @staticmethod
    def var(x):
        return jnp.var(x, axis=-1, keepdims=True)

    @staticmethod
    def swap01(x):
        return jnp.swapaxes(x, 0, 1)

    @staticmethod
    def zeros(shape, like):
        return jnp.zeros(shape, like.dtype)

    @staticmethod
    def concat0(xs):
        return jnp.concatenate(xs, axis=0)

    @staticmethod
    def by_platform(cpu, default):  # a registered cell's precompute: per step on XLA:CPU, hoisted elsewhere
        return lax.platform_dependent(cpu=cpu, default=default)

    @staticmethod
    def scan(body, carry, xs, reverse: bool):  # a registered cell's steps: one lax.scan, not a loop unrolled
        return lax.scan(body, carry, xs, reverse=reverse)

    @staticmethod
    def linear_scan(a, b, h0, reverse: bool):  # a linear form: h_t = a_t h_{t-1} + b_t in log2(T) parallel rounds
        def compose(first, then):
            return first[0] * then[0], then[0] * first[1] + then[1]

        a, b = lax.associative_scan(compose, (a, b), reverse=reverse, axis=0)
        return a * h0 + b


class _DropoutOps(_Ops):
    """_Ops with inverted dropout drawn from a key (the cell path's dropout between layers)."""

    def __init__(self, key):
        self.key = key

    def dropout(self, x, rate: float):
        self.key, sub = jax.random.split(self.key)
        return jnp.where(jax.random.bernoulli(sub, 1 - rate, x.shape), x / (1 - rate), 0)


def _run_direction(spec: Spec, w: dict, xs, h0, c0, mask, reverse: bool, hoist: bool | None = None):
    """One layer-direction: xs (T, B, I), mask (T, B, 1) or None -> (outputs (T, B, H_out), h, c).

    hoist: True computes the input product of every step in one matrix product before the scan, False in
    each step; None picks by the platform the computation is lowered for (per step on XLA:CPU, hoisted on
    GPUs and anything else), through lax.platform_dependent, so that one traced function is right for both.
    """
    if hoist is None:
        return lax.platform_dependent(
            w, xs, h0, c0, mask,
            cpu=partial(_run_direction, spec, reverse=reverse, hoist=False),
            default=partial(_run_direction, spec, reverse=reverse, hoist=True),
        )  # fmt: skip
    w_ih = w["weight_ih"].T  # transposed once, outside the scan (and the step's weights by prepare)
    b_in, sw = prepare(spec, _Ops, w)

    def project(x):  # the input product: (..., I) -> (..., G*H)
        return x @ w_ih if b_in is None else x @ w_ih + b_in

    if hoist:  # (T, B, I) @ (I, G*H): one product for every step
        xs = project(xs)

    def step(carry, inputs):
        h, c = carry
        x_t, m = inputs
        gx = x_t if hoist else project(x_t)
        h_new, c_new = cell_step(spec, _Ops, gx, h, c, sw["weight_hh"], sw["bias_hh"], sw["weight_hr"],
                                 sw["weight_peephole"])  # fmt: skip
        if m is None:
            return (h_new, c_new), h_new
        h_keep = jnp.where(m, h_new, h)
        c_keep = None if c is None else jnp.where(m, c_new, c)
        return (h_keep, c_keep), jnp.where(m, h_new, 0)

    (h, c), ys = lax.scan(step, (h0, c0), (xs, mask), reverse=reverse)
    return ys, h, c


def forward(spec: Spec, params: dict, x, state=None, lengths=None, dropout_key=None, hoist: bool | None = None,
            scan: str = "auto"):  # fmt: skip
    """The model as a pure function. x (B, T, I) or (T, B, I); returns (outputs, state). `hoist`: where the
    input products run (see `_run_direction`); None, the default, picks by platform. `scan`: how a cell with a
    linear form runs (T is static under jit, so "auto" picks by it)."""
    xs = jnp.swapaxes(x, 0, 1) if spec.batch_first else x
    steps, batch = xs.shape[0], xs.shape[1]
    rows = spec.num_layers * spec.num_directions
    mask = None if lengths is None else (jnp.arange(steps)[:, None] < jnp.asarray(lengths)[None, :])[:, :, None]
    if spec.cell not in OWN_SCAN:  # the registry's generic loop over the cell's step, as one lax.scan
        ops = _Ops() if dropout_key is None else _DropoutOps(dropout_key)
        cell_mask = None if mask is None else mask.astype(xs.dtype)
        how = choose_scan(scan, steps, PARALLEL_FROM.get(jax.default_backend(), PARALLEL_FROM["gpu"]))
        seq, final, last = cell_forward(spec, ops, params.get, x, state, cell_mask, dropout_key is not None, how)
        out = last if spec.output_mode == "last" else seq
        if spec.output_size is not None:
            out = out @ params["head.weight"].T + params["head.bias"]
            if spec.output_mode == "sequence" and mask is not None:
                out = jnp.where(jnp.swapaxes(mask, 0, 1) if spec.batch_first else mask, out, 0)
        return out, final
    if state is None:
        h0 = jnp.zeros((rows, batch, spec.hidden_out), xs.dtype)
        c0 = jnp.zeros((rows, batch, spec.hidden_size), xs.dtype) if spec.cell == "lstm" else None
    else:
        h0, c0 = state if spec.cell == "lstm" else (state, None)
    hs, cs, layer_in = [], [], xs
    for layer in range(spec.num_layers):
        outs = []
        for d, suffix in enumerate(("", "_reverse")[: spec.num_directions]):
            row = layer * spec.num_directions + d
            w = {name: params.get(f"{name}_l{layer}{suffix}") for name in PARAMS}
            c0_row = None if c0 is None else c0[row]
            ys, h, c = _run_direction(spec, w, layer_in, h0[row], c0_row, mask, d == 1, hoist)
            outs.append(ys)
            hs.append(h)
            cs.append(c)
        layer_in = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=-1)
        if dropout_key is not None and spec.dropout and layer < spec.num_layers - 1:
            dropout_key, sub = jax.random.split(dropout_key)
            keep = jax.random.bernoulli(sub, 1 - spec.dropout, layer_in.shape)
            layer_in = jnp.where(keep, layer_in / (1 - spec.dropout), 0)
    hn = jnp.stack(hs)
    final = (hn, jnp.stack(cs)) if spec.cell == "lstm" else hn
    out = jnp.concatenate(list(hn[-spec.num_directions :]), axis=1) if spec.output_mode == "last" else layer_in
    if spec.output_size is not None:
        out = out @ params["head.weight"].T + params["head.bias"]
        if spec.output_mode == "sequence" and mask is not None:
            out = jnp.where(mask, out, 0)
    if spec.output_mode == "sequence" and spec.batch_first:
        out = jnp.swapaxes(out, 0, 1)
    return out, final


class JaxRNN(Steps):
    """A seqnet model in JAX: `params` (a pytree) and the pure `apply(params, x, state, lengths)`.

    `model(x, state=None, lengths=None)` runs a jitted apply with `model.params`. Dropout between layers
    runs when `apply(..., dropout_key=key)` gets a PRNG key (training); without one it is off.
    """

    seqnet_backend = "jax"

    def __init__(self, spec: Spec, params: dict, dtype: str, scan: str = "auto"):
        self.spec = spec
        self.params = params
        self.dtype = dtype
        self.scan = scan
        self._jitted = jax.jit(partial(forward, spec, scan=scan))

    def __repr__(self) -> str:
        return f"JaxRNN({self.spec}, dtype={self.dtype})"

    def check(self, x, state=None, lengths=None) -> None:
        """seqnet's input checks (shapes and dtypes always; lengths' values where they are concrete)."""
        values = None
        if lengths is not None and not isinstance(lengths, jax.core.Tracer):
            values = np.asarray(lengths)
        if lengths is not None and values is None and not jnp.issubdtype(lengths.dtype, jnp.integer):
            raise InputError(f"lengths has dtype {lengths.dtype}: expected integers")
        check_call(self.spec, self.dtype, _shaped(x), _shaped(state), lengths, values)

    def apply(self, params: dict, x, state=None, lengths=None, dropout_key=None):
        """Pure: (outputs, state) of the model with `params`; safe under jit, grad and vmap."""
        self.check(x, state, lengths)
        return forward(self.spec, params, x, state, lengths, dropout_key, scan=self.scan)

    def __call__(self, x, state=None, lengths=None):
        self.check(x, state, lengths)
        return self._jitted(self.params, x, state, lengths)


def _shaped(value: Any) -> Any:
    """NumPy arrays and lists as arrays with .shape/.dtype for the checks; jax arrays and tracers as they are."""
    if value is None or hasattr(value, "shape"):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(_shaped(v) for v in value)
    return np.asarray(value)


def x64_enabled() -> bool:
    return bool(jax.config.read("jax_enable_x64"))


@contextlib.contextmanager
def dtype_context(dtype: str) -> Iterator[None]:
    """A block whose models compute in `dtype`: JAX's 64-bit mode on for float64 (jax.enable_x64, scoped to
    the block and this thread, and as it was after it), nothing for the other dtypes. The conformance suite
    builds and calls each dtype's models inside it; your own code turns the mode on once, as jax's docs say."""
    if dtype != "float64":
        yield
        return
    with jax.enable_x64(True):
        yield


# -- the backend's functions (the same names in every backend) ---------------------------------------------
def build(spec: Spec, weights: Weights, dtype: str = "float32", device: Any = None, scan: str = "auto") -> JaxRNN:
    if dtype == "float64" and not x64_enabled():
        raise BackendError(
            "dtype='float64' needs JAX's 64-bit mode, which is off: call "
            "jax.config.update('jax_enable_x64', True) (or set JAX_ENABLE_X64=1) before building; "
            "without it JAX would silently compute in float32"
        )
    # float16 and bfloat16: the canonical float32 weights rounded once to the model's dtype (NumPy has no
    # bfloat16 of its own, so the cast is JAX's)
    from .devices import check_device

    device = check_device(device)
    wide = "float32" if dtype in HALF else dtype
    params = {name: jnp.asarray(np.asarray(value, wide), dtype=dtype) for name, value in weights.items()}
    if device is not None:
        params = jax.device_put(params, device)
    return JaxRNN(spec, params, dtype, scan)


def weights_of(model: JaxRNN) -> dict[str, np.ndarray]:
    return {name: to_numpy(value) for name, value in model.params.items()}


def to_numpy(value: Any) -> np.ndarray:
    """A NumPy array of a JAX array; float16 and bfloat16 as float32 (seqnet's canonical dtypes)."""
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.name in HALF else array


def from_numpy(value: Any, model: JaxRNN):
    """A NumPy array as a JAX array; floating arrays for a float16 or bfloat16 model in its dtype (NumPy cannot
    hold bfloat16), other dtypes kept for seqnet's checks."""
    array = np.asarray(value)
    if model.dtype in HALF and array.dtype.kind == "f":
        return jnp.asarray(array, dtype=model.dtype)
    if array.dtype == np.float64 and not x64_enabled():
        return array  # jnp.asarray would round it to float32 silently: seqnet's checks see it as it is
    return jnp.asarray(array)


def loss_fn(loss: str, outputs, target, w):
    """seqnet.losses' definition in jax.numpy (differentiable); w weighs each output position."""
    if loss == "mse":
        return jnp.sum(w[..., None] * (outputs - target) ** 2) / outputs.shape[-1]
    logp = jax.nn.log_softmax(outputs, axis=-1)
    return -jnp.sum(w * jnp.take_along_axis(logp, target[..., None].astype(jnp.int32), axis=-1)[..., 0])


@lru_cache(maxsize=32)
def _value_and_grad_fn(spec: Spec, loss: str):
    """jit(value_and_grad) of the loss, cached per spec and loss so repeated training steps reuse the trace."""

    def objective(params, x, target, w, state, lengths, key):
        outputs, _ = forward(spec, params, x, state, lengths, key)
        return loss_fn(loss, outputs, target, w)

    return jax.jit(jax.value_and_grad(objective, argnums=(0, 1)))


def value_and_grad(
    spec, weights, x, target, loss="mse", state=None, lengths=None, dtype="float32", training=False, dropout_seed=0
):
    """(loss, gradient Weights, dL/dx) through jax.value_and_grad, jitted and cached per spec and loss."""
    model = build(spec, weights, dtype)
    x = jnp.asarray(x)
    model.check(x, state, lengths)
    w = jnp.asarray(weights_of_steps(spec, spec.output_shape(x.shape), lengths, dtype))
    key = jax.random.PRNGKey(dropout_seed) if training and spec.dropout else None
    state = None if state is None else jax.tree_util.tree_map(jnp.asarray, state)
    lengths = None if lengths is None else jnp.asarray(lengths)
    value, (g_params, g_x) = _value_and_grad_fn(spec, loss)(
        model.params, x, jnp.asarray(target), w, state, lengths, key
    )
    grads = {name: np.asarray(g_params[name]) for name in layout(spec)}
    return float(value), Weights(grads), np.asarray(g_x)


def devices() -> list[str]:
    """The devices this framework can place a model on here (`seqnet info` lists them)."""
    from .devices import devices as found

    return found()
