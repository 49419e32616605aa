"""Metric-key conventions: the canonical columns and the default entropy and performance keys."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Collection, Mapping
from typing import Any

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


# --------------------------------------------------------------------------
# Key selection
# --------------------------------------------------------------------------


def _is_pattern(key: str) -> bool:
    """Tell whether ``key`` contains a wildcard."""
    return any(char in key for char in "*?[")


def matching_keys(pattern: str, keys: Collection[str]) -> list[str]:
    """Return the keys equal to ``pattern``, or matching it if it is a pattern."""
    if not _is_pattern(pattern):
        return [pattern] if pattern in keys else []
    return sorted(key for key in keys if fnmatch.fnmatchcase(key, pattern))
