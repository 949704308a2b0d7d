"""The exceptions seqnet raises.

Requirements: none (standard library only).

Every error seqnet raises for bad input is a `SeqnetError`, and also a `ValueError` (or, for a missing
framework, an `ImportError`), so code that already catches the built-in kinds keeps working.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class SeqnetError(Exception):
    """Base class of every seqnet error."""


class SpecError(SeqnetError, ValueError):
    """A `Spec` field has a value that is not allowed."""


class WeightsError(SeqnetError, ValueError):
    """Weights whose names or shapes do not fit a spec (the message lists every problem)."""


class InputError(SeqnetError, ValueError):
    """A model was called with an input, state or lengths that do not fit its spec."""


class FileFormatError(SeqnetError, ValueError):
    """A saved seqnet file is truncated, corrupted or does not fit its own spec."""


class BackendError(SeqnetError, ValueError):
    """An unknown backend, or a backend that cannot do what was asked."""


class ConversionError(SeqnetError, ValueError):
    """A framework's layer, checkpoint or file that seqnet cannot convert, or a Spec a framework's own layer
    cannot express (the message names the attribute or field, its value and why)."""


class NotExpressible(ConversionError):
    """A Spec that a framework's own standard layer cannot express (a sigmoid RNN in torch.nn, a projected
    LSTM in Keras): the message names the field, its value, why, and the seqnet backend that runs the spec.
    A ConversionError, so code that catches those catches this too."""


class TrainingError(SeqnetError, FloatingPointError):
    """Training diverged: the loss became NaN or infinite (the message names the step, epoch and the remedies).

    `history` holds the steps before it (a `seqnet.History`) and `weights` the last finite weights."""

    def __init__(self, message: str, history: object = None, weights: object = None):
        super().__init__(message)
        self.history = history
        self.weights = weights


class BackendUnavailable(SeqnetError, ImportError):
    """A registered backend whose framework is not installed here."""


def import_framework(module: str, message: str, frameworks: tuple[str, ...] = ()) -> ModuleType:
    """`module`, imported; BackendUnavailable(message) only where the import failed because a framework is not
    installed: a ModuleNotFoundError for one of the top-level packages `frameworks` (default: `module`'s own).
    Any other error raised while importing (a bug in seqnet's own backend module, a broken framework install)
    propagates as it is, traceback and all."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing and missing in (frameworks or (module.split(".")[0],)):
            raise BackendUnavailable(message) from exc
        raise
