"""The delta-method interval helper of scaling.core.intervals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from scaling.core.intervals import bounded_interval, delta_interval, delta_se


def test_delta_interval_is_the_textbook_formula_row_by_row():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    cov = A @ A.T
    grad = rng.normal(size=(5, 3))
    est = rng.normal(size=5)
    se, lo, hi = delta_interval(grad, cov, est, 2.1)
    for i in range(5):
        s = float(np.sqrt(grad[i] @ cov @ grad[i]))
        assert se[i] == pytest.approx(s, rel=1e-13)
        assert (lo[i], hi[i]) == pytest.approx((est[i] - 2.1 * s, est[i] + 2.1 * s), rel=1e-13)


def test_delta_se_takes_one_covariance_per_row_and_says_what_a_negative_variance_becomes():
    grad = np.array([[1.0, 0.0], [0.0, 1.0]])
    covs = np.array([np.diag([4.0, 1.0]), np.diag([1.0, 9.0])])
    np.testing.assert_allclose(delta_se(grad, covs), [2.0, 3.0])
    bad = np.array([[1.0, 0.0], [0.0, -1e-18]])
    assert delta_se([0.0, 1.0], bad) == 0.0
    assert np.isnan(delta_se([0.0, 1.0], bad, negative="nan"))
    assert np.isnan(delta_se([np.nan, 1.0], np.eye(2)))
    with pytest.raises(ValueError, match="negative"):
        delta_se([1.0], np.eye(1), negative="zero")


# ----- intervals of a bounded metric (logit scale) ------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    u=st.floats(1e-6, 1 - 1e-6),
    down=st.floats(0.0, 5.0),
    up=st.floats(0.0, 5.0),
    lo=st.floats(-100.0, 100.0),
    span=st.floats(1e-3, 1e3),
)
def test_bounded_interval_stays_in_the_range_and_contains_the_estimate(u, down, up, lo, span):
    est = lo + span * u
    a, b, out = bounded_interval(est, est - down * span, est + up * span, (lo, lo + span))
    assert lo <= a <= est <= b <= lo + span
    assert not out


@settings(max_examples=200, deadline=None)
@given(u=st.floats(0.01, 0.99), down=st.floats(1e-4, 0.6), up=st.floats(1e-4, 0.6))
def test_bounded_interval_keeps_the_width_and_the_logit_shape(u, down, up):
    v = 20.0 + 80.0 * u  # a metric in [20, 100]
    lo, hi, _ = bounded_interval(v, v - 80.0 * down, v + 80.0 * up, (20.0, 100.0))
    # the width on the metric's scale is kept (the whole range when wider)
    assert hi - lo == pytest.approx(min(80.0 * (down + up), 80.0), rel=1e-9, abs=1e-9)
    # one factor on both sides: the ratio of the logit-scale offsets is the delta method's (1 / d both)
    eta = special.logit(u)
    side_lo, side_hi = eta - special.logit((lo - 20.0) / 80.0), special.logit((hi - 20.0) / 80.0) - eta
    if min(lo - 20.0, 100.0 - hi) > 0.08:  # (ends within 1e-3 of the range's: logits lose their digits)
        assert side_hi / side_lo == pytest.approx(up / down, rel=1e-6)


def test_bounded_interval_near_an_end_moves_inside_instead_of_stretching():
    # the case that motivated keeping the width: an estimate of 0.9968 +- 0.019
    lo, hi, out = bounded_interval(0.9968, 0.9775, 1.0148, (0.0, 1.0))
    assert 0.96 < lo < 0.9775 and 0.999 < hi < 1.0 and not out
    assert hi - lo == pytest.approx(1.0148 - 0.9775, rel=1e-9)


def test_bounded_interval_is_the_usual_interval_for_a_small_se_and_unchanged_without_a_range():
    est = np.array([0.1, 0.5, 0.93])
    se = 1e-6
    lo, hi, out = bounded_interval(est, est - 1.96 * se, est + 1.96 * se, (0.0, 1.0))
    np.testing.assert_allclose(lo, est - 1.96 * se, rtol=0, atol=1e-10)
    np.testing.assert_allclose(hi, est + 1.96 * se, rtol=0, atol=1e-10)
    assert not out.any()
    wide = (est - 0.7, est + 0.7)
    lo0, hi0, out0 = bounded_interval(est, *wide, None)
    np.testing.assert_array_equal(lo0, wide[0])
    np.testing.assert_array_equal(hi0, wide[1])
    assert not out0.any()


def test_bounded_interval_keeps_the_scale_equivariant():
    lo, hi, _ = bounded_interval(0.8, 0.6, 1.1, (0.0, 1.0))
    lo100, hi100, _ = bounded_interval(80.0, 60.0, 110.0, (0.0, 100.0))
    assert (lo100, hi100) == pytest.approx((100 * lo, 100 * hi), rel=1e-12)


def test_an_estimate_outside_the_range_gets_the_part_of_its_interval_inside_and_a_flag():
    lo, hi, out = bounded_interval([1.02, -0.01, 1.0, 1.2, np.nan], [0.98, -0.05, 0.97, 1.1, 0.1], [1.06, 0.2, 1.03, 1.3, 0.2], (0.0, 1.0))
    np.testing.assert_allclose(lo[:3], [0.98, 0.0, 0.97])
    np.testing.assert_allclose(hi[:3], [1.0, 0.2, 1.0])
    assert np.isnan(lo[3]) and np.isnan(hi[3])  # no observable value in the interval: none
    assert np.isnan(lo[4]) and np.isnan(hi[4])
    assert out.tolist() == [True, True, True, True, False]
