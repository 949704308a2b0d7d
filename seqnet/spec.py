"""`Spec`: one framework-free description of a recurrent model.

Requirements: none (standard library only).

A Spec is immutable, hashable, validated when constructed, and round-trips through `to_dict()` /
`Spec.from_dict()` and JSON. Every invalid value raises `SpecError` naming the field, the value and what is
allowed, before any framework sees it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from seqnet.errors import SpecError

CELLS = ("rnn", "lstm", "gru")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
GRU_VARIANTS = ("reset_after", "reset_before")
OUTPUT_MODES = ("sequence", "last")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Spec:
    """A recurrent model: cell, sizes, stacking, direction and an optional linear head; immutable, hashable,
    validated when constructed.

    Parameters
    ----------
    cell : str
        "rnn", "lstm", "gru", or a cell registered with `seqnet.register_cell` (see `seqnet.cells()`).
    input_size, hidden_size : int
        I and H.
    num_layers : int
        Stacked layers; layer k > 0 reads layer k-1's outputs.
    bidirectional : bool
        A reverse direction beside the forward one in every layer.
    bias : bool
        The bias_ih and bias_hh vectors.
    batch_first : bool
        x as (B, T, I); False: (T, B, I).
    dropout : float
        In [0, 1), between stacked layers, in training only.
    activation : str, optional
        The RNN's nonlinearity: "tanh" (its default), "relu" or "sigmoid"; minGRU's and minLSTM's candidate:
        "identity" (their default, the paper's plain form) or "g" (the log-space form, g(x) = x + 0.5 for x >= 0,
        sigmoid(x) below, states kept positive); a registered cell's `activations`, the first its default.
        Default (None): the cell's default ("tanh" for the cells without a choice).
    proj_size : int
        An LSTM's projection of h to P < H units (0: none).
    gru_variant : str
        "reset_after" (cuDNN, PyTorch) or "reset_before" (Cho et al. 2014).
    output_size : int, optional
        A linear head on the outputs.
    output_mode : str
        "sequence" (the head on every step) or "last" (on the final states of the top layer's directions).
    cell_options : dict, optional
        A registered cell's own options (its `options` lists them with their defaults); read with `option`.
    peephole : bool
        An LSTM's peephole connections (Gers and Schmidhuber 2000; ONNX's LSTM input P, TensorFlow's
        `use_peepholes`): the input and forget gates see c_{t-1}, the output gate sees c_t, through the weights
        `weight_peephole_l{k}` (3, H), rows (i, f, o).

    Raises
    ------
    SpecError
        Naming the field, the value and what is allowed.

    Notes
    -----
    Shapes, with B batch, T steps, D = 2 if bidirectional else 1, H_out = proj_size or hidden_size: x is
    (B, T, input_size), or (T, B, input_size) when batch_first=False; outputs (B, T, D*H_out); the state h
    (num_layers*D, B, H_out), for an LSTM the pair (h, c) with c (num_layers*D, B, hidden_size); a head's
    outputs (B, T, output_size) for output_mode="sequence", (B, output_size) for "last".
    """

    cell: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    batch_first: bool = True
    dropout: float = 0.0
    activation: str = None  # type: ignore[assignment]  # None: the cell's default, set in __post_init__
    proj_size: int = 0
    gru_variant: str = "reset_after"
    output_size: int | None = None
    output_mode: str = "sequence"
    cell_options: Any = ()
    peephole: bool = False  # the last field, added last: positional arguments keep their meaning

    def __post_init__(self) -> None:
        options = self.cell_options
        if isinstance(options, dict):  # stored as sorted (name, value) pairs: a Spec stays hashable
            object.__setattr__(self, "cell_options", tuple(sorted(options.items())))
        if self.activation is None:
            object.__setattr__(self, "activation", _default_activation(self.cell))
        _validate(self)

    def option(self, name: str) -> Any:
        """A registered cell's option: the value given in `cell_options`, else the cell's default."""
        from seqnet.cell import get_cell

        given = dict(self.cell_options)
        defaults = get_cell(self.cell).options
        if name not in given and name not in defaults:
            raise SpecError(f"cell {self.cell!r} has no option {name!r}: its options {sorted(defaults)}")
        return given.get(name, defaults.get(name))

    # -- derived sizes ---------------------------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        """D: 2 for a bidirectional spec, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def gates(self) -> int:
        """G: the number of gate blocks stacked in each weight matrix (rnn 1, gru 3, lstm 4; 0 for a registered
        cell of a user's, whose parameters its own `parameters` gives)."""
        return GATES.get(self.cell, 0)

    @property
    def builtin(self) -> bool:
        """Whether the cell is one of seqnet's rnn, lstm and gru (else a registered cell of a user's)."""
        return self.cell in CELLS

    @property
    def positive_state(self) -> bool:
        """Whether the state must be non-negative (the cell's `positive_state`: minGRU's and minLSTM's log-space
        form, activation="g")."""
        if self.cell in CELLS:
            return False
        from seqnet.cell import get_cell

        return bool(get_cell(self.cell).positive_state(self))

    @property
    def hidden_out(self) -> int:
        """H_out: the features each direction outputs (proj_size for a projected LSTM, a registered cell's
        `output_size`, else hidden_size)."""
        if self.cell not in CELLS:
            from seqnet.cell import get_cell

            return get_cell(self.cell).output_size(self)
        return self.proj_size or self.hidden_size

    @property
    def features_out(self) -> int:
        """The last dimension of the model's outputs (head size if there is a head)."""
        return self.output_size if self.output_size is not None else self.num_directions * self.hidden_out

    def layer_input_size(self, layer: int) -> int:
        """The input size of stacked layer `layer` (0-based): input_size, then D*H_out."""
        return self.input_size if layer == 0 else self.num_directions * self.hidden_out

    def state_shapes(self, batch: int) -> dict[str, tuple[int, int, int]]:
        """The final state's parts and their shapes for `batch` sequences, in order: {"h": (L*D, B, H_out),
        "c": (L*D, B, hidden_size)} for an LSTM, {"h": (L*D, B, H_out)} otherwise. A model's state is the tuple
        of these parts where there are several, the one array where there is one."""
        rows = self.num_layers * self.num_directions
        if self.cell not in CELLS:
            from seqnet.cell import get_cell

            return {part: (rows, batch, size) for part, size in get_cell(self.cell).state_sizes(self).items()}
        shapes = {"h": (rows, batch, self.hidden_out)}
        if self.cell == "lstm":
            shapes["c"] = (rows, batch, self.hidden_size)
        return shapes

    def output_shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of the model's outputs for an input of shape `x_shape` (in the spec's layout)."""
        if self.output_mode == "last":
            return (x_shape[0] if self.batch_first else x_shape[1], self.features_out)
        return tuple(x_shape[:2]) + (self.features_out,)

    # -- serialisation ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-compatible values.

        Returns
        -------
        dict of str to value
        """
        data = asdict(self)
        data["cell_options"] = dict(self.cell_options)
        if not data["cell_options"]:
            del data["cell_options"]  # a built-in cell's dict, as before registered cells existed
        if not data["peephole"]:
            del data["peephole"]  # as before peepholes existed: files older seqnet versions read
        return data

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if f.name != "cell_options" and (f.name != "peephole" or self.peephole)]  # fmt: skip
        if self.cell_options:
            shown.append(f"cell_options={dict(self.cell_options)!r}")
        return f"Spec({', '.join(shown)})"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        """The Spec `to_dict` describes.

        Parameters
        ----------
        data : dict
            Field to value; missing optional fields take their defaults.

        Returns
        -------
        Spec

        Raises
        ------
        SpecError
            Not a dict, an unknown key, a required field missing, a value not allowed.
        """
        if not isinstance(data, dict):
            raise SpecError(f"Spec.from_dict needs a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown Spec field(s) {unknown}; allowed: {sorted(known)}")
        missing = [k for k in ("cell", "input_size", "hidden_size") if k not in data]
        if missing:
            raise SpecError(f"Spec.from_dict: required field(s) {missing} missing")
        return cls(**data)

    def to_json(self) -> str:
        """The Spec as a JSON object, keys sorted."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Spec:
        """The Spec `to_json` wrote (SpecError for invalid JSON or values)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"Spec JSON is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def activations_of(cell: str) -> tuple[str, ...]:
    """The activations cell `cell` takes, its default first: the RNN's, a registered cell's `activations`, else
    ("tanh",), the field's value for a cell without a choice."""
    if cell == "rnn":
        return ACTIVATIONS
    if cell in CELLS:
        return ("tanh",)
    from seqnet.cell import get_cell

    return tuple(get_cell(cell).activations) or ("tanh",)


def _default_activation(cell: Any) -> str:
    try:
        return activations_of(cell)[0]
    except SpecError:  # an unknown cell: the validation that follows names it
        return "tanh"


def _validate_cell(spec: Spec) -> None:
    from seqnet.cell import CellError, check_parameters, get_cell, is_linear

    cell = get_cell(spec.cell)  # a SpecError listing the registered cells
    options = spec.cell_options
    if not isinstance(options, tuple) or not all(isinstance(o, tuple) and len(o) == 2 for o in options):
        raise SpecError(f"Spec.cell_options={options!r} is not allowed: a dict of option name -> value")
    for key, value in options:
        if key not in cell.options:
            raise SpecError(f"Spec.cell_options has {key!r}, which cell {spec.cell!r} does not take: its options "
                            f"{sorted(cell.options)}")  # fmt: skip
        default = cell.options[key]
        kinds = (int, float) if isinstance(default, float) else (type(default),)
        if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, kinds):
            raise SpecError(f"Spec.cell_options[{key!r}]={value!r} is not allowed: a {type(default).__name__}, as "
                            f"its default {default!r}")  # fmt: skip
    sizes = cell.state_sizes(spec)
    if list(sizes) != list(cell.state) or not all(_is_int(n) and n >= 1 for n in sizes.values()):
        raise CellError(f"cell {spec.cell!r}: state_sizes() gave {sizes!r}: a positive size for each of {cell.state}")
    out = cell.output_size(spec)
    if not _is_int(out) or out < 1:
        raise CellError(f"cell {spec.cell!r}: output_size() gave {out!r}: a positive integer")
    if is_linear(cell) and out != sizes[cell.state[0]]:
        raise CellError(f"cell {spec.cell!r} has a linear form, so it outputs its state: output_size() gave {out}, "
                        f"its state part {cell.state[0]!r} has {sizes[cell.state[0]]}")  # fmt: skip
    shapes = check_parameters(cell, spec, spec.input_size)
    if not spec.bias and check_parameters(cell, replace(spec, bias=True), spec.input_size) == shapes:
        raise SpecError(f"Spec.bias=False is not allowed: True (the default) for cell={spec.cell!r}, whose parameters "
                        "do not depend on Spec.bias")  # fmt: skip


def _validate(spec: Spec) -> None:
    def fail(field: str, allowed: str) -> None:
        raise SpecError(f"Spec.{field}={getattr(spec, field)!r} is not allowed: {allowed}")

    if spec.cell not in CELLS:
        _validate_cell(spec)  # a registered cell of a user's: known, its options, its parameters
    elif spec.cell_options:
        fail("cell_options", f"() for cell={spec.cell!r}: cell_options is for registered cells (seqnet.register_cell)")
    for name in ("input_size", "hidden_size", "num_layers"):
        value = getattr(spec, name)
        if not _is_int(value) or value < 1:
            fail(name, "a positive integer")
    for name in ("bidirectional", "bias", "batch_first", "peephole"):
        if not isinstance(getattr(spec, name), bool):
            fail(name, "True or False")
    if isinstance(spec.dropout, bool) or not isinstance(spec.dropout, (int, float)):
        fail("dropout", "a number in [0, 1)")
    if not 0.0 <= spec.dropout < 1.0:
        fail("dropout", "a number in [0, 1)")
    if spec.dropout > 0 and spec.num_layers == 1:
        fail("dropout", "0 when num_layers=1 (dropout applies between stacked layers only)")
    allowed = activations_of(spec.cell)
    if spec.activation not in allowed:
        if len(allowed) == 1:
            fail("activation", f"{allowed[0]!r} (the default) for cell={spec.cell!r}, which has no other")
        fail("activation", f"one of {allowed} for cell={spec.cell!r}")
    if not _is_int(spec.proj_size) or spec.proj_size < 0:
        fail("proj_size", "a non-negative integer")
    if spec.proj_size and spec.cell != "lstm":
        fail("proj_size", f"0 for cell={spec.cell!r}; proj_size applies to cell='lstm' only")
    if spec.proj_size >= spec.hidden_size and spec.proj_size:
        fail("proj_size", f"smaller than hidden_size={spec.hidden_size}")
    if spec.peephole and spec.cell != "lstm":
        fail("peephole", f"False (the default) for cell={spec.cell!r}; peepholes apply to cell='lstm' only")
    if spec.gru_variant not in GRU_VARIANTS:
        fail("gru_variant", f"one of {GRU_VARIANTS}")
    if spec.gru_variant != "reset_after" and spec.cell != "gru":
        fail("gru_variant", f"'reset_after' (the default) for cell={spec.cell!r}; it applies to cell='gru' only")
    if spec.output_size is not None and (not _is_int(spec.output_size) or spec.output_size < 1):
        fail("output_size", "None or a positive integer")
    if spec.output_mode not in OUTPUT_MODES:
        fail("output_mode", f"one of {OUTPUT_MODES}")
