"""Across sizes in one call: stage 1 and stage 2 fitted, then predictions or a plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from scaling.across.predict import AcrossResults, Plan, fit_across
from scaling.across.predict import plan as plan_task
from scaling.data.load import Dataset
from scaling.protocol import ResultMixin


@dataclass(frozen=True, eq=False)
class Extrapolation(ResultMixin):
    """Predicted ceilings (and a, b) of unseen model sizes.

    Attributes
    ----------
    across : AcrossResults
        The two-stage fit per task (:func:`scaling.across.predict.fit_across`).
    predictions : DataFrame
        One row per task and size (:meth:`AcrossResults.predict`).
    """

    across: AcrossResults
    predictions: pd.DataFrame

    _plot_kind: ClassVar[str | None] = "ceiling_vs_params"

    def _plot_inputs(self) -> tuple[tuple, dict]:
        """The fitted sizes, the curve and the predicted sizes of the one task with an estimate."""
        tasks = [r for r in self.across if r.stage1 is not None]
        if len(tasks) != 1:
            raise TypeError(f"plot one task at a time: extrapolation.across[task].plot() (tasks: {[r.task for r in tasks]})")
        args, kw = tasks[0]._plot_inputs()
        pred = self.predictions[self.predictions["task"] == tasks[0].task]
        ex = pd.DataFrame({"params": pred["params"], "mean": pred["ceiling_pred"], "lo": pred["ceiling_lo"],
                           "hi": pred["ceiling_hi"], "model": [f"{p:.3g}" for p in pred["params"]]})  # fmt: skip
        return (args[0], args[1], ex), kw

    def summary(self) -> pd.DataFrame:
        """Per task and size: predicted ceiling with its prediction interval, and the reach in decades."""
        cols = ["task", "params", "decades_beyond", "ceiling_pred", "ceiling_lo", "ceiling_hi", "status", "forms_disagree"]
        return self.predictions[[c for c in cols if c in self.predictions.columns]]

    def to_frame(self) -> pd.DataFrame:
        """Every prediction column."""
        return self.predictions.copy()

    def predict(self, params: Sequence[float], *, n_runs: float | None = None, interval: str | None = None) -> pd.DataFrame:
        """Predictions at other sizes from the same fit."""
        return self.across.predict(params, n_runs=n_runs, interval=interval)


def extrapolate(data: Dataset, to: Sequence[float], *, n_runs: float | None = None, **kwargs: Any) -> Extrapolation:
    """Fit both stages across model sizes and predict the ceiling at the sizes ``to``.

    Parameters
    ----------
    data : Dataset
        Runs of several model sizes (``params`` known for each).
    to : sequence of float
        Parameter counts to predict.
    n_runs : float, optional
        Runs a new model would be fitted from (default: the median of the fitted models).
    **kwargs
        Passed to :func:`scaling.across.predict.fit_across` (``tasks``, ``c``, ``method``,
        ``link``, ``form``, ``level``, ``algorithms``, ``r2_min``, ``n_boot``, ``seed``).

    Returns
    -------
    Extrapolation
    """
    sizes = np.atleast_1d(np.asarray(to, dtype=float))
    if sizes.size == 0 or not (np.isfinite(sizes) & (sizes > 0)).all():
        raise ValueError(f"to must be positive parameter counts, got {list(sizes)}")
    across = fit_across(data, **kwargs)
    return Extrapolation(across, across.predict(sizes, n_runs=n_runs))


@dataclass(frozen=True, eq=False)
class Plans(ResultMixin):
    """The smallest size reaching a target ceiling, per task (:class:`scaling.across.predict.Plan`)."""

    plans: tuple[Plan, ...]

    def summary(self) -> pd.DataFrame:
        """One row per task: the smallest parameter count, its probability and status."""
        return pd.concat([p.summary() for p in self.plans], ignore_index=True)

    def to_frame(self) -> pd.DataFrame:
        """The predicted ceiling curve of every task, with the probability of reaching the target."""
        frames = [p.curve.assign(task=p.task) for p in self.plans if len(p.curve)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plan(
    data: Dataset | AcrossResults,
    target: float,
    prob: float = 0.8,
    *,
    size_range: tuple[float, float] | None = None,
    n_runs: float | None = None,
    **kwargs: Any,
) -> Plans:
    """Smallest parameter count whose ceiling reaches ``target`` with probability ``prob``, per task.

    Parameters
    ----------
    data : Dataset or AcrossResults
        Runs (both stages are fitted with ``**kwargs`` as in :func:`extrapolate`), or a fit.
    target : float
        Ceiling to reach, in the unit of perf.
    prob : float
        Required probability that a new model of that size reaches it.
    size_range : (float, float), optional
        Sizes searched (default: a tenth of the smallest to 1000 times the largest fitted size).
    n_runs : float, optional
        Runs the new model would be fitted from.

    Returns
    -------
    Plans
    """
    across = data if isinstance(data, AcrossResults) else fit_across(data, **kwargs)
    return Plans(tuple(plan_task(r, target, prob, size_range=size_range, n_runs=n_runs) for r in across))
