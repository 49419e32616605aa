"""Outputs never destroy the user's files: refused before any work, written atomically,
the report directory swapped in as a whole (scaling.outputs)."""

import os
import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scaling.reporting.page as page
from scaling.cli import app
from scaling.core import law
from scaling.data.sources import load
from scaling.exceptions import OutputError
from scaling.outputs import atomic_write_text, check_output, report_dir
from scaling.reporting.page import write_report
from scaling.study import Study, StudySettings

runner = CliRunner()
FILES = Path(__file__).parents[1] / "files"
QUICK = ["--no-per-run", "--no-forecast", "--no-compare", "--no-across"]


def _table() -> pd.DataFrame:
    rows = []
    for run, c in (("r1", 1.0), ("r2", 0.5)):
        steps = np.arange(30)
        S = 0.05 + 0.6 * np.exp(-steps / 12)
        y = 0.95 - 0.6 * law.g(S, c) + 0.004 * np.cos(steps)
        rows += [dict(run=run, model="m", params=1e6, algorithm="grpo", seed=0, step=s, entropy=e, perf=v) for s, e, v in zip(steps, S, y)]
    return pd.DataFrame(rows)


@pytest.fixture
def tidy(tmp_path):
    path = tmp_path / "runs.csv"
    _table().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def study():
    return Study.run(load(_table()), StudySettings(analyses=()))


def refused(res, *words):
    """Exit code 2, one line on stderr starting 'error:', no traceback."""
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    for w in words:
        assert w in lines[0], lines[0]


def test_fit_out_onto_its_input_is_refused(tidy, tmp_path):
    before = tidy.read_bytes()
    refused(runner.invoke(app, ["fit", str(tidy), "--out", str(tidy)]), "is the input")
    link = tmp_path / "link.csv"
    link.symlink_to(tidy)
    refused(runner.invoke(app, ["fit", str(link), "--out", str(tidy)]), "is the input")
    hard = tmp_path / "hard.csv"
    os.link(tidy, hard)
    refused(runner.invoke(app, ["fit", str(tidy), "--out", str(hard)]), "is the input")
    refused(runner.invoke(app, ["fit", str(tidy), "--out", str(tmp_path / "." / "runs.csv")]), "is the input")
    assert tidy.read_bytes() == before


def test_ingest_onto_its_input_is_refused(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes((FILES / "verl_new.log").read_bytes())
    before = log.read_bytes()
    refused(runner.invoke(app, ["ingest", str(log), "-o", str(log)]), "is the input")
    meta = tmp_path / "meta.toml"
    meta.write_bytes((FILES / "meta.toml").read_bytes())
    refused(runner.invoke(app, ["ingest", str(log), "--meta", str(meta), "-o", str(meta)]), "is the input")
    assert log.read_bytes() == before


@pytest.mark.parametrize("case", ["directory", "read-only file", "read-only dir", "symlink", "dangling symlink", "parent is a file"])
def test_bad_file_outputs_are_one_line_errors_before_the_work(tidy, tmp_path, case, monkeypatch):
    target = tmp_path / "out.csv"
    if case == "directory":
        target.mkdir()
    elif case == "read-only file":
        target.write_text("keep\n")
        target.chmod(0o444)
    elif case == "read-only dir":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "out.csv"
    elif case == "symlink":
        (tmp_path / "real.csv").write_text("keep\n")
        target.symlink_to(tmp_path / "real.csv")
    elif case == "dangling symlink":
        target.symlink_to(tmp_path / "nowhere.csv")
    else:
        (tmp_path / "file").write_text("keep\n")
        target = tmp_path / "file" / "out.csv"
    denied = target.parent if case == "read-only dir" else target
    if case.startswith("read-only") and os.access(denied, os.W_OK):
        # root ignores permission bits: let the check see them as it would for any other user
        real = os.access

        def access(p, mode, *args, **kwargs):
            return False if Path(p) == denied and mode & os.W_OK else real(p, mode, *args, **kwargs)

        monkeypatch.setattr("scaling.outputs.os.access", access)
    res = runner.invoke(app, ["fit", str(tidy), "--out", str(target)])
    refused(res)
    assert "ceiling" not in res.stdout  # refused before the fits
    if case in ("read-only file", "symlink"):
        assert (tmp_path / ("out.csv" if case == "read-only file" else "real.csv")).read_text() == "keep\n"


def test_two_outputs_on_one_path_are_refused(tidy, tmp_path):
    out = tmp_path / "a.csv"
    res = runner.invoke(app, ["backtest-forecast", str(tidy), "--out", str(out), "--runs-out", str(out)])
    refused(res, "--out and --runs-out")
    refused(runner.invoke(app, ["backtest-forecast", str(tidy), "--runs-out", str(tidy)]), "--runs-out", "is the input")


def test_file_outputs_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "t.csv"
    target.write_text("old\n")

    def boom(self, *a, **k):
        Path(a[0]).write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    from scaling.cli.main import write_table

    with pytest.raises(KeyboardInterrupt):
        write_table(pd.DataFrame({"x": [1]}), target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # no temporary file left
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"


# ----- the report directory ----------------------------------------------------------------


def _report_ok(d: Path) -> set[str]:
    """index.html exists and every file it links to exists; returns those links."""
    html = (d / "index.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="((?:figures|tables)/[^"]+)"', html))
    assert links and all((d / link).is_file() for link in links)
    on_disk = {p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file() and p.name != "index.html"}
    assert on_disk == links  # nothing that does not belong to this page
    return links


@pytest.mark.parametrize("case", ["file", "tables is a file", "index is a dir", "index is a symlink", "foreign dir", "user file", "symlinked dir"])
def test_bad_report_dirs_are_refused(tidy, tmp_path, case):
    d = tmp_path / "rep"
    victim = tmp_path / "victim.html"
    victim.write_text("mine")
    if case == "file":
        d.write_text("x")
    elif case == "symlinked dir":
        (tmp_path / "real").mkdir()
        d.symlink_to(tmp_path / "real")
    else:
        d.mkdir()
        if case == "tables is a file":
            (d / "tables").write_text("x")
        elif case == "index is a dir":
            (d / "index.html").mkdir()
        elif case == "index is a symlink":
            (d / "index.html").symlink_to(victim)
        elif case == "foreign dir":
            (d / "notes.txt").write_text("mine")
    if case == "user file":
        assert runner.invoke(app, ["report", str(tidy), "-o", str(d), *QUICK]).exit_code == 0
        (d / "notes.txt").write_text("mine")
    res = runner.invoke(app, ["report", str(tidy), "-o", str(d), *QUICK])
    refused(res)
    assert victim.read_text() == "mine"
    assert not list(tmp_path.glob(".rep.*"))  # no lock or temporary directory left


def test_report_dir_holding_the_input_is_refused(tmp_path):
    d = tmp_path / "rep"
    d.mkdir()
    data = d / "runs.csv"
    _table().to_csv(data, index=False)
    refused(runner.invoke(app, ["report", str(data), "-o", str(d), *QUICK]), "holds the input")
    assert data.exists()


def test_report_replaces_a_previous_report_as_a_whole(study, tmp_path):
    d = tmp_path / "rep"
    write_report(study, d, per_run=True, dpi=30)
    many = _report_ok(d)
    write_report(study, d, per_run=False, dpi=30)  # fewer figures: the old ones must go
    few = _report_ok(d)
    assert few < many


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_interrupted_report_leaves_the_previous_one(study, tmp_path, monkeypatch, k):
    d = tmp_path / "rep"
    write_report(study, d, per_run=False, dpi=30)
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    real = page._write_file
    calls = []

    def interrupted(path, data):
        if len(calls) == k:
            raise KeyboardInterrupt
        calls.append(path)
        real(path, data)

    monkeypatch.setattr(page, "_write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(study, d, per_run=True, dpi=30)
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before
    _report_ok(d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # nothing left beside it


def test_interrupted_first_report_leaves_none(study, tmp_path, monkeypatch):
    def interrupted(path, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(page, "_write_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(study, tmp_path / "rep", per_run=False, dpi=30)
    assert list(tmp_path.iterdir()) == []


def test_a_second_writer_is_refused(study, tmp_path):
    d = tmp_path / "rep"
    inside, release = threading.Event(), threading.Event()
    errors = []

    def first():
        with report_dir(d) as work:
            (work / "index.html").write_text("<p>Made by scaling (entropy-scaling).</p>")
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(10)
        with pytest.raises(OutputError, match="another scaling report is writing"):
            write_report(study, d, per_run=False, dpi=30)
    except BaseException as err:  # pragma: no cover
        errors.append(err)
    finally:
        release.set()
        t.join()
    assert not errors
    write_report(study, d, per_run=False, dpi=30)  # the lock is gone with its writer
    _report_ok(d)


def test_a_stale_lock_is_taken_over(study, tmp_path):
    d = tmp_path / "rep"
    (tmp_path / ".rep.lock").write_text("999999999\n")  # no such process
    (tmp_path / ".rep.tmp-999999999").mkdir()  # the directory of a killed writer
    write_report(study, d, per_run=False, dpi=30)
    _report_ok(d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_check_output_library(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a\n")
    with pytest.raises(OutputError, match="is the input"):
        check_output(f, [f])
    assert check_output(tmp_path / "new" / "y.csv", [f]) == tmp_path / "new" / "y.csv"
    with pytest.raises(ValueError, match="kind"):
        check_output(f, kind="dir")


def test_killed_report_at_random_moments_leaves_a_complete_one(tidy, tmp_path):
    """A real process, interrupted (SIGINT) or killed (SIGKILL) at random moments."""
    import signal
    import subprocess
    import sys
    import time

    d = tmp_path / "rep"
    cmd = [sys.executable, "-m", "scaling.cli", "report", str(tidy), "-o", str(d), "--no-forecast", "--no-compare", "--no-across"]
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    rng = np.random.default_rng(15)
    for sig in (signal.SIGINT, signal.SIGKILL, signal.SIGINT):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 4.0))
        proc.send_signal(sig)
        proc.wait()
        _report_ok(d)
    assert subprocess.run(cmd, capture_output=True).returncode == 0  # a killed writer's lock is taken over
    _report_ok(d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "runs.csv"]


def test_an_output_inside_an_input_directory_is_refused(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes((FILES / "verl_new.log").read_bytes())
    for args in (["fit", str(logs), "--out", str(logs / "fits.csv")], ["report", str(logs), "-o", str(logs / "rep")]):
        refused(runner.invoke(app, args), "lies inside the input directory")
    assert sorted(p.name for p in logs.iterdir()) == ["a.log"]
