"""Results of fitting the law to one run: :class:`RunFit` and the settings :class:`FitOptions`."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from scaling.core import intervals, law
from scaling.core.rules import R2_MIN
from scaling.fitting import forms
from scaling.fitting.status import FitStatus
from scaling.protocol import ResultMixin

#: the first columns of a fit table (:meth:`FitResults.to_frame`), in order.
CORE_COLUMNS = [
    "run", "model", "params", "algorithm", "n_points", "ceiling", "ceiling_lo", "ceiling_hi",
    "a", "b", "c", "r2", "rmse", "status",
]  # fmt: skip


#: the columns of a free-c fit's c = 1 companion (:mod:`scaling.fitting.forms`), after the AICc columns.
C1_COLUMNS = ["ceiling_c1", "ceiling_c1_lo", "ceiling_c1_hi", "delta_aicc_c1", "preferred_form"]

Mode = Literal["free", "paper", "shared"]
CIMethod = Literal["hac", "bootstrap"]


@dataclass(frozen=True, eq=False)
class RunFit(ResultMixin):
    """Result of fitting the law to one run.

    Attributes
    ----------
    run, model, params, algorithm, seed, task
        Identity of the run (``task`` is "" when the data have none).
    mode : {"free", "paper", "shared"}
        How c was obtained.
    ci_method : {"hac", "bootstrap"}
        How intervals were computed; ``alpha`` their level (0.05 gives 95%).
    n_points : int
        Validation points used.
    theta : array (3,)
        ``(P0, beta, c)``; NaN when there is no estimate.
    cov : array (3, 3)
        Covariance of ``theta`` (HAC sandwich, or bootstrap); zero row/column for a fixed c.
    replicates : array (B, 3) or None
        Bootstrap replicates of ``theta``.
    replicate_cov : array (B, 3, 3) or None
        HAC covariance of each replicate, for studentized (bootstrap-t) intervals;
        None gives percentile intervals.
    status, flags, message
        Most severe :class:`FitStatus`, all that apply, and a sentence with the numbers.
    r2, rmse, rss, aicc, bic
        Goodness of fit.  AICc counts the error variance as a parameter.
    alternatives : dict
        AICc of the linear (c = 0), paper (c = 1) and free-c forms on the same points.
    entropy, perf, step : arrays
        The points fitted (sorted by step).
    profile_c, profile_rss : arrays
        Profile RSS(c) over the search grid (empty when c was fixed).
    bounds : (float, float)
        The search bounds of c.
    paper : RunFit or None
        The same points fitted with c = 1 (mode "paper"), beside every free-c fit; None for fits
        with c fixed or shared.  Gives :attr:`ceiling_c1`, the ``ceiling_c1`` row of
        :meth:`summary` and the flag ``form disagreement`` (:mod:`scaling.fitting.forms`).
    perf_range : (float, float) or None
        The metric's range (:attr:`FitOptions.perf_range`): bands of the curve
        (:meth:`predict_interval`) stay inside it; None for an unbounded metric.
    """

    _plot_kind: ClassVar[str | None] = "fit"

    run: str
    model: str
    params: float
    algorithm: str
    seed: str
    mode: str
    ci_method: str
    alpha: float
    n_points: int
    theta: np.ndarray
    cov: np.ndarray
    status: FitStatus
    flags: tuple[FitStatus, ...]
    message: str
    r2: float = math.nan
    rmse: float = math.nan
    rss: float = math.nan
    aicc: float = math.nan
    bic: float = math.nan
    alternatives: dict = field(default_factory=dict)
    entropy: np.ndarray = field(default_factory=lambda: np.empty(0))
    perf: np.ndarray = field(default_factory=lambda: np.empty(0))
    step: np.ndarray = field(default_factory=lambda: np.empty(0))
    profile_c: np.ndarray = field(default_factory=lambda: np.empty(0))
    profile_rss: np.ndarray = field(default_factory=lambda: np.empty(0))
    bounds: tuple[float, float] = (math.nan, math.nan)
    replicates: np.ndarray | None = None
    fixed_c: bool = False
    hac_lags: int = 0
    replicate_cov: np.ndarray | None = None
    task: str = ""
    paper: RunFit | None = field(default=None, repr=False)
    perf_range: tuple[float, float] | None = None

    # ----- estimates -------------------------------------------------------------
    @property
    def ceiling(self) -> float:
        """``P0 = Perf(S=0) = a - b``."""
        return float(self.theta[0])

    @property
    def beta(self) -> float:
        """``beta = b * c``, the exchange rate at S = 0."""
        return float(self.theta[1])

    @property
    def c(self) -> float:
        """The rate c."""
        return float(self.theta[2])

    @property
    def a(self) -> float:
        """``a = P0 + beta / c`` (undefined at c = 0)."""
        return _a_b(self.theta)[0]

    @property
    def b(self) -> float:
        """``b = beta / c`` (undefined at c = 0)."""
        return _a_b(self.theta)[1]

    @property
    def ceiling_c1(self) -> float:
        """The ceiling of the c = 1 fit of the same points (NaN without one, or when this fit has no estimate)."""
        return self.paper.ceiling if self.paper is not None and self.has_estimate else math.nan

    @property
    def delta_aicc_c1(self) -> float:
        """``AICc(this fit) - AICc(c = 1)`` on the same points: negative favours this fit's c (NaN without a c = 1 fit)."""
        if self.paper is None or not self.has_estimate:
            return math.nan
        return self.aicc - self.alternatives.get("paper", math.nan)

    @property
    def preferred_form(self) -> str:
        """``"free"`` or ``"paper"`` (c = 1): which form's ceiling to believe
        (:func:`scaling.fitting.forms.preferred_form`, which also says why); ``""`` without both fits."""
        return forms.preferred_form(self)[0]

    @property
    def entropy_min(self) -> float:
        """The lowest observed entropy (NaN without points)."""
        return float(self.entropy.min()) if self.entropy.size else math.nan

    @property
    def entropy_max(self) -> float:
        """The highest observed entropy (NaN without points)."""
        return float(self.entropy.max()) if self.entropy.size else math.nan

    @property
    def reach(self) -> float:
        """``entropy_min / (entropy_max - entropy_min)``: how far the ceiling (S = 0) lies from the
        lowest observed entropy, in units of the observed entropy range.  Above
        :data:`scaling.core.rules.REACH_MAX` the fit is FAR_EXTRAPOLATION."""
        span = self.entropy_max - self.entropy_min
        return self.entropy_min / span if span > 0 else math.nan

    @property
    def perf_at_min_entropy(self) -> float:
        """The fitted performance at the lowest observed entropy: the last point of the curve the
        data support, to set beside the extrapolated ceiling (its band: :meth:`predict_interval`)."""
        return float(self.predict(self.entropy_min)) if self.entropy.size else math.nan

    @property
    def has_estimate(self) -> bool:
        return bool(np.isfinite(self.theta).all())

    def predict(self, entropy: np.ndarray | float) -> np.ndarray:
        """Performance predicted by the law at the given entropies."""
        P0, beta, c = self.theta
        return P0 - beta * law.g(np.asarray(entropy, dtype=float), c)

    def predict_interval(self, entropy: np.ndarray | float) -> pd.DataFrame:
        """Mean performance predicted at the given entropies, with its ``1 - alpha`` band.

        The band is for the curve (the mean), not for a new noisy observation.  With
        HAC intervals it is the delta method with the fit's covariance and critical
        value; with bootstrap replicates, their percentiles.  For a bounded metric
        (:attr:`perf_range`) it is conditioned on the range
        (:func:`scaling.core.intervals.bounded_interval`) and stays inside it (NaN where the
        metric-scale band puts less than ``alpha`` of its probability inside the range).

        Returns
        -------
        DataFrame
            Columns ``entropy, mean, lo, hi``.
        """
        S = np.atleast_1d(np.asarray(entropy, dtype=float))
        mean = self.predict(S)
        if not self.has_estimate:
            nan = np.full_like(S, np.nan)
            return pd.DataFrame({"entropy": S, "mean": nan, "lo": nan, "hi": nan})
        if self.replicates is not None:
            P0, beta, c = (self.replicates[:, i : i + 1] for i in range(3))
            curves = P0 - beta * law.g(S[None, :], c)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a point where every replicate overflowed: NaN
                lo, hi = np.nanquantile(curves, [self.alpha / 2, 1 - self.alpha / 2], axis=0)
        else:
            _, beta, c = self.theta
            df = max(self.n_points - (2 if self.fixed_c else 3), 1)
            t = intervals.fixed_b_critical(self.alpha, self.hac_lags, self.n_points, df)
            _, lo, hi = intervals.delta_interval(intervals.jacobian(S, beta, c), self.cov, mean, t)
        lo, hi, _ = intervals.bounded_interval(mean, lo, hi, self.perf_range, self.alpha)
        return pd.DataFrame({"entropy": S, "mean": mean, "lo": lo, "hi": hi})

    def exchange_rate(self, entropy: np.ndarray | float) -> np.ndarray:
        """``dPerf/d(-S) = b c exp(c S) = beta exp(c S)``: performance gained per nat spent."""
        _, beta, c = self.theta
        return beta * np.exp(c * np.asarray(entropy, dtype=float))

    @property
    def resid(self) -> np.ndarray:
        """Residuals ``perf - predict(entropy)`` at the fitted points."""
        return self.perf - self.predict(self.entropy)

    # ----- intervals -------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and intervals, one row per quantity.

        Rows: ceiling, a, b, c, beta, the paper's ``a_p, b_p`` when c = 1, and ``ceiling_c1``
        (the ceiling of the c = 1 fit of the same points) beside a free-c fit.
        Columns: estimate, se, lo, hi (a ``1 - alpha`` interval).
        """
        names = ["ceiling", "a", "b", "c", "beta"]
        est = [self.ceiling, self.a, self.b, self.c, self.beta]
        if self.fixed_c and self.c == 1.0:
            names += ["a_p", "b_p"]
            est += [self.b, self.a]
        if self.paper is not None:
            names.append("ceiling_c1")
            est.append(self.ceiling_c1)
        se, lo, hi = [], [], []
        for name in names:
            s, lower, upper = self._interval(name)
            se.append(s)
            lo.append(lower)
            hi.append(upper)
        out = pd.DataFrame({"estimate": est, "se": se, "lo": lo, "hi": hi}, index=pd.Index(names, name="quantity"))
        out.attrs.update(alpha=self.alpha, ci_method=self.ci_method, run=self.run)
        return out

    def _interval(self, name: str) -> tuple[float, float, float]:
        if not self.has_estimate:
            return math.nan, math.nan, math.nan
        if name == "ceiling_c1":  # the c = 1 fit's own interval, at this fit's level
            if self.paper is None:
                return math.nan, math.nan, math.nan
            return replace(self.paper, alpha=self.alpha)._interval("ceiling")
        est = float(quantity_value(name, self.theta[None, :])[0])
        grad = quantity_gradient(name, self.theta[None, :])[0]
        if self.replicates is None:
            df = max(self.n_points - (2 if self.fixed_c else 3), 1)
            t = intervals.fixed_b_critical(self.alpha, self.hac_lags, self.n_points, df)
            return tuple(float(v) for v in intervals.delta_interval(grad, self.cov, est, t, negative="nan"))
        se = float(intervals.delta_se(grad, self.cov, negative="nan"))
        vals = quantity_value(name, self.replicates)
        if self.replicate_cov is None:  # percentile interval
            vals = vals[np.isfinite(vals)]
            if vals.size < 10:
                return math.nan, math.nan, math.nan
            lo, hi = np.quantile(vals, [self.alpha / 2, 1 - self.alpha / 2])
            return float(np.std(vals, ddof=1)), float(lo), float(hi)
        # studentized (bootstrap-t) interval: each replicate divided by its own HAC standard error
        g_b = quantity_gradient(name, self.replicates)
        se_b = intervals.delta_se(g_b, self.replicate_cov, negative="nan")  # a tiny negative variance: NaN, dropped below
        with np.errstate(divide="ignore", invalid="ignore"):
            t_b = (vals - est) / se_b
        t_b = t_b[np.isfinite(t_b)]
        if t_b.size < 10 or not np.isfinite(se):
            return math.nan, math.nan, math.nan
        q_lo, q_hi = np.quantile(t_b, [self.alpha / 2, 1 - self.alpha / 2])
        boot_se = float(np.std(vals[np.isfinite(vals)], ddof=1))
        return boot_se, est - q_hi * se, est - q_lo * se

    def conf_int(self, quantity: str = "ceiling", *, alpha: float | None = None) -> tuple[float, float]:
        """The ``1 - alpha`` interval of one quantity (see :meth:`summary`).

        Parameters
        ----------
        quantity : {"ceiling", "a", "b", "c", "beta", "a_p", "b_p", "ceiling_c1"}
            The quantity (``ceiling_c1``: the ceiling of the c = 1 fit of the same points).
        alpha : float, optional
            1 - confidence level; default the fit's own ``alpha``.

        Returns
        -------
        (lower, upper)
            NaN when the run has no estimate.
        """
        fit = self if alpha is None or alpha == self.alpha else replace(self, alpha=_check_alpha(alpha))
        _, lo, hi = fit._interval(quantity)
        return lo, hi

    def to_frame(self) -> pd.DataFrame:
        """One row: identity, estimates with intervals, fit quality and status."""
        summ = self.summary()
        row = {
            "run": self.run,
            "model": self.model,
            "params": self.params,
            "algorithm": self.algorithm,
            "seed": self.seed,
            "task": self.task,
            "mode": self.mode,
            "ci": self.ci_method,
            "n_points": self.n_points,
        }
        for q in ("ceiling", "a", "b", "c", "beta"):
            row[q] = summ.loc[q, "estimate"]
            row[f"{q}_lo"] = summ.loc[q, "lo"]
            row[f"{q}_hi"] = summ.loc[q, "hi"]
        row["ceiling_se"] = summ.loc["ceiling", "se"]
        row.update(r2=self.r2, rmse=self.rmse, aicc=self.aicc, bic=self.bic)
        for k, v in self.alternatives.items():
            row[f"aicc_{k}"] = v
        if self.paper is not None:
            row.update(zip(C1_COLUMNS[:3], summ.loc["ceiling_c1", ["estimate", "lo", "hi"]]))
            row.update(delta_aicc_c1=self.delta_aicc_c1, preferred_form=self.preferred_form)
        row.update(status=self.status.value, flags=";".join(f.value for f in self.flags), message=self.message)
        row.update(entropy_min=self.entropy_min, entropy_max=self.entropy_max, reach=self.reach)
        band = self.predict_interval(self.entropy_min).iloc[0] if self.entropy.size else None
        for key, col in (("perf_at_min_entropy", "mean"), ("perf_at_min_entropy_lo", "lo"), ("perf_at_min_entropy_hi", "hi")):
            row[key] = float(band[col]) if band is not None else math.nan
        return pd.DataFrame([row])


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(alpha)


def _a_b(theta: np.ndarray) -> tuple[float, float]:
    P0, beta, c = (float(v) for v in theta[:3])
    if not np.isfinite(c) or c == 0:
        return math.nan, math.nan
    return P0 + beta / c, beta / c


def quantity_value(name: str, th: np.ndarray) -> np.ndarray:
    """A named quantity computed from rows of ``(P0, beta, c)``."""
    P0, beta, c = th[:, 0], th[:, 1], th[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(c != 0, beta / c, np.nan)
    return {
        "ceiling": P0,
        "beta": beta,
        "c": c,
        "b": b,
        "a": P0 + b,
        "a_p": b,
        "b_p": P0 + b,
    }[name]


def quantity_gradient(name: str, th: np.ndarray) -> np.ndarray:
    """Gradient of a named quantity with respect to ``(P0, beta, c)``, for rows ``th`` (B, 3)."""
    beta, c = th[:, 1], th[:, 2]
    out = np.zeros_like(th, dtype=float)
    if name in ("ceiling", "beta", "c"):
        out[:, ("ceiling", "beta", "c").index(name)] = 1.0
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, 1] = np.where(c != 0, 1.0 / c, np.nan)
        out[:, 2] = np.where(c != 0, -beta / c**2, np.nan)
    if name in ("a", "b_p"):
        out[:, 0] = 1.0
    return out



@dataclass(frozen=True)
class FitOptions:
    """Settings shared by every fit of a call.

    Attributes
    ----------
    ci : {"hac", "bootstrap"}
        Interval method; ``"hac"`` (default) is deterministic and fast.
    alpha : float
        1 - confidence level.
    n_boot : int
        Bootstrap replicates.
    block_length : int or None
        Moving-block length; default ``round(1.5 n^(1/3))``.
    maxlags : int or None
        HAC truncation lag; default Newey-West ``floor(4 (n/100)^(2/9))``.
    perf_range : (float, float) or None
        The metric's range for the ceiling check; None for an unbounded metric.
    r2_min : float
        Threshold below which a fit is POOR_FIT.
    seed : int
        Seed of the bootstrap's random generator.
    """

    ci: CIMethod = "hac"
    alpha: float = 0.05
    n_boot: int = 1000
    block_length: int | None = None
    maxlags: int | None = None
    perf_range: tuple[float, float] | None = (0.0, 1.0)
    r2_min: float = R2_MIN
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ci not in ("hac", "bootstrap"):
            raise ValueError(f"ci must be 'hac' or 'bootstrap', got {self.ci!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.n_boot < 50:
            raise ValueError(f"n_boot must be at least 50, got {self.n_boot}")
