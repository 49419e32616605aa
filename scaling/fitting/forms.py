"""Form uncertainty: the ceiling with c free beside the ceiling with c = 1 (the paper's form).

The ceiling is an extrapolation to S = 0, and its interval assumes the form of the law is known.
Two forms fit most runs about equally well in the observed range and part ways at S = 0: c fitted
per run (this project's canonical form) and c = 1 (Cui et al. 2025).  So every free-c fit
(:func:`scaling.fitting.engine.fit_runs`, ``mode="free"``) also fits the same points with c = 1,
in one more batched call of the engine (``mode="paper"``, made when the results are first read:
:attr:`scaling.fitting.engine.BatchFit.paper`), and reports

* ``ceiling_c1`` with its interval ``ceiling_c1_lo``, ``ceiling_c1_hi``: the paper-mode fit's own
  HAC interval at the same level, also when the free-c fit's intervals are bootstrapped (with c
  fixed the fit is linear in (P0, beta); a second bootstrap would add about 60% to the first);
* ``delta_aicc_c1 = AICc(free c) - AICc(c = 1)`` on the same points (negative favours free c);
* the flag :attr:`~scaling.fitting.status.FitStatus.FORM_DISAGREEMENT` among the run's flags
  (beside its status, which it never changes) when the fit is usable and the two ceiling
  intervals do not overlap (:func:`disagree`);
* which form to believe (:func:`preferred_form`): the one with the lower AICc, unless the residual
  check finds a systematic pattern in one fit's residuals and not in the other's.

c = 1 is "per nat": entropy is taken in nats.  Entropy in bits (or rescaled in any way) makes
c = 1 a different curve (c = 1 per bit is c = 1/ln 2 per nat), while the free-c fit only rescales
its c.  So ``ceiling_c1`` and the flag are meaningful only for entropies in nats.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from scaling.fitting.status import FitStatus

if TYPE_CHECKING:  # pragma: no cover
    from scaling.fitting.result import RunFit

__all__ = ["FREE", "MISFIT_STATUSES", "PAPER", "choose_form", "disagree", "disjoint", "form_flags", "preferred_form"]

#: the two forms, named as the engine's modes.
FREE, PAPER = "free", "paper"
#: the words for each form in messages and reports.
FORM_WORDS = {FREE: "free c", PAPER: "c = 1"}

#: the residual check's statuses: a fit flagged with one of them shows a systematic pattern in its
#: residuals (the added-curvature test of :mod:`scaling.fitting.diagnostics`), which overrules AICc
#: in :func:`choose_form`.
MISFIT_STATUSES: tuple[FitStatus, ...] = (FitStatus.SYSTEMATIC_MISFIT,)


def disjoint(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray) -> np.ndarray:
    """Whether intervals ``[lo_a, hi_a]`` and ``[lo_b, hi_b]`` do not overlap (False where one is undefined).

    Examples
    --------
    >>> disjoint(np.array([0.538, 0.5]), np.array([0.572, 0.6]), np.array([0.592, 0.55]), np.array([0.618, 0.7]))
    array([ True, False])
    """
    with np.errstate(invalid="ignore"):
        return np.asarray((hi_a < lo_b) | (hi_b < lo_a))


def disagree(usable: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_c1: np.ndarray, hi_c1: np.ndarray) -> np.ndarray:
    """The rule of the flag ``form disagreement``: a free-c fit with a usable status whose ceiling
    interval ``[lo, hi]`` and the c = 1 one ``[lo_c1, hi_c1]`` do not overlap.

    A fit whose status is not usable (poor fit, c at a bound, ...) has no ceiling to compare: its
    status says so already.
    """
    return np.asarray(usable, dtype=bool) & disjoint(lo, hi, lo_c1, hi_c1)


def form_flags(fit: RunFit) -> tuple[FitStatus, ...]:
    """``(FitStatus.FORM_DISAGREEMENT,)`` when :func:`disagree` holds for one fit (at its level),
    else ``()``; :attr:`scaling.fitting.engine.BatchFit.flags` applies the rule to a batch."""
    if fit.paper is None:
        return ()
    (lo, hi), (lo1, hi1) = fit.conf_int("ceiling"), fit.conf_int("ceiling_c1")
    return (FitStatus.FORM_DISAGREEMENT,) if disagree(fit.status.usable, lo, hi, lo1, hi1) else ()


def choose_form(delta_aicc: float, misfit_free: bool, misfit_paper: bool) -> tuple[str, str]:
    """The rule: which form to believe, and why.

    Parameters
    ----------
    delta_aicc : float
        ``AICc(free c) - AICc(c = 1)`` on the same points.
    misfit_free, misfit_paper : bool
        Whether the residual check flags each fit (:data:`MISFIT_STATUSES`).

    Returns
    -------
    (form, why)
        ``form`` is :data:`FREE` or :data:`PAPER` (``""`` when AICc is undefined and the residual
        check cannot decide); ``why`` a clause for a report.

    Notes
    -----
    A systematic pattern in the residuals of one fit and not the other overrules AICc: a form that
    misses the shape of the run extrapolates it wrongly, however its likelihood compares.  Otherwise
    the lower AICc wins (the free c pays for its extra parameter; a tie goes to c = 1, the simpler
    form).  A difference under 2 is weak evidence, and the reason says so.

    Examples
    --------
    >>> choose_form(-12.3, False, False)
    ('free', 'its AICc is lower by 12.3')
    >>> choose_form(-12.3, True, False)[0]
    'paper'
    """
    if misfit_free != misfit_paper:
        bad = FREE if misfit_free else PAPER
        return (PAPER if misfit_free else FREE), f"the {FORM_WORDS[bad]} fit leaves a systematic pattern in its residuals"
    if not math.isfinite(delta_aicc):
        return "", "AICc is undefined"
    form = FREE if delta_aicc < 0 else PAPER
    gap = abs(delta_aicc)
    why = f"its AICc is lower by {gap:.1f}" if gap > 0 else "its AICc is as low, with one parameter fewer"
    return form, why + (" (a difference under 2: weak evidence)" if gap < 2 else "")


def preferred_form(fit: RunFit) -> tuple[str, str]:
    """Which form to believe for one free-c fit, and why (:func:`choose_form` on its numbers).

    Parameters
    ----------
    fit : RunFit
        A free-c fit with its c = 1 companion (:attr:`RunFit.paper`).

    Returns
    -------
    (form, why)
        ``("", reason)`` when the run lacks one of the two fits.
    """
    paper = fit.paper
    if paper is None or not (fit.has_estimate and paper.has_estimate):
        return "", "the run has no estimate with both forms"
    misfit_free = any(s in MISFIT_STATUSES for s in fit.flags)
    misfit_paper = any(s in MISFIT_STATUSES for s in paper.flags)
    return choose_form(fit.delta_aicc_c1, misfit_free, misfit_paper)
