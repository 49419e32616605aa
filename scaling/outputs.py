"""Output paths that never destroy anything of the user's.

Every file or directory the package writes goes through this module:

* :func:`check_output` refuses, before any work, an output that resolves to an input (the
  same path, through a symbolic link, or a hard link to it), a symbolic link, a directory
  where a file is to be written (or a file where a directory is), a read-only target and
  a parent that cannot be written.  It raises :class:`~scaling.exceptions.OutputError`
  with a one-line message.
* :func:`atomic_path` and :func:`atomic_write_bytes` write a file to a temporary file in
  the same directory, flush it to disk and rename it over the target: the target is
  either the old file or the complete new one, never half of one.
* :func:`report_dir` builds a report directory as a whole: into a fresh directory beside
  the target, swapped in by two renames only when everything is written, under a lock
  file that refuses a second writer.

A report directory is replaced only when it is empty or is a previous report: a regular
``index.html`` written by ``scaling`` (never a symbolic link) and nothing at the top level
but ``figures/`` and ``tables/``.  Anything else is refused, so a directory holding the
user's own files is never removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from scaling.exceptions import OutputError

__all__ = ["REPORT_MARK", "atomic_path", "atomic_write_bytes", "atomic_write_text", "check_output", "report_dir"]

#: Text in every index.html the report writes: how a previous report is recognised.
REPORT_MARK = "Made by scaling (entropy-scaling)."
#: Top-level entries of a report directory.
REPORT_ENTRIES = frozenset({"index.html", "figures", "tables"})


def _nearest_existing(path: Path) -> Path:
    p = Path(os.path.abspath(path))
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _check_parent(path: Path) -> None:
    """The directory that will hold ``path`` exists or can be made, and can be written."""
    anc = _nearest_existing(Path(os.path.abspath(path)).parent)
    if not anc.is_dir():
        raise OutputError(f"cannot write {path}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: directory {anc} is not writable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), *, kind: str = "file") -> Path:
    """Refuse an output path that would destroy something; return it as a Path.

    Parameters
    ----------
    path : path
        Where the output is to be written.
    inputs : iterable of paths
        The files and directories read by the same command (``None`` entries are ignored).
        The output may not be any of them (same real path, or same device and inode: hard
        links included), nor lie inside an input directory (its files are all read), and,
        for ``kind="report"``, may not contain any of them.
    kind : {"file", "report"}
        A file output, or a report directory (see :func:`report_dir` for what an existing
        one may hold).

    Raises
    ------
    OutputError
        With a one-line message naming the path and the problem.
    """
    if kind not in ("file", "report"):
        raise ValueError(f"kind must be 'file' or 'report', got {kind!r}")
    out = Path(path)
    real = os.path.realpath(out)
    for src in inputs:
        if src is None:
            continue
        src_real = os.path.realpath(src)
        if real == src_real or _same_file(out, Path(src)):
            raise OutputError(f"output {out} is the input {src}: choose another output path, the input is left as it is")
        if kind == "report" and src_real.startswith(real.rstrip(os.sep) + os.sep):
            raise OutputError(f"output directory {out} holds the input {src}: choose another directory")
        if os.path.isdir(src) and real.startswith(src_real.rstrip(os.sep) + os.sep):
            raise OutputError(
                f"output {out} lies inside the input directory {src}, whose files are all read: "
                "the next run would read it as input; choose a path outside it"
            )
    if os.path.islink(out):
        raise OutputError(f"output {out} is a symbolic link (to {os.readlink(out)}); links are not followed: give the real path")
    _check_parent(out)
    if not os.path.lexists(out):
        return out
    st = os.stat(out)
    if kind == "file":
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"output {out} is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"output {out} exists and is not a regular file")
        if not os.access(out, os.W_OK):
            raise OutputError(f"output {out} is read-only")
        return out
    if not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"output directory {out} exists and is not a directory")
    _check_previous_report(out)
    return out


def _check_previous_report(out: Path) -> None:
    """An existing report directory may be replaced only when empty or a previous report."""
    entries = sorted(os.listdir(out))
    if not entries:
        return
    index = out / "index.html"
    if os.path.islink(index):
        raise OutputError(f"{index} is a symbolic link; it is not followed: remove it or choose another directory")
    if not index.is_file():
        raise OutputError(f"output directory {out} is not empty and holds no report (index.html): choose an empty or new directory")
    with open(index, "rb") as fh:
        fh.seek(max(0, os.path.getsize(index) - 4096))
        tail = fh.read().decode("utf-8", "replace")
    if REPORT_MARK not in tail:
        raise OutputError(f"{index} was not written by scaling: choose an empty or new directory")
    extra = [e for e in entries if e not in REPORT_ENTRIES]
    if extra:
        raise OutputError(f"output directory {out} holds {extra[0]!r}, not part of a report; it would be removed: move it or choose another directory")
    for sub in ("figures", "tables"):
        p = out / sub
        if os.path.lexists(p) and (os.path.islink(p) or not p.is_dir()):
            raise OutputError(f"{p} is not a directory of the report: remove it or choose another directory")


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and renamed to ``path``.

    On any exception (``KeyboardInterrupt`` included) the temporary file is removed and
    ``path`` is untouched.  An ``OSError`` becomes a one-line :class:`OutputError`.
    """
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
    except OSError as err:
        raise OutputError(f"cannot write {out}: {err.strerror or err}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        mode = stat.S_IMODE(os.stat(out).st_mode) if out.is_file() else _default_mode()
        os.chmod(tmp_path, mode)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, out)
    except OSError as err:
        raise OutputError(f"cannot write {out}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode(encoding))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _lock(lock: Path, target: Path) -> Iterator[None]:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and not _pid_alive(pid):  # left by a killed writer
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            raise OutputError(
                f"another scaling report is writing {target} (lock {lock}, process {pid or '?'}); wait for it, or remove the lock if none is running"
            ) from None
        except OSError as err:
            raise OutputError(f"cannot write {target}: {err.strerror or err}") from None
        break
    else:  # pragma: no cover - the stale lock came back at once
        raise OutputError(f"another scaling report is writing {target} (lock {lock})")
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _remove(path: Path) -> None:
    if os.path.islink(path) or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def report_dir(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = ()) -> Iterator[Path]:
    """Yield a fresh directory to build a report in; swap it in for ``path`` when the block ends.

    The report is built in ``.NAME.tmp-PID`` beside ``path`` under the lock file
    ``.NAME.lock`` (a second writer is refused; a lock left by a killed process is taken
    over).  When the block ends without error, the previous report (checked by
    :func:`check_output`) is renamed aside, the new one renamed to ``path`` and the old one
    removed, so that ``path`` is at any moment the previous complete report or the new
    one.  On an error or interruption the new directory is removed and ``path`` is as it
    was.
    """
    out = Path(os.path.abspath(path))
    inputs = list(inputs)
    check_output(out, inputs, kind="report")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    with _lock(parent / f".{out.name}.lock", Path(path)):
        check_output(out, inputs, kind="report")  # again, now that no other writer can change it
        for stale in parent.glob(f".{out.name}.tmp-*"):  # left by a killed writer
            _remove(stale)
        for stale in parent.glob(f".{out.name}.old-*"):
            _remove(stale)
        work = parent / f".{out.name}.tmp-{os.getpid()}"
        old = parent / f".{out.name}.old-{os.getpid()}"
        try:
            work.mkdir()
            yield work
            _swap(work, out, old)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
        finally:
            _remove(work)


def _swap(work: Path, out: Path, old: Path) -> None:
    with open(work / "index.html", "rb") as fh:
        os.fsync(fh.fileno())
    if not os.path.lexists(out):
        os.rename(work, out)
        return
    os.rename(out, old)
    try:
        os.rename(work, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(old, out)
        raise
    _remove(old)

