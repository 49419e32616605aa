"""Reader of Weights & Biases "export CSV" files (wide format).

A W&B panel export has a step column (``Step``) and, for every run,
``<run name> - <metric>`` plus ``<run name> - <metric>__MIN`` and ``__MAX``
(the spread of grouped runs; ignored here). A file holds one metric or several;
entropy and performance often come from two files, whose runs are matched by
run name. An empty cell means the metric was not logged at that step.

Rows whose step is not an integer in ``[0, 2**53)`` (``1e300``, ``9.3e18``),
lines with a wrong field count, binary junk and a last line that looks cut are
skipped, and infinite values dropped, each with a warning giving the line numbers.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.data.readers.keys import MetaLike, PathLike
from scaling.data.readers.table import RunData, build_table
from scaling.data.readers.textio import as_paths, cut_field, is_junk, line_list, parse_step, read_text, warn_cut_line
from scaling.exceptions import DataError, DataWarning

#: Step columns of a W&B export, in order of preference (``Step`` is W&B's own).
STEP_COLUMNS: tuple[str, ...] = (
    "Step",
    "step",
    "_step",
    "global_step",
    "trainer/global_step",
)

#: Separator between run name and metric in a column name.
SEPARATOR = " - "

#: Suffixes of the spread columns W&B adds to every series.
SPREAD_SUFFIXES: tuple[str, ...] = ("__MIN", "__MAX")


def _field_count(line: str) -> int | None:
    """Count the CSV fields of one line; None if its quotes do not close."""
    if line.count('"') % 2:
        return None
    try:
        return len(next(csv.reader([line])))
    except csv.Error:  # a stray carriage return inside the line
        return None


def _clean_lines(path: Path, text: str) -> tuple[str, list[int]]:
    """Drop binary junk lines, lines with a wrong field count and a cut last line.

    Each kind of dropped line gives one DataWarning (with the line numbers).

    Returns
    -------
    text : str
        The header and the usable lines.
    numbers : list of int
        The line number (1-based) of each usable line after the header.
    """
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    unterminated = not text.endswith("\n")
    width = _field_count(lines[0])
    kept, numbers, junk, ragged = [lines[0]], [], [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if is_junk(line):
            junk.append(number)
        elif _field_count(line) != width:
            ragged.append(number)
        else:
            kept.append(line)
            numbers.append(number)
    if unterminated and numbers and numbers[-1] == len(lines):
        _drop_cut_last(path, kept, numbers, width or 0)
    if junk:
        warnings.warn(
            f"{path}: skipped binary junk on line(s) {line_list(junk)}",
            DataWarning,
            stacklevel=2,
        )
    if ragged:
        last = len(lines)
        cut = " (the last line is cut)" if unterminated and ragged[-1] == last else ""
        warnings.warn(
            f"{path}: skipped line(s) {line_list(ragged)} with a field count other than the header's {width}{cut}",
            DataWarning,
            stacklevel=2,
        )
    return "\n".join(kept) + "\n", numbers


def _drop_cut_last(path: Path, kept: list[str], numbers: list[int], width: int) -> None:
    """Drop the kept last line (in place) if it looks cut in the middle of its last value."""
    last = next(csv.reader([kept[-1]]))
    above = next(csv.reader([kept[-2]])) if len(kept) > 2 else []
    cut = cut_field(last, above, width)
    if cut:
        warn_cut_line(path, numbers[-1], cut, stacklevel=3)
        kept.pop()
        numbers.pop()


def _read_frame(path: Path) -> pd.DataFrame:
    """Read a W&B export with pandas, after dropping unusable lines.

    The index of the frame is the line number of each row in the file.
    """
    text, numbers = _clean_lines(path, read_text(path))
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: cannot parse CSV: {str(exc).strip()}".replace("\n", " ")) from None
    if len(frame) != len(numbers):
        raise DataError(f"{path}: cannot parse CSV: {len(frame)} rows read from {len(numbers)} lines")
    frame.index = pd.Index(numbers, dtype="int64")
    return frame


def _step_column(path: Path, frame: pd.DataFrame) -> str:
    """Return the step column of a W&B export."""
    for column in STEP_COLUMNS:
        if column in frame.columns:
            return column
    raise DataError(
        f"{path}: no step column ({', '.join(STEP_COLUMNS)}); columns found: {', '.join(map(str, frame.columns))}"
    )


def metric_columns(columns: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Map each ``<run> - <metric>`` column (not ``__MIN``/``__MAX``) to (run, metric).

    The run name is split off at the last ``" - "``.
    """
    found = {}
    for column in map(str, columns):
        if SEPARATOR in column and not column.endswith(SPREAD_SUFFIXES):
            run, metric = column.rsplit(SEPARATOR, 1)
            if run.strip() and metric.strip():
                found[column] = (run.strip(), metric.strip())
    return found


def _steps(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    """Parse the step column; rows without an integer step in ``[0, 2**53)`` are dropped (warning)."""
    parsed = frame[column].map(parse_step)
    steps = parsed.map(lambda pair: pair[0])
    bad = steps.isna().to_numpy()
    if bad.any():
        lines = [int(index) for index in frame.index[bad]]
        first = parsed[bad].iloc[0][1]
        warnings.warn(
            f"{path}: column {column!r}: skipped line(s) {line_list(lines)} whose step is not an "
            f"integer in [0, 2**53) (line {lines[0]}: {first})",
            DataWarning,
            stacklevel=2,
        )
    return steps[~bad].astype("int64")


def _values(path: Path, frame: pd.DataFrame, column: str, run: str) -> pd.Series:
    """Parse one value column; non-numeric cells become NaN with a warning."""
    raw = frame[column].str.strip()
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = values.isna() & ~raw.str.lower().isin(["", "nan"])
    if bad.any():
        lines = [int(index) for index in frame.index[bad.to_numpy()]]
        warnings.warn(
            f"{path}: run {run!r}: column {column!r}: non-numeric value(s) on line(s) {line_list(lines)} ignored",
            DataWarning,
            stacklevel=2,
        )
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        lines = [int(index) for index in frame.index[infinite]]
        warnings.warn(
            f"{path}: run {run!r}: column {column!r}: infinite value(s) on line(s) {line_list(lines)} dropped",
            DataWarning,
            stacklevel=2,
        )
        values[infinite] = np.nan
    return values


def read_wandb_file(path: Path) -> dict[tuple[str, str], pd.Series]:
    """Read one W&B export into series indexed by step.

    Parameters
    ----------
    path : pathlib.Path
        The CSV file.

    Returns
    -------
    dict
        ``(run, metric)`` to the logged values (NaN cells dropped), indexed by step.

    Raises
    ------
    DataError
        If the file is empty, unparseable, or lacks the step column or any
        ``<run> - <metric>`` column.
    """
    frame = _read_frame(path)
    step_column = _step_column(path, frame)
    columns = metric_columns(frame.columns)
    if not columns:
        raise DataError(f"{path}: no '<run> - <metric>' column; columns found: {', '.join(map(str, frame.columns))}")
    steps = _steps(path, frame, step_column)
    frame = frame.loc[steps.index]
    series = {}
    for column, (run, metric) in columns.items():
        values = _values(path, frame, column, run)
        values.index = steps.to_numpy()
        values = values.dropna()
        if values.index.has_duplicates:
            warnings.warn(
                f"{path}: run {run!r}: column {column!r}: steps logged twice; kept the last value",
                DataWarning,
                stacklevel=2,
            )
            values = values[~values.index.duplicated(keep="last")]
        series[(run, metric)] = values.sort_index()
    return series


def _combine(old: pd.Series, new: pd.Series, run: str, metric: str, path: Path) -> pd.Series:
    """Combine one run's metric read from two files (first file wins on conflicts)."""
    common = old.index.intersection(new.index)
    differ = common[(old[common] != new[common]).to_numpy()]
    if len(differ):
        warnings.warn(
            f"{path}: run {run!r}: metric {metric!r} also read from an earlier file "
            f"with {len(differ)} different value(s) (first at step {differ[0]}); "
            "kept the earlier file's values",
            DataWarning,
            stacklevel=2,
        )
    return old.combine_first(new)


def load_wandb(paths: Sequence[Path]) -> list[RunData]:
    """Read W&B exports and match their runs by run name.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        The CSV files.

    Returns
    -------
    list of RunData
        One per run name, in order of first appearance; metrics are the
        ``<metric>`` parts of the column names.
    """
    series: dict[str, dict[str, pd.Series]] = {}
    sources: dict[str, list[str]] = {}
    for path in paths:
        for (run, metric), values in read_wandb_file(path).items():
            metrics = series.setdefault(run, {})
            sources.setdefault(run, [])
            if str(path) not in sources[run]:
                sources[run].append(str(path))
            metrics[metric] = _combine(metrics[metric], values, run, metric, path) if metric in metrics else values
    runs = []
    for run, metrics in series.items():
        frame = pd.DataFrame(metrics, dtype="float64").sort_index()
        frame.index = frame.index.astype("int64")
        runs.append(RunData(run, ", ".join(sources[run]), frame))
    return runs


def looks_like_wandb(path: Path) -> bool:
    """Tell whether a CSV file's header is that of a W&B export.

    A step column (:data:`STEP_COLUMNS`) and at least one column with
    ``" - "`` in its name.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        try:
            header = next(csv.reader([handle.readline().removeprefix("\ufeff")]), [])
        except csv.Error:
            return False
    return any(column in header for column in STEP_COLUMNS) and bool(metric_columns(header))


def read_wandb(
    paths: PathLike | Sequence[PathLike],
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: MetaLike = None,
) -> pd.DataFrame:
    """Read W&B export CSV files into the canonical table.

    Parameters
    ----------
    paths : path or sequence of paths
        One file per metric, or files with several metrics; runs are matched
        across files by run name.
    entropy_key, perf_key : str, optional
        The metric part of the column names (after ``" - "``) to use instead
        of the defaults (:data:`~scaling.data.readers.keys.ENTROPY_KEYS`,
        :data:`~scaling.data.readers.keys.PERF_KEYS`).
    meta : path or mapping, optional
        Run metadata, see :func:`~scaling.data.readers.meta.load_meta`. Without it,
        the model and its size are guessed from the run name when it names one
        known public model.

    Returns
    -------
    pandas.DataFrame
        The canonical table (:data:`~scaling.data.readers.keys.CANONICAL_COLUMNS`).

    Raises
    ------
    DataError
        If a file cannot be used, or no run has both an entropy and a perf
        metric (the message lists the metrics found). A run with only one of
        them is dropped with a :class:`~scaling.exceptions.DataWarning`.

    Examples
    --------
    >>> table = read_wandb(["entropy.csv", "test_reward.csv"])  # doctest: +SKIP
    """
    runs = load_wandb(as_paths(paths))
    return build_table(runs, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
