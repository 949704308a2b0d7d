"""Model files in every format seqnet converts, and the parity check of `seqnet convert`.

Requirements: numpy and safetensors; each converter's framework for its own formats.

By suffix: `.safetensors` (seqnet's own file, or a plain state dict in PyTorch's or Paddle's names), and the
converters' suffixes: `.pt` / `.pth` (torch, read with `torch.load(weights_only=True)`), `.pdparams` (Paddle,
read by a restricted unpickler that builds NumPy arrays only), `.onnx`, `.keras` and `.h5` (Keras). Each
converter module defines `read_file(path)` (a checkpoint's arrays, or an `Imported` for a self-describing file;
ONNX's takes `node=`), `write_file(path, spec, weights, prefix, head)` and `run_file(path, spec, prefix, head,
x)`: the file's model run by the framework's own layer, loaded by the framework's own loader, so `compare`
checks seqnet's conversion against each framework rather than against itself. A graph format's converter may
define `inventory(path)` for `inspect` (ONNX's nodes, a Keras file's model).

Nothing here imports seqnet.convert: this module hands the converters' readings up to it (seqnet.imported).
"""

from __future__ import annotations

import inspect as inspect_module
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqnet.errors import ConversionError, NotExpressible, SeqnetError
from seqnet.imported import Found, Imported, describe, finish, head_name, to_numpy
from seqnet.io import SPEC_KEY, from_contents, read_safetensors, save
from seqnet.parity import TOLERANCE, scaled_diff
from seqnet.registry import Converter, converters, get_converter
from seqnet.spec import Spec
from seqnet.weights import Weights

NOT_IN_CHECKPOINTS = ("batch_first", "activation", "gru_variant", "output_mode", "dropout")


@dataclass
class ModelFile:
    """A file read by `read`: its Spec and canonical weights, and how to run it in its own framework."""

    path: Path
    format: str  # "seqnet", or the name of the converter whose format it is ("torch", "paddle", "onnx")
    spec: Spec
    weights: Weights
    prefix: str = ""
    head: str | None = None


def formats() -> dict[str, str]:
    """suffix -> format name, for every format readable here or by an installed converter."""
    out = {".safetensors": "seqnet"}
    for name, converter in converters().items():
        out.update({suffix: name for suffix in converter.suffixes})
    return out


def _existing(path: str | os.PathLike) -> Path:
    """`path` as a Path, if it names a file of a format seqnet reads (else a ConversionError saying which)."""
    path = Path(path)
    if path.suffix.lower() not in formats():
        raise ConversionError(f"{str(path)!r}: a path must end in one of {sorted(formats())}")
    if not path.is_file():
        raise ConversionError(f"{str(path)!r} does not exist or is not a file")
    return path


def _converter(path: Path) -> Converter:
    suffix = path.suffix.lower()
    for converter in converters().values():
        if suffix in converter.suffixes:
            return converter
    raise ConversionError(f"{str(path)!r}: unknown file type {suffix!r}; seqnet converts {sorted(formats())}")


def read(
    path: str | os.PathLike,
    framework: str | None = None,
    prefix: str = "",
    head: str | None = None,
    node: str | None = None,
    **spec_fields: Any,
) -> ModelFile:
    """The Spec and weights a model file holds. A checkpoint (`.pt`, `.pdparams`, a plain `.safetensors`)
    infers its Spec as `from_state_dict` does (`framework` names the checkpoint's naming for a plain
    safetensors file; default: Paddle's where its cell names occur, else PyTorch's)."""
    path = _existing(path)
    if path.suffix.lower() == ".safetensors":
        if node is not None:
            raise ConversionError(f"node={node!r} is for graph files (.onnx), not .safetensors files")
        arrays, metadata = read_safetensors(path)
        if SPEC_KEY in metadata:
            spec, weights = from_contents(arrays, metadata, repr(str(path)))
            spec, weights = finish(Imported(spec.to_dict(), dict(weights), repr(str(path))), spec_fields)
            return ModelFile(path, "seqnet", spec, weights)
        naming = framework or ("paddle" if any(".cell" in name for name in arrays) else "torch")
        return _checkpoint(path, naming, arrays, prefix, head, spec_fields, run_as="seqnet")
    converter = _converter(path)
    impl = converter.load()
    if node is not None and "node" not in inspect_module.signature(impl.read_file).parameters:
        raise ConversionError(f"node={node!r} is for graph files (.onnx), not {path.suffix} files")
    content = impl.read_file(path, **({} if node is None else {"node": node}))
    if isinstance(content, Imported):  # a self-describing file (ONNX)
        spec, weights = finish(content, spec_fields)
        return ModelFile(path, converter.name, spec, weights, content.prefix)
    return _checkpoint(path, converter.name, content, prefix, head, spec_fields, run_as=converter.name)


def _checkpoint(
    path: Path, naming: str, arrays: dict, prefix: str, head: str | None, spec_fields: dict, run_as: str
) -> ModelFile:
    impl = get_converter(naming).load()
    imported = impl.from_state_dict({k: to_numpy(v) for k, v in arrays.items()}, prefix, head_name(head))
    imported.source = f"{str(path)!r} ({imported.source.removeprefix('the ')})"
    spec, weights = finish(imported, spec_fields)
    return ModelFile(path, run_as, spec, weights, imported.prefix, head_name(head))


def write(path: str | os.PathLike, spec: Spec, weights: Weights, prefix: str = "", head: str = "head") -> ModelFile:
    """Write `spec` and `weights` in the format `path`'s suffix names (atomically); the written file."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        save(path, spec, weights)
        return ModelFile(path, "seqnet", spec, weights)
    converter = _converter(path)
    impl = converter.load()
    impl.write_file(path, spec, weights, prefix, head)
    return ModelFile(path, converter.name, spec, weights, prefix, head if spec.output_size else None)


def run(model_file: ModelFile, x: np.ndarray) -> tuple[np.ndarray, str]:
    """(outputs, what ran them): the file's model run by its own framework where installed (seqnet's own
    files by the NumPy reference backend)."""
    if model_file.format != "seqnet":
        converter = converters()[model_file.format]
        if converter.available():
            try:
                impl = converter.load()
                outputs = impl.run_file(model_file.path, model_file.spec, model_file.prefix, model_file.head, x)
                return np.asarray(outputs), f"{model_file.format}'s own layer"
            except NotExpressible:  # a spec its own layer cannot run (a sigmoid RNN in a .pt): NumPy runs it
                pass
    from seqnet.build import build, predict

    return predict(build(model_file.spec, "numpy", model_file.weights, model_file.weights.dtype.name), x)[0], (
        "seqnet's NumPy reference"
    )


def compare(source: ModelFile, target: ModelFile, seed: int = 0, batch: int = 3, steps: int = 7) -> dict[str, Any]:
    """Both files run on one random batch, each in its own framework: the largest scaled difference of their
    outputs, the tolerance for their dtypes, and what ran each."""
    spec = source.spec
    shape = (batch, steps, spec.input_size) if spec.batch_first else (steps, batch, spec.input_size)
    dtype = "float32" if "float32" in (source.weights.dtype.name, target.weights.dtype.name) else "float64"
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    a, ran_a = run(source, x)
    b, ran_b = run(target, x)
    return {"difference": scaled_diff(a, b), "tolerance": TOLERANCE[dtype], "source": ran_a, "target": ran_b}


# -- seqnet inspect: what a file holds, read without running any of it -------------------------------------------
@dataclass
class Inventory:
    """What `inspect` found in a file: its format, the recurrent parts, and every other entry ('name [shape]',
    or an ONNX graph's other operators)."""

    path: Path
    format: str
    found: list[Found]
    other: list[str]

    def __str__(self) -> str:
        kinds = ", ".join(
            f"{sum(f.kind == k for f in self.found)} {k}(s)" for k in dict.fromkeys(f.kind for f in self.found)
        )
        lines = [f"{self.path} ({self.format}): {kinds or 'no recurrent layer, cell or node'}"]
        for f in self.found:
            lines.append(
                f"  {f.kind} {f.where!r}: {f.spec if f.spec is not None else 'not a seqnet Spec: ' + f.problem}"
            )
            lines += [f"      {entry}" for entry in f.entries]
        if self.other:
            lines.append(f"  other entries ({len(self.other)}):")
            lines += [f"      {entry}" for entry in self.other]
        return "\n".join(lines)


def inspect(path: str | os.PathLike, framework: str | None = None) -> Inventory:
    """The recurrent layers, cells or nodes a model file holds, the Spec read from each, and its other entries,
    read as `read` reads (torch.load(weights_only=True), Paddle's restricted unpickler, safetensors, ONNX's
    protobuf, a Keras file's config as JSON before Keras's safe loader), so nothing in the file runs. A
    checkpoint's Specs hold what its names and shapes say (batch_first, an RNN's activation and the like take
    their defaults)."""
    path = _existing(path)
    if path.suffix.lower() == ".safetensors":
        arrays, metadata = read_safetensors(path)
        if SPEC_KEY in metadata:
            spec, weights = from_contents(arrays, metadata, repr(str(path)))
            return Inventory(path, "seqnet", [Found("model", "", spec, describe(weights))], [])
        naming = framework or ("paddle" if any(".cell" in name for name in arrays) else "torch")
        return _inventory(path, f"{naming} state dict in safetensors", naming, dict(arrays))
    converter = _converter(path)
    impl = converter.load()
    if hasattr(impl, "inventory"):  # a graph format (ONNX): the converter lists its nodes
        found, other = impl.inventory(path)
        return Inventory(path, converter.name, found, other)
    return _inventory(path, f"{converter.name} checkpoint", converter.name, impl.read_file(path))


def _inventory(path: Path, what: str, naming: str, arrays: dict[str, Any]) -> Inventory:
    impl = get_converter(naming).load()
    arrays = {k: to_numpy(v) for k, v in arrays.items()}
    names = list(arrays)
    found: list[Found] = []
    used: set[str] = set()
    for prefix, kind in sorted(impl.layer_prefixes(names).items()):
        try:
            imported = impl.from_state_dict(arrays, prefix, None)
            spec, problem = finish(imported, {})[0], ""
        except SeqnetError as exc:
            imported, spec, problem = None, None, str(exc).split("; found:")[0]
        mine = imported.used if imported is not None else [n for n in names if n.startswith(prefix)]
        used.update(mine)
        found.append(Found(kind, prefix, spec, describe({n: arrays[n] for n in mine}), problem))
    other = describe({n: arrays[n] for n in names if n not in used})
    return Inventory(path, what, found, other)
