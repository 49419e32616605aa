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


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        list(forked_map([lambda: 1], jobs=0))
    with pytest.raises(ValueError, match="start must list every task index once"):
        list(forked_map([lambda: 1, lambda: 2], jobs=2, start=[0, 0]))


def test_default_jobs_is_the_usable_cores_capped():
    n = default_jobs()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert n == (min(MAX_DEFAULT_JOBS, cores) if can_fork() else 1)
