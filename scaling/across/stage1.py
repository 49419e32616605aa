"""Stage 1 across model sizes: per-model ``(P0, beta)`` at one rate ``c`` shared by all models.

Coefficients of different models are only comparable at a common ``c``
(``DESIGN.md`` section 6).  :func:`fit_stage1` pools the usable runs of each model
(they share one curve, one ``(P0, beta)`` per model) and fits one ``c`` across all
models of a task, or fixes it (``c = 1`` is the paper's form).  The covariance of
all ``2K + 1`` parameters is the panel HAC sandwich of the joint fit (runs are
independent time series), so the models' errors are correlated through the shared
``c``, and stage 2 uses that full covariance.

:func:`screen_runs` decides which runs may be pooled: a run whose own free fit is
not usable (poor fit, entropy not decreasing, ``c`` at a bound, too few points,
invalid data) is left out and reported with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from scaling.core import intervals, law, panel
from scaling.fitting.result import quantity_gradient, quantity_value
from scaling.fitting.screen import screen_fits
from scaling.fitting.single import FitOptions, RunFit, RunPoints, run_points

#: quantities of a model that stage 2 can regress on log(params).
QUANTITIES = ("ceiling", "a", "b", "beta")


@dataclass(frozen=True, eq=False)
class Stage1:
    """Per-model estimates at a shared ``c``, pooled over each model's usable runs.

    Attributes
    ----------
    task : str
        The task (model family) these models belong to ("" when the data have none).
    models : tuple of str
        Model names, sorted by parameter count.
    params : array (K,)
        Parameter counts.
    theta : array (2K + 1,)
        ``P0_1, beta_1, ..., P0_K, beta_K, c``.
    cov : array (2K + 1, 2K + 1)
        Panel HAC covariance of ``theta`` (zero row and column for a fixed ``c``).
    fixed_c : bool
        Whether ``c`` was fixed instead of estimated.
    runs : tuple of tuple of str
        The runs pooled for each model.
    n_points : array (K,)
        Validation points pooled for each model.
    r2 : array (K,)
        R^2 of each model's pooled curve.
    run_sd : array (K,)
        Standard deviation of the per-run ceilings at the shared ``c`` (NaN with one run):
        how much the runs pooled into a model disagree.
    bounds : (float, float)
        Search bounds of ``c``.
    c_at_bound : bool
        ``c`` sits at a search bound (the estimates are then not usable).
    hac_lags : int
        Bartlett truncation lag of the HAC covariance.
    pools : tuple of tuple of RunPoints
        The runs' points (for the bootstrap and backtests).
    replicates : array (B, 2K + 1) or None
        Two-stage bootstrap replicates of ``theta`` (moving blocks within runs, ``c`` refitted).
    n_left_out : array (K,) or None
        Runs of each model left out of the pooling because their own fit is not usable
        (None when the fit was given no screening table; see :func:`screening_counts`).
    left_out : tuple of str or None
        Why, per model: counts per status such as ``"1 late collapse"`` ("" when none).
    """

    task: str
    models: tuple[str, ...]
    params: np.ndarray
    theta: np.ndarray
    cov: np.ndarray
    fixed_c: bool
    runs: tuple[tuple[str, ...], ...]
    n_points: np.ndarray
    r2: np.ndarray
    run_sd: np.ndarray
    bounds: tuple[float, float]
    c_at_bound: bool
    hac_lags: int
    pools: tuple[tuple[RunPoints, ...], ...]
    replicates: np.ndarray | None = None
    n_left_out: np.ndarray | None = None
    left_out: tuple[str, ...] | None = None

    @property
    def K(self) -> int:
        """Number of models."""
        return len(self.models)

    @property
    def c(self) -> float:
        """The shared rate c."""
        return float(self.theta[-1])

    @property
    def c_se(self) -> float:
        """Standard error of c (0 when fixed)."""
        return float(math.sqrt(max(self.cov[-1, -1], 0.0)))

    @property
    def n_runs(self) -> np.ndarray:
        """Runs pooled per model."""
        return np.array([len(r) for r in self.runs])

    def estimate(self, name: str = "ceiling") -> tuple[np.ndarray, np.ndarray]:
        """A quantity of every model with its covariance across models.

        Parameters
        ----------
        name : {"ceiling", "a", "b", "beta"}
            ``ceiling = P0 = a - b``, ``beta = b c``, ``a = P0 + beta / c``, ``b = beta / c``.

        Returns
        -------
        values : array (K,)
        cov : array (K, K)
            Delta-method covariance from :attr:`cov`; off-diagonal terms come from the shared c.
        """
        G = _model_gradient(name, self.theta)
        return _model_quantity(name, self.theta[None, :])[0], G @ self.cov @ G.T

    def estimate_given_c(self, name: str = "ceiling") -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """A quantity of every model split into its error given ``c`` and the part due to ``c``.

        Returns
        -------
        values : array (K,)
        V : array (K, K)
            Covariance given ``c`` (Schur complement of ``c`` in the joint covariance).
        d : array (K,)
            Sensitivity of each value to the error of ``c`` (``Cov(value, c) / Var(c)``).
        var_c : float
            Variance of ``c`` (0 when fixed; then ``V`` is the full covariance and ``d`` is 0).
        """
        G = _model_gradient(name, self.theta)
        values = _model_quantity(name, self.theta[None, :])[0]
        full = G @ self.cov @ G.T
        var_c = float(self.cov[-1, -1])
        if self.fixed_c or not var_c > 0:
            return values, full, np.zeros(self.K), 0.0
        g = G @ self.cov[:, -1]
        return values, full - np.outer(g, g) / var_c, g / var_c, var_c

    def replicate_values(self, name: str = "ceiling") -> np.ndarray | None:
        """Bootstrap replicates of a quantity, shape (B, K), or None without a bootstrap."""
        if self.replicates is None:
            return None
        return _model_quantity(name, self.replicates)

    def to_frame(self, level: float = 0.9) -> pd.DataFrame:
        """One row per model: size, runs pooled, ceiling, a, b with ``level`` intervals (normal), R^2."""
        z = stats.norm.ppf(0.5 + level / 2)
        out = pd.DataFrame(
            {
                "task": self.task,
                "model": list(self.models),
                "params": self.params,
                "n_runs": self.n_runs,
                "n_points": self.n_points,
            }
        )
        for q in ("ceiling", "a", "b"):
            v, cov = self.estimate(q)
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
            out[q] = v
            out[f"{q}_se"] = se
            out[f"{q}_lo"] = v - z * se
            out[f"{q}_hi"] = v + z * se
        out["c"] = self.c
        out["r2"] = self.r2
        out["run_sd"] = self.run_sd
        out["runs"] = [";".join(r) for r in self.runs]
        out["n_runs_pooled"] = self.n_runs
        if self.n_left_out is not None:
            out["n_runs_left_out"] = self.n_left_out
            out["left_out"] = list(self.left_out)
            out["unusable_share"] = self.n_left_out / (self.n_runs + self.n_left_out)
        return out

    def with_screening(self, runs: pd.DataFrame) -> Stage1:
        """A copy recording, per model, the runs left out of the pooling and why.

        Parameters
        ----------
        runs : DataFrame
            The screening table of :func:`screen_runs` (this task's rows, or all of them
            when the models' names are unique).

        Returns
        -------
        Stage1
            With :attr:`n_left_out` and :attr:`left_out` set.
        """
        counts = screening_counts(runs).set_index("model")
        n = np.array([int(counts["n_runs_left_out"].get(m, 0)) for m in self.models])
        why = tuple(str(counts["left_out"].get(m, "")) for m in self.models)
        return replace(self, n_left_out=n, left_out=why)


def _model_quantity(name: str, th: np.ndarray) -> np.ndarray:
    """Quantity ``name`` of every model for rows of the panel's theta (B, 2K + 1), shape (B, K).

    The panel holds ``(P0_k, beta_k)`` per model and one shared c; each model's quantity is
    :func:`scaling.fitting.result.quantity_value` of its ``(P0_k, beta_k, c)``.
    """
    if name not in QUANTITIES:
        raise ValueError(f"quantity must be one of {QUANTITIES}, got {name!r}")
    B, K = th.shape[0], (th.shape[1] - 1) // 2
    triplets = np.column_stack([th[:, 0:-1:2].ravel(), th[:, 1:-1:2].ravel(), np.repeat(th[:, -1], K)])
    return quantity_value(name, triplets).reshape(B, K)


def _model_gradient(name: str, theta: np.ndarray) -> np.ndarray:
    """Jacobian (K, 2K + 1) of a quantity of every model with respect to the panel's theta."""
    K = (theta.size - 1) // 2
    triplets = np.column_stack([theta[0:-1:2], theta[1:-1:2], np.full(K, theta[-1])])
    g = quantity_gradient(name, triplets)  # (K, 3): d/dP0_k, d/dbeta_k, d/dc
    G = np.zeros((K, theta.size))
    G[np.arange(K), 2 * np.arange(K)] = g[:, 0]
    G[np.arange(K), 2 * np.arange(K) + 1] = g[:, 1]
    G[:, -1] = g[:, 2]
    return G


# --------------------------------------------------------------------------------
# screening: which runs may be pooled
# --------------------------------------------------------------------------------
def _points_of(data) -> tuple[pd.DataFrame, dict, tuple[float, float] | None]:
    """(points frame, invalid runs, metric range) of a Dataset or a points frame."""
    if isinstance(data, pd.DataFrame):
        need = {"run", "model", "params", "step", "entropy", "perf"}
        missing = sorted(need - set(data.columns))
        if missing:
            raise ValueError(f"data lacks column(s) {missing}; columns are {list(data.columns)}")
        pts = data.copy()
        for col, default in (("algorithm", ""), ("seed", ""), ("task", "")):
            if col not in pts.columns:
                pts[col] = default
        return pts, {}, (0.0, 1.0)
    return data.points, dict(data.invalid), data.perf_range


def screen_runs(
    data,
    *,
    r2_min: float = 0.6,
    algorithms: Sequence[str] | None = None,
    fits: Mapping[str, RunFit] | None = None,
) -> tuple[dict[str, RunPoints], pd.DataFrame]:
    """Fit every run freely and decide which runs may be pooled into their model.

    Parameters
    ----------
    data : Dataset or DataFrame
        A :class:`scaling.data.load.Dataset`, or a points frame with columns ``run, model,
        params, step, entropy, perf`` (``algorithm, seed, task`` optional).
    r2_min : float
        R^2 below which a run's own fit is ``poor fit`` (not usable).
    algorithms : list of str, optional
        Keep only runs of these algorithms (e.g. leave out runs with an entropy bonus).
    fits : mapping of run id to RunFit, optional
        Fits made already (:func:`scaling.fitting.dataset.fit_dataset`, mode ``free``,
        HAC intervals): a run found here is screened from its fit
        (:func:`scaling.fitting.screen.rescreen`, same status as a refit) instead of
        being fitted again; other runs are fitted.

    Returns
    -------
    usable : dict
        Run id -> :class:`~scaling.fitting.single.RunPoints` of the runs to pool.
    runs : DataFrame
        One row per run: ``task, run, model, params, algorithm, seed, status, used, reason``.
    """
    points, invalid, prange = _points_of(data)
    opts = FitOptions(ci="hac", perf_range=prange, r2_min=r2_min)
    keep_alg = None if algorithms is None else {str(a) for a in algorithms}
    usable: dict[str, RunPoints] = {}
    rows = []
    candidates: list[RunPoints] = []
    for run, rp in run_points(points).items():
        ident = {k: rp.ident[k] for k in ("run", "model", "params", "algorithm", "seed")}
        params = ident["params"]
        row = dict(task=rp.ident["task"], **ident)
        if keep_alg is not None and ident["algorithm"] not in keep_alg:
            rows.append(dict(row, status="not selected", used=False, reason=f"algorithm {ident['algorithm']!r} not in {sorted(keep_alg)}"))
            continue
        if not (np.isfinite(params) and params > 0):
            rows.append(dict(row, status="no params", used=False, reason="no positive parameter count"))
            continue
        rows.append(row)  # completed below, from its fit
        candidates.append(rp)
    by_run = {str(rp.ident["run"]): (rp, fit) for rp, fit in zip(candidates, screen_fits(candidates, opts, fits))}
    for row in rows:
        if "status" in row:
            continue
        rp, fit = by_run[str(row["run"])]
        ok = fit.status.usable
        row.update(status=fit.status.value, used=ok, reason="" if ok else fit.message)
        if ok:
            usable[str(row["run"])] = rp
    for run, why in invalid.items():
        rows.append(dict(task="", run=run, model="", params=math.nan, algorithm="", seed="", status="invalid data", used=False, reason=why))
    return usable, pd.DataFrame(rows, columns=["task", "run", "model", "params", "algorithm", "seed", "status", "used", "reason"])


#: statuses of runs the user left out (not a finding about the run): never counted as unusable.
_NOT_COUNTED = ("not selected",)


def screening_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task and model: runs pooled, runs left out and why.

    Parameters
    ----------
    runs : DataFrame
        The screening table of :func:`screen_runs` (``task, run, model, params, status, used``).

    Returns
    -------
    DataFrame
        ``task, model, params, n_runs_pooled, n_runs_left_out, left_out, unusable_share``,
        one row per model with a name and a parameter count, sorted by task and size.
        ``left_out`` counts the left-out runs per status (``"1 late collapse"``,
        ``"2 poor fit, 1 late collapse"``; "" when none), ``unusable_share`` is
        ``n_runs_left_out / (n_runs_pooled + n_runs_left_out)``.  Runs the user left out
        (another algorithm than asked for) are not counted: they say nothing about the size.
        A model whose every run was left out has a row (0 pooled, share 1).
    """
    cols = ["task", "model", "params", "n_runs_pooled", "n_runs_left_out", "left_out", "unusable_share"]
    r = runs[(runs["model"].astype(str) != "") & ~runs["status"].isin(_NOT_COUNTED)]
    r = r[np.isfinite(pd.to_numeric(r["params"], errors="coerce"))]
    rows = []
    for (task, model), g in r.groupby(["task", "model"], sort=False):
        out = g[~g["used"].astype(bool)]
        why = ", ".join(f"{n} {s}" for s, n in out["status"].value_counts().items())
        n_in, n_out = int(g["used"].astype(bool).sum()), len(out)
        rows.append((str(task), str(model), float(g["params"].iloc[0]), n_in, n_out, why, n_out / (n_in + n_out)))
    frame = pd.DataFrame(rows, columns=cols)
    return frame.sort_values(["task", "params", "model"], kind="stable").reset_index(drop=True)


def unusable_share_at(counts: pd.DataFrame, params) -> tuple[np.ndarray, list[str]]:
    """Share of unusable runs expected at new sizes, from the trained sizes nearest to each.

    Parameters
    ----------
    counts : DataFrame
        One task's rows of :func:`screening_counts`.
    params : array_like
        Parameter counts of the new sizes.

    Returns
    -------
    share : array
        At or above the largest trained size, the share observed at the largest; at or
        below the smallest, at the smallest; between two trained sizes, the shares of the
        two neighbours interpolated linearly in log10(params).  Models of one size are
        counted together.  NaN when no size has a counted run.
    basis : list of str
        The trained model(s) each share comes from.

    Notes
    -----
    A run left out (collapse, poor fit, ...) is a finding about its size (``DESIGN.md``
    section 10): a prediction for a new size inherits the rate observed near it.
    """
    N = np.atleast_1d(np.asarray(params, dtype=float))
    if counts.empty:
        return np.full(N.shape, np.nan), [""] * N.size
    by = counts.groupby("params", sort=True).agg(
        n_in=("n_runs_pooled", "sum"), n_out=("n_runs_left_out", "sum"), names=("model", lambda m: "+".join(m))
    )
    x = np.log10(by.index.to_numpy(dtype=float))
    share = (by["n_out"] / (by["n_in"] + by["n_out"])).to_numpy(dtype=float)
    names = by["names"].tolist()
    L = np.log10(N)
    out = np.interp(L, x, share)
    basis = []
    for v in L:
        j = int(np.searchsorted(x, v))
        if j >= x.size:
            basis.append(f"{names[-1]} (largest trained size)")
        elif j == 0 or x[j] == v:
            basis.append(names[j] + (" (smallest trained size)" if j == 0 and v < x[0] else ""))
        else:
            basis.append(f"{names[j - 1]} and {names[j]} (interpolated in log10 params)")
    return out, basis


def pools_by_task(usable: dict[str, RunPoints], runs: pd.DataFrame) -> dict[str, list[tuple[str, float, list[RunPoints]]]]:
    """Group usable runs by task, then by model: ``task -> [(model, params, runs), ...]`` sorted by size.

    Raises
    ------
    ValueError
        If one model name has several parameter counts within a task.
    """
    used = runs[runs["used"]]
    out: dict[str, list[tuple[str, float, list[RunPoints]]]] = {}
    for task, tgrp in used.groupby("task", sort=False):
        models = []
        for model, mgrp in tgrp.groupby("model", sort=False):
            sizes = mgrp["params"].unique()
            if sizes.size > 1:
                raise ValueError(f"task {task!r}: model {model!r} has several parameter counts {sorted(sizes)}; give each size its own model name")
            models.append((str(model), float(sizes[0]), [usable[r] for r in mgrp["run"]]))
        out[str(task)] = sorted(models, key=lambda m: m[1])
    return out


def pool_points(points: pd.DataFrame) -> dict[str, list[tuple[str, float, list[RunPoints]]]]:
    """Every run of a points frame pooled by task and model, without screening.

    For simulated families whose runs are all healthy (real data go through
    :func:`screen_runs` and :func:`pools_by_task`).  Returns ``task -> [(model, params, runs)]``.
    """
    pts, _, _ = _points_of(points)
    usable = run_points(pts)
    runs = pts.groupby("run", sort=False).first().reset_index()[["task", "run", "model", "params"]].assign(used=True)
    runs["task"] = runs["task"].astype(str)
    return pools_by_task(usable, runs)


# --------------------------------------------------------------------------------
# the pooled joint fit
# --------------------------------------------------------------------------------
def fit_stage1(
    models: Sequence[tuple[str, float, Sequence[RunPoints]]],
    *,
    c: float | None = None,
    task: str = "",
    maxlags: int | None = None,
) -> Stage1:
    """One ``c`` across models, one ``(P0, beta)`` per model pooling its runs.

    Parameters
    ----------
    models : list of (model, params, runs)
        Each model's name, parameter count and usable runs (at least one).
    c : float, optional
        Fix the shared rate (1 is the paper's form); default: estimate it by variable
        projection over all models' points.
    task : str
        Label recorded on the result.
    maxlags : int, optional
        HAC lag; default Newey-West for the median run length.

    Returns
    -------
    Stage1

    Raises
    ------
    ValueError
        If ``models`` is empty or a model has no run.
    """
    if not models:
        raise ValueError("models is empty: no model with a usable run")
    for name, _, runs in models:
        if not runs:
            raise ValueError(f"model {name!r} has no run to pool")
    pools = tuple(tuple(runs) for _, _, runs in models)
    all_runs = [r for runs in pools for r in runs]
    sizes = [r.entropy.size for r in all_runs]
    codes = np.repeat(np.arange(len(pools)), [sum(r.entropy.size for r in runs) for runs in pools])
    y_all = np.concatenate([r.perf for r in all_runs])
    pf = panel.fit_panel(
        np.concatenate([r.entropy for r in all_runs]),
        y_all,
        codes,
        blocks=np.repeat(np.arange(len(all_runs)), sizes),
        step=np.concatenate([r.step for r in all_runs]),
        c=c,
        maxlags=maxlags,
    )
    K = len(pools)
    r2 = np.empty(K)
    run_sd = np.full(K, np.nan)
    for k, rss in enumerate(pf.rss_by_group):
        y = y_all[codes == k]
        tss = float(np.sum((y - y.mean()) ** 2))
        r2[k] = 1 - float(rss) / tss if tss > 0 else np.nan
        if len(pools[k]) > 1:
            run_sd[k] = float(np.std([law.solve_linear(r.entropy, r.perf, pf.c)[0] for r in pools[k]], ddof=1))
    return Stage1(
        task=task,
        models=tuple(m for m, _, _ in models),
        params=np.array([p for _, p, _ in models], dtype=float),
        theta=pf.theta,
        cov=pf.cov,
        fixed_c=pf.fixed_c,
        runs=tuple(tuple(r.ident["run"] for r in runs) for runs in pools),
        n_points=np.bincount(codes, minlength=K),
        r2=r2,
        run_sd=run_sd,
        bounds=pf.bounds,
        c_at_bound=pf.at_bound,
        hac_lags=pf.hac_lags,
        pools=pools,
    )


def bootstrap_stage1(st: Stage1, n_boot: int, rng: np.random.Generator) -> Stage1:
    """Add moving-block bootstrap replicates to a stage-1 fit.

    Each run's residuals are resampled in blocks (AR(1)-prewhitened, as in
    :func:`scaling.core.intervals.residual_block_bootstrap`) around its model's fitted
    curve; the joint fit is then redone for every replicate, ``c`` included.

    Parameters
    ----------
    st : Stage1
        The point fit.
    n_boot : int
        Number of replicates (at least 50).
    rng : numpy Generator
        Source of randomness.

    Returns
    -------
    Stage1
        A copy with :attr:`Stage1.replicates` of shape (n_boot, 2K + 1).
    """
    if n_boot < 50:
        raise ValueError(f"n_boot must be at least 50, got {n_boot}")
    K, c_hat = st.K, st.c
    fit_c = not st.fixed_c
    S_m, Y_m = [], []
    for k, runs in enumerate(st.pools):
        P0, beta = st.theta[2 * k], st.theta[2 * k + 1]
        Ys = []
        for r in runs:
            fitted = P0 - beta * law.g(r.entropy, c_hat)
            J = intervals.jacobian(r.entropy, beta, c_hat, fit_c=fit_c)
            L = intervals.default_block_length(r.entropy.size)
            Ys.append(intervals.residual_block_bootstrap(fitted, r.perf - fitted, J, L, n_boot, rng))
        S_m.append(np.concatenate([r.entropy for r in runs]))
        Y_m.append(np.concatenate(Ys, axis=1))
    rep = np.empty((n_boot, 2 * K + 1))
    if fit_c:
        sol = law.varpro_shared(S_m, Y_m, st.bounds, refine="newton")
        rep[:, -1] = np.asarray(sol.c)
        for k in range(K):
            rep[:, 2 * k], rep[:, 2 * k + 1] = np.asarray(sol.P0[k]), np.asarray(sol.beta[k])
    else:
        rep[:, -1] = c_hat
        for k, (S, Y) in enumerate(zip(S_m, Y_m)):
            p, b, _ = law.solve_linear(S, Y, c_hat)
            rep[:, 2 * k], rep[:, 2 * k + 1] = p, b
    return replace(st, replicates=rep)


def measure_at_c(name: str, params: float, runs: Sequence[RunPoints], c: float, maxlags: int | None = None) -> tuple[float, float]:
    """A held-out model's ceiling and its standard error, fitted at a given shared ``c``.

    This is what a user does with a newly trained model: pool its runs and fit
    ``(P0, beta)`` at the family's ``c``.

    Returns
    -------
    (ceiling, se)
    """
    st = fit_stage1([(name, params, runs)], c=c, maxlags=maxlags)
    v, cov = st.estimate("ceiling")
    return float(v[0]), float(math.sqrt(max(cov[0, 0], 0.0)))
