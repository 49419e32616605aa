"""The fitting engine: one implementation of the point fit, checked against independent references.

The references are the per-run variable projection (:func:`scaling.core.law.varpro`, grid plus
bounded scalar search, no shared code with the engine's search), the residual block bootstrap
refitted run by run with it, and the engine's numpy path for its compiled kernels."""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import simulate_run

from scaling.core import intervals, law
from scaling.core.units import Units
from scaling.data.load import ColumnMap, load
from scaling.data.runtable import prepare_run
from scaling.fitting import engine as batch
from scaling.fitting.dataset import FitResults, fit_dataset
from scaling.fitting.result import FitOptions
from scaling.fitting.single import fit_run, run_points
from scaling.fitting.status import FitStatus
from tests.fitting.test_reach_and_degenerate import GEMMA8_S, GEMMA8_Y

DATA = Path(__file__).resolve().parents[2] / "data" / "runs.csv"
NUMERIC = [f"{q}{s}" for q in ("ceiling", "a", "b", "c", "beta") for s in ("", "_lo", "_hi")] + [
    "ceiling_se", "r2", "aicc_linear", "aicc_paper",
]  # fmt: skip
#: functions of log(RSS): rounding noise when the fit is exact, so compared only when RSS is not
FROM_RSS = ["rmse", "aicc", "bic", "aicc_free"]


def close(a, b, tol=1e-8) -> bool:
    """Equal to ``tol`` (absolute, or relative above 1), with NaN in the same places."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    both = np.isfinite(a) & np.isfinite(b)
    return bool(np.all(np.abs(a[both] - b[both]) <= tol * np.maximum(1.0, np.abs(b[both]))))


def sweep(rng, k: int = 30):
    """Runs of three lengths with varied laws and noise, plus runs that break every rule."""
    raw = []
    for i in range(k):
        n = (40, 80, 120)[i % 3]
        step, S, y = simulate_run(
            rng, n=n, P0=rng.uniform(0.5, 1.05), beta=rng.uniform(0.05, 1.0), c=rng.uniform(-1, 3), sd=rng.uniform(0.003, 0.05)
        )
        raw.append((S, y, step))
    raw += [
        (GEMMA8_S, GEMMA8_Y, None),  # c = 79.9, b ~ 8e-11: a step-like fit, far extrapolation
        (np.array([0.8, 0.6, 0.4, 0.2]), np.array([0.30, 0.52, 0.61, 0.70]), None),  # 4 points: no covariance, degenerate
        (np.linspace(0.8, 0.5, 60), 0.9 - 0.3 * law.g(np.linspace(0.8, 0.5, 60), 1.0) + 0.004 * np.sin(np.arange(60)), None),  # reach 1.67
        (np.linspace(0.9, 0.3, 120), 0.9 - 3.0 * law.g(np.linspace(0.9, 0.3, 120), -4.0) + 0.003 * np.cos(np.arange(120)), None),  # c < 0
    ]
    S = np.linspace(0.8, 0.1, 60)
    step_fn = np.full(60, 0.8)
    step_fn[:2] = [0.2, 0.5]
    raw += [
        (S, np.full(60, 0.42), None),  # constant performance: flat profile
        (S, step_fn, None),  # c at its bound
        (np.linspace(0.1, 0.8, 60), 0.9 - 0.3 * np.exp(S[::-1]), None),  # entropy rising
        (np.full(20, 0.3), np.linspace(0.1, 0.5, 20), None),  # constant entropy
        (S[:3], np.array([0.1, 0.2, 0.3]), None),  # too few points
        (S * 1e120, 0.9 - 0.3 * np.exp(S), None),  # too large for double precision
        (S, 0.9 - 0.5 * law.g(S, 1.3), None),  # noiseless
    ]
    runs = [prepare_run(e, p, s, dict(run=f"r{i}", model="m", params=1e6, algorithm="a", seed="0"))[0] for i, (e, p, s) in enumerate(raw)]
    return raw, runs


def reference(raw, mode: str, opts: FitOptions):
    """fit_run on each run (the engine on a batch of one, full grid, numpy path)."""
    return [fit_run(S, y, st, mode=mode, options=opts, run=f"r{i}", model="m", params=1e6, algorithm="a", seed="0") for i, (S, y, st) in enumerate(raw)]


def varpro_reference(runs, res, mode: str) -> None:
    """The engine's estimates equal the per-run VarPro (law.varpro / law.solve_linear) to 1e-9."""
    for i, r in enumerate(runs):
        if not res.has_estimate[i]:
            continue
        if mode == "paper":
            P0, beta, _ = law.solve_linear(r.entropy, r.perf, 1.0)
            want = np.array([P0, beta, 1.0], dtype=float)
        else:
            sol = law.varpro(r.entropy, r.perf)
            if not res.status[i].usable:  # flat or step-like profiles: the optimum is not unique
                continue
            want = np.array([sol.P0, sol.beta, sol.c], dtype=float)
        assert close(res.theta[i], want, 1e-9), (i, res.theta[i], want)


def bootstrap_reference(r, fit, opts: FitOptions, fixed: bool) -> np.ndarray:
    """Replicates drawn and refitted run by run: residual block bootstrap + law.varpro.

    Drawn and refitted in the run's internal units (:class:`scaling.core.units.Units`), as the
    engine does: the leverages of a nearly degenerate fit (c near its bound, b -> 0) come from a
    Gram matrix so ill-conditioned that they differ between units by more than 1e-8.
    """
    units = Units.of_points(r.entropy, r.perf)
    S, y = units.internal(r.entropy, r.perf)
    if fixed:
        c = float(units.rate_in(fit.c))
        P0, beta, _ = law.solve_linear(S, y, c)
    else:
        sol = law.varpro(S, y)
        P0, beta, c = float(sol.P0), float(sol.beta), float(sol.c)
    fitted = P0 - beta * law.g(S, c)
    J = intervals.jacobian(S, beta, c, fit_c=not fixed)
    rng = np.random.default_rng(opts.seed)
    L = opts.block_length or intervals.default_block_length(S.size)
    Y = intervals.residual_block_bootstrap(fitted, y - fitted, J, L, opts.n_boot, rng)
    if fixed:
        bP0, bbeta, _ = law.solve_linear(S, Y, c)
        return units.theta(np.column_stack([bP0, bbeta, np.full(opts.n_boot, c)]))
    bs = law.varpro(S, Y, law.c_bounds(S), refine="newton")
    return units.theta(np.column_stack([bs.P0, bs.beta, bs.c]))


def assert_same(res: batch.BatchFit, ref: list, boot: bool = False) -> None:
    fits = res.to_fits()
    frame = res.to_frame()
    expected = FitResults(tuple(ref), res.mode, res.options).to_frame()
    assert list(frame.columns) == list(expected.columns)
    for i, (f, r) in enumerate(zip(fits, ref)):
        assert (f.status, f.flags, f.message) == (r.status, r.flags, r.message), i
        assert close(f.theta, r.theta, 1e-10), (i, f.theta, r.theta)
        assert close(f.profile_c, r.profile_c, 0) and close(f.profile_rss, r.profile_rss, 1e-10), i
        if not r.status.usable:  # flat or degenerate profiles: same estimate, intervals may differ in rounding
            continue
        assert close(f.cov, r.cov), i
        exact = float(law.varpro(r.entropy, r.perf).rss) <= 1e-20 * np.sum((r.perf - r.perf.mean()) ** 2)
        cols = NUMERIC + ([] if exact else FROM_RSS)
        assert close(frame.loc[i, cols].to_numpy(float), expected.loc[i, cols].to_numpy(float)), i
        assert f.summary().round(12).equals(r.summary().round(12)) or close(f.summary().to_numpy(), r.summary().to_numpy())
        if boot:
            assert close(f.replicates, r.replicates) and close(f.replicate_cov, r.replicate_cov, 1e-7), i


@pytest.mark.parametrize("search", ["coarse", "full"])
@pytest.mark.parametrize("mode", ["free", "paper"])
def test_engine_equals_per_run_fits(rng, mode, search):
    raw, runs = sweep(rng)
    opts = FitOptions()
    res = batch.fit_runs(runs, mode, opts, search=search)
    ref = reference(raw, mode, opts)
    assert_same(res, ref)
    varpro_reference(runs, res, mode)
    statuses = {s.value for s in res.status}
    assert {"too few points", "invalid data", "entropy not decreasing"} <= statuses
    assert len(res) == len(runs) and res.status_counts().sum() == len(runs)


@pytest.mark.parametrize("mode", ["free", "paper"])
def test_bootstrap_equals_per_run_replicates_and_intervals(rng, mode):
    raw, runs = sweep(rng, k=9)
    opts = FitOptions(ci="bootstrap", n_boot=100, seed=3)
    res = batch.fit_runs(runs, mode, opts)
    assert_same(res, reference(raw, mode, opts), boot=True)
    checked = 0
    for r, f in zip(runs, res.to_fits()):
        # replicates of the 8-point gemma run include fits next to the bounds of c (c = -224 of
        # -233, ceiling 4e13), so ill-conditioned that equal data in other units differ by rounding
        if f.status.usable and f.n_points > 8:
            assert close(f.replicates, bootstrap_reference(r, f, opts, mode == "paper"), 1e-8), f.run
            checked += 1
    assert checked >= 5


def test_fit_dataset_equals_fit_run_run_by_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load(DATA, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    res = fit_dataset(ds)
    opts = replace(FitOptions(), perf_range=ds.perf_range)
    ref = [
        fit_run(r.entropy, r.perf, r.step, options=opts, **{k: r.ident[k] for k in ("run", "model", "params", "algorithm", "seed")})
        for r in (run_points(ds.points)[f.run] for f in res.fits)
    ]
    assert len(res) == 45
    a, b = res.to_frame(), FitResults(tuple(ref), "free", opts).to_frame()
    assert (a["status"] == b["status"]).all() and (a["message"] == b["message"]).all()
    for col in NUMERIC:
        assert close(a[col], b[col], 1e-12), col
    assert all(close(f.profile_rss, r.profile_rss, 1e-12) for f, r in zip(res.fits, ref))


def test_parallel_chunks_give_identical_numbers(rng):
    raw, runs = sweep(rng, k=12)
    opts = FitOptions(ci="bootstrap", n_boot=60)
    serial = batch.fit_runs(runs, options=opts, chunk_size=3)
    parallel = batch.fit_runs(runs, options=opts, chunk_size=3, n_jobs=2)
    threads = batch.fit_runs(runs, options=opts, chunk_size=5, n_jobs=2, prefer="threads")
    for other in (parallel, threads):
        assert np.array_equal(serial.theta, other.theta, equal_nan=True)
        assert np.array_equal(serial.replicates, other.replicates, equal_nan=True)
        assert serial.message == other.message


def test_dask_cluster_as_joblib_backend(rng):
    distributed = pytest.importorskip("distributed")
    import joblib

    raw, runs = sweep(rng, k=6)
    opts = FitOptions(ci="bootstrap", n_boot=50)
    serial = batch.fit_runs(runs, options=opts, chunk_size=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster), joblib.parallel_config(backend="dask"):
            remote = batch.fit_runs(runs, options=opts, chunk_size=2, n_jobs=-1)
    assert np.array_equal(serial.theta, remote.theta, equal_nan=True)
    # two worker threads of one process share BLAS's thread setting, which each sets and restores
    # around its chunk: products of a replicate can then run on another thread count and differ in
    # the last bits (seen once: 3e-13); the numbers are the same to far below any reported digit
    assert np.allclose(serial.replicates, remote.replicates, rtol=1e-10, atol=0, equal_nan=True)
    assert np.allclose(serial.replicate_cov, remote.replicate_cov, rtol=1e-8, atol=1e-30, equal_nan=True)


@pytest.mark.parametrize("seed", [0, 13, 34, 53])
def test_coarse_search_finds_the_same_minimum_among_several(seed):
    # pure noise around a constant: profiles with two or three local minima of nearly equal depth
    S = np.linspace(1.0, 0.1, 30)
    y = 0.5 + 0.05 * np.random.default_rng(seed).normal(size=30)
    ref = law.varpro(S, y)
    prof = ref.profile
    minima = np.sort(prof[1:-1][(prof[1:-1] < prof[:-2]) & (prof[1:-1] < prof[2:])])
    assert minima.size >= 2 and minima[1] < 1.05 * minima[0]  # the case is what it claims to be
    got = batch.fit_runs(batch.runs_from_arrays([S], [y]))
    assert got.theta[0, 2] == pytest.approx(float(ref.c), abs=1e-9 * np.ptp(ref.grid))
    assert got.rss[0] == pytest.approx(float(ref.rss), rel=1e-12)


def test_runs_from_frame_matches_the_per_run_grouping():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load(DATA, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    shuffled = ds.points.sample(frac=1.0, random_state=0)
    fast = {r.ident["run"]: r for r in batch.runs_from_frame(shuffled)}
    slow = run_points(ds.points)
    assert set(fast) == set(slow)
    for run, r in slow.items():
        assert np.array_equal(fast[run].entropy, r.entropy) and np.array_equal(fast[run].step, r.step)
        assert {k: fast[run].ident[k] for k in ("model", "algorithm", "seed", "task")} == {k: r.ident[k] for k in ("model", "algorithm", "seed", "task")}


def test_results_api(rng):
    raw, runs = sweep(rng, k=6)
    res = batch.fit_runs(runs)
    ceil = res.intervals("ceiling")
    assert list(ceil.columns) == ["run", "estimate", "se", "lo", "hi"] and len(ceil) == len(runs)
    ok = np.array([s.usable for s in res.status])
    assert np.all(ceil["lo"][ok] < ceil["estimate"][ok]) and np.all(ceil["estimate"][ok] < ceil["hi"][ok])
    summ = res.summary()
    assert summ["runs"].sum() == len(runs)
    one = res.fit(0)
    assert one.run == "r0" and one.summary().shape[0] == 6  # ceiling, a, b, c, beta and ceiling_c1
    with pytest.raises(ValueError, match="name must be"):
        res.intervals("slope")


def test_bad_arguments_raise_value_error(rng):
    _, runs = sweep(rng, k=3)
    with pytest.raises(ValueError, match="mode"):
        batch.fit_runs(runs, mode="shared")
    with pytest.raises(ValueError, match="search"):
        batch.fit_runs(runs, search="fine")
    with pytest.raises(ValueError, match="n_jobs"):
        batch.fit_runs(runs, n_jobs=0)
    with pytest.raises(ValueError, match="same number of runs"):
        batch.runs_from_arrays([np.ones(5)], [])


def test_million_points_in_one_run_fit_quietly():
    n = 10**6
    rng = np.random.default_rng(0)
    step = np.arange(n, dtype=float)
    S = 0.05 + 0.6 * np.exp(-step / (n / 3))
    y = 0.95 - 0.6 * law.g(S, 1.0) + rng.normal(0, 0.01, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = batch.fit_runs(batch.runs_from_arrays([S], [y], [step]))
    assert res.status[0] is FitStatus.OK
    lo, hi = res.intervals("ceiling")[["lo", "hi"]].iloc[0]
    assert lo < 0.95 < hi and hi - lo < 1e-3


def test_empty_and_all_bad_inputs_return_statuses():
    assert len(batch.fit_runs([])) == 0
    runs = batch.runs_from_arrays([[np.nan] * 5, [0.3, 0.2], [0.5] * 6], [[1.0] * 5, [0.1, 0.2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    res = batch.fit_runs(runs)
    assert [s.value for s in res.status] == ["too few points"] * 3
    assert res.to_frame()["ceiling"].isna().all()
    frame = pd.DataFrame({"run": [], "step": [], "entropy": [], "perf": []})
    assert len(batch.runs_from_frame(frame)) == 0


# ----- the compiled kernels (numba) -----------------------------------------------------
needs_numba = pytest.mark.skipif(not batch.HAVE_NUMBA, reason="numba is not installed (the numpy path is then the engine)")


def engine(runs, mode, opts, compiled: bool, **kw):
    old = batch.USE_NUMBA, batch.COMPILED_MIN_POINTS
    batch.USE_NUMBA, batch.COMPILED_MIN_POINTS = compiled, 0  # compiled: whatever the size
    try:
        return batch.fit_runs(runs, mode, opts, **kw)
    finally:
        batch.USE_NUMBA, batch.COMPILED_MIN_POINTS = old


@needs_numba
@pytest.mark.parametrize("mode", ["free", "paper"])
def test_compiled_kernels_equal_numpy_path_and_per_run_fits(rng, mode):
    raw, runs = sweep(rng, k=45)
    opts = FitOptions()
    fast = engine(runs, mode, opts, compiled=True)
    slow = engine(runs, mode, opts, compiled=False)
    assert_same(fast, reference(raw, mode, opts))
    assert fast.status == slow.status and fast.message == slow.message and fast.flags == slow.flags
    # every kind of run the rules tell apart is in the sweep, worded the same on both paths
    messages = " | ".join(slow.message)
    kinds = ["performance is constant", "entropy is constant", "overflow double precision", "at least 4 are needed",
             "entropy does not fall", "converged inside the bounds", "far extrapolation"]
    kinds += ["at its bound", "degenerate fit: the interval for c", "bends away from the data"] if mode == "free" else []
    for words in kinds:
        assert words in messages, words
    assert "nan" not in messages.lower()
    usable = np.array([s.usable for s in slow.status])
    assert close(fast.theta, slow.theta, 1e-10)
    assert close(fast.cov[usable], slow.cov[usable])
    a, b = fast.to_frame(), slow.to_frame()
    for col in NUMERIC:
        assert close(a.loc[usable, col], b.loc[usable, col]), col


@needs_numba
def test_compiled_hac_equals_numpy_hac_on_law_shaped_runs(rng):
    from scaling.core import _kernels, intervals

    assert _kernels.load()
    sims = [simulate_run(rng, n=150, P0=0.9, beta=rng.uniform(0.1, 0.6), c=rng.uniform(0.3, 2.5), sd=0.01) for _ in range(40)]
    S = np.stack([s[1] for s in sims])
    y = np.stack([s[2] for s in sims])
    step = np.stack([s[0] for s in sims]).astype(float)
    c, at_bound, lo, hi, need = _kernels.search(S, y)
    assert not need.any()
    lags = intervals.newey_west_lags(150)
    for fixed in (False, True):
        c_hat = np.ones(40) if fixed else c
        out = _kernels.point_fit(S, y, step, c_hat, fixed, c, lags, True, batch._shrink_rule(), np.ones(40))
        theta, cov, state = out[0], out[1], out[-1]
        assert (state == 0).mean() > 0.9  # the kernel computes the covariances itself, not numpy
        resid = batch._at_c(S, y, c_hat)[4]
        ref = intervals.hac_cov_batch(S, theta, resid, lags, fit_c=not fixed)
        done = state == 0
        assert close(cov[done], ref[done], 1e-9)
        assert close(theta, np.column_stack(batch._at_c(S, y, c_hat)[:2] + (c_hat,)), 1e-12)


@needs_numba
@pytest.mark.parametrize("seed", [0, 13])
def test_compiled_search_hands_multimodal_profiles_to_the_full_grid(seed):
    from scaling.core import _kernels

    assert _kernels.load()
    S = np.linspace(1.0, 0.1, 30)
    y = 0.5 + 0.05 * np.random.default_rng(seed).normal(size=30)
    _, _, _, _, need = _kernels.search(S[None, :], y[None, :])
    assert need[0]  # two or more minima on the coarse profile: the numpy path's full grid decides
    ref = law.varpro(S, y)
    got = engine(batch.runs_from_arrays([S], [y]), "free", FitOptions(), compiled=True)
    assert got.theta[0, 2] == pytest.approx(float(ref.c), abs=1e-9 * np.ptp(ref.grid))


@needs_numba
@pytest.mark.parametrize("kw", [dict(chunk_size=5), dict(), dict(prefer="processes")], ids=["chunks of 5", "default chunks", "joblib processes"])
def test_compiled_threads_give_identical_numbers(rng, kw):
    # the sweep mixes lengths with runs the chunks must set aside (constant entropy, 1e120 values)
    _, runs = sweep(rng, k=24)
    serial = batch.fit_runs(runs)
    parallel = batch.fit_runs(runs, n_jobs=2, **kw)
    if kw.get("prefer") == "processes":
        # a worker process may compile the kernels itself (cold numba cache), and its machine code
        # can round the HAC sums differently in the last bits: equal to rounding, not bit for bit
        assert close(parallel.theta, serial.theta, 1e-12) and close(parallel.cov, serial.cov, 1e-12)
    else:  # threads share this process's compiled code: bit for bit
        assert np.array_equal(serial.theta, parallel.theta, equal_nan=True)
        assert np.array_equal(serial.cov, parallel.cov, equal_nan=True)
    assert serial.status == parallel.status and serial.message == parallel.message
    assert "overflow double precision" in serial.message[-2] and "entropy is constant" in serial.message[-4]
    assert batch._thread_pool(2) is batch._thread_pool(2)  # one pool for the session


@needs_numba
def test_shrink_rule_of_the_hac_is_recognised():
    # the compiled HAC follows intervals.hac_cov_batch's way of stabilising the VAR(1) matrix;
    # an unrecognised rule would silently send every covariance back to numpy
    assert batch._shrink_rule() == 0


@needs_numba
def test_compiled_entropy_trend_claims_a_fall_only_when_kendall_tau_is_below_the_threshold():
    # the kernel answers -1 ("certainly tau < -0.2") from a block bound or Spearman's rho, and
    # leaves the rest (NaN) to scipy; a false -1 would hide a "not decreasing" status
    from scipy import stats

    from scaling.core import _kernels

    assert not batch.HAVE_NUMBA or _kernels.load()  # the compiled kernel when numba is there
    rng = np.random.default_rng(7)
    claimed, strong, strong_claimed = 0, 0, 0
    for trial in range(400):
        n = int(rng.integers(3, 120))
        trend = rng.uniform(-1.0, 0.3)
        S = np.exp(trend * np.linspace(0, 3, n)) + rng.uniform(0.0, 0.4) * rng.standard_normal(n)
        tied = trial % 5 == 0
        if tied:
            S = np.round(S, 1)  # ties in entropy
        step = np.arange(n, dtype=float)
        if trial % 17 == 0:
            step[n // 2] = step[n // 2 - 1]  # a tied step: always left to scipy
            tied = True
        buf = np.empty(n // _kernels.TREND_BLOCK + 1)
        got = _kernels._trend(step, S, buf, buf.copy())
        tau = stats.kendalltau(step, S).statistic
        if got == -1.0:
            claimed += 1
            assert tau < -0.2, (trial, tau)
        else:
            assert np.isnan(got)
        if not tied and tau < -0.7:
            strong += 1
            strong_claimed += got == -1.0
    assert claimed > 50 and strong_claimed >= 0.9 * strong  # the shortcut settles clearly falling runs


@needs_numba
def test_threads_leave_the_blas_setting_as_they_found_it(rng, monkeypatch):
    # BLAS's thread count is one setting for the whole process: worker threads that each set
    # and restore it can leave it at 1 for the rest of the session
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(batch, "COMPILED_MIN_POINTS", 0)  # compiled point fits: the thread pool
    before = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    _, runs = sweep(rng, k=24)
    for _ in range(3):
        batch.fit_runs(runs, n_jobs=2, chunk_size=3)
    after = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert after == before


def _fit_in_child(runs, queue):
    queue.put(batch.fit_runs(runs, n_jobs=2).theta)


@needs_numba
@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is Linux's default")
def test_a_forked_child_gets_its_own_thread_pool(rng, monkeypatch):
    # a thread pool copied by fork has no threads behind it: the child would wait forever
    import multiprocessing

    monkeypatch.setattr(batch, "COMPILED_MIN_POINTS", 0)  # compiled point fits: the thread pool (the child inherits it)
    _, runs = sweep(rng, k=12)
    serial = batch.fit_runs(runs, n_jobs=2)  # the parent's pool exists before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_fit_in_child, args=(runs, queue))
    child.start()
    theta = queue.get(timeout=120)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert np.array_equal(theta, serial.theta, equal_nan=True)


def test_small_fits_do_not_load_numba():
    # importing numba and loading the kernels costs about 0.4 s: a fit of the bundled data
    # (5,395 points) takes the numpy path and never imports it; past the threshold it does
    code = (
        "import sys, warnings; warnings.simplefilter('ignore');"
        "from scaling.data.sources import load; from scaling.fitting import engine;"
        "from scaling.fitting.dataset import fit_dataset;"
        "ds = load('data/runs.csv', run='task,model,algorithm,seed', perf='val_acc');"
        "fit_dataset(ds, 'free'); print('numba' in sys.modules, end=' ');"
        "engine.COMPILED_MIN_POINTS = 1; fit_dataset(ds, 'free'); print(('numba' in sys.modules) == engine.HAVE_NUMBA)"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
