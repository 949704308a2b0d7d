"""The conformance suite (seqnet.testing.conformance) on every built-in backend and path and on a toy plugin,
collected here from its one definition; and its one-command entry, which must fail a wrong backend.

SEQNET_EXAMPLES sets the Hypothesis examples of the property run per backend (default 100; the long run is
SEQNET_EXAMPLES=1000 python -m pytest -n 2 tests/test_conformance.py -k property, docs/reliability.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import toy_backends
from conftest import plugin_site, registry_restored, require

import seqnet
from seqnet.testing.conformance.test_backend import *  # noqa: F403 (the suite's tests, collected here)

TARGETS = [
    ("numpy", {}), ("numpy", {"fused": False}), ("torch", {}), ("torch", {"fused": False}), ("paddle", {}),
    ("paddle", {"fused": False}), ("jax", {}), ("onnxruntime", {}), ("litert", {}), ("litert", {"fused": False}),
    ("twin", {}),
]  # fmt: skip


@pytest.fixture(scope="module", params=TARGETS, ids=[f"{b}{'-generic' if o else ''}" for b, o in TARGETS])
def target(request):
    backend, options = request.param
    with registry_restored():
        if backend == "twin":
            seqnet.register_backend(toy_backends.twin, replace=True)
        else:
            require(backend)
        yield backend, options


@pytest.fixture
def seqnet_backend(target):
    return target[0]


@pytest.fixture
def seqnet_options(target):
    return target[1]


@pytest.fixture
def seqnet_examples():
    return int(os.environ.get("SEQNET_EXAMPLES", "100"))


def _plugin_dir(tmp_path: Path, name: str) -> Path:
    """A dist-info declaring toy backend `name` in the seqnet.backends entry-point group (as pip installs one)."""
    return plugin_site(tmp_path, f"toy-{name}", {name: f"toy_backends:{name}"})


@pytest.mark.parametrize("name, conforms", [("twin", True), ("doubler", False)])
def test_the_one_command_entry(tmp_path, name, conforms):
    site = _plugin_dir(tmp_path, name)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(Path(__file__).parent)]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "seqnet.testing.conformance",
               "--seqnet-backend", name, "--seqnet-examples", "5"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode == 0) == conforms, done.stdout[-3000:]
    if not conforms:
        assert "outputs differ by" in done.stdout and "test_parity_grid" in done.stdout


def test_check_backend_needs_a_name_and_says_so(tmp_path):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "seqnet.testing.conformance"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and "needs --seqnet-backend NAME" in done.stdout + done.stderr
    code = textwrap.dedent(
        """
        import sys, seqnet.testing
        sys.exit(seqnet.testing.check_backend("numpy", examples=3, pytest_args=["-q", "-x"]))
        """
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp_path).returncode == 0
