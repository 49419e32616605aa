"""Batch engine: fit the law to many runs at once, vectorised over runs and bootstrap replicates.

A sweep of hundreds or thousands of runs is fitted in a few array operations per group of
runs of equal length, instead of one Python-level fit per run:

* every run is fitted in its own internal units (:class:`scaling.core.units.Units`: performance
  centred by its mean and divided by twice its range, entropy divided by its largest value) and every
  number is transformed back before statuses are assigned, so estimates, intervals and statuses
  are equivariant to the units of performance (scale and shift) and of entropy (scale);
* the profile ``RSS(c)`` of every run is evaluated on its own grid (the same grid as the
  per-run path: 401 points over ``|c| * range(S) <= 20`` plus c = 0) for all runs
  at once; with ``search="coarse"`` (the default) only every 16th grid point is evaluated,
  with the exponentials of a whole row of rates obtained by repeated multiplication, and the
  full grid only for runs whose coarse profile is flat or has more than one minimum
  (``search="full"``, which :func:`scaling.fitting.dataset.fit_dataset` uses, evaluates every run's
  full grid and keeps it as the profile of its :class:`~scaling.fitting.single.RunFit`);
* the best cell is refined for all runs together by the safeguarded Newton iteration of
  :func:`scaling.core.law.newton_refine`, which :func:`scaling.core.law.varpro` (the per-run
  reference the tests compare with) also ends with, so both reach the same stationary point
  to near machine precision;
* HAC covariances, Kendall trends, goodness of fit and statuses are computed as arrays;
* with ``ci="bootstrap"``, each run draws its residual blocks from its own generator seeded
  with ``options.seed`` (as a run-by-run bootstrap would), and all replicates of all runs in a
  chunk are refitted together (the replicate profiles are one batched matrix product per chunk).

This is the one implementation of the point fit: :func:`scaling.fitting.single.fit_run` is this
engine on a batch of one, and :func:`scaling.fitting.dataset.fit_dataset` sends every run here.
Point fits of :data:`COMPILED_MIN_POINTS` points or more run on compiled kernels
(:mod:`scaling.core._kernels`) when numba is installed, smaller ones and the rest on the numpy code
below; both compute numbers only, and the statuses and messages are
decided once, from those numbers, by :mod:`scaling.fitting.status` (the tests hold the two paths
equal on every kind of run).

Chunks of runs are independent, pure functions of arrays, so they can be spread over
processes with joblib (``n_jobs``) or over a Dask cluster by making ``dask`` joblib's backend::

    from dask.distributed import Client
    import joblib
    client = Client("scheduler-address:8786")
    with joblib.parallel_config(backend="dask"):
        res = fit_runs(runs, options=FitOptions(ci="bootstrap"), n_jobs=-1)

The random draws depend only on the seed and each run's length, never on the chunking or the
number of workers, so parallel results are identical to serial ones.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from scaling.core import intervals, law
from scaling.core.rules import COARSE_EVERY, LOG_BIG
from scaling.core.units import Units

try:  # compiled kernels for point fits (numba); the numpy code below is the fallback and the reference
    from scaling.core import _kernels

    HAVE_NUMBA = _kernels.AVAILABLE
except Exception:  # pragma: no cover - a broken numba install: stay with numpy
    _kernels = None
    HAVE_NUMBA = False
#: use the compiled kernels for point fits with the coarse search when numba is importable
#: (set to False to force the numpy path; the tests compare the two).
USE_NUMBA = HAVE_NUMBA
#: fewest points (all runs together) for which point fits go to the compiled kernels.  Importing
#: numba and loading the kernels from their cache costs about 0.4 s once per process; the numpy
#: path fits about three million points per second, so below this it finishes first
#: (1,000 runs of 200 points: numpy 0.08 s, compiled 0.22 s after the import).
COMPILED_MIN_POINTS = 1_000_000
from scaling.data.runtable import RunPoints, RunTable, runs_from_arrays, runs_from_frame  # noqa: F401 - public here too
from scaling.fitting import forms
from scaling.fitting.diagnostics import check_residuals, kendall_tau_from
from scaling.fitting.result import C1_COLUMNS, CORE_COLUMNS, FitOptions, RunFit, quantity_gradient, quantity_value
from scaling.fitting.status import (
    MIN_POINTS,
    PRE_FIT,
    FitStatus,
    assign_statuses,
    precheck_message,
    precheck_rows,
    r_squared,
)
from scaling.progress import track
from scaling.protocol import ResultMixin

#: runs per chunk for point fits (a chunk is one unit of work for joblib).
POINT_CHUNK = 2048
#: points per block inside a chunk: arrays of this size stay in the CPU cache, which makes the
#: elementwise kernels several times faster than on one large array.
BLOCK_ELEMS = 32768
#: points per block for the compiled kernels (the numpy exponentials passed between them stay in cache).
COMPILED_BLOCK_ELEMS = 65536
#: bootstrap responses (replicates x points) per chunk of runs.
BOOT_CHUNK_ELEMS = 8_000_000


# =====================================================================================
# kernels (pure functions of arrays)
# =====================================================================================
def _g(S: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:func:`scaling.core.law.g` with identical values, computing the series only where |c| < 1e-8."""
    small = np.abs(c) < 1e-8
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if small.all():
            return np.array(np.broadcast_to(S + 0.5 * c * S * S, np.broadcast_shapes(S.shape, c.shape)))
        out = np.expm1(c * S)
        out /= c
        if small.any():
            # index the few small rates along the axes where c varies, every point along the others
            cc = c.reshape((1,) * (out.ndim - c.ndim) + c.shape)
            sm = small.reshape(cc.shape)
            key = tuple(
                slice(None) if cc.shape[ax] == 1 else ix for ax, ix in enumerate(np.nonzero(sm))
            )
            Sb, cb = np.broadcast_to(S, out.shape)[key], np.broadcast_to(cc, out.shape)[key]
            out[key] = Sb + 0.5 * cb * Sb * Sb
    return out


def _grids(lo: np.ndarray, hi: np.ndarray, size: int = law.GRID_SIZE):
    """Each run's profile grid, as :func:`scaling.core.law.profile_grid` builds it, padded with NaN.

    Returns
    -------
    grid : array (R, size + 1)
        Sorted unique grid values of each row, NaN after the row's last point.
    label : array (R, size + 1)
        Index of each value in the row's linspace, or -1 for the extra point 0.
    """
    R = lo.size
    lin = np.linspace(lo, hi, size, axis=1)
    extra = np.array([0.0])
    inside = (lo[:, None] <= extra) & (extra <= hi[:, None])
    vals = np.concatenate([lin, np.where(inside, extra, np.nan)], axis=1)
    labels = np.broadcast_to(np.concatenate([np.arange(size), [-1]]), (R, size + 1))
    order = np.argsort(vals, axis=1, kind="stable")
    vals = np.take_along_axis(vals, order, axis=1)
    labels = np.take_along_axis(labels, order, axis=1)
    dup = np.zeros_like(vals, dtype=bool)
    dup[:, 1:] = vals[:, 1:] == vals[:, :-1]
    if dup.any():
        vals[dup] = np.nan
        order = np.argsort(vals, axis=1, kind="stable")
        vals = np.take_along_axis(vals, order, axis=1)
        labels = np.take_along_axis(labels, order, axis=1)
    return vals, labels


def _profile(S: np.ndarray, yc: np.ndarray, syy: np.ndarray, c: np.ndarray, block: int = 2_000_000) -> np.ndarray:
    """Profile RSS at rates ``c`` (R, K) for responses ``yc`` (R, [B,] n) centred, as ``law.solve_linear`` does.

    ``S`` (R, n); ``syy`` the centred sums of squares (R, [B]).  Returns (R, [B,] K);
    NaN where ``c`` is NaN or the basis overflows.
    """
    R, n = S.shape
    K = c.shape[1]
    batch = yc.ndim == 3
    width = max(1, block // max(n, 1))
    if K > width:  # long runs: blocks of grid columns
        parts = [_profile(S, yc, syy, c[:, a : a + width], block) for a in range(0, K, width)]
        return np.concatenate(parts, axis=-1)
    out = np.empty((R, yc.shape[1], K) if batch else (R, K))
    step = max(1, block // max(n * K, 1))
    for a in range(0, R, step):
        b = min(R, a + step)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            G = _g(S[a:b, :, None], c[a:b, None, :])  # (r, n, K)
            G -= G.mean(axis=1, keepdims=True)
            sxx = np.einsum("rnk,rnk->rk", G, G)
            if batch:
                sxy = yc[a:b] @ G  # (r, B, K)
                sxx = sxx[:, None, :]
                s_yy = syy[a:b, :, None]
            else:
                sxy = np.einsum("rn,rnk->rk", yc[a:b], G)
                s_yy = syy[a:b, None]
            slope = np.where(sxx > 0, sxy / sxx, 0.0)
            out[a:b] = np.maximum(s_yy - slope * sxy, 0.0)
    return out


def _coarse_profile(S: np.ndarray, yc: np.ndarray, syy: np.ndarray, c0: np.ndarray, dc: np.ndarray, K: int) -> np.ndarray:
    """Profile RSS at ``c0 + j dc`` (j < K) for each row, by repeated multiplication of exponentials.

    For c != 0 the regression on ``g_c(S)`` has the same RSS as the regression on
    ``exp(c (S - m))`` (an affine transform of it); centring S at its mid-range keeps every
    exponential within ``exp(+-10)``.  Rates with ``|c| range(S) < 0.5`` must not be passed.
    """
    R, n = S.shape
    mid = 0.5 * (S.max(axis=1) + S.min(axis=1))
    Sm = S - mid[:, None]
    E = np.exp(c0[:, None] * Sm)
    ratio = np.exp(dc[:, None] * Sm)
    s1 = np.empty((R, K))
    s2 = np.empty((R, K))
    sy = np.empty((R, K))
    for j in range(K):
        if j:
            E *= ratio
        s1[:, j] = E.sum(axis=1)
        s2[:, j] = np.einsum("rn,rn->r", E, E)
        sy[:, j] = np.einsum("rn,rn->r", E, yc)
    sxx = s2 - s1 * s1 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = np.where(sxx > 1e-12 * s2, sy * sy / sxx, 0.0)
    rss = np.maximum(syy[:, None] - explained, 0.0)
    # where the per-run grid overflows, mark the point as unusable there too
    c = c0[:, None] + dc[:, None] * np.arange(K)
    top = np.where(c > 0, S.max(axis=1)[:, None], S.min(axis=1)[:, None]) * c
    with np.errstate(divide="ignore"):
        rss[top - np.log(np.abs(c)) > LOG_BIG] = np.nan
    return rss


def _at_c(S: np.ndarray, y: np.ndarray, c: np.ndarray):
    """Linear solve at one rate per row, with explicit residuals (as ``law.solve_linear`` at a scalar c).

    ``S`` broadcasts against ``y`` (..., n); ``c`` has shape ``y.shape[:-1]``.
    Returns P0, beta, rss, fitted, resid.
    """
    G = _g(S, c[..., None])
    gbar = G.mean(axis=-1)
    Gc = G - gbar[..., None]
    ybar = y.mean(axis=-1)
    yc = y - ybar[..., None]
    sxx = np.einsum("...n,...n->...", Gc, Gc)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, np.einsum("...n,...n->...", yc, Gc) / sxx, 0.0)
    resid = yc - slope[..., None] * Gc
    rss = np.einsum("...n,...n->...", resid, resid)
    P0 = ybar - slope * gbar
    beta = -slope
    fitted = P0[..., None] - beta[..., None] * G
    return P0, beta, rss, fitted, y - fitted


def _select(grid: np.ndarray, prof: np.ndarray, step: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Best grid point of each row (NaN points skipped) and its cell, one grid step either way.

    ``grid`` (R, K) may be shared by the replicates of ``prof`` (R, B, K); ``step``, ``lo``,
    ``hi`` have shape (R,).
    """
    p = np.where(np.isfinite(prof), prof, np.inf)
    k = np.argmin(p, axis=-1)
    if grid.ndim < prof.ndim:  # replicates share their run's grid
        grid = np.broadcast_to(grid[:, None, :], prof.shape)
        step, lo, hi = step[:, None], lo[:, None], hi[:, None]
    best_c = np.take_along_axis(grid, k[..., None], axis=-1)[..., 0]
    return best_c, np.maximum(best_c - step, lo), np.minimum(best_c + step, hi)


def _newton(S: np.ndarray, y: np.ndarray, start, left, right) -> np.ndarray:
    """:func:`law.newton_refine` on rows of ``y`` (m, n), in blocks of rows; ``S`` is (m, n) or (n,)."""
    per_row = S.ndim == 2
    m, n = y.shape
    size = max(4, BLOCK_ELEMS // n)
    out = np.empty(m)
    for a in range(0, m, size):
        Sb = S[a : a + size] if per_row else S
        yb = y[a : a + size]

        def deriv(c, rows, Sb=Sb, yb=yb):
            return law.profile_derivatives(Sb[rows] if per_row else Sb, yb[rows], c)[3:]

        out[a : a + size] = law.newton_refine(deriv, start[a : a + size], left[a : a + size], right[a : a + size])
    return out


def _search(S, y, lo, hi, how: str):
    """Variable projection for rows of equal length: the per-run ``law.varpro`` for many runs.

    Returns c, at_bound, and (grid, profile) when ``how == "full"`` (else None).
    """
    R = S.shape[0]
    yc = y - y.mean(axis=1)[:, None]
    syy = np.einsum("rn,rn->r", yc, yc)
    start = np.zeros(R)
    left = np.zeros(R)
    right = np.zeros(R)
    full = np.ones(R, dtype=bool)
    if how == "coarse":
        m = COARSE_EVERY
        lin_c = np.linspace(lo, hi, law.GRID_SIZE, axis=1)[:, ::m]
        prof_lin = _coarse_profile(S, yc, syy, lin_c[:, 0], lin_c[:, 1] - lin_c[:, 0], lin_c.shape[1])
        cc = np.concatenate([lin_c, np.zeros((R, 1))], axis=1)
        pp = np.concatenate([prof_lin, _rss_at(S, yc, syy, np.zeros(R))[:, None]], axis=1)
        order = np.argsort(cc, axis=1, kind="stable")
        cc = np.take_along_axis(cc, order, axis=1)
        pf = np.take_along_axis(pp, order, axis=1)
        pf[~np.isfinite(pf)] = np.inf
        lft = np.concatenate([np.full((R, 1), np.inf), pf[:, :-1]], axis=1)
        rgt = np.concatenate([pf[:, 1:], np.full((R, 1), np.inf)], axis=1)
        n_min = ((pf < lft) & (pf < rgt)).sum(axis=1)
        start, left, right = _select(cc, pf, lin_c[:, 1] - lin_c[:, 0], lo, hi)
        full = (n_min != 1) | law.profile_is_flat(np.where(np.isinf(pf), np.nan, pf), syy)
        # a parabola through the best coarse point and its neighbours gives the Newton start
        rows = np.arange(R)
        k = np.argmin(pf, axis=1)
        km, kp = np.maximum(k - 1, 0), np.minimum(k + 1, cc.shape[1] - 1)
        x0, x1, x2 = cc[rows, km], cc[rows, k], cc[rows, kp]
        f0, f1, f2 = pf[rows, km], pf[rows, k], pf[rows, kp]
        with np.errstate(all="ignore"):
            num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
            den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
            vert = x1 - 0.5 * num / den
        ok = np.isfinite(vert) & (vert > left) & (vert < right)
        start = np.where(ok, vert, start)
    flat = np.zeros(R, dtype=bool)
    extras = None
    if full.any():
        idx = np.flatnonzero(full)
        grid = _grids(lo[idx], hi[idx])[0]
        prof = _profile(S[idx], yc[idx], syy[idx], grid)
        fine = (hi[idx] - lo[idx]) / (law.GRID_SIZE - 1)
        start[idx], left[idx], right[idx] = _select(grid, prof, fine, lo[idx], hi[idx])
        flat[idx] = law.profile_is_flat(prof, syy[idx])
        if how == "full":
            extras = (grid, prof)
    c = np.zeros(R)
    live = np.flatnonzero(~flat)
    if live.size:
        c[live] = _newton(S[live], y[live], start[live], left[live], right[live])
    step = (hi - lo) / (law.GRID_SIZE - 1)
    at_bound = (c <= lo + 1e-3 * step) | (c >= hi - 1e-3 * step)
    return c, at_bound, extras


def _rss_at(S: np.ndarray, yc: np.ndarray, syy: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Profile RSS at one rate per row (the grid formula of ``law.solve_linear``); NaN where c is NaN."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        G = _g(S, c[:, None])
        G -= G.mean(axis=1, keepdims=True)
        sxx = np.einsum("rn,rn->r", G, G)
        sxy = np.einsum("rn,rn->r", yc, G)
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        return np.maximum(syy - slope * sxy, 0.0)


def _search_replicates(S, Y, grid):
    """``law.varpro(S, Y, bounds, refine="newton")`` for replicates ``Y`` (R, B, n) of runs ``S`` (R, n)."""
    R, B, n = Y.shape
    ybar = Y.mean(axis=2)
    yc = Y - ybar[:, :, None]
    syy = np.einsum("rbn,rbn->rb", yc, yc)
    syy_flat = np.sum((Y - ybar[:, :, None]) ** 2, axis=2)
    prof = _profile(S, yc, syy, grid)  # (R, B, K)
    lo, hi = grid[:, 0], np.nanmax(grid, axis=1)
    start, left, right = _select(grid, prof, (hi - lo) / (law.GRID_SIZE - 1), lo, hi)
    flat = law.profile_is_flat(prof, syy_flat)
    k = np.argmin(np.where(np.isfinite(prof), prof, np.inf), axis=-1)
    start = law.parabola_start(
        np.repeat(grid, B, axis=0), prof.reshape(R * B, -1), k.ravel(), left.ravel(), right.ravel()
    ).reshape(R, B)
    c = np.zeros((R, B))
    live = np.flatnonzero(~flat.ravel())
    if live.size:
        S_rows = np.repeat(S, B, axis=0)
        Yr = Y.reshape(R * B, n)
        c.ravel()[live] = _newton(S_rows[live], Yr[live], start.ravel()[live], left.ravel()[live], right.ravel()[live])
    return c


# ----- trend of entropy: Kendall's tau only where it can matter -----------------------------
def entropy_trend_rows(step: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Kendall's tau between step and entropy per row, or -1 where it is certainly below -0.2.

    Daniels' inequality ``3 tau - 2 rho <= 1`` (untied data) gives ``tau < -0.2`` whenever
    Spearman's ``rho < -0.8``; only the other rows (and rows with ties) need the tau itself
    (:func:`scaling.fitting.diagnostics.kendall_tau_from`, scipy's tau-b).
    """
    R, n = S.shape
    out = np.full(R, np.nan)
    if n < 3:
        return out
    order = np.argsort(S, axis=1, kind="stable")
    ties = (np.diff(step, axis=1) == 0).any(axis=1) | (np.diff(np.take_along_axis(S, order, axis=1), axis=1) == 0).any(axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(R, axis=0), axis=1)
    d = (ranks - np.arange(n)).astype(np.int64)
    rho = 1.0 - 6.0 * np.einsum("rn,rn->r", d, d) / (n * (n * n - 1.0))
    sure = ~ties & (rho < -0.8)
    out[sure] = -1.0
    rest = np.flatnonzero(~sure)
    out[rest] = kendall_tau_from(step[rest], S[rest], np.zeros(rest.size, dtype=int))
    return out


# =====================================================================================
# one chunk of runs of equal length
# =====================================================================================
def _compiled(opts: FitOptions, search: str, c_fixed: float | None, n_points: int) -> bool:
    """Whether the compiled kernels do these point fits of ``n_points`` points in all: free c with
    the coarse search, or c = 1, and at least :data:`COMPILED_MIN_POINTS` points (numba is then loaded)."""
    wanted = opts.ci != "bootstrap" and ((c_fixed is None and search == "coarse") or c_fixed == 1.0)
    return USE_NUMBA and wanted and n_points >= COMPILED_MIN_POINTS and _kernels.load()


def _fit_chunk(
    S: np.ndarray, y: np.ndarray, step: np.ndarray, c_fixed: float | None, opts: FitOptions, search: str, limit_blas: bool = True,
    compiled: bool = False,
) -> dict:
    """Check and fit runs of one length (rows of S, y, step): everything ``fit.fit_prepared`` computes.

    A pure function of its arguments (a unit of work for joblib/Dask).  Rows with values of
    1e100 or more, or constant entropy, are not fitted: ``pre`` says why for every row
    (:data:`PRE_HUGE`, :data:`PRE_CONSTANT` or :data:`PRE_FIT`) and ``pre_value`` holds the
    largest magnitude of each row; the other arrays hold the rows ``fitted`` only.  The rows are
    fitted in their internal units (:class:`scaling.core.units.Units`) and every number returned is
    in the user's units.
    ``limit_blas=False`` when the caller already holds BLAS at one thread for the whole
    process (threads of this process must not each set and restore that global setting).
    ``compiled``: the point fits go to the compiled kernels (:func:`_compiled`, decided once per fit).
    """
    compiled = compiled and _kernels.load()  # a worker process loads the kernels itself
    pre, size_ = precheck_rows(S, y)
    checks = dict(pre=pre, pre_value=size_, perf0=y[:, 0].copy())
    fitted = np.flatnonzero(pre == PRE_FIT)
    if fitted.size == 0:
        return checks
    if fitted.size < S.shape[0]:
        S, y, step = S[fitted], y[fitted], step[fitted]
    units = Units.of(S, y)
    Si, yi = units.internal(S, y)
    out = _fit_rows(Si, yi, step, units.entropy, c_fixed, opts, search, limit_blas, compiled)
    return dict(_to_user(out, units, c_fixed), fitted=fitted, **checks)


def _to_user(out: dict, units: Units, c_fixed: float | None) -> dict:
    """The numbers of :func:`_fit_rows` (computed in internal units) in the user's units.

    A fixed rate is reported as given (``c_fixed``), not as its round trip through the units.
    Runs in extreme units (e.g. entropies of 1e-190) may overflow on the way back: their numbers
    become infinite, which the status rules read as undefined.
    """
    maps = {
        "theta": units.theta, "replicates": units.theta, "cov": units.cov, "replicate_cov": units.cov,
        **dict.fromkeys(("rss", "tss", "rss_linear", "rss_paper", "rss_free", "profile"), units.squares),
        **dict.fromkeys(("lo", "hi", "grid"), units.rate),
    }  # fmt: skip
    with np.errstate(over="ignore", invalid="ignore"):
        back = {key: maps[key](value) if key in maps else value for key, value in out.items()}
    if c_fixed is not None:
        for key in ("theta", "replicates"):
            if key in back:
                back[key][..., 2] = c_fixed
    return back


def _fit_rows(
    S: np.ndarray, y: np.ndarray, step: np.ndarray, unit: np.ndarray, c_fixed: float | None, opts: FitOptions, search: str,
    limit_blas: bool = True, compiled: bool = False,
) -> dict:
    """Fit checked runs of one length, in blocks of about :data:`BLOCK_ELEMS` points (temporaries stay in cache).

    ``S`` and ``y`` are in internal units (:class:`scaling.core.units.Units`), ``unit`` is each
    row's entropy unit (a rate ``c`` per nat is ``c * unit`` here) and ``c_fixed`` the fixed rate
    in the user's units; the numbers returned are in internal units.
    """
    R, n = S.shape
    size = max(4, BLOCK_ELEMS // n) if opts.ci != "bootstrap" else max(1, BLOCK_ELEMS // n // 8)
    if compiled:
        size = max(4, COMPILED_BLOCK_ELEMS // n)  # the exponentials between the kernels stay in cache
    blas = law.single_threaded_blas() if limit_blas else contextlib.nullcontext()
    with blas, np.errstate(all="ignore"):  # overflow etc. end in statuses, not warnings
        parts = [
            _fit_block(S[a : a + size], y[a : a + size], step[a : a + size], unit[a : a + size], c_fixed, opts, search, compiled)
            for a in range(0, R, size)
        ]
    if len(parts) == 1:
        return parts[0]
    out = {}
    for key in parts[0]:
        if key == "grid":  # grids of different blocks may have different padded widths
            width = max(p[key].shape[1] for p in parts)
            out["grid"] = np.concatenate([_pad_cols(p["grid"], width) for p in parts])
            out["profile"] = np.concatenate([_pad_cols(p["profile"], width) for p in parts])
        elif key != "profile":
            out[key] = np.concatenate([p[key] for p in parts])
    return out


def _pad_cols(a: np.ndarray, width: int) -> np.ndarray:
    return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan)


def _fit_block(
    S: np.ndarray, y: np.ndarray, step: np.ndarray, unit: np.ndarray, c_fixed: float | None, opts: FitOptions, search: str,
    compiled: bool = False,
) -> dict:
    """:func:`_fit_rows` for one block of rows."""
    R, n = S.shape
    if compiled:
        return _fit_block_compiled(S, y, step, unit, c_fixed, opts)
    ptp = S.max(axis=1) - S.min(axis=1)
    lo, hi = -law.C_SPAN / ptp, law.C_SPAN / ptp
    fixed = c_fixed is not None
    k = 2 if fixed else 3
    free_c, free_bound, extras = _search(S, y, lo, hi, "full" if (search == "full" and not fixed) else "coarse")
    one = unit  # the paper's c = 1 per nat, in internal units
    if fixed:
        c_hat = float(c_fixed) * unit
        at_bound = np.zeros(R, dtype=bool)
    else:
        c_hat, at_bound = free_c, free_bound
    P0, beta, rss, fitted, resid = _at_c(S, y, c_hat)
    free_rss = rss if not fixed else _at_c(S, y, free_c)[2]
    theta = np.column_stack([P0, beta, c_hat])
    lags = opts.maxlags or intervals.newey_west_lags(n)
    if n > k + 1:
        cov = intervals.hac_cov_batch(S, theta, resid, lags, fit_c=not fixed)
    else:
        cov = np.zeros((R, 3, 3))
        cov[:, :k, :k] = np.nan
    ybar = y.mean(axis=1)
    tss = np.sum((y - ybar[:, None]) ** 2, axis=1)
    out = dict(
        theta=theta,
        cov=cov,
        rss=rss,
        tss=tss,
        at_bound=at_bound,
        lags=np.full(R, lags),
        rss_linear=_at_c(S, y, np.zeros(R))[2],
        rss_paper=_at_c(S, y, one)[2] if c_fixed != 1.0 else rss,
        rss_free=free_rss,
        tau=entropy_trend_rows(step, S),
        lo=lo,
        hi=hi,
    )
    if extras is not None:
        out["grid"], out["profile"] = extras
    if opts.ci == "bootstrap":
        reps, rcov = _bootstrap(S, theta, fitted, resid, lags, opts, fixed, lo, hi)
        out["replicates"], out["replicate_cov"] = reps, rcov
    return out


def _search_compiled(S: np.ndarray, y: np.ndarray):
    """``_search(S, y, lo, hi, "coarse")`` by the compiled kernel; the numpy path decides the
    rows whose coarse profile is flat or multimodal.  Returns c, at_bound, lo, hi."""
    c, at_bound, lo, hi, need = _kernels.search(S, y)
    if need.any():
        idx = np.flatnonzero(need)
        c[idx], at_bound[idx], _ = _search(S[idx], y[idx], lo[idx], hi[idx], "coarse")
    return c, at_bound, lo, hi


def _shrink_rule() -> int:
    """How ``intervals.hac_cov_batch`` stabilises its VAR(1) matrix (``intervals.VAR1_SHRINK``), for the compiled HAC kernel.

    Capped singular values (:data:`scaling.core._kernels.SHRINK_SINGULAR`), the one rule both
    paths implement; -1 (every covariance computed by numpy) for any other.
    """
    return _kernels.SHRINK_SINGULAR if intervals.VAR1_SHRINK == "singular" else -1


def _fit_block_compiled(
    S: np.ndarray, y: np.ndarray, step: np.ndarray, unit: np.ndarray, c_fixed: float | None, opts: FitOptions
) -> dict:
    """:func:`_fit_block` for point fits with the compiled kernels (:mod:`scaling.core._kernels`).

    Rows the kernels leave aside (full-grid searches, HAC covariances whose inverse checks fail
    or whose VAR(1) matrix needs shrinking, Kendall's tau where the kernel's shortcuts do not settle
    it) are computed by the numpy code, so every number follows the same rules.
    """
    R, n = S.shape
    S, y, step = (np.ascontiguousarray(a, dtype=float) for a in (S, y, step))
    fixed = c_fixed is not None  # c = 1 per nat here (paper mode)
    k = 2 if fixed else 3
    one = np.ascontiguousarray(unit, dtype=float)  # the paper's c = 1 per nat, in internal units
    free_c, free_bound, lo, hi = _search_compiled(S, y)
    if fixed:
        c_hat, at_bound = one, np.zeros(R, dtype=bool)
    else:
        c_hat, at_bound = free_c, free_bound
    lags = opts.maxlags or intervals.newey_west_lags(n)
    do_hac = n > k + 1
    theta, cov, rss, tss, rss_linear, rss_paper, rss_free, tau, state = _kernels.point_fit(
        S, y, step, c_hat, fixed, free_c, int(lags), do_hac, _shrink_rule(), one
    )
    if do_hac:
        redo = np.flatnonzero(state == 2)
        if redo.size:
            resid = _at_c(S[redo], y[redo], c_hat[redo])[4]
            cov[redo] = intervals.hac_cov_batch(S[redo], theta[redo], resid, lags, fit_c=not fixed)
    else:
        cov = np.zeros((R, 3, 3))
        cov[:, :k, :k] = np.nan
    open_tau = np.flatnonzero(np.isnan(tau))
    if open_tau.size:
        tau[open_tau] = entropy_trend_rows(step[open_tau], S[open_tau])
    return dict(
        theta=theta,
        cov=cov,
        rss=rss,
        tss=tss,
        at_bound=at_bound,
        lags=np.full(R, lags),
        rss_linear=rss_linear,
        rss_paper=rss_paper,
        rss_free=rss_free,
        tau=tau,
        lo=lo,
        hi=hi,
    )


def _bootstrap(S, theta, fitted, resid, lags, opts: FitOptions, fixed: bool, lo, hi):
    """``intervals.residual_block_bootstrap`` + replicate refits + ``hac_cov_batch``, for all rows.

    Each run draws from its own generator seeded with ``opts.seed`` (as the per-run path
    does), so the draws depend only on the run's length and AR(1) burn-in.
    """
    R, n = S.shape
    B = opts.n_boot
    Jt = intervals.jacobian_batch(S, theta, fit_c=not fixed)
    # an overflowed fit has nothing to resample (as in intervals.residual_block_bootstrap): NaN replicates
    broken = ~(np.isfinite(Jt).all(axis=(1, 2)) & np.isfinite(resid).all(axis=1) & np.isfinite(fitted).all(axis=1))
    bread = intervals._pinv_psd(intervals._gram(Jt, Jt))
    h = np.einsum("bin,bin->bn", bread @ Jt, Jt)
    r = resid / np.sqrt(np.clip(1.0 - h, 0.05, None))
    r = r - r.mean(axis=1, keepdims=True)
    r[broken] = 0.0
    den = np.einsum("rn,rn->r", r[:, :-1], r[:, :-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(den > 0, np.einsum("rn,rn->r", r[:, 1:], r[:, :-1]) / den, 0.0)
    phi = np.clip(phi, -0.95, 0.95)
    u = r[:, 1:] - phi[:, None] * r[:, :-1]
    u = u - u.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        burn = np.minimum(200, np.ceil(np.log(1e-3) / np.log(np.maximum(np.abs(phi), 1e-3)))).astype(int)
    L = opts.block_length or intervals.default_block_length(n)
    nu = n - 1
    L = int(min(max(L, 1), nu))
    n_blocks = -(-(n + burn) // L)
    stream = np.random.default_rng(opts.seed).integers(0, nu - L + 1, size=B * int(n_blocks.max()))
    Y = np.empty((R, B, n))
    for b in np.unique(burn):
        rows = np.flatnonzero(burn == b)
        nb = -(-(n + b) // L)
        starts = stream[: B * nb].reshape(B, nb)
        idx = (starts[:, :, None] + np.arange(L)).reshape(B, -1)[:, : n + b]
        e = np.ascontiguousarray(np.moveaxis(u[rows][:, idx], 2, 0))  # (time, r, B)
        ph = phi[rows][:, None]
        for t in range(1, n + b):  # the AR(1) recursion of scipy.signal.lfilter, for all rows at once
            e[t] += ph * e[t - 1]
        Y[rows] = fitted[rows][:, None, :] + np.moveaxis(e[b:], 0, 2)
    Y[broken] = np.nan
    grid = None if fixed else _grids(lo, hi)[0]
    reps = np.empty((R, B, 3))
    rcov = np.empty((R, B, 3, 3))
    per = max(1, 4 * BLOCK_ELEMS // (B * n))  # runs per block: the replicates' arrays stay cache-sized
    for a in range(0, R, per):
        sl = slice(a, min(R, a + per))
        Ys, Ss = Y[sl], S[sl]
        r_ = Ys.shape[0]
        if fixed:
            c_b = np.broadcast_to(theta[sl, 2:3], (r_, B)).copy()
        else:
            c_b = _search_replicates(Ss, Ys, grid[sl])
        P0_b, beta_b, _, _, res_b = _at_c(Ss[:, None, :], Ys, c_b)
        reps[sl] = np.stack([P0_b, beta_b, c_b], axis=2)
        S_rows, th_rows, res_rows = np.repeat(Ss, B, axis=0), reps[sl].reshape(r_ * B, 3), res_b.reshape(r_ * B, n)
        rc = np.empty((r_ * B, 3, 3))
        step = max(1, 2 * BLOCK_ELEMS // n)
        for b0 in range(0, r_ * B, step):
            b1 = b0 + step
            rc[b0:b1] = intervals.hac_cov_batch(S_rows[b0:b1], th_rows[b0:b1], res_rows[b0:b1], lags, fit_c=not fixed)
        rcov[sl] = rc.reshape(r_, B, 3, 3)
    return reps, rcov


# =====================================================================================
# results
# =====================================================================================
_QUANTITIES = ("ceiling", "a", "b", "c", "beta")


@dataclass(frozen=True, eq=False)
class BatchFit(ResultMixin):
    """Fits of many runs, stored as arrays (one row per run, in input order).

    Attributes
    ----------
    runs : RunTable
        The runs fitted (points and identity; a sequence of RunPoints).
    mode, options, search
        How they were fitted (``search``: "coarse" or "full" grid search).
    theta : array (R, 3)
        ``(P0, beta, c)`` per run; NaN rows for runs without an estimate.
    cov : array (R, 3, 3)
        HAC covariance of each run's point fit.
    status, message : tuples
        Per run, exactly as :func:`scaling.fitting.single.fit_run` reports them.
    status_flags : tuple
        Per run, the statuses that apply (:attr:`flags` adds ``form disagreement``).
    r2, rmse, rss, aicc, bic, n_points, hac_lags, at_bound : arrays (R,)
    bounds : array (R, 2)
        Search bounds of c.
    alternatives : dict of arrays
        AICc of the linear, paper and free forms.
    replicates, replicate_cov : arrays (R, B, 3), (R, B, 3, 3) or None
        Bootstrap replicates and their HAC covariances (``ci="bootstrap"``).
    grids, profiles : tuple of arrays, or None
        Each run's profile RSS(c) on its grid (``search="full"``).
    paper : BatchFit or None
        With ``mode="free"``, the same runs fitted with c = 1 (:mod:`scaling.fitting.forms`);
        None otherwise.  Computed on first use (a property), as are :attr:`flags`.
    """

    runs: RunTable
    mode: str
    options: FitOptions
    search: str
    theta: np.ndarray
    cov: np.ndarray
    status: tuple[FitStatus, ...]
    status_flags: tuple[tuple[FitStatus, ...], ...]
    message: tuple[str, ...]
    r2: np.ndarray
    rmse: np.ndarray
    rss: np.ndarray
    aicc: np.ndarray
    bic: np.ndarray
    n_points: np.ndarray
    hac_lags: np.ndarray
    at_bound: np.ndarray
    bounds: np.ndarray
    alternatives: dict = field(default_factory=dict)
    replicates: np.ndarray | None = None
    replicate_cov: np.ndarray | None = None
    grids: tuple | None = None
    profiles: tuple | None = None

    def __len__(self) -> int:
        return len(self.runs)

    @property
    def run_ids(self) -> list[str]:
        return self.runs.run_ids

    @property
    def has_estimate(self) -> np.ndarray:
        return np.isfinite(self.theta).all(axis=1)

    def status_counts(self) -> pd.Series:
        """How many runs have each status."""
        return pd.Series([s.value for s in self.status]).value_counts()

    # ----- intervals, vectorised ------------------------------------------------------
    def intervals(self, name: str = "ceiling") -> pd.DataFrame:
        """Estimate, se and ``1 - alpha`` interval of one quantity for every run.

        The same numbers as :meth:`RunFit.conf_int` and :meth:`RunFit.summary`
        (HAC with fixed-b critical values, or studentized bootstrap intervals).
        """
        if name not in ("ceiling", "a", "b", "c", "beta"):
            raise ValueError(f"name must be one of ceiling, a, b, c, beta; got {name!r}")
        est, se, lo, hi = _intervals(self, name)
        return pd.DataFrame({"run": self.run_ids, "estimate": est, "se": se, "lo": lo, "hi": hi})

    def to_frame(self) -> pd.DataFrame:
        """One row per run with the columns of :meth:`scaling.fitting.dataset.FitResults.to_frame`."""

        idents = self.runs.idents
        frame = pd.DataFrame(
            {
                "run": idents["run"],
                "model": idents["model"],
                "params": idents["params"].astype(float),
                "algorithm": idents["algorithm"],
                "seed": idents["seed"],
                "task": idents["task"],
                "mode": self.mode,
                "ci": self.options.ci,
                "n_points": self.n_points,
            }
        )
        for q in _QUANTITIES:
            est, se, lo, hi = _intervals(self, q)
            frame[q], frame[f"{q}_lo"], frame[f"{q}_hi"] = est, lo, hi
            if q == "ceiling":
                ceiling_se = se
        frame["ceiling_se"] = ceiling_se
        frame["r2"], frame["rmse"], frame["aicc"], frame["bic"] = self.r2, self.rmse, self.aicc, self.bic
        for key, vals in self.alternatives.items():
            frame[f"aicc_{key}"] = np.where(self.has_estimate, vals, np.nan)
        if self.paper is not None:
            for col, vals in zip(C1_COLUMNS, self._c1_columns()):
                frame[col] = vals
        frame["status"] = [s.value for s in self.status]
        frame["flags"] = [";".join(f.value for f in fl) for fl in self.flags]
        frame["message"] = list(self.message)
        s_rng = run_ranges(self.runs.entropy, self.runs.offsets)
        with np.errstate(all="ignore"):  # values near the float limit: NaN or inf, never a warning
            span = s_rng[:, 1] - s_rng[:, 0]
            reach = np.where(span > 0, s_rng[:, 0] / span, np.nan)
        frame["entropy_min"], frame["entropy_max"], frame["reach"] = s_rng[:, 0], s_rng[:, 1], reach
        val, lo, hi = _at_min_entropy(self, s_rng[:, 0])
        frame["perf_at_min_entropy"], frame["perf_at_min_entropy_lo"], frame["perf_at_min_entropy_hi"] = val, lo, hi
        rest = [c for c in frame.columns if c not in CORE_COLUMNS]
        return frame[CORE_COLUMNS + rest]

    # ----- the c = 1 fit beside a free-c fit (scaling.fitting.forms), made on first use --------
    @cached_property
    def paper(self) -> BatchFit | None:
        """The same runs fitted with c = 1 (``mode="paper"``, HAC intervals) when c is free, else None.

        Made on first use (by :attr:`flags`, :meth:`to_frame` or :meth:`to_fits`), so that a sweep
        whose results are not read pays nothing for it; it costs about as much as the free point fit.
        Its intervals are HAC even when ``options.ci == "bootstrap"``: with c fixed the fit is
        linear in (P0, beta), and a second bootstrap would add about 60% to the free one's time.
        """
        if self.mode != "free":
            return None
        return fit_runs(self.runs, "paper", replace(self.options, ci="hac"))

    @cached_property
    def flags(self) -> tuple[tuple[FitStatus, ...], ...]:
        """Per run, :attr:`status_flags` and ``form disagreement`` where a usable fit's ceiling intervals
        with c free and with c = 1 do not overlap (:func:`scaling.fitting.forms.disagree`)."""
        if self.paper is None:
            return self.status_flags
        _, _, lo, hi = _intervals(self, "ceiling")
        _, _, lo1, hi1 = _intervals(self.paper, "ceiling")
        apart = forms.disagree([s.usable for s in self.status], lo, hi, lo1, hi1)
        return tuple(fl + (FitStatus.FORM_DISAGREEMENT,) if a else fl for fl, a in zip(self.status_flags, apart))

    def _c1_columns(self) -> tuple:
        """The columns :data:`scaling.fitting.result.C1_COLUMNS` (NaN or "" where this fit has no estimate)."""
        ok = self.has_estimate
        est, _, lo, hi = _intervals(self.paper, "ceiling")
        c1 = [np.where(ok, v, np.nan) for v in (est, lo, hi)]
        delta = np.where(ok, self.aicc - self.alternatives["paper"], np.nan)
        both = ok & self.paper.has_estimate
        misfit = [[any(s in forms.MISFIT_STATUSES for s in fl) for fl in r.flags] for r in (self, self.paper)]
        pref = [
            forms.choose_form(float(d), m_free, m_paper)[0] if b else ""
            for d, m_free, m_paper, b in zip(delta, *misfit, both)
        ]
        return (*c1, delta, pref)

    def summary(self) -> pd.DataFrame:
        """Status counts with the median ceiling and c of each status (a DataFrame)."""
        frame = pd.DataFrame({"status": [s.value for s in self.status], "ceiling": self.theta[:, 0], "c": self.theta[:, 2]})
        out = frame.groupby("status", sort=False).agg(runs=("ceiling", "size"), median_ceiling=("ceiling", "median"), median_c=("c", "median"))
        out.attrs.update(mode=self.mode, ci=self.options.ci, search=self.search)
        return out

    # ----- back to per-run results ----------------------------------------------------
    def fit(self, i: int) -> RunFit:
        """The :class:`RunFit` of run ``i`` (the profile grid is computed here if the search was coarse)."""
        return self.to_fits([i])[0]

    def to_fits(self, which: Sequence[int] | None = None) -> tuple[RunFit, ...]:
        """:class:`RunFit` objects, equal to what :func:`scaling.fitting.single.fit_run` returns for each run."""
        idx = range(len(self.runs)) if which is None else which
        grids, profs = self.grids, self.profiles
        if grids is None and self.mode == "free":
            grids, profs = _profiles_for(self, idx)
        papers = dict(zip(idx, self.paper.to_fits(idx))) if self.paper is not None else {}
        ok = self.has_estimate  # once: each call looks at every run
        # per-run numbers as Python lists once (indexing numpy arrays per run dominates at 10^5 runs)
        r2, rmse, rss, aicc, bic = (a.tolist() for a in (self.r2, self.rmse, self.rss, self.aicc, self.bic))
        alts = {k: v.tolist() for k, v in self.alternatives.items()}
        bounds, lags = self.bounds.tolist(), self.hac_lags.tolist()
        runs = iter(self.runs) if which is None else (self.runs[i] for i in idx)
        out = []
        for i, r in zip(idx, runs):
            base = dict(
                **r.ident,
                mode=self.mode,
                ci_method=self.options.ci,
                alpha=self.options.alpha,
                n_points=int(r.entropy.size),
                status=self.status[i],
                flags=self.flags[i],
                message=self.message[i],
                entropy=r.entropy,
                perf=r.perf,
                step=r.step,
                perf_range=self.options.perf_range,
            )
            if not ok[i]:
                out.append(RunFit(**base, theta=np.full(3, np.nan), cov=np.full((3, 3), np.nan)))
                continue
            free = self.mode == "free"
            out.append(
                RunFit(
                    **base,
                    theta=self.theta[i].copy(),
                    cov=self.cov[i].copy(),
                    r2=float(r2[i]),
                    rmse=float(rmse[i]),
                    rss=float(rss[i]),
                    aicc=float(aicc[i]),
                    bic=float(bic[i]),
                    alternatives={k: float(v[i]) for k, v in alts.items()},
                    profile_c=grids[i] if free else np.empty(0),
                    profile_rss=profs[i] if free else np.empty(0),
                    bounds=(float(bounds[i][0]), float(bounds[i][1])),
                    replicates=None if self.replicates is None else self.replicates[i].copy(),
                    fixed_c=not free,
                    hac_lags=int(lags[i]),
                    replicate_cov=None if self.replicate_cov is None else self.replicate_cov[i].copy(),
                    paper=papers.get(i),
                )
            )
        return tuple(out)


def _profiles_for(res: BatchFit, idx) -> tuple[dict, dict]:
    """Full-grid profiles of the runs ``idx`` (grouped by length), as ``law.varpro`` reports them."""
    grids, profs = {}, {}
    ok = res.has_estimate
    want = [i for i in idx if ok[i]]
    by_n: dict[int, list[int]] = {}
    lengths = res.runs.lengths
    for i in want:
        by_n.setdefault(int(lengths[i]), []).append(i)
    for members in by_n.values():
        units = Units.of(*res.runs.block(np.array(members))[:2])
        S, y = units.internal(*res.runs.block(np.array(members))[:2])
        yc = y - y.mean(axis=1, keepdims=True)
        ptp = S.max(axis=1) - S.min(axis=1)
        grid = _grids(-law.C_SPAN / ptp, law.C_SPAN / ptp)[0]  # the bounds of _fit_block
        prof = _profile(S, yc, np.einsum("rn,rn->r", yc, yc), grid)
        grid, prof = units.rate(grid), units.squares(prof)
        for j, i in enumerate(members):
            K = int(np.isfinite(grid[j]).sum())
            grids[i], profs[i] = grid[j, :K], prof[j, :K]
    return grids, profs


def _intervals(res: BatchFit, name: str):
    """Vectorised :meth:`RunFit._interval` for all runs: (estimate, se, lo, hi)."""
    R = len(res.runs)
    th = res.theta
    est = quantity_value(name, th)
    grad = quantity_gradient(name, th)
    var = _quad(grad, res.cov)
    with np.errstate(invalid="ignore"):
        se = np.where(var >= 0, np.sqrt(np.abs(var)), np.nan)
    ok = res.has_estimate
    nan = np.full(R, np.nan)
    if res.replicates is None:
        t = _critical_values(res, ok)
        return np.where(ok, est, nan), np.where(ok, se, nan), np.where(ok, est - t * se, nan), np.where(ok, est + t * se, nan)
    a = res.options.alpha
    reps = res.replicates
    vals = quantity_value(name, reps.reshape(-1, 3)).reshape(reps.shape[:2])
    g_b = quantity_gradient(name, reps.reshape(-1, 3)).reshape(reps.shape)
    with np.errstate(invalid="ignore"):
        se_b = np.sqrt(_quad(g_b, res.replicate_cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_b = (vals - est[:, None]) / se_b
    q_lo, q_hi, count = _row_quantiles(t_b, a / 2, 1 - a / 2)
    fin = np.isfinite(vals)
    m = fin.sum(axis=1)
    mean = np.where(fin, vals, 0.0).sum(axis=1) / np.maximum(m, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot_se = np.sqrt(np.where(fin, (vals - mean[:, None]) ** 2, 0.0).sum(axis=1) / (m - 1))
    good = ok & (count >= 10) & np.isfinite(se)
    return (
        np.where(ok, est, nan),
        np.where(good, boot_se, nan),
        np.where(good, est - q_hi * se, nan),
        np.where(good, est - q_lo * se, nan),
    )


def _critical_values(res: BatchFit, ok: np.ndarray) -> np.ndarray:
    """The fixed-b HAC critical value of each run where ``ok`` (NaN elsewhere), as :meth:`RunFit._interval` uses it."""
    df = np.maximum(res.n_points - (2 if res.mode != "free" else 3), 1)
    keys = np.column_stack([res.hac_lags, res.n_points, df]).astype(int)[ok]
    if keys.size and (keys == keys[0]).all():  # one length and lag (a sweep): no sort of the rows
        uniq, inv = keys[:1], np.zeros(len(keys), dtype=int)
    else:
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    crit = np.array([intervals.fixed_b_critical(res.options.alpha, int(L), int(n), int(d)) for L, n, d in uniq])
    t = np.full(len(res.runs), np.nan)
    t[ok] = crit[np.ravel(inv)]
    return t


def run_ranges(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(min, max)`` of each run's slice ``x[offsets[i]:offsets[i + 1]]``, shape (R, 2); NaN for empty runs."""
    R = offsets.size - 1
    out = np.full((R, 2), np.nan)
    full = np.flatnonzero(np.diff(offsets) > 0)
    if full.size:
        starts = offsets[:-1][full]
        out[full, 0] = np.minimum.reduceat(x, starts)
        out[full, 1] = np.maximum.reduceat(x, starts)
    return out


def _at_min_entropy(res: BatchFit, s_min: np.ndarray):
    """The fitted value at each run's lowest observed entropy with its ``1 - alpha`` band
    (:meth:`RunFit.predict_interval`, vectorised): (value, lo, hi)."""
    R = len(res.runs)
    th = res.theta
    ok = res.has_estimate & np.isfinite(s_min)
    val = np.full(R, np.nan)
    lo, hi = np.full(R, np.nan), np.full(R, np.nan)
    if not ok.any():
        return val, lo, hi
    idx = np.flatnonzero(ok)
    S = s_min[idx]
    P0, beta, c = th[idx, 0], th[idx, 1], th[idx, 2]
    with np.errstate(all="ignore"):
        val[idx] = P0 - beta * law.g(S, c)
    if res.replicates is not None:
        reps = res.replicates[idx]
        curves = reps[:, :, 0] - reps[:, :, 1] * law.g(S[:, None], reps[:, :, 2])
        a = res.options.alpha
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row gives NaN
            lo[idx], hi[idx] = np.nanquantile(curves, [a / 2, 1 - a / 2], axis=1)
    else:
        grad = np.column_stack([np.ones_like(S), -law.g(S, c), -beta * law.dg_dc(S, c)])  # d curve / d(P0, beta, c)
        t = _critical_values(res, ok)[idx]
        _, lo[idx], hi[idx] = intervals.delta_interval(grad, res.cov[idx], val[idx], t)
    lo, hi, _ = intervals.bounded_interval(val, lo, hi, res.options.perf_range, res.options.alpha)
    return val, lo, hi


def _quad(g: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``g' C g`` over the last axes for stacks of 3-vectors and 3x3 matrices (no einsum temporaries)."""
    out = np.zeros(g.shape[:-1])
    for i in range(3):
        gi = g[..., i]
        if not np.any(gi):
            continue
        for j in range(3):
            gj = g[..., j]
            if np.any(gj):
                out += gi * C[..., i, j] * gj
    return out


def _row_quantiles(x: np.ndarray, p_lo: float, p_hi: float):
    """``np.quantile`` (linear method) of the finite values of each row, for two levels."""
    fin = np.isfinite(x)
    count = fin.sum(axis=1)
    srt = np.sort(np.where(fin, x, np.inf), axis=1)
    out = []
    rows = np.arange(x.shape[0])
    for p in (p_lo, p_hi):
        virt = p * (count - 1)
        prev = np.floor(virt).astype(int)
        nxt = np.minimum(prev + 1, np.maximum(count - 1, 0))
        prev = np.clip(prev, 0, x.shape[1] - 1)
        gamma = virt - np.floor(virt)
        a, b = srt[rows, prev], srt[rows, nxt]
        with np.errstate(invalid="ignore"):
            diff = b - a
            val = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
        out.append(np.where(count > 0, val, np.nan))
    return out[0], out[1], count


def _aicc_vec(rss: np.ndarray, n: np.ndarray, k: int) -> np.ndarray:
    """:func:`scaling.fitting.single.aicc` for arrays (NaN where it is undefined)."""
    K = k + 1
    n = n.astype(float)
    ok = (n - K - 1 > 0) & (rss > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = n * np.log(rss / n) + 2 * K + 2 * K * (K + 1) / (n - K - 1)
    return np.where(ok, val, np.nan)


def _bic_vec(rss: np.ndarray, n: np.ndarray, k: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rss > 0, n * np.log(rss / n) + (k + 1) * np.log(n), np.nan)


# =====================================================================================
# the public entry points
# =====================================================================================
_POOLS: dict = {}  # workers -> ThreadPoolExecutor, kept for the session once threads were asked for
_POOLS_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads (and maybe a lock held by one): start afresh."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _thread_pool(workers: int):
    """A pool of ``workers`` threads for the compiled point fits, started once and reused.

    Starting threads costs about a millisecond, as much as fitting a hundred runs; joblib's
    threading backend starts a pool on every call.  A forked child process starts its own.
    """
    from concurrent.futures import ThreadPoolExecutor

    with _POOLS_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"scaling-fit-{workers}")
        return _POOLS[workers]


def joblib_cpu_count() -> int:
    """Cores joblib would use for ``n_jobs=-1``."""
    import joblib

    return int(joblib.cpu_count())


def fit_runs(
    runs: Sequence[RunPoints],
    mode: str = "free",
    options: FitOptions | None = None,
    *,
    c: float | None = None,
    search: str = "coarse",
    n_jobs: int = 1,
    chunk_size: int | None = None,
    prefer: str | None = None,
) -> BatchFit:
    """Fit the law to many runs at once.

    Parameters
    ----------
    runs : RunTable or sequence of RunPoints
        Prepared runs: a :class:`~scaling.data.runtable.RunTable` (:func:`runs_from_frame`,
        :func:`runs_from_arrays`; the fast way in) or RunPoints from
        :func:`scaling.fitting.single.prepare_run` (copied into a table first).
    mode : {"free", "paper", "shared"}
        c fitted per run, fixed at 1, or fixed at ``c`` (a rate shared with other runs).
    c : float, optional
        The fixed rate of ``mode="shared"``.
    options : FitOptions, optional
        Interval method and thresholds, as for :func:`scaling.fitting.single.fit_run`.
    search : {"coarse", "full"}
        Grid search for c: ``"coarse"`` evaluates every 16th grid point (and the full grid
        for runs whose coarse profile is flat or multimodal); ``"full"`` evaluates the whole
        401-point grid of every run (and keeps the profiles for plots).  Both end at the
        same optimum on profiles with one minimum.
    n_jobs : int
        Parallel workers; 1 runs in this process, -1 uses every core.  Compiled point fits
        use threads of a pool kept for the session (see ``prefer``); everything else goes
        through joblib, and under ``joblib.parallel_config(backend="dask")`` to a Dask cluster.
    chunk_size : int, optional
        Runs per unit of work (default 2048 for point fits, or equal chunks of about
        :data:`COMPILED_BLOCK_ELEMS` points per thread for compiled point fits in parallel;
        for the bootstrap, as many as keep 8 million replicate points in memory, e.g. 200 runs
        of 200 points at B = 200).
    prefer : {"processes", "threads"}, optional
        Default: threads when the compiled kernels do the work (point fits with the coarse
        search and numba installed; they release the GIL), on a pool of this process kept
        for the session; processes through joblib otherwise.  ``"processes"`` sends compiled
        point fits to joblib too (and so to Dask under ``parallel_config(backend="dask")``).

    Returns
    -------
    BatchFit
        Never raises on bad runs: runs without an estimate carry their status.
    """
    if mode not in ("free", "paper", "shared"):
        raise ValueError(f"mode must be 'free', 'paper' or 'shared', got {mode!r}")
    if (mode == "shared") != (c is not None):
        raise ValueError("a fixed c goes with mode='shared', and mode='shared' needs c")
    c_fixed = {"free": None, "paper": 1.0, "shared": c}[mode]
    if search not in ("coarse", "full"):
        raise ValueError(f"search must be 'coarse' or 'full', got {search!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs must be a positive number of workers or negative (all cores), not 0")
    opts = options or FitOptions()
    runs = RunTable.from_runs(runs)
    R = len(runs)
    n_pts = runs.lengths.astype(int)
    theta = np.full((R, 3), np.nan)
    cov = np.full((R, 3, 3), np.nan)
    arrays = {k: np.full(R, np.nan) for k in ("rss", "tss", "rss_linear", "rss_paper", "rss_free", "tau", "lo", "hi")}
    at_bound = np.zeros(R, dtype=bool)
    lags = np.zeros(R, dtype=int)
    B = opts.n_boot
    boot = opts.ci == "bootstrap"
    replicates = np.full((R, B, 3), np.nan) if boot else None
    replicate_cov = np.full((R, B, 3, 3), np.nan) if boot else None
    grids: list = [np.empty(0)] * R
    profiles: list = [np.empty(0)] * R
    pre: dict[int, tuple[FitStatus, str]] = {}

    # the compiled kernels release the GIL: parallel workers are then threads, which need no copies
    compiled = _compiled(opts, search, c_fixed, int(n_pts.sum()))
    workers = max(1, joblib_cpu_count() if n_jobs < 0 else n_jobs)
    if compiled and prefer is None:
        prefer = "threads"
    # prechecks (scaling.fitting.status.precheck_rows, by length; the rest inside the chunks)
    tasks = []
    for n in np.unique(n_pts):
        members = np.flatnonzero(n_pts == n)
        if n < MIN_POINTS:
            for i in members:
                pre[i] = precheck_message(-1, n=int(n))
            continue
        S, Y, ST = runs.block(members)
        size = chunk_size or (POINT_CHUNK if not boot else max(1, min(POINT_CHUNK, BOOT_CHUNK_ELEMS // (B * int(n)))))
        if compiled and n_jobs != 1 and chunk_size is None:  # equal cache-sized chunks, a multiple of the threads
            per_round = workers * max(4, COMPILED_BLOCK_ELEMS // int(n))
            size = -(-members.size // (workers * -(-members.size // per_round)))
        for a in range(0, members.size, size):
            tasks.append((members[a : a + size], S[a : a + size], Y[a : a + size], ST[a : a + size]))
    if n_jobs == 1 or len(tasks) <= 1:
        # a bar for bootstrap fits only: point fits of a whole sweep take well under a second
        chunks = track(tasks, "bootstrap fits", total=len(tasks), enabled=None if boot else False)
        results = [_fit_chunk(S, y, st, c_fixed, opts, search, True, compiled) for _, S, y, st in chunks]
    elif compiled and prefer == "threads":
        with law.single_threaded_blas():  # once, here: the BLAS thread count is one setting for the whole process
            results = list(_thread_pool(workers).map(lambda t: _fit_chunk(t[1], t[2], t[3], c_fixed, opts, search, False, compiled), tasks))
    else:
        import joblib

        results = joblib.Parallel(n_jobs=n_jobs, prefer=prefer)(
            joblib.delayed(_fit_chunk)(S, y, st, c_fixed, opts, search, True, compiled) for _, S, y, st in tasks
        )
    for (members, S, *_), out in zip(tasks, results):
        for j in np.flatnonzero(out["pre"] != PRE_FIT):
            pre[members[j]] = precheck_message(
                out["pre"][j], n=S.shape[1], size=out["pre_value"][j], entropy=S[j, 0], perf=out["perf0"][j]
            )
        if "theta" not in out:  # nothing in this chunk could be fitted
            continue
        idx = members[out["fitted"]]
        theta[idx] = out["theta"]
        cov[idx] = out["cov"]
        at_bound[idx] = out["at_bound"]
        lags[idx] = out["lags"]
        for k in arrays:
            arrays[k][idx] = out[k]
        if boot:
            replicates[idx] = out["replicates"]
            replicate_cov[idx] = out["replicate_cov"]
        if "grid" in out:
            K = np.isfinite(out["grid"]).sum(axis=1)
            for j, i in enumerate(idx):
                grids[i], profiles[i] = out["grid"][j, : K[j]], out["profile"][j, : K[j]]
    fixed = c_fixed is not None
    k = 2 if fixed else 3
    rss = arrays["rss"]
    tss = arrays["tss"]
    r2 = r_squared(rss, tss)
    with np.errstate(divide="ignore", invalid="ignore"):
        rmse = np.sqrt(rss / n_pts)
    res = BatchFit(
        runs=runs,
        mode=mode,
        options=opts,
        search=search,
        theta=theta,
        cov=cov,
        status=(),
        status_flags=(),
        message=(),
        r2=r2,
        rmse=rmse,
        rss=rss,
        aicc=_aicc_vec(rss, n_pts, k),
        bic=_bic_vec(rss, n_pts, k),
        n_points=n_pts,
        hac_lags=lags,
        at_bound=at_bound,
        bounds=np.column_stack([arrays["lo"], arrays["hi"]]),
        alternatives={
            "linear": _aicc_vec(arrays["rss_linear"], n_pts, 2),
            "paper": _aicc_vec(arrays["rss_paper"], n_pts, 2),
            "free": _aicc_vec(arrays["rss_free"], n_pts, 3),
        },
        replicates=replicates,
        replicate_cov=replicate_cov,
        grids=tuple(grids) if search == "full" else None,
        profiles=tuple(profiles) if search == "full" else None,
    )
    if fixed:
        c_lo = c_hi = theta[:, 2]
    else:
        _, _, c_lo, c_hi = _intervals(res, "c")
    _, _, p_lo, p_hi = _intervals(res, "ceiling")
    checks = check_residuals(runs, theta, fixed)
    status, flags, msgs = assign_statuses(
        tau=arrays["tau"], r2=r2, theta=theta, at_bound=at_bound, c_lo=c_lo, c_hi=c_hi,
        lo=arrays["lo"], hi=arrays["hi"], fixed=fixed, r2_min=opts.r2_min, perf_range=opts.perf_range,
        s_range=run_ranges(runs.entropy, runs.offsets), y_range=run_ranges(runs.perf, runs.offsets),
        ceil_lo=p_lo, ceil_hi=p_hi, checks=checks,
    )  # fmt: skip
    for i, (st, why) in pre.items():
        status[i], flags[i], msgs[i] = st, (st,), why
    return replace(res, status=tuple(status), status_flags=tuple(flags), message=tuple(msgs))


def varpro_runs(runs: Sequence[RunPoints], *, search: str = "coarse") -> pd.DataFrame:
    """Point estimates only: :func:`scaling.core.law.varpro` for every run, vectorised.

    The optimisation without intervals, goodness of fit or statuses (what a curve-fitting
    loop returns), in each run's internal units as :func:`fit_runs` does it.  Runs with fewer than 4 points, constant entropy or values of 1e100 or
    more get NaN.

    Returns
    -------
    DataFrame
        Columns ``run, P0, beta, c, rss, at_bound``, one row per run in input order.
    """
    if search not in ("coarse", "full"):
        raise ValueError(f"search must be 'coarse' or 'full', got {search!r}")
    runs = RunTable.from_runs(runs)
    R = len(runs)
    out = np.full((R, 4), np.nan)
    bound = np.zeros(R, dtype=bool)
    n_pts = runs.lengths.astype(int)
    compiled = _compiled(FitOptions(), search, None, int(n_pts.sum()))
    with law.single_threaded_blas(), np.errstate(all="ignore"):
        for n in np.unique(n_pts[n_pts >= MIN_POINTS]):
            members = np.flatnonzero(n_pts == n)
            S, y, _ = runs.block(members)
            good = precheck_rows(S, y)[0] == PRE_FIT
            members, S, y = members[good], S[good], y[good]
            step = max(4, BLOCK_ELEMS // int(n))
            if compiled:  # one compiled pass over all rows
                step = max(1, members.size)
            for a in range(0, members.size, step):
                units = Units.of(S[a : a + step], y[a : a + step])
                Sb, yb = units.internal(S[a : a + step], y[a : a + step])
                if compiled:
                    Sb, yb = np.ascontiguousarray(Sb), np.ascontiguousarray(yb)
                    c, at_bound, _, _ = _search_compiled(Sb, yb)
                    P0, beta, rss = _kernels.solve_rows(Sb, yb, c, np.expm1(c[:, None] * Sb)).T
                else:
                    ptp = Sb.max(axis=1) - Sb.min(axis=1)
                    c, at_bound, _ = _search(Sb, yb, -law.C_SPAN / ptp, law.C_SPAN / ptp, search)
                    P0, beta, rss, _, _ = _at_c(Sb, yb, c)
                out[members[a : a + step]] = np.column_stack([units.theta(np.column_stack([P0, beta, c])), units.squares(rss)])
                bound[members[a : a + step]] = at_bound
    frame = pd.DataFrame(out, columns=["P0", "beta", "c", "rss"])
    frame.insert(0, "run", runs.run_ids)
    frame["at_bound"] = bound
    return frame
