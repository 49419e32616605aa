"""Bounded resources on input: compressed files are read through a decompressor with a cap."""

import bz2
import gzip
import lzma
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.core import law
from scaling.data import load as loading
from scaling.data.load import decompressed_limit, load, read_file
from scaling.data.sources import load as sc_load
from scaling.exceptions import DataError

HEADER = b"run,step,entropy,perf\n"
ROW = b"r,1,0.5,0.5\n"


def _bomb(path, megabytes: int = 50):
    """``megabytes`` MB of one repeated row, gzipped (about 1000 times smaller)."""
    chunk = ROW * (1_000_000 // len(ROW))
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(HEADER)
        for _ in range(megabytes):
            f.write(chunk)
    return path


def _table() -> bytes:
    steps = np.arange(30)
    S = 0.05 + 0.6 * np.exp(-steps / 10)
    y = 0.95 - 0.6 * law.g(S, 1.0) + 0.003 * np.sin(steps)
    return HEADER + b"".join(f"a,{s},{e:.6f},{v:.6f}\n".encode() for s, e, v in zip(steps, S, y))


def test_the_limit_is_the_ratio_times_the_compressed_size_between_a_floor_and_a_cap():
    assert decompressed_limit(10) == loading.MIN_DECOMPRESSED_LIMIT
    assert decompressed_limit(1_000_000) == loading.MAX_COMPRESSION_RATIO * 1_000_000
    assert decompressed_limit(10**12) == loading.MAX_DECOMPRESSED_BYTES


def test_a_gzip_bomb_stops_at_the_limit_with_bounded_memory_and_a_one_line_error(tmp_path, monkeypatch):
    path = _bomb(tmp_path / "bomb.csv.gz")
    assert path.stat().st_size < 1_000_000  # 50 MB of rows in well under 1 MB
    monkeypatch.setattr(loading, "MIN_DECOMPRESSED_LIMIT", 1_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as err:
            read_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(err.value)
    assert "\n" not in msg and "bomb.csv.gz" in msg and "decompresses to more than" in msg
    assert peak < 20_000_000  # the 50 MB (and the frame pandas would build of it) never exists


def test_the_resident_memory_of_reading_a_bomb_stays_bounded(tmp_path):
    path = _bomb(tmp_path / "bomb.csv.gz")
    script = (
        "import resource, sys\n"
        "from scaling.data import load as L\n"
        "L.MIN_DECOMPRESSED_LIMIT = 1_000_000\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    L.read_file(sys.argv[1])\n"
        "except L.DataError:\n"
        "    pass\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) < 40_000_000  # bytes above the imports; reading it all takes over 200 MB


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zip"])
def test_compressed_tables_within_the_limit_load_as_the_plain_file(tmp_path, suffix):
    data = _table()
    plain = tmp_path / "runs.csv"
    plain.write_bytes(data)
    path = tmp_path / f"runs.csv{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("runs.csv", data)
    else:
        path.write_bytes({".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix](data))
    assert read_file(path).equals(read_file(plain))
    assert load(path, warmup="none").points["perf"].tolist() == load(plain, warmup="none").points["perf"].tolist()


def test_a_zip_of_two_files_and_a_corrupt_gzip_are_one_line_errors(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", _table())
        z.writestr("b.csv", _table())
    with pytest.raises(DataError, match="exactly one table, it holds 2 files"):
        read_file(path)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="bad.csv.gz: cannot be read"):
        read_file(bad)


@pytest.mark.parametrize("name", ["runs.csv.zst", "train.jsonl.ZST", "runs.tsv.zstd"])
def test_a_zstd_file_is_refused_with_one_line_saying_to_decompress_it_first(tmp_path, name):
    """zstandard is not a dependency: a .zst input is refused by name, as a table or a log, in Python and on the command line."""
    path = tmp_path / name
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(64)))  # the zstd magic number, then anything
    expected = rf"{name}: zstd-compressed input is not read; decompress it first \(zstd -d {name}\)"
    for call in (lambda: read_file(path), lambda: sc_load(path), lambda: sc_load(path, format="tidy"), lambda: sc_load(path, format="jsonl")):
        with pytest.raises(DataError, match=expected) as err:
            call()
        assert "\n" not in str(err.value)
    res = CliRunner().invoke(app, ["fit", str(path), "--out", str(tmp_path / "fits.csv")])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert f"decompress it first (zstd -d {name})" in " ".join(res.output.split())
