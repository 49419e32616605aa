"""Stage 1: fit the entropy-performance law to one run, or to runs sharing a rate c.

The public entry points are :func:`fit_run` (arrays of one run),
:func:`fit_shared` (several runs, one c) and :func:`fit_table` (a tidy table of
validation points, see :mod:`scaling.data.load`).  They never raise on a bad run: the
result carries a :class:`FitStatus` saying why it should not be trusted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from scaling.core import intervals, law
from scaling.data.runtable import RunPoints, make_ident, prepare_run, runs_from_frame

#: the first columns of a fit table (:meth:`FitResults.to_frame`), in order.
CORE_COLUMNS = [
    "run", "model", "params", "algorithm", "n_points", "ceiling", "ceiling_lo", "ceiling_hi",
    "a", "b", "c", "r2", "rmse", "status",
]  # fmt: skip


Mode = Literal["free", "paper", "shared"]
CIMethod = Literal["hac", "bootstrap"]

#: runs with R^2 below this get the status POOR_FIT.
R2_MIN = 0.6
#: fewer usable points than this give no estimate.
MIN_POINTS = 4


class FitStatus(str, Enum):
    """Why a fit can or cannot be trusted; listed from most to least severe."""

    INVALID_DATA = "invalid data"
    """The run's rows failed validation (see the message): no estimate."""
    TOO_FEW_POINTS = "too few points"
    """Fewer than 4 usable points, or no spread in entropy: no estimate."""
    NOT_DECREASING = "entropy not decreasing"
    """Entropy does not fall over the run, so the law's premise fails; estimate shown but not usable."""
    POOR_FIT = "poor fit"
    """R^2 below the threshold (default 0.6): the law does not describe this run."""
    AT_BOUND = "at bound"
    """c sits at its search bound |c| * range(S) = 20: the curve is a step, not an exponential."""
    WEAK_C = "weakly identified c"
    """The interval for c reaches a search bound: the rate is not pinned down; the ceiling
    interval accounts for it but may be wide."""
    CEILING_OUT_OF_RANGE = "ceiling outside range"
    """The fit is good but the extrapolated ceiling lies outside the metric's range
    (e.g. above 1 for accuracy): the law over-extrapolates at zero entropy."""
    OK = "ok"
    """Converged inside the bounds with a good fit."""

    @property
    def usable(self) -> bool:
        """Whether the estimates describe the run (possibly with a caveat)."""
        return self in (FitStatus.OK, FitStatus.CEILING_OUT_OF_RANGE, FitStatus.WEAK_C)

    @property
    def explanation(self) -> str:
        """One sentence for people reading a report."""
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    FitStatus.INVALID_DATA: "The run's rows failed validation, so it was not fitted.",
    FitStatus.TOO_FEW_POINTS: "Too few usable validation points (or no spread in entropy) to fit three parameters.",
    FitStatus.NOT_DECREASING: "Entropy does not fall over the run, so the law's premise does not hold.",
    FitStatus.POOR_FIT: "The law explains too little of the variation in performance (low R²).",
    FitStatus.AT_BOUND: "The rate c hit its search bound: performance jumps rather than following an exponential.",
    FitStatus.WEAK_C: "The data barely constrain the rate c; the ceiling's interval is wide for that reason.",
    FitStatus.CEILING_OUT_OF_RANGE: "Good fit, but the predicted ceiling lies outside the metric's range.",
    FitStatus.OK: "Good fit with all parameters inside their bounds.",
}
_SEVERITY = list(FitStatus)


def worst(flags: Sequence[FitStatus]) -> FitStatus:
    """The most severe status among ``flags`` (``OK`` when empty)."""
    return min(flags, key=_SEVERITY.index) if flags else FitStatus.OK


@dataclass(frozen=True, eq=False)
class RunFit:
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
    """

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
        value; with bootstrap replicates, their percentiles.

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
            lo, hi = np.nanquantile(curves, [self.alpha / 2, 1 - self.alpha / 2], axis=0)
        else:
            _, beta, c = self.theta
            J = np.column_stack([np.ones_like(S), -law.g(S, c), -beta * law.dg_dc(S, c)])
            se = np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", J, self.cov, J), 0.0))
            df = max(self.n_points - (2 if self.fixed_c else 3), 1)
            t = intervals.fixed_b_critical(self.alpha, self.hac_lags, self.n_points, df)
            lo, hi = mean - t * se, mean + t * se
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

        Rows: ceiling, a, b, c, beta, and the paper's ``a_p, b_p`` when c = 1.
        Columns: estimate, se, lo, hi (a ``1 - alpha`` interval).
        """
        names = ["ceiling", "a", "b", "c", "beta"]
        est = [self.ceiling, self.a, self.b, self.c, self.beta]
        if self.fixed_c and self.c == 1.0:
            names += ["a_p", "b_p"]
            est += [self.b, self.a]
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
        est = float(_quantity(name, self.theta[None, :])[0])
        grad = _gradient(name, self.theta[None, :])[0]
        var = float(grad @ self.cov @ grad)
        se = math.sqrt(var) if var >= 0 else math.nan
        if self.replicates is None:
            df = max(self.n_points - (2 if self.fixed_c else 3), 1)
            t = intervals.fixed_b_critical(self.alpha, self.hac_lags, self.n_points, df)
            return se, est - t * se, est + t * se
        vals = _quantity(name, self.replicates)
        if self.replicate_cov is None:  # percentile interval
            vals = vals[np.isfinite(vals)]
            if vals.size < 10:
                return math.nan, math.nan, math.nan
            lo, hi = np.quantile(vals, [self.alpha / 2, 1 - self.alpha / 2])
            return float(np.std(vals, ddof=1)), float(lo), float(hi)
        # studentized (bootstrap-t) interval: each replicate divided by its own HAC standard error
        g_b = _gradient(name, self.replicates)
        with np.errstate(invalid="ignore"):  # rounding can leave a tiny negative variance: NaN, dropped below
            se_b = np.sqrt(np.einsum("bi,bij,bj->b", g_b, self.replicate_cov, g_b))
        with np.errstate(divide="ignore", invalid="ignore"):
            t_b = (vals - est) / se_b
        t_b = t_b[np.isfinite(t_b)]
        if t_b.size < 10 or not np.isfinite(se):
            return math.nan, math.nan, math.nan
        q_lo, q_hi = np.quantile(t_b, [self.alpha / 2, 1 - self.alpha / 2])
        boot_se = float(np.std(vals[np.isfinite(vals)], ddof=1))
        return boot_se, est - q_hi * se, est - q_lo * se

    def conf_int(self, name: str = "ceiling") -> tuple[float, float]:
        """The ``1 - alpha`` interval of one quantity (see :meth:`summary`)."""
        _, lo, hi = self._interval(name)
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
        row.update(status=self.status.value, flags=";".join(f.value for f in self.flags), message=self.message)
        return pd.DataFrame([row])


def _a_b(theta: np.ndarray) -> tuple[float, float]:
    P0, beta, c = (float(v) for v in theta[:3])
    if not np.isfinite(c) or c == 0:
        return math.nan, math.nan
    return P0 + beta / c, beta / c


def _quantity(name: str, th: np.ndarray) -> np.ndarray:
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


def _gradient(name: str, th: np.ndarray) -> np.ndarray:
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


# --------------------------------------------------------------------------------
# fitting
# --------------------------------------------------------------------------------
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


def _no_estimate(r: RunPoints, mode: str, opts: FitOptions, status: FitStatus, message: str) -> RunFit:
    return RunFit(
        **r.ident,
        mode=mode,
        ci_method=opts.ci,
        alpha=opts.alpha,
        n_points=int(r.entropy.size),
        theta=np.full(3, np.nan),
        cov=np.full((3, 3), np.nan),
        status=status,
        flags=(status,),
        message=message,
        entropy=r.entropy,
        perf=r.perf,
        step=r.step,
    )


def _precheck(r: RunPoints) -> tuple[FitStatus, str] | None:
    n = r.entropy.size
    if n < MIN_POINTS:
        return FitStatus.TOO_FEW_POINTS, f"{n} usable points; at least {MIN_POINTS} are needed"
    size = max(float(np.abs(r.entropy).max()), float(np.abs(r.perf).max()))
    if not size < 1e100:
        return FitStatus.INVALID_DATA, f"values as large as {size:.3g} overflow double precision; rescale entropy or perf below 1e100"
    if np.ptp(r.entropy) <= 1e-12 * max(1.0, float(np.abs(r.entropy).max())):
        return FitStatus.TOO_FEW_POINTS, f"entropy is constant ({r.entropy[0]:.4g} nats) over the run: the law is not identified"
    return None


def run_points(points: pd.DataFrame) -> dict[str, RunPoints]:
    """The runs of a :attr:`scaling.data.load.Dataset.points` table as ``run -> RunPoints`` (sorted by step).

    The identity carries ``run, model, params, algorithm, seed, task``.  The split is
    :func:`scaling.data.runtable.runs_from_frame`'s (vectorised; each run's points are views into
    one table).
    """
    return {r.ident["run"]: r for r in runs_from_frame(points)}


def entropy_trend(step: np.ndarray, entropy: np.ndarray) -> float:
    """Kendall's tau between step and entropy (-1: always falling)."""
    if entropy.size < 3:
        return math.nan
    return float(stats.kendalltau(step, entropy).statistic)


def _goodness(y: np.ndarray, rss: float, k: int) -> dict:
    n = y.size
    tss = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - rss / tss if tss > 0 else math.nan
    return dict(r2=r2, rmse=math.sqrt(rss / n), aicc=aicc(rss, n, k), bic=_bic(rss, n, k))


def aicc(rss: float, n: int, k: int) -> float:
    """Corrected AIC of a Gaussian least-squares fit with ``k`` mean parameters.

    ``n log(RSS/n) + 2K + 2K(K+1)/(n-K-1)`` with ``K = k + 1`` (the error variance counts).
    """
    K = k + 1
    if n - K - 1 <= 0 or rss <= 0:
        return math.nan
    return n * math.log(rss / n) + 2 * K + 2 * K * (K + 1) / (n - K - 1)


def _bic(rss: float, n: int, k: int) -> float:
    if rss <= 0:
        return math.nan
    return n * math.log(rss / n) + (k + 1) * math.log(n)


def _alternatives(S: np.ndarray, y: np.ndarray, free_rss: float | None) -> dict:
    n = y.size
    out = {
        "linear": aicc(float(law.solve_linear(S, y, 0.0)[2]), n, 2),
        "paper": aicc(float(law.solve_linear(S, y, 1.0)[2]), n, 2),
    }
    if free_rss is None:
        free_rss = float(law.varpro(S, y).rss)
    out["free"] = aicc(free_rss, n, 3)
    return out


def _status(
    r: RunPoints, theta, c_interval, at_bound: bool, fixed_c: bool, r2: float, opts: FitOptions, bounds
) -> tuple[FitStatus, tuple[FitStatus, ...], str]:
    flags: list[FitStatus] = []
    notes: list[str] = []
    tau = entropy_trend(r.step, r.entropy)
    if not tau < -0.2:
        flags.append(FitStatus.NOT_DECREASING)
        notes.append(f"entropy does not fall over steps (Kendall tau {tau:+.2f})")
    if not r2 >= opts.r2_min:
        flags.append(FitStatus.POOR_FIT)
        notes.append(f"R2 = {r2:.2f} < {opts.r2_min}")
    if not fixed_c:
        lo, hi = bounds
        if at_bound:
            flags.append(FitStatus.AT_BOUND)
            notes.append(f"c = {theta[2]:.3g} at its bound [{lo:.3g}, {hi:.3g}]")
        elif not (c_interval[0] > lo and c_interval[1] < hi):
            flags.append(FitStatus.WEAK_C)
            notes.append(
                f"interval for c [{c_interval[0]:.3g}, {c_interval[1]:.3g}] reaches the search bounds [{lo:.3g}, {hi:.3g}]"
            )
    if opts.perf_range is not None:
        lo_m, hi_m = opts.perf_range
        if not lo_m <= theta[0] <= hi_m:
            flags.append(FitStatus.CEILING_OUT_OF_RANGE)
            notes.append(f"ceiling {theta[0]:.4g} outside the metric's range [{lo_m:g}, {hi_m:g}]")
    status = worst(flags)
    return status, tuple(flags), "; ".join(notes) if notes else "converged inside the bounds"


def fit_run(
    entropy: np.ndarray,
    perf: np.ndarray,
    step: np.ndarray | None = None,
    *,
    mode: Literal["free", "paper"] = "free",
    c: float | None = None,
    options: FitOptions | None = None,
    run: str = "run",
    model: str = "",
    params: float = math.nan,
    algorithm: str = "",
    seed: str = "",
) -> RunFit:
    """Fit ``Perf(S) = a - b exp(c S)`` to one run.

    Parameters
    ----------
    entropy, perf : array_like, shape (n,)
        Policy entropy (nats) and validation performance at the same points.
        Non-finite pairs are dropped.
    step : array_like, optional
        Training step of each point (orders the time series for HAC and the
        block bootstrap); default the given order.
    mode : {"free", "paper"}
        ``"free"`` fits c by variable projection; ``"paper"`` fixes c = 1 (Cui et al. 2025).
    c : float, optional
        Fix c at this value instead (overrides ``mode``; used by shared fits).
    options : FitOptions, optional
        Interval method, level, thresholds; see :class:`FitOptions`.
    run, model, params, algorithm, seed
        Identity recorded on the result.

    Returns
    -------
    RunFit
        Never raises on bad data: a run that cannot be fitted returns a result with
        NaN estimates and a status saying why.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.linspace(0.8, 0.1, 50)
    >>> fit = fit_run(S, 0.9 - 0.3 * np.exp(1.3 * S))
    >>> round(fit.ceiling, 6), round(fit.c, 6), fit.status.value
    (0.6, 1.3, 'ok')
    """
    opts = options or FitOptions()
    if mode not in ("free", "paper"):
        raise ValueError(f"mode must be 'free' or 'paper' for one run, got {mode!r}")
    r, _ = prepare_run(entropy, perf, step, make_ident(run, model, params, algorithm, seed))
    label = mode if c is None else "shared"
    if c is None and mode == "paper":
        c = 1.0
    bad = _precheck(r)
    if bad:
        return _no_estimate(r, label, opts, *bad)
    return _fit_prepared(r, label, c, opts)


def _quiet(func):
    """Run ``func`` with numpy's floating-point warnings off: overflow on extreme input ends in a status."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return func(*args, **kwargs)

    return wrapper


@_quiet
def _fit_prepared(r: RunPoints, label: str, c_fixed: float | None, opts: FitOptions, cov_override=None) -> RunFit:
    S, y = r.entropy, r.perf
    n = S.size
    bounds = law.c_bounds(S)
    fixed = c_fixed is not None
    if fixed:
        P0, beta, rss = (float(v) for v in law.solve_linear(S, y, c_fixed))
        c_hat, at_bound, grid, prof = float(c_fixed), False, np.empty(0), np.empty(0)
    else:
        sol = law.varpro(S, y, bounds)
        P0, beta, rss, c_hat = float(sol.P0), float(sol.beta), float(sol.rss), float(sol.c)
        at_bound, grid, prof = bool(sol.at_bound), sol.grid, sol.profile
    theta = np.array([P0, beta, c_hat])
    k = 2 if fixed else 3
    fitted = P0 - beta * law.g(S, c_hat)
    resid = y - fitted
    good = _goodness(y, rss, k)
    replicates = replicate_cov = None
    J = intervals.jacobian(S, beta, c_hat, fit_c=not fixed)
    lags = opts.maxlags or intervals.newey_west_lags(n)
    cov = np.zeros((3, 3))
    cov[:k, :k] = intervals.hac_cov(J, resid, lags) if n > k + 1 else np.nan
    if opts.ci == "bootstrap":
        rng = np.random.default_rng(opts.seed)
        L = opts.block_length or intervals.default_block_length(n)
        Y = intervals.residual_block_bootstrap(fitted, resid, J, L, opts.n_boot, rng)
        if fixed:
            bP0, bbeta, _ = law.solve_linear(S, Y, c_hat)
            replicates = np.column_stack([bP0, bbeta, np.full(opts.n_boot, c_hat)])
        else:
            bs = law.varpro(S, Y, bounds, refine="newton")
            replicates = np.column_stack([bs.P0, bs.beta, bs.c])
        boot_resid = Y - (replicates[:, :1] - replicates[:, 1:2] * law.g(S[None, :], replicates[:, 2:3]))
        replicate_cov = intervals.hac_cov_batch(S, replicates, boot_resid, lags, fit_c=not fixed)
    if cov_override is not None:
        cov = cov_override
    fit = RunFit(
        **r.ident,
        mode=label,
        ci_method=opts.ci,
        alpha=opts.alpha,
        n_points=n,
        theta=theta,
        cov=cov,
        status=FitStatus.OK,
        flags=(),
        message="",
        **good,
        rss=rss,
        alternatives=_alternatives(S, y, None if fixed else rss),
        entropy=S,
        perf=y,
        step=r.step,
        profile_c=grid,
        profile_rss=prof,
        bounds=bounds,
        replicates=replicates,
        fixed_c=fixed,
        hac_lags=lags,
        replicate_cov=replicate_cov,
    )
    c_int = fit.conf_int("c") if not fixed else (c_hat, c_hat)
    status, flags, msg = _status(r, theta, c_int, at_bound, fixed, good["r2"], opts, bounds)
    return _replace(fit, status=status, flags=flags, message=msg)


def _replace(fit: RunFit, **changes) -> RunFit:
    from dataclasses import replace

    return replace(fit, **changes)
