"""The report of a per-model table (``scaling report TABLE --value COL``): no curves, one value per model.

Per task (model family): the values, the forms ranked by backtest with their weights, the
predicted value of larger sizes (multiples of the largest) with the interval of the form or
mixture chosen, and a figure of the values against parameters with the prediction band.
Written by :func:`scaling.reporting.page.write_page`, like the report of curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.plotting.figures import plot_vs_params
from scaling.reporting.blocks import Report, ReportFigure, Section, _slug, esc, html_table, paragraph, ranking_table
from scaling.reporting.page import write_page
from scaling.study import SummaryResult, SummaryResults  # the report imports no analysis module itself


def _num(v: float, digits: int = 4) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def task_section(r: SummaryResult, multiples: Sequence[float], perf_label: str, scale: float) -> Section:
    """One task's section: values, ranking of the forms, predictions and the figure."""
    level = round(100 * r.ceiling.level)
    unit = " (points)" if scale == 100 else ""
    vals = r.values
    body = [
        paragraph(
            f"{len(vals)} model(s); the values are final scores from a table, not ceilings at zero entropy.",
            f"Forms: {r.choice.note}.",
        ),
        html_table(
            pd.DataFrame(
                {
                    "model": vals["model"],
                    "params": [f"{p:.3g}" for p in vals["params"]],
                    f"value{unit}": [_num(scale * v, 2) for v in vals["value"]],
                    "se": [_num(scale * v, 2) for v in vals["se"]],
                }
            ),
            caption="The table's values",
        ),
    ]
    body.append(ranking_table(r.choice.ranking, "Forms ranked by backtest (leave one size out, leave the largest out)", scale=scale, unit=unit))
    figures, tables = [], [(f"{r.task or 'all'}_values", vals.assign(task=r.task))]
    if r.choice.has_estimate:
        top = float(vals["params"].max())
        sizes = [top * m for m in multiples]
        pred = r.predict(sizes)
        body.append(
            html_table(
                pd.DataFrame(
                    {
                        "size": [f"{p:.3g} ({m:g}× the largest)" for p, m in zip(sizes, multiples)],
                        f"predicted{unit}": [_num(scale * v, 2) for v in pred["ceiling_pred"]],
                        f"{level}% PI (a new model)": [f"[{_num(scale * a, 2)}, {_num(scale * b, 2)}]" for a, b in zip(pred["ceiling_lo"], pred["ceiling_hi"])],
                        f"{level}% CI (the curve)": [f"[{_num(scale * a, 2)}, {_num(scale * b, 2)}]" for a, b in zip(pred["ceiling_mean_lo"], pred["ceiling_mean_hi"])],
                    }
                ),
                caption=f"Predicted value of larger models: {r.label}",
            )
        )
        tables.append((f"{r.task or 'all'}_predictions", pred))
        grid = np.logspace(np.log10(vals["params"].min() / 2), np.log10(max(sizes) * 1.5), 120)
        c = r.choice.predict(grid)
        line = pd.DataFrame({"params": grid, "mean": c["pred"], "lo": c["lo"], "hi": c["hi"], "ci_lo": c["mean_lo"], "ci_hi": c["mean_hi"]})
        se = vals["se"].fillna(0.0).to_numpy()
        points = pd.DataFrame({"model": vals["model"], "params": vals["params"], "value": vals["value"],
                               "lo": vals["value"] - 1.645 * se, "hi": vals["value"] + 1.645 * se})  # fmt: skip
        ax = plot_vs_params(points, line, None, y="value", perf_label=perf_label, level=r.ceiling.level)
        name = f"values_{_slug(r.task or 'all', 60)}"
        figures.append(ReportFigure(name, f"Task {r.task or '(all)'}: values against parameters, the {r.label} curve and its {level}% bands.", ax.figure))
    else:
        body.append(paragraph(f"No prediction: {r.message}"))
    if r.notes:
        body.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in r.notes) + "</ul>")
    return Section(f"task-{_slug(r.task or 'all', 60)}", f"Task {r.task or '(all)'}", "".join(body), tuple(figures), tuple(tables))


def write_table_report(
    res: SummaryResults,
    out_dir: str | Path,
    *,
    multiples: Sequence[float] = (2.0, 4.0, 10.0),
    title: str | None = None,
    perf_label: str | None = None,
    dpi: int = 100,
    svg: bool = False,
) -> Report:
    """Write the report of a per-model table into ``out_dir`` (``index.html``, ``figures/``, ``tables/``).

    Parameters
    ----------
    res : SummaryResults
        From :func:`scaling.across.summaries.fit_summaries`.
    out_dir : path
        Written as a whole, as :func:`scaling.reporting.page.write_report` does.
    multiples : sequence of float
        Sizes predicted, as multiples of each task's largest model.
    title, perf_label : str, optional
    dpi : int
    svg : bool

    Returns
    -------
    Report
    """
    summ = res.summaries
    bounded = summ.perf_range == (0.0, 1.0)
    perf_label = perf_label or ("score" if bounded else "value")
    scale = 100.0 if summ.divisor == 100 else 1.0
    built, skipped, warn = [], {}, []
    for r in res:
        built.append(task_section(r, multiples, perf_label, scale))
        if r.choice.has_estimate:
            pred = r.predict([float(r.values["params"].max()) * m for m in multiples])
            warn += [
                f"Task {r.task or '(all)'}, {p['params']:.3g} params: the weighted forms disagree by {p['alt_spread']:.4f}, more than the curve's interval"
                for _, p in pred[pred["forms_disagree"].astype(bool)].iterrows()
            ]
        else:
            warn.append(f"Task {r.task or '(all)'}: no prediction ({r.message})")
    meta = f"{summ.source or 'table'} · column {summ.value_name} · {len(res.results)} task(s) · {summ.table['model'].nunique()} model(s)"
    return write_page(out_dir, built, skipped, warn, title=title or "Per-model scores across sizes", meta=meta, dpi=dpi, svg=svg)
