"""ONNX Runtime implementation: seqnet's onnxruntime backend (the spec exported to ONNX's standard operators).

Requirements: onnx and onnxruntime. Forward only: ONNX Runtime serves models, it does not train them; its
ratios are taken against the NumPy and torch rows of the same size and cell (other processes of the run).
"""

from __future__ import annotations

import seqnet

from .workloads import Impl, inputs


def implementations(spec, size, threads, device="cpu"):
    weights = seqnet.init_weights(spec)
    x, _ = inputs(spec, size)
    model = seqnet.build(spec, "onnxruntime", weights, threads=threads)
    return [Impl("seqnet-onnxruntime", "onnxruntime", lambda: model(x), None, lambda: model(x)[0])]
