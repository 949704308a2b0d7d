"""Recurrent cells: the `Cell` class a cell of your own subclasses, and the one registry that knows every cell.

Requirements: none at import (standard library); `Cell.init` draws with NumPy. A cell's `step` is written once
against the `ops` a backend passes (seqnet.generic's, documented in docs/guides/cells.md), never against a
framework, so one definition runs on every backend.

A cell declares (the Keras 3 `RNN(cell)` contract, made framework-free):

    name                        the name Spec(cell=...) takes
    state = ("h",)              the parts of its state, in order (an LSTM's ("h", "c"))
    parameters(spec, input_size) -> {name: shape}      for one layer and direction; canonical weights are
                                                       "{name}_l{k}" and "{name}_l{k}_reverse"
    step(ops, params, x, state) -> (output, new_state)  x (B, input_size); state a tuple of (B, size) arrays

and may override `state_sizes(spec)` (default hidden_size for every part), `output_size(spec)` (default
hidden_size: the features each direction gives the next layer), `init(name, shape, spec, rng)` (default
torch's U(-1/sqrt(H), 1/sqrt(H))) and `options` (its own Spec options with their defaults, validated and saved
with the Spec as `Spec(cell_options={...})`) and `activations` (the values `Spec.activation` takes for it, its
default first; without them the field stays "tanh").

The built-in rnn, lstm and gru are registered here too, with minGRU and minLSTM (Feng et al. 2024, linear forms,
below): their parameters are the canonical layout of
seqnet.weights and their equations the steps of `_RNN`, `_LSTM` and `_GRU` below, which every backend's generic
path runs; backends keep their frameworks' fused layers for the specs those express. (Those steps take the
keyword `spec`, as the contract allows; mypy sees a narrower override, hence its ignores.)
A package adds cells through the entry-point group "seqnet.cells" (a Cell instance or a Cell subclass):

    [project.entry-points."seqnet.cells"]
    indrnn = "my_package.cells:IndRNN"
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from seqnet.errors import SpecError

ENTRY_POINT_GROUP = "seqnet.cells"
BUILTIN = ("rnn", "lstm", "gru", "mingru", "minlstm")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = re.compile(r"_l\d+(_reverse)?$|^head$")
_OPTION_TYPES = (bool, int, float, str)


class CellError(SpecError):
    """A cell that breaks the Cell contract (a bad name, parameters, state or step), named with what is wrong."""


class Cell:
    """A recurrent cell, written once for every backend. Subclass it, set `name` and `state`, define
    `parameters` and `step` (see the module docstring), and register an instance with `seqnet.register_cell`.

    Shapes: in `step`, x is (B, input_size), each state part (B, state_sizes[part]); it returns the output
    (B, output_size) and the new state, a tuple of as many parts of the same shapes.
    """

    name: str = ""
    state: tuple[str, ...] = ("h",)
    options: dict[str, Any] = {}
    activations: tuple[str, ...] = ()  # the values Spec.activation may take for this cell, its default first

    def parameters(self, spec: Any, input_size: int) -> dict[str, tuple[int, ...]]:
        """The parameters of one layer and direction: name -> shape, in terms of `spec` and the layer's input."""
        raise NotImplementedError(f"cell {self.name!r} defines no parameters(spec, input_size)")

    def step(self, ops: Any, params: dict[str, Any], x: Any, state: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        """One step: (output, new state) from x (B, input_size) and the state's parts."""
        raise NotImplementedError(f"cell {self.name!r} defines no step(ops, params, x, state)")

    def precompute(self, ops: Any, params: dict[str, Any], xs: Any) -> Any:
        """Optional: what `step` reads as its x, computed once over every step before the loop (the input
        products, so that one big matrix product replaces T small ones, as the fused layers do).

        xs (T, B, input_size) -> an array (T, B, K) or a tuple of such arrays; `step` then gets the t-th slice
        (a tuple of slices). Each step's value must come from that step's input alone. Default: xs itself.
        """
        return xs

    def linear(self, ops: Any, params: dict[str, Any], xs: Any) -> tuple[Any, Any]:
        """Optional, for a linear recurrence h_t = a_t * h_{t-1} + b_t whose a_t and b_t come from the inputs
        alone (minGRU, minLSTM): (a, b), each (T, B, hidden_size), from xs (T, B, input_size).

        A cell that defines it has one state part, outputs that part, and needs no `step`: seqnet runs it as a
        scan, in parallel (log2 T rounds) where the backend has one.
        """
        raise NotImplementedError(f"cell {self.name!r} has no linear form")

    def positive_state(self, spec: Any) -> bool:
        """Whether `spec`'s initial state must be non-negative (a call with a negative one is refused)."""
        return False

    def state_sizes(self, spec: Any) -> dict[str, int]:
        """The size of each state part (default: hidden_size for each)."""
        return {part: spec.hidden_size for part in self.state}

    def output_size(self, spec: Any) -> int:
        """The features each direction outputs, and the next layer reads (default: hidden_size)."""
        return int(spec.hidden_size)

    def init(self, name: str, shape: tuple[int, ...], spec: Any, rng: Any) -> Any:
        """The initial value of parameter `name` (default: torch's U(-1/sqrt(H), 1/sqrt(H)), in float64)."""
        bound = 1.0 / spec.hidden_size**0.5
        return rng.uniform(-bound, bound, size=shape)

    def __repr__(self) -> str:
        return f"<seqnet cell {self.name!r}: state {self.state}>"


_cells: dict[str, Cell] = {}
_read = False


def _checked(cell: Any) -> Cell:
    """`cell` (an instance, or a subclass to instantiate) after the checks that need no Spec."""
    if isinstance(cell, type) and issubclass(cell, Cell):
        cell = cell()
    if not isinstance(cell, Cell):
        raise CellError(f"register_cell needs a seqnet.Cell (an instance or a subclass), got {type(cell).__name__}")
    where = f"cell {cell.name!r} ({type(cell).__name__})"
    if not isinstance(cell.name, str) or not _NAME.match(cell.name):
        raise CellError(f"{where}: name must be lowercase letters, digits and underscores, starting with a letter")
    state = cell.state
    if not isinstance(state, tuple) or not state or not all(isinstance(p, str) and _PARAM.match(p) for p in state):
        raise CellError(f"{where}: state must be a non-empty tuple of part names such as ('h',) or ('h', 'c')")
    if len(set(state)) != len(state):
        raise CellError(f"{where}: state {state} names a part twice")
    if not isinstance(cell.options, dict) or not all(isinstance(k, str) for k in cell.options):
        raise CellError(f"{where}: options must be a dict of option name -> default")
    if is_linear(cell):
        if len(state) != 1:
            raise CellError(f"{where}: a cell with a linear form has one state part (its output), not {state}")
    elif type(cell).step is Cell.step:
        raise CellError(f"{where}: defines neither step(ops, params, x, state) nor linear(ops, params, xs)")
    for key, default in cell.options.items():
        if not isinstance(default, _OPTION_TYPES):
            raise CellError(f"{where}: option {key!r} has default {default!r}: a bool, int, float or str")
    return cell


def is_linear(cell: Cell) -> bool:
    """Whether `cell` defines a linear form (`Cell.linear`), so that seqnet runs it as a scan."""
    return type(cell).linear is not Cell.linear


def has_precompute(cell: Cell) -> bool:
    """Whether `cell` computes part of its step over every step before the loop (`Cell.precompute`)."""
    return type(cell).precompute is not Cell.precompute


def check_parameters(cell: Cell, spec: Any, input_size: int) -> dict[str, tuple[int, ...]]:
    """`cell.parameters(spec, input_size)`, checked: names that can be canonical names, positive int shapes."""
    shapes = cell.parameters(spec, input_size)
    where = f"cell {cell.name!r}"
    if not isinstance(shapes, dict) or not shapes:
        raise CellError(f"{where}: parameters() must return a non-empty dict of name -> shape, got {shapes!r}")
    for name, shape in shapes.items():
        if not isinstance(name, str) or not _PARAM.match(name) or _RESERVED.search(name):
            raise CellError(f"{where}: parameter name {name!r} is not allowed: lowercase letters, digits and "
                            "underscores, not ending in _l<k> or _reverse (seqnet adds those), not 'head'")  # fmt: skip
        if (not isinstance(shape, tuple) or not shape
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)):  # fmt: skip
            raise CellError(f"{where}: parameter {name!r} has shape {shape!r}: a tuple of positive integers")
    return shapes


def register_cell(cell: Any, *, replace: bool = False) -> Cell:
    """Add a cell to the registry (the entry-point group "seqnet.cells" is the other way).

    Parameters
    ----------
    cell : Cell
        An instance of a `seqnet.Cell` subclass (or the subclass itself).
    replace : bool
        Replace a cell of the same name (else that is an error); the built-in rnn, lstm and gru cannot be replaced.

    Returns
    -------
    Cell

    Raises
    ------
    CellError
        Not a Cell, a bad name or state, a name already registered.
    """
    cell = _checked(cell)
    known = cells()
    if cell.name in BUILTIN:
        if cell is _BUILTIN_CELLS[cell.name]:  # the built-in itself (check_cell registers what it checks)
            return cell
        raise CellError(f"cell name {cell.name!r} is a built-in cell's; choose another name")
    if cell.name in known and not replace and type(known[cell.name]) is not type(cell):
        raise CellError(f"a cell named {cell.name!r} is already registered ({known[cell.name]!r}); pass replace=True")
    _cells[cell.name] = cell
    return cell


def cells() -> dict[str, Cell]:
    """Every registered cell by name: the built-ins first, then entry points and run-time registrations."""
    global _read
    if not _read:
        _read = True
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                found = _checked(entry.load())
            except Exception as exc:  # a broken plugin must not break seqnet
                import warnings

                warnings.warn(f"seqnet cell plugin {entry.name!r} failed to load: {exc}", stacklevel=2)
                continue
            if found.name not in BUILTIN:
                _cells.setdefault(found.name, found)
    return {**{name: _BUILTIN_CELLS[name] for name in BUILTIN}, **dict(sorted(_cells.items()))}


def get_cell(name: Any) -> Cell:
    """The registered cell `name`, or a SpecError listing the registered ones."""
    known = cells()
    if not isinstance(name, str) or name not in known:
        raise SpecError(f"Spec.cell={name!r} is not allowed: one of the registered cells {list(known)} "
                        "(seqnet.register_cell adds one)")  # fmt: skip
    return known[name]


class _Builtin(Cell):
    """rnn, lstm and gru as registered cells: their parameters are seqnet.weights' canonical layout (PyTorch's),
    their equations the steps below, which every backend without a fused layer for a spec runs through the
    registry's generic loop (seqnet.generic.cell_forward); backends keep their frameworks' fused layers for the
    specs those can express. The input products run once over all steps (`precompute`), with b_hh folded into
    them where it sits outside every gate product (rnn, lstm; not the GRU's b_hn, inside r * (W_hn h + b_hn))."""

    def __init__(self, name: str, state: tuple[str, ...]):
        self.name, self.state = name, state

    def parameters(self, spec: Any, input_size: int) -> dict[str, tuple[int, ...]]:
        from seqnet.weights import layout

        shapes = {k[: -len("_l0")]: v for k, v in layout(spec).items() if k.endswith("_l0")}
        return {**shapes, "weight_ih": (shapes["weight_ih"][0], input_size)}

    def state_sizes(self, spec: Any) -> dict[str, int]:
        return {"h": spec.hidden_out, "c": spec.hidden_size} if self.name == "lstm" else {"h": spec.hidden_out}

    def output_size(self, spec: Any) -> int:
        return int(spec.hidden_out)

    def precompute(self, ops: Any, p: dict[str, Any], xs: Any, spec: Any) -> Any:  # type: ignore[override]
        """W_ih x + b_ih (+ b_hh for rnn and lstm) for every step: (T, B, G*H)."""
        bias = p.get("bias_ih")
        if bias is not None and self.name != "gru":
            bias = bias + p["bias_hh"]
        return ops.linear(xs, p["weight_ih"], bias)


class _RNN(_Builtin):
    def step(self, ops: Any, p: dict[str, Any], gx: Any, state: tuple[Any, ...], spec: Any) -> Any:  # type: ignore[override]  # noqa: E501
        """h' = act(gx + W_hh h), act tanh, relu or sigmoid (Spec.activation)."""
        act = {"tanh": ops.tanh, "relu": ops.relu, "sigmoid": ops.sigmoid}[spec.activation]
        h = act(gx + ops.linear(state[0], p["weight_hh"], None))
        return h, (h,)


class _LSTM(_Builtin):
    def step(self, ops: Any, p: dict[str, Any], gx: Any, state: tuple[Any, ...], spec: Any) -> Any:  # type: ignore[override]  # noqa: E501
        """(i, f, g, o) = split(gx + W_hh h); c' = sig(f) c + sig(i) tanh(g); h' = sig(o) tanh(c') (W_hr h' with a
        projection). With peepholes (rows (i, f, o) of weight_peephole): i += p_i c, f += p_f c, o += p_o c'."""
        h, c = state
        i, f, g, o = ops.split(gx + ops.linear(h, p["weight_hh"], None), 4)
        peep = p.get("weight_peephole")
        if peep is not None:  # (3, H): each row a (1, H) slice, broadcast over the batch
            i, f = i + peep[0:1] * c, f + peep[1:2] * c
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        if peep is not None:
            o = o + peep[2:3] * c
        h = ops.sigmoid(o) * ops.tanh(c)
        if "weight_hr" in p:
            h = ops.linear(h, p["weight_hr"], None)
        return h, (h, c)


class _GRU(_Builtin):
    def step(self, ops: Any, p: dict[str, Any], gx: Any, state: tuple[Any, ...], spec: Any) -> Any:  # type: ignore[override]  # noqa: E501
        """r, z = sig(gx_r + W_hr h + b_hr), sig(gx_z + W_hz h + b_hz); n = tanh(gx_n + r * (W_hn h + b_hn))
        (reset_after, PyTorch's) or tanh(gx_n + W_hn (r * h) + b_hn) (reset_before); h' = n + z * (h - n)."""
        h = state[0]
        w, b = p["weight_hh"], p.get("bias_hh")
        x_r, x_z, x_n = ops.split(gx, 3)
        if spec.gru_variant == "reset_after":
            h_r, h_z, h_n = ops.split(ops.linear(h, w, b), 3)
            r, z = ops.sigmoid(x_r + h_r), ops.sigmoid(x_z + h_z)
            n = ops.tanh(x_n + r * h_n)
        else:
            rows = 2 * spec.hidden_size
            h_r, h_z = ops.split(ops.linear(h, w[:rows], None if b is None else b[:rows]), 2)
            r, z = ops.sigmoid(x_r + h_r), ops.sigmoid(x_z + h_z)
            n = ops.tanh(x_n + ops.linear(r * h, w[rows:], None if b is None else b[rows:]))
        h = n + z * (h - n)
        return h, (h,)


def _g(ops: Any, x: Any) -> Any:
    """The paper's g: x + 0.5 for x >= 0, sigmoid(x) below (continuous, positive), as relu(x) + sigmoid(min(x, 0))."""
    return ops.relu(x) + ops.sigmoid(-ops.relu(-x))


class _MinRecurrence(Cell):
    """minGRU and minLSTM ("Were RNNs All We Needed?", Feng et al. 2024, section 3): gates from the input alone,
    so h_t = a_t * h_{t-1} + b_t is linear and a whole sequence runs as one parallel scan. One weight matrix,
    `weight_ih` (K*H, I) with K row blocks, and `bias_ih` (K*H,) with Spec.bias; no hidden-to-hidden weights.
    Spec.activation "identity" is the plain form (h~ = W_h x + b_h), "g" the log-space form (h~ = g(W_h x + b_h),
    states kept positive; seqnet's scan needs no logarithms, as it multiplies no long products of its own)."""

    state = ("h",)
    activations = ("identity", "g")
    blocks = 0

    def parameters(self, spec: Any, input_size: int) -> dict[str, tuple[int, ...]]:
        rows = self.blocks * spec.hidden_size
        return {"weight_ih": (rows, input_size), **({"bias_ih": (rows,)} if spec.bias else {})}

    def positive_state(self, spec: Any) -> bool:
        return bool(spec.activation == "g")

    def candidate(self, ops: Any, pre: Any, spec: Any) -> Any:
        return _g(ops, pre) if spec.activation == "g" else pre


class _MinGRU(_MinRecurrence):
    name, blocks = "mingru", 2

    def linear(self, ops: Any, p: dict[str, Any], xs: Any, spec: Any) -> tuple[Any, Any]:  # type: ignore[override]
        """(z, h~) = split(W_ih x + b_ih); z = sigmoid(z); h' = (1 - z) h + z h~: a = 1 - z, b = z h~."""
        z, h = ops.split(ops.linear(xs, p["weight_ih"], p.get("bias_ih")), 2)
        z = ops.sigmoid(z)
        return 1 - z, z * self.candidate(ops, h, spec)


class _MinLSTM(_MinRecurrence):
    name, blocks = "minlstm", 3

    def linear(self, ops: Any, p: dict[str, Any], xs: Any, spec: Any) -> tuple[Any, Any]:  # type: ignore[override]
        """(f, i, h~) = split(W_ih x + b_ih); f, i = sigmoid(f), sigmoid(i), each divided by f + i;
        h' = f h + i h~: a = f, b = i h~."""
        f, i, h = ops.split(ops.linear(xs, p["weight_ih"], p.get("bias_ih")), 3)
        f, i = ops.sigmoid(f), ops.sigmoid(i)
        total = f + i
        return f / total, (i / total) * self.candidate(ops, h, spec)


_BUILTIN_CELLS: dict[str, Cell] = {"rnn": _RNN("rnn", ("h",)), "lstm": _LSTM("lstm", ("h", "c")),
                                   "gru": _GRU("gru", ("h",)), "mingru": _MinGRU(), "minlstm": _MinLSTM()}  # fmt: skip
