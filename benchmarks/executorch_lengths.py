"""Whether ExecuTorch (PyTorch's on-device runtime) runs a seqnet torch model at more than one sequence length.

Requirements: torch, executorch (heavy: coremltools, pandas, torchao; install it in a virtualenv of its own:
`pip install torch==2.13.0 executorch` and seqnet there). Not part of the test suite or of CI's install.

For each cell, seqnet's torch model (its fused nn.LSTM / nn.GRU) goes through `torch.export.export` with the
time axis dynamic and, that failing, with the batch axis alone dynamic; the program is lowered with
`executorch.exir.to_edge_transform_and_lower(...).to_executorch()`, loaded by `executorch.runtime` and run at
two lengths against seqnet's NumPy reference. `python -m seqnet_benchmarks.executorch_lengths` prints one line
per attempt; docs/guides/deploying.md ("On the device") quotes the run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

import seqnet


def attempt(cell: str, dynamic_time: bool, lengths: tuple[int, ...] = (6, 11)) -> list[str]:
    """One line per length run, or the one line of the failure."""
    import torch
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime
    from torch.export import Dim, export

    spec = seqnet.Spec(cell, 4, 8)
    weights = seqnet.init_weights(spec, seed=0)
    model = seqnet.build(spec, "torch", weights).eval()
    dims = {0: Dim("B", min=1, max=64)} | ({1: Dim("T", min=2, max=512)} if dynamic_time else {})
    label = f"{cell}, {'batch and time' if dynamic_time else 'batch'} dynamic"
    lines = []
    try:
        program = export(model, (torch.randn(2, lengths[0], 4),), dynamic_shapes={"x": dims})
        buffer = to_edge_transform_and_lower(program).to_executorch().buffer
        path = Path(tempfile.mkdtemp()) / "model.pte"
        path.write_bytes(buffer)
        method = Runtime.get().load_program(str(path)).load_method("forward")
        for steps in lengths:
            x = torch.randn(2, steps, 4)
            out = method.execute([x])[0].numpy()
            want, _ = seqnet.predict(seqnet.build(spec, "numpy", weights), x.numpy())
            lines.append(f"{label}: T {steps}: ran, {len(buffer)} bytes, max error {np.abs(out - want).max():.1e}")
    except Exception as exc:  # the measured failure is the result
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        lines.append(f"{label}: failed: {type(exc).__name__}: {first}")
    return lines


def main() -> int:
    for cell in ("lstm", "gru"):
        for dynamic_time in (True, False):
            print("\n".join(attempt(cell, dynamic_time)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
