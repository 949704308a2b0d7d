"""LiteRT implementation: seqnet's litert backend (the spec written as a LiteRT flatbuffer, run by ai-edge-litert's
Interpreter), on its default path (LiteRT's fused sequence operators for the LSTM and the tanh/relu RNN, WHILE
loops for the GRU) and, where the fused path exists, on the WHILE-loop path too.

Requirements: ai-edge-litert. Forward only: LiteRT runs models, it does not train them; its ratios are taken
against the ONNX Runtime and torch rows of the same size and cell (other processes of the run).
"""

from __future__ import annotations

import seqnet

from .workloads import Impl, inputs


def implementations(spec, size, threads, device="cpu"):
    weights = seqnet.init_weights(spec)
    x, _ = inputs(spec, size)
    model = seqnet.build(spec, "litert", weights, threads=threads)
    impls = [Impl("seqnet-litert", "litert", lambda: model(x), None, lambda: model(x)[0])]
    if model.fused:
        loops = seqnet.build(spec, "litert", weights, threads=threads, fused=False)
        impls.append(Impl("seqnet-litert-while", "litert, WHILE loops", lambda: loops(x), None, lambda: loops(x)[0]))
    return impls
