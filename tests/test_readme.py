"""The README's examples run as written, and the two Quickstart commands stay what .ci/run runs."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import blocks
import pytest
from conftest import require

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(python|bash)\n(.*?)```", text, re.S)


def test_readme_examples_run_and_backends_agree(tmp_path, monkeypatch):
    """Each Python block runs through tests/blocks.py (every `# -> ` value it shows is compared with what it
    prints); the `seqnet convert` block runs and reports ok."""
    for backend in ("torch", "paddle", "jax"):
        require(backend)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for language, code in _blocks(README):
        if language == "python":
            blocks.run(code, namespace, "README.md")
        elif code.startswith("seqnet convert"):
            seqnet_cli = shutil.which("seqnet", path=str(Path(sys.executable).parent)) or "seqnet"
            done = subprocess.run([seqnet_cli, *code.split()[1:]], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
            assert ": ok" in done.stdout
    assert set(namespace["report"]) == {"numpy", "torch", "paddle", "jax", "onnxruntime", "litert"}
    assert namespace["out_pt"].shape == (4, 10, 64)
    assert (tmp_path / "tagger.pdparams").exists()


def test_the_readme_says_what_the_docs_tests_check():
    assert "Every Python block and every `seqnet` command in it runs as a test" in README
    assert "each value a block shows" in README


def test_quickstart_is_two_commands_and_ci_runs_the_readme_test_command():
    quickstart = README.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in quickstart.splitlines() if line.strip()]
    assert len(commands) == 2 and commands[1] == "bash .ci/run"
    assert "seqnet demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r"test command is\s+`([^`]+)`", README).group(1)
    assert command.startswith("python -m pytest") and f"/bin/{command}" in ci


@pytest.mark.parametrize("block", [i for i, (lang, _) in enumerate(_blocks(README)) if lang == "python"])
def test_readme_python_parses(block):
    """Each Python example parses (the README must not show code that cannot run)."""
    compile(_blocks(README)[block][1], "README.md", "exec")


def _table_rows(text: str, after: str) -> dict[str, list[str]]:
    """The first markdown table after the line starting with `after`: its first column -> the other cells."""
    lines = text[text.index(after) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = {}
    for line in lines[start + 2 :]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_readme_cpu_headline_is_the_committed_summary():
    """Every row of the README's CPU headline is the same row of benchmarks/results/cpu-runs.md, as written
    from the committed runs (`python -m seqnet_benchmarks.report ... --runs ...`)."""
    readme = _table_rows(README, "Headline on the CPU")
    summary_text = (ROOT / "benchmarks" / "results" / "cpu-runs.md").read_text()
    summary = _table_rows(summary_text, "## Headline")
    assert len(readme) >= 6
    for ratio, cells in readme.items():
        assert ratio in summary, f"README's row {ratio!r} is not in cpu-runs.md"
        assert cells == summary[ratio], f"{ratio}: README {cells}, cpu-runs.md {summary[ratio]}"
