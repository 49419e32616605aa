"""forked_map: tasks in forked processes, results in order, failures in words, no child left behind."""

from __future__ import annotations

import gc
import multiprocessing
import os
import time

import pytest

from scaling.forked import MAX_DEFAULT_JOBS, ChildFailed, can_fork, default_jobs, forked_map

needs_fork = pytest.mark.skipif(not can_fork(), reason="forked processes are used on Linux only")


def _pid_and(value):
    return lambda: (os.getpid(), value)


@needs_fork
def test_results_come_in_task_order_from_child_processes_whatever_the_start_order():
    tasks = [_pid_and(k * k) for k in range(7)]
    for start in (None, range(6, -1, -1), [3, 0, 6, 1, 5, 2, 4]):
        got = list(forked_map(tasks, jobs=3, start=start))
        assert [v for _, v in got] == [k * k for k in range(7)]
        pids = {p for p, _ in got}
        assert os.getpid() not in pids and len(pids) == 7  # one new process per task
    assert gc.get_freeze_count() == 0  # the parent's objects are back within the collector's reach


def test_one_job_runs_here_in_order_each_when_the_previous_was_taken():
    seen = []

    def task(k):
        def run():
            seen.append(k)
            return os.getpid(), k

        return run

    it = forked_map([task(k) for k in range(3)], jobs=1)
    assert next(it) == (os.getpid(), 0) and seen == [0]  # the second task has not started
    assert list(it) == [(os.getpid(), 1), (os.getpid(), 2)] and seen == [0, 1, 2]


def test_one_job_raises_the_tasks_error_here():
    def boom():
        raise KeyError("lost column")

    with pytest.raises(KeyError, match="lost column"):
        list(forked_map([boom, boom], jobs=1))


@needs_fork
def test_a_failing_dying_or_unsendable_task_gives_a_reason_and_the_others_still_come():
    def boom():
        raise RuntimeError("cannot fit")

    def die():
        os._exit(3)

    def unsendable():
        return lambda: None  # a function made here does not pickle

    got = list(forked_map([lambda: 1, boom, die, unsendable, lambda: 5], jobs=2))
    assert got[0] == 1 and got[4] == 5
    assert got[1] == ChildFailed("RuntimeError: cannot fit")
    assert got[2] == ChildFailed("its process stopped (exit code 3)")
    assert isinstance(got[3], ChildFailed) and got[3].reason.startswith("its result could not be sent back")


@needs_fork
def test_closing_early_stops_the_children_still_running():
    def slow():
        time.sleep(60)
        return "late"

    before = {p.pid for p in multiprocessing.active_children()}  # other tests' processes may still run
    t = time.perf_counter()
    it = forked_map([lambda: "first", slow, slow], jobs=3)
    assert next(it) == "first"
    assert len({p.pid for p in multiprocessing.active_children()} - before) == 2  # the two slow ones
    it.close()
    assert {p.pid for p in multiprocessing.active_children()} - before == set()
    assert time.perf_counter() - t < 30 and gc.get_freeze_count() == 0


def test_bad_arguments_are_refused_at_the_call():
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
            forked_map([lambda: 1], jobs=jobs)  # not only once iterated
    with pytest.raises(ValueError, match="start must list every task index once"):
        forked_map([lambda: 1, lambda: 2], jobs=2, start=[0, 0])


def test_default_jobs_is_between_one_and_the_cap():
    n = default_jobs()
    assert isinstance(n, int) and 1 <= n <= min(MAX_DEFAULT_JOBS, os.cpu_count() or 1)
    if not can_fork():
        assert n == 1


@pytest.mark.parametrize("jobs", [1, 3])
def test_on_done_is_called_once_per_finished_task(jobs):
    ticks = []
    got = list(forked_map([lambda: 1, lambda: 2, lambda: 3], jobs=jobs, start=[2, 1, 0], on_done=lambda: ticks.append(1)))
    assert got == [1, 2, 3] and len(ticks) == 3


class _Unreadable:
    """Pickles in the child; reading it back here raises."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("cannot rebuild")


@needs_fork
def test_a_result_that_cannot_be_read_back_fails_alone():
    got = list(forked_map([lambda: 1, _Unreadable, lambda: 3], jobs=2))
    assert got[0] == 1 and got[2] == 3
    assert got[1] == ChildFailed("its result could not be read (RuntimeError: cannot rebuild)")
    assert got[1].message == "failed: its result could not be read (RuntimeError: cannot rebuild)"


@needs_fork
def test_a_freeze_of_the_caller_is_kept():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert list(forked_map([lambda: 1, lambda: 2], jobs=2)) == [1, 2]
        assert gc.get_freeze_count() >= frozen > 0
    finally:
        gc.unfreeze()


@needs_fork
def test_a_child_writes_nothing_to_the_parents_streams(capfd):
    def chatty():
        print("from the child")
        import sys

        print("to stderr", file=sys.stderr)
        return 1

    assert list(forked_map([chatty, chatty], jobs=2)) == [1, 1]
    out, err = capfd.readouterr()
    assert "from the child" not in out and "to stderr" not in err
