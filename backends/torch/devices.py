"""torch's devices, named and checked before torch sees them: `device=` of `build(spec, "torch", ...)`.

Requirements: torch.
"""

from __future__ import annotations

from typing import Any

import torch

from seqnet.errors import BackendError


def devices() -> list[str]:
    """The devices torch can place a model on here: "cpu", then "cuda:<i>" for each GPU (and "mps" where found)."""
    found = ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device(device: Any) -> torch.device | None:
    """`device` as a torch.device that exists here, or a BackendError naming it and the devices that do."""
    if device is None:
        return None
    here = devices()
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise BackendError(f"device={device!r} is not allowed: a name such as 'cpu' or 'cuda:0'; devices here: {here}")
    try:
        found = device if isinstance(device, torch.device) else torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise BackendError(f"device={device!r} is not a device torch knows ({exc}); devices here: {here}") from exc
    if found.type == "cpu":
        return found
    name = found.type if found.index is None else f"{found.type}:{found.index}"
    exists = any(d == name or d.startswith(f"{name}:") for d in here) if found.index is None else name in here
    if not exists:
        raise BackendError(f"device={device!r} does not exist here: torch's devices here are {here}")
    return found
