"""The README's example runs as written, and the two Quickstart commands stay what .ci/run runs."""

import contextlib
import io
import re
from pathlib import Path

from conftest import require

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_example_runs_and_backends_agree():
    for backend in ("torch", "paddle", "jax"):
        require(backend)
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), namespace)
    report = eval(printed.getvalue())  # the dict parity.compare returned, as printed
    assert set(report) == {"numpy", "torch", "paddle", "jax"}
    assert all(r["outputs"] <= 1e-5 and r["state"] <= 1e-5 for r in report.values())
    assert namespace["out_pt"].shape == (4, 10, 64)


def test_quickstart_is_two_commands_and_ci_runs_the_readme_test_command():
    quickstart = README.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in quickstart.splitlines() if line.strip()]
    assert len(commands) == 2 and commands[1] == "bash .ci/run"
    assert "seqnet demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci and "`python -m pytest -q`" in README
