"""entropy-scaling: fit the entropy-performance law of RL runs and predict ceilings.

The public API, one function per job::

    import scaling as sc
    ds = sc.load("data/runs.csv", run="task,model,algorithm,seed", perf="val_acc")
    fits = sc.fit(ds)                      # per-run law, intervals, statuses
    fits.summary(); fits.conf_int(alpha=0.1)
    sc.forecast(ds)                        # where runs end, from their first 15%
    sc.compare(ds)                         # does the algorithm change the curve?
    sc.extrapolate(ds, to=[3e9, 7e10])     # ceilings of unseen sizes
    sc.plan(ds, target=0.95)               # the size needed for a target ceiling
    study = sc.Study.run(ds)               # all of the above once, on one settings object
    sc.report(study, "report")             # the HTML page, rendered from the study

Every result has ``summary()`` (a DataFrame), ``to_frame()``, ``plot()`` and a notebook view.

The names are imported on first use (PEP 562 ``__getattr__``), so that ``import scaling`` and
the ``scaling`` command start without loading scipy, statsmodels or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> (module, attribute in that module); imported on first access.
_LAZY: dict[str, tuple[str, str]] = {
    "load": ("scaling.data.sources", "load"),
    "fit": ("scaling.fitting.dataset", "fit_dataset"),
    "fit_run": ("scaling.fitting.single", "fit_run"),
    "forecast": ("scaling.forecasting.forecast", "forecast_dataset"),
    "compare": ("scaling.comparison", "compare_algorithms"),
    "extrapolate": ("scaling.across.extrapolation", "extrapolate"),
    "plan": ("scaling.across.extrapolation", "plan"),
    "backtest_forecast": ("scaling.forecasting.forecast", "backtest_forecast"),
    "backtest_sizes": ("scaling.across.backtest", "backtest_sizes"),
    "Study": ("scaling.study", "Study"),
    "StudySettings": ("scaling.study", "StudySettings"),
    "AcrossOptions": ("scaling.study", "AcrossOptions"),
    "report": ("scaling.reporting.page", "write_report"),
    "Dataset": ("scaling.data.load", "Dataset"),
    "FitResults": ("scaling.fitting.dataset", "FitResults"),
    "RunFit": ("scaling.fitting.result", "RunFit"),
    "FitStatus": ("scaling.fitting.status", "FitStatus"),
    "FitOptions": ("scaling.fitting.result", "FitOptions"),
    "ForecastOptions": ("scaling.forecasting.forecast", "ForecastOptions"),
    "CompareOptions": ("scaling.comparison", "CompareOptions"),
    "DataError": ("scaling.exceptions", "DataError"),
    "DataWarning": ("scaling.exceptions", "DataWarning"),
    "FitError": ("scaling.exceptions", "FitError"),
    "StatisticalWarning": ("scaling.exceptions", "StatisticalWarning"),
}

#: subpackages reachable as attributes (``sc.plotting``) without an explicit import.
_SUBMODULES = frozenset(
    {"across", "cli", "comparison", "core", "data", "exceptions", "fitting", "forecasting", "outputs",
     "plotting", "progress", "protocol", "reporting", "simulate", "study", "textsafe"}
)  # fmt: skip

__all__ = [
    "__version__",
    "load", "fit", "fit_run", "forecast", "compare", "extrapolate", "plan",
    "backtest_forecast", "backtest_sizes", "Study", "StudySettings", "AcrossOptions", "report",
    "Dataset", "FitResults", "RunFit", "FitStatus",
    "FitOptions", "ForecastOptions", "CompareOptions",
    "DataError", "DataWarning", "FitError", "StatisticalWarning",
]  # fmt: skip

if TYPE_CHECKING:  # pragma: no cover - what static tools see
    from scaling import plotting as plotting
    from scaling.across.backtest import backtest_sizes
    from scaling.across.extrapolation import extrapolate, plan
    from scaling.comparison import CompareOptions
    from scaling.comparison import compare_algorithms as compare
    from scaling.data.load import Dataset
    from scaling.data.sources import load
    from scaling.exceptions import DataError, DataWarning, FitError, StatisticalWarning
    from scaling.fitting.dataset import FitResults
    from scaling.fitting.dataset import fit_dataset as fit
    from scaling.fitting.result import FitOptions, RunFit
    from scaling.fitting.single import fit_run
    from scaling.fitting.status import FitStatus
    from scaling.forecasting.forecast import ForecastOptions, backtest_forecast
    from scaling.forecasting.forecast import forecast_dataset as forecast
    from scaling.reporting.page import write_report as report
    from scaling.study import AcrossOptions, Study, StudySettings


def __getattr__(name: str) -> Any:
    """Import a public name (or a subpackage) on its first access and cache it in the module.

    Parameters
    ----------
    name : str
        The attribute asked for, e.g. ``"fit"`` or ``"plotting"``.

    Returns
    -------
    Any
        The object :data:`__all__` promises under that name, or the subpackage.

    Raises
    ------
    AttributeError
        When ``name`` is neither a public name nor a subpackage.
    """
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the lazily imported ones included (what ``dir(scaling)`` lists)."""
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
