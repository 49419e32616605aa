"""What every result object offers, whatever the analysis behind it.

A result is a frozen dataclass with ``summary()`` (a DataFrame), ``to_frame()`` (one row per
unit: run, model or size), ``_repr_html_()`` for notebooks and ``plot()``.  Figures live in
:mod:`scaling.plotting`, a layer above the analyses, which registers one drawing function per
kind of figure with :func:`register_plot`.  A result names its kind (``_plot_kind``) and hands
the drawing function its inputs (``_plot_inputs``), so it can draw itself without importing the
plotting layer.  The first :meth:`ResultMixin.plot` of a kind not yet registered imports
:mod:`scaling.plotting` by name (:data:`PLOTTING_MODULE`), which registers them all: ``.plot()``
works whatever was imported before, and only a figure pays for matplotlib.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import pandas as pd

_PLOTTERS: dict[str, Callable[..., Any]] = {}

#: the module whose import registers every figure (imported by name: it is a layer above this one).
PLOTTING_MODULE = "scaling.plotting"


def register_plot(kind: str, func: Callable[..., Any]) -> None:
    """Make ``func(*inputs, **kwargs)`` draw the results whose ``_plot_kind`` is ``kind``."""
    _PLOTTERS[kind] = func


class ResultMixin:
    """``_repr_html_`` and ``plot`` for a result class that defines ``summary() -> DataFrame``."""

    #: the kind of figure :meth:`plot` draws (a key of the registry), or None for none.
    _plot_kind: ClassVar[str | None] = None

    def summary(self) -> pd.DataFrame:  # pragma: no cover - every result overrides it
        raise NotImplementedError

    def _plot_inputs(self) -> tuple[tuple, dict]:
        """Positional and keyword arguments of the drawing function (default: the result itself)."""
        return (self,), {}

    def _repr_html_(self) -> str:
        table = self.summary()
        title = type(self).__name__
        return f"<p><b>{title}</b></p>" + table.to_html(float_format=lambda x: f"{x:.4g}", escape=True)

    def plot(self, **kwargs: Any) -> Any:
        """Draw this result (see :mod:`scaling.plotting`); returns the matplotlib Axes or Figure.

        Keywords go to the drawing function (``ax=``, ``perf_label=``, ...).
        """
        kind = self._plot_kind
        if kind is None:
            raise TypeError(f"{type(self).__name__} has no figure; plot its parts or its to_frame()")
        if kind not in _PLOTTERS:
            importlib.import_module(PLOTTING_MODULE)
        if kind not in _PLOTTERS:
            raise TypeError(f"no figure is registered for {kind!r}; import scaling.plotting first")
        args, defaults = self._plot_inputs()
        return _PLOTTERS[kind](*args, **{**defaults, **kwargs})
