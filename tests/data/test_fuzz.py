"""Fuzzing the readers: random bytes, and every truncation of a small valid file of each format.

Nothing but the package's own :class:`~scaling.exceptions.DataError` may escape a reader, and
a file cut anywhere keeps every value of the lines before the cut, and reads no value that
was not logged (a number cut short is dropped, never read as another number).
"""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling.data.load import load
from scaling.data.readers import read_jsonl, read_tensorboard, read_verl_log, read_wandb
from scaling.data.readers.tensorboard import scan_records
from scaling.exceptions import DataError

#: (run, step, key, value) of one logged value
Point = tuple[str, int, str, float]

STEPS = [0, 10, 20]
ENTROPY = [0.650000, 0.517280, 0.413918]
PERF = [0.445230, 0.558300, 0.646514]


def _jsonl_lines() -> list[tuple[str, list[Point]]]:
    lines = []
    for run in ("a", "b"):
        for step, e, p in zip(STEPS, ENTROPY, PERF, strict=True):
            text = f'{{"run": "{run}", "step": {step}, "actor/entropy": {e:.6f}, "val/acc": {p:.6f}}}'
            lines.append((text, [(run, step, "entropy", e), (run, step, "perf", p)]))
    return lines


def _verl_lines() -> list[tuple[str, list[Point]]]:
    lines = [("command: python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo", [])]
    for step, e, p in zip(STEPS, ENTROPY, PERF, strict=True):
        text = f"step:{step} - actor/entropy:{e:.6f} - actor/pg_loss:{-e / 10:.6f} - critic/score:{p / 2:.6f} - val/acc:{p:.6f}"
        lines.append((text, [("run", step, "entropy", e), ("run", step, "perf", p)]))
    return lines


def _tidy_lines() -> list[tuple[str, list[Point]]]:
    lines = [("run,model,params,algorithm,seed,step,entropy,perf", [])]
    for run in ("a", "b"):
        for step, e, p in zip(STEPS, ENTROPY, PERF, strict=True):
            lines.append((f"{run},m,1e6,grpo,0,{step},{e:.6f},{p:.6f}", [(run, step, "entropy", e), (run, step, "perf", p)]))
    return lines


def _wandb_lines() -> list[tuple[str, list[Point]]]:
    lines = [("Step,a - actor/entropy,a - val/acc,b - actor/entropy,b - val/acc", [])]
    for step, e, p in zip(STEPS, ENTROPY, PERF, strict=True):
        points = [(run, step, key, value) for run in ("a", "b") for key, value in (("entropy", e), ("perf", p))]
        lines.append((f"{step},{e:.6f},{p:.6f},{e:.6f},{p:.6f}", points))
    return lines


def _table_points(table: pd.DataFrame) -> set[Point]:
    """The logged values of a canonical table."""
    return {
        (str(row.run), int(row.step), key, float(getattr(row, key)))
        for row in table.itertuples()
        for key in ("entropy", "perf")
        if not math.isnan(getattr(row, key))
    }


def _tidy_points(path: Path) -> set[Point]:
    """The values of a tidy CSV as :func:`~scaling.data.load.load` keeps them (every run, valid or not)."""
    dataset = load(path, warmup="none")
    return _table_points(dataset.table)


def _verl_points(path: Path) -> set[Point]:
    return {("run", step, key, value) for _, step, key, value in _table_points(read_verl_log(path))}


#: format -> (file name, lines with their points, what the reader reads)
FORMATS: dict[str, tuple[str, Callable[[], list], Callable[[Path], set[Point]]]] = {
    "jsonl": ("log.jsonl", _jsonl_lines, lambda path: _table_points(read_jsonl(path))),
    "verl": ("run.log", _verl_lines, _verl_points),
    "tidy": ("runs.csv", _tidy_lines, _tidy_points),
    "wandb": ("export.csv", _wandb_lines, lambda path: _table_points(read_wandb(path))),
}


def _read(reader: Callable[[Path], set[Point]], path: Path) -> set[Point]:
    """Read a file, a DataError counting as nothing read; any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return reader(path)
        except DataError:
            return set()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_truncation_keeps_the_intact_lines_and_reads_no_wrong_value(name, tmp_path):
    filename, make_lines, reader = FORMATS[name]
    lines = make_lines()
    data = ("\n".join(text for text, _ in lines) + "\n").encode()
    everything = {point for _, points in lines for point in points}
    path = tmp_path / filename
    path.write_bytes(data)
    assert _read(reader, path) == everything
    ends = [sum(len(text) + 1 for text, _ in lines[: i + 1]) for i in range(len(lines))]
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        got = _read(reader, path)
        intact = {point for (_, points), end in zip(lines, ends, strict=True) if end <= cut for point in points}
        assert got <= everything, (cut, got - everything)  # never a value that was not logged
        if any(points for (_, points), end in zip(lines, ends, strict=True) if end <= cut):
            assert intact <= got, (cut, intact - got)  # every line before the cut survives


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=600))
def test_random_bytes_raise_at_most_a_data_error(name, junk):
    filename, _, reader = FORMATS[name]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / filename
        path.write_bytes(junk)
        assert _read(reader, path) is not None


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_damage_to_a_valid_file_raises_at_most_a_data_error(name, data):
    filename, make_lines, reader = FORMATS[name]
    valid = bytearray(("\n".join(text for text, _ in make_lines()) + "\n").encode())
    for _ in range(data.draw(st.integers(1, 5))):
        valid[data.draw(st.integers(0, len(valid) - 1))] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / filename
        path.write_bytes(bytes(valid))
        assert _read(reader, path) is not None


def _event_file(directory: Path, points: int = 12) -> Path:
    """One run with entropy and accuracy at steps ``0 .. points - 1``, one event per step."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(directory))
    for step in range(points):
        values = [Summary.Value(tag="actor/entropy", simple_value=1.0 / (step + 1)), Summary.Value(tag="val/acc", simple_value=step / 16)]
        writer.add_event(Event(step=step, wall_time=time.time(), summary=Summary(value=values)))
    writer.close()
    return next(directory.glob("events.out.tfevents*"))


def test_event_files_cut_at_a_sample_of_offsets_keep_every_intact_record(tmp_path):
    path = _event_file(tmp_path / "logs" / "run")
    data = path.read_bytes()
    for cut in [*range(0, len(data), max(1, len(data) // 40)), len(data) - 1]:
        path.write_bytes(data[:cut])
        intact = max(scan_records(path).records - 1, 0)  # the first record is the file version
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                table = read_tensorboard(tmp_path / "logs")
            except DataError:
                assert intact == 0, cut
                continue
        assert table["step"].tolist() == list(range(intact)), cut
        assert table["entropy"].tolist() == [float(np.float32(1.0 / (step + 1))) for step in range(intact)]


@settings(max_examples=40, deadline=None)
@given(junk=st.binary(max_size=600))
def test_random_bytes_as_an_event_file_raise_at_most_a_data_error(junk):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "run" / "events.out.tfevents.1.host"
        path.parent.mkdir()
        path.write_bytes(junk)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                read_tensorboard(Path(directory))
            except DataError:
                pass
