"""Commands ``scaling forecast``, ``scaling backtest-forecast`` and ``scaling compare``.

Importing this module registers the commands on :data:`scaling.cli.main.app`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scaling.cli.checks import check_seed
from scaling.cli.command import Command
from scaling.cli.main import OutOpt, app, data_command, fail, write_table
from scaling.cli.text import SafeCsvOpt, csv_safe, echo, frame_text
from scaling.forecasting.defaults import BACKTEST_FRACTIONS

if TYPE_CHECKING:  # the library is imported by the commands when they run, not for --help
    import pandas as pd

    from scaling.data.load import Dataset

#: columns printed by ``scaling forecast`` (the file gets all of them).
FORECAST_COLUMNS = ["run", "fraction", "n_fit", "final_step", "final_pred", "final_lo", "final_hi", "final_actual", "error", "rmse_rest"]
COMPARE_COLUMNS = ["model", "n_algorithms", "p_value", "delta_aic", "max_ceiling_diff", "diff_lo", "diff_hi", "verdict"]


class LawMode(str, Enum):
    paper = "paper"
    free = "free"


class Family(str, Enum):
    power = "power"
    exp = "exp"
    exp_floor = "exp_floor"
    auto = "auto"


class Test(str, Enum):
    bootstrap = "bootstrap"
    ar1 = "ar1"


ModeOpt = Annotated[LawMode, typer.Option("--mode", help="Law fitted to the prefix: paper = c fixed at 1 (default; a short prefix does not identify c); free = c fitted.")]
FamilyOpt = Annotated[
    Family,
    typer.Option("--family", help="Entropy trajectory H(step): power = A (1 + t/tau)^-p (default, best on ../shared/toyrl); exp = A exp(-t/tau); "
                 "exp_floor = f + A exp(-t/tau); auto = smallest rolling-origin held-out error within the prefix."),
]  # fmt: skip
LevelOpt = Annotated[float, typer.Option("--level", help="Level of the prediction intervals.", min=0.5, max=0.999)]
SeedOpt = Annotated[int, typer.Option("--seed", callback=check_seed, help="Random seed of the draws behind the intervals.")]


#: columns printed with their own format (others: 4 decimals).
_FORMATS = {"fraction": "{:.2f}", "final_step": "{:g}", "n_fit": "{:d}", "n_runs": "{:d}", "n_forecast": "{:d}"}


def _fmt(frame: pd.DataFrame, digits: int = 4) -> str:
    """A table with numbers rounded for reading (NaN left blank)."""
    import pandas as pd

    shown = frame.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]) or pd.api.types.is_integer_dtype(shown[col]):
            default = "{:d}" if pd.api.types.is_integer_dtype(shown[col]) else f"{{:.{digits}f}}"
            fmt = _FORMATS.get(col, default)
            shown[col] = [("" if pd.isna(v) else fmt.format(int(v) if fmt == "{:d}" else v)) for v in shown[col]]
    return frame_text(shown).to_string(index=False)


@app.command("forecast", cls=Command)
@data_command
def forecast_cmd(
    ds: Dataset,
    fraction: Annotated[float, typer.Option("--fraction", help="Share of each run's validation points to fit (the prefix).", min=0.0, max=1.0)] = 0.15,
    horizon: Annotated[Optional[float], typer.Option("--horizon", help="Step to forecast (default: each run's last step; may lie beyond the data).")] = None,
    mode: ModeOpt = LawMode.paper,
    family: FamilyOpt = Family.power,
    level: LevelOpt = 0.95,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Draws behind the prediction intervals.", min=50)] = 400,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Forecast each run's final performance from its first --fraction of points.

    final_pred/lo/hi: trajectory forecast (the entropy trajectory fitted to the prefix is
    extrapolated and passed through the law; no later data used) with a prediction interval for
    the observed value. rmse_rest: the paper's protocol, the law fitted to the prefix predicting
    every later point from the entropy observed there. The file (--out) adds the paper's
    protocol at the final step, the forecast entropy, the ceiling and the status.

    Example: scaling forecast data/runs.csv --run task,model,algorithm,seed --perf val_acc --fraction 0.15
    """
    if not 0 < fraction <= 1:
        fail(f"--fraction must lie in (0, 1], got {fraction}")
    from scaling.forecasting.forecast import ForecastOptions, forecast_dataset

    opts = ForecastOptions(mode=mode.value, family=family.value, alpha=1 - level, n_boot=n_boot, seed=seed)
    res = forecast_dataset(ds, fraction, horizon=horizon, options=opts)
    frame = res.to_frame()
    echo(f"law {mode.value}, entropy trajectory {family.value}, {level:.0%} prediction intervals")
    echo(_fmt(frame[FORECAST_COLUMNS + ["status"]]))
    bad = frame[frame["status"] != "ok"]
    for _, row in bad.iterrows():
        echo(f"  {row['run']}: {row['status']}: {row['message']}")
    ok = frame[frame["status"] == "ok"]
    scored = ok[ok["final_actual"].notna()]
    if len(scored):
        hit = ((scored["final_lo"] <= scored["final_actual"]) & (scored["final_actual"] <= scored["final_hi"])).mean()
        echo(
            f"\n{len(ok)} of {len(frame)} runs forecast; median |error| {scored['error'].abs().median():.4f} "
            f"(paper's protocol at the final step: {scored['observed_error'].abs().median():.4f}); "
            f"{hit:.0%} of final values inside their interval"
        )
    if out is not None:
        write_table(csv_safe(frame, out, safe_csv), out)


@app.command("backtest-forecast", cls=Command)
@data_command
def backtest_forecast_cmd(
    ds: Dataset,
    fractions: Annotated[str, typer.Option("--fractions", help="Comma-separated prefix fractions.")] = ",".join(f"{f:g}" for f in BACKTEST_FRACTIONS),
    mode: ModeOpt = LawMode.paper,
    family: FamilyOpt = Family.power,
    level: LevelOpt = 0.95,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Draws behind the prediction intervals.", min=50)] = 300,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    safe_csv: SafeCsvOpt = False,
    runs_out: Annotated[Optional[Path], typer.Option("--runs-out", help="Write the per-run, per-fraction rows here (.csv or .json).")] = None,
) -> None:
    """Forecast every run from each fraction of its points; errors and interval coverage per fraction.

    Columns: n_forecast (runs with a usable prefix fit), median_abs_error and coverage of the
    trajectory forecast of the final value, the same for the paper's protocol (obs_*), median
    rmse_rest and rest_coverage over later points, and the ceiling's error and coverage against
    the whole run's fit. Only runs whose whole-run fit is usable are scored.

    Example: scaling backtest-forecast data/runs.csv --run task,model,algorithm,seed --perf val_acc
    """
    try:
        fr = [float(v) for v in fractions.split(",") if v.strip()]
    except ValueError:
        fail(f"--fractions must be comma-separated numbers, got {fractions!r}")
    from scaling.fitting.status import USABLE_VALUES
    from scaling.forecasting.forecast import ForecastOptions, backtest_forecast

    opts = ForecastOptions(mode=mode.value, family=family.value, alpha=1 - level, n_boot=n_boot, seed=seed)
    bt = backtest_forecast(ds, fr, options=opts)
    n_scored = bt.runs.loc[bt.runs["full_status"].isin(USABLE_VALUES), "run"].nunique()
    echo(f"law {mode.value}, entropy trajectory {family.value}, {level:.0%} intervals; "
               f"{n_scored} of {bt.runs['run'].nunique()} runs scored (whole-run fit usable)")  # fmt: skip
    echo(_fmt(bt.table))
    if not bt.collapsed.empty:
        n_coll = bt.runs.loc[bt.runs["full_status"] == "late collapse", "run"].nunique()
        echo(f"\nreported apart: {n_coll} run(s) whose whole-run status is late collapse "
                   "(performance fell after its peak; no forecast from the law can foresee that):")  # fmt: skip
        echo(_fmt(bt.collapsed))
    if not bt.families.empty:
        echo("\nentropy trajectory families (point forecasts of the final step):")
        echo(_fmt(bt.families, 3))
    if out is not None:
        write_table(csv_safe(bt.table, out, safe_csv), out)
    if runs_out is not None:
        write_table(csv_safe(bt.runs, runs_out, safe_csv), runs_out)


@app.command("compare", cls=Command)
@data_command
def compare_cmd(
    ds: Dataset,
    by: Annotated[str, typer.Option("--by", help="Column whose levels are compared.")] = "algorithm",
    group: Annotated[Optional[str], typer.Option("--group", help="Column(s) defining a model, comma-separated. Default: task,model when there is a task column, else model.")] = None,
    test: Annotated[Test, typer.Option("--test", help="bootstrap = block bootstrap of the F statistic (default, correct size); ar1 = Wald test with an AR(1)-error sandwich (fast, somewhat liberal).")] = Test.bootstrap,
    margin: Annotated[float, typer.Option("--margin", help="Equivalence margin for ceiling differences, in performance units (0.02 = 2 points).", min=0.0)] = 0.02,
    alpha: Annotated[float, typer.Option("--alpha", help="Level of the test.", min=0.001, max=0.5)] = 0.05,
    level: Annotated[float, typer.Option("--level", help="Confidence of the simultaneous intervals of ceiling differences.", min=0.5, max=0.999)] = 0.90,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates (--test bootstrap).", min=99)] = 999,
    seed: SeedOpt = 0,
    out: OutOpt = None,
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Does the algorithm change the curve? Per model: one curve for all algorithms vs one per algorithm.

    At a common rate c the two are nested linear models: an F-test with an autocorrelation-aware
    p-value, the AIC difference (negative: separate curves fit better), and the largest ceiling
    difference between two algorithms with a simultaneous interval. Verdicts: same curve,
    equivalent (detectably different but within --margin), different, inconclusive, not testable.

    Example: scaling compare data/runs.csv --run task,model,algorithm,seed --perf val_acc
    """
    from scaling.comparison import VERDICTS, CompareOptions, compare_algorithms

    opts = CompareOptions(test=test.value, alpha=alpha, level=level, margin=margin, n_boot=n_boot, seed=seed)
    res = compare_algorithms(ds, by, group=group.split(",") if group else None, options=opts)
    frame = res.to_frame()
    echo(f"one curve vs one per {by}, per {'/'.join(res.group)}; test {test.value}, margin {margin:g}")
    echo(_fmt(frame[COMPARE_COLUMNS]))
    echo("")
    for m in res:
        echo(f"{m.model}: {m.explanation}")
    echo("\nverdicts:")
    for v in dict.fromkeys(frame["verdict"]):
        echo(f"  {v}: {VERDICTS[v]}")
    if out is not None:
        write_table(csv_safe(frame, out, safe_csv), out)
