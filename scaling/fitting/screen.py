"""Screening runs from fits made already: the status a fresh free fit would get, without refitting.

The analyses that pool runs (stage 1 across sizes, the algorithm comparison) keep only
runs whose own free fit is usable.  :func:`rescreen` reads that status off a fit made
already (:func:`scaling.fitting.dataset.fit_dataset`), so a study fits every run once.
:func:`screen_fits` is what the screenings call: given fits where they can be read off, one
engine call for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from scaling.core import intervals
from scaling.fitting import forms
from scaling.fitting.engine import fit_runs
from scaling.fitting.single import FitOptions, FitStatus, RunFit, RunPoints, status_of_fit


def rescreen(fit: RunFit, options: FitOptions) -> RunFit | None:
    """The status a fresh free fit of the same run would get under other thresholds, without refitting.

    A run's status depends on its point estimate (fixed by the data) and on the
    options' ``alpha`` (through the interval of c), ``perf_range`` and ``r2_min``.
    Given a free fit with HAC intervals at the default lags, this recomputes the
    status, flags and message exactly as
    ``fit_run(entropy, perf, step, mode="free", options=options)`` would, so that
    analyses which only screen runs (stage 1 across sizes, the algorithm comparison)
    can reuse the fits of :func:`scaling.fitting.dataset.fit_dataset` instead of fitting every run again.

    Parameters
    ----------
    fit : RunFit
        A run's fit, e.g. from :func:`scaling.fitting.dataset.fit_dataset` in mode ``free`` with ``ci="hac"``.
    options : FitOptions
        The screening's options (``ci="hac"`` and ``maxlags=None``; the others are free).

    Returns
    -------
    RunFit or None
        The fit with ``status``, ``flags``, ``message``, ``alpha`` and ``perf_range`` of a fit under
        ``options`` (estimates unchanged), or None when ``fit`` cannot tell: c fixed or
        shared, bootstrap intervals, other HAC lags, or options that need them.

    Examples
    --------
    >>> import numpy as np
    >>> from scaling.fitting.single import fit_run
    >>> S = np.linspace(0.8, 0.1, 40)
    >>> y = 1.35 - 0.3 * np.exp(1.3 * S) + 0.002 * np.cos(7 * S)
    >>> fit = fit_run(S, y, options=FitOptions(perf_range=(0.0, 1.0)))
    >>> fit.status.value, rescreen(fit, FitOptions(perf_range=None)).status.value
    ('ceiling outside range', 'ok')
    """
    if options.ci != "hac" or options.maxlags is not None:
        return None
    if not fit.has_estimate:  # a run too short or degenerate: its status does not depend on the options
        return replace(fit, alpha=options.alpha, perf_range=options.perf_range) if fit.status in (FitStatus.TOO_FEW_POINTS, FitStatus.INVALID_DATA) else None
    if fit.mode != "free" or fit.fixed_c or fit.ci_method != "hac" or fit.replicates is not None:
        return None
    if fit.hac_lags != intervals.newey_west_lags(fit.n_points):
        return None
    fit = replace(fit, alpha=options.alpha, perf_range=options.perf_range)
    points = RunPoints(fit.entropy, fit.perf, fit.step, {})
    at_bound = FitStatus.AT_BOUND in fit.flags
    status, flags, message = status_of_fit(
        points, fit.theta, fit.conf_int("c"), at_bound, False, fit.r2, options, fit.bounds, fit.conf_int("ceiling")
    )
    fit = replace(fit, status=status, flags=flags, message=message)
    return replace(fit, flags=flags + forms.form_flags(fit))  # the form flag reads the new status and level


def screen_fits(runs: Sequence[RunPoints], options: FitOptions, fits: Mapping[str, RunFit] | None = None) -> list[RunFit]:
    """The free fit of each run under ``options``, as a screening needs it.

    A run whose fit is given (and can be re-screened, :func:`rescreen`) is not fitted again; the
    others are fitted together in one call of the engine (:func:`scaling.fitting.engine.fit_runs`,
    full grid: the same fit as :func:`scaling.fitting.single.fit_run`).

    Parameters
    ----------
    runs : sequence of RunPoints
        The runs, with ``ident["run"]`` naming them.
    options : FitOptions
        The screening's thresholds.
    fits : mapping of run id to RunFit, optional
        Fits made already.

    Returns
    -------
    list of RunFit
        One per run, in order.
    """
    out: list[RunFit | None] = []
    for r in runs:
        given = fits.get(r.ident["run"]) if fits is not None else None
        out.append(rescreen(given, options) if given is not None else None)
    todo = [i for i, f in enumerate(out) if f is None]
    if todo:
        for i, f in zip(todo, fit_runs([runs[i] for i in todo], "free", options, search="full").to_fits()):
            out[i] = f
    return out  # type: ignore[return-value]
