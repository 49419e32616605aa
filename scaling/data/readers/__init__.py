"""Readers that turn RL training logs into the canonical tidy table.

The canonical table has one row per (run, step) where entropy or validation
performance was logged, sorted by run then step, with the columns

========== ======= ==========================================================
column     dtype   meaning
========== ======= ==========================================================
run        str     run id
model      str     model name ("" if unknown)
params     float   parameter count (NaN if unknown)
algorithm  str     RL algorithm ("" if unknown)
seed       str     seed ("" if unknown)
step       int     training step
entropy    float   policy entropy (NaN where not logged)
perf       float   validation performance (NaN where not validated)
========== ======= ==========================================================

Entropy is not aligned to validation steps here: callers do that.

Formats: W&B export CSV (:func:`read_wandb`), verl console logs
(:func:`read_verl_log`), TensorBoard event directories
(:func:`read_tensorboard`) and JSON lines (:func:`read_jsonl`);
:func:`read_source` detects the format. The default entropy and performance
keys are :data:`ENTROPY_KEYS` and :data:`PERF_KEYS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from scaling.data.readers.jsonl import load_jsonl, read_jsonl
from scaling.data.readers.keys import CANONICAL_COLUMNS, ENTROPY_KEYS, META_FIELDS, PERF_KEYS, MetaLike, PathLike
from scaling.data.readers.meta import load_meta
from scaling.data.readers.models import MODEL_SIZES, guess_model, guess_params, parse_params
from scaling.data.readers.table import RunData, build_table
from scaling.data.readers.tensorboard import (
    has_event_files,
    load_tensorboard,
    read_tensorboard,
)
from scaling.data.readers.textio import as_paths, refuse_unread_compression
from scaling.data.readers.verl import has_step_lines, load_verl_log, read_verl_log
from scaling.data.readers.walk import expand_directories
from scaling.data.readers.wandb import load_wandb, looks_like_wandb, read_wandb
from scaling.exceptions import DataError

__all__ = [
    "CANONICAL_COLUMNS",
    "ENTROPY_KEYS",
    "FORMATS",
    "META_FIELDS",
    "MODEL_SIZES",
    "PERF_KEYS",
    "RunData",
    "detect_format",
    "guess_model",
    "guess_params",
    "load_meta",
    "parse_params",
    "read_jsonl",
    "read_source",
    "read_tensorboard",
    "read_verl_log",
    "read_wandb",
]

#: Format names accepted by :func:`read_source`.
FORMATS: tuple[str, ...] = ("wandb", "verl", "tensorboard", "jsonl")

_LOADERS: dict[str, Callable[[Sequence[Path]], list[RunData]]] = {
    "wandb": load_wandb,
    "verl": lambda paths: [load_verl_log(path) for path in paths],
    "tensorboard": load_tensorboard,
    "jsonl": load_jsonl,
}


def detect_format(path: PathLike) -> str:
    """Tell the format of one input path.

    Parameters
    ----------
    path : path
        A file or directory.

    Returns
    -------
    str
        One of :data:`FORMATS`: ``"tensorboard"`` for a directory with
        ``events.out.tfevents*`` files (or such a file), ``"jsonl"`` for
        ``.jsonl``/``.ndjson``, ``"verl"`` for ``.log``/``.txt`` with
        ``step:N - key:value`` lines, ``"wandb"`` for a ``.csv`` with a
        ``Step`` column and ``<run> - <metric>`` columns.

    Raises
    ------
    DataError
        If the format cannot be told.
    """
    path = Path(path)
    if path.is_dir():
        if has_event_files(path):
            return "tensorboard"
        raise DataError(f"{path}: directory without TensorBoard event files (events.out.tfevents*)")
    if not path.is_file():
        raise DataError(f"{path}: no such file or directory")
    if path.name.startswith("events.out.tfevents"):
        return "tensorboard"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".log", ".txt"):
        if has_step_lines(path):
            return "verl"
        raise DataError(f"{path}: no verl 'step:N - key:value' line found; pass --format (format= in Python) if it is another format")
    if suffix == ".csv":
        if looks_like_wandb(path):
            return "wandb"
        raise DataError(f"{path}: CSV is not a W&B export (needs a 'Step' column and '<run> - <metric>' columns)")
    raise DataError(f"{path}: cannot tell the format from the name; pass --format (format= in Python): one of {', '.join(FORMATS)}")


def read_source(
    path_or_paths: PathLike | Sequence[PathLike],
    format: str = "auto",
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: MetaLike = None,
) -> pd.DataFrame:
    """Read training logs of any supported format into the canonical table.

    Parameters
    ----------
    path_or_paths : path or sequence of paths
        Input files or directories. With ``format="auto"`` each one's format
        is detected (:func:`detect_format`); formats may be mixed. W&B files
        are read together, so that their runs are matched by name. A directory
        stands for the logs below it, read recursively by format
        (:func:`~scaling.data.readers.walk.expand_directories`), unless it
        holds TensorBoard event files.
    format : {"auto", "wandb", "verl", "tensorboard", "jsonl"}
        Format of all inputs, or ``"auto"``.
    entropy_key, perf_key : str, optional
        Keys to use instead of :data:`ENTROPY_KEYS` / :data:`PERF_KEYS`.
    meta : path or mapping, optional
        Run metadata (``model``, ``params``, ``algorithm``, ``seed``): a CSV or
        TOML mapping file or a mapping, see :func:`load_meta`.

    Returns
    -------
    pandas.DataFrame
        The canonical table (:data:`CANONICAL_COLUMNS`).

    Raises
    ------
    DataError
        If an input cannot be used, two runs share a name, or no run has both
        an entropy and a perf key.
    ValueError
        If ``format`` is not a known format.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format: {format!r} is not one of auto, {', '.join(FORMATS)}")
    groups: dict[str, list[Path]] = {}
    for path in expand_directories(as_paths(path_or_paths), format):
        refuse_unread_compression(path)
        groups.setdefault(detect_format(path) if format == "auto" else format, []).append(path)
    runs = [run for name, paths in groups.items() for run in _LOADERS[name](paths)]
    return build_table(runs, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
