"""Timing, threads and machine facts for the benchmark harness.

Requirements: standard library and numpy. `pin_threads` must run before numpy (or any framework) is
imported to take full effect: `seqnet bench` therefore runs the harness in a fresh process with the
thread variables set (see run.py).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

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


def measure(fn: Callable[[], Any], warmup: int = 2, min_repeats: int = 5, max_repeats: int = 30,
            budget_s: float = 1.5) -> dict[str, float]:  # fmt: skip
    """Median and spread of fn()'s wall time after `warmup` calls: repeats until `budget_s` is spent
    (at least min_repeats, at most max_repeats). fn must block until its work is done."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_repeats or (len(times) < max_repeats and time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    q1, q3 = times[len(times) // 4], times[(3 * len(times)) // 4]
    return {
        "median_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * times[0],
        "iqr_ms": 1e3 * (q3 - q1),
        "repeats": len(times),
    }


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
