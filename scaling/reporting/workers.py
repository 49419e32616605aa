"""Report sections built and drawn several at a time, each in a forked process.

Once the study is computed, a report's sections are independent: each builder reads the
study and returns markup, tables and figures.  Drawing the figures is most of a report's
time and keeps one core busy (matplotlib lays out and rasterises in Python).
:func:`section_outcomes` builds and draws the sections with :func:`scaling.forked.forked_map`
and hands them back in page order; the caller writes them, so file names and the page are
those of a serial run.  A child sends back the section's markup, tables and PNG bytes,
not its matplotlib objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

from scaling.exceptions import failure, recorded_warnings
from scaling.forked import ChildFailed, forked_map
from scaling.reporting.blocks import ReportFigure, Section, SectionBuilder, SkipSection

if TYPE_CHECKING:  # pragma: no cover
    from scaling.reporting.blocks import ReportContext

#: a drawn figure: the figure's description, its PNG bytes and its SVG bytes (None unless asked for)
Drawn = tuple[ReportFigure, bytes, "bytes | None"]
#: draws a section's figures, in the order of ``Section.figures``
Drawer = Callable[[Section], list[Drawn]]


@dataclass(frozen=True)
class SectionOutcome:
    """What building and drawing one section gave.

    Attributes
    ----------
    name : str
        The builder's name (as listed under "Analyses not run" when it is skipped).
    section : Section or None
        The section, its figures without the matplotlib objects (they are drawn and let
        go); None when it was skipped or failed.
    drawn : tuple
        ``(figure, png, svg)`` for each of ``section.figures``, in order.
    skipped : str or None
        Why the section is absent: the builder's :class:`SkipSection` reason,
        ``"failed with TYPE: message"`` (:func:`scaling.exceptions.failure`), or
        ``"failed: ..."`` when its process gave no answer.
    messages : tuple of str
        The data and statistical warnings raised while it was built and drawn.
    """

    name: str
    section: Section | None
    drawn: tuple[Drawn, ...] = ()
    skipped: str | None = None
    messages: tuple[str, ...] = ()


def build_section(name: str, builder: SectionBuilder, ctx: ReportContext, draw: Drawer) -> SectionOutcome:
    """Build one section and draw its figures, catching what must not stop the report.

    A builder raising :class:`SkipSection` gives its reason; any other error while building
    or drawing gives ``"failed with TYPE: message"``, so one failing section loses only itself.
    The outcome keeps the figures' names and captions and their drawings, not the figures.
    """
    section, drawn, skipped = None, [], None
    with recorded_warnings() as messages:
        try:
            section = builder(ctx)
            drawn = draw(section)
        except SkipSection as why:
            section, skipped = None, str(why)
        except Exception as err:  # one failing section must not lose the others
            section, skipped = None, failure(err)
    if section is None:
        return SectionOutcome(name, None, (), skipped, tuple(messages))
    bare = tuple(replace(f, figure=None) for f in section.figures)  # drawn: let the figures go
    drawn = tuple((b, png, svg) for b, (_, png, svg) in zip(bare, drawn))
    return SectionOutcome(name, replace(section, figures=bare), drawn, None, tuple(messages))


def section_outcomes(
    builders: Sequence[tuple[str, SectionBuilder]],
    ctx: ReportContext,
    draw: Drawer,
    jobs: int = 1,
    on_done: Callable[[], None] | None = None,
) -> Iterator[SectionOutcome]:
    """The outcome of every builder, in the order given, built and drawn up to ``jobs`` at a time.

    Parameters
    ----------
    builders : sequence of (name, builder)
        The sections in page order.
    ctx : ReportContext
        What the builders read.
    draw : callable
        Draws a built section's figures, one per ``Section.figures`` in order
        (:meth:`scaling.reporting.page._PageWriter.draw`).
    jobs : int
        Sections at once, each in a forked process (:func:`scaling.forked.forked_map`), the
        last started first (a page ends with its heaviest sections: the analyses', the
        runs' figures); the finished ones wait here for their turn, as PNG bytes (which
        the page embeds anyway).  With 1 they are built here in order, each only after the
        previous was taken, so the figures of one section are alive at a time.
    on_done : callable, optional
        Called each time a section is finished (a progress bar's advance).

    Returns
    -------
    iterator of SectionOutcome
        In the order of ``builders``.  A section whose process died without an answer
        (killed, out of memory) is failed, with the exit code; the others still come.
        Close it (``contextlib.closing``) when its outcomes may not all be taken.
    """
    tasks = [partial(build_section, name, builder, ctx, draw) for name, builder in builders]
    got = forked_map(tasks, jobs, start=range(len(tasks) - 1, -1, -1), on_done=on_done)
    return _named(builders, got)


def _named(builders, got) -> Iterator[SectionOutcome]:
    try:
        for (name, _), outcome in zip(builders, got):
            yield SectionOutcome(name, None, skipped=outcome.message) if isinstance(outcome, ChildFailed) else outcome
    finally:
        got.close()
