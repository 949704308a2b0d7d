"""Gradients and training on every backend: `value_and_grad`, `fit`, the optimizers, `gradient_flow`.

Requirements: numpy; a backend's framework when that backend is used.

`value_and_grad` computes through the backend's own autograd (NumPy: the hand-written BPTT). `fit` runs
the optimizer in NumPy on canonical weights, the same arithmetic whichever backend computed the
gradients, so a float64 run with the same data, weights and seed gives the same loss curve on every
backend (the tests hold them to a relative 1e-6 over 100+ steps).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqnet.errors import BackendError, InputError, TrainingError
from seqnet.inputs import check_call
from seqnet.losses import LOSSES, check_target
from seqnet.registry import get_backend, resolve_backend
from seqnet.spec import Spec
from seqnet.weights import Weights, as_weights, check_dtype

OPTIMIZERS = ("adam", "sgd")


def value_and_grad(
    spec: Spec,
    weights: Mapping[str, Any],
    x: Any,
    target: Any,
    loss: str = "mse",
    backend: str | None = None,
    state: Any = None,
    lengths: Any = None,
    dtype: str | None = None,
    training: bool = False,
    dropout_seed: int = 0,
) -> tuple[float, Weights, np.ndarray]:
    """The loss and its gradients, computed by `backend`'s autograd (NumPy: the hand-written BPTT).

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array
        Canonical weights.
    x : numpy.ndarray
        (B, T, input_size), or (T, B, input_size) with ``batch_first=False``.
    target : numpy.ndarray
        "mse": the outputs' shape; "cross_entropy": integer class ids in 0..output_size-1, (B, T) (or (T, B))
        for sequence outputs, (B,) for ``output_mode="last"``.
    loss : str
        "mse" (the mean over valid steps and features) or "cross_entropy" (class logits from a head); both
        defined in `seqnet.losses`.
    backend : str, optional
        A backend that computes gradients (numpy, torch, paddle, jax); default: the default backend
        (`seqnet.set_backend`, SEQNET_BACKEND, else numpy).
    state, lengths : optional
        As for a model call, as NumPy arrays.
    dtype : str, optional
        Default: the weights'.
    training : bool
        Dropout on: NumPy and JAX draw masks from `dropout_seed`, torch and Paddle from their own generators.
    dropout_seed : int

    Returns
    -------
    loss : float
    gradients : Weights
        dL/d(every weight), canonical names and shapes.
    dx : numpy.ndarray
        dL/dx, x's shape.

    Raises
    ------
    InputError, WeightsError, BackendError
        Checked before any framework sees the data; BackendError for an inference-only backend.
    """
    backend = resolve_backend(backend)
    weights = as_weights(spec, weights)
    dtype = check_dtype(dtype if dtype is not None else weights.dtype)
    x, target = np.asarray(x), np.asarray(target)
    state = (
        None
        if state is None
        else (tuple(np.asarray(s) for s in state) if isinstance(state, (tuple, list)) else np.asarray(state))
    )
    lengths = None if lengths is None else np.asarray(lengths)
    if loss not in LOSSES:
        raise InputError(f"loss={loss!r} is not allowed: one of {LOSSES}")
    check_call(spec, dtype, x, state, lengths, lengths)
    check_target(spec, loss, spec.output_shape(x.shape), target)
    impl = get_backend(backend).load()
    if not hasattr(impl, "value_and_grad"):
        raise BackendError(
            f"backend {backend!r} is inference only: it computes no gradients; value_and_grad and fit run on a "
            "backend that does (numpy, torch, paddle, jax), and the trained weights build the same model here"
        )
    value, grads, dx = impl.value_and_grad(
        spec, weights.astype(dtype), x, target, loss, state, lengths, dtype, training, dropout_seed
    )
    return float(value), as_weights(spec, grads, finite=False), np.asarray(dx)


# -- optimizers: plain NumPy, shared by every backend ------------------------------------------------------
def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    """||g|| over every array, accumulated in float64."""
    return float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())))


def clip_by_global_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """Gradients scaled by min(1, max_norm / ||g||), ||g|| over every array.

    Parameters
    ----------
    grads : mapping of str to numpy.ndarray
    max_norm : float

    Returns
    -------
    grads : dict of str to numpy.ndarray
        The scaled gradients.
    norm : float
        ||g|| before scaling.
    """
    norm = global_norm(grads)
    scale = min(1.0, max_norm / (norm + 1e-12))
    return {k: g * np.asarray(scale, g.dtype) for k, g in grads.items()}, norm


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr m_hat / (sqrt(v_hat) + eps)."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    step_count: int = 0
    m: dict = field(default_factory=dict)
    v: dict = field(default_factory=dict)

    def update(self, weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.step_count += 1
        t = self.step_count
        out = {}
        for name, w in weights.items():
            g = grads[name]
            m = self.m[name] = self.beta1 * self.m.get(name, 0) + (1 - self.beta1) * g
            v = self.v[name] = self.beta2 * self.v.get(name, 0) + (1 - self.beta2) * g * g
            m_hat, v_hat = m / (1 - self.beta1**t), v / (1 - self.beta2**t)
            out[name] = (w - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(w.dtype)
        return out


@dataclass
class SGD:
    """SGD with momentum (PyTorch's form): b = momentum b + g; w -= lr b."""

    lr: float = 1e-2
    momentum: float = 0.9
    buf: dict = field(default_factory=dict)

    def update(self, weights: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name, w in weights.items():
            b = self.buf[name] = self.momentum * self.buf.get(name, 0) + grads[name]
            out[name] = (w - self.lr * b).astype(w.dtype)
        return out


def make_optimizer(name: str, lr: float) -> Adam | SGD:
    if name == "adam":
        return Adam(lr=lr)
    if name == "sgd":
        return SGD(lr=lr)
    raise InputError(f"optimizer={name!r} is not allowed: one of {OPTIMIZERS}")


# -- fit ----------------------------------------------------------------------------------------------------
@dataclass
class History:
    """What `fit` recorded.

    Attributes
    ----------
    loss : list of float
        Each step's loss.
    grad_norm : list of float
        Each step's global gradient norm, before clipping.
    epoch_loss : list of float
        Each epoch's mean loss.
    seconds : float
        Wall time of the whole fit.
    """

    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _take(array: np.ndarray | None, idx: np.ndarray, axis: int) -> np.ndarray | None:
    return None if array is None else np.take(array, idx, axis=axis)


def fit(
    spec: Spec,
    weights: Mapping[str, Any],
    x: Any,
    y: Any,
    backend: str | None = None,
    optimizer: str = "adam",
    lr: float = 1e-2,
    epochs: int = 10,
    batch_size: int = 32,
    clip_norm: float | None = None,
    seed: int = 0,
    loss: str = "mse",
    lengths: Any = None,
    dtype: str | None = None,
    progress: bool | None = None,
) -> tuple[Weights, History]:
    """Train `weights` on (x, y) with mini-batches, the optimizer in NumPy: the same arithmetic for every backend.

    Each epoch shuffles the sequences with a NumPy generator seeded by `seed`; each step takes the backend's
    gradients, clips their global norm to `clip_norm` if given, and applies Adam or SGD with momentum.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array
        The starting weights (canonical).
    x : numpy.ndarray
        (N, T, input_size), or (T, N, input_size) with ``batch_first=False``.
    y : numpy.ndarray
        Targets for `loss`, N sequences along x's batch axis (for sequence outputs) or axis 0 ("last").
    backend : str, optional
        Where the gradients are computed; default: the default backend (`seqnet.set_backend`, SEQNET_BACKEND,
        else numpy).
    optimizer : str
        "adam" or "sgd" (with momentum 0.9).
    lr : float
        A positive finite learning rate.
    epochs, batch_size : int
        Positive integers.
    clip_norm : float, optional
        Clip the global gradient norm to this.
    seed : int
        Shuffling and dropout seed.
    loss : str
        "mse" or "cross_entropy".
    lengths : integer numpy.ndarray (N,), optional
    dtype : str, optional
        Default: the weights'.
    progress : bool, optional
        A one-line progress display; default: only when stderr is a terminal.

    Returns
    -------
    weights : Weights
        The trained weights.
    history : History

    Raises
    ------
    InputError
        Arguments that do not fit (checked before the first step).
    TrainingError
        The loss or gradients became non-finite; its ``history`` and ``weights`` hold what came before.
    """
    backend = resolve_backend(backend)
    weights = as_weights(spec, weights)
    dtype = check_dtype(dtype if dtype is not None else weights.dtype)
    x, y = np.asarray(x), np.asarray(y)
    lengths = None if lengths is None else np.asarray(lengths)
    _check_fit_arguments(spec, dtype, x, y, lengths, loss, epochs, batch_size, seed, lr, clip_norm)
    batch_axis = 0 if spec.batch_first else 1
    y_axis = 0 if (spec.batch_first or spec.output_mode == "last") else 1
    count = x.shape[batch_axis]
    opt = make_optimizer(optimizer, float(lr))
    rng = np.random.default_rng(seed)
    progress_line = _Progress(
        backend, epochs, -(-count // batch_size), sys.stderr.isatty() if progress is None else progress
    )
    current = {k: np.array(v, dtype=dtype) for k, v in weights.items()}
    history = History()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(count)
        losses = []
        for first in range(0, count, batch_size):
            idx = order[first : first + batch_size]
            value, grads, _ = value_and_grad(
                spec, current, _take(x, idx, batch_axis), _take(y, idx, y_axis), loss, backend,
                lengths=_take(lengths, idx, 0), dtype=dtype, training=True, dropout_seed=seed + len(history.loss),
            )  # fmt: skip
            current = _step(opt, current, grads, value, clip_norm, epoch, backend, lr, history)
            losses.append(value)
            progress_line.show(epoch, len(losses), value)
        history.epoch_loss.append(float(np.mean(losses)))
    progress_line.close()
    history.seconds = time.perf_counter() - start
    return Weights(current), history


def _check_fit_arguments(
    spec: Spec, dtype: str, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None, loss: str, epochs: Any,
    batch_size: Any, seed: Any, lr: Any, clip_norm: Any,
) -> None:  # fmt: skip
    """InputError naming the first of fit's arguments that is not allowed, before any step runs."""
    for name, number, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if not isinstance(number, int) or isinstance(number, bool) or number < low:
            raise InputError(f"{name}={number!r} is not allowed: {'a positive' if low else 'a non-negative'} integer")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf"):
        raise InputError(f"lr={lr!r} is not allowed: a positive finite number")
    if clip_norm is not None and (
        isinstance(clip_norm, bool) or not isinstance(clip_norm, (int, float)) or not 0 < clip_norm < float("inf")
    ):
        raise InputError(f"clip_norm={clip_norm!r} is not allowed: None or a positive finite number")
    if loss not in LOSSES:
        raise InputError(f"loss={loss!r} is not allowed: one of {LOSSES}")
    check_call(spec, dtype, x, None, lengths, lengths)  # x's shape and dtype, and one length per sequence
    batch_axis = 0 if spec.batch_first else 1
    y_axis = 0 if (spec.batch_first or spec.output_mode == "last") else 1
    count = x.shape[batch_axis]
    if y.ndim <= y_axis or y.shape[y_axis] != count:
        raise InputError(
            f"x holds {count} sequences (axis {batch_axis}) but y has shape {list(y.shape)}: "
            f"y needs {count} along axis {y_axis}"
        )
    check_target(spec, loss, spec.output_shape(x.shape), y)
    for name, array in (("x", x), ("y", y)):
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError(
                f"{name} holds {int((~np.isfinite(array)).sum())} non-finite values: fit needs finite data"
            )


def _step(
    opt: Adam | SGD, current: dict[str, np.ndarray], grads: Mapping[str, np.ndarray], value: float,
    clip_norm: float | None, epoch: int, backend: str, lr: float, history: History,
) -> dict[str, np.ndarray]:  # fmt: skip
    """One optimizer step: the gradients clipped (if asked), checked finite with the loss, applied; the step's
    loss and gradient norm recorded in `history`. Returns the new weights; TrainingError if anything diverged."""
    step_grads: dict[str, np.ndarray] = dict(grads)
    if clip_norm is None:
        norm = global_norm(step_grads)
    else:
        step_grads, norm = clip_by_global_norm(step_grads, clip_norm)
    step = len(history.loss) + 1
    _finite_or_stop(value, norm, epoch, step, backend, lr, history, current)
    updated = opt.update(current, step_grads)
    if not all(np.isfinite(w).all() for w in updated.values()):
        _finite_or_stop(float("nan"), norm, epoch, step, backend, lr, history, current, "the weights after the update")
    history.loss.append(value)
    history.grad_norm.append(norm)
    return updated


class _Progress:
    """fit's one-line progress display on stderr (shown only where `enabled`)."""

    def __init__(self, backend: str, epochs: int, steps_per_epoch: int, enabled: bool) -> None:
        self.backend, self.epochs, self.steps_per_epoch, self.enabled = backend, epochs, steps_per_epoch, enabled

    def show(self, epoch: int, step_in_epoch: int, loss: float) -> None:
        if self.enabled:
            done, total = epoch * self.steps_per_epoch + step_in_epoch, self.epochs * self.steps_per_epoch
            line = f"\r{self.backend} epoch {epoch + 1}/{self.epochs} step {done}/{total} loss {loss:.5f}"
            print(line, end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _finite_or_stop(
    value: float, norm: float, epoch: int, step: int, backend: str, lr: float, history: History, weights: dict,
    what: str = "",
) -> None:  # fmt: skip
    """A TrainingError naming the step where training diverged (a finite loss and gradient norm pass); it
    carries the history of the steps before it and the last finite weights."""
    if np.isfinite(value) and np.isfinite(norm):
        return
    found = what or (f"the loss ({value})" if not np.isfinite(value) else f"the gradients' norm ({norm})")
    raise TrainingError(
        f"fit: {found} became non-finite at step {step} (epoch {epoch + 1}, backend {backend!r}): lower lr={lr}, "
        "set clip_norm, or check x and y for non-finite values; the error's .history holds the steps before it "
        "and .weights the last finite weights",
        history=history,
        weights=Weights(weights),
    )


def gradient_flow(
    spec: Spec, weights: Mapping[str, Any] | None = None, x: Any = None, steps: int = 50, seed: int = 0
) -> np.ndarray:
    """||dL/dh_t|| for t = 0..T-1, for a loss on the last step only (L = the last output squared, halved).

    Computed by the NumPy backend's BPTT for the first layer's forward direction, in float64: falling towards
    t = 0 is the vanishing gradient; growing, the exploding one.

    Parameters
    ----------
    spec : Spec
    weights : mapping of str to array, optional
        Default: `init_weights(spec, seed)`.
    x : numpy.ndarray, optional
        Default: 8 random sequences of `steps` steps.
    steps : int
        T when x is drawn here.
    seed : int

    Returns
    -------
    numpy.ndarray
        (T,): the batch's mean of per-sequence norms at each step.
    """
    from seqnet_backends.numpy.model import NumpyRNN

    from seqnet.weights import init_weights

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise InputError(f"steps={steps!r} is not allowed: a positive integer")
    dtype = "float64"
    weights = init_weights(spec, seed=seed, dtype=dtype) if weights is None else as_weights(spec, weights, dtype)
    if x is None:
        shape = (8, steps, spec.input_size) if spec.batch_first else (steps, 8, spec.input_size)
        x = np.random.default_rng(seed).standard_normal(shape)
    model = NumpyRNN(spec, weights, dtype)
    outputs, _, cache = model.forward(np.asarray(x, dtype=dtype), keep_cache=True)
    d_out = np.zeros_like(outputs)
    if spec.output_mode == "last":
        d_out[:] = outputs
    elif spec.batch_first:
        d_out[:, -1] = outputs[:, -1]
    else:
        d_out[-1] = outputs[-1]
    record: list[np.ndarray] = []
    model.backward(cache, d_out, record_dh=record)
    return record[-spec.num_directions]  # recorded from the top layer down: layer 0's forward direction
