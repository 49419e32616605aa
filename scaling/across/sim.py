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


#: shapes of per-model scores across sizes (an accuracy in [0, 1]) used by :func:`simulate_scores`.
SCORE_SHAPES = ("logistic", "saturating", "line", "capped logistic")


def score_truth(shape: str, log10_params, *, x0: float = 8.7) -> np.ndarray:
    """True score of a family of the given shape at the given log10 sizes.

    * ``logistic``: ``expit(-1.2 + 1.1 (L - x0))`` (a straight line on the logit scale, asymptote 1);
    * ``saturating``: ``0.80 - 0.45 * 10**(-0.6 (L - x0))`` (an error power law with asymptote 0.80);
    * ``line``: ``0.25 + 0.12 (L - x0)`` (no saturation within the sizes);
    * ``capped logistic``: ``0.9 expit(-1.0 + 1.6 (L - x0))`` (a logistic bending to 0.9, none of the fitted forms).
    """
    L = np.asarray(log10_params, dtype=float) - x0
    if shape == "logistic":
        return 1 / (1 + np.exp(-(-1.2 + 1.1 * L)))
    if shape == "saturating":
        return 0.80 - 0.45 * 10 ** (-0.6 * L)
    if shape == "line":
        return 0.25 + 0.12 * L
    if shape == "capped logistic":
        return 0.9 / (1 + np.exp(-(-1.0 + 1.6 * L)))
    raise ValueError(f"shape must be one of {', '.join(SCORE_SHAPES)}; got {shape!r}")


def simulate_scores(
    rng: np.random.Generator,
    shape: str,
    log10_params: Sequence[float] = (8.7, 9.2, 9.5, 9.9, 10.2, 10.5),
    *,
    sd: float = 0.015,
    se: bool = False,
) -> pd.DataFrame:
    """One family's per-model scores: the true shape plus independent normal deviations.

    Parameters
    ----------
    rng : numpy Generator
    shape : str
        One of :data:`SCORE_SHAPES` (:func:`score_truth`).
    log10_params : sequence of float
    sd : float
        Standard deviation of each model's deviation from the curve.
    se : bool
        Add a column ``se`` equal to ``sd`` (a table that reports its standard errors).

    Returns
    -------
    DataFrame
        ``model, params, score, truth[, se]``, scores clipped to [0, 1].
    """
    L = np.asarray(log10_params, dtype=float)
    truth = score_truth(shape, L)
    score = np.clip(truth + rng.normal(0.0, sd, L.size), 0.0, 1.0)
    out = pd.DataFrame({"model": [f"m{i}" for i in range(L.size)], "params": 10**L, "score": score, "truth": truth})
    return out.assign(se=sd) if se else out
