"""seqnet's pytest plugin (entry point `pytest11`): the conformance suite's options and the fixtures its tests
take. Options: --seqnet-backend NAME, --seqnet-examples N, --seqnet-option NAME=VALUE. Nothing else runs
unless the conformance suite is collected."""

from __future__ import annotations

import json
from typing import Any

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("seqnet", "seqnet backend conformance")
    group.addoption("--seqnet-backend", default=None, help="name of the registered backend to check")
    group.addoption("--seqnet-examples", type=int, default=25, help="Hypothesis examples of the property run")
    group.addoption("--seqnet-option", action="append", default=[], help="NAME=VALUE build option (JSON value)")


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
