"""The saturating form, the choice of form by backtest and the mixture of forms."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special, stats
from typer.testing import CliRunner

from scaling.across.choice import backtest_forms, choose_form, forms_for
from scaling.across.predict import plan
from scaling.across.sim import simulate_scores
from scaling.across.stage2 import Stage2Status, fit_stage2
from scaling.cli import app

runner = CliRunner()
L6 = np.array([8.7, 9.2, 9.5, 9.9, 10.2, 10.5])
TOY_COLUMNS = ["--run", "task,model,algorithm,seed", "--perf", "val_acc"]


def _choose(L, y, se=None, **kw):
    K = len(L)
    V = np.diag(np.full(K, se**2)) if se else np.zeros((K, K))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return choose_form(10**L, y, V, np.ones(K), forms=forms_for(["identity", "logit"]), perf_range=(0.0, 1.0),
                           method="wls" if se else "ols", **kw)  # fmt: skip


# ----- the saturating form ------------------------------------------------------------------
def test_saturating_form_recovers_an_error_power_law():
    L = np.linspace(8.5, 10.5, 7)
    y = 0.82 - 0.4 * 10 ** (-0.5 * (L - 8.5))
    y = y + 1e-7 * np.array([1, -1, 1, -1, 1, -1, 1])  # a residual scale > 0
    f = fit_stage2(10**L, y, np.diag(np.full(7, 1e-6)), np.ones(7), form="saturating")
    assert f.status is Stage2Status.OK and f.terms == ["asymptote", "gap_at_centre", "rate"]
    assert f.coef[0] == pytest.approx(0.82, abs=1e-5)
    assert f.coef[2] == pytest.approx(0.5 * np.log(10), rel=1e-4)  # natural-log decay per decade
    assert f.predict([1e12])["pred"].iloc[0] == pytest.approx(0.82 - 0.4 * 10 ** (-0.5 * 3.5), abs=1e-5)


@pytest.mark.parametrize("link", ["identity", "logit"])
def test_saturating_fit_agrees_with_brute_force_least_squares(link):
    rng = np.random.default_rng(3)
    L = L6
    y = 0.8 - 0.45 * 10 ** (-0.6 * (L - 8.7)) + rng.normal(0, 0.01, L.size)
    f = fit_stage2(10**L, y, np.diag(np.full(6, 1e-4)), np.ones(6), form="saturating", link=link)
    inv = special.expit if link == "logit" else (lambda e: e)
    d = L - L.mean()

    def rss(th):
        return float(np.sum((y - inv(th[0] + th[1] * np.exp(-th[2] * d))) ** 2))

    # brute force: a fine grid of rates, the two linear coefficients by Nelder-Mead from many starts
    best = np.inf
    for r in np.geomspace(0.05, 10, 120):
        for top in (-1.0, 0.0, 1.0, 2.0):
            sol = optimize.minimize(lambda ab: rss([ab[0], ab[1], r]), [top, -0.5], method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14})
            best = min(best, sol.fun)
    assert rss(f.coef) <= best * (1 + 1e-4)


def test_saturating_form_on_a_straight_line_has_no_finite_fit():
    L = L6
    y = 0.3 + 0.1 * (L - 9) + 1e-4 * np.array([1, -1, 1, -1, 1, -1])
    f = fit_stage2(10**L, y, np.diag(np.full(6, 1e-8)), np.ones(6), form="saturating")
    assert f.status is Stage2Status.NO_FINITE_FIT and "straight line" in f.message
    assert fit_stage2(10**L[:3], y[:3], np.diag(np.full(3, 1e-4)), np.ones(3), form="saturating").status is Stage2Status.TOO_FEW_SIZES


# ----- the choice ------------------------------------------------------------------------------
def test_backtest_forms_holds_out_each_size_and_the_largest():
    y = 0.25 + 0.12 * (L6 - 8.7)
    e = backtest_forms(10**L6, y, np.zeros((6, 6)), [("linear", "identity"), ("saturating", "identity")], method="ols")
    loo = e[e["scheme"] == "leave-one-out"]
    assert len(loo) == 12 and set(loo["n_fit_sizes"]) == {5}
    lar = e[e["scheme"] == "leave-largest-out"]
    assert sorted(set(lar["n_out"])) == [2, 3]  # the largest alone is the last leave-one-out split
    lin = e[e["form"] == "linear/identity"]
    np.testing.assert_allclose(lin["error"], 0.0, atol=1e-12)  # an exact line is predicted exactly
    assert e.loc[e["form"] == "saturating/identity", "pred"].isna().all()  # no asymptote in a line


def test_the_true_form_wins_the_backtest():
    sat = _choose(L6, 0.8 - 0.45 * 10 ** (-0.6 * (L6 - 8.7)) + 1e-5 * np.array([1, -1, 1, -1, 1, -1]))
    assert max(sat.weights, key=sat.weights.get) == "saturating/identity"
    line = _choose(L6, 0.25 + 0.12 * (L6 - 8.7) + 1e-5 * np.array([1, -1, 1, -1, 1, -1]))
    assert max(line.weights, key=line.weights.get) == "linear/identity"
    assert sum(sat.weights.values()) == pytest.approx(1.0)
    r = sat.ranking.set_index("form")
    assert r.loc["saturating/identity", "rmse"] < r.loc["linear/identity", "rmse"] / 100


def test_three_sizes_allow_only_two_coefficient_forms_and_two_sizes_give_the_labelled_line():
    three = _choose(L6[:3], np.array([0.2, 0.35, 0.42]))
    assert set(three.weights) <= {"linear/identity", "linear/logit"}
    r = three.ranking.set_index("form")
    assert r.loc["quadratic/identity", "status"] == "needs 4 sizes, 3 given" and r.loc["quadratic/identity", "weight"] == 0
    two = _choose(L6[:2], np.array([0.2, 0.35]), se=0.01)
    assert two.weights == {"linear/identity": 1.0} and "no backtest is possible" in two.note
    assert two.best.status is Stage2Status.TWO_SIZES and two.has_estimate


def test_forced_form_has_weight_one_and_the_ranking_is_kept():
    y = 0.8 - 0.45 * 10 ** (-0.6 * (L6 - 8.7))
    ch = _choose(L6, y + 1e-4 * np.array([1, -1, 1, -1, 1, -1]), force=("linear", "logit"))
    assert ch.weights == {"linear/logit": 1.0} and ch.label == "linear/logit" and "forced" in ch.note
    assert ch.ranking["rmse"].notna().sum() >= 4
    pred = ch.predict([10**11])
    ref = ch.fits["linear/logit"].predict([10**11])
    np.testing.assert_allclose(pred[["pred", "lo", "hi"]].to_numpy(), ref[["pred", "lo", "hi"]].to_numpy())


def test_mixture_quantiles_and_probabilities_match_sampling():
    rng = np.random.default_rng(5)
    t = simulate_scores(rng, "capped logistic")
    ch = _choose(np.log10(t["params"].to_numpy()), t["score"].to_numpy())
    assert len(ch.weights) >= 2
    N = 10**11.2
    p = ch.predict([N]).iloc[0]
    # sample the mixture: pick a form by weight, then its two-sided t (widened band) draw
    draws = []
    for k, w in ch.weights.items():
        f = ch.fits[k]
        b = ch._widened(k, f._bands(np.array([N]), None), np.array([p["decades_beyond"]]), f.t_crit)
        z = stats.t.rvs(max(f.df_resid, 1), size=int(round(w * 400_000)), random_state=rng)
        lo_s, hi_s = (b["pred"][0] - b["lo"][0]) / f.t_crit, (b["hi"][0] - b["pred"][0]) / f.t_crit
        draws.append(b["pred"][0] + np.where(z < 0, z * lo_s, z * hi_s))
    draws = np.concatenate(draws)
    assert p["lo"] == pytest.approx(max(np.quantile(draws, 0.05), 0.0), abs=0.004)
    assert p["hi"] == pytest.approx(min(np.quantile(draws, 0.95), 1.0), abs=0.004)
    assert p["pred"] == pytest.approx(sum(w * ch.fits[k].predict([N])["pred"].iloc[0] for k, w in ch.weights.items()))
    # the probability a plan uses is that of the same mixture (widened bands included)
    for target in np.quantile(draws, [0.1, 0.5, 0.8]):
        assert ch.prob_at_least([N], target)[0] == pytest.approx(np.mean(draws >= target), abs=0.003)


def test_bounded_predictions_stay_in_range_far_out():
    ch = _choose(L6, np.array([0.5, 0.7, 0.8, 0.9, 0.95, 0.99]))
    pr = ch.predict(np.logspace(6, 14, 30))
    assert pr[["pred", "lo", "hi", "mean_lo", "mean_hi"]].stack().between(0, 1).all()
    assert pr["cut"].any()


def test_coverage_of_the_held_out_largest_size_after_the_choice():
    """Fixed seed; the full table (200 families per shape) is analyses/results/form_choice.md."""
    rng = np.random.default_rng(2026)
    hits = []
    for shape in ("logistic", "saturating", "line"):
        for se in (False, True):
            for _ in range(25):
                t = simulate_scores(rng, shape, se=se)
                fit, held = t.iloc[:-1], t.iloc[-1]
                ch = _choose(np.log10(fit["params"].to_numpy()), fit["score"].to_numpy(), se=0.015 if se else None, level=0.9)
                p = ch.predict([held["params"]]).iloc[0]
                hits.append(p["lo"] <= held["score"] <= p["hi"])
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


# ----- curves and the CLI ----------------------------------------------------------------------
@pytest.fixture
def toy(shared_dir):
    return shared_dir / "toyrl" / "runs.csv"


def test_extrapolate_and_plan_name_the_same_choice_on_toyrl(toy, tmp_path):
    out = tmp_path / "pred.csv"
    res = runner.invoke(app, ["extrapolate", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--to", "3e7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "ceiling's forms ranked by backtest" in res.output and "1. " in res.output
    frame = pd.read_csv(out)
    label = frame["form_choice"].iloc[0]
    assert f"add4: form {label}" in res.output
    assert frame[["ceiling_pred", "ceiling_lo", "ceiling_hi"]].stack().between(0, 1).all()
    p = runner.invoke(app, ["plan", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--target", "0.97"])
    assert p.exit_code == 0, p.output
    assert f"add4: form {label}" in p.output
    forced = runner.invoke(app, ["extrapolate", str(toy), *TOY_COLUMNS, "--tasks", "add4", "--to", "3e7", "--form", "linear"])
    assert forced.exit_code == 0 and "add4: form linear/identity" in forced.output and "forced" in forced.output


def test_simplerl_table_predictions_in_range_with_a_ranking(shared_dir, tmp_path):
    src = shared_dir / "realdata" / "published" / "simplerl_zoo_qwen25.csv"
    out = tmp_path / "pred.csv"
    res = runner.invoke(app, ["extrapolate", str(src), "--value", "after_rl", "--task", "benchmark", "--to", "1.47e10,3.25e10,7.2e10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert len(frame) == 24 and frame[["ceiling_pred", "ceiling_lo", "ceiling_hi"]].stack().between(0, 1).all()
    assert res.output.count("forms ranked by backtest") == 8
    assert frame["form_choice"].notna().all()


def test_plan_on_a_table_uses_the_mixture():
    L = L6
    t = pd.DataFrame({"model": [f"m{i}" for i in range(6)], "params": 10**L, "score": 0.8 - 0.45 * 10 ** (-0.6 * (L - 8.7)) + 0.003 * np.array([1, -1, 1, -1, 1, -1])})
    from scaling.across.summaries import fit_summaries
    from scaling.data.summaries import load_summaries

    r = fit_summaries(load_summaries(t, "score", perf_scale="fraction"))[""]
    pl = plan(r, target=0.78, prob=0.5)
    assert pl.status == "reached"
    assert r.predictor.prob_at_least([pl.params], 0.78)[0] == pytest.approx(0.5, abs=1e-6)
    assert plan(r, target=0.9, prob=0.5).status == "not reached"  # the asymptote is 0.8


def test_report_of_a_table_shows_the_ranking_and_predictions(tmp_path):
    L = L6
    t = pd.DataFrame({"model": [f"m{i}" for i in range(5)] + ["<script>alert(1)</script>"], "params": 10**L,
                      "score": 100 * (0.8 - 0.45 * 10 ** (-0.6 * (L - 8.7))) + 0.3 * np.array([1, -1, 1, -1, 1, -1])})  # fmt: skip
    src = tmp_path / "scores.csv"
    t.to_csv(src, index=False)
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", str(src), "--value", "score", "-o", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "index.html").read_text(encoding="utf-8").replace("<wbr>", "")  # names may break after "/"
    assert "Forms ranked by backtest" in page and "saturating/identity" in page and "10× the largest" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    pred = pd.read_csv(out / "tables" / "all_predictions.csv")
    assert len(pred) == 3 and pred[["ceiling_lo", "ceiling_pred", "ceiling_hi"]].stack().between(0, 1).all()
    assert (out / "figures" / "values_all.png").exists()
