"""The summary at the top of the report: the answers a planner acts on, before any detail.

:func:`summary_section` renders, from a computed :class:`~scaling.study.Study` (it computes
nothing):

* the runs at a glance: how many have usable estimates, and which statuses the others have;
* the ceiling of every model with its interval and its runs' statuses in words;
* the predicted ceilings of the untrained sizes, with prediction intervals and the chosen form;
* where the unfinished runs will end (``study.unfinished``), or that every run finished;
* the algorithm comparison's verdicts, counted;
* the runs that are not usable and why, each linked to its row of the per-run fits table.

Every block links to the section with the detail, which follows on the page.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from scaling.fitting.status import FitStatus
from scaling.plotting import figures as plots
from scaling.reporting.blocks import (
    ReportContext,
    Section,
    _interval,
    _params_key,
    _plural,
    esc,
    html_table,
    paragraph,
    run_anchor,
)
from scaling.reporting.sections import _inside, _report_level, judged_forecasts, median_interval
from scaling.study import Study

#: most run names listed in one cell before "and N more".
NAMES_SHOWN = 8


def summary_section(ctx: ReportContext) -> Section:
    """The answers first: ceilings per model, predicted ceilings, unfinished runs, unusable runs.

    Parameters
    ----------
    ctx : ReportContext
        Renders ``ctx.study``: the per-run fits, and the forecasts, comparison and results
        across sizes when the study ran them.

    Returns
    -------
    Section
        Key ``summary``; CSV tables ``summary_models`` (one row per model: runs, usable runs,
        ceiling with its interval and where it comes from) and, when there are any,
        ``summary_unfinished``.
    """
    study = ctx.study
    level = _report_level(ctx)
    lvl = f"{100 * level:.3g}%"
    body = [_glance(ctx)]
    models = _model_rows(study, level)
    shown = models.assign(
        params=models["params"].map(plots.format_params),
        runs=[f"{u} of {n}" for u, n in zip(models["usable"], models["runs"])],
        ceiling=[_interval(c, lo, hi, 3) if np.isfinite(c) else "none: no usable run" for c, lo, hi in zip(models["ceiling"], models["ceiling_lo"], models["ceiling_hi"])],
    )[["task", "model", "params", "runs", "ceiling", "from", "statuses"]]
    shown = shown.rename(columns={"runs": "usable runs", "ceiling": f"ceiling [{lvl} CI]", "statuses": "runs' statuses"})
    if not shown["task"].astype(str).str.len().any():
        shown = shown.drop(columns="task")
    body.append(
        html_table(
            shown,
            caption=(
                f"Ceiling of each model (performance at zero entropy), {lvl} interval: its usable runs pooled at the task's "
                "shared c (as the size regression uses them), else one run's fit or the median of its runs (range if too few)."
            ),
        )
        + _more("fits", "Per-run fits")
    )
    body.append(_predicted(study, lvl))
    unfinished_html, unfinished = _unfinished(ctx, lvl)
    body.append(unfinished_html)
    body.append(_algorithms(study))
    body.append(_unusable(ctx))
    tables = [("summary_models", models)]
    if unfinished is not None:
        tables.append(("summary_unfinished", unfinished))
    return Section("summary", "Summary", "".join(b for b in body if b), tables=tuple(tables))


# --------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------
def _glance(ctx: ReportContext) -> str:
    fits = ctx.fits.fits
    counts = Counter(f.status for f in fits)
    ok = counts.get(FitStatus.OK, 0)
    caveat = {s: int(n) for s, n in counts.items() if s.usable and s != FitStatus.OK}
    bad = {s: int(n) for s, n in counts.items() if not s.usable}
    pts = ctx.data.points
    tasks = sorted({str(t) for t in pts["task"]} - {""}) if "task" in pts else []
    n_models = pts["model"].nunique() if len(pts) else 0
    parts = [
        f"{_plural(len(fits), 'run')} of {_plural(n_models, 'model')}"
        + (f" on {_plural(len(tasks), 'task')} ({', '.join(tasks)})" if tasks else "")
        + ".",
        f"{ok + sum(caveat.values())} have usable estimates ({ok} ok"
        + "".join(f", {n} with the caveat '{s.value}'" for s, n in caveat.items())
        + ")"
        + (f"; {sum(bad.values())} are not usable (" + ", ".join(f"{n} {s.value}" for s, n in bad.items()) + ")" if bad else "")
        + ".",
    ]
    if ctx.data.invalid:
        parts.append(f"{_plural(len(ctx.data.invalid), 'run')} set aside while loading (invalid data).")
    return paragraph(*parts)


def _model_rows(study: Study, level: float) -> pd.DataFrame:
    """One row per model: runs, usable runs, the ceiling with its interval and its origin, statuses in words."""
    fits = study.fits.fits
    pooled: dict[tuple[str, str], pd.Series] = {}
    if study.across is not None:
        for r in study.across:
            if r.stage1 is None:
                continue
            for _, row in r.points().iterrows():
                pooled[(str(r.task), str(row["model"]))] = row
    groups: dict[tuple[str, str], list] = {}
    for f in fits:
        groups.setdefault((str(f.task), str(f.model)), []).append(f)
    rows = []
    for (task, model), members in groups.items():
        usable = [f for f in members if f.status.usable and f.has_estimate]
        if (task, model) in pooled:
            p = pooled[(task, model)]
            est, lo, hi, origin = float(p["ceiling"]), float(p["ceiling_lo"]), float(p["ceiling_hi"]), f"pooled ({_plural(int(p['n_runs']), 'run')})"
        elif len(usable) == 1:  # one run: its own fit and interval
            f = usable[0]
            (lo, hi), est, origin = f.conf_int("ceiling"), f.ceiling, "1 run's fit"
        elif usable:
            est, lo, hi, achieved = median_interval([f.ceiling for f in usable], level)
            origin = f"median of {len(usable)} runs" + (" (range: too few runs for the interval)" if achieved + 1e-12 < level else "")
        else:
            est = lo = hi = np.nan
            origin = ""
        counts = pd.Series([f.status.value for f in members]).value_counts()
        rows.append(
            {
                "task": task,
                "model": model,
                "params": members[0].params,
                "runs": len(members),
                "usable": len(usable),
                "ceiling": est,
                "ceiling_lo": lo,
                "ceiling_hi": hi,
                "from": origin,
                "statuses": ", ".join(f"{n} {s}" for s, n in counts.items()),
            }
        )
    frame = pd.DataFrame(rows, columns=["task", "model", "params", "runs", "usable", "ceiling", "ceiling_lo", "ceiling_hi", "from", "statuses"])
    order = sorted(range(len(frame)), key=lambda i: (frame["task"].iat[i], _params_key(frame["params"].iat[i]), frame["model"].iat[i]))
    return frame.iloc[order].reset_index(drop=True)


def _predicted(study: Study, lvl: str) -> str:
    if not study.ran("across"):
        why = study.skipped.get("across", "not requested")
        return paragraph(f"Ceilings of untrained sizes: not predicted ({why}).")
    good = study.extrapolated_tasks()
    multiples = tuple(study.settings.across.multiples)
    rows = []
    for r in good:
        for i, (_, row) in enumerate(study.across_predictions[r.task].iterrows()):
            rows.append(
                {
                    "task": r.task,
                    "size": f"{plots.format_params(row['params'])} ({multiples[i]:g}× the largest)",
                    f"predicted ceiling [{lvl} PI]": _interval(row["ceiling_pred"], row["ceiling_lo"], row["ceiling_hi"], 3),
                    "form": str(row["form_choice"]),
                    "forms disagree?": "YES" if bool(row.get("forms_disagree", False)) else "no",
                }
            )
    if not rows:
        return paragraph("Ceilings of untrained sizes: no task has 3 model sizes with a stage-2 estimate.") + _more("across", "Across model sizes")
    frame = pd.DataFrame(rows)
    if not frame["task"].astype(str).str.len().any():
        frame = frame.drop(columns="task")
    return html_table(
        frame,
        caption=(
            f"Predicted ceiling of a new model of each size, {lvl} prediction interval: the models' ceilings regressed on "
            "log10(parameters), in the form (or mixture) chosen by backtest on their own sizes."
        ),
    ) + _more("across", "Across model sizes")


def _unfinished(ctx: ReportContext, lvl: str) -> tuple[str, pd.DataFrame | None]:
    study = ctx.study
    if not study.ran("forecast") or study.unfinished is None:
        return "", None
    fc = study.unfinished
    _, checked = judged_forecasts(ctx)  # the runs the early prediction section counts
    inside = sum(1 for f in checked if _inside(f))
    check = (
        f"Checked on the runs themselves: forecast from their first {study.forecast.fraction:.0%}, the {lvl} intervals held "
        f"the final value for {inside} of {len(checked)} runs."
        if checked
        else ""
    )
    if not len(fc):
        last = ctx.data.points.groupby("run")["step"].max()
        horizon = study.settings.horizon
        where = f"step {horizon:g}" if horizon is not None else "the last step of its model's longest run"
        return paragraph(f"Unfinished runs: none; every usable run reached {where} (up to step {last.max():g}).", check) + _more("forecast", "Early prediction"), None
    frame = fc.to_frame()
    shown = pd.DataFrame(
        {
            "run": frame["run"],
            "points": frame["n_total"],
            "last step logged": [f"{s:g}" for s in frame["prefix_end"]],
            "forecast at step": [f"{s:g}" for s in frame["final_step"]],
            f"predicted final [{lvl} PI]": [_interval(p, lo, hi, 3) for p, lo, hi in zip(frame["final_pred"], frame["final_lo"], frame["final_hi"])],
            "status": [s if s == "ok" else f"{s}: {m}" for s, m in zip(frame["status"], frame["message"].fillna(""))],
        }
    )
    html = html_table(
        shown,
        caption=(
            f"Where the unfinished runs will end: each usable run that stopped before its horizon, forecast from all its points "
            f"(the law with c = 1 and its extrapolated entropy trajectory), with a {lvl} prediction interval. {check}"
        ),
    )
    return html + _more("forecast", "Early prediction"), frame


def _algorithms(study: Study) -> str:
    if not study.ran("compare") or study.comparison is None:
        return ""
    verdicts = pd.Series([m.verdict for m in study.comparison.models]).value_counts()
    text = ", ".join(f"{n} {v}" for v, n in verdicts.items())
    return paragraph(
        f"Does the algorithm change the curve? Per model ({_plural(len(study.comparison.models), 'model')}): {text}."
    ) + _more("compare", "Algorithm comparison")


def _unusable(ctx: ReportContext) -> str:
    fits = ctx.fits.fits
    bad: dict[FitStatus, list] = {}
    for f in fits:
        if not f.status.usable:
            bad.setdefault(f.status, []).append(f)
    if not bad and not ctx.data.invalid:
        return paragraph("Every run has a usable estimate.")
    rows = []
    for status, members in bad.items():
        links = ", ".join(f'<a href="#{run_anchor(f.run)}">{esc(f.run)}</a>' for f in members[:NAMES_SHOWN])
        more = f" and {len(members) - NAMES_SHOWN} more" if len(members) > NAMES_SHOWN else ""
        rows.append({"status": esc(status.value), "runs": str(len(members)), "why": esc(status.explanation), "which": links + esc(more)})
    if ctx.data.invalid:
        names = list(ctx.data.invalid)
        more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
        rows.append(
            {
                "status": "set aside",
                "runs": str(len(names)),
                "why": "invalid data while loading (the warnings say what)",
                "which": esc(", ".join(names[:NAMES_SHOWN]) + more),
            }
        )
    frame = pd.DataFrame(rows)[["status", "runs", "which", "why"]].rename(columns={"which": "runs (each links to its fit)"})
    return html_table(
        frame,
        markup_columns=list(frame.columns),
        wrap_columns=["runs (each links to its fit)"],
        caption="Runs whose estimates are not usable, and why",
    ) + _more("warnings", "Warnings")


def _more(key: str, title: str) -> str:
    return f'<p class="more"><a href="#{esc(key)}">{esc(title)} ↓</a></p>'
