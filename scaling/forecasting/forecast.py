"""Early prediction: forecast a run's later performance from its beginning.

Two forecasts are made from the first ``fraction`` of a run's validation points
(the *prefix*), both with the law ``Perf(S) = P0 - beta * g_c(S)`` fitted to the
prefix (c = 1 by default, as in the paper):

* **observed entropy** (the protocol of Cui et al. 2025): every later point is
  predicted from the entropy actually logged there.  It needs the later
  entropies, so it checks the law rather than forecasting;
* **trajectory** (no later data at all): the entropy trajectory ``H(step)`` is
  fitted to the prefix (:func:`fit_trajectory`: power decay by default;
  exponential decay to zero or to a floor, or a choice by rolling-origin held-out
  error, on request), extrapolated to the horizon and passed through the law.

Both come with *prediction intervals for an observed value*, made of three
parts drawn together: the law's parameters (Student t with an AR(1)-error
sandwich covariance, :func:`law_draws`), the entropy trajectory (refitted to
AR(1)-prewhitened moving-block bootstrap series of the prefix) and the
observation error at the horizon (:func:`_future_noise`); for a bounded metric
(a fraction) they are conditioned on the range and stay inside it
(:func:`scaling.core.intervals.bounded_interval`).  Short autocorrelated
prefixes make residuals look smaller and whiter than the errors; the AR(1)
coefficient is bias-corrected and the noise level inflated for the degrees of
freedom the fit absorbs.  A forecast whose prefix fit is unusable gives NaN and
a status saying why, never a confident number.

:func:`backtest_forecast` repeats the forecast over fractions 5%-50% of every run
and reports errors and interval coverage.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import signal

from scaling.core import intervals, law
from scaling.data.load import Dataset
from scaling.fitting.single import FitOptions, FitStatus, RunFit, RunPoints, fit_run, run_points
from scaling.forecasting.defaults import BACKTEST_FRACTIONS
from scaling.progress import track
from scaling.protocol import ResultMixin

Family = Literal["auto", "exp_floor", "exp", "power"]
#: entropy-trajectory families, in the order used to break ties in held-out error.
FAMILIES = ("power", "exp", "exp_floor")
#: a prefix needs at least this many points for a forecast.
MIN_PREFIX = 6
#: size of the grid over the time scale of the power and exponential-floor families.
_GRID = 80
#: smallest entropy used when taking logs (nats).
_TINY = 1e-6


# --------------------------------------------------------------------------------
# entropy trajectory: pure kernels on arrays
# --------------------------------------------------------------------------------
def _time_grid(span: float) -> np.ndarray:
    """Log-spaced time scales from span/200 to 100 * span."""
    return np.geomspace(span / 200.0, span * 100.0, _GRID)


def _line_fit(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Y ~ a + b X`` row by row: X of shape (B, m, n) (m candidate bases), Y (B, n).

    Returns intercepts, slopes and RSS, each (B, m).
    """
    Xc = X - X.mean(axis=-1, keepdims=True)
    Yc = Y - Y.mean(axis=-1, keepdims=True)
    sxx = np.einsum("bmn,bmn->bm", Xc, Xc)
    sxy = np.einsum("bmn,bn->bm", Xc, Yc)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, sxy / sxx, 0.0)
    rss = np.einsum("bn,bn->b", Yc, Yc)[:, None] - slope * sxy
    intercept = Y.mean(axis=-1)[:, None] - slope * X.mean(axis=-1)
    return intercept, slope, np.maximum(rss, 0.0)


def _profile(Y: np.ndarray, basis, scales: np.ndarray) -> np.ndarray:
    """Fit ``Y ~ a + b basis(t, q)`` with the best time scale q per row.

    A global grid over ``scales`` (log-spaced), then four rounds of an 11-point
    zoom around each row's best point in log q.  Returns params (B, 3): ``(a, b, q)``.
    """
    B = Y.shape[0]
    X = np.broadcast_to(basis(scales[:, None])[None], (B, scales.size, Y.shape[1]))
    rss = _line_fit(X, Y)[2]
    k = np.argmin(np.where(np.isfinite(rss), rss, np.inf), axis=1)
    logq = np.log(scales)
    left, right = logq[np.maximum(k - 1, 0)], logq[np.minimum(k + 1, scales.size - 1)]
    for _ in range(4):
        cand = left[:, None] + (right - left)[:, None] * np.linspace(0.0, 1.0, 11)[None, :]  # (B, 11)
        rss = _line_fit(basis(np.exp(cand)[:, :, None]), Y)[2]
        j = np.argmin(np.where(np.isfinite(rss), rss, np.inf), axis=1)
        width = (right - left) / 10.0
        best = cand[np.arange(B), j]
        left, right = np.maximum(best - width, logq[0]), np.minimum(best + width, logq[-1])
    q = np.exp(best)
    a, b, _ = _line_fit(basis(q[:, None, None]), Y)
    return np.column_stack([a[:, 0], b[:, 0], q])


def fit_family(family: str, t: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Fit one entropy-trajectory family to one or many entropy series.

    Parameters
    ----------
    family : {"exp_floor", "exp", "power"}
        ``exp_floor``: ``H = f + A exp(-t/tau)`` with floor ``f >= 0`` (least squares in H);
        ``exp``: ``log H = log A - t/tau`` (exponential decay to zero);
        ``power``: ``log H = log A - p log(1 + t/tau)`` (power decay to zero).
    t : array, shape (n,)
        Steps since the first point of the run (``t[0] = 0``), increasing.
    H : array, shape (n,) or (B, n)
        Entropies (nats), positive.

    Returns
    -------
    array, shape (3,) or (B, 3)
        Parameters: ``(f, A, tau)``, ``(log A, -1/tau, nan)`` or ``(log A, -p, tau)``.
    """
    t = np.asarray(t, dtype=float)
    H = np.asarray(H, dtype=float)
    single = H.ndim == 1
    Y = np.atleast_2d(H)
    span = float(t[-1] - t[0])
    if span <= 0:
        raise ValueError("t must increase over the series")
    if family == "exp":
        a, b, _ = _line_fit(np.broadcast_to(t, (Y.shape[0], 1, t.size)), np.log(np.maximum(Y, _TINY)))
        out = np.column_stack([a[:, 0], b[:, 0], np.full(Y.shape[0], np.nan)])
    elif family == "power":
        out = _profile(np.log(np.maximum(Y, _TINY)), lambda q: np.log1p(t / q), _time_grid(span))
    elif family == "exp_floor":
        out = _profile(Y, lambda q: np.exp(-t / q), _time_grid(span))
        neg = out[:, 0] < 0  # floor below zero: refit with the floor at zero
        if neg.any():
            x = np.exp(-t[None, :] / out[neg, 2:3])
            out[neg, 1] = np.einsum("bn,bn->b", x, Y[neg]) / np.einsum("bn,bn->b", x, x)
            out[neg, 0] = 0.0
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return out[0] if single else out


def predict_family(family: str, params: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Entropy of a fitted family at times ``t``; ``params`` (3,) or (B, 3) gives (m,) or (B, m)."""
    t = np.asarray(t, dtype=float)
    P = np.atleast_2d(params)
    with np.errstate(over="ignore", invalid="ignore"):
        if family == "exp_floor":
            out = P[:, :1] + P[:, 1:2] * np.exp(-t[None, :] / P[:, 2:3])
        elif family == "exp":
            out = np.exp(P[:, :1] + P[:, 1:2] * t[None, :])
        elif family == "power":
            out = np.exp(P[:, :1] + P[:, 1:2] * np.log1p(t[None, :] / P[:, 2:3]))
        else:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    out = np.maximum(out, 0.0)
    return out[0] if np.ndim(params) == 1 else out


def _origins(n: int) -> list[int]:
    """Forecast origins for rolling held-out scoring: 60%, 70%, 80% of the points (at least 4 before, 1 after)."""
    cuts = sorted({min(max(4, round(f * n)), n - 1) for f in (0.6, 0.7, 0.8)})
    return [m for m in cuts if 4 <= m < n]


def heldout_errors(t: np.ndarray, H: np.ndarray, families: Sequence[str] = FAMILIES) -> np.ndarray:
    """Rolling-origin forecast error of each family on one or many entropy series.

    For origins at 60%, 70% and 80% of the points, each family is fitted to the
    points before the origin and scored on those after it, by the mean squared
    error of ``log H`` (relative error; entropy spans decades).

    Returns
    -------
    array, shape (len(families),) or (B, len(families))
        NaN when the series is too short to hold points out (fewer than 5).
    """
    t = np.asarray(t, dtype=float)
    Y = np.atleast_2d(np.asarray(H, dtype=float))
    out = np.full((Y.shape[0], len(families)), np.nan)
    cuts = _origins(t.size)
    if cuts:
        out[:] = 0.0
        count = 0
        for m in cuts:
            LY = np.log(np.maximum(Y[:, m:], _TINY))
            for j, fam in enumerate(families):
                pred = predict_family(fam, fit_family(fam, t[:m], Y[:, :m]), t[m:])
                err = (np.log(np.maximum(np.atleast_2d(pred), _TINY)) - LY) ** 2
                out[:, j] += err.sum(axis=1)
            count += t.size - m
        out /= count
        out[~np.isfinite(out)] = np.inf
    return out[0] if np.ndim(H) == 1 else out


@dataclass(frozen=True, eq=False)
class EntropyTrajectory:
    """An entropy trajectory ``H(step)`` fitted to the beginning of a run.

    Attributes
    ----------
    family : str
        The family used (``power``, ``exp`` or ``exp_floor``; see :func:`fit_family`).
    params : array (3,)
        Its parameters.
    step0 : float
        Step of the run's first point (time origin).
    step, entropy : arrays
        The points fitted.
    heldout : dict
        Rolling-origin held-out MSE of ``log H`` of every family (what chose ``family``).
    """

    family: str
    params: np.ndarray
    step0: float
    step: np.ndarray
    entropy: np.ndarray
    heldout: dict = field(default_factory=dict)

    def predict(self, step: np.ndarray | float) -> np.ndarray:
        """Entropy forecast at the given steps."""
        return predict_family(self.family, self.params, np.atleast_1d(np.asarray(step, dtype=float)) - self.step0)

    @property
    def resid(self) -> np.ndarray:
        """Residuals of ``log H`` at the fitted points."""
        return np.log(np.maximum(self.entropy, _TINY)) - np.log(np.maximum(self.predict(self.step), _TINY))

    def to_frame(self) -> pd.DataFrame:
        """One row: family, parameters, held-out errors."""
        row = {"family": self.family, "p0": self.params[0], "p1": self.params[1], "p2": self.params[2]}
        row.update({f"heldout_{k}": v for k, v in self.heldout.items()})
        return pd.DataFrame([row])


def fit_trajectory(step: np.ndarray, entropy: np.ndarray, family: Family = "power") -> EntropyTrajectory:
    """Fit the entropy trajectory of a run (or of its prefix).

    Parameters
    ----------
    step, entropy : array_like, shape (n,)
        Steps (increasing) and entropies (nats, positive) of the points.
    family : {"power", "exp", "exp_floor", "auto"}
        The family (:func:`fit_family`); ``auto`` picks the one with the smallest
        rolling-origin held-out error (:func:`heldout_errors`), or ``power`` when
        there are fewer than 5 points.

    Returns
    -------
    EntropyTrajectory

    Raises
    ------
    ValueError
        If ``family`` is unknown, or the points are fewer than 3 or span no steps.

    Examples
    --------
    >>> import numpy as np
    >>> st = np.arange(0, 60, 2.0)
    >>> tr = fit_trajectory(st, 0.5 * np.exp(-st / 40), "auto")
    >>> tr.family, round(float(tr.predict(120)[0]), 4)
    ('exp', 0.0249)
    """
    if family != "auto" and family not in FAMILIES:
        raise ValueError(f"family must be 'auto' or one of {FAMILIES}, got {family!r}")
    st = np.asarray(step, dtype=float)
    H = np.asarray(entropy, dtype=float)
    if st.size < 3 or st.shape != H.shape:
        raise ValueError(f"step and entropy must be 1-D arrays of one length >= 3, got {st.shape} and {H.shape}")
    errs = heldout_errors(st - st[0], H)
    heldout = dict(zip(FAMILIES, (float(e) for e in errs)))
    if family == "auto":
        family = FAMILIES[int(np.argmin(errs))] if np.isfinite(errs).any() else "power"
    params = fit_family(family, st - st[0], H)
    return EntropyTrajectory(family, params, float(st[0]), st, H, heldout)


# --------------------------------------------------------------------------------
# bootstrap pieces
# --------------------------------------------------------------------------------
def _ar_series(resid: np.ndarray, k: int, n_boot: int, size: int, block_length: int, rng: np.random.Generator) -> np.ndarray:
    """Series with the autocorrelation of ``resid``: AR(1) prewhitening, moving blocks of innovations,
    post-blackening (as :func:`scaling.core.intervals.residual_block_bootstrap`).  Shape (n_boot, size)."""
    r = resid - resid.mean()
    phi = intervals.ar1_bias_corrected(r, k)
    u = r[1:] - phi * r[:-1]
    u = u - u.mean()
    burn = int(min(200, np.ceil(np.log(1e-3) / np.log(max(abs(phi), 1e-3)))))
    idx = intervals.block_indices(u.size, min(block_length, u.size), n_boot, rng, size=size + burn)
    return signal.lfilter([1.0], [1.0, -phi], u[idx], axis=1)[:, burn:]


def _scale_draws(resid: np.ndarray, k: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Random factors ``sqrt(df / chi2_df)`` for the uncertainty of a noise level estimated from
    few autocorrelated residuals (normal draws times these are Student-t draws).

    ``df = n (1 - phi^2) / (1 + phi^2) - k``: the sample variance of an AR(1) series of
    ``n`` points is as variable as that of ``n (1 - phi^2) / (1 + phi^2)`` independent
    points (Bartlett 1946), less the ``k`` fitted parameters; at least 2.
    """
    phi = intervals.ar1_bias_corrected(resid, k)
    df = max(resid.size * (1 - phi**2) / (1 + phi**2) - k, 2.0)
    return np.sqrt(df / rng.chisquare(df, size=n_draws))


def _future_noise(resid: np.ndarray, k: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of the observation error at a point far from the prefix.

    Normal with the residuals' standard deviation (inflated by :func:`scaling.core.intervals.ar1_noise_scale`
    for the degrees of freedom the fit absorbs from autocorrelated errors), times
    a random scale for the uncertainty of that level (:func:`_scale_draws`): a
    Student-t marginal.  (Resampling a dozen residuals would cut the tails off.)
    """
    if resid.size < 4:
        return np.zeros(n_draws)
    sd = float(np.sqrt(np.mean((resid - resid.mean()) ** 2))) * intervals.ar1_noise_scale(resid, k)
    return sd * rng.standard_normal(n_draws) * _scale_draws(resid, k, n_draws, rng)


def ar1_covariance(fit: RunFit) -> tuple[np.ndarray, float]:
    """Covariance of a fit's ``(P0, beta[, c])`` under AR(1) errors (:func:`scaling.core.intervals.ar1_sandwich`).

    On 15-point prefixes with AR(1) errors (phi = 0.5) it covers the extrapolated
    curve 90% of the time at the 95% level, the Newey-West sandwich 87%.

    Returns
    -------
    cov : array (3, 3)
        Zero row and column for a fixed c.
    df : float
        Effective residual degrees of freedom (for Student-t quantiles).
    """
    k = 2 if fit.fixed_c else 3
    J = intervals.jacobian(fit.entropy, fit.beta, fit.c, fit_c=not fit.fixed_c)
    cov = np.zeros((3, 3))
    cov[:k, :k] = intervals.ar1_sandwich(J, fit.resid, k=k)
    df, _ = intervals.ar1_effective_df(fit.resid, k)
    return cov, df


def law_draws(fit: RunFit, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of ``(P0, beta, c)`` from the fit's sampling distribution, shape (n_draws, 3).

    Multivariate Student t centred on the estimate with the AR(1)-error covariance
    of :func:`ar1_covariance` and its effective degrees of freedom.  A fixed c stays fixed.
    """
    k = 2 if fit.fixed_c else 3
    cov, df = ar1_covariance(fit)
    z = rng.multivariate_normal(np.zeros(k), np.nan_to_num(cov[:k, :k]), size=n_draws, method="eigh")
    draws = np.tile(fit.theta, (n_draws, 1))
    draws[:, :k] += z * np.sqrt(df / rng.chisquare(df, size=n_draws))[:, None]
    return draws


# --------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ForecastOptions:
    """Settings of a forecast.

    Attributes
    ----------
    mode : {"paper", "free"}
        Law fitted to the prefix: ``paper`` (default) fixes c = 1 as Cui et al. do;
        ``free`` fits c, which a short prefix does not identify (on ../shared/toyrl a
        free c fitted to 15% of a run misses the final accuracy by 6 points, c = 1 by 2.5).
    family : {"power", "exp", "exp_floor", "auto"}
        Entropy-trajectory family (see :func:`fit_family`).  ``power`` (default)
        forecast the final entropy best on ../shared/toyrl at every fraction (see
        :attr:`ForecastBacktest.families`); ``auto`` takes the smallest rolling-origin
        held-out error within the prefix, re-chosen in every bootstrap replicate.
    alpha : float
        1 - level of the prediction intervals (0.05: 95%).
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of the bootstrap.
    min_points : int
        Fewest prefix points for a forecast.
    r2_min : float
        R² of the prefix fit below which the forecast is refused.
    """

    mode: Literal["paper", "free"] = "paper"
    family: Family = "power"
    alpha: float = 0.05
    n_boot: int = 400
    seed: int = 0
    min_points: int = MIN_PREFIX
    r2_min: float = 0.6

    def __post_init__(self) -> None:
        if self.mode not in ("paper", "free"):
            raise ValueError(f"mode must be 'paper' or 'free', got {self.mode!r}")
        if self.family != "auto" and self.family not in FAMILIES:
            raise ValueError(f"family must be 'auto' or one of {FAMILIES}, got {self.family!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.n_boot < 50:
            raise ValueError(f"n_boot must be at least 50, got {self.n_boot}")
        if self.min_points < 4:
            raise ValueError(f"min_points must be at least 4, got {self.min_points}")


#: forecast statuses: the prefix fit's, plus these.
FORECAST_OK = "ok"
TOO_SHORT = "prefix too short"
ENTROPY_FLAT = "entropy not decreasing"
LAW_UNUSABLE = "law unusable on prefix"


@dataclass(frozen=True, eq=False)
class RunForecast(ResultMixin):
    """Forecast of one run from its first ``fraction`` of points.

    Attributes
    ----------
    run, model, params, algorithm, seed, task
        Identity.
    fraction : float
        Share of the run's points used; ``n_fit`` of ``n_total`` points.
    horizon : float
        Step forecast (the run's last step by default).
    prefix_end : float
        Last step used.
    status : str
        ``ok``, or why there is no forecast (``prefix too short``, ``law unusable on
        prefix``, ``entropy not decreasing``); numbers are NaN unless ``ok``.
    message : str
        The numbers behind the status.
    law : RunFit or None
        The law fitted to the prefix.
    trajectory : EntropyTrajectory or None
        The entropy trajectory fitted to the prefix.
    final_pred, final_lo, final_hi : float
        Trajectory forecast of the performance observed at ``horizon``, with its
        prediction interval (inside the metric's range for a bounded metric).
    entropy_pred, entropy_lo, entropy_hi : float
        Forecast entropy at ``horizon`` (interval over bootstrap replicates).
    observed_pred, observed_lo, observed_hi : float
        The paper's protocol at ``horizon``: the law at the entropy observed there.
    final_actual, entropy_actual : float
        Observed values at ``horizon`` (NaN beyond the data).
    ceiling, ceiling_lo, ceiling_hi : float
        Ceiling ``P0`` from the prefix fit with its ``1 - alpha`` interval.
    rest : DataFrame
        One row per later point: ``step, entropy, actual, observed_pred, observed_lo,
        observed_hi, entropy_pred, traj_pred, traj_lo, traj_hi`` (for plots).
    alpha : float
        1 - level of the intervals.
    """

    _plot_kind: ClassVar[str | None] = "forecast"

    def _plot_inputs(self) -> tuple[tuple, dict]:
        return (self.plot_frame("trajectory"),), {"title": self.run, "level": 1 - self.alpha}

    run: str
    model: str
    params: float
    algorithm: str
    seed: str
    task: str
    fraction: float
    n_fit: int
    n_total: int
    horizon: float
    prefix_end: float
    status: str
    message: str
    alpha: float
    mode: str
    law: RunFit | None = None
    trajectory: EntropyTrajectory | None = None
    final_pred: float = math.nan
    final_lo: float = math.nan
    final_hi: float = math.nan
    entropy_pred: float = math.nan
    entropy_lo: float = math.nan
    entropy_hi: float = math.nan
    observed_pred: float = math.nan
    observed_lo: float = math.nan
    observed_hi: float = math.nan
    final_actual: float = math.nan
    entropy_actual: float = math.nan
    ceiling: float = math.nan
    ceiling_lo: float = math.nan
    ceiling_hi: float = math.nan
    rest: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def usable(self) -> bool:
        """Whether the forecast gives numbers."""
        return self.status == FORECAST_OK

    @property
    def error(self) -> float:
        """Trajectory forecast minus the observed final value."""
        return self.final_pred - self.final_actual

    @property
    def observed_error(self) -> float:
        """Paper-protocol prediction minus the observed final value."""
        return self.observed_pred - self.final_actual

    @property
    def rmse_rest(self) -> float:
        """RMSE of the paper's protocol over every point after the prefix."""
        if self.rest.empty or not self.usable:
            return math.nan
        e = self.rest["observed_pred"] - self.rest["actual"]
        return float(np.sqrt(np.mean(e**2)))

    @property
    def rest_coverage(self) -> float:
        """Share of later points inside their paper-protocol prediction interval."""
        if self.rest.empty or not self.usable:
            return math.nan
        r = self.rest
        return float(((r["observed_lo"] <= r["actual"]) & (r["actual"] <= r["observed_hi"])).mean())

    def plot_frame(self, protocol: Literal["trajectory", "observed"] = "trajectory", prefix: RunPoints | None = None) -> pd.DataFrame:
        """Predicted vs actual at every later point, as ``scaling.plotting.figures.plot_forecast`` takes it.

        Parameters
        ----------
        protocol : {"trajectory", "observed"}
            The forecast without later data, or the paper's protocol (observed entropies).
        prefix : RunPoints, optional
            The run, to add its fitted points (``actual`` only) before the forecast.

        Returns
        -------
        DataFrame
            ``run, step, actual, predicted, lo, hi, fit_end_step`` (empty when not usable).
        """
        if protocol not in ("trajectory", "observed"):
            raise ValueError(f"protocol must be 'trajectory' or 'observed', got {protocol!r}")
        cols = ["run", "step", "actual", "predicted", "lo", "hi", "fit_end_step"]
        if not self.usable:
            return pd.DataFrame(columns=cols)
        key = "traj" if protocol == "trajectory" else "observed"
        out = pd.DataFrame({"step": self.rest["step"], "actual": self.rest["actual"], "predicted": self.rest[f"{key}_pred"],
                            "lo": self.rest[f"{key}_lo"], "hi": self.rest[f"{key}_hi"]})  # fmt: skip
        if prefix is not None:
            k = prefix.step <= self.prefix_end
            head = pd.DataFrame({"step": prefix.step[k], "actual": prefix.perf[k]})
            out = pd.concat([head, out], ignore_index=True)
        return out.assign(run=self.run, fit_end_step=self.prefix_end)[cols]

    def summary(self) -> pd.DataFrame:
        """Forecasts with intervals, one row per quantity: final (trajectory), final (observed entropy),
        entropy at the horizon, ceiling.  Columns estimate, lo, hi, actual."""
        rows = {
            "final (trajectory)": (self.final_pred, self.final_lo, self.final_hi, self.final_actual),
            "final (observed entropy)": (self.observed_pred, self.observed_lo, self.observed_hi, self.final_actual),
            "entropy at horizon": (self.entropy_pred, self.entropy_lo, self.entropy_hi, self.entropy_actual),
            "ceiling": (self.ceiling, self.ceiling_lo, self.ceiling_hi, math.nan),
        }
        out = pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "lo", "hi", "actual"])
        out.index.name = "quantity"
        out.attrs.update(alpha=self.alpha, run=self.run, status=self.status)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row: the CLI's columns, then the paper protocol, entropy, ceiling and status."""
        return pd.DataFrame([self._row()])

    def _row(self) -> dict:
        """The values of :meth:`to_frame`'s row, by column."""
        return {
            "run": self.run,
            "fraction": self.fraction,
            "n_fit": self.n_fit,
            "final_step": self.horizon,
            "final_pred": self.final_pred,
            "final_lo": self.final_lo,
            "final_hi": self.final_hi,
            "final_actual": self.final_actual,
            "error": self.error,
            "rmse_rest": self.rmse_rest,
            "observed_pred": self.observed_pred,
            "observed_lo": self.observed_lo,
            "observed_hi": self.observed_hi,
            "observed_error": self.observed_error,
            "rest_coverage": self.rest_coverage,
            "entropy_pred": self.entropy_pred,
            "entropy_lo": self.entropy_lo,
            "entropy_hi": self.entropy_hi,
            "entropy_actual": self.entropy_actual,
            "ceiling": self.ceiling,
            "ceiling_lo": self.ceiling_lo,
            "ceiling_hi": self.ceiling_hi,
            "family": self.trajectory.family if self.trajectory is not None else "",
            "mode": self.mode,
            "model": self.model,
            "params": self.params,
            "algorithm": self.algorithm,
            "seed": self.seed,
            "task": self.task,
            "n_total": self.n_total,
            "prefix_end": self.prefix_end,
            "status": self.status,
            "message": self.message,
        }


# --------------------------------------------------------------------------------
# forecasting one run
# --------------------------------------------------------------------------------
def _n_prefix(n: int, fraction: float) -> int:
    return int(min(n, max(1, math.ceil(fraction * n - 1e-9))))


def forecast_run(
    run: RunPoints,
    fraction: float = 0.15,
    *,
    horizon: float | None = None,
    options: ForecastOptions | None = None,
    perf_range: tuple[float, float] | None = (0.0, 1.0),
) -> RunForecast:
    """Forecast a run from its first ``fraction`` of validation points.

    Parameters
    ----------
    run : RunPoints
        The run's points (see :func:`scaling.fitting.single.prepare_run`), sorted by step.
    fraction : float
        Share of the points fitted, in (0, 1]; the prefix has ``ceil(fraction * n)`` points.
    horizon : float, optional
        Step to forecast; default the run's last step.  Beyond the data, the
        observed values (and the paper's protocol, which needs the entropy there) are NaN.
    options : ForecastOptions, optional
        Law mode, trajectory family, level, bootstrap size and seed.
    perf_range : (float, float) or None
        The metric's range: the ceiling check of the prefix fit, and the range the
        prediction intervals of observed values stay inside (None: an unbounded metric).

    Returns
    -------
    RunForecast
        Never raises on a bad run: the status says why there is no forecast.

    Raises
    ------
    ValueError
        If ``fraction`` is not in (0, 1] or ``horizon`` is not after the prefix.

    Notes
    -----
    Prediction interval of an observed value at the horizon ``T``: the ``alpha/2``
    and ``1 - alpha/2`` quantiles of ``Perf_b(H_b(T)) + e_b`` over ``n_boot`` draws
    ``b``, where ``Perf_b`` is the law with parameters drawn by :func:`law_draws`,
    ``H_b`` the entropy trajectory refitted to a moving-block bootstrap series of
    the prefix's log entropies (AR(1)-prewhitened; the family re-chosen when
    ``family="auto"``), and ``e_b`` an observation error from :func:`_future_noise`.
    The paper-protocol interval replaces ``H_b(T)`` by the entropy observed at
    ``T``.  The ceiling's interval is the quantiles of the drawn ``P0``.

    For a bounded metric (``perf_range``, e.g. a fraction) the two prediction intervals
    are the drawn values' distribution conditioned on the range
    (:func:`scaling.core.intervals.bounded_interval`: a value of the metric cannot leave it)
    and lie inside it.  Where the point forecast itself leaves the range (a prefix fit whose
    ceiling lies outside it) the interval is still that of the observable values, and the
    message says the forecast is not one.  The ceiling is a parameter, not
    an observation: its interval is not bounded (the status flags a ceiling outside the range).

    Examples
    --------
    >>> import numpy as np
    >>> from scaling.data.runtable import prepare_run
    >>> step = np.arange(100) * 2.0
    >>> H = 0.5 * (1 + step / 20) ** -1.0
    >>> ident = {"run": "r", "model": "m", "params": 1e6, "algorithm": "a", "seed": "0"}
    >>> run, _ = prepare_run(H, 0.97 - 0.6 * (np.exp(H) - 1), step, ident)
    >>> fc = forecast_run(run, 0.2, options=ForecastOptions(n_boot=100), perf_range=None)
    >>> fc.status, fc.n_fit, round(fc.final_pred, 3), round(fc.final_actual, 3)
    ('ok', 20, 0.942, 0.942)
    """
    opts = options or ForecastOptions()
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    ident = dict(run.ident)
    ident.setdefault("task", "")
    n = run.entropy.size
    k = _n_prefix(n, fraction)
    T = float(run.step[-1]) if horizon is None else float(horizon)
    prefix_end = float(run.step[k - 1]) if n else math.nan
    if n and T <= prefix_end and horizon is not None:
        raise ValueError(f"horizon must be after the prefix's last step {prefix_end:g}, got {T:g}")
    base = dict(**ident, fraction=float(fraction), n_fit=k, n_total=n, horizon=T, prefix_end=prefix_end,
                alpha=opts.alpha, mode=opts.mode)  # fmt: skip
    at_T = np.flatnonzero(run.step == T)
    actual = float(run.perf[at_T[0]]) if at_T.size else math.nan
    S_T = float(run.entropy[at_T[0]]) if at_T.size else math.nan
    base.update(final_actual=actual, entropy_actual=S_T)
    if k < opts.min_points:
        return RunForecast(**base, status=TOO_SHORT, message=f"{k} points in the first {fraction:.0%}; a forecast needs {opts.min_points}")
    if k >= n and horizon is None:
        return RunForecast(**base, status=TOO_SHORT, message="the prefix is the whole run: nothing left to forecast")
    S, y, st = run.entropy[:k], run.perf[:k], run.step[:k]
    fopts = FitOptions(ci="hac", alpha=opts.alpha, perf_range=perf_range, r2_min=opts.r2_min)
    lawfit = fit_run(S, y, st, mode=opts.mode, options=fopts, **{k_: ident[k_] for k_ in ("run", "model", "params", "algorithm", "seed")})
    base["law"] = lawfit
    if FitStatus.NOT_DECREASING in lawfit.flags:
        return RunForecast(**base, status=ENTROPY_FLAT, message=f"prefix: {lawfit.message}")
    if not lawfit.status.usable:
        return RunForecast(**base, status=LAW_UNUSABLE, message=f"prefix fit: {lawfit.status.value} ({lawfit.message})")
    if np.any(S <= 0):
        return RunForecast(**base, status=ENTROPY_FLAT, message="the prefix has zero entropies: no trajectory to extrapolate")
    traj = fit_trajectory(st, S, opts.family)
    base["trajectory"] = traj
    H_T = float(traj.predict(T)[0])
    if not (np.isfinite(H_T) and H_T <= S.max() * 1.5):
        return RunForecast(**base, status=ENTROPY_FLAT, message=f"the entropy trajectory ({traj.family}) does not decrease: "
                           f"it reaches {H_T:.3g} nats at step {T:g}")  # fmt: skip
    return _bootstrap_forecast(run, k, T, lawfit, traj, opts, base)


def column_quantiles(x: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``np.nanquantile(x, q, axis=0)`` of a (draws, points) array, the same numbers, faster.

    numpy's NaN-aware quantile along an axis works one column at a time (about 60 us each); the
    columns without NaN, usually all of them, go through ``np.quantile`` at once instead, which
    takes the same order statistics and interpolates them by the same formula.
    """
    x = np.asarray(x, dtype=float)
    holes = np.isnan(x).any(axis=0)
    if not holes.any():
        return np.quantile(x, q, axis=0)
    out = np.empty((len(q), x.shape[1]))
    out[:, ~holes] = np.quantile(x[:, ~holes], q, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column is NaN, as in nanquantile
        out[:, holes] = np.nanquantile(x[:, holes], q, axis=0)
    return out


def _bootstrap_forecast(run: RunPoints, k: int, T: float, lawfit: RunFit, traj: EntropyTrajectory, opts: ForecastOptions, base: dict) -> RunForecast:
    rng = np.random.default_rng([opts.seed, 1])
    st, S = run.step[:k], run.entropy[:k]
    t = st - st[0]
    later = run.step > st[-1]
    t_rest = run.step[later] - st[0]
    t_all = np.append(t_rest, T - st[0])
    B = opts.n_boot
    L = intervals.default_block_length(k)
    # entropy trajectory replicates: model-based block bootstrap of log residuals (family re-chosen with auto)
    logfit = np.log(np.maximum(traj.predict(st), _TINY))
    e_log = traj.resid
    e_b = _ar_series(e_log * intervals.ar1_noise_scale(e_log, 3), 3, B, k, L, rng) * _scale_draws(e_log, 3, B, rng)[:, None]
    Hb = np.exp(logfit[None, :] + e_b)
    if opts.family == "auto":
        err = heldout_errors(t, Hb)
        choice = np.where(np.isfinite(err).any(axis=1), np.argmin(np.where(np.isfinite(err), err, np.inf), axis=1), 0)
    else:
        choice = np.full(B, FAMILIES.index(opts.family))
    H_future = np.empty((B, t_all.size))
    for j, fam in enumerate(FAMILIES):
        sel = choice == j
        if sel.any():
            H_future[sel] = predict_family(fam, fit_family(fam, t, Hb[sel]), t_all)
    # a replicate whose trajectory rises is kept but bounded, so that its law value stays finite
    H_future = np.clip(np.nan_to_num(H_future, nan=S.max()), 0.0, 2.0 * S.max())
    # law parameters and future observation errors
    reps = law_draws(lawfit, B, rng)
    noise = _future_noise(lawfit.resid, 2 if lawfit.fixed_c else 3, B, rng)

    def law_at(Sx: np.ndarray) -> np.ndarray:  # (B, m) curves at entropies Sx (B, m) or (m,)
        return reps[:, :1] - reps[:, 1:2] * law.g(Sx, reps[:, 2:3])

    q = [opts.alpha / 2, 0.5, 1 - opts.alpha / 2]
    with np.errstate(invalid="ignore", over="ignore"):
        traj_draws = law_at(H_future) + noise[:, None]
        S_rest = run.entropy[later]
        obs_draws = law_at(S_rest[None, :]) + noise[:, None]
    t_lo, _, t_hi = column_quantiles(traj_draws, q)
    o_lo, _, o_hi = column_quantiles(obs_draws, q) if S_rest.size else (np.empty(0),) * 3
    h_lo, _, h_hi = column_quantiles(H_future, q)
    H_point = traj.predict(t_all + st[0])
    traj_point = lawfit.predict(H_point)
    obs_point = lawfit.predict(S_rest)
    # a bounded metric: the intervals of these observable values are conditioned on its range
    t_lo, t_hi, t_out = intervals.bounded_interval(traj_point, t_lo, t_hi, lawfit.perf_range, opts.alpha)
    o_lo, o_hi, o_out = intervals.bounded_interval(obs_point, o_lo, o_hi, lawfit.perf_range, opts.alpha)
    rest = pd.DataFrame({
        "step": run.step[later], "entropy": S_rest, "actual": run.perf[later],
        "observed_pred": obs_point, "observed_lo": o_lo, "observed_hi": o_hi,
        "entropy_pred": H_point[:-1], "entropy_lo": h_lo[:-1], "entropy_hi": h_hi[:-1],
        "traj_pred": traj_point[:-1], "traj_lo": t_lo[:-1], "traj_hi": t_hi[:-1],
    })  # fmt: skip
    at_T = np.flatnonzero(run.step[later] == T)
    if at_T.size:
        o = (float(np.atleast_1d(lawfit.predict(base["entropy_actual"]))[0]), float(o_lo[at_T[0]]), float(o_hi[at_T[0]]))
    else:
        o = (math.nan,) * 3
    c_lo, c_hi = np.quantile(reps[:, 0], [opts.alpha / 2, 1 - opts.alpha / 2])
    msg = f"law ({lawfit.mode}, c = {lawfit.c:.3g}) on {k} points up to step {st[-1]:g}; entropy trajectory {traj.family}"
    if lawfit.status != FitStatus.OK:
        msg += f"; prefix fit: {lawfit.status.value}"
    msg += _outside_note(traj_point, t_out, o_out, lawfit.perf_range)
    return RunForecast(
        **base,
        status=FORECAST_OK,
        message=msg,
        final_pred=float(traj_point[-1]),
        final_lo=float(t_lo[-1]),
        final_hi=float(t_hi[-1]),
        entropy_pred=float(H_point[-1]),
        entropy_lo=float(h_lo[-1]),
        entropy_hi=float(h_hi[-1]),
        observed_pred=o[0],
        observed_lo=o[1],
        observed_hi=o[2],
        ceiling=lawfit.ceiling,
        ceiling_lo=float(c_lo),
        ceiling_hi=float(c_hi),
        rest=rest,
    )


def _outside_note(traj_point: np.ndarray, t_out: np.ndarray, o_out: np.ndarray, perf_range: tuple[float, float] | None) -> str:
    """The message's note when the law's forecast leaves the metric's range (the interval is for observable values only)."""
    if not (t_out.any() or o_out.any()):
        return ""
    lo_m, hi_m = perf_range  # type: ignore[misc]  # outside only exists for a bounded metric
    where = "the final forecast" if t_out[-1] else "some forecasts"
    value = f" ({traj_point[-1]:.4g})" if t_out[-1] else ""
    return (f"; {where}{value} outside the metric's range [{lo_m:g}, {hi_m:g}]: there, the interval is that of the "
            f"values the metric can take (the prediction interval conditioned on the range)")  # fmt: skip


# --------------------------------------------------------------------------------
# many runs, many fractions
# --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Forecasts(ResultMixin):
    """Forecasts of every run of a data set at one fraction.

    Attributes
    ----------
    forecasts : tuple of RunForecast
    fraction : float
    options : ForecastOptions
    """

    forecasts: tuple[RunForecast, ...]
    fraction: float
    options: ForecastOptions

    def __iter__(self):
        return iter(self.forecasts)

    def __len__(self) -> int:
        return len(self.forecasts)

    def __getitem__(self, run: str) -> RunForecast:
        for f in self.forecasts:
            if f.run == run:
                return f
        raise KeyError(f"no run named {run!r}")

    def to_frame(self) -> pd.DataFrame:
        """One row per run (see :meth:`RunForecast.to_frame`), built at once from the rows' values; no rows without forecasts."""
        if not self.forecasts:
            return pd.DataFrame(columns=["run", "status", "final_pred", "final_lo", "final_hi", "final_actual"])
        return pd.DataFrame([f._row() for f in self.forecasts])

    def points(self) -> pd.DataFrame:
        """Predicted vs actual at every later point of every usable run, with bands (for plots)."""
        frames = [f.rest.assign(run=f.run, model=f.model, task=f.task, algorithm=f.algorithm) for f in self.forecasts if f.usable]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        """Errors and coverage over usable runs (see :func:`summarise_forecasts`)."""
        return summarise_forecasts(self.to_frame())


def forecast_dataset(
    data: Dataset,
    fraction: float = 0.15,
    *,
    horizon: float | None = None,
    options: ForecastOptions | None = None,
    runs: Sequence[str] | None = None,
    progress: bool = True,
) -> Forecasts:
    """:func:`forecast_run` for every run of a data set (or the named ``runs``).

    Runs set aside while loading get the status ``invalid data``.  With ``progress``, a
    bar is drawn on standard error when it is a terminal (:func:`scaling.progress.track`).
    """
    opts = options or ForecastOptions()
    all_runs = run_points(data.points)
    names = list(all_runs) if runs is None else list(runs)
    unknown = [r for r in names if r not in all_runs and r not in data.invalid]
    if unknown:
        raise ValueError(f"runs names unknown run(s) {unknown}")
    out = []
    with law.single_threaded_blas():  # each run's bootstrap is many small products
        for name in track(names, f"forecasts ({fraction:.0%} prefix)", enabled=None if progress else False):
            if name in data.invalid:
                out.append(_invalid(name, data.invalid[name], fraction, opts))
                continue
            out.append(forecast_run(all_runs[name], fraction, horizon=horizon, options=opts, perf_range=data.perf_range))
    return Forecasts(tuple(out), fraction, opts)


def run_horizons(data: Dataset, horizon: float | None = None) -> dict[str, float]:
    """The step each run is expected to end at: ``horizon``, else the last step of its model's longest run.

    Runs of one model on one task (its seeds and algorithms) usually follow one schedule, so a
    run that stops before the longest of them is taken to be unfinished
    (:func:`forecast_unfinished`); a model's only run is taken to be finished.  Models of
    different sizes often train for different numbers of steps, so they are not compared.

    Parameters
    ----------
    data : Dataset
    horizon : float, optional
        One final step for every run.

    Returns
    -------
    dict
        Run -> final step, for every run with points.
    """
    pts = data.points
    last = pts.groupby("run", sort=False)["step"].max()
    if horizon is not None:
        return {str(r): float(horizon) for r in last.index}
    first = pts.groupby("run", sort=False).first()
    task = first["task"].astype(str) if "task" in first else pd.Series("", index=last.index)
    model = first["model"].astype(str) if "model" in first else pd.Series("", index=last.index)
    end = last.groupby([task.reindex(last.index), model.reindex(last.index)]).transform("max")
    return {str(r): float(v) for r, v in end.items()}


def forecast_unfinished(
    data: Dataset,
    *,
    horizon: float | None = None,
    options: ForecastOptions | None = None,
    runs: Sequence[str] | None = None,
    progress: bool = True,
) -> Forecasts:
    """Forecast where each unfinished run will end, from all of its points.

    A run is unfinished when its last step lies before its horizon (:func:`run_horizons`:
    ``horizon``, else the last step of the longest run of its model on its task).  Each is forecast
    by :func:`forecast_run` with the whole run as the prefix (``fraction=1``), to its
    horizon, with the same law, entropy trajectory and prediction interval as the
    early prediction.

    Parameters
    ----------
    data : Dataset
    horizon : float, optional
        The step every run is meant to reach; default per model and task, as above.
    options : ForecastOptions, optional
    runs : sequence of str, optional
        The runs considered (default every run with points).
    progress : bool
        Draw a progress bar on a terminal.

    Returns
    -------
    Forecasts
        One forecast per unfinished run (``fraction`` 1.0); empty when every run reached its horizon.
    """
    opts = options or ForecastOptions()
    all_runs = run_points(data.points)
    ends = run_horizons(data, horizon)
    names = [r for r in (all_runs if runs is None else runs) if r in all_runs]
    open_runs = [r for r in names if all_runs[r].step.size and all_runs[r].step[-1] < ends[r]]
    out = [
        forecast_run(all_runs[r], 1.0, horizon=ends[r], options=opts, perf_range=data.perf_range)
        for r in track(open_runs, "forecasts of unfinished runs", enabled=None if progress else False)
    ]
    return Forecasts(tuple(out), 1.0, opts)


def _invalid(name: str, why: str, fraction: float, opts: ForecastOptions) -> RunForecast:
    return RunForecast(run=name, model="", params=math.nan, algorithm="", seed="", task="", fraction=fraction, n_fit=0,
                       n_total=0, horizon=math.nan, prefix_end=math.nan, status=FitStatus.INVALID_DATA.value,
                       message=why, alpha=opts.alpha, mode=opts.mode)  # fmt: skip


def summarise_forecasts(frame: pd.DataFrame) -> pd.DataFrame:
    """Errors and coverage of forecast rows, grouped by ``fraction``.

    Parameters
    ----------
    frame : DataFrame
        Rows of :meth:`RunForecast.to_frame` (any number of fractions); a column
        ``ceiling_full`` (the ceiling fitted to the whole run) adds the ceiling's
        error and coverage.

    Returns
    -------
    DataFrame
        Per fraction: ``n_runs, n_forecast`` (usable), then for the trajectory
        forecast ``median_abs_error, mean_abs_error, coverage, median_width``, for
        the paper's protocol ``obs_median_abs_error, obs_coverage, median_rmse_rest,
        rest_coverage``, and ``ceiling_median_abs_error, ceiling_coverage``.
    """
    rows = []
    for frac, grp in frame.groupby("fraction", sort=True):
        ok = grp[grp["status"] == FORECAST_OK]
        hit = (ok["final_lo"] <= ok["final_actual"]) & (ok["final_actual"] <= ok["final_hi"])
        ohit = (ok["observed_lo"] <= ok["final_actual"]) & (ok["final_actual"] <= ok["observed_hi"])
        row = dict(
            fraction=frac,
            n_runs=len(grp),
            n_forecast=len(ok),
            median_abs_error=ok["error"].abs().median(),
            mean_abs_error=ok["error"].abs().mean(),
            coverage=hit.mean() if len(ok) else math.nan,
            median_width=(ok["final_hi"] - ok["final_lo"]).median(),
            obs_median_abs_error=ok["observed_error"].abs().median(),
            obs_coverage=ohit.mean() if len(ok) else math.nan,
            median_rmse_rest=ok["rmse_rest"].median(),
            rest_coverage=ok["rest_coverage"].mean(),
        )
        if "ceiling_full" in ok:
            good = ok[np.isfinite(ok["ceiling_full"])]
            row["ceiling_median_abs_error"] = (good["ceiling"] - good["ceiling_full"]).abs().median()
            row["ceiling_coverage"] = (
                ((good["ceiling_lo"] <= good["ceiling_full"]) & (good["ceiling_full"] <= good["ceiling_hi"])).mean()
                if len(good) else math.nan
            )  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True, eq=False)
class ForecastBacktest(ResultMixin):
    """Forecasts of every run at several fractions.

    Attributes
    ----------
    runs : DataFrame
        One row per (run, fraction): :meth:`RunForecast.to_frame` plus the full-run
        fit's ceiling and status (``ceiling_full``, ``full_status``).
    table : DataFrame
        Per fraction over runs whose full-run fit is usable: errors and coverage
        (:func:`summarise_forecasts`).
    collapsed : DataFrame
        The same per-fraction summary over the runs whose full-run status is ``late collapse``,
        reported apart: a forecast from the law cannot foresee a fall after the peak, so their
        errors measure the collapse, not the forecast (empty when no run collapsed).
    families : DataFrame
        Per fraction and entropy-trajectory family (and ``auto``), over the same
        runs: median absolute error of the forecast final entropy (in log, i.e.
        relative) and of the final performance it gives through the prefix's law
        (point forecasts).  This is the held-out error, at the real horizon, that
        chooses a family for a kind of run.
    forecasts : dict
        ``fraction -> Forecasts`` (per-point results for plots).
    options : ForecastOptions
    """

    runs: pd.DataFrame
    table: pd.DataFrame
    families: pd.DataFrame
    forecasts: dict
    options: ForecastOptions
    collapsed: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> pd.DataFrame:
        """The per-fraction table."""
        return self.table

    def to_frame(self) -> pd.DataFrame:
        """The per-(run, fraction) rows."""
        return self.runs


def _family_errors(fc: RunForecast, run: RunPoints) -> list[dict]:
    """Point forecasts of the final entropy and performance by every trajectory family."""
    k = fc.n_fit
    rows = []
    for fam in ("auto",) + FAMILIES:
        tr = fit_trajectory(run.step[:k], run.entropy[:k], fam)  # type: ignore[arg-type]
        H = float(tr.predict(fc.horizon)[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            log_err = math.log(max(H, _TINY) / fc.entropy_actual) if fc.entropy_actual > 0 else math.nan
        rows.append(dict(run=fc.run, fraction=fc.fraction, family=fam if fam != "auto" else f"auto ({tr.family})",
                         entropy_log_error=log_err, perf_error=float(np.atleast_1d(fc.law.predict(H))[0]) - fc.final_actual))  # fmt: skip
    return rows


def backtest_forecast(
    data: Dataset,
    fractions: Sequence[float] = BACKTEST_FRACTIONS,
    *,
    options: ForecastOptions | None = None,
    runs: Sequence[str] | None = None,
) -> ForecastBacktest:
    """Forecast every run from each fraction of its points and score the forecasts.

    Parameters
    ----------
    data : Dataset
        Complete runs (the end of each run is the truth).
    fractions : sequence of float
        Prefix fractions, each in (0, 1).
    options : ForecastOptions, optional
        As for :func:`forecast_run`.
    runs : sequence of str, optional
        Restrict to these runs.

    Returns
    -------
    ForecastBacktest
        The summary tables cover the runs whose full-run fit (same law mode) is
        usable: a run that breaks the law (no learning, or a collapse after its
        entropy is spent) has no ceiling to be right about; its rows are in
        ``runs`` with their ``full_status``, and the runs that collapsed late are
        summarised apart in ``collapsed``.

    Raises
    ------
    ValueError
        If a fraction is outside (0, 1) or a run name is unknown.
    """
    opts = options or ForecastOptions()
    bad = [f for f in fractions if not 0 < f < 1]
    if bad or not len(fractions):
        raise ValueError(f"fractions must be values in (0, 1), got {list(fractions)}")
    all_runs = run_points(data.points)
    names = list(all_runs) if runs is None else list(runs)
    unknown = [r for r in names if r not in all_runs]
    if unknown:
        raise ValueError(f"runs names unknown run(s) {unknown}")
    full = {}
    for name in track(names, "whole-run fits"):
        r = all_runs[name]
        full[name] = fit_run(r.entropy, r.perf, r.step, mode=opts.mode, options=FitOptions(perf_range=data.perf_range, r2_min=opts.r2_min))
    usable_runs = {n for n, f in full.items() if f.status.usable}
    frames, fam_rows, by_frac = [], [], {}
    for frac in track(list(fractions), "backtest fractions"):
        fc = forecast_dataset(data, frac, options=opts, runs=names, progress=False)
        by_frac[float(frac)] = fc
        frame = fc.to_frame()
        frame["ceiling_full"] = [full[r].ceiling for r in frame["run"]]
        frame["full_status"] = [full[r].status.value for r in frame["run"]]
        frames.append(frame)
        for f in fc:
            if f.usable and f.run in usable_runs and np.isfinite(f.final_actual):
                fam_rows += _family_errors(f, all_runs[f.run])
    table_runs = pd.concat(frames, ignore_index=True)
    table = summarise_forecasts(table_runs[table_runs["run"].isin(usable_runs)])
    collapsed = table_runs[table_runs["full_status"] == FitStatus.LATE_COLLAPSE.value]
    collapsed_table = summarise_forecasts(collapsed) if len(collapsed) else pd.DataFrame()
    fam = pd.DataFrame(fam_rows)
    if not fam.empty:
        fam["family"] = fam["family"].where(~fam["family"].str.startswith("auto"), "auto")
        fam = (
            fam.groupby(["fraction", "family"], sort=True)
            .agg(n_runs=("run", "size"),
                 entropy_median_abs_log_error=("entropy_log_error", lambda v: float(np.median(np.abs(v)))),
                 entropy_median_log_error=("entropy_log_error", "median"),
                 perf_median_abs_error=("perf_error", lambda v: float(np.median(np.abs(v)))))
            .reset_index()
        )  # fmt: skip
    return ForecastBacktest(table_runs, table, fam, by_frac, opts, collapsed_table)
