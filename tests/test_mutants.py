"""The mutation suite of the testing kit: deliberately wrong backends (tests/mutants), each wrong in one way a
real port goes wrong, must fail the conformance suite, and where the fault changes the function,
`assert_same_function` too; controls that differ by rounding alone must pass both.

Each conformance run is the one-command entry a plugin author uses (`pytest --pyargs seqnet.testing.conformance
--seqnet-backend NAME`), in a process of its own, with the mutant installed as a plugin is (an entry point).
A mutant counts as killed only when a test *fails an assertion* (AssertionError, ParityError, pytest's
"DID NOT RAISE"): an exception from a mistake in the mutant itself would not count. docs/reliability.md states
the kill rate; test_the_reliability_page_states_the_kill_rate holds it to these lists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import mutants
import numpy as np
import pytest
from conftest import plugin_site

import seqnet
from seqnet.testing import ParityError, assert_same_function

HERE = Path(__file__).parent
KILLING = ("AssertionError", "ParityError", "Failed: DID NOT RAISE", "assert ")
RUNS = [(name, "mutant", name) for name in mutants.FAULTS] + [(name, name, None) for name in mutants.GRADIENT_MUTANTS]


def _site(tmp_path: Path) -> Path:
    """A dist-info declaring the mutant backends in the seqnet.backends entry-point group, as pip installs one."""
    backends = {"mutant": "mutants:backend", "mutant_grad_sum": "mutants:grad_sum",
                "mutant_grad_reverse_bias": "mutants:grad_reverse_bias"}  # fmt: skip
    return plugin_site(tmp_path, "seqnet-mutants", backends)


def conformance(tmp_path: Path, backend: str, fault: str | None, first_failure: bool) -> list[tuple[str, str]]:
    """Run the conformance suite on `backend` (with build option fault=`fault`): the failed tests as
    (test id, failure message)."""
    report = tmp_path / "report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--pyargs",
               "seqnet.testing.conformance", "--seqnet-backend", backend, "--seqnet-examples", "10",
               f"--junitxml={report}"]  # fmt: skip
    command += ["-x"] if first_failure else []
    command += [] if fault is None else ["--seqnet-option", f'fault="{fault}"']
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(_site(tmp_path)), str(HERE)]))
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert report.is_file(), f"the suite did not run:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):
        for problem in list(case.iter("failure")) + list(case.iter("error")):
            failed.append((case.get("name", "?"), f"{problem.tag}: {problem.get('message', '')}"))
    assert (done.returncode == 0) == (not failed), done.stdout[-3000:]
    return failed


@pytest.mark.parametrize("name, backend, fault", RUNS, ids=[r[0] for r in RUNS])
def test_every_mutant_fails_the_conformance_suite(tmp_path, name, backend, fault):
    failed = conformance(tmp_path, backend, fault, first_failure=True)
    assert failed, f"mutant {name!r} ({(mutants.FAULTS | mutants.GRADIENT_MUTANTS)[name]}) passed the whole suite"
    test, message = failed[0]
    # a wrong exception where a seqnet error is due is that test's very point; elsewhere only a failed check counts
    wrong_error = test.startswith("test_bad_input_gets_seqnets_errors")
    assert message.startswith("failure") and (wrong_error or any(word in message for word in KILLING)), (
        f"{name}: {test} stopped on an error, not on a failed check: {message[:500]}"
    )


@pytest.mark.parametrize("name", mutants.CONTROLS)
def test_every_control_passes_the_conformance_suite(tmp_path, name):
    assert conformance(tmp_path, "mutant", name, first_failure=False) == []


@pytest.mark.parametrize("name", mutants.ALTERS_FUNCTION)
def test_assert_same_function_catches_every_mutant_that_changes_the_function(name):
    seqnet.register_backend(mutants.backend, replace=True)
    spec = mutants.ALTERS_FUNCTION[name]
    w = seqnet.init_weights(spec, seed=1)
    with pytest.raises(ParityError):
        assert_same_function(seqnet.build(spec, "mutant", w, fault=name), seqnet.build(spec, "numpy", w))


@pytest.mark.parametrize("name", mutants.GRADIENT_MUTANTS)
def test_assert_same_function_catches_wrong_gradients(name):
    seqnet.register_backend(getattr(mutants, name.removeprefix("mutant_")), replace=True)
    spec = seqnet.Spec("gru", 3, 4, bidirectional=True)
    w = seqnet.init_weights(spec, seed=1)
    a, b = seqnet.build(spec, name, w), seqnet.build(spec, "numpy", w)
    assert_same_function(a, b)  # the forward is right
    with pytest.raises(ParityError, match=r"\(gradients\)"):
        assert_same_function(a, b, gradients=True)


@pytest.mark.parametrize("name", mutants.CONTROLS)
def test_assert_same_function_passes_every_control(name):
    seqnet.register_backend(mutants.backend, replace=True)
    for dtype in ("float32", "float64"):
        for spec in (seqnet.Spec("lstm", 3, 4, num_layers=2, bidirectional=True, proj_size=2, output_size=2),
                     seqnet.Spec("gru", 3, 4, bidirectional=True, output_mode="last")):  # fmt: skip
            w = seqnet.init_weights(spec, seed=1, dtype=dtype)
            found = assert_same_function(seqnet.build(spec, "mutant", w, dtype, fault=name),
                                         seqnet.build(spec, "numpy", w, dtype))  # fmt: skip
            assert max(found.values()) <= seqnet.parity.TOLERANCE[dtype]


def test_the_mutants_are_wrong_by_more_than_the_tolerance():
    """Each function-changing mutant's smallest effect is above the float32 tolerance on its spec (else a
    kill would hang on rounding), and each control's below it."""
    seqnet.register_backend(mutants.backend, replace=True)
    for name, spec in mutants.ALTERS_FUNCTION.items():
        if name in ("drop_c", "wrong_dtype", "input_in_place", "state_written_back"):
            continue  # structural or side effects: no value to measure
        w = seqnet.init_weights(spec, seed=1, dtype="float64")
        call = seqnet.testing.compare.default_inputs(spec, "float64")[2]  # lengths and an initial state
        got = seqnet.predict(seqnet.build(spec, "mutant", w, "float64", fault=name), call.x, call.state, call.lengths)
        want = seqnet.predict(seqnet.build(spec, "numpy", w, "float64"), call.x, call.state, call.lengths)
        pairs = [(got[0], want[0])] + list(zip(seqnet.parity.state_parts(got[1]), seqnet.parity.state_parts(want[1]),
                                               strict=True))  # fmt: skip
        assert max(seqnet.parity.scaled_diff(a, b) for a, b in pairs) > 1e-4, name


def test_the_reliability_page_states_the_kill_rate():
    text = (HERE.parent / "docs" / "reliability.md").read_text()
    found = re.search(r"(\d+) mutants, (\d+) killed.*?(\d+) controls, (\d+) passed", text, re.S)
    assert found, "docs/reliability.md states no kill rate"
    mutants_, killed, controls, passed = map(int, found.groups())
    assert mutants_ == killed == len(RUNS) and controls == passed == len(mutants.CONTROLS)
    for name in list(mutants.FAULTS) + list(mutants.GRADIENT_MUTANTS) + list(mutants.CONTROLS):
        assert f"`{name}`" in text, f"docs/reliability.md does not list {name}"


def test_bad_fault_names_are_refused():
    seqnet.register_backend(mutants.backend, replace=True)
    with pytest.raises(ValueError, match="fault='nope'"):
        seqnet.build(seqnet.Spec("rnn", 2, 3), "mutant", fault="nope")
    assert np.isfinite(
        seqnet.predict(seqnet.build(seqnet.Spec("rnn", 2, 3), "mutant"), np.ones((1, 2, 2), "f"))[0]
    ).all()
