"""Fitting every run of a data set, and the collection of results it returns."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import pandas as pd

from scaling.data.load import Dataset
from scaling.data.runtable import make_ident
from scaling.data.warmup import WarmUp
from scaling.fitting import forms
from scaling.fitting.engine import BatchFit, fit_runs
from scaling.fitting.shared import fit_shared
from scaling.fitting.single import (
    CORE_COLUMNS,
    FitOptions,
    FitStatus,
    RunFit,
    RunPoints,
    no_estimate,
    run_points,
)
from scaling.protocol import ResultMixin
from scaling.textsafe import frame_text


@dataclass(frozen=True, eq=False)
class FitResults(ResultMixin):
    """The fits of all runs of a data set.

    Attributes
    ----------
    fits : tuple of RunFit
        One per run, in the order of the input (set-aside runs included, with
        status ``invalid data``).
    mode : str
        ``free``, ``paper`` or ``shared``.
    options : FitOptions
        Settings used.
    notes : tuple of str
        Decisions taken while loading the data.
    issues : DataFrame
        Rejected cells and rows (see :class:`scaling.data.load.Dataset`).
    warmup : dict
        Run -> number of leading validation points left out as warm-up (see
        :attr:`scaling.data.load.Dataset.warmup`); the last column ``n_warmup`` of :meth:`to_frame`
        (absent when empty, i.e. for fits not made from a Dataset).
    batch : BatchFit or None
        The batch fit the fitted runs' :class:`RunFit` objects came from (``fit_dataset`` with mode
        free or paper): :meth:`to_frame` builds their rows from its arrays in one go instead of one
        frame per run.  Ignored unless its runs' estimates are those of :attr:`fits`.
    """

    _plot_kind: ClassVar[str | None] = "fit_grid"

    fits: tuple[RunFit, ...]
    mode: str
    options: FitOptions
    notes: tuple[str, ...] = ()
    issues: pd.DataFrame | None = None
    warmup: dict = field(default_factory=dict)
    batch: BatchFit | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.fits)

    def __iter__(self) -> Iterator[RunFit]:
        return iter(self.fits)

    def __getitem__(self, run: str) -> RunFit:
        for f in self.fits:
            if f.run == run:
                return f
        raise KeyError(f"no run named {run!r}; runs are {[f.run for f in self.fits]}")

    def to_frame(self) -> pd.DataFrame:
        """One row per run: the core columns first, then intervals of a, b, c, AICc and messages, then ``n_warmup``."""
        frame = fits_frame(self.fits, self.batch)
        if self.warmup:  # known when the fits come from a Dataset (fit_dataset)
            frame["n_warmup"] = [int(self.warmup.get(f.run, 0)) for f in self.fits]
        return frame

    def status_counts(self) -> pd.Series:
        """How many runs have each status."""
        return pd.Series([f.status.value for f in self.fits]).value_counts()

    def summary(self) -> pd.DataFrame:
        """One row per run: points, ceiling with its interval, c, R2 and status (a DataFrame).

        The interval columns are ``ceiling_lo`` and ``ceiling_hi`` at level ``1 - alpha`` of the
        fit; :meth:`conf_int` gives other levels and quantities, :meth:`to_frame` every column.
        """
        cols = ["run", "model", "params", "algorithm", "n_points", "ceiling", "ceiling_lo", "ceiling_hi", "c", "c_lo", "c_hi", "r2", "status"]
        return self.to_frame()[cols].set_index("run")

    def conf_int(self, alpha: float | None = None, quantity: str = "ceiling") -> pd.DataFrame:
        """The ``1 - alpha`` interval of one quantity for every run.

        Parameters
        ----------
        alpha : float, optional
            1 - confidence level; default the level the fits were made at.
        quantity : {"ceiling", "a", "b", "c", "beta"}
            The quantity.

        Returns
        -------
        DataFrame
            Indexed by run, columns ``lower`` and ``upper`` (NaN for runs without an estimate).
        """
        rows = [f.conf_int(quantity, alpha=alpha) for f in self.fits]
        return pd.DataFrame(rows, columns=["lower", "upper"], index=pd.Index([f.run for f in self.fits], name="run"))

    def summary_text(self, max_rows: int | None = None) -> str:
        """A readable fixed-width table, one line per run, then the status legend (what ``scaling fit`` prints).

        Parameters
        ----------
        max_rows : int, optional
            Show at most this many runs (the first ones and the last 5, with a line saying how
            many are left out); default every run.  The legend covers every run.
        """
        level = round(100 * (1 - self.options.alpha))
        rows = []
        frame = self.to_frame()  # the intervals of every run at once
        bounds = frame[["ceiling_lo", "ceiling_hi", "c_lo", "c_hi"]].to_numpy()
        c1 = frame[["ceiling_c1_lo", "ceiling_c1_hi"]].to_numpy(dtype=float) if "ceiling_c1_lo" in frame else None
        n = len(self.fits)
        shown = list(range(n))
        if max_rows is not None and n > max(max_rows, 10):
            shown = list(range(max_rows - 5)) + list(range(n - 5, n))
        for i in shown:
            f = self.fits[i]
            lo, hi, clo, chi = bounds[i]
            rows.append(
                {
                    "run": f.run,
                    "n": f.n_points,
                    "ceiling": _num(f.ceiling),
                    f"{level}% CI": f"[{_num(lo)}, {_num(hi)}]" if f.has_estimate else "",
                    "c": _num(f.c, 3),
                    f"c {level}% CI": "" if not f.has_estimate else "fixed" if f.fixed_c else f"[{_num(clo, 3)}, {_num(chi, 3)}]",
                    "R2": _num(f.r2, 3),
                    "status": f.status.value,
                }
            )
            if f.paper is not None:  # the c = 1 fit beside a free-c fit (scaling.fitting.forms)
                lo1, hi1 = c1[i]
                flagged = FitStatus.FORM_DISAGREEMENT in f.flags
                rows[-1].update(
                    {
                        "ceiling c=1": _num(f.ceiling_c1),
                        f"c=1 {level}% CI": f"[{_num(lo1)}, {_num(hi1)}]" if np.isfinite(f.ceiling_c1) else "",
                        "dAICc": _num(f.delta_aicc_c1, 1),
                        "forms": f"disagree: {forms.FORM_WORDS[f.preferred_form]}" if flagged and f.preferred_form else "",
                    }
                )
        lines = frame_text(pd.DataFrame(rows)).to_string(index=False).splitlines()
        if len(shown) < n:
            cut = 1 + len(shown) - 5  # header + the first runs
            lines = [*lines[:cut], f"... {n - len(shown):,} more run(s) not shown ...", *lines[cut:]]
        table = "\n".join(lines)
        seen = dict.fromkeys(f.status for f in self.fits)
        seen.update(dict.fromkeys(s for f in self.fits for s in f.flags if s == FitStatus.FORM_DISAGREEMENT))
        legend = "\n".join(f"  {s.value}: {s.explanation}" for s in seen)
        head = f"mode {self.mode}, intervals {self.options.ci} ({level}%)"
        out = f"{head}\n{table}\n\nstatus:\n{legend}"
        if any(f.paper is not None for f in self.fits):
            out += (
                "\n\nceiling c=1: the same points fitted with c = 1 per nat (the paper's form); dAICc = AICc(free c) - AICc(c = 1),"
                "\nnegative favours free c; forms: where the two ceiling intervals do not overlap, the form to believe."
            )
        return out


def fits_frame(fits: Sequence[RunFit], batch: BatchFit | None = None) -> pd.DataFrame:
    """The rows :meth:`RunFit.to_frame` of ``fits``, one per fit, core columns first.

    Parameters
    ----------
    fits : sequence of RunFit
        The fits, with distinct run ids.
    batch : BatchFit, optional
        Where some of ``fits`` came from (:meth:`BatchFit.to_fits`): their rows come from
        :meth:`BatchFit.to_frame` (arrays, one frame for all runs) with each fit's own message;
        the other fits make one frame each.  Used only when its estimates equal those fits'.

    Returns
    -------
    DataFrame
        The same columns, in the same order and with the same values, as concatenating the
        per-run frames.
    """
    pos = {f.run: i for i, f in enumerate(fits)}
    in_batch = _batch_rows(fits, batch, pos)
    parts: list[pd.DataFrame] = []
    if in_batch is not None:
        parts.append(batch.to_frame().set_axis(in_batch))
    taken = set() if in_batch is None else set(in_batch.tolist())
    parts += [fit.to_frame().set_axis([i]) for i, fit in enumerate(fits) if i not in taken]
    columns: dict[str, None] = {}
    first_batch = min(taken) if taken else -1
    rank = {i: j for j, i in enumerate(sorted(set(range(len(fits))) - taken))}
    for i in range(len(fits)):  # the order pd.concat of the per-run frames would give its columns
        if i == first_batch:
            columns.update(dict.fromkeys(parts[0].columns))
        elif i not in taken:
            columns.update(dict.fromkeys(parts[(1 if taken else 0) + rank[i]].columns))
    frame = pd.concat(parts).sort_index().reset_index(drop=True) if parts else pd.DataFrame()
    frame = frame.reindex(columns=[c for c in CORE_COLUMNS if c in columns] + [c for c in columns if c not in CORE_COLUMNS])
    if taken:
        frame["message"] = [f.message for f in fits]  # messages can grow after the batch (warm-up)
    return frame


def _batch_rows(fits: Sequence[RunFit], batch: BatchFit | None, pos: dict[str, int]) -> np.ndarray | None:
    """Positions in ``fits`` of the runs of ``batch``, or None when it does not describe them."""
    if batch is None or len(batch) == 0 or any(r not in pos for r in batch.run_ids):
        return None
    rows = np.array([pos[r] for r in batch.run_ids])
    theta = np.array([fits[i].theta for i in rows])
    same = np.array_equal(theta, batch.theta, equal_nan=True) and [fits[i].status for i in rows] == list(batch.status)
    return rows if same else None


def _num(x: float, digits: int = 4) -> str:
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def fit_dataset(
    data: Dataset,
    mode: str = "free",
    options: FitOptions | None = None,
    *,
    share_by: Sequence[str] | None = None,
) -> FitResults:
    """Fit the law to every run of a :class:`~scaling.data.load.Dataset`.

    Parameters
    ----------
    data : Dataset
        From :func:`scaling.data.load.load` (or a reader).
    mode : {"free", "paper", "shared"}
        ``free``: c per run; ``paper``: c = 1; ``shared``: one c per group of runs.
    options : FitOptions, optional
        Interval method and thresholds; the metric's range comes from ``data``.
    share_by : list of str, optional
        With ``mode="shared"``, columns whose values define the groups sharing c
        (e.g. ``["model"]``); default: all runs share one c.

    Returns
    -------
    FitResults
    """
    if mode not in ("free", "paper", "shared"):
        raise ValueError(f"mode must be free, paper or shared, got {mode!r}")
    opts = replace(options or FitOptions(), perf_range=data.perf_range)
    runs = run_points(data.points)
    fits: dict[str, RunFit] = {}
    batch = None
    if mode == "shared":
        keys = list(share_by) if share_by else []
        missing = [k for k in keys if k not in data.points.columns]
        if missing:
            raise ValueError(f"share_by names unknown column(s) {missing}; use any of {list(data.points.columns)}")
        groups = data.points.groupby(keys, sort=False)["run"].unique() if keys else pd.Series([data.points["run"].unique()])
        for members in groups:
            members = [str(m) for m in members]
            for run, fit in zip(members, fit_shared([runs[m] for m in members], opts)):
                fits[run] = fit
    else:  # the engine, with the full grid so that every fit keeps its profile RSS(c)
        batch = fit_runs(list(runs.values()), mode, opts, search="full")
        fits.update(zip(runs, batch.to_fits()))
    for run, why in data.invalid.items():
        fits[run] = no_estimate(_no_points(run), mode, opts, FitStatus.INVALID_DATA, why)
    ordered = tuple(fits[r] for r in data.runs if r in fits)
    missing_pts = [r for r in data.runs if r not in fits]
    for r in missing_pts:  # valid rows but not a single validation point with entropy
        ordered += (no_estimate(_no_points(r), mode, opts, FitStatus.TOO_FEW_POINTS, "no validation point with an entropy"),)
    warm = {r: w for r, w in data.warmup.items() if isinstance(w, WarmUp) and w.n > 0}
    ordered = tuple(replace(f, message=_with_warmup(f.message, warm[f.run])) if f.run in warm else f for f in ordered)
    counts = {f.run: warm[f.run].n if f.run in warm else 0 for f in ordered}
    return FitResults(ordered, mode, opts, data.notes, data.issues, counts, batch)


def _no_points(run: str) -> RunPoints:
    """A run with no usable point, known by name only."""
    return RunPoints(np.empty(0), np.empty(0), np.empty(0), make_ident(run, "", math.nan, "", ""))


def _with_warmup(message: str, w: WarmUp) -> str:
    steps = ", ".join(f"{s:g}" for s in w.steps)
    return f"{message}; warm-up: {w.n} leading point(s) at step(s) {steps} left out"

