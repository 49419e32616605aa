"""Stage 1 for one run: :func:`fit_run` is the batch engine (:mod:`scaling.fitting.engine`) on a batch of one.

There is one implementation of the point fit, its intervals and its status rules; this
module only prepares one run's arrays for it.  Fits never raise on a bad run: the result
carries a :class:`~scaling.fitting.status.FitStatus` saying why it should not be trusted.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from scaling.data.runtable import RunPoints, make_ident, prepare_run, runs_from_frame
from scaling.fitting.engine import entropy_trend_rows, fit_runs
from scaling.fitting.result import CORE_COLUMNS, FitOptions, RunFit
from scaling.fitting.status import (
    MIN_POINTS,
    PRE_FIT,
    R2_MIN,
    FitStatus,
    assign_statuses,
    precheck_message,
    precheck_rows,
    worst,
)

__all__ = [
    "fit_run", "run_points", "RunFit", "FitOptions", "FitStatus", "RunPoints", "prepare_run",
    "CORE_COLUMNS", "MIN_POINTS", "R2_MIN", "worst",
]  # fmt: skip


def fit_run(
    entropy: np.ndarray,
    perf: np.ndarray,
    step: np.ndarray | None = None,
    *,
    mode: Literal["free", "paper"] = "free",
    c: float | None = None,
    options: FitOptions | None = None,
    run: str = "run",
    model: str = "",
    params: float = math.nan,
    algorithm: str = "",
    seed: str = "",
) -> RunFit:
    """Fit ``Perf(S) = a - b exp(c S)`` to one run.

    Parameters
    ----------
    entropy, perf : array_like, shape (n,)
        Policy entropy (nats) and validation performance at the same points.
        Non-finite pairs are dropped.
    step : array_like, optional
        Training step of each point (orders the time series for HAC and the
        block bootstrap); default the given order.
    mode : {"free", "paper"}
        ``"free"`` fits c by variable projection; ``"paper"`` fixes c = 1 (Cui et al. 2025).
    c : float, optional
        Fix c at this value instead (overrides ``mode``; used by shared fits).
    options : FitOptions, optional
        Interval method, level, thresholds; see :class:`FitOptions`.
    run, model, params, algorithm, seed
        Identity recorded on the result.

    Returns
    -------
    RunFit
        Never raises on bad data: a run that cannot be fitted returns a result with
        NaN estimates and a status saying why.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.linspace(0.8, 0.1, 50)
    >>> fit = fit_run(S, 0.9 - 0.3 * np.exp(1.3 * S))
    >>> round(fit.ceiling, 6), round(fit.c, 6), fit.status.value
    (0.6, 1.3, 'ok')
    """
    opts = options or FitOptions()
    if mode not in ("free", "paper"):
        raise ValueError(f"mode must be 'free' or 'paper' for one run, got {mode!r}")
    r, _ = prepare_run(entropy, perf, step, make_ident(run, model, params, algorithm, seed))
    if c is not None:
        return fit_prepared(r, "shared", c, opts)
    return fit_prepared(r, mode, 1.0 if mode == "paper" else None, opts)


def fit_prepared(r: RunPoints, label: str, c_fixed: float | None, opts: FitOptions, cov_override=None) -> RunFit:
    """Fit one prepared run with the engine: c free (``c_fixed=None``) or fixed.

    ``label`` is the mode recorded on the result; ``cov_override`` replaces the covariance
    (a shared fit's joint covariance; statuses do not depend on it when c is fixed).
    """
    mode = "free" if c_fixed is None else "paper" if label == "paper" else "shared"
    fit = fit_runs([r], mode, opts, c=float(c_fixed) if mode == "shared" else None, search="full").fit(0)
    changes: dict = {}
    if fit.mode != label:
        changes["mode"] = label
    if cov_override is not None and fit.has_estimate:
        changes["cov"] = cov_override
    return replace(fit, **changes) if changes else fit


def no_estimate(r: RunPoints, mode: str, opts: FitOptions, status: FitStatus, message: str) -> RunFit:
    """A result without an estimate, for a run that was not fitted (``status`` says why)."""
    return RunFit(
        **r.ident,
        mode=mode,
        ci_method=opts.ci,
        alpha=opts.alpha,
        n_points=int(r.entropy.size),
        theta=np.full(3, np.nan),
        cov=np.full((3, 3), np.nan),
        status=status,
        flags=(status,),
        message=message,
        entropy=r.entropy,
        perf=r.perf,
        step=r.step,
        perf_range=opts.perf_range,
    )


def run_points(points: pd.DataFrame) -> dict[str, RunPoints]:
    """The runs of a :attr:`scaling.data.load.Dataset.points` table as ``run -> RunPoints`` (sorted by step).

    The identity carries ``run, model, params, algorithm, seed, task``.  The split is
    :func:`scaling.data.runtable.runs_from_frame`'s (vectorised; each run's points are views into
    one table).
    """
    return {r.ident["run"]: r for r in runs_from_frame(points)}


def precheck_run(r: RunPoints) -> tuple[FitStatus, str] | None:
    """Why one prepared run cannot be fitted (:func:`scaling.fitting.status.precheck_rows`), or None."""
    n = r.entropy.size
    if n < MIN_POINTS:
        return precheck_message(-1, n=n)
    code, size = precheck_rows(r.entropy[None, :], r.perf[None, :])
    if code[0] == PRE_FIT:
        return None
    return precheck_message(int(code[0]), n=n, size=float(size[0]), entropy=float(r.entropy[0]), perf=float(r.perf[0]))


def status_of_fit(
    r: RunPoints, theta, c_interval, at_bound: bool, fixed_c: bool, r2: float, opts: FitOptions, bounds,
    ceiling_interval=None,
) -> tuple[FitStatus, tuple[FitStatus, ...], str]:
    """:func:`scaling.fitting.status.assign_statuses` for one fit whose c interval or bounds were
    set by a joint fit (shared c); ``ceiling_interval`` (lo, hi) for the degenerate-fit check when
    c is free."""
    ranges = [np.array([[v.min(), v.max()]]) if v.size else np.full((1, 2), np.nan) for v in (r.entropy, r.perf)]
    status, flags, msgs = assign_statuses(
        tau=entropy_trend_rows(r.step[None, :], r.entropy[None, :]),
        r2=np.array([r2]),
        theta=np.asarray(theta, dtype=float)[None, :],
        at_bound=np.array([bool(at_bound)]),
        c_lo=np.array([c_interval[0]]),
        c_hi=np.array([c_interval[1]]),
        lo=np.array([bounds[0]]),
        hi=np.array([bounds[1]]),
        fixed=fixed_c,
        r2_min=opts.r2_min,
        perf_range=opts.perf_range,
        s_range=ranges[0],
        y_range=ranges[1],
        ceil_lo=None if ceiling_interval is None else np.array([ceiling_interval[0]]),
        ceil_hi=None if ceiling_interval is None else np.array([ceiling_interval[1]]),
    )
    return status[0], flags[0], msgs[0]
