"""The ``scaling report`` command: run a :class:`~scaling.study.Study` once and write its HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scaling.cli.checks import check_per_run_figures, check_r2_min, check_seed
from scaling.cli.command import Command
from scaling.cli.main import CI, Mode, app, data_command
from scaling.cli.text import SafeCsvOpt, echo, fail

if TYPE_CHECKING:  # the library is imported by the command when it runs, not for --help
    from scaling.data.load import Dataset
    from scaling.data.summaries import Summaries


@app.command("report", cls=Command)
@data_command(summaries=True, report_out=True)
def report(
    ds: Dataset,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for index.html, figures/ (PNG; SVG with --svg) and tables/ (CSV).")
    ] = Path("report"),
    mode: Annotated[
        Mode,
        typer.Option(
            help="free: c fitted per run; paper: c = 1 (Cui et al. 2025); shared: one c across runs (see --share-by)."
        ),
    ] = Mode.free,
    share_by: Annotated[
        Optional[str],
        typer.Option(
            "--share-by", help="With --mode shared: column(s) whose values form the groups sharing c, e.g. 'model'."
        ),
    ] = None,
    ci: Annotated[
        CI, typer.Option(help="Intervals: hac (Newey-West sandwich, fast) or bootstrap (moving-block, refits c).")
    ] = CI.hac,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.", min=0.5, max=0.999)] = 0.95,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates (with --ci bootstrap).", min=50)] = 1000,
    seed: Annotated[int, typer.Option(callback=check_seed, help="Random seed of the bootstrap.")] = 0,
    r2_min: Annotated[float, typer.Option("--r2-min", callback=check_r2_min, help="R² below which a run is marked 'poor fit'.")] = 0.6,
    per_run: Annotated[
        bool, typer.Option("--per-run/--no-per-run", help="Add a collapsible block per run and the runs drawn as small multiples.")
    ] = True,
    per_run_figures: Annotated[
        Optional[str],
        typer.Option(
            "--per-run-figures",
            callback=check_per_run_figures,
            help="Most runs drawn in the per-run figures (the first in page order): a number, or 'all'. Default 240.",
        ),
    ] = None,
    forecast: Annotated[
        bool, typer.Option("--forecast/--no-forecast", help="Early prediction: forecast each usable run from its first 15% of points.")
    ] = True,
    horizon: Annotated[
        Optional[float],
        typer.Option(
            "--horizon",
            help="Step every run is meant to reach: usable runs that stop before it are forecast to it. Default: the last step of the longest run of the same model and task.",
            min=1e-9,
        ),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Algorithm comparison per model (one curve vs one per algorithm).")
    ] = True,
    across: Annotated[
        bool, typer.Option("--across/--no-across", help="Ceilings across model sizes: stage 2, extrapolation, leave-largest-out backtest.")
    ] = True,
    compare_boot: Annotated[
        int, typer.Option("--compare-boot", help="Bootstrap replicates of the comparison's p-value (as in 'scaling compare').", min=99)
    ] = 999,
    forecast_boot: Annotated[
        int, typer.Option("--forecast-boot", help="Draws behind the forecasts' prediction intervals (as in 'scaling forecast').", min=50)
    ] = 400,
    svg: Annotated[
        bool, typer.Option("--svg/--no-svg", help="Also write every figure as SVG (draws each figure twice).")
    ] = False,
    title: Annotated[Optional[str], typer.Option(help="Title of the page.")] = None,
    perf_label: Annotated[
        Optional[str],
        typer.Option(
            "--perf-label", help="Name of the metric on axes, e.g. 'pass@1'. Default: accuracy for a metric in [0, 1]."
        ),
    ] = None,
    safe_csv: SafeCsvOpt = False,
    jobs: Annotated[
        Optional[int],
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Analyses and sections computed at once, each in its own process (Linux; elsewhere 1). Default: the cores available, at most 4. Not used with --value.",
        ),
    ] = None,
) -> None:
    """Write an HTML report: warnings first, data summary, per-run fits with statuses in words, figures,
    early prediction, algorithm comparison and results across model sizes (when the data allow them).

    Opens in any browser (figures embedded); figures are also written as PNG (and SVG with
    --svg), tables as CSV.  Every run is fitted once; the analyses reuse those fits.
    With --value, DATA is a per-model table: the page shows per task the values, the forms
    ranked by backtest and the predicted value of 2x, 4x and 10x the largest model.
    Example: scaling report data/runs.csv --run task,model,algorithm,seed --perf val_acc -o report
    """
    from scaling.data.summaries import Summaries

    if isinstance(ds, Summaries):
        _table_report(ds, out, level, title, perf_label, svg, safe_csv)
        return
    if share_by is not None and mode != Mode.shared:
        fail(f"--share-by groups the runs sharing one c, so it needs --mode shared (got --mode {mode.value})")
    from scaling.comparison import CompareOptions
    from scaling.fitting.single import FitOptions
    from scaling.forecasting.forecast import ForecastOptions
    from scaling.forked import default_jobs
    from scaling.reporting.blocks import PER_RUN_PANELS
    from scaling.reporting.page import write_report
    from scaling.study import Study, StudySettings

    analyses = tuple(name for name, on in (("forecast", forecast), ("compare", compare), ("across", across)) if on)
    settings = StudySettings(
        mode=mode.value,
        share_by=tuple(share_by.split(",")) if share_by else None,
        fit=FitOptions(ci=ci.value, alpha=1 - level, n_boot=n_boot, seed=seed, r2_min=r2_min),
        forecast=ForecastOptions(alpha=1 - level, n_boot=forecast_boot, seed=seed),
        horizon=horizon,
        compare=CompareOptions(n_boot=compare_boot, seed=seed, r2_min=r2_min),
        analyses=analyses,
    )
    jobs = default_jobs() if jobs is None else jobs
    study = Study.run(ds, settings, jobs=jobs)
    for msg in study.warnings.get("fit", ()):
        echo(f"warning: {msg}", err=True)
    drawn = PER_RUN_PANELS if per_run_figures is None else (None if per_run_figures == "all" else int(per_run_figures))
    rep = write_report(
        study, out, title=title, perf_label=perf_label, per_run=per_run, per_run_figures=drawn, svg=svg,
        safe_csv=safe_csv, jobs=jobs,
    )  # fmt: skip
    results = study.fits
    counts = results.status_counts()
    echo("fits: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    echo(f"sections: {', '.join(rep.sections)}")
    for name, why in rep.skipped.items():
        echo(f"not run: {name}: {why}")
    echo(f"{len(rep.warnings)} warning(s) listed at the top of the page")
    n_fig = sum(1 for p in rep.figures if p.suffix == ".png")
    echo(
        f"wrote {rep.path} ({n_fig} figures, also as {'PNG and SVG' if svg else 'PNG'} in {out / 'figures'}; {len(rep.tables)} tables as CSV in {out / 'tables'})"
    )


def _table_report(summ: Summaries, out: Path, level: float, title: str | None, perf_label: str | None, svg: bool, safe_csv: bool) -> None:
    """``scaling report TABLE --value COL``: stage 2 on the table, then its page."""
    from scaling.across.summaries import fit_summaries
    from scaling.cli.across import _run_quietly
    from scaling.reporting.table_page import write_table_report

    res = _run_quietly(fit_summaries, summ, level=level)
    rep = write_table_report(res, out, title=title, perf_label=perf_label, svg=svg, safe_csv=safe_csv)
    for r in res:
        echo(f"  {r.task or '(all)'}: {r.label if r.choice.has_estimate else 'no prediction: ' + r.message}")
    echo(f"{len(rep.warnings)} warning(s) listed at the top of the page")
    echo(f"wrote {rep.path} ({sum(1 for p in rep.figures if p.suffix == '.png')} figures; {len(rep.tables)} tables as CSV in {out / 'tables'})")
