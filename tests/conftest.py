"""Shared test helpers: which frameworks are here, and a fixture per backend that skips with a reason."""

from __future__ import annotations

import os

import pytest

import seqnet
from seqnet.registry import get_backend

os.environ.setdefault("KERAS_BACKEND", "jax")

FRAMEWORK_BACKENDS = ("torch", "paddle", "jax")


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
