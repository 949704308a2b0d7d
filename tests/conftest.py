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


def check_half_precision(model, out, state, ref, ref_state, weights, dtype: str) -> None:
    """A float16 or bfloat16 model's predict results against the float64 reference: float32 back, within 40
    rounding units of the format; its weights back as float32, each within half a unit of the given ones."""
    import numpy as np

    from seqnet import parity

    assert out.dtype == np.float32  # NumPy back, as float32
    unit = {"bfloat16": 2.0**-8, "float16": 2.0**-11}[dtype]  # the format's rounding unit
    assert parity.scaled_diff(out, ref) <= 40 * unit
    assert all(parity.scaled_diff(a, b) <= 40 * unit for a, b in zip(state, ref_state))
    back = seqnet.weights_of(model)
    assert all(back[k].dtype == np.float32 and np.allclose(back[k], weights[k], rtol=unit, atol=0) for k in weights)


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
