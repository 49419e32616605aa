"""Uncertainty for the law's parameters: HAC sandwich and moving-block bootstrap.

Points along an RL run are a time series, so i.i.d. standard errors are too
narrow.  Two estimators are offered:

* ``"hac"``: the nonlinear least-squares sandwich ``(J'J)^-1 J' Omega J (J'J)^-1``
  with a Newey-West (Bartlett) ``Omega``, computed by statsmodels as the HAC
  covariance of the Gauss-Newton regression of the residuals on the Jacobian
  ``J = d fitted / d(P0, beta, c)``.  The column for c carries c's uncertainty into
  the ceiling's interval (delta method).  Fast, no randomness.
* ``"bootstrap"``: a residual moving-block bootstrap over steps; each replicate
  refits c (and P0, beta) by variable projection.  Percentile intervals.
"""

from __future__ import annotations

import numpy as np
import statsmodels.stats.sandwich_covariance as sw
from scipy import signal, stats

from . import law


def newey_west_lags(n: int) -> int:
    """Newey-West (1994) rule of thumb for the HAC truncation lag: ``floor(4 (n/100)^(2/9))``."""
    return max(1, int(np.floor(4.0 * (n / 100.0) ** (2.0 / 9.0))))


def fixed_b_critical(alpha: float, maxlags: int, n: int, df: int) -> float:
    """Two-sided critical value for a t-ratio whose variance is a Bartlett-kernel HAC estimate.

    The HAC variance is itself noisy; fixed-b asymptotics (Kiefer & Vogelsang 2005)
    account for it.  With ``b = (maxlags + 1) / n`` their 95% value is
    ``1.96 + 2.9694 b + 0.4160 b^2 - 0.5324 b^3``; for other levels the same relative
    inflation is applied to the Student t quantile with ``df`` degrees of freedom
    (checked by simulation: conservative at 90%, within 0.2 at 99%).
    """
    b = min((maxlags + 1) / n, 1.0)
    inflation = 1.0 + (2.9694 * b + 0.4160 * b**2 - 0.5324 * b**3) / 1.96
    return float(stats.t.ppf(1 - alpha / 2, max(df, 1)) * inflation)


def default_block_length(n: int) -> int:
    """Block length of the moving-block bootstrap: ``round(1.5 n^(1/3))``, at least 2."""
    return max(2, int(round(1.5 * n ** (1.0 / 3.0))))


def jacobian(S: np.ndarray, beta: float, c: float, fit_c: bool = True) -> np.ndarray:
    """Jacobian of ``P0 - beta * g_c(S)`` with respect to ``(P0, beta[, c])``."""
    cols = [np.ones_like(S), -law.g(S, c)]
    if fit_c:
        cols.append(-beta * law.dg_dc(S, c))
    return np.column_stack(cols)


def hac_cov(
    J: np.ndarray,
    resid: np.ndarray,
    maxlags: int,
    groups: np.ndarray | None = None,
    leverage: bool = True,
    prewhiten: bool = True,
) -> np.ndarray:
    """HAC sandwich covariance of nonlinear least-squares estimates.

    ``(J'J)^-1 S (J'J)^-1`` where ``S`` is the Newey-West (Bartlett) long-run
    covariance of the scores ``J_t e_t``, from statsmodels' sandwich estimators.

    Parameters
    ----------
    J : array, shape (n, p)
        Jacobian of the fitted values at the optimum.
    resid : array, shape (n,)
        Residuals at the optimum (time-ordered; stacked run by run with ``groups``).
    maxlags : int
        Truncation lag of the Bartlett kernel.
    groups : array of int, optional
        Run index of each row (rows of a run contiguous); the within-run
        autocovariances are summed and runs are treated as independent.
    leverage : bool
        Divide each residual by ``1 - h_t`` (``h`` the leverage of the point), as in
        the HC3 estimator.  The ceiling is an extrapolation to S = 0 that leans on the
        lowest-entropy points; without this the interval undercovers (see the README).

    Returns
    -------
    array, shape (p, p)
    """
    J = np.asarray(J, dtype=float)
    e = np.asarray(resid, dtype=float)
    bread = np.linalg.pinv(J.T @ J)
    if leverage:
        h = np.einsum("ij,jk,ik->i", J, bread, J)
        e = e / np.clip(1.0 - h, 0.05, None)
    scores = J * e[:, None]
    bounds = _group_bounds(np.asarray(groups)) if groups is not None else [(0, len(e))]
    A = _var1(scores, bounds) if prewhiten else np.zeros((J.shape[1],) * 2)
    white = np.concatenate([scores[a + 1 : b] - scores[a : b - 1] @ A.T for a, b in bounds]) if prewhiten else scores
    wbounds = [(a - i, b - i - 1) for i, (a, b) in enumerate(bounds)] if prewhiten else bounds
    if len(wbounds) == 1:
        meat = sw.S_hac_simple(white, nlags=maxlags)
    else:
        meat = sw.S_nw_panel(white, sw.weights_bartlett(maxlags), wbounds)
    recolour = np.linalg.inv(np.eye(A.shape[0]) - A)
    meat = recolour @ meat @ recolour.T
    if prewhiten:
        meat *= len(e) / white.shape[0]
    return bread @ meat @ bread


def _var1(scores: np.ndarray, bounds: list[tuple[int, int]]) -> np.ndarray:
    """Least-squares VAR(1) coefficient matrix of the scores, within runs (Andrews-Monahan prewhitening).

    Eigenvalues are shrunk to modulus 0.97 at most so that recolouring stays finite.
    """
    X = np.concatenate([scores[a : b - 1] for a, b in bounds])
    Y = np.concatenate([scores[a + 1 : b] for a, b in bounds])
    A = np.linalg.lstsq(X, Y, rcond=None)[0].T
    u, sv, vt = np.linalg.svd(A)
    return (u * np.minimum(sv, 0.97)) @ vt


def hac_cov_batch(S: np.ndarray, theta: np.ndarray, resid: np.ndarray, maxlags: int, fit_c: bool = True) -> np.ndarray:
    """:func:`hac_cov` (leverage-adjusted, prewhitened) for many replicates of one run at once.

    Parameters
    ----------
    S : array, shape (n,)
        Entropies.
    theta : array, shape (B, 3)
        ``(P0, beta, c)`` of each replicate.
    resid : array, shape (B, n)
        Residuals of each replicate at its own optimum.
    maxlags : int
        Bartlett truncation lag.
    fit_c : bool
        Whether c was estimated (3 parameters) or fixed (2).

    Returns
    -------
    array, shape (B, 3, 3)
        Covariances; the c row and column are zero when ``fit_c`` is false.
    """
    B, n = resid.shape
    cols = [np.ones((B, n)), -law.g(S[None, :], theta[:, 2:3])]
    if fit_c:
        cols.append(-theta[:, 1:2] * law.dg_dc(S[None, :], theta[:, 2:3]))
    J = np.stack(cols, axis=2)  # (B, n, p)
    p = J.shape[2]
    bread = np.linalg.pinv(np.einsum("bni,bnj->bij", J, J))
    h = np.einsum("bni,bij,bnj->bn", J, bread, J)
    v = J * (resid / np.clip(1.0 - h, 0.05, None))[:, :, None]
    X, Y = v[:, :-1], v[:, 1:]
    A = np.swapaxes(_lstsq_batch(X, Y), 1, 2)  # VAR(1) of the scores, as in hac_cov
    u, sv, vt = np.linalg.svd(A)
    A = np.einsum("bij,bj,bjk->bik", u, np.minimum(sv, 0.97), vt)
    w = Y - np.einsum("bni,bji->bnj", X, A)
    meat = np.einsum("bni,bnj->bij", w, w)
    for j in range(1, maxlags + 1):
        gam = np.einsum("bni,bnj->bij", w[:, j:], w[:, :-j])
        meat += (1.0 - j / (maxlags + 1.0)) * (gam + np.swapaxes(gam, 1, 2))
    R = np.linalg.inv(np.eye(p)[None] - A)
    meat = np.einsum("bij,bjk,blk->bil", R, meat, R) * n / (n - 1)
    cov_p = np.einsum("bij,bjk,bkl->bil", bread, meat, bread)
    out = np.zeros((B, 3, 3))
    out[:, :p, :p] = cov_p
    return out


def _lstsq_batch(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Least-squares solutions of ``X_b @ W_b = Y_b`` for a stack of small systems."""
    return np.einsum("bij,bjk->bik", np.linalg.pinv(np.einsum("bni,bnj->bij", X, X)), np.einsum("bni,bnj->bij", X, Y))


def _group_bounds(groups: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) row ranges of contiguous groups."""
    change = np.flatnonzero(np.diff(groups)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [groups.size]])
    return list(zip(starts.tolist(), stops.tolist()))


def block_indices(
    n: int, block_length: int, n_boot: int, rng: np.random.Generator, size: int | None = None
) -> np.ndarray:
    """Index arrays of a moving-block bootstrap of a series of length ``n``.

    Blocks of ``block_length`` consecutive positions start uniformly at random in
    ``[0, n - block_length]`` and are concatenated, then cut to ``size`` (default ``n``).

    Returns
    -------
    array of int, shape ``(n_boot, size)``
    """
    size = n if size is None else size
    block_length = int(min(max(block_length, 1), n))
    n_blocks = -(-size // block_length)
    starts = rng.integers(0, n - block_length + 1, size=(n_boot, n_blocks))
    idx = starts[:, :, None] + np.arange(block_length)[None, None, :]
    return idx.reshape(n_boot, -1)[:, :size]


def ar1_coefficient(e: np.ndarray) -> float:
    """Least-squares AR(1) coefficient of a series, clipped to [-0.95, 0.95]."""
    den = float(e[:-1] @ e[:-1])
    phi = float(e[1:] @ e[:-1]) / den if den > 0 else 0.0
    return float(np.clip(phi, -0.95, 0.95))


def residual_block_bootstrap(
    fitted: np.ndarray,
    resid: np.ndarray,
    J: np.ndarray,
    block_length: int,
    n_boot: int,
    rng: np.random.Generator,
    prewhiten: bool = True,
) -> np.ndarray:
    """Bootstrap responses ``fitted + resampled residual blocks``, shape ``(n_boot, n)``.

    Residuals are first divided by ``sqrt(1 - h_t)`` (``h`` the leverage from the
    Jacobian ``J``) and centred: fitted residuals are smaller than the errors, most
    of all at the low-entropy points the ceiling leans on (Davison & Hinkley 1997, 6.2).

    With ``prewhiten`` (default), an AR(1) filter is fitted to the residuals, moving
    blocks of its innovations are resampled, and the AR(1) recursion "post-blackens"
    them again (Davison & Hinkley 1997, 8.2.3).  Short blocks of raw residuals lose
    most of the autocorrelation of an RL run and give intervals that are too narrow.
    """
    n = resid.size
    h = np.einsum("ij,jk,ik->i", J, np.linalg.pinv(J.T @ J), J)
    r = resid / np.sqrt(np.clip(1.0 - h, 0.05, None))
    r = r - r.mean()
    if not prewhiten:
        return fitted[None, :] + r[block_indices(n, block_length, n_boot, rng)]
    phi = ar1_coefficient(r)
    u = r[1:] - phi * r[:-1]
    u = u - u.mean()
    burn = int(min(200, np.ceil(np.log(1e-3) / np.log(max(abs(phi), 1e-3)))))
    draws = u[block_indices(u.size, block_length, n_boot, rng, size=n + burn)]
    e = signal.lfilter([1.0], [1.0, -phi], draws, axis=1)[:, burn:]
    return fitted[None, :] + e
