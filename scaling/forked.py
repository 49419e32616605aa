"""Independent tasks run in forked child processes, a few at a time, their results in order.

A report's analyses (forecasts, algorithm comparison, results across sizes) and its
sections are independent once the runs are fitted, and each keeps one core busy.
:func:`forked_map` runs each task in a child process forked from this one, up to ``jobs``
at once, and yields the results in the order of the tasks.  A forked child reads this
process's memory as it was (the data, the fits) where it is: nothing is pickled, and a
memory page is copied only when the child writes to it.  Only its result is sent back
(pickled between our own processes, never read from a file).

Where fork is not the safe default (Windows has none; on macOS system libraries may not
survive it), or with ``jobs=1``, the tasks run here, one after the other, each only when
the previous result was taken.

A child writes nothing: its standard output and error are ``/dev/null`` (what a task has to
say goes into its result, e.g. the warnings it recorded), so its progress bars stay off and
it never touches the parent's streams, whose locks a thread of the parent (a progress bar's
refresh) may hold at the moment of the fork.

Examples
--------
>>> from scaling.forked import forked_map
>>> list(forked_map([lambda: 1 + 1, lambda: 2 * 3], jobs=2))
[2, 6]
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

#: most processes by default: past four, the dozen tasks of a report gain little
MAX_DEFAULT_JOBS = 4


@dataclass(frozen=True)
class ChildFailed:
    """The result of a task whose child process gave none.

    Attributes
    ----------
    reason : str
        Why, in words: the error the task raised, a result that could not be sent back or
        read, or the child's exit code when it died (killed, out of memory).
    """

    reason: str

    @property
    def message(self) -> str:
        """How the step is listed among those not run: ``"failed: REASON"``."""
        return f"failed: {self.reason}"


def can_fork() -> bool:
    """Whether tasks may run in forked processes here (Linux)."""
    import multiprocessing

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def default_jobs() -> int:
    """The cores this process may use (joblib's count: affinity and container quotas), at most
    :data:`MAX_DEFAULT_JOBS`; 1 where :func:`can_fork` is false."""
    if not can_fork():
        return 1
    import joblib

    return max(1, min(MAX_DEFAULT_JOBS, int(joblib.cpu_count())))


def check_jobs(jobs: int) -> int:
    """``jobs`` as an int, or ValueError unless it is at least 1."""
    if isinstance(jobs, bool) or int(jobs) != jobs or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    return int(jobs)


def forked_map(
    tasks: Sequence[Callable[[], T]],
    jobs: int = 1,
    *,
    start: Sequence[int] | None = None,
    on_done: Callable[[], None] | None = None,
) -> Iterator[T | ChildFailed]:
    """The result of every task, in order, the tasks run up to ``jobs`` at a time in forked processes.

    Parameters
    ----------
    tasks : sequence of callables of no argument
        The tasks.  Each should catch its own errors and return what they mean: in a child
        an error (even ``KeyboardInterrupt``) becomes a :class:`ChildFailed`, here (one job)
        it is raised.
    jobs : int
        Tasks run at once.  With 1, fewer than two tasks, or where :func:`can_fork` is false,
        they run in this process, each when the previous result was taken.
    start : sequence of int, optional
        The order in which the tasks are started in child processes (indices into
        ``tasks``; default as given): the longest first keeps every process busy to the end.
        The results still come in the order of ``tasks``; those that finish early wait in
        this process for their turn.
    on_done : callable, optional
        Called with no argument each time a task has finished (in the order they finish),
        e.g. to advance a progress bar.

    Returns
    -------
    iterator of result or ChildFailed
        In the order of ``tasks``.  Results must pickle (they are sent back from the child).
        The arguments are checked at once; close the iterator (``contextlib.closing``) when
        its results may not all be taken: that stops the children still running.

    Notes
    -----
    Python's objects are frozen out of the garbage collector's reach while the children
    run (:func:`gc.freeze`, undone at the end unless the caller had frozen objects already),
    so a child's collections neither scan nor copy the parent's objects.
    """
    jobs = check_jobs(jobs)
    order = list(range(len(tasks))) if start is None else [int(i) for i in start]
    if sorted(order) != list(range(len(tasks))):
        raise ValueError(f"start must list every task index once (0 to {len(tasks) - 1}), got {order}")
    done = on_done or _nothing
    if jobs == 1 or len(tasks) < 2 or not can_fork():
        return _here(tasks, done)
    return _forked(list(tasks), jobs, order, done)


def _nothing() -> None:
    return None


def _here(tasks: Sequence[Callable[[], T]], on_done: Callable[[], None]) -> Iterator[T]:
    for task in tasks:
        result = task()
        on_done()
        yield result


def _forked(tasks: list[Callable[[], T]], jobs: int, order: list[int], on_done: Callable[[], None]) -> Iterator[T | ChildFailed]:
    import multiprocessing
    from multiprocessing.connection import wait

    fork = multiprocessing.get_context("fork")
    running: dict = {}  # receiving end -> (index, process)
    done: dict[int, T | ChildFailed] = {}
    started, given = 0, 0
    frozen_here = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        while given < len(tasks):
            while started < len(tasks) and len(running) < jobs:
                index = order[started]
                receive, send = fork.Pipe(duplex=False)
                # not a daemon: a task may start processes of its own
                proc = fork.Process(target=_child, args=(send, tasks[index]))
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()  # else text buffered here would be written again by the child
                try:
                    with warnings.catch_warnings():
                        # Python >= 3.12 warns on forking a process with threads.  Ours are BLAS's
                        # pool (which starts afresh in a child) and a progress bar's refresh, whose
                        # stream the child never touches (module docstring).
                        warnings.filterwarnings("ignore", message=r".*multi-threaded.*fork", category=DeprecationWarning)
                        proc.start()
                except BaseException:
                    receive.close()
                    raise
                finally:
                    send.close()
                running[receive] = (index, proc)
                started += 1
            for receive in wait(list(running)):
                index, proc = running[receive]
                try:
                    result = receive.recv()
                except EOFError:  # the child died before it answered
                    proc.join()
                    result = ChildFailed(f"its process stopped (exit code {proc.exitcode})")
                except Exception as err:  # an answer that cannot be read here
                    result = ChildFailed(f"its result could not be read ({type(err).__name__}: {err})")
                del running[receive]
                receive.close()
                proc.join()
                done[index] = result
                on_done()
            while given in done:
                yield done.pop(given)
                given += 1
    finally:  # closed early, or an error here: no child outlives the call
        for receive, (_, proc) in running.items():
            proc.terminate()
            proc.join()
            receive.close()
        if frozen_here:
            gc.unfreeze()


def _child(send, task: Callable[[], object]) -> None:
    """In a forked process: run the task and send back its result (or why there is none)."""
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    try:
        result = task()
    except BaseException as err:  # noqa: BLE001 - whatever it was, the parent must hear of it
        result = ChildFailed(f"{type(err).__name__}: {err}")
    try:
        send.send(result)
    except Exception as err:  # a result that does not pickle
        send.send(ChildFailed(f"its result could not be sent back ({type(err).__name__}: {err})"))
    finally:
        send.close()
