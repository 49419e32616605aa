"""Safe text out: every line the CLI prints goes through :func:`echo`.

Run names, column names and messages that quote data come from files, so they can
carry terminal control sequences (ESC clears the screen or sets the window title,
BEL rings, CR overwrites the line).  :func:`printable` shows such characters as
visible ``\\x1b``-style escapes; :func:`echo` applies it to every message, keeping
only the newlines of the CLI's own layout; :func:`frame_text` escapes the cells,
column names and index of a table, newlines included, before it is laid out.

:func:`csv_safe` is the ``--safe-csv`` option: string cells that a spreadsheet would
run as a formula get a leading ``'`` (OWASP's advice on CSV injection).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from scaling.textsafe import formula_safe, frame_text, neutralise, printable

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SafeCsvOpt", "csv_safe", "echo", "fail", "frame_text", "neutralise", "printable"]


def echo(message: object = "", err: bool = False) -> None:
    """Print ``message`` (control characters escaped, newlines kept); the CLI's only way to print."""
    typer.echo(printable(message, keep_newline=True), err=err)


def fail(err: Exception | str) -> NoReturn:
    """Print ``error: ...`` on stderr and exit with code 2."""
    echo(f"error: {err}", err=True)
    raise typer.Exit(code=2)


def csv_safe(frame: pd.DataFrame, out: Path | None, enabled: bool) -> pd.DataFrame:
    """The table to write to ``out``: with ``enabled`` and a CSV destination, formula-like string cells neutralised.

    >>> import pandas as pd
    >>> csv_safe(pd.DataFrame({"run": ["=cmd()", "-1.5", "a"], "x": [-1.0, 2.0, 3.0]}), Path("t.csv"), True)["run"].tolist()
    ["'=cmd()", '-1.5', 'a']
    """
    if not enabled or out is None or out.suffix.lower() in (".json", ".parquet", ".pq"):
        return frame
    return formula_safe(frame)


SafeCsvOpt = Annotated[
    bool,
    typer.Option(
        "--safe-csv",
        help="In a CSV written with --out (and the report's tables), prefix with ' every text cell starting with =, +, -, @, tab or CR, "
        "so a spreadsheet shows it instead of running it as a formula (numbers are left alone).",
    ),
]
