"""Benchmark: fit a synthetic sweep with the batch engine, the per-run path, curve_fit and lmfit.

Run from the repository root::

    python benchmarks/bench_fit.py            # 1,000 and 10,000 runs of 200 points, B = 200
    python benchmarks/bench_fit.py --quick    # 200 and 1,000 runs, B = 50 (about a minute)
    python benchmarks/bench_fit.py --point-only --sizes 10000   # point fits only

Everything runs in this one process (joblib workers aside, with ``--jobs``).  For each sweep
size it fits the runs (point fits, then 200 bootstrap replicates per run) with

1. our batch engine (:func:`scaling.fitting.engine.fit_runs`), from the tidy table;
2. a ``scipy.optimize.curve_fit`` loop over ``groupby("run")`` with a starting guess from the
   two ends of the run at c = 1, as a user would write it (bootstrap: the same block-bootstrap
   responses as ours, each refitted from the point estimate);
3. lmfit (``lmfit.Model``) the same way, if it is installed;
4. our per-run path (:func:`scaling.fitting.single.fit_run` in a loop), the reference the engine must match.

Slow baselines are timed once, on a random subset of runs, and their time for the whole sweep
is extrapolated linearly (the table says how many runs were timed).  The engine always fits
every run, from the tidy table (splitting it into runs is part of its time); its point-fit rows
show the median of ``--repeats`` timings (3), as they last a fraction of a second.  Thread
pools and joblib's worker processes are started before any timing.  Peak memory is the largest
resident set (this process plus joblib workers) during the step, above what it was before (the
kernel's high-water mark, reset before each step).  "worse RSS" counts fits whose residual sum
of squares exceeds ours by more than 1e-7 relative; "better RSS" the reverse (a fit outside our
search bounds |c| range(S) <= 20 could do that).  Finally the engine is compared run by run
with the per-run path: point estimates, covariances, interval ends, statuses and messages.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.core import intervals, law  # noqa: E402
from scaling.fitting import engine as batch  # noqa: E402
from scaling.fitting.single import FitOptions, fit_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: where ``--write`` puts the output; docs/speed.md includes it.
RESULTS = ROOT / "benchmarks" / "results" / "bench_fit.txt"

N_POINTS = 200


# ----------------------------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------------------------
def simulate_sweep(n_runs: int, n: int = N_POINTS, seed: int = 0) -> pd.DataFrame:
    """A tidy table of ``n_runs`` synthetic RL runs following the law with AR(1) noise.

    Entropy decays exponentially towards a floor with 2% measurement noise; performance is
    ``P0 - beta g_c(S)`` with ``c`` in [0.2, 2.5], a total gain of 0.2-0.6 over the run and
    AR(1) noise (rho = 0.5, sd 0.005-0.02).
    """
    rng = np.random.default_rng(seed)
    R = n_runs
    t = np.arange(n, dtype=float)
    s0, s1 = rng.uniform(0.5, 1.3, R), rng.uniform(0.03, 0.25, R)
    tau = n / rng.uniform(2.0, 5.0, R)
    S = s1[:, None] + (s0 - s1)[:, None] * np.exp(-t[None, :] / tau[:, None])
    S = np.abs(S * (1.0 + 0.02 * rng.standard_normal((R, n))))
    c = rng.uniform(0.2, 2.5, R)
    P0 = rng.uniform(0.55, 0.95, R)
    gain = rng.uniform(0.2, 0.6, R)
    beta = gain / law.g(s0, c)
    sd, rho = rng.uniform(0.005, 0.02, R), 0.5
    e = np.empty((R, n))
    e[:, 0] = rng.standard_normal(R) * sd
    innov = rng.standard_normal((R, n)) * (sd * math.sqrt(1 - rho**2))[:, None]
    for i in range(1, n):
        e[:, i] = rho * e[:, i - 1] + innov[:, i]
    perf = P0[:, None] - beta[:, None] * law.g(S, c[:, None]) + e
    return pd.DataFrame(
        {
            "run": np.repeat([f"run{i:05d}" for i in range(R)], n),
            "step": np.tile(t * 10, R),
            "entropy": S.ravel(),
            "perf": perf.ravel(),
        }
    )


# ----------------------------------------------------------------------------------------
# measurement
# ----------------------------------------------------------------------------------------
class PeakMemory:
    """Largest resident set (this process and its children) during a ``with`` block, in MB above the start.

    On Linux the kernel's own high-water mark is used: writing 5 to ``/proc/<pid>/clear_refs``
    resets ``VmHWM`` at the start and it is read at the end, for this process and each child
    (joblib workers; their peaks are added, an upper bound).  Nothing runs during the block,
    so the timings are undisturbed.  Elsewhere a thread samples the resident set every 10 ms.
    """

    def __init__(self, every: float = 0.01):
        self.every = every
        self.peak = 0.0
        self._thread = None

    @staticmethod
    def _pids() -> list[int]:
        try:
            import psutil

            return [os.getpid()] + [c.pid for c in psutil.Process().children(recursive=True)]
        except ImportError:
            return [os.getpid()]

    @staticmethod
    def _status(pid: int, key: str) -> float:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
        raise OSError(key)

    def _reset_peaks(self) -> bool:
        try:
            for pid in self._pids():
                with open(f"/proc/{pid}/clear_refs", "w") as fh:
                    fh.write("5")
            return True
        except OSError:
            return False

    def _rss(self) -> float:
        total = 0.0
        for pid in self._pids():
            try:
                total += self._status(pid, "VmRSS:")
            except OSError:  # no /proc (macOS, Windows): psutil, if installed
                total += self._psutil_rss(pid)
        return total

    @staticmethod
    def _psutil_rss(pid: int) -> float:
        try:
            import psutil
        except ImportError:
            return 0.0
        try:
            return psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            return 0.0

    def __enter__(self):
        self.base = self._rss()
        if not self._reset_peaks():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss() - self.base)
            time.sleep(self.every)

    def __exit__(self, *exc):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._rss() - self.base)
            return
        high = 0.0
        for pid in self._pids():
            try:
                high += self._status(pid, "VmHWM:")
            except OSError:
                pass
        self.peak = max(0.0, high - self.base)


def timed(fn, repeats: int = 1):
    """Median wall time of ``repeats`` calls of ``fn``, the largest peak memory, and the last result.

    The engine's point fits take a fraction of a second, so a short slowdown of the machine
    would weigh on one timing; the median of a few is steadier.  The baselines run for
    seconds and are timed once.
    """
    times, peaks = [], []
    for _ in range(repeats):
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        peaks.append(mem.peak)
    return float(np.median(times)), max(peaks), out


@dataclass
class Row:
    size: int
    kind: str
    method: str
    timed_runs: int
    seconds: float
    peak_mb: float
    failed: int = 0
    fits: int = 0
    worse: int = 0
    better: int = 0

    @property
    def full_seconds(self) -> float:
        return self.seconds * self.size / self.timed_runs


def law_abc(S, a, b, c):
    return a - b * np.exp(c * S)


def user_guess(S: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """A starting point as a user would write it: the paper's c = 1 through the run's two ends."""
    i0, i1 = int(np.argmax(S)), int(np.argmin(S))
    b = (y[i1] - y[i0]) / (np.exp(S[i0]) - np.exp(S[i1]))
    return y[i1] + b * np.exp(S[i1]), b, 1.0


def rss_of(S, y, a, b, c) -> float:
    with np.errstate(all="ignore"):
        r = y - law_abc(S, a, b, c)
    return float(r @ r) if np.all(np.isfinite(r)) else math.inf


# ----------------------------------------------------------------------------------------
# the contenders
# ----------------------------------------------------------------------------------------
def curve_fit_loop(frame: pd.DataFrame, ours: dict[str, float]):
    """curve_fit per run; returns (failed, worse, better, fits)."""
    from scipy.optimize import OptimizeWarning, curve_fit

    failed = worse = better = 0
    for run, grp in frame.groupby("run", sort=False):
        S = grp["entropy"].to_numpy()
        y = grp["perf"].to_numpy()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                popt, _ = curve_fit(law_abc, S, y, p0=user_guess(S, y), maxfev=5000)
        except (RuntimeError, ValueError):
            failed += 1
            continue
        rss = rss_of(S, y, *popt)
        if not np.isfinite(rss):
            failed += 1
            continue
        worse += rss > ours[run] * (1 + 1e-7) + 1e-300
        better += rss < ours[run] * (1 - 1e-7)
    return failed, worse, better, frame["run"].nunique()


def lmfit_loop(frame: pd.DataFrame, ours: dict[str, float]):
    import lmfit

    model = lmfit.Model(law_abc, independent_vars=["S"])
    failed = worse = better = 0
    for run, grp in frame.groupby("run", sort=False):
        S = grp["entropy"].to_numpy()
        y = grp["perf"].to_numpy()
        a, b, c = user_guess(S, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = model.fit(y, model.make_params(a=a, b=b, c=c), S=S)
            except (ValueError, RuntimeError):
                failed += 1
                continue
        p = res.params
        rss = rss_of(S, y, p["a"].value, p["b"].value, p["c"].value)
        if not res.success or not np.isfinite(rss):
            failed += 1
            continue
        worse += rss > ours[run] * (1 + 1e-7) + 1e-300
        better += rss < ours[run] * (1 - 1e-7)
    return failed, worse, better, frame["run"].nunique()


def bootstrap_samples(run, opts: FitOptions, theta: np.ndarray) -> np.ndarray:
    """The engine's bootstrap responses for one run (same generator, seed and blocks)."""
    S, y = run.entropy, run.perf
    P0, beta, c = theta
    fitted = P0 - beta * law.g(S, c)
    J = intervals.jacobian(S, beta, c)
    L = opts.block_length or intervals.default_block_length(S.size)
    return intervals.residual_block_bootstrap(fitted, y - fitted, J, L, opts.n_boot, np.random.default_rng(opts.seed))


def boot_loop(runs, res: batch.BatchFit, idx, opts, fitter: str):
    """Refit every bootstrap replicate of the runs ``idx`` with curve_fit or lmfit, from the point estimate."""
    from scipy.optimize import OptimizeWarning, curve_fit

    if fitter == "lmfit":
        import lmfit

        model = lmfit.Model(law_abc, independent_vars=["S"])
    failed = worse = better = fits = 0
    for i in idx:
        r = runs[i]
        S = r.entropy
        P0, beta, c = res.theta[i]
        start = (P0 + beta / c, beta / c, c) if c != 0 else user_guess(S, r.perf)
        Y = bootstrap_samples(r, opts, res.theta[i])
        reps = res.replicates[i]
        ours = ((Y - (reps[:, :1] - reps[:, 1:2] * law.g(S[None, :], reps[:, 2:3]))) ** 2).sum(axis=1)
        for b, yb in enumerate(Y):
            fits += 1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    if fitter == "curve_fit":
                        popt, _ = curve_fit(law_abc, S, yb, p0=start, maxfev=5000)
                    else:
                        out = model.fit(yb, model.make_params(a=start[0], b=start[1], c=start[2]), S=S)
                        popt = (out.params["a"].value, out.params["b"].value, out.params["c"].value)
                except (RuntimeError, ValueError):
                    failed += 1
                    continue
            rss = rss_of(S, yb, *popt)
            if not np.isfinite(rss):
                failed += 1
                continue
            worse += rss > ours[b] * (1 + 1e-7) + 1e-300
            better += rss < ours[b] * (1 - 1e-7)
    return failed, worse, better, fits


def per_run_loop(runs, idx, opts):
    return [
        fit_run(runs[i].entropy, runs[i].perf, runs[i].step, options=opts, run=runs[i].ident["run"]) for i in idx
    ]


# ----------------------------------------------------------------------------------------
# agreement with the per-run path
# ----------------------------------------------------------------------------------------
INTERVAL_COLUMNS = [f"{q}{s}" for q in ("ceiling", "a", "b", "c", "beta") for s in ("", "_lo", "_hi")]


def agreement(res: batch.BatchFit, ref: list, idx) -> dict:
    """Largest differences (absolute, or relative above 1) between the engine and the per-run fits."""

    def diff(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        both = np.isfinite(a) & np.isfinite(b)
        if (np.isfinite(a) != np.isfinite(b)).any():
            return math.inf
        return float(np.max(np.abs(a[both] - b[both]) / np.maximum(1.0, np.abs(b[both])))) if both.any() else 0.0

    out = {"theta": 0.0, "cov": 0.0, "intervals": 0.0, "status": 0, "usable": 0, "theta_all": 0.0}
    frame = res.to_frame().iloc[list(idx)]
    for (_, row), f, i in zip(frame.iterrows(), ref, idx):
        same = f.status == res.status[i] and f.message == res.message[i]
        out["status"] += int(not same)
        d_theta = diff(res.theta[i], f.theta)
        out["theta_all"] = max(out["theta_all"], d_theta)
        if not f.status.usable:
            continue
        out["usable"] += 1
        out["theta"] = max(out["theta"], d_theta)
        out["cov"] = max(out["cov"], diff(res.cov[i], f.cov))
        theirs = f.to_frame().iloc[0]
        out["intervals"] = max(out["intervals"], diff(row[INTERVAL_COLUMNS].to_numpy(float), theirs[INTERVAL_COLUMNS].to_numpy(float)))
    return out


# ----------------------------------------------------------------------------------------
def run_size(size: int, args, rng: np.random.Generator, rows: list, checks: list) -> None:
    frame = simulate_sweep(size, seed=size)
    print(f"\n== {size} runs x {N_POINTS} points ==", flush=True)
    have_lmfit = _has("lmfit")
    kinds = [("point", FitOptions())]
    if not args.point_only:
        kinds.append((f"boot B={args.boot}", FitOptions(ci="bootstrap", n_boot=args.boot)))
    for kind, opts in kinds:
        boot = opts.ci == "bootstrap"
        # 1. the engine, from the tidy table (a big bootstrap only with --jobs processes, to keep to 5 minutes)
        if not boot:
            dt, peak, est = timed(lambda: batch.varpro_runs(batch.runs_from_frame(frame)), args.repeats)
            rows.append(Row(size, kind, "engine: estimates only", size, dt, peak, fits=size))
            print(f"  engine, estimates only: {dt:.2f} s", flush=True)
        if not boot and batch.HAVE_NUMBA:  # the numpy path, for comparison with the compiled kernels
            batch.USE_NUMBA = False
            try:
                dt, peak, res_np = timed(lambda: batch.fit_runs(batch.runs_from_frame(frame)), args.repeats)
            finally:
                batch.USE_NUMBA = True
            rows.append(Row(size, kind, "engine, numpy path (1 process)", size, dt, peak, fits=size))
            print(f"  engine, numpy path: {dt:.2f} s", flush=True)
        for jobs in sorted({1, args.jobs}) if (not boot or size <= args.boot_single) else [args.jobs]:
            def engine(jobs=jobs, opts=opts):
                runs = batch.runs_from_frame(frame)
                return runs, batch.fit_runs(runs, options=opts, n_jobs=jobs)

            dt, peak, (runs, res) = timed(engine, 1 if boot else args.repeats)
            workers = "thread" if (batch.HAVE_NUMBA and not boot) else "process"
            label = f"engine ({jobs} {workers}{'es' if workers == 'process' else 's'})" if jobs > 1 else "engine (1 process)"
            rows.append(Row(size, kind, label, size, dt, peak, fits=size))
            print(f"  engine n_jobs={jobs}: {dt:.2f} s", flush=True)
        if not boot:
            same = np.allclose(est[["P0", "beta", "c"]].to_numpy(), res.theta, rtol=0, atol=1e-12, equal_nan=True)
            print(f"  estimates-only equal to the full engine: {same}", flush=True)
            if batch.HAVE_NUMBA:
                numpy_vs_compiled.append(dict(size=size, **_compare(res, res_np)))
        ours = dict(zip(res.run_ids, res.rss))
        n_usable = int(sum(s.usable for s in res.status))
        # 2. curve_fit
        if not boot:
            m = min(size, args.cf_point)
            idx = np.sort(rng.choice(size, m, replace=False))
            sub = frame[frame["run"].isin([runs[i].ident["run"] for i in idx])]
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                failed, worse, better, fits = curve_fit_loop(sub, ours)
                dt = time.perf_counter() - t0
            rows.append(Row(size, kind, "scipy curve_fit loop", m, dt, mem.peak, failed, fits, worse, better))
            print(f"  curve_fit on {m} runs: {dt:.2f} s", flush=True)
            if have_lmfit:
                m = min(size, args.lm_point)
                idx = np.sort(rng.choice(size, m, replace=False))
                sub = frame[frame["run"].isin([runs[i].ident["run"] for i in idx])]
                with PeakMemory() as mem:
                    t0 = time.perf_counter()
                    failed, worse, better, fits = lmfit_loop(sub, ours)
                    dt = time.perf_counter() - t0
                rows.append(Row(size, kind, "lmfit loop", m, dt, mem.peak, failed, fits, worse, better))
                print(f"  lmfit on {m} runs: {dt:.2f} s", flush=True)
        else:
            for fitter, m in (("curve_fit", args.cf_boot), ("lmfit", args.lm_boot)):
                if fitter == "lmfit" and not have_lmfit:
                    continue
                m = min(size, m)
                idx = np.sort(rng.choice(np.flatnonzero(res.has_estimate), m, replace=False))
                with PeakMemory() as mem:
                    t0 = time.perf_counter()
                    failed, worse, better, fits = boot_loop(runs, res, idx, opts, fitter)
                    dt = time.perf_counter() - t0
                name = "scipy curve_fit loop" if fitter == "curve_fit" else "lmfit loop"
                rows.append(Row(size, kind, name, m, dt, mem.peak, failed, fits, worse, better))
                print(f"  {fitter} bootstrap on {m} runs: {dt:.2f} s", flush=True)
        # 3. the per-run path: timed on a subset, compared on every run (or a sample for big bootstraps)
        m_time = min(size, args.ref_time)
        idx = np.sort(rng.choice(size, m_time, replace=False))
        with PeakMemory() as mem:
            t0 = time.perf_counter()
            ref = per_run_loop(runs, idx, opts)
            dt = time.perf_counter() - t0
        rows.append(Row(size, kind, "per-run fit_run loop", m_time, dt, mem.peak, fits=m_time))
        print(f"  fit_run loop on {m_time} runs: {dt:.2f} s", flush=True)
        m_check = size if (not boot or size <= args.check_boot) else args.check_boot
        check_idx = np.arange(size) if m_check == size else np.sort(rng.choice(size, m_check, replace=False))
        rest = np.setdiff1d(check_idx, idx)
        ref_all = dict(zip(idx.tolist(), ref))
        if rest.size:
            ref_all.update(zip(rest.tolist(), _parallel_reference(runs, rest, opts, args.jobs)))
        agree = agreement(res, [ref_all[i] for i in check_idx], check_idx)
        checks.append(dict(size=size, kind=kind, compared=int(check_idx.size), usable_in_sweep=n_usable, **agree))


numpy_vs_compiled: list[dict] = []


def _compare(a: batch.BatchFit, b: batch.BatchFit) -> dict:
    """Largest differences between two engine results (relative above 1), and statuses/messages that differ."""

    def diff(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return math.inf
        both = np.isfinite(x) & np.isfinite(y)
        return float(np.max(np.abs(x[both] - y[both]) / np.maximum(1.0, np.abs(y[both])), initial=0.0))

    fa, fb = a.to_frame(), b.to_frame()
    return {
        "theta": diff(a.theta, b.theta),
        "cov": diff(a.cov, b.cov),
        "intervals": diff(fa[INTERVAL_COLUMNS].to_numpy(float), fb[INTERVAL_COLUMNS].to_numpy(float)),
        "status/message differ": int(sum(x != y for x, y in zip(zip(a.status, a.message), zip(b.status, b.message)))),
    }


def _parallel_reference(runs, idx, opts, jobs):
    if jobs == 1:
        return per_run_loop(runs, idx, opts)
    import joblib

    chunks = np.array_split(idx, max(1, jobs * 4))
    parts = joblib.Parallel(n_jobs=jobs)(
        joblib.delayed(per_run_loop)([runs[i] for i in ch], range(len(ch)), opts) for ch in chunks
    )
    return [f for part in parts for f in part]


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def print_table(rows: list[Row], checks: list[dict]) -> None:
    table = []
    for r in rows:
        engines = [e for e in rows if e.size == r.size and e.kind == r.kind and e.method.startswith("engine (")]
        engine = min(engines, key=lambda e: e.seconds)
        table.append(
            {
                "runs": r.size,
                "fit": r.kind,
                "method": r.method,
                "timed on": r.timed_runs,
                "wall s (all runs)": f"{r.full_seconds:.2f}" + ("" if r.timed_runs == r.size else "*"),
                "peak MB": f"{r.peak_mb:.0f}",
                "x engine": f"{r.full_seconds / engine.seconds:.1f}",
                "failed": f"{r.failed}/{r.fits}" if r.fits and not r.method.startswith(("engine", "per-run")) else "",
                "worse RSS": f"{r.worse}" if not r.method.startswith(("engine", "per-run")) else "",
                "better RSS": f"{r.better}" if not r.method.startswith(("engine", "per-run")) else "",
            }
        )
    print("\n" + pd.DataFrame(table).to_string(index=False))
    print("* timed on a random subset of runs and extrapolated to all runs.  'x engine' is the ratio of wall time")
    print("  to the faster full-engine row (estimates, HAC intervals, goodness of fit and statuses for every run).")
    print("  failed / worse / better count fits (runs, or bootstrap replicates) against the engine's RSS.")
    print("\nengine vs per-run fit_run (max |difference|, relative above 1; intervals = ends of all 95% intervals):")
    frame = pd.DataFrame(checks)
    for col in ("theta", "cov", "intervals", "theta_all"):
        frame[col] = frame[col].map(lambda v: f"{v:.1e}")
    frame = frame.rename(columns={"status": "status/message differ", "usable": "usable runs compared", "theta_all": "theta (all runs)"})
    print(frame.to_string(index=False))
    if numpy_vs_compiled:
        print("\ncompiled kernels (numba) vs the engine's numpy path, point fits, every run (max |difference|, relative above 1):")
        frame = pd.DataFrame(numpy_vs_compiled)
        for col in ("theta", "cov", "intervals"):
            frame[col] = frame[col].map(lambda v: f"{v:.1e}")
        print(frame.to_string(index=False))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 and 1,000 runs, B = 50, smaller baseline subsets")
    parser.add_argument("--sizes", type=int, nargs="+", help="sweep sizes (default 1000 10000)")
    parser.add_argument("--boot", type=int, help="bootstrap replicates per run (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each engine point-fit row; the median is shown (default 3)")
    parser.add_argument("--point-only", action="store_true", help="point fits only (no bootstrap rows)")
    parser.add_argument("--jobs", type=int, default=2, help="joblib processes for the engine's second row (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write", type=Path, nargs="?", const=RESULTS, default=None,
        help=f"also write the output to this file (default {RESULTS.relative_to(ROOT)}), which the docs include",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.write is not None:
        with _tee(args.write):
            _run(args)
    else:
        _run(args)


@contextlib.contextmanager
def _tee(path: Path):
    """Print to the terminal and to ``path`` at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        out = sys.stdout

        class Both:
            def write(self, text: str) -> int:
                fh.write(text)
                return out.write(text)

            def flush(self) -> None:
                fh.flush()
                out.flush()

        sys.stdout = Both()
        try:
            yield
        finally:
            sys.stdout = out


def _run(args: argparse.Namespace) -> None:
    quick = args.quick
    args.sizes = args.sizes or ([200, 1000] if quick else [1000, 10000])
    args.boot = args.boot or (50 if quick else 200)
    args.cf_point = 300 if quick else 2000
    args.lm_point = 100 if quick else 300
    args.cf_boot = 5 if quick else 20
    args.lm_boot = 2 if quick else 3
    args.ref_time = 100 if quick else 200
    args.check_boot = 200 if quick else 600
    args.boot_single = 2000  # above this many runs the bootstrap engine runs only with --jobs processes
    rng = np.random.default_rng(args.seed)
    rows: list[Row] = []
    checks: list[dict] = []
    t0 = time.perf_counter()
    compile_s = None
    if batch.HAVE_NUMBA:  # numba compiles (or loads its on-disk cache) once per process, outside the timings
        from scaling.core import _kernels

        compile_s = _kernels.warm_up()
        # loaded outside the timings, so the engine uses them at every size (by default small
        # fits take the numpy path, which finishes before numba would have loaded)
        batch.COMPILED_MIN_POINTS = 0
        print(f"numba {_kernels.numba.__version__}: kernels compiled or loaded from the cache in {compile_s:.2f} s", flush=True)
    else:
        print("numba is not installed: the engine runs its numpy path", flush=True)
    if args.jobs > 1:  # start the worker pool once, outside the timings
        warm = batch.runs_from_frame(simulate_sweep(4 * args.jobs, seed=1))
        batch.fit_runs(warm, n_jobs=args.jobs, chunk_size=4)  # the thread pool of the compiled point fits
        batch.fit_runs(warm, options=FitOptions(ci="bootstrap", n_boot=50), n_jobs=args.jobs, chunk_size=4)  # joblib's processes
    for size in args.sizes:
        run_size(size, args, rng, rows, checks)
    print_table(rows, checks)
    if compile_s is not None:
        print(f"\nnumba compile / cache load (once per process, not in the timings above): {compile_s:.2f} s")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
