"""JAX implementations: seqnet's backend, a hand-written jitted lax.scan, flax.linen's RNN and Keras 3's
layers on the JAX backend (the peers, where installed).

Requirements: jax; flax and keras (KERAS_BACKEND=jax) for the peers. Everything is jitted: forward is
jit(apply); a training step is one jit of value_and_grad of the MSE plus an SGD-with-momentum update in
jax.numpy. With device="cuda" the arrays live on JAX's GPU (its default device there), and bfloat16 and
float16 rows of seqnet's model are added; block_until_ready ends each timed call.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import seqnet

from .cells import user_spec
from .workloads import Impl, inputs


def _sgd_step(loss_fn):
    """jit: params, momentum buffers, x, y -> updated (params, buffers, loss); SGD, lr 1e-3, momentum 0.9."""

    @jax.jit
    def step(params, buf, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        buf = jax.tree_util.tree_map(lambda b, g: 0.9 * b + g, buf, grads)
        params = jax.tree_util.tree_map(lambda p, b: p - 1e-3 * b, params, buf)
        return params, buf, loss

    return step


def _impl(name, apply, params, x, y):
    fwd = jax.jit(apply)
    step = _sgd_step(lambda p, x, y: jnp.mean((apply(p, x) - y) ** 2))
    state = {"p": params, "buf": jax.tree_util.tree_map(jnp.zeros_like, params)}

    def train():
        state["p"], state["buf"], loss = step(state["p"], state["buf"], x, y)
        loss.block_until_ready()

    return Impl(name, "jax", lambda: fwd(params, x).block_until_ready(), train, lambda: np.asarray(fwd(params, x)))


def hand_scan(spec, params, x, state=None):
    """The hand-written reference: per layer and direction a lax.scan whose step does both products,
    weights transposed and biases summed once outside the scan. x (B, T, I), state (h, c) each (L*D, B, H)
    or None (zeros) -> (outputs (B, T, D*H), (h_n, c_n))."""
    hidden = spec.hidden_size
    layer_in = jnp.swapaxes(x, 0, 1)
    if state is None:
        zeros = jnp.zeros((spec.num_layers * spec.num_directions, x.shape[0], hidden), x.dtype)
        state = (zeros, zeros)
    finals = []
    for k in range(spec.num_layers):
        outs = []
        for s in ("", "_reverse")[: spec.num_directions]:
            wi, wh = params[f"weight_ih_l{k}{s}"].T, params[f"weight_hh_l{k}{s}"].T
            bi, bh = params[f"bias_ih_l{k}{s}"], params[f"bias_hh_l{k}{s}"]

            def step(carry, xt, wi=wi, wh=wh, bi=bi, bh=bh):
                h, c = carry
                if spec.cell == "rnn":
                    h = jnp.tanh(xt @ wi + h @ wh + (bi + bh))
                elif spec.cell == "lstm":
                    i, f, g, o = jnp.split(xt @ wi + h @ wh + (bi + bh), 4, axis=-1)
                    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                    h = jax.nn.sigmoid(o) * jnp.tanh(c)
                else:
                    gi, gh = xt @ wi + bi, h @ wh + bh
                    r = jax.nn.sigmoid(gi[:, :hidden] + gh[:, :hidden])
                    z = jax.nn.sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
                    n = jnp.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
                    h = (1 - z) * n + z * h
                return (h, c), h

            row = k * spec.num_directions + (1 if s else 0)
            final, ys = lax.scan(step, (state[0][row], state[1][row]), layer_in, reverse=bool(s))
            outs.append(ys)
            finals.append(final)
        layer_in = jnp.concatenate(outs, axis=-1)
    h_n = jnp.stack([h for h, _ in finals])
    c_n = jnp.stack([c for _, c in finals])
    return jnp.swapaxes(layer_in, 0, 1), (h_n, c_n)


def _flax(spec, x, y):
    import flax.linen as nn

    cell = {"rnn": nn.SimpleCell, "lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell}[spec.cell]

    class Stack(nn.Module):
        @nn.compact
        def __call__(self, h):
            for _ in range(spec.num_layers):
                if spec.bidirectional:
                    h = nn.Bidirectional(nn.RNN(cell(spec.hidden_size)), nn.RNN(cell(spec.hidden_size)))(h)
                else:
                    h = nn.RNN(cell(spec.hidden_size))(h)
            return h

    module = Stack()
    params = module.init(jax.random.PRNGKey(0), x)
    return _impl("flax-linen", module.apply, params, x, y)


def _keras(spec, x, y):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        return None
    layer_cls = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[spec.cell]
    stack = []
    for _ in range(spec.num_layers):
        layer = layer_cls(spec.hidden_size, return_sequences=True)
        stack.append(keras.layers.Bidirectional(layer) if spec.bidirectional else layer)
    model = keras.Sequential([keras.Input(shape=x.shape[1:]), *stack])
    trainable = [v.value for v in model.trainable_variables]
    fixed = [v.value for v in model.non_trainable_variables]

    def apply(params, xs):
        return model.stateless_call(params, fixed, xs)[0]

    return _impl("keras3-jax", apply, trainable, x, y)


def half_precision(spec, weights, x, y, target):
    """seqnet-jax in bfloat16 and float16 (params, inputs and targets in that dtype; outputs compared with
    the float32 model's as float32)."""
    impls = []
    for label, dtype in (("bf16", "bfloat16"), ("fp16", "float16")):
        model = seqnet.build(spec, "jax", weights, dtype=dtype, device=target)
        made = _impl(f"seqnet-jax-{label}", lambda p, xs, m=model: m.apply(p, xs)[0], model.params,
                     x.astype(dtype), y.astype(dtype))  # fmt: skip
        forward = made.output
        made.output = lambda f=forward: np.asarray(f(), np.float32)
        impls.append(made)
    return impls


def implementations(spec, size, threads, device="cpu"):
    weights = seqnet.init_weights(spec)
    x_np, y_np = inputs(spec, size)
    target = jax.devices("gpu")[0] if device == "cuda" else jax.devices("cpu")[0]
    x, y = jax.device_put(jnp.asarray(x_np), target), jax.device_put(jnp.asarray(y_np), target)
    model = seqnet.build(spec, "jax", weights, device=target)
    impls = [
        _impl("seqnet-jax", lambda p, xs: model.apply(p, xs)[0], model.params, x, y),
        _impl("jax-hand-scan", lambda p, xs: hand_scan(spec, p, xs)[0], model.params, x, y),
    ]
    if spec.cell == "lstm":  # the LSTM written as a user's cell (cells.py): the path every registered cell takes
        cell_model = seqnet.build(user_spec(spec), "jax", weights, device=target)
        impls.append(_impl("seqnet-jax-cell", lambda p, xs: cell_model.apply(p, xs)[0], cell_model.params, x, y))
    if device == "cuda":  # half precision, where GPUs have the units for it
        impls += half_precision(spec, weights, x, y, target)
    for peer in (_flax, _keras):
        try:
            made = peer(spec, x, y)
        except ImportError:
            continue
        if made is not None:
            made.output = None  # their own weights: no same-results check
            impls.append(made)
    return impls
