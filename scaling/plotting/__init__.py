"""Figures: functions that take results and return matplotlib Axes or Figures.

Importing this package registers the drawing function of each kind of result figure with
:func:`scaling.protocol.register_plot`, so that ``result.plot()`` works on every result.
"""

from scaling.plotting import figures
from scaling.protocol import register_plot

register_plot("fit", figures.plot_fit)
register_plot("fit_grid", figures.plot_fit_grid)
register_plot("forecast", figures.plot_forecast)
register_plot("algorithm_overlay", figures.plot_algorithm_overlay)
register_plot("ceiling_vs_params", figures.plot_ceiling_vs_params)

__all__ = ["figures"]
