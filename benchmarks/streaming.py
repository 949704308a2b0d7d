"""Per-call overhead: one step, batch 1, the state carried from call to call (streaming use).

Requirements: numpy; the measured group's framework.

For an LSTM (input 32, hidden 64 and 256), each implementation is called on one time step of one sequence
with an initial state (h, c) (seqnet's models both ways: `model(x_t[:, None], state)` and the streaming call
`model.step(x_t, state)`), as a streaming application calls it with the previous call's state (the same
state is given every time: its shapes and dtypes are what a carried one has); a timed sample is 200 such calls, and
samples of the implementations of one framework alternate. seqnet's model goes through all its input checks
on every call; the anchors are the framework's own layer called directly (torch nn.LSTM, paddle.nn.LSTM under
no_grad in eval mode; for JAX a jitted lax.scan over the same step; NumPy and ONNX Runtime have no other
layer: their rows stand alone) and, for torch and Paddle, the framework's own cell (nn.LSTMCell,
paddle.nn.LSTMCell) called on x_t (B, I) with the same weights, as a streaming model written with cells calls it;
`model.step` is the row held to it.
`python -m seqnet_benchmarks.streaming --groups torch,paddle --out DIR` measures these rows alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import seqnet

from .timing import interleaved

CALLS = 200  # calls per timed sample
ROUNDS = 80  # samples per implementation at most: a ratio of two ~5% apart needs many on a shared machine
HIDDEN = (64, 256)


def _numpy(spec: seqnet.Spec, w: Any, x: np.ndarray, state: Any) -> dict[str, Callable[[], Any]]:
    model = seqnet.build(spec, "numpy", w)
    return {"seqnet-numpy": lambda: model(x, state)}


def _torch(spec: seqnet.Spec, w: Any, x: np.ndarray, state: Any) -> dict[str, Callable[[], Any]]:
    import torch

    model = seqnet.build(spec, "torch", w).eval()
    layer = model.rnn
    xt, st = torch.from_numpy(x), tuple(torch.from_numpy(s) for s in state)

    def seqnet_call():
        with torch.no_grad():
            return model(xt, st)

    def own_call():
        with torch.no_grad():
            return layer(xt, st)

    cell = seqnet.to_framework(spec, w, "torch", cell=True).eval()
    x_t, cell_state = xt[:, 0].contiguous(), (st[0][0], st[1][0])

    def step_call():
        with torch.no_grad():
            return model.step(x_t, st)

    def cell_call():
        with torch.no_grad():
            return cell(x_t, cell_state)

    return {"seqnet-torch": seqnet_call, "seqnet-torch-step": step_call, "torch-nn": own_call, "torch-cell": cell_call}


def _paddle(spec: seqnet.Spec, w: Any, x: np.ndarray, state: Any) -> dict[str, Callable[[], Any]]:
    from seqnet_backends.paddle.model import paddle

    model = seqnet.build(spec, "paddle", w)
    model.eval()
    layer = model.rnn
    xt, st = paddle.to_tensor(x), tuple(paddle.to_tensor(s) for s in state)

    def seqnet_call():
        with paddle.no_grad():
            return model(xt, st)

    def own_call():
        with paddle.no_grad():
            return layer(xt, st)

    cell = seqnet.to_framework(spec, w, "paddle", cell=True)
    cell.eval()
    x_t, cell_state = xt[:, 0], (st[0][0], st[1][0])

    def step_call():
        with paddle.no_grad():
            return model.step(x_t, st)

    def cell_call():
        with paddle.no_grad():
            return cell(x_t, cell_state)

    return {"seqnet-paddle": seqnet_call, "seqnet-paddle-step": step_call, "paddle-nn": own_call,
            "paddle-cell": cell_call}  # fmt: skip


def _jax(spec: seqnet.Spec, w: Any, x: np.ndarray, state: Any) -> dict[str, Callable[[], Any]]:
    import jax
    import jax.numpy as jnp

    from .impl_jax import hand_scan

    model = seqnet.build(spec, "jax", w)
    xj, st = jnp.asarray(x), tuple(jnp.asarray(s) for s in state)
    hand = jax.jit(lambda p, xs, state: hand_scan(spec, p, xs, state))  # the state carried, as seqnet's
    return {
        "seqnet-jax": lambda: model(xj, st)[0].block_until_ready(),
        "jax-hand-scan": lambda: hand(model.params, xj, st)[0].block_until_ready(),
    }


def _onnxruntime(spec: seqnet.Spec, w: Any, x: np.ndarray, state: Any) -> dict[str, Callable[[], Any]]:
    model = seqnet.build(spec, "onnxruntime", w)
    return {"seqnet-onnxruntime": lambda: model(x, state)}


def _litert(spec: seqnet.Spec, w: Any, x: np.ndarray, state: Any) -> dict[str, Callable[[], Any]]:
    model = seqnet.build(spec, "litert", w)
    x_t = np.ascontiguousarray(x[:, 0])
    return {"seqnet-litert": lambda: model(x, state), "seqnet-litert-step": lambda: model.step(x_t, state)}


GROUPS = {"numpy": _numpy, "torch": _torch, "paddle": _paddle, "jax": _jax, "onnxruntime": _onnxruntime,
          "litert": _litert}  # fmt: skip


def streaming(group: str, budget: float) -> list[dict[str, Any]]:
    """Microseconds per one-step call of each implementation of `group`, for each hidden size."""
    rows = []
    for hidden in HIDDEN:
        spec = seqnet.Spec("lstm", 32, hidden)
        w = seqnet.init_weights(spec)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((1, 1, 32)).astype(np.float32)
        state = tuple((0.1 * rng.standard_normal((1, 1, hidden))).astype(np.float32) for _ in range(2))
        calls = GROUPS[group](spec, w, x, state)

        def repeated(fn: Callable[[], Any]) -> Callable[[], None]:
            def run() -> None:
                for _ in range(CALLS):
                    fn()

            return run

        measured = interleaved(
            {name: repeated(fn) for name, fn in calls.items()}, max_rounds=ROUNDS, budget_s=2 * budget
        )
        for name, stats in measured.items():
            rows.append({"group": group, "impl": name, "hidden": hidden,
                         "us_per_call": 1e3 * stats["median_ms"] / CALLS, "iqr_us": 1e3 * stats["iqr_ms"] / CALLS,
                         "repeats": stats["repeats"]})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure the per-call rows of --groups, each in a process of its own with its threads pinned, and write
    DIR/cpu-streaming.{json,md}: the ratios and the times."""
    import argparse
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from .report import streaming_ratios
    from .timing import machine, thread_env

    parser = argparse.ArgumentParser(prog="python -m seqnet_benchmarks.streaming")
    parser.add_argument("--groups", default="numpy,torch,paddle,jax,onnxruntime,litert")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--budget", type=float, default=3.0, help="seconds per implementation and size, about")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # in a process of its own, threads set before the framework's import
        print(json.dumps(streaming(args.worker, args.budget)))
        return 0
    rows = []
    for group in args.groups.split(","):
        done = subprocess.run([sys.executable, "-m", "seqnet_benchmarks.streaming", "--worker", group, "--budget",
                               str(args.budget)], env={**os.environ, **thread_env(args.threads)}, check=True,
                              capture_output=True, text=True)  # fmt: skip
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    result = {"machine": {**machine(), "threads": args.threads}, "streaming": rows,
              "streaming_ratios": streaming_ratios(rows)}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cpu-streaming.json").write_text(json.dumps(result, indent=1) + "\n")
    where = ", ".join(f"{k} {v}" for k, v in result["machine"].items())
    lines = ["# Per-call overhead: one step, batch 1, state carried (LSTM, input 32)", "", where, "",
             "| comparison | hidden | ratio | goal |", "|---|---|---|---|"]  # fmt: skip
    for r in result["streaming_ratios"]:
        goal = "-" if r["goal"] is None else f"<= {r['goal']}"
        lines.append(f"| {r['ratio']} | {r['hidden']} | {r['value']:.2f} | {goal} |")
    lines += ["", "| implementation | hidden | µs per call (IQR) |", "|---|---|---|"]
    lines += [f"| {r['impl']} | {r['hidden']} | {r['us_per_call']:.1f} ({r['iqr_us']:.1f}) |" for r in rows]
    (out / "cpu-streaming.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
