"""Per-model summary tables (final scores, no curves) through stage 2 and the CLI."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.across.predict import plan
from scaling.across.summaries import BOUND_EPS, QUANTITY_TABLE, backtest_summaries, fit_summaries
from scaling.cli import app
from scaling.data.summaries import load_summaries
from scaling.exceptions import DataError

runner = CliRunner()
SIZES = [1e8, 3e8, 1e9, 3e9, 1e10]


def line_table(noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Two tasks, each exactly (or nearly) linear in log10(params)."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, (a, b) in {"easy": (1.0, 2.0), "hard": (-3.0, 0.5)}.items():
        for i, n in enumerate(SIZES):
            rows.append({"model": f"m{i}", "params": n, "bench": task, "score": a + b * np.log10(n) + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_linear_family_round_trip():
    t = line_table(noise=0.0)
    t.loc[t.index[::2], "score"] += 1e-6  # a residual scale > 0, otherwise the line is exact
    res = fit_summaries(load_summaries(t, "score", task="bench", perf_scale="none"))
    pred = res.predict([1e11, 1e12])
    for task, (a, b) in {"easy": (1.0, 2.0), "hard": (-3.0, 0.5)}.items():
        p = pred[pred["task"] == task]
        np.testing.assert_allclose(p["ceiling_pred"], a + b * np.log10([1e11, 1e12]), atol=1e-5)
        assert (p["ceiling_lo"] <= p["ceiling_pred"]).all() and (p["ceiling_pred"] <= p["ceiling_hi"]).all()
    assert set(pred["link"]) == {"identity"} and set(pred["method"]) == {"ols"}
    assert set(pred["quantity"]) == {QUANTITY_TABLE}
    assert pred["note"].str.contains("residual scatter between the models only").all()


def test_se_gives_weighted_fit_and_equals_fit_stage2():
    from scaling.across.stage2 import fit_stage2

    t = line_table(noise=0.1).assign(se=0.05)
    t = t[t["bench"] == "easy"]
    res = fit_summaries(load_summaries(t, "score", se="se", task="bench", perf_scale="none"), form="linear")
    ref = fit_stage2(t["params"], t["score"], np.diag(t["se"] ** 2), np.ones(len(t)))
    f = res["easy"].ceiling
    assert f.method == "wls"
    np.testing.assert_allclose(f.coef, ref.coef, rtol=1e-10)
    np.testing.assert_allclose(res.predict([1e11])["ceiling_hi"], ref.predict([1e11])["hi"], rtol=1e-10)


@pytest.mark.filterwarnings("ignore::scaling.exceptions.StatisticalWarning")
def test_percent_values_use_the_logit_link_and_a_zero_is_moved_off_the_bound():
    t = pd.DataFrame({"model": list("abcde"), "params": SIZES, "acc": [0.0, 6.7, 20.0, 23.3, 36.7]})
    with pytest.warns(UserWarning, match="percent"):
        s = load_summaries(t, "acc")
    assert s.divisor == 100 and s.perf_range == (0.0, 1.0)
    r = fit_summaries(s, form="linear")[""]  # a forced form takes the logit link on a bounded metric
    assert r.ceiling.link == "logit" and r.ceiling.has_estimate
    assert r.values["fitted_value"].iloc[0] == BOUND_EPS
    assert any("moved inside" in n for n in r.notes)
    for res in (r, fit_summaries(s)[""]):  # forced, and every form weighted by backtest
        p = res.predict([1e9, 1e12, 1e15])
        assert ((p[["ceiling_pred", "ceiling_lo", "ceiling_hi"]] >= 0) & (p[["ceiling_pred", "ceiling_lo", "ceiling_hi"]] <= 1)).all().all()


@pytest.mark.filterwarnings("ignore::scaling.exceptions.StatisticalWarning")
def test_identity_link_on_a_bounded_metric_is_cut_to_the_range():
    t = pd.DataFrame({"model": list("abcde"), "params": SIZES, "acc": [0.5, 0.7, 0.85, 0.93, 0.99]})
    r = fit_summaries(load_summaries(t, "acc"), link="identity")[""]
    p = r.predict([1e12])
    assert float(p["ceiling_hi"].iloc[0]) == 1.0 and float(p["ceiling_pred"].iloc[0]) <= 1.0
    assert "cut to the metric's range" in p["note"].iloc[0]


@pytest.mark.filterwarnings("ignore::scaling.exceptions.StatisticalWarning")
def test_plan_and_backtest_on_a_table():
    t = line_table(noise=0.05)
    s = load_summaries(t, "score", task="bench", perf_scale="none")
    res = fit_summaries(s)
    p = plan(res["easy"], target=25.0, prob=0.5)
    assert p.status == "reached" and 1e11 < p.params < 1e13  # line: 1 + 2 log10 N = 25 at N = 1e12
    bt = backtest_summaries(s)
    assert set(bt.rows["scheme"]) == {"leave-one-out", "leave-largest-out"}
    assert (bt.rows["status"] == "ok").any()


@pytest.mark.parametrize(
    "change, kwargs, match",
    [
        (lambda t: t, {"value": "nope"}, r"column 'nope' \(value\) not found; columns are"),
        (lambda t: t.assign(params=["1e8", "x", "1e9", "3e9", "1e10"] * 2), {"value": "score", "task": "bench"}, r"'params' \(params\) must be numeric; not a number: row 1 'x', row 6 'x'"),
        (lambda t: t.assign(params=[-1.0] + SIZES[1:] + SIZES), {"value": "score", "task": "bench"}, r"must be a positive parameter count; row 0 \(m0\)"),
        (lambda t: t, {"value": "score"}, r"model 'm0' has 2 rows .*name that column with --task"),
        (lambda t: pd.concat([t, t.iloc[[0]]]), {"value": "score", "task": "bench"}, r"model 'm0' has 2 rows within bench 'easy'"),
        (lambda t: t.assign(score="bad"), {"value": "score", "task": "bench"}, r"'score' \(value\) must be numeric"),
    ],
)
def test_bad_tables_give_one_line_errors(change, kwargs, match):
    with pytest.raises(DataError, match=match) as err:
        load_summaries(change(line_table()), perf_scale="none", **kwargs)
    assert "\n" not in str(err.value)


# ----- CLI -------------------------------------------------------------------------
def test_cli_extrapolate_table_round_trip(tmp_path):
    t = line_table()
    t.loc[t.index[::2], "score"] += 1e-6
    path = tmp_path / "models.csv"
    t.to_csv(path, index=False)
    out = tmp_path / "pred.csv"
    res = runner.invoke(app, ["extrapolate", str(path), "--value", "score", "--task", "bench", "--perf-scale", "none", "--to", "1e11", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "final score (from a table)" in res.output
    pred = pd.read_csv(out)
    np.testing.assert_allclose(pred.sort_values("task")["ceiling_pred"], [1 + 2 * 11, -3 + 0.5 * 11], atol=1e-5)
    assert set(pred["quantity"]) == {QUANTITY_TABLE}


def test_cli_table_errors_are_one_line(tmp_path):
    path = tmp_path / "models.csv"
    line_table().to_csv(path, index=False)
    cases = [
        (["--value", "nope", "--task", "bench"], "column 'nope' (value) not found"),
        (["--value", "score"], "model 'm0' has 2 rows"),
        (["--se", "score"], "pass --value COL too"),
        (["--value", "score", "--task", "bench", "--perf", "x"], "--perf apply to training curves only"),
    ]
    for args, msg in cases:
        res = runner.invoke(app, ["extrapolate", str(path), "--perf-scale", "none", "--to", "1e11", *args])
        assert res.exit_code == 2, res.output
        assert msg in res.output and "Traceback" not in res.output


@pytest.mark.filterwarnings("ignore::scaling.exceptions.StatisticalWarning")
def test_cli_plan_and_backtest_take_a_table(tmp_path):
    path = tmp_path / "models.csv"
    line_table(noise=0.05).to_csv(path, index=False)
    res = runner.invoke(app, ["plan", str(path), "--value", "score", "--task", "bench", "--perf-scale", "none", "--target", "25", "--tasks", "easy"])
    assert res.exit_code == 0, res.output
    assert "target final score (from a table) 25" in res.output
    res = runner.invoke(app, ["backtest-sizes", str(path), "--value", "score", "--task", "bench", "--perf-scale", "none"])
    assert res.exit_code == 0, res.output
    assert "leave-largest-out" in res.output


@pytest.mark.filterwarnings("ignore::scaling.exceptions.StatisticalWarning")
def test_acceptance_simplerl_zoo_table(shared_dir, tmp_path):
    """The issue's command: one prediction per benchmark and size, all inside the metric's range."""
    table = shared_dir / "realdata" / "published" / "simplerl_zoo_qwen25.csv"
    out = tmp_path / "pred.csv"
    res = runner.invoke(app, ["extrapolate", str(table), "--value", "after_rl", "--task", "benchmark", "--to", "3.25e10,7.27e10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out)
    benchmarks = set(pd.read_csv(table)["benchmark"])
    assert set(pred["task"]) == benchmarks and len(pred) == 2 * len(benchmarks)
    vals = pred[["ceiling_pred", "ceiling_lo", "ceiling_hi", "ceiling_mean_lo", "ceiling_mean_hi"]].to_numpy()
    assert np.isfinite(vals).all() and (vals >= 0).all() and (vals <= 1).all()  # fractions: inside [0, 100] percent
    assert set(pred["quantity"]) == {QUANTITY_TABLE}
    aime = pred[pred["task"] == "AIME24_pass1"]
    assert aime["note"].str.contains("moved inside").all()  # the 0.5B model's 0.0
