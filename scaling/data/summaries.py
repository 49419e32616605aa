"""Per-model summary tables: one value per model (and task), no training curves.

Published results often give one number per model, e.g. the final score after RL on
each benchmark.  :func:`load_summaries` reads such a table into :class:`Summaries`
(columns ``model, params, task, value, se``) for stage 2 across sizes
(:mod:`scaling.across.summaries`).  Percent values are handled as for curves
(:func:`scaling.data.load.perf_units`): values up to 100 are read as percent and
divided by 100, with a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.data.load import PerfScale, perf_units, read_file
from scaling.exceptions import DataError

COLUMNS = ["model", "params", "task", "value", "se"]


@dataclass(frozen=True, eq=False)
class Summaries:
    """A validated per-model table.

    Attributes
    ----------
    table : DataFrame
        ``model, params, task, value, se``: one row per model and task (``task`` is ``""``
        without a task column; ``se`` is NaN without a standard-error column).  Values and
        standard errors are fractions when the metric was percent.
    value_name : str
        The column the values came from.
    se_name : str or None
        The column of their standard errors.
    perf_range : (float, float) or None
        The metric's range (None: unbounded).
    divisor : float
        What the table's values were divided by (100 for percent).
    notes : tuple of str
        Decisions taken while loading.
    source : str
    """

    table: pd.DataFrame
    value_name: str
    se_name: str | None = None
    perf_range: tuple[float, float] | None = (0.0, 1.0)
    divisor: float = 1.0
    notes: tuple[str, ...] = ()
    source: str = ""

    @property
    def tasks(self) -> list[str]:
        """Tasks in file order."""
        return list(dict.fromkeys(self.table["task"]))

    @property
    def has_se(self) -> bool:
        return self.se_name is not None


def _numeric(frame: pd.DataFrame, col: str, name: str, what: str) -> pd.Series:
    """The column as floats; empty cells become NaN; any other text is a one-line DataError."""
    raw = frame[col].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())
    num = pd.to_numeric(raw.where(raw != ""), errors="coerce")
    bad = num.isna() & (raw != "")
    if bad.any():
        rows = ", ".join(f"row {i} {raw[i]!r}" for i in list(raw.index[bad])[:3])
        more = f" (+{int(bad.sum()) - 3} more)" if bad.sum() > 3 else ""
        raise DataError(f"{name}: column {col!r} ({what}) must be numeric; not a number: {rows}{more}")
    return num.astype(float)


def load_summaries(
    source: str | Path | pd.DataFrame,
    value: str,
    *,
    se: str | None = None,
    model: str | None = None,
    params: str | None = None,
    task: str | None = None,
    perf_scale: PerfScale = "auto",
) -> Summaries:
    """Read a table with one row per model (and task): model, params, a value, optionally its se.

    Parameters
    ----------
    source : path or DataFrame
        CSV/TSV/Parquet file or a frame.
    value : str
        Column with the per-model value (e.g. the final score after RL).
    se : str, optional
        Column with the value's standard error (same unit as the value).  Without it stage 2
        rests on the residual scatter between models only.
    model, params : str, optional
        Columns with the model name and parameter count (default ``model`` and ``params``).
    task : str, optional
        Column that separates model families (e.g. ``benchmark``); default ``task`` when
        present, else one family.
    perf_scale : {"auto", "fraction", "percent", "none"}
        The value's unit, as :func:`scaling.data.load.perf_units` (percent is divided by 100).

    Returns
    -------
    Summaries

    Raises
    ------
    DataError
        A missing column, a non-numeric or non-positive parameter count, a non-numeric value
        or se, a negative se, two rows for the same model and task, or no row with a value.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"model": ["s", "m", "l"], "params": [1e8, 1e9, 1e10], "score": [20.0, 40.0, 60.0]})
    >>> s = load_summaries(t, "score", perf_scale="percent")
    >>> s.table["value"].tolist(), s.perf_range
    ([0.2, 0.4, 0.6], (0.0, 1.0))
    """
    if isinstance(source, pd.DataFrame):
        frame, name = source.copy(), "table"
    else:
        frame, name = read_file(source), str(source)
    if frame.empty:
        raise DataError(f"{name}: the table has no rows")
    model_col = model or "model"
    params_col = params or "params"
    task_col = task if task is not None else ("task" if "task" in frame.columns else None)
    wanted = {"model": model_col, "params": params_col, "value": value}
    if se is not None:
        wanted["se"] = se
    if task_col is not None:
        wanted["task"] = task_col
    missing = [f"{col!r} ({role})" for role, col in wanted.items() if col not in frame.columns]
    if missing:
        raise DataError(f"{name}: column {', '.join(missing)} not found; columns are {list(frame.columns)}")
    out = pd.DataFrame(index=frame.index)
    out["model"] = frame[model_col].map(lambda v: "" if v is None else str(v).strip())
    out["params"] = _numeric(frame, params_col, name, "params")
    out["task"] = frame[task_col].map(lambda v: "" if v is None else str(v).strip()) if task_col else ""
    out["value"] = _numeric(frame, value, name, "value")
    out["se"] = _numeric(frame, se, name, "se") if se is not None else np.nan
    notes: list[str] = []
    bad = out["model"] == ""
    if bad.any():
        raise DataError(f"{name}: column {model_col!r} (model) is empty in row(s) {', '.join(map(str, out.index[bad][:5]))}")
    bad = ~(np.isfinite(out["params"]) & (out["params"] > 0))
    if bad.any():
        rows = ", ".join(f"row {i} ({out.at[i, 'model']}) {frame.at[i, params_col]!r}" for i in out.index[bad][:3])
        raise DataError(f"{name}: column {params_col!r} (params) must be a positive parameter count; {rows}")
    if se is not None:
        bad = out["se"] < 0
        if bad.any():
            rows = ", ".join(f"row {i} ({out.at[i, 'model']}) {out.at[i, 'se']:g}" for i in out.index[bad][:3])
            raise DataError(f"{name}: column {se!r} (se) must not be negative; {rows}")
    dup = out.duplicated(["task", "model"], keep=False)
    if dup.any():
        d = out[dup]
        first = d.iloc[0]
        idx = list(d.index[(d["task"] == first["task"]) & (d["model"] == first["model"])])
        rows = ", ".join(map(str, idx[:5])) + (", ..." if len(idx) > 5 else "")
        where = f" within {task_col} {first['task']!r}" if task_col else ""
        hint = "" if task_col else "; if the rows belong to different tasks or benchmarks, name that column with --task"
        raise DataError(f"{name}: model {first['model']!r} has {int(((d['task'] == first['task']) & (d['model'] == first['model'])).sum())} rows{where} (rows {rows}); give one row per model{hint}")
    empty = out["value"].isna() | (out["se"].isna() if se is not None else False)
    if empty.any():
        left = ", ".join(f"{t + ' ' if t else ''}{m}" for t, m in zip(out.loc[empty, "task"], out.loc[empty, "model"]))
        notes.append(f"{int(empty.sum())} row(s) without a {value}{' or ' + se if se else ''} left out: {left}")
        out = out[~empty]
    if out.empty:
        raise DataError(f"{name}: no row has a value in column {value!r}")
    divisor, prange, note = perf_units(out["value"], perf_scale, column=value)
    if note:
        notes.append(note.replace("perf values", f"{value} values"))
    out["value"] = out["value"] / divisor
    out["se"] = out["se"] / divisor
    return Summaries(
        table=out.reset_index(drop=True)[COLUMNS],
        value_name=value,
        se_name=se,
        perf_range=prange,
        divisor=divisor,
        notes=tuple(notes),
        source=name,
    )
