"""Pure numerical kernels of the entropy-performance law.

The law is ``Perf(S) = a - b * exp(c * S)``.  We fit it in the stable form

    Perf(S) = P0 - beta * g_c(S),      g_c(S) = (exp(c * S) - 1) / c,   g_0(S) = S,

which is linear in ``(P0, beta)`` for a fixed rate ``c``.  ``P0`` is the ceiling
``Perf(0) = a - b``; ``a = P0 + beta / c`` and ``b = beta / c``.

Everything here takes and returns numpy arrays: no pandas, no I/O, no state.
Functions accept a batch of response vectors (shape ``(..., n)``) so that bootstrap
replicates are fitted in a few array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

#: |c| * range(S) is searched within this bound (the brief's "about [-20, 20]").
C_SPAN = 20.0
#: number of points of the coarse profile grid over c.
GRID_SIZE = 401


def g(S: np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """The basis function ``g_c(S) = (exp(c*S) - 1)/c`` with its limit ``S`` at c = 0.

    Parameters
    ----------
    S : array
        Entropies (nats).
    c : float or array
        Rate(s). Arrays broadcast against ``S``.

    Returns
    -------
    array
        ``g_c(S)``, computed with ``expm1`` so that small ``c * S`` loses no digits.
    """
    S = np.asarray(S, dtype=float)
    c = np.asarray(c, dtype=float)
    small = np.abs(c) < 1e-8
    safe_c = np.where(small, 1.0, c)
    # second-order series near c = 0, exact formula elsewhere; overflow becomes inf, not a warning
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(small, S + 0.5 * c * S * S, np.expm1(c * S) / safe_c)


def dg_dc(S: np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """Derivative of ``g_c(S)`` with respect to ``c`` (for the delta method); broadcasts like :func:`g`."""
    S = np.asarray(S, dtype=float)
    c = np.asarray(c, dtype=float)
    small = np.abs(c) < 1e-6
    safe_c = np.where(small, 1.0, c)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = (S * np.exp(safe_c * S) - np.expm1(safe_c * S) / safe_c) / safe_c
    return np.where(small, 0.5 * S**2 + c * S**3 / 3.0, exact)


def c_bounds(S: np.ndarray, span: float = C_SPAN) -> tuple[float, float]:
    """Search bounds for ``c``: ``|c| * range(S) <= span``.

    Raises
    ------
    ValueError
        If the entropies have no spread (c is then not identified).
    """
    rng = float(np.ptp(S))
    if not np.isfinite(rng) or rng <= 0:
        raise ValueError("entropy has no spread: c cannot be estimated")
    return -span / rng, span / rng


def solve_linear(S: np.ndarray, y: np.ndarray, c: float | np.ndarray):
    """Least squares of ``y`` on ``[1, -g_c(S)]`` for fixed rate(s) ``c``.

    Parameters
    ----------
    S : array, shape (n,)
        Entropies.
    y : array, shape (..., n)
        Responses (a batch of vectors is allowed).
    c : float or array, shape (m,)
        One rate, or a grid of rates.

    Returns
    -------
    P0, beta, rss : arrays
        Shapes ``y.shape[:-1]`` (scalar c) or ``y.shape[:-1] + (m,)`` (grid of c).
        ``rss`` is computed from explicit residuals, so it stays exact near a perfect fit.
    """
    S = np.asarray(S, dtype=float)
    y = np.asarray(y, dtype=float)
    scalar = np.ndim(c) == 0
    cs = np.atleast_1d(np.asarray(c, dtype=float))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        G = g(S[:, None], cs[None, :])  # (n, m)
        gbar = G.mean(axis=0)
        Gc = G - gbar  # centred basis, (n, m)
        sxx = np.einsum("nm,nm->m", Gc, Gc)
        ybar = y.mean(axis=-1, keepdims=True)
        yc = y - ybar  # (..., n)
        sxy = yc @ Gc  # (..., m)
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
        if scalar:  # explicit residuals: exact even at a perfect fit
            resid = yc[..., :, None] - slope[..., None, :] * Gc
            rss = np.einsum("...nm,...nm->...m", resid, resid)
        else:  # a grid: the closed form avoids an (..., n, m) array
            syy = np.einsum("...n,...n->...", yc, yc)[..., None]
            rss = np.maximum(syy - slope * sxy, 0.0)
        beta = -slope
        P0 = ybar - slope * gbar  # y = P0 + slope * g
    if scalar:
        return P0[..., 0], beta[..., 0], rss[..., 0]
    return P0, beta, rss


@dataclass(frozen=True)
class VarProSolution:
    """Optimum of the law for one set of runs sharing c.

    ``P0``, ``beta`` and ``rss`` are lists with one entry per run (each a scalar,
    or an array over bootstrap replicates); ``c`` is a scalar or an array over
    replicates; ``profile`` is the summed ``RSS(c)`` on ``grid``.
    """

    P0: list
    beta: list
    c: np.ndarray
    rss: list
    grid: np.ndarray
    profile: np.ndarray
    at_bound: np.ndarray


def _parabola_vertex(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through three points per row (x, f shape (..., 3))."""
    x0, x1, x2 = x[..., 0], x[..., 1], x[..., 2]
    f0, f1, f2 = f[..., 0], f[..., 1], f[..., 2]
    num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
    den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = x1 - 0.5 * num / den
    ok = np.isfinite(v) & (den != 0)
    return np.clip(np.where(ok, v, x1), np.minimum(x0, x2), np.maximum(x0, x2))


def profile_grid(lo: float, hi: float, size: int = GRID_SIZE) -> np.ndarray:
    """The coarse grid over c, always containing 0 and 1 when they lie within the bounds."""
    grid = np.linspace(lo, hi, size)
    extra = [v for v in (0.0, 1.0) if lo <= v <= hi]
    return np.unique(np.concatenate([grid, extra]))


def _rss_candidates(S: np.ndarray, y: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """RSS of each response vector y (B, n) at its own candidate rates cand (B, K)."""
    G = g(S[None, None, :], cand[:, :, None])  # (B, K, n)
    Gc = G - G.mean(axis=2, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxx = np.einsum("bkn,bkn->bk", Gc, Gc)
    sxy = np.einsum("bkn,bn->bk", Gc, yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = np.where(sxx > 0, sxy**2 / sxx, 0.0)
    return np.einsum("bn,bn->b", yc, yc)[:, None] - explained


def varpro(
    S: np.ndarray,
    y: np.ndarray,
    bounds: tuple[float, float] | None = None,
    *,
    refine: str = "brent",
    grid_size: int = GRID_SIZE,
) -> VarProSolution:
    """Variable projection fit of ``Perf = P0 - beta * g_c(S)`` for one run.

    Same as :func:`varpro_shared` with a single run; ``P0``, ``beta`` and ``rss``
    of the solution are then plain values (or arrays over replicates), not lists.
    """
    sol = varpro_shared([S], [y], bounds, refine=refine, grid_size=grid_size)
    return VarProSolution(sol.P0[0], sol.beta[0], sol.c, sol.rss[0], sol.grid, sol.profile, sol.at_bound)


def varpro_shared(
    S_list: list[np.ndarray],
    y_list: list[np.ndarray],
    bounds: tuple[float, float] | None = None,
    *,
    refine: str = "brent",
    grid_size: int = GRID_SIZE,
) -> VarProSolution:
    """Variable projection fit of one rate c shared by several runs.

    Each run k has its own ``(P0_k, beta_k)``; the profile ``RSS(c)`` is the sum of
    the runs' profiles.  It is evaluated on a grid over the bounds (a global search
    with no start values), then the best grid cell is refined.

    Parameters
    ----------
    S_list : list of arrays, each shape (n_k,)
        Entropies of each run.
    y_list : list of arrays, each shape (n_k,) or (B, n_k)
        Responses; 2-D arrays fit B replicates at once (bootstrap).
    bounds : (float, float), optional
        Search bounds for c; default :func:`c_bounds` of the run with the widest
        entropy range.
    refine : {"brent", "parabola"}
        ``"brent"`` polishes the optimum with a bounded scalar minimiser to machine
        precision (point fits); ``"parabola"`` does two vectorised rounds of grid
        zoom and parabolic interpolation (batches of replicates).
    grid_size : int
        Number of coarse grid points.

    Returns
    -------
    VarProSolution
    """
    S_list = [np.asarray(S, dtype=float) for S in S_list]
    y_list = [np.asarray(y, dtype=float) for y in y_list]
    if bounds is None:
        widest = max(S_list, key=lambda s: np.ptp(s) if s.size else 0.0)
        bounds = c_bounds(widest)
    lo, hi = bounds
    grid = profile_grid(lo, hi, grid_size)
    prof = sum(solve_linear(S, y, grid)[2] for S, y in zip(S_list, y_list))
    k = np.argmin(np.where(np.isfinite(prof), prof, np.inf), axis=-1)
    batch = y_list[0].ndim > 1
    if refine == "brent":
        if batch:
            raise ValueError("refine='brent' fits one response vector per run; use 'parabola' for batches")

        def total(cc: float) -> float:
            return float(sum(solve_linear(S, y, cc)[2] for S, y in zip(S_list, y_list)))

        res = optimize.minimize_scalar(
            total,
            bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]),
            method="bounded",
            options={"xatol": 1e-13 * max(1.0, abs(hi - lo))},
        )
        c_hat = np.asarray(float(res.x) if total(float(res.x)) <= prof[k] else float(grid[k]))
    elif refine == "parabola":
        c_hat = _zoom(S_list, y_list, grid, np.atleast_1d(k))
        if not batch:
            c_hat = np.asarray(c_hat[0])
    else:
        raise ValueError(f"refine must be 'brent' or 'parabola', got {refine!r}")
    P0, beta, rss = [], [], []
    for S, y in zip(S_list, y_list):
        p, bt, r = _at_c(S, y, c_hat)
        P0.append(p)
        beta.append(bt)
        rss.append(r)
    step = (hi - lo) / (grid_size - 1)
    at_bound = (c_hat <= lo + 1e-3 * step) | (c_hat >= hi - 1e-3 * step)
    return VarProSolution(P0, beta, c_hat, rss, grid, prof, np.asarray(at_bound))


def _at_c(S: np.ndarray, y: np.ndarray, c: np.ndarray):
    """Linear solve at one c per response vector (c has shape y.shape[:-1])."""
    c = np.asarray(c, dtype=float)
    if c.ndim == 0:
        return solve_linear(S, y, float(c))
    G = g(S[None, :], c[:, None])  # (B, n)
    Gc = G - G.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    sxx = np.einsum("bn,bn->b", Gc, Gc)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, np.einsum("bn,bn->b", Gc, yc) / sxx, 0.0)
    resid = yc - slope[:, None] * Gc
    P0 = y.mean(axis=1) - slope * G.mean(axis=1)
    return P0, -slope, np.einsum("bn,bn->b", resid, resid)


def _zoom(S_list, y_list, grid: np.ndarray, k: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Vectorised refinement: a fine grid around each replicate's best cell, then a parabola."""
    ys = [np.atleast_2d(y) for y in y_list]
    left = grid[np.maximum(k - 1, 0)]
    right = grid[np.minimum(k + 1, grid.size - 1)]
    best = grid[k]
    t = np.linspace(0.0, 1.0, 21)
    for _ in range(rounds):
        cand = left[:, None] + (right - left)[:, None] * t[None, :]  # (B, 21)
        rss = sum(_rss_candidates(S, y, cand) for S, y in zip(S_list, ys))
        j = np.argmin(rss, axis=1)
        jj = np.clip(j, 1, 19)
        rows = np.arange(cand.shape[0])[:, None]
        idx = np.stack([jj - 1, jj, jj + 1], axis=1)
        interior = (j > 0) & (j < 20)
        best = np.where(
            interior, _parabola_vertex(cand[rows, idx], rss[rows, idx]), cand[rows[:, 0], j]
        )
        width = (right - left) / 20.0
        left, right = np.maximum(best - width, grid[0]), np.minimum(best + width, grid[-1])
    return best


def profile_interval(
    grid: np.ndarray, profile: np.ndarray, rss_min: float, n: int, level: float = 0.95
) -> tuple[float, float]:
    """Profile-likelihood interval for c from ``RSS(c)`` (Gaussian errors).

    The set of grid points with ``n * log(RSS(c) / RSS_min) <= chi2_1(level)``.
    An end at the first or last grid point means the interval is cut by the bounds.
    """
    from scipy import stats

    crit = stats.chi2.ppf(level, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = n * np.log(profile / max(rss_min, 1e-300))
    inside = np.flatnonzero(lr <= crit)
    if inside.size == 0:
        return float("nan"), float("nan")
    return float(grid[inside[0]]), float(grid[inside[-1]])
