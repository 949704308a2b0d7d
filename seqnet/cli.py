"""The `seqnet` command: `seqnet info`, `seqnet demo NAME`, `seqnet bench`.

Requirements: standard library and numpy; each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import platform
import sys

import seqnet
from seqnet.registry import registered


def _info(args: argparse.Namespace) -> int:
    print(f"seqnet {seqnet.__version__} (Python {platform.python_version()}, {platform.machine()})")
    print("backends:")
    for name, backend in registered().items():
        status = "installed" if backend.available() else f"not installed (pip install {backend.install})"
        versions = ", ".join(f"{dist} {ver}" for dist, ver in backend.versions().items() if ver)
        print(f"  {name:<8} {status}{'  [' + versions + ']' if versions and backend.available() else ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqnet", description="One recurrent-model definition, four frameworks.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, and each backend with whether its framework is installed").set_defaults(
        run=_info
    )
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
