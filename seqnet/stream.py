"""One step of a stream: `model.step(x_t, state)` on every backend, the call a cell's users make.

Requirements: none (the model's own framework, through the model).

Streaming models (voice activity, keyword spotting, online decoders) run one time step per call and carry the
state from call to call, as torch's `nn.LSTMCell` or Paddle's `LSTMCell` are called. Every backend's model has
`step(x_t, state=None) -> (y_t, state)`:

- x_t (B, input_size): one time step, no time axis;
- y_t (B, D*H_out), or (B, output_size) with a head: the model's output at that step (for
  ``output_mode="last"`` the same, the last step being this one);
- state in the model's own layout, h (L*D, B, H_out) and for an LSTM c (L*D, B, H), so a stream can start from
  a whole sequence's final state and hand its state back to a whole-sequence call.

`step` is defined by `model(x_t[:, None], state)` (time-major: `x_t[None]`): this module writes that once for
every backend, and a backend may answer faster (torch runs its cell functions directly).
"""

from __future__ import annotations

from typing import Any

from seqnet.errors import InputError, SpecError
from seqnet.spec import Spec


class Steps:
    """A model class's `step`, through the model's own call (`step` below): what every backend's model class
    inherits unless its framework has a faster way (torch's, which runs its cell functions)."""

    def step(self, x_t: Any, state: Any = None) -> tuple[Any, Any]:
        """One time step of a stream: x_t (B, I) -> (y_t (B, D*H_out or output_size), state); see seqnet.stream."""
        return step(self, x_t, state)


def check_step(spec: Spec, x_t: Any) -> None:
    """Refuse, by name, a step x_t that is not (B, input_size), or a spec that cannot stream."""
    if spec.bidirectional:
        raise SpecError(
            "step: bidirectional=True cannot stream (its reverse direction reads the future); call the model on "
            "the whole sequence instead"
        )
    shape = tuple(getattr(x_t, "shape", ()))
    if len(shape) != 2 or shape[1] != spec.input_size:
        raise InputError(
            f"step: x_t must be one time step of shape (B, input_size={spec.input_size}), got "
            f"{shape if hasattr(x_t, 'shape') else type(x_t).__name__}; a whole sequence goes to model(x, state)"
        )


def step(model: Any, x_t: Any, state: Any = None) -> tuple[Any, Any]:
    """One step of `model` (any backend's) through its whole-sequence call: (y_t, state), as the module says.

    Parameters
    ----------
    model : Model
        A model made by seqnet.build (its own framework's arrays in and out).
    x_t : array (B, input_size)
        One time step.
    state : array or pair of arrays, optional
        h (L*D, B, H_out), for an LSTM (h, c) with c (L*D, B, hidden_size); zeros if None.

    Returns
    -------
    y_t : array
        (B, D*H_out), or (B, output_size) with a head.
    state : array or pair of arrays
        The state after this step, in the layout of ``state``.
    """
    spec = model.spec
    check_step(spec, x_t)
    out, state = model(x_t[:, None] if spec.batch_first else x_t[None], state)
    if spec.output_mode == "last":
        return out, state
    return (out[:, 0] if spec.batch_first else out[0]), state
