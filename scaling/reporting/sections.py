"""Report sections for the analyses beyond stage 1: early prediction, algorithm comparison, sizes.

Three section builders in the pattern of :mod:`scaling.reporting.blocks` (each takes a
:class:`~scaling.reporting.blocks.ReportContext` and returns a :class:`~scaling.reporting.blocks.Section`,
or raises :class:`~scaling.reporting.blocks.SkipSection` saying why the data did not allow it).
They render the results of ``ctx.study`` (:class:`scaling.study.Study`) and compute no analysis:

* :func:`forecast_section` - every run with a usable fit, forecast from its first 15%
  of points (``study.forecast``: the law with c = 1 fitted to the prefix, the entropy
  trajectory extrapolated); predicted final value with its prediction interval against
  what happened, errors and coverage with intervals, and a figure of predicted vs
  actual over a few runs spanning the range of errors;
* :func:`compare_section` - per model, one curve for all algorithms against one per
  algorithm (``study.comparison``): verdicts with their numbers in words, and the
  algorithm overlay;
* :func:`across_section` - per task with at least 3 usable model sizes, stage 1 and 2
  across sizes (``study.across``): ceiling, a and b against parameters on a log axis
  with the stage-2 line, its bands and the predictions at 10x and 100x the largest
  size (``study.across_predictions``), the alternative mean forms, and the
  leave-largest-out backtest (``study.size_backtest``).

Intervals on the page are at the report's level (``1 - ctx.fits.options.alpha``)
unless a section says otherwise (the equivalence intervals of the comparison are 90%
simultaneous intervals, two one-sided 5% tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from scaling.fitting.single import run_points
from scaling.fitting.status import FitStatus
from scaling.plotting import figures as plots
from scaling.reporting.blocks import (
    ReportContext,
    ReportFigure,
    Section,
    SkipSection,
    _interval,
    _num,
    _params_key,
    _plural,
    esc,
    html_table,
    paragraph,
    ranking_table,
)
from scaling.study import (
    DIFFERENT,
    EQUIVALENT,
    FORECAST_OK,
    INCONCLUSIVE,
    NOT_TESTABLE,
    SAME,
    VERDICTS,
    AcrossResult,
    RunForecast,
    SizeBacktest,
    Study,
    analysis_title,
)

#: most runs drawn in the forecast figure.
FORECAST_PANELS = 4


# --------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------
def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """The median with a distribution-free confidence interval from order statistics.

    Parameters
    ----------
    values : sequence of float
        Independent observations (NaN ignored).
    level : float
        Confidence level, in (0, 1).

    Returns
    -------
    median, lo, hi : float
        ``lo, hi`` are the order statistics ``x_(j), x_(n+1-j)`` with the largest ``j``
        such that ``P(x_(j) <= median < x_(n+1-j)) >= level`` (binomial with p = 1/2).
    achieved : float
        The interval's exact coverage; below ``level`` only when even the range
        ``[min, max]`` falls short (fewer than 6 values at 95%).  NaN without values.

    Examples
    --------
    >>> m, lo, hi, cov = median_interval(range(1, 21), 0.95)
    >>> m, lo, hi, round(cov, 3)
    (10.5, 6.0, 15.0, 0.959)
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    x = np.sort(np.asarray(values, dtype=float))
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    med = float(np.median(x))
    j = np.arange(1, n // 2 + 1)  # candidate lower ranks (1-based); upper rank n + 1 - j
    cover = stats.binom.cdf(n - j, n, 0.5) - stats.binom.cdf(j - 1, n, 0.5)
    ok = np.flatnonzero(cover >= level)
    k = int(j[ok[-1]]) if ok.size else 1
    achieved = float(stats.binom.cdf(n - k, n, 0.5) - stats.binom.cdf(k - 1, n, 0.5)) if n > 1 else 0.0
    return med, float(x[k - 1]), float(x[n - k]), achieved


def proportion_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval of a proportion ``k / n`` (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return math.nan, math.nan
    lo, hi = proportion_confint(k, n, alpha=1 - level, method="beta")
    return float(lo), float(hi)


def _badge(text: str, cls: str) -> str:
    return f'<span class="badge {esc(cls)}">{esc(text)}</span>'


def _pct(x: float, digits: int = 0) -> str:
    return "" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def _pts(x: float, scale: float, digits: int = 2) -> str:
    """A difference in display units (points for a 0-1 metric)."""
    return "" if x is None or not np.isfinite(x) else f"{x * scale:.{digits}f}"


def _report_level(ctx: ReportContext) -> float:
    return 1.0 - ctx.fits.options.alpha


def _median_text(values, level: float, digits: int = 3, scale: float = 1.0, unit: str = "") -> str:
    if scale == 100.0:  # points of a 0-1 metric: two decimals are enough
        digits = min(digits, 2)
    m, lo, hi, achieved = median_interval(values, level)
    if not np.isfinite(m):
        return "n/a"
    u = f" {unit}" if unit else ""
    if achieved + 1e-12 < level:
        return f"{m * scale:.{digits}f}{u} (range {lo * scale:.{digits}f} to {hi * scale:.{digits}f}: too few runs for a {level:.0%} interval)"
    return f"{m * scale:.{digits}f}{u} [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def _sort_key(task: str, params: float, model: str, algorithm: str, seed: str):
    return (str(task), _params_key(params), str(model), str(algorithm), str(seed))


def _grid(n: int, ncols: int, panel: tuple[float, float]):
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plots.new_figure(nrows, ncols, (panel[0] * ncols, panel[1] * nrows))
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def _require(study: Study, name: str) -> None:
    """Raise :class:`SkipSection` when the study did not run analysis ``name``, saying why."""
    if name in study.skipped:
        raise SkipSection(study.skipped[name])
    if name not in study.settings.analyses:
        raise SkipSection(f"the study was not asked for the {analysis_title(name)} (StudySettings.analyses)")


def _scale(ctx: ReportContext) -> tuple[float, str]:
    return (100.0, "points") if ctx.data.perf_range == (0.0, 1.0) else (1.0, "units")


# --------------------------------------------------------------------------------
# early prediction
# --------------------------------------------------------------------------------
def judged_forecasts(ctx: ReportContext) -> tuple[list[RunForecast], list[RunForecast]]:
    """The early prediction's forecasts of the runs with a usable whole-run fit, and those of them
    that were made and can be checked against a final value (what its errors and coverage count)."""
    usable = {f.run for f in ctx.fits.fits if f.status.usable and f.entropy.size}
    forecasts = [f for f in ctx.study.forecast if f.run in usable]
    return forecasts, [f for f in forecasts if f.usable and np.isfinite(f.final_actual)]


def _inside(f: RunForecast) -> bool:
    """Whether the final value lies inside the forecast's prediction interval."""
    return bool(f.final_lo <= f.final_actual <= f.final_hi)


def forecast_section(ctx: ReportContext) -> Section:
    """Forecast each usable run's final performance from its first 15% of points.

    Parameters
    ----------
    ctx : ReportContext
        Renders ``ctx.study.forecast`` (the forecasts of the runs with a usable fit).

    Returns
    -------
    Section
        Key ``forecast``: the method and headline errors in words, a per-model summary,
        the per-run table (predicted final value with its prediction interval, actual,
        error), a figure of predicted vs actual over up to four runs; CSV tables
        ``forecast_runs`` and ``forecast_summary``.

    Raises
    ------
    SkipSection
        No run has a usable fit, or no usable run could be forecast (the study's reason
        when it did not run the forecasts).
    """
    _require(ctx.study, "forecast")
    level = _report_level(ctx)
    fc = ctx.study.forecast
    fraction, opts = fc.fraction, fc.options
    forecasts, ok = judged_forecasts(ctx)
    if not forecasts:
        raise SkipSection("the study's forecasts hold none of the runs with a usable fit")
    if not ok:
        reasons = pd.Series([f.status for f in forecasts]).value_counts()
        why = ", ".join(f"{n} {s}" for s, n in reasons.items())
        example = next((f.message for f in forecasts if f.message), "")
        raise SkipSection(
            f"no run could be forecast from its first {fraction:.0%} of points ({why}"
            + (f"; e.g. {example}" if example else "")
            + ")"
        )
    flevel = 1 - opts.alpha
    flvl = f"{100 * flevel:.3g}%"
    scale, unit = _scale(ctx)
    shown = fc if len(forecasts) == len(fc) else type(fc)(tuple(forecasts), fraction, opts)
    frame = shown.to_frame()
    errors = np.array([f.error for f in ok])
    inside = np.array([_inside(f) for f in ok])
    widths = np.array([f.final_hi - f.final_lo for f in ok])
    obs_err = np.array([f.observed_error for f in ok])
    rmse_rest = np.array([f.rmse_rest for f in ok])
    k, n = int(inside.sum()), len(ok)
    cov_lo, cov_hi = proportion_interval(k, n, level)
    family = ok[0].trajectory.family if ok[0].trajectory is not None else opts.family
    law_words = "with c fixed at 1 (the paper's form)" if opts.mode == "paper" else "with c fitted"
    lvl = ctx.level

    body = [
        paragraph(
            f"Each run whose whole-run fit is usable was cut after its first {fraction:.0%} of validation points",
            f"(as Cui et al. 2025 did with 36 of about 236). The law {law_words} was fitted to that prefix, the",
            f"entropy trajectory H(step) was fitted to the prefix too ({family} decay) and extrapolated to the run's",
            "last step, and the law turned that entropy into a forecast of the final performance, with a",
            f"{flvl} prediction interval for the observed value ({opts.n_boot} draws of the law's parameters, the",
            "trajectory and the observation noise). No point after the prefix was used.",
        ),
        paragraph(
            f"{n} of {_plural(len(forecasts), 'run')} could be forecast.",
            f"Median absolute error of the final value: {_median_text(np.abs(errors), level, 3, scale, unit)}",
            f"({lvl} CI over runs, order statistics);",
            f"the {flvl} prediction intervals contained the final value for {k} of {n} runs",
            f"({_pct(k / n)}, {lvl} CI {_pct(cov_lo)} to {_pct(cov_hi)}; Clopper-Pearson);",
            f"median interval width {_median_text(widths, level, 3, scale, unit)}.",
            "For reference, the paper's protocol (the law from the prefix applied to the entropies actually logged later,",
            f"so not a forecast) misses the final value by a median of {_median_text(np.abs(obs_err), level, 3, scale, unit)}",
            f"and every later point by a median RMSE of {_median_text(rmse_rest, level, 3, scale, unit)}.",
            "Runs are treated as independent in these intervals (runs of one model are alike, so they are optimistic).",
        ),
    ]
    verdict = _coverage_verdict(k, n, cov_lo, cov_hi, flevel)
    body.append(paragraph(verdict))
    warns = []
    if cov_hi < flevel:
        warns.append(
            f"Early prediction: the {flvl} forecast intervals contained the final value for only {k} of {n} runs "
            f"({_pct(k / n)}, {lvl} CI {_pct(cov_lo)} to {_pct(cov_hi)}): they are too narrow on these data."
        )
    collapsed = [f for f in fc if f.run in _collapsed(ctx)]
    if collapsed:
        body.append(paragraph(_collapse_text(collapsed, fraction, level, scale, unit)))
    not_ok = [f for f in forecasts if not f.usable]
    if not_ok:
        counts = pd.Series([f.status for f in not_ok]).value_counts()
        body.append(
            paragraph(
                f"{_plural(len(not_ok), 'run')} with a usable whole-run fit could not be forecast from the prefix:",
                "; ".join(f"{c} {s}" for s, c in counts.items()) + ". The table says why for each.",
            )
        )

    # per model
    ok_frame = frame[frame["status"] == FORECAST_OK].copy()
    ok_frame["inside"] = (ok_frame["final_lo"] <= ok_frame["final_actual"]) & (
        ok_frame["final_actual"] <= ok_frame["final_hi"]
    )
    by_model = []
    for (task, model), grp in ok_frame.groupby(["task", "model"], sort=False):
        by_model.append(
            {
                "task": task,
                "model": model,
                "params": plots.format_params(grp["params"].iloc[0]),
                "runs forecast": len(grp),
                f"median |error| ({unit})": _pts(grp["error"].abs().median(), scale),
                "largest |error|": _pts(grp["error"].abs().max(), scale),
                "inside interval": f"{int(grp['inside'].sum())} of {len(grp)}",
                "median bias (pred − actual)": _pts(grp["error"].median(), scale),
            }
        )
    if by_model:
        bm = pd.DataFrame(by_model)
        bm["_key"] = [_params_key(p) for p in ok_frame.groupby(["task", "model"], sort=False)["params"].first()]
        bm = bm.sort_values(["task", "_key"]).drop(columns="_key")
        if not bm["task"].astype(str).str.len().any():
            bm = bm.drop(columns="task")
        body.append(html_table(bm, caption=f"Forecast errors per model, in {unit} of {ctx.perf_label}"))

    # per run
    rows, classes = [], []
    for f in sorted(forecasts, key=lambda f: _sort_key(f.task, f.params, f.model, f.algorithm, f.seed)):
        if f.usable:
            hit = _inside(f)
            rows.append(
                {
                    "run": f.run,
                    "points fitted": f"{f.n_fit} of {f.n_total}",
                    "final step": f"{f.horizon:g}",
                    f"predicted final [{flvl} PI]": _interval(f.final_pred, f.final_lo, f.final_hi),
                    "actual": _num(f.final_actual),
                    "error": f"{f.error:+.3f}" if np.isfinite(f.error) else "",
                    "inside?": "yes" if hit else "no",
                    "status": _badge(f.status, "ok" if hit else "caveat"),
                    "what it means": (
                        "forecast made; the final value lies inside its interval"
                        if hit
                        else "forecast made; the final value lies outside its interval"
                    ),
                }
            )
            classes.append("ok" if hit else "caveat")
        else:
            rows.append(
                {
                    "run": f.run,
                    "points fitted": f"{f.n_fit} of {f.n_total}",
                    "final step": "" if not np.isfinite(f.horizon) else f"{f.horizon:g}",
                    f"predicted final [{flvl} PI]": "",
                    "actual": _num(f.final_actual),
                    "error": "",
                    "inside?": "",
                    "status": _badge(f.status, "bad"),
                    "what it means": f"no forecast: {f.message}",
                }
            )
            classes.append("bad")
    table = pd.DataFrame(rows)
    body.append(
        f"<details><summary>Forecast of every run ({len(rows)})</summary>"
        + html_table(table, markup_columns=["status"], row_classes=classes)
        + "</details>"
    )

    # figure: runs spanning the range of errors
    chosen = _representative(ok, FORECAST_PANELS)
    pts = run_points(ctx.data.points)
    fig, axes = _grid(len(chosen), 2, (6.0, 4.2))
    for ax, (label, f) in zip(axes, chosen):
        pf = f.plot_frame("trajectory", prefix=pts.get(f.run))
        plots.plot_forecast(pf, ax=ax, perf_label=ctx.perf_label, level=flevel, title=f"{f.run} ({label})")
    names = "; ".join(f"{f.run}: error {f.error:+.3f}" for _, f in chosen)
    caption = (
        f"Predicted against actual over the run, for {_plural(len(chosen), 'run')} spanning the range of forecast errors "
        f"({names}). Grey: the fitted prefix ({fraction:.0%} of the points); orange: the forecast from the extrapolated "
        f"entropy with its {flvl} prediction interval; black: what was observed."
    )
    figures = (ReportFigure("forecast_runs", caption, fig),)
    summary = shown.summary()
    return Section(
        "forecast",
        "Early prediction",
        "".join(body),
        figures=figures,
        tables=(("forecast_runs", frame), ("forecast_summary", summary)),
        warnings=tuple(warns),
    )


def _collapsed(ctx: ReportContext) -> set[str]:
    """Runs whose whole-run status is ``late collapse``."""
    return {f.run for f in ctx.fits.fits if f.status == FitStatus.LATE_COLLAPSE}


def _collapse_text(collapsed: list[RunForecast], fraction: float, level: float, scale: float, unit: str) -> str:
    """One sentence on the runs that collapsed late, reported apart from the forecast errors above."""
    names = ", ".join(f.run for f in collapsed)
    head = (
        f"{_plural(len(collapsed), 'run')} collapsed late (status late collapse: performance fell after its peak while "
        f"entropy did not rise): {names}. They are left out of the numbers above and reported apart:"
    )
    made = [f for f in collapsed if f.usable and np.isfinite(f.error)]
    if not made:
        return head + f" none could be forecast from its first {fraction:.0%}."
    err = np.array([f.error for f in made])
    return (
        head
        + f" forecast from the same prefix, the law missed the final value of {len(made)} of them by a median of "
        + f"{_median_text(np.abs(err), level, 3, scale, unit)} (median predicted − actual {_pts(float(np.median(err)), scale)} {unit}),"
        + " since no forecast from the law can foresee a fall after the peak."
    )


def _coverage_verdict(k: int, n: int, lo: float, hi: float, nominal: float) -> str:
    lvl = f"{100 * nominal:.3g}%"
    if hi < nominal:
        return (
            f"Verdict: the intervals are too narrow: their coverage is below the nominal {lvl} beyond sampling error."
        )
    if lo > nominal:
        return f"Verdict: the intervals are conservative: they cover more often than the nominal {lvl}."
    return f"Verdict: the coverage is consistent with the nominal {lvl} (the nominal level lies inside its interval)."


def _representative(ok: list[RunForecast], k: int) -> list[tuple[str, RunForecast]]:
    """Up to ``k`` forecasts at evenly spaced ranks of |error|: smallest, ..., largest."""
    order = sorted((f for f in ok if not f.rest.empty), key=lambda f: abs(f.error))
    if not order:
        return []
    idx = sorted(set(np.round(np.linspace(0, len(order) - 1, min(k, len(order)))).astype(int).tolist()))
    out = []
    for rank, i in enumerate(idx):
        label = (
            "smallest error"
            if i == 0
            else ("largest error" if i == len(order) - 1 else f"error rank {i + 1} of {len(order)}")
        )
        if len(order) == 1:
            label = "the only forecast"
        out.append((label, order[i]))
    return out


# --------------------------------------------------------------------------------
# algorithm comparison
# --------------------------------------------------------------------------------
_VERDICT_CLASS = {SAME: "ok", EQUIVALENT: "ok", INCONCLUSIVE: "caveat", DIFFERENT: "bad", NOT_TESTABLE: "caveat"}


def compare_section(ctx: ReportContext) -> Section:
    """Per model: does the algorithm change the entropy-performance curve?

    Parameters
    ----------
    ctx : ReportContext
        Renders ``ctx.study.comparison``.

    Returns
    -------
    Section
        Key ``compare``: method and verdicts in words, the per-model verdict table, the
        per-algorithm ceilings, and the algorithm overlay (one panel per testable model);
        CSV tables ``compare_models`` and ``compare_ceilings``.

    Raises
    ------
    SkipSection
        The data have fewer than two algorithms, or no model has usable runs of two.
    """
    _require(ctx.study, "compare")
    cmp = ctx.study.comparison
    opts = cmp.options
    testable = [m for m in cmp if m.verdict != NOT_TESTABLE]
    if not testable:
        reasons = "; ".join(f"{m.model}: {m.explanation.split(';')[0]}" for m in cmp)
        raise SkipSection(f"no model has usable runs of two or more algorithms ({reasons})")
    scale, unit = _scale(ctx)
    by = cmp.by
    counts = pd.Series([m.verdict for m in cmp]).value_counts()
    test_words = (
        f"an F-test whose p-value comes from an AR(1)-prewhitened moving-block bootstrap of the runs around the one-curve "
        f"fit, refitting c in each of {opts.n_boot} replicates (Monte Carlo error of a p-value near {opts.alpha:g}: "
        f"±{math.sqrt(opts.alpha * (1 - opts.alpha) / opts.n_boot):.3f})"
        if opts.test == "bootstrap"
        else "a Wald F-test with an AR(1)-error sandwich covariance (fast; somewhat liberal when errors are strongly autocorrelated)"
    )
    body = [
        paragraph(
            f"Cui et al. (2025) report that the law's coefficients depend on the model and the data, not on the RL {by}.",
            f"For each model, the runs of every {by} were fitted with one curve shared by all of them and with one curve per",
            f"{by} at a common rate c. The two are nested, and compared with {test_words};",
            "beside it, the AIC difference (which assumes independent errors, so it overstates the evidence) and the",
            f"largest difference between two {by}s' ceilings with a {opts.level:.0%} simultaneous interval, read against an",
            f"equivalence margin of ±{opts.margin * scale:g} {unit}. Runs whose own fit is not usable are left out.",
        ),
        paragraph(
            f"Verdicts over {_plural(len(cmp), 'model')}: " + "; ".join(f"{n} {v}" for v, n in counts.items()) + "."
        ),
    ]
    flagged = [(m.model, a) for m in cmp for a in m.flagged]
    warns = []
    if flagged:
        body.append(
            paragraph(
                f"Flagged: a {by} whose ceiling differs from every other {by}'s and by more than the margin:",
                ", ".join(f"{a} in {m}" for m, a in flagged) + ".",
                "Runs with an entropy bonus (grpo_ent) are expected to be flagged when they leave the others' curve.",
            )
        )
        warns += [
            f"Algorithm comparison, {m}: {by} {a} departs from the other {by}s' curve beyond the margin."
            for m, a in flagged
        ]
    for m in cmp:
        if m.verdict == DIFFERENT:
            warns.append(f"Algorithm comparison, {m.model}: the {by}s' curves differ: {m.explanation}")

    rows, classes = [], []
    for m in cmp:
        cls = _VERDICT_CLASS.get(m.verdict, "caveat")
        testable_m = m.verdict != NOT_TESTABLE
        rows.append(
            {
                "model": m.model,
                f"{by}s (runs)": ", ".join(
                    f"{a} ({int(r)})" for a, r in zip(m.ceilings.get(by, []), m.ceilings.get("n_runs", []))
                )
                if testable_m
                else "",
                "p-value": _p_text(m.p_value) if testable_m else "",
                "ΔAIC": f"{m.delta_aic:+.1f}" if testable_m and np.isfinite(m.delta_aic) else "",
                f"largest ceiling difference [{opts.level:.0%} CI] ({unit})": (
                    f"{m.pair}: {m.max_ceiling_diff * scale:+.2f} [{m.diff_lo * scale:+.2f}, {m.diff_hi * scale:+.2f}]"
                    if testable_m and np.isfinite(m.max_ceiling_diff)
                    else ""
                ),
                f"all within ± ({unit})": _pts(m.bound, scale) if testable_m else "",
                "verdict": _badge(m.verdict, cls),
                "in words": m.explanation,
            }
        )
        classes.append(cls)
    body.append(
        html_table(
            pd.DataFrame(rows),
            markup_columns=["verdict"],
            row_classes=classes,
            caption=f"One curve for all {by}s vs one per {by}, per model (ΔAIC < 0 favours one curve per {by})",
        )
    )
    seen = list(dict.fromkeys(m.verdict for m in cmp))
    legend = pd.DataFrame(
        [
            {
                "verdict": _badge(v, _VERDICT_CLASS.get(v, "caveat")),
                "models": int(counts[v]),
                "what it means": VERDICTS[v]
                .replace("+-margin", f"±{opts.margin * scale:g} {unit}")
                .replace("alpha", f"{opts.alpha:g}"),
            }
            for v in seen
        ]
    )
    body.append(html_table(legend, markup_columns=["verdict"], caption="Verdicts"))
    ceil = cmp.ceilings()
    if len(ceil):
        shown = pd.DataFrame(
            {
                "model": ceil["model"],
                by: ceil[by],
                "runs": ceil["n_runs"],
                f"ceiling [{_pct(1 - opts.alpha, 0)} CI]": [
                    _interval(c, lo, hi) for c, lo, hi in zip(ceil["ceiling"], ceil["lo"], ceil["hi"])
                ],
                f"minus the others' mean [{opts.level:.0%} CI] ({unit})": [
                    f"{d * scale:+.2f} [{lo * scale:+.2f}, {hi * scale:+.2f}]" if np.isfinite(d) else ""
                    for d, lo, hi in zip(
                        ceil.get("diff_vs_rest", np.nan),
                        ceil.get("diff_vs_rest_lo", np.nan),
                        ceil.get("diff_vs_rest_hi", np.nan),
                    )
                ],
                "flagged": ["yes" if f is True or f is np.True_ else "" for f in ceil.get("flag", [False] * len(ceil))],
            }
        )
        body.append(
            f"<details><summary>Ceiling of each {by} within each model</summary>"
            + html_table(
                shown,
                caption="At the model's common c; ceilings of a 0-1 metric may exceed 1 when the law extrapolates",
            )
            + "</details>"
        )

    fig, axes = _grid(len(testable), 3, (4.6, 3.8))
    for ax, m in zip(axes, testable):
        p = _p_text(m.p_value)
        plots.plot_algorithm_overlay(
            m.points,
            m.curves(),
            ax=ax,
            hue=by,
            perf_label=ctx.perf_label,
            level=1 - opts.alpha,
            title=f"{m.model}: {m.verdict} (p = {p})",
        )
    caption = (
        f"Algorithm overlay, one panel per model with usable runs of two or more {by}s: points of every run coloured by "
        f"{by}, each {by}'s curve at the model's common c with its pointwise {_pct(1 - opts.alpha, 0)} band, and the one "
        f"curve for all {by}s (black, dashed). Curves run from zero entropy to the largest entropy of the {by}'s runs."
    )
    tables = [("compare_models", cmp.to_frame())]
    if len(ceil):
        tables.append(("compare_ceilings", ceil))
    return Section(
        "compare",
        "Algorithm comparison",
        "".join(body),
        figures=(ReportFigure("algorithm_overlay", caption, fig),),
        tables=tuple(tables),
        warnings=tuple(warns),
    )


def _p_text(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-3 else "< 0.001"


# --------------------------------------------------------------------------------
# across model sizes
# --------------------------------------------------------------------------------
def across_section(ctx: ReportContext) -> Section:
    """Ceilings (and a, b) across model sizes: stage 1 and 2, extrapolation, backtest.

    Parameters
    ----------
    ctx : ReportContext
        Renders ``ctx.study.across``, ``ctx.study.across_predictions`` and
        ``ctx.study.size_backtest``; the study's warnings across sizes go to the top of the page.

    Returns
    -------
    Section
        Key ``across``: what was fitted and the slope per decade with its interval, in
        words; per-model and prediction tables; a figure of the ceiling against
        parameters (log axis) per task and one of a and b per task; the leave-largest-out
        backtest; CSV tables ``across_models``, ``across_coefficients``,
        ``across_predictions`` and ``across_backtest``.  Warnings (runs not pooled, the
        mean forms disagreeing, c at its bound) go to the top of the page.

    Raises
    ------
    SkipSection
        No task has at least 3 model sizes with usable runs.
    """
    _require(ctx.study, "across")
    ac = ctx.study.across
    level = ac.settings.get("level", _report_level(ctx))
    multiples = tuple(ctx.study.settings.across.multiples)
    caught: list[str] = list(ctx.study.warnings.get("across", ()))
    good = ctx.study.extrapolated_tasks()
    preds = ctx.study.across_predictions
    if not good:
        why = "; ".join(
            f"{r.task or '(all runs)'}: "
            + (r.message or (f"{r.stage1.K} usable size(s)" if r.stage1 is not None else "no usable run"))
            for r in ac
        )
        raise SkipSection(f"no task has at least 3 model sizes with usable runs and a stage-2 estimate ({why})")
    bt: SizeBacktest = ctx.study.size_backtest

    lvl = f"{100 * level:.3g}%"
    scale, unit = _scale(ctx)
    first = good[0].ceiling
    method_words = {
        "wls": "generalised least squares weighted by the stage-1 covariance, with a residual scale estimated "
        "from the scatter between models",
        "random": "a random-effects meta-regression (a between-model variance added to the stage-1 errors)",
        "ols": "ordinary least squares",
    }.get(first.method, first.method)
    skipped_tasks = [r for r in ac if r not in good]
    body = [
        paragraph(
            "Coefficients are only comparable across models at one rate c, so stage 1 pooled the usable runs of each",
            "model and fitted one c per task (model family) with a ceiling P0 and slope per model (panel HAC covariance).",
            f"Stage 2 regressed each model's ceiling, a and b on log10(parameters) by {method_words};",
            "the ceiling's mean form was chosen by a backtest on the models' own sizes: linear, quadratic and saturating",
            "(an asymptote) in log10(parameters), on the identity and, for a bounded metric, the logit scale, each",
            "predicting every size from the others and the largest sizes from the smaller ones; the forms are weighted",
            "by their held-out errors and the prediction is their mixture (the table below ranks them).",
            f"Intervals are {lvl}: for the fitted curve (band of the mean) and for a new model of that size (prediction",
            "band: the curve's uncertainty, the new model's own stage-1 error, the scatter between models and the",
            "spread between forms).",
        ),
    ]
    if skipped_tasks:
        body.append(
            paragraph(
                "Not extrapolated: "
                + "; ".join(
                    f"{r.task or '(all runs)'} ({r.message or (str(r.stage1.K) + ' usable size(s)' if r.stage1 is not None else 'no usable run')})"
                    for r in skipped_tasks
                )
                + "."
            )
        )
    warns = [f"Across sizes: {m}" for m in dict.fromkeys(caught)]
    model_rows, pred_rows, coef_frames, figs = [], [], [], []
    for r in good:
        body.append(_task_paragraph(r, preds[r.task], multiples, level, scale, unit))
        st = r.stage1
        if st.c_at_bound:
            warns.append(
                f"Across sizes, task {r.task}: the shared c = {st.c:.4g} sits at its search bound; the per-model estimates are not usable."
            )
        p = r.points()
        for _, row in p.iterrows():
            model_rows.append(
                {
                    "task": r.task,
                    "model": row["model"],
                    "params": plots.format_params(row["params"]),
                    "runs pooled": int(row["n_runs"]),
                    "runs left out (why)": _left_out_cell(row.get("n_runs_left_out", 0), row.get("left_out", "")),
                    f"ceiling [{lvl} CI]": _interval(row["ceiling"], row["ceiling_lo"], row["ceiling_hi"], 4),
                    f"a [{lvl} CI]": _interval(row["a"], row["a_lo"], row["a_hi"]),
                    f"b [{lvl} CI]": _interval(row["b"], row["b_lo"], row["b_hi"]),
                    "R²": _num(row["r2"]),
                    "ceiling sd between runs": _num(row["run_sd"], 4),
                }
            )
        counts = r.run_counts()
        for _, row in counts[counts["n_runs_pooled"] == 0].iterrows():
            model_rows.append(
                {
                    "task": r.task,
                    "model": row["model"],
                    "params": plots.format_params(row["params"]),
                    "runs pooled": 0,
                    "runs left out (why)": _left_out_cell(row["n_runs_left_out"], row["left_out"]),
                    f"ceiling [{lvl} CI]": "none: every run left out",
                }
            )
        pr = preds[r.task]
        for i, (_, row) in enumerate(pr.iterrows()):
            pred_rows.append(
                {
                    "task": r.task,
                    "size": f"{plots.format_params(row['params'])} ({multiples[i]:g}× the largest)",
                    "decades beyond the data": f"{row['decades_beyond']:+.2f}",
                    "predicted ceiling": _num(row["ceiling_pred"], 4),
                    f"{lvl} PI (a new model)": f"[{_num(row['ceiling_lo'], 4)}, {_num(row['ceiling_hi'], 4)}]",
                    f"{lvl} CI (the line)": f"[{_num(row['ceiling_mean_lo'], 4)}, {_num(row['ceiling_mean_hi'], 4)}]",
                    "forms disagree?": "YES" if bool(row.get("forms_disagree", False)) else "no",
                    "unusable runs nearby": _pct(row["unusable_share"]) if np.isfinite(row.get("unusable_share", np.nan)) else "",
                    "other forms predict": _alt_text(r, row["params"]),
                }
            )
        coef_frames.append(r.coefficients())
    body.append(
        html_table(
            pd.DataFrame(pred_rows),
            caption="Extrapolated ceilings (the form or mixture of forms per task below). The forms disagree when the "
            "weighted forms' predictions spread wider than the curve's interval: the extrapolation then rests on the choice of form.",
        )
    )
    for r in good:
        if r.choice is None:
            continue
        caption = f"Task {r.task}: forms ranked by backtest ({r.choice.note}). Prediction: {r.label}."
        body.append(ranking_table(r.choice.ranking, caption))
    body.append(
        f"<details><summary>Per-model estimates at the shared c ({len(model_rows)} models)</summary>"
        + html_table(
            pd.DataFrame(model_rows), caption=f"Stage 1: each model's usable runs pooled; {lvl} intervals (panel HAC)"
        )
        + "</details>"
    )
    body.append("<!--figure:across_ceiling-->")
    body += [f"<!--figure:{esc(_coef_name(r))}-->" for r in good]
    body.append(_backtest_html(bt, good, level, scale, unit, lvl))
    warns += _backtest_warnings(bt, good)

    figs.append(
        ReportFigure(
            "across_ceiling", _ceiling_caption(lvl, multiples), _ceiling_figure(good, preds, multiples, ctx, level)
        )
    )
    for r in good:
        figs.append(
            ReportFigure(
                _coef_name(r),
                f"Task {r.task or '(all runs)'}: coefficients a and b of each model at the shared c = {r.stage1.c:.3g} against parameters "
                f"(log axis), with the stage-2 line, its {lvl} band of the mean (hatched), the {lvl} prediction band of a new "
                f"model (shaded), and the extrapolated sizes (open squares, {lvl} prediction intervals). a and b move together "
                "with c: the band of the mean carries the error of the shared c, while a new model measured at the same c "
                "shares that error with the line, so its prediction band can be the narrower one.",
                _coefficient_figure(r, preds[r.task], multiples, ctx, level),
            )
        )
    pred_all = pd.concat([preds[r.task] for r in good], ignore_index=True)
    tables = (
        ("across_models", ac.points()),
        ("across_coefficients", pd.concat(coef_frames, ignore_index=True)),
        ("across_predictions", pred_all),
        ("across_backtest", bt.rows),
        ("across_runs", ac.runs),
    )
    return Section(
        "across", "Across model sizes", "".join(body), figures=tuple(figs), tables=tables, warnings=tuple(warns)
    )


def _coef_name(r: AcrossResult) -> str:
    return f"across_coefficients_{r.task or 'all'}"


def _task_paragraph(r: AcrossResult, pred: pd.DataFrame, multiples, level: float, scale: float, unit: str) -> str:
    st, f = r.stage1, r.ceiling
    lvl = f"{100 * level:.3g}%"
    s = f.summary()
    slope, lo, hi = (float(s.loc["slope", k]) for k in ("estimate", "lo", "hi"))
    cdesc = f"c fixed at {st.c:.3g}" if st.fixed_c else f"shared c = {st.c:.3f} (se {st.c_se:.3f})"
    scale_word = " on the logit scale" if f.link == "logit" else ""
    if lo > 0:
        trend = "the ceiling rises with size"
    elif hi < 0:
        trend = "the ceiling falls with size"
    else:
        trend = "no detectable trend with size (the interval includes zero)"
    n_pooled = int(st.n_runs.sum())
    n_excl = len(r.excluded())
    ext = "; ".join(
        f"at {plots.format_params(row['params'])} ({multiples[i]:g}×, {row['decades_beyond']:+.1f} decades) "
        f"{row['ceiling_pred']:.3f} [{row['ceiling_lo']:.3f}, {row['ceiling_hi']:.3f}]"
        for i, (_, row) in enumerate(pred.iterrows())
    )
    counts = r.run_counts()
    lost = "; ".join(
        f"{m['model']}: {m['n_runs_pooled']} of {m['n_runs_pooled'] + m['n_runs_left_out']} run(s) pooled, {m['left_out']} left out"
        for _, m in counts[counts["n_runs_left_out"] > 0].iterrows()
    )
    unusable = "; ".join(
        f"at {plots.format_params(row['params'])} expect {_pct(row['unusable_share'])} of the runs to be unusable (as at {row['unusable_basis']})"
        for _, row in pred.iterrows()
        if row.get("unusable_share", 0) > 0
    )
    parts = (
        (
            f"Task {r.task or '(all runs)'}: {st.K} sizes from {plots.format_params(st.params.min())} to "
            f"{plots.format_params(st.params.max())} parameters, {n_pooled} runs pooled"
            + (f" ({n_excl} left out because their own fit is not usable)" if n_excl else "")
            + f"; {cdesc}."
        ),
        (f"Runs left out per size ({lost}): a size's ceiling comes only from the runs that survived." if lost else ""),
        (f"Predicted sizes inherit the share of unusable runs observed near them: {unusable}." if unusable else ""),
        (
            f"The ceiling changes by {slope * scale:+.2f} {unit} per decade of parameters{scale_word} ({lvl} CI "
            f"{lo * scale:+.2f} to {hi * scale:+.2f}): {trend}."
        ),
        f"Stage 2: {f.message}.",
        f"Predicted ceiling of a new model {ext} ({lvl} prediction intervals).",
        "With so few sizes the t quantile has few degrees of freedom, so the bands are wide; they are honest about it.",
    )
    return paragraph(*(p for p in parts if p))


def _left_out_cell(n, why) -> str:
    """``"0"`` or ``"1 (1 late collapse)"``."""
    n = int(n) if pd.notna(n) else 0
    return f"{n} ({why})" if n else "0"


def _alt_text(r: AcrossResult, params: float) -> str:
    parts = []
    for key, alt in r.alternatives.items():
        if alt is r.ceiling:
            continue
        if alt.has_estimate:
            parts.append(f"{key} {float(alt.predict([params])['pred'].iloc[0]):.4f}")
        else:
            parts.append(f"{key}: {alt.status.value}")
    return "; ".join(parts)


def _ceiling_caption(lvl: str, multiples) -> str:
    mult = " and ".join(f"{m:g}×" for m in multiples)
    return (
        f"Ceiling P0 of each model (pooled runs at the task's shared c, {lvl} CI) against parameters on a log axis, one "
        f"panel per task: the stage-2 line with its {lvl} band of the mean (hatched) and {lvl} prediction band for a new model "
        f"(shaded), and the predictions at {mult} the largest size (open squares with {lvl} prediction intervals). "
        "The dotted line is the metric's maximum."
    )


def _line_frame(fit, grid: np.ndarray) -> pd.DataFrame:
    p = fit.predict(grid)
    return pd.DataFrame(
        {
            "params": p["params"],
            "mean": p["pred"],
            "lo": p["lo"],
            "hi": p["hi"],
            "ci_lo": p["mean_lo"],
            "ci_hi": p["mean_hi"],
        }
    )


def _size_grid(r: AcrossResult, multiples) -> np.ndarray:
    lo = float(r.stage1.params.min()) / 2
    hi = float(r.stage1.params.max()) * max(multiples) * 1.5
    return np.logspace(np.log10(lo), np.log10(hi), 200)


def _ceiling_figure(good: list[AcrossResult], preds: dict, multiples, ctx: ReportContext, level: float):
    fig, axes = _grid(len(good), 2, (6.2, 4.6))
    for ax, r in zip(axes, good):
        p = r.points()
        points = pd.DataFrame(
            {
                "model": p["model"],
                "params": p["params"],
                "ceiling": p["ceiling"],
                "lo": p["ceiling_lo"],
                "hi": p["ceiling_hi"],
            }
        )
        pr = preds[r.task]
        ex = pd.DataFrame(
            {
                "params": pr["params"],
                "mean": pr["ceiling_pred"],
                "lo": pr["ceiling_lo"],
                "hi": pr["ceiling_hi"],
                "model": [f"{m:g}×" for m in multiples],
            }
        )
        plots.plot_ceiling_vs_params(
            points,
            _line_frame(r.ceiling, _size_grid(r, multiples)),
            ex,
            ax=ax,
            perf_label=ctx.perf_label,
            perf_range=ctx.data.perf_range,
            level=level,
        )
        ax.set_title(plots.mpl_text(f"task {r.task}" if r.task else "all runs"), fontsize=plots.LABEL_SIZE)
    return fig


def _coefficient_figure(r: AcrossResult, pred: pd.DataFrame, multiples, ctx: ReportContext, level: float):
    p = r.points()
    grid = _size_grid(r, multiples)
    points, lines, ex = [], [], []
    for q in ("a", "b"):
        points.append(
            pd.DataFrame(
                {
                    "quantity": q,
                    "model": p["model"],
                    "params": p["params"],
                    "estimate": p[q],
                    "lo": p[f"{q}_lo"],
                    "hi": p[f"{q}_hi"],
                }
            )
        )
        if q in r.fits and r.fits[q].has_estimate:
            lines.append(_line_frame(r.fits[q], grid).assign(quantity=q))
            ex.append(pd.DataFrame({"quantity": q, "params": pred["params"], "mean": pred[f"{q}_pred"], "lo": pred[f"{q}_lo"], "hi": pred[f"{q}_hi"],
                                    "model": [f"{m:g}×" for m in multiples]}))  # fmt: skip
    fig = plots.plot_coefficients_vs_params(
        pd.concat(points, ignore_index=True),
        pd.concat(lines, ignore_index=True) if lines else None,
        pd.concat(ex, ignore_index=True) if ex else None,
        quantities=["a", "b"],
        perf_label=ctx.perf_label,
        level=level,
    )
    for ax in fig.axes:
        ax.set_title(
            plots.mpl_text(f"{ax.get_title()}   (task {r.task})" if r.task else ax.get_title()),
            fontsize=plots.LABEL_SIZE,
        )
    return fig


def _backtest_html(bt: SizeBacktest, good: list[AcrossResult], level: float, scale: float, unit: str, lvl: str) -> str:
    rows = bt.rows
    lo = rows[rows["scheme"] == "leave-largest-out"]
    parts = [
        paragraph(
            "Backtest: each of the largest sizes was held out (alone, then with the next largest, while 3 sizes remain to fit),",
            "stage 1 and 2 refitted without it, its ceiling predicted with a prediction interval, and compared with the",
            "value measured from its own runs at the family's c. This is the check of an extrapolation to a size nobody has trained.",
        )
    ]
    no_llo = [r for r in good if r.task not in set(lo["task"])]
    if no_llo:
        why = "usable sizes: holding one out leaves too few to fit a line and judge it"
        parts.append(
            paragraph(
                "No leave-largest-out backtest for "
                + ", ".join(f"{r.task or '(all runs)'} ({r.stage1.K} {why})" for r in no_llo)
                + "."
            )
        )
    if len(lo):
        shown = pd.DataFrame(
            {
                "task": lo["task"],
                "held out": [f"{m} ({plots.format_params(p)})" for m, p in zip(lo["held_out"], lo["params"])],
                "sizes held out": lo["n_out"],
                "decades beyond": [f"{d:+.2f}" for d in lo["decades_beyond"]],
                "form": lo["form"],
                "measured": [_num(v, 4) for v in lo["measured"]],
                f"predicted [{lvl} PI]": [
                    _interval(p, a, b, 4) if s == "ok" else ""
                    for p, a, b, s in zip(lo["pred"], lo["lo"], lo["hi"], lo["status"])
                ],
                f"error ({unit})": [f"{e * scale:+.2f}" if np.isfinite(e) else "" for e in lo["error"].astype(float)],
                "covered?": [
                    ("yes" if bool(c) else "no") if s == "ok" else f"no estimate: {s}"
                    for c, s in zip(lo["covered"], lo["status"])
                ],
            }
        )
        parts.append(html_table(shown, caption="Leave-largest-out backtest, every mean form"))
        summ = bt.summary()
        if len(summ):
            s = pd.DataFrame(
                {
                    "task": summ["task"],
                    "scheme": summ["scheme"],
                    "form": summ["form"],
                    "predictions": summ["n"],
                    f"mean |error| ({unit})": [_pts(v, scale) for v in summ["mean_abs_error"]],
                    f"RMSE ({unit})": [_pts(v, scale) for v in summ["rmse"]],
                    f"inside the {lvl} PI": [f"{round(c * n)} of {n}" for c, n in zip(summ["coverage"], summ["n"])],
                    "farthest reach (decades)": [f"{d:.2f}" for d in summ["max_decades"]],
                }
            )
            parts.append(
                html_table(s, caption="Backtest summary per form (leave-one-out included; rows with an estimate)")
            )
        best = bt.best_forms()
        for _, b in best.iterrows():
            parts.append(
                paragraph(
                    f"Task {b['task']}: with the largest sizes left out, {b['form']} extrapolated best",
                    f"(mean |error| {b['mean_abs_error'] * scale:.2f} {unit} over {_plural(int(b['n']), 'prediction')}, "
                    f"{round(b['coverage'] * b['n'])} inside its interval).",
                    "With one or two held-out sizes this ranks the forms on very little evidence.",
                )
            )
    return "".join(parts)


def _backtest_warnings(bt: SizeBacktest, good: list[AcrossResult]) -> list[str]:
    out = []
    rows = bt.rows
    for r in good:
        sel = rows[
            (rows["task"] == r.task)
            & (rows["scheme"] == "leave-largest-out")
            & (rows["form"] == f"{r.ceiling.form}/{r.ceiling.link}")
            & (rows["status"] == "ok")
        ]
        miss = sel[~sel["covered"].astype(bool)]
        for _, m in miss.iterrows():
            out.append(
                f"Across sizes, task {r.task}: leaving out the largest size(s), the {r.ceiling.form}/{r.ceiling.link} prediction for {m['held_out']} "
                f"({m['pred']:.4f}, interval [{m['lo']:.4f}, {m['hi']:.4f}]) missed the measured {m['measured']:.4f}."
            )
    return out
