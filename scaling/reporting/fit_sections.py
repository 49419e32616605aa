"""Sections of the per-run fits: the data, the fits with statuses in words, their figures, one block per run.

Each builder takes a :class:`~scaling.reporting.blocks.ReportContext` and returns a
:class:`~scaling.reporting.blocks.Section`, or raises
:class:`~scaling.reporting.blocks.SkipSection` saying why the data do not allow it.
They render ``ctx.study.data`` and ``ctx.study.fits``; they compute no fit.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from scaling.fitting import forms
from scaling.fitting.single import FitStatus
from scaling.plotting import figures as plots
from scaling.reporting.blocks import (
    ReportContext,
    ReportFigure,
    Section,
    SkipSection,
    _badge,
    _interval,
    _num,
    _params_key,
    _plural,
    _status_class,
    esc,
    html_table,
    paragraph,
    run_anchor,
)


def data_section(ctx: ReportContext) -> Section:
    """What was loaded: runs, models, algorithms, points, ranges, and the decisions taken."""
    ds = ctx.data
    pts = ds.points
    per_run = (
        pts.groupby("run", sort=False)
        .agg(
            task=("task", "first") if "task" in pts else ("run", "size"),
            model=("model", "first"),
            params=("params", "first"),
            algorithm=("algorithm", "first"),
            seed=("seed", "first"),
            points=("perf", "size"),
            first_step=("step", "min"),
            last_step=("step", "max"),
            entropy_first=("entropy", "first"),
            entropy_last=("entropy", "last"),
            perf_first=("perf", "first"),
            perf_last=("perf", "last"),
        )
        .reset_index()
    )
    if "task" not in pts:
        per_run["task"] = ""
    models = (
        per_run.groupby(["task", "model"], sort=False)
        .agg(
            params=("params", "first"),
            runs=("run", "size"),
            algorithms=("algorithm", lambda s: ", ".join(sorted({str(v) for v in s if str(v)}))),
            points=("points", "sum"),
            entropy_start=("entropy_first", "median"),
            entropy_end=("entropy_last", "median"),
            perf_start=("perf_first", "median"),
            perf_end=("perf_last", "median"),
        )
        .reset_index()
        .sort_values(["task", "params", "model"], na_position="last")
    )
    n_runs, n_set_aside = len(per_run), len(ds.invalid)
    tasks = sorted(t for t in per_run["task"].astype(str).unique() if t)
    algos = sorted(a for a in per_run["algorithm"].astype(str).unique() if a)
    n_no_algo = int((per_run["algorithm"].astype(str) == "").sum()) if algos else 0
    params = per_run["params"].dropna()
    unit = (
        "fraction in [0, 1]"
        if ds.perf_range == (0.0, 1.0)
        else ("unbounded" if ds.perf_range is None else f"range {ds.perf_range}")
    )
    text = [
        paragraph(
            f"Source: {ds.source or 'a table'}.",
            f"{_plural(n_runs + n_set_aside, 'run')} read, {n_set_aside} set aside for invalid data;",
            f"{len(pts):,} validation points with an entropy to fit",
            f"(steps {pts['step'].min():g} to {pts['step'].max():g}).",
        ),
        paragraph(
            (f"{_plural(len(tasks), 'task')} ({', '.join(tasks)}); " if tasks else "")
            + f"{_plural(models['model'].nunique(), 'model')}"
            + (
                f" from {plots.format_params(params.min())} to {plots.format_params(params.max())} parameters"
                if len(params)
                else ""
            )
            + (f"; {_plural(len(algos), 'algorithm')} ({', '.join(algos)})" if algos else "")
            + (f"; {_plural(n_no_algo, 'run')} without an algorithm" if n_no_algo else "")
            + ".",
            f"Entropy (nats) spans {pts['entropy'].min():.3g} to {pts['entropy'].max():.3g};",
            f"performance spans {pts['perf'].min():.3g} to {pts['perf'].max():.3g} ({unit}).",
        ),
    ]
    if ds.notes:
        text.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in ds.notes) + "</ul>")
    shown = models.rename(
        columns={
            "entropy_start": "entropy at start (median)",
            "entropy_end": "entropy at end (median)",
            "perf_start": "perf at start (median)",
            "perf_end": "perf at end (median)",
        }
    )
    shown["params"] = shown["params"].map(plots.format_params)
    text.append(html_table(shown, numeric_digits=3, caption="Runs per model (medians over the model's runs)"))
    run_table = per_run.assign(params=per_run["params"].map(plots.format_params))
    text.append(f"<details><summary>All {n_runs} runs</summary>{html_table(run_table, numeric_digits=3)}</details>")
    tables = [("data_runs", per_run), ("data_models", models)]
    if ds.issues is not None and len(ds.issues):
        tables.append(("data_issues", ds.issues))
    return Section("data", "Data", "".join(text), tables=tuple(tables))


def fits_section(ctx: ReportContext) -> Section:
    """The per-run fits: ceiling and c with intervals, R², status in words."""
    res = ctx.fits
    fits = list(res.fits)
    frame = res.to_frame()
    seen = [f.status for f in fits]
    counts = {s: seen.count(s) for s in FitStatus if s in seen}
    usable = sum(1 for f in fits if f.status.usable)
    mode_words = {
        "free": "the rate c was fitted separately for each run",
        "paper": "the rate c was fixed at 1 (the paper's form, Cui et al. 2025)",
        "shared": "one rate c was shared across runs (each run keeps its own ceiling and slope)",
    }.get(res.mode, f"mode {res.mode}")
    ci_words = {
        "hac": "a Newey-West (HAC) sandwich covariance with prewhitening and fixed-b critical values, "
        "because points along a run are autocorrelated",
        "bootstrap": f"a moving-block residual bootstrap over steps ({res.options.n_boot} replicates, refitting c), "
        "studentized",
    }.get(res.options.ci, res.options.ci)
    body = [
        paragraph(
            f"The law Perf(S) = a − b·exp(c·S) was fitted to each run; {mode_words}.",
            f"Intervals are {ctx.level}, from {ci_words}.",
            "The ceiling P0 = a − b is the performance predicted when entropy reaches zero.",
        ),
        paragraph(
            f"{usable} of {_plural(len(fits), 'run')} have usable estimates;",
            "; ".join(f"{n} {s.value}" for s, n in counts.items()) + ".",
        ),
    ]
    legend = pd.DataFrame(
        [
            {
                "status": _badge(s),
                "runs": int(counts[s]),
                "what it means": s.explanation,
                "estimate usable?": "yes" if s == FitStatus.OK else ("yes, with that caveat" if s.usable else "no"),
            }
            for s in counts
        ]
    )
    body.append(html_table(legend, markup_columns=["status"], caption="Statuses found"))
    order = sorted(
        range(len(fits)),
        key=lambda i: (fits[i].task, _params_key(fits[i].params), fits[i].model, fits[i].algorithm, fits[i].seed),
    )
    rows = []
    for i in order:
        f = fits[i]
        lo, hi = f.conf_int("ceiling") if f.has_estimate else (np.nan, np.nan)
        clo, chi = f.conf_int("c") if f.has_estimate and not f.fixed_c else (np.nan, np.nan)
        rows.append(
            {
                "run": f.run,
                "model": f.model,
                "algorithm": f.algorithm,
                "seed": f.seed,
                "n": f.n_points,
                f"ceiling P0 [{ctx.level} CI]": _interval(f.ceiling, lo, hi),
                f"c [{ctx.level} CI]": (_num(f.c, 2) + " (fixed)")
                if f.fixed_c and f.has_estimate
                else _interval(f.c, clo, chi, 2),
                "R²": _num(f.r2, 3),
                "status": _badge(f.status),
                "what it means": f.status.explanation
                + ("" if f.status == FitStatus.OK or not f.message else f" ({f.message})"),
            }
        )
    table = pd.DataFrame(rows)
    body.append(
        f'<details id="fits-table"><summary>The fit of every run ({len(rows)})</summary>'
        + html_table(
            table,
            markup_columns=["status"],
            row_classes=[_status_class(fits[i].status) for i in order],
            row_ids=[run_anchor(fits[i].run) for i in order],
        )
        + "</details>"
    )
    body.extend(_form_disagreement([fits[i] for i in order], ctx.level))
    return Section("fits", "Per-run fits", "".join(body), tables=(("fits", frame),))


def _form_disagreement(fits: list, level: str) -> list[str]:
    """For runs flagged ``form disagreement``: both ceilings, the AICc difference and which form to believe."""
    flagged = [f for f in fits if FitStatus.FORM_DISAGREEMENT in f.flags]
    with_c1 = sum(1 for f in fits if f.paper is not None and f.has_estimate)
    if not with_c1:
        return []
    intro = paragraph(
        "The points of each free-c fit were also fitted with c = 1 (the paper's form; c = 1 per nat of entropy).",
        f"Of {_plural(with_c1, 'run')} with both fits, {len(flagged)} with a usable fit",
        f"{'has' if len(flagged) == 1 else 'have'} ceiling intervals that do not overlap between the two forms (flag 'form disagreement')"
        + (": there the ceiling depends on the form of the law more than either interval says." if flagged else "."),
    )
    if not flagged:
        return [intro]
    rows = []
    for f in flagged:
        form, why = forms.preferred_form(f)
        rows.append(
            {
                "run": f.run,
                f"ceiling, c free [{level} CI]": _interval(f.ceiling, *f.conf_int("ceiling")),
                f"ceiling, c = 1 [{level} CI]": _interval(f.ceiling_c1, *f.conf_int("ceiling_c1")),
                "AICc(free c) − AICc(c = 1)": _num(f.delta_aicc_c1, 1),
                "believe": forms.FORM_WORDS.get(form, "neither"),
                "why": why,
            }
        )
    rule = paragraph(
        "Which to believe: the form with the lower AICc (the free c pays for its extra parameter),",
        "unless the residual check finds a systematic pattern in one fit's residuals and not in the other's;",
        "then the other form (the residual check is the added-curvature test behind the status 'systematic misfit').",
    )
    return [intro, rule, html_table(pd.DataFrame(rows), caption="Runs whose ceiling depends on the form")]


def _with_points(ctx: ReportContext) -> list:
    fits = [f for f in ctx.fits.fits if f.entropy.size]
    if not fits:
        raise SkipSection("no run has validation points with an entropy")
    return fits


def grid_section(ctx: ReportContext) -> Section:
    """The paper-style grid of fits and the forest plot of ceilings."""
    fits = _with_points(ctx)
    lvl = ctx.level
    grid = plots.plot_fit_grid(fits, kind="fit", perf_label=ctx.perf_label, perf_range=ctx.fits.options.perf_range)
    figs = [
        ReportFigure(
            "fit_grid",
            f"Validation performance against policy entropy, one panel per model (and task), colour by algorithm. "
            f"Lines: the fitted law per run (dotted where it extrapolates to S = 0), its {lvl} band, and the ceiling "
            f"P0 at S = 0 with its {lvl} interval. The dotted horizontal line is the metric's maximum. Each panel lists "
            "its runs whose status is not ok; dashed curves are fits that are not usable.",
            grid,
        )
    ]
    if any(f.has_estimate for f in fits):
        shown = {f.run for f in fits}
        frame = ctx.fits.to_frame()  # one table of every run (not one frame per run)
        ax = plots.plot_ceiling_intervals(
            frame[frame["run"].isin(shown)], perf_label=ctx.perf_label, perf_range=ctx.fits.options.perf_range,
            level=1 - ctx.fits.options.alpha,
        )  # fmt: skip
        figs.append(
            ReportFigure(
                "ceilings",
                f"Each run's ceiling P0 with its {lvl} interval. Open grey markers: fits that are not usable; "
                "statuses other than ok are written on the right. The x range is set by the usable runs.",
                ax.figure,
            )
        )
    intro = paragraph(
        "Each point is one validation of one run. On runs where the law holds, the points of all algorithms "
        "of a model fall on one curve, and the ceiling is where that curve meets zero entropy."
    )
    return Section("grid", "Entropy–performance fits", intro, figures=tuple(figs))


def residuals_section(ctx: ReportContext) -> Section:
    """Residuals against entropy, per model."""
    fits = [f for f in _with_points(ctx) if f.has_estimate]
    if not fits:
        raise SkipSection("no run has an estimate, so there are no residuals")
    fig = plots.plot_fit_grid(fits, kind="residuals", perf_label=ctx.perf_label)
    intro = paragraph(
        "Residuals (observed minus fitted) against entropy, with a LOWESS smoother per run. A law that describes "
        "a run leaves residuals scattered around zero at every entropy; a bend shows where it does not "
        "(for instance a late collapse of performance after entropy is spent)."
    )
    cap = "Residuals against entropy, one panel per model (and task), colour by algorithm."
    return Section("residuals", "Residuals", intro, figures=(ReportFigure("residual_grid", cap, fig),))


def profile_section(ctx: ReportContext) -> Section:
    """Profile RSS(c) per model (absent when c was fixed or shared)."""
    fits = [f for f in _with_points(ctx) if f.profile_c.size and f.has_estimate]
    if not fits:
        why = {"paper": "c was fixed at 1 (mode paper)", "shared": "c was shared across runs (mode shared)"}
        raise SkipSection(f"{why.get(ctx.fits.mode, 'no fit has a profile of c')}, so there is no profile to draw")
    fig = plots.plot_fit_grid(fits, kind="profile", perf_label=ctx.perf_label)
    intro = paragraph(
        "The profile residual sum of squares RSS(c) (the best fit at each rate c, divided by its minimum). "
        "A sharp valley means the data pin c down; a flat profile means they barely constrain it, and the "
        "ceiling's interval is then wide."
    )
    cap = "Profile RSS(c) / min RSS on a log scale, one panel per model (and task); dots mark the fitted c."
    return Section("profile", "Profile of the rate c", intro, figures=(ReportFigure("profile_grid", cap, fig),))


def exchange_section(ctx: ReportContext) -> Section:
    """Exchange rate dPerf/d(-S) per model."""
    fits = [f for f in _with_points(ctx) if f.has_estimate and f.status.usable]
    if not fits:
        raise SkipSection("no usable fit, so no exchange rate to show")
    fig = plots.plot_fit_grid(fits, kind="exchange", perf_label=ctx.perf_label)
    intro = paragraph(
        f"The exchange rate dPerf/d(−S) = b·c·exp(c·S): how much {ctx.perf_label} one more nat of entropy buys "
        f"at each entropy, with its pointwise {ctx.level} band (usable fits only). A rate that falls towards "
        "zero entropy means the last nats buy less."
    )
    cap = f"Exchange rate ({ctx.perf_label} per nat) against entropy, one panel per model (and task); dotted where extrapolated."
    return Section("exchange", "Exchange rate", intro, figures=(ReportFigure("exchange_grid", cap, fig),))


def runs_section(ctx: ReportContext) -> Section:
    """One collapsible block per run (status in words, estimates) and the runs drawn as small multiples.

    The runs are drawn in pages of :data:`~scaling.plotting.figures.RUN_GRID_PANELS` panels
    (:func:`~scaling.plotting.figures.plot_run_grid`, figures ``runs_1``, ``runs_2``, ...), each
    page followed by the blocks of its runs; a block names its panel.  At most
    ``ctx.per_run_figures`` runs are drawn (all when it is None); a note says how many and how to
    draw them all.  The figures are drawn when the page renders them, one at a time.
    """
    if not ctx.per_run:
        raise SkipSection("figures per run were turned off (--no-per-run)")
    fits = _with_points(ctx)
    cap = ctx.per_run_figures
    n_drawn = len(fits) if cap is None else min(cap, len(fits))
    per_page = plots.RUN_GRID_PANELS
    blocks, figures = [], []
    for first in range(0, n_drawn, per_page):
        members = fits[first : min(first + per_page, n_drawn)]
        name = f"runs_{first // per_page + 1}"
        numbers = list(range(first + 1, first + len(members) + 1))
        draw = partial(
            plots.plot_run_grid, members, numbers=numbers, perf_label=ctx.perf_label,
            perf_range=ctx.fits.options.perf_range,
        )  # fmt: skip
        caption = (
            f"Runs {numbers[0]} to {numbers[-1]} of {len(fits)}: the validation points and the fitted law "
            f"(dotted where it extrapolates to S = 0, dashed when the fit is not usable), its {ctx.level} band "
            "and the ceiling P0 with its interval. Titles in colour: status not ok (orange: usable with a "
            "caveat, red: not usable)."
        )
        figures.append(ReportFigure(name, caption, draw))
        blocks.append(f"<!--figure:{esc(name)}-->")
        for j, f in enumerate(members):
            where = f'Panel {j + 1} of figure <a href="#fig-{esc(name)}">{esc(name)}</a>.'
            blocks.append(_run_block(ctx, f, first + j + 1, where))
    for k, f in enumerate(fits[n_drawn:], n_drawn + 1):
        blocks.append(_run_block(ctx, f, k, f"Not drawn: only the first {n_drawn} runs have a panel."))
    drawn_words = (
        f"All {_plural(len(fits), 'run')} are drawn"
        if n_drawn == len(fits)
        else f"The first {n_drawn} of {len(fits)} runs are drawn (to draw all: --per-run-figures all, "
        "or per_run_figures=None)"
    )
    intro = paragraph(
        f"{drawn_words}, {per_page} to a figure, one panel per run: its points and fitted law. The residuals and "
        "the profile of c of every run are in the sections above (one panel per model). Click a run for its "
        "estimates and what its status means."
    )
    return Section("runs", "Each run", intro + "".join(blocks), figures=tuple(figures))


def _run_block(ctx: ReportContext, f, k: int, where: str) -> str:
    """The collapsed block of one run: status in words, where its panel is, its estimates."""
    summ = f.summary().reset_index() if f.has_estimate else pd.DataFrame()
    words = f"{f.status.explanation}" + (f" Details: {f.message}." if f.message and f.status != FitStatus.OK else "")
    return (
        f'<details class="run {_status_class(f.status)}" id="run-{k}"><summary>{k}. {esc(f.run)} {_badge(f.status)}</summary>'
        f"{paragraph(words)}<p>{where}</p>"
        + (html_table(summ, caption=f"Estimates with {ctx.level} intervals ({f.ci_method})") if len(summ) else "")
        + "</details>"
    )
