"""Many runs' points in flat arrays: the batch engine's input, without one Python object per run.

A :class:`RunTable` holds the points of every run back to back (each run sorted by step) with
an offset per run and one identity row per run.  It behaves as a read-only sequence of
:class:`scaling.fitting.single.RunPoints` (built on access, as views into the arrays), so code written for
a list of runs accepts it, while :func:`scaling.fitting.engine.fit_runs` takes whole blocks of equal-length
runs from it by one gather.  Splitting a tidy table of 10,000 runs into a table costs one
factorisation of the run column and a few array passes; building 10,000 ``RunPoints`` objects
cost several times more.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class RunPoints:
    """A run's finite points, sorted by step, with its identity (run, model, params, algorithm, seed)."""

    entropy: np.ndarray
    perf: np.ndarray
    step: np.ndarray
    ident: dict


def prepare_run(entropy, perf, step, ident: dict) -> tuple[RunPoints, int]:
    """Validate array shapes, drop non-finite points, sort by step.

    Returns the run and the number of points dropped.
    """
    S = np.asarray(entropy, dtype=float)
    y = np.asarray(perf, dtype=float)
    if S.shape != y.shape or S.ndim != 1:
        raise ValueError(f"entropy and perf must be 1-D arrays of one length, got {S.shape} and {y.shape}")
    st = np.arange(S.size, dtype=float) if step is None else np.asarray(step, dtype=float)
    if st.shape != S.shape:
        raise ValueError(f"step must have the length of entropy, got {st.shape} and {S.shape}")
    keep = np.isfinite(S) & np.isfinite(y) & np.isfinite(st)
    order = np.argsort(st[keep], kind="stable")
    return RunPoints(S[keep][order], y[keep][order], st[keep][order], ident), int((~keep).sum())


def make_ident(run, model, params, algorithm, seed) -> dict:
    """The identity of one run as the dict that :class:`RunPoints` carries."""
    return dict(run=str(run), model=str(model), params=float(params), algorithm=str(algorithm), seed=str(seed))


#: the identity of a run, one column each in :attr:`RunTable.idents`
IDENT_KEYS = ("run", "model", "params", "algorithm", "seed", "task")


@dataclass(frozen=True, eq=False)
class RunTable(Sequence):
    """Runs stored as flat arrays; a sequence of :class:`~scaling.fitting.single.RunPoints`.

    Attributes
    ----------
    entropy, perf, step : arrays (N,)
        Every run's finite points, run after run, each run sorted by step.
    offsets : array of int (R + 1,)
        Run ``i`` holds the points ``offsets[i]:offsets[i + 1]``.
    columns : dict of lists
        The identity of every run: ``run, model, params, algorithm, seed, task``, one list each
        (:attr:`idents` is the same as a DataFrame).
    """

    entropy: np.ndarray
    perf: np.ndarray
    step: np.ndarray
    offsets: np.ndarray
    columns: dict
    _dicts: tuple | None = None  # the identities as given, when built from RunPoints

    @cached_property
    def idents(self) -> pd.DataFrame:
        """One row per run: ``run, model, params, algorithm, seed, task``."""
        return pd.DataFrame(self.columns, columns=list(IDENT_KEYS))

    def __len__(self) -> int:
        return self.offsets.size - 1

    @property
    def lengths(self) -> np.ndarray:
        """Points per run."""
        return np.diff(self.offsets)

    @property
    def run_ids(self) -> list[str]:
        return list(self.columns["run"])

    def ident(self, i: int) -> dict:
        """Identity of run ``i`` as a dict (the ``ident`` of its RunPoints)."""
        if self._dicts is not None:
            return self._dicts[i]
        return {k: self.columns[k][i] for k in IDENT_KEYS}

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"run index {i} out of range for {len(self)} runs")
        sl = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        return RunPoints(self.entropy[sl], self.perf[sl], self.step[sl], self.ident(i))

    def __iter__(self) -> Iterator[RunPoints]:
        # the same RunPoints as self[i], without the per-item index checks (10^5 runs are iterated often)
        off = self.offsets.tolist()
        E, P, S = self.entropy, self.perf, self.step
        if self._dicts is not None:
            idents = iter(self._dicts)
        else:
            idents = (dict(zip(IDENT_KEYS, vals)) for vals in zip(*(self.columns[k] for k in IDENT_KEYS)))
        for i, ident in enumerate(idents):
            a, b = off[i], off[i + 1]
            yield RunPoints(E[a:b], P[a:b], S[a:b], ident)

    def block(self, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entropy, perf and step of the runs ``members`` (all of one length) as 2-D arrays (one row per run)."""
        members = np.asarray(members, dtype=np.int64)
        if members.size == 0:
            empty = np.empty((0, 0))
            return empty, empty, empty
        n = int(self.offsets[members[0] + 1] - self.offsets[members[0]])
        if not (self.offsets[members + 1] - self.offsets[members] == n).all():
            raise ValueError("block() takes runs of one length; group the runs by `lengths` first")
        start = self.offsets[members]
        if members.size * n == self.entropy.size and np.all(np.diff(start) == n):
            # every run, equally long and in order: a reshape, no copy
            return tuple(a.reshape(members.size, n) for a in (self.entropy, self.perf, self.step))
        idx = start[:, None] + np.arange(n)[None, :]
        return self.entropy[idx], self.perf[idx], self.step[idx]

    # ----- construction -----------------------------------------------------------------
    @classmethod
    def from_runs(cls, runs: Sequence[RunPoints]) -> RunTable:
        """A table of prepared runs (their points are copied, their identities kept as given)."""
        if isinstance(runs, RunTable):
            return runs
        runs = list(runs)
        lengths = np.array([r.entropy.size for r in runs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

        def flat(field: str) -> np.ndarray:
            parts = [np.asarray(getattr(r, field), dtype=float) for r in runs]
            return np.concatenate(parts) if parts else np.empty(0)

        dicts = tuple(r.ident for r in runs)
        columns = {k: [d.get(k, "" if k != "params" else math.nan) for d in dicts] for k in IDENT_KEYS}
        return cls(flat("entropy"), flat("perf"), flat("step"), offsets, columns, dicts)


def runs_from_frame(points: pd.DataFrame) -> RunTable:
    """Runs from a tidy table of validation points (``Dataset.points``), in order of appearance.

    Columns ``run, step, entropy, perf`` are needed; ``model, params, algorithm, seed, task``
    are read from each run's first row when present.  Non-finite points are dropped and each
    run sorted by step (stable), as :func:`scaling.fitting.single.prepare_run` does.  The grouping is
    vectorised: when each run's rows are together and sorted by step (the usual layout), a
    comparison of neighbouring run names finds the runs; otherwise one factorisation of the run
    column and one sort of the whole table.
    """
    need = {"run", "step", "entropy", "perf"}
    missing = need - set(points.columns)
    if missing:
        raise ValueError(f"points needs columns {sorted(need)}; missing {sorted(missing)}")
    step = points["step"].to_numpy(dtype=float, copy=True)
    ent = points["entropy"].to_numpy(dtype=float, copy=True)
    prf = points["perf"].to_numpy(dtype=float, copy=True)
    starts = contiguous_runs(points["run"])
    finite = bool(np.isfinite(step).all() and np.isfinite(ent).all() and np.isfinite(prf).all())
    if starts is not None and finite and sorted_within(step, starts):
        # the usual layout: each run's rows together, sorted by step, all finite -- no factorisation, no sort
        n_runs = starts.size
        offsets = np.append(starts, step.size).astype(np.int64)
        first_pos = starts
        uniques = points["run"].take(starts)
    else:
        codes, uniques = pd.factorize(points["run"], sort=False)
        n_runs = len(uniques)
        keep = np.isfinite(step) & np.isfinite(ent) & np.isfinite(prf) & (codes >= 0)
        order = np.lexsort((step, codes))
        order = order[keep[order]]
        step, ent, prf = step[order], ent[order], prf[order]
        offsets = np.searchsorted(codes[order], np.arange(n_runs + 1)).astype(np.int64)
        labelled = np.flatnonzero(codes >= 0)
        first_pos = np.zeros(n_runs, dtype=np.int64)
        first_pos[codes[labelled][::-1]] = labelled[::-1]  # the first row of each run
    run = [str(v) for v in uniques.tolist()]

    def first(name: str) -> list:  # the column's value on each run's first row
        return points[name].take(first_pos).tolist()

    def text(name: str, default: list) -> list:
        return [str(v) for v in first(name)] if name in points.columns else default

    if "params" in points.columns:
        params = pd.to_numeric(points["params"].take(first_pos), errors="raise").astype(float).tolist()
    else:
        params = [math.nan] * n_runs
    columns = {
        "run": run,
        "model": text("model", run),
        "params": params,
        "algorithm": text("algorithm", [""] * n_runs),
        "seed": text("seed", [""] * n_runs),
        "task": ["" if pd.isna(v) else str(v) for v in first("task")] if "task" in points.columns else [""] * n_runs,
    }
    return RunTable(ent, prf, step, offsets, columns)


def runs_from_arrays(
    entropy: np.ndarray | Sequence[np.ndarray],
    perf: np.ndarray | Sequence[np.ndarray],
    step: np.ndarray | Sequence[np.ndarray] | None = None,
    run_ids: Sequence[str] | None = None,
) -> RunTable:
    """Runs from a 2-D array per field (one row per run) or lists of 1-D arrays.

    Non-finite points are dropped and points sorted by step, as :func:`scaling.fitting.single.prepare_run` does.
    """
    ent = list(entropy)
    prf = list(perf)
    if len(ent) != len(prf):
        raise ValueError(f"entropy and perf must hold the same number of runs, got {len(ent)} and {len(prf)}")
    steps = [None] * len(ent) if step is None else list(step)
    if len(steps) != len(ent):
        raise ValueError(f"step must hold one array per run, got {len(steps)} for {len(ent)} runs")
    ids = [f"run{i}" for i in range(len(ent))] if run_ids is None else [str(r) for r in run_ids]
    if len(ids) != len(ent):
        raise ValueError(f"run_ids must name every run, got {len(ids)} for {len(ent)} runs")
    runs = [prepare_run(e, p, s, make_ident(i, i, math.nan, "", ""))[0] for e, p, s, i in zip(ent, prf, steps, ids)]
    return RunTable.from_runs(runs)


def contiguous_runs(names: pd.Series) -> np.ndarray | None:
    """First row of each run when every run's rows are contiguous and no name is missing, else None.

    Compares each name with the one above it (pyarrow's kernel for arrow-backed strings), which
    is several times cheaper than hashing every row.
    """
    n = len(names)
    if n == 0:
        return None
    values = names.array
    if hasattr(values, "__arrow_array__"):
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(values)  # a ChunkedArray: the pieces of a table read in chunks are not copied
        if arr.null_count:
            return None
        change = np.asarray(pc.not_equal(arr.slice(1), arr.slice(0, n - 1)), dtype=bool)
    else:
        col = names.to_numpy()
        with np.errstate(invalid="ignore"):
            change = np.asarray(col[1:] != col[:-1], dtype=bool)
    starts = np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)
    labels = names.iloc[starts]
    if labels.isna().any() or labels.duplicated().any():  # a run split in pieces, or missing names
        return None
    return starts


def sorted_within(step: np.ndarray, starts: np.ndarray, strict: bool = False) -> bool:
    """Whether steps never decrease inside a run (runs begin at ``starts``); with ``strict``, always increase."""
    if step.size < 2:
        return True
    up = np.diff(step) > 0 if strict else np.diff(step) >= 0
    up[starts[1:] - 1] = True  # from one run to the next, anything goes
    return bool(up.all())
