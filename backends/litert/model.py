"""The LiteRT backend: a Spec written as a LiteRT flatbuffer (export.py) and run by ai-edge-litert's Interpreter,
the runtime of phones and microcontrollers. Inference only, float32, NumPy in and out (as onnxruntime's).

Requirements: ai-edge-litert (>= 2) and numpy.

`seqnet.build(spec, "litert", weights, threads=None, fused=None)` returns a `LiteRTModel`. fused=None writes
LiteRT's fused sequence operators where they express the spec (UNIDIRECTIONAL_SEQUENCE_LSTM and _RNN) and
WHILE loops over the cell's step elsewhere; fused=True refuses a spec they cannot express, fused=False writes
the WHILE loops for every spec. A call with lengths runs the WHILE-loop file (the fused operators take no
lengths). Each file is written once, on first use, and kept with its Interpreter; a call of another batch or
length resizes the Interpreter's inputs (their shape signature is -1) and allocates again.

Shapes as every backend's: x (B, T, I), or (T, B, I) with batch_first=False; state h (L*D, B, H_out) and for
an LSTM c (L*D, B, H); lengths (B,).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from seqnet.errors import BackendError
from seqnet.inputs import checked_numpy
from seqnet.spec import Spec
from seqnet.stream import Steps
from seqnet.weights import Weights

from .export import export, missing_form, state_inputs
from .graph import QUANTIZE


class LiteRTModel(Steps):
    """A seqnet model run by LiteRT's Interpreter: `outputs, state = model(x, state=None, lengths=None)`."""

    seqnet_backend = "litert"

    def __init__(self, spec: Spec, weights: Weights, threads: int | None = None, fused: bool | None = None,
                 quantize: str | None = None):  # fmt: skip
        self.spec, self.weights, self.dtype = spec, weights, "float32"
        self.threads, self.fused_option, self.quantize = threads, fused, quantize
        self._runners: dict[bool, Any] = {}
        self._runner(False)  # written (and checked by LiteRT) now: a spec it cannot take fails at build

    @property
    def fused(self) -> bool:
        """Whether a call without lengths runs LiteRT's fused sequence operators (else WHILE loops)."""
        return self.fused_option is not False and missing_form(self.spec, self.quantize) is None

    def __repr__(self) -> str:
        return f"LiteRTModel({self.spec}, fused={self.fused}, quantize={self.quantize!r})"

    def tflite(self, lengths: bool = False) -> bytes:
        """The flatbuffer this model runs (with a `lengths` input if asked)."""
        return export(self.spec, self.weights, lengths=lengths, fused=self.fused_option, quantize=self.quantize)

    def _runner(self, lengths: bool) -> Any:
        if lengths not in self._runners:
            from ai_edge_litert.interpreter import Interpreter

            # LiteRT's default: its builtin kernels with the XNNPACK delegate, measured 1.0-2.5x faster than
            # without it on 2 CPU cores (the WHILE loops' FULLY_CONNECTED most; the fused LSTM kernel itself is
            # LiteRT's own either way)
            self._runners[lengths] = _Runner(Interpreter(model_content=self.tflite(lengths), num_threads=self.threads))
        return self._runners[lengths]

    def __call__(self, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
        spec = self.spec
        x, state, lengths = checked_numpy(spec, "litert", x, state, lengths)
        batch = x.shape[0] if spec.batch_first else x.shape[1]
        shapes = spec.state_shapes(batch)
        parts = (state if isinstance(state, tuple) else (state,)) if state is not None else None
        feeds = [x] + ([lengths.astype(np.int32)] if lengths is not None else [])
        for i, shape in enumerate(shapes.values()):  # each part's rows: the file's inputs h_l0, h_l0_reverse, ...
            whole = parts[i] if parts is not None else np.zeros(shape, np.float32)
            feeds += [np.ascontiguousarray(row) for row in whole]
        outputs = self._runner(lengths is not None).run(feeds)
        rows = spec.num_layers * spec.num_directions
        final = [np.stack(outputs[1 + i * rows : 1 + (i + 1) * rows]) for i in range(len(shapes))]
        return outputs[0], (tuple(final) if len(final) > 1 else final[0])


class _Runner:
    """One Interpreter and the input shapes it is allocated for."""

    def __init__(self, interpreter: Any):
        self.interpreter = interpreter
        self.inputs = [d["index"] for d in interpreter.get_input_details()]
        self.outputs = [d["index"] for d in interpreter.get_output_details()]
        self.shapes: list[tuple[int, ...]] | None = None

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        it = self.interpreter
        shapes = [f.shape for f in feeds]
        if shapes != self.shapes:
            for index, shape in zip(self.inputs, shapes, strict=True):
                it.resize_tensor_input(index, list(shape), strict=False)
            with quiet_stderr(self.shapes is None):  # the delegate's "INFO: Created ... XNNPACK" at first
                it.allocate_tensors()
            self.shapes = shapes
        for index, value in zip(self.inputs, feeds, strict=True):
            it.set_tensor(index, value)
        it.invoke()
        return [it.get_tensor(index).copy() for index in self.outputs]


@contextlib.contextmanager
def quiet_stderr(quiet: bool) -> Iterator[None]:
    """The process's stderr (file descriptor 2, where LiteRT's C++ logs) sent to /dev/null for the block: the
    XNNPACK delegate announces itself there on an Interpreter's first allocation. An error still raises, with
    its message; anything else another thread prints meanwhile is lost."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def build(spec: Spec, weights: Weights, dtype: str = "float32", threads: int | None = None,
          fused: bool | None = None, quantize: str | None = None) -> LiteRTModel:  # fmt: skip
    """The LiteRT model of `spec` with `weights` (float32 only; LiteRT's kernels are float32); quantize="int8" or
    "float16" stores the weight matrices so (export_tflite's quantize=)."""
    if dtype != "float32":
        raise BackendError(f"dtype={dtype!r} is not allowed for the litert backend: 'float32' (LiteRT's float kernels)")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise BackendError(f"threads={threads!r} is not allowed: a positive integer or None")
    if fused not in (None, True, False):
        raise BackendError(f"fused={fused!r} is not allowed: True, False or None")
    if quantize not in QUANTIZE:
        raise BackendError(f"quantize={quantize!r} is not allowed: one of {QUANTIZE}")
    return LiteRTModel(spec, weights.astype("float32"), threads, fused, quantize)


def weights_of(model: LiteRTModel) -> Weights:
    return model.weights


def to_numpy(value: Any) -> np.ndarray:
    return np.asarray(value)


def from_numpy(value: Any, model: Any = None) -> np.ndarray:
    return np.asarray(value)


__all__ = ["LiteRTModel", "build", "export", "from_numpy", "state_inputs", "to_numpy", "weights_of"]
