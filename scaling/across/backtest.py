"""Backtests of the extrapolation across sizes: leave one size out, leave the largest out.

Each held-out model is treated as a model nobody has trained yet: stage 1 (with its
shared ``c``) and stage 2 are refitted on the other models only, the held-out ceiling
is predicted with its prediction interval, and then "measured" the way a user would
once the model is trained: its runs pooled and fitted at the family's ``c``.  Rows
report the error, whether the interval covered the measured value and how many
decades of parameters the extrapolation reached beyond the fitted range, for every
mean form (linear, quadratic, saturating; identity and logit links), so the leave-largest-out rows show which
form extrapolates best.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.across.choice import form_label, forms_for
from scaling.across.stage1 import fit_stage1, measure_at_c, pools_by_task, screen_runs
from scaling.across.stage2 import FORMS, LINKS, METHODS, check_choice, fit_stage2
from scaling.exceptions import StatisticalWarning
from scaling.fitting.single import RunFit
from scaling.progress import track
from scaling.protocol import ResultMixin

COLUMNS = [
    "task", "scheme", "n_out", "held_out", "params", "n_fit", "fit_max_params", "decades_beyond", "form",
    "measured", "measured_se", "pred", "mean_lo", "mean_hi", "lo", "hi", "error", "covered", "z", "status",
]  # fmt: skip


@dataclass(frozen=True, eq=False)
class SizeBacktest(ResultMixin):
    """Rows of a size backtest and their summaries.

    Attributes
    ----------
    rows : DataFrame
        One row per (scheme, held-out model, form): ``task, scheme`` (``leave-one-out`` or
        ``leave-largest-out``), ``n_out`` (models held out together), ``held_out, params,
        n_fit, fit_max_params, decades_beyond, form, measured, measured_se, pred, mean_lo,
        mean_hi, lo, hi, error`` (measured - predicted), ``covered`` (measured inside
        ``[lo, hi]``), ``z`` (error over the predictive standard error), ``status``.
    level : float
        Level of the prediction intervals.
    runs : DataFrame
        Every run with its status and whether it was pooled.
    """

    rows: pd.DataFrame
    level: float
    runs: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.rows.copy()

    def summary(self) -> pd.DataFrame:
        """Per task, scheme and form: rows with an estimate, mean |error|, RMSE, coverage, largest reach."""
        ok = self.rows[self.rows["status"] == "ok"]
        if ok.empty:
            return pd.DataFrame(columns=["task", "scheme", "form", "n", "mean_abs_error", "rmse", "coverage", "max_decades"])
        g = ok.groupby(["task", "scheme", "form"], sort=False)
        return g.agg(
            n=("error", "size"),
            mean_abs_error=("error", lambda e: float(np.mean(np.abs(e)))),
            rmse=("error", lambda e: float(np.sqrt(np.mean(np.square(e))))),
            coverage=("covered", "mean"),
            max_decades=("decades_beyond", lambda d: float(np.max(np.abs(d)))),
        ).reset_index()

    def best_forms(self) -> pd.DataFrame:
        """Per task, the form with the smallest mean |error| when the largest sizes are left out."""
        s = self.summary()
        s = s[s["scheme"] == "leave-largest-out"]
        if s.empty:
            return pd.DataFrame(columns=["task", "form", "mean_abs_error", "coverage"])
        idx = s.groupby("task", sort=False)["mean_abs_error"].idxmin()
        return s.loc[idx, ["task", "form", "mean_abs_error", "coverage", "n"]].reset_index(drop=True)


def backtest_sizes(
    data,
    *,
    tasks: Sequence[str] | None = None,
    c: float | None = None,
    method: str = "wls",
    forms: Sequence[tuple[str, str]] | None = None,
    level: float = 0.9,
    algorithms: Sequence[str] | None = None,
    r2_min: float = 0.6,
    schemes: Sequence[str] = ("leave-one-out", "leave-largest-out"),
    max_out: int | None = None,
    fits: Mapping[str, RunFit] | None = None,
) -> SizeBacktest:
    """Leave-one-size-out and leave-the-largest-out backtests of the ceiling's extrapolation.

    Parameters
    ----------
    data : Dataset or DataFrame
        As for :func:`scaling.across.predict.fit_across`.
    tasks : list of str, optional
        Default every task, each separately.
    c : float, optional
        Fix the shared rate; default re-estimated without the held-out models.
    method : {"wls", "random", "ols"}
        Stage-2 estimator.
    forms : list of (form, link)
        Mean forms compared (default every form on the identity link and, for a metric in
        [0, 1], on the logit link).
    level : float
        Level of the prediction intervals.
    algorithms, r2_min
        Which runs are pooled (see :func:`scaling.across.stage1.screen_runs`).
    schemes : list of str
        ``leave-one-out`` (every size in turn) and/or ``leave-largest-out`` (the largest
        1, 2, ... sizes together, while at least 3 sizes remain to fit).
    max_out : int, optional
        Most sizes held out together in ``leave-largest-out``.
    fits : mapping of run id to RunFit, optional
        Free HAC fits made already (:func:`scaling.fitting.dataset.fit_dataset`): runs are
        screened from them instead of being fitted again (see :func:`scaling.across.stage1.screen_runs`).

    Returns
    -------
    SizeBacktest
    """
    check_choice("method", method, METHODS)
    if forms is None:
        forms = forms_for(["identity", "logit"] if getattr(data, "perf_range", None) == (0.0, 1.0) else ["identity"])
    for f_, l_ in forms:
        check_choice("form", f_, FORMS)
        check_choice("link", l_, LINKS)
    for s in schemes:
        check_choice("scheme", s, ("leave-one-out", "leave-largest-out"))
    usable, runs = screen_runs(data, r2_min=r2_min, algorithms=algorithms, fits=fits)
    if not (runs["task"] != "").any():
        runs = runs.assign(task="")
    pools = pools_by_task(usable, runs)
    all_tasks = list(dict.fromkeys(runs["task"]))
    chosen = list(tasks) if tasks else all_tasks
    unknown = [t for t in chosen if t not in all_tasks]
    if unknown:
        raise ValueError(f"tasks {unknown} not in the data; tasks are {all_tasks}")
    frames = [
        backtest_models(pools.get(task, []), task=task, c=c, method=method, forms=forms, level=level, schemes=schemes, max_out=max_out).rows
        for task in chosen
    ]
    return SizeBacktest(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS), level, runs)


def backtest_models(
    models: Sequence[tuple[str, float, Sequence]],
    *,
    task: str = "",
    c: float | None = None,
    method: str = "wls",
    forms: Sequence[tuple[str, str]] | None = None,
    level: float = 0.9,
    schemes: Sequence[str] = ("leave-one-out", "leave-largest-out"),
    max_out: int | None = None,
) -> SizeBacktest:
    """The backtests of :func:`backtest_sizes` on models already pooled.

    Parameters
    ----------
    models : list of (model, params, runs)
        Each model's name, parameter count and usable :class:`~scaling.fitting.single.RunPoints`
        (as from :func:`scaling.across.stage1.pools_by_task`).
    task, c, method, forms, level, schemes, max_out
        See :func:`backtest_sizes` (``forms`` default: every form on both links).

    Returns
    -------
    SizeBacktest
        With an empty ``runs`` table.
    """
    check_choice("method", method, METHODS)
    forms = forms if forms is not None else forms_for(["identity", "logit"])
    for f_, l_ in forms:
        check_choice("form", f_, FORMS)
        check_choice("link", l_, LINKS)
    for s in schemes:
        check_choice("scheme", s, ("leave-one-out", "leave-largest-out"))
    models = sorted(models, key=lambda m: m[1])
    plans = split_plans([p for _, p, _ in models], schemes, max_out)
    rows: list[dict] = []
    for scheme, k, out_idx in track(plans, f"size backtest {task}".rstrip()):
        rows += _one_split(task, models, out_idx, scheme, k, c, method, forms, level)
    empty_runs = pd.DataFrame(columns=["task", "run", "model", "params", "algorithm", "seed", "status", "used", "reason"])
    return SizeBacktest(pd.DataFrame(rows, columns=COLUMNS), level, empty_runs)


def split_plans(params: Sequence[float], schemes: Sequence[str] = ("leave-one-out", "leave-largest-out"), max_out: int | None = None) -> list[tuple[str, int, list[int]]]:
    """The held-out sets of a size backtest: ``(scheme, n_out, indices)``.

    ``leave-one-out`` holds out each model in turn; ``leave-largest-out`` the models of the
    largest 1, 2, ... sizes together, while at least 3 sizes remain (at most ``max_out``).
    ``params`` are the models' sizes, sorted.
    """
    sizes = sorted(set(params))
    plans: list[tuple[str, int, list[int]]] = []
    if "leave-one-out" in schemes:
        plans += [("leave-one-out", 1, [i]) for i in range(len(params))]
    if "leave-largest-out" in schemes:
        most = len(sizes) - 3 if max_out is None else min(max_out, len(sizes) - 3)
        plans += [("leave-largest-out", k, [i for i, p in enumerate(params) if p >= sizes[-k]]) for k in range(1, most + 1)]
    return plans


def scored_row(base: dict, fit, pred: pd.Series, measured: float) -> dict:
    """One backtest row: ``base`` with the prediction ``pred`` (a row of :meth:`Stage2Fit.predict`) of
    ``fit``, its status, and the ``error``, ``covered`` and ``z`` of the measured value."""
    row = dict(base, decades_beyond=float(pred["decades_beyond"]), pred=pred["pred"], mean_lo=pred["mean_lo"],
               mean_hi=pred["mean_hi"], lo=pred["lo"], hi=pred["hi"], status=fit.status.value)  # fmt: skip
    row["error"] = measured - pred["pred"]
    row["covered"] = bool(pred["lo"] <= measured <= pred["hi"]) if fit.has_estimate else np.nan
    half = (pred["hi"] - pred["pred"]) if measured >= pred["pred"] else (pred["pred"] - pred["lo"])
    row["z"] = row["error"] / (half / fit.t_crit) if fit.has_estimate and half > 0 else np.nan
    return row


def _one_split(task, models, out_idx, scheme, k, c, method, forms, level) -> list[dict]:
    fit_models = [m for i, m in enumerate(models) if i not in out_idx]
    held = [models[i] for i in out_idx]
    base = dict(task=task, scheme=scheme, n_out=k, n_fit=len(fit_models))
    if not fit_models:
        return [dict(base, held_out=h[0], params=h[1], form=form_label(*f), status="no model left to fit") for h in held for f in forms]
    st = fit_stage1(fit_models, c=c, task=task)
    y, V, d, var_c = st.estimate_given_c("ceiling")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        fits = [fit_stage2(st.params, y, V, st.n_runs, dc=d, var_c=var_c, method=method, link=link, form=form, level=level,
                           task=task, models=st.models) for form, link in forms]  # fmt: skip
    out = []
    for name, params, runs in held:
        measured, se = measure_at_c(name, params, runs, st.c)
        for (form, link), s2 in zip(forms, fits):
            row = dict(base, held_out=name, params=params, fit_max_params=float(st.params.max()), form=form_label(form, link),
                       measured=measured, measured_se=se)  # fmt: skip
            out.append(scored_row(row, s2, s2.predict([params], n_runs=len(runs)).iloc[0], measured))
    return out
