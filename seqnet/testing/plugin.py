"""seqnet's pytest plugin (entry point `pytest11`): the conformance suite's options and the fixtures its tests
take. Options: --seqnet-backend NAME, --seqnet-examples N, --seqnet-option NAME=VALUE for a backend's tests
(test_backend.py); --seqnet-cell NAME for a cell's (test_cell.py). Each run collects the tests of what it names
and deselects the others. Nothing else runs unless the conformance suite is collected."""

from __future__ import annotations

import json
from typing import Any

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("seqnet", "seqnet backend conformance")
    group.addoption("--seqnet-backend", default=None, help="name of the registered backend to check")
    group.addoption("--seqnet-examples", type=int, default=25, help="Hypothesis examples of the property run")
    group.addoption("--seqnet-option", action="append", default=[], help="NAME=VALUE build option (JSON value)")
    group.addoption(
        "--seqnet-cell",
        default=None,
        help="a registered cell, or module:attribute of a seqnet.Cell, to check on every backend",
    )


def pytest_generate_tests(metafunc: Any) -> None:
    """A cell's test runs once per installed backend but numpy (its reference)."""
    if "seqnet_cell_backend" in metafunc.fixturenames:
        import seqnet

        names = [b for b in seqnet.backends() if b != "numpy"] if metafunc.config.getoption("--seqnet-cell") else []
        metafunc.parametrize("seqnet_cell_backend", names)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """The suite's backend tests without --seqnet-backend, and its cell tests without --seqnet-cell, are
    deselected (reported as such), so one run checks what it names."""
    cell, backend = config.getoption("--seqnet-cell"), config.getoption("--seqnet-backend")
    drop = "test_cell" if cell is None else "test_backend" if backend is None else None
    if drop is None:
        return
    name = f"seqnet.testing.conformance.{drop}"
    gone = [item for item in items if getattr(getattr(item, "module", None), "__name__", None) == name]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = [item for item in items if item not in gone]


@pytest.fixture(scope="session")
def seqnet_cell(request: Any) -> Any:
    """The cell --seqnet-cell names, registered."""
    import importlib

    import seqnet

    name = request.config.getoption("--seqnet-cell")
    if not name:
        raise pytest.UsageError("the cell conformance tests need --seqnet-cell NAME (a registered cell)")
    if ":" in name:
        module, _, attribute = name.partition(":")
        return seqnet.register_cell(getattr(importlib.import_module(module), attribute), replace=True)
    known = seqnet.cells()
    if name not in known:
        raise pytest.UsageError(f"--seqnet-cell {name!r} is not a registered cell: one of {list(known)}, or "
                                "module:attribute of a seqnet.Cell")  # fmt: skip
    return known[name]


@pytest.fixture(scope="session")
def seqnet_backend(request: Any) -> str:
    name = request.config.getoption("--seqnet-backend")
    if not name:
        raise pytest.UsageError("the conformance suite needs --seqnet-backend NAME (a registered backend)")
    return name


@pytest.fixture(scope="session")
def seqnet_options(request: Any) -> dict[str, Any]:
    options = {}
    for text in request.config.getoption("--seqnet-option"):
        name, _, value = text.partition("=")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
    return options


@pytest.fixture(scope="session")
def seqnet_examples(request: Any) -> int:
    return request.config.getoption("--seqnet-examples")
