"""The `seqnet` command and the demos (few epochs: they must run and write real PNGs, on every backend)."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import importorskip, require

import seqnet
from seqnet.cli import main
from seqnet.demos.tasks import DEMOS

importorskip("matplotlib", "the demos draw with matplotlib: pip install 'seqnet[plot]'")
PNG = b"\x89PNG\r\n\x1a\n"


def test_info_lists_every_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"seqnet {seqnet.__version__}" in out
    for name in ("numpy", "torch", "paddle", "jax"):
        assert name in out


def test_info_says_a_converter_is_not_installed_where_its_framework_is_missing(capsys, monkeypatch):
    """The torch converter loads without torch (it reads NumPy state dicts), but info must not call it installed."""
    from importlib import metadata

    real = metadata.version

    def version(dist: str) -> str:
        if dist == "torch":
            raise metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(metadata, "version", version)
    assert main(["info"]) == 0
    converters = capsys.readouterr().out.split("converters:")[1]
    line = next(text for text in converters.splitlines() if text.split()[:1] == ["torch"])
    assert "not installed (pip install torch)" in line, line


@pytest.mark.parametrize("name", list(DEMOS))
def test_each_demo_runs_on_numpy(tmp_path, name):
    result = DEMOS[name](backend="numpy", out=tmp_path, epochs=2)
    assert result.png.read_bytes()[:8] == PNG and result.png.parent == tmp_path
    assert result.loss == result.loss  # not NaN


def test_a_demos_legend_covers_no_curve():
    """legend_above puts the legend in a band above every line's highest point (the sine demo's legend once sat
    on the curve it labelled)."""
    import numpy as np

    from seqnet.demos import plotting

    fig, ax = plotting.pyplot().subplots(figsize=(5.5, 3.6))
    t = np.arange(160)
    ax.plot(t, np.sin(0.2 * t), label="sin(t)")
    ax.plot(t, 1.1 * np.cos(0.2 * t), "--", label="free-running RNN")
    plotting.legend_above(ax)
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent().transformed(ax.transData.inverted())
    assert box.y0 > 1.1 and box.y1 <= ax.get_ylim()[1]
    plotting.pyplot().close(fig)


@pytest.mark.parametrize("backend", ["torch", "paddle", "jax"])
def test_a_demo_runs_on_each_framework(tmp_path, backend):
    require(backend)
    result = DEMOS["classify"](backend=backend, out=tmp_path, epochs=1)
    assert result.png.exists() and result.backend == backend


def test_demo_command_writes_into_the_current_folder(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "seqnet.cli", "demo", "sin2cos", "--epochs", "1"], cwd=tmp_path, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert "sin2cos on numpy" in out.stdout
    assert (tmp_path / "sin2cos.png").read_bytes()[:8] == PNG


def test_demo_command_reports_a_missing_backend_cleanly(capsys):
    seqnet.register_backend(
        seqnet.Backend("nothere", "x", requires=("no_such_module_q",), install="nothing"), replace=True
    )
    assert main(["demo", "sine", "--backend", "nothere", "--epochs", "1"]) == 2
    assert "needs no_such_module_q" in capsys.readouterr().err


def test_version_is_one_place():
    import subprocess
    import sys
    from importlib import metadata

    import seqnet

    done = subprocess.run([sys.executable, "-m", "seqnet.cli", "--version"], capture_output=True, text=True)
    assert done.stdout.strip() == f"seqnet {seqnet.__version__}" == f"seqnet {metadata.version('seqnet')}"
    assert f"## {seqnet.__version__} " in (Path(__file__).parent.parent / "CHANGELOG.md").read_text()
