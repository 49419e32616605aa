"""Commands across model sizes: ``scaling extrapolate``, ``scaling backtest-sizes``, ``scaling plan``.

Registered on :data:`scaling.cli.main.app` when this module is imported.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scaling.cli.checks import check_r2_min, check_seed, warn_far
from scaling.cli.command import Command
from scaling.cli.main import app, data_command, fail, write_table
from scaling.cli.text import SafeCsvOpt, csv_safe, echo, frame_text

if TYPE_CHECKING:  # the library (numpy, pandas, scipy, ...) is imported by the commands when they run, not for --help
    import pandas as pd

    from scaling.across.predict import AcrossResults
    from scaling.across.summaries import SummaryResults
    from scaling.data.load import Dataset
    from scaling.data.summaries import Summaries


class Link(str, Enum):
    identity = "identity"
    logit = "logit"


class Method(str, Enum):
    wls = "wls"
    random = "random"
    ols = "ols"


class Form(str, Enum):
    auto = "auto"
    linear = "linear"
    quadratic = "quadratic"
    saturating = "saturating"


class CMode(str, Enum):
    shared = "shared"
    paper = "paper"


class Interval(str, Enum):
    analytic = "analytic"
    bootstrap = "bootstrap"


LinkOpt = Annotated[
    Optional[Link],
    typer.Option(
        help="Restrict the ceiling's forms to this link: logit keeps predicted ceilings inside [0, 1] (and refuses when a model's "
        "ceiling is at or above 1). Default: both for a metric in [0, 1], identity otherwise; with a forced --form, identity "
        "for curves and logit for a bounded per-model table (--value).",
        show_default=False,
    ),
]
MethodOpt = Annotated[
    Method,
    typer.Option(help="Stage 2: wls = GLS weighted by the stage-1 covariance (scale estimated); random = meta-regression with a between-model variance; ols = unweighted."),
]
FormOpt = Annotated[
    Form,
    typer.Option(
        help="Mean form of the ceiling in log10(params). auto: linear, quadratic and saturating (an asymptote) on each link, "
        "ranked by a backtest on your own sizes and predicted as their weighted mixture; or force one form."
    ),
]
CModeOpt = Annotated[CMode, typer.Option("--mode", help="shared: one c estimated across the models of a task; paper: c = 1.")]
COpt = Annotated[Optional[float], typer.Option("--c", help="Fix the shared c at this value (overrides --mode).")]
TasksOpt = Annotated[
    Optional[str],
    typer.Option("--tasks", help="Task(s) to analyse, comma-separated (values of the task column, e.g. add4). Default: each task separately."),
]
AlgosOpt = Annotated[Optional[str], typer.Option("--algorithms", help="Pool only runs of these algorithms, comma-separated (e.g. grpo,rloo).")]
LevelOpt = Annotated[float, typer.Option(help="Level of the intervals.", min=0.5, max=0.999)]
R2Opt = Annotated[float, typer.Option("--r2-min", callback=check_r2_min, help="Runs whose own fit has R² below this are not pooled.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the table here: .csv, or .json by extension.")]


def _csv_list(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _numbers(text: str, name: str) -> list[float]:
    import numpy as np

    try:
        vals = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        fail(f"{name} must be comma-separated numbers such as 3e9,7e10; got {text!r}")
    if not vals or not all(np.isfinite(v) and v > 0 for v in vals):
        fail(f"{name} must be positive numbers; got {text!r}")
    return vals


def _run_quietly(func: Callable, *args, **kwargs):
    """Call the library, then print its warnings as ``warning: ...`` lines on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = func(*args, **kwargs)
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen and not issubclass(w.category, (DeprecationWarning, FutureWarning)):
            seen.add(msg)
            echo(f"warning: {msg}", err=True)
    return out


def _fit_table(summ: Summaries, tasks, method, link, form, level) -> SummaryResults:
    """Stage 2 on a per-model table (--value); the method is OLS without --se."""
    from scaling.across.summaries import fit_summaries

    res = _run_quietly(fit_summaries, summ, tasks=_csv_list(tasks), method=method.value if summ.has_se else None,
                       link=link.value if link is not None else None, form=form.value, level=level)  # fmt: skip
    if not any(r.ceiling.has_estimate for r in res):
        echo(res.summary_text())
        fail("no task has a stage-2 estimate: " + "; ".join(f"{r.task or '(all)'}: {r.message or r.status}" for r in res))
    return res


def _fit(ds: Dataset | Summaries, tasks, mode, c, method, link, form, level, algorithms, r2_min, n_boot, seed) -> AcrossResults | SummaryResults:
    from scaling.across.predict import fit_across
    from scaling.data.summaries import Summaries

    if isinstance(ds, Summaries):
        if algorithms:
            fail("--algorithms selects runs of curves; a per-model table (--value) has none")
        return _fit_table(ds, tasks, method, link, form, level)
    c_value = c if c is not None else (1.0 if mode == CMode.paper else None)
    res = _run_quietly(
        fit_across, ds, tasks=_csv_list(tasks), c=c_value, method=method.value, link=link.value if link is not None else None, form=form.value,
        level=level, algorithms=_csv_list(algorithms), r2_min=r2_min, n_boot=n_boot, seed=seed,
    )  # fmt: skip
    if not any(r.ceiling is not None and r.ceiling.has_estimate for r in res):
        echo(res.summary_text())
        fail("no task has a stage-2 estimate: " + "; ".join(f"{r.task or '(all)'}: {r.message or r.status}" for r in res))
    return res


def _fmt(v: float, digits: int = 4) -> str:
    import numpy as np

    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


PRED_COLUMNS = [
    "params", "ceiling_pred", "ceiling_lo", "ceiling_hi", "a_pred", "a_lo", "a_hi", "b_pred", "b_lo", "b_hi",
    "task", "decades_beyond", "ceiling_mean_lo", "ceiling_mean_hi", "method", "link", "form", "level", "interval",
    "status", "form_choice", "form_note", "alt_spread", "alt_forms", "forms_disagree", "unusable_share", "unusable_basis",
    "quantity", "note",
]  # fmt: skip


@app.command(cls=Command)
@data_command(summaries=True)
def extrapolate(
    ds: Dataset,
    to: Annotated[str, typer.Option("--to", help="Parameter counts to predict, comma-separated, e.g. 3e9,7e10.")],
    link: LinkOpt = None,
    method: MethodOpt = Method.wls,
    form: FormOpt = Form.auto,
    mode: CModeOpt = CMode.shared,
    c: COpt = None,
    tasks: TasksOpt = None,
    algorithms: AlgosOpt = None,
    level: LevelOpt = 0.9,
    ci: Annotated[Interval, typer.Option(help="analytic: t intervals; bootstrap: two-stage bootstrap (blocks within runs, both stages refitted).")] = Interval.analytic,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates (with --ci bootstrap).", min=50)] = 1000,
    seed: Annotated[int, typer.Option(callback=check_seed, help="Random seed of the bootstrap.")] = 0,
    n_runs: Annotated[Optional[float], typer.Option("--n-runs", help="Runs a new model will be fitted from (sets its own noise). Default: the median of the fitted models.")] = None,
    r2_min: R2Opt = 0.6,
    out: OutOpt = None,
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Predict the ceiling (and a, b) of unseen model sizes, with prediction intervals.

    Stage 1 fits one c per task across its models (pooling each model's usable runs);
    stage 2 regresses the per-model ceiling, a and b on log10(params).
    With --value, DATA is a per-model table (one row per model and task) and stage 2
    regresses that value: the predictions are final scores, not ceilings.
    Example: scaling extrapolate data/runs.csv --run task,model,algorithm,seed --perf val_acc --tasks add4 --to 3e9,7e10
    """
    import numpy as np
    import pandas as pd

    from scaling.across.summaries import QUANTITY_CURVES, QUANTITY_TABLE
    from scaling.data.summaries import Summaries

    sizes = _numbers(to, "--to")
    if isinstance(ds, Summaries) and ci == Interval.bootstrap:
        fail("--ci bootstrap resamples training curves; a per-model table (--value) has analytic intervals only")
    res = _fit(ds, tasks, mode, c, method, link, form, level, algorithms, r2_min, n_boot if ci == Interval.bootstrap else 0, seed)
    echo(res.summary_text())
    pred = _run_quietly(res.predict, sizes, n_runs=n_runs)
    table = isinstance(ds, Summaries)
    if not table:
        pred["quantity"], pred["note"] = QUANTITY_CURVES, ""
    pct = round(100 * level)
    show = pd.DataFrame(
        {
            "task": pred["task"],
            "params": pred["params"].map(lambda v: f"{v:.3g}"),
            "decades beyond": pred["decades_beyond"].map(lambda v: f"{v:+.2f}"),
            "ceiling": pred["ceiling_pred"].map(_fmt),
            f"{pct}% PI (new model)": [f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(pred["ceiling_lo"], pred["ceiling_hi"])],
            f"{pct}% CI (curve)": [f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(pred["ceiling_mean_lo"], pred["ceiling_mean_hi"])],
            "a": pred["a_pred"].map(_fmt),
            "b": pred["b_pred"].map(_fmt),
            "forms disagree": pred["forms_disagree"].map(lambda v: "YES" if v else ""),
            "unusable runs": pred.get("unusable_share", pd.Series(np.nan, index=pred.index)).map(
                lambda v: "" if not np.isfinite(v) else f"{v:.0%}"
            ),
        }
    )
    if table:
        show = show.rename(columns={"ceiling": ds.value_name}).drop(columns=["a", "b", "unusable runs"])
        unit = " (fractions: the table's percent divided by 100)" if ds.divisor == 100 else ""
        head = f"predicted {QUANTITY_TABLE}, column {ds.value_name}{unit}"
    else:
        head = "predicted ceilings"
    echo(f"\n{head} ({pred['method'].iloc[0]}, {pred['interval'].iloc[0]} intervals)")
    echo(frame_text(show).to_string(index=False))
    for task, choice in dict(zip(pred["task"], pred["form_choice"])).items():
        echo(f"  {task or '(all)'}: form {choice}")
    _echo_two_sizes(pred["task"][pred["status"] == "two sizes"])
    _echo_unusable(pred)
    warn_far(pred)
    if out is not None:
        write_table(csv_safe(pred[[c_ for c_ in PRED_COLUMNS if c_ in pred.columns]], out, safe_csv), out)


def _echo_two_sizes(tasks) -> None:
    """The label of a line through two sizes."""
    for task in dict.fromkeys(tasks):
        echo(
            f"  {task or '(all)'}: 2 sizes: the interval contains only the two ceilings' own errors, no scatter between sizes "
            "(two sizes cannot estimate it); fit a third size for an interval that includes it"
        )


def _echo_unusable(pred: pd.DataFrame) -> None:
    """One sentence per predicted size near trained sizes that lost runs (curves only: a table has no runs)."""
    if "unusable_share" not in pred:
        return
    for _, p in pred[pred["unusable_share"] > 0].iterrows():
        echo(
            f"  {p['task'] or '(all)'}, {p['params']:.3g} params: expect {p['unusable_share']:.0%} of its runs to be unusable, "
            f"as observed at {p['unusable_basis']} (see 'left out' above); the ceiling describes only the runs that survive"
        )


@app.command("backtest-sizes", cls=Command)
@data_command(summaries=True)
def backtest_sizes_cmd(
    ds: Dataset,
    method: MethodOpt = Method.wls,
    mode: CModeOpt = CMode.shared,
    c: COpt = None,
    tasks: TasksOpt = None,
    algorithms: AlgosOpt = None,
    level: LevelOpt = 0.9,
    max_out: Annotated[Optional[int], typer.Option("--max-out", help="Most of the largest sizes held out together (default: all while 3 sizes remain).", min=1)] = None,
    r2_min: R2Opt = 0.6,
    out: OutOpt = None,
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Leave-one-size-out and leave-the-largest-out backtests of the ceiling's extrapolation.

    Each held-out model is predicted from the others (stage 1 and 2 refitted without it),
    then measured at the family's c; rows give the error, whether the prediction interval
    covered it and how many decades the extrapolation reached, for each mean form.
    Example: scaling backtest-sizes data/runs.csv --run task,model,algorithm,seed --perf val_acc --tasks add4
    """
    from scaling.across.summaries import QUANTITY_TABLE, backtest_summaries
    from scaling.data.summaries import Summaries

    if isinstance(ds, Summaries):
        echo(f"backtest of {QUANTITY_TABLE}, column {ds.value_name}{'' if ds.has_se else ' (no --se: OLS)'}")
        bt = _run_quietly(backtest_summaries, ds, tasks=_csv_list(tasks), method=method.value if ds.has_se else None, level=level, max_out=max_out)
    else:
        bt = _backtest_curves(ds, method, mode, c, tasks, algorithms, level, max_out, r2_min)
    _show_backtest(bt, level, out, safe_csv)


def _backtest_curves(ds, method, mode, c, tasks, algorithms, level, max_out, r2_min):
    from scaling.across.backtest import backtest_sizes

    c_value = c if c is not None else (1.0 if mode == CMode.paper else None)
    bt = _run_quietly(
        backtest_sizes, ds, tasks=_csv_list(tasks), c=c_value, method=method.value, level=level,
        algorithms=_csv_list(algorithms), r2_min=r2_min, max_out=max_out,
    )  # fmt: skip
    ex = bt.runs[~bt.runs["used"]]
    if len(ex):
        echo(f"{len(ex)} run(s) not pooled:")
        for _, r in ex.iterrows():
            echo(f"  {r['run']}: {r['status']} ({r['reason']})")
    return bt


def _show_backtest(bt, level: float, out: Path | None, safe_csv: bool = False) -> None:
    import numpy as np
    import pandas as pd

    rows = bt.rows
    if rows.empty:
        fail("no backtest could be run: every task needs at least 3 sizes with usable runs")
    pct = round(100 * level)
    show = pd.DataFrame(
        {
            "task": rows["task"],
            "scheme": rows["scheme"],
            "out": rows["n_out"],
            "held out": rows["held_out"],
            "params": rows["params"].map(lambda v: f"{v:.3g}"),
            "decades": rows["decades_beyond"].map(lambda v: f"{v:+.2f}"),
            "form": rows["form"],
            "measured": rows["measured"].map(_fmt),
            "predicted": rows["pred"].map(_fmt),
            f"{pct}% PI": [f"[{_fmt(a)}, {_fmt(b)}]" for a, b in zip(rows["lo"], rows["hi"])],
            "error": rows["error"].map(lambda v: "" if not np.isfinite(v) else f"{v:+.4f}"),
            "covered": [("yes" if v else "no") if s == "ok" else s for v, s in zip(rows["covered"], rows["status"])],
        }
    )
    echo(frame_text(show).to_string(index=False))
    summ = bt.summary()
    if len(summ):
        echo("\nsummary (rows with an estimate)")
        echo(frame_text(summ).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        best = bt.best_forms()
        for _, b in best.iterrows():
            echo(f"best form when the largest sizes are left out, task {b['task']}: {b['form']} (mean |error| {b['mean_abs_error']:.4f}, coverage {b['coverage']:.2f} over {b['n']} prediction(s))")
    if out is not None:
        write_table(csv_safe(rows, out, safe_csv), out)


@app.command("plan", cls=Command)
@data_command(summaries=True)
def plan_cmd(
    ds: Dataset,
    target: Annotated[float, typer.Option("--target", help="Ceiling (or --value) to reach, as a fraction when the metric is percent, e.g. 0.6.")],
    prob: Annotated[float, typer.Option("--prob", help="Required probability that a new model's ceiling reaches the target.", min=0.01, max=0.99)] = 0.8,
    size_range: Annotated[Optional[str], typer.Option("--range", help="Sizes searched, lo,hi (default: a tenth of the smallest to 1000x the largest fitted size).")] = None,
    link: LinkOpt = None,
    method: MethodOpt = Method.wls,
    form: FormOpt = Form.auto,
    mode: CModeOpt = CMode.shared,
    c: COpt = None,
    tasks: TasksOpt = None,
    algorithms: AlgosOpt = None,
    level: LevelOpt = 0.9,
    n_runs: Annotated[Optional[float], typer.Option("--n-runs", help="Runs the new model will be fitted from.")] = None,
    r2_min: R2Opt = 0.6,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the predicted ceiling curve (with P(reach target)) here: .csv or .json.")] = None,
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Smallest parameter count whose ceiling reaches --target with probability --prob.

    Example: scaling plan data/runs.csv --run task,model,algorithm,seed --perf val_acc --tasks add4 --target 0.6 --prob 0.8
    """
    import numpy as np
    import pandas as pd

    from scaling.across.predict import plan as plan_size
    from scaling.across.summaries import QUANTITY_TABLE
    from scaling.data.summaries import Summaries

    rng_ = None
    if size_range is not None:
        vals = _numbers(size_range, "--range")
        if len(vals) != 2 or not vals[0] < vals[1]:
            fail(f"--range must be lo,hi with lo < hi; got {size_range!r}")
        rng_ = (vals[0], vals[1])
    res = _fit(ds, tasks, mode, c, method, link, form, level, algorithms, r2_min, 0, 0)
    quantity = QUANTITY_TABLE if isinstance(ds, Summaries) else "ceiling"
    rows, curves = [], []
    for r in res:
        p = _run_quietly(plan_size, r, target, prob, size_range=rng_, n_runs=n_runs)
        rows.append(p.summary())
        if len(p.curve):
            curves.append(p.curve.assign(task=r.task))
    table = pd.concat(rows, ignore_index=True)
    pct = round(100 * level)
    show = pd.DataFrame(
        {
            "task": table["task"],
            "smallest params": table["params"].map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}"),
            "status": table["status"],
            "ceiling there": table["ceiling_pred"].map(_fmt),
            f"{pct}% PI": [f"[{_fmt(a)}, {_fmt(b)}]" if np.isfinite(a) else "" for a, b in zip(table["ceiling_lo"], table["ceiling_hi"])],
            "decades beyond": table["decades_beyond"].map(lambda v: "" if not np.isfinite(v) else f"{v:+.2f}"),
        }
    )
    fits = [r.ceiling for r in res if r.ceiling is not None]
    methods = ", ".join(dict.fromkeys(f.method for f in fits))
    echo(f"target {quantity} {target:g} with probability {prob:g} ({methods})")
    echo(frame_text(show).to_string(index=False))
    for r in res:
        if r.predictor is not None:
            echo(f"  {r.task or '(all)'}: form {r.predictor.label} ({r.predictor.note})")
    for _, t in table.iterrows():
        echo(f"  {t['task']}: {t['message']}")
    _echo_two_sizes([r.task for r in res if r.ceiling is not None and r.ceiling.two_sizes])
    if out is not None and curves:
        curve = pd.concat(curves, ignore_index=True)
        write_table(csv_safe(curve[["task"] + [c_ for c_ in curve.columns if c_ != "task"]], out, safe_csv), out)
