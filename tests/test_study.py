"""The Study: every analysis once on one settings object; the report fits each run once."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling.across.predict import fit_across
from scaling.comparison import CompareOptions, compare_algorithms
from scaling.data.load import ColumnMap, load
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.screen import rescreen
from scaling.fitting.single import FitOptions, fit_run, run_points
from scaling.forecasting.forecast import ForecastOptions
from scaling.forked import can_fork
from scaling.study import ANALYSES, AcrossOptions, Study, StudySettings
from tests.conftest import simulate_run

DATA = Path(__file__).resolve().parents[1] / "data" / "runs.csv"
EVIL = '<script>alert("x")</script>'


def family(rng: np.random.Generator, sizes=(1e5, 4e5, 1.6e6), algorithms=("grpo", "rloo")) -> pd.DataFrame:
    parts = []
    for i, params in enumerate(sizes):
        for algo in algorithms:
            step, S, y = simulate_run(rng, n=50, P0=0.7 + 0.03 * i, beta=0.6, c=1.0, sd=0.006, rho=0.3)
            run = EVIL if (i, algo) == (0, algorithms[0]) else f"m{i}/{algo}"
            ident = {"run": run, "model": f"m{i}", "params": params, "algorithm": algo, "seed": "0"}
            parts.append(pd.DataFrame({**ident, "step": step, "entropy": S, "perf": y}))
    return pd.concat(parts, ignore_index=True)


CHEAP = StudySettings(forecast=ForecastOptions(n_boot=60), compare=CompareOptions(n_boot=99))


@pytest.fixture(scope="module")
def study() -> Study:
    return Study.run(load(family(np.random.default_rng(2))), CHEAP)


def test_study_runs_every_analysis_once_and_summarises(study):
    assert study.forecast is not None and study.comparison is not None and study.across is not None
    assert study.skipped == {} and study.reused_fits
    assert set(study.warnings) == {"fit", *ANALYSES}
    summ = study.summary()
    assert list(summ.columns) == ["analysis", "status", "result", "reason", "warnings"]
    assert list(summ["analysis"]) == ["fit", *ANALYSES] and (summ["status"] == "done").all()
    frame = study.to_frame()
    assert len(frame) == 6 and {"ceiling", "status", "forecast_status", "final_pred"} <= set(frame.columns)
    out = study._repr_html_()
    assert "<table" in out and "<script>" not in out
    assert "Study(6 runs" in repr(study)


def test_study_records_skips_and_unrequested_analyses():
    ds = load(family(np.random.default_rng(3), sizes=(1e5, 4e5), algorithms=("grpo",)))
    st = Study.run(ds, StudySettings(forecast=ForecastOptions(n_boot=60), analyses=("forecast", "compare", "across")))
    assert st.skipped["compare"].startswith("comparing algorithms needs runs of at least two algorithms")
    assert "at least 3 model sizes" in st.skipped["across"]
    assert st.comparison is None and st.across is None and st.forecast is not None
    only = Study.run(ds, StudySettings(analyses=()))
    summ = only.summary().set_index("analysis")
    assert (summ.loc[list(ANALYSES), "status"] == "not requested").all()
    assert only.forecast is None and only.skipped == {}


def test_jobs_below_one_are_refused_before_any_fit(monkeypatch):
    import scaling.study as S

    monkeypatch.setattr(S, "fit_dataset", lambda *a, **k: pytest.fail("fitted before checking jobs"))
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
        Study.run(load(family(np.random.default_rng(3))), CHEAP, jobs=0)


def test_settings_are_checked_and_give_defaults():
    s = StudySettings(fit=FitOptions(alpha=0.1, r2_min=0.5))
    assert s.forecast_options.alpha == 0.1 and s.compare_options.r2_min == 0.5 and s.level == pytest.approx(0.9)
    with pytest.raises(ValueError, match="analyses names unknown"):
        StudySettings(analyses=("fit",))
    with pytest.raises(ValueError, match="mode must be"):
        StudySettings(mode="bayes")
    with pytest.raises(ValueError, match="forecast_fraction"):
        StudySettings(forecast_fraction=1.5)
    with pytest.raises(ValueError, match="multiples"):
        AcrossOptions(multiples=(0.0,))


def test_screening_from_given_fits_equals_refitting():
    """compare_algorithms / fit_across with ``fits=`` give the same tables as when they refit every run."""
    ds = load(family(np.random.default_rng(4)))
    given = {f.run: f for f in fit_dataset(ds)}
    opts = CompareOptions(n_boot=99)
    pd.testing.assert_frame_equal(compare_algorithms(ds, options=opts, fits=given).to_frame(), compare_algorithms(ds, options=opts).to_frame())
    a, b = fit_across(ds, fits=given), fit_across(ds)
    pd.testing.assert_frame_equal(a.runs, b.runs)
    pd.testing.assert_frame_equal(a.points(), b.points())


@pytest.mark.parametrize("options", [FitOptions(perf_range=(0.0, 1.0)), FitOptions(perf_range=None, r2_min=0.9), FitOptions(alpha=0.2)])
def test_rescreen_gives_the_status_of_a_refit(options):
    ds = load(family(np.random.default_rng(5)))
    runs = run_points(ds.points)
    for alpha in (0.05, 0.1):
        for fit in fit_dataset(ds, options=FitOptions(alpha=alpha)):
            r = runs[fit.run]
            ref = fit_run(r.entropy, r.perf, r.step, options=options, run=fit.run)
            got = rescreen(fit, options)
            assert (got.status, got.flags, got.message, got.alpha) == (ref.status, ref.flags, ref.message, ref.alpha)
    paper = fit_dataset(ds, mode="paper").fits[0]
    assert rescreen(paper, options) is None  # c fixed: a free fit must be made
    boot = fit_dataset(ds, options=FitOptions(ci="bootstrap", n_boot=60)).fits[0]
    assert rescreen(boot, options) is None and rescreen(fit, FitOptions(maxlags=3)) is None


def test_report_fits_each_run_once(monkeypatch, tmp_path):
    """During ``scaling report`` on data/runs.csv each run is fitted once.

    Every fit of a run goes through the fitting engine (``scaling.fitting.engine.fit_runs``;
    ``fit_run`` is the engine on a batch of one), so the engine is counted, once per whole run
    in its batch, wherever its name is used.  Not counted: the forecasts' fits of a run's first
    15% of points (a prefix is not the run), bootstrap replicates inside a fit, and the pooled
    panel fits across runs (stage 1 across sizes, the comparison's curves), which fit models,
    not runs.  The c = 1 fit beside each free fit (:mod:`scaling.fitting.forms`) is another form
    of the law, counted apart: once per run too.
    """
    import typer.testing

    import scaling.fitting.engine as engine
    from scaling.cli import app

    ds = load(DATA, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    sizes = ds.points.groupby("run").size().to_dict()
    counts: Counter = Counter()
    companions: Counter = Counter()  # the c = 1 fits beside the free ones
    orig_runs = engine.fit_runs

    def fit_runs(runs, *args, **kwargs):
        mode = args[0] if args else kwargs.get("mode", "free")
        for r in runs:
            if sizes.get(r.ident["run"]) == r.entropy.size:
                (companions if mode == "paper" else counts)[r.ident["run"]] += 1
        return orig_runs(runs, *args, **kwargs)

    patched = 0
    for name, mod in list(sys.modules.items()):
        if (name == "scaling" or name.startswith("scaling.")) and getattr(mod, "fit_runs", None) is orig_runs:
            monkeypatch.setattr(mod, "fit_runs", fit_runs)
            patched += 1
    assert patched >= 2  # the engine itself and the modules that call it

    args = ["report", str(DATA), "--run", "task,model,algorithm,seed", "--perf", "val_acc", "-o", str(tmp_path / "r")]
    result = typer.testing.CliRunner().invoke(app, [*args, "--no-per-run", "--compare-boot", "99", "--forecast-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "Algorithm comparison" in result.output and "Across model sizes" in result.output
    assert set(counts) == set(sizes) and set(counts.values()) == {1}, counts
    assert set(companions) == set(sizes) and set(companions.values()) == {1}, companions


@pytest.mark.skipif(not can_fork(), reason="forked processes are used on Linux only")
def test_analyses_run_in_forked_processes_give_the_same_study(study):
    par = Study.run(study.data, CHEAP, jobs=3)
    for name in ("forecast", "unfinished", "comparison", "across", "size_backtest"):
        pd.testing.assert_frame_equal(getattr(par, name).to_frame(), getattr(study, name).to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(par.to_frame(), study.to_frame(), check_exact=True)
    assert par.skipped == study.skipped == {} and par.warnings == study.warnings
    assert {t: p.equals(study.across_predictions[t]) for t, p in par.across_predictions.items()} == {"": True}


@pytest.mark.skipif(not can_fork(), reason="forked processes are used on Linux only")
def test_an_analysis_whose_process_dies_is_skipped_with_its_exit_code(monkeypatch):
    import os

    import scaling.study as S

    ds = load(family(np.random.default_rng(3)))
    monkeypatch.setitem(S._RUNNERS, "compare", lambda *a: os._exit(9))
    st = Study.run(ds, CHEAP, jobs=2)
    assert st.skipped == {"compare": "failed: its process stopped (exit code 9)"}
    assert st.forecast is not None and st.across is not None and st.comparison is None
