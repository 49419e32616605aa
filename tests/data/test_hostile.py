"""A corpus of hostile inputs (tests/hostile/), each with the exact behaviour it must get.

A bad line is a DataWarning naming the file and the line, and every intact run is still
read with all its points; nothing crashes, nothing prints a traceback, no number is parsed
wrong in silence.  Big cases (a JSON line nested 10,000 deep, a 5,000-digit step, damaged
TensorBoard event files) are generated here instead of being committed.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.data.load import read_file
from scaling.data.readers import jsonl as jsonl_module
from scaling.data.readers import read_jsonl, read_source, read_tensorboard, read_verl_log
from scaling.data.readers import tensorboard as tensorboard_module
from scaling.data.readers.tensorboard import scan_records
from scaling.data.readers.textio import MAX_STEP, parse_step
from scaling.data.sources import load
from scaling.exceptions import DataError, DataWarning
from scaling.fitting.dataset import fit_dataset
from scaling.textsafe import printable

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
runner = CliRunner()

#: the twelve (step, entropy, perf) points of every intact run of the corpus
STEPS = list(range(0, 120, 10))
ENTROPY = [0.65, 0.51728, 0.413918, 0.33342, 0.270728, 0.221903, 0.183878, 0.154264, 0.131201, 0.11324, 0.099251, 0.088357]
PERF = [0.44523, 0.5583, 0.646514, 0.6994, 0.747073, 0.773496, 0.801046, 0.814957, 0.831174, 0.839174, 0.848291, 0.853771]

#: file -> (warning every reader of it must give, fitted points per run)
CASES = {
    "step_out_of_range.jsonl": (
        r"step_out_of_range\.jsonl \(run\(s\) 'a', 'b'\): skipped 4 line\(s\) 13, 14, 15, 16 "
        r"\(line 13: step 1e\+300 is out of range \[0, 2\*\*53\); line 14: step of 20 digits is out of range "
        r"\[0, 2\*\*53\); line 15: step 120\.5 is not an integer; line 16: step -10 is out of range",
        {"a": 12, "b": 12},
    ),
    "step_out_of_range.log": (
        r"step_out_of_range\.log: run 'step_out_of_range': skipped 1 step line\(s\) 8 "
        r"\(line 8: step of 20 digits is out of range \[0, 2\*\*53\)\)",
        {"step_out_of_range": 12},
    ),
    "wandb_step_out_of_range.csv": (
        r"wandb_step_out_of_range\.csv: column 'Step': skipped line\(s\) 6, 10 whose step is not an integer "
        r"in \[0, 2\*\*53\) \(line 6: step 1e\+300 is out of range",
        {"a": 12},
    ),
    "locale_semicolon.csv": (
        r"locale_semicolon\.csv: read as a semicolon-separated CSV with decimal commas \(columns entropy, perf\)",
        {"a": 12, "b": 12},
    ),
    "cut_value.csv": (
        r"cut_value\.csv: line 25 looks truncated \(the file does not end with a newline and its last value "
        r"'0\.85' looks cut \(the value above it is '0\.848291'\)\); line dropped",
        {"a": 12, "b": 11},
    ),
    "cut_fields.csv": (
        r"cut_fields\.csv: line 25 looks truncated \(the file does not end with a newline and it has 7 of 8 fields\); line dropped",
        {"a": 12, "b": 11},
    ),
    "ragged.csv": (
        r"ragged\.csv: skipped line\(s\) 7 with a field count other than the header's 8",
        {"a": 12, "b": 12},
    ),
    "inf_point.jsonl": (
        r"inf_point\.jsonl: run 'a': dropped 1 point\(s\) whose entropy \('actor/entropy'\) is infinite: step 30 \(line 4\)",
        {"a": 11, "b": 12},
    ),
    "inf_point.log": (
        r"inf_point\.log: run 'inf_point': dropped 1 point\(s\) whose entropy \('actor/entropy'\) is infinite: step 30 \(line 4\)",
        {"inf_point": 11},
    ),
    "wandb_inf_point.csv": (
        r"wandb_inf_point\.csv: run 'a': column 'a - val/acc': infinite value\(s\) on line\(s\) 6 dropped",
        {"a": 11, "b": 12},
    ),
}

#: files read without any warning, and their fitted points per run
QUIET = {"bidi_runs.csv": {"admin\u202egnp.exe": 12, "x\u2066y\u2069z\u200b": 12}}


def _fitted(path: Path) -> tuple[dict[str, int], list[str]]:
    """Fit a file; return the points fitted per run (all runs must fit ``ok``) and the DataWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load(path)
        res = fit_dataset(dataset)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(res) == len(dataset.runs)
    assert {run: res[run].status.value for run in dataset.runs} == dict.fromkeys(dataset.runs, "ok")
    return {run: res[run].n_points for run in dataset.runs}, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def test_the_corpus_is_complete():
    assert {p.name for p in HOSTILE.iterdir()} == set(CASES) | set(QUIET)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_line_warns_with_file_and_line_and_every_intact_run_is_fitted(name):
    pattern, points = CASES[name]
    with pytest.warns(DataWarning, match=pattern):
        load(HOSTILE / name)
    fitted, messages = _fitted(HOSTILE / name)
    assert fitted == points
    assert any(re.search(pattern, message) for message in messages)


def test_a_file_of_intact_lines_gives_no_warning():
    for name, points in QUIET.items():
        fitted, messages = _fitted(HOSTILE / name)
        assert fitted == points and messages == []


def test_the_surviving_values_are_the_logged_ones():
    with pytest.warns(DataWarning):
        table = load(HOSTILE / "locale_semicolon.csv").table
    assert table.loc[table["run"] == "a", "entropy"].tolist() == ENTROPY
    assert table.loc[table["run"] == "b", "perf"].tolist() == PERF
    with pytest.warns(DataWarning):
        table = read_source(HOSTILE / "step_out_of_range.jsonl")
    assert table.groupby("run")["step"].apply(list).to_dict() == {"a": STEPS, "b": STEPS}
    with pytest.warns(DataWarning):
        table = read_source(HOSTILE / "wandb_step_out_of_range.csv")
    assert table["step"].tolist() == STEPS and table["entropy"].tolist() == ENTROPY  # no point moved to another step
    with pytest.warns(DataWarning):
        table = read_source(HOSTILE / "inf_point.log")
    assert np.isnan(table.set_index("step").loc[30, "entropy"]) and table.set_index("step").loc[30, "perf"] == 0.6994
    with pytest.warns(DataWarning):
        table = load(HOSTILE / "cut_value.csv").table
    assert table.loc[table["run"] == "b", "perf"].tolist() == PERF[:-1]  # never 0.85 for 0.853771


@pytest.mark.parametrize(
    ("value", "step", "reason"),
    [
        (100.0, 100, ""),
        ("100", 100, ""),
        (MAX_STEP - 1, MAX_STEP - 1, ""),
        (MAX_STEP, None, "step 9007199254740992 is out of range [0, 2**53)"),
        (1e300, None, "step 1e+300 is out of range [0, 2**53)"),
        ("9.3e18", None, "step 9.3e+18 is out of range [0, 2**53)"),
        ("9" * 5000, None, "step of 5000 digits is out of range [0, 2**53)"),
        (10**5000, None, "step of about 5001 digits is out of range [0, 2**53)"),
        (-1, None, "step -1 is out of range [0, 2**53)"),
        (2.5, None, "step 2.5 is not an integer"),
        (float("nan"), None, "step nan is not finite"),
        (True, None, "step 'True' is not a number"),
    ],
    ids=lambda v: "huge int" if isinstance(v, int) and v.bit_length() > 1000 else str(v)[:24],
)
def test_steps_are_exact_integers_in_range(value, step, reason):
    assert parse_step(value) == (step, reason)


# ---------------------------------------------------------------------------
# generated cases: too big to commit
# ---------------------------------------------------------------------------


def _jsonl_run(run: str) -> list[str]:
    return [json.dumps({"run": run, "step": s, "actor/entropy": e, "val/acc": p}) for s, e, p in zip(STEPS, ENTROPY, PERF, strict=True)]


@pytest.fixture
def deep_jsonl(tmp_path) -> Path:
    """Two intact runs around a line nested 10,000 deep, a 5,000-digit step and an 80-level object."""
    lines = _jsonl_run("a")
    lines.append("[" * 10_000 + "]" * 10_000)  # line 13
    lines.append('{"run": "a", "step": ' + "7" * 5000 + ', "actor/entropy": 0.1}')  # line 14
    nested: dict = {"x": 1.0}
    for _ in range(80):
        nested = {"k": nested}
    lines.append(json.dumps({"run": "a", "step": 5, **nested}))  # line 15
    lines += _jsonl_run("b")
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_deep_and_huge_json_lines_are_skipped_with_their_line_numbers(deep_jsonl):
    pattern = (
        r"deep\.jsonl \(run\(s\) 'a', 'b'\): skipped 3 line\(s\) 13, 14, 15 \(line 13: JSON nested too deeply; "
        r"line 14: a number too long to read; line 15: objects nested deeper than 64 levels\)"
    )
    with pytest.warns(DataWarning, match=pattern):
        table = read_jsonl(deep_jsonl)
    assert table.groupby("run").size().to_dict() == {"a": 12, "b": 12}


def test_a_line_over_the_size_limit_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonl_module, "MAX_LINE_BYTES", 200)
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join([*_jsonl_run("a"), json.dumps({"run": "a", "step": 200, "pad": "x" * 300})]) + "\n")
    with pytest.warns(DataWarning, match=r"long\.jsonl \(run\(s\) 'a'\): skipped 1 line\(s\) 13 \(line 13: line longer than 200 bytes\)"):
        table = read_jsonl(path)
    assert table["step"].tolist() == STEPS


def test_a_verl_step_of_5000_digits_is_skipped_with_its_line(tmp_path):
    lines = [f"step:{s} - actor/entropy:{e:.6f} - val/acc:{p:.6f}" for s, e, p in zip(STEPS, ENTROPY, PERF, strict=True)]
    lines.insert(2, "step:" + "1" * 5000 + " - actor/entropy:0.1 - val/acc:0.9")
    path = tmp_path / "huge.log"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(DataWarning, match=r"huge\.log: run 'huge': skipped 1 step line\(s\) 3 \(line 3: step of 5000 digits is out of range"):
        table = read_verl_log(path)
    assert table["step"].tolist() == STEPS


def write_event_file(directory: Path, points: int = 40) -> Path:
    """One run of ``points`` steps with entropy and accuracy, written with TensorBoard's own writer."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(directory))
    for step in range(points):
        values = [Summary.Value(tag="actor/entropy", simple_value=0.65 * 0.95**step), Summary.Value(tag="val/acc", simple_value=0.4 + step / 100)]
        writer.add_event(Event(step=step, wall_time=time.time(), summary=Summary(value=values)))
    writer.close()
    return next(directory.glob("events.out.tfevents*"))


def test_an_intact_event_file_scans_clean(tmp_path):
    scan = scan_records(write_event_file(tmp_path / "run"))
    assert scan.problem == "" and scan.records == 41 and scan.offset == scan.size  # file version record + 40


def test_an_event_file_cut_in_half_warns_with_points_read_and_bytes_unread(tmp_path):
    path = write_event_file(tmp_path / "logs" / "run")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    pattern = (
        rf"{path.name}: the file is cut inside a record at byte \d+ \(record 21\); read 20 intact record\(s\) before it, "
        rf"\d+ of {len(data) // 2} byte\(s\) unread; the run has 38 scalar point\(s\)"
    )
    with pytest.warns(DataWarning, match=pattern):
        table = read_tensorboard(tmp_path / "logs")
    assert table["step"].tolist() == list(range(19))


def test_an_event_file_with_flipped_bytes_warns_that_it_is_corrupt_and_reads_on_after_the_damage(tmp_path):
    path = write_event_file(tmp_path / "logs" / "run")
    data = bytearray(path.read_bytes())
    data[200:210] = bytes(byte ^ 0xFF for byte in data[200:210])  # inside the data of record 3 (step 1)
    path.write_bytes(bytes(data))
    pattern = (
        rf"{path.name}: a record fails its CRC check \(corrupt bytes\) at byte (\d+) \(record 3\), resumed at byte (\d+); "
        rf"read 40 intact record\(s\), skipped 1 damaged record\(s\), (\d+) of {len(data)} byte\(s\); the run has 78 scalar point\(s\)"
    )
    with pytest.warns(DataWarning, match=pattern) as caught:
        table = read_tensorboard(tmp_path / "logs")
    start, resume, skipped = map(int, re.search(pattern, str(caught[0].message)).groups())
    assert start < 200 < resume and skipped == resume - start
    assert table["step"].tolist() == [0, *range(2, 40)]  # only step 1 is lost
    assert table["entropy"].tolist() == pytest.approx([0.65 * 0.95**s for s in [0, *range(2, 40)]], rel=1e-6)


def test_an_event_file_with_corrupt_record_headers_resynchronises_on_the_next_intact_record(tmp_path):
    path = write_event_file(tmp_path / "logs" / "run")
    clean = path.read_bytes()
    spans = scan_records(path).spans
    data = bytearray(clean)
    for record in (10, 25, 26):  # a header whose length is garbage: the next record is found by scanning
        start = spans[record][0]
        data[start : start + 8] = bytes(byte ^ 0x5A for byte in data[start : start + 8])
    path.write_bytes(bytes(data))
    scan = scan_records(path)
    assert scan.records == 41 - 3 and [d.offset for d in scan.damage] == [spans[10][0], spans[25][0]]
    assert [d.end for d in scan.damage] == [spans[11][0], spans[27][0]] and not any(d.exact for d in scan.damage)
    for window in (16, 50, 1 << 20):  # the search for the next record, a window of bytes at a time
        assert tensorboard_module._resync(bytes(data), spans[10][0] + 1, window) == spans[11][0]
    assert tensorboard_module._resync(bytes(data), spans[40][0] + 1, 16) is None  # nothing intact after the last record's start
    with pytest.warns(DataWarning, match=r"read 38 intact record\(s\), skipped at least 2 damaged record\(s\), \d+ of \d+ byte\(s\)"):
        table = read_tensorboard(tmp_path / "logs")
    assert table["step"].tolist() == [s for s in range(40) if s not in (9, 24, 25)]  # record k holds step k - 1


def test_bidi_and_invisible_characters_are_escaped_when_printed():
    assert printable("admin\u202egnp.exe") == "admin\\u202egnp.exe"
    assert printable("x\u2066y\u2069z\u200b\ufeff\u00ad") == "x\\u2066y\\u2069z\\u200b\\ufeff\\xad"
    assert printable("\U000e0041") == "\\U000e0041"
    assert printable("модель/α 🚀 naïve") == "модель/α 🚀 naïve"


# ---------------------------------------------------------------------------
# the command line: warnings, no traceback
# ---------------------------------------------------------------------------


def _cli_fit(path: Path, out: Path):
    res = runner.invoke(app, ["fit", str(path), "--out", str(out)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    return res


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_prints_the_warning_and_fits_every_intact_run(name, tmp_path):
    pattern, points = CASES[name]
    out = tmp_path / "fits.json"
    res = _cli_fit(HOSTILE / name, out)
    assert res.exit_code == 0, res.output
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    assert any(re.search(pattern, line) for line in warned), res.stderr
    records = json.loads(out.read_text(encoding="utf-8"))
    assert {r["run"]: r["n_points"] for r in records} == points


def test_cli_escapes_bidi_controls_in_run_names(tmp_path):
    res = _cli_fit(HOSTILE / "bidi_runs.csv", tmp_path / "fits.csv")
    assert res.exit_code == 0, res.output
    assert "admin\\u202egnp.exe" in res.stdout and "x\\u2066y\\u2069z\\u200b" in res.stdout
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200b]", res.output)


def test_cli_on_generated_hostile_files_prints_no_traceback(deep_jsonl, tmp_path):
    event = write_event_file(tmp_path / "tb" / "run")
    event.write_bytes(event.read_bytes()[:-100])
    expected = {deep_jsonl: r"deep\.jsonl .*skipped 3 line\(s\) 13, 14, 15", tmp_path / "tb": r"the file is cut inside a record"}
    for path, pattern in expected.items():
        res = _cli_fit(path, tmp_path / "fits.json")
        assert res.exit_code == 0, res.output
        assert any(line.startswith("warning: ") and re.search(pattern, line) for line in res.stderr.splitlines()), res.stderr


def test_event_steps_out_of_range_are_dropped_with_a_warning(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path / "logs" / "run"))
    for step in [*range(12), -5, 2**60]:
        values = [Summary.Value(tag="actor/entropy", simple_value=0.5), Summary.Value(tag="val/acc", simple_value=0.25)]
        writer.add_event(Event(step=step, wall_time=time.time(), summary=Summary(value=values)))
    writer.close()
    with pytest.warns(DataWarning) as record:
        table = read_tensorboard(tmp_path / "logs")
    messages = sorted(str(w.message).split(": ", 1)[1] for w in record)
    assert messages == [
        f"tag {tag!r}: dropped 2 point(s) whose step is out of range [0, 2**53) (first: step -5)" for tag in ("actor/entropy", "val/acc")
    ]
    assert table["step"].tolist() == list(range(12))


def test_an_infinite_event_value_drops_that_point_and_keeps_the_run(tmp_path):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path / "logs" / "run"))
    for step, (e, p) in enumerate(zip(ENTROPY, PERF, strict=True)):
        values = [Summary.Value(tag="actor/entropy", simple_value=float("inf") if step == 3 else e), Summary.Value(tag="val/acc", simple_value=p)]
        writer.add_event(Event(step=step, wall_time=time.time(), summary=Summary(value=values)))
    writer.close()
    with pytest.warns(DataWarning, match=r"run 'run': dropped 1 point\(s\) whose entropy \('actor/entropy'\) is infinite: step 3$"):
        table = read_tensorboard(tmp_path / "logs")
    assert len(table) == 12 and table["entropy"].isna().tolist() == [step == 3 for step in range(12)]


def test_an_integer_beyond_the_float_range_is_an_infinite_value(tmp_path):
    lines = _jsonl_run("a")
    lines[5] = lines[5].replace('"actor/entropy": 0.221903', '"actor/entropy": ' + "9" * 400)
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(DataWarning, match=r"run 'a': dropped 1 point\(s\) whose entropy \('actor/entropy'\) is infinite: step 50 \(line 6\)"):
        table = read_jsonl(path)
    assert len(table) == 12 and np.isnan(table["entropy"].iloc[5])


@pytest.mark.parametrize("content", ['"', '""\n', '"\n"\n'])
def test_a_csv_of_quotes_only_is_a_data_error(tmp_path, content):
    """Found by the fuzz test: a lone quote left no CSV record and raised IndexError."""
    path = tmp_path / "quote.csv"
    path.write_text(content)
    with pytest.raises(DataError, match="no CSV record"):
        read_file(path)
