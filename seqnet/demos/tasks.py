"""The four classic RNN tasks, each on any backend by one argument, each writing a PNG.

Requirements: numpy; matplotlib for the plots; the chosen backend's framework.

Every task returns a `Result`: its final training loss (the mean of the last epoch), one held-out
metric, the PNG's path and the seconds it took. The training is `seqnet.fit` (NumPy optimizer over the
backend's gradients), so the same seed gives the same curve on every backend, up to rounding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from seqnet.build import build, predict
from seqnet.demos import data, plotting
from seqnet.errors import TrainingError
from seqnet.spec import Spec
from seqnet.training import History, fit
from seqnet.weights import init_weights


@dataclass
class Result:
    task: str
    backend: str
    loss: float
    metric: str
    value: float
    png: Path
    seconds: float

    def __str__(self) -> str:
        return (
            f"{self.task} on {self.backend}: final training loss {self.loss:.5f}, {self.metric} {self.value:.4g} "
            f"({self.seconds:.1f} s) -> {self.png}"
        )


def sine(backend: str = "numpy", out: str | Path = ".", seed: int = 0, epochs: int = 120) -> Result:
    """Next-step prediction of a sine wave with an RNN (hidden 16, 50 steps); then the trained model runs
    free, fed its own predictions, and the PNG shows that rollout against the true curve."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    seqs = data.sine_windows(64, 50, 0.2, rng).astype(np.float32)
    spec = Spec("rnn", 1, 16, output_size=1)
    weights, history = fit(spec, init_weights(spec, seed=seed), seqs[:, :-1], seqs[:, 1:], backend=backend,
                           lr=0.01, epochs=epochs, batch_size=16, seed=seed)  # fmt: skip
    model = build(spec, backend, weights)
    true = np.sin(0.2 * np.arange(160))[None, :, None].astype(np.float32)
    warm = 20
    outputs, state = predict(model, true[:, :warm])
    current, steps = outputs[:, -1:], []
    for _ in range(true.shape[1] - warm):
        steps.append(current[0, 0, 0])
        current, state = predict(model, current, state)
    rollout = np.array(steps)
    rmse = float(np.sqrt(np.mean((rollout - true[0, warm:, 0]) ** 2)))
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.plot(np.arange(160), true[0, :, 0], label="sin(t)", color="black", lw=1)
    a.plot(np.arange(warm, 160), rollout, "--", label="free-running RNN", color="tab:red")
    a.axvline(warm, color="grey", lw=0.5)
    a.set(title=f"RNN(16) rollout after {warm} true steps ({backend})", xlabel="step")
    plotting.legend_above(a)
    b.semilogy(history.loss)
    b.set(title="training loss (mse)", xlabel="optimizer step")
    png = plotting.save(fig, out, "sine.png")
    return Result("sine", backend, history.epoch_loss[-1], "rollout RMSE", rmse, png, time.perf_counter() - start)


def sin2cos(backend: str = "numpy", out: str | Path = ".", seed: int = 0, epochs: int = 80) -> Result:
    """cos(t) from sin(t) with an LSTM: the sign of cos is not in sin(t) alone, the state must carry it."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    t0 = rng.uniform(0, 2 * np.pi, size=(80, 1))
    t = t0 + 0.15 * np.arange(60)
    x, y = np.sin(t)[..., None].astype(np.float32), np.cos(t)[..., None].astype(np.float32)
    spec = Spec("lstm", 1, 24, output_size=1)
    weights, history = fit(spec, init_weights(spec, seed=seed), x[:64], y[:64], backend=backend, lr=0.01,
                           epochs=epochs, batch_size=16, seed=seed)  # fmt: skip
    pred, _ = predict(build(spec, backend, weights), x[64:])
    test_mse = float(np.mean((pred[:, 10:] - y[64:, 10:]) ** 2))
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.plot(x[64, :, 0], label="input sin(t)", color="grey", lw=1)
    a.plot(y[64, :, 0], label="target cos(t)", color="black", lw=1)
    a.plot(pred[0, :, 0], "--", label="LSTM", color="tab:red")
    a.set(title=f"cos(t) from sin(t), held-out sequence ({backend})", xlabel="step")
    plotting.legend_above(a)
    b.semilogy(history.loss)
    b.set(title="training loss (mse)", xlabel="optimizer step")
    png = plotting.save(fig, out, "sin2cos.png")
    return Result("sin2cos", backend, history.epoch_loss[-1], "held-out MSE (steps 10+)", test_mse, png,
                  time.perf_counter() - start)  # fmt: skip


def classify(backend: str = "numpy", out: str | Path = ".", seed: int = 0, epochs: int = 25) -> Result:
    """Variable-length sequences (sine, square or sawtooth waves, 8 to 40 steps, zero-padded) classified by a
    GRU from each sequence's last valid step (output_mode="last", lengths given)."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x, labels, lengths = data.waveforms(640, 8, 40, rng)
    x = x.astype(np.float32)
    spec = Spec("gru", 1, 24, output_size=3, output_mode="last")
    train = slice(0, 512)
    weights, history = fit(spec, init_weights(spec, seed=seed), x[train], labels[train], backend=backend,
                           loss="cross_entropy", lr=0.01, epochs=epochs, batch_size=32, seed=seed,
                           lengths=lengths[train])  # fmt: skip
    logits, _ = predict(build(spec, backend, weights), x[512:], lengths=lengths[512:])
    accuracy = float(np.mean(logits.argmax(1) == labels[512:]))
    plt = plotting.pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    names = ("sine", "square", "sawtooth")
    for k, ax in enumerate(axes[:3]):
        i = 512 + int(np.flatnonzero(labels[512:] == k)[0])
        ax.plot(x[i, : lengths[i], 0], color="black", lw=1)
        guess = names[int(logits[i - 512].argmax())]
        ax.set(title=f"{names[k]} (len {lengths[i]}): predicted {guess}", xlabel="step")
    axes[3].plot(history.loss, lw=0.7)
    axes[3].set(title=f"cross-entropy; held-out acc {accuracy:.1%}", xlabel="optimizer step")
    png = plotting.save(fig, out, "classify.png")
    return Result("classify", backend, history.epoch_loss[-1], "held-out accuracy", accuracy, png,
                  time.perf_counter() - start)  # fmt: skip


def series(backend: str = "numpy", out: str | Path = ".", seed: int = 0, epochs: int = 20) -> Result:
    """Windowed regression of the Mackey-Glass series (generated here) with a 2-layer LSTM: 24 past values
    predict the next; trained on the first 600 windows, tested on the next 200."""
    start = time.perf_counter()
    values = data.mackey_glass(850, seed=seed)
    values = (values - values[:600].mean()) / values[:600].std()
    x, y = data.windows(values.astype(np.float32), 24)
    spec = Spec("lstm", 1, 32, num_layers=2, output_size=1, output_mode="last")
    weights, history = fit(spec, init_weights(spec, seed=seed), x[:600], y[:600], backend=backend, lr=0.005,
                           epochs=epochs, batch_size=32, seed=seed)  # fmt: skip
    pred, _ = predict(build(spec, backend, weights), x[600:800])
    test_mse = float(np.mean((pred - y[600:800]) ** 2))
    plt = plotting.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.plot(np.arange(600, 800), y[600:800, 0], color="black", lw=1, label="Mackey-Glass (held out)")
    a.plot(np.arange(600, 800), pred[:, 0], "--", color="tab:red", label="2-layer LSTM, one step ahead")
    a.set(title=f"windowed regression ({backend})", xlabel="time")
    plotting.legend_above(a)
    b.semilogy(history.loss)
    b.set(title="training loss (mse, standardised)", xlabel="optimizer step")
    png = plotting.save(fig, out, "series.png")
    return Result("series", backend, history.epoch_loss[-1], "held-out MSE", test_mse, png, time.perf_counter() - start)


def _exploding_weights(spec: Spec, seed: int, gain: float) -> dict[str, np.ndarray]:
    """init_weights with W_hh replaced by gain * a random orthogonal matrix: ||dh_t/dh_{t-1}|| near gain."""
    weights = dict(init_weights(spec, seed=seed, dtype="float64"))
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((spec.hidden_size, spec.hidden_size)))
    weights["weight_hh_l0"] = gain * q
    return weights


def gradients(backend: str = "numpy", out: str | Path = ".", seed: int = 0, epochs: int = 15) -> Result:
    """The vanishing gradient made visible: ||dL/dh_t|| for a loss on the last of 100 steps, for rnn, lstm
    and gru side by side (NumPy BPTT, PyTorch-default initialisation); an exploding ReLU RNN; and training
    that RNN on `backend` by SGD with and without gradient-norm clipping (Adam's per-weight scaling hides an
    exploding gradient's size; plain SGD steps by it)."""
    from seqnet.training import gradient_flow

    start = time.perf_counter()
    steps = 100
    flows = {cell: gradient_flow(Spec(cell, 1, 32), steps=steps, seed=seed) for cell in ("rnn", "lstm", "gru")}
    lstm = Spec("lstm", 1, 32)
    forget_one = dict(init_weights(lstm, seed=seed, dtype="float64"))
    for name in ("bias_ih_l0", "bias_hh_l0"):  # forget-gate bias 1 in each: 2 in all (Jozefowicz et al. 2015)
        forget_one[name] = forget_one[name].copy()
        forget_one[name][32:64] = 1.0
    flows["lstm, forget bias 2"] = gradient_flow(lstm, forget_one, steps=steps, seed=seed)
    boom = Spec("rnn", 1, 32, activation="relu", output_size=1)
    boom_weights = _exploding_weights(boom, seed, 1.5)
    x_small = 0.1 * np.random.default_rng(seed).standard_normal((8, steps, 1))
    exploding = gradient_flow(boom, boom_weights, x_small)
    seqs = data.sine_windows(64, 50, 0.2, np.random.default_rng(seed)).astype(np.float32)
    curves = {}
    for clip in (None, 1.0):
        with np.errstate(all="ignore"):
            try:
                _, hist = fit(boom, {k: v.astype(np.float32) for k, v in boom_weights.items()}, seqs[:, :-1],
                              seqs[:, 1:], backend=backend, optimizer="sgd", lr=0.05, epochs=epochs, batch_size=16,
                              clip_norm=clip, seed=seed)  # fmt: skip
            except TrainingError as diverged:  # fit stops at the first non-finite step; draw it as one more
                hist = cast(History, diverged.history)
                hist.loss.append(float("nan"))
        curves[clip] = hist
    plt = plotting.pyplot()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 3.8))
    back = np.arange(steps)[::-1]
    for cell, norms in flows.items():
        a.semilogy(back, norms / norms[-1], label=cell)
    a.set(title="vanishing: ||dL/dh_t|| / ||dL/dh_T||", xlabel="steps before the loss")
    a.legend()
    b.semilogy(back, exploding / exploding[-1], color="tab:red")
    b.set(title="exploding: ReLU RNN,\nW_hh = 1.5 x orthogonal", xlabel="steps before the loss")
    for clip, hist in curves.items():
        label = "no clipping" if clip is None else f"clip_norm={clip}"
        c.semilogy(np.nan_to_num(hist.loss, nan=1e7, posinf=1e7), label=label, lw=2 if clip is None else 1)
    c.set(title=f"training it on {backend}: SGD, lr 0.05\n(NaN and inf drawn at 1e7)", xlabel="optimizer step",
          ylim=(1e-3, 1e8))  # fmt: skip
    c.legend()
    png = plotting.save(fig, out, "gradient_flow.png")
    clipped = curves[1.0].epoch_loss[-1]
    decay = float(flows["rnn"][steps - 51] / flows["rnn"][-1])
    return Result("gradients", backend, clipped, "rnn gradient 50 steps back / at the loss", decay, png,
                  time.perf_counter() - start)  # fmt: skip


DEMOS = {"sine": sine, "sin2cos": sin2cos, "classify": classify, "series": series, "gradient-flow": gradients}
