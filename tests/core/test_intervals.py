"""The delta-method interval helper of scaling.core.intervals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from scaling.core import intervals
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
@given(u=st.floats(0.01, 0.99), down=st.floats(1e-4, 0.6), up=st.floats(1e-4, 0.6), alpha=st.sampled_from([0.05, 0.1, 0.32]))
def test_bounded_interval_is_the_split_normal_conditioned_on_the_range(u, down, up, alpha):
    v = 20.0 + 80.0 * u  # a metric in [20, 100]
    lo, hi, out = bounded_interval(v, v - 80.0 * down, v + 80.0 * up, (20.0, 100.0), alpha)
    # the split normal whose alpha/2 and 1 - alpha/2 quantiles are the metric-scale ends
    z = stats.norm.ppf(1 - alpha / 2)
    s = np.where([True, False], 80.0 * down / z, 80.0 * up / z)

    def cdf(x):
        return stats.norm.cdf(x, v, s[0]) if x <= v else stats.norm.cdf(x, v, s[1])

    inside = cdf(100.0) - cdf(20.0)
    assert not out and 20.0 <= lo <= v <= hi <= 100.0
    if inside < alpha:
        return
    # each end is the conditional quantile, unless widened to the estimate
    if lo < v:
        assert (cdf(float(lo)) - cdf(20.0)) / inside == pytest.approx(alpha / 2, abs=1e-7)
    if hi > v:
        assert (cdf(float(hi)) - cdf(20.0)) / inside == pytest.approx(1 - alpha / 2, abs=1e-7)


def test_bounded_interval_near_an_end_stays_close_to_the_metric_scale_one():
    # an estimate of 0.9968 +- 0.019: the lower end barely moves, the upper one comes inside
    lo, hi, out = bounded_interval(0.9968, 0.9775, 1.0148, (0.0, 1.0))
    assert 0.975 < lo < 0.9775 and 0.999 < hi < 1.0 and not out


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


def test_an_estimate_outside_the_range_gets_an_interval_of_observable_values_and_a_flag():
    est, lo_m, hi_m = [1.02, -0.01, 1.0, 1.2, np.nan], [0.98, -0.05, 0.97, 1.1, 0.1], [1.06, 0.2, 1.03, 1.3, 0.2]
    lo, hi, out = bounded_interval(est, lo_m, hi_m, (0.0, 1.0))
    assert out.tolist() == [True, True, True, True, False]
    ok = np.isfinite(lo)
    assert ok.tolist() == [True, True, True, False, False]  # 1.2 [1.1, 1.3]: no plausible observable value
    assert ((0 <= lo[ok]) & (lo[ok] <= hi[ok]) & (hi[ok] <= 1)).all()
    assert lo[1] == 0.0 or lo[1] < 0.01  # an estimate below 0: the interval starts at the range's start


@pytest.mark.parametrize("prewhiten", [True, False])
def test_block_draws_make_any_rows_of_the_bootstrap_responses(prewhiten):
    # the comparison makes its replicates a chunk of rows at a time: the rows must equal the
    # same rows of the whole array, and the random stream must be consumed as by the whole
    rng = np.random.default_rng(3)
    S = np.linspace(0.9, 0.05, 120)
    fitted = 0.9 - 0.4 * np.exp(S)
    resid = 0.01 * rng.standard_normal(120)
    resid[1:] += 0.6 * resid[:-1]
    J = intervals.jacobian(S, 0.4, 1.0)
    whole = intervals.residual_block_bootstrap(fitted, resid, J, 6, 50, np.random.default_rng(9), prewhiten)
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    draws = intervals.block_bootstrap_draws(fitted, resid, J, 6, 50, rng_a, prewhiten)
    intervals.residual_block_bootstrap(fitted, resid, J, 6, 50, rng_b, prewhiten)
    assert np.array_equal(draws.responses(), whole)
    assert np.array_equal(np.concatenate([draws.responses(slice(a, a + 7)) for a in range(0, 50, 7)]), whole)
    assert rng_a.random() == rng_b.random()  # the same draws taken from the stream
    assert draws.starts.dtype == np.int32 and draws.starts.nbytes < whole.nbytes / 5
    broken = intervals.block_bootstrap_draws(fitted, resid * np.inf, J, 6, 50, rng_a, prewhiten)
    assert np.isnan(broken.responses(slice(0, 4))).all() and broken.responses(slice(0, 4)).shape == (4, 120)
