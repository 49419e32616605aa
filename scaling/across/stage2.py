"""Stage 2 across model sizes: regress a per-model quantity on log10(params).

The model for the stage-1 estimates ``y_i`` of the K models of a family is

    y_i = h^-1(x_i' gamma) + u_i + e_i,      x_i = (1, L_i - Lbar[, (L_i - Lbar)^2]),  L = log10(params)

with ``e`` the stage-1 estimation error (covariance ``V`` from stage 1, correlated
across models through the shared ``c``), ``u_i`` the between-model deviation from
the curve and ``h`` the link (identity, or logit so that ceilings stay in [0, 1]).
Besides the linear and quadratic means there is a **saturating** form with an asymptote,

    h(mu(L)) = A + g exp(-r (L - Lbar)),      r > 0,

an error power law in the parameter count: the gap to the asymptote ``A`` (on the link
scale; ``g`` the gap at the centre size, negative when the values rise) shrinks by the
factor ``exp(-r)`` per decade (``1 - P = E + G N^-alpha`` with ``alpha = r / ln 10``
for the identity link).  Given ``r`` the form is linear in ``(A, g)``, so it is fitted
by variable projection: GLS at each ``r`` of a grid, the best ``r`` refined by a scalar
search (and, for the logit link, a Levenberg-Marquardt polish on the natural scale).
A fit whose best ``r`` sits at :data:`_RATE_MIN` (no asymptote in sight: a straight line)
or :data:`_RATE_MAX` (a step between two sizes), or whose asymptote lies farther than
:data:`_ASYMPTOTE_MAX` data ranges from the data, has the status ``NO_FINITE_FIT``.
Three estimators (``method``):

* ``"wls"`` (default): generalised least squares with ``Var(y) = phi V`` and the scale
  ``phi`` estimated (statsmodels ``GLS``; with a fixed ``c`` the stage-1 covariance is
  diagonal and this is exactly ``WLS`` with weights ``1 / v_i``);
* ``"random"``: meta-regression, ``Var(y) = V + tau^2 I``, ``tau^2`` by Paule-Mandel
  (generalised Q equal to its degrees of freedom), with the Knapp-Hartung scale
  (truncated at 1) and t intervals;
* ``"ols"``: plain least squares, ignoring the stage-1 variances.

For the logit link the fit is nonlinear generalised least squares on the natural
scale (Gauss-Newton; each step is a statsmodels ``GLS`` of the working response).
Every stage-1 ceiling must lie inside (0, 1): one above 1 (which the law produces when
it over-extrapolates a saturated task) cannot lie on a logistic curve, and the fit would
bend into a step; the fit then has the status ``OUTSIDE_LINK`` instead.

**The shared c.**  Stage-1 errors of all models share the error of ``c``.  Stage 1
hands over the covariance of the estimates *given* ``c`` (``V``, the Schur
complement) and each model's sensitivity ``d_i`` to the error of ``c`` (variance
``var_c``).  The regression is weighted by ``V``; the curve's interval adds the
``c`` part ``var_c (a_x' d)^2`` (``a_x`` the influence of the estimates on the
prediction at ``x``).

**A new model.**  statsmodels' ``get_prediction`` gives a new observation weight 1
unless told otherwise, which is meaningless with inverse-variance weights.  Here the
target is stated: a new model's ceiling as a user would measure it, pooling ``n``
runs fitted at the family's ``c``.  Its deviation from the fitted curve has variance

    se_own(x)^2 + var_new + var_c (d_new(x) - a_x' d)^2

with ``var_new`` = ``phi v_run / n`` (wls), ``tau^2 + v_run / n`` (random) or
``sigma^2`` (ols), ``v_run`` the geometric mean over the fitted models of
``v_i n_runs_i`` (the stage-1 variance of one run), and ``d_new(x)`` the sensitivities
``d_i`` extrapolated along the same form (the ``c`` error largely cancels: the new
model and the curve are measured at the same ``c``).  The prediction interval uses
``t`` with ``K - p`` degrees of freedom; with the logit link each side adds the
curve's (asymmetric) half-width and the rest in quadrature, and the interval is cut
to [0, 1].
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from statsmodels.regression.linear_model import GLS

from scaling.protocol import ResultMixin

Method = Literal["wls", "random", "ols"]
Link = Literal["identity", "logit"]
Form = Literal["linear", "quadratic", "saturating"]
METHODS = ("wls", "random", "ols")
LINKS = ("identity", "logit")
FORMS = ("linear", "quadratic", "saturating")
#: coefficients of each mean form.
TERMS = {
    "linear": ("at_centre", "slope"),
    "quadratic": ("at_centre", "slope", "curvature"),
    "saturating": ("asymptote", "gap_at_centre", "rate"),
}
#: slowest decay per decade (natural log) of the saturating form's gap (slower: a straight line, no asymptote in sight).
_RATE_MIN = 1e-2
#: fastest decay per decade (faster: a step between two sizes).
_RATE_MAX = 30.0
#: farthest asymptote from the data, in ranges of the data on the link scale (farther: no asymptote in sight).
_ASYMPTOTE_MAX = 100.0

#: |logit| beyond which a logit fit is taken to diverge (ceilings at the metric's bound).
_ETA_MAX = 25.0


class Stage2Status(str, Enum):
    """Whether a stage-2 regression has an estimate."""

    OK = "ok"
    """Fitted, with residual degrees of freedom for intervals."""
    TOO_FEW_SIZES = "too few sizes"
    """Fewer distinct sizes than coefficients + 1: no interval is possible (no estimate)."""
    UNDEFINED = "undefined"
    """The quantity is not defined for some model (a and b at c = 0) or has no variance."""
    NO_FINITE_FIT = "no finite fit"
    """The logit fit runs off to infinity (the ceilings sit against the metric's bound)."""
    OUTSIDE_LINK = "outside the link's range"
    """The logit link was asked for, but some stage-1 value is not inside (0, 1)."""
    TWO_SIZES = "two sizes"
    """Two sizes, a linear form, asked for with ``two_sizes=True``: the line through the two
    estimates.  Its intervals contain only their own stage-1 errors (and the shared ``c``'s),
    no scatter between sizes, which two points cannot estimate (normal quantiles)."""

    @property
    def usable(self) -> bool:
        return self in (Stage2Status.OK, Stage2Status.TWO_SIZES)


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if allowed, else raise a ValueError naming the argument."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _inv_link(eta: np.ndarray, link: str) -> np.ndarray:
    return special.expit(eta) if link == "logit" else eta


def _dmu(eta: np.ndarray, link: str) -> np.ndarray:
    if link == "logit":
        mu = special.expit(eta)
        return mu * (1 - mu)
    return np.ones_like(eta)


@dataclass(frozen=True, eq=False)
class Stage2Fit(ResultMixin):
    """A regression of one per-model quantity on log10(params), and its predictions.

    Attributes
    ----------
    quantity : str
        ``ceiling``, ``a`` or ``b``.
    method, link, form : str
        Estimator, link and mean form (see the module docstring).
    level : float
        Level of the intervals (0.9 gives 90%).
    task : str
        The model family.
    models : tuple of str
    params : array (K,)
    y : array (K,)
        Stage-1 estimates.
    V : array (K, K)
        Their stage-1 covariance given ``c`` (the weights).
    dc : array (K,)
        Sensitivity of each estimate to the error of ``c`` (zeros when ``c`` is fixed).
    var_c : float
        Variance of the shared ``c`` (0 when fixed).
    n_runs : array (K,)
        Runs pooled per model.
    coef : array (p,)
        ``at_centre`` (the value at the centre size ``10**x_center``), ``slope`` per decade of
        params[, ``curvature``]; on the logit scale for the logit link.
    cov : array (p, p)
        Covariance of ``coef``, scale and the shared ``c``'s part included.
    cov_own : array (p, p)
        The same without the ``c`` part.
    influence : array (p, K)
        ``d coef / d y`` at the fit (the GLS hat map, linearised for the logit link).
    dnew_coef : array (p,)
        Least-squares fit of ``dc`` on the design (extrapolates ``d`` to new sizes).
    scale : float
        ``phi`` (wls, ols) or the Knapp-Hartung factor (random).
    tau2 : float
        Between-model variance (random effects; 0 otherwise).
    df_resid : int
        K - p: degrees of freedom of the t quantiles.
    x_center : float
        Mean log10(params) of the fitted models.
    v_run : float
        Stage-1 variance of one run's worth of data (geometric mean of ``v_i n_runs_i``).
    status : Stage2Status
    message : str
    results : statsmodels results or None
        The (last linearised) GLS fit.
    replicates : array (B, p) or None
        Two-stage bootstrap replicates of ``coef``.
    c_shift : array (B,) or None
        ``c`` of each bootstrap replicate minus the estimate.
    """

    quantity: str
    method: str
    link: str
    form: str
    level: float
    task: str
    models: tuple[str, ...]
    params: np.ndarray
    y: np.ndarray
    V: np.ndarray
    dc: np.ndarray
    var_c: float
    n_runs: np.ndarray
    coef: np.ndarray
    cov: np.ndarray
    cov_own: np.ndarray
    influence: np.ndarray
    dnew_coef: np.ndarray
    scale: float
    tau2: float
    df_resid: int
    x_center: float
    v_run: float
    status: Stage2Status
    message: str
    results: object = None
    replicates: np.ndarray | None = None
    c_shift: np.ndarray | None = None

    # ----- design ------------------------------------------------------------------
    @property
    def p(self) -> int:
        return len(TERMS[self.form])

    @property
    def x(self) -> np.ndarray:
        """log10(params) of the fitted models."""
        return np.log10(self.params)

    @property
    def terms(self) -> list[str]:
        return list(TERMS[self.form])

    def _d(self, params) -> np.ndarray:
        return np.log10(np.asarray(params, dtype=float)) - self.x_center

    def design(self, params) -> np.ndarray:
        """``d eta / d coef`` at the given parameter counts: the regressors ``(1, L - Lbar[, (L - Lbar)^2])``
        of a polynomial form, the Jacobian at :attr:`coef` of the saturating form."""
        return mean_jac(self.coef, self._d(params), self.form)

    def eta(self, params) -> np.ndarray:
        """The mean on the link scale at the given parameter counts."""
        return mean_eta(self.coef, self._d(params), self.form)

    def _dnew(self, params) -> np.ndarray:
        """The models' sensitivities to ``c`` extrapolated to these sizes (polynomial in L)."""
        return _poly(self._d(params), len(self.dnew_coef) - 1) @ self.dnew_coef

    @property
    def has_estimate(self) -> bool:
        return self.status.usable

    @property
    def two_sizes(self) -> bool:
        """A line through two sizes: intervals from the stage-1 errors alone (see :attr:`Stage2Status.TWO_SIZES`)."""
        return self.status is Stage2Status.TWO_SIZES

    @property
    def t_crit(self) -> float:
        """Quantile of the intervals: t with ``K - p`` df, or normal for a line through two sizes."""
        return _quantile(0.5 + self.level / 2, self.df_resid, self.two_sizes)

    @property
    def fitted(self) -> np.ndarray:
        """Fitted values at the models' sizes."""
        return _inv_link(self.eta(self.params), self.link)

    @property
    def resid(self) -> np.ndarray:
        return self.y - self.fitted

    def var_new(self, n_runs: float | None = None) -> float:
        """Variance of a new model's measured quantity around the curve (natural scale).

        Parameters
        ----------
        n_runs : float, optional
            Runs the new model will be fitted from; default the median of the fitted models.
        """
        n = float(np.median(self.n_runs)) if n_runs is None else float(n_runs)
        if n <= 0:
            raise ValueError(f"n_runs must be positive, got {n}")
        if self.two_sizes:
            return self.v_run / n
        if self.method == "wls":
            return self.scale * self.v_run / n
        if self.method == "random":
            return self.tau2 + self.v_run / n
        return self.scale

    def between_var(self) -> np.ndarray:
        """Variance of each model's deviation from the curve beyond its stage-1 error (natural scale)."""
        v = np.diag(self.V)
        if self.two_sizes:
            return np.zeros_like(v)
        if self.method == "wls":
            return max(self.scale - 1.0, 0.0) * v
        if self.method == "random":
            return np.full_like(v, self.tau2)
        return np.clip(self.scale - v, 0.0, None)

    # ----- predictions -------------------------------------------------------------
    def predict(
        self,
        params,
        *,
        n_runs: float | None = None,
        interval: Literal["analytic", "bootstrap"] = "analytic",
    ) -> pd.DataFrame:
        """Predicted quantity at the given sizes, the curve's band and a new model's band.

        Parameters
        ----------
        params : array_like
            Parameter counts (> 0).
        n_runs : float, optional
            Runs a new model would be fitted from (see :meth:`var_new`).
        interval : {"analytic", "bootstrap"}
            ``analytic``: t intervals with delta-method standard errors.  ``bootstrap``: the
            same t intervals with the standard errors of the two-stage bootstrap curves
            (needs :attr:`replicates`; on the link scale).  Percentiles of a bootstrap over
            a handful of models ignore that the scatter between them is estimated on
            ``K - p`` degrees of freedom, and came out too narrow; the t quantile keeps it.

        Returns
        -------
        DataFrame
            ``params, log10_params, decades_beyond, pred, se_mean, mean_lo, mean_hi, se_new, lo, hi``:
            ``mean_*`` bound the curve (the expected value at that size), ``lo, hi`` a new
            model's measured value (the prediction interval: on each side the curve's
            half-width and ``t sqrt(var_new)`` added in quadrature, which is
            ``pred +- t sqrt(se_mean^2 + var_new)`` for the identity link; cut to [0, 1] for
            the logit link).  ``se_new = sqrt(se_mean^2 + var_new)`` (delta method).  ``decades_beyond`` is how far
            the size lies beyond the fitted range (negative: below the smallest size).
        """
        N = np.atleast_1d(np.asarray(params, dtype=float))
        if not (np.isfinite(N).all() and (N > 0).all()):
            raise ValueError(f"params must be positive finite numbers, got {N.tolist()}")
        L = np.log10(N)
        out = pd.DataFrame({"params": N, "log10_params": L, "decades_beyond": _beyond(L, self.x)})
        cols = ["pred", "se_mean", "mean_lo", "mean_hi", "se_new", "lo", "hi"]
        if not self.has_estimate:
            return out.assign(**{c: np.nan for c in cols})
        if interval not in ("analytic", "bootstrap"):
            raise ValueError(f"interval must be 'analytic' or 'bootstrap', got {interval!r}")
        if interval == "bootstrap" and self.replicates is None:
            raise ValueError("interval='bootstrap' needs a fit with bootstrap replicates (n_boot > 0)")
        b = self._bands(N, n_runs, bootstrap=interval == "bootstrap")
        lo, hi = b["lo"], b["hi"]
        if self.link == "logit":
            lo, hi = np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0)
        return out.assign(pred=b["pred"], se_mean=b["se_mean"], mean_lo=b["mean_lo"], mean_hi=b["mean_hi"], se_new=b["se_new"], lo=lo, hi=hi)

    def _bands(self, N: np.ndarray, n_runs: float | None, bootstrap: bool = False) -> dict:
        """Curve band and (uncut) prediction band at sizes N, analytic or from the bootstrap replicates."""
        X = self.design(N)
        eta = self.eta(N)
        mu, mp = _inv_link(eta, self.link), _dmu(eta, self.link)
        t = self.t_crit
        if bootstrap:
            with np.errstate(all="ignore"):
                eta_b = mean_eta(self.replicates, self._d(N), self.form)  # (B, n), c refitted in every replicate
            keep = np.isfinite(eta_b).all(axis=1)
            se_eta = np.std(eta_b[keep], axis=0, ddof=1)
            # a new model measured at the family's c: take out each replicate's shift of c
            shift = self._dnew(N)[None, :] * self.c_shift[:, None] / np.where(mp > 0, mp, np.inf)[None, :]
            se_own = np.std((eta_b - shift)[keep], axis=0, ddof=1)
            extra = np.full_like(eta, self.var_new(n_runs))
        else:
            se_own = np.sqrt(np.clip(np.einsum("ni,ij,nj->n", X, self.cov_own, X), 0.0, None))
            ad = X @ (self.influence @ self.dc)  # change of eta per unit error of c, through the fitted models
            se_eta = np.sqrt(se_own**2 + self.var_c * ad**2)
            c_res = self._dnew(N) - mp * ad  # the new model's c error minus the curve's
            extra = self.var_new(n_runs) + self.var_c * c_res**2
        own_lo, own_hi = _inv_link(eta - t * se_own, self.link), _inv_link(eta + t * se_own, self.link)
        return {
            "pred": mu,
            "se_mean": mp * se_eta,
            "mean_lo": _inv_link(eta - t * se_eta, self.link),
            "mean_hi": _inv_link(eta + t * se_eta, self.link),
            "se_new": np.sqrt((mp * se_own) ** 2 + extra),
            "lo": mu - np.sqrt((mu - own_lo) ** 2 + t * t * extra),
            "hi": mu + np.sqrt((own_hi - mu) ** 2 + t * t * extra),
        }

    def prob_at_least(self, params, target: float, *, n_runs: float | None = None) -> np.ndarray:
        """Probability that a new model of each size measures ``>= target``.

        The prediction distribution of :meth:`predict` (t with ``K - p`` df, scaled on each
        side by that side of the prediction interval).
        """
        N = np.atleast_1d(np.asarray(params, dtype=float))
        if not self.has_estimate:
            return np.full(N.shape, np.nan)
        return self.prob_from_bands(self._bands(N, n_runs), target)

    def prob_from_bands(self, bands: dict, target: float) -> np.ndarray:
        """``P(value >= target)`` under the two-sided t of prediction bands (from :meth:`_bands`, or
        widened ones): t with ``K - p`` df (normal for a line through two sizes), scaled on each
        side by that side of the interval."""
        mu = bands["pred"]
        half = np.where(target >= mu, bands["hi"] - mu, mu - bands["lo"])  # the side facing the target
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (target - mu) / (half / self.t_crit)
        p = stats.norm.sf(z) if self.two_sizes else stats.t.sf(z, max(self.df_resid, 1))
        if self.link == "logit" and target >= 1:
            p = np.zeros_like(p)
        return p

    # ----- tables ------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Coefficients with standard errors and ``level`` t intervals, indexed by term."""
        se = np.sqrt(np.clip(np.diag(self.cov), 0, None)) if self.has_estimate else np.full(self.p, np.nan)
        t = self.t_crit
        frame = pd.DataFrame({"estimate": self.coef, "se": se, "lo": self.coef - t * se, "hi": self.coef + t * se}, index=self.terms)
        frame.index.name = "term"
        return frame

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Coefficient intervals at level ``1 - alpha`` (default the fit's ``level``): t with the residual df.

        Returns
        -------
        DataFrame
            Indexed by term, columns ``lower`` and ``upper``.
        """
        level = self.level if alpha is None else 1.0 - _alpha(alpha)
        se = np.sqrt(np.clip(np.diag(self.cov), 0, None)) if self.has_estimate else np.full(self.p, np.nan)
        t = _quantile(0.5 + level / 2, self.df_resid, self.two_sizes)
        frame = pd.DataFrame({"lower": self.coef - t * se, "upper": self.coef + t * se}, index=self.terms)
        frame.index.name = "term"
        return frame

    def info(self) -> dict:
        """Settings and fit statistics in one dict."""
        return dict(
            task=self.task, quantity=self.quantity, method=self.method, link=self.link, form=self.form,
            n_models=len(self.models), df_resid=self.df_resid, scale=self.scale, tau2=self.tau2,
            centre_params=10**self.x_center, status=self.status.value, message=self.message,
        )  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient with the fit's settings."""
        s = self.summary().reset_index()
        for k, v in self.info().items():
            s[k] = v
        return s


def _quantile(q: float, df: int, normal: bool) -> float:
    return float(stats.norm.ppf(q) if normal else stats.t.ppf(q, max(df, 1)))


def _beyond(L: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Decades beyond the fitted range: positive above the largest size, negative below the smallest."""
    return np.where(L > x.max(), L - x.max(), np.where(L < x.min(), L - x.min(), 0.0))


# --------------------------------------------------------------------------------
# mean forms
# --------------------------------------------------------------------------------
def _poly(d: np.ndarray, degree: int) -> np.ndarray:
    """Columns ``1, d, ..., d**degree``."""
    return np.column_stack([d**k for k in range(degree + 1)])


def mean_eta(theta: np.ndarray, d: np.ndarray, form: str) -> np.ndarray:
    """The mean on the link scale at centred log10 sizes ``d``.

    Parameters
    ----------
    theta : array (p,) or (B, p)
        Coefficients (one set, or one per row).
    d : array (n,)
        ``log10(params) - x_center``.
    form : {"linear", "quadratic", "saturating"}

    Returns
    -------
    array (n,) or (B, n)
    """
    theta = np.asarray(theta, dtype=float)
    if form == "saturating":
        top, gap, rate = theta[..., 0:1], theta[..., 1:2], theta[..., 2:3]
        return top + gap * np.exp(-rate * d)
    return theta @ _poly(d, len(TERMS[form]) - 1).T


def mean_jac(theta: np.ndarray, d: np.ndarray, form: str) -> np.ndarray:
    """``d eta / d theta`` at ``d``: array (n, p), or (B, n, p) for a stack of coefficients."""
    theta = np.asarray(theta, dtype=float)
    if form == "saturating":
        gap, rate = theta[..., 1:2], theta[..., 2:3]
        e = np.exp(-rate * d)
        return np.stack([np.ones_like(e), e, -gap * d * e], axis=-1)
    X = _poly(d, len(TERMS[form]) - 1)
    return np.broadcast_to(X, theta.shape[:-1] + X.shape)


# --------------------------------------------------------------------------------
# estimation
# --------------------------------------------------------------------------------
def _gls(y: np.ndarray, d: np.ndarray, Sigma: np.ndarray | None, link: str, form: str = "linear", quick: bool = False):
    """(coef, statsmodels results, converged) of (nonlinear) GLS of ``y`` on ``h^-1(eta(d; coef))``.

    A polynomial form with the identity link is linear GLS; the saturating form is fitted
    by variable projection (:func:`_saturating`).  With the logit link the weighted
    least-squares problem on the natural scale is solved by Levenberg-Marquardt (from
    several starts for a polynomial: the objective is flat where the curve saturates).
    The returned statsmodels results are those of the GLS of the working response on the
    Jacobian at the optimum (its covariance is the Gauss-Newton sandwich).  ``quick``: a
    polynomial on the logit scale starts from the least-squares line of the logits alone,
    and from the other starts only when that fails (for point predictions in backtests).
    """
    if link == "identity" and form != "saturating":
        X = _poly(d, len(TERMS[form]) - 1)
        if quick:
            Lq = np.linalg.cholesky(np.linalg.inv(Sigma)).T if Sigma is not None else np.eye(y.size)
            return np.linalg.lstsq(Lq @ X, Lq @ y, rcond=None)[0], None, True
        res = GLS(y, X, sigma=Sigma).fit()
        return np.asarray(res.params), res, True
    K = y.size
    Lt = np.linalg.cholesky(np.linalg.inv(Sigma)).T if Sigma is not None else np.eye(K)
    z = special.logit(np.clip(y, 0.02, 0.98)) if link == "logit" else y
    if form == "saturating":
        b, converged = _saturating(z, d, Lt)
        starts = [b] if converged and link == "logit" else []
    else:
        b, converged = None, True
        starts = _starts(d, z, form)
    if link == "logit" and starts:

        def fun(th: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return Lt @ (y - special.expit(mean_eta(th, d, form)))

        def jac(th: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                mu = special.expit(mean_eta(th, d, form))
                return -Lt @ ((mu * (1 - mu))[:, None] * mean_jac(th, d, form))

        best_cost = np.inf
        for i, s0 in enumerate(starts):
            if quick and i > 0 and b is not None and np.max(np.abs(mean_eta(b, d, form))) <= _ETA_MAX:
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = optimize.least_squares(fun, s0, jac=jac, method="lm" if K >= s0.size else "trf", xtol=1e-13, ftol=1e-15, gtol=1e-15, max_nfev=2000)
            if np.isfinite(sol.cost) and np.isfinite(sol.x).all() and sol.cost < best_cost * (1 - 1e-12):
                b, best_cost = sol.x, sol.cost
    if b is None or not np.isfinite(b).all():
        return np.full(len(TERMS[form]), np.nan), None, False
    b = np.asarray(b, dtype=float)
    eta = mean_eta(b, d, form)
    converged = converged and bool(np.isfinite(eta).all() and (link != "logit" or np.max(np.abs(eta)) <= _ETA_MAX))
    if form == "saturating":
        far = abs(b[0] - float(np.clip(b[0], z.min(), z.max()))) > _ASYMPTOTE_MAX * max(float(np.ptp(z)), 1e-12)
        converged = converged and _RATE_MIN < b[2] < _RATE_MAX and not far and (link != "logit" or abs(b[0]) <= _ETA_MAX)
    if quick:
        return b, None, converged
    mu = _inv_link(eta, link)
    J = _dmu(eta, link)[:, None] * mean_jac(b, d, form)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a saturated curve makes J nearly rank-deficient; reported as a status
        res = GLS(y - mu + J @ b, J, sigma=Sigma).fit()
    return b, res, converged


def _saturating(z: np.ndarray, d: np.ndarray, Lt: np.ndarray) -> tuple[np.ndarray, bool]:
    """Variable projection for ``z = A + g exp(-r d)``: ``(A, g, r)`` and whether ``r`` is inside its range.

    ``Lt`` whitens the residuals (``Lt' Lt = Sigma^-1``).  For each ``r`` the weighted
    least-squares ``(A, g)`` is closed-form; the residual sum of squares is minimised over
    ``log r`` on a grid, then by a bounded scalar search between the grid's neighbours.
    """
    zw = Lt @ z

    def solve(log_r: float) -> tuple[float, np.ndarray]:
        X = Lt @ np.column_stack([np.ones_like(d), np.exp(-math.exp(log_r) * d)])
        coef, *_ = np.linalg.lstsq(X, zw, rcond=None)
        r = zw - X @ coef
        return float(r @ r), coef

    grid = np.linspace(math.log(_RATE_MIN), math.log(_RATE_MAX), 49)
    # the whole grid at once: 2x2 normal equations of (A, g) for every rate
    one, E = Lt @ np.ones_like(d), Lt @ np.exp(-np.exp(grid)[None, :] * d[:, None])
    s11, s12, s22 = one @ one, one @ E, np.einsum("kg,kg->g", E, E)
    r1, r2 = one @ zw, zw @ E
    det = s11 * s22 - s12**2
    with np.errstate(divide="ignore", invalid="ignore"):
        top, gap = (s22 * r1 - s12 * r2) / det, (s11 * r2 - s12 * r1) / det
        rss = np.where(det > 1e-12 * s11 * s22, zw @ zw - top * r1 - gap * r2, np.inf)
    i = int(np.argmin(rss))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best = optimize.minimize_scalar(lambda g: solve(g)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    log_r = float(best.x) if best.fun <= rss[i] else float(grid[i])
    _, (top, gap) = solve(log_r)
    inside = grid[0] + 1e-6 < log_r < grid[-1] - 1e-6
    return np.array([top, gap, math.exp(log_r)]), inside


def _starts(d: np.ndarray, z: np.ndarray, form: str) -> list[np.ndarray]:
    """Starting points of a polynomial fit on the logit scale (``z`` the logit of the values)."""
    X = _poly(d, len(TERMS[form]) - 1)
    starts = [np.linalg.lstsq(X, z, rcond=None)[0]]
    for slope in (-4.0, -1.0, 0.0, 1.0, 4.0):
        s0 = np.zeros(X.shape[1])
        s0[0], s0[1] = float(np.median(z)), slope
        starts.append(s0)
    return starts


def _quad_form(r: np.ndarray, Sigma: np.ndarray) -> float:
    return float(r @ np.linalg.solve(Sigma, r))


def paule_mandel(y: np.ndarray, X: np.ndarray, V: np.ndarray, link: str = "identity") -> float:
    """Between-model variance ``tau^2`` of a meta-regression by Paule-Mandel.

    ``tau^2 >= 0`` such that the generalised Q statistic
    ``r' (V + tau^2 I)^-1 r`` of the GLS fit equals its degrees of freedom ``K - p``
    (0 when Q at ``tau^2 = 0`` is already below them).  With ``X`` a column of ones
    and a diagonal ``V`` this is the estimator of statsmodels'
    ``combine_effects(method_re="pm")``.  For the logit link ``X`` must be the
    polynomial design ``(1, d[, d^2])``.
    """
    K, p = X.shape
    if link == "logit" and p not in (2, 3):
        raise ValueError("the logit link needs the design (1, d) or (1, d, d^2)")
    form = "quadratic" if p == 3 else "linear"

    def resid(S: np.ndarray) -> np.ndarray:
        if link == "identity":
            return y - X @ GLS(y, X, sigma=S).fit().params
        b, _, _ = _gls(y, X[:, 1], S, link, form)
        return y - _inv_link(mean_eta(b, X[:, 1], form), link)

    return _tau2_pm(y, V, K - p, resid)


def _tau2_pm(y: np.ndarray, V: np.ndarray, df: int, resid) -> float:
    """Paule-Mandel: the ``tau^2`` whose generalised Q equals ``df`` (``resid(Sigma)``: the fit's residuals)."""
    K = y.size
    if df < 1:
        return math.nan

    def excess(t2: float) -> float:
        S = V + t2 * np.eye(K)
        return _quad_form(resid(S), S) - df

    if excess(0.0) <= 0:
        return 0.0
    hi = max(float(np.var(y)), float(np.mean(np.diag(V))), 1e-12)
    for _ in range(60):
        if excess(hi) < 0:
            break
        hi *= 4
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-14 * max(hi, 1e-12), rtol=1e-10))


def fit_stage2(
    params,
    y,
    V,
    n_runs,
    *,
    dc=None,
    var_c: float = 0.0,
    quantity: str = "ceiling",
    method: Method = "wls",
    link: Link = "identity",
    form: Form = "linear",
    level: float = 0.9,
    task: str = "",
    models: tuple[str, ...] | None = None,
    y_replicates: np.ndarray | None = None,
    c_shift: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    two_sizes: bool = False,
) -> Stage2Fit:
    """Regress per-model estimates on log10(params).

    Parameters
    ----------
    params : array_like (K,)
        Parameter counts of the models.
    y : array_like (K,)
        Stage-1 estimates (ceilings, a or b).
    V : array_like (K, K)
        Their stage-1 covariance given the shared ``c`` (the weights).
    n_runs : array_like (K,)
        Runs pooled into each model (sets the variance expected for a new model).
    dc : array_like (K,), optional
        Sensitivity of each estimate to the error of ``c`` (default zeros: ``c`` fixed).
    var_c : float
        Variance of ``c`` (0 when fixed).
    quantity : str
        Label of ``y``.
    method : {"wls", "random", "ols"}
        Estimator (see the module docstring).
    link : {"identity", "logit"}
        ``logit`` keeps the curve inside (0, 1) for a bounded metric; every value of ``y``
        must then lie inside (0, 1), or the fit has the status ``OUTSIDE_LINK``.
    form : {"linear", "quadratic", "saturating"}
        Mean linear or quadratic in log10(params), or the saturating form with an
        asymptote (module docstring), on the link scale.
    level : float
        Level of the intervals.
    task, models
        Labels recorded on the result.
    y_replicates : array (B, K), optional
        Stage-1 bootstrap replicates of ``y``; each replicate is refitted (after adding a
        draw of the between-model deviations) to give :attr:`Stage2Fit.replicates`.
    c_shift : array (B,), optional
        Each replicate's ``c`` minus the estimate (with ``y_replicates`` when ``c`` was estimated).
    rng : numpy Generator, optional
        For the between-model draws of the bootstrap.
    two_sizes : bool
        With exactly two models of distinct sizes and the linear form, fit the line
        through them (status ``TWO_SIZES``: intervals from their stage-1 errors alone,
        no scatter between sizes, normal quantiles; ``method`` does not apply) instead
        of refusing with ``TOO_FEW_SIZES``.

    Returns
    -------
    Stage2Fit
        With a status instead of an exception when there is no estimate.

    Examples
    --------
    >>> import numpy as np
    >>> f = fit_stage2([1e7, 1e8, 1e9, 1e10], [0.50, 0.56, 0.59, 0.66], np.diag([1e-4] * 4), [2, 2, 2, 2])
    >>> round(float(f.coef[1]), 4), f.status.value
    (0.051, 'ok')
    >>> f.predict([1e11])[["pred", "lo", "hi"]].round(3).to_numpy().tolist()
    [[0.705, 0.651, 0.759]]
    """
    check_choice("method", method, METHODS)
    check_choice("link", link, LINKS)
    check_choice("form", form, FORMS)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    N = np.asarray(params, dtype=float)
    y = np.asarray(y, dtype=float)
    V = np.atleast_2d(np.asarray(V, dtype=float))
    nr = np.asarray(n_runs, dtype=float)
    K = N.size
    d = np.zeros(K) if dc is None else np.asarray(dc, dtype=float)
    if y.shape != (K,) or V.shape != (K, K) or nr.shape != (K,) or d.shape != (K,):
        raise ValueError(
            f"params, y, V, n_runs, dc must have shapes (K,), (K,), (K, K), (K,), (K,); got {N.shape}, {y.shape}, {V.shape}, {nr.shape}, {d.shape}"
        )
    if not (np.isfinite(N).all() and (N > 0).all()):
        raise ValueError(f"params must be positive, got {N.tolist()}")
    if not (np.isfinite(var_c) and var_c >= 0):
        raise ValueError(f"var_c must be a non-negative number, got {var_c}")
    p = len(TERMS[form])
    x = np.log10(N)
    xc = float(x.mean()) if K else 0.0
    V = (V + V.T) / 2
    v = np.diag(V) if K else np.empty(0)
    base = dict(
        quantity=quantity, method=method, link=link, form=form, level=level, task=task,
        models=tuple(models) if models is not None else tuple(f"m{i}" for i in range(K)),
        params=N, y=y, V=V, dc=d, var_c=float(var_c), n_runs=nr, x_center=xc,
    )  # fmt: skip
    ok_v = K > 0 and bool((v > 0).all() and np.isfinite(v).all())
    v_run = float(np.exp(np.mean(np.log(v * nr)))) if ok_v else math.nan

    def no_estimate(status: Stage2Status, msg: str) -> Stage2Fit:
        nan_p, nan_pp = np.full(p, np.nan), np.full((p, p), np.nan)
        return Stage2Fit(**base, coef=nan_p, cov=nan_pp, cov_own=nan_pp, influence=np.full((p, K), np.nan), dnew_coef=nan_p,
                         scale=math.nan, tau2=math.nan, df_resid=K - p, v_run=v_run, status=status, message=msg)  # fmt: skip

    n_sizes = np.unique(x).size
    two = two_sizes and form == "linear" and n_sizes == 2 and K == 2
    if n_sizes < p + 1 and not two:
        return no_estimate(Stage2Status.TOO_FEW_SIZES, _too_few(n_sizes, form, p, two_sizes))
    if not (np.isfinite(y).all() and np.isfinite(V).all() and np.isfinite(d).all()):
        return no_estimate(Stage2Status.UNDEFINED, f"{quantity} is not finite for every model (a and b are undefined at c = 0)")
    if link == "logit" and not ((y > 0) & (y < 1)).all():
        names = base["models"]
        out = [f"{names[i]} {y[i]:.4f}" for i in np.flatnonzero(~((y > 0) & (y < 1)))]
        return no_estimate(
            Stage2Status.OUTSIDE_LINK,
            f"the logit link needs every stage-1 {quantity} inside (0, 1); {len(out)} of {K} are not "
            f"({', '.join(out)}): a logistic curve cannot pass through them; use link='identity'",
        )
    if (method != "ols" or two) and not ok_v:
        fix = "" if two else "; use method='ols'"
        return no_estimate(Stage2Status.UNDEFINED, f"stage-1 variance of {quantity} is not positive for every model{fix}")
    if two:
        return _two_sizes_fit(base, y, V, d, var_c, v_run, Yrep=y_replicates, c_shift=c_shift, rng=rng)
    dx = x - xc
    tau2 = 0.0
    if method == "ols":
        Sigma = None
    elif method == "wls":
        Sigma = V
    else:

        def resid(S: np.ndarray) -> np.ndarray:
            b, _, _ = _gls(y, dx, S, link, form)
            return y - _inv_link(mean_eta(b, dx, form), link)

        tau2 = _tau2_pm(y, V, K - p, resid)
        Sigma = V + tau2 * np.eye(K)
    coef, res, converged = _gls(y, dx, Sigma, link, form)
    if not converged:
        return no_estimate(Stage2Status.NO_FINITE_FIT, _diverged(quantity, y, link, form))
    df = K - p
    unscaled = np.asarray(res.normalized_cov_params)
    eta = mean_eta(coef, dx, form)
    if method == "random":
        scale = max(1.0, _quad_form(y - _inv_link(eta, link), Sigma) / df)  # Knapp-Hartung, truncated at 1
    else:
        scale = float(res.scale)
    W = np.linalg.inv(Sigma) if Sigma is not None else np.eye(K)
    J = _dmu(eta, link)[:, None] * mean_jac(coef, dx, form)
    H = unscaled @ J.T @ W  # d coef / d y
    cov_own = scale * unscaled
    hd = H @ d
    cov = cov_own + var_c * np.outer(hd, hd)
    dnew = np.linalg.lstsq(_poly(dx, 2 if form == "quadratic" else 1), d, rcond=None)[0]
    fit = Stage2Fit(**base, coef=coef, cov=cov, cov_own=cov_own, influence=H, dnew_coef=dnew, scale=scale, tau2=tau2,
                    df_resid=df, v_run=v_run, status=Stage2Status.OK, message=_message(method, scale, tau2, df),
                    results=res)  # fmt: skip
    if y_replicates is not None:
        Yrep = np.asarray(y_replicates, dtype=float)
        shift = np.zeros(Yrep.shape[0]) if c_shift is None else np.asarray(c_shift, dtype=float)
        fit = _with_replicates(fit, Sigma, Yrep, shift, rng or np.random.default_rng(0))
    return fit


def _diverged(quantity: str, y: np.ndarray, link: str, form: str) -> str:
    """Why a nonlinear fit has no finite estimate."""
    vals = np.round(y, 4).tolist()
    if form == "saturating":
        return (
            f"the saturating form has no finite fit: the {quantity} values {vals} follow a straight line or bend "
            f"away from saturation (gap decaying slower than {_RATE_MIN:g} or faster than {_RATE_MAX:g} per decade, "
            f"or the asymptote more than {_ASYMPTOTE_MAX:g} ranges of the data away); use form='linear'"
        )
    return f"the logit fit diverges (|logit| > {_ETA_MAX:g}): the {quantity} values {vals} sit against the metric's bound; use link='identity'"


def _too_few(n_sizes: int, form: str, p: int, two_sizes: bool) -> str:
    """Why there is no stage-2 fit with this few sizes, and what is needed."""
    if p == 3:
        return (
            f"{n_sizes} distinct size(s): a {form} curve (3 parameters) with an interval needs at least {p + 1} sizes; "
            + ("use the linear form (2 parameters)" if n_sizes >= (2 if two_sizes else 3) else "fit runs of more sizes")
        )
    need = "at least 2 sizes (a line through them, stage-1 errors only) or 3 (an interval with the scatter between sizes)" if two_sizes else f"at least {p + 1}"
    return f"{n_sizes} distinct size(s); a {form} curve with an interval needs {need}: fit runs of another size"


def _two_sizes_fit(base: dict, y, V, d, var_c: float, v_run: float, *, Yrep=None, c_shift=None, rng=None) -> Stage2Fit:
    """The line through two sizes, its covariance from the two estimates' stage-1 covariance alone."""
    X = np.column_stack([np.ones(2), np.log10(base["params"]) - base["x_center"]])
    link = base["link"]
    coef = np.linalg.solve(X, special.logit(y) if link == "logit" else y)
    J = _dmu(X @ coef, link)[:, None] * X
    H = np.linalg.inv(J)  # d coef / d y: exact interpolation
    cov_own = H @ V @ H.T
    hd = H @ d
    cov = cov_own + var_c * np.outer(hd, hd)
    dnew = np.linalg.solve(X, d)
    msg = (
        f"2 sizes: the line through the two {base['quantity']} estimates; the interval contains only their own "
        "stage-1 errors, no scatter between sizes (two points cannot estimate it; normal quantiles, "
        f"method {base['method']!r} does not apply); fit a third size for an interval with that scatter"
    )
    fit = Stage2Fit(**base, coef=coef, cov=cov, cov_own=cov_own, influence=H, dnew_coef=dnew, scale=1.0, tau2=0.0,
                    df_resid=0, v_run=v_run, status=Stage2Status.TWO_SIZES, message=msg)  # fmt: skip
    if Yrep is not None:
        shift = np.zeros(np.asarray(Yrep).shape[0]) if c_shift is None else np.asarray(c_shift, dtype=float)
        fit = _with_replicates(fit, V, np.asarray(Yrep, dtype=float), shift, rng or np.random.default_rng(0))
    return fit


def _message(method: str, scale: float, tau2: float, df: int) -> str:
    if method == "wls":
        return f"GLS with stage-1 covariance; residual scale phi = {scale:.3g} on {df} df (phi >> 1: models scatter beyond their stage-1 error)"
    if method == "random":
        return f"meta-regression; between-model sd tau = {math.sqrt(tau2):.3g} (Paule-Mandel), Knapp-Hartung scale {scale:.3g}, {df} df"
    return f"OLS; residual sd {math.sqrt(scale):.3g} on {df} df"


def _with_replicates(
    fit: Stage2Fit, Sigma: np.ndarray | None, Yrep: np.ndarray, c_shift: np.ndarray, rng: np.random.Generator
) -> Stage2Fit:
    """Refit stage 2 for each stage-1 replicate plus a draw of the between-model deviations."""
    from dataclasses import replace

    B, K = Yrep.shape
    u = rng.standard_normal((B, K)) * np.sqrt(fit.between_var())[None, :]
    Y = Yrep + u
    W = np.linalg.inv(Sigma) if Sigma is not None else np.eye(K)
    dx = fit._d(fit.params)
    if fit.link == "identity" and fit.form != "saturating":
        X = fit.design(fit.params)
        A = np.linalg.solve(X.T @ W @ X, X.T @ W)  # (p, K)
        reps = Y @ A.T
    else:
        reps = np.tile(fit.coef, (B, 1))
        with np.errstate(all="ignore"):
            for _ in range(30):  # Gauss-Newton from the point estimate, all replicates at once
                eta = mean_eta(reps, dx, fit.form)
                mu = _inv_link(eta, fit.link)
                J = _dmu(eta, fit.link)[:, :, None] * mean_jac(reps, dx, fit.form)  # (B, K, p)
                JW = np.einsum("bki,kl->bil", J, W)
                step = np.einsum("bij,bj->bi", np.linalg.pinv(np.einsum("bil,blj->bij", JW, J)), np.einsum("bil,bl->bi", JW, Y - mu))
                reps = reps + np.where(np.isfinite(step), step, np.nan)
            eta = mean_eta(reps, dx, fit.form)
            bad = ~np.isfinite(reps).all(axis=1) | ~np.isfinite(eta).all(axis=1)
            if fit.link == "logit":
                bad |= (np.abs(eta) > _ETA_MAX).any(axis=1)
            if fit.form == "saturating":
                bad |= (reps[:, 2] < _RATE_MIN) | (reps[:, 2] > _RATE_MAX)
        reps[bad] = np.nan
    return replace(fit, replicates=reps, c_shift=c_shift)


def _alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(alpha)
