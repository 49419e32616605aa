"""The report page: assembles the sections of a :class:`~scaling.study.Study` and writes them.

:func:`write_report` writes ``DIR/index.html`` (figures embedded as base64 PNG, tables as
HTML), and beside it every figure as ``figures/NAME.png`` (and ``figures/NAME.svg`` with
``svg=True``) and every table as ``tables/NAME.csv``.  It renders a study and computes
nothing: the fits and analyses are the study's (:meth:`scaling.study.Study.run`).

The page is a list of sections, each made by a *section builder*: a function taking a
:class:`~scaling.reporting.blocks.ReportContext` and returning a
:class:`~scaling.reporting.blocks.Section`.  A builder whose analysis the data did not
allow raises :class:`~scaling.reporting.blocks.SkipSection` with the reason; its section
is then absent and the page lists it under "Analyses not run".  Warnings of every
section, of the study, and the runs set aside or not usable are collected and shown first.

:data:`DEFAULT_SECTIONS` are the stage-1 sections (:mod:`scaling.reporting.fit_sections`:
data, fits and their figures, one block per run); :data:`ANALYSIS_SECTIONS` add early
prediction, the algorithm comparison and the results across model sizes
(:mod:`scaling.reporting.sections`); :func:`full_sections` orders both::

    study = Study.run(ds, StudySettings(analyses=("forecast",)))
    write_report(study, "report")                        # the sections of the study's analyses
    write_report(study, "report", sections=full_sections(compare=False, across=False))

Adding a section::

    def usable_section(ctx: ReportContext) -> Section:
        runs = [f for f in ctx.fits if f.status.usable]
        if not runs:
            raise SkipSection("no usable fit")
        return Section("usable", "Usable runs", html=paragraph(f"{len(runs)} usable runs"),
                       tables=(("usable", ctx.fits.to_frame()),))

    write_report(study, "report", sections=[*DEFAULT_SECTIONS, ("usable runs", usable_section)])

The module layering is one way: :mod:`~scaling.reporting.blocks` (building blocks) <-
:mod:`~scaling.reporting.fit_sections`, :mod:`~scaling.reporting.sections` <- this module.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from scaling import __version__
from scaling.fitting.single import FitStatus
from scaling.forked import check_jobs
from scaling.outputs import check_output, report_dir
from scaling.progress import progress_bar
from scaling.reporting.blocks import (
    PER_RUN_PANELS,
    Report,
    ReportContext,
    ReportFigure,
    Section,
    SectionBuilder,
    SkipSection,
    _plural,
    _slug,
    esc,
    html_table,
    paragraph,
)
from scaling.reporting.fit_sections import (
    data_section,
    exchange_section,
    fits_section,
    grid_section,
    profile_section,
    residuals_section,
    runs_section,
)
from scaling.reporting.sections import across_section, compare_section, forecast_section
from scaling.reporting.summary import summary_section
from scaling.reporting.workers import Drawn, section_outcomes
from scaling.study import Study
from scaling.textsafe import formula_safe

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "ANALYSIS_SECTIONS",
    "DEFAULT_SECTIONS",
    "Report",
    "ReportContext",
    "ReportFigure",
    "Section",
    "SectionBuilder",
    "SkipSection",
    "esc",
    "full_sections",
    "html_table",
    "paragraph",
    "write_report",
]

#: the sections of a report, in page order (the warnings come first, built from all of them).
DEFAULT_SECTIONS: tuple[tuple[str, SectionBuilder], ...] = (
    ("summary", summary_section),
    ("data summary", data_section),
    ("per-run fits", fits_section),
    ("fit grid", grid_section),
    ("residuals", residuals_section),
    ("profile RSS(c)", profile_section),
    ("exchange rate", exchange_section),
    ("figures per run", runs_section),
)

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




def study_sections(study: Study) -> list[tuple[str, SectionBuilder]]:
    """The sections of a study's report: :func:`full_sections` with the analyses the study was asked for."""
    asked = set(study.settings.analyses)
    return full_sections(forecast="forecast" in asked, compare="compare" in asked, across="across" in asked)


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
th { background: #f0f2f5; } td:not(:last-child) { white-space: nowrap; } td:first-child { white-space: normal; overflow-wrap: break-word; max-width: 22rem; } td:last-child { min-width: 12rem; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 14rem; } main { overflow-wrap: break-word; } .more { margin: .1rem 0 1rem; font-size: 13px; } .more a { color: #24579e; }
#summary table { font-size: 14px; } #summary h2 { margin-top: 1.2rem; }
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




def _render_figure(fig: Figure, dpi: int, svg: bool = False) -> tuple[bytes, bytes | None]:
    """The figure drawn once and encoded once as a palette PNG; SVG bytes only when asked for.

    The figure is drawn to an RGBA buffer (its layout engine runs once, in that draw) and
    the buffer is reduced to a 256-colour palette (a third of the size, same look) and
    written as PNG by Pillow.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    w, h = canvas.get_width_height(physical=True)
    rgb = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    png = io.BytesIO()
    rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(png, format="png", compress_level=6)
    vector = None
    if svg:
        out = io.BytesIO()
        fig.set_layout_engine("none")  # keep the layout of the PNG: computing it again would double the time
        fig.savefig(out, format="svg", dpi=dpi)
        vector = out.getvalue()
    return png.getvalue(), vector


def _figure_html(name: str, caption: str, png: bytes, size: tuple[int, int], svg: bool) -> str:
    data = base64.b64encode(png).decode("ascii")
    w, h = size
    links = (f'<a href="figures/{esc(name)}.svg">SVG</a> · ' if svg else "") + f'<a href="figures/{esc(name)}.png">PNG</a>'
    return (
        f'<figure id="fig-{esc(name)}"><img src="data:image/png;base64,{data}" alt="{esc(caption)}" width="{w}" height="{h}">'
        f"<figcaption>{esc(caption)} {links}</figcaption></figure>"
    )


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def write_report(
    study: Study,
    out_dir: str | Path,
    *,
    sections: Iterable[tuple[str, SectionBuilder]] | None = None,
    title: str | None = None,
    perf_label: str | None = None,
    per_run: bool = True,
    per_run_figures: int | None = PER_RUN_PANELS,
    dpi: int = 100,
    svg: bool = False,
    safe_csv: bool = False,
    jobs: int = 1,
) -> Report:
    """Write the HTML report of a study, its figures (PNG) and tables (CSV) into ``out_dir``.

    Parameters
    ----------
    study : Study
        The fits and analyses (:meth:`scaling.study.Study.run`); nothing is computed here.
    out_dir : path
        Directory of ``index.html``, ``figures/`` and ``tables/``, written as a whole: built
        beside it and swapped in when complete, under a lock refusing a second writer
        (:func:`scaling.outputs.report_dir`).  An existing one must be empty or a previous
        report; anything else (a symbolic link, other files) raises
        :class:`~scaling.exceptions.OutputError`.
    sections : iterable of (name, builder), optional
        The sections in page order; default :func:`study_sections` (the stage-1 sections
        and those of the analyses the study was asked for).  A builder raising
        :class:`SkipSection` is listed under "Analyses not run" with its reason; one
        raising anything else too, with the error, and the other sections still appear.
    title : str, optional
        Page title.
    perf_label : str, optional
        The metric's name and unit; default ``"accuracy"`` for a metric in [0, 1], else
        ``"performance"``.
    per_run : bool
        Include a collapsible block per run and the runs drawn as small multiples.
    per_run_figures : int or None
        Most runs drawn in the per-run figures (default :data:`~scaling.reporting.blocks.PER_RUN_PANELS`,
        the first in page order; the page says how many); None draws every run.
    dpi : int
        Resolution of the PNG figures.
    svg : bool
        Also write every figure as ``figures/NAME.svg`` (draws each figure a second time).
    safe_csv : bool
        Neutralise formula-like text cells of ``tables/*.csv`` (:func:`scaling.textsafe.formula_safe`,
        the CLI's ``--safe-csv``).
    jobs : int
        Sections built and drawn at once, each in a forked process (Linux; elsewhere 1,
        :mod:`scaling.reporting.workers`).  The page and files are the same for any value;
        :func:`scaling.forked.default_jobs` gives the cores available, as the CLI uses.

    Returns
    -------
    Report

    Notes
    -----
    The warnings at the top of the page are, in order: runs set aside and fits that are
    not ok, the sections' own warnings, then those the study recorded (fits, forecasts,
    comparison) and any raised while the sections were built.

    Each section's figures are drawn one at a time and dropped once drawn, so the memory
    used does not grow with the number of sections or figures.  With ``jobs`` = 1 a section
    is written before the next is built; with more, the sections are started last first and
    written in page order, those finished early waiting as PNG bytes (which the page embeds
    anyway).
    """
    if not isinstance(study, Study):
        raise ValueError(f"study must be a Study (scaling.study.Study.run), got {type(study).__name__}")
    if dpi < 30:
        raise ValueError(f"dpi must be at least 30, got {dpi}")
    if per_run_figures is not None and per_run_figures < 0:
        raise ValueError(f"per_run_figures must be >= 0 or None, got {per_run_figures}")
    jobs = check_jobs(jobs)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} exists and is not a directory")
    check_output(out, kind="report")  # before any work: refuses what would be lost
    data = study.data
    if perf_label is None:
        perf_label = "accuracy" if data.perf_range == (0.0, 1.0) else "performance"
    ctx = ReportContext(study, perf_label, per_run, per_run_figures)
    builders = list(study_sections(study) if sections is None else sections)
    res = ctx.fits
    meta = (
        f"Source: {ctx.data.source or 'a table'} · {_plural(len(res.fits), 'run')} · mode {res.mode} · "
        f"{res.options.ci} intervals at {ctx.level}"
    )

    skipped: dict[str, str] = {}
    caught_msgs: list[str] = [*study.warnings.get("fit", ()), *study.warnings.get("forecast", ()), *study.warnings.get("compare", ())]
    with report_dir(out) as work:
        page = _PageWriter(out, work, dpi, svg, safe_csv)
        with progress_bar(len(builders), "report sections") as advance:
            # closed on an error writing the files: that stops the report and the sections' processes
            with closing(section_outcomes(builders, ctx, page.draw, jobs, on_done=advance)) as outcomes:
                for outcome in outcomes:
                    if outcome.section is None:
                        skipped[outcome.name] = outcome.skipped or "failed"
                    else:
                        page.write(outcome.section, outcome.drawn)
                    caught_msgs += outcome.messages
        warning_items = _status_warnings(ctx) + page.warnings + list(dict.fromkeys(caught_msgs))
        return page.finish(
            skipped, warning_items, title=title or "Entropy–performance report", meta=meta,
            no_warnings="No warnings: every run loaded and every fit has status ok.",
        )  # fmt: skip


def write_page(
    out_dir: str | Path,
    built: list[Section],
    skipped: dict[str, str],
    warning_items: list[str],
    *,
    title: str,
    meta: str,
    dpi: int = 100,
    svg: bool = False,
    no_warnings: str = "No warnings.",
    safe_csv: bool = False,
) -> Report:
    """Render built sections into ``out_dir``: ``index.html``, ``figures/`` (PNG, SVG) and ``tables/`` (CSV).

    The directory is written as a whole (:func:`scaling.outputs.report_dir`): built beside it
    and swapped in when complete.  ``meta`` is the line under the title (the scaling version
    and the time are added); ``no_warnings`` is shown when ``warning_items`` is empty;
    ``safe_csv`` neutralises cells of the CSV tables that a spreadsheet would run as formulas.
    Each section's figures are drawn, written and dropped in turn.

    Returns
    -------
    Report
    """
    out = Path(out_dir)
    # Everything is written into a fresh directory beside out_dir, swapped in at the end
    # (scaling.outputs.report_dir): out_dir is always the previous report or the new one.
    with report_dir(out) as work:
        page = _PageWriter(out, work, dpi, svg, safe_csv)
        for s in built:
            page.add(s)
        return page.finish(skipped, warning_items, title=title, meta=meta, no_warnings=no_warnings)


class _PageWriter:
    """Writes sections into a report directory as they come, keeping only their HTML.

    :meth:`add` draws a section's figures one at a time (a figure given as a function is
    made only then), writes its PNG (SVG) and CSV files and keeps the section's markup, title
    and warnings; the figures are dropped.  :meth:`finish` writes ``index.html``
    last, so the page exists only when its files do.
    """

    def __init__(self, out: Path, work: Path, dpi: int, svg: bool, safe_csv: bool) -> None:
        self.out, self.work, self.dpi, self.svg, self.safe_csv = out, work, dpi, svg, safe_csv
        (work / "figures").mkdir()
        (work / "tables").mkdir()
        self.fig_paths: list[Path] = []
        self.table_paths: list[Path] = []
        self.body: list[str] = []
        self.heads: list[Section] = []  # key and title of each section, for the navigation
        self.warnings: list[str] = []
        self.names_used: set[str] = set()
        self.n_figures = 0

    def add(self, s: Section) -> None:
        """Draw the figures of ``s`` and write them, its tables and its markup (:meth:`draw`, :meth:`write`)."""
        self.write(s, self.draw(s))

    def draw(self, s: Section) -> list[Drawn]:
        """The figures of ``s`` drawn one at a time (a function called only now) as PNG (and SVG) bytes.

        A figure made here is dropped as soon as it is drawn; one the section holds goes with
        the section.  (``Figure.clear`` is not called: it resets every Axes first, which cost
        a tenth of the report's time, and freed no more memory on the 720-run report.)  All
        are drawn before any file of the section is written, so a figure that fails to draw
        leaves no file of its section.
        """
        rendered = []
        for f in s.figures:
            fig = f.figure() if callable(f.figure) else f.figure
            rendered.append((f, *_render_figure(fig, self.dpi, self.svg)))
            del fig
        return rendered

    def write(self, s: Section, rendered: Sequence[Drawn]) -> None:
        """Write the drawn figures and the tables of ``s``; keep its markup, title and warnings."""
        html = {}
        for f, png, vector in rendered:
            name = _unique(_slug(f.name, 80), self.names_used)
            _write_file(self.work / "figures" / f"{name}.png", png)
            self.fig_paths.append(self.out / "figures" / f"{name}.png")
            if vector is not None:
                _write_file(self.work / "figures" / f"{name}.svg", vector)
                self.fig_paths.append(self.out / "figures" / f"{name}.svg")
            html[id(f)] = _figure_html(name, f.caption, png, _png_size(png), self.svg)
            self.n_figures += 1
        for tname, frame in s.tables:
            fname = f"{_slug(tname, 80)}.csv"
            (formula_safe(frame) if self.safe_csv else frame).to_csv(self.work / "tables" / fname, index=False)
            self.table_paths.append(self.out / "tables" / fname)
        inner = s.html
        loose = []
        for f in s.figures:
            marker = f"<!--figure:{esc(f.name)}-->"
            if marker in inner:
                inner = inner.replace(marker, html[id(f)], 1)
            else:
                loose.append(html[id(f)])
        self.body.append(f'<section id="{esc(_slug(s.key))}"><h2>{esc(s.title)}</h2>{inner}{"".join(loose)}</section>')
        self.heads.append(Section(s.key, s.title))
        self.warnings += s.warnings

    def finish(self, skipped: dict[str, str], warning_items: list[str], *, title: str, meta: str, no_warnings: str) -> Report:
        """Write ``index.html`` and return what was written."""
        page = _page(
            title, meta, self.heads, self.body, warning_items, skipped, self.fig_paths, self.table_paths, self.out,
            self.n_figures, self.svg, no_warnings,
        )  # fmt: skip
        _write_file(self.work / "index.html", page.encode("utf-8"))  # last: the page exists only when its files do
        return Report(
            self.out / "index.html", tuple(self.fig_paths), tuple(self.table_paths), tuple(s.title for s in self.heads),
            skipped, tuple(warning_items),
        )  # fmt: skip


def _write_file(path: Path, data: bytes) -> None:
    """Write one file of the report (a seam for tests that interrupt the writing)."""
    path.write_bytes(data)


def _unique(name: str, used: set[str]) -> str:
    base, k = name, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def _page(title, meta, built, body, warning_items, skipped, fig_paths, table_paths, out: Path, n_figures: int, svg: bool, no_warnings: str) -> str:
    # the summary answers first; the warnings come right after it, before any detail
    lead = 1 if built and built[0].key == "summary" else 0
    nav = [(_slug(s.key), s.title) for s in built[:lead]] + [("warnings", "Warnings")] + [(_slug(s.key), s.title) for s in built[lead:]]
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
        warn = f'<div class="warnings none"><p>{esc(no_warnings)}</p></div>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<header><h1>{esc(title)}</h1>",
        (
            f'<p class="meta">{esc(meta)} · scaling {esc(__version__)} · '
            f"{esc(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))}</p>"
        ),
        "<nav><ul>" + "".join(f'<li><a href="#{esc(k)}">{esc(t)}</a></li>' for k, t in nav) + "</ul></nav></header>",
        *body[:lead],
        f'<section id="warnings"><h2>Warnings</h2>{warn}</section>',
        *body[lead:],
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
            f"{_plural(n_figures, 'figure')} as {'PNG and SVG' if svg else 'PNG'} in figures/."
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

