"""One self-contained HTML page that a person opens in a browser: data, fits, figures, warnings.

:func:`write_report` writes ``DIR/index.html`` (figures embedded as base64 PNG, tables as
HTML), and beside it every figure as ``figures/NAME.png`` and ``figures/NAME.svg`` and
every table as ``tables/NAME.csv``.

The page is a list of sections, each made by a *section builder*: a function taking a
:class:`ReportContext` and returning a :class:`Section`.  A builder whose analysis the
data do not allow raises :class:`SkipSection` with the reason; its section is then absent
and the page lists it under "Analyses not run".  Warnings of every section (and the
runs set aside or not usable) are collected and shown first.

:data:`DEFAULT_SECTIONS` are the stage-1 sections (data, fits and their figures, one
block per run).  :data:`ANALYSIS_SECTIONS` add early prediction, the algorithm
comparison and the results across model sizes (built in :mod:`scaling.reporting.sections`,
imported only when a report needs them); :func:`full_sections` orders both for the
page that ``scaling report`` writes::

    write_report(ds, fits, "report", sections=full_sections(compare=False))

Adding a section::

    def forecast_section(ctx: ReportContext) -> Section:
        runs = [f for f in ctx.fits if f.status.usable]
        if not runs:
            raise SkipSection("early prediction needs at least one usable fit")
        ...  # compute, then draw with scaling.plotting.figures
        return Section("forecast", "Early prediction", html=paragraph(...),
                       figures=(ReportFigure("forecast_grid", "caption", fig),),
                       tables=(("forecast", frame),))

    write_report(ds, fits, "report", sections=[*DEFAULT_SECTIONS, ("forecast", forecast_section)])

Every string from the input (run names, messages, values) is escaped with
:func:`html.escape` before it reaches the page; builders build markup with :func:`esc`,
:func:`paragraph` and :func:`html_table`, which escape for them.
"""

from __future__ import annotations

import base64
import html
import io
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scaling import __version__
from scaling.exceptions import DataWarning, StatisticalWarning
from scaling.fitting.single import FitStatus
from scaling.plotting import figures as plots
from scaling.progress import track

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from scaling.data.load import Dataset
    from scaling.fitting.dataset import FitResults


# --------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------
class SkipSection(Exception):
    """Raised by a section builder when the data do not allow its analysis; the message says why."""


@dataclass(frozen=True, eq=False)
class ReportFigure:
    """A figure of a section.

    Attributes
    ----------
    name : str
        File stem (made safe for file names); unique within the report.
    caption : str
        Plain text shown under the figure (escaped when rendered).
    figure : matplotlib Figure
        The figure; the report renders and writes it.
    """

    name: str
    caption: str
    figure: Any


@dataclass(frozen=True, eq=False)
class Section:
    """One section of the page.

    Attributes
    ----------
    key : str
        Anchor id (letters, digits, ``-``).
    title : str
        Heading (plain text).
    html : str
        The body: markup built with :func:`esc`, :func:`paragraph`, :func:`html_table`.
        Figures are rendered after it, in order.
    figures : tuple of ReportFigure
    tables : tuple of (name, DataFrame)
        Written as ``tables/NAME.csv``.
    warnings : tuple of str
        Plain-text warnings listed at the top of the page.
    """

    key: str
    title: str
    html: str = ""
    figures: tuple[ReportFigure, ...] = ()
    tables: tuple[tuple[str, pd.DataFrame], ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class ReportContext:
    """What section builders read.

    Attributes
    ----------
    data : Dataset
        The loaded data.
    fits : FitResults
        Stage-1 fits of every run.
    perf_label : str
        The metric's name and unit for axis labels (``"accuracy"``).
    per_run : bool
        Whether to draw a figure per run.
    extras : dict
        Results of other analyses, by name, for builders that need them.
    """

    data: Dataset
    fits: FitResults
    perf_label: str = "accuracy"
    per_run: bool = True
    extras: dict = field(default_factory=dict)

    @property
    def level(self) -> str:
        """The confidence level as text, e.g. ``"95%"``."""
        return f"{100 * (1 - self.fits.options.alpha):.3g}%"


SectionBuilder = Callable[[ReportContext], Section]


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote.

    Attributes
    ----------
    path : Path
        The page, ``DIR/index.html``.
    figures : tuple of Path
        PNG and SVG files.
    tables : tuple of Path
        CSV files.
    sections : tuple of str
        Titles of the sections on the page, in order.
    skipped : dict
        Section name -> why it was not run.
    warnings : tuple of str
        The warnings listed at the top of the page.
    """

    path: Path
    figures: tuple[Path, ...]
    tables: tuple[Path, ...]
    sections: tuple[str, ...]
    skipped: dict
    warnings: tuple[str, ...]


def esc(value: object) -> str:
    """Text escaped for HTML (``&``, ``<``, ``>``, quotes)."""
    return html.escape(str(value), quote=True)


def paragraph(*parts: object) -> str:
    """A ``<p>`` of plain-text parts, each escaped, joined by spaces."""
    return "<p>" + " ".join(esc(p) for p in parts) + "</p>"


def html_table(
    frame: pd.DataFrame,
    *,
    markup_columns: Sequence[str] = (),
    row_classes: Sequence[str] | None = None,
    numeric_digits: int = 4,
    caption: str | None = None,
) -> str:
    """An HTML table of a frame; every cell is escaped except ``markup_columns``.

    Parameters
    ----------
    frame : DataFrame
        The rows (the index is not shown).
    markup_columns : sequence of str
        Columns whose cells are markup built with :func:`esc` (e.g. status badges).
    row_classes : sequence of str, optional
        A CSS class per row.
    numeric_digits : int
        Significant digits of floats.
    caption : str, optional
        Plain-text caption.

    Returns
    -------
    str
    """
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for col in frame.columns:
            v = row[col]
            text = str(v) if col in markup_columns else esc(_cell(v, numeric_digits))
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
        cls = f' class="{esc(row_classes[i])}"' if row_classes is not None else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _cell(v: object, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:.{digits}g}"
    return str(v)


def _num(x: float, digits: int = 3) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _interval(est: float, lo: float, hi: float, digits: int = 3) -> str:
    if not np.isfinite(est):
        return ""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _num(est, digits)
    return f"{_num(est, digits)} [{_num(lo, digits)}, {_num(hi, digits)}]"


def _slug(text: str, limit: int = 60) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return s[:limit]


def _status_class(status: FitStatus) -> str:
    if status == FitStatus.OK:
        return "ok"
    return "caveat" if status.usable else "bad"


def _badge(status: FitStatus) -> str:
    return f'<span class="badge {_status_class(status)}">{esc(status.value)}</span>'


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


# --------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------
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
        html_table(table, markup_columns=["status"], row_classes=[_status_class(fits[i].status) for i in order])
    )
    return Section("fits", "Per-run fits", "".join(body), tables=(("fits", frame),))


def _params_key(p: float) -> float:
    return p if p is not None and np.isfinite(p) else np.inf


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
        ax = plots.plot_ceiling_intervals(fits, perf_label=ctx.perf_label, perf_range=ctx.fits.options.perf_range)
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
    """One collapsible block per run: status in words, estimates, and a three-panel figure."""
    if not ctx.per_run:
        raise SkipSection("figures per run were turned off (--no-per-run)")
    fits = _with_points(ctx)
    blocks, figures = [], []
    for i, f in enumerate(track(fits, "per-run figures")):
        name = f"run_{i:03d}_{_slug(f.run)}"
        fig = plots.plot_run_panels(f, perf_label=ctx.perf_label, perf_range=ctx.fits.options.perf_range)
        figures.append(ReportFigure(name, f"{f.run}: data and fitted law, residuals, and profile RSS(c).", fig))
        summ = f.summary().reset_index() if f.has_estimate else pd.DataFrame()
        words = f"{f.status.explanation}" + (
            f" Details: {f.message}." if f.message and f.status != FitStatus.OK else ""
        )
        blocks.append(
            f'<details class="run {_status_class(f.status)}"><summary>{esc(f.run)} {_badge(f.status)}</summary>'
            f"{paragraph(words)}"
            + (html_table(summ, caption=f"Estimates with {ctx.level} intervals ({f.ci_method})") if len(summ) else "")
            + f"<!--figure:{esc(name)}--></details>"
        )
    intro = paragraph("Click a run to see its fit, residuals and profile, its estimates and what its status means.")
    return Section("runs", "Each run", intro + "".join(blocks), figures=tuple(figures))


#: the sections of a report, in page order (the warnings come first, built from all of them).
DEFAULT_SECTIONS: tuple[tuple[str, SectionBuilder], ...] = (
    ("data summary", data_section),
    ("per-run fits", fits_section),
    ("fit grid", grid_section),
    ("residuals", residuals_section),
    ("profile RSS(c)", profile_section),
    ("exchange rate", exchange_section),
    ("figures per run", runs_section),
)


def _deferred(name: str, doc: str) -> SectionBuilder:
    """A builder that imports :mod:`scaling.reporting.sections` (and its analyses) only when called."""

    def build(ctx: ReportContext) -> Section:
        from scaling.reporting import sections as report_sections

        return getattr(report_sections, name)(ctx)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{doc} (see :func:`scaling.reporting.sections.{name}`)."
    return build


forecast_section = _deferred("forecast_section", "Early prediction from the first 15% of each usable run")
compare_section = _deferred("compare_section", "Algorithm comparison per model, with the algorithm overlay")
across_section = _deferred("across_section", "Ceilings across model sizes: stage 2, extrapolation, backtest")

#: the analyses beyond stage 1, by the name used in :attr:`Report.skipped`.
ANALYSIS_SECTIONS: tuple[tuple[str, SectionBuilder], ...] = (
    ("early prediction", forecast_section),
    ("algorithm comparison", compare_section),
    ("across model sizes", across_section),
)


def full_sections(*, forecast: bool = True, compare: bool = True, across: bool = True) -> list[tuple[str, SectionBuilder]]:
    """The sections of the full report (the one ``scaling report`` writes), in page order.

    :data:`DEFAULT_SECTIONS` with the analyses of :data:`ANALYSIS_SECTIONS` placed before
    the figures per run: data, fits, figures of the fits, then early prediction, algorithm
    comparison and cross-size results, then one block per run.

    Parameters
    ----------
    forecast, compare, across : bool
        Include the early prediction, algorithm comparison and cross-size sections.

    Returns
    -------
    list of (name, builder)
    """
    keep = {"early prediction": forecast, "algorithm comparison": compare, "across model sizes": across}
    extra = [s for s in ANALYSIS_SECTIONS if keep[s[0]]]
    head = [s for s in DEFAULT_SECTIONS if s[1] is not runs_section]
    return [*head, *extra, ("figures per run", runs_section)]


def _status_warnings(ctx: ReportContext) -> list[str]:
    out = []
    for run, why in ctx.data.invalid.items():
        out.append(f"Run {run} was set aside: {why}")
    by_status: dict[FitStatus, list] = {}
    for f in ctx.fits.fits:
        if f.status != FitStatus.OK and f.status != FitStatus.INVALID_DATA:
            by_status.setdefault(f.status, []).append(f)
    for status in FitStatus:
        members = by_status.get(status, [])
        if not members:
            continue
        names = ", ".join(f.run for f in members[:12]) + (f" and {len(members) - 12} more" if len(members) > 12 else "")
        verdict = "their estimates are usable with this caveat" if status.usable else "their estimates are not usable"
        out.append(
            f"{_plural(len(members), 'run')} with status '{status.value}' ({verdict}): {status.explanation} Runs: {names}."
        )
    return out


# --------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------
_CSS = """
:root { --ok:#1e7d4f; --caveat:#a86408; --bad:#b03a2e; --muted:#5f6b76; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:#1d232a; margin:0; background:#f6f7f9; }
main { max-width: 1280px; margin: 0 auto; padding: 1.5rem 2rem 4rem; background:#fff; }
h1 { font-size: 1.7rem; margin: .2rem 0 .3rem; } h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 2px solid #e3e6ea; padding-bottom: .2rem; }
.meta { color: var(--muted); margin-top: 0; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
nav a { color: #24579e; text-decoration: none; } nav a:hover { text-decoration: underline; }
.table-wrap { overflow-x: auto; margin: .8rem 0; }
table { border-collapse: collapse; font-size: 13px; }
caption { text-align: left; color: var(--muted); padding: .2rem 0; }
th, td { border-bottom: 1px solid #e3e6ea; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f0f2f5; position: sticky; top: 0; } td:not(:last-child) { white-space: nowrap; } td:first-child { white-space: normal; overflow-wrap: anywhere; max-width: 24rem; } td:last-child { min-width: 16rem; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdf1f0; } tr.caveat td { background: #fffaf0; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: .7rem; font-size: 12px; color: #fff; white-space: nowrap; }
.badge.ok { background: var(--ok); } .badge.caveat { background: var(--caveat); } .badge.bad { background: var(--bad); }
.warnings { border-left: 5px solid var(--caveat); background: #fffaf0; padding: .6rem 1rem; }
.warnings.none { border-color: var(--ok); background: #f1faf5; }
.warnings li { margin: .3rem 0; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
figcaption { color: #3d4650; font-size: 13.5px; max-width: 1100px; }
details { margin: .4rem 0; } details.run { border: 1px solid #e3e6ea; border-radius: 4px; padding: .3rem .7rem; }
summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 3rem; color: var(--muted); font-size: 13px; }
"""


def _render_figure(fig: Figure, dpi: int) -> tuple[bytes, bytes]:
    """PNG (reduced to a 256-colour palette: a third of the size, same look) and SVG bytes."""
    from PIL import Image

    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    fig.set_layout_engine("none")  # keep the layout of the PNG: computing it again would double the time
    fig.savefig(svg, format="svg", dpi=dpi)
    small = io.BytesIO()
    Image.open(io.BytesIO(png.getvalue())).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
        small, format="png", optimize=True
    )
    return small.getvalue(), svg.getvalue()


def _figure_html(name: str, caption: str, png: bytes, size: tuple[int, int]) -> str:
    data = base64.b64encode(png).decode("ascii")
    w, h = size
    return (
        f'<figure id="fig-{esc(name)}"><img src="data:image/png;base64,{data}" alt="{esc(caption)}" width="{w}" height="{h}">'
        f'<figcaption>{esc(caption)} <a href="figures/{esc(name)}.svg">SVG</a> · <a href="figures/{esc(name)}.png">PNG</a></figcaption></figure>'
    )


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def write_report(
    data: Dataset,
    fits: FitResults,
    out_dir: str | Path,
    *,
    sections: Iterable[tuple[str, SectionBuilder]] | None = None,
    title: str | None = None,
    perf_label: str | None = None,
    per_run: bool = True,
    extras: dict | None = None,
    warnings_seen: Sequence[str] = (),
    dpi: int = 100,
) -> Report:
    """Write the HTML report, its figures (PNG and SVG) and tables (CSV) into ``out_dir``.

    Parameters
    ----------
    data : Dataset
        The loaded data (:func:`scaling.data.load.load`).
    fits : FitResults
        Stage-1 fits (:func:`scaling.fitting.dataset.fit_dataset`).
    out_dir : path
        Directory to write ``index.html``, ``figures/`` and ``tables/`` into (created;
        files of the same names are replaced, others are left alone).
    sections : iterable of (name, builder), optional
        The sections in page order; default :data:`DEFAULT_SECTIONS`.  A builder raising
        :class:`SkipSection` is listed under "Analyses not run" with its reason; one
        raising anything else too, with the error, and the other sections still appear.
    title : str, optional
        Page title.
    perf_label : str, optional
        The metric's name and unit; default ``"accuracy"`` for a metric in [0, 1], else
        ``"performance"``.
    per_run : bool
        Include a collapsible block with a figure for every run.
    extras : dict, optional
        Results of other analyses passed to builders (:attr:`ReportContext.extras`).
    warnings_seen : sequence of str
        Warnings raised before the report (e.g. while fitting) to list at the top.
    dpi : int
        Resolution of the PNG figures.

    Returns
    -------
    Report
    """
    if dpi < 30:
        raise ValueError(f"dpi must be at least 30, got {dpi}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} exists and is not a directory")
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    if perf_label is None:
        perf_label = "accuracy" if data.perf_range == (0.0, 1.0) else "performance"
    ctx = ReportContext(data, fits, perf_label, per_run, dict(extras or {}))
    builders = list(DEFAULT_SECTIONS if sections is None else sections)

    built: list[Section] = []
    skipped: dict[str, str] = {}
    caught_msgs: list[str] = [str(w) for w in warnings_seen]
    for name, builder in track(builders, "report sections"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                built.append(builder(ctx))
            except SkipSection as why:
                skipped[name] = str(why)
            except Exception as err:  # one failing analysis must not lose the others
                skipped[name] = f"failed with {type(err).__name__}: {err}"
        caught_msgs += [str(w.message) for w in caught if issubclass(w.category, (DataWarning, StatisticalWarning))]

    warning_items = _status_warnings(ctx) + [w for s in built for w in s.warnings] + list(dict.fromkeys(caught_msgs))
    fig_paths: list[Path] = []
    table_paths: list[Path] = []
    body: list[str] = []
    names_used: set[str] = set()
    all_figs = [(s, f) for s in built for f in s.figures]
    rendered: dict[int, str] = {}
    for s, f in track(all_figs, "writing figures"):
        name = _unique(_slug(f.name, 80), names_used)
        png, svg = _render_figure(f.figure, dpi)
        (out / "figures" / f"{name}.png").write_bytes(png)
        (out / "figures" / f"{name}.svg").write_bytes(svg)
        fig_paths += [out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"]
        rendered[id(f)] = _figure_html(name, f.caption, png, _png_size(png))
        f.figure.clear()  # free memory: the figure is written
    for s in built:
        for tname, frame in s.tables:
            path = out / "tables" / f"{_slug(tname, 80)}.csv"
            frame.to_csv(path, index=False)
            table_paths.append(path)
        inner = s.html
        loose = []
        for f in s.figures:
            marker = f"<!--figure:{esc(f.name)}-->"
            if marker in inner:
                inner = inner.replace(marker, rendered[id(f)], 1)
            else:
                loose.append(rendered[id(f)])
        body.append(f'<section id="{esc(_slug(s.key))}"><h2>{esc(s.title)}</h2>{inner}{"".join(loose)}</section>')

    page = _page(ctx, title, built, body, warning_items, skipped, fig_paths, table_paths, out)
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return Report(
        path, tuple(fig_paths), tuple(table_paths), tuple(s.title for s in built), skipped, tuple(warning_items)
    )


def _unique(name: str, used: set[str]) -> str:
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def _page(ctx, title, built, body, warning_items, skipped, fig_paths, table_paths, out: Path) -> str:
    title = title or "Entropy–performance report"
    res = ctx.fits
    nav = [("warnings", "Warnings")] + [(_slug(s.key), s.title) for s in built]
    if skipped:
        nav.append(("not-run", "Analyses not run"))
    nav.append(("files", "Files"))
    if warning_items:
        warn = (
            f'<div class="warnings"><p><strong>{_plural(len(warning_items), "warning")}</strong> — read these before the numbers.</p><ul>'
            + "".join(f"<li>{esc(w)}</li>" for w in warning_items)
            + "</ul></div>"
        )
    else:
        warn = '<div class="warnings none"><p>No warnings: every run loaded and every fit has status ok.</p></div>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<header><h1>{esc(title)}</h1>",
        (
            f'<p class="meta">{esc(ctx.data.source or "data")} · {_plural(len(res.fits), "run")} · mode {esc(res.mode)} · '
            f"{esc(res.options.ci)} intervals at {esc(ctx.level)} · scaling {esc(__version__)} · "
            f"{esc(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}</p>"
        ),
        "<nav><ul>" + "".join(f'<li><a href="#{esc(k)}">{esc(t)}</a></li>' for k, t in nav) + "</ul></nav></header>",
        f'<section id="warnings"><h2>Warnings</h2>{warn}</section>',
        *body,
    ]
    if skipped:
        parts.append(
            '<section id="not-run"><h2>Analyses not run</h2><ul>'
            + "".join(f"<li><strong>{esc(k)}</strong>: {esc(v)}</li>" for k, v in skipped.items())
            + "</ul></section>"
        )
    files = [p.relative_to(out).as_posix() for p in (*table_paths, *fig_paths)]
    parts.append(
        '<section id="files"><h2>Files</h2>'
        + paragraph(
            f"Beside this page: {_plural(len(table_paths), 'table')} as CSV in tables/ and "
            f"{_plural(len(fig_paths) // 2, 'figure')} as PNG and SVG in figures/."
        )
        + "<details><summary>List</summary><ul>"
        + "".join(f'<li><a href="{esc(f)}">{esc(f)}</a></li>' for f in files)
        + "</ul></details></section>"
    )
    parts.append(
        "<footer>"
        + paragraph(
            "Made by scaling (entropy-scaling). The law: Perf(S) = a − b·exp(c·S), Cui et al. 2025, arXiv 2505.22617."
        )
        + "</footer></main></body></html>"
    )
    return "\n".join(parts)
