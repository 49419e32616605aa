"""Every analysis of a data set, computed once from one settings object.

A :class:`Study` fits every run (:func:`scaling.fitting.dataset.fit_dataset`), then
forecasts the usable runs from a prefix (:func:`scaling.forecasting.forecast.forecast_dataset`),
compares the algorithms within each model (:func:`scaling.comparison.compare_algorithms`)
and fits the ceilings across model sizes with their extrapolation and backtest
(:func:`scaling.across.predict.fit_across`, :func:`scaling.across.backtest.backtest_sizes`),
each once.  The comparison and the cross-size analyses screen runs by their own free
fit; they reuse the stage-1 fits for that (:func:`scaling.fitting.screen.rescreen`
gives the status a refit would), so every run is fitted once per study.

The result records each analysis' result, or why it was not run, and the warnings
raised while computing it.  The report (:func:`scaling.reporting.page.write_report`)
renders a study and computes nothing::

    from scaling.data.load import load
    from scaling.study import Study, StudySettings

    study = Study.run(load("runs.csv"), StudySettings(analyses=("forecast", "compare")))
    study.summary()
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from scaling.across.backtest import SizeBacktest, backtest_sizes
from scaling.across.predict import AcrossResult, AcrossResults, fit_across
from scaling.across.summaries import SummaryResult, SummaryResults
from scaling.comparison import (
    DIFFERENT,
    EQUIVALENT,
    INCONCLUSIVE,
    NOT_TESTABLE,
    SAME,
    VERDICTS,
    CompareOptions,
    Comparison,
    compare_algorithms,
)
from scaling.core import law
from scaling.data.load import Dataset
from scaling.exceptions import failure, recorded_warnings
from scaling.fitting.dataset import FitResults, fit_dataset
from scaling.fitting.single import FitOptions, FitStatus, RunFit
from scaling.forecasting.forecast import (
    FORECAST_OK,
    ForecastOptions,
    Forecasts,
    RunForecast,
    forecast_dataset,
    forecast_unfinished,
)
from scaling.forked import ChildFailed, check_jobs, forked_map

__all__ = [
    "ANALYSES",
    "AcrossOptions",
    "Study",
    "StudySettings",
    # result types and labels the report reads (it imports no analysis module itself)
    "AcrossResult",
    "AcrossResults",
    "Comparison",
    "Forecasts",
    "RunForecast",
    "SizeBacktest",
    "SummaryResult",
    "SummaryResults",
    "FORECAST_OK",
    "SAME",
    "EQUIVALENT",
    "INCONCLUSIVE",
    "DIFFERENT",
    "NOT_TESTABLE",
    "VERDICTS",
]

#: the analyses beyond the per-run fits, in the order a study runs them.
ANALYSES = ("forecast", "compare", "across")
_TITLES = {
    "fit": "per-run fits",
    "forecast": "early prediction",
    "compare": "algorithm comparison",
    "across": "across model sizes",
}


@dataclass(frozen=True)
class AcrossOptions:
    """Settings of the analysis across model sizes (stage 1 and 2, extrapolation, backtest).

    Attributes
    ----------
    c : float, optional
        Fix the shared rate; default estimated per task.
    method : {"wls", "random", "ols"}
        Stage-2 estimator.
    link : {"identity", "logit"}, optional
        Restrict the ceiling's forms to this link (default: both for a metric in [0, 1]).
    form : {"auto", "linear", "quadratic", "saturating"}
        Mean form of the ceiling in log10(params); ``auto`` weighs every form by backtest.
    algorithms : tuple of str, optional
        Pool only runs of these algorithms.
    n_boot : int
        Two-stage bootstrap replicates (0: analytic intervals).
    seed : int
        Seed of that bootstrap.
    multiples : tuple of float
        Sizes to extrapolate to, as multiples of each task's largest size.
    """

    c: float | None = None
    method: str = "wls"
    link: str | None = None
    form: str = "auto"
    algorithms: tuple[str, ...] | None = None
    n_boot: int = 0
    seed: int = 0
    multiples: tuple[float, ...] = (10.0, 100.0)

    def __post_init__(self) -> None:
        if not self.multiples or any(not m > 0 for m in self.multiples):
            raise ValueError(f"multiples must be positive numbers, got {self.multiples}")


@dataclass(frozen=True)
class StudySettings:
    """Everything a :class:`Study` computes with, in one place.

    Attributes
    ----------
    mode : {"free", "paper", "shared"}
        How c is obtained in the per-run fits (:func:`scaling.fitting.dataset.fit_dataset`).
    share_by : tuple of str, optional
        With ``mode="shared"``: the columns whose values form the groups sharing c.
    fit : FitOptions
        Intervals, level and thresholds of the per-run fits; the level (``1 - alpha``)
        and ``r2_min`` are also the defaults of the other analyses.
    forecast : ForecastOptions, optional
        Default ``ForecastOptions(alpha=fit.alpha)``.
    forecast_fraction : float
        Prefix of each run the forecasts see (0.15: Cui et al. fitted 36 of ~236 points).
    horizon : float, optional
        The step every run is meant to reach: a usable run that stops before it is
        unfinished and forecast to it (:func:`scaling.forecasting.forecast.forecast_unfinished`);
        default the last step of the longest run of its model (on its task).
    compare : CompareOptions, optional
        Default ``CompareOptions(r2_min=fit.r2_min)``.
    across : AcrossOptions
        Settings across model sizes (level and ``r2_min`` from ``fit``).
    analyses : tuple of str
        Which of :data:`ANALYSES` to run; the per-run fits always run.

    Examples
    --------
    >>> s = StudySettings(fit=FitOptions(alpha=0.1), analyses=("compare",))
    >>> s.level, s.forecast_options.alpha, s.compare_options.r2_min
    (0.9, 0.1, 0.6)
    """

    mode: str = "free"
    share_by: tuple[str, ...] | None = None
    fit: FitOptions = field(default_factory=FitOptions)
    forecast: ForecastOptions | None = None
    forecast_fraction: float = 0.15
    horizon: float | None = None
    compare: CompareOptions | None = None
    across: AcrossOptions = field(default_factory=AcrossOptions)
    analyses: tuple[str, ...] = ANALYSES

    def __post_init__(self) -> None:
        if self.mode not in ("free", "paper", "shared"):
            raise ValueError(f"mode must be free, paper or shared, got {self.mode!r}")
        unknown = [a for a in self.analyses if a not in ANALYSES]
        if unknown:
            raise ValueError(f"analyses names unknown analysis(es) {unknown}; choose from {list(ANALYSES)}")
        if not 0 < self.forecast_fraction < 1:
            raise ValueError(f"forecast_fraction must lie in (0, 1), got {self.forecast_fraction}")
        if self.horizon is not None and not (math.isfinite(self.horizon) and self.horizon > 0):
            raise ValueError(f"horizon must be a positive step, got {self.horizon}")
        if self.share_by is not None and isinstance(self.share_by, str):
            raise ValueError(f"share_by must be a tuple of column names, got the string {self.share_by!r}")

    @property
    def level(self) -> float:
        """Confidence level of the per-run fits and the cross-size analysis."""
        return 1.0 - self.fit.alpha

    @property
    def forecast_options(self) -> ForecastOptions:
        """The forecasts' options (:attr:`forecast` or the default at the study's level)."""
        return self.forecast if self.forecast is not None else ForecastOptions(alpha=self.fit.alpha)

    @property
    def compare_options(self) -> CompareOptions:
        """The comparison's options (:attr:`compare` or the default with the fits' ``r2_min``)."""
        return self.compare if self.compare is not None else CompareOptions(r2_min=self.fit.r2_min)


@dataclass(frozen=True, eq=False)
class Study:
    """The per-run fits and every requested analysis of one data set, each computed once.

    Build it with :meth:`Study.run`.

    Attributes
    ----------
    data : Dataset
        The loaded data.
    settings : StudySettings
    fits : FitResults
        The per-run fits.
    forecast : Forecasts or None
        Forecasts of the runs with a usable fit (and of those whose status is ``late collapse``,
        which the report shows apart) from :attr:`StudySettings.forecast_fraction` of their
        points; None when not run.
    unfinished : Forecasts or None
        Where the unfinished usable runs will end (:attr:`StudySettings.horizon`), forecast
        from all their points with the early prediction's method; empty when every run
        reached its horizon, None when the forecasts were not run.
    comparison : Comparison or None
        The algorithm comparison per model.
    across : AcrossResults or None
        Stage 1 and 2 across model sizes, every task.
    across_predictions : dict
        Task -> DataFrame of predicted ceilings (and a, b) at the
        :attr:`AcrossOptions.multiples` of the task's largest size, for the tasks with
        3 or more usable sizes and a stage-2 estimate (:meth:`extrapolated_tasks`).
    size_backtest : SizeBacktest or None
        Leave-one-out and leave-largest-out backtests of those tasks.
    skipped : dict
        Analysis name (``forecast``, ``compare``, ``across``) -> why it was not run (the
        data do not allow it, or it failed; the message says which).  Analyses not
        requested in the settings are absent from both the results and this dict.
    warnings : dict
        Step (``fit`` and the analyses' names) -> tuple of the warning messages
        (:class:`~scaling.exceptions.StatisticalWarning`, :class:`~scaling.exceptions.DataWarning`)
        raised while computing it.  They are recorded here, not re-raised.
    reused_fits : bool
        Whether the screening of runs reused :attr:`fits` (mode ``free`` with HAC
        intervals); otherwise one separate free HAC fit of each run was made for it.
    """

    data: Dataset
    settings: StudySettings
    fits: FitResults
    forecast: Forecasts | None = None
    unfinished: Forecasts | None = None
    comparison: Comparison | None = None
    across: AcrossResults | None = None
    across_predictions: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    size_backtest: SizeBacktest | None = None
    skipped: Mapping[str, str] = field(default_factory=dict)
    warnings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    reused_fits: bool = True

    # ----- computing -------------------------------------------------------------------
    @classmethod
    def run(cls, data: Dataset, settings: StudySettings | None = None, *, jobs: int = 1) -> Study:
        """Fit every run and run the requested analyses, each once.

        Parameters
        ----------
        data : Dataset
            From :func:`scaling.data.load.load` or a reader.
        settings : StudySettings, optional
            Default :class:`StudySettings` (free fits, HAC intervals at 95%, every analysis).
        jobs : int
            Analyses run at once once the runs are fitted, each in a forked process
            (:func:`scaling.forked.forked_map`; Linux, elsewhere one at a time).  The results
            are the same for any value.

        Returns
        -------
        Study
            One analysis that fails or that the data do not allow does not stop the
            others: it is listed in :attr:`skipped` with the reason.

        Raises
        ------
        ValueError
            Bad settings for the per-run fits (e.g. ``share_by`` naming an unknown column),
            or ``jobs`` below 1 (before any work).
        """
        s = settings or StudySettings()
        jobs = check_jobs(jobs)
        seen: dict[str, tuple[str, ...]] = {}
        skipped: dict[str, str] = {}
        out: dict = {}
        with law.single_threaded_blas():  # many small products: threads only wait for each other
            with recorded_warnings() as caught:
                fits = fit_dataset(data, s.mode, s.fit, share_by=list(s.share_by) if s.share_by else None)
            seen["fit"] = tuple(caught)
            screen = _screening_fits(data, fits)
            names = [name for name in ANALYSES if name in s.analyses]
            tasks = [partial(_analysis, name, data, fits, s, screen) for name in names]
            with closing(forked_map(tasks, jobs)) as results:
                for name, got in zip(names, results):
                    if isinstance(got, ChildFailed):
                        got = ({}, got.message, ())
                    found, why, caught = got
                    out.update(found)
                    if why:
                        skipped[name] = why
                    seen[name] = caught
        reused = screen is None or screen is fits
        return cls(data, s, fits, skipped=skipped, warnings=seen, reused_fits=reused, **out)

    # ----- reading ---------------------------------------------------------------------
    @property
    def level(self) -> float:
        """Confidence level of the per-run fits (``1 - alpha``)."""
        return 1.0 - self.fits.options.alpha

    def ran(self, name: str) -> bool:
        """Whether analysis ``name`` was requested and has a result."""
        return name in self.settings.analyses and name not in self.skipped

    def extrapolated_tasks(self) -> list[AcrossResult]:
        """The tasks across sizes with 3 or more usable sizes and a stage-2 estimate of the ceiling."""
        return _good_tasks(self.across) if self.across is not None else []

    def all_warnings(self) -> list[str]:
        """Every recorded warning, in the order of the steps, without repeats."""
        return list(dict.fromkeys(w for ws in self.warnings.values() for w in ws))

    def summary(self) -> pd.DataFrame:
        """One row per step: what was computed, or why not.

        Returns
        -------
        DataFrame
            Columns ``analysis`` (fit, forecast, compare, across), ``status`` (``done``,
            ``skipped``, ``not requested``), ``result`` (the headline in words),
            ``reason`` (why skipped) and ``warnings`` (how many were recorded).
        """
        rows = [dict(analysis="fit", status="done", result=self._fit_words(), reason="", warnings=len(self.warnings.get("fit", ())))]
        for name in ANALYSES:
            if name not in self.settings.analyses:
                status, result, reason = "not requested", "", ""
            elif name in self.skipped:
                status, result, reason = "skipped", "", self.skipped[name]
            else:
                status, result, reason = "done", self._words(name), ""
            rows.append(dict(analysis=name, status=status, result=result, reason=reason, warnings=len(self.warnings.get(name, ()))))
        return pd.DataFrame(rows, columns=["analysis", "status", "result", "reason", "warnings"])

    def to_frame(self) -> pd.DataFrame:
        """The per-run fits (:meth:`FitResults.to_frame`), with each forecast's prediction where one was made.

        Returns
        -------
        DataFrame
            One row per run; with forecasts, also ``forecast_status``, ``final_pred``,
            ``final_lo``, ``final_hi`` and ``final_actual``.
        """
        frame = self.fits.to_frame()
        if self.forecast is not None and len(self.forecast):
            fc = self.forecast.to_frame()[["run", "status", "final_pred", "final_lo", "final_hi", "final_actual"]]
            frame = frame.merge(fc.rename(columns={"status": "forecast_status"}), on="run", how="left")
        return frame

    def _repr_html_(self) -> str:
        summ = self.summary()
        head = (
            f"<p><strong>Study</strong> of {html.escape(str(self.data.source or 'a table'))}: "
            f"{len(self.fits)} runs, mode {html.escape(self.fits.mode)}, {html.escape(self.fits.options.ci)} "
            f"intervals at {100 * self.level:.3g}%</p>"
        )
        return head + summ.to_html(index=False, escape=True)

    def __repr__(self) -> str:
        done = [a for a in ANALYSES if self.ran(a)]
        return f"Study({len(self.fits)} runs, mode {self.fits.mode!r}, analyses done {done}, skipped {sorted(self.skipped)})"

    def _fit_words(self) -> str:
        counts = self.fits.status_counts()
        return f"{len(self.fits)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items())

    def _words(self, name: str) -> str:
        if name == "forecast" and self.forecast is not None:
            ok = sum(1 for f in self.forecast if f.usable)
            return f"{ok} of {len(self.forecast)} runs forecast from their first {self.forecast.fraction:.0%}"
        if name == "compare" and self.comparison is not None:
            counts = pd.Series([m.verdict for m in self.comparison]).value_counts()
            return f"{len(self.comparison)} models: " + ", ".join(f"{n} {v}" for v, n in counts.items())
        if name == "across" and self.across is not None:
            good = self.extrapolated_tasks()
            return f"{len(self.across)} task(s), {len(good)} extrapolated"
        return ""


# ----- the steps -----------------------------------------------------------------------------
def _analysis(name: str, data: Dataset, fits: FitResults, s: StudySettings, screen) -> tuple[dict, str, tuple[str, ...]]:
    """Run one analysis: its results (attributes of the Study), why it did not run ("" when it did), its warnings."""
    results, why = {}, ""
    with recorded_warnings() as caught:
        try:
            why = _PRECHECKS[name](data, fits)
            if not why:
                results = _RUNNERS[name](data, fits, s, screen)
        except Exception as err:  # one failing analysis must not lose the others
            why = failure(err)
    return results, why, tuple(dict.fromkeys(caught))


def _screening_fits(data: Dataset, fits: FitResults) -> Mapping[str, RunFit] | FitResults:
    """Fits the screenings can reuse: the per-run fits when free with HAC intervals, else one free HAC fit of each run."""
    o = fits.options
    if fits.mode == "free" and o.ci == "hac" and o.maxlags is None:
        return fits
    return fit_dataset(data, "free", FitOptions(ci="hac", r2_min=o.r2_min))


def _by_run(fits: FitResults) -> dict[str, RunFit]:
    return {f.run: f for f in fits}


def _usable_runs(fits: FitResults) -> list[str]:
    return [f.run for f in fits.fits if f.status.usable and f.entropy.size]


def _check_forecast(data: Dataset, fits: FitResults) -> str:
    if not _usable_runs(fits):
        return "early prediction needs at least one run whose whole-run fit is usable; none is"
    return ""


def _check_compare(data: Dataset, fits: FitResults) -> str:
    pts = data.points
    algos = sorted({str(a) for a in pts["algorithm"]} - {""}) if "algorithm" in pts else []
    if len(algos) < 2:
        what = f"only one ({algos[0]})" if algos else "none (map an algorithm column with --algorithm)"
        return f"comparing algorithms needs runs of at least two algorithms; the data have {what}"
    return ""


def _check_across(data: Dataset, fits: FitResults) -> str:
    pts = data.points
    task_col = pts["task"].astype(str) if "task" in pts else pd.Series("", index=pts.index)
    sizes = pts.assign(_task=task_col).groupby("_task")["params"].nunique()
    if sizes.empty or sizes.max() < 3:
        detail = ", ".join(f"{t or '(all runs)'}: {n}" for t, n in sizes.items())
        return f"the regression across sizes needs at least 3 model sizes in a task; the data have {detail or 'none'}"
    return ""


def _collapsed_runs(fits: FitResults) -> list[str]:
    return [f.run for f in fits.fits if f.status == FitStatus.LATE_COLLAPSE and f.entropy.size]


def _run_forecast(data: Dataset, fits: FitResults, s: StudySettings, screen) -> dict:
    # runs that collapsed late are forecast too, to be reported apart (a finding, not noise to drop)
    fc = forecast_dataset(data, s.forecast_fraction, options=s.forecast_options, runs=_usable_runs(fits) + _collapsed_runs(fits))
    unfinished = forecast_unfinished(data, horizon=s.horizon, options=s.forecast_options, runs=_usable_runs(fits))
    return {"forecast": fc, "unfinished": unfinished}


def _run_compare(data: Dataset, fits: FitResults, s: StudySettings, screen) -> dict:
    return {"comparison": compare_algorithms(data, options=s.compare_options, fits=_by_run(screen))}


def _good_tasks(ac: AcrossResults) -> list[AcrossResult]:
    return [r for r in ac if r.stage1 is not None and r.stage1.K >= 3 and r.ceiling is not None and r.ceiling.has_estimate]


def _run_across(data: Dataset, fits: FitResults, s: StudySettings, screen) -> dict:
    a, r2_min = s.across, s.fit.r2_min
    given = _by_run(screen)
    algorithms = list(a.algorithms) if a.algorithms is not None else None
    ac = fit_across(data, c=a.c, method=a.method, link=a.link, form=a.form, level=s.level, algorithms=algorithms,
                    r2_min=r2_min, n_boot=a.n_boot, seed=a.seed, fits=given)  # fmt: skip
    good = _good_tasks(ac)
    preds = {r.task: r.predict([float(r.stage1.params.max()) * m for m in a.multiples]) for r in good}
    out: dict = {"across": ac, "across_predictions": preds}
    if good:
        level = ac.settings.get("level", s.level)
        out["size_backtest"] = backtest_sizes(data, tasks=[r.task for r in good], c=a.c, method=a.method, level=level,
                                              algorithms=algorithms, r2_min=r2_min, fits=given)  # fmt: skip
    return out


_PRECHECKS = {"forecast": _check_forecast, "compare": _check_compare, "across": _check_across}
_RUNNERS = {"forecast": _run_forecast, "compare": _run_compare, "across": _run_across}


def analysis_title(name: str) -> str:
    """The name of a step in words (``compare`` -> ``algorithm comparison``)."""
    return _TITLES.get(name, name)
