"""The delta-method interval helper of scaling.core.intervals."""

import numpy as np
import pytest

from scaling.core.intervals import delta_interval, delta_se


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
