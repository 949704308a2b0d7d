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


def _demo(args: argparse.Namespace) -> int:
    from seqnet.demos.tasks import DEMOS

    names = list(DEMOS) if args.name == "all" else [args.name]
    for name in names:
        options = {"backend": args.backend, "out": args.out, "seed": args.seed}
        if args.epochs is not None:
            options["epochs"] = args.epochs
        print(DEMOS[name](**options), flush=True)
    return 0


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    """The benchmark harness (benchmarks/run.py): it measures each framework in a process of its own, with
    every thread pool set to --threads before the framework is imported."""
    from seqnet_benchmarks.run import main as bench_main

    threads = ["--threads", str(args.threads)] if args.threads else []
    return bench_main([*threads, *rest])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqnet", description="One recurrent-model definition, four frameworks.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, and each backend with whether its framework is installed").set_defaults(
        run=_info
    )
    demo = sub.add_parser("demo", help="train a classic task on any backend and write its PNG plot")
    demo.add_argument("name", choices=["sine", "sin2cos", "classify", "series", "gradient-flow", "all"])
    demo.add_argument("--backend", default="numpy", help="numpy (default), torch, paddle or jax")
    demo.add_argument("--out", default=".", help="folder for the PNG (default: the current one)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=None, help="override the task's number of epochs")
    demo.set_defaults(run=_demo)
    bench = sub.add_parser(
        "bench", help="time every backend against the frameworks' own layers and peers (see benchmarks/)"
    )
    bench.add_argument("--threads", type=int, default=None, help="threads for every framework (default: all cores)")
    bench.set_defaults(run=None)
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.run(args)
    except seqnet.SeqnetError as exc:
        print(f"seqnet: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
