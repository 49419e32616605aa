"""Reader of TensorBoard event directories.

Each directory that holds ``events.out.tfevents*`` files is one run, named
after its path relative to the directory given (or after the directory itself
when the event files sit right in it). The scalar tags are the keys: legacy
``simple_value`` scalars (PyTorch's and tensorboardX's ``SummaryWriter``) and
TF2 tensor scalars (``tf.summary.scalar``). Files are read with TensorBoard's
own ``EventAccumulator`` (pip package ``tensorboard``; TensorFlow is not
needed). When a step was written twice, the last value read is kept.

TensorBoard's reader stops at the first damaged record of a file and says
nothing; :func:`scan_records` walks the TFRecord framing (lengths and CRC32C
checksums) of each file, resynchronising after a damaged record on the next
intact one, so that the records after the damage are read too and a cut or
corrupt file gives a :class:`~scaling.exceptions.DataWarning` saying how many
records were read and how many records and bytes were skipped.
"""

from __future__ import annotations

import struct
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scaling.data.readers.keys import MetaLike, PathLike
from scaling.data.readers.table import RunData, build_table
from scaling.data.readers.textio import MAX_STEP, as_paths
from scaling.exceptions import DataError, DataWarning

#: Glob of TensorBoard event file names.
EVENT_GLOB = "events.out.tfevents*"


def _event_accumulator() -> Any:
    """Import TensorBoard's event accumulator, with a clear message if missing."""
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading TensorBoard event files needs the 'tensorboard' package: pip install tensorboard"
        ) from exc
    return event_accumulator


def has_event_files(directory: Path) -> bool:
    """Tell whether ``directory`` or a directory below it holds event files."""
    return any(path.is_file() for path in directory.rglob(EVENT_GLOB))


def run_directories(root: Path) -> dict[str, Path]:
    """Find the run directories under ``root``.

    Parameters
    ----------
    root : pathlib.Path
        A directory, or one event file.

    Returns
    -------
    dict
        Run name (relative POSIX path, or the directory's own name) to the
        directory (or the event file given).
    """
    if root.is_file():
        return {root.resolve().parent.name: root}
    directories = sorted({path.parent for path in root.rglob(EVENT_GLOB) if path.is_file()})
    runs = {}
    for directory in directories:
        relative = directory.relative_to(root).as_posix()
        runs[root.resolve().name if relative == "." else relative] = directory
    return runs


@dataclass(frozen=True)
class RecordScan:
    """The TFRecord framing of one event file: its intact records and its damaged stretches.

    After a damaged record the scan resynchronises: it looks for the next byte where a record
    header with a valid checksum is followed by data with a valid checksum, and goes on from there.

    Attributes
    ----------
    records : int
        Intact records in the file.
    size : int
        Bytes in the file.
    offset : int
        Byte where the first damaged record starts (``size`` if none is).
    problem : str
        What is wrong with that record (``""`` if the file is intact).
    spans : tuple of (int, int)
        Start and end byte of each intact record, in file order.
    damage : tuple of Damage
        Each damaged stretch, in file order.
    """

    records: int
    size: int
    offset: int
    problem: str = ""
    spans: tuple[tuple[int, int], ...] = ()
    damage: tuple[Damage, ...] = ()


@dataclass(frozen=True)
class Damage:
    """One damaged stretch of an event file.

    Attributes
    ----------
    offset : int
        Its first byte.
    end : int
        The byte where reading resumed (the file's size when no intact record follows).
    problem : str
        What is wrong with the record at ``offset``.
    before : int
        Intact records before it.
    exact : bool
        Whether it is exactly one record (its header intact, and an intact record where it says it ends).
    """

    offset: int
    end: int
    problem: str
    before: int
    exact: bool


def _crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of ``data``."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    return int(masked_crc32c(data))


def _record_problem(data: bytes, offset: int) -> tuple[str, int]:
    """Check the record at ``offset``: (problem or ``""``, offset of the next record)."""
    if len(data) - offset < 12:
        return "the file is cut inside a record header", offset
    header = data[offset : offset + 8]
    if _crc(header) != struct.unpack_from("<I", data, offset + 8)[0]:
        return "a record header fails its CRC check (corrupt bytes)", offset
    end = offset + 12 + struct.unpack_from("<Q", header)[0]
    if end + 4 > len(data):
        return "the file is cut inside a record", offset
    if _crc(data[offset + 12 : end]) != struct.unpack_from("<I", data, end)[0]:
        return "a record fails its CRC check (corrupt bytes)", end + 4
    return "", end + 4


def _resync(data: bytes, start: int, window: int = 1 << 20) -> int | None:
    """The first offset from ``start`` where an intact record begins (None if there is none).

    Only offsets whose length field fits in the rest of the file are checked (found with numpy,
    eight alignments at once, a window of ``window`` bytes at a time), so a long damaged stretch
    costs one pass and a little memory, not a checksum per byte.
    """
    size = len(data)
    for low in range(start, max(size - 15, start), window):
        high = min(low + window, size - 15)  # offsets from which a header and a footer fit
        candidates = []
        for k in range(8):
            offsets = np.arange(low + k, high, 8, dtype=np.int64)
            if offsets.size:  # the length field at each offset, read as one array
                lengths = np.frombuffer(data, dtype="<u8", count=offsets.size, offset=int(offsets[0]))
                candidates.append(offsets[lengths <= (size - offsets - 16).astype(np.uint64)])
        for offset in np.sort(np.concatenate(candidates)) if candidates else ():
            if not _record_problem(data, int(offset))[0]:
                return int(offset)
    return None


def scan_records(path: Path) -> RecordScan:
    """Walk the TFRecord framing of an event file, resynchronising after each damaged record.

    Parameters
    ----------
    path : pathlib.Path
        An ``events.out.tfevents*`` file.

    Returns
    -------
    RecordScan
        Intact records and where they are, and where and how the file is damaged.
    """
    data = path.read_bytes()
    offset = 0
    spans: list[tuple[int, int]] = []
    damage: list[Damage] = []
    while offset < len(data):
        problem, following = _record_problem(data, offset)
        if not problem:
            spans.append((offset, following))
            offset = following
            continue
        # a record whose header is intact says where it ends: when an intact record (or the end) is there, skip just it
        exact = following > offset and (following == len(data) or not _record_problem(data, following)[0])
        resume = following if exact else _resync(data, offset + 1)
        damage.append(Damage(offset, len(data) if resume is None else resume, problem, len(spans), exact))
        if resume is None:
            break
        offset = resume
    first = damage[0] if damage else None
    return RecordScan(
        len(spans), len(data), first.offset if first else len(data), first.problem if first else "", tuple(spans), tuple(damage)
    )


def _damage_message(file: Path, scan: RecordScan, points: int, limit: int = 3) -> str:
    """The warning for an event file that is cut or corrupt: where, what was read and what was skipped."""
    first = scan.damage[0]
    if len(scan.damage) == 1 and first.end == scan.size:  # nothing intact after the damage
        return (
            f"{file}: {first.problem} at byte {first.offset} (record {first.before + 1}); "
            f"read {scan.records} intact record(s) before it, {scan.size - first.offset} of "
            f"{scan.size} byte(s) unread; the run has {points} scalar point(s)"
        )
    places = [
        f"{d.problem} at byte {d.offset} (record {d.before + 1}), "
        + (f"{d.end - d.offset} byte(s) unread to the end" if d.end == scan.size else f"resumed at byte {d.end}")
        for d in scan.damage
    ]
    more = f" (+{len(places) - limit} more)" if len(places) > limit else ""
    skipped = sum(d.end - d.offset for d in scan.damage)
    records = ("" if all(d.exact for d in scan.damage) else "at least ") + str(len(scan.damage))
    return (
        f"{file}: {'; '.join(places[:limit])}{more}; read {scan.records} intact record(s), skipped {records} damaged "
        f"record(s), {skipped} of {scan.size} byte(s); the run has {points} scalar point(s)"
    )


def _event_files(path: Path) -> list[Path]:
    """The event files of a run directory (or the event file given), in the order TensorBoard reads them."""
    return [path] if path.is_file() else sorted(p for p in path.glob(EVENT_GLOB) if p.is_file())


def _tensor_scalars(accumulator: Any, tag: str) -> list[tuple[int, float]]:
    """Read a TF2 tensor summary tag written by the scalars plugin."""
    from tensorboard.util import tensor_util

    points = []
    for event in accumulator.Tensors(tag):
        array = np.asarray(tensor_util.make_ndarray(event.tensor_proto))
        if array.size == 1 and np.issubdtype(array.dtype, np.number):
            points.append((int(event.step), float(array.reshape(()))))
    return points


def _scalar_points(accumulator: Any) -> dict[str, list[tuple[int, float]]]:
    """Return every scalar tag of a loaded accumulator as (step, value) pairs."""
    tags = accumulator.Tags()
    points = {tag: [(int(e.step), float(e.value)) for e in accumulator.Scalars(tag)] for tag in tags.get("scalars", [])}
    for tag in tags.get("tensors", []):
        if tag not in points and accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            points[tag] = _tensor_scalars(accumulator, tag)
    return points


def _steps_in_range(path: Path, tag: str, points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The points of one tag whose step is in ``[0, 2**53)``; the others dropped with a warning."""
    kept = [(step, value) for step, value in points if 0 <= step < MAX_STEP]
    if len(kept) < len(points):
        first = next(step for step, _ in points if not 0 <= step < MAX_STEP)
        warnings.warn(
            f"{path}: tag {tag!r}: dropped {len(points) - len(kept)} point(s) whose step is out of range "
            f"[0, 2**53) (first: step {first})",
            DataWarning,
            stacklevel=3,
        )
    return kept


def read_event_directory(path: Path) -> pd.DataFrame:
    """Read the scalars of one run directory (or event file).

    A file with damaged records (:func:`scan_records`) is read from a copy holding only its
    intact records, so that the points after the damage are kept (TensorBoard's own reader stops
    at the first damaged record); a :class:`~scaling.exceptions.DataWarning` says what was lost.

    Parameters
    ----------
    path : pathlib.Path
        A directory holding event files, or one event file.

    Returns
    -------
    pandas.DataFrame
        Index: step; one float column per scalar tag.
    """
    scans = {file: scan_records(file) for file in _event_files(path)}
    # no "tfevents" in the copy's name: TensorBoard would take the directory for an event file
    with tempfile.TemporaryDirectory(prefix="scaling-repaired-") as copy:
        if any(scan.damage for scan in scans.values()):
            for file, scan in scans.items():  # the same names, in the same order; damaged files without their damage
                data = file.read_bytes()
                (Path(copy) / file.name).write_bytes(b"".join(data[a:b] for a, b in scan.spans))
            source = Path(copy) / path.name if path.is_file() else Path(copy)
        else:
            source = path
        series = _read_scalars(source, path)
    points = sum(len(data) for data in series.values())
    for file, scan in scans.items():
        if scan.damage:
            warnings.warn(_damage_message(file, scan, points), DataWarning, stacklevel=2)
    if not series:
        return pd.DataFrame(index=pd.Index([], dtype="int64"), dtype="float64")
    return pd.DataFrame(series).sort_index()


def _read_scalars(source: Path, path: Path) -> dict[str, pd.Series]:
    """The scalar tags of the event files at ``source`` (messages name ``path``), each a Series by step."""
    module = _event_accumulator()
    guidance = {module.SCALARS: 0, module.TENSORS: 0}
    accumulator = module.EventAccumulator(str(source), size_guidance=guidance)
    accumulator.Reload()
    series = {}
    for tag, points in _scalar_points(accumulator).items():
        points = _steps_in_range(path, tag, points)
        if points:
            steps, values = zip(*points, strict=True)
            data = pd.Series(values, index=pd.Index(steps, dtype="int64"), dtype="float64")
            series[tag] = data[~data.index.duplicated(keep="last")]
    return series


def load_tensorboard(paths: Sequence[Path]) -> list[RunData]:
    """Read TensorBoard runs under each path.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        Directories (searched recursively) or event files.

    Returns
    -------
    list of RunData
        One per directory holding event files.

    Raises
    ------
    DataError
        If a directory holds no event file.
    """
    runs = []
    for root in paths:
        found = run_directories(root)
        if not found:
            raise DataError(f"{root}: no TensorBoard event file ({EVENT_GLOB}) in this directory or below")
        runs += [RunData(name, str(directory), read_event_directory(directory)) for name, directory in found.items()]
    return runs


def read_tensorboard(
    paths: PathLike | Sequence[PathLike],
    entropy_key: str | None = None,
    perf_key: str | None = None,
    meta: MetaLike = None,
) -> pd.DataFrame:
    """Read TensorBoard event directories into the canonical table.

    Parameters
    ----------
    paths : path or sequence of paths
        Log directories (each directory below that holds event files is one
        run) or single event files.
    entropy_key, perf_key : str, optional
        Scalar tags to use instead of the defaults
        (:data:`~scaling.data.readers.keys.ENTROPY_KEYS`,
        :data:`~scaling.data.readers.keys.PERF_KEYS`).
    meta : path or mapping, optional
        Run metadata, see :func:`~scaling.data.readers.meta.load_meta`.

    Returns
    -------
    pandas.DataFrame
        The canonical table (:data:`~scaling.data.readers.keys.CANONICAL_COLUMNS`).

    Raises
    ------
    DataError
        If a path holds no event file or no run has both keys.
    """
    runs = load_tensorboard(as_paths(paths))
    return build_table(runs, entropy_key=entropy_key, perf_key=perf_key, meta=meta)
