"""Run metadata, metric-key conventions and the canonical table of the readers.

Every reader of :mod:`scaling.readers` turns its input into a list of
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

import fnmatch
import math
import os
import re
import tomllib
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scaling.exceptions import DataError, DataWarning

#: A file system path.
PathLike = str | os.PathLike[str]
#: What ``meta=`` accepts: a mapping file path, a mapping, or None.
MetaLike = PathLike | Mapping[str, Any] | None

#: Columns of the canonical table, in order.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "run",
    "model",
    "params",
    "algorithm",
    "seed",
    "step",
    "entropy",
    "perf",
)

#: Metadata fields a mapping file or option may set.
META_FIELDS: tuple[str, ...] = ("model", "params", "algorithm", "seed")

#: Default entropy keys, tried in this order; the first one a run has is used.
#: ``actor/entropy`` is verl's token-mean policy entropy (older verl versions
#: log the same quantity as ``actor/entropy_loss``); ``actor/main_chain/entropy``
#: is the Deep-GRPO fork's; the bare names are those of TRL, OpenRLHF and
#: hand-written loggers.
ENTROPY_KEYS: tuple[str, ...] = (
    "actor/entropy",
    "actor/entropy_loss",
    "actor/main_chain/entropy",
    "entropy",
    "policy_entropy",
    "train/entropy",
    "train/policy_entropy",
    "policy/entropy",
    "policy/entropy_avg",
)

#: Default validation-performance keys (patterns: ``*`` matches any text,
#: slashes included), tried in this order; the first pattern that matches
#: exactly one key of a run is used (several matches are an error: pass
#: ``perf_key``). New verl: ``val-core/<data source>/acc|reward/mean@1``; old
#: verl: ``val/test_score/<data source>`` (its initial validation is printed as
#: ``test_score/<data source>``, which the verl reader treats as the same key).
PERF_KEYS: tuple[str, ...] = (
    "val-core/*/acc/mean@1",
    "val-core/*/reward/mean@1",
    "val/test_score/*",
    "test_score/*",
    "val_acc",
    "val/acc",
    "val/accuracy",
    "eval/acc",
    "eval/accuracy",
    "val_reward",
    "val/reward",
    "eval/reward",
    "test_acc",
    "test/acc",
    "test/accuracy",
)


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
    """

    name: str
    source: str
    metrics: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def logged_keys(self) -> list[str]:
        """Return the keys that have at least one non-NaN value, sorted."""
        present = self.metrics.notna().any(axis=0)
        return sorted(str(key) for key in present.index[present.to_numpy()])


# --------------------------------------------------------------------------
# Public model sizes
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSize:
    """A public model and its total parameter count.

    Attributes
    ----------
    name : str
        Canonical name, as published.
    pattern : str
        Regular expression matched against a normalised name (lower case,
        ``_`` and spaces turned into ``-``).
    params : float
        Total parameter count (embeddings included) from the model card, or
        the Hugging Face safetensors count where the card gives none.
    """

    name: str
    pattern: str
    params: float


def _sizes(family: str, pattern: str, sizes: Mapping[str, float]) -> list[ModelSize]:
    """Expand one model family into :class:`ModelSize` rows (``{s}`` = size)."""
    rows = []
    for size, params in sizes.items():
        size_re = re.escape(size.lower())
        rows.append(ModelSize(family.format(s=size), pattern.format(s=size_re), params))
    return rows


#: Known public model sizes. Match with :func:`guess_model`/:func:`guess_params`.
MODEL_SIZES: tuple[ModelSize, ...] = tuple(
    _sizes(
        "Qwen2.5-{s}B",
        r"qwen-?2\.5-{s}b",
        {
            "0.5": 0.49e9,
            "1.5": 1.54e9,
            "3": 3.09e9,
            "7": 7.61e9,
            "14": 14.7e9,
            "32": 32.5e9,
            "72": 72.7e9,
        },
    )
    + _sizes(
        "Qwen3-{s}B",
        r"qwen-?3-{s}b",
        {
            "0.6": 0.6e9,
            "1.7": 1.7e9,
            "4": 4.0e9,
            "8": 8.2e9,
            "14": 14.8e9,
            "32": 32.8e9,
        },
    )
    + _sizes("Qwen3-{s}", r"qwen-?3-{s}", {"30B-A3B": 30.5e9, "235B-A22B": 235e9})
    + _sizes("Llama-3-{s}B", r"llama-?3-{s}b", {"8": 8.03e9, "70": 70.6e9})
    + _sizes("Llama-3.1-{s}B", r"llama-?3\.1-{s}b", {"8": 8.03e9, "70": 70.6e9})
    + _sizes("Llama-3.2-{s}B", r"llama-?3\.2-{s}b", {"1": 1.23e9, "3": 3.21e9})
    + _sizes("Llama-3.3-{s}B", r"llama-?3\.3-{s}b", {"70": 70.6e9})
    + _sizes("gemma-2-{s}b", r"gemma-?2-{s}b", {"2": 2.61e9, "9": 9.24e9, "27": 27.2e9})
    + _sizes(
        "DeepSeek-R1-Distill-Qwen-{s}B",
        r"(?:deepseek-)?r1-distill-qwen-{s}b",
        {"1.5": 1.78e9, "7": 7.62e9, "14": 14.8e9, "32": 32.8e9},
    )
    + _sizes(
        "DeepSeek-R1-Distill-Llama-{s}B",
        r"(?:deepseek-)?r1-distill-llama-{s}b",
        {"8": 8.03e9, "70": 70.6e9},
    )
)

#: Published variant suffixes kept in the model name that :func:`guess_model` returns.
_MODEL_SUFFIXES = {"instruct": "-Instruct", "it": "-it", "base": "-Base"}

_SUFFIX_RE = re.compile(r"-(instruct|it|base)(?![a-z0-9])")


def _normalise_name(name: str) -> str:
    """Lower-case a model or run name and turn ``_`` and spaces into ``-``."""
    return re.sub(r"[_\s]+", "-", name.lower())


def _model_matches(name: str) -> list[tuple[ModelSize, str]]:
    """Return every (table row, published suffix) whose pattern occurs in ``name``."""
    text = _normalise_name(name)
    found = []
    for row in MODEL_SIZES:
        regex = rf"(?<![a-z0-9]){row.pattern}(?![a-z0-9])"
        for match in re.finditer(regex, text):
            suffix = _SUFFIX_RE.match(text, match.end())
            found.append((row, _MODEL_SUFFIXES[suffix.group(1)] if suffix else ""))
    return found


def _unique_match(name: str) -> tuple[ModelSize, str] | None:
    """Return the only table row named in ``name``, or None (none or several)."""
    matches = _model_matches(name)
    rows = {row.name for row, _ in matches}
    if len(rows) != 1:
        return None
    suffixes = {suffix for _, suffix in matches}
    return matches[0][0], (suffixes.pop() if len(suffixes) == 1 else "")


def guess_model(name: str) -> str | None:
    """Find the public model named in a run name, model path or log text.

    Parameters
    ----------
    name : str
        Any text naming a model, e.g. ``"Qwen/Qwen2.5-0.5B-Instruct"`` or
        ``"qwen2.5-0.5b-instruct-gsm8k-grpo"``.

    Returns
    -------
    str or None
        The canonical model name (with a published ``-Instruct``, ``-it`` or
        ``-Base`` suffix when present), or None when no model or more than one
        model of :data:`MODEL_SIZES` is named.
    """
    found = _unique_match(name)
    return None if found is None else found[0].name + found[1]


def guess_params(name: str) -> float | None:
    """Return the total parameter count of the public model named in ``name``.

    Parameters
    ----------
    name : str
        A model name, model path or run name.

    Returns
    -------
    float or None
        The count from :data:`MODEL_SIZES` when exactly one known model is
        named, else None.

    Examples
    --------
    >>> guess_params("Qwen/Qwen2.5-0.5B-Instruct")
    490000000.0
    >>> guess_params("my-model") is None
    True
    """
    found = _unique_match(name)
    return None if found is None else found[0].params


_PARAMS_RE = re.compile(
    r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e([-+]?\d+))?\s*([kmbt])?\s*$", re.IGNORECASE
)
_PARAM_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


def parse_params(value: Any) -> float:
    """Parse a parameter count such as ``7.61e9``, ``"1.5B"`` or ``"494M"``.

    Parameters
    ----------
    value : float, int or str
        The count; an empty string or None gives NaN.

    Returns
    -------
    float
        The count, or NaN when ``value`` is empty.

    Raises
    ------
    ValueError
        If ``value`` is not a positive finite count.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    ):
        number = float(value)
    else:
        match = _PARAMS_RE.match(str(value))
        if match is None:
            raise ValueError(f"not a parameter count: {value!r}")
        mantissa, exponent, unit = match.groups()
        number = (
            float(mantissa)
            * 10.0 ** int(exponent or 0)
            * _PARAM_UNITS[(unit or "").lower()]
        )
    if math.isnan(number):
        return number
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"not a positive parameter count: {value!r}")
    return number


# --------------------------------------------------------------------------
# Metadata mapping (options or file)
# --------------------------------------------------------------------------


def _clean_entry(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate one metadata entry: keep known fields, parse ``params``."""
    unknown = sorted(
        str(key) for key in entry if key not in META_FIELDS and key != "run"
    )
    if unknown:
        warnings.warn(
            f"{where}: ignored unknown metadata field(s) {', '.join(unknown)} "
            f"(known: {', '.join(META_FIELDS)})",
            DataWarning,
            stacklevel=2,
        )
    cleaned: dict[str, Any] = {}
    for key in META_FIELDS:
        value = entry.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key == "params":
            try:
                cleaned[key] = parse_params(value)
            except ValueError as exc:
                raise DataError(f"{where}: column 'params': {exc}") from None
        else:
            cleaned[key] = str(value).strip()
    return cleaned


def _meta_from_csv(path: Path) -> dict[str, dict[str, Any]]:
    """Read a metadata CSV with a ``run`` column."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: cannot read metadata CSV: {exc}".replace("\n", " ")
        ) from None
    if "run" not in frame.columns:
        raise DataError(
            f"{path}: metadata CSV has no 'run' column; "
            f"columns found: {', '.join(map(str, frame.columns))}"
        )
    table: dict[str, dict[str, Any]] = {}
    for row_number, row in enumerate(frame.to_dict("records"), start=2):
        run = str(row["run"]).strip()
        where = f"{path}, line {row_number}, run {run!r}"
        if not run:
            raise DataError(f"{path}, line {row_number}: empty 'run' value")
        if run in table:
            raise DataError(f"{where}: run listed twice")
        table[run] = _clean_entry(row, where)
    return table


def _meta_from_toml(path: Path) -> dict[str, dict[str, Any]]:
    """Read a metadata TOML file: ``[[runs]]`` with ``run`` keys, or a table per run."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read metadata TOML: {exc}") from None
    if isinstance(data.get("runs"), list):
        entries = data["runs"]
        if not all(isinstance(entry, dict) and "run" in entry for entry in entries):
            raise DataError(f"{path}: every [[runs]] table needs a 'run' key")
        pairs = [(str(entry["run"]), entry) for entry in entries]
    else:
        bad = sorted(key for key, value in data.items() if not isinstance(value, dict))
        if bad:
            raise DataError(
                f"{path}: top-level key(s) {', '.join(bad)} are not tables; "
                'write one ["<run>"] table per run '
                "or [[runs]] tables with a 'run' key"
            )
        pairs = list(data.items())
    table: dict[str, dict[str, Any]] = {}
    for run, entry in pairs:
        if run in table:
            raise DataError(f"{path}: run {run!r} listed twice")
        table[run] = _clean_entry(entry, f"{path}, run {run!r}")
    return table


def load_meta(meta: MetaLike) -> dict[str, dict[str, Any]]:
    """Load run metadata from options or a mapping file.

    Parameters
    ----------
    meta : None, path or mapping
        * None: no metadata;
        * a path to a ``.csv`` file with a ``run`` column and any of the
          columns ``model``, ``params``, ``algorithm``, ``seed``, or to a
          ``.toml`` file with one table per run (``["<run>"]``) or ``[[runs]]``
          tables with a ``run`` key;
        * a mapping of fields (``{"model": "Qwen2.5-7B", "seed": 1}``), applied
          to every run;
        * a mapping of run name to a mapping of fields.

        The run ``*`` applies to all runs; a run's own entry takes precedence.
        ``params`` may be a number or a string such as ``"1.5B"``.

    Returns
    -------
    dict
        Run name (or ``*``) to a dict of the fields given.

    Raises
    ------
    DataError
        If the file cannot be read or a value is invalid.
    ValueError
        If ``meta`` mixes fields and per-run mappings.
    """
    if meta is None:
        return {}
    if isinstance(meta, Mapping):
        return _meta_from_mapping(meta)
    path = Path(meta)
    if not path.is_file():
        raise DataError(f"{path}: metadata file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _meta_from_csv(path)
    if suffix == ".toml":
        return _meta_from_toml(path)
    raise DataError(f"{path}: metadata file must be .csv or .toml")


def _meta_from_mapping(meta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Turn a fields mapping or a per-run mapping into the per-run form."""
    nested = [isinstance(value, Mapping) for value in meta.values()]
    if nested and all(nested):
        return {
            str(run): _clean_entry(entry, f"metadata for run {run!r}")
            for run, entry in meta.items()
        }
    if any(nested):
        raise ValueError(
            "meta: give either metadata fields or a mapping of run name to fields, "
            "not both"
        )
    return {"*": _clean_entry(meta, "metadata option")}


# --------------------------------------------------------------------------
# Key selection
# --------------------------------------------------------------------------


def _is_pattern(key: str) -> bool:
    """Tell whether ``key`` contains a wildcard."""
    return any(char in key for char in "*?[")


def _matching(pattern: str, keys: Collection[str]) -> list[str]:
    """Return the keys equal to ``pattern``, or matching it if it is a pattern."""
    if not _is_pattern(pattern):
        return [pattern] if pattern in keys else []
    return sorted(key for key in keys if fnmatch.fnmatchcase(key, pattern))


def select_key(
    run: RunData, wanted: str | None, defaults: Sequence[str], what: str
) -> str | None:
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
        hits = _matching(pattern, keys)
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DataError(
                f"{run.source}: run {run.name!r}: {what} key {pattern!r} matches "
                f"several keys ({', '.join(hits)}); pass {what}_key= with one of them"
            )
    return None


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


def resolve_meta(
    run: RunData, table: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
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
    fields.update(
        {k: v for k, v in run.info.items() if k in META_FIELDS and not _blank(v)}
    )
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


def _no_run_message(
    runs: Sequence[RunData], entropy_key: str | None, perf_key: str | None
) -> str:
    """Build the one-line error raised when no run has both quantities."""
    sources = ", ".join(dict.fromkeys(run.source for run in runs))
    found = sorted({key for run in runs for key in run.logged_keys()})
    names = ", ".join(run.name for run in runs)
    return (
        f"{sources}: no run has both an entropy and a perf key "
        f"(entropy key tried: {_tried(entropy_key, ENTROPY_KEYS)}; "
        f"perf key tried: {_tried(perf_key, PERF_KEYS)}); "
        f"keys found: {', '.join(found) or 'none'} (runs: {names}); "
        "pass entropy_key=/perf_key="
    )


def _warn_missing(
    run: RunData, missing: list[str], entropy_key: str | None, perf_key: str | None
) -> None:
    """Warn that a run lacks a quantity and is dropped."""
    tried = {
        "entropy": _tried(entropy_key, ENTROPY_KEYS),
        "perf": _tried(perf_key, PERF_KEYS),
    }
    parts = "; ".join(f"no {what} key (tried {tried[what]})" for what in missing)
    warnings.warn(
        f"{run.source}: run {run.name!r} dropped: {parts}; "
        f"its keys: {', '.join(run.logged_keys()) or 'none'}",
        DataWarning,
        stacklevel=2,
    )


def _run_rows(
    run: RunData, entropy: str, perf: str, fields: Mapping[str, Any]
) -> pd.DataFrame:
    """Return the canonical rows of one run."""
    metrics = run.metrics
    frame = pd.DataFrame(
        {
            "step": np.asarray(metrics.index, dtype="int64"),
            "entropy": pd.to_numeric(metrics[entropy], errors="coerce").to_numpy(
                dtype="float64"
            ),
            "perf": pd.to_numeric(metrics[perf], errors="coerce").to_numpy(
                dtype="float64"
            ),
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
    complete = [
        (run, entropy, perf) for run, entropy, perf in chosen if entropy and perf
    ]
    if not complete:
        raise DataError(_no_run_message(runs, entropy_key, perf_key))
    for run, entropy, perf in chosen:
        missing = [
            what for what, key in (("entropy", entropy), ("perf", perf)) if key is None
        ]
        if missing:
            _warn_missing(run, missing, entropy_key, perf_key)
    pieces = [
        _run_rows(run, entropy, perf, resolve_meta(run, table))
        for run, entropy, perf in complete
    ]
    frame = pd.concat(pieces, ignore_index=True)
    frame = _typed(frame).sort_values(["run", "step"], kind="stable")
    return frame.reset_index(drop=True)


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


def read_text(path: Path) -> str:
    """Read a file as UTF-8 text, undecodable bytes replaced by U+FFFD.

    Raises
    ------
    DataError
        If the file is empty or cannot be read.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file: {exc.strerror or exc}") from None
    if not data.strip():
        raise DataError(f"{path}: empty file")
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


_JUNK_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


def is_junk(line: str) -> bool:
    """Tell whether a line holds binary data (control bytes or undecodable bytes)."""
    return _JUNK_RE.search(line) is not None


def line_list(numbers: Sequence[int], limit: int = 10) -> str:
    """Format line numbers for a message, at most ``limit`` of them."""
    shown = ", ".join(str(number) for number in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
