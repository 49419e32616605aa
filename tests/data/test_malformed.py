"""A corpus of broken input files (tests/malformed/), each with the error or warning it must give.

Fatal problems (nothing usable in the file) raise ``DataError`` from the loader and make
``scaling fit`` exit with code 2 and a single ``error: ...`` line.  Problems of one run set that
run aside with a warning naming the run, the column and the file line; every other run is fitted.
None of them may crash, print a traceback or leak numpy RuntimeWarnings.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.data.load import load
from scaling.exceptions import DataError, DataWarning
from scaling.fitting.dataset import fit_dataset

CORPUS = Path(__file__).resolve().parents[1] / "malformed"
runner = CliRunner()

#: file -> the one-line error every reader of it must get
FATAL = {
    "empty.csv": r"empty\.csv: the file is empty",
    "header_only.csv": r"header_only\.csv: no data rows \(only a header, or nothing\)",
    "missing_column.csv": r"column 'entropy' \(entropy\) not found; columns are: run, model, params, algorithm, seed, step, perf\. Name yours with --entropy NAME",
    "latin1.csv": r"latin1\.csv: cannot be read as csv: 'utf-8' codec can't decode byte 0xe9",
    "all_runs_invalid.csv": r"no valid run left; problems: neg: row 2: entropy '-0\.5' entropy is negative .*\| zero_params: row 14: params '0\.0' parameter count must be > 0",
}

#: file -> (runs set aside with the problem named for each, runs fitted with their status)
PER_RUN = {
    "nan_inf.csv": (
        {"bad": r"row 17: entropy 'inf' entropy is infinite; row 19: perf '-inf' perf is infinite"},
        {"good": "ok", "gaps": "ok"},
    ),
    "mixed_types.csv": (
        {"words": r"row 16: entropy 'high' is not a number; row 18: perf 'True' is not a number", "dates": r"row 27: step '2024-01-05' is not a number"},
        {"good": "ok"},
    ),
    "enormous_values.csv": (
        {"huge": r"row 14: entropy '1e\+300' entropy is 1e\+100 or more"},
        {"good": "ok"},
    ),
    "duplicated_runs.csv": (
        {"twice": r"duplicate step 0 \(rows 14, 26\)"},
        {"good": "ok", "split": "ok", "other": "ok"},
    ),
    "unicode_runs.csv": ({}, {"модель/α": "ok", "模型-β": "ok", "emoji 🚀 run": "ok", "naïve café": "ok"}),
    "degenerate_runs.csv": ({}, {"good": "ok", "short": "too few points", "flat": "too few points"}),
}


def test_the_corpus_is_complete():
    assert {p.name for p in CORPUS.glob("*.csv")} == set(FATAL) | set(PER_RUN)


@pytest.mark.parametrize("name", sorted(FATAL))
def test_fatal_files_raise_a_data_error(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError, match=FATAL[name]):
            load(CORPUS / name)


@pytest.mark.parametrize("name", sorted(FATAL))
def test_fatal_files_exit_2_with_one_error_line(name, tmp_path):
    res = runner.invoke(app, ["fit", str(CORPUS / name), "--out", str(tmp_path / "fits.csv")])
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(FATAL[name], errors[0])
    assert "Traceback" not in res.output and not (tmp_path / "fits.csv").exists()


@pytest.mark.parametrize("name", sorted(PER_RUN))
def test_a_bad_run_is_set_aside_by_name_and_the_others_are_fitted(name):
    aside, fitted = PER_RUN[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load(CORPUS / name)
        res = fit_dataset(ds)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    data_warnings = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert set(ds.invalid) == set(aside)
    for run, problem in aside.items():
        assert any(f"run {run!r}" in msg and re.search(problem, msg) for msg in data_warnings), data_warnings
        assert res[run].status.value == "invalid data"
    assert {run: res[run].status.value for run in fitted} == fitted
    assert len(res) == len(aside) + len(fitted)
    assert ds.perf_range == (0.0, 1.0)  # a broken run does not turn the whole metric unbounded


@pytest.mark.parametrize("name", sorted(PER_RUN))
def test_cli_warns_about_the_bad_run_and_writes_every_run(name, tmp_path):
    aside, fitted = PER_RUN[name]
    out = tmp_path / "fits.json"
    res = runner.invoke(app, ["fit", str(CORPUS / name), "--out", str(out)])
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    for run in aside:
        assert any(f"run {run!r}" in line for line in warned), res.stderr
    assert "RuntimeWarning" not in res.output and "Traceback" not in res.output
    records = json.loads(out.read_text(encoding="utf-8"))
    got = {r["run"]: r["status"] for r in records}
    assert got == {**{run: "invalid data" for run in aside}, **fitted}
    for run in fitted:
        assert run in res.stdout  # unicode names survive the table, the JSON and the CSV


def test_unicode_names_survive_a_csv_round_trip(tmp_path):
    out = tmp_path / "fits.csv"
    res = runner.invoke(app, ["fit", str(CORPUS / "unicode_runs.csv"), "--out", str(out)])
    assert res.exit_code == 0
    frame = pd.read_csv(out)
    assert frame["run"].tolist() == ["модель/α", "模型-β", "emoji 🚀 run", "naïve café"]
    assert frame["model"].tolist() == ["модель", "模型", "m🚀", "café"]


def test_missing_validations_are_skipped_not_rejected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        res = fit_dataset(load(CORPUS / "nan_inf.csv"))
    assert res["gaps"].n_points == 8  # four of the twelve perf cells are NaN, blank, nan or NA
    assert res["good"].n_points == 12
