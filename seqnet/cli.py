"""The `seqnet` command: `seqnet info`, `seqnet inspect FILE`, `seqnet convert SRC DST`, `seqnet demo NAME`,
`seqnet bench`.

Requirements: standard library and numpy; each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import platform
import sys

import seqnet
from seqnet.registry import converters, registered


def _info(args: argparse.Namespace) -> int:
    print(f"seqnet {seqnet.__version__} (Python {platform.python_version()}, {platform.machine()})")
    for title, records in (("backends", registered()), ("converters", converters())):
        print(f"{title}:")
        for name, record in records.items():
            found = record.versions()  # a converter may need no module to load, but its framework to be useful
            here = record.available() and all(found.values())
            status = "installed" if here else f"not installed (pip install {record.install})"
            versions = ", ".join(f"{dist} {ver}" for dist, ver in found.items() if ver)
            shown = f"  [{versions}]" if versions and here else ""
            print(f"  {name:<12} {status}{shown}")
            if title == "backends" and here:  # the framework imported, to ask it
                listed = getattr(record.load(), "devices", None)
                if listed is not None:
                    print(f"  {'':<12} devices: {', '.join(listed())}")
    name, where = seqnet.default_backend()
    print(f"default backend: {name} (from {where})")
    return 0


def _convert(args: argparse.Namespace) -> int:
    """Read SRC, write DST, and run both on one random batch in their own frameworks."""
    from seqnet import files

    fields = {
        name: value
        for name, value in (
            ("batch_first", args.batch_first),
            ("activation", args.activation),
            ("gru_variant", args.gru_variant),
            ("output_mode", args.output_mode),
            ("dropout", args.dropout),
        )
        if value is not None
    }
    source = files.read(args.src, framework=args.framework, prefix=args.prefix, head=args.head, node=args.node,
                        **fields)  # fmt: skip
    where = (
        f" (layer under {source.prefix!r}{', head ' + repr(source.head) if source.head else ''})"
        if source.prefix or source.head
        else ""
    )
    print(f"read {args.src}{where}: {source.spec}")
    target = files.write(args.dst, source.spec, source.weights, prefix=args.out_prefix, head=args.out_head)
    print(f"wrote {args.dst}")
    kept = {name: getattr(source.spec, name) for name in files.NOT_IN_CHECKPOINTS}  # DST's spec is SRC's
    back = files.read(args.dst, prefix=args.out_prefix, head=target.head, **kept)
    report = files.compare(source, back)
    ok = report["difference"] <= (args.tolerance if args.tolerance is not None else report["tolerance"])
    print(
        f"parity on one random batch: {args.src} in {report['source']} vs {args.dst} in {report['target']}: "
        f"largest difference {report['difference']:.3g} (tolerance {args.tolerance or report['tolerance']:.0e}): "
        f"{'ok' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1


def _demo(args: argparse.Namespace) -> int:
    from seqnet.demos.tasks import DEMOS

    names = list(DEMOS) if args.name == "all" else [args.name]
    for name in names:
        options = {"backend": seqnet.registry.resolve_backend(args.backend), "out": args.out, "seed": args.seed}
        if args.epochs is not None:
            options["epochs"] = args.epochs
        print(DEMOS[name](**options), flush=True)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    """What a model file holds, read without running any of it."""
    from seqnet import files

    print(files.inspect(args.file, framework=args.framework))
    return 0


def _bench(args: argparse.Namespace, rest: list[str]) -> int:
    """The benchmark harness (benchmarks/run.py): it measures each framework in a process of its own, with
    every thread pool set to --threads before the framework is imported. Every argument, -h included, is
    the harness's."""
    from seqnet_benchmarks.run import main as bench_main

    return bench_main(rest)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return lowered in ("true", "1", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seqnet", description="One recurrent-model definition, every framework.")
    parser.add_argument("--version", action="version", version=f"seqnet {seqnet.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, each backend (installed? its devices), the default backend").set_defaults(
        run=_info
    )
    inspect = sub.add_parser(
        "inspect",
        help="list the recurrent layers, cells or ONNX nodes a model file holds, the Spec of each, and the rest",
        description="Reads FILE (.pt, .pth, .pdparams, .safetensors, .onnx, .keras, .h5) as `seqnet convert` reads "
        "it, running nothing in it: torch.load(weights_only=True), Paddle's restricted unpickler, safetensors, ONNX's "
        "protobuf, a Keras file's config as JSON (a Lambda layer refused) before Keras's safe loader.",
    )
    inspect.add_argument("file")
    inspect.add_argument("--framework", choices=["torch", "paddle"], default=None,
                         help="the naming of a plain safetensors state dict (default: found)")  # fmt: skip
    inspect.set_defaults(run=_inspect)
    convert = sub.add_parser(
        "convert",
        help="convert a model file (.pt, .pth, .pdparams, .safetensors, .onnx, .keras, .h5) into another, and check "
        "both agree",
        description="Reads SRC (a torch or Paddle checkpoint, a seqnet or plain safetensors file, an ONNX file, a "
        "Keras .keras or .h5 file), "
        "infers its Spec, writes DST in the format its suffix names, then runs both on one random batch in their "
        "own frameworks and prints the largest difference; the exit code is 1 above the tolerance.",
    )
    convert.add_argument("src")
    convert.add_argument("dst")
    convert.add_argument("--prefix", default="", help="where the recurrent layer sits in SRC (default: found)")
    convert.add_argument("--head", default=None, help="the linear layer in SRC to use as the head, e.g. fc")
    convert.add_argument("--node", default=None, help="the recurrent node of an ONNX SRC to read (seqnet inspect "
                         "lists them); needed where several different ones sit in subgraphs")  # fmt: skip
    convert.add_argument(
        "--framework",
        choices=["torch", "paddle"],
        default=None,
        help="the naming of a plain .safetensors SRC (default: found from its names)",
    )
    convert.add_argument("--out-prefix", default="", help="prefix of the layer's entries in DST")
    convert.add_argument("--out-head", default="head", help="name of the head's entries in DST")
    convert.add_argument(
        "--batch-first", type=_boolean, default=None, help="true or false (a checkpoint cannot hold it)"
    )
    convert.add_argument("--activation", default=None, help="rnn activation: tanh, relu or sigmoid")
    convert.add_argument("--gru-variant", default=None, help="reset_after or reset_before")
    convert.add_argument("--output-mode", default=None, help="sequence or last")
    convert.add_argument("--dropout", type=float, default=None)
    convert.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="largest difference allowed (default: 1e-5 float32, 1e-10 float64)",
    )
    convert.set_defaults(run=_convert)
    demo = sub.add_parser("demo", help="train a classic task on any backend and write its PNG plot")
    demo.add_argument("name", choices=["sine", "sin2cos", "classify", "series", "gradient-flow", "all"])
    demo.add_argument("--backend", default=None,
                      help="numpy, torch, paddle or jax (default: SEQNET_BACKEND, else numpy)")  # fmt: skip
    demo.add_argument("--out", default=".", help="folder for the PNG (default: the current one)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--epochs", type=int, default=None, help="override the task's number of epochs")
    demo.set_defaults(run=_demo)
    bench = sub.add_parser(  # its arguments are the harness's (seqnet bench -h lists them)
        "bench",
        help="time every backend against the frameworks' own layers and peers (see benchmarks/)",
        add_help=False,
    )
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
