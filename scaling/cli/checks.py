"""Option checks shared by the commands: one-line ``error: --option ...`` and exit code 2.

Used as Typer callbacks, so a bad value stops the command before any data is read.
"""

from __future__ import annotations

import math

from scaling.cli.text import echo, fail

#: how far (decades of parameter count) beyond the fitted sizes --to may go without a warning.
FAR_DECADES = 3.0


def check_r2_min(value: float) -> float:
    """``--r2-min`` is a finite number in [0, 1)."""
    if value is None:
        return value
    if not math.isfinite(value) or not 0 <= value < 1:
        fail(f"--r2-min must be a finite number in [0, 1); got {value:g}")
    return value


def check_seed(value: int) -> int:
    """``--seed`` is a non-negative integer."""
    if value is not None and value < 0:
        fail(f"--seed must be a non-negative integer; got {value}")
    return value


def check_per_run_figures(value: str | None) -> str | None:
    """``--per-run-figures`` is a non-negative integer or ``all``."""
    if value is None or value == "all" or (value.isdigit() and value.isascii()):
        return value
    fail(f"--per-run-figures must be a non-negative integer or 'all'; got {value!r}")


def warn_far(pred, column: str = "decades_beyond") -> None:
    """Print a warning line for every predicted size more than FAR_DECADES decades outside the fitted sizes."""
    if column not in pred.columns:
        return
    for row in pred.itertuples():
        d = getattr(row, column)
        if d == d and abs(d) > FAR_DECADES:
            where = "beyond the largest" if d > 0 else "below the smallest"
            task = getattr(row, "task", "") or ""
            echo(f"warning: --to {row.params:g} is {abs(d):.1f} decades {where} fitted size"
                 f"{f' (task {task})' if task else ''}: the prediction is a pure extrapolation of the fitted form", err=True)

