"""The benchmark harness: `seqnet bench [--quick]` (or `python -m seqnet_benchmarks.run`).

Requirements: numpy; each framework that is installed is measured, the others are skipped.

Processes: each framework is measured in a fresh process of its own (`--worker GROUP`), started with
OMP/MKL/OpenBLAS thread variables and XLA's intra-op threads set to --threads (default: the machine's
cores), and torch.set_num_threads / Paddle's set_num_threads called with the same number. One process per
framework because frameworks disturb each other's thread pools: paddle.nn.LSTM's forward at size M took
380 ms after JAX had run in the same process and 85-100 ms in a process of its own (2 cores, measured).
The load average is recorded before and after every measurement, so a disturbed run is visible.

Method: for each size and cell, a framework's implementations are timed interleaved (one call of each in
turn, repeated) after warm-up; each figure is the median with its interquartile range. Outputs of
implementations that share seqnet's weights are compared with seqnet's first ("max_diff").
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import seqnet

from .timing import interleaved, load_average, machine, thread_env
from .workloads import CELLS, SIZES, flops, spec_for

GROUPS = {
    "numpy": "numpy",
    "torch": "torch",
    "paddle": "paddle",
    "jax": "jax",
    "onnxruntime": "onnxruntime",
    "litert": "ai_edge_litert",
}  # each group's module
GPU_GROUPS = ("torch", "paddle", "jax")  # what --device cuda measures: the frameworks with GPU kernels
DISTS = ("numpy", "torch", "paddlepaddle", "jax", "jaxlib", "flax", "keras", "onnxruntime", "ai-edge-litert")


def _available(group: str) -> bool:
    return importlib.util.find_spec(GROUPS[group]) is not None


class DeviceUnavailable(Exception):
    """--device names a device this group cannot use here."""


def check_device(group: str, device: str) -> None:
    """A DeviceUnavailable saying why `group` cannot run on `device` (nothing to check for the CPU)."""
    if device == "cpu":
        return
    if group not in GPU_GROUPS:
        raise DeviceUnavailable(f"{group} runs on the CPU only; --device cuda measures {', '.join(GPU_GROUPS)}")
    if group == "torch":
        import torch

        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)"
            )
    elif group == "paddle":
        from seqnet_backends.paddle.model import paddle

        if not paddle.device.is_compiled_with_cuda() or paddle.device.cuda.device_count() < 1:
            raise DeviceUnavailable("paddle sees no CUDA device (a CPU build, or no GPU)")
    else:
        import jax

        if not any(d.platform == "gpu" for d in jax.devices()):
            raise DeviceUnavailable(
                f"jax sees no GPU, only {[d.platform for d in jax.devices()]} (install jax[cuda12])"
            )


def accelerator(group: str, device: str) -> dict[str, Any]:
    """What `group` runs on with --device cuda and the float32 settings that decide its speed there: the GPU's
    name, the framework's CUDA and cuDNN versions, and whether float32 matrix products may use TF32."""
    if device == "cpu":
        return {}
    if group == "torch":
        import torch

        return {
            "gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        }  # fmt: skip
    if group == "paddle":
        from seqnet_backends.paddle.model import paddle

        return {"gpu": paddle.device.cuda.get_device_name(0), "cuda": paddle.version.cuda(),
                "cudnn": paddle.version.cudnn()}  # fmt: skip
    import jax

    gpu = jax.devices("gpu")[0]
    return {"gpu": gpu.device_kind, "default_matmul_precision": str(jax.config.jax_default_matmul_precision)}


def gemm_peak(group: str, device: str = "cpu") -> float:
    """float32 matrix product throughput in GFLOP/s: the best of repeated n x n products (n 1024 on the CPU,
    8192 on a GPU), the peak the forward passes are measured against."""
    n = 8192 if device == "cuda" else 1024
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    if group in ("numpy", "onnxruntime", "litert"):
        fn = lambda: a @ a  # noqa: E731
    elif group == "torch":
        import torch

        t = torch.from_numpy(a).to(device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        fn = lambda: (torch.mm(t, t), sync())  # noqa: E731
    elif group == "paddle":
        from seqnet_backends.paddle.model import paddle

        t = paddle.to_tensor(a)
        fn = lambda: paddle.matmul(t, t).numpy()  # noqa: E731
    else:
        import jax
        import jax.numpy as jnp

        t = jax.device_put(jnp.asarray(a), jax.devices("gpu" if device == "cuda" else "cpu")[0])
        dot = jax.jit(jnp.dot)
        fn = lambda: dot(t, t).block_until_ready()  # noqa: E731
    stats = interleaved({"gemm": fn}, warmup=3, min_rounds=10, max_rounds=40, budget_s=2.0)["gemm"]
    return 2 * n**3 / (stats["min_ms"] / 1e3) / 1e9


def forward_rows(
    group: str, cell: str, size: str, threads: int, budget: float, device: str = "cpu"
) -> tuple[list[dict], list]:
    """Forward time of every implementation of `group` at one size and cell: (rows, the implementations)."""
    spec = spec_for(cell, size)
    module = importlib.import_module(f"{__package__}.impl_{group}")
    impls = module.implementations(spec, size, threads, device)
    ref = impls[0].output() if impls[0].output else None
    load_before = load_average()
    forward = interleaved({i.name: i.forward for i in impls}, budget_s=budget)
    load_after = load_average()
    work = flops(spec, SIZES[size]["batch"], SIZES[size]["steps"])
    rows = []
    for impl in impls:
        diff = None
        if ref is not None and impl.output is not None:
            diff = float(np.max(np.abs(impl.output() - ref)))
        fwd = forward[impl.name]
        rows.append({
            "size": size, "cell": cell, "group": group, "impl": impl.name, "note": impl.note,
            "forward_ms": fwd["median_ms"], "forward_iqr_ms": fwd["iqr_ms"], "forward_repeats": fwd["repeats"],
            "train_ms": None, "train_iqr_ms": None, "forward_gflops": work / (fwd["median_ms"] / 1e3) / 1e9,
            "max_diff": diff, "load_before": load_before, "load_after": load_after,
        })  # fmt: skip
    return rows, impls


def add_train_times(rows: list[dict], impls: list, budget: float) -> None:
    """Time the training steps of `impls` (interleaved) into their rows."""
    trains = {i.name: i.train_step for i in impls if i.train_step is not None}
    if not trains:
        return
    trained = interleaved(trains, budget_s=budget)
    load = load_average()
    for row in rows:
        if row["impl"] in trained:
            row["train_ms"] = trained[row["impl"]]["median_ms"]
            row["train_iqr_ms"] = trained[row["impl"]]["iqr_ms"]
            row["train_repeats"] = trained[row["impl"]]["repeats"]
            row["load_after_train"] = load


def _device_options(group: str, device: str) -> dict[str, Any]:
    """The build options that place seqnet's `group` model on `device`."""
    if device == "cpu" or group not in GPU_GROUPS:
        return {}
    if group == "jax":
        import jax

        return {"device": jax.devices("gpu")[0]}
    return {"device": "gpu" if group == "paddle" else "cuda"}


def scaling(group: str, steps_list: list[int], batches: list[int], budget: float, device: str = "cpu") -> list[dict]:
    """Forward time of seqnet's `group` backend against T (B 32) and against B (T 100), LSTM, I 32, H 64;
    peak memory where the framework reports it (NumPy, through tracemalloc)."""
    rows = []
    spec = seqnet.Spec("lstm", 32, 64)
    model = seqnet.build(spec, group, seqnet.init_weights(spec), **_device_options(group, device))
    for axis, values in (("steps", steps_list), ("batch", batches)):
        for value in values:
            batch, steps = (32, value) if axis == "steps" else (value, 100)
            x = np.random.default_rng(0).standard_normal((batch, steps, 32)).astype(np.float32)
            run = _forward_fn(group, model, _native(group, model, x))
            stats = interleaved({"f": run}, warmup=1, min_rounds=3, max_rounds=10, budget_s=budget)["f"]
            peak = None
            if group == "numpy":
                tracemalloc.start()
                run()
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
            rows.append({
                "group": group, "axis": axis, "batch": batch, "steps": steps, "forward_ms": stats["median_ms"],
                "forward_iqr_ms": stats["iqr_ms"], "us_per_step": 1e3 * stats["median_ms"] / steps,
                "peak_mib": peak, "load": load_average(),
            })  # fmt: skip
    return rows


def _native(group: str, model: Any, x: np.ndarray) -> Any:
    return seqnet.registry.implementation(group).from_numpy(x, model)


def _forward_fn(group: str, model: Any, x: Any):
    if group == "jax":
        fn = __import__("jax").jit(model.apply)
        return lambda: fn(model.params, x)[0].block_until_ready()
    if group == "torch":
        import torch

        sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

        def run():
            with torch.no_grad():
                out = model(x)
            sync()
            return out

        return run
    if group == "paddle":
        from seqnet_backends.paddle.model import paddle

        model.eval()

        def run_paddle():
            with paddle.no_grad():
                return model(x)[0].numpy()

        return run_paddle
    return lambda: model(x)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    quick = args.quick
    budget = args.budget if args.budget is not None else (0.5 if quick else 3.0)
    return {
        "sizes": args.sizes.split(",") if args.sizes else (["S", "M"] if quick else list(SIZES)),
        "cells": args.cells.split(",") if args.cells else (["lstm"] if quick else list(CELLS)),
        "budget": budget,  # seconds per phase of one size and cell
        "scaling_budget": min(budget, 2.0),  # seconds per point of the scaling run
        "steps": [int(v) for v in args.scaling_steps.split(",")] if args.scaling_steps else (
            [100, 1000] if quick else [100, 300, 1000, 3000, 10000]),
        "batches": [int(v) for v in args.scaling_batches.split(",")] if args.scaling_batches else (
            [8, 64] if quick else [1, 8, 32, 128, 512]),
    }  # fmt: skip


def worker(group: str, plan: dict[str, Any], threads: int, device: str = "cpu") -> dict[str, Any]:
    """Everything measured for one framework, in this process: GEMM peak, every size and cell, scaling.

    Every forward is timed before any training step, so that no optimizer's side effects reach the forward
    figures: with 2 threads, one paddle.optimizer.Adam step made every later paddle.nn.LSTM forward in the
    process about 4x slower (M: 90 ms before, 390 ms after; not after SGD or Momentum, not with 1 thread).
    The training steps use SGD with momentum in every framework for the same reason.
    """
    check_device(group, device)
    gemm = gemm_peak(group, device)
    print(f"  {group}: GEMM {gemm:.1f} GFLOP/s", flush=True)
    on = accelerator(group, device)
    if on:
        print(f"  {group} on {on}", flush=True)
    configs = [(size, cell) for size in plan["sizes"] for cell in plan["cells"]]
    measured = []
    for size, cell in configs:
        rows, impls = forward_rows(group, cell, size, threads, plan["budget"], device)
        measured.append((rows, impls))
        for row in rows:
            print(f"  {size} {cell:4s} {row['impl']:24s} forward {row['forward_ms']:8.2f} ms"
                  f"  load {row['load_after']:.2f}", flush=True)  # fmt: skip
    scaled = scaling(group, plan["steps"], plan["batches"], plan["scaling_budget"], device)
    streamed = []
    if device == "cpu":  # per-call overhead: what streaming use on the CPU pays
        from .streaming import streaming

        streamed = streaming(group, plan["budget"])
        for row in streamed:
            print(f"  one step, batch 1, H {row['hidden']}: {row['impl']:20s} {row['us_per_call']:8.1f} us a call",
                  flush=True)  # fmt: skip
    for rows, impls in measured:
        add_train_times(rows, impls, plan["budget"])
        for row in rows:
            if row["train_ms"] is not None:
                print(f"  {row['size']} {row['cell']:4s} {row['impl']:24s} train step {row['train_ms']:8.2f} ms"
                      f"  load {row['load_after_train']:.2f}", flush=True)  # fmt: skip
    for rows, _ in measured:
        for row in rows:
            row["fraction_of_peak"] = row["forward_gflops"] / gemm  # against this framework's own best product
    return {
        "gemm": gemm,
        "accelerator": on,
        "rows": [row for rows, _ in measured for row in rows],
        "scaling": scaled,
        "streaming": streamed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqnet bench")
    parser.add_argument("--quick", action="store_true", help="sizes S and M, LSTM only, short scaling (~1 minute)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every framework")
    parser.add_argument("--out", default="benchmarks/results", help="folder for <label>.json, .md and PNGs")
    parser.add_argument("--groups", default=None,
                        help="frameworks to measure (default: numpy,torch,paddle,jax,onnxruntime,litert; "
                        "torch,paddle,jax with --device cuda)")  # fmt: skip
    parser.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="cpu, or cuda: torch, paddle and jax on the GPU, with bfloat16/float16 rows for torch and jax",
    )
    parser.add_argument(
        "--compare",
        default=None,
        metavar="OLD.json",
        help="after the run, print each ratio's change against a saved run (e.g. the committed one)",
    )
    parser.add_argument("--sizes", default=None, help="comma-separated subset of S,M,L")
    parser.add_argument("--cells", default=None, help="comma-separated subset of rnn,lstm,gru")
    parser.add_argument("--scaling-steps", default=None, help="comma-separated T values of the scaling run")
    parser.add_argument("--scaling-batches", default=None, help="comma-separated batch sizes of the scaling run")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timed rounds per phase of one size and cell (default 3, 0.5 with --quick)",
    )
    parser.add_argument("--label", default="cpu", help="name of this run's results (e.g. cpu, gpu-h100)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="whole runs one after another, written as <label>-run1, -run2, ... and each ratio's median over them "
        "as <label>-runs.md (default 1: one run, written as <label>)",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # internal: measure one framework
    parser.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.budget is not None and not args.budget > 0:
        parser.error(f"--budget {args.budget}: must be a positive number of seconds")
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat}: must be a whole number of runs, 1 or more")
    plan = _plan(args)
    if args.worker:
        try:
            result = worker(args.worker, plan, args.threads, args.device)
        except DeviceUnavailable as exc:
            print(f"seqnet bench: {exc}", file=sys.stderr)
            return 3
        Path(args.worker_out).write_text(json.dumps(result))
        return 0
    if args.compare is not None and not Path(args.compare).is_file():
        parser.error(f"--compare {args.compare}: no such file (a JSON written by seqnet bench)")
    old = json.loads(Path(args.compare).read_text()) if args.compare else None  # read now: the run may overwrite it
    requested = args.groups.split(",") if args.groups else list(GPU_GROUPS if args.device == "cuda" else GROUPS)
    unknown = [g for g in requested if g not in GROUPS]
    if unknown:
        parser.error(f"--groups {','.join(unknown)}: not one of {list(GROUPS)}")
    if args.device == "cuda":
        cpu_only = [g for g in requested if g not in GPU_GROUPS]
        if cpu_only:
            parser.error(f"--device cuda: {', '.join(cpu_only)} run on the CPU only; --device cuda measures "
                         f"{', '.join(GPU_GROUPS)}")  # fmt: skip
    groups = [g for g in requested if _available(g)]
    out = Path(args.out)
    labels = [args.label] if args.repeat == 1 else [f"{args.label}-run{k}" for k in range(1, args.repeat + 1)]
    runs = []
    for k, label in enumerate(labels, 1):
        if args.repeat > 1:
            print(f"seqnet bench: run {k} of {args.repeat}", flush=True)
        result = _one_run(args, argv, plan, groups, label)
        if isinstance(result, int):
            return result
        runs.append(result)
    if args.repeat > 1:
        from .report import over_runs, write_summary

        summary = over_runs(runs, f"{args.label}-runs")
        write_summary(summary, out)
        print(f"wrote {out}/{args.label}-runs.md: each ratio's median over {args.repeat} runs", flush=True)
    if old is not None:
        from .report import compare

        print(compare(old, runs[-1]))
    return 0


def _one_run(args: Any, argv: list[str] | None, plan: dict[str, Any], groups: list[str], label: str) -> dict | int:
    """One whole run of `groups`, each framework in a process of its own, written as <label>.json, .md and the
    plots in args.out: the result, or the exit status where a worker could not run (2: it cannot use the
    device, and said why; 1: it failed)."""
    started = time.time()
    env = dict(os.environ, **thread_env(args.threads))
    env.setdefault("KERAS_BACKEND", "jax")
    result: dict[str, Any] = {
        "label": label, "quick": args.quick, "threads": args.threads, "machine": machine(), "device": args.device,
        "versions": {d: _version(d) for d in DISTS}, "seqnet": seqnet.__version__,
        "thread_settings": {k: env.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": load_average(),
        "gemm_gflops": {}, "accelerators": {}, "rows": [], "scaling": [], "streaming": [],
    }  # fmt: skip
    print(f"seqnet bench: {', '.join(groups)}; sizes {plan['sizes']}; cells {plan['cells']}; "
          f"{args.threads} threads; one process per framework", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for group in groups:
            part = Path(tmp) / f"{group}.json"
            command = [sys.executable, "-m", "seqnet_benchmarks.run", *(argv if argv is not None else sys.argv[1:]),
                       "--threads", str(args.threads), "--worker", group, "--worker-out", str(part)]  # fmt: skip
            code = subprocess.call(command, env=env)
            if code == 3:  # the worker said why (a device it cannot use)
                return 2
            if code != 0:
                print(f"seqnet bench: the {group} worker failed", file=sys.stderr)
                return 1
            measured = json.loads(part.read_text())
            result["gemm_gflops"][group] = measured["gemm"]
            if measured["accelerator"]:
                result["accelerators"][group] = measured["accelerator"]
            result["rows"] += measured["rows"]
            result["scaling"] += measured["scaling"]
            result["streaming"] += measured["streaming"]
    result["load_end"] = load_average()
    result["seconds"] = time.time() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .report import write_report

    write_report(result, out)
    print(f"wrote {out}/{label}.md in {result['seconds']:.0f} s", flush=True)
    return result


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
