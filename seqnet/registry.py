"""The backend registry: which frameworks seqnet can compile a Spec into, found without importing them.

Requirements: standard library only. A framework is imported when its backend is first used, never here.

A backend is a `Backend` record: a name, the modules it needs (checked with importlib.util.find_spec, the
einops way, so nothing heavy is imported to find out), a pip hint, and the dotted name of its
implementation module. That module defines the same functions in every backend (as Keras 3's
`keras/src/backend/<name>/`):

    build(spec, weights, dtype, **options) -> model   # outputs, state = model(x, state=None, lengths=None)
    weights_of(model) -> Mapping[str, np.ndarray]
    to_numpy(value) -> np.ndarray
    value_and_grad(spec, weights, x, target, loss, state, lengths, dtype) -> (loss, grads, dx)   # optional

Built-in backends register exactly as a plugin would, through the entry-point group "seqnet.backends":

    [project.entry-points."seqnet.backends"]
    mxnet = "my_package.seqnet_plugin:backend"     # a seqnet.Backend instance

or at run time with `seqnet.register_backend(Backend(...))`.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

from seqnet.errors import BackendError, BackendUnavailable

ENTRY_POINT_GROUP = "seqnet.backends"


@dataclass(frozen=True)
class Backend:
    """A backend: `name`, the implementation module, what it needs, how to install it, and the dtypes its
    models compute in (canonical weights are float32 or float64; a wider list such as torch's float16 and
    bfloat16 means the backend casts them)."""

    name: str
    module: str
    requires: tuple[str, ...] = ()
    install: str = ""
    distributions: tuple[str, ...] = field(default=())
    dtypes: tuple[str, ...] = ("float32", "float64")

    def available(self) -> bool:
        """Whether every required module can be found here (nothing is imported)."""
        return all(_findable(name) for name in self.requires)

    def versions(self) -> dict[str, str | None]:
        """Installed version of each distribution the backend needs (None where missing)."""
        out: dict[str, str | None] = {}
        for dist in self.distributions or self.requires:
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                out[dist] = None
        return out

    def load(self) -> ModuleType:
        """The implementation module, imported now; BackendUnavailable names what to install."""
        if not self.available():
            missing = [name for name in self.requires if not _findable(name)]
            hint = f": pip install {self.install}" if self.install else ""
            raise BackendUnavailable(
                f"backend {self.name!r} needs {', '.join(missing)}, which is not installed here{hint}"
            )
        return importlib.import_module(self.module)


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_registry: dict[str, Backend] = {}
_entry_points_read = False


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add `backend` to the registry (an error if the name is taken, unless `replace`)."""
    if not isinstance(backend, Backend):
        raise BackendError(f"register_backend needs a seqnet.Backend, got {type(backend).__name__}")
    _read_entry_points()
    if backend.name in _registry and not replace and _registry[backend.name] != backend:
        raise BackendError(f"a backend named {backend.name!r} is already registered; pass replace=True")
    _registry[backend.name] = backend
    return backend


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            backend = entry.load()
        except Exception as exc:  # a broken plugin must not break seqnet
            import warnings

            warnings.warn(f"seqnet backend plugin {entry.name!r} failed to load: {exc}", stacklevel=2)
            continue
        if isinstance(backend, Backend):
            _registry.setdefault(backend.name, backend)


def registered() -> dict[str, Backend]:
    """Every registered backend by name, available here or not."""
    _read_entry_points()
    return dict(sorted(_registry.items(), key=lambda kv: (kv[0] != "numpy", kv[0])))


def backends() -> list[str]:
    """The names of the backends usable here (their frameworks are installed), NumPy first."""
    return [name for name, backend in registered().items() if backend.available()]


def get_backend(name: str) -> Backend:
    """The registered backend `name`, or a BackendError listing the known ones."""
    if not isinstance(name, str):
        raise BackendError(f"backend={name!r} is not allowed: a backend name, one of {list(registered())}")
    found = registered().get(name)
    if found is None:
        raise BackendError(f"backend={name!r} is not registered; known backends: {list(registered())}")
    return found


def implementation(name: str) -> Any:
    """The loaded implementation module of backend `name`."""
    return get_backend(name).load()
