"""seqnet: one recurrent-model definition, every framework.

Write a `Spec` once (rnn, lstm, gru, or a `Cell` of your own registered with `register_cell`);
`build(spec, backend=...)` compiles it into a native NumPy, PyTorch, PaddlePaddle, JAX or ONNX Runtime model;
one canonical weight set (`Weights`, PyTorch's names and layouts) makes them all compute the same function.
Importing seqnet imports no deep-learning framework.
"""

from __future__ import annotations

from seqnet import stream as stream  # model.step(x_t, state) on every backend
from seqnet.build import build, predict, weights_of
from seqnet.cell import Cell, cells, register_cell
from seqnet.convert import export_onnx, export_tflite, from_framework, from_state_dict, to_framework, to_state_dict
from seqnet.errors import (
    BackendError,
    BackendUnavailable,
    ConversionError,
    FileFormatError,
    InputError,
    NotExpressible,
    SeqnetError,
    SpecError,
    TrainingError,
    WeightsError,
)
from seqnet.io import load, save
from seqnet.protocols import Model
from seqnet.registry import (
    Backend,
    Converter,
    backends,
    default_backend,
    register_backend,
    register_converter,
    set_backend,
)
from seqnet.spec import Spec
from seqnet.training import History, fit, gradient_flow, value_and_grad
from seqnet.weights import Weights, as_weights, init_weights, layout

__version__ = "0.2.0"  # the one place: pyproject.toml reads it, CHANGELOG.md records it

__all__ = [
    "Backend",
    "BackendError",
    "Cell",
    "BackendUnavailable",
    "ConversionError",
    "Converter",
    "FileFormatError",
    "History",
    "InputError",
    "NotExpressible",
    "Model",
    "SeqnetError",
    "Spec",
    "SpecError",
    "TrainingError",
    "Weights",
    "WeightsError",
    "as_weights",
    "backends",
    "build",
    "cells",
    "default_backend",
    "export_onnx",
    "export_tflite",
    "fit",
    "from_framework",
    "from_state_dict",
    "gradient_flow",
    "init_weights",
    "layout",
    "load",
    "predict",
    "register_backend",
    "register_cell",
    "set_backend",
    "register_converter",
    "save",
    "to_framework",
    "to_state_dict",
    "value_and_grad",
    "weights_of",
    "__version__",
]
