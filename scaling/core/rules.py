"""Constants of the search and of the status rules, shared by the numpy and compiled paths.

Every rule that decides a status or a message is applied in :mod:`scaling.fitting.status`;
the compiled kernels (:mod:`scaling.core._kernels`) only compute the numbers those rules read,
and take their constants from here, so the two paths cannot drift apart.
"""

from __future__ import annotations

#: the search for c covers ``|c| * range(S) <= C_SPAN``.
C_SPAN = 20.0
#: points of the profile grid over that range (plus c = 0; the grid is unit-free).
GRID_SIZE = 401
#: the coarse search evaluates every COARSE_EVERY-th grid point (a divisor of 400 but not of
#: 200, so that no coarse point sits at c ~ 0, where the fast kernel loses digits).
COARSE_EVERY = 16
#: a profile that varies by at most FLAT_TOL of the total sum of squares is flat.
FLAT_TOL = 1e-10
#: beyond ``c*S - log|c| > LOG_BIG`` the profile overflows (NaN there).
LOG_BIG = 350.0

#: fewer usable points than this give no estimate.
MIN_POINTS = 4
#: values this large (or larger) overflow the exponentials: no estimate (the one absolute threshold:
#: a limit of double precision; every fit runs in internal units, :mod:`scaling.core.units`).
HUGE_VALUE = 1e100
#: a series whose range is at most CONSTANT_REL times its largest magnitude is constant (unit-free).
CONSTANT_REL = 1e-12
#: entropy "falls" when Kendall's tau between step and entropy is below this.
TREND_TAU_MAX = -0.2
#: Daniels' inequality ``3 tau - 2 rho <= 1`` (untied data): Spearman's rho below this
#: guarantees tau < TREND_TAU_MAX.
TREND_RHO_SURE = (3.0 * TREND_TAU_MAX - 1.0) / 2.0
#: with D discordant pairs of N0, tau-b <= 1 - 2 D / N0: D above this share of N0 guarantees a fall.
TREND_DISCORDANT_SURE = (1.0 - TREND_TAU_MAX) / 2.0
#: default R^2 below which a fit is POOR_FIT.
R2_MIN = 0.6

#: reach ``S_min / (S_max - S_min)`` above which the ceiling is FAR_EXTRAPOLATION.  Set by
#: analyses/reach.py (table in analyses/results/reach.md): on law runs with AR(1) noise the 95%
#: ceiling interval still covers (0.87-0.91 in the worst design up to reach 3) and the bias stays
#: small, but the ceiling's RMSE grows past the whole observed rise in performance between reach 1
#: (worst design 0.27 for a 0.3 rise) and 1.5 (1.1): beyond reach 1 the ceiling is a guess, even
#: when the law holds exactly.
REACH_MAX = 1.0
#: an interval is of zero width when it spans at most ZERO_WIDTH_REL of the data's range (the
#: entropy range times the width for c; the performance range for the ceiling), unit-free.
ZERO_WIDTH_REL = 1e-6
#: a fit is exact (its zero-width intervals are then genuine) when ``1 - R^2`` is at most this.
EXACT_FIT = 1e-12
#: c is near its search bound when within this share of the search width (4 grid steps of 400).
NEAR_BOUND_FRAC = 0.01
#: ``|b|`` at most this share of the performance range counts as b -> 0.
B_TINY_REL = 1e-6

#: late collapse (:func:`scaling.fitting.diagnostics.late_collapse_rows`): the peak level is the
#: highest mean of COLLAPSE_WINDOW_FRAC of the points (at least COLLAPSE_MIN_WINDOW) ...
COLLAPSE_WINDOW_FRAC = 0.1
COLLAPSE_MIN_WINDOW = 3
#: ... followed by at least COLLAPSE_TAIL_FRAC of the points (and at least one window);
COLLAPSE_TAIL_FRAC = 0.1
#: the fall from the peak to the tail's mean is tested one-sided at level COLLAPSE_ALPHA, divided
#: among the ``(candidate peaks) / window`` nearly independent windows the peak was chosen from
#: (Bonferroni), against AR(1) noise (the law refitted up to the peak, bias-corrected coefficient).
#: analyses/statuses.py (analyses/results/statuses.md): at most 1.2% false alarms in every (n, rho)
#: cell of clean law runs.
COLLAPSE_ALPHA = 0.01
#: the noise of the fall is that of the law refitted to the points up to the peak's end when they
#: number at least this many (else the whole run's residuals, which a collapse inflates).
COLLAPSE_MIN_PREFIX = 8
#: entropy "does not rise" from the peak on when Kendall's tau between step and entropy there is at most this.
COLLAPSE_TAU_MAX = -TREND_TAU_MAX
#: systematic misfit (:func:`scaling.fitting.diagnostics.misfit_rows`): the two-sided level of the
#: added-curvature (RESET-type) t-test
#: under AR(1) errors (Prais-Winsten with the bias-corrected coefficient).  Set by analyses/statuses.py
#: (analyses/results/statuses.md): at 0.05 some designs of clean law runs reached 5-10% false alarms;
#: at 0.025 every (n, rho) cell stays at or below 2.6% (n 20-300, rho 0-0.7).
MISFIT_ALPHA = 0.025
