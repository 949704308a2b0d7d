"""Every code block in docs/ runs as written (or says why not), each value a block shows is compared with what
it computes, the site builds with warnings as errors, and the pages reference only figures that exist.

A page's ```python blocks run in order in one namespace, in a fresh folder, through tests/blocks.py (`# -> output`
and `# raises Error: message` are checked; a print or a value-like comment without them fails); its ```bash
blocks that start with `seqnet`, `torchrun` or `python` run as commands there, and a ```python block right after
`<!-- file: NAME -->` is written to NAME there (a script a command runs, a module a later block imports). A block
right after `<!-- not run: reason -->` is shown, not run; any other block (toml, text, another bash block) must be
marked so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import blocks as blocks_kit
import pytest
from conftest import importorskip, require

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts and "generated" not in p.parts)
BLOCK = re.compile(
    r"(<!-- (?:not run: (?P<reason>[^>]*)|file: (?P<file>[\w.-]+)) -->\n)?```(?P<lang>[\w{}-]+)\n(?P<code>.*?)```", re.S
)
# a bash block's commands that run: each from this interpreter's environment (python is this interpreter)
COMMANDS = ("seqnet", "torchrun", "python")
SLOW_PAGES = {"guides/scale.md"}  # launches distributed training processes


def blocks(page: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(language, code, why it is not run or None, the file it is written to or None) of each block."""
    return [(m["lang"], m["code"], m["reason"], m["file"]) for m in BLOCK.finditer(page.read_text())]


def _command(line: str) -> list[str]:
    command = line.split("#")[0].split()
    if command[0] == "python":
        return [sys.executable, *command[1:]]
    return [shutil.which(command[0], path=str(Path(sys.executable).parent)) or command[0], *command[1:]]


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=[pytest.mark.slow] if str(p.relative_to(DOCS)) in SLOW_PAGES else []) for p in PAGES],
    ids=[str(p.relative_to(DOCS)) for p in PAGES],
)
def test_every_block_of_the_page_runs(page, tmp_path, monkeypatch):
    """A Python block after `<!-- file: NAME -->` is written to NAME in the page's folder (a script that a later
    command runs or a later block imports) and checked as every block is, not run."""
    found = blocks(page)
    if any(lang == "python" and reason is None for lang, _, reason, _ in found):
        for backend in ("torch", "paddle", "jax"):
            require(backend)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {"__name__": "__docs__"}
    where = str(page.relative_to(ROOT))
    for lang, code, reason, file in found:
        if reason is not None:
            assert reason.strip(), f"{page}: a block marked not run must say why"
            continue
        if file is not None:
            bad = blocks_kit.problems(code)
            assert not bad, f"{where}, {file}:\n  " + "\n  ".join(bad)
            (tmp_path / file).write_text(code)
        elif lang == "python":
            blocks_kit.run(code, namespace, where)
        elif lang == "bash" and code.split(maxsplit=1)[0] in COMMANDS:
            for line in filter(str.strip, code.splitlines()):
                done = subprocess.run(_command(line), capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{page}: {line}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        elif not lang.startswith("{"):  # a Sphinx directive ({toctree}, {eval-rst}) is not a code block
            raise AssertionError(f"{page}: a {lang} block neither runs nor says why not (<!-- not run: reason -->)")


def test_pages_and_figures_exist():
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page}: missing figure {target}"


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    importorskip("sphinx", "the docs need sphinx: pip install 'seqnet[docs]'")
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                           str(tmp_path / "html")], capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "html" / "api.html").is_file() and (tmp_path / "html" / "learn" / "gradients.html").is_file()
    # the maths is MathML written at build time (docs/_ext/mathml.py): an offline build shows formulas, not LaTeX
    pages = {p: p.read_text() for p in (tmp_path / "html").rglob("*.html")}
    assert "<math" in pages[tmp_path / "html" / "learn" / "bptt.html"]
    assert not [p for p, text in pages.items() if "cdn.jsdelivr.net" in text or "\\frac" in text]


def test_the_api_reference_lists_every_public_name():
    import seqnet
    import seqnet.testing

    text = (DOCS / "api.md").read_text()
    listed = set(re.findall(r"^   (\w+)$", text, re.M))
    missing = sorted(n for n in seqnet.__all__ if not n.startswith("_") and n not in listed)
    missing += sorted(f"testing.{n}" for n in seqnet.testing.__all__ if n not in listed and n != "model_spec")
    assert not missing, f"docs/api.md does not list {missing}"


@pytest.mark.parametrize(
    "code, words",
    [
        ("print(1 + 1)  # -> 3", "printed '2', the block shows '3'"),
        ("int('1')  # raises ValueError: invalid", "shows ValueError, but nothing was raised"),
        ("int('x')  # raises TypeError", "raised ValueError"),
        ("int('x')  # raises ValueError: not what it says", "the message is"),
        ("print(2)", "prints without `# -> expected output`"),
        ("x = 2  # 2", "states a value unchecked"),
        ("x = (2, 3)  # (2, 3)", "states a value unchecked"),
        ("try:\n    int('x')\nexcept ValueError as e:\n    print(e)  # -> x", "try/except"),
        ("for i in range(2):\n    print(i)", "prints inside"),
    ],
)
def test_the_block_checker_fails_what_it_must(code, words):
    with pytest.raises(AssertionError, match=re.escape(words)):
        blocks_kit.run(code, {}, "example")


def test_the_block_checker_passes_what_is_true():
    namespace: dict = {}
    blocks_kit.run(
        "x = 2  # two\nprint(x, x * 3)  # -> 2 6\nint('x')  # raises ValueError: invalid literal", namespace, "ok"
    )
    assert namespace["x"] == 2


def test_the_cell_guides_speed_table_is_the_committed_summary():
    """Each row of docs/guides/cells.md's speed table is the forward and training medians of that ratio in
    benchmarks/results/cpu-cells-runs.json (three `seqnet bench` runs, the LSTM written as a user cell)."""
    import json

    summary = json.loads((ROOT / "benchmarks" / "results" / "cpu-cells-runs.json").read_text())
    medians = {h["ratio"]: (h["forward"]["median"], h["train"]["median"]) for h in summary["headline"]
               if h.get("forward") and h.get("train")}  # fmt: skip
    names = {"torch": "torch LSTM as a user cell / generic path", "paddle": "paddle LSTM as a user cell / generic path",
             "jax": "jax LSTM as a user cell / seqnet-jax"}  # fmt: skip
    text = (DOCS / "guides" / "cells.md").read_text()
    rows = dict(re.findall(r"^\| (torch|paddle|jax): user cell / [^|]+\| ([\d.]+ \| [\d.]+) \|$", text, re.M))
    assert sorted(rows) == ["jax", "paddle", "torch"]
    for framework, cells in rows.items():
        forward, train = medians[names[framework]]
        assert cells == f"{forward:.2f} | {train:.2f}", (framework, cells, forward, train)
