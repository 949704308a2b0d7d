"""The registries: which frameworks seqnet can compile a Spec into (backends) and convert from and to
(converters), found without importing them.

Requirements: standard library only. A framework is imported when its backend or converter is first used,
never here.

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

A converter is a `Converter` record in the entry-point group "seqnet.converters": a framework's name, the
top-level packages whose objects it reads (`roots`, matched against the classes of the object given to
`seqnet.from_framework`), and its implementation module, which defines the same functions in every
converter (see seqnet.convert).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

from seqnet.errors import BackendError, BackendUnavailable

ENTRY_POINT_GROUP = "seqnet.backends"
ENV_VAR = "SEQNET_BACKEND"  # the default backend, as KERAS_BACKEND is Keras's
CONVERTER_GROUP = "seqnet.converters"


@dataclass(frozen=True)
class _Plugin:
    """What backends and converters share: a name, an implementation module, the modules it needs."""

    name: str
    module: str
    requires: tuple[str, ...] = ()
    install: str = ""
    distributions: tuple[str, ...] = field(default=())

    kind = "plugin"

    def available(self) -> bool:
        """Whether every required module can be found here (nothing is imported)."""
        return all(_findable(name) for name in self.requires)

    def versions(self) -> dict[str, str | None]:
        """Installed version of each distribution it needs (None where missing)."""
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
                f"{self.kind} {self.name!r} needs {', '.join(missing)}, which is not installed here{hint}"
            )
        return importlib.import_module(self.module)


@dataclass(frozen=True)
class Backend(_Plugin):
    """A backend's record: what `seqnet.build` needs to find it, without importing it.

    Parameters
    ----------
    name : str
        The name `build(spec, name)` takes.
    module : str
        The dotted name of the implementation module (build, weights_of, to_numpy, from_numpy, and optionally
        value_and_grad and no_grad).
    requires : tuple of str
        Modules that must be importable (found with importlib.util.find_spec; nothing is imported).
    install : str
        What to pip install when they are missing.
    distributions : tuple of str
        Distributions whose versions `seqnet info` shows.
    dtypes : tuple of str
        The dtypes its models compute in (canonical weights are float32 or float64; a wider list such as torch's
        float16 and bfloat16 means the backend casts them).
    """

    dtypes: tuple[str, ...] = ("float32", "float64")

    kind = "backend"


@dataclass(frozen=True)
class Converter(_Plugin):
    """A converter's record: between seqnet and one framework's own layers, checkpoints or files.

    Parameters
    ----------
    name, module, requires, install, distributions
        As for `Backend`; `requires` may be empty where part of the converter works without its framework (a
        state dict of NumPy arrays).
    roots : tuple of str
        The top-level packages whose objects it reads ("torch" for ``torch.nn.LSTM``): an object given to
        `seqnet.from_framework` goes to the converter owning a root of one of its classes.
    suffixes : tuple of str
        The file suffixes it reads and writes (".pt", ".onnx").
    """

    roots: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    kind = "converter"


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class _Registry:
    """Records of one kind by name, filled from an entry-point group on first use."""

    def __init__(self, group: str, record: type[_Plugin]):
        self.group, self.record = group, record
        self.records: dict[str, Any] = {}
        self.read = False

    def add(self, record: Any, replace: bool) -> Any:
        if not isinstance(record, self.record):
            raise BackendError(
                f"register_{self.record.kind} needs a seqnet.{self.record.__name__}, got {type(record).__name__}"
            )
        self.all()
        if record.name in self.records and not replace and self.records[record.name] != record:
            raise BackendError(f"a {self.record.kind} named {record.name!r} is already registered; pass replace=True")
        self.records[record.name] = record
        return record

    def all(self) -> dict[str, Any]:
        if not self.read:
            self.read = True
            for entry in metadata.entry_points(group=self.group):
                try:
                    record = entry.load()
                except Exception as exc:  # a broken plugin must not break seqnet
                    import warnings

                    warnings.warn(
                        f"seqnet {self.record.kind} plugin {entry.name!r} failed to load: {exc}", stacklevel=3
                    )
                    continue
                if isinstance(record, self.record):
                    self.records.setdefault(record.name, record)
        return dict(sorted(self.records.items(), key=lambda kv: (kv[0] != "numpy", kv[0])))

    def get(self, name: str) -> Any:
        records = self.all()
        found = records.get(name) if isinstance(name, str) else None
        if found is None:
            kind, known = self.record.kind, list(records)
            if not isinstance(name, str):
                raise BackendError(f"{kind}={name!r} is not allowed: a {kind} name, one of {known}")
            raise BackendError(f"{kind}={name!r} is not registered; known {kind}s: {known}")
        return found


_backends = _Registry(ENTRY_POINT_GROUP, Backend)
_converters = _Registry(CONVERTER_GROUP, Converter)


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    """Add `backend` to the registry at run time (the entry-point group "seqnet.backends" is the other way).

    Parameters
    ----------
    backend : Backend
    replace : bool
        Replace a backend of the same name (else that is an error).

    Returns
    -------
    Backend
    """
    return _backends.add(backend, replace)


def register_converter(converter: Converter, *, replace: bool = False) -> Converter:
    """Add `converter` to the registry at run time (the entry-point group "seqnet.converters" is the other way).

    Parameters
    ----------
    converter : Converter
    replace : bool
        Replace a converter of the same name (else that is an error).

    Returns
    -------
    Converter
    """
    return _converters.add(converter, replace)


def registered() -> dict[str, Backend]:
    """Every registered backend by name, available here or not."""
    return _backends.all()


def converters() -> dict[str, Converter]:
    """Every registered converter by name, available here or not."""
    return _converters.all()


def backends() -> list[str]:
    """The backends usable here.

    Returns
    -------
    list of str
        The names of the registered backends whose frameworks are installed, NumPy first.
    """
    return [name for name, backend in registered().items() if backend.available()]


def get_backend(name: str) -> Backend:
    """The registered backend `name`, or a BackendError listing the known ones."""
    return _backends.get(name)


# -- the default backend: what build, value_and_grad, fit and the CLI use where no backend is given -------------
_default: list[str] = []  # set_backend's, innermost last


def default_backend() -> tuple[str, str]:
    """(the default backend's name, where it comes from): `set_backend`, else the environment variable
    SEQNET_BACKEND, else "numpy". A name from the environment that is not registered, or whose framework is not
    installed, is an error naming the variable."""
    if _default:
        return _default[-1], "seqnet.set_backend"
    name = os.environ.get(ENV_VAR, "")
    if not name:
        return "numpy", "the built-in default"
    _usable(name, f"the environment variable {ENV_VAR}={name!r}")
    return name, f"the environment variable {ENV_VAR}"


def resolve_backend(name: str | None) -> str:
    """`name`, or the default backend where it is None."""
    return default_backend()[0] if name is None else name


def _usable(name: Any, where: str) -> Backend:
    records = registered()
    if not isinstance(name, str) or name not in records:
        raise BackendError(f"{where} is not a registered backend; registered: {list(records)}")
    record = records[name]
    if not record.available():
        hint = f" (pip install {record.install})" if record.install else ""
        raise BackendUnavailable(f"{where}: backend {name!r} is registered but its framework is not installed{hint}")
    return record


class set_backend:  # noqa: N801 - a function to the user, and a context manager (as torch.set_grad_enabled)
    """Make `name` the default backend: for the rest of the process, or, used as ``with seqnet.set_backend(name):``,
    for the block only. It takes precedence over SEQNET_BACKEND.

    Parameters
    ----------
    name : str
        A registered backend whose framework is installed (else an error listing the registered ones, or saying
        what to install).
    """

    def __init__(self, name: str):
        _usable(name, f"set_backend({name!r})")
        self.name = name
        _default.append(name)
        self._depth = len(_default)

    def __enter__(self) -> set_backend:
        return self

    def __exit__(self, *exc: Any) -> None:
        del _default[self._depth - 1 :]  # this one and any set inside the block

    def __repr__(self) -> str:
        return f"seqnet.set_backend({self.name!r})"


def get_converter(name: str) -> Converter:
    """The registered converter `name`, or a BackendError listing the known ones."""
    return _converters.get(name)


def implementation(name: str) -> Any:
    """The loaded implementation module of backend `name`."""
    return get_backend(name).load()


def check_options(fn: Callable[..., Any], options: Mapping[str, Any], what: str, fixed: tuple[str, ...] = ()) -> None:
    """A BackendError naming each option `fn` does not take (with the closest allowed name), before the call."""
    parameters = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    allowed = [
        name
        for name, p in parameters.items()
        if name not in fixed and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    for name in options:
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BackendError(f"{what} has no option {name!r}{hint}; its options: {allowed or 'none'}")
