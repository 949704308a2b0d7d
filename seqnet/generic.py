"""The generic path: one loop over any registered cell's step, written once for every framework through `ops`.

Requirements: none (it imports no framework; the caller passes its framework's ops).

Frameworks' fused layers (nn.LSTM, paddle.nn.GRU, ...) cannot express every Spec (a sigmoid RNN, the
reset-before GRU, a cell of a user's). For those, a backend runs `cell_forward` with its own `ops` over the
registered cell's `step` (rnn, lstm and gru included: their steps are in seqnet.cell), its `precompute` (the input
products, once over all steps) and its linear form where it has one. The ops a cell's step gets are documented in
docs/guides/cells.md; the loop needs a few more (below, before `cell_forward`). Two notes on them:

    ops.unstack(x)        the slices along the first axis (one op: indexing x[t] in the loop instead makes
                          autograd write a zero-filled full-size gradient for every step, O(T^2) memory traffic;
                          measured 18 s instead of 1.7 s for a torch LSTM training step at T 200)
    loops index, not zip: Paddle's to_static rewrites zip() into a convert_zip that takes no strict= (B905)

`cell_step` and `prepare` are the built-in cells' equations for JAX's own scan (backends/jax: the recurrent
weights transposed once per call, the input product per step on XLA:CPU). The NumPy backend keeps its own
explicit cells (backends/numpy/cells.py): the independent reference these are tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from seqnet.inputs import dims_differ, known_dims
from seqnet.spec import Spec

PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "weight_peephole")


def _plus(x: Any, b: Any) -> Any:
    return x if b is None else x + b


def cell_step(
    spec: Spec, ops: Any, gx: Any, h: Any, c: Any, w_hh: Any, b_hh: Any, w_hr: Any, w_ph: Any = None
) -> tuple[Any, Any]:
    """One step of spec's cell: gx = W_ih x_t + b_ih (B, G*H), h (B, H_out), c (B, H) or None -> (h', c').

    w_hh (H_out, G*H) and w_hr (H, P) come transposed (`prepare`); b_hh is None where it is folded into gx;
    w_ph (3, H), an LSTM's peepholes (rows i, f, o), or None.
    """
    if spec.cell == "rnn":
        act = {"tanh": ops.tanh, "relu": ops.relu, "sigmoid": ops.sigmoid}[spec.activation]
        return act(_plus(gx + ops.matmul(h, w_hh), b_hh)), None
    if spec.cell == "lstm":
        i, f, g, o = ops.split(_plus(gx + ops.matmul(h, w_hh), b_hh), 4)
        if w_ph is not None:
            i, f = i + w_ph[0:1] * c, f + w_ph[1:2] * c
        c_new = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h_new = ops.sigmoid(o if w_ph is None else o + w_ph[2:3] * c_new) * ops.tanh(c_new)
        return (h_new if w_hr is None else ops.matmul(h_new, w_hr)), c_new
    x_r, x_z, x_n = ops.split(gx, 3)
    if spec.gru_variant == "reset_after":
        h_r, h_z, h_n = ops.split(_plus(ops.matmul(h, w_hh), b_hh), 3)
        r, z = ops.sigmoid(x_r + h_r), ops.sigmoid(x_z + h_z)
        n = ops.tanh(x_n + r * h_n)
    else:
        rows = 2 * spec.hidden_size
        h_r, h_z = ops.split(_plus(ops.matmul(h, w_hh[:, :rows]), None if b_hh is None else b_hh[:rows]), 2)
        r, z = ops.sigmoid(x_r + h_r), ops.sigmoid(x_z + h_z)
        n = ops.tanh(x_n + _plus(ops.matmul(r * h, w_hh[:, rows:]), None if b_hh is None else b_hh[rows:]))
    return n + z * (h - n), None


def prepare(spec: Spec, ops: Any, w: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """(the input bias, the step's weights) of one layer-direction's canonical weights `w`: the recurrent
    weights transposed once per call, and b_hh folded into the input bias where the cell adds it outside any
    gate product (rnn, lstm; the GRU keeps it: b_hn sits inside r * (W_hn h + b_hn))."""
    b_ih, b_hh = w["bias_ih"], w["bias_hh"]
    if spec.cell != "gru" and b_hh is not None:
        b_ih, b_hh = b_ih + b_hh, None
    step = {
        "weight_hh": ops.transpose(w["weight_hh"]),
        "bias_hh": b_hh,
        "weight_hr": None if w["weight_hr"] is None else ops.transpose(w["weight_hr"]),
        "weight_peephole": w.get("weight_peephole"),
    }
    return b_ih, step


# -- registered cells: one loop over any Cell's step ------------------------------------------------------------
# A backend runs a registered cell through `cell_forward` with its ops, which need, beyond the ops a cell's step
# gets (docs/guides/cells.md), `swap01(x)` (axes 0 and 1 swapped), `zeros(shape, like)` (zeros of like's dtype
# and device), `unstack(x)` and `stack(xs)` along the first axis, `concat0(xs)` (along the first axis, for the
# blocked scan), and `dropout(x, rate)` where the spec has dropout. Two more are optional:
#   ops.scan(body, carry, xs, reverse)      -> (carry, ys), lax.scan's contract; default `loop_scan`, a Python loop
#   ops.linear_scan(a, b, h0, reverse)      -> h (T, B, H) with h_t = a_t * h_{t-1} + b_t; default `blocked_scan`
def cell_forward(spec: Spec, ops: Any, param: Callable[[str], Any], x: Any, state: Any, mask: Any,
                 training: bool, scan: str = "parallel") -> tuple[Any, Any, Any]:  # fmt: skip
    """A registered cell's layers and directions: x in the spec's layout, state None or the parts of
    `spec.state_shapes` (one array, or a tuple of several), mask (T, B, 1) of x's dtype or None ->
    (the top layer's outputs in x's layout, (B, T, D*O) or (T, B, D*O); the final state in the state's form;
    each top-layer direction's output at the last valid step of its sequence, concatenated (B, D*O): what
    output_mode="last" reads, as it reads the final h of the built-in cells). The head is the backend's.
    `scan`: how a cell with a linear form runs, "parallel" (`ops.linear_scan`) or "sequential" (a step at a
    time through `ops.scan`); `choose_scan` resolves "auto"."""
    from seqnet.cell import get_cell

    cell = get_cell(spec.cell)
    xs = ops.swap01(x) if spec.batch_first else x
    shapes = spec.state_shapes(xs.shape[1])
    if state is None:
        state0 = tuple(ops.zeros(shape, xs) for shape in shapes.values())
    else:
        state0 = tuple(state) if len(shapes) > 1 else (state,)
    seq, finals, lasts = run_cell_stack(spec, cell, ops, param, xs, state0, mask, training, scan)
    parts = tuple(ops.stack([final[i] for final in finals]) for i in range(len(shapes)))
    last = ops.concat(lasts[-spec.num_directions :])
    return (ops.swap01(seq) if spec.batch_first else seq), (parts if len(parts) > 1 else parts[0]), last


def _bound(spec: Spec, method: Callable[..., Any]) -> Callable[..., Any]:
    """A cell's method with the keyword `spec` filled in where it takes it (for its options)."""
    import inspect

    return partial(method, spec=spec) if "spec" in inspect.signature(method).parameters else method


def cell_stepper(spec: Spec, cell: Any) -> Callable[..., tuple[Any, tuple[Any, ...]]]:
    """`cell.step` bound to `spec` (passed as the keyword `spec` where the step takes it, for its options), and
    checked: (output, new_state) with as many state parts as the cell declares, each of the shape it had, and
    an output of (B, cell.output_size(spec)). A CellError names the cell and what is wrong."""
    from seqnet.cell import CellError

    cell_step = _bound(spec, cell.step)
    out_size = cell.output_size(spec)

    def step(ops: Any, p: dict[str, Any], x: Any, state: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        result = cell_step(ops, p, x, state)
        where = f"cell {cell.name!r}: step"
        if not isinstance(result, tuple) or len(result) != 2:
            raise CellError(f"{where} must return (output, new_state), got {type(result).__name__}")
        y, new = result
        new = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        if len(new) != len(state):
            raise CellError(f"{where} returned {len(new)} state part(s); the cell declares {len(state)}: {cell.state}")
        for i in range(len(state)):  # by index, not zip: see the module docstring
            if not _same(_dims(new[i]), _dims(state[i])):
                raise CellError(f"{where} returned state part {cell.state[i]!r} of shape {_dims(new[i])}: "
                                f"expected {_dims(state[i])}")  # fmt: skip
        batch = _dims(state[0])[0]
        if not _same(_dims(y), [batch, out_size]):
            raise CellError(f"{where} returned an output of shape {_dims(y)}: expected {[batch, out_size]} "
                            "(batch, output_size)")  # fmt: skip
        return y, new

    return step


def _dims(value: Any) -> list[Any]:
    """A value's shape as a list (seqnet.inputs.known_dims: None for dims a trace leaves open), for messages."""
    if getattr(value, "shape", None) is None:
        return [f"a {type(value).__name__}, not an array"]
    return list(known_dims(value))


def _same(dims: list[Any], want: list[Any]) -> bool:
    return not dims_differ(tuple(dims), tuple(want))


def run_cell_stack(spec: Spec, cell: Any, ops: Any, param: Callable[[str], Any], xs: Any, state0: tuple[Any, ...],
                   mask: Any, training: bool,
                   scan: str = "parallel") -> tuple[Any, list[tuple[Any, ...]], list[Any]]:  # fmt: skip
    """Every layer and direction of a registered cell: xs (T, B, I), state0 the initial state's parts, each
    (L*D, B, size) -> (the top layer's outputs (T, B, D * output_size), each row's final state parts
    (layer-major, forward first), each row's output at its sequence's last valid step).

    A step past a sequence's length keeps every state part and outputs zero, as for the built-in cells. A cell
    with a linear form runs as a scan over its (a, b); any other through `ops.scan` over its step, reading
    what its `precompute` made of the inputs."""
    from seqnet.cell import has_precompute, is_linear

    linear = is_linear(cell)
    step = None if linear else cell_stepper(spec, cell)
    precompute = _bound(spec, cell.precompute) if has_precompute(cell) else None
    names = list(cell.parameters(spec, spec.input_size))
    finals: list[tuple[Any, ...]] = []
    lasts: list[Any] = []
    layer_in = xs
    for layer in range(spec.num_layers):
        outs = []
        for d, suffix in enumerate(("", "_reverse")[: spec.num_directions]):
            row = layer * spec.num_directions + d
            p = {name: param(f"{name}_l{layer}{suffix}") for name in names}
            state = tuple(part[row] for part in state0)
            if linear:
                ys, final, last = _linear_direction(spec, cell, ops, p, layer_in, state[0], mask, d == 1, scan)
            else:
                ys, final, last = _hoisted(step, ops, p, layer_in, state, mask, d == 1, cell.output_size(spec),
                                           precompute)  # fmt: skip
            outs.append(ys)
            finals.append(final)
            lasts.append(last)
        layer_in = outs[0] if len(outs) == 1 else ops.concat(outs)
        if training and spec.dropout and layer < spec.num_layers - 1:
            layer_in = ops.dropout(layer_in, spec.dropout)
    return layer_in, finals, lasts


def _hoisted(step: Any, ops: Any, p: dict, xs: Any, state: tuple[Any, ...], mask: Any, reverse: bool, out_size: int,
             precompute: Any) -> tuple[Any, tuple[Any, ...], Any]:  # fmt: skip
    """`_cell_direction` with the cell's precompute run once over all steps before the loop, or, where the ops
    have `by_platform(cpu, default)` (JAX: one traced function right on every platform), in each step on
    XLA:CPU: measured faster there, as for the built-in cells (LSTM, B 32 T 100 H 64: forward 4.2 against
    7.9 ms, training step 13.9 against 15.7 ms; H 256: 64 against 102 ms, 267 against 268 ms)."""
    if precompute is None:
        return _cell_direction(step, ops, p, xs, state, mask, reverse, out_size)

    def hoisted() -> tuple[Any, tuple[Any, ...], Any]:
        return _cell_direction(step, ops, p, precompute(ops, p, xs), state, mask, reverse, out_size)

    by_platform = getattr(ops, "by_platform", None)
    if by_platform is None:
        return hoisted()

    def per_step(ops: Any, p: dict[str, Any], x_t: Any, state: tuple[Any, ...]) -> Any:
        one = precompute(ops, p, _tree(lambda v: v[None], x_t))
        return step(ops, p, _tree(lambda v: v[0], one), state)

    return by_platform(cpu=partial(_cell_direction, per_step, ops, p, xs, state, mask, reverse, out_size),
                       default=hoisted)  # fmt: skip


def _cell_direction(step: Any, ops: Any, p: dict, xs: Any, state: tuple[Any, ...], mask: Any, reverse: bool,
                    out_size: int) -> tuple[Any, tuple[Any, ...], Any]:  # fmt: skip
    """One layer-direction of a cell's step over time: xs (T, B, K) or a tuple of such (what step reads),
    state the parts (B, size), mask (T, B, 1) or None -> (outputs (T, B, O), final state, last valid output)."""
    scan = getattr(ops, "scan", None) or partial(loop_scan, ops)
    if mask is None:  # every step valid: the last output is the last step's (the first's, reversed)

        def body(state: Any, x_t: Any) -> Any:
            y, new = step(ops, p, x_t, state)
            return new, y

        final, ys = scan(body, state, xs, reverse)
        return ys, final, ys[0] if reverse else ys[-1]

    def masked(carry: Any, inputs: Any) -> Any:  # past a length: the state kept, the output zero
        state, last = carry
        x_t, m_t = inputs
        y, new = step(ops, p, x_t, state)
        valid = m_t > 0
        y = y * m_t
        new = tuple(ops.where(valid, new[i], state[i]) for i in range(len(state)))
        return (new, ops.where(valid, y, last)), y

    last0 = ops.zeros((state[0].shape[0], out_size), state[0])
    (final, last), ys = scan(masked, (state, last0), (xs, mask), reverse)
    return ys, final, last


def _linear_direction(spec: Spec, cell: Any, ops: Any, p: dict, xs: Any, h0: Any, mask: Any, reverse: bool,
                      scan: str = "parallel"):  # fmt: skip
    """One layer-direction of a cell's linear form: h_t = a_t * h_{t-1} + b_t, a step past a length keeping h
    (a = 1, b = 0 there) -> (outputs (T, B, H), (final h,), the output at the last valid step = final h)."""
    from seqnet.cell import CellError

    a, b = _bound(spec, cell.linear)(ops, p, xs)
    want = [*_dims(xs)[:2], _dims(h0)[-1]]
    for name, value in (("a", a), ("b", b)):
        if not _same(_dims(value), want):
            raise CellError(f"cell {cell.name!r}: linear() gave {name} of shape {_dims(value)}: expected {want} "
                            "(steps, batch, hidden)")  # fmt: skip
    if mask is not None:  # exact: a * 1 + 0 = a and a * 0 + 1 = 1
        a, b = a * mask + (1 - mask), b * mask
    if scan == "sequential":
        hs = sequential_scan(ops, a, b, h0, reverse)
    else:
        hs = (getattr(ops, "linear_scan", None) or partial(blocked_scan, ops))(a, b, h0, reverse)
    final = hs[0] if reverse else hs[-1]
    return (hs if mask is None else hs * mask), (final,), final


def loop_scan(ops: Any, body: Callable[..., Any], carry: Any, xs: Any, reverse: bool) -> tuple[Any, Any]:
    """lax.scan's contract by a Python loop: xs a tree (tuples, None) of (T, ...) arrays; body(carry, x_t) ->
    (carry, y_t); returns (the last carry, the y_t stacked in time order, whichever way the loop ran)."""
    slices = _tree(lambda x: list(ops.unstack(x)), xs)  # lists: a framework's tuple of slices is not a tree
    steps = _steps(xs)
    ys: list[Any] = [None] * steps
    for t in range(steps - 1, -1, -1) if reverse else range(steps):
        carry, ys[t] = body(carry, _tree(partial(_at, t), slices))
    return carry, ops.stack(ys)


def _at(t: int, slices: list[Any]) -> Any:
    return slices[t]


def _tree(fn: Callable[[Any], Any], tree: Any) -> Any:
    if tree is None:
        return None
    if isinstance(tree, tuple):
        return tuple(_tree(fn, leaf) for leaf in tree)
    return fn(tree)


def _steps(tree: Any) -> int:
    if isinstance(tree, tuple):
        return next(_steps(leaf) for leaf in tree if leaf is not None)
    return len(tree) if isinstance(tree, list) else int(tree.shape[0])


SCANS = ("auto", "parallel", "sequential")


def choose_scan(scan: str, steps: Any, parallel_from: int | None) -> str:
    """ "auto" as "parallel" from `parallel_from` steps on (where a backend measured its parallel scan faster;
    None: nowhere), else "sequential", which also takes a T left open by a trace; the other modes as they are."""
    if scan != "auto":
        return scan
    known = isinstance(steps, int) and parallel_from is not None
    return "parallel" if known and steps >= parallel_from else "sequential"


def sequential_scan(ops: Any, a: Any, b: Any, h0: Any, reverse: bool) -> Any:
    """h (T, B, H) with h_t = a_t * h_{t-1} + b_t, a step at a time through `ops.scan` (a streaming model's
    form): the same function as the parallel scans."""
    scan = getattr(ops, "scan", None) or partial(loop_scan, ops)

    def body(h: Any, ab: Any) -> Any:
        h = ab[0] * h + ab[1]
        return h, h

    return scan(body, h0, (a, b), reverse)[1]


def blocked_scan(ops: Any, a: Any, b: Any, h0: Any, reverse: bool, block: int | None = None) -> Any:
    """h (T, B, H) with h_t = a_t * h_{t-1} + b_t from h0 (B, H), in about 3 sqrt(T) whole-array steps and O(T)
    work (a blocked scan): the steps cut into n blocks of C (C ~ sqrt(T), the end padded with a = 1, b = 0);
    (1) every block's scan from zero at once, a step at a time across the C positions of (n, B, H) arrays,
    with each position's product of a since its block began; (2) the n block ends' carries in order from h0;
    (3) h = local + product * carry. No doubling rounds (O(T log T) work) and no logarithms; products run over
    one block only, so gates near 1 lose no precision and small ones underflow to an exact 0. Reverse: from the
    last step to the first (the padding at the start)."""
    steps = int(a.shape[0])
    size = block or max(1, int(round(steps**0.5)))
    n = -(-steps // size)
    pad = n * size - steps
    if pad:
        ones, zeros = ops.zeros((pad, *a.shape[1:]), a) + 1, ops.zeros((pad, *a.shape[1:]), a)
        a = ops.concat0([ones, a] if reverse else [a, ones])
        b = ops.concat0([zeros, b] if reverse else [b, zeros])
    # position j of every block, (n, B, H) each, from the steps unstacked once (slices or indexing per block or
    # position would each cost a whole-sequence array in the backward pass: O(T sqrt T) work)
    steps_a, steps_b = ops.unstack(a), ops.unstack(b)
    at_a = [ops.stack([steps_a[k * size + j] for k in range(n)]) for j in range(size)]
    at_b = [ops.stack([steps_b[k * size + j] for k in range(n)]) for j in range(size)]
    h, p = ops.zeros((n, *a.shape[1:]), a), ops.zeros((n, *a.shape[1:]), a) + 1
    local: list[Any] = [None] * size
    prod: list[Any] = [None] * size
    for j in range(size - 1, -1, -1) if reverse else range(size):
        p = p * at_a[j]
        h = at_a[j] * h + at_b[j]
        local[j], prod[j] = h, p
    ends = 0 if reverse else size - 1  # where each block's scan ends: its carry into the next block
    end_prod, end_local = ops.unstack(prod[ends]), ops.unstack(local[ends])
    carries: list[Any] = [None] * n
    carry = h0
    for k in range(n - 1, -1, -1) if reverse else range(n):
        carries[k] = carry
        carry = end_prod[k] * carry + end_local[k]
    carry_in = ops.stack(carries)  # (n, B, H): the h each block starts from
    out = ops.stack([local[j] + prod[j] * carry_in for j in range(size)])  # (C, n, B, H)
    out = ops.concat0(list(ops.unstack(ops.swap01(out))))  # (n * C, B, H), in time order
    return out[pad:] if reverse else out[:steps]


# -- what tracing ops share (ONNX's and LiteRT's graphs of a cell's step): trees of values, broadcast shapes --
def broadcast_shape(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """NumPy's broadcast of two shapes, with open dims: 1 gives way to anything, equal dims stay."""
    width = max(len(a), len(b))
    a, b = (1,) * (width - len(a)) + tuple(a), (1,) * (width - len(b)) + tuple(b)
    out = []
    for m, n in zip(a, b, strict=True):
        out.append(n if m == 1 else m if n == 1 or m == n else (m if isinstance(m, int) else n))
    return tuple(out)


def flatten(tree: Any) -> tuple[list[Any], Any]:
    """The Values of a tree of tuples (None kept as a leaf-less node) and the tree's form."""
    if tree is None:
        return [], None
    if isinstance(tree, (tuple, list)):
        leaves, forms = [], []
        for item in tree:
            sub, form = flatten(item)
            leaves += sub
            forms.append((len(sub), form))
        return leaves, ("tuple", forms)
    return [tree], "leaf"


def unflatten(form: Any, leaves: list[Any]) -> Any:
    if form is None:
        return None
    if form == "leaf":
        return leaves[0]
    out, at = [], 0
    for count, sub in form[1]:
        out.append(unflatten(sub, leaves[at : at + count]))
        at += count
    return tuple(out)


class GraphOps:
    """What an ops class that builds a graph (ONNX's, LiteRT's) writes once from its primitives: the unary ops
    by name (`UNARY`: seqnet's name -> the graph's operator, built by the subclass's `_unary`), softplus and
    var."""

    UNARY: dict[str, Any] = {}

    def _unary(self, kind: Any) -> Callable[[Any], Any]:
        raise NotImplementedError

    def mean(self, x: Any) -> Any:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        if name in type(self).UNARY:
            return self._unary(type(self).UNARY[name])
        raise AttributeError(name)

    def softplus(self, x: Any) -> Any:  # log(1 + e^x) without overflow: relu(x) + log(1 + e^-|x|)
        return self.relu(x) + self.log(1 + self.exp(-self.abs(x)))

    def var(self, x: Any) -> Any:
        centred = x - self.mean(x)
        return self.mean(centred * centred)
