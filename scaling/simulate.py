"""Noise for simulated runs (tests, analyses and coverage checks share it)."""

from __future__ import annotations

import numpy as np


def ar1_noise(rng: np.random.Generator, n: int, sd: float, rho: float) -> np.ndarray:
    """Stationary AR(1) noise of length ``n`` with marginal standard deviation ``sd``.

    ``e[0] ~ N(0, sd^2)`` and ``e[t] = rho e[t-1] + u[t]`` with ``u ~ N(0, sd^2 (1 - rho^2))``.
    Draws are taken in this order (first ``e[0]``, then all ``n`` innovations), so a seeded
    generator gives the same series everywhere.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Length.
    sd : float
        Marginal standard deviation.
    rho : float
        Lag-1 autocorrelation, in (-1, 1).

    Returns
    -------
    array, shape (n,)
    """
    e = np.empty(n)
    e[0] = rng.normal(0, sd)
    innov = rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + innov[i]
    return e
