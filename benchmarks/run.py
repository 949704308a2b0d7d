"""The benchmark harness: `python -m seqnet_benchmarks.run [--quick]` (or `seqnet bench`).

Requirements: numpy; each framework that is installed is measured, the others are skipped.

Threads: `seqnet bench` starts this module in a fresh process with OMP/MKL/OpenBLAS thread variables and
XLA's intra-op threads set to --threads (default: the machine's cores) before numpy or any framework is
imported, and calls torch.set_num_threads / Paddle's set_num_threads with the same number. The load
average is recorded before and after every measurement, so a disturbed run is visible.

Method: for each size and cell, a framework's implementations are timed interleaved (one call of each in
turn, repeated) after warm-up; each figure is the median with its interquartile range. Outputs of
implementations that share seqnet's weights are compared with seqnet's first ("max_diff").
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import time
import tracemalloc
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import seqnet

from .timing import load_average, machine
from .workloads import CELLS, SIZES, flops, spec_for

GROUPS = {"numpy": "numpy", "torch": "torch", "paddle": "paddle", "jax": "jax"}
DISTS = ("numpy", "torch", "paddlepaddle", "jax", "jaxlib", "flax", "keras")


def _available(group: str) -> bool:
    return importlib.util.find_spec(group) is not None


def interleaved(fns: dict[str, Any], warmup: int = 2, min_rounds: int = 5, max_rounds: int = 25,
                budget_s: float = 4.0) -> dict[str, dict[str, float]]:  # fmt: skip
    """Median and IQR (ms) of each fn, timed in turns: round r calls every fn once."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or (rounds < max_rounds and time.perf_counter() - start < budget_s):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    out = {}
    for name, ts in times.items():
        ts.sort()
        out[name] = {
            "median_ms": 1e3 * float(np.median(ts)),
            "iqr_ms": 1e3 * (ts[(3 * len(ts)) // 4] - ts[len(ts) // 4]),
            "repeats": len(ts),
        }
    return out


def gemm_peak(group: str, n: int = 1024) -> float:
    """float32 n x n matrix product throughput in GFLOP/s (median of repeated runs)."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    if group == "numpy":
        fn = lambda: a @ a  # noqa: E731
    elif group == "torch":
        import torch

        t = torch.from_numpy(a)
        fn = lambda: torch.mm(t, t)  # noqa: E731
    elif group == "paddle":
        from seqnet_backends.paddle.model import paddle

        t = paddle.to_tensor(a)
        fn = lambda: paddle.matmul(t, t).numpy()  # noqa: E731
    else:
        import jax
        import jax.numpy as jnp

        t = jnp.asarray(a)
        dot = jax.jit(jnp.dot)
        fn = lambda: dot(t, t).block_until_ready()  # noqa: E731
    stats = interleaved({"gemm": fn}, warmup=3, min_rounds=10, max_rounds=40, budget_s=2.0)["gemm"]
    return 2 * n**3 / (stats["median_ms"] / 1e3) / 1e9


def bench_config(group: str, cell: str, size: str, threads: int, train: bool, budget: float) -> list[dict]:
    spec = spec_for(cell, size)
    module = importlib.import_module(f"{__package__}.impl_{group}")
    impls = module.implementations(spec, size, threads)
    ref = impls[0].output() if impls[0].output else None
    load_before = load_average()
    forward = interleaved({i.name: i.forward for i in impls}, budget_s=budget)
    trains = {i.name: i.train_step for i in impls if i.train_step is not None}
    trained = interleaved(trains, budget_s=budget) if (train and trains) else {}
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
            "train_ms": trained.get(impl.name, {}).get("median_ms"),
            "train_iqr_ms": trained.get(impl.name, {}).get("iqr_ms"),
            "forward_gflops": work / (fwd["median_ms"] / 1e3) / 1e9,
            "max_diff": diff, "load_before": load_before, "load_after": load_after,
        })  # fmt: skip
    return rows


def scaling(groups: list[str], steps_list: list[int], batches: list[int], threads: int, budget: float) -> list[dict]:
    """Forward time of each seqnet backend against T (B 32) and against B (T 100), LSTM, I 32, H 64;
    peak memory where the framework reports it (NumPy, through tracemalloc)."""
    rows = []
    spec = seqnet.Spec("lstm", 32, 64)
    weights = seqnet.init_weights(spec)
    for group in groups:
        model = seqnet.build(spec, group, weights)
        for axis, values in (("steps", steps_list), ("batch", batches)):
            for value in values:
                batch, steps = (32, value) if axis == "steps" else (value, 100)
                x = np.random.default_rng(0).standard_normal((batch, steps, 32)).astype(np.float32)
                native = _native(group, model, x)
                run = _forward_fn(group, model, native)
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

        def run():
            with torch.no_grad():
                return model(x)

        return run
    if group == "paddle":
        from seqnet_backends.paddle.model import paddle

        model.eval()

        def run_paddle():
            with paddle.no_grad():
                return model(x)[0].numpy()

        return run_paddle
    return lambda: model(x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqnet bench")
    parser.add_argument("--quick", action="store_true", help="sizes S and M, LSTM only, short scaling (~1 minute)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    parser.add_argument("--out", default="benchmarks/results", help="folder for results.json, results.md, PNGs")
    parser.add_argument("--groups", default="numpy,torch,paddle,jax", help="frameworks to measure")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of S,M,L")
    parser.add_argument("--cells", default=None, help="comma-separated subset of rnn,lstm,gru")
    parser.add_argument("--label", default="cpu", help="name of this run's results (e.g. cpu, gpu-h100)")
    args = parser.parse_args(argv)
    groups = [g for g in args.groups.split(",") if _available(g)]
    sizes = args.sizes.split(",") if args.sizes else (["S", "M"] if args.quick else list(SIZES))
    cells = args.cells.split(",") if args.cells else (["lstm"] if args.quick else list(CELLS))
    budget = 1.0 if args.quick else 3.0
    started = time.time()
    result: dict[str, Any] = {
        "label": args.label, "quick": args.quick, "threads": args.threads, "machine": machine(),
        "versions": {d: _version(d) for d in DISTS}, "seqnet": seqnet.__version__,
        "thread_settings": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_start": load_average(),
    }  # fmt: skip
    print(f"seqnet bench: {', '.join(groups)}; sizes {sizes}; cells {cells}; {args.threads} threads", flush=True)
    result["gemm_gflops"] = {g: gemm_peak(g) for g in groups}
    print("GEMM GFLOP/s:", {g: round(v, 1) for g, v in result["gemm_gflops"].items()}, flush=True)
    peak = max(result["gemm_gflops"].values())
    rows = []
    for size in sizes:
        for cell in cells:
            for group in groups:
                for row in bench_config(group, cell, size, args.threads, True, budget):
                    row["fraction_of_peak"] = row["forward_gflops"] / peak
                    rows.append(row)
                    train = f"{row['train_ms']:.1f}" if row["train_ms"] else "-"
                    print(f"  {size} {cell:4s} {row['impl']:24s} fwd {row['forward_ms']:8.2f} ms  train {train:>8s} ms"
                          f"  load {row['load_after']:.2f}", flush=True)  # fmt: skip
    result["rows"] = rows
    steps_list = [100, 1000, 3000] if args.quick else [100, 300, 1000, 3000, 10000]
    batches = [8, 64] if args.quick else [1, 8, 32, 128, 512]
    result["scaling"] = scaling(groups, steps_list, batches, args.threads, 0.5 if args.quick else 2.0)
    result["load_end"] = load_average()
    result["seconds"] = time.time() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from .report import write_report

    write_report(result, out)
    print(f"wrote {out}/ in {result['seconds']:.0f} s", flush=True)
    return 0


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
