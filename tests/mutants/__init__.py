"""Deliberately wrong plugin backends for the mutation suite of seqnet's testing kit (tests/test_mutants.py).

One plugin backend, "mutant", computes seqnet's function in NumPy from seqnet.generic's cell equations with a
loop of its own, and takes one build option, `fault`: the name of one way a real port goes wrong (FAULTS),
or of a control that differs from the right function by rounding alone (CONTROLS). Two more backends,
"mutant_grad_sum" and "mutant_grad_reverse_bias", compute the forward right and their gradients wrong
(mutants/grad_sum.py, mutants/grad_reverse_bias.py).

Every fault must fail the conformance suite; every control must pass it. `ALTERS_FUNCTION` lists the faults
that change what the model computes on valid input, which `assert_same_function` must catch as well.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from seqnet import Backend
from seqnet.generic import PARAMS, cell_step, prepare
from seqnet.inputs import check_call
from seqnet.spec import Spec
from seqnet.testing.reference import _NumpyOps as OPS
from seqnet.weights import Weights

FAULTS: dict[str, str] = {
    "drop_c": "an LSTM's final state returned as (h,), without c",
    "state_order": "an LSTM's final state returned as (c, h)",
    "swap_gates": "the first two gate blocks swapped (LSTM i and f, GRU r and z)",
    "ignore_state": "the initial state ignored (zeros used)",
    "ignore_lengths": "lengths ignored (every sequence run to T)",
    "final_at_padding": "final states taken at the last padded step instead of each sequence's last valid one",
    "padding_not_zeroed": "outputs past a sequence's length left as computed instead of zero",
    "reverse_over_padding": "the reverse direction started at step T-1, over the padding, not at the length",
    "reverse_not_flipped": "the reverse direction's outputs left in reversed time order",
    "directions_swapped": "a bidirectional layer's features concatenated backward first",
    "state_rows_direction_major": "final-state rows ordered direction by direction instead of layer by layer",
    "last_at_padding": "output_mode='last' read from the last (padded) step's outputs, not the final states",
    "bias_off": "every input bias off by 1e-3",
    "gru_other_variant": "the GRU's other variant (reset before the hidden product for reset after, and back)",
    "activation_ignored": "an RNN's activation ignored (tanh for relu and sigmoid)",
    "wrong_dtype": "outputs and states in the other float dtype than the model's",
    "input_in_place": "x overwritten in place (an in-place activation on the caller's buffer)",
    "state_written_back": "the final state written into the caller's initial-state arrays",
    "no_input_checks": "no checks of x, state and lengths (bad input reaches the loop)",
    "weights_folded": "weights_of gives b_ih + b_hh in bias_ih and zero bias_hh (the same function, not the weights)",
}

CONTROLS: dict[str, str] = {
    "control_none": "no fault: the mutant machinery itself conforms",
    "control_float64": "computed in float64 and rounded to the model's dtype",
    "control_unfolded": "b_hh added at every step instead of folded into the input bias (other summation order)",
    "control_ulp": "outputs and states moved by one unit in the last place",
}

# the faults that change the function on valid input (assert_same_function must catch them), with a Spec that shows it
ALTERS_FUNCTION: dict[str, Spec] = {
    "drop_c": Spec("lstm", 3, 4),
    "state_order": Spec("lstm", 3, 4),
    "swap_gates": Spec("lstm", 3, 4),
    "ignore_state": Spec("gru", 3, 4),
    "ignore_lengths": Spec("gru", 3, 4),
    "final_at_padding": Spec("gru", 3, 4),
    "padding_not_zeroed": Spec("rnn", 3, 4),
    "reverse_over_padding": Spec("gru", 3, 4, bidirectional=True),
    "reverse_not_flipped": Spec("rnn", 3, 4, bidirectional=True),
    "directions_swapped": Spec("lstm", 3, 4, bidirectional=True),
    "state_rows_direction_major": Spec("gru", 3, 4, num_layers=2, bidirectional=True),
    "last_at_padding": Spec("gru", 3, 4, bidirectional=True, output_mode="last"),
    "bias_off": Spec("rnn", 3, 4),
    "gru_other_variant": Spec("gru", 3, 4),
    "activation_ignored": Spec("rnn", 3, 4, activation="relu"),
    "wrong_dtype": Spec("gru", 3, 4),
    "input_in_place": Spec("gru", 3, 4),
    "state_written_back": Spec("lstm", 3, 4),
}

backend = Backend(name="mutant", module="mutants", requires=("numpy",))
grad_sum = Backend(name="mutant_grad_sum", module="mutants.grad_sum", requires=("numpy",))
grad_reverse_bias = Backend(name="mutant_grad_reverse_bias", module="mutants.grad_reverse_bias", requires=("numpy",))
GRADIENT_MUTANTS = {
    "mutant_grad_sum": "the loss summed instead of averaged (loss and gradients scaled by the element count)",
    "mutant_grad_reverse_bias": "the reverse direction's bias_hh gradient dropped (zeros)",
}


def weights_with_fault(spec: Spec, weights: Weights, fault: str) -> dict[str, np.ndarray]:
    w = {name: np.array(value) for name, value in weights.items()}
    for name, value in w.items():
        if fault == "swap_gates" and spec.gates > 1 and name.startswith(("weight_ih", "weight_hh", "bias_")):
            blocks = np.split(value, spec.gates, axis=0)
            blocks[0], blocks[1] = blocks[1], blocks[0]
            w[name] = np.concatenate(blocks, axis=0)
        if fault == "bias_off" and name.startswith("bias_ih"):
            w[name] = value + 1e-3
    return w


def _direction(spec: Spec, p: dict[str, Any], xs: np.ndarray, h: Any, c: Any, valid: Any, reverse: bool,
               fold: bool) -> tuple[np.ndarray, Any, Any]:  # fmt: skip
    """One layer-direction: xs (T, B, I), valid (T, B, 1) booleans or None -> (outputs (T, B, H_out), h, c)."""
    if fold:
        b_in, step = prepare(spec, OPS, p)
    else:
        w_hr = p["weight_hr"]
        b_in, step = p["bias_ih"], {"weight_hh": p["weight_hh"].T, "bias_hh": p["bias_hh"],
                                    "weight_hr": None if w_hr is None else w_hr.T,
                                    "weight_peephole": p["weight_peephole"]}  # fmt: skip
    gx = OPS.linear(xs, p["weight_ih"], b_in)
    steps = xs.shape[0]
    ys: list[Any] = [None] * steps
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        h_new, c_new = cell_step(spec, OPS, gx[t], h, c, step["weight_hh"], step["bias_hh"], step["weight_hr"],
                                 step["weight_peephole"])  # fmt: skip
        if valid is None:
            ys[t], h, c = h_new, h_new, c_new
        else:
            ys[t] = np.where(valid[t], h_new, 0.0)
            h = np.where(valid[t], h_new, h)
            c = None if c is None else np.where(valid[t], c_new, c)
    return np.stack(ys), h, c


def _layers(spec: Spec, w: dict, xs: np.ndarray, h0: np.ndarray, c0: Any, valid: Any, fault: str):
    """Every layer and direction: (top layer's outputs (T, B, D*H_out), h list, c list) in seqnet's row order."""
    hs, cs, layer_in = [], [], xs
    for layer in range(spec.num_layers):
        outs = []
        for d, suffix in enumerate(("", "_reverse")[: spec.num_directions]):
            row = layer * spec.num_directions + d
            p = {name: w.get(f"{name}_l{layer}{suffix}") for name in PARAMS}
            over_padding = d == 1 and fault == "reverse_over_padding"
            ys, h, c = _direction(spec, p, layer_in, h0[row], None if c0 is None else c0[row],
                                  None if over_padding else valid, d == 1, fault != "control_unfolded")  # fmt: skip
            if over_padding and valid is not None:
                ys = np.where(valid, ys, 0.0)
            if d == 1 and fault == "reverse_not_flipped":
                ys = ys[::-1]
            outs.append(ys)
            hs.append(h)
            cs.append(c)
        if fault == "directions_swapped":
            outs = outs[::-1]
        layer_in = np.concatenate(outs, axis=-1)
    return layer_in, hs, cs


def forward(spec: Spec, weights: Weights, x: Any, state: Any, lengths: Any, fault: str) -> tuple[Any, Any]:
    """(outputs, final state) of `spec` with `fault` (a key of FAULTS or CONTROLS, or "none")."""
    dtype = weights.dtype
    compute = np.float64 if fault == "control_float64" else dtype
    used = spec
    if fault == "gru_other_variant" and spec.cell == "gru":
        used = replace(spec, gru_variant="reset_before" if spec.gru_variant == "reset_after" else "reset_after")
    if fault == "activation_ignored" and spec.cell == "rnn":
        used = replace(spec, activation="tanh")
    w = {k: v.astype(compute) for k, v in weights_with_fault(spec, weights, fault).items()}
    state = None if fault == "ignore_state" else state
    lengths = None if fault == "ignore_lengths" else lengths
    xs = np.asarray(x, compute)
    xs = xs.transpose(1, 0, 2) if spec.batch_first else xs
    steps, batch = xs.shape[:2]
    rows = spec.num_layers * spec.num_directions  # (the mutants use no seqnet API newer than the kit they test)
    shapes = {"h": (rows, batch, spec.proj_size or spec.hidden_size)}
    if spec.cell == "lstm":
        shapes["c"] = (rows, batch, spec.hidden_size)
    if state is None:
        h0 = np.zeros(shapes["h"], compute)
        c0 = np.zeros(shapes["c"], compute) if "c" in shapes else None
    else:
        h0, c0 = (np.asarray(state[0], compute), np.asarray(state[1], compute)) if "c" in shapes else (
            np.asarray(state, compute), None)  # fmt: skip
    valid = None if lengths is None else (np.arange(steps)[:, None] < np.asarray(lengths)[None, :])[:, :, None]
    seq, hs, cs = _layers(used, w, xs, h0, c0, valid, fault)
    if valid is not None and fault in ("final_at_padding", "padding_not_zeroed"):
        seq_all, hs_all, cs_all = _layers(used, w, xs, h0, c0, None, fault)
        if fault == "final_at_padding":
            hs, cs = hs_all, cs_all
        else:
            seq = np.where(valid, seq, seq_all)
    hn = np.stack(hs)
    cn = np.stack(cs) if c0 is not None else None
    if fault == "state_rows_direction_major":
        order = [k * spec.num_directions + d for d in range(spec.num_directions) for k in range(spec.num_layers)]
        hn = hn[order]
        cn = None if cn is None else cn[order]
    if spec.output_mode == "last":
        feats = seq[-1] if fault == "last_at_padding" else np.concatenate(list(hn[-spec.num_directions :]), axis=1)
    else:
        feats = seq
    out = feats
    if spec.output_size is not None:
        out = feats @ w["head.weight"].T + w["head.bias"]
        if spec.output_mode == "sequence" and valid is not None and fault != "padding_not_zeroed":
            out = np.where(valid, out, 0.0)
    if spec.output_mode == "sequence" and spec.batch_first:
        out = out.transpose(1, 0, 2)
    final: Any = (hn, cn) if cn is not None else hn
    if fault == "drop_c" and cn is not None:
        final = (hn,)
    if fault == "state_order" and cn is not None:
        final = (cn, hn)
    return _finish(out, final, dtype, fault)


def _finish(out: np.ndarray, final: Any, dtype: Any, fault: str) -> tuple[Any, Any]:
    """The results in the model's dtype (the other one for "wrong_dtype"; a unit in the last place up for
    "control_ulp")."""
    target = np.dtype(dtype)
    if fault == "wrong_dtype":
        target = np.dtype("float64" if target == np.float32 else "float32")

    def cast(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a).astype(target)
        return np.nextafter(a, np.inf).astype(target) if fault == "control_ulp" else a

    return cast(out), tuple(cast(p) for p in final) if isinstance(final, tuple) else cast(final)


class MutantModel:
    seqnet_backend = "mutant"

    def __init__(self, spec: Spec, weights: Weights, dtype: str, fault: str) -> None:
        self.spec, self.weights, self.dtype, self.fault = spec, weights, dtype, fault

    def __call__(self, x: Any, state: Any = None, lengths: Any = None) -> tuple[Any, Any]:
        x = np.asarray(x)
        lengths = None if lengths is None else np.asarray(lengths)
        if self.fault != "no_input_checks":
            check_call(self.spec, self.dtype, x, state, lengths, lengths)
        out, final = forward(self.spec, self.weights, x, state, lengths, self.fault)
        if self.fault == "input_in_place":
            np.tanh(x, out=x)
        if self.fault == "state_written_back" and state is not None:
            parts = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731
            for given, new in zip(parts(state), parts(final), strict=True):
                given[...] = new
        return out, final


def build(spec: Spec, weights: Weights, dtype: str = "float32", fault: str = "none") -> MutantModel:
    if fault not in FAULTS and fault not in CONTROLS and fault != "none":
        raise ValueError(f"fault={fault!r}: expected one of {sorted(FAULTS) + sorted(CONTROLS)}")
    return MutantModel(spec, weights, dtype, fault)


def weights_of(model: MutantModel) -> Weights:
    if model.fault != "weights_folded":
        return model.weights
    folded = {k: v.copy() for k, v in model.weights.items()}
    for name in folded:
        if name.startswith("bias_hh") and model.spec.cell != "gru":
            folded[name.replace("bias_hh", "bias_ih")] += folded[name]
            folded[name][...] = 0.0
    return Weights(folded)


def to_numpy(value: Any) -> np.ndarray:
    return np.asarray(value)


def from_numpy(value: Any, model: Any) -> np.ndarray:
    return np.asarray(value)
