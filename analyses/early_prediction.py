"""Early prediction on ../shared/toyrl, and the coverage of the forecast intervals by simulation.

Part 1 (real runs): every run is forecast from its first 5%-50% of validation points
(law with c = 1 fitted to the prefix; entropy trajectory: power decay), scored
against what the run did.  Healthy runs are sizes m and l (24 runs); all runs whose
whole-run fit is usable are scored too.  Also: the entropy-trajectory families
compared at the real horizon, and c = 1 against a free c.

Part 2 (simulated runs): the law (P0 = 0.97, beta = 0.6, c = 1) plus AR(1) noise,
entropy from a power decay or an exponential decay to a floor (with multiplicative
AR(1) noise), 100 points; coverage of the 95% prediction intervals of the final
value (trajectory forecast and paper's protocol) and of the ceiling's interval.

Usage:  python analyses/early_prediction.py [--reps 400] [--n-boot 400] [--skip-sim]
Writes analyses/results/early_prediction.md and analyses/figures/early_prediction_*.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.core import law  # noqa: E402
from scaling.data.load import ColumnMap, load  # noqa: E402
from scaling.data.runtable import prepare_run  # noqa: E402
from scaling.fitting.status import USABLE_VALUES  # noqa: E402
from scaling.forecasting.forecast import (  # noqa: E402
    BACKTEST_FRACTIONS,
    ForecastOptions,
    backtest_forecast,
    forecast_run,
    run_points,
)
from scaling.simulate import ar1_noise  # noqa: E402

TOY = ROOT.parent / "shared" / "toyrl" / "runs.csv"
RESULTS = ROOT / "analyses" / "results" / "early_prediction.md"
FIGURES = ROOT / "analyses" / "figures"
EXAMPLES = ["add3/l/grpo/0", "add3/m/rloo/0", "add4/m/grpo/0", "add4/xl/grpo/0"]


def _md(frame: pd.DataFrame, digits: int = 3) -> str:
    return frame.to_markdown(index=False, floatfmt=f".{digits}f")


def _pct(frame: pd.DataFrame, cols) -> pd.DataFrame:
    """Errors as points of accuracy (x100)."""
    out = frame.copy()
    for c in cols:
        out[c] = out[c] * 100
    return out


TABLE_COLS = {
    "fraction": "fraction",
    "n_forecast": "runs",
    "median_abs_error": "traj. median abs err (pts)",
    "coverage": "traj. coverage",
    "median_width": "traj. median width (pts)",
    "obs_median_abs_error": "paper median abs err (pts)",
    "obs_coverage": "paper coverage",
    "median_rmse_rest": "paper median RMSE rest (pts)",
    "rest_coverage": "paper coverage rest",
    "ceiling_median_abs_error": "ceiling median abs err (pts)",
    "ceiling_coverage": "ceiling coverage",
}
POINT_COLS = ["median_abs_error", "median_width", "obs_median_abs_error", "median_rmse_rest", "ceiling_median_abs_error"]


def _table(bt) -> pd.DataFrame:
    t = _pct(bt.table, POINT_COLS).astype({"n_forecast": int})
    return t[list(TABLE_COLS)].rename(columns=TABLE_COLS)


# --------------------------------------------------------------------------------
# part 1
# --------------------------------------------------------------------------------
def real_runs(n_boot: int) -> tuple[str, dict]:
    ds = load(TOY, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    runs = list(ds.points["run"].unique())
    healthy = [r for r in runs if r.split("/")[1] in ("m", "l")]
    opts = ForecastOptions(n_boot=n_boot)
    t0 = time.perf_counter()
    bt_h = backtest_forecast(ds, BACKTEST_FRACTIONS, options=opts, runs=healthy)
    bt_all = backtest_forecast(ds, BACKTEST_FRACTIONS, options=opts)
    bt_free = backtest_forecast(ds, (0.15, 0.3, 0.5), options=ForecastOptions(n_boot=n_boot, mode="free"), runs=healthy)
    print(f"backtests: {time.perf_counter() - t0:.0f} s", flush=True)
    at15 = bt_h.runs[bt_h.runs["fraction"] == 0.15]
    acc = {
        "paper": float(at15["observed_error"].abs().median()),
        "traj": float(at15["error"].abs().median()),
        "traj_cov": float(((at15["final_lo"] <= at15["final_actual"]) & (at15["final_actual"] <= at15["final_hi"])).mean()),
        "paper_cov": float(((at15["observed_lo"] <= at15["final_actual"]) & (at15["final_actual"] <= at15["observed_hi"])).mean()),
        "rmse_rest": float(at15["rmse_rest"].median()),
        "n": len(at15),
    }
    per_run = at15[["run", "n_fit", "final_pred", "final_lo", "final_hi", "final_actual", "error", "observed_pred", "observed_error", "rmse_rest", "entropy_pred", "entropy_actual"]].copy()
    per_run = _pct(per_run, ["error", "observed_error", "rmse_rest"])
    per_run = per_run.rename(columns={"error": "traj. err (pts)", "observed_error": "paper err (pts)", "rmse_rest": "paper RMSE rest (pts)"})
    fam = bt_h.families.copy()
    fam["perf_median_abs_error"] *= 100
    fam = fam.rename(columns={"entropy_median_abs_log_error": "median abs log err of final entropy",
                              "entropy_median_log_error": "median log err (bias)", "perf_median_abs_error": "perf median abs err (pts)"})  # fmt: skip
    free = _pct(bt_free.table, POINT_COLS)[["fraction", "obs_median_abs_error", "obs_coverage", "median_abs_error", "coverage", "median_width"]]
    paper = _pct(bt_h.table[bt_h.table["fraction"].isin([0.15, 0.3, 0.5])], POINT_COLS)[["fraction", "obs_median_abs_error", "obs_coverage", "median_abs_error", "coverage", "median_width"]]
    modes = pd.concat([paper.assign(law="c = 1 (paper)"), free.assign(law="free c")], ignore_index=True)
    modes = modes[["law"] + [c for c in modes.columns if c != "law"]].rename(columns=TABLE_COLS)
    sick = bt_all.runs[(bt_all.runs["fraction"] == 0.15) & ~bt_all.runs["run"].isin(healthy)]
    sick = sick[["run", "status", "final_pred", "final_lo", "final_hi", "final_actual", "full_status"]]
    n_all = bt_all.runs.loc[bt_all.runs["full_status"].isin(USABLE_VALUES), "run"].nunique()

    text = [
        "## Part 1: ../shared/toyrl\n",
        "Law fitted to the prefix with c = 1 (the paper's form), entropy trajectory: power decay "
        f"`H = A (1 + t/tau)^-p`, 95% prediction intervals from {n_boot} draws. Errors in points of accuracy (x100). "
        "\"traj.\" is the forecast without any later data; \"paper\" is the paper's protocol (the law at the entropy "
        "observed at the final step; \"rest\": every point after the prefix). The ceiling is scored against the "
        "whole run's fit (c = 1).\n",
        f"**Acceptance (15%, sizes m and l, {acc['n']} runs):** paper's protocol median |error| of the final val_acc "
        f"= **{acc['paper'] * 100:.2f} points** (limit 3), coverage {acc['paper_cov']:.2f}; median RMSE over the rest "
        f"{acc['rmse_rest'] * 100:.2f} points. Trajectory forecast: median |error| **{acc['traj'] * 100:.2f} points**, "
        f"coverage of its 95% interval **{acc['traj_cov']:.2f}**.\n",
        "### Healthy runs (sizes m and l, 24 runs)\n",
        _md(_table(bt_h), 2),
        f"\n### Every run whose whole-run fit is usable ({n_all} of {bt_all.runs['run'].nunique()} runs)\n",
        _md(_table(bt_all), 2),
        "\n### Per run at 15% (sizes m and l)\n",
        _md(per_run, 3),
        "\n### Entropy-trajectory families at the real horizon (healthy runs, point forecasts)\n",
        "`auto` picks, within each prefix, the family with the smallest rolling-origin held-out error (origins at 60/70/80% "
        "of the prefix). Errors of the final entropy are in log units (0.3 = 35% off); negative bias = forecast too low.\n",
        _md(fam, 3),
        "\n### c = 1 against a free c on the prefix (healthy runs)\n",
        _md(modes, 2),
        "\n### Runs outside the healthy set at 15%\n",
        _md(sick, 3),
    ]
    return "\n".join(text), {"bt_h": bt_h, "bt_all": bt_all, "ds": ds, "acc": acc}


# --------------------------------------------------------------------------------
# part 2
# --------------------------------------------------------------------------------
def simulate(rng, trajectory: str, rho: float, n: int = 100):
    step = np.arange(n) * 2.0
    if trajectory == "power":
        H = 0.5 * (1 + step / 20) ** -1.0
    else:
        H = 0.03 + 0.5 * np.exp(-step / (2 * n / 3))
    H = H * np.exp(ar1_noise(rng, n, 0.03, 0.5))
    y = 0.97 - 0.6 * law.g(H, 1.0) + ar1_noise(rng, n, 0.01, rho)
    return prepare_run(H, y, step, dict(run="sim", model="m", params=1e6, algorithm="a", seed="0"))[0]


def simulation(reps: int, n_boot: int) -> str:
    rows = []
    for trajectory in ("power", "exp_floor"):
        for rho in (0.0, 0.5, 0.8):
            for fraction in (0.15, 0.3):
                t0 = time.perf_counter()
                hits = np.zeros(3)
                err, width = [], []
                for r in range(reps):
                    run = simulate(np.random.default_rng(50_000 + r), trajectory, rho)
                    fc = forecast_run(run, fraction, options=ForecastOptions(n_boot=n_boot, seed=r), perf_range=None)
                    hits += [fc.final_lo <= fc.final_actual <= fc.final_hi, fc.observed_lo <= fc.final_actual <= fc.observed_hi,
                             fc.ceiling_lo <= 0.97 <= fc.ceiling_hi]  # fmt: skip
                    err.append(abs(fc.error))
                    width.append(fc.final_hi - fc.final_lo)
                cov = hits / reps
                rows.append({"entropy": trajectory, "rho": rho, "fraction": fraction, "reps": reps, "traj. coverage": cov[0],
                             "paper coverage": cov[1], "ceiling coverage": cov[2], "traj. median abs err (pts)": 100 * np.median(err),
                             "traj. median width (pts)": 100 * np.median(width)})  # fmt: skip
                print(f"{trajectory} rho={rho} fraction={fraction}: {cov.round(3)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    se = np.sqrt(0.95 * 0.05 / reps)
    return (
        "## Part 2: coverage by simulation\n\n"
        "Runs of 100 points from the law (P0 = 0.97, beta = 0.6, c = 1) with AR(1) noise (sd 0.01, coefficient rho); "
        "entropy from a power decay (`0.5 (1 + step/20)^-1`, the forecaster's family) or an exponential decay to a floor "
        "(`0.03 + 0.5 exp(-step/66.7)`, not the forecaster's family), with multiplicative AR(1) noise (sd 0.03, 0.5). "
        f"95% intervals; binomial standard error of a coverage near 0.95: {se:.3f}.\n\n" + _md(pd.DataFrame(rows), 3)
    )


# --------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------
def figures(parts: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    FIGURES.mkdir(parents=True, exist_ok=True)
    bt_h, ds = parts["bt_h"], parts["ds"]
    runs = run_points(ds.points)
    fc15 = parts["bt_all"].forecasts[0.15]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharey=False)
    for ax, name in zip(axes.ravel(), EXAMPLES):
        fc = fc15[name]
        r = runs[name]
        ax.axvspan(r.step[0], fc.prefix_end, color="0.92", lw=0)
        ax.scatter(r.step, r.perf, s=8, color="0.15", label="observed", zorder=3)
        if fc.usable:
            tr = fc.plot_frame("trajectory")
            ob = fc.plot_frame("observed")
            ax.fill_between(tr["step"], tr["lo"], tr["hi"], color="C1", alpha=0.2, lw=0)
            ax.plot(tr["step"], tr["predicted"], color="C1", lw=1.8, label="forecast (no later data)")
            ax.fill_between(ob["step"], ob["lo"], ob["hi"], color="C0", alpha=0.15, lw=0)
            ax.plot(ob["step"], ob["predicted"], color="C0", lw=1.2, ls="--", label="paper: law at observed entropy")
        ax.set_title(f"{name} (fit on first 15%)", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("val_acc")
        ax.set_ylim(0.5, 1.04)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    p1 = FIGURES / "early_prediction_runs.png"
    fig.savefig(p1, dpi=130)
    plt.close(fig)

    t = bt_h.table
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    a1.plot(t["fraction"], 100 * t["median_abs_error"], "o-", color="C1", label="forecast (no later data)")
    a1.plot(t["fraction"], 100 * t["obs_median_abs_error"], "s--", color="C0", label="paper: final step")
    a1.plot(t["fraction"], 100 * t["median_rmse_rest"], "^:", color="C2", label="paper: RMSE over the rest")
    a1.set_xlabel("fraction of the run fitted")
    a1.set_ylabel("median error (points of accuracy)")
    a1.legend(fontsize=8)
    a2.plot(t["fraction"], t["coverage"], "o-", color="C1", label="forecast, final value")
    a2.plot(t["fraction"], t["obs_coverage"], "s--", color="C0", label="paper, final value")
    a2.plot(t["fraction"], t["ceiling_coverage"], "d-.", color="C3", label="ceiling vs whole-run fit")
    a2.axhline(0.95, color="0.3", lw=1)
    a2.set_ylim(0, 1.02)
    a2.set_xlabel("fraction of the run fitted")
    a2.set_ylabel("coverage of 95% intervals")
    a2.legend(fontsize=8, loc="lower right")
    fig.suptitle("Early prediction on ../shared/toyrl (sizes m and l, 24 runs)", fontsize=10)
    fig.tight_layout()
    p2 = FIGURES / "early_prediction_backtest.png"
    fig.savefig(p2, dpi=130)
    plt.close(fig)
    return [p1, p2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400, help="simulated runs per design")
    ap.add_argument("--n-boot", type=int, default=400, help="draws per forecast")
    ap.add_argument("--skip-sim", action="store_true", help="only the real runs")
    args = ap.parse_args()
    head = (
        "# Early prediction: forecasting a run from its beginning\n\n"
        f"Made by `python analyses/early_prediction.py --reps {args.reps} --n-boot {args.n_boot}`.\n"
    )
    part1, parts = real_runs(args.n_boot)
    paths = figures(parts)
    part2 = "" if args.skip_sim else simulation(args.reps, args.n_boot)
    figs = "\n".join(f"![{p.stem}](../figures/{p.name})" for p in paths)
    text = "\n".join([head, part1, "", part2, "", "## Figures\n", figs, ""])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
