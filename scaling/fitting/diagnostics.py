"""Checks of a fit's residuals beyond R^2: a late collapse and a systematic misfit.

Both compute numbers only (vectorised over runs of one length); the rules that turn them into
the statuses ``late collapse`` and ``systematic misfit`` are applied in
:func:`scaling.fitting.status.assign_statuses`, with thresholds from :mod:`scaling.core.rules`.
Both statistics are unit-free: they do not change when performance is scaled or shifted or
entropy is scaled.

* **Late collapse** (:func:`late_collapse_rows`).  The peak is the window of
  ``w = max(3, ceil(0.1 n))`` consecutive points with the highest mean performance, among the
  windows followed by at least ``max(w, ceil(0.1 n))`` points (a mean over a window, so a single
  noisy high point does not make a peak).  The fall is the peak's mean less the mean of every
  point after the window.  Its standard error is that of a difference of two means of AR(1)
  noise (exact for AR(1), with the adjacent windows' covariance), the noise being that of the
  run up to the end of the peak window (the law refitted there; a collapse would inflate the
  residuals of the whole run's fit).  The peak was chosen as the largest of ``K`` window means,
  so the one-sided level is divided among the ``K / w`` nearly independent windows
  (Bonferroni).  Kendall's tau between step and entropy from the peak on says whether entropy
  rose (a rise lets the law itself explain a fall).
* **Systematic misfit** (:func:`misfit_rows`).  A Ramsey-type added-curvature test: the
  residuals are regressed on the fit's linearisation (columns ``1, g_c(S)`` and, when c was
  fitted, ``beta dg_c/dc``) plus the next power of ``g_c(S)`` (``g^2`` with c fixed, ``g^3``
  with c free, so that the added column is not a change of c in disguise), after the
  Prais-Winsten transform with the residuals' bias-corrected AR(1) coefficient; the t-ratio of
  the added column is referred to Student's t.  A Newey-West (HAC) t-ratio with fixed-b critical
  values was tried first: on law runs whose entropy falls fast (the curvature then rests on a few
  early, high-leverage points) it gave 13-23% false alarms at the 5% level even without
  autocorrelation; the AR(1) version stays within the level (analyses/results/statuses.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special  # the quantiles of scipy.stats' t and normal, without importing scipy.stats (slow)

from scaling.core import intervals, law
from scaling.core.rules import (
    C_SPAN,
    COLLAPSE_ALPHA,
    COLLAPSE_MIN_PREFIX,
    COLLAPSE_MIN_WINDOW,
    COLLAPSE_TAIL_FRAC,
    COLLAPSE_WINDOW_FRAC,
    MISFIT_ALPHA,
)
from scaling.data.runtable import RunTable

__all__ = ["ResidualChecks", "check_residuals", "collapse_window", "kendall_tau_from", "late_collapse_rows", "misfit_rows"]

_COLLAPSE_KEYS = ("fall", "fall_z", "fall_crit", "peak_level", "tail_level", "peak_first", "peak_last", "tail_first", "n_tail", "tail_tau")
_MISFIT_KEYS = ("misfit_t", "misfit_crit")
#: points per block of rows (the temporaries stay in the CPU cache, as in the engine)
_BLOCK_ELEMS = 32768


@dataclass(frozen=True)
class ResidualChecks:
    """Numbers behind ``late collapse`` and ``systematic misfit`` for every run (NaN where not computed).

    Attributes
    ----------
    fall : array (R,)
        Peak level less the tail's mean, in units of performance (positive: a fall).
    fall_z, fall_crit : arrays (R,)
        The fall over its AR(1) standard error, and the one-sided critical value it is compared with.
    peak_level, tail_level : arrays (R,)
        Mean performance over the peak window and over every point after it.
    peak_first, peak_last, tail_first : arrays (R,)
        Steps of the peak window's first and last points and of the tail's first point.
    n_tail : array (R,)
        Points after the peak window.
    tail_tau : array (R,)
        Kendall's tau between step and entropy from the peak window on (computed only where the
        fall is significant).
    misfit_t, misfit_crit : arrays (R,)
        t-ratio of the added curvature term and its two-sided fixed-b critical value.
    """

    fall: np.ndarray
    fall_z: np.ndarray
    fall_crit: np.ndarray
    peak_level: np.ndarray
    tail_level: np.ndarray
    peak_first: np.ndarray
    peak_last: np.ndarray
    tail_first: np.ndarray
    n_tail: np.ndarray
    tail_tau: np.ndarray
    misfit_t: np.ndarray
    misfit_crit: np.ndarray

    @classmethod
    def empty(cls, R: int) -> ResidualChecks:
        """Every number NaN for ``R`` runs."""
        return cls(**{k: np.full(R, np.nan) for k in _COLLAPSE_KEYS + _MISFIT_KEYS})


def collapse_window(n: int) -> tuple[int, int]:
    """``(w, tail_min)``: the peak window's length and the fewest points after it, for a run of ``n`` points."""
    w = max(COLLAPSE_MIN_WINDOW, math.ceil(COLLAPSE_WINDOW_FRAC * n))
    return w, max(w, math.ceil(COLLAPSE_TAIL_FRAC * n))


def _ar1_mean_var(m: float, phi: float) -> float:
    """Variance of the mean of ``m`` consecutive points of unit-variance AR(1) noise (coefficient ``phi`` in [0, 1))."""
    q = 1.0 - phi
    return (m * (1.0 + phi) / q - 2.0 * phi * (1.0 - phi**m) / q**2) / m**2


def late_collapse_rows(step: np.ndarray, S: np.ndarray, y: np.ndarray, resid: np.ndarray, k: int) -> dict:
    """The late-collapse numbers of runs of one length (rows).

    Parameters
    ----------
    step, S, y : arrays (R, n)
        Steps (increasing), entropy and performance.
    resid : array (R, n)
        Residuals of the law's fit to the whole run (the noise when the run before its peak is
        too short to refit).
    k : int
        Parameters of that fit (2 with c fixed, 3 with c free).

    Returns
    -------
    dict of arrays (R,)
        The collapse fields of :class:`ResidualChecks` (NaN when the run is too short for a
        peak window and a tail; ``fall_z`` and ``fall_crit`` only where the fall could be
        significant, ``tail_tau`` only where it is).

    Notes
    -----
    With window means ``M_j`` of ``w`` points, the peak is ``j* = argmax M_j`` over the
    ``K = n - w - t_min + 1`` windows followed by at least ``t_min`` points; the tail holds the
    ``n_t = n - j* - w`` points after it.  The noise is that of the run up to the end of the peak
    window: the residuals of the law refitted to those points (free c), whose variance ``s^2`` is
    inflated for the degrees of freedom the fit absorbs and whose bias-corrected AR(1)
    coefficient is ``phi >= 0`` (:func:`scaling.core.intervals.ar1_effective_df`).  Then

    ``Var(fall) = s^2 [v(w) + v(n_t) - 2 phi (1 - phi^w)(1 - phi^n_t) / ((1 - phi)^2 w n_t)]``,

    ``v(m) = [m (1 + phi)/(1 - phi) - 2 phi (1 - phi^m)/(1 - phi)^2] / m^2``, and
    ``z = fall / sqrt(Var)`` is compared with the Student t quantile (the fit's residual degrees
    of freedom) at ``1 - alpha / max(1, K / w)``.  Only runs whose fall exceeds that quantile
    times a lower bound of its standard error (independent noise with the standard deviation of
    the first differences over sqrt 2) are refitted.
    """
    R, n = y.shape
    out = {key: np.full(R, np.nan) for key in _COLLAPSE_KEYS}
    w, t_min = collapse_window(n)
    K = n - w - t_min + 1
    if K < 1 or R == 0:
        return out
    rows = np.arange(R)
    cs = np.concatenate([np.zeros((R, 1)), np.cumsum(y, axis=1)], axis=1)
    M = (cs[:, w:] - cs[:, :-w]) / w  # (R, n - w + 1) window means
    j = np.argmax(M[:, :K], axis=1)
    t0 = j + w
    n_t = n - t0
    peak = M[rows, j]
    tail = (cs[:, n] - cs[rows, t0]) / n_t
    fall = peak - tail
    out.update(fall=fall, peak_level=peak, tail_level=tail, n_tail=n_t.astype(float),
               peak_first=step[rows, j], peak_last=step[rows, t0 - 1], tail_first=step[rows, t0])  # fmt: skip
    share = COLLAPSE_ALPHA / max(1.0, K / w)
    sd_low = np.std(np.diff(y, axis=1), axis=1) / math.sqrt(2.0)
    loose = -special.ndtri(share) * sd_low * np.sqrt(1.0 / w + 1.0 / n_t)
    cand = np.flatnonzero(fall > loose)  # few runs: the noise before the peak, and the entropy trend after it
    refit = cand[t0[cand] >= COLLAPSE_MIN_PREFIX]
    prefix_resid = dict(zip(refit, _prefix_residuals(S[refit], y[refit], t0[refit])))
    dfs = np.full(cand.size, np.nan)
    for a, i in enumerate(cand):
        e = prefix_resid.get(i, resid[i])
        df, _ = intervals.ar1_effective_df(e, 3)
        phi = max(intervals.ar1_bias_corrected(e, 3), 0.0)
        s2 = float(np.sum((e - e.mean()) ** 2)) / df
        nt = float(n_t[i])
        q = 1.0 - phi
        cov = phi * (1.0 - phi**w) * (1.0 - phi**nt) / (q**2 * w * nt)
        var = s2 * (_ar1_mean_var(float(w), phi) + _ar1_mean_var(nt, phi) - 2.0 * cov)
        out["fall_z"][i] = fall[i] / math.sqrt(var) if var > 0 else math.nan
        dfs[a] = df
    out["fall_crit"][cand] = -special.stdtrit(dfs, share)
    falls = cand[out["fall_z"][cand] > out["fall_crit"][cand]]  # the entropy trend matters only after a real fall
    out["tail_tau"][falls] = kendall_tau_from(step[falls], S[falls], j[falls])
    return out


def kendall_tau_from(x: np.ndarray, y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between ``x`` and ``y`` over each row's points from ``start`` on.

    Equal to ``scipy.stats.kendalltau(x[i, start[i]:], y[i, start[i]:]).statistic`` (tested):
    every pair of a group of rows at once (groups of at most :data:`_PAIRS_PER_BLOCK` pairs),
    scipy's O(n log n) routine row by row for rows longer than that allows.
    """
    R, n = x.shape
    start = np.asarray(start)
    if R == 0:
        return np.empty(0)
    if n * n > _PAIRS_PER_BLOCK:
        from scipy import stats

        return np.array([stats.kendalltau(x[i, s:], y[i, s:]).statistic for i, s in enumerate(start)])
    rows = max(1, _PAIRS_PER_BLOCK // (n * n))
    return np.concatenate([_kendall_block(x[a : a + rows], y[a : a + rows], start[a : a + rows]) for a in range(0, R, rows)])


#: pairs (rows x points^2) compared at once by :func:`kendall_tau_from`.
_PAIRS_PER_BLOCK = 4_000_000


def _kendall_block(x: np.ndarray, y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """:func:`kendall_tau_from` for a few rows, every pair at once."""
    n = x.shape[1]
    keep = np.arange(n)[None, :] >= start[:, None]
    m_pts = keep.sum(axis=1)
    pairs = m_pts * (m_pts - 1) / 2.0
    both = np.triu(np.ones((n, n), dtype=bool), 1)[None] & keep[:, :, None]  # pairs (t < u), t kept
    dx = np.sign(x[:, None, :] - x[:, :, None])
    dy = np.sign(y[:, None, :] - y[:, :, None])
    s = np.sum(dx * dy * both, axis=(1, 2))
    tie_x = np.sum((dx == 0) & both, axis=(1, 2))
    tie_y = np.sum((dy == 0) & both, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return s / np.sqrt((pairs - tie_x) * (pairs - tie_y))


def _prefix_residuals(S: np.ndarray, y: np.ndarray, m: np.ndarray, size: int = 81) -> list[np.ndarray]:
    """Residuals of the law (free c) fitted to the first ``m[i]`` points of each row, all rows at once.

    The rate is the best of ``size`` values over ``|c| * range(S) <= C_SPAN`` of each prefix (the
    profile grid's span; P0 and beta solved exactly at each), which is all a noise estimate needs:
    the sum of squares is flat at its minimum, so the grid's optimum misses it by a second-order amount.
    """
    if m.size == 0:
        return []
    n = S.shape[1]
    w = np.arange(n)[None, :] < m[:, None]  # (C, n) the prefix of each row
    span = np.where(w, S, -np.inf).max(axis=1) - np.where(w, S, np.inf).min(axis=1)
    c = np.linspace(-1.0, 1.0, size)[None, :] * (C_SPAN / np.where(span > 0, span, 1.0))[:, None]  # (C, K)
    with np.errstate(all="ignore"):
        G = law.g(S[:, None, :], c[:, :, None])  # (C, K, n)
        Wt = w[:, None, :]
        Gc = G - np.sum(G * Wt, axis=2, keepdims=True) / m[:, None, None]
        yc = (y - np.sum(y * w, axis=1, keepdims=True) / m[:, None])[:, None, :]
        sgy = np.sum(Gc * yc * Wt, axis=2)
        sgg = np.sum(Gc * Gc * Wt, axis=2)
        rss = np.sum(yc * yc * Wt, axis=2) - np.where(sgg > 0, sgy**2 / sgg, 0.0)
        best = np.argmin(np.where(np.isfinite(rss), rss, np.inf), axis=1)
        rows = np.arange(m.size)
        beta = np.where(sgg[rows, best] > 0, sgy[rows, best] / sgg[rows, best], 0.0)
        e = yc[:, 0, :] - beta[:, None] * Gc[rows, best]
    return [e[i, : m[i]] for i in range(m.size)]


def misfit_rows(G: np.ndarray, dG: np.ndarray | None, resid: np.ndarray) -> dict:
    """The added-curvature t-ratio of runs of one length (rows) and its critical value.

    Parameters
    ----------
    G : array (R, n)
        ``g_c(S)`` at each fit's c.
    dG : array (R, n) or None
        ``dg_c(S)/dc`` at each fit's c; None when c was fixed (the linearisation then has no c
        column, and the added column is ``g^2`` instead of ``g^3``).
    resid : array (R, n)
        Residuals of the law's fit.

    Returns
    -------
    dict of arrays (R,)
        ``misfit_t`` (NaN where the columns overflow or the added one is in the span of the
        others) and ``misfit_crit``.

    Notes
    -----
    Columns ``1, g, dg/dc`` (c free) and ``g^p`` (``p`` = 3, or 2 with c fixed; g scaled to a
    largest magnitude of 1 first, which changes no t-ratio); with the residuals'
    bias-corrected AR(1) coefficient phi (:func:`scaling.core.intervals.ar1_bias_corrected_rows`)
    every column and the residuals get the Prais-Winsten transform (``sqrt(1 - phi^2) x_1``,
    ``x_t - phi x_(t-1)``), the columns are orthonormalised (Gram-Schmidt, twice), and the t-ratio
    of the added column is its coefficient over its OLS standard error, referred to Student's t
    with ``n - p - 2`` degrees of freedom (one for phi).
    """
    R, n = resid.shape
    out = {key: np.full(R, np.nan) for key in _MISFIT_KEYS}
    p = 2 if dG is None else 3
    df = n - (p + 1) - 1
    if R == 0 or df < 1:
        return out
    out["misfit_crit"][:] = float(-special.stdtrit(df, MISFIT_ALPHA / 2))
    with np.errstate(all="ignore"):  # Gram-Schmidt normalises every column: only g is scaled (so g^p cannot overflow)
        g = G / np.max(np.abs(G), axis=1, keepdims=True)
        cols = [g, g**p] if dG is None else [g, dG, g**p]
        good = np.isfinite(sum(col.sum(axis=1) for col in cols) + resid.sum(axis=1))
    e = resid
    if not good.any():
        return out
    if not good.all():
        cols, e = [col[good] for col in cols], e[good]
    phi = intervals.ar1_bias_corrected_rows(e, p)[:, None]
    head = np.sqrt(1.0 - phi**2)

    def whiten(x: np.ndarray) -> np.ndarray:  # Prais-Winsten: AR(1) errors become independent
        out = np.empty_like(x)
        out[:, :1] = head * x[:, :1]
        np.subtract(x[:, 1:], phi * x[:, :-1], out=out[:, 1:])
        return out

    one = np.concatenate([head, np.broadcast_to(1.0 - phi, (phi.shape[0], n - 1))], axis=1)
    basis: list[np.ndarray] = []
    last_norm = start_norm = None
    for v in [one.copy()] + [whiten(col) for col in cols]:
        start_norm = np.sqrt(np.einsum("rn,rn->r", v, v))
        for _ in range(2):  # Gram-Schmidt twice keeps the columns orthogonal to machine precision
            for q in basis:
                v -= np.einsum("rn,rn->r", q, v)[:, None] * q
        last_norm = np.sqrt(np.einsum("rn,rn->r", v, v))
        with np.errstate(divide="ignore", invalid="ignore"):
            basis.append(v / last_norm[:, None])
    ew = whiten(e)
    qe = np.stack([np.einsum("rn,rn->r", q, ew) for q in basis], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = (np.einsum("rn,rn->r", ew, ew) - np.einsum("rj,rj->r", qe, qe)) / df
        t = qe[:, -1] / np.sqrt(s2)
    out["misfit_t"][good] = np.where(last_norm > 1e-8 * start_norm, t, np.nan)  # the added column must leave the others' span
    return out


def check_residuals(runs: RunTable, theta: np.ndarray, fixed: bool) -> ResidualChecks:
    """Late-collapse and misfit numbers of every run with an estimate.

    Parameters
    ----------
    runs : RunTable
        The fitted runs.
    theta : array (R, 3)
        ``(P0, beta, c)`` per run; rows with a NaN are skipped (NaN numbers).
    fixed : bool
        c was fixed (paper or shared mode).

    Returns
    -------
    ResidualChecks
    """
    R = len(runs)
    res = {key: np.full(R, np.nan) for key in _COLLAPSE_KEYS + _MISFIT_KEYS}
    have = np.isfinite(theta).all(axis=1)
    lengths = runs.lengths
    k = 2 if fixed else 3
    for n in np.unique(lengths[have]):
        same = np.flatnonzero(have & (lengths == n))
        size = max(4, _BLOCK_ELEMS // int(n))  # blocks of rows whose arrays stay in the CPU cache
        for a in range(0, same.size, size):
            members = same[a : a + size]
            S, y, step = runs.block(members)
            th = theta[members]
            with np.errstate(all="ignore"):
                G, dG = law.g_and_dg_dc(S, th[:, 2:3])
                resid = y - (th[:, :1] - th[:, 1:2] * G)
            ok = np.isfinite(resid).all(axis=1)
            if not ok.all():
                members, S, y, step, th, resid, G, dG = (x[ok] for x in (members, S, y, step, th, resid, G, dG))
            parts = {**late_collapse_rows(step, S, y, resid, k), **misfit_rows(G, None if fixed else dG, resid)}
            for key, vals in parts.items():
                res[key][members] = vals
    return ResidualChecks(**res)
