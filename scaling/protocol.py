"""What every result object offers, whatever the analysis behind it.

A result is a frozen dataclass with ``summary()`` (a DataFrame), ``to_frame()`` (one row per
unit: run, model or size), ``_repr_html_()`` for notebooks and ``plot()``.  Figures live in
:mod:`scaling.plotting`, a layer above the analyses: it registers one function per result type
with :func:`register_plot`, so results can draw themselves without importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

_PLOTTERS: dict[type, Callable[..., Any]] = {}


def register_plot(kind: type, func: Callable[..., Any]) -> None:
    """Make ``func(result, **kwargs)`` the ``plot()`` of results of type ``kind``."""
    _PLOTTERS[kind] = func


class ResultMixin:
    """``_repr_html_`` and ``plot`` for a result class that defines ``summary() -> DataFrame``."""

    def summary(self) -> pd.DataFrame:  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def _repr_html_(self) -> str:
        table = self.summary()
        title = type(self).__name__
        return f"<p><b>{title}</b></p>" + table.to_html(float_format=lambda x: f"{x:.4g}", escape=True)

    def plot(self, **kwargs: Any) -> Any:
        """Draw this result (see :mod:`scaling.plotting`); returns the matplotlib Axes or Figure."""
        for kind in type(self).__mro__:
            if kind in _PLOTTERS:
                return _PLOTTERS[kind](self, **kwargs)
        raise TypeError(f"no figure is registered for {type(self).__name__}; import scaling.plotting first")
