"""Run metadata (model, params, algorithm, seed) from options or a small CSV/TOML mapping file."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import tomllib

from scaling.data.readers.keys import META_FIELDS, MetaLike
from scaling.data.readers.models import parse_params
from scaling.exceptions import DataError, DataWarning

# --------------------------------------------------------------------------
# Metadata mapping (options or file)
# --------------------------------------------------------------------------


def _clean_entry(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate one metadata entry: keep known fields, parse ``params``."""
    unknown = sorted(str(key) for key in entry if key not in META_FIELDS and key != "run")
    if unknown:
        warnings.warn(
            f"{where}: ignored unknown metadata field(s) {', '.join(unknown)} (known: {', '.join(META_FIELDS)})",
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
        raise DataError(f"{path}: cannot read metadata CSV: {exc}".replace("\n", " ")) from None
    if "run" not in frame.columns:
        raise DataError(
            f"{path}: metadata CSV has no 'run' column; columns found: {', '.join(map(str, frame.columns))}"
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
        return {str(run): _clean_entry(entry, f"metadata for run {run!r}") for run, entry in meta.items()}
    if any(nested):
        raise ValueError("meta: give either metadata fields or a mapping of run name to fields, not both")
    return {"*": _clean_entry(meta, "metadata option")}
