"""The canonical table of the readers: per-run logged values, key selection and metadata merged.

Every reader of :mod:`scaling.data.readers` turns its input into a list of
:class:`RunData` (one wide table of logged values per run) and hands it to
:func:`build_table`, which

1. picks the entropy and the performance key of each run
   (:data:`ENTROPY_KEYS`, :data:`PERF_KEYS`, or the user's ``entropy_key`` /
   ``perf_key``),
2. attaches the run metadata (``model``, ``params``, ``algorithm``, ``seed``)
   from the source itself, the run name, a metadata mapping (:func:`load_meta`)
   and the table of public model sizes (:data:`MODEL_SIZES`,
   :func:`guess_params`),
3. returns the canonical tidy table, columns :data:`CANONICAL_COLUMNS`, one row
   per (run, step) where entropy or performance was logged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scaling.data.readers.keys import CANONICAL_COLUMNS, ENTROPY_KEYS, META_FIELDS, PERF_KEYS, MetaLike, matching_keys
from scaling.data.readers.meta import load_meta
from scaling.data.readers.models import guess_model, guess_params
from scaling.exceptions import DataError, DataWarning


@dataclass
class RunData:
    """The values logged by one run, before key selection.

    Attributes
    ----------
    name : str
        Run id (unique among the runs of one table).
    source : str
        The file(s) the run was read from, for messages.
    metrics : pandas.DataFrame
        Index: integer step; one float column per logged key; NaN where a key
        was not logged at a step.
    info : dict
        Metadata found in the source (any of :data:`META_FIELDS`, and
        ``reported_params``, a parameter count printed in the log).
    aliases : dict
        Other spellings of keys of this run (``{alias: key}``), honoured when
        the user passes ``entropy_key`` / ``perf_key``.
    nonfinite : dict
        Where the reader saw an infinite value: ``{key: {step: file line}}``, for the
        warning given when such a point of the entropy or perf key is dropped.
    """

    name: str
    source: str
    metrics: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    nonfinite: dict[str, dict[int, int]] = field(default_factory=dict)

    def logged_keys(self) -> list[str]:
        """Return the keys that have at least one non-NaN value, sorted."""
        present = self.metrics.notna().any(axis=0)
        return sorted(str(key) for key in present.index[present.to_numpy()])


# --------------------------------------------------------------------------
# Canonical table
# --------------------------------------------------------------------------


def empty_table() -> pd.DataFrame:
    """Return a canonical table with no rows and the canonical dtypes."""
    return _typed(pd.DataFrame({column: [] for column in CANONICAL_COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give the canonical columns their dtypes, in canonical order."""
    frame = frame.loc[:, list(CANONICAL_COLUMNS)].copy()
    for column in ("run", "model", "algorithm", "seed"):
        frame[column] = frame[column].astype(str)
    for column in ("params", "entropy", "perf"):
        frame[column] = frame[column].astype("float64")
    frame["step"] = frame["step"].astype("int64")
    return frame


def _blank(value: Any) -> bool:
    """Tell whether a metadata value is missing."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def resolve_meta(run: RunData, table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Combine the metadata of one run, lowest to highest precedence.

    The source (e.g. the model path in a verl log), a model named in the run
    name, the ``*`` entry of ``table``, the run's own entry. ``params``, when
    not given, comes from :func:`guess_params` of the model, else from a
    parameter count printed in the log.

    Parameters
    ----------
    run : RunData
        The run.
    table : mapping
        Output of :func:`load_meta`.

    Returns
    -------
    dict
        ``model``, ``params``, ``algorithm``, ``seed``.
    """
    fields: dict[str, Any] = {
        "model": "",
        "params": math.nan,
        "algorithm": "",
        "seed": "",
    }
    fields.update({k: v for k, v in run.info.items() if k in META_FIELDS and not _blank(v)})
    if not fields["model"]:
        fields["model"] = guess_model(run.name) or ""
    for key in ("*", run.name):
        fields.update({k: v for k, v in table.get(key, {}).items() if not _blank(v)})
    if math.isnan(fields["params"]) and fields["model"]:
        fields["params"] = guess_params(fields["model"]) or math.nan
    if math.isnan(fields["params"]):
        fields["params"] = float(run.info.get("reported_params", math.nan))
    return fields


def _check_unique(runs: Sequence[RunData]) -> None:
    """Raise DataError if two runs share a name."""
    seen: dict[str, RunData] = {}
    for run in runs:
        if run.name in seen:
            raise DataError(
                f"run name {run.name!r} occurs in {seen[run.name].source} "
                f"and in {run.source}; rename one of the files or runs"
            )
        seen[run.name] = run


def _tried(wanted: str | None, defaults: Sequence[str]) -> str:
    """Describe the keys tried for a quantity."""
    return repr(wanted) if wanted else ", ".join(defaults)


def _no_run_message(runs: Sequence[RunData], entropy_key: str | None, perf_key: str | None) -> str:
    """Build the one-line error raised when no run has both quantities."""
    sources = ", ".join(dict.fromkeys(part for run in runs for part in run.source.split(", ")))
    found = {
        what: sorted({key for run in runs if (key := select_key(run, wanted, defaults, what))})
        for what, wanted, defaults in (("entropy", entropy_key, ENTROPY_KEYS), ("perf", perf_key, PERF_KEYS))
    }
    keys = sorted({key for run in runs for key in run.logged_keys()})
    if _wandb_only(runs) and keys in (found["entropy"], found["perf"]):  # the exports hold one metric, nothing else
        return _one_metric_message(sources, found, entropy_key, perf_key)
    names = ", ".join(run.name for run in runs)
    return (
        f"{sources}: no run has both an entropy and a perf key "
        f"(entropy key tried: {_tried(entropy_key, ENTROPY_KEYS)}; "
        f"perf key tried: {_tried(perf_key, PERF_KEYS)}); "
        f"keys found: {', '.join(keys) or 'none'} (runs: {names}); "
        "pass --entropy-key/--perf-key (entropy_key=/perf_key= in Python)"
    )


def _wandb_only(runs: Sequence[RunData]) -> bool:
    """Whether every run was read from CSV files (W&B exports: the one CSV log format)."""
    return all(Path(part).suffix.lower() == ".csv" for run in runs for part in run.source.split(", "))


def _one_metric_message(sources: str, found: Mapping[str, list[str]], entropy_key: str | None, perf_key: str | None) -> str:
    """The error for W&B exports holding only one of the two metrics and nothing else (W&B exports one CSV per metric)."""
    has, lacks = ("entropy", "perf") if found["entropy"] else ("perf", "entropy")
    label = {"entropy": "entropy", "perf": "validation"}
    tried = _tried(perf_key, PERF_KEYS) if lacks == "perf" else _tried(entropy_key, ENTROPY_KEYS)
    shown = ", ".join(repr(key) for key in found[has])
    return (
        f"{sources}: holds only the {label[has]} metric {shown}; pass the W&B export with the {label[lacks]} metric too "
        f"({lacks} keys tried: {tried}; name another with --{lacks}-key, {lacks}_key= in Python)"
    )


def _warn_missing(run: RunData, missing: list[str], entropy_key: str | None, perf_key: str | None) -> None:
    """Warn that a run lacks a quantity and is dropped."""
    tried = {
        "entropy": _tried(entropy_key, ENTROPY_KEYS),
        "perf": _tried(perf_key, PERF_KEYS),
    }
    parts = "; ".join(f"no {what} key (tried {tried[what]})" for what in missing)
    warnings.warn(
        f"{run.source}: run {run.name!r} dropped: {parts}; its keys: {', '.join(run.logged_keys()) or 'none'}",
        DataWarning,
        stacklevel=2,
    )


def _finite_values(run: RunData, key: str, what: str) -> np.ndarray:
    """The values of one key of a run, infinite ones dropped (NaN) with a warning naming file and lines."""
    values = np.array(pd.to_numeric(run.metrics[key], errors="coerce"), dtype="float64")
    infinite = np.isinf(values)
    if infinite.any():
        lines = run.nonfinite.get(key, {})
        steps = [int(step) for step in run.metrics.index[infinite]]
        where = [f"step {step}" + (f" (line {lines[step]})" if step in lines else "") for step in steps]
        more = f" and {len(where) - 5} more" if len(where) > 5 else ""
        warnings.warn(
            f"{run.source}: run {run.name!r}: dropped {len(steps)} point(s) whose {what} "
            f"({key!r}) is infinite: {', '.join(where[:5])}{more}",
            DataWarning,
            stacklevel=3,
        )
        values[infinite] = np.nan
    return values


def _run_rows(run: RunData, entropy: str, perf: str, fields: Mapping[str, Any]) -> pd.DataFrame:
    """Return the canonical rows of one run (infinite entropy or perf values dropped, with a warning)."""
    metrics = run.metrics
    frame = pd.DataFrame(
        {
            "step": np.asarray(metrics.index, dtype="int64"),
            "entropy": _finite_values(run, entropy, "entropy"),
            "perf": _finite_values(run, perf, "perf"),
        }
    )
    frame = frame[frame["entropy"].notna() | frame["perf"].notna()]
    for column in ("model", "params", "algorithm", "seed"):
        frame[column] = fields[column]
    frame["run"] = run.name
    return frame


def _warn_unused_meta(table: Mapping[str, Any], runs: Sequence[RunData]) -> None:
    """Warn about metadata entries that name no run."""
    names = {run.name for run in runs}
    unused = sorted(key for key in table if key != "*" and key not in names)
    if unused:
        warnings.warn(
            f"metadata for unknown run(s) {', '.join(map(repr, unused))} ignored; "
            f"runs read: {', '.join(sorted(names))}",
            DataWarning,
            stacklevel=2,
        )


def build_table(
    runs: Sequence[RunData],
    *,
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: MetaLike = None,
) -> pd.DataFrame:
    """Build the canonical table from the runs a reader found.

    Parameters
    ----------
    runs : sequence of RunData
        The runs, with unique names.
    entropy_key, perf_key : str, optional
        Keys to use instead of :data:`ENTROPY_KEYS` / :data:`PERF_KEYS`.
    meta : path or mapping, optional
        Run metadata, see :func:`load_meta`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CANONICAL_COLUMNS`; one row per (run, step) where
        entropy or perf was logged, sorted by run then step.

    Raises
    ------
    DataError
        If there are no runs, two runs share a name, or no run has both an
        entropy and a perf key. A run missing one of them is dropped with a
        :class:`~scaling.exceptions.DataWarning`.
    """
    if not runs:
        raise DataError("no runs found in the input")
    _check_unique(runs)
    table = load_meta(meta)
    _warn_unused_meta(table, runs)
    chosen = [
        (
            run,
            select_key(run, entropy_key, ENTROPY_KEYS, "entropy"),
            select_key(run, perf_key, PERF_KEYS, "perf"),
        )
        for run in runs
    ]
    complete = [(run, entropy, perf) for run, entropy, perf in chosen if entropy and perf]
    if not complete:
        raise DataError(_no_run_message(runs, entropy_key, perf_key))
    for run, entropy, perf in chosen:
        missing = [what for what, key in (("entropy", entropy), ("perf", perf)) if key is None]
        if missing:
            _warn_missing(run, missing, entropy_key, perf_key)
    pieces = [_run_rows(run, entropy, perf, resolve_meta(run, table)) for run, entropy, perf in complete]
    frame = pd.concat(pieces, ignore_index=True)
    frame = _typed(frame).sort_values(["run", "step"], kind="stable")
    return frame.reset_index(drop=True)


def select_key(run: RunData, wanted: str | None, defaults: Sequence[str], what: str) -> str | None:
    """Pick the key of one quantity (entropy or perf) for one run.

    Parameters
    ----------
    run : RunData
        The run.
    wanted : str or None
        The user's key (exact, an alias of the run, or a ``*`` pattern), or
        None to try ``defaults`` in order.
    defaults : sequence of str
        Default keys/patterns, in order of preference.
    what : str
        ``"entropy"`` or ``"perf"``, for messages.

    Returns
    -------
    str or None
        The key, or None if the run has none.

    Raises
    ------
    DataError
        If a key pattern matches several keys of the run.
    """
    keys = run.logged_keys()
    patterns = [run.aliases.get(wanted, wanted)] if wanted else list(defaults)
    for pattern in patterns:
        hits = matching_keys(pattern, keys)
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DataError(
                f"{run.source}: run {run.name!r}: {what} key {pattern!r} matches "
                f"several keys ({', '.join(hits)}); pass --{what}-key ({what}_key= in Python) with one of them"
            )
    return None
