"""Small file helpers shared by the readers: paths, decoding, junk lines."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from scaling.data.readers.keys import PathLike
from scaling.exceptions import DataError

# --------------------------------------------------------------------------
# Helpers shared by the readers
# --------------------------------------------------------------------------


def as_paths(path_or_paths: PathLike | Sequence[PathLike]) -> list[Path]:
    """Turn one path or a sequence of paths into a list of :class:`~pathlib.Path`.

    Parameters
    ----------
    path_or_paths : path or sequence of paths
        The input.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    DataError
        If a path does not exist or no path is given.
    """
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = [Path(path_or_paths)]
    else:
        paths = [Path(path) for path in path_or_paths]
    if not paths:
        raise DataError("no input path given")
    for path in paths:
        if not path.exists():
            raise DataError(f"{path}: no such file or directory")
    return paths


def read_bytes(path: Path) -> bytes:
    """Read a whole file, refusing an unreadable or blank one.

    Raises
    ------
    DataError
        If the file cannot be read or holds only white space.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise DataError(f"{path}: empty file")
    return data


def read_text(path: Path) -> str:
    """Read a file as UTF-8 text, undecodable bytes replaced by U+FFFD.

    Raises
    ------
    DataError
        If the file is empty or cannot be read.
    """
    return read_bytes(path).decode("utf-8", errors="replace").removeprefix("\ufeff")


_JUNK_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


def is_junk(line: str) -> bool:
    """Tell whether a line holds binary data (control bytes or undecodable bytes)."""
    return _JUNK_RE.search(line) is not None


def line_list(numbers: Sequence[int], limit: int = 10) -> str:
    """Format line numbers for a message, at most ``limit`` of them."""
    shown = ", ".join(str(number) for number in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
