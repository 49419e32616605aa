"""Extrapolation reach, degenerate fits and ceilings beyond the data (issue 12, items 3 and 5)."""

import numpy as np
import pytest

from scaling.core import law
from scaling.core.rules import REACH_MAX
from scaling.fitting.result import CORE_COLUMNS
from scaling.fitting.single import FitOptions, FitStatus, fit_run
from scaling.fitting.status import assign_statuses
from scaling.simulate import ar1_noise

#: gemma-2-2b-it PPO on GSM8K (verl), its last 8 validations (the first three, warm-up, left out):
#: c = 79.93, b ~ 8e-11 and an interval for c of zero width, once called `ok`.
GEMMA8_S = np.array([0.244, 0.235, 0.216, 0.196, 0.195, 0.182, 0.158, 0.159])
GEMMA8_Y = np.array([0.604, 0.616, 0.623, 0.640, 0.624, 0.622, 0.633, 0.621])
NEW_COLUMNS = ["entropy_min", "entropy_max", "reach", "perf_at_min_entropy", "perf_at_min_entropy_lo", "perf_at_min_entropy_hi"]


def test_reach_and_value_at_the_lowest_entropy_are_reported(rng):
    S = np.linspace(0.8, 0.2, 60)
    y = 0.9 - 0.3 * law.g(S, 1.0) + ar1_noise(rng, 60, 0.005, 0.5)
    fit = fit_run(S, y)
    assert fit.entropy_min == pytest.approx(0.2) and fit.entropy_max == pytest.approx(0.8)
    assert fit.reach == pytest.approx(0.2 / 0.6)
    assert fit.perf_at_min_entropy == pytest.approx(float(fit.predict(0.2)))
    frame = fit.to_frame()
    assert list(frame.columns[-len(NEW_COLUMNS):]) == NEW_COLUMNS  # after the existing columns
    assert [c for c in frame.columns if c in CORE_COLUMNS] == CORE_COLUMNS
    band = fit.predict_interval(0.2).iloc[0]
    row = frame.iloc[0]
    assert row["perf_at_min_entropy_lo"] == pytest.approx(band["lo"]) and row["perf_at_min_entropy_hi"] == pytest.approx(band["hi"])
    assert row["perf_at_min_entropy_lo"] < row["perf_at_min_entropy"] < row["perf_at_min_entropy_hi"]
    assert fit.status is FitStatus.OK


def test_far_extrapolation_beyond_the_threshold_is_a_caveat(rng):
    """Past the reach threshold the ceiling is imprecise but its interval still covers
    (analyses/results/reach.md), and the curve describes the run (forecasts use it): usable, flagged."""
    S = np.linspace(0.8, 0.5, 60)  # reach 0.5 / 0.3 = 1.67
    y = 0.9 - 0.3 * law.g(S, 1.0) + ar1_noise(rng, 60, 0.005, 0.5)
    fit = fit_run(S, y)
    assert fit.reach > REACH_MAX
    assert fit.status is FitStatus.FAR_EXTRAPOLATION and fit.status.usable
    assert "far extrapolation" in fit.message and "1.67 times" in fit.message
    # the paper form extrapolates as far
    assert fit_run(S, y, mode="paper").status is FitStatus.FAR_EXTRAPOLATION


@pytest.mark.parametrize("k, k_s", [(1.0, 1.0), (1.0, 1 / np.log(2)), (100.0, 1.0), (1.0, 10.0)], ids=["nats", "bits", "percent", "x10"])
def test_the_eight_point_gemma_run_gets_one_status_in_any_units(k, k_s):
    # Its interval for c had zero width (1e-7 of the entropy range) only because the HAC
    # prewhitening acted in the user's units: in percent, or with entropy x10, the same fit was
    # already a far extrapolation.  In internal units the interval is narrow (4e-4 of the range,
    # where the profile leaves c unbounded above) but not of zero width, in every unit.
    fit = fit_run(k_s * GEMMA8_S, k * GEMMA8_Y, np.arange(8), options=FitOptions(perf_range=(0.0, k)))
    assert fit.c * k_s == pytest.approx(79.93, abs=0.01) and abs(fit.b) < 1e-9 * k
    lo, hi = fit.conf_int("c")
    assert 1e-4 < (hi - lo) * np.ptp(k_s * GEMMA8_S) < 1e-3
    assert fit.status is FitStatus.FAR_EXTRAPOLATION and fit.flags == (FitStatus.FAR_EXTRAPOLATION,)


def test_a_fit_without_a_covariance_is_degenerate():
    fit = fit_run([0.8, 0.6, 0.4, 0.2], [0.30, 0.52, 0.61, 0.70], np.arange(4))  # 4 points, 3 parameters
    assert fit.status is FitStatus.DEGENERATE and not fit.status.usable
    assert "degenerate fit: the interval for c is undefined" in fit.message


def test_an_exact_fit_is_not_degenerate():
    S = np.linspace(0.8, 0.1, 50)
    fit = fit_run(S, 0.9 - 0.3 * np.exp(1.3 * S))
    assert fit.status is FitStatus.OK


def _rules(**kw):
    base = dict(
        tau=np.array([-1.0]), r2=np.array([0.9]), theta=np.array([[0.8, 0.3, 1.0]]), at_bound=np.array([False]),
        c_lo=np.array([0.5]), c_hi=np.array([1.5]), lo=np.array([-40.0]), hi=np.array([40.0]), fixed=False,
        r2_min=0.6, perf_range=None, s_range=np.array([[0.1, 0.6]]), y_range=np.array([[0.4, 0.7]]),
        ceil_lo=np.array([0.75]), ceil_hi=np.array([0.85]),
    )  # fmt: skip
    base.update(kw)
    status, flags, msgs = assign_statuses(**base)
    return status[0], flags[0], msgs[0]


def test_each_degenerate_rule_on_constructed_numbers():
    assert _rules()[0] is FitStatus.OK
    st, _, msg = _rules(c_lo=np.array([np.nan]))
    assert st is FitStatus.DEGENERATE and "interval for c is undefined" in msg
    st, _, msg = _rules(ceil_lo=np.array([0.8]), ceil_hi=np.array([0.8]))
    assert st is FitStatus.DEGENERATE and "interval for the ceiling [0.8, 0.8] has zero width" in msg
    st, _, msg = _rules(ceil_hi=np.array([np.inf]))
    assert st is FitStatus.DEGENERATE and "interval for the ceiling is undefined" in msg
    # b -> 0 with c within 1% of the search width from its bound (not at it: that is AT_BOUND)
    st, _, msg = _rules(theta=np.array([[0.8, 39.5 * 1e-9, 39.5]]), c_lo=np.array([30.0]), c_hi=np.array([39.9]))
    assert st is FitStatus.DEGENERATE and "-> 0 with c = 39.5 at its search bound" in msg
    assert _rules(theta=np.array([[0.8, 39.5 * 1e-9, 39.5]]), at_bound=np.array([True]))[0] is FitStatus.AT_BOUND
    # an exact fit: its zero-width intervals are genuine
    assert _rules(r2=np.array([1.0]), c_lo=np.array([1.0]), c_hi=np.array([1.0]))[0] is FitStatus.OK
    # c fixed: no interval checks
    assert _rules(fixed=True, c_lo=np.array([1.0]), c_hi=np.array([1.0]), ceil_lo=np.array([0.8]), ceil_hi=np.array([0.8]))[0] is FitStatus.OK


def test_ceiling_beyond_the_data_with_c_below_zero():
    above = np.array([[0.75, 0.3, -2.0]])
    st, fl, msg = _rules(theta=above, c_lo=np.array([-3.0]), c_hi=np.array([-1.0]))
    assert st is FitStatus.CEILING_BEYOND_DATA and st.usable and "bends away from the data" in msg
    # c < 0 but not established (its interval reaches above 0): noise on a nearly linear run
    assert _rules(theta=above, c_lo=np.array([-3.0]), c_hi=np.array([0.5]))[0] is FitStatus.OK
    # inside the observed range, or c > 0: not flagged
    assert _rules(theta=np.array([[0.65, 0.3, -2.0]]), c_lo=np.array([-3.0]), c_hi=np.array([-1.0]))[0] is FitStatus.OK
    assert _rules(theta=above)[0] is FitStatus.OK
    # more severe than a ceiling outside the metric's range? no: that one is listed first
    st, fl, _ = _rules(theta=np.array([[1.2, 0.3, -2.0]]), c_lo=np.array([-3.0]), c_hi=np.array([-1.0]), perf_range=(0.0, 1.0))
    assert st is FitStatus.CEILING_OUT_OF_RANGE and FitStatus.CEILING_BEYOND_DATA in fl


def test_a_plateau_fitted_with_c_below_zero_is_flagged(rng):
    S = np.linspace(0.9, 0.3, 300)
    y = 0.9 - 3.0 * law.g(S, -4.0) + ar1_noise(rng, 300, 0.003, 0.5)
    fit = fit_run(S, y, options=FitOptions(perf_range=None))
    assert fit.c < 0 and fit.ceiling > y.max()
    assert fit.status is FitStatus.CEILING_BEYOND_DATA
