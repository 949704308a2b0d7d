"""Paddle's devices, named and checked before Paddle sees them: `device=` of `build(spec, "paddle", ...)`.

Requirements: paddle.
"""

from __future__ import annotations

import re
from typing import Any

from seqnet.errors import BackendError

from .model import paddle

_NAME = re.compile(r"^(cpu|gpu|xpu|npu)(?::(\d+))?$")


def devices() -> list[str]:
    """The devices Paddle can place a model on here: "cpu", then "gpu:<i>" for each GPU of a CUDA build."""
    count = paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0
    return ["cpu", *(f"gpu:{i}" for i in range(count))]


def check_device(device: Any) -> str | None:
    """`device` as a Paddle device string that exists here, or a BackendError naming it and the devices that do."""
    if device is None:
        return None
    here = devices()
    match = _NAME.match(device) if isinstance(device, str) else None
    if match is None:
        raise BackendError(f"device={device!r} is not allowed: 'cpu', 'gpu' or 'gpu:<index>'; devices here: {here}")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu" and index is None:
        return "cpu"
    name = f"{kind}:{index or 0}"
    if name not in here:
        raise BackendError(f"device={device!r} does not exist here: Paddle's devices here are {here}")
    return name
