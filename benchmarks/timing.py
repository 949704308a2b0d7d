"""Timing, threads and machine facts for the benchmark harness.

Requirements: standard library and numpy. `thread_env` takes effect only in a process started with it,
before numpy or any framework is imported: `seqnet bench` therefore measures each framework in a fresh
process started with those variables (see run.py).
"""

from __future__ import annotations

import os
import platform
import random
import time
from typing import Any

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that fix every framework's CPU thread pool to `threads`."""
    env = {name: str(threads) for name in THREAD_VARS}
    env["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} intra_op_parallelism_threads={threads}"
    )
    return env


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def interleaved(fns: dict[str, Any], warmup: int = 2, min_rounds: int = 5, max_rounds: int = 25,
                budget_s: float = 4.0) -> dict[str, dict[str, float]]:  # fmt: skip
    """Median and IQR (ms) of each fn, timed in turns: each round calls every fn once, in an order drawn
    afresh (seeded, so a run repeats), so no fn always follows the same neighbour: a fixed or rotated order
    would keep each fn behind one predecessor, whose after-effects (caches, a GPU's queued work, a
    library's per-shape plans) would then always fall on it.

    Rounds repeat until `budget_s` is spent, at least `min_rounds` and at most `max_rounds` of them; where
    one warm-up round alone takes longer than the budget (Paddle's training steps at size L take seconds),
    one warm-up round and 3 timed rounds are run instead, to keep the whole harness in its time.
    """
    t0 = time.perf_counter()
    for fn in fns.values():
        fn()
    if time.perf_counter() - t0 > budget_s:
        warmup, min_rounds = 1, 3
    for _ in range(warmup - 1):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    names = list(fns)
    order = random.Random(0)
    while rounds < min_rounds or (rounds < max_rounds and time.perf_counter() - start < budget_s):
        for name in order.sample(names, len(names)):
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
    out = {}
    for name, ts in times.items():
        ts.sort()
        out[name] = {
            "median_ms": 1e3 * float(np.median(ts)),
            "min_ms": 1e3 * ts[0],
            "iqr_ms": 1e3 * (ts[(3 * len(ts)) // 4] - ts[len(ts) // 4]),
            "repeats": len(ts),
        }
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info
