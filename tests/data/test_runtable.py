"""RunTable: the batch engine's array-level input, and the split of a tidy table into runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling.data.runtable import RunTable, prepare_run, runs_from_arrays, runs_from_frame


def tidy(rng, runs=("a", "b", "c"), n=7) -> pd.DataFrame:
    rows = []
    for k, run in enumerate(runs):
        S = np.sort(rng.uniform(0.1, 1.0, n))[::-1]
        rows.append(
            pd.DataFrame(
                {
                    "run": run,
                    "model": f"m{k % 2}",
                    "params": 1e9 * (k + 1),
                    "algorithm": "grpo" if k % 2 else "ppo",
                    "seed": k,
                    "step": np.arange(n) * 10.0,
                    "entropy": S,
                    "perf": 0.9 - 0.3 * np.exp(S),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def by_name(table: RunTable) -> dict:
    return {r.ident["run"]: r for r in table}


def same_runs(x: RunTable, y: RunTable) -> None:
    a, b = by_name(x), by_name(y)
    assert sorted(a) == sorted(b)  # the order of first appearance may differ
    for run in a:
        for field in ("entropy", "perf", "step"):
            assert np.array_equal(getattr(a[run], field), getattr(b[run], field)), (run, field)
        assert a[run].ident == b[run].ident


def test_a_table_is_a_sequence_of_runs(rng):
    frame = tidy(rng)
    table = runs_from_frame(frame)
    assert len(table) == 3 and table.run_ids == ["a", "b", "c"]
    assert list(table.lengths) == [7, 7, 7]
    last = table[-1]
    assert last.ident == {"run": "c", "model": "m0", "params": 3e9, "algorithm": "ppo", "seed": "2", "task": ""}
    assert np.array_equal(last.entropy, frame["entropy"].to_numpy()[14:])
    assert [r.ident["run"] for r in table[1:]] == ["b", "c"]
    with pytest.raises(IndexError):
        table[3]
    S, y, step = table.block(np.array([2, 0]))
    assert S.shape == (2, 7)
    assert np.array_equal(S[0], table[2].entropy) and np.array_equal(y[1], table[0].perf)
    assert np.array_equal(step[0], np.arange(7) * 10.0)


def test_grouped_layout_and_shuffled_rows_give_the_same_runs(rng):
    frame = tidy(rng, runs=("r1", "r2", "r3", "r4"))
    fast = runs_from_frame(frame)  # grouped and sorted: found by comparing neighbouring names
    slow = runs_from_frame(frame.sample(frac=1.0, random_state=1))  # factorised and sorted
    same_runs(fast, slow)


@pytest.mark.parametrize("dtype", ["object", "str"])
def test_run_split_in_pieces_is_put_back_together(rng, dtype):
    frame = tidy(rng, runs=("a", "b"))
    pieces = pd.concat([frame.iloc[:3], frame.iloc[7:], frame.iloc[3:7]], ignore_index=True)  # a, b, a
    pieces["run"] = pieces["run"].astype(dtype)
    got = by_name(runs_from_frame(pieces))
    assert list(got) == ["a", "b"]
    assert np.array_equal(got["a"].step, np.arange(7) * 10.0)
    assert np.array_equal(got["a"].entropy, frame["entropy"].to_numpy()[:7])


def test_object_and_arrow_run_names_agree(rng):
    frame = tidy(rng)
    as_object = frame.assign(run=frame["run"].astype(object))
    as_arrow = frame.assign(run=frame["run"].astype("string[pyarrow]"))
    same_runs(runs_from_frame(as_object), runs_from_frame(as_arrow))


def test_non_finite_points_and_missing_names_are_dropped(rng):
    frame = tidy(rng)
    frame.loc[2, "perf"] = np.nan
    frame.loc[9, "entropy"] = np.inf
    frame["run"] = frame["run"].astype(object)
    frame.loc[15, "run"] = None
    got = by_name(runs_from_frame(frame))
    assert list(got) == ["a", "b", "c"]
    assert [got[r].entropy.size for r in "abc"] == [6, 6, 6]
    assert np.all(np.isfinite(got["a"].perf))


def test_the_table_owns_its_points(rng):
    frame = tidy(rng)
    table = runs_from_frame(frame)
    before = table[0].entropy.copy()
    frame.loc[0, "entropy"] = 99.0
    assert np.array_equal(table[0].entropy, before)


def test_from_runs_keeps_points_and_identities():
    rng = np.random.default_rng(4)
    runs = [prepare_run(rng.uniform(size=n), rng.uniform(size=n), None, {"run": f"x{n}", "model": "m", "params": 1.0, "algorithm": "", "seed": ""})[0] for n in (5, 9, 5)]
    table = RunTable.from_runs(runs)
    assert RunTable.from_runs(table) is table
    assert list(table.lengths) == [5, 9, 5]
    for r, t in zip(runs, table):
        assert np.array_equal(r.entropy, t.entropy) and np.array_equal(r.perf, t.perf) and r.ident == t.ident
    S, _, _ = table.block(np.array([0, 2]))
    assert np.array_equal(S, np.stack([runs[0].entropy, runs[2].entropy]))
    assert len(RunTable.from_runs([])) == 0


def test_runs_from_arrays_sorts_by_step_and_drops_non_finite():
    table = runs_from_arrays([[0.9, 0.5, np.nan, 0.7]], [[0.1, 0.3, 0.2, 0.2]], [[0, 2, 3, 1]], run_ids=["only"])
    r = table[0]
    assert r.ident["run"] == "only"
    assert np.array_equal(r.step, [0.0, 1.0, 2.0]) and np.array_equal(r.entropy, [0.9, 0.7, 0.5])
