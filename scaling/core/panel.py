"""The panel fit: one rate ``c`` shared by several groups of points, each group with its own curve.

Group ``k`` follows ``Perf = P0_k - beta_k * g_c(S)`` (``g_c`` as in :mod:`scaling.core.law`), all
groups at one ``c``.  A group may pool several runs (stage 1 across model sizes pools a model's
runs; the algorithm comparison pools an algorithm's runs); the runs are the time series, so the
covariance treats points within a run as autocorrelated and runs as independent.

:func:`fit_panel` estimates ``c`` by variable projection over the summed profile ``RSS(c)``
(:func:`scaling.core.law.varpro_shared`), or takes it fixed, then solves each group's
``(P0_k, beta_k)`` at that ``c``.  It does so in internal units (:class:`scaling.core.units.Units`,
one set for all points: the groups share c and one sum of squares) and transforms every number
back, so the fit is equivariant to the units of performance and entropy.  Its covariance is the nonlinear least-squares sandwich with the
Jacobian of all ``2G + 1`` parameters ``(P0_0, beta_0, ..., P0_{G-1}, beta_{G-1}, c)``: one column
for ``c`` and two per group.  Everything here is numpy on arrays: no pandas, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from scaling.core import intervals, law
from scaling.core.units import Units

CovType = Literal["hac", "ar1", "none"]
COV_TYPES = ("hac", "ar1", "none")


@dataclass(frozen=True, eq=False)
class PanelFit:
    """Result of :func:`fit_panel`.

    Attributes
    ----------
    c : float
        The shared rate.
    P0, beta : array (G,)
        Ceiling and slope of each group at ``c``.
    cov : array (2G + 1, 2G + 1)
        Covariance of :attr:`theta`; the row and column of ``c`` are zero when it is fixed.
        NaN with ``cov_type="none"``.
    cov_type : {"hac", "ar1", "none"}
        How :attr:`cov` was computed.
    hac_lags : int
        Bartlett truncation lag of the HAC covariance (0 for the other types).
    fixed_c : bool
        Whether ``c`` was given instead of estimated.
    at_bound : bool
        The estimated ``c`` sits at a search bound.
    bounds : (float, float)
        Search bounds of ``c``.
    grid, profile : array
        The coarse grid over ``c`` and the summed ``RSS(c)`` on it (empty for a fixed ``c``).
    groups : array of int (n,)
        Group of each point, as given.
    blocks : array of int (n,)
        Time series (run) of each point, as given (the groups when none were given).
    jacobian : array (n, 2G + 1)
        ``d fitted / d theta`` at the optimum, rows in input order.  The ``c`` column holds
        ``-beta_k dg_c(S)/dc`` even for a fixed ``c`` (where it is not used).
    fitted, resid : array (n,)
        Fitted values ``P0_k - beta_k g_c(S)`` and residuals ``perf - fitted``, in input order.
    """

    c: float
    P0: np.ndarray
    beta: np.ndarray
    cov: np.ndarray
    cov_type: str
    hac_lags: int
    fixed_c: bool
    at_bound: bool
    bounds: tuple[float, float]
    grid: np.ndarray
    profile: np.ndarray
    groups: np.ndarray
    blocks: np.ndarray
    jacobian: np.ndarray
    fitted: np.ndarray
    resid: np.ndarray

    @property
    def n_groups(self) -> int:
        """Number of groups ``G``."""
        return int(self.P0.size)

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.resid.size)

    @property
    def n_params(self) -> int:
        """Parameters estimated: ``2G``, plus one for a free ``c``."""
        return 2 * self.n_groups + (0 if self.fixed_c else 1)

    @property
    def theta(self) -> np.ndarray:
        """``(P0_0, beta_0, ..., P0_{G-1}, beta_{G-1}, c)``, shape (2G + 1,)."""
        th = np.empty(2 * self.n_groups + 1)
        th[0:-1:2], th[1:-1:2], th[-1] = self.P0, self.beta, self.c
        return th

    @property
    def rss(self) -> float:
        """Residual sum of squares over all points."""
        return float(self.resid @ self.resid)

    @property
    def rss_by_group(self) -> np.ndarray:
        """Residual sum of squares of each group, shape (G,)."""
        out = np.empty(self.n_groups)
        for k in range(self.n_groups):
            e = self.resid[self.groups == k]
            out[k] = float(e @ e)
        return out

    def group_cov(self, k: int) -> np.ndarray:
        """Covariance (3, 3) of group ``k``'s ``(P0_k, beta_k, c)``."""
        idx = [2 * k, 2 * k + 1, 2 * self.n_groups]
        return self.cov[np.ix_(idx, idx)]


def panel_jacobian(
    entropy: np.ndarray, groups: np.ndarray, beta: np.ndarray, c: float, n_groups: int | None = None
) -> np.ndarray:
    """Jacobian of the panel's fitted values with respect to ``(P0_0, beta_0, ..., c)``.

    Parameters
    ----------
    entropy : array (n,)
        Entropies.
    groups : array of int (n,)
        Group of each point, ``0 .. G-1``.
    beta : array (G,)
        Slope of each group.
    c : float
        The shared rate.
    n_groups : int, optional
        ``G`` (default ``beta.size``).

    Returns
    -------
    array (n, 2G + 1)
        Row ``i`` of group ``k``: ``1`` in column ``2k``, ``-g_c(S_i)`` in column ``2k + 1`` and
        ``-beta_k dg_c(S_i)/dc`` in the last column; zero elsewhere.
    """
    S = np.asarray(entropy, dtype=float)
    codes = np.asarray(groups)
    beta = np.asarray(beta, dtype=float)
    G = beta.size if n_groups is None else int(n_groups)
    J = np.zeros((S.size, 2 * G + 1))
    rows = np.arange(S.size)
    J[rows, 2 * codes] = 1.0
    J[rows, 2 * codes + 1] = -law.g(S, c)
    J[:, -1] = -beta[codes] * law.dg_dc(S, c)
    return J


def fit_panel(
    entropy: np.ndarray,
    perf: np.ndarray,
    groups: np.ndarray,
    *,
    blocks: np.ndarray | None = None,
    step: np.ndarray | None = None,
    c: float | None = None,
    bounds: tuple[float, float] | None = None,
    cov_type: CovType = "hac",
    maxlags: int | None = None,
) -> PanelFit:
    """Fit ``Perf = P0_k - beta_k g_c(S)`` with one ``c`` shared by all groups ``k``.

    Parameters
    ----------
    entropy, perf : array (n,)
        Points of all groups.
    groups : array of int (n,)
        Group of each point, coded ``0 .. G-1``; every code must occur.  Groups need not be
        contiguous.
    blocks : array of int (n,), optional
        The time series (run) each point belongs to: the covariance sums autocovariances
        within a block and treats blocks as independent.  Default: each group is one series.
        A group may pool several blocks.
    step : array (n,), optional
        Time order within a block.  Default: the input order (within each block).  The
        point estimates do not depend on it; the covariance does.
    c : float, optional
        Fix the shared rate (1 is the paper's form) instead of estimating it.
    bounds : (float, float), optional
        Search bounds of ``c``; default :func:`scaling.core.law.c_bounds` of all entropies.
    cov_type : {"hac", "ar1", "none"}
        ``"hac"``: the Newey-West sandwich of :func:`scaling.core.intervals.hac_cov`
        (leverage-adjusted residuals, VAR(1) prewhitening within blocks).  ``"ar1"``: the
        sandwich under AR(1) errors within each block (:func:`scaling.core.intervals.ar1_sandwich`,
        its bias corrections for the 3 parameters of a curve, 2 for a fixed ``c``).
        ``"none"``: no covariance (NaN), e.g. when a bootstrap gives the intervals.
    maxlags : int, optional
        HAC truncation lag; default Newey-West for the median block length.

    Returns
    -------
    PanelFit

    Raises
    ------
    ValueError
        If the arrays differ in length, hold non-finite values, a group code is missing or
        out of range, ``cov_type`` is unknown, or the entropies have no spread (``c`` free).

    Notes
    -----
    With ``theta = (P0_0, beta_0, ..., c)`` and ``J = d fitted / d theta`` the covariance is
    ``(J'J)^-1 J' Omega J (J'J)^-1`` with ``Omega`` the block-diagonal long-run covariance of
    the residuals (HAC or AR(1)).  The ``c`` column makes each group's interval include the
    uncertainty of the shared rate, and correlates the groups' estimates through it.  For a
    fixed ``c`` the sandwich uses the ``2G`` columns of ``(P0_k, beta_k)`` only.

    Examples
    --------
    >>> import numpy as np
    >>> from scaling.core import law
    >>> S = np.tile(np.linspace(0.8, 0.1, 30), 2)
    >>> k = np.repeat([0, 1], 30)
    >>> y = np.where(k == 0, 0.9, 0.8) - 0.5 * law.g(S, 1.5)
    >>> fit = fit_panel(S, y, k)
    >>> round(fit.c, 6), np.round(fit.P0, 6).tolist()
    (1.5, [0.9, 0.8])
    """
    S = np.asarray(entropy, dtype=float)
    y = np.asarray(perf, dtype=float)
    codes = np.asarray(groups)
    n = S.size
    if S.ndim != 1 or y.shape != S.shape or codes.shape != S.shape:
        raise ValueError(
            f"entropy, perf and groups must be 1-D of one length, got shapes {S.shape}, {y.shape}, {codes.shape}"
        )
    if n == 0:
        raise ValueError("no points to fit")
    if not (np.isfinite(S).all() and np.isfinite(y).all()):
        raise ValueError("entropy and perf must be finite; drop or fill the missing points first")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"groups must be integer codes 0 .. G-1, got dtype {codes.dtype}")
    if codes.min() < 0:
        raise ValueError(f"groups must be integer codes 0 .. G-1, got {codes.min()}")
    G = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=G)
    if (counts == 0).any():
        raise ValueError(f"group code(s) {np.flatnonzero(counts == 0).tolist()} have no point; codes must be 0 .. G-1")
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    bl = codes if blocks is None else np.asarray(blocks)
    if bl.shape != S.shape:
        raise ValueError(f"blocks must have one entry per point ({n}), got shape {bl.shape}")
    if step is not None and np.shape(step) != S.shape:
        raise ValueError(f"step must have one entry per point ({n}), got shape {np.shape(step)}")

    fixed = c is not None
    if bounds is None:
        bounds = law.c_bounds(S) if not fixed or np.ptp(S) > 0 else (float(c), float(c))
    units = Units.of_points(S, y)
    user_y, user_c = y, c
    S, y = units.internal(S, y)
    lo, hi = float(units.rate_in(bounds[0])), float(units.rate_in(bounds[1]))
    if fixed:
        c = float(units.rate_in(c))
    S_list = [S[codes == k] for k in range(G)]
    y_list = [y[codes == k] for k in range(G)]
    if not fixed:
        sol = law.varpro_shared(S_list, y_list, (lo, hi))
        c_hat, at_bound = float(sol.c), bool(sol.at_bound)
        P0 = np.array([float(v) for v in sol.P0])
        beta = np.array([float(v) for v in sol.beta])
        grid, prof = sol.grid, sol.profile
    else:
        c_hat, at_bound = float(c), False
        lin = [law.solve_linear(Sk, yk, c_hat) for Sk, yk in zip(S_list, y_list)]
        P0 = np.array([float(v[0]) for v in lin])
        beta = np.array([float(v[1]) for v in lin])
        grid, prof = np.empty(0), np.empty(0)

    J = panel_jacobian(S, codes, beta, c_hat, G)
    fitted = P0[codes] - beta[codes] * law.g(S, c_hat)
    resid = y - fitted

    # time order: blocks in order of first appearance, each in step (else input) order
    _, first, inverse = np.unique(bl, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))[inverse.ravel()]
    order = np.lexsort((np.arange(n) if step is None else np.asarray(step), rank))
    cols = list(range(2 * G)) + ([] if fixed else [2 * G])
    cov = np.zeros((2 * G + 1, 2 * G + 1))
    lags = 0
    if cov_type == "hac":
        sizes = np.bincount(rank)
        lags = maxlags or intervals.newey_west_lags(int(np.median(sizes)))
        cov[np.ix_(cols, cols)] = intervals.hac_cov(J[order][:, cols], resid[order], lags, groups=rank[order])
    elif cov_type == "ar1":
        k = 2 if fixed else 3
        cov[np.ix_(cols, cols)] = intervals.ar1_sandwich(J[order][:, cols], resid[order], rank[order], k=k)
    else:
        cov[:] = np.nan
    theta = units.theta(np.append(np.column_stack([P0, beta]).ravel(), c_hat))
    fitted = units.perf(fitted)
    return PanelFit(
        c=float(user_c) if fixed else float(theta[-1]),
        P0=theta[0:-1:2],
        beta=theta[1:-1:2],
        cov=units.cov(cov),
        cov_type=cov_type,
        hac_lags=int(lags),
        fixed_c=fixed,
        at_bound=at_bound,
        bounds=(float(bounds[0]), float(bounds[1])),
        grid=units.rate(grid),
        profile=units.squares(prof),
        groups=codes,
        blocks=bl,
        jacobian=units.jacobian(J),
        fitted=fitted,
        resid=user_y - fitted,
    )
