"""The demos' data, generated here (nothing is downloaded).

Requirements: numpy.
"""

from __future__ import annotations

import numpy as np


def sine_windows(count: int, steps: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    """(count, steps + 1, 1) samples of sin(t0 + dt k), t0 uniform in [0, 2 pi)."""
    t0 = rng.uniform(0, 2 * np.pi, size=(count, 1))
    return np.sin(t0 + dt * np.arange(steps + 1))[..., None]


def waveforms(count: int, min_len: int, max_len: int, rng: np.random.Generator):
    """Noisy sine (class 0), square (1) and sawtooth (2) waves of random period, phase and length.

    Returns x (count, max_len, 1) zero-padded, labels (count,), lengths (count,).
    """
    labels = rng.integers(0, 3, size=count)
    lengths = rng.integers(min_len, max_len + 1, size=count)
    period = rng.uniform(6, 16, size=(count, 1))
    phase = rng.uniform(0, 1, size=(count, 1)) + np.arange(max_len) / period
    frac = phase % 1.0
    waves = np.stack([np.sin(2 * np.pi * frac), np.where(frac < 0.5, 1.0, -1.0), 2 * frac - 1])
    x = waves[labels, np.arange(count)] + 0.15 * rng.standard_normal((count, max_len))
    x[np.arange(max_len)[None, :] >= lengths[:, None]] = 0.0
    return x[..., None], labels, lengths


def mackey_glass(length: int, tau: int = 17, beta: float = 0.2, gamma: float = 0.1, n: int = 10, seed: int = 0):
    """The Mackey-Glass chaotic series dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t), by Euler
    steps of 0.1, sampled every 1.0 time unit after a transient: a classic time-series benchmark."""
    rng = np.random.default_rng(seed)
    dt, per_unit = 0.1, 10
    delay = tau * per_unit
    total = (length + 300) * per_unit
    x = np.empty(total + delay)
    x[: delay + 1] = 1.2 + 0.01 * rng.standard_normal(delay + 1)
    for i in range(delay, total + delay - 1):
        lagged = x[i - delay]
        x[i + 1] = x[i] + dt * (beta * lagged / (1 + lagged**n) - gamma * x[i])
    return x[delay + 300 * per_unit :: per_unit][:length]


def windows(series: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows (N, width, 1) of a series and the value after each (N, 1)."""
    idx = np.arange(len(series) - width)[:, None] + np.arange(width)
    return series[idx][..., None], series[width:][:, None]
