"""The panel fit: one rate c shared by groups of points, each group with its own (P0, beta)."""

import numpy as np
import pytest
from scipy import optimize

from scaling.across.stage1 import fit_stage1
from scaling.comparison import CompareOptions, compare_model
from scaling.core import intervals, law
from scaling.core.panel import fit_panel, panel_jacobian
from scaling.core.units import Units
from scaling.data.runtable import prepare_run
from scaling.fitting.shared import fit_shared
from scaling.fitting.single import fit_run
from tests.conftest import simulate_run

P0S = (0.95, 0.85, 0.75)
BETAS = (0.6, 0.5, 0.7)


def _panel_data(rng, c=0.8, sd=0.0, runs_per_group=2, n=60, rho=0.0):
    """Groups pooling ``runs_per_group`` runs each; returns stacked arrays and the runs per group."""
    S, y, step, groups, blocks, pools = [], [], [], [], [], []
    b = 0
    for k, (P0, beta) in enumerate(zip(P0S, BETAS)):
        pool = []
        for j in range(runs_per_group):
            st, s, v = simulate_run(rng, n=n + 10 * j, P0=P0, beta=beta, c=c, sd=max(sd, 1e-300), rho=rho,
                                    s_start=0.7 - 0.05 * k, s_end=0.05 + 0.02 * j)  # fmt: skip
            if sd == 0:
                v = P0 - beta * law.g(s, c)
            ident = dict(run=f"g{k}/r{j}", model=f"m{k}", params=10.0 ** (6 + k), algorithm=f"a{k}", seed=str(j))
            pool.append(prepare_run(s, v, st, ident)[0])
            S.append(s)
            y.append(v)
            step.append(st)
            groups.append(np.full(s.size, k))
            blocks.append(np.full(s.size, b))
            b += 1
        pools.append(pool)
    cat = np.concatenate
    return cat(S), cat(y), cat(step), cat(groups), cat(blocks), pools


def test_noiseless_panel_is_recovered_exactly():
    S, y, step, groups, blocks, _ = _panel_data(np.random.default_rng(0))
    fit = fit_panel(S, y, groups, blocks=blocks, step=step)
    assert fit.c == pytest.approx(0.8, abs=1e-6)
    np.testing.assert_allclose(fit.P0, P0S, atol=1e-6)
    np.testing.assert_allclose(fit.beta, BETAS, atol=1e-6)
    assert fit.n == S.size and fit.n_groups == 3 and fit.n_params == 7
    assert fit.rss < 1e-20 and not fit.at_bound and not fit.fixed_c
    assert fit.theta.shape == (7,) and fit.cov.shape == (7, 7) and fit.jacobian.shape == (S.size, 7)
    fixed = fit_panel(S, y, groups, blocks=blocks, c=0.8)
    np.testing.assert_allclose(fixed.P0, P0S, atol=1e-9)
    assert fixed.fixed_c and np.all(fixed.cov[-1] == 0) and np.all(fixed.cov[:, -1] == 0)
    assert fixed.grid.size == 0


def test_panel_agrees_with_scipy_least_squares():
    """The same 2 + 2G-parameter problem solved by a generic nonlinear least-squares solver."""
    S, y, step, groups, blocks, _ = _panel_data(np.random.default_rng(1), sd=0.01, rho=0.5)
    fit = fit_panel(S, y, groups, blocks=blocks, step=step)
    G = fit.n_groups

    def resid(x):
        return y - (x[0:-1:2][groups] - x[1:-1:2][groups] * law.g(S, x[-1]))

    x0 = np.r_[np.column_stack([P0S, BETAS]).ravel(), 1.0]
    ls = optimize.least_squares(resid, x0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    np.testing.assert_allclose(fit.theta, ls.x, rtol=1e-6, atol=1e-8)
    assert fit.rss == pytest.approx(float(ls.fun @ ls.fun), rel=1e-10)
    # the Jacobian (one column for c, two per group) is the derivative of the fitted values
    eps = 1e-6
    for j in range(2 * G + 1):
        h = np.zeros(2 * G + 1)
        h[j] = eps
        d = (resid(fit.theta - h) - resid(fit.theta + h)) / (2 * eps)
        np.testing.assert_allclose(fit.jacobian[:, j], d, atol=1e-7)


def test_one_group_one_run_is_the_single_run_sandwich():
    step, S, y = simulate_run(np.random.default_rng(2), n=90, sd=0.01, rho=0.5)
    fit = fit_panel(S, y, np.zeros(S.size, dtype=int))
    # both in the run's internal units (scaling.core.units.Units), transformed back
    units = Units.of_points(S, y)
    Si, _ = units.internal(S, y)
    J = intervals.jacobian(Si, fit.beta[0] * units.entropy / units.scale, fit.c * units.entropy)
    lags = intervals.newey_west_lags(S.size)
    np.testing.assert_allclose(fit.cov, units.cov(intervals.hac_cov(J, fit.resid / units.scale, lags)), rtol=1e-9, atol=0)
    single = fit_run(S, y, step)
    np.testing.assert_allclose(fit.cov, single.cov, rtol=1e-8, atol=0)
    sol = law.varpro(S, y)
    assert fit.c == pytest.approx(float(sol.c), rel=1e-12) and fit.P0[0] == pytest.approx(float(sol.P0), rel=1e-12)


def test_time_order_comes_from_step_and_results_keep_the_input_order():
    S, y, step, groups, blocks, _ = _panel_data(np.random.default_rng(3), sd=0.01, rho=0.5)
    fit = fit_panel(S, y, groups, blocks=blocks, step=step)
    perm = np.random.default_rng(4).permutation(S.size)
    shuffled = fit_panel(S[perm], y[perm], groups[perm], blocks=blocks[perm], step=step[perm])
    assert shuffled.c == pytest.approx(fit.c, rel=1e-10)
    np.testing.assert_allclose(shuffled.cov, fit.cov, rtol=1e-8, atol=1e-16)
    np.testing.assert_allclose(shuffled.resid, fit.resid[perm], atol=1e-12)
    ar1 = fit_panel(S, y, groups, blocks=blocks, cov_type="ar1")
    assert ar1.hac_lags == 0 and np.all(np.diag(ar1.cov) > 0)
    assert np.isnan(fit_panel(S, y, groups, cov_type="none").cov).all()


def test_bad_arguments_are_named():
    S, y = np.linspace(0.8, 0.1, 20), np.linspace(0.5, 0.9, 20)
    k = np.zeros(20, dtype=int)
    with pytest.raises(ValueError, match="one length"):
        fit_panel(S, y[:-1], k)
    with pytest.raises(ValueError, match=r"code\(s\) \[1\]"):
        fit_panel(S, y, np.where(np.arange(20) < 10, 0, 2))
    with pytest.raises(ValueError, match="integer codes"):
        fit_panel(S, y, k.astype(float))
    with pytest.raises(ValueError, match="finite"):
        fit_panel(np.r_[S[:-1], np.nan], y, k)
    with pytest.raises(ValueError, match="cov_type"):
        fit_panel(S, y, k, cov_type="hc3")
    with pytest.raises(ValueError, match="no spread"):
        fit_panel(np.full(20, 0.3), y, k)


def test_the_three_callers_share_the_panel_fit():
    S, y, step, groups, blocks, pools = _panel_data(np.random.default_rng(5), sd=0.01, rho=0.5)
    # stage 1 across sizes: one group per model, pooling its runs
    st = fit_stage1([(f"m{k}", 10.0 ** (6 + k), pool) for k, pool in enumerate(pools)])
    pf = fit_panel(S, y, groups, blocks=blocks, step=step)
    assert st.c == pf.c
    np.testing.assert_array_equal(st.theta, pf.theta)
    np.testing.assert_array_equal(st.cov, pf.cov)
    # the algorithm comparison: one group per algorithm, at the common c (AR(1) sandwich)
    runs = [r for pool in pools for r in pool]
    levels = [r.ident["algorithm"] for r in runs]
    cmp = compare_model(runs, levels, options=CompareOptions(test="ar1"), perf_range=None)
    assert cmp.c == pf.c
    np.testing.assert_array_equal(cmp.cov, fit_panel(S, y, groups, blocks=blocks, cov_type="ar1").cov)
    # shared c over runs: one group per run, bounds from the widest run
    fits = fit_shared(runs)
    run_codes = blocks
    widest = max((r.entropy for r in runs), key=np.ptp)
    per_run = fit_panel(S, y, run_codes, step=step, bounds=law.c_bounds(widest))
    assert all(f.c == per_run.c for f in fits)
    for k, f in enumerate(fits):
        np.testing.assert_array_equal(f.cov, per_run.group_cov(k))


def test_panel_jacobian_layout():
    J = panel_jacobian(np.array([0.5, 0.2, 0.4]), np.array([1, 0, 1]), np.array([0.3, 0.6]), 1.2)
    assert J.shape == (3, 5)
    np.testing.assert_array_equal(J[:, [0, 2]], [[0, 1], [1, 0], [0, 1]])
    assert J[0, 1] == 0 and J[0, 3] == -law.g(0.5, 1.2)
    assert J[1, 4] == -0.3 * law.dg_dc(0.2, 1.2)
