"""JAX's devices, named and checked before JAX sees them: `device=` of `build(spec, "jax", ...)`.

Requirements: jax.
"""

from __future__ import annotations

import re
from typing import Any

import jax

from seqnet.errors import BackendError

_NAME = re.compile(r"^(cpu|gpu|cuda|rocm|tpu)(?::(\d+))?$")


def devices() -> list[str]:
    """The devices JAX has here, as "<platform>:<id>" ("cpu:0", "gpu:0", ...)."""
    return [f"{d.platform}:{d.id}" for d in jax.devices()]


def check_device(device: Any) -> Any:
    """`device` (a jax.Device, or a name such as "cpu", "gpu:1") as a jax.Device that exists here, or a
    BackendError naming it and the devices that do."""
    if device is None or isinstance(device, jax.Device):
        return device
    here = devices()
    match = _NAME.match(device) if isinstance(device, str) else None
    if match is None:
        raise BackendError(f"device={device!r} is not allowed: a jax.Device, or 'cpu', 'gpu' or 'gpu:<index>'; "
                           f"devices here: {here}")  # fmt: skip
    platform = {"cuda": "gpu", "rocm": "gpu"}.get(match.group(1), match.group(1))
    index = int(match.group(2) or 0)
    found = [d for d in jax.devices() if d.platform == platform]
    if index >= len(found):
        raise BackendError(f"device={device!r} does not exist here: JAX's devices here are {here}")
    return found[index]
