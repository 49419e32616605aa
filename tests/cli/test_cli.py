"""The command line: tables printed, files written, errors named with exit code 2."""

import importlib
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.core import law

runner = CliRunner()


@pytest.fixture
def tidy(tmp_path):
    rows = []
    for run, c in (("r1", 1.0), ("r2", 0.5)):
        steps = np.arange(40)
        S = 0.05 + 0.6 * np.exp(-steps / 12)
        y = 0.95 - 0.6 * law.g(S, c) + 0.004 * np.cos(steps)
        rows += [dict(run=run, model="m", params=1e6, algorithm="grpo", seed=0, step=s, entropy=e, perf=v) for s, e, v in zip(steps, S, y)]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_fit_prints_a_table_and_writes_csv(tidy, tmp_path):
    out = tmp_path / "fits.csv"
    res = runner.invoke(app, ["fit", str(tidy), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "r1" in res.output and "ceiling" in res.output and "status" in res.output
    frame = pd.read_csv(out)
    for col in ["run", "model", "params", "algorithm", "n_points", "ceiling", "ceiling_lo", "ceiling_hi", "a", "b", "c", "r2", "rmse", "status",
                "ceiling_c1", "ceiling_c1_lo", "ceiling_c1_hi", "delta_aicc_c1", "preferred_form"]:
        assert col in frame.columns
    assert "ceiling c=1" in res.output and "dAICc" in res.output  # the c = 1 fit beside the free one
    assert frame["run"].tolist() == ["r1", "r2"]
    assert frame.loc[0, "ceiling"] == pytest.approx(0.95, abs=0.01)


def test_fit_writes_json_by_extension(tidy, tmp_path):
    out = tmp_path / "fits.json"
    res = runner.invoke(app, ["fit", str(tidy), "--mode", "paper", "--out", str(out)])
    assert res.exit_code == 0, res.output
    records = json.loads(out.read_text())
    assert len(records) == 2 and records[0]["c"] == 1.0 and records[0]["mode"] == "paper"


def test_shared_mode_gives_one_c(tidy):
    res = runner.invoke(app, ["fit", str(tidy), "--mode", "shared", "--out", str(tidy.parent / "s.csv")])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(tidy.parent / "s.csv")
    assert frame["c"].nunique() == 1


def test_missing_column_is_a_clear_error(tidy):
    res = runner.invoke(app, ["fit", str(tidy), "--perf", "val_acc"])
    assert res.exit_code == 2
    assert "column 'val_acc' (perf) not found" in res.output


def test_help_of_every_command():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    assert "fit" in names
    for name in names:
        sub = runner.invoke(app, [name, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output, name


def test_fit_reads_verl_logs_directly(shared_dir, tmp_path):
    logs = sorted((shared_dir / "realdata" / "verl-data" / "raw").glob("Qwen*.log"))
    out = tmp_path / "fits.csv"
    res = runner.invoke(app, ["fit", *map(str, logs), "--warmup", "none", "--out", str(out)])  # every validation read
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(out)
    assert len(frame) == 2 and (frame["n_points"] == 44).all()
    assert (frame["model"] == "Qwen2.5-0.5B-Instruct").all() and (frame["params"] == 0.49e9).all()


def test_ingest_then_fit_equals_fitting_the_logs(shared_dir, tmp_path):
    exports = sorted((shared_dir / "realdata" / "Deep-GRPO" / "training_dynamics").glob("*.csv"))
    tidy = tmp_path / "tidy.csv"
    res = runner.invoke(app, ["ingest", *map(str, exports), "-o", str(tidy)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "2 runs" in res.output
    direct, via = tmp_path / "direct.csv", tmp_path / "via.csv"
    assert runner.invoke(app, ["fit", *map(str, exports), "--out", str(direct)]).exit_code == 0
    assert runner.invoke(app, ["fit", str(tidy), "--out", str(via)]).exit_code == 0
    a, b = pd.read_csv(direct), pd.read_csv(via)
    assert a["run"].tolist() == b["run"].tolist()
    assert np.allclose(a["ceiling"], b["ceiling"], rtol=1e-12)


def test_ingest_names_a_missing_key(tmp_path, shared_dir):
    log = next((shared_dir / "realdata" / "verl-data" / "raw").glob("gemma*.log"))
    res = runner.invoke(app, ["ingest", str(log), "--perf-key", "val/nothing", "-o", str(tmp_path / "t.csv")])
    assert res.exit_code == 2
    assert "val/nothing" in res.output


def test_fit_with_out_prints_the_first_and_last_runs_of_a_large_sweep(tmp_path, monkeypatch):
    cli_main = importlib.import_module("scaling.cli.main")  # the module (scaling.cli.main is also a function's name)
    cols = ["--run", "task,model,algorithm,seed", "--perf", "val_acc"]
    monkeypatch.setattr(cli_main, "PRINTED_RUNS", 12)
    out = tmp_path / "fits.csv"
    short = runner.invoke(app, ["fit", "data/runs.csv", *cols, "--out", str(out)])
    assert short.exit_code == 0, short.output
    assert "... 33 more run(s) not shown ..." in short.output  # 45 runs: the first 7 and the last 5
    assert len(pd.read_csv(out)) == 45  # the file has every run
    full = runner.invoke(app, ["fit", "data/runs.csv", *cols])  # no --out: every run printed
    assert "not shown" not in full.output
    names = pd.read_csv(out)["run"]
    assert names.iloc[6] in short.output and names.iloc[7] not in short.output and names.iloc[-1] in short.output
    assert all(name in full.output for name in names)
