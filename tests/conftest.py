"""Shared test helpers: which frameworks are here, and a fixture per backend that skips with a reason."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

import seqnet
from seqnet.registry import get_backend

os.environ.setdefault("KERAS_BACKEND", "jax")

FRAMEWORK_BACKENDS = ("torch", "paddle", "jax")  # the backends that train; "onnxruntime" is inference only


@contextlib.contextmanager
def registry_restored() -> Iterator[None]:
    """Backends, converters and cells registered inside the block are gone after it, and a default backend set
    in it (seqnet.set_backend) too."""
    from seqnet import cell, registry

    saved = {r: dict(r.all()) for r in (registry._backends, registry._converters)}
    saved_cells = dict(cell._cells)
    saved_default = list(registry._default)
    try:
        yield
    finally:
        registry._default[:] = saved_default
        for record, before in saved.items():
            record.records = before
        cell._cells.clear()
        cell._cells.update(saved_cells)


@pytest.fixture(autouse=True)
def _registry_restored():
    """Backends and converters a test (or a docs example) registers do not outlive it."""
    with registry_restored():
        yield


IN_CI = os.environ.get("CI") == "true"  # .ci/run sets it: CI installs every framework, so nothing may skip there


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the calling test (or module) with `reason`; under CI=true fail instead: CI installs everything."""
    if IN_CI:
        pytest.fail(f"{reason} (a skip under CI=true is a failure)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def importorskip(module: str, reason: str) -> Any:
    """`module`, imported; skip_or_fail(reason) where it is not installed (found without importing it)."""
    if importlib.util.find_spec(module) is None:
        skip_or_fail(reason)
    return importlib.import_module(module)


def require(backend: str) -> None:
    """Skip the calling test (fail under CI=true), saying what to install, when `backend`'s framework is missing."""
    if backend not in seqnet.backends():
        skip_or_fail(f"backend {backend!r} unavailable: pip install {get_backend(backend).install}")


@contextlib.contextmanager
def jax_x64() -> Iterator[None]:
    """JAX's 64-bit mode on for the block, process-wide (threads started in it see it too), as it was after it.
    Float64 JAX tests run in it; everything else runs as users do, with the mode off."""
    import jax

    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.fixture
def x64() -> Iterator[None]:
    """The test runs in JAX's 64-bit mode (jax_x64); every other test runs with it off."""
    with jax_x64():
        yield


def plugin_site(tmp_path: Path, distribution: str, backends: dict[str, str]) -> Path:
    """A folder holding a dist-info that declares `backends` (name -> "module:attribute") in the seqnet.backends
    entry-point group, as pip installs a plugin: put it on PYTHONPATH."""
    dist = tmp_path / f"{distribution.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = [f"{name} = {target}" for name, target in backends.items()]
    (dist / "entry_points.txt").write_text("[seqnet.backends]\n" + "\n".join(lines) + "\n")
    return tmp_path


@pytest.fixture(autouse=True)
def _jax_as_users_run_it():
    """Each test starts, and leaves, JAX's 64-bit mode off (its default), whatever a test or docs page did."""
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", False)
    yield
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", False)


_SKIPPED: list[str] = []


def pytest_collectreport(report: Any) -> None:
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_runtest_logreport(report: Any) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Under CI=true a run in which anything skipped fails, whatever skipped it."""
    if IN_CI and _SKIPPED and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if IN_CI and _SKIPPED:
        terminalreporter.write_line(f"CI=true: {len(_SKIPPED)} skipped, which fails the run: {_SKIPPED[:10]}", red=True)


ROUNDING_UNIT = {"bfloat16": 2.0**-8, "float16": 2.0**-11}
HALF_UNITS = 8  # the half-precision limit, in rounding units of each part's own scale (see half_precision_error)


def half_precision_error(got: Any, want: Any) -> float:
    """max|got - want| / max|want| over the outputs and each state part (pairs of arrays, or one pair): the error
    in the scale of each part itself, so that small outputs are not judged against 1.

    Measured (an LSTM, 2 layers, bidirectional, a head, T 6, lengths; float64 reference): 1.7-2.6 rounding units
    for torch's and JAX's bfloat16 and float16 models; the same model with its input and forget gate blocks
    swapped is 57 units off in bfloat16 and 450 in float16. HALF_UNITS = 8 sits between the two."""
    pairs = got if isinstance(got, list) else [(got, want)]
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - b)) / max(float(np.max(np.abs(b))), 1e-30))
               for a, b in pairs)  # fmt: skip


def check_half_precision(model, out, state, ref, ref_state, weights, dtype: str) -> None:
    """A float16 or bfloat16 model's predict results against the float64 reference: float32 back, within
    HALF_UNITS rounding units of each part's scale; its weights back as float32, each within a unit of the given."""
    from seqnet import parity

    assert out.dtype == np.float32  # NumPy back, as float32
    unit = ROUNDING_UNIT[dtype]
    pairs = [(out, ref)] + list(zip(parity.state_parts(state), parity.state_parts(ref_state), strict=True))
    error = half_precision_error(pairs, None)
    assert error <= HALF_UNITS * unit, f"{dtype}: {error / unit:.1f} rounding units off (limit {HALF_UNITS})"
    back = seqnet.weights_of(model)
    assert all(back[k].dtype == np.float32 and np.allclose(back[k], weights[k], rtol=unit, atol=0) for k in weights)


def gates_swapped(spec: seqnet.Spec, weights: Any) -> seqnet.Weights:
    """`weights` with the first two gate blocks swapped (LSTM i and f): a wrong model the checks must catch."""
    from mutants import weights_with_fault

    return seqnet.Weights(weights_with_fault(spec, weights, "swap_gates"))


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


def pytest_configure(config: pytest.Config) -> None:
    """With several xdist workers (`-n 2`, the README's command): every framework's thread pool at one thread in
    each worker, set here in the controller before the workers start, so that they inherit it before anything is
    imported and do not fight over the cores. Measured on this project's 2-core machine, the Paddle demos test
    beside a busy process: 128 s with the default pools, 34 s at one thread. A variable already set is kept."""
    workers = getattr(config.option, "numprocesses", None)
    if os.environ.get("PYTEST_XDIST_WORKER") or not workers or workers == "0":
        return
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
