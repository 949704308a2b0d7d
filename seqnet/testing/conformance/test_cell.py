"""What a cell of your own must honour. Run: pytest --pyargs seqnet.testing.conformance --seqnet-cell NAME.

NAME is a registered cell (a package's entry point in "seqnet.cells"), or "module:attribute" naming a
`seqnet.Cell` subclass or instance to import and register. One test per installed backend (numpy is the
reference): `seqnet.testing.check_cell` on that backend (outputs, states, gradients against finite differences,
lengths in both directions; onnxruntime: the ONNX round trip; litert: float32 against NumPy), its ParityError
shown as the failure.
"""

from __future__ import annotations

from typing import Any

import seqnet
from seqnet.testing.cells import check_cell


def test_the_cell_conforms_on_the_backend(seqnet_cell: Any, seqnet_cell_backend: str) -> None:
    report = check_cell(seqnet_cell, backends=[seqnet_cell_backend])
    ran = [key for key in report if not key.startswith("not run")]
    assert ran, f"cell {seqnet_cell.name!r}: nothing ran on {seqnet_cell_backend}: {sorted(report)}"


def test_the_cell_is_in_the_registry(seqnet_cell: Any) -> None:
    assert seqnet.cells()[seqnet_cell.name] is seqnet_cell
