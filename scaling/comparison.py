"""Algorithm independence: does the RL algorithm change a model's entropy-performance curve?

Cui et al. (2025) report that the law's coefficients depend on the model and the
data, not on the RL algorithm.  For each model (each ``(task, model)`` when the
data have tasks) this module compares

* **one curve** ``Perf = P0 - beta g_c(S)`` shared by all runs of all algorithms, with
* **one curve per algorithm** ``(P0_j, beta_j)``, all at a common rate ``c``

(the rate estimated jointly under the second model).  At a common c both are linear
models, nested, so the comparison is a regression F-test (statsmodels OLS), made
robust to the autocorrelation of points along a run in one of two ways:

* ``test="bootstrap"`` (default): the F statistic's null distribution from an
  AR(1)-prewhitened moving-block residual bootstrap of every run around the
  one-curve fit, refitting the common c in every replicate (rejects 4.6%, 3.8%
  and 6.0% of the time at the 5% level on simulated runs with AR(1) errors,
  phi = 0, 0.5, 0.8; 500 replications each, analyses/algorithm_compare.py);
* ``test="ar1"`` (fast): a Wald test with the AR(1)-error sandwich covariance
  (:func:`scaling.core.intervals.ar1_sandwich`; runs independent), referred to an F
  distribution (rejects 5.6%, 6.6% and 11.2% at phi = 0, 0.5, 0.8).  The
  Newey-West sandwich is not offered: with 8 parameters from 4 runs it rejected
  25% of the time.

Beside the p-value: the AIC difference of the two models (Gaussian, independent
errors: it overstates the evidence when errors are autocorrelated), and an
equivalence statement, the largest ceiling difference between two algorithms with
a simultaneous 90% interval (the uncertainty of c included; AR(1) sandwich
covariance, 90-91% simultaneous coverage in simulation) so that "the
ceilings differ by at most X points" can be read off.  An algorithm whose ceiling
differs from every other algorithm's is flagged (the entropy-bonus runs,
``grpo_ent``, in ../shared/toyrl are such a control).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS

from scaling.core import intervals, law
from scaling.core.intervals import ar1_sandwich
from scaling.core.panel import fit_panel, panel_jacobian
from scaling.data.load import Dataset
from scaling.fitting.screen import screen_fits
from scaling.fitting.single import FitOptions, RunFit, RunPoints
from scaling.forecasting.forecast import run_points
from scaling.progress import track
from scaling.protocol import ResultMixin
from scaling.textsafe import frame_text

Test = Literal["bootstrap", "ar1"]

SAME = "same curve"
EQUIVALENT = "equivalent"
DIFFERENT = "different"
INCONCLUSIVE = "inconclusive"
NOT_TESTABLE = "not testable"

#: verdicts and what they mean (alpha the test level, margin the equivalence margin).
VERDICTS = {
    SAME: "no detectable difference (p >= alpha) and every ceiling difference lies within +-margin (90% CI)",
    EQUIVALENT: "the curves differ detectably (p < alpha), but every ceiling difference lies within +-margin (90% CI)",
    DIFFERENT: "the curves differ (p < alpha) and the ceilings cannot be shown to agree within +-margin",
    INCONCLUSIVE: "no detectable difference, but the data cannot rule out ceiling differences beyond +-margin",
    NOT_TESTABLE: "fewer than two algorithms with runs the law describes",
}


@dataclass(frozen=True)
class CompareOptions:
    """Settings of the comparison.

    Attributes
    ----------
    test : {"bootstrap", "ar1"}
        How the p-value accounts for autocorrelation (see the module docstring).
    alpha : float
        Level of the test (0.05).
    level : float
        Confidence of the simultaneous equivalence intervals (0.90, i.e. two
        one-sided 5% tests).
    margin : float
        Equivalence margin for ceiling differences, in units of performance
        (0.02 = 2 points of accuracy).
    n_boot : int
        Bootstrap replicates (``test="bootstrap"``).
    seed : int
        Seed of the bootstrap and of the simulated simultaneous critical value.
    r2_min : float
        Runs whose own free fit has R² below this (or another unusable status)
        are left out, with a note.
    """

    test: Test = "bootstrap"
    alpha: float = 0.05
    level: float = 0.90
    margin: float = 0.02
    n_boot: int = 999
    seed: int = 0
    r2_min: float = 0.6

    def __post_init__(self) -> None:
        if self.test not in ("bootstrap", "ar1"):
            raise ValueError(f"test must be 'bootstrap' or 'ar1', got {self.test!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")
        if not self.margin > 0:
            raise ValueError(f"margin must be positive, got {self.margin}")
        if self.n_boot < 99:
            raise ValueError(f"n_boot must be at least 99, got {self.n_boot}")


@dataclass(frozen=True, eq=False)
class ModelComparison(ResultMixin):
    """Comparison of the algorithms' curves for one model.

    Attributes
    ----------
    model : str
        The group's label (``task/model`` when the data have tasks).
    by : str
        The column compared (``algorithm``).
    algorithms : tuple of str
        Levels compared (those with usable runs).
    runs : tuple of str
        Runs used; ``excluded`` maps runs left out to the reason.
    n_points : int
        Points used.
    c : float
        Common rate of the per-algorithm model.
    test : str
        ``bootstrap`` or ``ar1``.
    f_stat, p_value : float
        Test of one curve against one per algorithm; ``p_iid`` is the textbook
        F-test (independent errors) for reference.
    delta_aic : float
        AIC(one per algorithm) - AIC(one curve), at the common c: negative favours
        separate curves.
    ceilings : DataFrame
        Per algorithm: ``n_runs, n_points, ceiling, lo, hi`` (``1 - alpha``
        interval), ``beta``, and the entropy range covered.
    pairs : DataFrame
        Every pair: ``a, b, diff = ceiling(a) - ceiling(b), se, lo, hi``
        (simultaneous ``level`` intervals).
    one_vs_rest : DataFrame
        Per algorithm: its ceiling minus the mean of the others' (``diff, lo, hi`` at
        ``level``), how many others it differs from (``differs_from``, simultaneous
        pairwise intervals excluding zero), and ``flag``: it differs from every other
        algorithm and by more than the margin somewhere.
    max_ceiling_diff, diff_lo, diff_hi : float
        The pair with the largest ceiling difference (oriented to be positive) and
        its simultaneous interval; ``pair`` names it.
    bound : float
        Largest absolute end of all simultaneous intervals: with confidence
        ``level`` every pair of ceilings differs by at most this.
    verdict, explanation : str
        See :data:`VERDICTS`; the explanation gives the numbers in words.
    theta : dict
        ``algorithm -> (P0, beta, c)`` of the per-algorithm curves and ``"all"``
        for the one-curve fit (for plots; see :meth:`curves`).
    cov : array
        Covariance of the per-algorithm ``(P0_j, beta_j, ..., c)``.
    points : DataFrame
        ``run, algorithm, step, entropy, perf`` of the runs used.
    options : CompareOptions
    scale : float
        Display factor of differences (100 for a 0-1 metric: "points").
    perf_range : (float, float) or None
        The metric's range: the bands of :meth:`curves` stay inside it (None: unbounded).
    """

    _plot_kind: ClassVar[str | None] = "algorithm_overlay"

    def _plot_inputs(self) -> tuple[tuple, dict]:
        return (self.points, self.curves()), {"hue": self.by, "level": 1 - self.options.alpha, "title": self.model}

    model: str
    by: str
    algorithms: tuple[str, ...]
    runs: tuple[str, ...]
    excluded: dict
    n_points: int
    c: float
    test: str
    f_stat: float
    p_value: float
    p_iid: float
    delta_aic: float
    ceilings: pd.DataFrame
    pairs: pd.DataFrame
    one_vs_rest: pd.DataFrame
    max_ceiling_diff: float
    diff_lo: float
    diff_hi: float
    pair: str
    bound: float
    verdict: str
    explanation: str
    options: CompareOptions
    theta: dict = field(default_factory=dict)
    cov: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    points: pd.DataFrame = field(default_factory=pd.DataFrame)
    scale: float = 100.0
    perf_range: tuple[float, float] | None = None

    @property
    def n_algorithms(self) -> int:
        return len(self.algorithms)

    @property
    def flagged(self) -> tuple[str, ...]:
        """Algorithms whose curve departs from the others' beyond the margin."""
        if self.one_vs_rest.empty:
            return ()
        return tuple(self.one_vs_rest.loc[self.one_vs_rest["flag"], self.by])

    def curves(self, n: int = 100) -> pd.DataFrame:
        """Per-algorithm fitted curves over each algorithm's entropy range (and 0), with
        pointwise ``1 - alpha`` bands from the joint covariance (inside :attr:`perf_range`, conditioned
        on it: :func:`scaling.core.intervals.bounded_interval`); plus the one-curve fit
        as ``"all"`` (no band).  Columns: ``by, entropy, mean, lo, hi``."""
        frames = []
        if not self.theta:
            return pd.DataFrame(columns=[self.by, "entropy", "mean", "lo", "hi"])
        zcrit = stats.norm.ppf(1 - self.options.alpha / 2)
        betas = np.array([self.theta[alg][1] for alg in self.algorithms])
        for j, alg in enumerate(self.algorithms):
            P0, beta, c = self.theta[alg]
            S_max = float(self.points.loc[self.points[self.by] == alg, "entropy"].max())
            S = np.linspace(0.0, S_max, n)
            mean = P0 - beta * law.g(S, c)
            J = panel_jacobian(S, np.full(n, j), betas, c)
            _, lo, hi = intervals.delta_interval(J, self.cov, mean, zcrit)
            lo, hi, _ = intervals.bounded_interval(mean, lo, hi, self.perf_range, self.options.alpha)
            frames.append(pd.DataFrame({self.by: alg, "entropy": S, "mean": mean, "lo": lo, "hi": hi}))
        P0, beta, c = self.theta["all"]
        S = np.linspace(0.0, float(self.points["entropy"].max()), n)
        mean = P0 - beta * law.g(S, c)
        frames.append(pd.DataFrame({self.by: "all", "entropy": S, "mean": mean, "lo": np.nan, "hi": np.nan}))
        return pd.concat(frames, ignore_index=True)

    def to_frame(self) -> pd.DataFrame:
        """One row: the CLI's columns, then details."""
        row = {
            "model": self.model,
            "n_algorithms": self.n_algorithms,
            "p_value": self.p_value,
            "delta_aic": self.delta_aic,
            "max_ceiling_diff": self.max_ceiling_diff,
            "diff_lo": self.diff_lo,
            "diff_hi": self.diff_hi,
            "verdict": self.verdict,
            "pair": self.pair,
            "bound": self.bound,
            "margin": self.options.margin,
            "test": self.test,
            "f_stat": self.f_stat,
            "p_iid": self.p_iid,
            "c": self.c,
            "n_runs": len(self.runs),
            "n_points": self.n_points,
            "algorithms": ";".join(self.algorithms),
            "flagged": ";".join(self.flagged),
            "excluded": "; ".join(f"{r}: {why}" for r, why in self.excluded.items()),
            "explanation": self.explanation,
        }
        return pd.DataFrame([row])

    def summary(self) -> pd.DataFrame:
        """Per algorithm: the ceiling at the common c with its interval (a DataFrame)."""
        return self.ceilings.copy()

    def summary_text(self) -> str:
        """The explanation, the per-algorithm ceilings and the one-versus-rest table as text."""
        lines = [f"{self.model}: {self.verdict}", f"  {self.explanation}"]
        if not self.ceilings.empty:
            lines.append(_indent(frame_text(self.ceilings.round(4)).to_string(index=False)))
        if not self.one_vs_rest.empty:
            lines.append(_indent(frame_text(self.one_vs_rest.round(4)).to_string(index=False)))
        return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


@dataclass(frozen=True, eq=False)
class Comparison(ResultMixin):
    """Comparisons for every model of a data set.

    Attributes
    ----------
    models : tuple of ModelComparison
    by : str
    group : tuple of str
        Columns defining a model (``task, model`` or ``model``).
    options : CompareOptions
    """

    models: tuple[ModelComparison, ...]
    by: str
    group: tuple[str, ...]
    options: CompareOptions

    def __iter__(self):
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, model: str) -> ModelComparison:
        for m in self.models:
            if m.model == model:
                return m
        raise KeyError(f"no model {model!r}; models are {[m.model for m in self.models]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per model (see :meth:`ModelComparison.to_frame`)."""
        return pd.concat([m.to_frame() for m in self.models], ignore_index=True)

    def ceilings(self) -> pd.DataFrame:
        """Per model and algorithm: ceiling with interval and one-versus-rest difference."""
        frames = []
        for m in self.models:
            if m.ceilings.empty:
                continue
            ovr = m.one_vs_rest.rename(columns={"diff": "diff_vs_rest", "lo": "diff_vs_rest_lo", "hi": "diff_vs_rest_hi"})
            frames.append(m.ceilings.merge(ovr, on=self.by, how="left").assign(model=m.model))
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out[["model"] + [c for c in out.columns if c != "model"]]

    def summary(self) -> pd.DataFrame:
        """One row per model: p-value, largest ceiling difference with its interval, verdict."""
        cols = ["model", "n_algorithms", "p_value", "max_ceiling_diff", "diff_lo", "diff_hi", "verdict"]
        return self.to_frame()[cols].set_index("model")

    def summary_text(self) -> str:
        """Every model's explanation and tables."""
        return "\n\n".join(m.summary_text() for m in self.models)


# --------------------------------------------------------------------------------
# the computation
# --------------------------------------------------------------------------------
def _design(g: np.ndarray, codes: np.ndarray, K: int) -> np.ndarray:
    """Cell-means design: columns ``[D_0, -D_0 g, D_1, -D_1 g, ...]`` (``P0_j``, ``beta_j``)."""
    X = np.zeros((g.size, 2 * K))
    rows = np.arange(g.size)
    X[rows, 2 * codes] = 1.0
    X[rows, 2 * codes + 1] = -g
    return X


def _restriction(K: int) -> np.ndarray:
    """Rows of ``R beta = 0`` saying every group's (P0, beta) equals group 0's."""
    R = np.zeros((2 * (K - 1), 2 * K))
    for j in range(1, K):
        R[2 * (j - 1), [0, 2 * j]] = [-1.0, 1.0]
        R[2 * (j - 1) + 1, [1, 2 * j + 1]] = [-1.0, 1.0]
    return R


@dataclass(frozen=True)
class _Panel:
    """Points of the runs of one model, stacked run by run."""

    S: np.ndarray
    y: np.ndarray
    run: np.ndarray  # run index of each point (contiguous)
    code: np.ndarray  # level index of each point
    levels: tuple[str, ...]
    run_level: np.ndarray  # level index of each run

    def by_level(self, y: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        yy = self.y if y is None else y
        S_list = [self.S[self.code == j] for j in range(len(self.levels))]
        y_list = [yy[..., self.code == j] for j in range(len(self.levels))]
        return S_list, y_list


def _common_c(panel: _Panel, y: np.ndarray | None = None) -> np.ndarray:
    """Rate c shared by per-level curves (one value, or one per replicate row of ``y``)."""
    S_list, y_list = panel.by_level(y)
    bounds = law.c_bounds(panel.S)
    batch = y is not None and y.ndim > 1
    sol = law.varpro_shared(S_list, y_list, bounds, refine="newton" if batch else "brent")
    return np.asarray(sol.c, dtype=float)


def _f_stat(panel: _Panel, Y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """F statistic of one curve vs one per level at rate(s) c, for rows of ``Y`` (B, N).

    Both models are lines in ``g_c(S)``: one for all points, or one per level (the cell-means
    design of :func:`_design`), so each RSS is that of least-squares lines, computed in closed form
    for a chunk of replicates at once (the same residuals as a least-squares solve, to rounding).
    """
    K = len(panel.levels)
    N = panel.S.size
    out = np.empty(Y.shape[0])
    levels = [np.flatnonzero(panel.code == j) for j in range(K)]
    rows = max(1, _BOOT_CELLS // max(N, 1))
    for a in range(0, Y.shape[0], rows):
        G = law.g(panel.S[None, :], c[a : a + rows, None])
        y = Y[a : a + rows]
        rss1 = sum(_line_rss(G[:, idx], y[:, idx]) for idx in levels)
        rss0 = _line_rss(G, y)
        out[a : a + rows] = ((rss0 - rss1) / (2 * (K - 1))) / (rss1 / (N - 2 * K))
    return out


def _line_rss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RSS of the least-squares line of each row of ``y`` on the same row of ``x`` (explicit residuals;
    a row of constant ``x`` is fitted by its mean)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    sxx = np.einsum("bn,bn->b", xc, xc)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, np.einsum("bn,bn->b", xc, yc) / sxx, 0.0)
    r = yc - slope[:, None] * xc
    return np.einsum("bn,bn->b", r, r)


def _linear_test(panel: _Panel, c: float, opts: CompareOptions) -> dict:
    """OLS of both models at rate c: F statistic with iid and AR(1)-sandwich p-values, AIC difference."""
    K = len(panel.levels)
    g = law.g(panel.S, c)
    X1 = _design(g, panel.code, K)
    X0 = np.column_stack([np.ones_like(g), -g])
    alt = OLS(panel.y, X1).fit()
    null = OLS(panel.y, X0).fit()
    f_iid, p_iid, _ = alt.compare_f_test(null)
    V = ar1_sandwich(X1, alt.resid, panel.run, k=2)
    wald = alt.wald_test(_restriction(K), cov_p=V, use_f=True, scalar=True)
    return dict(f_iid=float(f_iid), p_iid=float(p_iid), f_ar1=float(wald.statistic), p_ar1=float(wald.pvalue),
                delta_aic=float(alt.aic - null.aic))  # fmt: skip


def _bootstrap_p(panel: _Panel, f_obs: float, opts: CompareOptions) -> float:
    """Block-bootstrap p-value of the F statistic under one common curve (c refitted per replicate).

    BLAS runs on one thread here: the replicates are many small products, which threads only slow.
    """
    with law.single_threaded_blas():
        return _bootstrap_p_value(panel, f_obs, opts)


def _bootstrap_p_value(panel: _Panel, f_obs: float, opts: CompareOptions) -> float:
    rng = np.random.default_rng(opts.seed)
    sol = law.varpro(panel.S, panel.y)
    P0, beta, c0 = float(sol.P0), float(sol.beta), float(sol.c)
    fitted = P0 - beta * law.g(panel.S, c0)
    resid = panel.y - fitted
    draws = []  # every run's draws first, in order (the random stream), kept as block starts
    for r in np.unique(panel.run):
        idx = np.flatnonzero(panel.run == r)
        J = intervals.jacobian(panel.S[idx], beta, c0)
        L = intervals.default_block_length(idx.size)
        draws.append((idx, intervals.block_bootstrap_draws(fitted[idx], resid[idx], J, L, opts.n_boot, rng)))
    # then the replicates in chunks of rows, each made, refitted (common c) and tested on its own: a row's
    # values do not depend on the others, and memory stays bounded for any number of runs
    rows = max(1, _BOOT_CELLS // max(panel.S.size, 1))
    f_b = np.empty(opts.n_boot)
    for a in range(0, opts.n_boot, rows):
        part = slice(a, min(opts.n_boot, a + rows))
        Y = np.empty((part.stop - a, panel.S.size))
        for idx, d in draws:
            Y[:, idx] = d.responses(part)
        f_b[part] = _f_stat(panel, Y, np.atleast_1d(_common_c(panel, Y)))
    return float((1 + np.sum(f_b >= f_obs)) / (opts.n_boot + 1))


#: most values (replicates x points) in one batch of the comparison's bootstrap fits of c.
_BOOT_CELLS = 2_000_000


def _simultaneous_critical(corr: np.ndarray, level: float, rng: np.random.Generator, n_sim: int = 20000) -> float:
    """Critical value q with P(max |Z_i| <= q) = level for Z ~ N(0, corr) (Tukey-style, simulated)."""
    m = corr.shape[0]
    if m == 1:
        return float(stats.norm.ppf(0.5 + level / 2))
    Z = rng.multivariate_normal(np.zeros(m), corr, size=n_sim, method="eigh")
    return float(np.quantile(np.abs(Z).max(axis=1), level))


def _pairs(levels: Sequence[str], P0: np.ndarray, covP: np.ndarray, level: float, rng: np.random.Generator, df: int) -> tuple[pd.DataFrame, float]:
    """Pairwise ceiling differences with simultaneous intervals; returns (table, critical value)."""
    idx = list(combinations(range(len(levels)), 2))
    D = np.zeros((len(idx), len(levels)))
    for r, (i, j) in enumerate(idx):
        D[r, i], D[r, j] = 1.0, -1.0
    diff = D @ P0
    V = D @ covP @ D.T
    se = np.sqrt(np.maximum(np.diag(V), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = V / np.outer(se, se)
    corr = np.nan_to_num(corr) + np.eye(len(idx)) * 1e-12
    q = _simultaneous_critical(corr, level, rng)
    q *= stats.t.ppf(0.5 + level / 2, df) / stats.norm.ppf(0.5 + level / 2)  # small-sample t correction
    table = pd.DataFrame({"a": [levels[i] for i, _ in idx], "b": [levels[j] for _, j in idx],
                          "diff": diff, "se": se, "lo": diff - q * se, "hi": diff + q * se})  # fmt: skip
    return table, q


def _one_vs_rest(levels: Sequence[str], P0: np.ndarray, covP: np.ndarray, pairs: pd.DataFrame, opts: CompareOptions, by: str) -> pd.DataFrame:
    """Each level's ceiling against the mean ceiling of the others, and whether it departs from all of them.

    ``diff, lo, hi``: its ceiling minus the others' mean, with a ``level`` interval.
    ``differs_from``: how many other levels its simultaneous pairwise interval
    excludes.  ``flag``: it differs from every other level and by more than the
    margin somewhere (an odd one out, not one of two camps).
    """
    K = len(levels)
    z = stats.norm.ppf(0.5 + opts.level / 2)
    rows = []
    for j, lev in enumerate(levels):
        w = np.full(K, -1.0 / (K - 1))
        w[j] = 1.0
        diff = float(w @ P0)
        se = math.sqrt(max(float(w @ covP @ w), 0.0))
        mine = pairs[(pairs["a"] == lev) | (pairs["b"] == lev)]
        excl = (mine["lo"] > 0) | (mine["hi"] < 0)
        beyond = bool(np.max(np.abs(mine[["lo", "hi"]].to_numpy())) > opts.margin)
        rows.append({by: lev, "diff": diff, "lo": diff - z * se, "hi": diff + z * se, "differs_from": int(excl.sum()),
                     "flag": bool(excl.all() and beyond and K > 2)})  # fmt: skip
    return pd.DataFrame(rows)


def compare_model(
    runs: Sequence[RunPoints],
    levels: Sequence[str],
    *,
    model: str = "model",
    by: str = "algorithm",
    options: CompareOptions | None = None,
    perf_range: tuple[float, float] | None = (0.0, 1.0),
    fits: Mapping[str, RunFit] | None = None,
) -> ModelComparison:
    """Compare the curves of the levels (algorithms) of one model.

    Parameters
    ----------
    runs : sequence of RunPoints
        The model's runs.
    levels : sequence of str
        The algorithm of each run.
    model : str
        Label of the model.
    by : str
        Name of what is compared (for tables).
    options : CompareOptions, optional
        Test, levels, margin, bootstrap settings.
    perf_range : (float, float) or None
        The metric's range; differences are shown in points (x100) for a 0-1 metric.
    fits : mapping of run id to RunFit, optional
        Free HAC fits made already (:func:`scaling.fitting.dataset.fit_dataset`): a run
        found here is screened from its fit (:func:`scaling.fitting.screen.rescreen`,
        the same status as a refit) instead of being fitted again.

    Returns
    -------
    ModelComparison
        Never raises on bad runs: a model with fewer than two usable levels gets
        the verdict ``not testable`` with the reason.

    Raises
    ------
    ValueError
        If ``runs`` and ``levels`` differ in length.
    """
    opts = options or CompareOptions()
    if len(runs) != len(levels):
        raise ValueError(f"runs and levels must have one length, got {len(runs)} and {len(levels)}")
    scale = 100.0 if perf_range == (0.0, 1.0) else 1.0
    excluded = {}
    keep: list[tuple[RunPoints, str]] = []
    screened = screen_fits(runs, FitOptions(perf_range=None, r2_min=opts.r2_min), fits)
    for r, lev, fit in zip(runs, levels, screened):
        if fit.status.usable:
            keep.append((r, str(lev)))
        else:
            excluded[r.ident["run"]] = f"{fit.status.value} ({fit.message})"
    lev_order = tuple(dict.fromkeys(lev for _, lev in keep))
    empty = pd.DataFrame()
    if len(lev_order) < 2:
        why = (f"only {by} {lev_order[0]} has runs the law describes" if lev_order
               else f"no {by} has runs the law describes")  # fmt: skip
        if excluded:
            why += "; left out: " + _left_out(excluded)
        return ModelComparison(model, by, lev_order, tuple(r.ident["run"] for r, _ in keep), excluded, 0, math.nan, opts.test,
                               math.nan, math.nan, math.nan, math.nan, empty, empty, empty, math.nan, math.nan, math.nan,
                               "", math.nan, NOT_TESTABLE, f"not testable: {why}", opts, scale=scale, perf_range=perf_range)  # fmt: skip
    panel, points = _stack(keep, lev_order, by)
    K = len(lev_order)
    joint = fit_panel(panel.S, panel.y, panel.code, blocks=panel.run, cov_type="ar1")
    c, theta, cov = joint.c, joint.theta[:-1], joint.cov
    lin = _linear_test(panel, c, opts)
    f_stat = lin["f_ar1"] if opts.test == "ar1" else lin["f_iid"]
    p = lin["p_ar1"] if opts.test == "ar1" else _bootstrap_p(panel, lin["f_iid"], opts)
    rng = np.random.default_rng([opts.seed, 7])
    df = panel.S.size - 2 * K - 1
    P0 = theta[0 : 2 * K : 2]
    covP = cov[0 : 2 * K : 2, 0 : 2 * K : 2]
    pairs, _ = _pairs(lev_order, P0, covP, opts.level, rng, df)
    bound = float(np.max(np.abs(pairs[["lo", "hi"]].to_numpy())))
    top = pairs.iloc[int(np.argmax(np.abs(pairs["diff"].to_numpy())))]
    if top["diff"] < 0:  # orient the largest difference to be positive
        a, b, d, lo, hi = top["b"], top["a"], -top["diff"], -top["hi"], -top["lo"]
    else:
        a, b, d, lo, hi = top["a"], top["b"], top["diff"], top["lo"], top["hi"]
    ceil = _ceilings(panel, theta, cov, lev_order, by, opts, df)
    ovr = _one_vs_rest(lev_order, P0, covP, pairs, opts, by)
    verdict = _verdict(p, bound, opts)
    sol_all = law.varpro(panel.S, panel.y)
    theta_d = {lev: (float(theta[2 * j]), float(theta[2 * j + 1]), c) for j, lev in enumerate(lev_order)}
    theta_d["all"] = (float(sol_all.P0), float(sol_all.beta), float(sol_all.c))
    expl = _explain(verdict, p, lin, opts, a, b, d, lo, hi, bound, scale, ovr, by, excluded)
    return ModelComparison(
        model=model, by=by, algorithms=lev_order, runs=tuple(r.ident["run"] for r, _ in keep), excluded=excluded,
        n_points=int(panel.S.size), c=c, test=opts.test, f_stat=f_stat, p_value=p, p_iid=lin["p_iid"],
        delta_aic=lin["delta_aic"], ceilings=ceil, pairs=pairs, one_vs_rest=ovr, max_ceiling_diff=float(d),
        diff_lo=float(lo), diff_hi=float(hi), pair=f"{a} - {b}", bound=bound, verdict=verdict, explanation=expl,
        options=opts, theta=theta_d, cov=cov, points=points, scale=scale, perf_range=perf_range,
    )  # fmt: skip


def _stack(keep: list[tuple[RunPoints, str]], levels: tuple[str, ...], by: str) -> tuple[_Panel, pd.DataFrame]:
    S, y, run, code, run_level, frames = [], [], [], [], [], []
    for i, (r, lev) in enumerate(keep):
        j = levels.index(lev)
        S.append(r.entropy)
        y.append(r.perf)
        run.append(np.full(r.entropy.size, i))
        code.append(np.full(r.entropy.size, j))
        run_level.append(j)
        frames.append(pd.DataFrame({"run": r.ident["run"], by: lev, "step": r.step, "entropy": r.entropy, "perf": r.perf}))
    panel = _Panel(np.concatenate(S), np.concatenate(y), np.concatenate(run), np.concatenate(code), levels, np.asarray(run_level))
    return panel, pd.concat(frames, ignore_index=True)


def _ceilings(panel: _Panel, theta, cov, levels, by: str, opts: CompareOptions, df: int) -> pd.DataFrame:
    t = stats.t.ppf(1 - opts.alpha / 2, df)
    rows = []
    for j, lev in enumerate(levels):
        sel = panel.code == j
        se = math.sqrt(max(cov[2 * j, 2 * j], 0.0))
        rows.append({by: lev, "n_runs": int(np.sum(panel.run_level == j)), "n_points": int(sel.sum()),
                     "ceiling": theta[2 * j], "lo": theta[2 * j] - t * se, "hi": theta[2 * j] + t * se,
                     "beta": theta[2 * j + 1], "entropy_min": float(panel.S[sel].min()), "entropy_max": float(panel.S[sel].max())})  # fmt: skip
    return pd.DataFrame(rows)


def _verdict(p: float, bound: float, opts: CompareOptions) -> str:
    within = bound <= opts.margin
    if p >= opts.alpha:
        return SAME if within else INCONCLUSIVE
    return EQUIVALENT if within else DIFFERENT


def _explain(verdict, p, lin, opts, a, b, d, lo, hi, bound, scale, ovr, by, excluded) -> str:
    unit = "points" if scale == 100.0 else "units"
    lvl = f"{opts.level:.0%}"
    test = "F-test (AR(1) sandwich)" if opts.test == "ar1" else "F-test (block bootstrap)"
    aic = lin["delta_aic"]
    aic_txt = f"AIC prefers one curve per {by} by {-aic:.1f}" if aic < 0 else f"AIC prefers one curve by {aic:.1f}"
    p_txt = _fmt_p(p)
    if opts.test == "bootstrap" and np.isfinite(p):  # Monte Carlo error of a bootstrap p-value
        p_txt += f" (+-{math.sqrt(max(p * (1 - p), 1e-12) / opts.n_boot):.2g}, {opts.n_boot} replicates)"
    text = (
        f"ceilings differ by at most {bound * scale:.2f} {unit} ({lvl} simultaneous CI; largest: {a} - {b} = "
        f"{d * scale:+.2f} [{lo * scale:+.2f}, {hi * scale:+.2f}]); {test} p = {p_txt}; {aic_txt} "
        f"(iid errors); margin {opts.margin * scale:g} {unit}: {verdict}"
    )
    if not ovr.empty and ovr["flag"].any():
        parts = [f"{row[by]} ({row['diff'] * scale:+.2f} {unit} vs the others' mean)" for _, row in ovr[ovr["flag"]].iterrows()]
        text += "; differs from every other " + by + ": " + ", ".join(parts)
    if excluded:
        text += "; left out: " + _left_out(excluded)
    return text


def _left_out(excluded: dict) -> str:
    """``run (status)`` for each run left out."""
    return "; ".join(f"{run} ({why.split(' (')[0]})" for run, why in excluded.items())


def _fmt_p(p: float) -> str:
    return "nan" if not np.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "< 1e-4")


def _group_columns(points: pd.DataFrame, group: Sequence[str] | None) -> list[str]:
    if group:
        missing = [g for g in group if g not in points.columns]
        if missing:
            raise ValueError(f"group names unknown column(s) {missing}; use any of {list(points.columns)}")
        return list(group)
    has_task = "task" in points.columns and points["task"].fillna("").astype(str).str.len().gt(0).any()
    return ["task", "model"] if has_task else ["model"]


def compare_algorithms(
    data: Dataset,
    by: str = "algorithm",
    *,
    group: Sequence[str] | None = None,
    options: CompareOptions | None = None,
    fits: Mapping[str, RunFit] | None = None,
) -> Comparison:
    """Test, for every model, whether the algorithms share one entropy-performance curve.

    Parameters
    ----------
    data : Dataset
        Runs of several algorithms per model.
    by : str
        Column whose levels are compared (default ``algorithm``).
    group : sequence of str, optional
        Columns that define a model; default ``task, model`` when the data have a
        task column (model names repeat across tasks), else ``model``.
    options : CompareOptions, optional
    fits : mapping of run id to RunFit, optional
        Free HAC fits of the runs made already (e.g. ``{f.run: f for f in fit_dataset(data)}``);
        the runs are screened from them instead of being fitted again (see :func:`compare_model`).

    Returns
    -------
    Comparison
        One :class:`ModelComparison` per model, in the data's order.

    Raises
    ------
    ValueError
        If ``by`` or ``group`` names a column the data do not have.
    """
    opts = options or CompareOptions()
    pts = data.points
    if by not in pts.columns:
        raise ValueError(f"by names unknown column {by!r}; use any of {list(pts.columns)}")
    cols = _group_columns(pts, group)
    runs = run_points(pts)
    out = []
    groups = list(pts.groupby(cols, sort=False))
    for key, grp in track(groups, f"comparing {by}s per model"):
        key = key if isinstance(key, tuple) else (key,)
        label = "/".join(str(k) for k in key)
        names = list(dict.fromkeys(grp["run"]))
        levels = [str(grp.loc[grp["run"] == n, by].iloc[0]) for n in names]
        out.append(compare_model([runs[n] for n in names], levels, model=label, by=by, options=opts, perf_range=data.perf_range, fits=fits))
    return Comparison(tuple(out), by, tuple(cols), opts)
