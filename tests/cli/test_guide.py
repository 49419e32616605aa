"""A CLI that guides (issue 14, item 4): run ids by default, hints naming flags, directories,
one W&B export alone, notes printed once and only when they matter, plain help placeholders."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.core import law

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "data" / "runs.csv"
FILES = ROOT / "tests" / "files"


def _ok(res):
    assert res.exit_code == 0, res.output
    return res.output


def _error(res):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    return res.output


def _curves(path, runs=("r1", "r2"), scale=1.0, every=1, run_column=True):
    rows = []
    for i, run in enumerate(runs):
        for s in range(40):
            S = 0.05 + 0.6 * np.exp(-s / 12)
            y = (0.95 - 0.6 * law.g(S, 1.0) + 0.004 * np.cos(s + i)) * scale
            row = dict(run=run, model="m", seed=i, step=s, entropy=S, perf=y if s % every == 0 else None)
            if not run_column:
                row.pop("run")
            rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# ----- run ids ----------------------------------------------------------------------------
def test_runs_default_to_the_identity_columns_with_a_note(tmp_path):
    out = tmp_path / "fits.json"
    text = _ok(runner.invoke(app, ["fit", str(RUNS), "--perf", "val_acc", "-o", str(out)]))
    assert text.count("note: no run column; runs identified by task/model/algorithm/seed (pass --run to choose)\n") == 1
    runs = [r["run"] for r in json.loads(out.read_text())]
    assert len(runs) == 45 and "add3/s/grpo/0" in runs


def test_identity_columns_present_form_the_run_id_in_their_order(tmp_path):
    path = _curves(tmp_path / "runs.csv", run_column=False)  # columns model, seed
    text = _ok(runner.invoke(app, ["fit", str(path)]))
    assert "note: no run column; runs identified by model/seed (pass --run to choose)" in text
    assert "m/0" in text and "m/1" in text


def test_a_run_column_or_run_option_gives_no_note(tmp_path):
    path = _curves(tmp_path / "runs.csv")
    assert "no run column" not in _ok(runner.invoke(app, ["fit", str(path)]))
    assert "no run column" not in _ok(runner.invoke(app, ["fit", str(RUNS), "--perf", "val_acc", "--run", "task,model,algorithm,seed"]))


def test_duplicate_steps_suggest_run_columns_naming_candidates():
    text = _error(runner.invoke(app, ["fit", str(RUNS), "--perf", "val_acc", "--run", "task,model"]))
    assert text.startswith("error: ") and "duplicate step 0 (rows 2, 303, 604" in text
    assert text.rstrip().endswith(
        "; several runs share a run id? pass --run COLS naming the columns that identify a run (candidates: algorithm, seed)"
    )


def test_duplicate_steps_without_candidate_columns_still_suggest_run(tmp_path):
    path = tmp_path / "dup.csv"
    pd.DataFrame(dict(run=["a"] * 4, step=[0, 0, 1, 1], entropy=[0.5, 0.4, 0.3, 0.2], perf=[0.1, 0.2, 0.3, 0.4])).to_csv(path, index=False)
    text = _error(runner.invoke(app, ["fit", str(path)]))
    assert text.rstrip().endswith("; several runs share a run id? pass --run COLS naming the columns that identify a run")


# ----- flags in messages -----------------------------------------------------------------
def test_log_key_errors_name_the_cli_flags():
    text = _error(runner.invoke(app, ["fit", str(FILES / "verl_new.log"), "--perf-key", "nope"]))
    assert "pass --entropy-key/--perf-key (entropy_key=/perf_key= in Python)" in text
    assert "pass entropy_key=/perf_key=" not in text


def test_format_errors_name_the_format_flag(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    text = _error(runner.invoke(app, ["ingest", str(path), "-o", str(tmp_path / "t.csv")]))
    assert "no verl 'step:N - key:value' line found; pass --format (format= in Python) if it is another format" in text


# ----- directories -------------------------------------------------------------------------
def test_a_directory_of_verl_logs_is_read_recursively(tmp_path):
    (tmp_path / "logs" / "old").mkdir(parents=True)
    shutil.copyfile(FILES / "verl_new.log", tmp_path / "logs" / "verl_new.log")
    shutil.copyfile(FILES / "verl_old.log", tmp_path / "logs" / "old" / "verl_old.log")
    (tmp_path / "logs" / "README.txt").write_text("how these logs were made\n")
    text = _ok(runner.invoke(app, ["ingest", str(tmp_path / "logs"), "-o", str(tmp_path / "t.csv")]))
    assert "verl_new" in text and "verl_old" in text
    assert sorted(pd.read_csv(tmp_path / "t.csv")["run"].unique()) == ["verl_new", "verl_old"]


def test_a_directory_of_tidy_tables_is_one_run_per_file(tmp_path):
    (tmp_path / "tables" / "more").mkdir(parents=True)
    for name, sub in (("a", ""), ("b", "more")):
        frame = pd.read_csv(_curves(tmp_path / "tmp.csv", runs=("x",))).drop(columns=["run", "model", "seed"])
        frame.to_csv(tmp_path / "tables" / sub / f"{name}.csv", index=False)
    out = tmp_path / "fits.json"
    _ok(runner.invoke(app, ["fit", str(tmp_path / "tables"), "-o", str(out)]))
    assert [r["run"] for r in json.loads(out.read_text())] == ["a", "b"]


def test_a_directory_with_nothing_readable_lists_what_it_holds(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = _error(runner.invoke(app, ["fit", str(empty)]))
    assert text == (
        f"error: {empty}: nothing readable in this directory or below (looked for TensorBoard event files, "
        ".csv/.tsv/.parquet tables or W&B exports, .jsonl logs, verl .log/.txt logs); it is empty\n"
    )
    junk = tmp_path / "junk"
    (junk / "sub").mkdir(parents=True)
    (junk / "README.md").write_text("hi\n")
    (junk / "sub" / "plot.png").write_bytes(b"\x89PNG")
    (junk / ".hidden.csv").write_text("run,step\n")
    text = _error(runner.invoke(app, ["fit", str(junk)]))
    assert text.rstrip().endswith("; found: README.md, sub/plot.png")


def test_a_directory_mixing_tables_and_logs_is_refused(tmp_path):
    shutil.copyfile(FILES / "verl_new.log", tmp_path / "verl_new.log")
    _curves(tmp_path / "tidy.csv")
    text = _error(runner.invoke(app, ["fit", str(tmp_path)]))
    assert text == f"error: the inputs mix tidy tables ({tmp_path / 'tidy.csv'}) with training logs ({tmp_path / 'verl_new.log'}): give one kind at a time\n"


# ----- one W&B export alone ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, has, lacks, flag",
    [("wandb_entropy.csv", "entropy metric 'actor/entropy'", "validation", "--perf-key"),
     ("wandb_perf.csv", "validation metric 'val-core/math/acc/mean@1'", "entropy", "--entropy-key")],
)  # fmt: skip
def test_one_wandb_export_alone_names_the_missing_export(name, has, lacks, flag):
    text = _error(runner.invoke(app, ["fit", str(FILES / name)]))
    assert text.startswith(f"error: {FILES / name}: holds only the {has}; pass the W&B export with the {lacks} metric too (")
    assert text.rstrip().endswith(f"name another with {flag}, {flag[2:].replace('-', '_')}= in Python)")


# ----- notes once, and only when they matter ----------------------------------------------
def test_percent_warning_prints_once(tmp_path):
    path = _curves(tmp_path / "pct.csv", scale=100.0)
    text = _ok(runner.invoke(app, ["fit", str(path)]))
    assert text.count("perf values reach") == 1
    assert "warning: perf values reach" in text


def test_alignment_note_only_when_entropy_was_averaged(tmp_path):
    every = _curves(tmp_path / "every.csv")
    sparse = _curves(tmp_path / "sparse.csv", every=3)
    assert "alignment" not in _ok(runner.invoke(app, ["fit", str(every)]))
    assert "alignment" not in _ok(runner.invoke(app, ["fit", str(every), "--align", "mean"]))
    assert "alignment" not in _ok(runner.invoke(app, ["fit", str(sparse)]))
    text = _ok(runner.invoke(app, ["fit", str(sparse), "--align", "mean"]))
    assert text.count(
        "note: entropy paired with validation by 'mean' alignment: each validation's entropy is the mean over "
        "the steps since the previous validation (up to 3 logged steps)\n"
    ) == 1


# ----- help placeholders ---------------------------------------------------------------------
@pytest.mark.parametrize("command", ["fit", "report", "forecast", "compare", "extrapolate", "plan", "backtest-sizes", "backtest-forecast"])
def test_help_shows_data_placeholder_and_no_bool(command):
    text = _ok(runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}))
    assert re.search(rf"Usage: .*{command} \[OPTIONS\] DATA\.\.\.", text)
    assert "DATA...      <path>..." in text
    assert "<bool>" not in text and "{data}" not in text and "<list[Path]>" not in text


def test_ingest_and_top_level_help_have_no_bool():
    text = _ok(runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"}))
    assert "[OPTIONS] SOURCES..." in text and "<bool>" not in text and "{sources}" not in text
    text = _ok(runner.invoke(app, ["--help"], env={"COLUMNS": "200"}))
    assert "<bool>" not in text and "--version" in text
