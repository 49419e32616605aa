"""Safe text out and validated options (issue 15, items 5 and 6): exact messages, exit code 2, no traceback."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.cli.text import csv_safe, neutralise, printable
from scaling.core import law
from scaling.plotting.figures import MAX_LABEL, mpl_text

runner = CliRunner()

EVIL = "evil\x1b]0;owned\x07\x1b[2J\r"


def _curves(path, names, perf_scale=1.0):
    rows = []
    for i, run in enumerate(names):
        steps = np.arange(40)
        S = 0.05 + 0.6 * np.exp(-steps / 12)
        y = 0.95 - 0.6 * law.g(S, 1.0) + 0.004 * np.cos(steps + i)
        rows += [dict(run=run, model="m", params=1e6, algorithm="grpo", seed=i, step=s, entropy=e, perf=v * perf_scale) for s, e, v in zip(steps, S, y)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def tidy(tmp_path):
    return _curves(tmp_path / "runs.csv", ["r1", "r2"])


def _error(res, fragment):
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    assert fragment in res.output, res.output


# ----- item 5: safe text out ----------------------------------------------------------------
def test_printable_escapes_c0_and_c1_controls_and_keeps_text():
    assert printable(EVIL) == "evil\\x1b]0;owned\\x07\\x1b[2J\\x0d"
    assert printable("\x9b31m") == "\\x9b31m"
    assert printable("a\nb") == "a\\x0ab" and printable("a\nb", keep_newline=True) == "a\nb"
    assert printable("grpo/0 é ✓") == "grpo/0 é ✓"


def test_control_characters_in_run_names_are_escaped_on_the_terminal(tmp_path):
    path = _curves(tmp_path / "evil.csv", [EVIL.rstrip("\r"), "plain"])
    res = runner.invoke(app, ["fit", str(path)])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\x07" not in res.output and "set aside" not in res.output
    assert "evil\\x1b]0;owned\\x07\\x1b[2J" in res.output
    lines = res.output.splitlines()
    header = next(line for line in lines if "ceiling" in line and "run" in line)
    row = next(line for line in lines if line.lstrip().startswith("evil"))
    assert len(row.rstrip()) <= len(header.rstrip()) + 2  # the table is laid out on the escaped text


def test_warnings_and_errors_quoting_data_are_escaped(tmp_path):
    path = tmp_path / "bad.csv"
    _curves(path, ["ok1", "ok2"])
    res = runner.invoke(app, ["fit", str(path), "--perf", "val\x1b[2J"])
    assert res.exit_code == 2 and "\x1b" not in res.output


def test_safe_csv_neutralises_formula_cells(tmp_path):
    path = _curves(tmp_path / "f.csv", ["=cmd()", "+1+cmd", "@SUM(A1)", "-2+3", "plain"])
    out, raw = tmp_path / "fits.csv", tmp_path / "raw.csv"
    res = runner.invoke(app, ["fit", str(path), "--out", str(out), "--safe-csv"])
    assert res.exit_code == 0, res.output
    runs = pd.read_csv(out)["run"].tolist()
    assert runs == ["'=cmd()", "'+1+cmd", "'@SUM(A1)", "'-2+3", "plain"]
    assert runner.invoke(app, ["fit", str(path), "--out", str(raw)]).exit_code == 0
    assert pd.read_csv(raw)["run"].tolist()[0] == "=cmd()"  # only with the option


def test_neutralise_leaves_numbers_and_json_alone(tmp_path):
    assert neutralise("-1.5") == "-1.5" and neutralise(-1.5) == -1.5 and neutralise("\tx") == "'\tx"
    frame = pd.DataFrame({"run": ["=x"]})
    assert csv_safe(frame, tmp_path / "t.json", True)["run"].iloc[0] == "=x"
    assert csv_safe(frame, tmp_path / "t.csv", False)["run"].iloc[0] == "=x"


def test_long_names_are_cut_in_figures_only():
    long = "x" * 5000
    assert len(mpl_text(long)) == MAX_LABEL and mpl_text(long).endswith("…")
    assert mpl_text(long, limit=None) == long


# ----- item 6: every option validated ---------------------------------------------------------
@pytest.mark.parametrize("value", ["nan", "inf", "-0.1", "1", "1.5"])
def test_r2_min_must_be_a_finite_number_below_one(tidy, value):
    _error(runner.invoke(app, ["fit", str(tidy), "--r2-min", value]), "error: --r2-min must be a finite number in [0, 1)")


@pytest.mark.parametrize("command", ["fit", "forecast", "compare"])
def test_seed_must_be_non_negative(tidy, command):
    _error(runner.invoke(app, [command, str(tidy), "--seed", "-1"]), "error: --seed must be a non-negative integer; got -1")


def test_share_by_needs_mode_shared(tidy):
    _error(runner.invoke(app, ["fit", str(tidy), "--share-by", "model"]), "error: --share-by groups the runs sharing one c, so it needs --mode shared (got --mode free)")
    assert runner.invoke(app, ["fit", str(tidy), "--share-by", "model", "--mode", "shared"]).exit_code == 0


def test_log_options_on_a_tidy_table_are_an_error(tidy, tmp_path):
    meta = tmp_path / "meta.csv"
    meta.write_text("run,model\nr1,m\n")
    res = runner.invoke(app, ["fit", str(tidy), "--meta", str(meta), "--entropy-key", "actor/entropy"])
    _error(res, "error: --entropy-key, --meta apply to training logs only and DATA is a tidy table: leave them out")


def test_perf_scale_fraction_rejects_values_above_one(tmp_path):
    path = _curves(tmp_path / "pct.csv", ["r1", "r2"], perf_scale=100)
    res = runner.invoke(app, ["fit", str(path), "--perf-scale", "fraction"])
    _error(res, "error: --perf-scale fraction says column 'perf' lies in [0, 1], but its largest value is 9")
    assert "pass --perf-scale percent" in res.output
    assert runner.invoke(app, ["fit", str(path), "--perf-scale", "percent"]).exit_code == 0


def test_to_far_outside_the_sizes_is_a_warning(shared_dir):
    toy = shared_dir / "toyrl" / "runs.csv"
    res = runner.invoke(app, ["extrapolate", str(toy), "--run", "task,model,algorithm,seed", "--perf", "val_acc", "--tasks", "add4", "--to", "1e-300"])
    assert res.exit_code == 0, res.output
    assert "warning: --to 1e-300 is 305.6 decades below the smallest fitted size (task add4)" in res.output


def test_report_safe_csv_neutralises_formula_cells_in_the_report_tables(tmp_path):
    path = _curves(tmp_path / "f.csv", ["=cmd()", "@SUM(A1)", "plain"])
    quick = ["--no-per-run", "--no-forecast", "--no-compare", "--no-across"]
    safe, raw = tmp_path / "safe", tmp_path / "raw"
    assert runner.invoke(app, ["report", str(path), "-o", str(safe), "--safe-csv", *quick]).exit_code == 0
    assert runner.invoke(app, ["report", str(path), "-o", str(raw), *quick]).exit_code == 0
    tables = sorted(p.name for p in (safe / "tables").glob("*.csv"))
    assert tables and tables == sorted(p.name for p in (raw / "tables").glob("*.csv"))
    cells = lambda d: {str(v) for t in tables for v in pd.read_csv(d / "tables" / t, dtype=str).to_numpy().ravel()}  # noqa: E731
    safe_cells, raw_cells = cells(safe), cells(raw)
    assert "=cmd()" in raw_cells and "@SUM(A1)" in raw_cells  # the runs' names reach the tables
    assert not any(c.startswith(("=", "+", "@")) for c in safe_cells)
    assert "'=cmd()" in safe_cells and "'@SUM(A1)" in safe_cells


def test_out_with_another_extension_is_refused_before_any_work(tmp_path):
    out = tmp_path / "fits.xlsx"
    res = runner.invoke(app, ["fit", "data/runs.csv", "--run", "task,model,algorithm,seed", "--perf", "val_acc", "--out", str(out)])
    assert res.exit_code == 2 and "a table is written as CSV or JSON; give a name ending in .csv or .json" in res.output
    assert not out.exists() and "ceiling" not in res.output  # refused before fitting
    ing = runner.invoke(app, ["ingest", "tests/files/verl_new.log", "-o", str(tmp_path / "tidy.xlsx")])
    assert ing.exit_code == 2 and "give a name ending in .csv or .parquet" in ing.output


def test_report_jobs_must_be_at_least_one_and_any_count_gives_the_same_page(tidy, tmp_path):
    res = runner.invoke(app, ["report", str(tidy), "-o", str(tmp_path / "r0"), "--jobs", "0"])
    said = " ".join(res.output.replace("│", " ").split())  # the box may wrap the message
    assert res.exit_code == 2 and "'--jobs'" in said and "greater than or equal to 1" in said
    quick = ["--no-forecast", "--no-compare", "--no-across"]
    texts = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"r{jobs}"
        res = runner.invoke(app, ["report", str(tidy), "-o", str(out), "-j", jobs, *quick])
        assert res.exit_code == 0, res.output
        texts[jobs] = (res.output.replace(str(out), "OUT"), sorted(p.name for p in (out / "figures").iterdir()))
    assert texts["1"] == texts["2"] and len(texts["1"][1]) >= 4
