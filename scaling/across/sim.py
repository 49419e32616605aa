"""Simulated model families for checking the across-size analysis (tests, analyses).

A family has ``a`` and ``b`` linear in log10(params) (optionally plus a between-model
deviation of the ceiling), one shared ``c``, and runs whose performance follows the
law with AR(1) noise along the steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import signal

from scaling.core import law


def family_truth(log10_params, a=(0.80, 0.02), b=(0.30, -0.03), x0: float = 8.0) -> pd.DataFrame:
    """True ``a``, ``b`` and ceiling ``a - b`` of a family at the given log10 sizes.

    ``a = a[0] + a[1] (L - x0)`` and ``b = b[0] + b[1] (L - x0)`` with ``L = log10(params)``.
    """
    L = np.asarray(log10_params, dtype=float)
    av = a[0] + a[1] * (L - x0)
    bv = b[0] + b[1] * (L - x0)
    return pd.DataFrame({"params": 10**L, "a": av, "b": bv, "ceiling": av - bv})


def simulate_family(
    rng: np.random.Generator,
    log10_params: Sequence[float] = (7.0, 7.5, 8.0, 8.5, 9.0, 9.5),
    *,
    a=(0.80, 0.02),
    b=(0.30, -0.03),
    x0: float = 8.0,
    c: float = 1.0,
    runs_per_model: int = 2,
    n: int = 100,
    sd: float = 0.01,
    rho: float = 0.5,
    tau: float = 0.0,
    s_start: float = 0.65,
    s_end: float = 0.05,
    task: str = "sim",
) -> pd.DataFrame:
    """A points frame of one simulated family (columns as :attr:`scaling.data.load.Dataset.points`).

    Parameters
    ----------
    rng : numpy Generator
    log10_params : sizes of the models
    a, b : (value at ``x0``, slope per decade)
        The law's ``a`` and ``b`` are exactly linear in log10(params).
    c : float
        The shared rate.
    runs_per_model, n : int
        Runs per model and validation points per run.
    sd, rho : float
        Marginal standard deviation and AR(1) coefficient of the noise along a run.
    tau : float
        Standard deviation of a between-model deviation added to each model's ``a``
        (so to its ceiling); 0 gives an exactly log-linear family.
    s_start, s_end : float
        Entropy decays exponentially from ``s_start`` towards ``s_end`` over a run.
    """
    truth = family_truth(log10_params, a, b, x0)
    step = np.arange(n, dtype=float)
    S = s_end + (s_start - s_end) * np.exp(-step / (n / 3))
    K = len(truth)
    a_k = truth["a"].to_numpy() + (rng.normal(0, tau, K) if tau > 0 else 0.0)
    b_k = truth["b"].to_numpy()
    P0, beta = np.repeat(a_k - b_k, runs_per_model), np.repeat(b_k * c, runs_per_model)
    R = K * runs_per_model
    innov = rng.normal(0, sd * np.sqrt(1 - rho**2), (R, n))
    innov[:, 0] = rng.normal(0, sd, R)  # stationary start
    e = signal.lfilter([1.0], [1.0, -rho], innov, axis=1)
    perf = P0[:, None] - beta[:, None] * law.g(S, c)[None, :] + e
    model = np.repeat([f"m{i}" for i in range(K)], runs_per_model)
    seed = np.tile(np.arange(runs_per_model).astype(str), K)
    return pd.DataFrame(
        {
            "run": np.repeat([f"{task}/{m}/{r}" for m, r in zip(model, seed)], n),
            "model": np.repeat(model, n),
            "params": np.repeat(np.repeat(truth["params"].to_numpy(), runs_per_model), n),
            "algorithm": "alg",
            "seed": np.repeat(seed, n),
            "step": np.tile(step, R),
            "entropy": np.tile(S, R),
            "perf": perf.ravel(),
            "task": task,
        }
    )
