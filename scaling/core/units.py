"""Internal units: every fit is computed on standardized data and its numbers transformed back.

A statistic must not change with the units of its input (DESIGN.md section 10): performance
times 100 (or shifted), or entropy in bits instead of nats, must move every estimate and
interval end exactly as the units say.  Least squares is equivariant by itself, but the HAC
covariance is not: its prewhitening caps the singular values of a VAR(1) matrix of the
scores (:func:`scaling.core.intervals._var1`), and those depend on the parameters' units.  So
each fit (a run, or a panel of runs sharing c) is done in internal units

    perf = centre + scale * perf_internal,      S = entropy * S_internal,

with ``centre`` the mean of the performance, ``scale`` twice its range (the internal
performance spans 1/2, a typical rise of an accuracy) and ``entropy`` the largest ``|S|`` (entropy
is scaled, never shifted: S = 0 is where the ceiling is).  Data in any units
give the same internal arrays up to rounding, so every number computed from them is
equivariant; :class:`Units` maps them back.  In the law ``Perf = P0 - beta g_c(S)``,
``g_c(S) = entropy * g_{c'}(S')`` with ``c' = c * entropy`` and ``S' = S / entropy``, so

    P0 = centre + scale * P0',   beta = scale * beta' / entropy,   c = c' / entropy,

a linear map of the parameters (plus the shift of P0): covariances map as ``D C D'`` with
``D = diag(scale, scale / entropy, 1 / entropy)``, sums of squares by ``scale**2``.

Which internal units: any equivariant choice gives exactly equivariant statistics, but not the
same ones, since the cap of the singular values acts in internal units.  On the coverage
simulation (analyses/coverage.py: n = 100, AR(1) rho = 0.5, 300 runs) the 95% HAC intervals
covered the ceiling / c / exchange rate at S = 0.6 in 0.940 / 0.933 / 0.900 of runs with the
performance in units of its range, 0.923 / 0.917 / 0.870 in units of its standard deviation,
0.937 / 0.927 / 0.887 with entropy in units of its range, 0.953 / 0.940 / 0.910 with twice the
range (these units) and 0.953 / 0.947 / 0.920 with four times the range; the raw units of the
simulation had given 0.960 / 0.957 / 0.930.  Smaller internal performance units cover better at
n = 50 and worse (over-cover) at n = 200; twice the range sits between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Units"]


def _lead(a: np.ndarray, ndim: int) -> np.ndarray:
    """``a`` (one value per fit, shape U) with axes appended up to ``ndim`` axes, to broadcast."""
    return np.reshape(a, np.shape(a) + (1,) * (ndim - np.ndim(a)))


def _unit(x: np.ndarray) -> np.ndarray:
    """``x`` where it is a positive finite number, else 1 (no spread: nothing to standardize)."""
    return np.where(np.isfinite(x) & (x > 0), x, 1.0)


@dataclass(frozen=True)
class Units:
    """Internal units of one fit (scalars) or of a stack of fits (arrays of one shape ``U``).

    Attributes
    ----------
    centre, scale : array (U)
        Performance ``= centre + scale * internal``: the mean and twice the range of the performance.
    entropy : array (U)
        Entropy ``= entropy * internal``: the largest ``|S|``.

    Examples
    --------
    >>> S, y = np.array([2.0, 1.0, 0.5]), np.array([20.0, 40.0, 60.0])
    >>> u = Units.of_points(S, y)
    >>> u
    Units(centre=40.0, scale=80.0, entropy=2.0)
    >>> Si, yi = u.internal(S, y)
    >>> Si.tolist(), yi.tolist()
    ([1.0, 0.5, 0.25], [-0.25, 0.0, 0.25])
    >>> u.theta(np.array([0.5, 0.1, 2.0])).tolist()  # P0, beta, c
    [80.0, 4.0, 1.0]
    """

    centre: np.ndarray
    scale: np.ndarray
    entropy: np.ndarray

    @classmethod
    def of(cls, S: np.ndarray, y: np.ndarray) -> Units:
        """The internal units of rows of entropies ``S`` and performances ``y`` (..., n), one per row.

        A row without spread in ``y`` (or with ``S = 0`` throughout) gets the unit 1 there:
        such rows are not fitted (:func:`scaling.fitting.status.precheck_rows`).
        """
        S = np.atleast_2d(np.asarray(S, dtype=float))
        y = np.atleast_2d(np.asarray(y, dtype=float))
        with np.errstate(invalid="ignore", over="ignore"):
            scale, entropy = 2.0 * np.ptp(y, axis=-1), np.abs(S).max(axis=-1)
        return cls(centre=y.mean(axis=-1), scale=_unit(scale), entropy=_unit(entropy))

    @classmethod
    def of_points(cls, S: np.ndarray, y: np.ndarray) -> Units:
        """One set of units (scalars) for all points of ``S`` and ``y`` (a panel fit)."""
        u = cls.of(np.ravel(S), np.ravel(y))
        return cls(*(float(v[0]) for v in (u.centre, u.scale, u.entropy)))

    def internal(self, S: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``S`` and ``y`` (U + extra axes) in internal units."""
        nd_s, nd_y = np.ndim(S), np.ndim(y)
        return S / _lead(self.entropy, nd_s), (y - _lead(self.centre, nd_y)) / _lead(self.scale, nd_y)

    def rate_in(self, c: float | np.ndarray) -> np.ndarray:
        """A rate c (per unit of the user's entropy) in internal units: ``c * entropy``."""
        return np.asarray(c, dtype=float) * self.entropy

    def rate(self, c: np.ndarray) -> np.ndarray:
        """Internal rates (U + extra axes) in the user's units: ``c / entropy``."""
        return c / _lead(self.entropy, np.ndim(c))

    def squares(self, x: np.ndarray) -> np.ndarray:
        """Internal sums of squares (U + extra axes) in the user's units: ``x * scale**2``."""
        return x * _lead(self.scale, np.ndim(x)) ** 2

    def perf(self, x: np.ndarray) -> np.ndarray:
        """Internal performances (fitted values) in the user's units."""
        nd = np.ndim(x)
        return _lead(self.centre, nd) + _lead(self.scale, nd) * x

    def _factors(self, p: int, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """The diagonal ``D`` and the shift of the map ``theta = shift + D theta'`` for vectors of
        ``p = 2G + 1`` parameters ``(P0_0, beta_0, ..., P0_{G-1}, beta_{G-1}, c)``, shaped to
        broadcast against arrays of ``ndim`` axes (U + extra axes + (p,))."""
        s, m, k = (_lead(v, ndim - 1)[..., None] for v in (self.scale, self.centre, self.entropy))
        pos = np.arange(p)
        is_p0 = (pos % 2 == 0) & (pos < p - 1)
        D = np.where(pos == p - 1, 1.0 / k, np.where(is_p0, s, s / k))
        return D, np.where(is_p0, m, 0.0)

    def theta(self, theta: np.ndarray) -> np.ndarray:
        """Internal parameter vectors (U + extra axes + (p,), ``(P0, beta, ..., c)``) in the user's units."""
        D, shift = self._factors(theta.shape[-1], theta.ndim)
        return shift + D * theta

    def cov(self, cov: np.ndarray) -> np.ndarray:
        """Internal covariances (U + extra axes + (p, p)) of :meth:`theta`'s vectors in the user's units: ``D C D'``."""
        D, _ = self._factors(cov.shape[-1], cov.ndim - 1)
        return D[..., :, None] * cov * D[..., None, :]

    def jacobian(self, J: np.ndarray) -> np.ndarray:
        """An internal Jacobian ``d fitted' / d theta'`` (..., p) as ``d fitted / d theta`` in the user's units."""
        D, _ = self._factors(J.shape[-1], J.ndim)
        return _lead(self.scale, J.ndim - 1)[..., None] * J / D
