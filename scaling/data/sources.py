"""One entry for every input: tidy tables and training logs, as the ``scaling`` commands read them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from scaling.data.load import Align, ColumnMap, Dataset, PerfScale, Warmup, read_file
from scaling.data.load import load as load_tidy
from scaling.data.readers import read_source
from scaling.data.readers.walk import expand_directories
from scaling.data.readers.wandb import looks_like_wandb
from scaling.exceptions import DataError

Format = Literal["auto", "tidy", "wandb", "verl", "tensorboard", "jsonl"]
FORMATS: tuple[str, ...] = ("auto", "tidy", "wandb", "verl", "tensorboard", "jsonl")


def load(
    *sources: str | Path | pd.DataFrame,
    format: Format = "auto",
    run: str | Sequence[str] | None = None,
    model: str | None = None,
    params: str | None = None,
    algorithm: str | None = None,
    seed: str | None = None,
    task: str | None = None,
    step: str | None = None,
    entropy: str | None = None,
    perf: str | None = None,
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: str | Path | Mapping[str, Any] | None = None,
    perf_scale: PerfScale = "auto",
    align: Align = "same",
    warmup: Warmup = "auto",
) -> Dataset:
    """Load tidy tables or training logs into a validated, aligned :class:`~scaling.data.load.Dataset`.

    Parameters
    ----------
    *sources : path or DataFrame
        Tidy CSV/Parquet files (one row per logged point) or a DataFrame; or training logs: W&B
        export CSVs, verl console logs, TensorBoard event directories, JSON lines.  Formats
        are told apart by their content (``format="auto"``) and may be mixed.  A directory
        without TensorBoard event files stands for the tables and logs below it, read
        recursively (:func:`~scaling.data.readers.walk.expand_directories`).
    format : {"auto", "tidy", "wandb", "verl", "tensorboard", "jsonl"}
        Force one input format.
    run : str or list of str, optional
        Column(s) of a tidy table that identify a run; a comma-separated string or a list
        (joined with ``/``).  Without it and without a ``run`` column, runs are identified by
        the columns among ``task``, ``model``, ``algorithm``, ``seed`` present (a note says so),
        else the file is one run named after it; several files without a ``run`` column are
        one run per file, named after it.
    model, params, algorithm, seed, task, step, entropy, perf : str, optional
        Column names of a tidy table when they differ from the canonical ones.
    entropy_key, perf_key : str, optional
        Log keys holding entropy and validation performance (default: the first known key
        a run logs, see :data:`scaling.data.readers.keys.ENTROPY_KEYS`).
    meta : path or mapping, optional
        Model, parameter count, algorithm or seed per run for logs (CSV or TOML file).
    perf_scale : {"auto", "fraction", "percent", "none"}
        Unit of the performance metric; never guessed silently.
    align : {"same", "mean"}
        Entropy paired with a validation at step s: that of step s, or the mean since the
        previous validation.
    warmup : {"auto", "none"} or int
        Leading warm-up points left out of the fit: ``"auto"`` (default) detects per run a
        first phase at the metric's floor below the curve of the later points; ``"none"``
        keeps every point; a step STEP leaves out the points with ``step < STEP``
        (see :func:`scaling.data.warmup.detect_warmup`).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        When nothing usable can be read (the message names the file, column or key).
    ValueError
        For an unknown ``format``, or ``entropy_key``, ``perf_key`` or ``meta`` given with a tidy table.

    Examples
    --------
    >>> import scaling as sc
    >>> ds = sc.load("data/runs.csv", run="task,model,algorithm,seed", perf="val_acc")  # doctest: +SKIP
    >>> len(ds.runs)  # doctest: +SKIP
    45
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not sources:
        raise ValueError("give at least one file, directory or DataFrame to load")
    run_cols = ",".join(run) if run is not None and not isinstance(run, str) else run
    columns = ColumnMap.parse(
        run=run_cols, model=model, params=params, algorithm=algorithm, seed=seed, task=task, step=step, entropy=entropy, perf=perf
    )
    log_only = {"entropy_key": entropy_key, "perf_key": perf_key, "meta": meta}
    frames = [s for s in sources if isinstance(s, pd.DataFrame)]
    paths = [Path(s) for s in sources if not isinstance(s, pd.DataFrame)]
    if frames and paths:
        raise ValueError("give either DataFrames or files, not both")
    if frames:
        refuse_log_options(log_only)
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        return load_tidy(frame, columns, perf_scale=perf_scale, align_how=align, warmup=warmup)
    paths = expand_directories(paths, format)
    tidy = format == "tidy" or (format == "auto" and all(is_tidy(p) for p in paths))
    if format == "auto" and not tidy:
        refuse_mixed(paths)
    if tidy:
        refuse_log_options(log_only)
        if len(paths) == 1:
            return load_tidy(paths[0], columns, perf_scale=perf_scale, align_how=align, warmup=warmup)
        parts = []
        names = [p.name for p in paths]
        for path in paths:
            frame = read_file(path)
            if not columns.run and "run" not in frame.columns:
                frame = frame.assign(run=path.stem)  # one run per file, named after it
            label = path.name if names.count(path.name) == 1 else str(path)
            frame.index = [f"{label} line {i}" for i in frame.index]  # messages name the file and its line
            parts.append(frame)
        return load_tidy(pd.concat(parts), columns, perf_scale=perf_scale, align_how=align, warmup=warmup, name=source_names(names))
    table = read_source(paths, format=format, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
    return load_tidy(table, None, perf_scale=perf_scale, align_how=align, warmup=warmup, name=source_names(sources))


def source_names(sources: Sequence[str | Path], limit: int = 6) -> str:
    """The files and directories given, as the user wrote them, for headers and messages (``a.csv, logs/ and 3 more``)."""
    names = [str(s) for s in sources]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def refuse_mixed(paths: Sequence[Path], limit: int = 3) -> None:
    """Refuse inputs that mix tidy tables with training logs (each kind is read its own way).

    Raises
    ------
    DataError
        Naming some files of each kind.
    """
    tables = [p for p in paths if is_tidy(p)]
    if not tables:
        return
    logs = [p for p in paths if not is_tidy(p)]

    def some(group: list[Path]) -> str:
        return ", ".join(map(str, group[:limit])) + (f" (+{len(group) - limit} more)" if len(group) > limit else "")

    raise DataError(f"the inputs mix tidy tables ({some(tables)}) with training logs ({some(logs)}): give one kind at a time")


def refuse_log_options(options: Mapping[str, Any]) -> None:
    """Refuse options that only training logs use (``entropy_key``, ``perf_key``, ``meta``) for a tidy table.

    Raises
    ------
    ValueError
        Naming the options given, and what to use instead.
    """
    given = [name for name, value in options.items() if value is not None]
    if given:
        raise ValueError(
            f"{', '.join(given)} apply to training logs only and the input is a tidy table: leave them out "
            "(name the table's columns with entropy=, perf=, model=, ... instead; --entropy, --perf, --model, ... on the command line)"
        )


def is_tidy(path: Path) -> bool:
    """A CSV/Parquet file that is not a W&B export."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq", ".tsv"):
        return True
    if suffix != ".csv" or not path.is_file():
        return False
    return not looks_like_wandb(path)
