"""Matplotlib, imported when a demo draws (pip install 'seqnet[plot]'), always with the file-only Agg backend.

Requirements: matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqnet.errors import import_framework


def pyplot() -> Any:
    matplotlib = import_framework("matplotlib", "the demos draw PNG plots with matplotlib: pip install 'seqnet[plot]'")
    matplotlib.use("Agg")
    return import_framework("matplotlib.pyplot", "the demos draw PNG plots with matplotlib")


def legend_above(ax: Any) -> None:
    """The legend in one row in a band added above the data, so that it covers no curve."""
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.22 * (high - low))
    ax.legend(loc="upper center", ncol=len(ax.get_legend_handles_labels()[0]), fontsize=8, frameon=False)


def save(fig: Any, out: str | Path, name: str) -> Path:
    """Write `fig` as out/name (creating out) and close it; returns the path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
