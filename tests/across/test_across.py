"""Across model sizes: stage-1 pooling at a shared c, stage-2 regressions, backtests, planning, CLI."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects
from typer.testing import CliRunner

from scaling.across.backtest import backtest_models, backtest_sizes
from scaling.across.predict import fit_across, plan
from scaling.across.sim import family_truth, simulate_family
from scaling.across.stage1 import fit_stage1, pool_points
from scaling.across.stage2 import Stage2Status, fit_stage2, paule_mandel
from scaling.cli import app
from scaling.data.load import ColumnMap, load
from scaling.exceptions import StatisticalWarning

runner = CliRunner()
SIZES = (7.0, 7.5, 8.0, 8.5, 9.0, 9.5)
TOY_COLUMNS = ["--run", "task,model,algorithm,seed", "--perf", "val_acc"]


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        return func(*args, **kwargs)


# ----- stage 2 against statsmodels and reference estimators ---------------------------
def test_stage2_wls_matches_statsmodels_and_avoids_the_new_point_trap():
    rng = np.random.default_rng(1)
    N = 10 ** np.array([7.0, 7.5, 8.0, 8.5, 9.0])
    v = np.array([1.0, 2.0, 1.5, 3.0, 2.5]) * 1e-4
    y = 0.5 + 0.05 * (np.log10(N) - 8) + rng.normal(0, np.sqrt(v))
    fit = fit_stage2(N, y, np.diag(v), np.full(5, 2.0), level=0.9)
    X = np.column_stack([np.ones(5), np.log10(N) - np.log10(N).mean()])
    ref = sm.WLS(y, X, weights=1 / v).fit()
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), ref.bse, rtol=1e-10)
    # a new model at 1e10 fitted from 2 runs: its variance is phi * v_run / 2 (v_run = geometric mean of v_i * n_i)
    Xn = np.array([[1.0, 10 - np.log10(N).mean()]])
    v_new = np.exp(np.mean(np.log(v * 2))) / 2
    right = ref.get_prediction(Xn, weights=1 / v_new).summary_frame(alpha=0.1)
    ours = fit.predict([1e10])
    assert ours["lo"].iloc[0] == pytest.approx(right["obs_ci_lower"].iloc[0], rel=1e-10)
    assert ours["hi"].iloc[0] == pytest.approx(right["obs_ci_upper"].iloc[0], rel=1e-10)
    assert ours["mean_lo"].iloc[0] == pytest.approx(right["mean_ci_lower"].iloc[0], rel=1e-10)
    # without weights= statsmodels gives the new point weight 1, a band hundreds of times too wide
    trap = ref.get_prediction(Xn).summary_frame(alpha=0.1)
    assert (trap["obs_ci_upper"] - trap["obs_ci_lower"]).iloc[0] > 20 * (ours["hi"] - ours["lo"]).iloc[0]


def test_paule_mandel_matches_statsmodels_combine_effects():
    eff = np.array([0.10, 0.30, 0.25, 0.50, 0.05])
    var = np.array([0.010, 0.020, 0.010, 0.030, 0.015])
    ref = combine_effects(eff, var, method_re="pm")
    tau2 = paule_mandel(eff, np.ones((5, 1)), np.diag(var))
    assert tau2 > 0
    assert tau2 == pytest.approx(ref.tau2, rel=1e-6)
    # homogeneous effects: tau^2 = 0
    assert paule_mandel(np.array([0.2, 0.21, 0.19, 0.2]), np.ones((4, 1)), np.diag([0.01] * 4)) == 0.0


def test_random_effects_and_ols_differ_from_wls_as_they_should():
    rng = np.random.default_rng(2)
    N = 10 ** np.array(SIZES)
    v = np.full(6, 1e-5)
    y = 0.5 + 0.05 * (np.log10(N) - 8) + rng.normal(0, 0.02, 6)  # scatter 6x the stage-1 error
    wls = fit_stage2(N, y, np.diag(v), np.full(6, 2.0), method="wls")
    re = fit_stage2(N, y, np.diag(v), np.full(6, 2.0), method="random")
    ols = fit_stage2(N, y, np.diag(v), np.full(6, 2.0), method="ols")
    assert wls.scale > 10  # phi >> 1: the models scatter beyond their stage-1 error
    assert re.tau2 == pytest.approx(np.var(y - ols.fitted, ddof=2) - 1e-5, rel=1e-6)  # equal weights: PM = moment estimate
    np.testing.assert_allclose(re.coef, ols.coef, rtol=1e-8)  # equal variances: all three estimators coincide
    for f in (re, ols):  # a new model's variance is the residual variance (plus its stage-1 part for RE)
        assert f.var_new() == pytest.approx(np.var(y - ols.fitted, ddof=2), rel=1e-6)


def test_too_few_sizes_and_undefined_quantities_are_statuses():
    f = fit_stage2([1e7, 1e8], [0.5, 0.6], np.diag([1e-4, 1e-4]), [2, 2])
    assert f.status is Stage2Status.TOO_FEW_SIZES and "2 distinct size(s)" in f.message
    assert f.predict([1e9])[["pred", "lo", "hi"]].isna().all(axis=None)
    q = fit_stage2([1e7, 1e8, 1e9, 1e10], [0.5, 0.6, 0.6, 0.7], np.diag([1e-4] * 4), [2] * 4, form="quadratic")
    assert q.has_estimate and q.df_resid == 1
    nan = fit_stage2([1e7, 1e8, 1e9], [0.5, np.nan, 0.7], np.diag([1e-4] * 3), [2] * 3, quantity="a")
    assert nan.status is Stage2Status.UNDEFINED
    at_one = fit_stage2([1e7, 1e8, 1e9, 1e10], [0.90, 0.97, 1.0, 1.004], np.diag([1e-5] * 4), [2] * 4, link="logit", models=list("abcd"))
    assert at_one.status is Stage2Status.OUTSIDE_LINK and "2 of 4 are not (c 1.0000, d 1.0040)" in at_one.message
    assert at_one.predict([1e11])[["pred", "lo", "hi"]].isna().all(axis=None)
    assert fit_stage2([1e7, 1e8, 1e9, 1e10], [0.90, 0.97, 0.98, 0.99], np.diag([1e-5] * 4), [2] * 4, link="logit").has_estimate
    with pytest.raises(ValueError, match="method"):
        fit_stage2([1e7, 1e8, 1e9], [0.5, 0.6, 0.7], np.diag([1e-4] * 3), [2] * 3, method="gls")
    with pytest.raises(ValueError, match="link"):
        fit_stage2([1e7, 1e8, 1e9], [0.5, 0.6, 0.7], np.diag([1e-4] * 3), [2] * 3, link="probit")


# ----- simulated families ---------------------------------------------------------------
def test_noiseless_family_gives_back_the_stage2_slopes_exactly():
    pts = simulate_family(np.random.default_rng(0), SIZES, sd=1e-12, rho=0.0)
    res = fit_across(pts, n_boot=0)["sim"]
    truth = family_truth(SIZES)
    assert res.stage1.c == pytest.approx(1.0, abs=1e-6)
    for q, slope in (("ceiling", 0.05), ("a", 0.02), ("b", -0.03)):
        assert res.fits[q].coef[1] == pytest.approx(slope, abs=1e-6)
    np.testing.assert_allclose(res.points()["ceiling"], truth["ceiling"], atol=1e-6)


def test_noisy_family_recovers_the_slopes_within_their_intervals():
    pts = simulate_family(np.random.default_rng(7), SIZES, sd=0.01, rho=0.5)
    res = fit_across(pts)["sim"]
    for q, slope in (("ceiling", 0.05), ("a", 0.02), ("b", -0.03)):
        s = res.fits[q].summary().loc["slope"]
        assert abs(s["estimate"] - slope) < 3 * s["se"], (q, s.to_dict())
        assert s["lo"] < slope < s["hi"]
    assert abs(res.fits["ceiling"].coef[1] - 0.05) < 0.005
    # the ceiling is regressed directly: its interval is far narrower than a's and b's
    se = {q: res.fits[q].summary().loc["slope", "se"] for q in ("ceiling", "a", "b")}
    assert se["ceiling"] < se["a"] / 3 and se["ceiling"] < se["b"] / 3


def test_shared_c_split_recombines_to_the_full_covariance():
    models = pool_points(simulate_family(np.random.default_rng(3), SIZES[:4]))["sim"]
    st = fit_stage1(models)
    for q in ("ceiling", "a", "b"):
        _y, V, d, var_c = st.estimate_given_c(q)
        _y_full, V_full = st.estimate(q)
        np.testing.assert_allclose(V + var_c * np.outer(d, d), V_full, rtol=1e-10, atol=1e-15)
        assert np.all(np.linalg.eigvalsh(V) > -1e-14)
    fixed = fit_stage1(models, c=1.0)
    _y, V, d, var_c = fixed.estimate_given_c("ceiling")
    assert var_c == 0 and np.all(d == 0) and fixed.fixed_c


@pytest.mark.slow
def test_prediction_interval_for_held_out_largest_size_covers_at_nominal_rate():
    """AR(1) noise (rho 0.5) within runs, a and b exactly log-linear, 6 sizes, 2 runs of 60 points each;
    the largest size is held out, stage 1 (with c) and stage 2 refitted on the other five.

    Measured (200 seeds): the 90% prediction interval covers the held-out model's measured ceiling
    88.5% of the time; the curve's 90% interval covers the true ceiling 96% (conservative: the panel
    HAC variance of the shared c runs about 1.5x the simulated one).  analyses/across_sizes.py
    repeats this with 100-point runs, between-model scatter and the other estimators.
    """
    truth = family_truth(SIZES)["ceiling"].iloc[-1]
    covered, curve = [], []
    for rep in range(200):
        pts = simulate_family(np.random.default_rng(5000 + rep), SIZES, n=60)
        row = backtest_models(pool_points(pts)["sim"], forms=(("linear", "identity"),), schemes=("leave-largest-out",), max_out=1).rows.iloc[0]
        covered.append(row["covered"])
        curve.append(row["mean_lo"] <= truth <= row["mean_hi"])
    assert 0.85 <= np.mean(covered) <= 0.95, np.mean(covered)
    assert 0.85 <= np.mean(curve) <= 0.995, np.mean(curve)


def test_unusable_runs_are_reported_and_not_pooled():
    pts = simulate_family(np.random.default_rng(4), SIZES[:4])
    broken = pts[pts["run"] == "sim/m1/0"].copy()
    broken["run"] = "sim/m1/flat"
    broken["perf"] = 0.3 + np.random.default_rng(9).normal(0, 0.02, len(broken))
    with pytest.warns(StatisticalWarning, match=r"1 of 9 run\(s\) not pooled \(1 poor fit\): sim/m1/flat"):
        res = fit_across(pd.concat([pts, broken], ignore_index=True))
    ex = res.excluded()
    assert ex["run"].tolist() == ["sim/m1/flat"] and ex["status"].iloc[0] == "poor fit" and "R2" in ex["reason"].iloc[0]
    assert all("sim/m1/flat" not in runs for runs in res["sim"].stage1.runs)
    assert "sim/m1/flat: poor fit" in res.summary_text()


def test_tasks_are_fitted_separately_and_selectable():
    a = simulate_family(np.random.default_rng(1), SIZES[:4], task="easy")
    b = simulate_family(np.random.default_rng(2), SIZES[:4], a=(0.7, 0.01), task="hard")
    both = pd.concat([a, b], ignore_index=True)
    res = fit_across(both)
    assert res.tasks == ["easy", "hard"]
    pred = _quiet(res.predict, [1e10])
    assert pred["task"].tolist() == ["easy", "hard"]
    assert pred["ceiling_pred"].iloc[0] > pred["ceiling_pred"].iloc[1] + 0.05
    assert fit_across(both, tasks=["hard"]).tasks == ["hard"]
    with pytest.raises(ValueError, match="tasks"):
        fit_across(both, tasks=["nope"])


def test_logit_link_keeps_ceilings_inside_the_unit_interval():
    # ceilings rising 0.15 per decade: the straight line passes 1 within two decades
    pts = simulate_family(np.random.default_rng(6), SIZES, a=(0.95, 0.10), b=(0.30, -0.05))
    grid = np.logspace(6, 13, 50)
    ident = _quiet(fit_across, pts)["sim"].ceiling.predict(grid)
    logit = _quiet(fit_across, pts, link="logit")["sim"].ceiling.predict(grid)
    assert ident["pred"].max() > 1.2
    assert logit["pred"].max() < 1 and logit[["lo", "hi", "mean_lo", "mean_hi"]].le(1).all(axis=None)
    assert logit[["lo", "mean_lo"]].ge(0).all(axis=None)
    # inside the fitted range both links agree
    inside = (grid > 10**7) & (grid < 10**9.5)
    assert np.max(np.abs(ident["pred"][inside] - logit["pred"][inside])) < 0.03


def test_forms_that_disagree_beyond_the_interval_raise_a_warning():
    pts = simulate_family(np.random.default_rng(8), SIZES, a=(0.8, 0.06), b=(0.3, -0.03))
    res = _quiet(fit_across, pts, form="linear")["sim"]
    with pytest.warns(StatisticalWarning, match=r"mean forms disagree by 0\.\d+, more than the width"):
        pred = res.predict([1e13])
    assert pred["forms_disagree"].iloc[0]
    assert pred["alt_spread"].iloc[0] > pred["ceiling_mean_hi"].iloc[0] - pred["ceiling_mean_lo"].iloc[0]


def test_two_stage_bootstrap_refits_c_and_agrees_with_the_analytic_band():
    pts = simulate_family(np.random.default_rng(11), SIZES)
    res = fit_across(pts, n_boot=300, seed=1)["sim"]
    rep_c = res.stage1.replicates[:, -1]
    assert rep_c.std() > 0.02  # c refitted in every replicate
    boot = res.ceiling.predict([10**10], interval="bootstrap").iloc[0]
    ana = res.ceiling.predict([10**10], interval="analytic").iloc[0]
    w_boot, w_ana = boot["hi"] - boot["lo"], ana["hi"] - ana["lo"]
    assert 0.5 < w_boot / w_ana < 1.5, (w_boot, w_ana)
    assert boot["lo"] < ana["pred"] < boot["hi"]
    assert res.interval == "bootstrap"


# ----- backtests and planning ---------------------------------------------------------------
def test_backtest_reports_error_coverage_and_reach():
    pts = simulate_family(np.random.default_rng(12), SIZES[:5])
    bt = backtest_sizes(pts)
    rows = bt.rows
    loo = rows[rows["scheme"] == "leave-one-out"]
    assert sorted(loo["held_out"].unique()) == ["m0", "m1", "m2", "m3", "m4"]
    lar = rows[(rows["scheme"] == "leave-largest-out") & (rows["form"] == "linear/identity")]
    assert lar["n_out"].tolist() == [1, 2, 2]
    two = lar[lar["n_out"] == 2]
    assert two["decades_beyond"].tolist() == pytest.approx([0.5, 1.0])
    assert loo.loc[loo["held_out"] == "m0", "decades_beyond"].iloc[0] == pytest.approx(-0.5)
    ok = rows[rows["status"] == "ok"]
    assert np.allclose(ok["error"], ok["measured"] - ok["pred"])
    assert ok["covered"].mean() >= 0.6
    summ = bt.summary()
    assert {"mean_abs_error", "coverage", "max_decades"} <= set(summ.columns)
    assert bt.best_forms()["task"].tolist() == ["sim"]


def test_plan_finds_the_smallest_size_that_reaches_the_target():
    pts = simulate_family(np.random.default_rng(13), SIZES)
    res = fit_across(pts)["sim"]
    p = plan(res, target=0.65, prob=0.8)
    assert p.status == "reached"
    f = res.predictor  # the forms weighted by backtest
    assert f.prob_at_least([p.params], 0.65)[0] == pytest.approx(0.8, abs=1e-6)
    assert f.prob_at_least([p.params / 1.05], 0.65)[0] < 0.8
    # truth: 0.45 + 0.05 (L - 7) reaches 0.65 at L = 11; with 80% probability a little later
    assert 10.7 < np.log10(p.params) < 11.8
    assert p.summary()["decades_beyond"].iloc[0] > 1
    assert plan(res, target=0.65, prob=0.95).params > p.params
    assert plan(res, target=5.0).status == "not reached"
    assert plan(res, target=0.1).status == "reached at the lower end"
    with pytest.raises(ValueError, match="prob"):
        plan(res, target=0.6, prob=1.5)


# ----- real data: ../shared/toyrl ----------------------------------------------------------
@pytest.fixture
def toy(shared_dir):
    return shared_dir / "toyrl" / "runs.csv"


def test_toyrl_add4_library(toy):
    ds = load(toy, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    with pytest.warns(StatisticalWarning, match="task 'add4': 9 of 28 run"):
        res = fit_across(ds, tasks=["add4"])
    r = res["add4"]
    ex = r.excluded()
    assert "add4/xxl/grpo/0" in set(ex["run"]) and set(ex.loc[ex["model"] == "s", "status"]) == {"poor fit"}
    assert list(r.stage1.models) == ["m", "l", "xl", "xxl"]  # s has no usable run left
    assert r.ceiling.has_estimate
    grid = np.logspace(4, 12, 60)
    pr = _quiet(r.predict, grid)
    assert (pr["ceiling_lo"] <= pr["ceiling_pred"]).all() and (pr["ceiling_pred"] <= pr["ceiling_hi"]).all()
    # an accuracy: every prediction and interval end inside [0, 1] (cut where the forms run past 1)
    assert pr[["ceiling_lo", "ceiling_pred", "ceiling_hi"]].stack().between(0, 1).all()
    assert (pr["ceiling_lo"] < pr["ceiling_hi"]).all()
    # m and l extrapolate past 100% accuracy: the logit link refuses instead of bending a logistic
    # curve into a step through them
    logit = _quiet(fit_across, ds, tasks=["add4"], link="logit")["add4"]
    assert not logit.ceiling.has_estimate and logit.ceiling.status is Stage2Status.OUTSIDE_LINK
    assert "2 of 4 are not (m 1.0103, l 1.0087)" in logit.ceiling.message
    assert logit.fits["a"].has_estimate  # a and b stay on the identity link
    curve = r.curve()
    assert {"params", "pred", "mean_lo", "mean_hi", "lo", "hi"} <= set(curve.columns)


def test_cli_extrapolate_on_toyrl(toy, tmp_path):
    out = tmp_path / "pred.csv"
    refused = runner.invoke(app, ["extrapolate", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--to", "3e9", "--link", "logit", "--out", str(out)])
    assert refused.exit_code != 0 and "the logit link needs every stage-1 ceiling inside (0, 1)" in refused.output
    assert not out.exists()
    res = runner.invoke(app, ["extrapolate", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--to", "3e9,7e10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "add4/xxl/grpo/0: late collapse" in res.output and "add4/s/rloo/1: poor fit" in res.output
    frame = pd.read_csv(out)
    assert frame.columns[:4].tolist() == ["params", "ceiling_pred", "ceiling_lo", "ceiling_hi"]
    assert {"a_pred", "b_pred", "task", "decades_beyond"} <= set(frame.columns)
    assert frame["params"].tolist() == [3e9, 7e10] and (frame["task"] == "add4").all()
    # the CLI's numbers are the library's: every form weighted by backtest, cut to [0, 1]
    ds = load(toy, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    lib = _quiet(_quiet(fit_across, ds, tasks=["add4"]).predict, [3e9, 7e10])
    np.testing.assert_allclose(frame["ceiling_pred"], lib["ceiling_pred"], rtol=1e-12)
    np.testing.assert_allclose(frame[["ceiling_lo", "ceiling_hi"]], lib[["ceiling_lo", "ceiling_hi"]], rtol=1e-12)
    assert frame[["ceiling_lo", "ceiling_pred", "ceiling_hi"]].stack().between(0, 1).all()
    assert (frame["form_choice"] == lib["form_choice"]).all()
    assert (frame["decades_beyond"] > 2).all()


def test_cli_backtest_and_plan_on_toyrl(toy, tmp_path):
    out = tmp_path / "bt.json"
    res = runner.invoke(app, ["backtest-sizes", str(toy), *TOY_COLUMNS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = pd.DataFrame(json.loads(out.read_text()))
    assert set(rows["task"]) == {"add3", "add4"}
    assert set(rows.loc[rows["task"] == "add3", "status"]) == {"too few sizes"}  # 3 sizes minus 1
    assert "leave-largest-out" in set(rows["scheme"]) and "best form when the largest sizes are left out" in res.output
    res = runner.invoke(app, ["plan", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--target", "0.6", "--prob", "0.8", "--out", str(tmp_path / "curve.csv")])
    assert res.exit_code == 0, res.output
    curve = pd.read_csv(tmp_path / "curve.csv")
    assert {"params", "pred", "lo", "hi", "prob_reach"} <= set(curve.columns)
    assert curve["prob_reach"].between(0, 1).all()


def test_cli_errors_are_named(tmp_path):
    pts = simulate_family(np.random.default_rng(0), (7.0, 8.0))
    path = tmp_path / "two.csv"
    pts.to_csv(path, index=False)
    one = tmp_path / "one.csv"
    pts[pts["params"] == pts["params"].min()].to_csv(one, index=False)
    res = runner.invoke(app, ["extrapolate", str(one), "--to", "1e10"])
    assert res.exit_code == 2 and "too few sizes" in res.output and "fit runs of another size" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["extrapolate", str(path), "--to", "ten"])
    assert res.exit_code == 2 and "--to must be comma-separated numbers" in res.output


# ----- few sizes (issue 13 item 4) ----------------------------------------------------------
def test_two_sizes_give_the_line_through_them_with_stage1_errors_only():
    V = np.array([[1e-4, 2e-5], [2e-5, 4e-4]])
    f = fit_stage2([1e7, 1e9], [0.5, 0.6], V, [2, 2], two_sizes=True)
    assert f.status is Stage2Status.TWO_SIZES and f.has_estimate and f.two_sizes
    assert "no scatter between sizes" in f.message
    assert np.allclose(f.fitted, [0.5, 0.6]) and np.isclose(f.coef[1], 0.05)
    # the slope's variance is that of (y2 - y1) / 2 decades, from V alone; normal quantiles
    assert np.isclose(f.cov[1, 1], (1e-4 + 4e-4 - 2 * 2e-5) / 4)
    assert np.isclose(f.t_crit, 1.6448536, atol=1e-6)
    pr = f.predict([1e11, 1e9], n_runs=2)
    assert np.isclose(pr["pred"].iloc[0], 0.7)
    # at a fitted size: the curve's error is that model's own, a new model adds one model's worth (v_run / n)
    assert np.isclose(pr["se_mean"].iloc[1], 0.02)
    assert np.isclose(pr["se_new"].iloc[1] ** 2, 4e-4 + f.v_run / 2)
    assert f.prob_at_least([1e11], 0.7)[0] == pytest.approx(0.5)
    # off by default (backtests keep needing 3 sizes), and never for the quadratic form
    assert fit_stage2([1e7, 1e9], [0.5, 0.6], V, [2, 2]).status is Stage2Status.TOO_FEW_SIZES
    logit = fit_stage2([1e7, 1e9], [0.5, 0.6], V, [2, 2], two_sizes=True, link="logit")
    assert logit.two_sizes and np.allclose(logit.fitted, [0.5, 0.6])


def test_quadratic_needs_four_sizes_and_says_to_use_the_linear_form():
    for K in (2, 3):
        q = fit_stage2(np.logspace(7, 9, K), np.linspace(0.5, 0.6, K), np.eye(K) * 1e-4, [2] * K, form="quadratic", two_sizes=True)
        assert q.status is Stage2Status.TOO_FEW_SIZES
        assert f"{K} distinct size(s): a quadratic curve (3 parameters)" in q.message and "use the linear form" in q.message
    one = fit_stage2([1e7], [0.5], np.eye(1) * 1e-4, [2], two_sizes=True)
    assert one.status is Stage2Status.TOO_FEW_SIZES and "fit runs of another size" in one.message


def _toy_models(toy, tmp_path, models) -> str:
    d = pd.read_csv(toy)
    path = tmp_path / f"add4_{'_'.join(models)}.csv"
    d[(d["task"] == "add4") & d["model"].isin(models)].to_csv(path, index=False)
    return str(path)


def test_cli_two_sizes_give_a_labelled_prediction(toy, tmp_path):
    path = _toy_models(toy, tmp_path, ["xl", "xxl"])
    out = tmp_path / "pred.csv"
    res = runner.invoke(app, ["extrapolate", path, *TOY_COLUMNS, "--to", "3e7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "2 sizes: the interval contains only the two ceilings' own errors, no scatter between sizes" in res.output
    assert "Traceback" not in res.output
    frame = pd.read_csv(out)
    assert frame["status"].tolist() == ["two sizes"]
    assert frame["ceiling_lo"].iloc[0] < frame["ceiling_pred"].iloc[0] < frame["ceiling_hi"].iloc[0]
    res = runner.invoke(app, ["plan", path, *TOY_COLUMNS, "--target", "0.95", "--prob", "0.8"])
    assert res.exit_code == 0, res.output
    assert "2 sizes: the interval contains only" in res.output
    res = runner.invoke(app, ["extrapolate", path, *TOY_COLUMNS, "--to", "3e7", "--form", "quadratic"])
    assert res.exit_code == 2 and "use the linear form" in res.output and "Traceback" not in res.output


def test_cli_three_sizes_refuse_the_quadratic_form(toy, tmp_path):
    path = _toy_models(toy, tmp_path, ["l", "xl", "xxl"])
    res = runner.invoke(app, ["extrapolate", path, *TOY_COLUMNS, "--to", "3e7", "--form", "quadratic"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "3 distinct size(s): a quadratic curve (3 parameters) with an interval needs at least 4 sizes; use the linear form" in res.output


# ----- runs left out per size (issue 13 item 5) ---------------------------------------------
def test_stage1_counts_runs_pooled_and_left_out_per_size(toy):
    ds = load(toy, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    r = _quiet(fit_across, ds, tasks=["add4"])["add4"]
    pts = r.points().set_index("model")
    assert pts.loc["xxl", ["n_runs_pooled", "n_runs_left_out", "left_out"]].tolist() == [1, 1, "1 late collapse"]
    assert pts.loc["xxl", "unusable_share"] == 0.5
    assert pts.loc["m", "n_runs_left_out"] == 0 and pts.loc["m", "left_out"] == ""
    counts = r.run_counts().set_index("model")
    assert counts.loc["s", ["n_runs_pooled", "n_runs_left_out", "left_out"]].tolist() == [0, 8, "8 poor fit"]
    pr = _quiet(r.predict, [3e7, 2.5e6, 1e5])
    assert pr["unusable_share"].tolist()[0] == 0.5 and "xxl (largest trained size)" in pr["unusable_basis"].iloc[0]
    assert pr["unusable_share"].iloc[1] == 0.0 and "l and xl" in pr["unusable_basis"].iloc[1]
    assert pr["unusable_share"].iloc[2] == 1.0  # s: every run left out
    text = r.summary_text()
    assert "1 (late collapse)" in text and "s (1.04e+05 params): no run pooled, every run left out (8 poor fit)" in text


def test_unusable_share_interpolates_in_log10_params():
    from scaling.across.stage1 import unusable_share_at

    counts = pd.DataFrame({"model": ["a", "b"], "params": [1e6, 1e8], "n_runs_pooled": [4, 1], "n_runs_left_out": [0, 1]})
    share, basis = unusable_share_at(counts, [1e5, 1e7, 1e8, 1e10])
    assert np.allclose(share, [0.0, 0.25, 0.5, 0.5])
    assert basis[1] == "a and b (interpolated in log10 params)" and basis[3] == "b (largest trained size)"


def test_cli_extrapolate_shows_the_runs_left_out_beside_each_ceiling(toy):
    res = runner.invoke(app, ["extrapolate", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--to", "3e7"])
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if line.strip().startswith("xxl"))
    assert row.split()[2:5] == ["1", "1", "(late"]
    assert "add4, 3e+07 params: expect 50% of its runs to be unusable, as observed at xxl (largest trained size)" in res.output
