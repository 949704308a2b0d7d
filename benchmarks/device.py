"""On the device: LiteRT files' sizes, their quantised weights' error, and their forward time against ONNX Runtime.

Requirements: numpy, ai-edge-litert, onnx and onnxruntime.

For an LSTM, a GRU and a tanh RNN at sizes S and M (benchmarks/workloads.py, one layer), each written by
seqnet.export_tflite with float32, float16 and int8 weight matrices: the file's size; the largest difference of
its outputs from the NumPy backend's float64 forward on the same inputs; and the forward time (median of
interleaved rounds, threads pinned) of the float32 file on LiteRT's Interpreter (XNNPACK delegate, LiteRT's
default) on its default path and on the WHILE-loop path (fused=False), against seqnet's onnxruntime backend.
`python -m seqnet_benchmarks.device --out DIR` writes DIR/cpu-litert-device.{json,md}; the deploying guide
includes the markdown.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

import seqnet

from .timing import interleaved, machine
from .workloads import SIZES, inputs, spec_for

QUANTIZE = (None, "float16", "int8")


def measure(cell: str, size: str, threads: int, budget: float) -> dict[str, Any]:
    """One row: sizes and errors per quantisation, forward times per runtime and path."""
    spec = spec_for(cell, size)
    weights = seqnet.init_weights(spec, seed=0)
    x, _ = inputs(spec, size)
    want, _ = seqnet.build(spec, "numpy", weights, "float64")(np.asarray(x, np.float64))
    row: dict[str, Any] = {"cell": cell, "size": size}
    for quantize in QUANTIZE:
        model = seqnet.build(spec, "litert", weights, threads=threads, quantize=quantize)
        label = quantize or "float32"
        row[f"bytes_{label}"] = len(model.tflite())
        row[f"error_{label}"] = float(np.abs(model(x)[0] - want).max())
    default = seqnet.build(spec, "litert", weights, threads=threads)
    loops = seqnet.build(spec, "litert", weights, threads=threads, fused=False)
    ort = seqnet.build(spec, "onnxruntime", weights, threads=threads)
    calls = {"litert": lambda: default(x), "onnxruntime": lambda: ort(x)}
    if default.fused:
        calls["litert-while"] = lambda: loops(x)
    timed = interleaved(calls, budget_s=budget)
    row["fused"] = default.fused
    row.update({f"ms_{name}": stats["median_ms"] for name, stats in timed.items()})
    return row


def markdown(result: dict[str, Any]) -> str:
    where = ", ".join(f"{k} {v}" for k, v in result["machine"].items())
    lines = [
        "LiteRT files written by `seqnet.export_tflite` (`python -m seqnet_benchmarks.device`; " + where + "):",
        "",
        "| cell | size | file float32 / float16 / int8 (KB) | max error vs float64: float32 / float16 / int8 |"
        " LiteRT forward (ms) | WHILE loops (ms) | ONNX Runtime (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        labels = [q or "float32" for q in QUANTIZE]
        sizes = " / ".join(f"{r['bytes_' + q] / 1024:.0f}" for q in labels)
        errors = " / ".join(f"{r['error_' + q]:.1e}" for q in labels)
        path = "fused" if r["fused"] else "WHILE"
        loops = f"{r['ms_litert-while']:.1f}" if "ms_litert-while" in r else "-"
        lines.append(f"| {r['cell']} | {r['size']} | {sizes} | {errors} | {r['ms_litert']:.1f} ({path}) | {loops} "
                     f"| {r['ms_onnxruntime']:.1f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqnet_benchmarks.device")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timed rounds per row, about")
    parser.add_argument("--sizes", default="S,M")
    parser.add_argument("--cells", default="lstm,gru,rnn")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    rows = [measure(cell, size, args.threads, args.budget) for size in args.sizes.split(",")
            for cell in args.cells.split(",")]  # fmt: skip
    result = {"machine": {**machine(), "threads": args.threads}, "sizes": {s: SIZES[s] for s in args.sizes.split(",")},
              "rows": rows}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu-litert-device.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "cpu-litert-device.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
