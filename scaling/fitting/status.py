"""Statuses of a fit and the one implementation of the rules that assign them.

Both fitting paths (numpy and the compiled kernels) compute numbers only; the checks before a
fit (:func:`precheck_rows`) and the statuses and messages after it (:func:`assign_statuses`)
are decided here, once, from those numbers.  Thresholds live in :mod:`scaling.core.rules`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum

import numpy as np

from scaling.core.rules import (
    B_TINY_REL,
    COLLAPSE_TAU_MAX,
    CONSTANT_REL,
    EXACT_FIT,
    HUGE_VALUE,
    MIN_POINTS,
    MISFIT_ALPHA,
    NEAR_BOUND_FRAC,
    R2_MIN,
    REACH_MAX,
    TREND_TAU_MAX,
    ZERO_WIDTH_REL,
)
from scaling.fitting.diagnostics import ResidualChecks

__all__ = ["FitStatus", "USABLE_VALUES", "FLAG_ONLY", "worst", "precheck_rows", "precheck_message", "assign_statuses", "MIN_POINTS", "R2_MIN"]


class FitStatus(str, Enum):
    """Why a fit can or cannot be trusted; listed from most to least severe."""

    INVALID_DATA = "invalid data"
    """The run's rows failed validation (see the message): no estimate."""
    TOO_FEW_POINTS = "too few points"
    """Fewer than 4 usable points, or no spread in entropy or in performance: no estimate."""
    NOT_DECREASING = "entropy not decreasing"
    """Entropy does not fall over the run, so the law's premise fails; estimate shown but not usable."""
    LATE_COLLAPSE = "late collapse"
    """After its peak, performance falls by more than its noise while entropy does not rise: a
    one-sided test of the mean after the peak against the peak (a window of 10% of the points),
    with the noise of the run up to the peak (the law refitted there, AR(1) errors) and a level
    divided among the windows the peak was chosen from (:func:`scaling.fitting.diagnostics.late_collapse_rows`;
    thresholds in :mod:`scaling.core.rules`).  The message gives the peak's steps and the size of
    the fall.  The law does not describe the tail, so the estimates are not usable; the collapse
    is a finding about the run (count it per size), not noise to drop."""
    POOR_FIT = "poor fit"
    """R^2 below the threshold (default 0.6): the law does not describe this run."""
    AT_BOUND = "at bound"
    """c sits at its search bound |c| * range(S) = 20: the curve is a step, not an exponential."""
    DEGENERATE = "degenerate fit"
    """c free, and the fit is degenerate: the interval for c or the ceiling has zero width (while
    the fit is not exact) or is undefined, or b -> 0 with c at (within 1% of) a search bound.  The
    numbers describe no curve the data support."""
    FAR_EXTRAPOLATION = "far extrapolation"
    """The lowest observed entropy lies far from S = 0: the reach ``S_min / (S_max - S_min)``
    exceeds the threshold set by simulation (:data:`scaling.core.rules.REACH_MAX`), beyond which
    the ceiling's error grows past the whole observed rise in performance.  Its interval still
    covers (so the estimate is usable, with this caveat), but the ceiling is imprecise; the curve
    itself describes the observed run."""
    WEAK_C = "weakly identified c"
    """The interval for c reaches a search bound: the rate is not pinned down; the ceiling
    interval accounts for it but may be wide."""
    CEILING_OUT_OF_RANGE = "ceiling outside range"
    """The fit is good but the extrapolated ceiling lies outside the metric's range
    (e.g. above 1 for accuracy): the law over-extrapolates at zero entropy."""
    CEILING_BEYOND_DATA = "ceiling beyond data"
    """c < 0 (its whole interval below 0) and the ceiling lies outside the observed performance range: the curve bends away from
    the data (typically a plateau extrapolated upward), so the ceiling is not backed by any
    observation; the fit describes the run, the ceiling is a guess."""
    SYSTEMATIC_MISFIT = "systematic misfit"
    """The residuals follow a curve the law lacks: a Ramsey-type test adds the next power of
    ``g_c(S)`` to the fit's linearisation and finds its coefficient non-zero (two-sided t-test
    under AR(1) errors, Prais-Winsten, at :data:`scaling.core.rules.MISFIT_ALPHA`; false alarms
    on law runs with AR(1) noise measured by analyses/statuses.py).  Usable, with the caveat
    that the law is an approximation of this run's shape and its intervals assume the shape."""
    FORM_DISAGREEMENT = "form disagreement"
    """A flag beside the status, never a run's status: the fit is usable, and the ceiling's interval
    with c free and with c = 1 (the paper's form, fitted to the same points) do not overlap, so the ceiling
    depends on the form of the law more than its interval says.  Which form to believe:
    :func:`scaling.fitting.forms.preferred_form`."""
    OK = "ok"
    """Converged inside the bounds with a good fit."""

    @property
    def usable(self) -> bool:
        """Whether the estimates describe the run (possibly with a caveat)."""
        return self in (
            FitStatus.OK, FitStatus.SYSTEMATIC_MISFIT, FitStatus.CEILING_BEYOND_DATA, FitStatus.CEILING_OUT_OF_RANGE,
            FitStatus.WEAK_C, FitStatus.FAR_EXTRAPOLATION, FitStatus.FORM_DISAGREEMENT,
        )

    @property
    def explanation(self) -> str:
        """One sentence for people reading a report."""
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    FitStatus.INVALID_DATA: "The run's rows failed validation, so it was not fitted.",
    FitStatus.TOO_FEW_POINTS: "Too few usable validation points (or no spread in entropy or performance) to fit the law.",
    FitStatus.NOT_DECREASING: "Entropy does not fall over the run, so the law's premise does not hold.",
    FitStatus.LATE_COLLAPSE: "After its peak, performance fell by more than its noise while entropy did not rise: the law does not describe the run's end.",
    FitStatus.POOR_FIT: "The law explains too little of the variation in performance (low R²).",
    FitStatus.AT_BOUND: "The rate c hit its search bound: performance jumps rather than following an exponential.",
    FitStatus.DEGENERATE: "The fit is degenerate (a zero-width or undefined interval, or b -> 0 with c at a bound): its numbers are not estimates.",
    FitStatus.FAR_EXTRAPOLATION: "The ceiling lies far below the observed entropies: the curve describes the run, but the ceiling's interval is wide and its value imprecise.",
    FitStatus.WEAK_C: "The data barely constrain the rate c; the ceiling's interval is wide for that reason.",
    FitStatus.CEILING_OUT_OF_RANGE: "Good fit, but the predicted ceiling lies outside the metric's range.",
    FitStatus.CEILING_BEYOND_DATA: "c < 0 and the ceiling lies outside every observed value: the curve bends away from the data.",
    FitStatus.SYSTEMATIC_MISFIT: "The residuals follow a pattern the law lacks (added-curvature test): the curve is an approximation of this run.",
    FitStatus.FORM_DISAGREEMENT: "The ceilings with c free and with c = 1 disagree beyond their intervals: the ceiling depends on the form of the law.",
    FitStatus.OK: "Good fit with all parameters inside their bounds.",
}
_SEVERITY = list(FitStatus)
#: the values of the statuses whose estimates are usable (:attr:`FitStatus.usable`), for tables.
USABLE_VALUES: tuple[str, ...] = tuple(s.value for s in FitStatus if s.usable)
OK_MESSAGE = "converged inside the bounds"


#: flags that sit beside a run's status and never become it.
FLAG_ONLY: tuple[FitStatus, ...] = (FitStatus.FORM_DISAGREEMENT,)


def worst(flags: Sequence[FitStatus]) -> FitStatus:
    """The most severe status among ``flags`` (``OK`` when empty; :data:`FLAG_ONLY` flags do not count)."""
    flags = [f for f in flags if f not in FLAG_ONLY]
    return min(flags, key=_SEVERITY.index) if flags else FitStatus.OK


# ----- before a fit ------------------------------------------------------------------------
#: why a row cannot be fitted (codes of :func:`precheck_rows`)
PRE_FIT, PRE_HUGE, PRE_CONSTANT, PRE_FLAT_PERF = 0, 1, 2, 3


def precheck_rows(S: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of equal length can be fitted.

    Parameters
    ----------
    S, y : arrays (R, n)
        Entropy and performance of R runs of n finite points each.

    Returns
    -------
    code : int array (R,)
        :data:`PRE_FIT`, or why not: :data:`PRE_HUGE` (values of 1e100 or more overflow the
        exponentials and sums of squares: a limit of double precision, not of the units), :data:`PRE_CONSTANT` (constant entropy: c is not identified) or
        :data:`PRE_FLAT_PERF` (constant performance: nothing for the law to describe, and
        R^2 is undefined).
    size : array (R,)
        The largest magnitude of each row (for the message).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        smax, smin = S.max(axis=1), S.min(axis=1)
        ymax, ymin = y.max(axis=1), y.min(axis=1)
        s_abs = np.maximum(np.abs(smax), np.abs(smin))
        y_abs = np.maximum(np.abs(ymax), np.abs(ymin))
        size = np.maximum(s_abs, y_abs)
        huge = ~(size < HUGE_VALUE)
        # relative to the row's own magnitude (unit-free): a spread at the level of rounding is none
        const = ~huge & (smax - smin <= CONSTANT_REL * s_abs)
        flat = ~huge & ~const & (ymax - ymin <= CONSTANT_REL * y_abs)
    code = np.select([huge, const, flat], [PRE_HUGE, PRE_CONSTANT, PRE_FLAT_PERF], PRE_FIT)
    return code, size


def precheck_message(code: int, *, n: int, size: float = math.nan, entropy: float = math.nan, perf: float = math.nan) -> tuple[FitStatus, str]:
    """The status and message of a run that is not fitted.

    ``code`` is a :func:`precheck_rows` code, or None-like ``-1`` for fewer than
    :data:`MIN_POINTS` points; ``n`` the number of points; ``size``, ``entropy``, ``perf`` the
    row's largest magnitude and its first entropy and performance.
    """
    if n < MIN_POINTS:
        return FitStatus.TOO_FEW_POINTS, f"{n} usable points; at least {MIN_POINTS} are needed"
    if code == PRE_HUGE:
        return FitStatus.INVALID_DATA, (
            f"values as large as {size:.3g} overflow double precision; rescale entropy or perf below 1e100"
        )
    if code == PRE_CONSTANT:
        return FitStatus.TOO_FEW_POINTS, f"entropy is constant ({entropy:.4g} nats) over the run: the law is not identified"
    if code == PRE_FLAT_PERF:
        return FitStatus.TOO_FEW_POINTS, (
            f"performance is constant ({perf:.4g}) over the run: there is no change for the law to describe"
        )
    raise ValueError(f"code {code} is not a reason to skip a fit")


# ----- after a fit -------------------------------------------------------------------------
def _num(x: float, spec: str) -> str:
    """``x`` formatted, or "undefined" when it is not finite: NaN never reaches a message."""
    return format(x, spec) if math.isfinite(x) else "undefined"


def assign_statuses(
    *,
    tau: np.ndarray,
    r2: np.ndarray,
    theta: np.ndarray,
    at_bound: np.ndarray,
    c_lo: np.ndarray,
    c_hi: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    fixed: bool,
    r2_min: float,
    perf_range: tuple[float, float] | None,
    s_range: np.ndarray | None = None,
    y_range: np.ndarray | None = None,
    ceil_lo: np.ndarray | None = None,
    ceil_hi: np.ndarray | None = None,
    checks: ResidualChecks | None = None,
) -> tuple[list[FitStatus], list[tuple[FitStatus, ...]], list[str]]:
    """Status, flags and message of every fitted row, from the numbers of its fit.

    Parameters
    ----------
    tau : array (R,)
        Kendall's tau between step and entropy (or -1 where a fall is certain).
    r2 : array (R,)
        R^2 of the fit.
    theta : array (R, 3)
        ``(P0, beta, c)``.
    at_bound : bool array (R,)
        c ended at its search bound.
    c_lo, c_hi : arrays (R,)
        The interval for c (equal to c when c is fixed).
    lo, hi : arrays (R,)
        The search bounds of c.
    fixed : bool
        c was fixed (no bound or identification checks).
    r2_min : float
        R^2 below which a fit is POOR_FIT.
    perf_range : (float, float) or None
        The metric's range for the ceiling check.
    s_range, y_range : arrays (R, 2), optional
        The observed (min, max) of entropy and of performance of each run: the reach
        (FAR_EXTRAPOLATION), the unit-free scales of the degenerate-fit checks and the
        observed range of CEILING_BEYOND_DATA.  Without them those rules are skipped.
    ceil_lo, ceil_hi : arrays (R,), optional
        The interval for the ceiling (its zero-width or undefined check when c is free).
    checks : ResidualChecks, optional
        The numbers of the late-collapse and misfit tests
        (:func:`scaling.fitting.diagnostics.check_residuals`); without them those rules are skipped.

    Returns
    -------
    status, flags, message : lists of length R
    """
    decreasing = tau < TREND_TAU_MAX
    good_r2 = r2 >= r2_min
    none = np.zeros(len(tau), dtype=bool)
    bound = at_bound if not fixed else none
    R = len(tau)
    nan = np.full(R, np.nan)
    s_min, s_max = (s_range[:, 0], s_range[:, 1]) if s_range is not None else (nan, nan)
    y_min, y_max = (y_range[:, 0], y_range[:, 1]) if y_range is not None else (nan, nan)
    with np.errstate(all="ignore"):  # huge or NaN values reach here only as NaN rules (False)
        s_span, y_span = s_max - s_min, y_max - y_min
        reach = s_min / s_span
        b = np.where(theta[:, 2] != 0, theta[:, 1] / theta[:, 2], np.nan)
    with np.errstate(all="ignore"):
        have = s_range is not None and y_range is not None
        far = have & (reach > REACH_MAX)
        if fixed or not have:
            c_undef = c_zero = p_undef = p_zero = b_tiny = none
        else:
            exact = ~(1.0 - r2 > EXACT_FIT)  # an exact fit's zero-width intervals are genuine
            c_undef = ~(np.isfinite(c_lo) & np.isfinite(c_hi))
            c_zero = ~c_undef & ~exact & ((c_hi - c_lo) * s_span <= ZERO_WIDTH_REL)
            if ceil_lo is not None and ceil_hi is not None:
                p_undef = ~(np.isfinite(ceil_lo) & np.isfinite(ceil_hi))
                p_zero = ~p_undef & ~exact & ((ceil_hi - ceil_lo) <= ZERO_WIDTH_REL * y_span)
            else:
                p_undef = p_zero = none
            near = np.minimum(theta[:, 2] - lo, hi - theta[:, 2]) <= NEAR_BOUND_FRAC * (hi - lo)
            b_tiny = ~at_bound & near & (np.abs(b) <= B_TINY_REL * y_span)
        degenerate = ~bound & (c_undef | c_zero | p_undef | p_zero | b_tiny)
        weak = ~at_bound & ~degenerate & ~((c_lo > lo) & (c_hi < hi)) if not fixed else none
        # c < 0 established (its whole interval below 0: a fitted c that only noise pushed below 0 on a
        # nearly linear run does not count) and a ceiling outside every observed value
        beyond = (theta[:, 2] < 0) & (c_hi < 0) & ~((y_min <= theta[:, 0]) & (theta[:, 0] <= y_max)) if have else none
    if perf_range is not None:
        lo_m, hi_m = perf_range
        out_range = ~((lo_m <= theta[:, 0]) & (theta[:, 0] <= hi_m))
    else:
        out_range = none
    if checks is not None:
        with np.errstate(invalid="ignore"):  # NaN numbers (not computed) fire no rule
            collapse = (checks.fall_z > checks.fall_crit) & (checks.tail_tau <= COLLAPSE_TAU_MAX)
            misfit = np.abs(checks.misfit_t) > checks.misfit_crit
    else:
        collapse = misfit = none
    clean = decreasing & good_r2 & ~bound & ~degenerate & ~far & ~weak & ~out_range & ~beyond & ~collapse & ~misfit
    status, flags, msgs = [FitStatus.OK] * R, [()] * R, [OK_MESSAGE] * R
    for i in np.flatnonzero(~clean):
        fl, notes = [], []
        if not decreasing[i]:
            fl.append(FitStatus.NOT_DECREASING)
            notes.append(f"entropy does not fall over steps (Kendall tau {_num(tau[i], '+.2f')})")
        if collapse[i]:
            fl.append(FitStatus.LATE_COLLAPSE)
            notes.append(_collapse_note(checks, i))
        if not good_r2[i]:
            fl.append(FitStatus.POOR_FIT)
            notes.append(f"R2 = {_num(r2[i], '.2f')} < {r2_min}")
        if bound[i]:
            fl.append(FitStatus.AT_BOUND)
            notes.append(f"c = {theta[i, 2]:.3g} at its bound [{lo[i]:.3g}, {hi[i]:.3g}]")
        elif degenerate[i]:
            fl.append(FitStatus.DEGENERATE)
            why = []
            if c_undef[i]:
                why.append("the interval for c is undefined")
            elif c_zero[i]:
                why.append(f"the interval for c [{_num(c_lo[i], '.6g')}, {_num(c_hi[i], '.6g')}] has zero width (the fit is not exact)")
            if p_undef[i]:
                why.append("the interval for the ceiling is undefined")
            elif p_zero[i]:
                why.append(f"the interval for the ceiling [{_num(ceil_lo[i], '.6g')}, {_num(ceil_hi[i], '.6g')}] has zero width (the fit is not exact)")
            if b_tiny[i]:
                why.append(f"b = {_num(b[i], '.3g')} -> 0 with c = {theta[i, 2]:.4g} at its search bound [{lo[i]:.4g}, {hi[i]:.4g}]")
            notes.append("degenerate fit: " + ", ".join(why))
        if far[i]:
            fl.append(FitStatus.FAR_EXTRAPOLATION)
            notes.append(
                f"far extrapolation: the lowest entropy {s_min[i]:.3g} is {reach[i]:.2f} times the observed entropy "
                f"range [{s_min[i]:.3g}, {s_max[i]:.3g}] away from S = 0 (reach above {REACH_MAX:g})"
            )
        if weak[i]:
            fl.append(FitStatus.WEAK_C)
            notes.append(
                f"interval for c [{_num(c_lo[i], '.3g')}, {_num(c_hi[i], '.3g')}] reaches the search bounds "
                f"[{lo[i]:.3g}, {hi[i]:.3g}]"
            )
        if out_range[i]:
            lo_m, hi_m = perf_range
            fl.append(FitStatus.CEILING_OUT_OF_RANGE)
            notes.append(f"ceiling {_num(theta[i, 0], '.4g')} outside the metric's range [{lo_m:g}, {hi_m:g}]")
        if beyond[i]:
            fl.append(FitStatus.CEILING_BEYOND_DATA)
            notes.append(
                f"c = {theta[i, 2]:.3g} < 0 (interval [{_num(c_lo[i], '.3g')}, {_num(c_hi[i], '.3g')}]) and the ceiling {_num(theta[i, 0], '.4g')} lies outside the observed "
                f"performance [{y_min[i]:.4g}, {y_max[i]:.4g}]: the curve bends away from the data"
            )
        if misfit[i]:
            fl.append(FitStatus.SYSTEMATIC_MISFIT)
            notes.append(
                f"systematic misfit: an added curvature term (the next power of g_c(S)) has t = {checks.misfit_t[i]:+.2f}, "
                f"beyond +-{checks.misfit_crit[i]:.2f} (two-sided {MISFIT_ALPHA:g} level under AR(1) errors): the residuals follow a curve the law lacks"
            )
        status[i] = worst(fl)
        flags[i] = tuple(fl)
        msgs[i] = "; ".join(notes) if notes else OK_MESSAGE
    return status, flags, msgs


def _collapse_note(checks: ResidualChecks, i: int) -> str:
    """The message of a late collapse: where the peak is and how far performance fell."""
    return (
        f"late collapse: performance peaks at {checks.peak_level[i]:.4g} (mean over steps {checks.peak_first[i]:g}-{checks.peak_last[i]:g}) "
        f"and then falls by {checks.fall[i]:.3g} (to a mean of {checks.tail_level[i]:.4g} over the {int(checks.n_tail[i])} points "
        f"from step {checks.tail_first[i]:g}), {checks.fall_z[i]:.1f} times its noise (AR(1); threshold {checks.fall_crit[i]:.1f}), "
        f"while entropy does not rise (Kendall tau {checks.tail_tau[i]:+.2f} from the peak on)"
    )


def r_squared(rss: np.ndarray, tss: np.ndarray) -> np.ndarray:
    """``1 - RSS/TSS``; NaN where TSS is not positive (rows the precheck has set aside)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tss > 0, 1.0 - rss / tss, np.nan)
