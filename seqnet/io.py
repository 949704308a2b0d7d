"""`save` and `load`: a Spec and its weights in one safetensors file.

Requirements: numpy (the safetensors format is read and written here directly; the `safetensors` package
is not needed, and the tests check that it reads our files and we read its files).

Why safetensors: a standard, framework-neutral format that PyTorch, JAX/flax, Paddle and Hugging Face
tools read; it holds raw little-endian arrays and a JSON header, so loading never executes code (unlike
pickle, `torch.save` or `np.load(allow_pickle=True)`). The Spec is stored as JSON in the header's
`__metadata__` under "seqnet.spec".

File layout: 8-byte little-endian header length N, N bytes of JSON header (space-padded), the data. Saves
are atomic: the file is written beside its target, flushed to disk and renamed over it, so a crash midway
leaves the old file intact. A truncated, corrupted or mismatched file raises one FileFormatError listing
what is wrong; nothing is half-loaded.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seqnet.errors import FileFormatError, SeqnetError
from seqnet.spec import Spec
from seqnet.weights import Weights, as_weights

_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "F16": np.dtype("<f2")}
_NAMES = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024
SPEC_KEY = "seqnet.spec"


def save(path: str | os.PathLike, spec: Spec, weights: Mapping[str, Any]) -> None:
    """Write `spec` and `weights` (checked against the spec first) to `path` atomically."""
    if not isinstance(spec, Spec):
        raise SeqnetError(f"save needs a seqnet.Spec, got {type(spec).__name__}")
    checked = as_weights(spec, weights)
    header: dict[str, Any] = {"__metadata__": {SPEC_KEY: spec.to_json(), "format": "np"}}
    blobs, offset = [], 0
    for name, array in checked.items():
        data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": _NAMES[array.dtype.newbyteorder("<")],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(struct.pack("<Q", len(text)))
            handle.write(text)
            for blob in blobs:
                handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike) -> tuple[Spec, Weights]:
    """Read a file written by `save`: (spec, weights), or one FileFormatError listing what is wrong."""
    raw = Path(path).read_bytes()
    where = f"{os.fspath(path)!r}"
    if len(raw) < 8:
        raise FileFormatError(f"{where} is not a seqnet file: {len(raw)} bytes, shorter than its 8-byte header")
    (size,) = struct.unpack("<Q", raw[:8])
    if size > min(_MAX_HEADER, len(raw) - 8):
        raise FileFormatError(
            f"{where} is truncated or not a safetensors file: header claims {size} bytes, file has {len(raw) - 8}"
        )
    try:
        header = json.loads(raw[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{where} has a corrupted header: {exc}") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{where} has a corrupted header: not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if SPEC_KEY not in meta:
        raise FileFormatError(f"{where} holds no seqnet spec (metadata key {SPEC_KEY!r} missing)")
    try:
        spec = Spec.from_json(meta[SPEC_KEY])
    except SeqnetError as exc:
        raise FileFormatError(f"{where} holds an invalid spec: {exc}") from None
    data = memoryview(raw)[8 + size :]
    arrays, problems = {}, []
    for name, entry in header.items():
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(int(n) for n in entry["shape"])
            start, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{name}: malformed entry {entry!r}")
            continue
        if not 0 <= start <= end <= len(data):
            problems.append(f"{name}: data [{start}, {end}) lies outside the {len(data)} data bytes (truncated?)")
            continue
        if end - start != int(np.prod(shape)) * dtype.itemsize:
            problems.append(f"{name}: {end - start} bytes do not hold shape {list(shape)} of {entry['dtype']}")
            continue
        arrays[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    if problems:
        raise FileFormatError(f"{where} is damaged:\n  " + "\n  ".join(problems))
    try:
        return spec, as_weights(spec, arrays)
    except SeqnetError as exc:
        raise FileFormatError(f"{where}: its weights do not fit its spec: {exc}") from None
