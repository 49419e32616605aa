"""Public model sizes: match a model name found in a run name or log to its parameter count."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

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


_PARAMS_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e([-+]?\d+))?\s*([kmbt])?\s*$", re.IGNORECASE)
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
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _PARAMS_RE.match(str(value))
        if match is None:
            raise ValueError(f"not a parameter count: {value!r}")
        mantissa, exponent, unit = match.groups()
        number = float(mantissa) * 10.0 ** int(exponent or 0) * _PARAM_UNITS[(unit or "").lower()]
    if math.isnan(number):
        return number
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"not a positive parameter count: {value!r}")
    return number
