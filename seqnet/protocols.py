"""`Model`: the protocol every model `seqnet.build` returns satisfies, whatever its backend.

Requirements: none (standard library only).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from seqnet.spec import Spec

State = Any
"""A model's state: one array h (L*D, B, H_out), or for an LSTM the pair (h, c), c (L*D, B, H)."""


@runtime_checkable
class Model(Protocol):
    """A model of any backend: its Spec, its backend's name, and the call every backend shares.

    Attributes
    ----------
    seqnet_backend : str
        The registered backend that built it ("numpy", "torch", ...).
    spec : Spec
        What it computes.
    """

    seqnet_backend: str
    spec: Spec

    def __call__(self, x: Any, state: State = None, lengths: Any = None) -> tuple[Any, State]:
        """Run the model.

        Parameters
        ----------
        x : array of the backend's framework
            (B, T, input_size), or (T, B, input_size) with ``spec.batch_first=False``.
        state : array or pair of arrays, optional
            The initial state: h (L*D, B, H_out), for an LSTM (h, c) with c (L*D, B, hidden_size).
        lengths : integer array (B,), optional
            Each sequence's length in 1..T (PyTorch's packed-sequence meaning).

        Returns
        -------
        outputs : array
            (B, T, D*H_out), (B, T, output_size) with a head, or (B, output_size) for ``output_mode="last"``.
        state : array or pair of arrays
            The final state, in the layout of ``state``.
        """
        ...

    def step(self, x_t: Any, state: State = None) -> tuple[Any, State]:
        """One time step of a stream, x_t (B, input_size) -> (y_t, state): what ``model(x_t[:, None], state)``
        computes, the state in the model's layout. `seqnet.stream.step` defines it (its parameters and
        returns); a backend may answer faster."""
        ...
