"""Stage 2 on per-model summaries: final scores from a table, not ceilings from curves.

A published table gives one value per model (and benchmark), e.g. the score after a fixed
number of RL steps.  That is a different quantity from the law's ceiling at zero entropy,
and every output here says which it is (:data:`QUANTITY_TABLE` vs :data:`QUANTITY_CURVES`).
The values go through the same stage 2 (:func:`scaling.across.stage2.fit_stage2`), one
regression per task:

* **with standard errors** (``se``): weighted by ``se**2`` (``method="wls"``, residual scale
  estimated, or ``"random"``); a new model is taken to be measured as precisely as the
  table's typical model (the geometric mean of ``se**2``);
* **without them**: ordinary least squares; the prediction interval then rests on the
  residual scatter between the models only (a new model's value deviates from the line as
  the fitted ones do), on ``K - p`` degrees of freedom.

**Forms.**  As for curves, every mean form is fitted and weighted by a backtest on the
table's own sizes (:func:`scaling.across.choice.choose_form`); with a range (fractions, or
percent read as fractions) the forms on the logit scale compete too, and every prediction
and interval end is cut to the range (noted).  The logit fits need every value strictly
inside (0, 1): a value reported at the bound (e.g. 0.0 on AIME for a 0.5B model) is moved
inside by :data:`BOUND_EPS` (0.05 percentage points, half the last digit of a table rounded
to 0.1 percent), which moves the fitted curve by far less than its interval; a note names
each value moved.  A forced form takes the logit scale for a bounded metric and falls back
to the identity scale, with a note, when it has no estimate there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scaling.across.backtest import COLUMNS as BACKTEST_COLUMNS
from scaling.across.backtest import SizeBacktest, scored_row, split_plans
from scaling.across.choice import FormChoice, choose_form, form_label, form_spread, forms_for, prediction_columns
from scaling.across.stage2 import FORMS, LINKS, METHODS, Stage2Fit, check_choice, fit_stage2
from scaling.across.tasks import ByTask
from scaling.data.summaries import Summaries
from scaling.exceptions import StatisticalWarning
from scaling.protocol import ResultMixin
from scaling.textsafe import frame_text

#: what the predictions of a per-model table are.
QUANTITY_TABLE = "final score (from a table)"
#: what the predictions of curves are (stage 1 then stage 2).
QUANTITY_CURVES = "ceiling (from curves)"
#: how far a value at the bound of [0, 1] is moved inside for the logit link.
BOUND_EPS = 5e-4


@dataclass(frozen=True, eq=False)
class SummaryResult(ResultMixin):
    """Stage 2 of one task of a per-model table.

    Attributes
    ----------
    task : str
    choice : FormChoice
        Every mean form fitted, their backtest ranking and the weighted prediction
        (:mod:`scaling.across.choice`).
    values : DataFrame
        The task's rows: ``model, params, value, se, fitted_value`` (after any move off the bound).
    notes : tuple of str
        Decisions taken (link fallback, values moved off the bound, what the interval assumes).
    perf_range : (float, float) or None
    quantity : str
    """

    task: str
    choice: FormChoice
    values: pd.DataFrame
    notes: tuple[str, ...] = ()
    perf_range: tuple[float, float] | None = (0.0, 1.0)
    quantity: str = QUANTITY_TABLE

    @property
    def ceiling(self) -> Stage2Fit:
        """The regression of the form with the largest weight (named ``ceiling`` so that planning and the
        prediction columns are those of curves; :attr:`quantity` says what it is)."""
        return self.choice.best

    @property
    def alternatives(self) -> dict:
        """``"form/link"`` -> :class:`Stage2Fit` of every form considered."""
        return self.choice.fits

    @property
    def predictor(self) -> FormChoice:
        """What predicts a new size (the chosen form or the mixture)."""
        return self.choice

    @property
    def fits(self) -> dict:
        return {"ceiling": self.ceiling}

    @property
    def message(self) -> str:
        return "" if self.choice.has_estimate else self.ceiling.message

    @property
    def status(self) -> str:
        return self.ceiling.status.value

    @property
    def label(self) -> str:
        return self.choice.label

    def summary(self) -> pd.DataFrame:
        """The task's per-model values."""
        return self.values.assign(task=self.task)

    def to_frame(self) -> pd.DataFrame:
        return self.summary()

    def predict(self, params, *, n_runs: float | None = None, interval: str | None = None) -> pd.DataFrame:
        """The value predicted at the given sizes, with the columns of :meth:`AcrossResult.predict`.

        ``ceiling_*`` hold the predicted value (``quantity`` says it is a final score), ``a_*``
        and ``b_*`` are NaN (a table has no curve), ``note`` lists the task's notes.
        """
        N = np.atleast_1d(np.asarray(params, dtype=float))
        main = self.choice.predict(N, n_runs=n_runs)
        out = prediction_columns(self.task, self.choice, main)
        notes = list(self.notes)
        if main["cut"].any():
            lo, hi = self.perf_range
            notes.append(f"predictions or interval ends outside [{lo:g}, {hi:g}] were cut to the metric's range")
        for q in ("a", "b"):
            out[f"{q}_pred"] = out[f"{q}_lo"] = out[f"{q}_hi"] = np.nan
        out["interval"] = "analytic"
        width = out["ceiling_mean_hi"].to_numpy() - out["ceiling_mean_lo"].to_numpy()
        for k, v in form_spread(self.choice, N, out["ceiling_pred"].to_numpy(), width, self.task).items():
            out[k] = v
        out["quantity"] = self.quantity
        out["note"] = "; ".join(notes)
        return out

    def summary_text(self) -> str:
        """The task's values, the ranking of the forms and the regression, as ``scaling extrapolate`` prints them."""
        f = self.ceiling
        level = round(100 * f.level)
        lines = [f"task {self.task or '(none)'}: {self.quantity}, {len(self.values)} model(s)"]
        tbl = pd.DataFrame(
            {
                "model": self.values["model"],
                "params": self.values["params"].map(lambda v: f"{v:.3g}"),
                "value": self.values["value"].map(lambda v: f"{v:.4f}"),
                "se": self.values["se"].map(lambda v: "" if not np.isfinite(v) else f"{v:.4f}"),
            }
        )
        lines += ["    " + s for s in frame_text(tbl).to_string(index=False).splitlines()]
        lines += [f"  forms ranked by backtest ({self.choice.note}):", self.choice.ranking_text()]
        centre = f" (centre {10**f.x_center:.3g} params)" if f.has_estimate else ""
        lines.append(f"  stage 2, best form ({f.method}, {f.form}/{f.link}){centre}: {f.status.value}; {f.message}")
        if f.has_estimate:
            for term, r in f.summary().iterrows():
                lines.append(f"    {term:<10} {r['estimate']:+.4f}  se {r['se']:.4f}  {level}% CI [{r['lo']:+.4f}, {r['hi']:+.4f}]")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class SummaryResults(ByTask, ResultMixin):
    """Stage 2 of every task of a per-model table (:func:`fit_summaries`).

    Attributes
    ----------
    results : dict
        Task -> :class:`SummaryResult`.
    summaries : Summaries
    settings : dict
    """

    results: dict
    summaries: Summaries
    settings: dict = field(default_factory=dict)
    quantity: str = QUANTITY_TABLE

    def predict(self, params, *, n_runs: float | None = None, interval: str | None = None) -> pd.DataFrame:
        """:meth:`SummaryResult.predict` for every task with an estimate."""
        frames = [r.predict(params, n_runs=n_runs) for r in self if r.ceiling.has_estimate]
        if not frames:
            raise ValueError("no task has an estimate: " + "; ".join(f"{r.task}: {r.message}" for r in self))
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> pd.DataFrame:
        return pd.concat([r.summary() for r in self], ignore_index=True)

    def to_frame(self) -> pd.DataFrame:
        return self.summary()

    def summary_text(self) -> str:
        return "\n\n".join(r.summary_text() for r in self)


def _resolve(summ: Summaries, method: str | None) -> tuple[str, list[str]]:
    notes = []
    if method is None:
        method = "wls" if summ.has_se else "ols"
    check_choice("method", method, METHODS)
    if not summ.has_se and method != "ols":
        notes.append(f"no standard errors given: method {method!r} needs them, so OLS was used")
        method = "ols"
    if not summ.has_se:
        notes.append("no standard errors: the interval rests on the residual scatter between the models only")
    return method, notes


def _inputs(rows: pd.DataFrame, off_bound: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """params, y (moved off the bound of [0, 1] when ``off_bound``), V, and notes on the moves."""
    y = rows["value"].to_numpy(dtype=float)
    notes = []
    if off_bound:
        at = (y <= 0) | (y >= 1)
        inside = (y >= 0) & (y <= 1)
        if (at & inside).any():
            moved = ", ".join(f"{m} {v:g}" for m, v in zip(rows["model"][at & inside], y[at & inside]))
            notes.append(f"value(s) at the bound moved inside by {BOUND_EPS:g} for the logit link ({moved})")
            y = np.where(inside, np.clip(y, BOUND_EPS, 1 - BOUND_EPS), y)
    se = rows["se"].to_numpy(dtype=float)
    V = np.diag(np.where(np.isfinite(se), se, 0.0) ** 2)
    return rows["params"].to_numpy(dtype=float), y, V, notes


def fit_summaries(
    summaries: Summaries,
    *,
    tasks: Sequence[str] | None = None,
    method: str | None = None,
    link: str | None = None,
    form: str = "auto",
    level: float = 0.9,
) -> SummaryResults:
    """Regress each task's per-model value on log10(params) (stage 2 without stage 1).

    Parameters
    ----------
    summaries : Summaries
        From :func:`scaling.data.summaries.load_summaries`.
    tasks : sequence of str, optional
        Tasks to fit (default: every task).
    method : {"wls", "random", "ols"}, optional
        Default ``wls`` with standard errors, ``ols`` without (then always ``ols``, noted).
    link : {"identity", "logit"}, optional
        Restrict the forms to this link.  Default: identity and logit for a metric in [0, 1]
        (identity only for an unbounded one); with a forced ``form``, logit for a metric in
        [0, 1].
    form : {"auto", "linear", "quadratic", "saturating"}
        ``auto``: every form, weighted by backtest (:func:`scaling.across.choice.choose_form`);
        otherwise that form alone (the ranking is still computed).
    level : float
        Level of the intervals.

    Returns
    -------
    SummaryResults

    Examples
    --------
    >>> import pandas as pd
    >>> from scaling.data.summaries import load_summaries
    >>> t = pd.DataFrame({"model": list("abcd"), "params": [1e8, 1e9, 1e10, 1e11], "v": [1.0, 2.1, 2.9, 4.0]})
    >>> res = fit_summaries(load_summaries(t, "v", perf_scale="none"), form="linear")
    >>> round(float(res[""].predict([1e12])["ceiling_pred"].iloc[0]), 3)
    4.95
    """
    if form != "auto":
        check_choice("form", form, FORMS)
    if link is not None:
        check_choice("link", link, LINKS)
    method, base_notes = _resolve(summaries, method)
    bounded = summaries.perf_range == (0.0, 1.0)
    links = [link] if link else (["identity", "logit"] if bounded else ["identity"])
    force = None if form == "auto" else (form, link or ("logit" if bounded else "identity"))
    known = summaries.tasks
    if tasks:
        unknown = [t for t in tasks if t not in known]
        if unknown:
            raise ValueError(f"task(s) {unknown} not in the table; tasks are {known}")
    results = {}
    for task in tasks or known:
        rows = summaries.table[summaries.table["task"] == task].sort_values("params", kind="stable").reset_index(drop=True)
        N, y, V, moved = _inputs(rows, bounded and ("logit" in links or (force and force[1] == "logit")))
        notes = list(base_notes) + moved
        kw = dict(method=method, level=level, task=task, models=tuple(rows["model"]), quantity="value", perf_range=summaries.perf_range)
        choice = choose_form(N, y, V, np.ones(len(rows)), forms=forms_for(links), force=force, **kw)
        if force and force[1] == "logit" and link is None and not choice.has_estimate and choice.best.status.value != "too few sizes":
            notes.append(f"the logit link has no estimate ({choice.best.message}); fell back to the identity link")
            choice = choose_form(N, y, V, np.ones(len(rows)), forms=forms_for(links), force=(force[0], "identity"), **kw)
        values = rows[["model", "params", "value", "se"]].assign(fitted_value=y)
        results[task] = SummaryResult(task, choice, values, tuple(notes), summaries.perf_range)
    settings = dict(method=method, link=link, form=form, level=level, tasks=tasks)
    return SummaryResults(results, summaries, settings)


def backtest_summaries(
    summaries: Summaries,
    *,
    tasks: Sequence[str] | None = None,
    method: str | None = None,
    forms: Sequence[tuple[str, str]] | None = None,
    level: float = 0.9,
    max_out: int | None = None,
) -> SizeBacktest:
    """Leave-one-size-out and leave-the-largest-out backtests of a per-model table.

    The held-out model's value is predicted from the others and compared with the table
    (``measured`` is the table's value, ``measured_se`` its se).  Columns as
    :func:`scaling.across.backtest.backtest_sizes`.  ``forms`` default: every form on the
    identity link, and on the logit link for a metric in [0, 1].
    """
    method, _ = _resolve(summaries, method)
    bounded = summaries.perf_range == (0.0, 1.0)
    forms = forms if forms is not None else forms_for(["identity", "logit"] if bounded else ["identity"])
    for f_, l_ in forms:
        check_choice("form", f_, FORMS)
        check_choice("link", l_, LINKS)
    rows: list[dict] = []
    for task in tasks or summaries.tasks:
        tab = summaries.table[summaries.table["task"] == task].sort_values("params", kind="stable").reset_index(drop=True)
        for scheme, k, out_idx in split_plans(tab["params"].tolist(), max_out=max_out):
            fit_rows = tab.drop(index=out_idx)
            base = dict(task=task, scheme=scheme, n_out=k, n_fit=len(fit_rows), fit_max_params=float(fit_rows["params"].max()))
            N, y, V, _ = _inputs(fit_rows, bounded)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                fits = [fit_stage2(N, y, V, np.ones(len(N)), method=method, link=link, form=form, level=level, task=task) for form, link in forms]
            for i in out_idx:
                held = tab.iloc[i]
                for (form, link), s2 in zip(forms, fits):
                    row = dict(base, held_out=held["model"], params=float(held["params"]), form=form_label(form, link),
                               measured=float(held["value"]), measured_se=float(held["se"]))  # fmt: skip
                    rows.append(scored_row(row, s2, s2.predict([held["params"]]).iloc[0], float(held["value"])))
    empty_runs = pd.DataFrame(columns=["task", "run", "model", "params", "algorithm", "seed", "status", "used", "reason"])
    return SizeBacktest(pd.DataFrame(rows, columns=BACKTEST_COLUMNS), level, empty_runs)
