"""Command-line interface: ``scaling COMMAND DATA... [options]``.

Every command reads tidy CSV/Parquet tables or training logs (W&B exports, verl
console logs, TensorBoard directories, JSON lines), prints a readable table and
can write it to a file.  The library warns; this module prints.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import types
import typing
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from scaling import __version__
from scaling.cli.checks import check_r2_min, check_seed
from scaling.cli.command import Command, Group
from scaling.cli.text import SafeCsvOpt, csv_safe, echo, fail, frame_text  # noqa: F401  (fail is used by the other command modules)
from scaling.exceptions import DataError, DataWarning, OutputError
from scaling.outputs import atomic_path, check_output

if TYPE_CHECKING:  # the commands import the library (pandas, scipy, ...) when they run, not for --help
    import pandas as pd

    from scaling.data.load import ColumnMap, Dataset
    from scaling.data.summaries import Summaries

app = typer.Typer(
    name="scaling",
    help=(
        "Fit the entropy-performance law Perf(S) = a - b*exp(c*S) of RL training runs, "
        "with honest intervals, and predict where runs and models will end.\n\n"
        "DATA is a tidy CSV/Parquet table (columns run, model, params, algorithm, seed, step, "
        "entropy, perf, or mapped with --run/--perf/...) or training logs (W&B export CSVs, verl "
        "console logs, TensorBoard directories, JSON lines; see `scaling ingest --help`)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)


class Format(str, Enum):
    auto = "auto"
    tidy = "tidy"
    wandb = "wandb"
    verl = "verl"
    tensorboard = "tensorboard"
    jsonl = "jsonl"


class Mode(str, Enum):
    free = "free"
    paper = "paper"
    shared = "shared"


class CI(str, Enum):
    hac = "hac"
    bootstrap = "bootstrap"


class PerfScale(str, Enum):
    auto = "auto"
    fraction = "fraction"
    percent = "percent"
    none = "none"


class AlignHow(str, Enum):
    same = "same"
    mean = "mean"


# ----- options shared by the commands --------------------------------------------------
DataArg = Annotated[list[Path], typer.Argument(metavar="DATA...", help="Tidy CSV/Parquet file(s), or log files/directories (read recursively).", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", help="Input format; auto tells tidy tables from logs by their content.")]
RunOpt = Annotated[Optional[str], typer.Option("--run", help="Column(s) that identify a run, comma-separated (joined with '/'). Default: the 'run' column, else those of task, model, algorithm, seed present.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Column with the model name. Default: 'model' if present, else the run id.")]
ParamsOpt = Annotated[Optional[str], typer.Option("--params", help="Column with the parameter count. Default: 'params' if present.")]
AlgoOpt = Annotated[Optional[str], typer.Option("--algorithm", help="Column with the RL algorithm. Default: 'algorithm' if present.")]
TaskOpt = Annotated[Optional[str], typer.Option("--task", help="Column with the task/benchmark (separates model families across sizes). Default: 'task' if present.")]
SeedOpt = Annotated[Optional[str], typer.Option("--seed-column", help="Column with the seed. Default: 'seed' if present.")]
StepOpt = Annotated[Optional[str], typer.Option("--step", help="Column with the training step. Default: 'step'.")]
EntropyOpt = Annotated[Optional[str], typer.Option("--entropy", help="Column with the policy entropy (nats). Default: 'entropy'.")]
PerfOpt = Annotated[Optional[str], typer.Option("--perf", help="Column with validation performance. Default: 'perf'.")]
EntropyKeyOpt = Annotated[Optional[str], typer.Option("--entropy-key", help="Log key holding entropy (logs only; default per format).")]
PerfKeyOpt = Annotated[Optional[str], typer.Option("--perf-key", help="Log key holding validation performance (logs only; default per format).")]
MetaOpt = Annotated[Optional[Path], typer.Option("--meta", help="CSV/TOML file giving model, params, algorithm, seed per run (logs only).")]
ScaleOpt = Annotated[
    PerfScale,
    typer.Option(
        "--perf-scale",
        help="Unit of perf: fraction (0-1), percent (0-100, divided by 100), none (unbounded: no range check), "
        "or auto (0-1 is a fraction; values up to 100 are read as percent with a warning).",
    ),
]
AlignOpt = Annotated[
    AlignHow,
    typer.Option("--align", help="Entropy paired with a validation at step s: 'same' = entropy of step s; 'mean' = mean since the previous validation."),
]
WarmupOpt = Annotated[
    str,
    typer.Option(
        "--warmup",
        metavar="auto|none|STEP",
        help="Leading warm-up validations left out of every fit: auto = detect per run a first phase at the metric's floor "
        "below the curve of the later points (reported as n_warmup and in a note); none = keep every point; "
        "STEP = leave out the points with step < STEP.",
    ),
]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the table here: .csv, or .json by extension.")]


def _load(
    data: list[Path],
    fmt: Format,
    columns: ColumnMap,
    entropy_key: str | None,
    perf_key: str | None,
    meta: Path | None,
    perf_scale: PerfScale,
    align: AlignHow,
    warmup: str = "auto",
) -> Dataset:
    from scaling.data.sources import load
    from scaling.data.warmup import parse_warmup

    fields = {k: getattr(columns, k) for k in ("model", "params", "algorithm", "seed", "task", "step", "entropy", "perf")}
    return load(
        *data, format=fmt.value, run=list(columns.run) if columns.run else None, **fields,
        entropy_key=entropy_key, perf_key=perf_key, meta=meta, perf_scale=perf_scale.value, align=align.value,
        warmup=parse_warmup(warmup),
    )  # fmt: skip


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write a result table as CSV, or JSON when ``out`` ends in .json, atomically, and say so."""
    try:
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".json":
                records = json.loads(frame.to_json(orient="records", double_precision=15))
                tmp.write_text(json.dumps(records, indent=2) + "\n")
            else:
                frame.to_csv(tmp, index=False)
    except OutputError as err:
        fail(err)
    echo(f"wrote {len(frame)} rows to {out}")


#: what ``--out`` writes (:func:`write_table`): CSV, or JSON by extension.
TABLE_SUFFIXES = (".csv", ".json")
#: what ``ingest --out`` writes: CSV, or Parquet by extension.
TIDY_SUFFIXES = (".csv", ".parquet", ".pq")


def check_outputs(outputs: dict[str, tuple[Path | None, str]], inputs: list[Path | None]) -> None:
    """Refuse, before any work, outputs that would destroy an input or cannot be written (exit 2).

    ``outputs`` maps an option's flag to (path or None, kind): kind "file" (a result table: .csv or
    .json), "tidy" (``ingest``: .csv or .parquet) or "report" (a directory).
    """
    for flag, (path, kind) in outputs.items():
        if path is None:
            continue
        try:
            check_output(path, inputs, kind="report" if kind == "report" else "file")
        except OutputError as err:
            fail(f"{flag}: {err}")
        suffix = Path(path).suffix.lower()
        if kind == "file" and suffix and suffix not in TABLE_SUFFIXES:
            fail(f"{flag} {path}: a table is written as CSV or JSON; give a name ending in .csv or .json")
        if kind == "tidy" and suffix and suffix not in TIDY_SUFFIXES:
            fail(f"{flag} {path}: the tidy table is written as CSV or Parquet; give a name ending in .csv or .parquet")
    files = [(f, p) for f, (p, k) in outputs.items() if p is not None]
    for i, (f1, p1) in enumerate(files):
        for f2, p2 in files[i + 1 :]:
            if os.path.realpath(p1) == os.path.realpath(p2):
                fail(f"{f1} and {f2} are the same path {p1}: give two different paths")


#: The output options a command may take, by parameter name: (flag, kind).
_OUTPUT_OPTIONS = {"out": ("--out", "file"), "runs_out": ("--runs-out", "file")}


# The data options every analysis command takes, added to it by @data_command.
_DATA_OPTIONS: list[tuple[str, object, object]] = [
    ("fmt", FormatOpt, Format.auto),
    ("run", RunOpt, None),
    ("model", ModelOpt, None),
    ("params", ParamsOpt, None),
    ("algorithm", AlgoOpt, None),
    ("seed_column", SeedOpt, None),
    ("task", TaskOpt, None),
    ("step", StepOpt, None),
    ("entropy", EntropyOpt, None),
    ("perf", PerfOpt, None),
    ("entropy_key", EntropyKeyOpt, None),
    ("perf_key", PerfKeyOpt, None),
    ("meta", MetaOpt, None),
    ("perf_scale", ScaleOpt, PerfScale.auto),
    ("align", AlignOpt, AlignHow.same),
    ("warmup", WarmupOpt, "auto"),
]


ValueOpt = Annotated[
    Optional[str],
    typer.Option(
        "--value",
        help="Read DATA as a per-model table (one row per model and task: model, params, this column) instead of "
        "training curves; the predictions are then final scores, not ceilings.",
    ),
]
SeOpt = Annotated[Optional[str], typer.Option("--se", help="With --value: column with the value's standard error (same unit).")]
_SUMMARY_OPTIONS: list[tuple[str, object, object]] = [("value", ValueOpt, None), ("se", SeOpt, None)]
#: data options that only make sense for curves.
_CURVE_ONLY = {"run": "--run", "seed_column": "--seed-column", "step": "--step", "entropy": "--entropy", "perf": "--perf",
               "entropy_key": "--entropy-key", "perf_key": "--perf-key", "meta": "--meta", "algorithm": "--algorithm"}  # fmt: skip


#: data options that only make sense for training logs.
_LOG_ONLY = {"entropy_key": "--entropy-key", "perf_key": "--perf-key", "meta": "--meta"}


def load_summary_data(data: list[Path], value: str, se: str | None, **opts) -> Summaries:
    """Load a per-model table for ``--value``; print warnings and notes; exit 2 on bad input."""
    given = [flag for name, flag in _CURVE_ONLY.items() if opts.get(name) is not None]
    if given:
        fail(f"--value reads a per-model table (model, params, value); {', '.join(given)} apply to training curves only: leave them out")
    if len(data) != 1:
        fail(f"--value reads one per-model table; got {len(data)} paths")
    from scaling.data.summaries import load_summaries

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            summ = load_summaries(data[0], value, se=se, model=opts["model"], params=opts["params"], task=opts["task"], perf_scale=opts["perf_scale"].value)
    except (DataError, ValueError) as err:
        fail(err)
    shown = set(summ.notes)
    show_messages([str(w.message) for w in caught if str(w.message).replace("perf values", f"{value} values") not in shown], summ.notes)
    return summ


def load_data(data: list[Path], **opts) -> Dataset:
    """Load the command's DATA with the data options; print warnings and notes; exit 2 on bad input."""
    from scaling.data.load import ColumnMap
    from scaling.data.readers.walk import expand_directories
    from scaling.data.sources import is_tidy

    log_only = [flag for name, flag in _LOG_ONLY.items() if opts.get(name) is not None]
    fmt = opts["fmt"]
    try:
        files = expand_directories(data, fmt.value) if log_only and fmt == Format.auto else data
    except DataError as err:
        fail(err)
    if log_only and (fmt == Format.tidy or (fmt == Format.auto and all(is_tidy(p) for p in files))):
        fail(f"{', '.join(log_only)} apply to training logs only and DATA is a tidy table: leave them out "
             "(map the table's columns with --entropy, --perf, --model, ... instead)")
    columns = ColumnMap.parse(
        run=opts["run"], model=opts["model"], params=opts["params"], algorithm=opts["algorithm"],
        seed=opts["seed_column"], task=opts["task"], step=opts["step"], entropy=opts["entropy"], perf=opts["perf"],
    )  # fmt: skip
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            ds = _load(data, opts["fmt"], columns, opts["entropy_key"], opts["perf_key"], opts["meta"], opts["perf_scale"], opts["align"], opts["warmup"])
    except (DataError, ValueError) as err:
        fail(err)
    show_messages([str(w.message) for w in caught], ds.notes)
    return ds


def show_messages(warned: list[str], notes: tuple[str, ...] | list[str] = ()) -> None:
    """Print each warning once, then each note that no warning already said (on stderr)."""
    said = list(dict.fromkeys(warned))
    for message in said:
        echo(f"warning: {message}", err=True)
    for note in dict.fromkeys(notes):
        if note not in said:
            echo(f"note: {note}", err=True)


def _option_hints(func: Callable) -> dict[str, object]:
    """The evaluated annotations of ``func``'s parameters, ``ds`` and the return left out.

    ``ds`` is annotated for readers (``Dataset``, imported only under ``TYPE_CHECKING`` so that
    ``--help`` does not load the library); the options' annotations are what Typer reads.
    """
    own = {k: v for k, v in func.__annotations__.items() if k not in ("ds", "return")}
    return typing.get_type_hints(types.SimpleNamespace(__annotations__=own), globalns=func.__globals__, include_extras=True)


def data_command(func: Callable | None = None, *, summaries: bool = False, report_out: bool = False) -> Callable:
    """Give a command the DATA argument and the shared data options, and pass it the loaded data.

    The decorated function takes ``ds: Dataset`` as its first parameter and declares only
    its own options; the wrapper's signature (what Typer reads) is DATA, the data
    options, then those.  ``DataError``/``ValueError`` raised by the command exit with code 2.
    With ``summaries=True`` the command also takes ``--value``/``--se``: given ``--value``,
    DATA is a per-model table and ``ds`` a :class:`~scaling.data.summaries.Summaries`.
    Output options (``out``, ``runs_out``) are checked before the data are read
    (:func:`check_outputs`); with ``report_out=True`` ``out`` is a report directory.
    """
    if func is None:
        return functools.partial(data_command, summaries=summaries, report_out=report_out)
    own = inspect.signature(func)
    hints = _option_hints(func)
    rest = [p for name, p in own.parameters.items() if name != "ds"]
    kind = inspect.Parameter.KEYWORD_ONLY
    new_params = [inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=DataArg)]
    extra = _SUMMARY_OPTIONS if summaries else []
    new_params += [inspect.Parameter(n, kind, default=d, annotation=a) for n, a, d in [*_DATA_OPTIONS, *extra]]
    new_params += [p.replace(kind=kind, annotation=hints.get(p.name, p.annotation)) for p in rest]
    names = [n for n, _, _ in _DATA_OPTIONS]

    @functools.wraps(func)
    def wrapper(data: list[Path], **kwargs):
        per_model = {n: kwargs.pop(n) for n, _, _ in extra}
        opts = {n: kwargs.pop(n) for n in names}
        outputs = {flag: (kwargs.get(name), "report" if report_out and name == "out" else kind) for name, (flag, kind) in _OUTPUT_OPTIONS.items() if name in kwargs}
        check_outputs(outputs, [*data, opts["meta"]])
        if per_model.get("value") is not None:
            ds = load_summary_data(data, per_model["value"], per_model["se"], **opts)
        elif per_model.get("se") is not None:
            fail("--se gives the standard error of --value (a per-model table); pass --value COL too")
        else:
            ds = load_data(data, **opts)
        try:
            return func(ds, **kwargs)
        except (DataError, ValueError) as err:
            fail(err)

    wrapper.__signature__ = inspect.Signature(new_params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in new_params}
    return wrapper


@app.command(cls=Command)
@data_command
def fit(
    ds: Dataset,
    mode: Annotated[Mode, typer.Option(help="free: c fitted per run; paper: c = 1 (Cui et al. 2025); shared: one c across runs (see --share-by).")] = Mode.free,
    share_by: Annotated[Optional[str], typer.Option("--share-by", help="With --mode shared: column(s) whose values form the groups sharing c, e.g. 'model'. Default: all runs share one c.")] = None,
    ci: Annotated[CI, typer.Option(help="Intervals: hac = Newey-West sandwich with prewhitening (fast, default); bootstrap = moving-block residual bootstrap refitting c.")] = CI.hac,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.", min=0.5, max=0.999)] = 0.95,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates (with --ci bootstrap).", min=50)] = 1000,
    seed: Annotated[int, typer.Option(callback=check_seed, help="Random seed of the bootstrap.")] = 0,
    r2_min: Annotated[float, typer.Option("--r2-min", callback=check_r2_min, help="R² below which a run is marked 'poor fit'.")] = 0.6,
    out: OutOpt = None,
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Fit Perf(S) = a - b*exp(c*S) to every run: ceiling a - b with its interval, a, b, c, R², status.

    Example: scaling fit data/runs.csv --run task,model,algorithm,seed --perf val_acc
    """
    if share_by is not None and mode != Mode.shared:
        fail(f"--share-by groups the runs sharing one c, so it needs --mode shared (got --mode {mode.value})")
    from scaling.fitting.dataset import fit_dataset
    from scaling.fitting.single import FitOptions

    options = FitOptions(ci=ci.value, alpha=1 - level, n_boot=n_boot, seed=seed, r2_min=r2_min)
    results = fit_dataset(ds, mode.value, options, share_by=share_by.split(",") if share_by else None)
    # with --out every run is in the file: a sweep of 10^5 runs prints its first and last rows
    echo(results.summary_text(max_rows=PRINTED_RUNS if out is not None else None))
    if out is not None:
        write_table(csv_safe(results.to_frame(), out, safe_csv), out)


#: most runs ``scaling fit --out`` prints (the file has them all).
PRINTED_RUNS = 200


@app.command(cls=Command)
def ingest(
    sources: Annotated[list[Path], typer.Argument(metavar="SOURCES...", help="Log files or directories: W&B export CSVs, verl console logs, TensorBoard directories, JSON-lines files.", show_default=False)],
    fmt: Annotated[Format, typer.Option("--format", help="Format of all sources; auto detects each one.")] = Format.auto,
    entropy_key: EntropyKeyOpt = None,
    perf_key: PerfKeyOpt = None,
    meta: MetaOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the tidy table (.csv or .parquet).")] = Path("tidy.csv"),
    safe_csv: SafeCsvOpt = False,
) -> None:
    """Convert training logs into the tidy table (run, model, params, algorithm, seed, step, entropy, perf).

    Every other command also reads these sources directly; ingest is for keeping the table.
    Example: scaling ingest entropy.csv test_reward.csv --meta runs.toml -o tidy.csv
    """
    if fmt == Format.tidy:
        fail("ingest reads logs; a tidy table needs no conversion")
    check_outputs({"--out": (out, "tidy")}, [*sources, meta])
    from scaling.data.readers import read_source

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            table = read_source(sources, format=fmt.value, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
    except (DataError, ValueError) as err:
        fail(err)
    show_messages([str(w.message) for w in caught])
    summary = table.groupby("run", sort=False).agg(
        model=("model", "first"), params=("params", "first"), entropy_points=("entropy", "count"), perf_points=("perf", "count")
    )
    echo(frame_text(summary).to_string())
    table = csv_safe(table, out, safe_csv)
    try:
        with atomic_path(out) as tmp:
            if out.suffix.lower() in (".parquet", ".pq"):
                table.to_parquet(tmp, index=False)
            else:
                table.to_csv(tmp, index=False)
    except OutputError as err:
        fail(err)
    echo(f"wrote {len(table)} rows ({table['run'].nunique()} runs) to {out}")


def _version(value: bool) -> None:
    if value:
        echo(f"scaling {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Entropy-performance scaling of RL runs."""
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings no command caught print as ``warning: ...`` through :func:`echo` (escaped, one line, no source line)."""
    echo(f"warning: {message}", err=True)


