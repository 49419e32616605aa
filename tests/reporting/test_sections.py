"""Report sections for early prediction, algorithm comparison and model sizes; progress bars of the analyses."""

from __future__ import annotations

import dataclasses
import io
import sys
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scaling.comparison import CompareOptions, compare_algorithms
from scaling.data.load import load
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.status import FitStatus
from scaling.forecasting.forecast import ForecastOptions, forecast_dataset
from scaling.reporting.fit_sections import fits_section
from scaling.reporting.page import ReportContext, SkipSection, esc, full_sections, write_report
from scaling.reporting.sections import (
    across_section,
    compare_section,
    forecast_section,
    median_interval,
    proportion_interval,
)
from scaling.study import Study, StudySettings
from tests.conftest import simulate_run
from tests.fitting.test_forms import paper_law_run, plateau_run

EVIL = '<script>alert("x")</script>$x^{'
SIZES = {"s": 1e5, "m": 4e5, "l<&>": 1.6e6, "xl": 6.4e6}
SLOPE = 0.04  # true change of the ceiling per decade of parameters
CHEAP = StudySettings(forecast=ForecastOptions(n_boot=100), compare=CompareOptions(n_boot=99))


def ceiling_of(params: float) -> float:
    return 0.70 + SLOPE * np.log10(params / 1e5)


def table(
    rng: np.random.Generator, sizes=SIZES, algorithms=("grpo", "rloo"), n: int = 60, shift: dict | None = None
) -> pd.DataFrame:
    """One run per (size, algorithm), ceilings linear in log10(params); ``shift`` moves one (model, algorithm)'s ceiling."""
    parts = []
    for model, params in sizes.items():
        for algo in algorithms:
            P0 = ceiling_of(params) + (shift or {}).get((model, algo), 0.0)
            step, S, y = simulate_run(rng, n=n, P0=P0, beta=0.6, c=1.0, sd=0.006, rho=0.3)
            run = EVIL if (model, algo) == ("m", algorithms[0]) else f"{model}/{algo}"
            ident = {"run": run, "model": model, "params": params, "algorithm": algo, "seed": "0"}
            parts.append(pd.DataFrame({**ident, "step": step, "entropy": S, "perf": y}))
    return pd.concat(parts, ignore_index=True)


def context(frame: pd.DataFrame) -> ReportContext:
    return ReportContext(Study.run(load(frame), CHEAP))


@pytest.fixture(scope="module")
def ctx() -> ReportContext:
    return context(table(np.random.default_rng(7), shift={("xl", "rloo"): 0.06}))


@pytest.fixture(scope="module")
def sections(ctx):
    return {"forecast": forecast_section(ctx), "compare": compare_section(ctx), "across": across_section(ctx)}


def gids(fig) -> list[str]:
    return [a.get_gid() for ax in fig.axes for a in ax.get_children() if a.get_gid()]


# ----- early prediction ------------------------------------------------------------------------
def test_forecast_section_tables_figure_and_numbers(sections, ctx):
    sec = sections["forecast"]
    assert sec.key == "forecast" and sec.title == "Early prediction"
    tables = dict(sec.tables)
    runs = tables["forecast_runs"]
    usable = [f.run for f in ctx.fits if f.status.usable]
    assert sorted(runs["run"]) == sorted(usable) and len(runs) == 8
    ok = runs[runs["status"] == "ok"]
    assert len(ok) >= 6 and (ok["n_fit"] == 9).all()  # 15% of 60 points
    # the headline in words matches the table: k of n inside the prediction interval
    k = int(((ok["final_lo"] <= ok["final_actual"]) & (ok["final_actual"] <= ok["final_hi"])).sum())
    assert f"contained the final value for {k} of {len(ok)} runs" in sec.html
    assert "Clopper-Pearson" in sec.html and "order statistics" in sec.html
    # errors are small on data drawn from the law (sd 0.006): median |error| below 3 points
    assert ok["error"].abs().median() < 0.03
    assert tables["forecast_summary"]["n_forecast"].iloc[0] == len(ok)
    (fig,) = sec.figures
    assert 1 <= len(fig.figure.axes) <= 4
    assert gids(fig.figure).count("forecast") == len(fig.figure.axes)
    assert "spanning the range of forecast errors" in fig.caption


def test_forecast_section_skips_with_reasons(rng):
    short = context(table(rng, n=20))  # 15% of 20 points = 3 < 6
    with pytest.raises(SkipSection, match=r"no run could be forecast .*prefix too short"):
        forecast_section(short)
    step = np.arange(40.0)
    ident = {"run": "flat", "model": "m", "params": 1e6, "algorithm": "a", "seed": "0"}
    perf = 0.3 + 0.02 * rng.standard_normal(40)
    noise = pd.DataFrame({**ident, "step": step, "entropy": np.linspace(0.7, 0.1, 40), "perf": perf})
    with pytest.raises(SkipSection, match="whole-run fit is usable"):
        forecast_section(context(noise))


def test_forecast_section_uses_precomputed_result(ctx):
    pre = forecast_dataset(ctx.data, 0.3, options=ForecastOptions(n_boot=60), runs=["s/grpo", "s/rloo"])
    sec = forecast_section(ReportContext(dataclasses.replace(ctx.study, forecast=pre)))
    runs = dict(sec.tables)["forecast_runs"]
    assert sorted(runs["run"]) == ["s/grpo", "s/rloo"] and (runs["fraction"] == 0.3).all()
    assert "first 30% of validation points" in sec.html


# ----- algorithm comparison --------------------------------------------------------------------
def test_compare_section_verdicts_and_overlay(sections):
    sec = sections["compare"]
    assert sec.key == "compare" and sec.title == "Algorithm comparison"
    models = dict(sec.tables)["compare_models"].set_index("model")
    assert set(models.index) == set(SIZES)
    # the 6-point shift of rloo's ceiling on xl is found; the others are not called different
    assert models.loc["xl", "verdict"] == "different" and models.loc["xl", "p_value"] < 0.05
    assert 0.03 < models.loc["xl", "max_ceiling_diff"] < 0.09
    assert (models.drop(index="xl")["verdict"] != "different").all()
    assert any("xl" in w and "differ" in w for w in sec.warnings)
    assert "99 replicates" in sec.html and "Monte Carlo error" in sec.html
    (fig,) = sec.figures
    assert len(fig.figure.axes) == 4  # one panel per testable model
    assert gids(fig.figure).count("overlay-curve") >= 4 * 3  # two algorithms and the shared curve per model
    assert esc("l<&>") in sec.html and "l<&>" not in sec.html


def test_compare_section_skips_single_algorithm(rng):
    one = context(table(rng, algorithms=("grpo",)))
    with pytest.raises(SkipSection, match=r"at least two algorithms; the data have only one \(grpo\)"):
        compare_section(one)


# ----- across sizes ----------------------------------------------------------------------------
def test_across_section_figures_tables_and_slope(sections):
    sec = sections["across"]
    assert sec.key == "across" and sec.title == "Across model sizes"
    names = [f.name for f in sec.figures]
    assert names == ["across_ceiling", "across_coefficients_all"]
    ax = sec.figures[0].figure.axes[0]
    assert ax.get_xscale() == "log"
    kinds = gids(sec.figures[0].figure)
    assert {"stage2-line", "prediction-band", "mean-band", "extrapolated"} <= set(kinds)
    tables = dict(sec.tables)
    pred = tables["across_predictions"]
    assert np.allclose(pred["params"], [6.4e7, 6.4e8]) and np.allclose(pred["decades_beyond"], [1, 2])
    assert (pred["ceiling_lo"] < pred["ceiling_pred"]).all() and (pred["ceiling_pred"] < pred["ceiling_hi"]).all()
    coef = tables["across_coefficients"]
    slope = coef[
        (coef["quantity"] == "ceiling")
        & (coef["term"] == "slope")
        & (coef["form"] == "linear")
        & (coef["link"] == "identity")
    ].iloc[0]
    assert slope["lo"] < SLOPE < slope["hi"] and abs(slope["estimate"] - SLOPE) < 0.02
    bt = tables["across_backtest"]
    llo = bt[bt["scheme"] == "leave-largest-out"]
    assert set(llo["held_out"]) == {"xl"} and "Leave-largest-out backtest" in sec.html
    assert "per decade of parameters" in sec.html and "10× the largest" in sec.html


def test_across_section_skips_with_too_few_sizes(rng):
    two = context(table(rng, sizes={"s": 1e5, "m": 4e5}))
    with pytest.raises(SkipSection, match="at least 3 model sizes in a task; the data have"):
        across_section(two)
    one = context(table(rng, sizes={"s": 1e5}))
    with pytest.raises(SkipSection, match="needs at least 3 model sizes"):
        across_section(one)


# ----- the whole page -------------------------------------------------------------------------
class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(dict(attrs).get("id"))


def test_full_report_escapes_names_and_orders_sections(ctx, tmp_path):
    rep = write_report(ctx.study, tmp_path, sections=full_sections(), per_run=False, dpi=40)
    raw = rep.path.read_text(encoding="utf-8")
    page = Page()
    page.feed(raw)
    assert page.sections[:4] == ["summary", "warnings", "data", "fits"]
    assert page.sections[-5:] == ["forecast", "compare", "across", "not-run", "files"]
    assert list(rep.skipped) == ["figures per run"]
    assert "script" not in page.tags and EVIL not in raw and esc(EVIL) in raw
    warned = [w for w in rep.warnings if "Algorithm comparison, xl" in w]
    assert warned and esc(warned[0]) in raw.split('<section id="data">')[0]  # listed first, escaped
    for name in ("forecast_runs", "compare_models", "across_predictions", "across_backtest"):
        assert (tmp_path / "tables" / f"{name}.csv").exists()
    assert (tmp_path / "figures" / "across_ceiling.png").exists()


def test_cli_report_turns_sections_off(tmp_path):
    import typer.testing

    from scaling.cli import app

    csv = tmp_path / "runs.csv"
    table(np.random.default_rng(11), sizes={"s": 1e5, "m": 4e5}).to_csv(csv, index=False)
    args = ["report", str(csv), "-o", str(tmp_path / "out"), "--no-per-run"]
    result = typer.testing.CliRunner().invoke(app, [*args, "--no-forecast", "--no-compare", "--no-across"])
    assert result.exit_code == 0, result.output
    assert "Early prediction" not in result.output and "not run: across" not in result.output
    result = typer.testing.CliRunner().invoke(app, [*args, "--no-forecast", "--compare-boot", "99"])
    assert result.exit_code == 0, result.output
    assert "Algorithm comparison" in result.output
    assert "not run: across model sizes: the regression across sizes needs at least 3 model sizes" in result.output


# ----- intervals of the headline numbers -----------------------------------------------------
def test_median_interval_exact_and_covers():
    m, lo, hi, achieved = median_interval(np.arange(1, 21), 0.95)
    assert (m, lo, hi) == (10.5, 6.0, 15.0) and achieved >= 0.95
    m, lo, hi, achieved = median_interval([3.0, 1.0, 2.0], 0.95)
    assert (lo, hi) == (1.0, 3.0) and achieved == pytest.approx(0.75)  # the range: too few values for 95%
    assert np.isnan(median_interval([], 0.9)[0])
    with pytest.raises(ValueError, match="level"):
        median_interval([1.0], 1.5)
    # coverage of the true median of an exponential distribution (log 2), 1000 samples of 25
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(1000):
        _, lo, hi, achieved = median_interval(rng.exponential(size=25), 0.95)
        hits.append(lo <= np.log(2) <= hi)
    assert abs(np.mean(hits) - achieved) < 3 * np.sqrt(achieved * (1 - achieved) / 1000)
    lo, hi = proportion_interval(8, 10, 0.95)
    assert lo == pytest.approx(0.4439, abs=1e-3) and hi == pytest.approx(0.9748, abs=1e-3)  # R: binom.test(8, 10)


# ----- progress bars ---------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_analyses_draw_bars_only_on_a_terminal(ctx, monkeypatch):
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    forecast_dataset(ctx.data, 0.2, options=ForecastOptions(n_boot=50), runs=["s/grpo", "s/rloo"])
    compare_algorithms(ctx.data, options=CompareOptions(test="ar1"))
    assert quiet.getvalue() == ""
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    forecast_dataset(ctx.data, 0.2, options=ForecastOptions(n_boot=50), runs=["s/grpo", "s/rloo"])
    compare_algorithms(ctx.data, options=CompareOptions(test="ar1"))
    out = tty.getvalue()
    assert "forecasts (20% prefix)" in out and "2/2" in out
    assert "comparing algorithms per model" in out and "4/4" in out


def test_report_names_the_form_to_believe(rng):
    parts = []
    for name, (S, y) in {"plateau": plateau_run(), "law": paper_law_run(rng)[:2]}.items():
        parts.append(pd.DataFrame({"run": name, "model": "m", "params": 1e6, "step": np.arange(S.size), "entropy": S, "perf": y}))
    res = fit_dataset(load(pd.concat(parts)))
    assert [FitStatus.FORM_DISAGREEMENT in f.flags for f in res] == [True, False]
    html = fits_section(ReportContext(SimpleNamespace(fits=res, data=None))).html
    assert "Of 2 runs with both fits, 1 with a usable fit has ceiling intervals that do not overlap" in html
    table = html[html.index("Runs whose ceiling depends on the form") :]
    assert "plateau" in table and "law" not in table
    # the free c: AICc favours it, and the c = 1 fit leaves a pattern in its residuals (systematic misfit)
    assert "<td>free c</td>" in table and "systematic pattern" in table


def test_across_section_shows_runs_left_out_beside_each_ceiling():
    rng = np.random.default_rng(11)
    frame = table(rng)
    step = np.arange(60) * 10.0
    noise = pd.DataFrame({"run": "l<&>/grpo/1", "model": "l<&>", "params": SIZES["l<&>"], "algorithm": "grpo", "seed": "1",
                          "step": step, "entropy": np.linspace(1.0, 0.2, 60), "perf": 0.7 + 0.05 * rng.standard_normal(60)})  # fmt: skip
    sec = across_section(context(pd.concat([frame, noise], ignore_index=True)))
    models = dict(sec.tables)["across_models"].set_index("model")
    assert models.loc["l<&>", ["n_runs_pooled", "n_runs_left_out"]].tolist() == [2, 1]
    why = models.loc["l<&>", "left_out"]
    assert why.startswith("1 ") and models.loc["s", "left_out"] == ""
    assert "runs left out (why)" in sec.html and f"<td>1 ({esc(why)})</td>" in sec.html
    assert f"l&lt;&amp;&gt;: 2 of 3 run(s) pooled, {esc(why)} left out" in sec.html and "l<&>" not in sec.html
    assert "unusable runs nearby" in sec.html
