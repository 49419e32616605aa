"""Algorithm independence: one curve vs one per algorithm, equivalence intervals, verdicts, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from typer.testing import CliRunner

from scaling.cli import app
from scaling.comparison import (
    DIFFERENT,
    NOT_TESTABLE,
    SAME,
    CompareOptions,
    _design,
    _f_stat,
    _Panel,
    _restriction,
    compare_algorithms,
    compare_model,
)
from scaling.core import law
from scaling.data.load import ColumnMap, load
from scaling.data.runtable import prepare_run
from scaling.simulate import ar1_noise

runner = CliRunner()
#: entropy decay time (in units of n/50 steps) per algorithm: grpo spends entropy fastest.
SPEEDS = {"grpo": 25, "grpo_ent": 28, "rloo": 45, "reinforce": 50}


def simulate_model(rng, shift=0.0, n=100, rho=0.5, sd=0.01, seeds=1, algorithms=tuple(SPEEDS), model="m"):
    """Runs of several algorithms on one curve (P0 = 0.97, beta = 0.7, c = 1) with AR(1) noise;
    ``shift`` moves rloo's ceiling."""
    runs, levels = [], []
    for a in algorithms:
        for s in range(seeds):
            step = np.arange(n) * 2.0
            H = 0.03 + 0.45 * np.exp(-step / (SPEEDS[a] * n / 50))
            y = 0.97 + (shift if a == "rloo" else 0.0) - 0.7 * law.g(H, 1.0) + ar1_noise(rng, n, sd, rho)
            ident = dict(run=f"{model}/{a}/{s}", model=model, params=1e6, algorithm=a, seed=str(s))
            runs.append(prepare_run(H, y, step, ident)[0])
            levels.append(a)
    return runs, levels


def _frame(runs, task="t") -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame({"run": f"{task}/{r.ident['run']}", "task": task, "model": r.ident["model"], "params": 1e6,
                       "algorithm": r.ident["algorithm"], "seed": r.ident["seed"], "step": r.step, "entropy": r.entropy,
                       "perf": r.perf}) for r in runs],
        ignore_index=True,
    )  # fmt: skip


def test_runs_from_one_curve_are_the_same_curve():
    """Ten data sets drawn from one curve (4 algorithms x 2 seeds, AR(1) noise): none is called
    different, and at least 8 are "same curve" (the test's level is 5%; seed 1 is a type I error
    whose ceilings still agree within 1 point, so it is "equivalent")."""
    verdicts = []
    for seed in range(10):
        runs, levels = simulate_model(np.random.default_rng(seed), seeds=2, sd=0.005)
        m = compare_model(runs, levels, options=CompareOptions(n_boot=199), perf_range=None)
        verdicts.append(m.verdict)
        assert m.bound <= 0.02 and m.n_algorithms == 4 and len(m.runs) == 8, m.explanation
        assert m.c == pytest.approx(1.0, abs=0.3) and m.flagged == ()
    assert DIFFERENT not in verdicts and verdicts.count(SAME) >= 8, verdicts
    m = compare_model(*simulate_model(np.random.default_rng(0), seeds=2, sd=0.005), options=CompareOptions(n_boot=199), perf_range=None)
    assert "same curve" in m.explanation and "F-test (block bootstrap) p = " in m.explanation


@pytest.mark.parametrize("test", ["bootstrap", "ar1"])
def test_a_ceiling_shifted_by_five_points_is_different(test):
    runs, levels = simulate_model(np.random.default_rng(5), shift=0.05)
    m = compare_model(runs, levels, options=CompareOptions(test=test, n_boot=199), perf_range=None)
    assert m.verdict == DIFFERENT, m.explanation
    assert m.p_value < 0.01
    assert m.pair.startswith("rloo - ")
    assert m.diff_lo < 0.05 < m.diff_hi and m.diff_lo > 0.02
    assert m.flagged == ("rloo",)  # one-versus-rest finds the odd one out
    assert m.ceilings.set_index("algorithm").loc["rloo", "ceiling"] == pytest.approx(1.02, abs=0.02)


def test_linear_test_is_the_textbook_f_test():
    """At a fixed c the Wald test with the iid covariance equals statsmodels' nested F-test."""
    runs, _ = simulate_model(np.random.default_rng(7))
    S = np.concatenate([r.entropy for r in runs])
    y = np.concatenate([r.perf for r in runs])
    codes = np.repeat(np.arange(4), [r.entropy.size for r in runs])
    g = law.g(S, 0.9)
    alt = sm.OLS(y, _design(g, codes, 4)).fit()
    null = sm.OLS(y, np.column_stack([np.ones_like(g), -g])).fit()
    f, p, df = alt.compare_f_test(null)
    wald = alt.wald_test(_restriction(4), use_f=True, scalar=True)
    assert df == 6
    assert float(wald.statistic) == pytest.approx(f, rel=1e-9)
    assert float(wald.pvalue) == pytest.approx(p, rel=1e-9)


def test_one_algorithm_is_not_testable_and_bad_runs_are_left_out():
    rng = np.random.default_rng(8)
    runs, levels = simulate_model(rng, algorithms=("grpo",), seeds=2)
    S = np.linspace(0.8, 0.6, 100)
    flat = prepare_run(S, 0.07 + rng.normal(0, 0.005, 100), np.arange(100.0), dict(run="m/rloo/0", model="m", params=1e6, algorithm="rloo", seed="0"))[0]
    m = compare_model(runs + [flat], levels + ["rloo"], options=CompareOptions(), perf_range=None)
    assert m.verdict == NOT_TESTABLE
    assert "m/rloo/0" in m.excluded and "poor fit" in m.excluded["m/rloo/0"]
    assert "only algorithm grpo" in m.explanation and "m/rloo/0 (poor fit)" in m.explanation
    assert m.to_frame().loc[0, "n_algorithms"] == 1


def test_models_are_grouped_by_task_and_model():
    rng = np.random.default_rng(9)
    a, _ = simulate_model(rng, algorithms=("grpo", "rloo"))
    b, _ = simulate_model(rng, algorithms=("grpo", "rloo"), shift=0.05)
    ds = load(pd.concat([_frame(a, "add3"), _frame(b, "add4")], ignore_index=True))
    res = compare_algorithms(ds, options=CompareOptions(n_boot=199))
    assert res.group == ("task", "model")
    assert [m.model for m in res] == ["add3/m", "add4/m"]
    assert res["add4/m"].verdict == DIFFERENT and res["add3/m"].verdict != DIFFERENT
    frame = res.to_frame()
    assert list(frame.columns[:8]) == ["model", "n_algorithms", "p_value", "delta_aic", "max_ceiling_diff", "diff_lo", "diff_hi", "verdict"]
    curves = res["add4/m"].curves(20)
    assert set(curves["algorithm"]) == {"grpo", "rloo", "all"}
    assert (curves.dropna()["lo"] <= curves.dropna()["hi"]).all()
    with pytest.raises(ValueError, match="by names unknown column"):
        compare_algorithms(ds, by="optimizer")


@pytest.mark.slow
def test_size_and_simultaneous_coverage():
    """Under one curve (4 algorithms, AR(1) rho = 0.5): the bootstrap test rejects about 5% of the
    time and the 90% simultaneous intervals of all ceiling differences cover zero about 90% of the time.
    Measured with 500 replications (analyses/algorithm_compare.py): rejections 3.8% (bootstrap), 6.6% (ar1);
    coverage 90%."""
    reps, rej, cover = 60, 0, 0
    for r in range(reps):
        runs, levels = simulate_model(np.random.default_rng(1000 + r))
        m = compare_model(runs, levels, options=CompareOptions(n_boot=99, seed=r), perf_range=None)
        rej += m.p_value < 0.05
        cover += bool(np.all((m.pairs["lo"] <= 0) & (0 <= m.pairs["hi"])))
    assert rej / reps <= 0.12
    assert cover / reps >= 0.8


def test_cli_compare(tmp_path):
    runs, _ = simulate_model(np.random.default_rng(11), shift=0.05)
    path = tmp_path / "runs.csv"
    _frame(runs).to_csv(path, index=False)
    out = tmp_path / "cmp.csv"
    res = runner.invoke(app, ["compare", str(path), "--n-boot", "99", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "different" in res.output and "ceilings differ by at most" in res.output
    frame = pd.read_csv(out)
    assert frame.loc[0, "verdict"] == "different" and frame.loc[0, "n_algorithms"] == 4
    res = runner.invoke(app, ["compare", str(path), "--test", "hac"])
    assert res.exit_code == 2


def test_toyrl_every_model_gets_an_explained_verdict(shared_dir):
    ds = load(shared_dir / "toyrl" / "runs.csv", ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    res = compare_algorithms(ds, options=CompareOptions(n_boot=199))
    frame = res.to_frame()
    assert sorted(frame["model"]) == ["add3/l", "add3/m", "add3/s", "add4/l", "add4/m", "add4/s", "add4/xl", "add4/xxl"]
    assert frame["verdict"].notna().all() and (frame["explanation"].str.len() > 40).all()
    testable = frame[frame["verdict"] != NOT_TESTABLE]
    assert len(testable) == 6 and (testable["n_algorithms"] == 4).all()
    assert testable["p_value"].between(0, 1).all() and (testable["diff_lo"] <= testable["diff_hi"]).all()
    # the law describes none of add4/s, and only the rloo run of add4/xxl: nothing to compare
    assert set(frame.loc[frame["verdict"] == NOT_TESTABLE, "model"]) == {"add4/s", "add4/xxl"}
    assert "late collapse" in res["add4/xxl"].explanation


def test_curve_bands_of_a_fraction_stay_in_0_1():
    # short noisy runs whose curves reach 0.995 at S = 0: the metric-scale bands cross 1
    runs, levels = simulate_model(np.random.default_rng(4), shift=0.0, n=16, sd=0.03, algorithms=("grpo", "rloo"))
    runs = [prepare_run(r.entropy, r.perf + 0.025, r.step, r.ident)[0] for r in runs]
    free = compare_model(runs, levels, perf_range=None).curves()
    cur = compare_model(runs, levels, perf_range=(0.0, 1.0)).curves()
    band0, band = free[free["algorithm"] != "all"], cur[cur["algorithm"] != "all"]
    assert (band0["hi"] > 1).any()
    ok = band["lo"].notna()
    assert ((band.loc[ok, "lo"] >= 0) & (band.loc[ok, "hi"] <= 1)).all()
    np.testing.assert_allclose(cur["mean"], free["mean"])


def test_bootstrap_f_statistics_are_the_nested_f_test_at_each_rate():
    """The replicates' F statistics (closed-form lines, a chunk of replicates at once) equal statsmodels'
    nested F-test of one curve against one per algorithm, replicate by replicate, at its own rate."""
    runs, _ = simulate_model(np.random.default_rng(11))
    sizes = [r.entropy.size for r in runs]
    S = np.concatenate([r.entropy for r in runs])
    codes = np.repeat(np.arange(4), sizes)
    panel = _Panel(S, np.concatenate([r.perf for r in runs]), np.repeat(np.arange(4), sizes), codes,
                   ("a", "b", "c", "d"), np.arange(4))  # fmt: skip
    rng = np.random.default_rng(2)
    Y = panel.y + 0.01 * rng.standard_normal((7, S.size))
    c = np.array([0.3, 0.9, 1.7, -0.5, 1e-9, 2.5, 0.9])
    got = _f_stat(panel, Y, c)
    for b in range(len(c)):
        g = law.g(S, c[b])
        alt = sm.OLS(Y[b], _design(g, codes, 4)).fit()
        null = sm.OLS(Y[b], np.column_stack([np.ones_like(g), -g])).fit()
        assert got[b] == pytest.approx(alt.compare_f_test(null)[0], rel=1e-9)
