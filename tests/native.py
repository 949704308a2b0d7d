"""Each framework's own layers, built and called by hand in the framework's own way: the independent side of
the conversion tests (nothing here uses seqnet's converters).

An adapter builds a framework layer for a parity-grid Spec with random weights set through the framework's
own API (`make`), and calls it as a user of that framework would (`call`), returning NumPy outputs and the
final state in seqnet's layout ((L*D, B, H) arrays; LSTM (h, c)). The head is applied here by hand where
the framework's recurrent layers hold none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqnet import Spec

os.environ.setdefault("KERAS_BACKEND", "jax")


@dataclass
class Native:
    """A framework object made for a spec: what to give from_framework (obj, head) and to call."""

    obj: Any
    head: Any = None


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _head_np(spec: Spec, seq: np.ndarray, hn: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """seqnet's head by hand: on the concatenated last states ("last") or on every step ("sequence")."""
    feats = np.concatenate(list(hn[-spec.num_directions :]), axis=1) if spec.output_mode == "last" else seq
    return feats if weight is None else feats @ weight.T + bias


# -- torch ----------------------------------------------------------------------------------------------------------
class Torch:
    name = "torch"
    zero_padding = True  # outputs past a length are zero
    dtype = "float64"

    @staticmethod
    def expresses(spec: Spec, direction: str) -> bool:
        return spec.activation != "sigmoid" and spec.gru_variant == "reset_after" and not spec.peephole

    @staticmethod
    def make(spec: Spec, seed: int) -> Native:
        import torch

        torch.manual_seed(seed)
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[spec.cell]
        extra = {"nonlinearity": spec.activation} if spec.cell == "rnn" else {}
        if spec.proj_size:
            extra["proj_size"] = spec.proj_size
        layer = cls(
            spec.input_size, spec.hidden_size, spec.num_layers, bias=spec.bias, batch_first=spec.batch_first,
            bidirectional=spec.bidirectional, dropout=spec.dropout, **extra,
        ).double()  # fmt: skip
        head = (
            torch.nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size).double()
            if spec.output_size
            else None
        )
        return Native(layer, head)

    @staticmethod
    def call(native: Native, spec: Spec, x, state, lengths):
        import torch

        layer = native.obj
        xt = torch.tensor(x)
        st = (
            None if state is None else (tuple(map(torch.tensor, state)) if spec.cell == "lstm" else torch.tensor(state))
        )
        with torch.no_grad():
            if lengths is None:
                seq, final = layer(xt, st)
            else:
                pack = torch.nn.utils.rnn
                packed = pack.pack_padded_sequence(
                    xt, torch.tensor(lengths), batch_first=spec.batch_first, enforce_sorted=False
                )
                seq, final = layer(packed, st)
                seq, _ = pack.pad_packed_sequence(
                    seq, batch_first=spec.batch_first, total_length=xt.shape[int(spec.batch_first)]
                )
        final = tuple(f.numpy() for f in final) if isinstance(final, tuple) else final.numpy()
        hn = final[0] if isinstance(final, tuple) else final
        head = native.head
        weight, bias = (None, None) if head is None else (head.weight.detach().numpy(), head.bias.detach().numpy())
        return _head_np(spec, seq.numpy(), hn, weight, bias), final


# -- paddle ---------------------------------------------------------------------------------------------------------
class Paddle:
    name = "paddle"
    zero_padding = False  # with proj_size Paddle's outputs past a length are not zero
    dtype = "float64"

    @staticmethod
    def expresses(spec: Spec, direction: str) -> bool:
        # Paddle 3.3.1 cannot build its layers without biases: only to_framework (zero biases) takes bias=False
        return (
            spec.activation != "sigmoid" and spec.gru_variant == "reset_after" and not spec.peephole
            and (spec.bias or direction == "to")
        )  # fmt: skip

    @staticmethod
    def make(spec: Spec, seed: int) -> Native:
        from seqnet_backends.paddle.model import paddle

        paddle.seed(seed)
        paddle.set_default_dtype("float64")
        try:
            layer = Paddle.layer(spec)
            head = (
                paddle.nn.Linear(spec.num_directions * spec.hidden_out, spec.output_size) if spec.output_size else None
            )
        finally:
            paddle.set_default_dtype("float32")
        return Native(layer, head)

    @staticmethod
    def layer(spec: Spec) -> Any:
        """paddle.nn.SimpleRNN/LSTM/GRU for `spec` with Paddle's own random weights, in its default dtype."""
        from seqnet_backends.paddle.model import paddle

        cls = {"rnn": paddle.nn.SimpleRNN, "lstm": paddle.nn.LSTM, "gru": paddle.nn.GRU}[spec.cell]
        extra: dict[str, Any] = {"activation": spec.activation} if spec.cell == "rnn" else {}
        if spec.proj_size:
            extra["proj_size"] = spec.proj_size
        return cls(
            spec.input_size, spec.hidden_size, spec.num_layers, dropout=spec.dropout,
            direction="bidirect" if spec.bidirectional else "forward", time_major=not spec.batch_first, **extra,
        )  # fmt: skip

    @staticmethod
    def call(native: Native, spec: Spec, x, state, lengths):
        from seqnet_backends.paddle.model import paddle

        st = None
        if state is not None:
            st = tuple(map(paddle.to_tensor, state)) if spec.cell == "lstm" else paddle.to_tensor(state)
        seq_len = None if lengths is None else paddle.to_tensor(np.asarray(lengths, np.int64))
        with paddle.no_grad():
            seq, final = native.obj(paddle.to_tensor(x), st, seq_len)
        final = tuple(f.numpy() for f in final) if spec.cell == "lstm" else final.numpy()
        hn = final[0] if isinstance(final, tuple) else final
        head = native.head
        weight, bias = (None, None) if head is None else (head.weight.numpy().T, head.bias.numpy())
        return _head_np(spec, seq.numpy(), hn, weight, bias), final


# -- keras ----------------------------------------------------------------------------------------------------------
class Keras:
    name = "keras"
    zero_padding = True  # the layers built here set zero_output_for_mask
    dtype = "float32"  # Keras's RNNs are not float64-clean on JAX (backends/keras/convert.py)

    @staticmethod
    def expresses(spec: Spec, direction: str) -> bool:
        return not spec.proj_size and not spec.peephole and spec.batch_first

    @staticmethod
    def make(spec: Spec, seed: int) -> Native:
        import keras

        layers: list[Any] = [keras.Input((None, spec.input_size))]
        cls = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[spec.cell]
        for k in range(spec.num_layers):
            last = k == spec.num_layers - 1
            options: dict[str, Any] = dict(
                units=spec.hidden_size,
                use_bias=spec.bias,
                zero_output_for_mask=True,
                return_sequences=not last or spec.output_mode == "sequence",
            )
            if spec.cell == "rnn":
                options["activation"] = spec.activation
            if spec.cell == "gru":
                options["reset_after"] = spec.gru_variant == "reset_after"
            layer = cls(**options)
            layers.append(keras.layers.Bidirectional(layer) if spec.bidirectional else layer)
        if spec.output_size:
            layers.append(keras.layers.Dense(spec.output_size))
        model = keras.Sequential(layers)
        rng = _rng(seed)  # Keras initialises biases to zero: random values make the bias mapping visible
        model.set_weights([rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in model.get_weights()])
        return Native(model)

    @staticmethod
    def call(native: Native, spec: Spec, x, state, lengths):
        """The model called as a Keras user would (mask from lengths); each recurrent layer again with
        return_state for the final states (its own weights, by from_config + set_weights)."""
        import keras

        model = native.obj
        x = np.asarray(x, np.float32)
        mask = None if lengths is None else np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
        d = spec.num_directions
        initial = (
            None if state is None else [np.asarray(s, np.float32) for s in (state if spec.cell == "lstm" else (state,))]
        )
        if initial is not None and spec.num_layers > 1:
            raise AssertionError("a Keras Sequential takes no initial state")
        value, hs, cs = x, [], []
        for layer in model.layers if isinstance(model, keras.Model) else [model]:
            if isinstance(layer, keras.layers.Dense):
                value = keras.ops.convert_to_numpy(layer(value))
                continue
            init = None if initial is None else [part[i] for i in range(d) for part in initial]
            config = layer.get_config()
            inner = [config["layer"]["config"], config["backward_layer"]["config"]] if d == 2 else [config]
            for c in inner:
                c.update(return_sequences=True, return_state=True)
            twin = type(layer).from_config(config)
            twin.build((None, None, value.shape[-1]))
            twin.set_weights(layer.get_weights())
            result = [keras.ops.convert_to_numpy(r) for r in twin(value, mask=mask, initial_state=init)]
            per = (len(result) - 1) // d
            for i in range(d):
                hs.append(result[1 + i * per])
                if per == 2:
                    cs.append(result[2 + i * per])
            value = keras.ops.convert_to_numpy(layer(value, mask=mask, initial_state=init))
        return value, ((np.stack(hs), np.stack(cs)) if cs else np.stack(hs))


# -- flax NNX -----------------------------------------------------------------------------------------------------
class Flax:
    name = "flax"
    zero_padding = False  # flax's cells run on past each length
    dtype = "float64"

    @staticmethod
    def expresses(spec: Spec, direction: str) -> bool:
        # flax cells always hold biases (bias=False goes to flax as zeros, and comes back as bias=True)
        return (
            not spec.proj_size and not spec.peephole and spec.gru_variant == "reset_after"
            and (spec.bias or direction == "to")
        )  # fmt: skip

    @staticmethod
    def make(spec: Spec, seed: int) -> Native:
        import jax
        import jax.numpy as jnp
        from flax import nnx

        rngs = nnx.Rngs(seed)
        act = {"tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[spec.activation]
        cls = {"rnn": nnx.SimpleCell, "lstm": nnx.OptimizedLSTMCell if seed % 2 else nnx.LSTMCell, "gru": nnx.GRUCell}

        def cell(features: int):
            extra = {"activation_fn": act} if spec.cell == "rnn" else {}
            return cls[spec.cell](
                features, spec.hidden_size, rngs=rngs, param_dtype=jnp.float64, dtype=jnp.float64, **extra
            )

        layers = []
        for k in range(spec.num_layers):
            tm = not spec.batch_first
            features = spec.layer_input_size(k)
            if spec.bidirectional:
                layers.append(
                    nnx.Bidirectional(
                        nnx.RNN(cell(features), time_major=tm), nnx.RNN(cell(features), time_major=tm), time_major=tm
                    )
                )
            else:
                layers.append(nnx.RNN(cell(features), time_major=tm))
        module = layers[0] if len(layers) == 1 else nnx.Sequential(*layers)
        head = None
        if spec.output_size:
            head = nnx.Linear(
                spec.num_directions * spec.hidden_size, spec.output_size, rngs=rngs, param_dtype=jnp.float64
            )
        rng = _rng(seed)  # flax initialises biases to zero: random values make the bias mapping visible
        params = nnx.state((module, head) if head is not None else module, nnx.Param)
        randomised = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.uniform(-0.5, 0.5, a.shape), a.dtype), params)
        nnx.update((module, head) if head is not None else module, randomised)
        return Native(module, head)

    @staticmethod
    def call(native: Native, spec: Spec, x, state, lengths):
        """Each layer in turn with seq_lengths and return_carry (nnx.Sequential passes seq_lengths to its first
        layer only), carries gathered into seqnet's layout; flax's LSTM carry is (c, h)."""
        import jax.numpy as jnp
        from flax import nnx

        module = native.obj
        layers = list(module.layers) if isinstance(module, nnx.Sequential) else [module]
        d = spec.num_directions
        value = jnp.asarray(x)
        seq_lengths = None if lengths is None else jnp.asarray(lengths)
        hs, cs = [], []
        for k, layer in enumerate(layers):
            initial = None
            if state is not None:
                parts = state if spec.cell == "lstm" else (state,)
                carries = [
                    (jnp.asarray(parts[1][k * d + i]), jnp.asarray(parts[0][k * d + i]))
                    if spec.cell == "lstm"
                    else jnp.asarray(parts[0][k * d + i])
                    for i in range(d)
                ]
                initial = tuple(carries) if d == 2 else carries[0]
            carry, value = layer(value, initial_carry=initial, seq_lengths=seq_lengths, return_carry=True)
            for c in carry if d == 2 else (carry,):
                if spec.cell == "lstm":
                    cs.append(np.asarray(c[0]))
                    hs.append(np.asarray(c[1]))
                else:
                    hs.append(np.asarray(c))
        final = (np.stack(hs), np.stack(cs)) if cs else np.stack(hs)
        head = native.head
        weight, bias = (None, None) if head is None else (np.asarray(head.kernel[...]).T, np.asarray(head.bias[...]))
        return _head_np(spec, np.asarray(value), final[0] if cs else final, weight, bias), final


ADAPTERS = {"torch": Torch, "paddle": Paddle, "keras": Keras, "flax": Flax}
