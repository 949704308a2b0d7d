"""The ONNX Runtime backend: a Spec exported to ONNX (export.py) and run by onnxruntime. Inference only.

Requirements: onnx and onnxruntime.

`seqnet.build(spec, "onnxruntime", weights, providers=None, threads=None, opset=None)` returns an `OnnxRNN`,
called like every other model on NumPy arrays: `outputs, state = model(x, state=None, lengths=None)`. The
graph is exported once per combination of optional inputs actually used (lengths, initial state) and its
InferenceSession kept, so a call feeds only what it has. float32 only: ONNX Runtime's CPU RNN, LSTM and GRU
kernels have no float64 ("LSTM operator does not support double yet", onnxruntime 1.32). Gradients: none
(`seqnet.value_and_grad` says so); train on another backend and export the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnet.errors import InputError
from seqnet.inputs import checked_numpy
from seqnet.spec import Spec
from seqnet.stream import Steps
from seqnet.weights import Weights

from .convert import _session
from .export import export


class OnnxRNN(Steps):
    """A seqnet model as ONNX run by onnxruntime. `model.onnx(lengths=False, initial_state=False)` is the
    ModelProto it runs; `model.weights` the canonical weights it was exported from."""

    seqnet_backend = "onnxruntime"

    def __init__(self, spec: Spec, weights: Weights, providers: Any = None, threads: int | None = None,
                 opset: int | None = None):  # fmt: skip
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise InputError(f"threads={threads!r} is not allowed: None or a positive integer")
        self.spec, self.weights, self.dtype = spec, weights, "float32"
        self.providers, self.threads, self.opset = providers, threads, opset
        self._sessions: dict[tuple[bool, bool], Any] = {}
        # export (and check) now: a bad opset fails at build, not at the first call, which then runs this graph
        self._exported = {(False, False): self.onnx()}

    def __repr__(self) -> str:
        return f"OnnxRNN({self.spec}, providers={self.providers or ['CPUExecutionProvider']})"

    def onnx(self, lengths: bool = False, initial_state: bool = False) -> Any:
        return export(self.spec, self.weights, opset=self.opset, lengths=lengths, initial_state=initial_state)

    def _session(self, lengths: bool, state: bool) -> Any:
        key = (lengths, state)
        if key not in self._sessions:
            graph = self._exported.pop(key, None)
            if graph is None:
                graph = self.onnx(lengths, state)
            self._sessions[key] = _session(graph.SerializeToString(), self.providers, self.threads)
        return self._sessions[key]

    def __call__(self, x: Any, state: Any = None, lengths: Any = None) -> tuple[np.ndarray, Any]:
        x, state, lengths = checked_numpy(self.spec, "onnxruntime", x, state, lengths)
        feeds: dict[str, np.ndarray] = {"x": x}
        if lengths is not None:
            feeds["lengths"] = lengths.astype(np.int64)
        names = list(self.spec.state_shapes(1))  # the state's parts: h (and c), or a registered cell's
        if state is not None:
            parts = state if len(names) > 1 else (state,)
            feeds.update(zip((f"{part}0" for part in names), parts, strict=True))
        results = self._session(lengths is not None, state is not None).run(None, feeds)
        return results[0], (tuple(results[1:]) if len(names) > 1 else results[1])


# -- the backend's functions (the same names in every backend) ---------------------------------------------
def build(spec: Spec, weights: Weights, dtype: str = "float32", providers: Any = None, threads: int | None = None,
          opset: int | None = None) -> OnnxRNN:  # fmt: skip
    """An `OnnxRNN`: `providers` for onnxruntime (default CPU), `threads` its intra-op threads, `opset` the
    ONNX opset (default 17)."""
    return OnnxRNN(spec, weights.astype("float32"), providers, threads, opset)


def weights_of(model: OnnxRNN) -> Weights:
    return model.weights


def to_numpy(value: Any) -> np.ndarray:
    return np.asarray(value)


def from_numpy(value: Any, model: OnnxRNN) -> np.ndarray:
    return np.asarray(value)
