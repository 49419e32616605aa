"""Stage-1 fits of one run: recovery, the paper's form, intervals and statuses."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from scaling.core import intervals, law
from scaling.fitting.single import FitOptions, FitStatus, fit_run
from tests.conftest import simulate_run


def test_fit_run_recovers_a_b_c_exactly():
    S = np.linspace(0.8, 0.1, 50)
    fit = fit_run(S, 0.9 - 0.3 * np.exp(1.3 * S))
    assert fit.a == pytest.approx(0.9, abs=1e-6)
    assert fit.b == pytest.approx(0.3, abs=1e-6)
    assert fit.c == pytest.approx(1.3, abs=1e-6)
    assert fit.ceiling == pytest.approx(0.6, abs=1e-7)
    assert fit.status is FitStatus.OK
    assert fit.r2 == pytest.approx(1.0)


def test_noisy_fit_is_within_its_interval_and_tolerance(rng):
    step, S, y = simulate_run(rng, n=150, P0=0.9, beta=0.5, c=1.0, sd=0.005, rho=0.3)
    fit = fit_run(S, y, step)
    lo, hi = fit.conf_int("ceiling")
    assert lo < 0.9 < hi
    assert abs(fit.ceiling - 0.9) < 0.01
    assert abs(fit.c - 1.0) < 0.4


def test_paper_mode_reproduces_ols_on_exp_entropy(rng):
    step, S, y = simulate_run(rng, n=80, c=1.0)
    fit = fit_run(S, y, step, mode="paper")
    ols = sm.OLS(y, sm.add_constant(np.exp(S))).fit()
    b_p, minus_a_p = ols.params
    summ = fit.summary()
    assert summ.loc["a_p", "estimate"] == pytest.approx(-minus_a_p, rel=1e-10)
    assert summ.loc["b_p", "estimate"] == pytest.approx(b_p, rel=1e-10)
    assert fit.ceiling == pytest.approx(b_p + minus_a_p, rel=1e-10)
    assert fit.c == 1.0 and fit.fixed_c
    assert fit.rss == pytest.approx(ols.ssr, rel=1e-10)


def test_hac_matches_statsmodels_newey_west_without_adjustments(rng):
    step, S, y = simulate_run(rng, n=90)
    fit = fit_run(S, y, step, mode="paper")
    X = np.column_stack([np.ones_like(S), -law.g(S, 1.0)])
    ref = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": False})
    ours = intervals.hac_cov(X, y - X @ ref.params, 4, leverage=False, prewhiten=False)
    assert np.allclose(ours, ref.cov_params(), rtol=1e-10)
    assert fit.cov[:2, :2] == pytest.approx(intervals.hac_cov(X, fit.resid, intervals.newey_west_lags(90)))


def test_summary_and_frame_have_the_promised_fields(rng):
    step, S, y = simulate_run(rng)
    fit = fit_run(S, y, step, run="r1", model="m", params=1e9, algorithm="grpo")
    summ = fit.summary()
    assert list(summ.index) == ["ceiling", "a", "b", "c", "beta", "ceiling_c1"]  # ceiling_c1: the c = 1 fit beside it
    assert list(summ.columns) == ["estimate", "se", "lo", "hi"]
    assert (summ["lo"] < summ["estimate"]).all() and (summ["estimate"] < summ["hi"]).all()
    row = fit.to_frame().iloc[0]
    for col in ["run", "model", "params", "algorithm", "n_points", "ceiling", "ceiling_lo", "ceiling_hi",
                "a", "b", "c", "r2", "rmse", "aicc", "status", "ceiling_c1", "ceiling_c1_lo", "ceiling_c1_hi",
                "delta_aicc_c1", "preferred_form"]:
        assert col in row.index
    assert row["run"] == "r1" and row["params"] == 1e9 and row["n_points"] == 100
    # the free form must beat the linear one on data drawn from an exponential law
    assert row["aicc_free"] < row["aicc_linear"]


def test_bootstrap_intervals_agree_with_hac_in_size(rng):
    step, S, y = simulate_run(rng, n=120)
    hac = fit_run(S, y, step)
    boot = fit_run(S, y, step, options=FitOptions(ci="bootstrap", n_boot=400, seed=1))
    assert boot.replicates.shape == (400, 3)
    w_h = np.subtract(*hac.conf_int("ceiling")[::-1])
    w_b = np.subtract(*boot.conf_int("ceiling")[::-1])
    assert 0.5 < w_b / w_h < 2.0
    assert boot.ceiling == hac.ceiling  # same point estimate, different interval
    again = fit_run(S, y, step, options=FitOptions(ci="bootstrap", n_boot=400, seed=1))
    assert again.conf_int("ceiling") == boot.conf_int("ceiling")  # seeded


def test_exchange_rate_is_the_derivative(rng):
    S = np.linspace(0.8, 0.1, 40)
    fit = fit_run(S, 0.9 - 0.3 * np.exp(1.3 * S))
    s0, h = 0.4, 1e-6
    numeric = -(fit.predict(s0 + h) - fit.predict(s0 - h)) / (2 * h)
    assert fit.exchange_rate(s0) == pytest.approx(numeric, rel=1e-6)
    assert fit.exchange_rate(s0) == pytest.approx(0.3 * 1.3 * np.exp(1.3 * s0), rel=1e-6)


# ----- statuses: never raise, always say why -------------------------------------------
def test_too_few_points():
    fit = fit_run([0.5, 0.4, 0.3], [0.1, 0.2, 0.3])
    assert fit.status is FitStatus.TOO_FEW_POINTS
    assert np.isnan(fit.ceiling) and "3 usable points" in fit.message


def test_constant_entropy_has_no_estimate():
    fit = fit_run(np.full(20, 0.3), np.linspace(0.1, 0.5, 20))
    assert fit.status is FitStatus.TOO_FEW_POINTS and "constant" in fit.message


def test_rising_entropy_is_flagged(rng):
    S = np.linspace(0.1, 0.8, 40)
    fit = fit_run(S, 0.9 - 0.3 * np.exp(S) + rng.normal(0, 0.01, 40))
    assert FitStatus.NOT_DECREASING in fit.flags
    assert not fit.status.usable


def test_no_learning_is_a_poor_fit(rng):
    S = np.linspace(0.8, 0.3, 60)
    fit = fit_run(S, 0.1 + rng.normal(0, 0.02, 60))
    assert fit.status is FitStatus.POOR_FIT and fit.r2 < 0.6


def test_ceiling_above_one_is_flagged():
    S = np.linspace(0.8, 0.1, 50)
    fit = fit_run(S, 1.05 - 0.5 * law.g(S, 0.5))
    assert fit.status is FitStatus.CEILING_OUT_OF_RANGE
    assert "outside the metric's range [0, 1]" in fit.message
    unbounded = fit_run(S, 1.05 - 0.5 * law.g(S, 0.5), options=FitOptions(perf_range=None))
    assert unbounded.status is FitStatus.OK


def test_step_function_hits_the_bound():
    S = np.linspace(0.8, 0.1, 60)
    y = np.full(60, 0.8)
    y[:2] = [0.2, 0.5]  # all the change at the highest entropies: an infinitely fast exponential
    fit = fit_run(S, y)
    assert FitStatus.AT_BOUND in fit.flags


@pytest.mark.parametrize(
    "S,y",
    [
        ([np.nan] * 10, list(range(10))),
        ([0.5, np.inf, 0.3, 0.2, 0.1, 0.05], [0.1, 0.2, 0.3, np.nan, 0.5, 0.6]),
        ([1e6, 1e-6, 3.0, 2.0, 1.0], [0, 1, 0, 1, 0]),
        ([0.5, 0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.3, 0.3, 0.3]),
        ([], []),
    ],
)
def test_fit_never_raises_on_bad_runs(S, y):
    fit = fit_run(np.asarray(S, float), np.asarray(y, float))
    assert isinstance(fit.status, FitStatus)
    assert isinstance(fit.to_frame(), pd.DataFrame)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="same length|one length"):
        fit_run([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="mode"):
        fit_run([0.1, 0.2], [0.1, 0.2], mode="shared")
    with pytest.raises(ValueError, match="ci must be"):
        FitOptions(ci="jackknife")


# ----- coverage by simulation (DESIGN.md section 8) ------------------------------------
def _coverage(ci: str, reps: int, n: int, rho: float) -> float:
    hits = 0
    for r in range(reps):
        step, S, y = simulate_run(np.random.default_rng(1000 + r), n=n, rho=rho)
        fit = fit_run(S, y, step, options=FitOptions(ci=ci, n_boot=300, seed=r, perf_range=None))
        lo, hi = fit.conf_int("ceiling")
        hits += lo <= 0.95 <= hi
    return hits / reps


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["hac", "bootstrap"])
def test_ceiling_interval_coverage_under_ar1_noise(ci):
    """95% intervals cover the true ceiling 90-98% of the time (n = 100, AR(1) rho = 0.5)."""
    cover = _coverage(ci, reps=300, n=100, rho=0.5)
    assert 0.90 <= cover <= 0.98, cover


# ----- a bounded metric: the curve's band stays inside the range ----------------------------------
@pytest.mark.parametrize("ci", ["hac", "bootstrap"])
@pytest.mark.parametrize("P0, seed", [(0.99, 0), (0.99, 1), (0.45, 2), (1.04, 3)])
def test_curve_bands_of_a_fraction_stay_in_0_1(P0, seed, ci):
    # a short noisy run near 1 (or near 0 at its start, P0 = 0.45); P0 = 1.04 puts the curve itself above 1 near S = 0
    step, S, y = simulate_run(np.random.default_rng(seed), n=12, P0=P0, sd=0.03, rho=0.5)
    grid = np.linspace(0.0, S.max(), 40)
    opts = {"ci": ci, "n_boot": 200, "seed": seed}
    free = fit_run(S, y, step, options=FitOptions(perf_range=None, **opts))
    fit = fit_run(S, y, step, options=FitOptions(perf_range=(0.0, 1.0), **opts))
    band0, band = free.predict_interval(grid), fit.predict_interval(grid)
    assert ((band0["lo"] < 0) | (band0["hi"] > 1)).any()  # the case the rule is for
    ok = band["lo"].notna()
    assert ((band.loc[ok, "lo"] >= 0) & (band.loc[ok, "hi"] <= 1) & (band.loc[ok, "lo"] <= band.loc[ok, "hi"])).all()
    inside = (band["mean"] > 0) & (band["mean"] < 1)
    assert ok[inside].all() and ((band["lo"] <= band["mean"]) & (band["mean"] <= band["hi"]))[inside].all()
    row = fit.to_frame().iloc[0]
    assert 0 <= row["perf_at_min_entropy_lo"] <= row["perf_at_min_entropy_hi"] <= 1
    np.testing.assert_allclose(band0["mean"], band["mean"])  # estimates unchanged; the ceiling's interval too
    assert free.conf_int("ceiling") == pytest.approx(fit.conf_int("ceiling"))


def test_unbounded_curve_band_is_the_delta_method_band():
    # perf_range=None: the band is the symmetric delta-method band of the curve, with the ceiling's
    # interval at S = 0 and the fit's critical value; checked with a finite-difference gradient
    from scaling.simulate import ar1_noise

    rng = np.random.default_rng(3)
    step = np.arange(60) * 2.0
    H = 0.5 * (1 + step / 20) ** -1.0
    y = 0.97 - 0.6 * law.g(H, 1.0) + ar1_noise(rng, 60, 0.02, 0.5)
    fit = fit_run(H, y, step, options=FitOptions(perf_range=None))
    S = np.array([0.0, 0.1, 0.5, H.min()])
    band = fit.predict_interval(S)
    lo0, hi0 = fit.conf_int("ceiling")
    assert (band["lo"][0], band["hi"][0]) == pytest.approx((lo0, hi0), rel=1e-10)
    crit = (hi0 - lo0) / (2 * np.sqrt(fit.cov[0, 0]))
    curve = lambda th: th[0] - th[1] * law.g(S, th[2])  # noqa: E731
    grad = np.column_stack([(curve(fit.theta + h) - curve(fit.theta - h)) / (2 * 1e-6) for h in 1e-6 * np.eye(3)])
    se = np.sqrt(np.einsum("ij,jk,ik->i", grad, fit.cov, grad))
    np.testing.assert_allclose(band["lo"], band["mean"] - crit * se, rtol=1e-6)
    np.testing.assert_allclose(band["hi"], band["mean"] + crit * se, rtol=1e-6)
    assert band["hi"][0] > 1  # unbounded: the band of this run's ceiling crosses 1
    row = fit.to_frame().iloc[0]
    assert (row["perf_at_min_entropy_lo"], row["perf_at_min_entropy_hi"]) == pytest.approx((band["lo"][3], band["hi"][3]), rel=1e-8)
