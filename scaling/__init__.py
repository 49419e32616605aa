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
"""

__version__ = "0.1.0"

from scaling import plotting as plotting  # registers each result's plot()
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

__all__ = [
    "__version__",
    "load", "fit", "fit_run", "forecast", "compare", "extrapolate", "plan",
    "backtest_forecast", "backtest_sizes", "Study", "StudySettings", "AcrossOptions", "report",
    "Dataset", "FitResults", "RunFit", "FitStatus",
    "FitOptions", "ForecastOptions", "CompareOptions",
    "DataError", "DataWarning", "FitError", "StatisticalWarning",
]  # fmt: skip
