"""Plot functions: each is called on small data and the returned objects are inspected."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from scaling.data.load import load
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.single import FitOptions, FitStatus, fit_run
from scaling.plotting import figures as P
from tests.conftest import simulate_run


def synthetic_table(rng: np.random.Generator) -> pd.DataFrame:
    """Two models x two algorithms following the law, one run that does not, one with 3 points."""
    parts = []
    for model, params, P0 in (("small", 1e6, 0.7), ("large", 1e7, 0.85)):
        for algo in ("grpo", "rloo"):
            step, S, y = simulate_run(rng, n=40, P0=P0, beta=0.5, c=1.0, sd=0.01)
            parts.append(
                pd.DataFrame(
                    dict(
                        run=f"{model}/{algo}",
                        model=model,
                        params=params,
                        algorithm=algo,
                        seed="0",
                        step=step,
                        entropy=S,
                        perf=y,
                    )
                )
            )
    step = np.arange(40.0)
    flat = pd.DataFrame(
        dict(
            run="small/noise",
            model="small",
            params=1e6,
            algorithm="reinforce",
            seed="0",
            step=step,
            entropy=np.linspace(0.7, 0.1, 40),
            perf=0.3 + 0.02 * rng.standard_normal(40),
        )
    )
    few = pd.DataFrame(
        dict(
            run="large/short",
            model="large",
            params=1e7,
            algorithm="reinforce",
            seed="0",
            step=[0.0, 1.0, 2.0],
            entropy=[0.6, 0.5, 0.4],
            perf=[0.5, 0.55, 0.6],
        )
    )
    return pd.concat([*parts, flat, few], ignore_index=True)


@pytest.fixture(scope="module")
def results():
    ds = load(synthetic_table(np.random.default_rng(7)))
    return fit_dataset(ds)


@pytest.fixture(scope="module")
def good(results):
    return results["large/grpo"]


def by_gid(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def texts(ax) -> str:
    return "\n".join(t.get_text() for t in ax.texts)


def test_synthetic_statuses(results):
    st = {f.run: f.status for f in results}
    assert st["large/grpo"] == FitStatus.OK and st["small/rloo"] == FitStatus.OK
    assert st["small/noise"] in (FitStatus.POOR_FIT, FitStatus.NOT_DECREASING, FitStatus.AT_BOUND)
    assert st["large/short"] == FitStatus.TOO_FEW_POINTS


# ----- stage 1: one run -----------------------------------------------------------------
def test_plot_fit_draws_points_curve_band_and_ceiling(good):
    ax = P.plot_fit(good, perf_range=(0, 1))
    assert ax.get_xlabel() == "policy entropy S (nats)"
    assert "accuracy" in ax.get_ylabel()
    assert ax.get_title() == "large/grpo"
    (curve,) = by_gid(ax, "fit-curve")
    (extra,) = by_gid(ax, "fit-extrapolated")
    assert len(by_gid(ax, "fit-band")) == 1
    # the curve is the fitted law over the observed entropies; the extrapolation reaches S = 0
    x, y = curve.get_data()
    np.testing.assert_allclose(y, good.predict(x))
    assert extra.get_xdata()[0] == 0.0
    (marker,) = by_gid(ax, "ceiling")
    assert marker.get_xdata()[0] == 0.0 and marker.get_ydata()[0] == pytest.approx(good.ceiling)
    assert len(by_gid(ax, "ceiling-interval")) == 1
    (points,) = by_gid(ax, "points")
    assert points.get_offsets().shape == (good.n_points, 2)
    assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 5
    assert "status" not in texts(ax)  # an ok run gets no status note
    assert "P0 = " in texts(ax) and "95% CI" in texts(ax)
    assert ax.xaxis.label.get_fontsize() >= 10 and ax.get_xticklabels()[0].get_fontsize() >= 9


def test_plot_fit_says_when_a_run_is_not_ok(results):
    bad = results["small/noise"]
    ax = P.plot_fit(bad)
    (note,) = by_gid(ax, "status-note")
    assert f"status: {bad.status.value}" in note.get_text()
    if bad.has_estimate:
        (curve,) = by_gid(ax, "fit-curve")
        assert curve.get_linestyle() == "--"
    assert by_gid(ax, "fit-band") == [] and by_gid(ax, "ceiling") == []
    short = P.plot_fit(results["large/short"])
    assert "too few points" in texts(short)
    assert by_gid(short, "fit-curve") == [] and len(by_gid(short, "points")) == 1


def test_plot_fit_uses_the_given_axes_and_rejects_other_objects(good):
    _, axes = P.new_figure(1, 2)
    out = P.plot_fit(good, axes[0, 1])
    assert out is axes[0, 1] and len(axes[0, 0].lines) == 0
    with pytest.raises(ValueError, match="fit must be a RunFit"):
        P.plot_fit("large/grpo")


def test_run_names_with_markup_and_dollars_render(rng):
    step, S, y = simulate_run(rng, n=30)
    fit = fit_run(S, y, step, run="$x^{ <b>_odd", algorithm="_a$")
    fig = P.plot_run_panels(fit)
    fig.savefig(io.BytesIO(), format="png")  # malformed mathtext would raise here
    assert fig.get_suptitle().startswith(r"\$x^{")


def test_plot_residuals(results, good):
    ax = P.plot_residuals(results)
    fitted = [f for f in results if f.has_estimate]
    assert len(by_gid(ax, "residual-smooth")) == len(fitted)
    assert len(by_gid(ax, "zero")) == 1
    assert ax.get_xlabel() == "policy entropy S (nats)" and ax.get_ylabel() == "residual (accuracy)"
    one = P.plot_residuals(good)
    (pts,) = by_gid(one, "residuals")
    np.testing.assert_allclose(pts.get_offsets()[:, 1], good.resid)


def test_plot_profile(results, good):
    ax = P.plot_profile(good)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "rate c (1/nat)"
    (curve,) = by_gid(ax, "profile")
    (dot,) = by_gid(ax, "profile-min")
    assert dot.get_xdata()[0] == pytest.approx(good.c)
    # the profile's minimum over the grid sits next to the fitted c
    x, y = curve.get_data()
    assert abs(x[np.argmin(y)] - good.c) <= np.max(np.diff(x))
    (span,) = by_gid(ax, "c-interval")
    lo, hi = good.conf_int("c")
    assert span.get_x() == pytest.approx(lo) and span.get_x() + span.get_width() == pytest.approx(hi)
    many = P.plot_profile(results)
    assert len(by_gid(many, "profile")) == sum(1 for f in results if f.profile_c.size and f.has_estimate)
    # a fixed c has no profile and the axes say so
    fixed = fit_run(good.entropy, good.perf, good.step, mode="paper")
    assert "no profile" in texts(P.plot_profile(fixed))


def test_plot_exchange_rate(results, good):
    ax = P.plot_exchange_rate(good)
    (curve,) = by_gid(ax, "rate-curve")
    x, y = curve.get_data()
    np.testing.assert_allclose(y, good.beta * np.exp(good.c * x))
    assert len(by_gid(ax, "rate-band")) == 1
    assert "per nat" in ax.get_ylabel() and ax.get_xlabel() == "policy entropy S (nats)"
    many = P.plot_exchange_rate(results)
    assert len(by_gid(many, "rate-curve")) == sum(1 for f in results if f.has_estimate)


def test_exchange_rate_band_contains_its_estimate(good):
    band = P.exchange_rate_band(good, np.linspace(0, 0.7, 15))
    assert (band["lo"] < band["mean"]).all() and (band["mean"] < band["hi"]).all()
    nan = P.exchange_rate_band(fit_run([0.5, 0.4, 0.3], [0.1, 0.2, 0.3]), [0.2])
    assert nan[["mean", "lo", "hi"]].isna().all().all()


def _rate_coverage(ci: str, reps: int, seed: int, n_boot: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    S = np.array([0.05, 0.3, 0.6])
    truth = 0.6 * np.exp(1.0 * S)  # simulate_run's defaults: beta = 0.6, c = 1
    hits = np.zeros(3)
    for r in range(reps):
        step, Sx, y = simulate_run(rng)
        fit = fit_run(Sx, y, step, options=FitOptions(ci=ci, n_boot=n_boot, seed=r))
        band = P.exchange_rate_band(fit, S)
        hits += (band["lo"].to_numpy() <= truth) & (truth <= band["hi"].to_numpy())
    return hits / reps


def test_exchange_rate_band_covers_the_truth_hac():
    """95% HAC bands at three entropies cover the true rate 90-98% of the time (AR(1) noise, n = 100)."""
    cover = _rate_coverage("hac", reps=300, seed=11)
    assert ((cover >= 0.90) & (cover <= 0.98)).all(), cover


@pytest.mark.slow
def test_exchange_rate_band_covers_the_truth_bootstrap():
    cover = _rate_coverage("bootstrap", reps=150, seed=12)
    assert ((cover >= 0.89) & (cover <= 0.99)).all(), cover


# ----- stage 1: grid and forest --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fit", "residuals", "profile", "exchange"])
def test_plot_fit_grid(results, kind):
    fig = P.plot_fit_grid(results, kind=kind)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["small (1M params)", "large (10M params)"]
    legend_text = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"grpo", "rloo", "reinforce"} <= set(legend_text) and fig.legends[0].get_title().get_text() == "algorithm"
    small, large = visible
    if kind == "fit":
        assert len(by_gid(small, "fit-curve")) == 3 and len(by_gid(large, "fit-curve")) == 2
        assert len(by_gid(small, "fit-band")) == 2  # the unusable run gets no band
        assert small.get_ylim() == large.get_ylim()
    if kind == "profile":
        assert all(ax.get_yscale() == "log" for ax in visible)
    # each panel lists its runs whose status is not ok
    assert "reinforce/0" in texts(small) and "reinforce/0" in texts(large)
    assert small.get_ylabel() and not large.get_ylabel()  # y label on the first column only


def test_plot_fit_grid_wraps_and_separates_tasks(results):
    fits = [f.__class__(**{**f.__dict__, "task": t}) for f in results for t in ("t1", "t2")]
    fig = P.plot_fit_grid(fits, col_wrap=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4 and len(fig.axes) == 6
    assert visible[0].get_title() == "t1 · small (1M params)"
    with pytest.raises(ValueError, match="kind"):
        P.plot_fit_grid(results, kind="bogus")
    with pytest.raises(ValueError, match="hue"):
        P.plot_fit_grid(results, hue="colour")
    with pytest.raises(ValueError, match="empty"):
        P.plot_fit_grid([])


def test_plot_ceiling_intervals(results):
    ax = P.plot_ceiling_intervals(results, perf_range=(0, 1))
    top_down = [t.get_text() for t in sorted(ax.get_yticklabels(), key=lambda t: -t.get_position()[1])]
    assert top_down == [f.run for f in results]  # one row per run, in the results' order from the top
    assert "ceiling P0" in ax.get_xlabel() and "95% CI" in ax.get_xlabel()
    assert len(ax.containers) >= 2  # one errorbar per algorithm with usable runs
    assert len(by_gid(ax, "metric-max")) == 1
    assert "too few points" in texts(ax)
    frame = results.to_frame()
    ax2 = P.plot_ceiling_intervals(frame)
    assert len(ax2.get_yticklabels()) == len(frame)
    with pytest.raises(ValueError, match="status"):
        P.plot_ceiling_intervals(frame.drop(columns="status"))


# ----- frames: stage 2, forecasts, algorithm overlay ----------------------------------------------
def stage2_frames():
    points = pd.DataFrame(
        dict(
            model=["s", "m", "l"],
            params=[1e5, 1e6, 1e7],
            ceiling=[0.6, 0.7, 0.8],
            lo=[0.55, 0.66, 0.77],
            hi=[0.65, 0.74, 0.83],
        )
    )
    grid = np.logspace(5, 8, 20)
    mean = 0.6 + 0.1 * np.log10(grid / 1e5)
    line = pd.DataFrame(
        dict(params=grid, mean=mean, lo=mean - 0.08, hi=mean + 0.08, ci_lo=mean - 0.03, ci_hi=mean + 0.03)
    )
    extrap = pd.DataFrame(dict(model=["xl"], params=[1e8], mean=[0.9], lo=[0.8], hi=[1.0]))
    return points, line, extrap


def test_plot_ceiling_vs_params():
    points, line, extrap = stage2_frames()
    ax = P.plot_ceiling_vs_params(points, line, extrap, perf_range=(0, 1))
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "parameters N (log scale)" and ax.get_ylabel() == "ceiling P0 (accuracy)"
    assert len(by_gid(ax, "stage2-line")) == 1
    assert len(by_gid(ax, "prediction-band")) == 1 and len(by_gid(ax, "mean-band")) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "95% prediction band" in labels and "extrapolated (95% PI)" in labels
    assert {"s", "m", "l", "xl"} <= {t.get_text() for t in ax.texts}
    only = P.plot_ceiling_vs_params(points)
    assert only.get_xscale() == "log" and by_gid(only, "stage2-line") == []
    with pytest.raises(ValueError, match="lacks column"):
        P.plot_ceiling_vs_params(points.drop(columns="hi"))
    with pytest.raises(ValueError, match="params must be > 0"):
        P.plot_ceiling_vs_params(points.assign(params=[0.0, 1.0, 2.0]))


def test_plot_vs_params_by_family():
    points, line, _ = stage2_frames()
    both = pd.concat([points.assign(task="a"), points.assign(task="b", ceiling=points["ceiling"] - 0.1)])
    lines = pd.concat([line.assign(task="a"), line.assign(task="b")])
    ax = P.plot_vs_params(both, lines, hue="task")
    assert len(by_gid(ax, "stage2-line")) == 2
    assert (
        len(
            {
                tuple(np.round(ln.get_color(), 3)) if not isinstance(ln.get_color(), str) else ln.get_color()
                for ln in by_gid(ax, "stage2-line")
            }
        )
        == 2
    )


def test_plot_coefficients_vs_params():
    points, line, _ = stage2_frames()
    long = pd.concat([points.rename(columns={"ceiling": "estimate"}).assign(quantity=q) for q in ("ceiling", "beta")])
    lines = pd.concat([line.assign(quantity=q) for q in ("ceiling", "beta")])
    fig = P.plot_coefficients_vs_params(long, lines)
    assert len(fig.axes) == 2
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    assert fig.axes[1].get_ylabel() == "beta = b·c (accuracy per nat)"
    assert all(len(by_gid(ax, "stage2-line")) == 1 for ax in fig.axes)


def forecast_frame(run="r1"):
    step = np.arange(0, 100, 2.0)
    pred = 0.5 + 0.4 * (1 - np.exp(-step / 40))
    actual = pred + np.random.default_rng(0).normal(0, 0.01, step.size)
    return pd.DataFrame(
        dict(run=run, step=step, actual=actual, predicted=pred, lo=pred - 0.03, hi=pred + 0.03, fit_end_step=20.0)
    )


def test_plot_forecast():
    frame = forecast_frame()
    ax = P.plot_forecast(frame)
    assert ax.get_xlabel() == "training step" and ax.get_ylabel() == "validation accuracy"
    assert ax.get_title() == "r1"
    (line,) = by_gid(ax, "forecast")
    np.testing.assert_allclose(line.get_ydata(), frame["predicted"])
    (end,) = by_gid(ax, "fit-end")
    assert end.get_xdata()[0] == 20.0
    assert len(by_gid(ax, "forecast-band")) == 1 and len(by_gid(ax, "prefix")) == 1
    (obs,) = by_gid(ax, "observed")
    assert obs.get_offsets().shape[0] == len(frame)
    two = pd.concat([frame, forecast_frame("r2")])
    with pytest.raises(ValueError, match="2 runs"):
        P.plot_forecast(two)
    assert P.plot_forecast(two, run="r2").get_title() == "r2"
    with pytest.raises(ValueError, match="fit_end_step"):
        P.plot_forecast(frame.drop(columns="fit_end_step"))


def test_plot_algorithm_overlay_from_frames():
    S = np.linspace(0.6, 0.1, 20)
    points = pd.concat(
        [
            pd.DataFrame(dict(algorithm=a, entropy=S, perf=0.9 - 0.4 * np.exp(S) + d))
            for a, d in (("grpo", 0), ("ppo", 0.01))
        ]
    )
    curves = pd.concat(
        [
            pd.DataFrame(
                dict(
                    algorithm=a,
                    entropy=S,
                    mean=0.9 - 0.4 * np.exp(S) + d,
                    lo=0.88 - 0.4 * np.exp(S) + d,
                    hi=0.92 - 0.4 * np.exp(S) + d,
                )
            )
            for a, d in (("grpo", 0), ("ppo", 0.01), ("all", 0.005))
        ]
    )
    ax = P.plot_algorithm_overlay(points, curves)
    lines = by_gid(ax, "overlay-curve")
    assert len(lines) == 3
    assert sorted(ln.get_linestyle() for ln in lines) == ["-", "-", "--"]
    assert len(by_gid(ax, "overlay-band")) == 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["grpo", "ppo", "one curve for all (all)"]
    assert ax.get_xlabel() == "policy entropy S (nats)"
    (pts,) = by_gid(ax, "points")
    assert pts.get_offsets().shape[0] == 40


def test_plot_algorithm_overlay_from_fits(results):
    ax = P.plot_algorithm_overlay(results)
    usable = [f for f in results if f.has_estimate and f.status.usable]
    assert len(by_gid(ax, "overlay-curve")) == len(usable)
    with pytest.raises(ValueError, match="algorithm"):
        P.plot_algorithm_overlay(pd.DataFrame(dict(entropy=[0.1], perf=[0.5])))


# ----- conventions ---------------------------------------------------------------------------------
def test_plot_functions_leave_global_state_alone(results, good):
    before_figs = plt.get_fignums()
    before_rc = dict(matplotlib.rcParams)
    points, line, extrap = stage2_frames()
    P.plot_fit(good)
    P.plot_fit_grid(results)
    P.plot_residuals(results)
    P.plot_profile(results)
    P.plot_exchange_rate(results)
    P.plot_ceiling_intervals(results)
    P.plot_run_panels(good)
    P.plot_ceiling_vs_params(points, line, extrap)
    P.plot_forecast(forecast_frame())
    P.plot_algorithm_overlay(results)
    assert plt.get_fignums() == before_figs
    assert dict(matplotlib.rcParams) == before_rc


def test_format_params_and_palette():
    assert P.format_params(1346125) == "1.35M" and P.format_params(2.61e9) == "2.61B" and P.format_params(512) == "512"
    pal = P.palette(["b", "a", "b"])
    assert list(pal) == ["a", "b"] and pal["a"] != pal["b"]


def test_runs_without_algorithm_get_a_visible_label(rng):
    step, S, y = simulate_run(rng, n=30)
    fits = [fit_run(S, y, step, run="a-very-long-run-name-from-a-training-log-export", model="m"), fit_run(S, y + 0.01, step, run="b", model="m")]
    fig = P.plot_fit_grid(fits)
    assert [t.get_text() for t in fig.legends[0].get_texts()][0] == "no algorithm"
    ax = P.plot_ceiling_intervals(fits)
    assert [t.get_text() for t in ax.figure.legends[0].get_texts()] == ["no algorithm"]


def test_residual_smoother_of_a_long_run_goes_through_binned_means():
    """LOWESS is quadratic in points: a run longer than SMOOTH_POINTS is smoothed through bin means."""
    rng = np.random.default_rng(4)
    step, S, y = simulate_run(rng, n=6000)
    fit = fit_run(S, y, step, run="long")
    ax = P.plot_residuals(fit)
    line = next(ln for ln in ax.get_lines() if ln.get_gid() == "residual-smooth")
    assert line.get_xdata().size == P.SMOOTH_POINTS
    # bin means: equal counts, the overall mean kept, the entropy range inside the data's
    bx, by = P._binned(fit.entropy, fit.resid, P.SMOOTH_POINTS)
    assert by.mean() == pytest.approx(fit.resid.mean(), abs=1e-12)
    assert fit.entropy.min() <= bx.min() and bx.max() <= fit.entropy.max() and np.all(np.diff(bx) >= 0)
    short = fit_run(S[:300], y[:300], step[:300], run="short")
    x, y = short.entropy, short.resid
    bx, by = P._binned(x, y, P.SMOOTH_POINTS)
    assert bx is x and by is y  # short runs: the points themselves, as before
    plt.close("all")
