"""Building blocks of the report: sections, figures, the context builders read, and safe HTML.

Every string from the input (run names, messages, values) is escaped with
:func:`html.escape` before it reaches the page; builders build markup with :func:`esc`,
:func:`paragraph` and :func:`html_table`, which escape for them.

The sections themselves are in :mod:`scaling.reporting.fit_sections` (data and per-run
fits) and :mod:`scaling.reporting.sections` (early prediction, algorithm comparison,
model sizes); :mod:`scaling.reporting.page` assembles and writes the page.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scaling.fitting.single import FitStatus
from scaling.study import Study


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
    figure : matplotlib Figure, or a function of no arguments returning one
        The figure; the report renders and writes it.  Given a function, the figure is
        drawn only when the page renders it and dropped right after, so a section with
        many figures holds one at a time.
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


#: runs drawn in the per-run figures by default; beyond it only on request (``per_run_figures=None``,
#: ``scaling report --per-run-figures all``).
PER_RUN_PANELS = 240


@dataclass(frozen=True, eq=False)
class ReportContext:
    """What section builders read: a computed study and how to label it.

    Attributes
    ----------
    study : Study
        The fits and analyses (:meth:`scaling.study.Study.run`); builders only render it.
    perf_label : str
        The metric's name and unit for axis labels (``"accuracy"``).
    per_run : bool
        Whether to show a block per run (and their figures).
    per_run_figures : int or None
        Most runs drawn in the per-run figures (the first ones in page order); None draws all.
    """

    study: Study
    perf_label: str = "accuracy"
    per_run: bool = True
    per_run_figures: int | None = PER_RUN_PANELS

    @property
    def data(self):
        """The study's data (a :class:`~scaling.data.load.Dataset`)."""
        return self.study.data

    @property
    def fits(self):
        """The study's per-run fits (a :class:`~scaling.fitting.dataset.FitResults`)."""
        return self.study.fits

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
        PNG files (and SVG copies when asked for).
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
    row_ids: Sequence[str] | None = None,
    wrap_columns: Sequence[str] = (),
    numeric_digits: int = 4,
    caption: str | None = None,
) -> str:
    """An HTML table of a frame; every cell is escaped except ``markup_columns``.

    The table scrolls inside its own box when wider than the page; text cells may break
    after the ``/`` separating the parts of a run name, not inside a word.

    Parameters
    ----------
    frame : DataFrame
        The rows (the index is not shown).
    markup_columns : sequence of str
        Columns whose cells are markup built with :func:`esc` (e.g. status badges).
    row_classes : sequence of str, optional
        A CSS class per row.
    row_ids : sequence of str, optional
        An ``id`` per row (link targets, e.g. :func:`run_anchor`).
    wrap_columns : sequence of str
        Columns of long text that wrap (other cells stay on one line, except the first and last column).
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
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            text = str(v) if col in markup_columns else esc(_cell(v, numeric_digits))
            if num:
                cells.append(f'<td class="num">{text}</td>')
            else:
                wrap = ' class="wrap"' if col in wrap_columns else ""
                cells.append(f"<td{wrap}>{text if col in markup_columns else _breakable(text)}</td>")
        cls = f' class="{esc(row_classes[i])}"' if row_classes is not None else ""
        rid = f' id="{esc(row_ids[i])}"' if row_ids is not None else ""
        rows.append(f"<tr{rid}{cls}>{''.join(cells)}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _breakable(text: str) -> str:
    """Escaped text with a line-break opportunity after each ``/`` (run names wrap between their parts)."""
    return text.replace("/", "/<wbr>")


def run_anchor(run: str) -> str:
    """The page anchor of a run's row in the per-run fits table: readable and unique per run name."""
    digest = hashlib.sha1(run.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"run-{_slug(run, 40)}-{digest}"


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




def _params_key(p: float) -> float:
    return p if p is not None and np.isfinite(p) else np.inf


def ranking_table(ranking: pd.DataFrame, caption: str, *, scale: float = 1.0, unit: str = "") -> str:
    """HTML of a ranking of mean forms by backtest (:attr:`scaling.across.choice.FormChoice.ranking`).

    ``scale`` multiplies the errors (100 for percent shown in points); ``unit`` labels them.
    """
    digits = 2 if scale == 100 else 4

    def num(v: float) -> str:
        return "" if not np.isfinite(v) else f"{scale * v:.{digits}f}"

    frame = pd.DataFrame(
        {
            "form": ranking["form"],
            "coefficients": ranking["n_params"],
            f"held-out RMSE{unit}": [num(v) for v in ranking["rmse"]],
            f"error at the largest size{unit}": [num(v) for v in ranking["largest_error"]],
            "weight": [f"{w:.2f}" for w in ranking["weight"]],
            "status": ranking["status"],
        }
    )
    return html_table(frame, caption=caption)
