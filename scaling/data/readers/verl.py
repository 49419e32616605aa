"""Reader of verl console logs, as verl prints them.

A verl log is mostly free text (configuration, warnings, sample generations);
the values come from two kinds of lines, after ANSI colour codes and Ray
prefixes such as ``(main_task pid=926049)`` are stripped:

* ``step:N - key:value - key:value ...``: the metrics of training step N
  (values are numbers, ``nan`` or ``inf``); several lines may carry the same
  step (verl prints validation and training metrics separately), and they are
  merged;
* ``Initial validation metrics: {'key': value, ...}``: the validation before
  training, printed as a Python dict (possibly wrapped over several lines by
  ``pprint``) at full precision. Its values belong to the step of the next
  ``step:`` line (step 0 in every verl version so far). When a ``step:`` line
  repeats such a value rounded (e.g. ``0.521`` for ``0.520579...``), the full
  precision value is kept.

A step line whose step is not an integer in ``[0, 2**53)`` is skipped with a
warning naming the line; an infinite entropy or performance value drops that
point (warning with step and line), not the run; the last pair of an
unterminated last line is dropped when its value looks cut.

``Final validation metrics`` lines are ignored: they carry no step (newer verl
versions also log the final validation as a ``step:`` line, which is read).
Old verl names its initial validation ``test_score/<data>`` and later ones
``val/test_score/<data>``; the reader files both under ``val/test_score/<data>``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scaling.data.readers.keys import MetaLike, PathLike
from scaling.data.readers.models import guess_model
from scaling.data.readers.table import RunData, build_table
from scaling.data.readers.textio import as_paths, line_list, looks_cut_number, parse_step, read_text
from scaling.exceptions import DataError, DataWarning

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_PREFIX_RE = re.compile(r"^\s*(?:\[[0-9;]*m)*\([^()]*\bpid=\d+[^()]*\)(?:\[[0-9;]*m)*\s*")
_STEP_RE = re.compile(r"^step:(\d+) - (.*)$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)"
_VALUE_RE = re.compile(rf"^(?:(?:np\.)?[A-Za-z_]\w*\(({_NUMBER})\)|({_NUMBER}))$", re.IGNORECASE)
_KEY_RE = re.compile(r"^[^\s:]+$")
_INITIAL_MARK = "Initial validation metrics"
_DICT_PAIR_RE = re.compile(rf"'([^']+)'\s*:\s*(?:(?:np\.)?[A-Za-z_]\w*\()?({_NUMBER})", re.IGNORECASE)
_LITERAL_RE = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'')
_MODEL_PATH_RE = re.compile(r"actor_rollout_ref\.model\.path=[\"']?([^\s\"',]+)")
_ESTIMATOR_RE = re.compile(r"(?:algorithm\.adv_estimator=|'adv_estimator':\s*')(\w+)")
_REPORTED_RE = re.compile(r"ForCausalLM contains ([\d.]+)([KMB]) parameters")
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9}
_MAX_BLOCK_LINES = 200

#: Old verl key prefix of validation scores and the key it is filed under.
OLD_VAL_PREFIX, VAL_PREFIX = "test_score/", "val/test_score/"

#: verl's ``algorithm.adv_estimator`` values and the algorithm each one means.
ADV_ESTIMATORS = {
    "gae": "PPO",
    "grpo": "GRPO",
    "rloo": "RLOO",
    "reinforce_plus_plus": "REINFORCE++",
    "remax": "ReMax",
}


@dataclass
class _Value:
    """A logged value, the number of decimals it was printed with (None: full) and its text."""

    value: float
    decimals: int | None
    text: str = ""


@dataclass
class _LogState:
    """What the parse of one log has collected."""

    steps: dict[int, dict[str, _Value]] = field(default_factory=dict)
    pending: dict[str, _Value] = field(default_factory=dict)
    bad: list[tuple[int, str]] = field(default_factory=list)
    overwritten: list[tuple[int, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    nonfinite: dict[str, dict[int, int]] = field(default_factory=dict)


def clean_line(line: str) -> str:
    """Strip ANSI escape codes, a carriage return and a Ray prefix from a log line.

    Parameters
    ----------
    line : str
        One raw line.

    Returns
    -------
    str
        The line as the program printed it.
    """
    line = _ANSI_RE.sub("", line.rstrip("\r\n"))
    return _PREFIX_RE.sub("", line, count=1).rstrip()


def _decimals(text: str) -> int | None:
    """Return the decimals a plain decimal number was printed with, else None."""
    match = re.fullmatch(r"[-+]?\d*(?:\.(\d*))?", text)
    if match is None:
        return None
    return len(match.group(1) or "")


def parse_value(text: str) -> _Value | None:
    """Parse a logged value (number, ``nan``, ``inf``, ``np.float64(x)``), or None."""
    match = _VALUE_RE.match(text.strip())
    if match is None:
        return None
    number = match.group(1) or match.group(2)
    decimals = _decimals(number) if match.group(2) else None
    return _Value(float(number), decimals, number)


def _canonical_key(key: str) -> str:
    """File old verl's ``test_score/...`` under ``val/test_score/...``."""
    return VAL_PREFIX + key[len(OLD_VAL_PREFIX) :] if key.startswith(OLD_VAL_PREFIX) else key


def parse_pairs(text: str) -> tuple[dict[str, _Value], list[str]]:
    """Parse ``key:value - key:value ...``.

    Returns
    -------
    values : dict
        Key to value, keys canonical (see module docstring).
    bad : list of str
        The pieces that are not ``key:number``.
    """
    values: dict[str, _Value] = {}
    bad: list[str] = []
    for piece in text.split(" - "):
        key, colon, raw = piece.strip().rpartition(":")
        value = parse_value(raw) if colon and _KEY_RE.match(key) else None
        if value is None:
            bad.append(piece)
        else:
            values[_canonical_key(key)] = value
    return values, bad


def _is_rounding(old: _Value, new: _Value) -> bool:
    """Tell whether ``new`` is ``old`` printed with fewer decimals."""
    if new.decimals is None or (old.decimals is not None and old.decimals <= new.decimals):
        return False
    if not (math.isfinite(old.value) and math.isfinite(new.value)):
        return False
    return abs(old.value - new.value) <= 0.5 * 10.0**-new.decimals + 1e-12


def _same(old: _Value, new: _Value) -> bool:
    """Tell whether two values are equal (NaN equal to NaN)."""
    return old.value == new.value or (math.isnan(old.value) and math.isnan(new.value))


def _merge(state: _LogState, step: int, values: dict[str, _Value]) -> None:
    """Merge the values of one line into a step, keeping full precision."""
    record = state.steps.setdefault(step, {})
    for key, new in values.items():
        old = record.get(key)
        if old is not None and _is_rounding(old, new):
            continue
        if old is not None and not _same(old, new):
            state.overwritten.append((step, key))
        record[key] = new


def _literal_text(lines: list[str]) -> str:
    """Join the contents of the string literals on ``lines`` (pprint-wrapped string)."""
    parts = []
    for match in _LITERAL_RE.finditer("\n".join(lines)):
        text = match.group(1) if match.group(1) is not None else match.group(2)
        parts.append(text.replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\"))
    return "".join(parts)


def _collect_block(lines: list[str], start: int) -> tuple[list[str], int]:
    """Collect the lines of a printed dict starting at ``lines[start]``.

    Returns
    -------
    block : list of str
        Cleaned lines, from the marker to the closing brace.
    end : int
        Index of the last line of the block.
    """
    first = clean_line(lines[start])
    block = [first[first.index(_INITIAL_MARK) :]]
    depth = block[0].count("{") - block[0].count("}")
    end = start
    while (depth > 0 or "{" not in "".join(block)) and end + 1 < min(len(lines), start + _MAX_BLOCK_LINES):
        line = clean_line(lines[end + 1])
        if _STEP_RE.match(line):
            break
        end += 1
        block.append(line)
        depth += line.count("{") - line.count("}")
    return block, end


def _initial_metrics(lines: list[str], start: int) -> tuple[dict[str, _Value], int]:
    """Parse an ``Initial validation metrics`` block; return values and last index."""
    block, end = _collect_block(lines, start)
    first = clean_line(lines[start])
    mark = first.index(_INITIAL_MARK)
    if mark > 0 and first[mark - 1] in "'\"":  # a printed (maybe wrapped) str
        text = _literal_text([first[mark - 1 :], *block[1:]])
    else:
        text = "\n".join(block)
    values = {_canonical_key(key): _Value(float(number), None) for key, number in _DICT_PAIR_RE.findall(text)}
    return values, end


def _drop_cut_pair(text: str, previous: dict[str, _Value]) -> tuple[str, str | None]:
    """On an unterminated last line, drop the last pair if it looks cut.

    The last pair is cut if it does not parse; if its value looks like the same
    key's value on the step line before, cut short (see
    :func:`~scaling.data.readers.textio.looks_cut_number`); without that key
    before, if it has fewer decimals than every other value of the line (all
    printed with the same decimals), or if there are not three such values to
    tell (a value that cannot be checked is not trusted).
    """
    head, _, last = text.rpartition(" - ")
    values, bad = parse_pairs(last)
    if bad:
        return head, last
    key, new = next(iter(values.items()))
    if key in previous and previous[key].text:
        return (head, last) if looks_cut_number(new.text, previous[key].text) else (text, None)
    others, _ = parse_pairs(head) if head else ({}, [])
    decimals = {value.decimals for value in others.values()}
    usual = decimals.pop() if len(decimals) == 1 else None
    if len(others) < 3 or usual is None or new.decimals is None or new.decimals < usual:
        return head, last
    return text, None


def _parse_step_line(state: _LogState, match: re.Match[str], number: int, cut: bool) -> list[str]:
    """Parse one ``step:`` line into ``state``; return notes on a cut last pair.

    A line whose step is out of range is skipped (recorded in ``state.skipped``).
    """
    step, why = parse_step(match.group(1))
    if step is None:
        state.skipped.append((number, why))
        return []
    text = match.group(2)
    notes = []
    if cut:
        previous = state.steps[max(state.steps)] if state.steps else {}
        text, dropped = _drop_cut_pair(text, previous)
        if dropped is not None:
            notes.append(f"line {number} is cut; dropped its last pair {dropped!r}")
    values, bad = parse_pairs(text) if text else ({}, [])
    state.bad.extend((number, piece) for piece in bad)
    if state.pending:
        _merge(state, step, state.pending)
        state.pending = {}
    _merge(state, step, values)
    for key, value in values.items():
        if math.isinf(value.value):
            state.nonfinite.setdefault(key, {})[step] = number
    return notes


def _parse_lines(lines: list[str], unterminated: bool) -> tuple[_LogState, list[str]]:
    """Parse all lines of a log."""
    state = _LogState()
    notes: list[str] = []
    index = 0
    while index < len(lines):
        line = clean_line(lines[index])
        match = _STEP_RE.match(line)
        if match:
            cut = unterminated and index == len(lines) - 1
            notes += _parse_step_line(state, match, index + 1, cut)
        elif _INITIAL_MARK in line:
            values, index = _initial_metrics(lines, index)
            state.pending.update(values)
        elif not state.steps:
            state.header.append(line)
        index += 1
    if state.pending and state.steps:
        notes.append("initial validation metrics with no step line after them ignored")
    return state, notes


def _model_info(header: Sequence[str]) -> dict[str, object]:
    """Find the model, algorithm and printed parameter count in the log header.

    The model is the last ``actor_rollout_ref.model.path`` override that names
    a known public model (a later override may be a private checkpoint, e.g.
    an SFT of the model named before).
    """
    text = "\n".join(header)
    info: dict[str, object] = {}
    for path in reversed(_MODEL_PATH_RE.findall(text)):
        model = guess_model(path.rsplit("/", 1)[-1]) or guess_model(path)
        if model:
            info["model"] = model
            break
    estimators = _ESTIMATOR_RE.findall(text)
    if estimators:
        info["algorithm"] = ADV_ESTIMATORS.get(estimators[-1], estimators[-1])
    counts = {float(number) * _UNITS[unit] for number, unit in _REPORTED_RE.findall(text)}
    if len(counts) == 1:
        info["reported_params"] = counts.pop()
    return info


def _warn_problems(path: Path, run: str, state: _LogState, notes: list[str]) -> None:
    """Emit one DataWarning per kind of problem found in a log."""
    for note in notes:
        warnings.warn(f"{path}: run {run!r}: {note}", DataWarning, stacklevel=2)
    if state.skipped:
        details = "; ".join(f"line {number}: {why}" for number, why in state.skipped[:5])
        warnings.warn(
            f"{path}: run {run!r}: skipped {len(state.skipped)} step line(s) "
            f"{line_list([number for number, _ in state.skipped])} ({details})",
            DataWarning,
            stacklevel=2,
        )
    if state.bad:
        first_line, first_piece = state.bad[0]
        lines = line_list(sorted({number for number, _ in state.bad}))
        warnings.warn(
            f"{path}: run {run!r}: skipped {len(state.bad)} unreadable key:value "
            f"piece(s) on step lines (line(s) {lines}; "
            f"first, line {first_line}: {first_piece[:60]!r})",
            DataWarning,
            stacklevel=2,
        )
    if state.overwritten:
        step, key = state.overwritten[0]
        warnings.warn(
            f"{path}: run {run!r}: {len(state.overwritten)} value(s) logged twice "
            "for the same step with different values; kept the later ones "
            f"(first: step {step}, key {key!r})",
            DataWarning,
            stacklevel=2,
        )


def _frame(state: _LogState) -> pd.DataFrame:
    """Turn the parsed steps into a wide frame (index step, one column per key)."""
    rows = {step: {key: value.value for key, value in record.items()} for step, record in state.steps.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", dtype="float64")
    frame.index = frame.index.astype("int64")
    return frame.sort_index()


def load_verl_log(path: Path) -> RunData:
    """Parse one verl console log into a :class:`~scaling.data.readers.table.RunData`.

    Parameters
    ----------
    path : pathlib.Path
        The log; the run is named after the file stem.

    Returns
    -------
    RunData
        All the keys of the log, per step.

    Raises
    ------
    DataError
        If the file is empty or has no ``step:N - key:value`` line.
    """
    text = read_text(path)
    lines = text.split("\n")
    unterminated = not text.endswith("\n")
    if not unterminated:
        lines.pop()
    state, notes = _parse_lines(lines, unterminated)
    run = path.stem
    if not state.steps and state.skipped:
        raise DataError(f"{path}: no usable step line; line {state.skipped[0][0]}: {state.skipped[0][1]}")
    if not state.steps:
        raise DataError(
            f"{path}: no 'step:N - key:value' line found "
            "(is this a verl console log?); "
            f"first line: {clean_line(lines[0])[:80]!r}"
        )
    _warn_problems(path, run, state, notes)
    aliases = {
        OLD_VAL_PREFIX + key[len(VAL_PREFIX) :]: key
        for key in {key for record in state.steps.values() for key in record}
        if key.startswith(VAL_PREFIX)
    }
    return RunData(run, str(path), _frame(state), _model_info(state.header), aliases, state.nonfinite)


def has_step_lines(path: Path, limit: int = 100_000) -> bool:
    """Tell whether a text file has a verl ``step:N - key:value`` line.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    limit : int
        Number of lines to look at.
    """
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle):
            if number >= limit:
                break
            if _STEP_RE.match(clean_line(line)):
                return True
    return False


def read_verl_log(
    paths: PathLike | Sequence[PathLike],
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: MetaLike = None,
) -> pd.DataFrame:
    """Read verl console logs into the canonical table.

    Parameters
    ----------
    paths : path or sequence of paths
        One log per run; each run is named after its file stem.
    entropy_key, perf_key : str, optional
        Keys to use instead of the defaults
        (:data:`~scaling.data.readers.keys.ENTROPY_KEYS`,
        :data:`~scaling.data.readers.keys.PERF_KEYS`); ``test_score/<data>`` and
        ``val/test_score/<data>`` name the same key.
    meta : path or mapping, optional
        Run metadata, see :func:`~scaling.data.readers.meta.load_meta`. Without it,
        the model comes from ``actor_rollout_ref.model.path`` on the logged
        command line, its size from the table of public models, and the
        algorithm from ``algorithm.adv_estimator``.

    Returns
    -------
    pandas.DataFrame
        The canonical table (:data:`~scaling.data.readers.keys.CANONICAL_COLUMNS`).

    Raises
    ------
    DataError
        If a log cannot be used (see :func:`load_verl_log`) or lacks the keys.
    """
    runs = [load_verl_log(path) for path in as_paths(paths)]
    return build_table(runs, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
