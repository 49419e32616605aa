"""Load, validate and align training logs into the canonical tidy table.

The canonical table has one row per logged point:
``run, model, params, algorithm, seed, step, entropy, perf``.
Entropy is usually logged every step and validation every k steps; the fit needs
one ``(entropy, perf)`` pair per validation point, which :func:`align` makes.

Bad rows never stop the other runs: a run whose rows fail validation is set aside
with an entry in :attr:`Dataset.issues` naming the run, column, file line and value.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import math
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from scaling.data.readers.models import parse_params
from scaling.data.readers.textio import MAX_STEP, cut_field, refuse_unread_compression, warn_cut_line
from scaling.data.runtable import contiguous_runs, sorted_within
from scaling.data.warmup import WarmUp, apply_warmup, describe, parse_warmup
from scaling.exceptions import DataError, DataWarning

CANONICAL = ["run", "model", "params", "algorithm", "seed", "step", "entropy", "perf"]
#: optional columns carried along when present (``task`` separates model families in stage 2).
OPTIONAL = ["task"]
#: the columns that identify a run when a table has no ``run`` column and none is named, in this order.
IDENTITY = ("task", "model", "algorithm", "seed")
PerfScale = Literal["auto", "fraction", "percent", "none"]
#: entropy or |perf| at least this large is rejected: squares and exponentials overflow double precision.
HUGE = 1e100
Align = Literal["same", "mean"]
#: Compressed input is read through a counting decompressor that stops at this many bytes
#: (2 GB), whatever the compressed size (:func:`decompressed_limit`).
MAX_DECOMPRESSED_BYTES = 2_000_000_000
#: ... and at this many times the compressed size, for files whose decompressed size exceeds
#: :data:`MIN_DECOMPRESSED_LIMIT` (real CSV compresses 3-20 times, a "zip bomb" 1000 times).
MAX_COMPRESSION_RATIO = 100
#: Decompressed sizes up to this are always allowed (64 MB), however well the file compressed.
MIN_DECOMPRESSED_LIMIT = 64_000_000
#: The compressed suffixes :func:`read_file` reads, and their decompressors.
COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".zip": None}
#: A sound CSV/TSV file (:func:`plain_chunks`) is read and checked this many rows at a time.
CHUNK_ROWS = 500_000
#: ... after a scan of its lines in blocks of this many bytes.
SCAN_BYTES = 1 << 24
_BOM = b"\xef\xbb\xbf"
#: How pandas reads a table: every cell as text, nothing converted.
_AS_TEXT = dict(dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8")
#: ``"auto"`` (detect a leading warm-up per run), ``"none"`` (keep every point) or a first step to keep.
Warmup = Literal["auto", "none"] | int | float | str


@dataclass(frozen=True)
class ColumnMap:
    """Which input columns hold the canonical fields.

    ``None`` means "the canonical name, if the file has it"; a name given
    explicitly must exist.  ``run`` may name several columns, joined with ``/``
    (e.g. ``("task", "model", "algorithm", "seed")``).  ``task`` is optional and
    separates model families (e.g. two benchmarks) in cross-size analyses.
    """

    run: tuple[str, ...] | None = None
    model: str | None = None
    params: str | None = None
    algorithm: str | None = None
    seed: str | None = None
    task: str | None = None
    step: str | None = None
    entropy: str | None = None
    perf: str | None = None

    @classmethod
    def parse(cls, **kw: str | None) -> ColumnMap:
        """Build from command-line strings; ``run`` may be comma-separated."""
        run = kw.pop("run", None)
        runs = tuple(s.strip() for s in run.split(",") if s.strip()) if run else None
        return cls(run=runs, **{k: v for k, v in kw.items() if v})


@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated, aligned data set.

    Attributes
    ----------
    table : DataFrame
        Canonical long table of the valid runs (every logged row, perf as a fraction
        when the metric was percent).
    points : DataFrame
        One row per validation point with its aligned entropy: what is fitted (each run's
        warm-up, see ``warmup``, left out).
    issues : DataFrame
        Columns ``run, column, row, value, problem``: every rejected cell or row.
        ``row`` is the line of the file (header = line 1) or the frame's index label.
    invalid : dict
        Run -> one-line reason, for runs set aside.
    perf_range : (float, float) or None
        The metric's range used to check ceilings (None: unbounded).
    notes : tuple of str
        Decisions taken while loading (unit conversion, alignment, dropped points).
    source : str
        Where the data came from.
    warmup : dict
        Run -> :class:`~scaling.data.warmup.WarmUp`: how many leading validation points were
        left out of :attr:`points`, at which steps, and why (empty when loaded without it).
    """

    table: pd.DataFrame
    points: pd.DataFrame
    issues: pd.DataFrame
    invalid: dict = field(default_factory=dict)
    perf_range: tuple[float, float] | None = (0.0, 1.0)
    notes: tuple[str, ...] = ()
    source: str = ""
    warmup: dict = field(default_factory=dict)

    @property
    def runs(self) -> list[str]:
        """All run ids, valid and invalid, in file order."""
        return list(dict.fromkeys([*self.table["run"].unique(), *self.invalid]))

    def n_warmup(self, run: str) -> int:
        """Leading validation points of ``run`` left out as warm-up (0 when none)."""
        w = self.warmup.get(run)
        return w.n if isinstance(w, WarmUp) else 0


# ---------------------------------------------------------------------------------
def read_file(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV or Parquet file as text columns (nothing is converted yet).

    A CSV line whose field count differs from the header's is skipped, and so is a last
    line that looks cut (no final newline, and fewer fields or a last value shorter than
    the one above it), each with a :class:`DataWarning` naming the file and line.  A
    semicolon-separated CSV is read as such, decimal commas (``0,7``) as decimal points.

    Raises
    ------
    DataError
        If the file is missing, empty, or not a supported format.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    refuse_unread_compression(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            frame = frame.astype(object).where(frame.notna(), None)
            frame.index = frame.index + 1
            return frame
        if suffix in (".csv", ".tsv", ".txt"):
            return _read_delimited(path, "\t" if suffix == ".tsv" else None)
        if suffix in COMPRESSED:
            sep = "\t" if ".tsv" in path.name.lower() else ","
            with open_limited(path) as source:
                frame = pd.read_csv(source, sep=sep, encoding="utf-8", dtype=str, keep_default_na=False, skipinitialspace=True)
            frame.index = frame.index + 2  # file line of each row: the header is line 1
            return frame
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except DataError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError, csv.Error, zipfile.BadZipFile, lzma.LZMAError) as err:
        raise DataError(f"{path}: cannot be read as {suffix[1:]}: {err}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; give a .csv, .tsv or .parquet file (.gz, .bz2, .xz or .zip compressed), or a log (see `scaling ingest`)")


def decompressed_limit(compressed_size: int) -> int:
    """The most bytes a compressed file of ``compressed_size`` bytes may decompress to.

    :data:`MAX_COMPRESSION_RATIO` times the compressed size, but never less than
    :data:`MIN_DECOMPRESSED_LIMIT` nor more than :data:`MAX_DECOMPRESSED_BYTES`.
    """
    return int(min(MAX_DECOMPRESSED_BYTES, max(MIN_DECOMPRESSED_LIMIT, MAX_COMPRESSION_RATIO * compressed_size)))


class _CappedReader(io.RawIOBase):
    """A binary stream that raises :class:`DataError` once more than ``limit`` bytes came out of ``inner``."""

    def __init__(self, inner: io.IOBase, limit: int, path: Path) -> None:
        super().__init__()
        self._inner, self._limit, self._path, self._count = inner, limit, path, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._inner.readinto(buffer)
        self._count += n or 0
        if self._count > self._limit:
            raise DataError(
                f"{self._path}: decompresses to more than {self._limit / 1e6:.0f} MB "
                f"(over {MAX_COMPRESSION_RATIO}x its size, or past the cap of {MAX_DECOMPRESSED_BYTES / 1e9:.1f} GB): "
                "not read; decompress it yourself if it is genuine"
            )
        return n



@contextmanager
def open_limited(path: Path) -> Iterator[io.BufferedReader | Path]:
    """``path`` itself, or for a compressed file (:data:`COMPRESSED`) a binary stream of its content that
    raises :class:`DataError` past :func:`decompressed_limit` bytes (closed on leaving the block).

    Raises
    ------
    DataError
        A ``.zip`` archive that does not hold exactly one file.
    """
    suffix = path.suffix.lower()
    if suffix not in COMPRESSED:
        yield path
        return
    with ExitStack() as stack:
        if suffix == ".zip":
            archive = stack.enter_context(zipfile.ZipFile(path))
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise DataError(f"{path}: a .zip archive must hold exactly one table, it holds {len(names)} files")
            inner = stack.enter_context(archive.open(names[0]))
        else:
            inner = stack.enter_context(COMPRESSED[suffix](path, "rb"))
        yield io.BufferedReader(_CappedReader(inner, decompressed_limit(path.stat().st_size), path))


_DECIMAL_COMMA = re.compile(r"[-+]?(?:\d+,\d*|,\d+)(?:[eE][-+]?\d+)?")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf|infinity)|na|null|none|", re.IGNORECASE)


def _sniff_separator(header: str) -> str:
    """``;`` for a locale-style CSV (a header with semicolons and no commas), else ``,``."""
    return ";" if ";" in header and "," not in header else ","


Record = tuple[int, int, int]  # first line, last line, field count


def _records(lines: list[str], sep: str) -> list[Record]:
    """The CSV records of a file's ``lines``, blank lines left out.

    Without quotes a record is a line and its fields are counted by separators (fast);
    with quotes the :mod:`csv` module tells records (a quoted field may hold a newline).
    """
    if not any('"' in line for line in lines):
        return [(number, number, line.count(sep) + 1) for number, line in enumerate(lines, start=1) if line.strip()]
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=sep, skipinitialspace=True)
    records, end = [], 0
    for fields in reader:
        start, end = end + 1, reader.line_num
        if fields and any(field.strip() for field in fields):
            records.append((start, end, len(fields)))
    return records


def _fields(lines: list[str], record: Record, sep: str) -> list[str]:
    """The fields of one record."""
    text = "\n".join(lines[record[0] - 1 : record[1]])
    return next(csv.reader([text] if record[0] == record[1] else io.StringIO(text), delimiter=sep, skipinitialspace=True), [])


def _cut_last(lines: list[str], records: list[Record], sep: str) -> str:
    """Why the last record looks cut (``""`` if it does not): no final newline and a short last field."""
    if lines[-1] == "" or len(records) < 2:
        return ""
    above = _fields(lines, records[-2], sep) if len(records) > 2 else []
    return cut_field(_fields(lines, records[-1], sep), above, records[0][2])


def _usable_records(path: Path, lines: list[str], sep: str) -> tuple[list[Record], bool]:
    """The header and the records with the header's field count, and whether a record was dropped.

    Each kind of dropped record (a cut last line, a wrong field count) gives a DataWarning.
    """
    records = _records(lines, sep)
    if not records:  # e.g. a lone quote: nothing but an unterminated or empty field
        raise DataError(f"{path}: no CSV record (not even a header line) could be read")
    width = records[0][2]
    cut = _cut_last(lines, records, sep)
    if cut:
        warn_cut_line(path, records[-1][0], cut, stacklevel=4)
        records = records[:-1]
    ragged = [start for start, _, count in records[1:] if count != width]
    if ragged:
        shown = ", ".join(map(str, ragged[:10])) + (f" and {len(ragged) - 10} more" if len(ragged) > 10 else "")
        warnings.warn(
            f"{path}: skipped line(s) {shown} with a field count other than the header's {width}",
            DataWarning,
            stacklevel=4,
        )
    return [records[0], *(r for r in records[1:] if r[2] == width)], bool(cut or ragged)


def _decimal_commas(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Turn decimal commas into points in the columns whose every cell is a number."""
    converted = []
    for column in frame.columns:
        cells = frame[column].astype(str).str.strip()
        comma = cells.str.fullmatch(_DECIMAL_COMMA.pattern)
        if comma.any() and (comma | cells.str.fullmatch(_PLAIN_NUMBER.pattern, case=False)).all():
            frame[column] = cells.where(~comma, cells.str.replace(",", ".", regex=False))
            converted.append(str(column))
    if converted:
        warnings.warn(
            f"{path}: read as a semicolon-separated CSV with decimal commas (columns {', '.join(converted)})",
            DataWarning,
            stacklevel=4,
        )
    return frame


#: ASCII whitespace (what ``bytes.strip`` removes): a line of nothing else is blank.
_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True


class _LineScan:
    """The byte scan of :func:`_plain_lines`, fed block by block so that a file need not be in memory at once.

    It counts the separators of each line with numpy (no list of lines) and keeps the field count
    of the header (the first line that is not blank), the line numbers of blank lines, and whether
    every other line has the header's field count.
    """

    def __init__(self, sep: str) -> None:
        self.sep = ord(sep)
        self.lines = 0  # complete lines seen
        self.header = 0  # file line of the header (0: none yet)
        self.width = -1  # separators in the header
        self.nonblank = 0
        self.blank: list[np.ndarray] = []  # file lines of blank lines
        self.tail = b""  # the start of a line not yet ended
        self.sound = True

    def feed(self, block: bytes) -> None:
        """Scan the next bytes of the file."""
        end = block.rfind(b"\n")
        if end < 0:
            self.tail += block
            return
        start = 0
        if self.tail:
            start = block.find(b"\n") + 1
            self._lines(memoryview(self.tail + block[:start]))
        self._lines(memoryview(block)[start : end + 1])
        self.tail = block[end + 1 :]

    def _lines(self, data: memoryview) -> None:
        """Scan whole lines (``data`` ends with a newline)."""
        buf = np.frombuffer(data, dtype=np.uint8)
        if not self.sound or buf.size == 0:
            return
        ends = np.flatnonzero(buf == 10)
        starts = np.concatenate([[0], ends[:-1] + 1])
        seps = np.flatnonzero(buf == self.sep)
        counts = np.searchsorted(seps, ends) - np.searchsorted(seps, starts)
        del seps
        blank = ends == starts
        short = np.flatnonzero((ends - starts > 0) & (ends - starts <= 8))  # only short lines can be blank
        if short.size:
            at = starts[short, None] + np.arange(8)
            inside = at < ends[short, None]
            blank[short] = (~inside | _SPACE[buf[np.minimum(at, buf.size - 1)]]).all(axis=1)
        blank &= counts == 0  # a line of tabs is a row of empty fields in a TSV (pandas reads it)
        rows = np.flatnonzero(~blank)
        if self.width < 0 and rows.size:
            self.header, self.width = self.lines + int(rows[0]) + 1, int(counts[rows[0]])
        if (counts[rows] != self.width).any():
            self.sound = False
        self.nonblank += rows.size
        if rows.size < ends.size:
            self.blank.append(self.lines + np.flatnonzero(blank) + 1)
        self.lines += ends.size

    def finish(self) -> bool:
        """Whether every line was sound (the last line may be cut when the file does not end with a newline)."""
        if self.tail:
            last = self.tail + b"\n"
            self.tail = b""
            self._lines(memoryview(last))
            if self.nonblank > 1:
                return False  # the last line may be cut: checked by _usable_records
        return self.sound and self.nonblank > 0

    def row_lines(self, first: int, stop: int) -> np.ndarray:
        """File lines (1-based) of the data rows ``first`` to ``stop - 1`` (0-based, blank lines skipped)."""
        k = np.arange(first, stop, dtype=np.int64)
        self.blank = [np.concatenate(self.blank)] if len(self.blank) > 1 else self.blank
        blank = self.blank[0] if self.blank else np.zeros(0, dtype=np.int64)
        after = blank[blank > self.header] - self.header - 1  # 0-based places after the header
        return k + self.header + 1 + np.searchsorted(after - np.arange(after.size), k, side="right")


def _plain_lines(data: bytes, sep: str) -> np.ndarray | None:
    """File lines (1-based) of the data rows of a CSV without quotes, when every line is sound.

    A vectorised scan of the bytes (:class:`_LineScan`; no list of lines): the separators of
    each line are counted at once.  Returns None when a line needs the careful path of
    :func:`_usable_records` (a field count other than the header's, a last line that may be
    cut) or the file has no header line.
    """
    scan = _LineScan(sep)
    scan.feed(data)
    if not scan.finish():
        return None
    return scan.row_lines(0, scan.nonblank - 1)


def _read_delimited(path: Path, sep: str | None) -> pd.DataFrame:
    """Read a CSV/TSV file as text columns indexed by file line, skipping unusable lines."""
    try:
        data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
        header = data[: data.find(b"\n")] if b"\n" in data else data
        sep = sep or _sniff_separator(header.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: cannot be read as {path.suffix.lower()[1:]}: {err}") from None
    if not data.strip():
        raise DataError(f"{path}: the file is empty")
    if b'"' not in data:
        rows = _plain_lines(data, sep)
        if rows is not None:  # every line sound: pandas reads the bytes directly
            frame = pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8")
            frame.index = pd.Index(rows, dtype="int64") if len(frame) == rows.size else frame.index + 2
            return _decimal_commas(path, frame) if sep == ";" else frame
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: cannot be read as {path.suffix.lower()[1:]}: {err}") from None
    del data
    lines = text.split("\n")
    records, dropped = _usable_records(path, lines, sep)
    kept = "\n".join("\n".join(lines[start - 1 : end]) for start, end, _ in records) + "\n" if dropped else text
    frame = pd.read_csv(io.StringIO(kept), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True)
    if len(frame) == len(records) - 1:
        frame.index = pd.Index([start for start, _, _ in records[1:]], dtype="int64")  # file line of each row
    else:
        frame.index = frame.index + 2
    return _decimal_commas(path, frame) if sep == ";" else frame


@contextmanager
def _table_bytes(path: Path) -> Iterator[io.BufferedReader]:
    """The bytes of a table file (decompressed through :func:`open_limited`), after any UTF-8 byte order mark."""
    with open_limited(path) as source, ExitStack() as stack:
        handle = stack.enter_context(open(source, "rb")) if isinstance(source, Path) else source
        if handle.peek(len(_BOM))[: len(_BOM)] == _BOM:
            handle.read(len(_BOM))
        yield handle


#: What a damaged compressed file raises while it is read.
_DECOMPRESSION_ERRORS = (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError)


def _unreadable(path: Path, err: Exception) -> DataError:
    """The one-line error for a file that cannot be parsed in its format."""
    return DataError(f"{path}: cannot be read as {path.suffix.lower()[1:]}: {err}")


@dataclass(frozen=True)
class TableChunks:
    """A sound CSV/TSV file, read in chunks of rows (:func:`plain_chunks`).

    Attributes
    ----------
    path : Path
        The file.
    sep : str
        Its separator.
    columns : list of str
        Its column names, as :func:`read_file` names them.
    rows : int
        Its data rows.
    scan : _LineScan
        The scan of its lines (the file line of each row).
    """

    path: Path
    sep: str
    columns: list[str]
    rows: int
    scan: _LineScan

    def frames(self, usecols: Sequence[str] | None = None, chunk_rows: int | None = None) -> Iterator[pd.DataFrame]:
        """The rows of the columns ``usecols`` (all by default) as text, indexed by file line, ``chunk_rows``
        (:data:`CHUNK_ROWS` by default) at a time; the pieces make the frame :func:`read_file` reads.

        Raises
        ------
        DataError
            When pandas cannot parse the file (e.g. a byte sequence that is not UTF-8).
        """
        places = None if usecols is None else sorted({self.columns.index(c) for c in usecols})
        done = 0
        with _table_bytes(self.path) as handle:
            try:
                for frame in pd.read_csv(handle, sep=self.sep, usecols=places, chunksize=chunk_rows or CHUNK_ROWS, **_AS_TEXT):
                    frame.index = pd.Index(self.scan.row_lines(done, done + len(frame)))
                    done += len(frame)
                    yield frame
            except (pd.errors.ParserError, UnicodeDecodeError, ValueError, csv.Error, *_DECOMPRESSION_ERRORS) as err:
                raise _unreadable(self.path, err) from None
        if done != self.rows:
            raise DataError(f"{self.path}: pandas read {done} rows where the file has {self.rows} lines of data; check its blank lines")


def plain_chunks(path: Path) -> TableChunks | None:
    """A CSV/TSV file to read in chunks (:class:`TableChunks`), or None when :func:`read_file` must read it whole.

    The file is scanned in blocks of :data:`SCAN_BYTES` (never in memory at once; a compressed file
    is decompressed through :func:`open_limited`, once for the scan and once for the reading).  It is
    read in chunks when it is comma- or tab-separated, holds no quote, and every line is sound (the
    header's field count, a final newline), so that each chunk's rows are the file's lines; anything
    else (and a table without data rows) goes to :func:`read_file`, which names the lines it skips.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".txt", *COMPRESSED) or not path.is_file():
        return None
    try:
        with _table_bytes(path) as handle:
            block = handle.read(SCAN_BYTES)
            if suffix in COMPRESSED:  # named as read_file names it (no sniffing of semicolons)
                sep = "\t" if ".tsv" in path.name.lower() else ","
            else:
                sep = "\t" if suffix == ".tsv" else _sniff_separator(block.partition(b"\n")[0].decode("utf-8"))
            if sep == ";":  # decimal commas are decided per column over the whole file
                return None
            scan = _LineScan(sep)
            while block:
                if b'"' in block:
                    return None
                scan.feed(block)
                block = handle.read(SCAN_BYTES)
        if not scan.finish() or scan.nonblank < 2:
            return None
        with _table_bytes(path) as handle:
            columns = [str(c) for c in pd.read_csv(handle, sep=sep, nrows=0, **_AS_TEXT).columns]
    except DataError:  # decompresses past the limit
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, csv.Error, *_DECOMPRESSION_ERRORS):
        return None  # read_file says what is wrong
    return TableChunks(path, sep, columns, scan.nonblank - 1, scan)


def _resolve(names: Sequence[object], cmap: ColumnMap, source: str) -> dict[str, list[str] | str | None]:
    cols = list(names)

    def need(field_: str, given: str | None, required: bool) -> str | None:
        name = given or field_
        if name in cols:
            return name
        if given or required:
            flag = f"--{field_.replace('_', '-')} NAME"
            raise DataError(
                f"{source}: column {name!r} ({field_}) not found; columns are: {', '.join(map(str, cols))}. "
                f"Name yours with {flag}."
            )
        return None

    out: dict[str, list[str] | str | None] = {}
    if cmap.run:
        missing = [c for c in cmap.run if c not in cols]
        if missing:
            raise DataError(f"{source}: run column(s) {missing} not found; columns are: {', '.join(map(str, cols))}")
        out["run"] = list(cmap.run)
    else:
        out["run"] = ["run"] if "run" in cols else []
    for f in ("step", "entropy", "perf"):
        out[f] = need(f, getattr(cmap, f), True)
    for f in ("model", "params", "algorithm", "seed", "task"):
        out[f] = need(f, getattr(cmap, f), False)
    return out


def _text(series: pd.Series) -> pd.Series:
    """The cells as stripped text, ``""`` for missing ones."""
    if isinstance(series.dtype, pd.StringDtype):  # a file read as text: vectorised, no Python object per cell
        return series.fillna("").str.strip()
    return series.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())


def _numeric(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers of a text column, and a mask of cells that are present but not numbers."""
    text = _text(series)
    blank = text.str.lower().isin(["", "nan", "na", "null", "none"])
    num = pd.to_numeric(text.where(~blank), errors="coerce")
    return num.astype(float), (~blank) & num.isna()


def _params(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parameter counts of a text column as :func:`~scaling.data.readers.models.parse_params` reads them
    (``7e9``, ``"7B"``, ``"1.5b"``, ``"500M"``), and a mask of cells that are present but not counts."""
    num, bad = _numeric(series)
    if bad.any():
        words = {w: _count_or_nan(w) for w in _text(series[bad]).unique()}
        num[bad] = _text(series[bad]).map(words)
        bad = bad & num.isna()
    return num, bad


def _count_or_nan(word: str) -> float:
    try:
        return parse_params(word)
    except ValueError:
        return math.nan


def canonical(
    frame: pd.DataFrame,
    columns: ColumnMap | None = None,
    *,
    source: str = "table",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map a raw frame onto the canonical columns and validate every cell.

    Parameters
    ----------
    frame : DataFrame
        Raw rows; the index labels rows in messages (file line numbers from :func:`read_file`).
    columns : ColumnMap, optional
        Which columns hold which field.
    source : str
        Name used in messages.

    Returns
    -------
    table : DataFrame
        Canonical columns, ``task`` ("" when absent) and ``row`` (the original row label), all runs.
    issues : DataFrame
        ``run, column, row, value, problem`` for each rejected cell or row.

    Raises
    ------
    DataError
        A required column is missing or the table has no rows.
    """
    if len(frame) == 0:
        raise DataError(f"{source}: no data rows (only a header, or nothing)")
    return canonical_parts(frame.columns, lambda used: [frame], columns, source=source)


def canonical_parts(
    names: Sequence[object],
    parts: Callable[[list[str]], Iterable[pd.DataFrame]],
    columns: ColumnMap | None = None,
    *,
    source: str = "table",
    rows: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`canonical` of a table given in pieces of rows (e.g. the chunks of :meth:`TableChunks.frames`).

    Each piece is mapped and its cells checked on their own; the checks across rows (duplicate
    steps, run ids joined from several columns) run on the whole.  The result, issues and their
    order included, is that of :func:`canonical` on the pieces put together.

    Parameters
    ----------
    names : sequence
        The table's column names.
    parts : callable
        Given the columns used, returns the pieces (frames of those columns at least, indexed by row label).
    columns : ColumnMap, optional
        Which columns hold which field.
    source : str
        Name used in messages.
    rows : int, optional
        The table's row count, when known: the number columns are then filled in place.

    Returns
    -------
    table, issues : DataFrame
        As :func:`canonical`.
    """
    res = _resolve(names, columns or ColumnMap(), source)
    used = list(dict.fromkeys([*res["run"], *(c for f, c in res.items() if f != "run" and c)]))
    stack, tuples = _Stack(rows), []
    kinds: list[list[dict]] = []
    for frame in parts(used):
        out, found, ids = _cells(frame, res, source)
        stack.add(out)
        tuples.append(ids)
        if kinds:
            for kind, more in zip(kinds, found):
                kind.extend(more)
        else:
            kinds = found
        del frame, out
        pa.default_memory_pool().release_unused()  # the text of a piece, once checked, goes back to the system
    out = stack.whole()
    if len(res["run"]) > 1:
        refuse_shared_ids(pd.concat(tuples, ignore_index=True).drop_duplicates(), source)
    issues = [issue for kind in kinds for issue in kind]
    dup = _duplicate_steps(out)
    if dup is not None:
        for (run, step), grp in out[dup].groupby(["run", "step"], sort=False):
            listed = ", ".join(str(r) for r in grp["row"])
            issues.append(_issue(run, res["step"], grp["row"].iloc[0], step, f"duplicate step {step:g} (rows {listed})"))
    return out, pd.DataFrame(issues, columns=["run", "column", "row", "value", "problem"])


class _Stack:
    """The canonical rows of the pieces of a table, one below the other.

    With the table's row count known, the number columns go straight into arrays of the whole
    (each piece's own freed as the next is read, so the pieces and the whole are never both in
    memory); the text columns (arrow strings) are put together without a copy.
    """

    def __init__(self, rows: int | None) -> None:
        self.rows, self.at = rows, 0
        self.pieces: list[pd.DataFrame] = []
        self.numbers: dict[str, np.ndarray] = {}

    def add(self, out: pd.DataFrame) -> None:
        """Append the canonical rows of the next piece."""
        if self.rows is not None:
            for column in out.columns:
                if out[column].dtype.kind in "fi":
                    values = out.pop(column).to_numpy()
                    whole = self.numbers.setdefault(column, np.empty(self.rows, dtype=values.dtype))
                    whole[self.at : self.at + values.size] = values
            self.at += len(out)
        self.pieces.append(out)

    def whole(self) -> pd.DataFrame:
        """The rows of all pieces (the pieces are let go)."""
        pieces, self.pieces = self.pieces, []
        if len(pieces) == 1 and not self.numbers:
            return pieces[0].reset_index(drop=True)
        whole = {column: pd.concat([piece.pop(column) for piece in pieces], ignore_index=True) for column in list(pieces[0].columns)}
        whole.update(self.numbers)
        self.numbers = {}
        return pd.DataFrame(whole, copy=False)[[*CANONICAL, *OPTIONAL, "row"]]  # no copy into one block of floats


def _duplicate_steps(out: pd.DataFrame) -> pd.Series | None:
    """Rows whose (run, step) another row has too (None when there is none).

    When each run's rows are together with steps increasing (what loggers write), there is none:
    told by comparing neighbouring rows, without hashing every (run, step) pair.
    """
    starts = contiguous_runs(out["run"])
    if starts is not None and sorted_within(out["step"].to_numpy(dtype=float), starts, strict=True):
        return None
    dup = out.duplicated(["run", "step"], keep=False) & out["step"].notna()
    return dup if dup.any() else None


def _cells(frame: pd.DataFrame, res: dict, source: str) -> tuple[pd.DataFrame, list[list[dict]], pd.DataFrame | None]:
    """The canonical rows of one piece of a table, its issues by kind (in the order messages give them),
    and the distinct run-column tuples with their run ids (None for a single run column)."""
    out = pd.DataFrame(index=frame.index)
    run_cols = res["run"]
    out["run"] = _text(frame[run_cols[0]]) if run_cols else Path(source).stem or "run"
    for c in run_cols[1:]:
        out["run"] = out["run"] + "/" + _text(frame[c])
    ids = run_tuples(frame[run_cols], out["run"]) if len(run_cols) > 1 else None
    kinds: list[list[dict]] = []
    for f in ("step", "entropy", "perf", "params"):
        col = res[f]
        found: list[dict] = []
        kinds.append(found)
        if col is None:
            out[f] = np.nan
            continue
        num, bad = _params(frame[col]) if f == "params" else _numeric(frame[col])
        out[f] = num
        problem = "is not a parameter count (such as 7e9, 7B or 500M)" if f == "params" else "is not a number"
        for idx in frame.index[bad.to_numpy()]:
            found.append(_issue(out.at[idx, "run"], col, idx, frame.at[idx, col], problem))
    out["model"] = _text(frame[res["model"]]) if res["model"] else out["run"]
    blank = pd.Series("", index=frame.index, dtype=str)  # one array for every absent text column
    out["algorithm"] = _text(frame[res["algorithm"]]) if res["algorithm"] else blank
    out["seed"] = _text(frame[res["seed"]]) if res["seed"] else blank
    out["task"] = _text(frame[res["task"]]) if res["task"] else blank
    out["row"] = frame.index
    flagged = [issue for found in kinds for issue in found]
    checks = [
        ("step", out["step"].isna() & ~_flagged(flagged, res["step"], out), "step is missing"),
        ("step", ~np.isfinite(out["step"].fillna(0)), "step is not finite"),
        ("step", np.isfinite(out["step"]) & ((out["step"] < 0) | (out["step"] >= MAX_STEP)), "step is out of range [0, 2**53)"),
        ("step", np.isfinite(out["step"]) & (out["step"] % 1 != 0), "step is not an integer"),
        ("entropy", np.isinf(out["entropy"]), "entropy is infinite"),
        ("entropy", out["entropy"] < 0, "entropy is negative (entropy in nats is >= 0)"),
        ("perf", np.isinf(out["perf"]), "perf is infinite"),
        ("entropy", np.isfinite(out["entropy"]) & (out["entropy"] >= HUGE), f"entropy is {HUGE:g} or more (not a per-token entropy)"),
        ("perf", np.isfinite(out["perf"]) & (out["perf"].abs() >= HUGE), f"perf is {HUGE:g} or more in size (overflows the fit)"),
        ("params", out["params"] <= 0, "parameter count must be > 0"),
        ("params", np.isinf(out["params"]), "parameter count is infinite"),
    ]
    for f, mask, problem in checks:
        col = res[f] or f
        kinds.append([_issue(out.at[idx, "run"], col, idx, out.at[idx, f], problem) for idx in out.index[mask.to_numpy()]])
    return out[[*CANONICAL, *OPTIONAL, "row"]], kinds, ids


def run_tuples(parts: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """The distinct tuples of run columns (as text) with the run id each joins to (column ``_id``)."""
    cols = [str(c) for c in parts.columns]
    tuples = pd.DataFrame({c: _text(parts.iloc[:, i]) for i, c in enumerate(cols)}).assign(_id=ids.to_numpy())
    return tuples.drop_duplicates()


def check_run_ids(parts: pd.DataFrame, ids: pd.Series, source: str, limit: int = 3) -> None:
    """Refuse run ids that two different tuples of run columns join to (``x/y`` + ``z`` and ``x`` + ``y/z``).

    Raises
    ------
    DataError
        One line naming the colliding tuples and the id they share.
    """
    refuse_shared_ids(run_tuples(parts, ids), source, limit)


def refuse_shared_ids(tuples: pd.DataFrame, source: str, limit: int = 3) -> None:
    """:func:`check_run_ids` on distinct tuples of run columns and their ids (:func:`run_tuples`, of all pieces).

    Raises
    ------
    DataError
        One line naming the colliding tuples and the id they share.
    """
    tuples = tuples.drop_duplicates()
    cols = [c for c in tuples.columns if c != "_id"]
    clash = tuples[tuples["_id"].duplicated(keep=False)]
    if clash.empty:
        return
    groups = []
    for run, grp in list(clash.groupby("_id", sort=False))[:limit]:
        shown = " and ".join("(" + ", ".join(f"{c}={v!r}" for c, v in zip(cols, row)) + ")" for row in grp[cols].itertuples(index=False))
        groups.append(f"{shown} both make run {run!r}")
    more = clash["_id"].nunique() - len(groups)
    raise DataError(
        f"{source}: run columns {', '.join(cols)} joined with '/' do not identify runs: {'; '.join(groups)}"
        + (f" (+{more} more)" if more > 0 else "")
        + ". Remove '/' from the values, or name other --run columns"
    )


def _flagged(issues: list[dict], col: str | None, out: pd.DataFrame) -> pd.Series:
    rows = {i["row"] for i in issues if i["column"] == col}
    return pd.Series(out.index.isin(list(rows)), index=out.index)


def _issue(run, column, row, value, problem) -> dict:
    text = str(value)
    if len(text) > 40:  # a 5,000-digit cell is named, not printed
        text = f"{text[:20]}...({len(text)} characters)"
    return dict(run=str(run), column=str(column), row=row, value=text, problem=problem)


def describe_issues(issues: pd.DataFrame, limit: int = 3) -> dict[str, str]:
    """One line per run summarising its issues (the first ``limit`` of them)."""
    out = {}
    for run, grp in issues.groupby("run", sort=False):
        parts = [
            f"{r.row if isinstance(r.row, str) else f'row {r.row}'}: {r.column} {r.value!r} {r.problem}" if "duplicate" not in r.problem else f"{r.problem}"
            for r in grp.itertuples()
        ]  # a row label that is text names its own place ("runs.csv line 3", tables read from several files)
        more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
        out[str(run)] = "; ".join(parts[:limit]) + more
    return out


def perf_units(perf: pd.Series, scale: PerfScale, column: str = "perf") -> tuple[float, tuple[float, float] | None, str | None]:
    """Decide the metric's unit: divisor for perf, its range, and a note (None if nothing to say).

    ``auto`` reads values in [0, 1] as a fraction; values reaching (1, 100] as percent,
    converted with a :class:`DataWarning`; anything else as an unbounded metric, also
    with a warning.  ``fraction``, ``percent`` and ``none`` say it explicitly; values outside
    the range they declare ([0, 1] or [0, 100]) raise :class:`DataError` naming ``column``.
    """
    if scale not in ("auto", "fraction", "percent", "none"):
        raise ValueError(f"perf_scale must be auto, fraction, percent or none, got {scale!r}")
    vals = perf.dropna()
    lo, hi = (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 0.0)
    if scale in ("fraction", "percent"):
        top = 1.0 if scale == "fraction" else 100.0
        if lo < 0 or hi > top:
            worst = hi if hi > top else lo
            raise DataError(
                f"--perf-scale {scale} says column {column!r} lies in [0, {top:g}], but its "
                f"{'largest' if hi > top else 'smallest'} value is {worst:g}; "
                f"pass --perf-scale {'percent' if scale == 'fraction' and hi <= 100 and lo >= 0 else 'none'}"
            )
    if scale == "fraction":
        return 1.0, (0.0, 1.0), None
    if scale == "percent":
        return 100.0, (0.0, 1.0), "perf read as percent (--perf-scale percent) and divided by 100"
    if scale == "none":
        return 1.0, None, None
    if lo >= 0 and hi <= 1:
        return 1.0, (0.0, 1.0), None
    if lo >= 0 and hi <= 100:
        note = (
            f"perf values reach {hi:g}, so they were read as percent and divided by 100; "
            "pass --perf-scale percent to say so, or --perf-scale none for an unbounded metric"
        )
        warnings.warn(note, DataWarning, stacklevel=3)
        return 100.0, (0.0, 1.0), note
    note = f"perf spans [{lo:g}, {hi:g}], outside [0, 100]: treated as unbounded, so ceilings are not range-checked"
    warnings.warn(note, DataWarning, stacklevel=3)
    return 1.0, None, note


def check_one_unit(table: pd.DataFrame, source: str, limit: int = 5) -> None:
    """Refuse a file whose runs mix units: some with every perf in [0, 1], others reaching (1, 100].

    Called when ``perf_scale="auto"`` read the file as percent: dividing a fraction run by 100 too
    would make its ceiling 100 times too small.  The decision stays one per file (a run cannot
    tell a low percent metric from a fraction), so mixed files are refused, not guessed per run.

    Raises
    ------
    DataError
        One line naming the runs in each unit and the ``--perf-scale`` to pass.
    """
    top = table.groupby("run", sort=False)["perf"].max()
    top = top[top.notna()]
    fraction, percent = top.index[top <= 1].tolist(), top.index[top > 1].tolist()
    if fraction and percent:
        raise DataError(
            f"{source}: perf mixes units: {len(percent)} run(s) reach values above 1 (percent?): {_some(percent, limit)}; "
            f"{len(fraction)} run(s) stay within [0, 1] (fraction?): {_some(fraction, limit)}. "
            "Convert them to one unit, or pass --perf-scale percent (all are percent) or --perf-scale none"
        )


def _some(names: list, limit: int) -> str:
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _blocks(run: np.ndarray, perf: np.ndarray) -> list[np.ndarray]:
    """Group keys of rows sorted by run, step: each validation closes the block of steps since the previous one in its run."""
    val = ~np.isnan(perf)
    return [run, np.cumsum(val) - val]


def _sorted_rows(table: pd.DataFrame, among: np.ndarray | None = None) -> np.ndarray:
    """Positions of ``table``'s rows (those where ``among`` is true, all by default) sorted by run,
    then step, in the order of ``table.sort_values(["run", "step"], kind="stable")``.

    When each run's rows are together and sorted by step (what loggers write), only the run
    names are sorted, one per run, and only the rows asked for are placed; otherwise the whole
    table is sorted.
    """
    step = table["step"].to_numpy(dtype=float)
    starts = contiguous_runs(table["run"]) if len(table) else None
    if starts is None or not sorted_within(step, starts):
        order = np.asarray(table[["run", "step"]].reset_index(drop=True).sort_values(["run", "step"], kind="stable").index, dtype=np.int64)
        return order if among is None else order[among[order]]
    rank = np.asarray(table["run"].take(starts).reset_index(drop=True).sort_values(kind="stable").index, dtype=np.int64)
    place = np.empty(rank.size, dtype=np.int64)
    place[rank] = np.arange(rank.size)  # each run's place in the sorted order of names
    rows = np.arange(len(table)) if among is None else np.flatnonzero(among)
    return rows[np.argsort(place[np.searchsorted(starts, rows, side="right") - 1], kind="stable")]


def align(table: pd.DataFrame, how: Align = "same") -> tuple[pd.DataFrame, int]:
    """One ``(entropy, perf)`` pair per validation point.

    Parameters
    ----------
    table : DataFrame
        Canonical long table (valid runs only).
    how : {"same", "mean"}
        ``"same"`` (default) pairs the validation at step s with the entropy logged at
        step s.  ``"mean"`` uses the mean entropy over the steps since the previous
        validation, ``(s_prev, s]``, which smooths per-step noise in entropy.

    Returns
    -------
    points : DataFrame
        Canonical columns, one row per validation point with a usable entropy.
    dropped : int
        Validation points without any entropy to pair with.
    """
    if how not in ("same", "mean"):
        raise ValueError(f"align must be 'same' or 'mean', got {how!r}")
    cols = [*CANONICAL, *(c for c in OPTIONAL if c in table.columns)]
    perf = table["perf"].to_numpy(dtype=float)
    if how == "same":
        rows = _sorted_rows(table, ~np.isnan(perf))
        ent = table["entropy"].to_numpy(dtype=float)[rows]
    else:
        order = _sorted_rows(table)
        val = ~np.isnan(perf[order])
        ent = pd.Series(table["entropy"].to_numpy(dtype=float)[order])
        ent = ent.groupby(_blocks(table["run"].to_numpy()[order], perf[order])).transform("mean").to_numpy()[val]
        rows = order[val]
    points = table[cols].take(rows).reset_index(drop=True)
    points["entropy"] = ent
    missing = points["entropy"].isna()
    return points.loc[~missing].reset_index(drop=True), int(missing.sum())


def load(
    source: str | Path | pd.DataFrame,
    columns: ColumnMap | None = None,
    *,
    perf_scale: PerfScale = "auto",
    align_how: Align = "same",
    warmup: Warmup = "auto",
    name: str | None = None,
) -> Dataset:
    """Load a tidy CSV/Parquet file (or a frame) into a validated, aligned :class:`Dataset`.

    Parameters
    ----------
    source : path or DataFrame
        The data.
    columns : ColumnMap, optional
        Column names when they differ from the canonical ones.
    perf_scale : {"auto", "fraction", "percent", "none"}
        The metric's unit (see :func:`perf_units`); never guessed silently.
    align_how : {"same", "mean"}
        Entropy paired with each validation point (see :func:`align`).
    warmup : {"auto", "none"} or int
        Leading warm-up points left out of :attr:`Dataset.points`: ``"auto"`` (default) detects,
        per run, a first phase where performance sits at its floor below the curve of the later
        points (:func:`scaling.data.warmup.detect_warmup`); ``"none"`` keeps every point; a step
        STEP leaves out the points with ``step < STEP``.  Each run left shorter gets a note, and
        :attr:`Dataset.warmup` records the points and steps left out.
    name : str, optional
        What messages call a frame (default ``"table"``; a file is named by its path).

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        When the file cannot be used at all (missing file or column, no rows, no valid run).
    ValueError
        For an unknown ``warmup``.
    """
    how = parse_warmup(warmup)
    chunks = None
    if isinstance(source, pd.DataFrame):
        # rows are named by their index label; duplicate labels (pd.concat without ignore_index) by position
        frame, name = (source if source.index.is_unique else source.reset_index(drop=True)), name or "table"
    else:
        name = str(source)
        chunks = plain_chunks(Path(source))
        frame = read_file(source) if chunks is None else None
    names = chunks.columns if chunks is not None else list(frame.columns)
    notes: list[str] = []
    identity = default_run_columns(names, columns)
    if identity:
        columns = replace(columns or ColumnMap(), run=identity)
        notes.append(f"no run column; runs identified by {'/'.join(identity)} (pass --run to choose)")
    if chunks is None:
        table, issues = canonical(frame, columns, source=name)
    else:  # a large CSV is read and checked a chunk at a time
        table, issues = canonical_parts(names, chunks.frames, columns, source=name, rows=chunks.rows)
    invalid = describe_issues(issues)
    valid = table[~table["run"].isin(list(invalid))] if invalid else table
    if chunks is None:
        hint = run_hint(names, lambda column: _measured([frame[column]]), columns, issues)
    else:
        hint = run_hint(names, lambda column: _measured(part[column] for part in chunks.frames([column])), columns, issues)
    if invalid:
        msg = "; ".join(f"run {r!r}: {m}" for r, m in invalid.items())
        warnings.warn(f"{name}: {len(invalid)} run(s) set aside: {msg}{hint}", DataWarning, stacklevel=2)
    if valid.empty:
        raise DataError(f"{name}: no valid run left; problems: " + " | ".join(f"{r}: {m}" for r, m in invalid.items()) + hint)
    divisor, prange, note = perf_units(valid["perf"], perf_scale, column=(columns.perf if columns is not None and columns.perf else "perf"))
    if perf_scale == "auto" and divisor != 1.0:
        check_one_unit(valid, name)
    if note:
        notes.append(note)
    valid = valid.assign(perf=valid["perf"] / divisor)
    points, dropped = align(valid.drop(columns="row"), align_how)
    if note := alignment_note(valid, align_how):
        notes.append(note)
    if dropped:
        notes.append(f"{dropped} validation point(s) had no entropy at their step and were left out")
    points, warmups = apply_warmup(points, how)
    notes.extend(line for run, w in warmups.items() if (line := describe(run, w)))
    return Dataset(
        table=valid.reset_index(drop=True),
        points=points,
        issues=issues,
        invalid=invalid,
        perf_range=prange,
        notes=tuple(notes),
        source=name,
        warmup=warmups,
    )


def default_run_columns(names: Sequence[object], columns: ColumnMap | None) -> tuple[str, ...] | None:
    """The identity columns (:data:`IDENTITY`) that form the run id of a table without a ``run`` column.

    Parameters
    ----------
    names : sequence
        The table's column names.
    columns : ColumnMap, optional
        The columns the user named; a named ``run`` wins.

    Returns
    -------
    tuple of str or None
        The :data:`IDENTITY` columns present, in that order (a column the user mapped to
        ``task``, ``model``, ``algorithm`` or ``seed`` counts under its own name); None when
        ``run`` is named, the table has a ``run`` column, or it has none of them (then the
        whole table is one run, named after its file).
    """
    cmap = columns or ColumnMap()
    if cmap.run or "run" in names:
        return None
    present = [getattr(cmap, f) or f for f in IDENTITY]
    found = tuple(c for c in present if c in names)
    return found or None


def run_hint(
    names: Sequence[object], measured: Callable[[str], bool], columns: ColumnMap | None, issues: pd.DataFrame, limit: int = 6
) -> str:
    """A sentence suggesting ``--run COLS`` when ``issues`` has duplicate steps (``""`` otherwise).

    Duplicate steps in one run mostly mean that several runs share a run id.  The candidates
    named are the columns (of ``names``) not used as the run id, step, entropy, perf or parameter
    count and not holding fractional numbers (measurements, not labels: ``measured(column)``,
    asked only then), :data:`IDENTITY` columns first.
    """
    if issues.empty or not issues["problem"].str.startswith("duplicate step").any():
        return ""
    cmap = columns or ColumnMap()
    used = {*(cmap.run or ("run",)), *(getattr(cmap, f) or f for f in ("step", "entropy", "perf", "params"))}
    rest = [str(c) for c in names if str(c) not in used and not measured(c)]
    candidates = [c for c in IDENTITY if c in rest] + [c for c in rest if c not in IDENTITY]
    if not candidates:
        return "; several runs share a run id? pass --run COLS naming the columns that identify a run"
    shown = ", ".join(candidates[:limit]) + (f" (+{len(candidates) - limit} more)" if len(candidates) > limit else "")
    return f"; several runs share a run id? pass --run COLS naming the columns that identify a run (candidates: {shown})"


def _measured(pieces: Iterable[pd.Series]) -> bool:
    """Whether a column (given in pieces of rows) holds numbers with a fractional part (a measurement, not a run label)."""
    fractional = False
    for series in pieces:
        num, bad = _numeric(series)
        if bad.any():
            return False
        fractional = fractional or bool((num.dropna() % 1 != 0).any())
    return fractional


def alignment_note(table: pd.DataFrame, how: Align) -> str | None:
    """Say how entropy was paired with validation, when the pairing reached across logged steps.

    ``"same"`` pairs each validation with the entropy of its own step, so it has nothing to say
    (validations without entropy at their step get their own note).  ``"mean"`` gets a note when
    some validation's entropy is the mean of more than one logged step.
    """
    if how == "same":
        return None
    order = _sorted_rows(table)
    logged = pd.Series(table["entropy"].notna().to_numpy()[order])
    counts = logged.groupby(_blocks(table["run"].to_numpy()[order], table["perf"].to_numpy(dtype=float)[order])).sum()
    if not (counts > 1).any():
        return None
    return (
        f"entropy paired with validation by 'mean' alignment: each validation's entropy is the mean over "
        f"the steps since the previous validation (up to {int(counts.max())} logged steps)"
    )


def run_groups(points: pd.DataFrame, by: Sequence[str] | None = None):
    """Iterate ``(key, frame)`` over runs, or over groups of runs when ``by`` names columns."""
    return points.groupby(list(by) if by else "run", sort=False)
