"""Small file helpers shared by the readers: paths, decoding, junk lines."""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

from scaling.data.readers.keys import PathLike
from scaling.exceptions import DataError, DataWarning

# --------------------------------------------------------------------------
# Helpers shared by the readers
# --------------------------------------------------------------------------


#: Compressions recognised but not read (the ``zstandard`` package is not a dependency): suffix -> (name, command that undoes it).
UNREAD_COMPRESSIONS = {".zst": ("zstd", "zstd -d"), ".zstd": ("zstd", "zstd -d")}


def refuse_unread_compression(path: Path) -> None:
    """Refuse a file compressed in a way that is not read (:data:`UNREAD_COMPRESSIONS`), naming the command to decompress it.

    Raises
    ------
    DataError
        One line: the file, and the command to decompress it first.
    """
    found = UNREAD_COMPRESSIONS.get(path.suffix.lower())
    if found is not None:
        name, command = found
        raise DataError(f"{path}: {name}-compressed input is not read; decompress it first ({command} {path.name}) and give the file it makes")


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


#: Steps are exact integers in ``[0, MAX_STEP)``: every such integer is exact in a float64.
MAX_STEP = 2**53

#: Digits of the longest step accepted (``MAX_STEP`` has 16).
_MAX_STEP_DIGITS = 16


def parse_step(value: object) -> tuple[int | None, str]:
    """Parse a logged step as an exact integer in ``[0, MAX_STEP)``.

    Parameters
    ----------
    value : object
        An ``int``, a ``float`` (integral ones such as ``100.0`` are accepted) or
        a decimal string of digits (``"100"``, ``"100.0"``).

    Returns
    -------
    step : int or None
        The step, or None if ``value`` is not a usable step.
    reason : str
        Why the step is unusable (``""`` when it is usable), for a warning.

    Examples
    --------
    >>> parse_step(100.0), parse_step("12")
    ((100, ''), (12, ''))
    >>> parse_step(1e300)[1]
    'step 1e+300 is out of range [0, 2**53)'
    """
    if isinstance(value, str):
        return _parse_step_text(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"step {str(value)[:40]!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"step {value} is not finite"
    if isinstance(value, float) and not value.is_integer():
        return None, f"step {value!r} is not an integer"
    if not 0 <= value < MAX_STEP:
        return None, f"step {_short(value)} is out of range [0, 2**53)"
    return int(value), ""


def _short(value: int | float) -> str:
    """A number for a message: huge integers as their digit count, not their digits."""
    if isinstance(value, int) and value.bit_length() > 64:
        if value.bit_length() < 14_000:  # str() refuses more than 4300 digits
            return f"of {len(str(abs(value)))} digits"
        return f"of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return f"{value:g}" if isinstance(value, float) else str(value)


_STEP_TEXT_RE = re.compile(r"[+]?(\d+)(?:\.(0*))?")


def _parse_step_text(text: str) -> tuple[int | None, str]:
    """Parse a step printed as digits (``"12"``, ``"12.0"``); see :func:`parse_step`."""
    match = _STEP_TEXT_RE.fullmatch(text)
    if match is None:
        try:
            number = float(text)
        except ValueError:
            return None, f"step {text[:40]!r} is not a number"
        return parse_step(number)
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > _MAX_STEP_DIGITS:
        return None, f"step of {len(digits)} digits is out of range [0, 2**53)"
    return parse_step(int(digits))


_CSV_NUMBER_RE = re.compile(r"[-+]?(\d*)(?:[.,](\d*))?(?:[eE]([-+]?\d+))?")

#: A number printed with this many significant digits is a full-precision ``repr``.
_FULL_PRECISION = 15


def _significant(integer: str, decimals: str) -> int:
    """Significant digits of a number printed as ``integer.decimals``."""
    return len((integer + decimals).lstrip("0"))


def looks_cut_number(value: str, previous: str) -> bool:
    """Tell whether ``value`` looks like a number printed as ``previous`` is, cut short.

    A fixed format (``0.848291``) must keep its decimals, a full-precision ``repr``
    (15 or more significant digits) at least 12 significant digits, an integer its
    digits, an exponent its exponent digits. An empty value is not a cut number.

    Parameters
    ----------
    value : str
        The last value of a line that may be cut.
    previous : str
        The value of the same column or key on the line before.

    Returns
    -------
    bool

    Examples
    --------
    >>> looks_cut_number("0.7", "0.794121"), looks_cut_number("0.801046", "0.794121")
    (True, False)
    """
    old, new = _CSV_NUMBER_RE.fullmatch(previous), _CSV_NUMBER_RE.fullmatch(value)
    if old is None or not previous.strip("+-.,") or not value:
        return False
    if new is None:  # "1e", "-": the start of a number; "nan" is no cut number
        return re.fullmatch(r"[-+0-9.,eE]+", value) is not None
    (old_int, old_dec, old_exp), (new_int, new_dec, new_exp) = old.groups(), new.groups()
    if old_exp is not None and (new_exp is None or len(new_exp.lstrip("+-")) < len(old_exp.lstrip("+-"))):
        return True
    if _significant(old_int, old_dec or "") >= _FULL_PRECISION:
        return _significant(new_int, new_dec or "") < _FULL_PRECISION - 3
    if old_dec:
        return len(new_dec or "") < len(old_dec)
    return len(new_int) < len(old_int)


def warn_cut_line(path: Path, line: int, why: str, stacklevel: int) -> None:
    """The DataWarning for a table's last line dropped because it looks cut (``why`` from :func:`cut_field`)."""
    warnings.warn(
        f"{path}: line {line} looks truncated (the file does not end with a newline and {why}); line dropped",
        DataWarning,
        stacklevel=stacklevel + 1,
    )


def cut_field(last: Sequence[str], above: Sequence[str], width: int) -> str:
    """Tell why the last line of a CSV file without a final newline looks cut.

    Parameters
    ----------
    last : sequence of str
        The fields of the last line.
    above : sequence of str
        The fields of the line above it (empty if there is none).
    width : int
        The header's field count.

    Returns
    -------
    str
        ``""`` if the line looks whole, else the reason: fewer fields than the
        header, or a last value that looks like the number above it cut short
        (``0.7`` under ``0.794``: the line was cut in the middle of the value).
    """
    if len(last) < width:
        return f"it has {len(last)} of {width} fields"
    if len(last) == width and not above and _CSV_NUMBER_RE.fullmatch(last[-1].strip()):
        return "it is the only data line, so its last value cannot be checked"
    if len(last) != width or len(above) != width:
        return ""
    value, previous = last[-1].strip(), above[-1].strip()
    if looks_cut_number(value, previous):
        return f"its last value {value!r} looks cut (the value above it is {previous!r})"
    return ""
