"""Shared test helpers: which frameworks are here, and a fixture per backend that skips with a reason."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import seqnet
from seqnet.registry import get_backend

os.environ.setdefault("KERAS_BACKEND", "jax")

FRAMEWORK_BACKENDS = ("torch", "paddle", "jax")  # the backends that train; "onnxruntime" is inference only


@contextlib.contextmanager
def registry_restored() -> Iterator[None]:
    """Backends and converters registered inside the block are gone after it."""
    from seqnet import registry

    saved = {r: dict(r.all()) for r in (registry._backends, registry._converters)}
    try:
        yield
    finally:
        for record, before in saved.items():
            record.records = before


@pytest.fixture(autouse=True)
def _registry_restored():
    """Backends and converters a test (or a docs example) registers do not outlive it."""
    with registry_restored():
        yield


def require(backend: str) -> None:
    """Skip the calling test, saying what to install, when `backend`'s framework is missing."""
    if backend not in seqnet.backends():
        reason = f"backend {backend!r} unavailable: pip install {get_backend(backend).install}"
        if os.environ.get("CI") == "true":  # CI installs all four frameworks: a skip there is a failure
            pytest.fail(reason)
        pytest.skip(reason)
    if backend == "jax":  # the float64 cases need JAX's 64-bit mode (float32 cases are unaffected)
        import jax

        jax.config.update("jax_enable_x64", True)


@pytest.fixture(params=FRAMEWORK_BACKENDS)
def framework(request) -> str:
    """Each framework backend in turn (skipped where its framework is not installed)."""
    require(request.param)
    return request.param


@pytest.fixture(params=("numpy",) + FRAMEWORK_BACKENDS)
def any_backend(request) -> str:
    require(request.param)
    return request.param


def backends_for(dtype: str) -> list[str]:
    """The usable backends whose models compute in `dtype` (onnxruntime: float32 only)."""
    return [name for name in seqnet.backends() if dtype in get_backend(name).dtypes]


def cli(*args: object) -> subprocess.CompletedProcess:
    """`seqnet ARGS...` run as a user would, in a process of its own."""
    return subprocess.run([sys.executable, "-m", "seqnet.cli", *map(str, args)], capture_output=True, text=True)
