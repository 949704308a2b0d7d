"""Peak memory of a forward and of value_and_grad against T, each measurement in a fresh process.

Requirements: numpy; the measured backend's framework.

    python -m seqnet_benchmarks.memory --backend jax --steps 2500,5000,10000

For each T a new process imports the backend, builds an LSTM (input 16, hidden 32, batch 4, float32; with
--path generic a reset-before GRU, which torch and Paddle run on their generic loop), runs
one warm-up call at T=10 and records its peak resident memory (ru_maxrss), then runs the forward (or the
forward and backward) at T and records the peak again: the difference is what the call at T needed. Prints
one JSON object per line: backend, what, steps, peak_mib (the increment), finite (all results finite),
seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SPECS = {
    "fused": dict(cell="lstm", input_size=16, hidden_size=32),
    # a reset-before GRU has no fused layer: torch and Paddle run it on their generic Python loop
    "generic": dict(cell="gru", input_size=16, hidden_size=32, gru_variant="reset_before"),
}
BATCH = 4


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(backend: str, what: str, steps: int, path: str = "fused") -> dict:
    """One measurement, in this process (call it in a fresh one)."""
    import seqnet

    if backend == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    spec = seqnet.Spec(**SPECS[path])
    weights = seqnet.init_weights(spec)
    rng = np.random.default_rng(0)

    def run(t: int) -> list[np.ndarray]:
        x = rng.standard_normal((BATCH, t, spec.input_size)).astype(np.float32)
        if what == "forward":
            out, state = seqnet.predict(seqnet.build(spec, backend, weights), x)
            return [out, *(state if isinstance(state, tuple) else (state,))]
        target = np.zeros((BATCH, t, spec.hidden_size), np.float32)
        loss, grads, dx = seqnet.value_and_grad(spec, weights, x, target, backend=backend)
        return [np.asarray(loss), dx, *grads.values()]

    run(10)
    before = _peak_mib()
    start = time.perf_counter()
    results = run(steps)
    seconds = time.perf_counter() - start
    return {
        "backend": backend, "path": path, "what": what, "steps": steps, "peak_mib": _peak_mib() - before,
        "finite": bool(all(np.isfinite(r).all() for r in results)), "seconds": seconds,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqnet_benchmarks.memory")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--what", default="forward,value_and_grad")
    parser.add_argument("--steps", default="2500,5000,10000")
    parser.add_argument("--path", default="fused", choices=sorted(SPECS), help="an LSTM, or a spec with no fused layer")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # internal: measure here
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.backend, args.what, int(args.steps), args.path)), flush=True)
        return 0
    for what in args.what.split(","):
        for steps in args.steps.split(","):
            command = [sys.executable, "-m", "seqnet_benchmarks.memory", "--backend", args.backend, "--what", what,
                       "--steps", steps, "--path", args.path, "--one"]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            print(done.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
