"""Large tidy CSVs are scanned in blocks and read in chunks of rows: the result is that of reading them whole."""

import gzip
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scaling.data.load as load_module
from scaling.core import law
from scaling.data.load import ColumnMap, load
from scaling.exceptions import DataError


def _run_lines(rng, run: str, n: int, perf_every: int, first: int = 0) -> list[tuple[str, int, float, str]]:
    steps = np.arange(first, first + n)
    S = 0.05 + 0.6 * np.exp(-steps / (n / 3))
    y = 0.95 - 0.6 * law.g(S, 1.0) + rng.normal(0, 0.005, n)
    return [(run, int(s), e, f"{v:.6f}" if s % perf_every == 0 else "") for s, e, v in zip(steps, S, y)]


def _table(tmp_path, identity: bool) -> tuple:
    """A CSV of about 4,000 rows with what the checks look at: runs in pieces and out of step order,
    bad cells, a duplicate step, an infinite and a negative value, blank lines, label and measurement
    columns for the run hint."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(12):
        rows += _run_lines(rng, f"r{i:02d}", 300, perf_every=1 + i % 3)
    rows[5:5] = _run_lines(rng, "late", 40, 2, first=400)  # a run in two pieces, far apart
    rows += _run_lines(rng, "late", 40, 2)
    shuffled = _run_lines(rng, "mixed", 60, 2)
    rng.shuffle(shuffled)  # a run whose steps are out of order
    rows[1500:1500] = shuffled
    rows[2000] = (*rows[2000][:3], "x")  # perf not a number
    rows[2600] = (rows[2600][0], rows[2599][1], *rows[2600][2:])  # a duplicate step
    rows[3100] = (*rows[3100][:2], float("inf"), rows[3100][3])
    rows[3500] = (*rows[3500][:2], -0.5, rows[3500][3])
    if identity:  # no run column: runs are task/model/algorithm/seed
        head = "task,model,algorithm,seed,host,lr,step,entropy,perf"
        lines = [f"t{len(r) % 2},{r},grpo,0,h{k % 3},{0.1 + k % 5 / 7:.4f},{s},{float(e)!r},{v}" for k, (r, s, e, v) in enumerate(rows)]
    else:
        head = "run,host,lr,step,entropy,perf"
        lines = [f"{r},h{k % 3},{0.1 + k % 5 / 7:.4f},{s},{float(e)!r},{v}" for k, (r, s, e, v) in enumerate(rows)]
    lines[700:700] = [""]
    lines[2500:2500] = ["   "]
    path = tmp_path / "runs.csv"
    path.write_text(head + "\n" + "\n".join(lines) + "\n")
    return path, len(rows)


def _load_both(path, monkeypatch, **kw):
    """The file loaded in chunks of 97 rows, and whole (through read_file), with the warnings each gave."""
    chunked, whole = [], []
    read = load_module.TableChunks.frames

    def counted(self, *args, **kwargs):
        for frame in read(self, *args, **kwargs):
            chunked.append(len(frame))
            yield frame

    with monkeypatch.context() as patch:
        patch.setattr(load_module, "CHUNK_ROWS", 97)
        patch.setattr(load_module.TableChunks, "frames", counted)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = load(path, **kw)
    sizes = list(chunked)
    with monkeypatch.context() as patch:
        patch.setattr(load_module, "plain_chunks", lambda path: None)
        with warnings.catch_warnings(record=True) as caught_whole:
            warnings.simplefilter("always")
            ref = load(path, **kw)
    whole.extend(str(w.message) for w in caught_whole)
    return ds, ref, sizes, [str(w.message) for w in caught], whole


@pytest.mark.parametrize("identity", [False, True])
@pytest.mark.parametrize("how", ["same", "mean"])
def test_a_table_read_in_chunks_loads_as_the_table_read_whole(tmp_path, monkeypatch, identity, how):
    path, n = _table(tmp_path, identity)
    columns = ColumnMap(run=("task", "model", "algorithm", "seed")) if identity else None
    ds, ref, sizes, said, said_whole = _load_both(path, monkeypatch, columns=columns, align_how=how, warmup="none")
    assert sum(sizes) >= n and len(sizes) > 40  # read in chunks (and read again for the run hint)
    for name in ("table", "points", "issues"):
        pd.testing.assert_frame_equal(getattr(ds, name), getattr(ref, name))
    assert ds.invalid == ref.invalid and ds.notes == ref.notes and ds.perf_range == ref.perf_range
    assert said == said_whole
    # what the table holds: every rule fired, and rows are named by their file lines
    problems = " ".join(ds.invalid.values())
    for what in ("is not a number", "duplicate step", "entropy is infinite", "entropy is negative"):
        assert what in problems
    assert len(ds.invalid) == 4 and len(ds.runs) == 14
    assert "candidates: host)" in " ".join(said)  # lr holds fractions: a measurement, not a label
    lines = path.read_text().split("\n")
    bad = ds.issues.loc[ds.issues["problem"] == "is not a number", "row"].item()
    assert lines[bad - 1].endswith(",x")  # the row label is the file line


def test_run_ids_that_collide_across_chunks_are_refused_as_when_read_whole(tmp_path, monkeypatch):
    rows = [f"a/b,c,{s},0.5,0.5" for s in range(300)] + [f"a,b/c,{s},0.5,0.5" for s in range(300)]
    path = tmp_path / "t.csv"
    path.write_text("x,y,step,entropy,perf\n" + "\n".join(rows) + "\n")
    errors = []
    for chunked in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(load_module, "CHUNK_ROWS", 50)
            if not chunked:
                patch.setattr(load_module, "plain_chunks", lambda path: None)
            with pytest.raises(DataError) as err:
                load(path, ColumnMap(run=("x", "y")))
        errors.append(str(err.value))
    assert errors[0] == errors[1]
    assert "(x='a/b', y='c') and (x='a', y='b/c') both make run 'a/b/c'" in errors[0]


def test_bytes_that_are_not_utf8_in_a_later_chunk_are_a_one_line_error(tmp_path, monkeypatch):
    rows = [f"a,{s},0.5,0.5" for s in range(500)]
    path = tmp_path / "t.csv"
    path.write_bytes(("run,step,entropy,perf\n" + "\n".join(rows) + "\n").encode() + b"b,1,0.5,\xff\xfe\n")
    monkeypatch.setattr(load_module, "CHUNK_ROWS", 50)
    assert load_module.plain_chunks(path) is not None
    with pytest.raises(DataError, match=r"t\.csv: cannot be read as csv") as err:
        load(path)
    assert "\n" not in str(err.value)


def test_files_the_chunks_cannot_read_go_to_the_careful_path(tmp_path):
    """Quotes, a ragged line, a cut last line, semicolons, a header alone: read whole, lines named."""
    head = "run,step,entropy,perf\n"
    cases = {
        "quoted.csv": head + '"a",0,0.5,0.5\n',
        "ragged.csv": head + "a,0,0.5,0.5\na,1,0.5\n",
        "cut.csv": head + "a,0,0.5,0.5\na,1,0.5,0.",
        "semi.csv": "run;step;entropy;perf\na;0;0,5;0,5\n",
        "header.csv": head,
        "data.tsv": "run\tstep\tentropy\tperf\na\t0\t0.5\t0.5\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert (load_module.plain_chunks(tmp_path / name) is None) == (name != "data.tsv"), name


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=["a", "1", ",", "\n", " ", "\r", "\t"], max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_the_scan_fed_in_blocks_finds_what_it_finds_in_one_piece(text, cuts):
    data = text.encode()
    whole = load_module._plain_lines(data, ",")
    scan = load_module._LineScan(",")
    at = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        scan.feed(data[at:cut])
        at = cut
    scan.feed(data[at:])
    if whole is None:
        assert not scan.finish()
    else:
        assert scan.finish()
        np.testing.assert_array_equal(scan.row_lines(0, scan.nonblank - 1), whole)
        lines = data.split(b"\n")
        assert all(lines[i - 1].strip() for i in whole)  # each row is a line that is not blank
        assert whole.size == sum(1 for line in lines if line.strip()) - 1  # ... and every such line but the header


@settings(max_examples=100, deadline=None)
@given(
    runs=st.lists(st.tuples(st.sampled_from(["b", "a", "c", "ab", "é", "B"]), st.lists(st.integers(0, 5), max_size=8)), max_size=6),
    keep=st.lists(st.booleans(), min_size=48, max_size=48),
)
def test_rows_sorted_by_run_and_step_are_in_the_order_of_a_stable_sort(runs, keep):
    """Contiguous runs with steps in order take the per-run path, others the whole sort; both give
    the order of ``sort_values(["run", "step"], kind="stable")``, and the duplicate steps of ``duplicated``."""
    table = pd.DataFrame(
        {"run": [name for name, steps in runs for _ in steps], "step": [float(s) for _, steps in runs for s in sorted(steps)]}
    ).astype({"run": "str"})
    table["perf"] = np.arange(len(table), dtype=float)
    expected = np.asarray(table.sort_values(["run", "step"], kind="stable").index)
    np.testing.assert_array_equal(load_module._sorted_rows(table), expected)
    among = np.array(keep[: len(table)], dtype=bool)
    np.testing.assert_array_equal(load_module._sorted_rows(table, among), expected[among[expected]])
    dup = load_module._duplicate_steps(table)
    reference = table.duplicated(["run", "step"], keep=False)
    assert (dup is None and not reference.any()) or dup.equals(reference)


def test_a_line_of_tabs_in_a_tsv_is_a_row_and_the_rows_after_it_keep_their_lines(tmp_path, monkeypatch):
    path = tmp_path / "t.tsv"
    path.write_text("run\tstep\tentropy\tperf\na\t0\t0.5\t0.5\n\t\t\t\n\na\t1\t0.4\t0.6\n")
    monkeypatch.setattr(load_module, "CHUNK_ROWS", 1)
    frames = list(load_module.plain_chunks(path).frames())
    assert [list(f.index) for f in frames] == [[2], [3], [5]]
    assert frames[1].iloc[0].tolist() == ["", "", "", ""]


@pytest.mark.parametrize("suffix", [".gz", ".zip"])
def test_a_compressed_table_is_read_in_chunks_as_the_plain_file_read_whole(tmp_path, monkeypatch, suffix):
    plain, _ = _table(tmp_path, identity=False)
    packed = tmp_path / f"runs.csv{suffix}"
    if suffix == ".gz":
        packed.write_bytes(gzip.compress(plain.read_bytes()))
    else:
        with zipfile.ZipFile(packed, "w") as archive:
            archive.write(plain, "runs.csv")
    assert load_module.plain_chunks(packed) is not None
    ds, ref, sizes, said, _ = _load_both(packed, monkeypatch, warmup="none")
    assert len(sizes) > 40
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flat = load(plain, warmup="none")
    for name in ("table", "points", "issues"):  # the rows of the plain file, named by the same file lines
        pd.testing.assert_frame_equal(getattr(ds, name), getattr(flat, name))
    assert ds.invalid == flat.invalid
    assert [m.replace(packed.name, "F") for m in said] == [str(w.message).replace(plain.name, "F") for w in caught]
    # read whole, a compressed file's rows were labelled by position (header + 1), wrong after a blank line
    pd.testing.assert_frame_equal(ds.points, ref.points)
    pd.testing.assert_frame_equal(ds.table.drop(columns="row"), ref.table.drop(columns="row"))
    assert (ds.table["row"] >= ref.table["row"]).all() and (ds.table["row"] > ref.table["row"]).any()


def test_a_compressed_bomb_stops_at_the_limit_on_the_chunked_path_too(tmp_path, monkeypatch):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"run,step,entropy,perf\n" + b"r,1,0.5,0.5\n" * 500_000, compresslevel=1))
    monkeypatch.setattr(load_module, "MIN_DECOMPRESSED_LIMIT", 1_000_000)
    with pytest.raises(DataError, match=r"bomb\.csv\.gz: decompresses to more than \d+ MB"):
        load(path)
