"""Across model sizes: extrapolate ceilings to unseen sizes, backtest it, plan a size.

The design card's second stage (``DESIGN.md`` section 6):

1. **Stage 1** (:mod:`scaling.across.stage1`): per task, one rate ``c`` shared by all
   models (or ``c`` fixed, e.g. 1), one ``(P0, beta)`` per model pooling its usable
   runs.  Runs whose own fit is not usable are left out and reported.
2. **Stage 2** (:mod:`scaling.across.stage2`): the ceiling ``P0`` (regressed directly,
   not as ``a - b``), ``a`` and ``b`` regressed on log10(params) by GLS/WLS with the
   stage-1 covariance, a random-effects meta-regression or OLS; identity or logit
   link; linear or quadratic in log10(params).  Prediction intervals for new models
   state the new model's variance explicitly.
3. **Uncertainty through both stages**: an optional two-stage bootstrap (moving blocks
   within runs, stage 1 refitted with ``c``, stage 2 refitted per replicate).
4. **Backtests** (:mod:`scaling.across.backtest`) and **planning** (:func:`plan`).

Examples
--------
>>> from scaling.data.load import ColumnMap, load
>>> from scaling.across.predict import fit_across, plan
>>> ds = load("data/runs.csv", ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))  # doctest: +SKIP
>>> res = fit_across(ds, tasks=["add4"])                    # doctest: +SKIP
>>> res.predict([3e9, 7e10])                                # doctest: +SKIP
>>> plan(res["add4"], target=0.6, prob=0.8).summary()       # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import optimize

from scaling.across.choice import FormChoice, choose_form, form_spread, forms_for, prediction_columns
from scaling.across.stage1 import (
    Stage1,
    bootstrap_stage1,
    fit_stage1,
    pools_by_task,
    screen_runs,
    screening_counts,
    unusable_share_at,
)
from scaling.across.stage2 import FORMS, LINKS, METHODS, Stage2Fit, Stage2Status, check_choice, fit_stage2
from scaling.across.tasks import ByTask
from scaling.exceptions import StatisticalWarning
from scaling.fitting.single import RunFit
from scaling.protocol import ResultMixin
from scaling.textsafe import frame_text

__all__ = [
    "AcrossResult",
    "AcrossResults",
    "Plan",
    "Stage1",
    "Stage2Fit",
    "Stage2Status",
    "fit_across",
    "plan",
]

@dataclass(frozen=True, eq=False)
class AcrossResult(ResultMixin):
    """Stage 1 and stage 2 of one task (model family).

    Attributes
    ----------
    task : str
    stage1 : Stage1 or None
        Per-model pooled fit (None when no model had a usable run).
    fits : dict
        Quantity (``ceiling``, ``a``, ``b``) -> :class:`Stage2Fit`: the ceiling's best form
        (largest backtest weight, or the forced one), a and b linear on the identity scale.
    choice : FormChoice or None
        The ceiling under every mean form, their backtest ranking and the weighted
        prediction (:mod:`scaling.across.choice`).
    runs : DataFrame
        This task's runs: ``status``, ``used`` (pooled or not) and the ``reason``.
    interval : {"analytic", "bootstrap"}
        Which intervals :meth:`predict` reports by default.
    message : str
        Why there is no estimate, when there is none.
    """

    _plot_kind: ClassVar[str | None] = "ceiling_vs_params"

    def _plot_inputs(self) -> tuple[tuple, dict]:
        c = self.curve()
        line = pd.DataFrame({"params": c["params"], "mean": c["pred"], "lo": c["lo"], "hi": c["hi"],
                             "ci_lo": c["mean_lo"], "ci_hi": c["mean_hi"]}) if len(c) else None  # fmt: skip
        p = self.points()
        points = pd.DataFrame({"model": p["model"], "params": p["params"], "ceiling": p["ceiling"],
                               "lo": p["ceiling_lo"], "hi": p["ceiling_hi"]}) if len(p) else p  # fmt: skip
        return (points, line, None), {"level": self.ceiling.level if self.ceiling is not None else 0.9}

    task: str
    stage1: Stage1 | None
    fits: dict
    choice: FormChoice | None
    runs: pd.DataFrame
    interval: str = "analytic"
    message: str = ""

    @property
    def alternatives(self) -> dict:
        """``"form/link"`` -> :class:`Stage2Fit` of the ceiling under every form considered."""
        return self.choice.fits if self.choice is not None else {}

    @property
    def predictor(self) -> FormChoice | None:
        """What predicts the ceiling of a new size (the chosen form or the mixture)."""
        return self.choice

    @property
    def ceiling(self) -> Stage2Fit | None:
        """The stage-2 fit of the ceiling."""
        return self.fits.get("ceiling")

    @property
    def status(self) -> str:
        """``ok``, ``no usable model`` or the ceiling fit's status."""
        if self.stage1 is None:
            return "no usable model"
        return self.ceiling.status.value

    @property
    def label(self) -> str:
        """The form used for predictions, or the mixture with its weights."""
        return self.choice.label if self.choice is not None else ""

    def excluded(self) -> pd.DataFrame:
        """Runs left out of the pooling, with their status and reason."""
        return self.runs[~self.runs["used"]].reset_index(drop=True)

    def run_counts(self) -> pd.DataFrame:
        """Per model of this task: runs pooled, left out and why (:func:`~scaling.across.stage1.screening_counts`).

        Includes models whose every run was left out (they have no stage-1 estimate).
        """
        return screening_counts(self.runs)

    def points(self) -> pd.DataFrame:
        """Per-model stage-1 estimates with intervals at the fit's level (for plots)."""
        if self.stage1 is None:
            return pd.DataFrame()
        level = self.ceiling.level
        return self.stage1.to_frame(level)

    def predict(self, params, *, n_runs: float | None = None, interval: str | None = None) -> pd.DataFrame:
        """Ceiling, a and b predicted at the given sizes, one row per size.

        Parameters
        ----------
        params : array_like
            Parameter counts.
        n_runs : float, optional
            Runs a new model would be fitted from (default: the median of the fitted models).
        interval : {"analytic", "bootstrap"}, optional
            Default :attr:`interval`.

        Returns
        -------
        DataFrame
            ``task, params, log10_params, decades_beyond, ceiling_pred, ceiling_lo, ceiling_hi``
            (a new model's ceiling), ``ceiling_mean_lo, ceiling_mean_hi`` (the curve), then
            ``a_pred, a_lo, a_hi, b_pred, b_lo, b_hi``, the best form's settings, ``form_choice``
            (that form, or the mixture of forms with their weights) and ``form_note``, the spread of the
            other forms' predictions (``alt_spread``, ``alt_forms``), ``forms_disagree``
            (spread larger than the width of the curve's interval; a StatisticalWarning says so),
            ``unusable_share`` (the share of runs left out as unusable at the trained sizes
            nearest to each size: see :func:`~scaling.across.stage1.unusable_share_at`) and
            ``unusable_basis`` (which trained models that share comes from).
        """
        how = interval or self.interval
        N = np.atleast_1d(np.asarray(params, dtype=float))
        if self.stage1 is None:
            raise ValueError(f"task {self.task!r} has no estimate: {self.message}")
        boot = how == "bootstrap" and self.ceiling.replicates is not None
        main = self.choice.predict(N, n_runs=n_runs, interval="bootstrap" if boot else "analytic")
        out = prediction_columns(self.task, self.choice, main)
        for q in ("a", "b"):
            f = self.fits.get(q)
            if f is None:
                continue
            pr = f.predict(N, n_runs=n_runs, interval=how if f.replicates is not None else "analytic")
            out[f"{q}_pred"], out[f"{q}_lo"], out[f"{q}_hi"] = pr["pred"].to_numpy(), pr["lo"].to_numpy(), pr["hi"].to_numpy()
        out["interval"] = "bootstrap" if boot else "analytic"
        width = out["ceiling_mean_hi"].to_numpy() - out["ceiling_mean_lo"].to_numpy()
        for k, v in form_spread(self.choice, N, out["ceiling_pred"].to_numpy(), width, self.task).items():
            out[k] = v
        out["unusable_share"], out["unusable_basis"] = unusable_share_at(self.run_counts(), N)
        return out

    def curve(self, lo: float | None = None, hi: float | None = None, n: int = 200, *, interval: str | None = None) -> pd.DataFrame:
        """The ceiling's fitted curve, its band and the prediction band over a grid of sizes (for plots).

        Parameters
        ----------
        lo, hi : float, optional
            Size range; default from half the smallest to twice the largest fitted size.
        n : int
            Grid points (log-spaced).

        Returns
        -------
        DataFrame
            ``params, pred, mean_lo, mean_hi, lo, hi, decades_beyond``.
        """
        f = self.ceiling
        if f is None:
            return pd.DataFrame()
        lo = lo if lo is not None else f.params.min() / 2
        hi = hi if hi is not None else f.params.max() * 2
        if not 0 < lo < hi:
            raise ValueError(f"need 0 < lo < hi, got lo={lo}, hi={hi}")
        grid = np.logspace(np.log10(lo), np.log10(hi), n)
        how = interval or self.interval
        return self.choice.predict(grid, interval=how if f.replicates is not None else "analytic")

    def coefficients(self) -> pd.DataFrame:
        """Stage-2 coefficients of every quantity and of the ceiling's alternative forms."""
        frames = [f.to_frame() for f in self.fits.values()]
        frames += [a.to_frame() for a in self.alternatives.values() if a is not self.ceiling]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def summary(self) -> pd.DataFrame:
        """Per model: the stage-1 ceiling with its interval (see :meth:`points`)."""
        return self.points()

    def to_frame(self) -> pd.DataFrame:
        """Per model stage-1 estimates (as :meth:`points`)."""
        return self.points()

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Per model: the stage-1 ceiling interval at level ``1 - alpha`` (default the fit's level).

        Returns
        -------
        DataFrame
            Indexed by model, columns ``lower`` and ``upper``.
        """
        if self.stage1 is None:
            return pd.DataFrame(columns=["lower", "upper"])
        if alpha is not None and not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
        level = self.ceiling.level if alpha is None else 1.0 - alpha
        p = self.stage1.to_frame(level)
        return pd.DataFrame({"lower": p["ceiling_lo"].to_numpy(), "upper": p["ceiling_hi"].to_numpy()}, index=pd.Index(p["model"], name="model"))

    def summary_text(self) -> str:
        """Readable text: runs left out, the per-model table, the stage-2 coefficients."""
        lines = [f"task {self.task or '(none)'}"]
        ex = self.excluded()
        if len(ex):
            lines.append(f"  {len(ex)} run(s) not pooled:")
            for _, r in ex.iterrows():
                lines.append(f"    {r['run']}: {r['status']} ({r['reason']})")
        if self.stage1 is None:
            lines.append(f"  no estimate: {self.message}")
            return "\n".join(lines)
        st = self.stage1
        cdesc = f"c = {st.c:.3f} fixed" if st.fixed_c else f"shared c = {st.c:.3f} (se {st.c_se:.3f})"
        level = round(100 * self.ceiling.level)
        lines.append(f"  stage 1: {st.K} model(s), {cdesc}{'; c AT ITS BOUND' if st.c_at_bound else ''}")
        pts = self.points()
        tbl = pd.DataFrame(
            {
                "model": pts["model"],
                "params": pts["params"].map(lambda v: f"{v:.3g}"),
                "pooled": pts["n_runs"],
                "left out": [_left_out_text(n, w) for n, w in zip(pts.get("n_runs_left_out", [0] * len(pts)), pts.get("left_out", [""] * len(pts)))],
                "ceiling": pts["ceiling"].map(lambda v: f"{v:.4f}"),
                f"{level}% CI": [f"[{a:.4f}, {b:.4f}]" for a, b in zip(pts["ceiling_lo"], pts["ceiling_hi"])],
                "a": pts["a"].map(lambda v: f"{v:.4f}"),
                "b": pts["b"].map(lambda v: f"{v:.4f}"),
                "R2": pts["r2"].map(lambda v: f"{v:.3f}"),
                "run sd": pts["run_sd"].map(lambda v: "" if not np.isfinite(v) else f"{v:.4f}"),
            }
        )
        lines += ["    " + s for s in frame_text(tbl).to_string(index=False).splitlines()]
        counts = self.run_counts()
        for _, m in counts[counts["n_runs_pooled"] == 0].iterrows():
            lines.append(f"    {m['model']} ({m['params']:.3g} params): no run pooled, every run left out ({m['left_out']}): no ceiling")
        if self.choice is not None:
            lines += [f"  ceiling's forms ranked by backtest ({self.choice.note}):", self.choice.ranking_text()]
        for q, f in self.fits.items():
            centre = f" (centre {10**f.x_center:.3g} params)" if f.has_estimate else ""
            lines.append(f"  stage 2, {q} ({f.method}, {f.form}/{f.link}){centre}: {f.status.value}; {f.message}")
            if f.has_estimate:
                s = f.summary()
                for term, r in s.iterrows():
                    lines.append(f"    {term:<10} {r['estimate']:+.4f}  se {r['se']:.4f}  {level}% CI [{r['lo']:+.4f}, {r['hi']:+.4f}]")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class AcrossResults(ByTask, ResultMixin):
    """Stage 1 and 2 of every task of a data set.

    Attributes
    ----------
    results : dict
        Task -> :class:`AcrossResult`.
    runs : DataFrame
        Every run with its status, whether it was pooled, and why not.
    settings : dict
        The arguments of :func:`fit_across`.
    """

    results: dict
    runs: pd.DataFrame
    settings: dict = field(default_factory=dict)

    def predict(self, params, *, n_runs: float | None = None, interval: str | None = None) -> pd.DataFrame:
        """:meth:`AcrossResult.predict` for every task with an estimate, rows labelled by task."""
        frames = [r.predict(params, n_runs=n_runs, interval=interval) for r in self if r.stage1 is not None]
        if not frames:
            raise ValueError("no task has an estimate: " + "; ".join(f"{r.task}: {r.message}" for r in self))
        return pd.concat(frames, ignore_index=True)

    def points(self) -> pd.DataFrame:
        """Per-model stage-1 estimates of every task."""
        return pd.concat([r.points() for r in self], ignore_index=True)

    def coefficients(self) -> pd.DataFrame:
        return pd.concat([r.coefficients() for r in self], ignore_index=True)

    def excluded(self) -> pd.DataFrame:
        """Runs left out of the pooling, with status and reason."""
        return self.runs[~self.runs["used"]].reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Per task and model: stage-1 estimates (see :meth:`points`)."""
        return self.points()

    def to_frame(self) -> pd.DataFrame:
        """Per task and model: stage-1 estimates."""
        return self.points()

    def summary_text(self) -> str:
        """Every task's text summary (what ``scaling extrapolate`` prints)."""
        return "\n\n".join(r.summary_text() for r in self)


# --------------------------------------------------------------------------------
def fit_across(
    data,
    *,
    tasks: Sequence[str] | None = None,
    c: float | None = None,
    method: str = "wls",
    link: str | None = None,
    form: str = "auto",
    level: float = 0.9,
    algorithms: Sequence[str] | None = None,
    r2_min: float = 0.6,
    n_boot: int = 0,
    seed: int = 0,
    fits: Mapping[str, RunFit] | None = None,
) -> AcrossResults:
    """Fit stage 1 and stage 2 for every task (model family) of a data set.

    Parameters
    ----------
    data : Dataset or DataFrame
        A :class:`scaling.data.load.Dataset` or its points frame (``run, model, params, step,
        entropy, perf`` and optionally ``algorithm, seed, task``).
    tasks : list of str, optional
        Tasks to fit; default every task, each separately.
    c : float, optional
        Fix the shared rate (``1.0`` is the paper's form); default: estimate one ``c``
        per task across all its models.
    method : {"wls", "random", "ols"}
        Stage-2 estimator: GLS/WLS with the stage-1 covariance (scale estimated), a
        random-effects meta-regression, or plain OLS.
    link : {"identity", "logit"}, optional
        Restrict the ceiling's forms to this link.  ``logit`` keeps predicted ceilings inside
        [0, 1], and refuses (a status, no estimate) when a stage-1 ceiling is at or above 1 or
        at or below 0.  Default: identity and, for a metric in [0, 1], logit (with a forced
        ``form``: identity).
    form : {"auto", "linear", "quadratic", "saturating"}
        Mean form of the ceiling in log10(params) (on the link scale).  ``auto``: every form,
        weighted by a backtest on the models' own sizes (:mod:`scaling.across.choice`);
        otherwise that form alone.  a and b are regressed with the linear form (or the
        quadratic one when forced).
    level : float
        Level of all intervals (default 0.9).
    algorithms : list of str, optional
        Pool only runs of these algorithms.
    r2_min : float
        Runs whose own fit has R^2 below this are not pooled.
    n_boot : int
        Two-stage bootstrap replicates (0: analytic intervals only).
    seed : int
        Seed of the bootstrap.
    fits : mapping of run id to RunFit, optional
        Free HAC fits made already (:func:`scaling.fitting.dataset.fit_dataset`): runs are
        screened from them instead of being fitted again (see :func:`scaling.across.stage1.screen_runs`).

    Returns
    -------
    AcrossResults

    Raises
    ------
    ValueError
        Bad arguments, an unknown task, or a logit link on an unbounded metric.
    """
    check_choice("method", method, METHODS)
    if link is not None:
        check_choice("link", link, LINKS)
    if form != "auto":
        check_choice("form", form, FORMS)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_boot and n_boot < 50:
        raise ValueError(f"n_boot must be 0 or at least 50, got {n_boot}")
    if c is not None and not np.isfinite(c):
        raise ValueError(f"c must be a finite number, got {c}")
    perf_range = getattr(data, "perf_range", (0.0, 1.0))  # a points frame: an accuracy unless said otherwise
    if link == "logit" and perf_range != (0.0, 1.0):
        raise ValueError("link='logit' needs a metric in [0, 1] (the data are unbounded; use --perf-scale fraction or link='identity')")
    links = [link] if link else (["identity", "logit"] if perf_range == (0.0, 1.0) else ["identity"])
    shape = {"forms": forms_for(links), "force": None if form == "auto" else (form, link or "identity"), "perf_range": perf_range}
    usable, runs = screen_runs(data, r2_min=r2_min, algorithms=algorithms, fits=fits)
    all_tasks = list(dict.fromkeys(runs.loc[runs["task"] != "", "task"])) or [""]
    if not (runs["task"] != "").any():
        runs = runs.assign(task="")
    chosen = list(tasks) if tasks else all_tasks
    unknown = [t for t in chosen if t not in all_tasks]
    if unknown:
        raise ValueError(f"tasks {unknown} not in the data; tasks are {all_tasks}")
    pools = pools_by_task(usable, runs)
    rng = np.random.default_rng(seed)
    out = {}
    for task in chosen:
        task_runs = runs[runs["task"] == task].reset_index(drop=True)
        _warn_excluded(task, task_runs)
        out[task] = _fit_task(task, pools.get(task, []), task_runs, c, method, shape, level, n_boot, rng)
    settings = {
        "c": c, "method": method, "link": link, "form": form, "level": level,
        "algorithms": algorithms, "r2_min": r2_min, "n_boot": n_boot, "seed": seed,
    }  # fmt: skip
    return AcrossResults(out, runs, settings)


def _left_out_text(n, why) -> str:
    """``"0"`` or ``"1 (late collapse)"``."""
    n = int(n) if pd.notna(n) else 0
    if not n:
        return "0"
    counts = str(why).split(", ")
    reasons = ", ".join(c.split(" ", 1)[1] if len(counts) == 1 else c for c in counts)
    return f"{n} ({reasons})"


def _warn_excluded(task: str, runs: pd.DataFrame) -> None:
    ex = runs[~runs["used"]]
    if len(ex):
        counts = ", ".join(f"{n} {s}" for s, n in ex["status"].value_counts().items())
        warnings.warn(
            f"task {task!r}: {len(ex)} of {len(runs)} run(s) not pooled ({counts}): {', '.join(ex['run'])}",
            StatisticalWarning,
            stacklevel=3,
        )


def _fit_task(task, models, runs, c, method, shape: dict, level, n_boot, rng) -> AcrossResult:
    if not models:
        return AcrossResult(task, None, {}, None, runs, message="no model has a usable run")
    st = fit_stage1(models, c=c, task=task).with_screening(runs)
    if st.c_at_bound:
        warnings.warn(
            f"task {task!r}: the shared c = {st.c:.4g} sits at its search bound {st.bounds}; the per-model estimates are not usable",
            StatisticalWarning,
            stacklevel=3,
        )
    if n_boot:
        st = bootstrap_stage1(st, n_boot, rng)
    shift = st.replicates[:, -1] - st.c if st.replicates is not None else None
    y, V, d, var_c = st.estimate_given_c("ceiling")
    choice = choose_form(
        st.params, y, V, st.n_runs, **shape, task=task, models=st.models, method=method, dc=d, var_c=var_c, level=level,
        y_replicates=st.replicate_values("ceiling"), c_shift=shift, rng=rng,
    )  # fmt: skip
    fits = {"ceiling": choice.best}
    forced = shape["force"][0] if shape["force"] else "linear"
    for q in ("a", "b"):
        y, V, d, var_c = st.estimate_given_c(q)
        fits[q] = fit_stage2(
            st.params, y, V, st.n_runs, dc=d, var_c=var_c, quantity=q, method=method, link="identity",
            form=forced if forced in ("linear", "quadratic") else "linear", level=level, task=task, models=st.models,
            y_replicates=st.replicate_values(q), c_shift=shift, rng=rng, two_sizes=True,
        )  # fmt: skip
    msg = "" if choice.has_estimate else choice.best.message
    return AcrossResult(task, st, fits, choice, runs, interval="bootstrap" if n_boot else "analytic", message=msg)


# --------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Plan(ResultMixin):
    """The smallest model whose ceiling reaches a target with a given probability.

    Attributes
    ----------
    task : str
    target, prob : float
        The ceiling to reach and the probability required.
    params : float
        The smallest parameter count with ``P(ceiling >= target) >= prob`` (NaN when not
        reached within the search range).
    status : str
        ``reached``, ``reached at the lower end`` (already at the smallest size searched),
        ``not reached`` (not within the range) or ``no fit``.
    message : str
    size_range : (float, float)
        Sizes searched.
    curve : DataFrame
        Over the range: ``params, pred, lo, hi, mean_lo, mean_hi, prob_reach, decades_beyond``.
    at : DataFrame
        The prediction (as :meth:`Stage2Fit.predict`) at :attr:`params`; empty when not reached.
    """

    task: str
    target: float
    prob: float
    params: float
    status: str
    message: str
    size_range: tuple[float, float]
    curve: pd.DataFrame
    at: pd.DataFrame = field(default_factory=pd.DataFrame)

    def summary(self) -> pd.DataFrame:
        """One row: the size found, its predicted ceiling with the prediction interval, and how far it extrapolates."""
        row = {"task": self.task, "target": self.target, "prob": self.prob, "params": self.params, "status": self.status}
        if len(self.at):
            at = self.at.iloc[0]
            row.update(ceiling_pred=at["pred"], ceiling_lo=at["lo"], ceiling_hi=at["hi"], decades_beyond=at["decades_beyond"])
        else:
            row.update(ceiling_pred=np.nan, ceiling_lo=np.nan, ceiling_hi=np.nan, decades_beyond=np.nan)
        row["message"] = self.message
        return pd.DataFrame([row])


def plan(
    result: AcrossResult,
    target: float,
    prob: float = 0.8,
    *,
    size_range: tuple[float, float] | None = None,
    n_runs: float | None = None,
    n_grid: int = 400,
) -> Plan:
    """Smallest parameter count whose ceiling reaches ``target`` with probability ``prob``.

    The probability is that of a new model of that size, fitted from ``n_runs`` runs like
    the others, showing a ceiling ``>= target``, under the prediction distribution of
    :meth:`Stage2Fit.predict` (t with K - p df around the curve, with the new model's
    variance).

    Parameters
    ----------
    result : AcrossResult
        A fitted task.
    target : float
        Ceiling to reach.
    prob : float
        Required probability, in (0, 1).
    size_range : (float, float), optional
        Sizes searched; default from a tenth of the smallest to 1000 times the largest fitted size.
    n_runs : float, optional
        Runs the new model is fitted from (default: median of the fitted models).
    n_grid : int
        Log-spaced grid points of the curve; the crossing is then refined by root finding.

    Returns
    -------
    Plan
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    if not np.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target}")
    f = result.predictor
    if f is None or not f.has_estimate:
        why = result.message or (f.message if f is not None else "no fit")
        return Plan(result.task, target, prob, math.nan, "no fit", why, (math.nan, math.nan), pd.DataFrame())
    lo, hi = size_range if size_range is not None else (f.params.min() / 10, f.params.max() * 1e3)
    if not 0 < lo < hi:
        raise ValueError(f"size_range (--range) must satisfy 0 < lo < hi, got {(lo, hi)}")
    grid = np.logspace(np.log10(lo), np.log10(hi), n_grid)
    curve = f.predict(grid, n_runs=n_runs).drop(columns=["log10_params", "cut"])
    p = f.prob_at_least(grid, target, n_runs=n_runs)
    curve["prob_reach"] = p
    hit = np.flatnonzero(p >= prob)
    if hit.size == 0:
        best = int(np.argmax(p))
        msg = f"P(ceiling >= {target:g}) stays below {prob:g} over {lo:.3g}..{hi:.3g} params (at most {p[best]:.3f}, at {grid[best]:.3g})"
        return Plan(result.task, target, prob, math.nan, "not reached", msg, (lo, hi), curve)
    i = int(hit[0])
    if i == 0:
        msg = f"already reached at the smallest size searched, {lo:.3g} (P = {p[0]:.3f}); widen the sizes searched (--range, size_range= in Python) to search lower"
        return Plan(result.task, target, prob, float(lo), "reached at the lower end", msg, (lo, hi), curve, f.predict([lo], n_runs=n_runs))

    def gap(L: float) -> float:
        return float(f.prob_at_least([10**L], target, n_runs=n_runs)[0]) - prob

    L = optimize.brentq(gap, np.log10(grid[i - 1]), np.log10(grid[i]), xtol=1e-10)
    N = float(10**L)
    at = f.predict([N], n_runs=n_runs)
    beyond = float(at["decades_beyond"].iloc[0])
    msg = f"P(ceiling >= {target:g}) reaches {prob:g} at {N:.3g} params, {beyond:+.2f} decades beyond the fitted range"
    return Plan(result.task, target, prob, N, "reached", msg, (lo, hi), curve, at)
