"""Compiled kernels (numba) for the batch engine's point fits: one pass per run in machine code.

:mod:`scaling.fitting.engine` uses these when numba is importable; its numpy code stays the fallback and
the reference.  The kernels follow the numpy path's decision rules step by step (the 26-point
coarse profile, the fallback to the full grid for flat or multimodal profiles, the bracket, the
parabola start, the safeguarded Newton iteration of :func:`scaling.core.law.newton_refine`, the
leverage-adjusted prewhitened Bartlett HAC sandwich of :func:`scaling.core.intervals.hac_cov_batch`),
so the results equal the numpy path to rounding.  Rows the kernels do not handle are flagged and
computed by the numpy code instead:

* a coarse profile that is flat or has more than one minimum (the full 401-point grid);
* a HAC covariance whose bread or VAR(1) Gram matrix fails the inverse check of
  ``intervals._pinv_psd``;
* an entropy trend that neither shortcut of :func:`_trend` settles (scipy's Kendall tau).

The loops over a run's points are written so that they vectorise (fused sums, no early exits
inside them), and scratch space is allocated once per call, not per run: at 200 points per run
the allocations and repeated passes had cost as much as the arithmetic.

numba is imported, and the kernels compiled, by :func:`load`, which the engine calls only for fits
large enough to repay it (:data:`scaling.fitting.engine.COMPILED_MIN_POINTS`).  Compiled functions
are cached on disk (``cache=True``) when the package directory is writable;
numba falls back to its user cache directory or to compiling in memory otherwise.
"""

from __future__ import annotations

import importlib.util
import math
import time

import numpy as np

from scaling.core.rules import C_SPAN, COARSE_EVERY, FLAT_TOL, GRID_SIZE, LOG_BIG, TREND_DISCORDANT_SURE, TREND_RHO_SURE

#: whether numba is installed; it is imported by :func:`load`, when a fit is large enough to
#: repay its import and the loading of the compiled kernels (about 0.4 s together).
AVAILABLE = importlib.util.find_spec("numba") is not None
numba = None
#: the functions compiled by :func:`load`, in the order they are defined.
_KERNELS: list[str] = []
_LOADED = False

_EPS8 = 8 * np.finfo(float).eps
#: ways of keeping the prewhitening VAR(1) matrix stable (see :func:`fit_at`)
SHRINK_SINGULAR = 0
#: seconds spent compiling (or loading from the cache) in this process, set by :func:`warm_up`.
COMPILE_SECONDS = math.nan


#: floating-point freedoms given to the compiler: reassociation (so that sums vectorise) and
#: fused multiply-adds, nothing that changes NaN or infinity handling.  Sums then differ from
#: numpy's in the last bits only.
_FAST = {"reassoc", "contract"}


def _jit(fn):
    """Mark ``fn`` for compilation by :func:`load` (until then it is the plain Python function)."""
    _KERNELS.append(fn.__name__)
    return fn


def load() -> bool:
    """Import numba and compile every kernel (or load it from the on-disk cache), once per process.

    The module's functions are replaced by their compiled versions before any of them is
    compiled, so kernels calling each other call the compiled ones.

    Returns
    -------
    bool
        Whether the compiled kernels are in place (False without a working numba).
    """
    global numba, _LOADED, AVAILABLE
    if _LOADED or not AVAILABLE:
        return _LOADED
    try:
        import numba as nb
    except Exception:  # pragma: no cover - a broken numba install: the numpy path is used
        AVAILABLE = False
        return False
    numba = nb
    names = globals()
    for name in _KERNELS:
        fn = names[name]
        try:
            names[name] = nb.njit(cache=True, error_model="numpy", fastmath=_FAST, nogil=True)(fn)
        except Exception:  # pragma: no cover - unwritable cache: compile in memory
            names[name] = nb.njit(cache=False, error_model="numpy", fastmath=_FAST, nogil=True)(fn)
    _LOADED = True
    return True


# ----------------------------------------------------------------------------------------
# the search for c: coarse profile, bracket, Newton
# ----------------------------------------------------------------------------------------
@_jit
def _rss_at(S, yc, syy, c, EX, Gbuf):
    """Profile RSS at one rate (the grid formula of ``law.solve_linear``); NaN for NaN c.

    ``EX`` holds ``expm1(c S)`` (ignored where |c| < 1e-8, which uses the series).
    """
    n = S.size
    if not (c == c):
        return np.nan
    small = abs(c) < 1e-8
    tot = 0.0
    for t in range(n):
        if small:
            g = S[t] + 0.5 * c * S[t] * S[t]
        else:
            g = EX[t] / c
        Gbuf[t] = g
        tot += g
    gbar = tot / n
    sxx = 0.0
    sxy = 0.0
    for t in range(n):
        g = Gbuf[t] - gbar
        sxx += g * g
        sxy += yc[t] * g
    slope = sxy / sxx if sxx > 0 else 0.0
    r = syy - slope * sxy
    if r != r:
        return np.nan
    return r if r > 0.0 else 0.0


@_jit
def _derivs(S, y, ybar, c, EX, G, G1, G2, smax):
    """First and second derivatives of the profile RSS at c (``law.profile_derivatives``).

    ``EX`` holds ``expm1(c S)`` (ignored where ``|c| max|S| < 1e-3``, which uses the series).
    """
    n = S.size
    gsum = 0.0
    if abs(c) * smax < 1e-3:
        for t in range(n):
            s = S[t]
            x = c * s
            g = s * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x / 24.0)))
            G[t] = g
            G1[t] = s * s * (0.5 + x * (1.0 / 3.0 + x * (0.125 + x / 30.0)))
            G2[t] = s * s * s * (1.0 / 3.0 + x * (0.25 + x * (0.1 + x / 36.0)))
            gsum += g
    else:
        inv_c = 1.0 / c
        for t in range(n):
            s = S[t]
            se = EX[t]
            g = se * inv_c
            se = (se + 1.0) * s
            g1 = (se - g) * inv_c
            g2 = ((se * s - g1) - g1) * inv_c
            G[t] = g
            G1[t] = g1
            G2[t] = g2
            gsum += g
    gbar = gsum / n
    sxx = 0.0
    sxy = 0.0
    for t in range(n):
        gc = G[t] - gbar
        sxx += gc * gc
        sxy += gc * (y[t] - ybar)
    slope = sxy / sxx if sxx > 0 else 0.0
    w = 0.0
    q = 0.0
    s1 = 0.0
    a2 = 0.0
    rg2 = 0.0
    for t in range(n):
        gc = G[t] - gbar
        r = (y[t] - ybar) - slope * gc
        g1 = G1[t]
        w += r * g1
        q += gc * g1
        s1 += g1
        a2 += g1 * g1
        rg2 += r * G2[t]
    beta = -slope
    A = a2 - s1 * s1 / n
    d1 = 2.0 * beta * w
    d2 = 2.0 * (beta * beta * A + beta * rg2 - (beta * q + w) ** 2 / sxx)
    return d1, d2


@_jit
def newton_round(S, y, ybar, amax, EX, rows, c, lo, hi, tol, last_step):
    """One step of :func:`scaling.core.law.newton_refine` for the rows ``rows``; returns the rows still active.

    ``EX[j]`` holds ``expm1(c[rows[j]] * S[rows[j]])``, computed by numpy (vectorised), as are
    ``c``, ``lo``, ``hi`` (the brackets, updated in place), ``tol``, ``last_step``, and each
    row's mean perf ``ybar`` and largest ``|S|`` ``amax``.
    """
    m = rows.size
    n = S.shape[1]
    G = np.empty(n)
    G1 = np.empty(n)
    G2 = np.empty(n)
    keep = np.zeros(m, dtype=np.bool_)
    for j in range(m):
        i = rows[j]
        x = c[i]
        d1, d2 = _derivs(S[i], y[i], ybar[i], x, EX[j], G, G1, G2, amax[i])
        good = math.isfinite(d1)
        l_ = lo[i]
        h_ = hi[i]
        if good and d1 > 0:
            h_ = x
        if good and d1 < 0:
            l_ = x
        newton = x - d1 / d2
        curved = good and math.isfinite(d2) and d2 > 0
        tiny = curved and abs(newton - x) <= last_step[i]
        use_newton = curved and newton >= l_ and newton <= h_
        step = newton if use_newton else 0.5 * (l_ + h_)
        if tiny:
            step = min(max(newton, l_), h_)
        t_ = tol[i]
        done = (not good) or d1 == 0 or tiny or abs(step - x) <= t_ or h_ - l_ <= t_
        if good and d1 != 0:
            c[i] = step
        lo[i] = l_
        hi[i] = h_
        keep[j] = not done
    return rows[keep]


@_jit
def search_runs(S, y, E, ratio):
    """Coarse profile, its checks, the bracket and the Newton start for every row of ``S``, ``y`` (R, n).

    ``E = exp(c_0 (S - mid))`` and ``ratio = exp(dc (S - mid))`` (mid the mid-range of each
    row; c_0 and dc the first coarse rate and the coarse spacing, from :func:`coarse_rates`)
    are computed by numpy; ``E`` is overwritten.  The coarse grid has the extra point c = 0.

    Returns
    -------
    start, left, right : arrays (R,)
        Newton start and bracket (NaN where ``need_full``).
    need_full : array of bool (R,)
        Rows whose coarse profile is flat or has more than one minimum: the numpy path's full
        grid decides them.
    """
    R, n = S.shape
    K = (GRID_SIZE - 1) // COARSE_EVERY + 1
    M = K + 1
    start_out = np.full(R, np.nan)
    left_out = np.full(R, np.nan)
    right_out = np.full(R, np.nan)
    need_full = np.zeros(R, dtype=np.bool_)
    yc = np.empty(n)
    G = np.empty(n)
    cc = np.empty(M)
    pp = np.empty(M)
    cs = np.empty(M)
    pf = np.empty(M)
    for i in range(R):
        Si = S[i]
        yi = y[i]
        Ei = E[i]
        Ri = ratio[i]
        smin = Si[0]
        smax = Si[0]
        ysum = 0.0
        for t in range(n):
            s = Si[t]
            if s < smin:
                smin = s
            if s > smax:
                smax = s
            ysum += yi[t]
        ybar = ysum / n
        syy = 0.0
        for t in range(n):
            d = yi[t] - ybar
            yc[t] = d
            syy += d * d
        ptp = smax - smin
        lo = -C_SPAN / ptp
        hi = C_SPAN / ptp
        lstep = (hi - lo) / (GRID_SIZE - 1)
        for j in range(K):
            k = j * COARSE_EVERY
            cc[j] = hi if k == GRID_SIZE - 1 else k * lstep + lo
        dc = cc[1] - cc[0]
        for j in range(K):
            s1 = 0.0
            s2 = 0.0
            sy = 0.0
            if j:
                for t in range(n):
                    e = Ei[t] * Ri[t]
                    Ei[t] = e
                    s1 += e
                    s2 += e * e
                    sy += e * yc[t]
            else:
                for t in range(n):
                    e = Ei[t]
                    s1 += e
                    s2 += e * e
                    sy += e * yc[t]
            sxx = s2 - s1 * s1 / n
            explained = sy * sy / sxx if sxx > 1e-12 * s2 else 0.0
            r = syy - explained
            if r != r:
                pass
            elif r < 0.0:
                r = 0.0
            cj = cc[0] + dc * j
            top = (smax if cj > 0 else smin) * cj
            if top - math.log(abs(cj)) > LOG_BIG:
                r = np.nan
            pp[j] = r
        cc[K] = 0.0
        pp[K] = _rss_at(Si, yc, syy, 0.0, Si, G)  # c = 0: the series, no exponential needed
        for j in range(M):  # stable insertion sort by rate, NaN last (numpy's order), no allocation
            x = cc[j]
            v = pp[j]
            k = j - 1
            while k >= 0 and (x < cs[k] or (cs[k] != cs[k] and x == x)):
                cs[k + 1] = cs[k]
                pf[k + 1] = pf[k]
                k -= 1
            cs[k + 1] = x
            pf[k + 1] = v
        top = -np.inf
        bottom = np.inf
        for j in range(M):
            v = pf[j]
            if math.isfinite(v):
                if v > top:
                    top = v
                if v < bottom:
                    bottom = v
            else:
                pf[j] = np.inf
        n_min = 0
        kbest = 0
        for j in range(M):
            lft = pf[j - 1] if j > 0 else np.inf
            rgt = pf[j + 1] if j < M - 1 else np.inf
            if pf[j] < lft and pf[j] < rgt:
                n_min += 1
            if pf[j] < pf[kbest]:
                kbest = j
        flat = not (top - bottom > FLAT_TOL * syy)
        if n_min != 1 or flat:
            need_full[i] = True
            continue
        best = cs[kbest]
        left = max(best - dc, lo)
        right = min(best + dc, hi)
        km = max(kbest - 1, 0)
        kp = min(kbest + 1, M - 1)
        x0, x1, x2 = cs[km], cs[kbest], cs[kp]
        f0, f1, f2 = pf[km], pf[kbest], pf[kp]
        num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
        den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
        vert = x1 - 0.5 * num / den
        start_out[i] = vert if (math.isfinite(vert) and vert > left and vert < right) else best
        left_out[i] = left
        right_out[i] = right
    return start_out, left_out, right_out, need_full


@_jit
def _scaled_rows(S, c, rows, out):
    """``out[j] = c[rows[j]] * S[rows[j]]``."""
    n = S.shape[1]
    for j in range(rows.size):
        i = rows[j]
        ci = c[i]
        for t in range(n):
            out[j, t] = ci * S[i, t]


def coarse_rates(S: np.ndarray):
    """Search bounds and the first coarse rate and spacing of each row, as :func:`search_runs` uses them."""
    smax, smin = S.max(axis=1), S.min(axis=1)
    ptp = smax - smin
    lo, hi = -C_SPAN / ptp, C_SPAN / ptp
    lstep = (hi - lo) / (GRID_SIZE - 1)
    c0 = lo
    c1 = COARSE_EVERY * lstep + lo
    return lo, hi, c0, c1 - c0, 0.5 * (smax + smin)


def search(S: np.ndarray, y: np.ndarray):
    """Coarse search and Newton refinement of c for rows of equal length (exponentials by numpy).

    Returns c (NaN where ``need_full``), at_bound, lo, hi, need_full.
    """
    R, n = S.shape
    lo, hi, c0, dc, mid = coarse_rates(S)
    with np.errstate(over="ignore", invalid="ignore"):
        Sm = S - mid[:, None]
        E = np.exp(c0[:, None] * Sm)
        ratio = np.exp(dc[:, None] * Sm)
    start, left, right, need_full = search_runs(S, y, E, ratio)
    c = start.copy()
    lo_b, hi_b = left.copy(), right.copy()
    with np.errstate(invalid="ignore"):
        tol = np.maximum(1e-12 * (hi_b - lo_b), _EPS8 * np.abs(c))
        last = np.maximum(1e-7 * (hi_b - lo_b), tol)
        rows = np.flatnonzero(~need_full & (hi_b > lo_b))
    buf = np.empty_like(S)
    ybar, amax = y.mean(axis=1), np.abs(S).max(axis=1)
    for _ in range(60):
        if rows.size == 0:
            break
        EX = buf[: rows.size]
        _scaled_rows(S, c, rows, EX)  # c S of the active rows, without a fancy-indexed copy of S
        with np.errstate(over="ignore", invalid="ignore"):
            np.expm1(EX, out=EX)
        rows = newton_round(S, y, ybar, amax, EX, rows, c, lo_b, hi_b, tol, last)
    step = (hi - lo) / (GRID_SIZE - 1)
    at_bound = (c <= lo + 1e-3 * step) | (c >= hi - 1e-3 * step)
    return c, at_bound, lo, hi, need_full


# ----------------------------------------------------------------------------------------
# the fit at c: linear solve, goodness of fit, HAC sandwich, entropy trend
# ----------------------------------------------------------------------------------------
@_jit
def _solve_at(S, y, c, EX, G):
    """``batch._at_c`` for one row: P0, beta, rss (basis left in G); ``EX = expm1(c S)``."""
    n = S.size
    small = abs(c) < 1e-8
    gsum = 0.0
    ysum = 0.0
    for t in range(n):
        s = S[t]
        g = s + 0.5 * c * s * s if small else EX[t] / c
        G[t] = g
        gsum += g
        ysum += y[t]
    gbar = gsum / n
    ybar = ysum / n
    sxx = 0.0
    sxy = 0.0
    for t in range(n):
        gc = G[t] - gbar
        sxx += gc * gc
        sxy += (y[t] - ybar) * gc
    slope = sxy / sxx if sxx > 0 else 0.0
    rss = 0.0
    for t in range(n):
        r = (y[t] - ybar) - slope * (G[t] - gbar)
        rss += r * r
    return ybar - slope * gbar, -slope, rss


@_jit
def _zeroed(m):
    """``m`` (a 3 x 3 scratch matrix) set to zero."""
    for i in range(3):
        for j in range(3):
            m[i, j] = 0.0
    return m


@_jit
def _matmul(X, Y, p, out, tx=False, ty=False, scale=1.0):
    """``out = scale * X Y`` on the leading p x p blocks (``X'`` with ``tx``, ``Y'`` with ``ty``)."""
    for i in range(p):
        for j in range(p):
            s = 0.0
            for k in range(p):
                s += (X[k, i] if tx else X[i, k]) * (Y[j, k] if ty else Y[k, j])
            out[i, j] = s * scale
    return out


@_jit
def _inv_small(M, p, out, a):
    """Gauss-Jordan inverse of the leading p x p block of M (partial pivoting); False if singular.

    ``a`` is a (3, 6) scratch array.
    """
    for i in range(p):
        for j in range(p):
            a[i, j] = M[i, j]
            a[i, p + j] = 1.0 if i == j else 0.0
    for col in range(p):
        piv = col
        for r in range(col + 1, p):
            if abs(a[r, col]) > abs(a[piv, col]):
                piv = r
        if a[piv, col] == 0.0 or not math.isfinite(a[piv, col]):
            return False
        if piv != col:
            for j in range(2 * p):
                tmp = a[col, j]
                a[col, j] = a[piv, j]
                a[piv, j] = tmp
        d = a[col, col]
        for j in range(2 * p):
            a[col, j] /= d
        for r in range(p):
            if r != col:
                f = a[r, col]
                if f != 0.0:
                    for j in range(2 * p):
                        a[r, j] -= f * a[col, j]
    for i in range(p):
        for j in range(p):
            out[i, j] = a[i, p + j]
    return True


@_jit
def _inv_checked(M, p, out, a):
    """Inverse passing ``intervals._pinv_psd``'s check ``max |M M^-1 - I| < 1e-10``; False otherwise."""
    if not _inv_small(M, p, out, a):
        return False
    for i in range(p):
        for j in range(p):
            s = 0.0
            for k in range(p):
                s += M[i, k] * out[k, j]
            d = abs(s - (1.0 if i == j else 0.0))
            if not (d < 1e-10):
                return False
    return True


@_jit
def _cap_singular(A, p, limit, wk, f):
    """Cap the singular values of the leading p x p block of A at ``limit``, in place.

    ``u min(s, limit) v' = A V diag(min(s, limit) / s) V'`` with ``V, s^2`` the eigenvectors and
    eigenvalues of ``A'A``, found by cyclic Jacobi rotations (what ``intervals._shrink_singular``
    computes with an SVD, to rounding).
    """
    M = _matmul(A, A, p, _zeroed(wk[0]), tx=True)
    V = _zeroed(wk[1])
    for i in range(p):
        V[i, i] = 1.0
    frob2 = 0.0
    for i in range(p):
        frob2 += M[i, i]
    if frob2 <= limit * limit:  # the largest singular value is at most the Frobenius norm: nothing to cap
        return
    for _ in range(30):
        off = 0.0
        diag = 0.0
        for i in range(p):
            diag += M[i, i] * M[i, i]
            for j in range(i + 1, p):
                off += M[i, j] * M[i, j]
        if not (off > 1e-34 * diag):
            break
        for i in range(p - 1):
            for j in range(i + 1, p):
                if M[i, j] == 0.0:
                    continue
                theta = (M[j, j] - M[i, i]) / (2.0 * M[i, j])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                cs = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * cs
                for k in range(p):  # M <- G' M G on columns i, j
                    mki = M[k, i]
                    mkj = M[k, j]
                    M[k, i] = cs * mki - sn * mkj
                    M[k, j] = sn * mki + cs * mkj
                for k in range(p):  # and on rows i, j
                    mik = M[i, k]
                    mjk = M[j, k]
                    M[i, k] = cs * mik - sn * mjk
                    M[j, k] = sn * mik + cs * mjk
                for k in range(p):
                    vki = V[k, i]
                    vkj = V[k, j]
                    V[k, i] = cs * vki - sn * vkj
                    V[k, j] = sn * vki + cs * vkj
    f[:] = 1.0
    capped = False
    for k in range(p):
        sv = math.sqrt(max(M[k, k], 0.0))
        if sv > limit:
            f[k] = limit / sv
            capped = True
    if not capped:
        return
    # A <- A V diag(f) V'
    P = _zeroed(wk[2])
    for i in range(p):
        for j in range(p):
            acc = 0.0
            for k in range(p):
                acc += V[i, k] * f[k] * V[j, k]
            P[i, j] = acc
    B = _matmul(A, P, p, _zeroed(wk[3]))
    for i in range(p):
        for j in range(p):
            A[i, j] = B[i, j]


@_jit
def _hac(S, G, EXc, c, beta, resid, p, maxlags, shrink, Jt, V, W, cov, wk, aug, f):
    """:func:`scaling.core.intervals.hac_cov_batch` for one row, into ``cov``; returns a status.

    0: computed; 1: non-finite Jacobian or residuals (cov is NaN); 2: leave it to numpy
    (an inverse check failed, or the VAR(1) matrix needs shrinking).
    """
    n = S.size
    small_d = abs(c) < 1e-6
    # the Jacobian (row 2 zero when c is fixed, so that every sum below can run over 3 rows)
    # and J'J, in one pass
    s01 = 0.0
    s02 = 0.0
    s11 = 0.0
    s12 = 0.0
    s22 = 0.0
    chk = 0.0
    for t in range(n):
        s = S[t]
        g = G[t]  # the basis at c, as _solve_at left it
        if small_d:
            g1 = 0.5 * s * s + c * s * s * s / 3.0
        else:
            g1 = (s * (EXc[t] + 1.0) - g) / c
        j1 = -g
        j2 = -beta * g1 if p == 3 else 0.0
        Jt[0, t] = 1.0
        Jt[1, t] = j1
        Jt[2, t] = j2
        chk += resid[t] + j1 + j2
        s01 += j1
        s02 += j2
        s11 += j1 * j1
        s12 += j1 * j2
        s22 += j2 * j2
    if not math.isfinite(chk):  # some value is not finite (or the check sum overflowed: look)
        for t in range(n):
            if not math.isfinite(resid[t]):
                return 1
            for a in range(p):
                if not math.isfinite(Jt[a, t]):
                    return 1
    JJ = _zeroed(wk[0])
    JJ[0, 0] = float(n)
    JJ[0, 1] = JJ[1, 0] = s01
    JJ[1, 1] = s11
    if p == 3:
        JJ[0, 2] = JJ[2, 0] = s02
        JJ[1, 2] = JJ[2, 1] = s12
        JJ[2, 2] = s22
    bread = _zeroed(wk[1])
    if not _inv_checked(JJ, p, bread, aug):
        return 2
    # leverage-adjusted scores v_t = J_t r_t / (1 - h_t), h_t = J_t' bread J_t, in one pass
    b00, b01, b02 = bread[0, 0], bread[0, 1], bread[0, 2]
    b10, b11, b12 = bread[1, 0], bread[1, 1], bread[1, 2]
    b20, b21, b22 = bread[2, 0], bread[2, 1], bread[2, 2]
    for t in range(n):
        j1 = Jt[1, t]
        j2 = Jt[2, t]
        h = (b00 + b01 * j1 + b02 * j2) + j1 * (b10 + b11 * j1 + b12 * j2) + j2 * (b20 + b21 * j1 + b22 * j2)
        den = 1.0 - h
        if den < 0.05:
            den = 0.05
        r = resid[t] / den
        V[0, t] = r
        V[1, t] = j1 * r
        V[2, t] = j2 * r
    # the VAR(1) regression of v_(t+1) on v_t: X'X and X'Y in one pass
    x00 = x01 = x02 = x11 = x12 = x22 = 0.0
    y00 = y01 = y02 = y10 = y11 = y12 = y20 = y21 = y22 = 0.0
    for t in range(n - 1):
        v0 = V[0, t]
        v1 = V[1, t]
        v2 = V[2, t]
        u0 = V[0, t + 1]
        u1 = V[1, t + 1]
        u2 = V[2, t + 1]
        x00 += v0 * v0
        x01 += v0 * v1
        x02 += v0 * v2
        x11 += v1 * v1
        x12 += v1 * v2
        x22 += v2 * v2
        y00 += v0 * u0
        y01 += v0 * u1
        y02 += v0 * u2
        y10 += v1 * u0
        y11 += v1 * u1
        y12 += v1 * u2
        y20 += v2 * u0
        y21 += v2 * u1
        y22 += v2 * u2
    XX = _zeroed(wk[2])
    XY = _zeroed(wk[3])
    XX[0, 0], XX[0, 1], XX[1, 0], XX[1, 1] = x00, x01, x01, x11
    XY[0, 0], XY[0, 1], XY[1, 0], XY[1, 1] = y00, y01, y10, y11
    if p == 3:
        XX[0, 2] = XX[2, 0] = x02
        XX[1, 2] = XX[2, 1] = x12
        XX[2, 2] = x22
        XY[0, 2], XY[1, 2], XY[2, 0], XY[2, 1], XY[2, 2] = y02, y12, y20, y21, y22
    P = _zeroed(wk[4])
    if not _inv_checked(XX, p, P, aug):
        return 2
    A = _matmul(XY, P, p, _zeroed(wk[5]), tx=True, ty=True)  # A = (P XY)': the VAR(1) coefficients
    if shrink == SHRINK_SINGULAR:  # singular values above 0.97 set to 0.97 (u min(s, 0.97) v')
        _cap_singular(A, p, 0.97, wk[10:14], f)
    else:
        return 2
    T = n - 1
    a00, a01, a02 = A[0, 0], A[0, 1], A[0, 2]
    a10, a11, a12 = A[1, 0], A[1, 1], A[1, 2]
    a20, a21, a22 = A[2, 0], A[2, 1], A[2, 2]
    for t in range(T):  # prewhitened scores w_t = v_(t+1) - A v_t
        v0 = V[0, t]
        v1 = V[1, t]
        v2 = V[2, t]
        W[0, t] = V[0, t + 1] - (a00 * v0 + a01 * v1 + a02 * v2)
        W[1, t] = V[1, t + 1] - (a10 * v0 + a11 * v1 + a12 * v2)
        W[2, t] = V[2, t + 1] - (a20 * v0 + a21 * v1 + a22 * v2)
    # Bartlett-weighted autocovariances of w: one pass per lag, all nine products at once
    meat = _zeroed(wk[6])
    for j in range(0, maxlags + 1):
        if j >= T:
            break
        g00 = g01 = g02 = g10 = g11 = g12 = g20 = g21 = g22 = 0.0
        for k in range(T - j):
            x0 = W[0, k + j]
            x1 = W[1, k + j]
            x2 = W[2, k + j]
            z0 = W[0, k]
            z1 = W[1, k]
            z2 = W[2, k]
            g00 += x0 * z0
            g01 += x0 * z1
            g02 += x0 * z2
            g10 += x1 * z0
            g11 += x1 * z1
            g12 += x1 * z2
            g20 += x2 * z0
            g21 += x2 * z1
            g22 += x2 * z2
        # Gamma_j + Gamma_j', weighted; at lag 0 the weight 1/2 counts the symmetric Gamma_0 once
        # (0.5 * (g + g) is exactly g)
        wt = 0.5 if j == 0 else 1.0 - j / (maxlags + 1.0)
        meat[0, 0] += wt * (g00 + g00)
        meat[0, 1] += wt * (g01 + g10)
        meat[0, 2] += wt * (g02 + g20)
        meat[1, 0] += wt * (g10 + g01)
        meat[1, 1] += wt * (g11 + g11)
        meat[1, 2] += wt * (g12 + g21)
        meat[2, 0] += wt * (g20 + g02)
        meat[2, 1] += wt * (g21 + g12)
        meat[2, 2] += wt * (g22 + g22)
    IA = _zeroed(wk[7])
    for i in range(p):
        for j in range(p):
            IA[i, j] = (1.0 if i == j else 0.0) - A[i, j]
    Rm = _zeroed(wk[8])
    if not _inv_small(IA, p, Rm, aug):
        return 2
    # recolour, R meat R' n / (n - 1), and sandwich with the bread
    tmp = _matmul(Rm, meat, p, _zeroed(wk[9]))
    M2 = _matmul(tmp, Rm, p, _zeroed(wk[14]), ty=True, scale=n / (n - 1.0))
    _matmul(bread, M2, p, tmp)
    _matmul(tmp, bread, p, _zeroed(cov))
    return 0


#: points per block in the block bound of :func:`_trend`
TREND_BLOCK = 8


@_jit
def _trend(step, S, bmin, bmax):
    """-1 where Kendall's tau between step and S is certainly below -0.2, else NaN (scipy decides).

    Steps must be sorted.  Two sufficient conditions, cheapest first:

    1. a block bound: cut the run into blocks of :data:`TREND_BLOCK` points; when every point of
       block a exceeds every point of a later block b, all their pairs are discordant.  With D
       such pairs among N0 = n(n-1)/2 and no tied steps, tau-b <= 1 - 2D/N0 (ties in S only
       lower it), so D > 0.6 N0 gives tau < -0.2;
    2. Daniels' inequality (no ties): Spearman's rho < -0.8 gives tau < -0.2.
    """
    n = S.size
    if n < 3:
        return np.nan
    for t in range(n - 1):
        if step[t + 1] == step[t]:
            return np.nan
    nb = (n + TREND_BLOCK - 1) // TREND_BLOCK
    for k in range(nb):
        lo = S[k * TREND_BLOCK]
        hi = lo
        for t in range(k * TREND_BLOCK + 1, min(n, (k + 1) * TREND_BLOCK)):
            v = S[t]
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        bmin[k] = lo
        bmax[k] = hi
    pairs = 0.0
    for a in range(nb - 1):
        size_a = min(n, (a + 1) * TREND_BLOCK) - a * TREND_BLOCK
        for b in range(a + 1, nb):
            if bmin[a] > bmax[b]:
                pairs += size_a * (min(n, (b + 1) * TREND_BLOCK) - b * TREND_BLOCK)
    if pairs > TREND_DISCORDANT_SURE * (n * (n - 1.0) / 2.0):
        return -1.0
    order = np.argsort(S, kind="mergesort")
    for t in range(n - 1):
        if S[order[t + 1]] == S[order[t]]:
            return np.nan
    d2 = 0.0
    for r in range(n):
        d = float(r - order[r])  # rank r sits at position order[r]: sum over positions is the same
        d2 += d * d
    rho = 1.0 - 6.0 * d2 / (n * (n * n - 1.0))
    return -1.0 if rho < TREND_RHO_SURE else np.nan


@_jit
def fit_at(S, y, step, c, fixed, free_c, maxlags, do_hac, shrink, one, EX_c, EX_one, EX_free):
    """Everything ``batch._fit_block`` computes after the search, for rows with an estimate.

    ``shrink`` is how the VAR(1) matrix of the prewhitening is kept stable, as
    ``intervals.hac_cov_batch`` does it: :data:`SHRINK_SINGULAR` (singular values capped at
    0.97), or -1 (every covariance left to numpy, for any other rule).  ``one`` is each row's
    paper rate (c = 1 per nat in the row's units).  The exponentials come from numpy (vectorised):
    ``EX_c = expm1(c S)``, ``EX_one = expm1(one S)`` and ``EX_free =
    expm1(free_c S)`` (used only when ``fixed``).

    Returns theta (R, 3), cov (R, 3, 3), rss, tss, rss_linear, rss_paper, rss_free, tau
    (-1 or NaN: NaN rows need scipy's Kendall tau) and the HAC status of each row
    (0 computed, 1 NaN, 2 to be computed by numpy).
    """
    R, n = S.shape
    p = 2 if fixed else 3
    theta = np.empty((R, 3))
    cov = np.full((R, 3, 3), np.nan)
    rss = np.empty(R)
    tss = np.empty(R)
    rss_lin = np.empty(R)
    rss_pap = np.empty(R)
    rss_free = np.empty(R)
    tau = np.empty(R)
    hac_state = np.zeros(R, dtype=np.int64)
    G = np.empty(n)
    resid = np.empty(n)
    Jt = np.empty((3, n))
    V = np.empty((3, n))
    W = np.empty((3, n))
    cv = np.empty((3, 3))
    wk = np.empty((15, 3, 3))  # 3 x 3 scratch matrices of the HAC sandwich (no allocation per run)
    aug = np.empty((3, 6))
    fcap = np.empty(3)
    bmin = np.empty(n // TREND_BLOCK + 1)
    bmax = np.empty(n // TREND_BLOCK + 1)
    for i in range(R):
        Si = S[i]
        yi = y[i]
        ci = c[i]
        P0, beta, r = _solve_at(Si, yi, ci, EX_c[i], G)
        theta[i, 0] = P0
        theta[i, 1] = beta
        theta[i, 2] = ci
        rss[i] = r
        for t in range(n):
            resid[t] = yi[t] - (P0 - beta * G[t])
        ybar = 0.0
        for t in range(n):
            ybar += yi[t]
        ybar /= n
        s = 0.0
        for t in range(n):
            s += (yi[t] - ybar) ** 2
        tss[i] = s
        if do_hac:
            st = _hac(Si, G, EX_c[i], ci, beta, resid, p, maxlags, shrink, Jt, V, W, cv, wk, aug, fcap)
            hac_state[i] = st
            if st == 0:
                for a in range(3):
                    for b in range(3):
                        cov[i, a, b] = cv[a, b]
        rss_lin[i] = _solve_at(Si, yi, 0.0, EX_one[i], G)[2]
        rss_pap[i] = r if fixed else _solve_at(Si, yi, one[i], EX_one[i], G)[2]
        rss_free[i] = _solve_at(Si, yi, free_c[i], EX_free[i], G)[2] if fixed else r
        tau[i] = _trend(step[i], Si, bmin, bmax)
    return theta, cov, rss, tss, rss_lin, rss_pap, rss_free, tau, hac_state


@_jit
def solve_rows(S, y, c, EX_c):
    """``batch._at_c`` for every row at its rate: (R, 3) array of P0, beta, rss; ``EX_c = expm1(c S)``."""
    R, n = S.shape
    out = np.empty((R, 3))
    G = np.empty(n)
    for i in range(R):
        P0, beta, rss = _solve_at(S[i], y[i], c[i], EX_c[i], G)
        out[i, 0] = P0
        out[i, 1] = beta
        out[i, 2] = rss
    return out


def point_fit(S, y, step, c, fixed, free_c, maxlags, do_hac, shrink, one):
    """:func:`fit_at` with its exponentials computed by numpy; ``one`` (R,) the paper's rate of each row."""
    with np.errstate(over="ignore", invalid="ignore"):
        EX_c = np.expm1(c[:, None] * S)
        EX_one = EX_c if fixed and c is one else np.expm1(one[:, None] * S)
        EX_free = np.expm1(free_c[:, None] * S) if fixed else EX_c
    return fit_at(S, y, step, c, fixed, free_c, maxlags, do_hac, shrink, one, EX_c, EX_one, EX_free)


def warm_up() -> float:
    """Compile (or load from the cache) every kernel on a tiny input; returns the seconds it took."""
    global COMPILE_SECONDS
    if COMPILE_SECONDS == COMPILE_SECONDS:  # already done in this process
        return COMPILE_SECONDS
    t0 = time.perf_counter()
    if not load():
        return 0.0
    S = np.linspace(1.0, 0.1, 12)[None, :].copy()
    y = (0.9 - 0.3 * np.exp(S)).copy()
    step = np.arange(12.0)[None, :].copy()
    c = search(S, y)[0]
    cc = np.where(np.isfinite(c), c, 0.0)
    solve_rows(S, y, cc, np.expm1(cc[:, None] * S))
    one = np.ones(1)
    point_fit(S, y, step, cc, False, cc, 2, True, SHRINK_SINGULAR, one)
    point_fit(S, y, step, one, True, cc, 2, True, SHRINK_SINGULAR, one)
    COMPILE_SECONDS = time.perf_counter() - t0
    return COMPILE_SECONDS
