"""The public API: ``import scaling as sc`` and one function per job, each result with one protocol."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import scaling as sc

matplotlib.use("Agg")
DATA = Path(__file__).resolve().parents[1] / "data" / "runs.csv"


@pytest.fixture(scope="module")
def ds():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sc.load(DATA, run="task,model,algorithm,seed", perf="val_acc")


def test_every_name_in_all_exists():
    for name in sc.__all__:
        assert hasattr(sc, name), name
    for job in ("load", "fit", "forecast", "compare", "extrapolate", "plan", "backtest_forecast", "backtest_sizes"):
        assert callable(getattr(sc, job)) and job in sc.__all__


def test_fit_summary_and_conf_int_at_another_level(ds):
    res = sc.fit(ds)
    summ = res.summary()
    assert isinstance(summ, pd.DataFrame) and len(summ) == 45 and summ.index.name == "run"
    assert {"ceiling", "ceiling_lo", "ceiling_hi", "c", "status"} <= set(summ.columns)
    ci95, ci90 = res.conf_int(), res.conf_int(alpha=0.1)
    assert list(ci95.columns) == ["lower", "upper"] and (ci95.index == summ.index).all()
    ok = summ["status"].isin(["ok", "ceiling outside range"])
    assert ok.sum() >= 20
    # a 90% interval sits inside the 95% one, and the default equals the summary's columns
    assert (ci90.loc[ok, "lower"] > ci95.loc[ok, "lower"]).all() and (ci90.loc[ok, "upper"] < ci95.loc[ok, "upper"]).all()
    np.testing.assert_allclose(ci95.loc[ok, "lower"], summ.loc[ok, "ceiling_lo"], rtol=0, atol=0)
    fit = res["add3/l/grpo/0"]
    lo, hi = fit.conf_int("c", alpha=0.5)
    assert fit.conf_int("c")[0] < lo < fit.c < hi < fit.conf_int("c")[1]
    with pytest.raises(ValueError, match="alpha"):
        fit.conf_int(alpha=1.5)


def test_results_render_for_notebooks_and_plot(ds):
    res = sc.fit(ds)
    html = res._repr_html_()
    assert html.startswith("<p><b>FitResults</b></p>") and "add3/l/grpo/0" in html and "<table" in html
    ax = res["add3/l/grpo/0"].plot()
    assert ax.get_xlabel()
    fig = res.plot()
    assert len(fig.axes) >= 2
    import matplotlib.pyplot as plt

    plt.close("all")


def test_load_reads_logs_and_frames_like_the_cli():
    logs = Path(__file__).resolve().parent / "files"
    ds = sc.load(logs / "verl_new.log")
    assert len(ds.runs) >= 1 and {"entropy", "perf"} <= set(ds.points.columns)
    frame = pd.read_csv(DATA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from_frame = sc.load(frame, run=["task", "model", "algorithm", "seed"], perf="val_acc")
    assert len(from_frame.runs) == 45
    with pytest.raises(ValueError, match="format"):
        sc.load(DATA, format="excel")


def test_extrapolate_and_plan_through_the_api(ds):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ex = sc.extrapolate(ds, to=[3e9, 7e10], tasks=["add4"], form="linear")  # one form: the others disagree
    said = " | ".join(str(w.message) for w in seen)
    assert "9 of 28 run(s) not pooled" in said and "forms disagree" in said
    summ = ex.summary()
    assert list(summ["params"]) == [3e9, 7e10] and (summ["ceiling_lo"] < summ["ceiling_pred"]).all()
    assert (summ["ceiling_pred"] < summ["ceiling_hi"]).all()
    with pytest.warns(sc.StatisticalWarning, match="forms disagree"):
        again = ex.predict([3e9])
    assert again["ceiling_pred"].iloc[0] == pytest.approx(summ["ceiling_pred"].iloc[0], rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plans = sc.plan(ex.across, target=0.9)
    assert len(plans.summary()) == 1 and "params" in plans.summary().columns
    with pytest.raises(ValueError, match="positive"):
        sc.extrapolate(ds, to=[-1.0])
    # intervals at another level: narrower at 50% than at the fit's 90%, for stage 1 and stage 2
    task = ex.across["add4"]
    wide, narrow = task.conf_int(), task.conf_int(alpha=0.5)
    assert ((narrow["upper"] - narrow["lower"]) < (wide["upper"] - wide["lower"])).all() and len(wide) >= 3
    coef90, coef50 = task.ceiling.conf_int(), task.ceiling.conf_int(alpha=0.5)
    np.testing.assert_allclose(coef90["lower"], task.ceiling.summary()["lo"], rtol=1e-12)
    assert ((coef50["upper"] - coef50["lower"]) < (coef90["upper"] - coef90["lower"])).all()


def test_every_single_result_draws_itself(ds):
    """plot() on a run's fit, forecast, algorithm comparison, cross-size fit and extrapolation."""
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = next(f for f in sc.forecast(ds, progress=False).forecasts if f.usable)
        m = next(m for m in sc.compare(ds).models if m.n_algorithms > 1)
        ex = sc.extrapolate(ds, to=[3e9, 7e10], tasks=["add4"], form="linear")  # one form: the others disagree
    for result in (fc, m, ex.across["add4"], ex):
        ax = result.plot()
        assert ax.has_data(), type(result).__name__
    # the extrapolation adds the two predicted sizes to its task's figure, at the stated level
    assert len(ex.plot().lines) > len(ex.across["add4"].plot().lines)
    assert "90%" in " ".join(t.get_text() for t in ex.plot().get_legend().get_texts())
    with pytest.raises(TypeError, match="plot its parts"):
        sc.compare(ds).plot()
    plt.close("all")
