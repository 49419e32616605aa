"""Reader of JSON-lines metric logs.

One JSON object per line, with a step key (:data:`STEP_KEYS`) and metric keys,
flat (``{"actor/entropy": 0.5}``) or nested (``{"actor": {"entropy": 0.5}}``,
flattened with ``/``). An optional ``run`` key names the run; otherwise the
file stem does. Several lines with the same run and step are merged (loggers
often write training and validation metrics separately). Only numbers are
metric values (``NaN``/``Infinity`` literals included); strings, lists and
booleans are ignored.

A line that cannot be used is skipped with a warning giving its line number and
why: not JSON, longer than :data:`MAX_LINE_BYTES`, nested deeper than
:data:`MAX_DEPTH`, or a step that is not an integer in ``[0, 2**53)`` (``1e300``,
``120.5``, a 20-digit integer; integral floats such as ``100.0`` are steps). An
infinite entropy or performance value drops that point, with a warning naming
the line, and the run is kept.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scaling.data.readers.keys import MetaLike, PathLike
from scaling.data.readers.table import RunData, build_table
from scaling.data.readers.textio import as_paths, is_junk, line_list, parse_step, read_bytes
from scaling.exceptions import DataError, DataWarning

#: Step keys, in order of preference.
STEP_KEYS: tuple[str, ...] = ("step", "_step", "global_step", "trainer/global_step")

#: Key naming the run of a record.
RUN_KEY = "run"

#: Longest line read, in bytes; a longer line is skipped with a warning.
MAX_LINE_BYTES = 1 << 24

#: Deepest nesting of objects read; a deeper line is skipped with a warning.
MAX_DEPTH = 64


@dataclass
class _FileState:
    """What the parse of one JSON-lines file has collected."""

    runs: dict[str, dict[int, dict[str, float]]] = field(default_factory=dict)
    bad: list[tuple[int, str]] = field(default_factory=list)
    keys_seen: set[str] = field(default_factory=set)
    overwritten: int = 0
    nonfinite: dict[str, dict[str, dict[int, int]]] = field(default_factory=dict)


def flatten(record: Mapping[str, Any], prefix: str = "", max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Flatten nested mappings, joining keys with ``/``.

    Parameters
    ----------
    record : mapping
        A JSON object.
    prefix : str
        Prefix of the keys (used in recursion).
    max_depth : int
        Deepest nesting of mappings accepted.

    Returns
    -------
    dict
        Flat key to leaf value.

    Raises
    ------
    ValueError
        If mappings are nested deeper than ``max_depth``.
    """
    if max_depth < 1:
        raise ValueError(f"objects nested deeper than {MAX_DEPTH} levels")
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "/", max_depth - 1))
        else:
            flat[name] = value
    return flat


def _number(value: Any) -> float | None:
    """Return a JSON leaf as a float if it is a number (or null), else None."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond the float range
        return math.inf if value > 0 else -math.inf


def _step(flat: Mapping[str, Any]) -> tuple[int | None, str]:
    """Return the step of a flat record (or None) and why it is unusable."""
    for key in STEP_KEYS:
        if key in flat:
            value = flat[key]
            if isinstance(value, str):  # a quoted step is not a step
                return None, f"step {value[:40]!r} is a string, not a number"
            return parse_step(value)
    return None, "no integer step key"


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (line number, bytes, is last line without newline) of a file."""
    data = read_bytes(path)
    chunks = data.split(b"\n")
    for number, chunk in enumerate(chunks, start=1):
        yield number, chunk, number == len(chunks) and not data.endswith(b"\n")


def _decode(chunk: bytes) -> tuple[dict[str, Any] | None, str]:
    """Decode one line into a JSON object; return (object or None, reason)."""
    try:
        text = chunk.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None, "binary data"
    if is_junk(text):
        return None, "binary data"
    if len(chunk) > MAX_LINE_BYTES:
        return None, f"line longer than {MAX_LINE_BYTES} bytes"
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None, "not valid JSON"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError:  # an integer of more than 4300 digits
        return None, "a number too long to read"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    return record, ""


def _add_record(state: _FileState, flat: dict[str, Any], step: int, run: str, line: int) -> None:
    """Merge the numeric values of one record into its run and step."""
    values = state.runs.setdefault(run, {}).setdefault(step, {})
    for key, value in flat.items():
        if key in STEP_KEYS or key == RUN_KEY:
            continue
        number = _number(value)
        if number is None:
            continue
        if math.isinf(number):
            state.nonfinite.setdefault(run, {}).setdefault(key, {})[step] = line
        old = values.get(key)
        if old is not None and old != number and not (math.isnan(old) and math.isnan(number)):
            state.overwritten += 1
        values[key] = number


def _parse_file(path: Path) -> _FileState:
    """Parse every line of a JSON-lines file."""
    state = _FileState()
    for number, chunk, unterminated in _lines(path):
        if not chunk.strip():
            continue
        record, reason = _decode(chunk.rstrip(b"\r"))
        if record is None:
            state.bad.append((number, reason + (" (cut last line)" if unterminated else "")))
            continue
        try:
            flat = flatten(record)
        except (ValueError, RecursionError):
            state.bad.append((number, f"objects nested deeper than {MAX_DEPTH} levels"))
            continue
        state.keys_seen.update(flat)
        step, why = _step(flat)
        if step is None:
            state.bad.append((number, why))
            continue
        _add_record(state, flat, step, _run_name(flat.get(RUN_KEY), path), number)
    return state


def _run_name(run: Any, path: Path) -> str:
    """The run named by a record's run key, else the file stem."""
    if isinstance(run, bool) or not isinstance(run, (str, int)):
        return path.stem
    if isinstance(run, int) and run.bit_length() > 64:
        return path.stem
    return str(run) or path.stem


def _warn_problems(path: Path, state: _FileState) -> None:
    """Warn about the lines skipped and the values overwritten in one file."""
    runs = ", ".join(map(repr, state.runs))
    if state.bad:
        details = "; ".join(f"line {number}: {reason}" for number, reason in state.bad[:10])
        warnings.warn(
            f"{path} (run(s) {runs}): skipped {len(state.bad)} line(s) "
            f"{line_list([number for number, _ in state.bad])} ({details})",
            DataWarning,
            stacklevel=2,
        )
    if state.overwritten:
        warnings.warn(
            f"{path} (run(s) {runs}): {state.overwritten} value(s) logged twice "
            "for the same run, step and key with different values; kept the later ones",
            DataWarning,
            stacklevel=2,
        )


def _run_frame(steps: Mapping[int, Mapping[str, float]]) -> pd.DataFrame:
    """Turn step to values into a wide frame indexed by step."""
    frame = pd.DataFrame.from_dict(dict(steps), orient="index", dtype="float64")
    frame.index = frame.index.astype("int64")
    return frame.sort_index()


def load_jsonl_file(path: Path) -> list[RunData]:
    """Read one JSON-lines file.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    list of RunData
        One per run in the file.

    Raises
    ------
    DataError
        If the file is empty or no line is a JSON object with a step key.
    """
    state = _parse_file(path)
    if not state.runs:
        found = ", ".join(sorted(state.keys_seen)) or "none"
        raise DataError(
            f"{path}: no JSON object with an integer step key ({', '.join(STEP_KEYS)}) "
            f"in {len(state.bad)} non-empty line(s); keys found: {found}"
        )
    _warn_problems(path, state)
    return [
        RunData(run, str(path), _run_frame(steps), nonfinite=state.nonfinite.get(run, {}))
        for run, steps in state.runs.items()
    ]


def load_jsonl(paths: Sequence[Path]) -> list[RunData]:
    """Read JSON-lines files.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        The files.

    Returns
    -------
    list of RunData
        The runs of every file, in order (see :func:`load_jsonl_file`).
    """
    return [run for path in paths for run in load_jsonl_file(path)]


def read_jsonl(
    paths: PathLike | Sequence[PathLike],
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: MetaLike = None,
) -> pd.DataFrame:
    """Read JSON-lines metric logs into the canonical table.

    Parameters
    ----------
    paths : path or sequence of paths
        ``.jsonl`` / ``.ndjson`` files.
    entropy_key, perf_key : str, optional
        Keys (flattened with ``/``) to use instead of the defaults
        (:data:`~scaling.data.readers.keys.ENTROPY_KEYS`,
        :data:`~scaling.data.readers.keys.PERF_KEYS`).
    meta : path or mapping, optional
        Run metadata, see :func:`~scaling.data.readers.meta.load_meta`.

    Returns
    -------
    pandas.DataFrame
        The canonical table (:data:`~scaling.data.readers.keys.CANONICAL_COLUMNS`).

    Raises
    ------
    DataError
        If a file cannot be used or no run has both keys. Garbled, binary or
        cut lines are skipped with a :class:`~scaling.exceptions.DataWarning`
        giving their line numbers.
    """
    runs = load_jsonl(as_paths(paths))
    return build_table(runs, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
