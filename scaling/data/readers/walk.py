"""Directories given as input: the readable files below them, by format.

A directory with TensorBoard event files is one TensorBoard source (its runs are its
subdirectories).  Any other directory stands for the tables and logs below it, found
recursively in name order: CSV/TSV/Parquet tables and W&B exports, JSON-lines logs and
verl console logs (``.log``/``.txt`` files with ``step:N - key:value`` lines).  Hidden
files and directories (``.name``) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from scaling.data.readers.tensorboard import has_event_files
from scaling.data.readers.verl import has_step_lines
from scaling.exceptions import DataError

#: File suffixes read below a directory, by format ("auto": all of them).
SUFFIXES: dict[str, tuple[str, ...]] = {
    "tidy": (".csv", ".tsv", ".parquet", ".pq"),
    "wandb": (".csv",),
    "verl": (".log", ".txt"),
    "jsonl": (".jsonl", ".ndjson"),
}
#: What a directory is searched for, for the message when it holds none of it.
LOOKED_FOR = "TensorBoard event files, .csv/.tsv/.parquet tables or W&B exports, .jsonl logs, verl .log/.txt logs"


def expand_directories(paths: Sequence[Path], format: str = "auto", limit: int = 8) -> list[Path]:
    """Replace each directory of ``paths`` by the readable files below it (files are kept as given).

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Files and directories.
    format : str
        ``"auto"``, ``"tidy"`` or a log format; ``"tensorboard"`` keeps directories as they are.
    limit : int
        Names listed in the error for a directory with nothing readable.

    Returns
    -------
    list of pathlib.Path
        The files (and TensorBoard directories), directories expanded in place, in name order.

    Raises
    ------
    DataError
        A directory with nothing readable below it; the message lists what it holds.
    """
    if format == "tensorboard":
        return list(paths)
    out: list[Path] = []
    for path in paths:
        if not path.is_dir() or (format == "auto" and has_event_files(path)):
            out.append(path)
            continue
        found = readable_files(path, format)
        if not found:
            raise DataError(f"{path}: nothing readable in this directory or below (looked for {LOOKED_FOR}); {_listing(path, limit)}")
        out += found
    return out


def readable_files(directory: Path, format: str = "auto") -> list[Path]:
    """The files below ``directory`` (recursively, in name order, hidden ones left out) that ``format`` reads.

    A ``.log``/``.txt`` file counts in ``"auto"`` only when it has a verl step line, so that
    notes and READMEs next to the logs are passed over.
    """
    suffixes = SUFFIXES.get(format) or tuple(dict.fromkeys(s for group in SUFFIXES.values() for s in group))
    files = []
    for path in _visible(directory):
        suffix = path.suffix.lower()
        if suffix not in suffixes:
            continue
        if format == "auto" and suffix in SUFFIXES["verl"] and not has_step_lines(path):
            continue
        files.append(path)
    return files


def _visible(directory: Path) -> list[Path]:
    """The files below ``directory``, in name order, without hidden files or files in hidden directories."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def _listing(directory: Path, limit: int) -> str:
    """``found: a, b (+n more)`` for the files below ``directory``, or ``it is empty``."""
    names = [str(p.relative_to(directory)) for p in _visible(directory)]
    if not names:
        return "it is empty"
    return "found: " + ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
