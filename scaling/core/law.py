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

import contextlib
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from scaling.core.rules import C_SPAN, FLAT_TOL, GRID_SIZE

#: largest (points x grid rates) block evaluated at once by :func:`solve_linear`.
_GRID_BLOCK = 4_000_000


_BLAS = None


def single_threaded_blas():
    """Context limiting BLAS to one thread (through threadpoolctl, when it is installed).

    The matrix products here are small and many; a multi-threaded BLAS on a busy machine
    spends most of its time waiting for its own threads (a 200 x 200 x 400 product ran 40
    times slower with two threads than with one on a loaded 2-core machine).  Parallelism
    belongs one level up, in processes over runs (:mod:`scaling.fitting.engine`).
    """
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - optional speed-up
        return contextlib.nullcontext()
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


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


def g_and_dg_dc(S: np.ndarray, c: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(g(S, c), dg_dc(S, c))`` with the same values as :func:`g` and :func:`dg_dc`, computed faster.

    The exact formulas are evaluated once for every element and the series branches only
    where ``c`` is small, instead of both branches everywhere.
    """
    S = np.asarray(S, dtype=float)
    c = np.asarray(c, dtype=float)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        x = c * S
        G = np.expm1(x) / c
        G1 = (S * np.exp(x) - G) / c
    small_g = np.abs(c) < 1e-8
    if small_g.any():
        G = np.where(small_g, S + 0.5 * c * S * S, G)
    small_d = np.abs(c) < 1e-6
    if small_d.any():
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            safe_c = np.where(small_d, 1.0, c)
            exact = (S * np.exp(safe_c * S) - np.expm1(safe_c * S) / safe_c) / safe_c
        G1 = np.where(small_d, 0.5 * S**2 + c * S**3 / 3.0, exact)
    return G, G1


def d2g_dc2(S: np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """Second derivative of ``g_c(S)`` with respect to ``c`` (Newton steps on the profile); broadcasts like :func:`g`.

    ``(S^2 exp(cS) - 2 dg/dc) / c``, with the series ``S^3/3 + c S^4/4 + c^2 S^5/10 + c^3 S^6/36``
    where ``|c S| < 1e-3``.
    """
    S = np.asarray(S, dtype=float)
    c = np.asarray(c, dtype=float)
    x = c * S
    small = np.abs(x) < 1e-3
    safe_c = np.where(small, 1.0, c)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(safe_c * S)
        g1 = (S * e - np.expm1(safe_c * S) / safe_c) / safe_c
        exact = (S * S * e - 2.0 * g1) / safe_c
    series = S**3 * (1.0 / 3.0 + x * (0.25 + x * (0.1 + x / 36.0)))
    return np.where(small, series, exact)


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
    width = max(1, _GRID_BLOCK // max(S.size, 1))
    if not scalar and cs.size > width:  # a long run: the grid in column blocks, to bound memory
        parts = [solve_linear(S, y, cs[a : a + width]) for a in range(0, cs.size, width)]
        return tuple(np.concatenate([p[i] for p in parts], axis=-1) for i in range(3))
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


def profile_grid(lo: float, hi: float, size: int = GRID_SIZE) -> np.ndarray:
    """The coarse grid over c, always containing 0 (the linear form) when it lies within the bounds.

    The grid is unit-free: rescaling the entropies by k divides every grid point by k.  (It once
    also held c = 1, the paper's rate per nat; a grid point fixed in the user's entropy units
    made the search depend on those units.  The paper's form is still fitted and compared, as
    ``mode="paper"`` and the ``paper`` alternative.)
    """
    grid = np.linspace(lo, hi, size)
    extra = [0.0] if lo <= 0.0 <= hi else []
    return np.unique(np.concatenate([grid, extra]))




def profile_is_flat(prof: np.ndarray, syy: np.ndarray) -> np.ndarray:
    """Rows of ``prof`` (..., K) whose finite values span at most ``FLAT_TOL * syy`` (or that have none)."""
    fin = np.isfinite(prof)
    top = np.where(fin, prof, -np.inf).max(axis=-1)
    bottom = np.where(fin, prof, np.inf).min(axis=-1)
    return ~(top - bottom > FLAT_TOL * syy)


def profile_derivatives(S: np.ndarray, y: np.ndarray, c: np.ndarray):
    """The linear solve at rate(s) ``c`` with the first two derivatives of the profile RSS.

    Parameters
    ----------
    S : array, shape (n,) or (..., n)
        Entropies (broadcast against ``y``).
    y : array, shape (..., n)
        Responses, one vector per row.
    c : array, shape (...)
        One rate per row.

    Returns
    -------
    P0, beta, rss, d1, d2 : arrays, shape (...)
        Linear parameters and RSS at ``c``; ``d1 = dRSS/dc`` and ``d2 = d2RSS/dc2`` of the
        profile ``RSS(c) = min over (P0, beta)``.

    Notes
    -----
    With residuals ``r = y - P0 + beta g``, centred ``gc = g - mean(g)`` and ``g' = dg/dc``:
    ``d1 = 2 beta sum(r g')`` (envelope theorem) and
    ``d2 = 2 [beta^2 sum(g'c^2) + beta sum(r g'') - (beta sum(gc g') + sum(r g'))^2 / sum(gc^2)]``
    (the Schur complement of the full Hessian of the sum of squares in (P0, beta, c)).
    """
    S = np.asarray(S, dtype=float)
    y = np.asarray(y, dtype=float)
    cc = np.asarray(c, dtype=float)[..., None]
    G, G1, G2 = _basis_and_derivatives(S, cc)
    n = y.shape[-1]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        gbar = G.mean(axis=-1)
        ybar = y.mean(axis=-1)
        gc = G
        gc -= gbar[..., None]
        r = y - ybar[..., None]
        sxx = _dot(gc, gc)
        slope = np.where(sxx > 0, _dot(gc, r) / sxx, 0.0)
        r -= slope[..., None] * gc  # residuals
        rss = _dot(r, r)
        beta = -slope
        w = _dot(r, G1)
        q = _dot(gc, G1)
        s1 = G1.sum(axis=-1)
        A = _dot(G1, G1) - s1 * s1 / n  # sum of squares of the centred dg/dc
        rg2 = _dot(r, G2)
        d1 = 2.0 * beta * w
        d2 = 2.0 * (beta * beta * A + beta * rg2 - (beta * q + w) ** 2 / sxx)
    return ybar - slope * gbar, beta, rss, d1, d2


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products over the last axis."""
    return np.einsum("...n,...n->...", a, b)


def _basis_and_derivatives(S: np.ndarray, c: np.ndarray):
    """``g_c(S)`` and its first two derivatives in c from one exponential.

    ``c`` has shape (..., 1) (one rate per row).  Rows with ``|c| max|S| < 1e-3`` use the
    series ``S (1 + x/2 + x^2/6 + x^3/24)``, ``S^2 (1/2 + x/3 + x^2/8 + x^3/30)``,
    ``S^3 (1/3 + x/4 + x^2/10 + x^3/36)`` (``x = cS``) instead of the exact formulas, whose
    differences lose digits there.
    """
    x = c * S
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        inv_c = 1.0 / c
        SE = np.expm1(x)
        G = SE * inv_c
        SE += 1.0
        SE *= S  # S exp(cS)
        G1 = SE - G
        G1 *= inv_c
        G2 = np.multiply(SE, S, out=x)
        G2 -= G1
        G2 -= G1
        G2 *= inv_c
    small = np.abs(c[..., 0]) * np.abs(S).max(axis=-1) < 1e-3
    if np.any(small):
        rows = np.broadcast_to(small, G.shape[:-1])
        Ss = np.broadcast_to(S, G.shape)[rows]
        xs = np.broadcast_to(c, G.shape)[rows] * Ss
        G[rows] = Ss * (1.0 + xs * (0.5 + xs * (1.0 / 6.0 + xs / 24.0)))
        G1[rows] = Ss * Ss * (0.5 + xs * (1.0 / 3.0 + xs * (0.125 + xs / 30.0)))
        G2[rows] = Ss**3 * (1.0 / 3.0 + xs * (0.25 + xs * (0.1 + xs / 36.0)))
    return G, G1, G2


def parabola_start(grid: np.ndarray, prof: np.ndarray, k: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex of the parabola through the best grid point ``k`` of each row of ``prof`` and its neighbours.

    ``grid`` is (K,) or one row per row of ``prof`` (m, K); the vertex replaces the grid point
    as a start for :func:`newton_refine` where it is finite and inside ``(left, right)``.
    """
    m, K = prof.shape
    rows = np.arange(m)
    g2 = np.broadcast_to(grid, prof.shape)
    km, kp = np.maximum(k - 1, 0), np.minimum(k + 1, K - 1)
    x0, x1, x2 = g2[rows, km], g2[rows, k], g2[rows, kp]
    f0, f1, f2 = prof[rows, km], prof[rows, k], prof[rows, kp]
    with np.errstate(all="ignore"):
        num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
        den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
        vertex = x1 - 0.5 * num / den
    ok = np.isfinite(vertex) & (vertex > left) & (vertex < right)
    return np.where(ok, vertex, x1)


def newton_refine(deriv, c0: np.ndarray, left: np.ndarray, right: np.ndarray, max_iter: int = 60) -> np.ndarray:
    """Safeguarded Newton iteration for the minimum of a profile inside a bracket, vectorised over rows.

    Each row keeps a bracket ``[left, right]`` that contains its minimum; a Newton step on the
    derivative is taken when the curvature is positive and the step stays inside the bracket,
    otherwise the bracket is bisected towards descent.  A row stops after a Newton step below
    ``1e-7`` of the initial bracket width (quadratic convergence leaves an error of the order of
    its square), or when a step or the bracket falls below ``1e-12`` of that width (or 8 ulps of
    c): a stationary point at near machine precision, where the derivative is rounding noise.

    Parameters
    ----------
    deriv : callable
        ``deriv(c, rows) -> (d1, d2)``: first and second derivatives of the profile at ``c``
        for the rows with indices ``rows``.
    c0, left, right : arrays, shape (m,)
        Starting points and brackets (``left <= c0 <= right``).

    Returns
    -------
    array, shape (m,)
        The refined rates.
    """
    c = np.array(c0, dtype=float, copy=True)
    lo = np.array(left, dtype=float, copy=True)
    hi = np.array(right, dtype=float, copy=True)
    tol = np.maximum(1e-12 * (hi - lo), 8 * np.finfo(float).eps * np.abs(c))
    # a Newton step this small is taken as the last one: near the minimum the error after it
    # is of the order of its square over the bracket width, far below ``tol``
    last_step = np.maximum(1e-7 * (hi - lo), tol)
    act = np.flatnonzero(hi > lo)
    for _ in range(max_iter):
        if act.size == 0:
            break
        x = c[act]
        d1, d2 = deriv(x, act)
        good = np.isfinite(d1)
        l_, h_ = lo[act], hi[act]
        h_ = np.where(good & (d1 > 0), x, h_)
        l_ = np.where(good & (d1 < 0), x, l_)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - d1 / d2
        curved = good & np.isfinite(d2) & (d2 > 0)
        t = tol[act]
        tiny = curved & (np.abs(newton - x) <= last_step[act])  # converged: this step is the last
        use_newton = curved & (newton >= l_) & (newton <= h_)
        step = np.where(use_newton, newton, 0.5 * (l_ + h_))
        step = np.where(tiny, np.clip(newton, l_, h_), step)
        done = ~good | (d1 == 0) | tiny | (np.abs(step - x) <= t) | (h_ - l_ <= t)
        c[act] = np.where(~good | (d1 == 0), x, step)
        lo[act], hi[act] = l_, h_
        act = act[~done]
    return c


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
    refine : {"brent", "newton"}
        How the cell around the best grid point ``c_k`` (one grid step either way) is
        refined.  ``"brent"`` (one response vector per run) runs a bounded scalar
        minimiser, then the Newton polish; ``"newton"`` (any batch of replicates) starts
        the polish at the vertex of the parabola through ``c_k`` and its neighbours.  The
        polish is safeguarded Newton steps on the analytic derivative of the profile
        (:func:`profile_derivatives`) inside the cell, down to a stationary point at near
        machine precision, so both end at the same optimum, however the cell was found
        (which is how the batch engine in :mod:`scaling.fitting.engine` reproduces the per-run
        numbers).  ``"parabola"`` is accepted as the old name of ``"newton"``.
    grid_size : int
        Number of coarse grid points.

    Returns
    -------
    VarProSolution

    Notes
    -----
    A flat profile (``RSS(c)`` varies by less than ``FLAT_TOL`` of the total sum of
    squares over the grid, e.g. constant performance) does not identify c: it is
    reported as ``c = 0`` (the linear form) with no refinement.
    """
    S_list = [np.asarray(S, dtype=float) for S in S_list]
    y_list = [np.asarray(y, dtype=float) for y in y_list]
    if bounds is None:
        widest = max(S_list, key=lambda s: np.ptp(s) if s.size else 0.0)
        bounds = c_bounds(widest)
    lo, hi = bounds
    grid = profile_grid(lo, hi, grid_size)
    with single_threaded_blas():
        prof = sum(solve_linear(S, y, grid)[2] for S, y in zip(S_list, y_list))
    k = np.argmin(np.where(np.isfinite(prof), prof, np.inf), axis=-1)
    batch = y_list[0].ndim > 1
    if refine not in ("brent", "newton", "parabola"):
        raise ValueError(f"refine must be 'brent' or 'newton', got {refine!r}")
    if refine == "brent" and batch:
        raise ValueError("refine='brent' fits one response vector per run; use 'newton' for batches")
    syy = sum(np.sum((y - y.mean(axis=-1, keepdims=True)) ** 2, axis=-1) for y in y_list)
    flat = profile_is_flat(np.atleast_2d(prof), np.atleast_1d(syy))
    k1 = np.atleast_1d(k)
    # the cell around the best grid point: one grid step either way (not the neighbouring grid
    # values, which may sit 1e-15 away where the extra point 0 falls next to a grid point)
    step = (hi - lo) / (grid_size - 1)
    start = grid[k1]
    left, right = np.maximum(start - step, lo), np.minimum(start + step, hi)
    if refine != "brent":  # a parabola through the best grid point and its neighbours starts Newton closer
        start = parabola_start(grid, np.atleast_2d(prof), k1, left, right)
    if refine == "brent":

        def total(cc: float) -> float:
            return float(sum(solve_linear(S, y, cc)[2] for S, y in zip(S_list, y_list)))

        res = optimize.minimize_scalar(
            total,
            bounds=(float(left[0]), float(right[0])),
            method="bounded",
            options={"xatol": 1e-13 * max(1.0, abs(hi - lo))},
        )
        start = np.array([float(res.x) if total(float(res.x)) <= prof[k] else float(grid[k])])
    rows_y = [np.atleast_2d(y) for y in y_list]

    def deriv(cc: np.ndarray, rows: np.ndarray):
        parts = [profile_derivatives(S, y[rows], cc)[3:] for S, y in zip(S_list, rows_y)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    live = np.flatnonzero(~flat)
    c_hat = np.zeros(k1.size)
    if live.size:
        c_hat[live] = newton_refine(lambda cc, rows: deriv(cc, live[rows]), start[live], left[live], right[live])
    if not batch:
        c_hat = np.asarray(c_hat[0])
    P0, beta, rss = [], [], []
    for S, y in zip(S_list, y_list):
        p, bt, r = _at_c(S, y, c_hat)
        P0.append(p)
        beta.append(bt)
        rss.append(r)
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
