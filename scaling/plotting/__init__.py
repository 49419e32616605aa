"""Figures: functions that take results and return matplotlib Axes or Figures.

Importing this package registers the ``plot()`` of each result type (:mod:`scaling.protocol`).
"""

from scaling.fitting.dataset import FitResults
from scaling.fitting.result import RunFit
from scaling.plotting import figures
from scaling.protocol import register_plot

register_plot(RunFit, figures.plot_fit)
register_plot(FitResults, figures.plot_fit_grid)

__all__ = ["figures"]
