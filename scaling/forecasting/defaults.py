"""Defaults of the forecasting commands that the CLI shows in ``--help``.

Kept apart from :mod:`scaling.forecasting.forecast` so that reading them imports no numerics.
"""

from __future__ import annotations

#: fractions of a run used by :func:`~scaling.forecasting.forecast.backtest_forecast` by default.
BACKTEST_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
