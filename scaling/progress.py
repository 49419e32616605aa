"""Progress bars for operations that take more than a second (bootstrap, backtests, reports).

Bars are drawn with :mod:`rich.progress` on standard error, and only when standard
error is a terminal: in a pipe, a log file, a notebook or a test they are silent
and cost nothing (rich is not even imported).

Examples
--------
>>> from scaling.progress import track
>>> [x * x for x in track(range(3), "squares")]
[0, 1, 4]
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

T = TypeVar("T")


def is_interactive(stream: IO | None = None) -> bool:
    """Whether ``stream`` (default: standard error) is a terminal, so a bar may be drawn."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # closed or detached stream
        return False


@contextmanager
def progress_bar(
    total: int | None,
    description: str,
    *,
    enabled: bool | None = None,
    stream: IO | None = None,
) -> Iterator[Callable[[int], None]]:
    """A progress bar as a context manager that yields an ``advance(n=1)`` function.

    Parameters
    ----------
    total : int or None
        Number of steps (None: unknown, the bar pulses).
    description : str
        Text shown left of the bar.
    enabled : bool, optional
        Force the bar on or off; default: on only when ``stream`` is a terminal.
    stream : file, optional
        Where to draw; default standard error.

    Yields
    ------
    callable
        ``advance(n=1)``: mark ``n`` more steps done.  A no-op when the bar is off.

    Examples
    --------
    >>> with progress_bar(2, "bootstrap", enabled=False) as advance:
    ...     advance()
    ...     advance()
    """
    if total is not None and total < 0:
        raise ValueError(f"total must be >= 0 or None, got {total}")
    stream = sys.stderr if stream is None else stream
    on = is_interactive(stream) if enabled is None else bool(enabled)
    if not on:
        yield _noop
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def track(
    iterable: Iterable[T],
    description: str,
    *,
    total: int | None = None,
    enabled: bool | None = None,
    stream: IO | None = None,
) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar (silent when not on a terminal).

    Parameters
    ----------
    iterable : iterable
        The items.
    description : str
        Text shown left of the bar.
    total : int, optional
        Number of items; default ``len(iterable)`` when it has one.
    enabled, stream
        As in :func:`progress_bar`.

    Yields
    ------
    The items of ``iterable``, unchanged.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(total, description, enabled=enabled, stream=stream) as advance:
        for item in iterable:
            yield item
            advance(1)


def _noop(n: int = 1) -> None:
    return None
