"""Late collapse and systematic misfit (scaling.fitting.diagnostics, rules in scaling.fitting.status)."""

import re

import numpy as np
import pytest
from scipy import stats

from scaling.core import law
from scaling.fitting import engine
from scaling.fitting.diagnostics import check_residuals, collapse_window
from scaling.fitting.engine import fit_runs, runs_from_arrays
from scaling.fitting.result import FitOptions
from scaling.fitting.single import fit_run
from scaling.fitting.status import FitStatus, worst
from scaling.simulate import ar1_noise

OPTS = FitOptions(perf_range=None)
#: measured on clean law runs by analyses/statuses.py (analyses/results/statuses.md): the largest
#: false-alarm rate of an (n, rho) cell, late collapse and systematic misfit.
COLLAPSE_RATE, MISFIT_RATE = 0.012, 0.026


def law_run(rng, n=100, sd=0.01, rho=0.5, c=2.0, fall=0.0, at=0.6):
    """Entropy decaying fast (flat over the last half), performance from the law plus AR(1) noise;
    from ``at`` of the run on, performance falls linearly over 10% of the points by ``fall``."""
    t = np.linspace(0.0, 1.0, n)
    S = 0.05 + 0.5 * np.exp(-8.0 * t)
    beta = 0.3 / float(law.g(np.array([S[0]]), c)[0] - law.g(np.array([S[-1]]), c)[0])
    y = 0.8 - beta * law.g(S, c) + ar1_noise(rng, n, sd, rho) - fall * np.clip((t - at) / 0.1, 0.0, 1.0)
    return np.arange(n, dtype=float) * 2.0, S, y


def test_a_late_fall_with_flat_entropy_is_late_collapse():
    step, S, y = law_run(np.random.default_rng(1), fall=0.1)
    fit = fit_run(S, y, step, options=OPTS)
    assert fit.status is FitStatus.LATE_COLLAPSE
    assert not fit.status.usable
    assert worst([FitStatus.POOR_FIT, FitStatus.LATE_COLLAPSE]) is FitStatus.LATE_COLLAPSE


def test_the_message_names_the_step_and_the_size_of_the_fall():
    step, S, y = law_run(np.random.default_rng(2), fall=0.1)
    fit = fit_run(S, y, step, options=OPTS)
    m = re.search(r"mean over steps ([\d.]+)-([\d.]+)\) and then falls by ([\d.]+) .* from step ([\d.]+)\)", fit.message)
    assert m, fit.message
    first, last, size, tail = (float(v) for v in m.groups())
    assert 0.08 < size < 0.12  # the fall built in is 0.1
    assert first < last < tail <= 0.7 * step[-1]  # the peak is before the fall, which starts at 60% of the run


def test_no_collapse_when_entropy_rises_with_the_fall():
    """The law explains a fall that comes with a rise in entropy: not a collapse."""
    rng = np.random.default_rng(3)
    n = 100
    step = np.arange(n, dtype=float)
    S = np.concatenate([np.linspace(0.6, 0.1, 60), np.linspace(0.1, 0.4, 40)])
    y = 0.9 - 0.6 * law.g(S, 1.0) + ar1_noise(rng, n, 0.01, 0.5)
    fit = fit_run(S, y, step, options=OPTS)
    assert FitStatus.LATE_COLLAPSE not in fit.flags


def _clean_flags(n_runs=200, n=100, rho=0.5, seed=7):
    rng = np.random.default_rng(seed)
    runs = [law_run(rng, n=n, rho=rho) for _ in range(n_runs)]
    step, S, Y = (np.stack(a) for a in zip(*runs))
    return fit_runs(runs_from_arrays(S, Y, step), options=OPTS).flags


def test_few_false_alarms_on_clean_law_runs():
    flags = _clean_flags()
    collapses = sum(FitStatus.LATE_COLLAPSE in f for f in flags)
    misfits = sum(FitStatus.SYSTEMATIC_MISFIT in f for f in flags)
    # the 99.9% binomial bound at the largest rate measured by simulation
    assert collapses <= stats.binom.ppf(0.999, len(flags), COLLAPSE_RATE)
    assert misfits <= stats.binom.ppf(0.999, len(flags), MISFIT_RATE)


def test_a_logistic_curve_is_a_systematic_misfit():
    rng = np.random.default_rng(4)
    n = 200
    S = np.linspace(0.6, 0.05, n)
    y = 0.8 - 0.3 / (1.0 + np.exp(-(S - 0.33) / 0.04)) + ar1_noise(rng, n, 0.01, 0.5)
    fit = fit_run(S, y, np.arange(n, dtype=float), options=OPTS)
    assert FitStatus.SYSTEMATIC_MISFIT in fit.flags
    assert "systematic misfit" in fit.message and "t = " in fit.message
    assert FitStatus.SYSTEMATIC_MISFIT.usable


@pytest.mark.parametrize("scale, shift, s_scale", [(100.0, 5.0, 1.0), (1.0, -0.3, 10.0), (0.5, 0.0, 0.1)])
def test_the_statistics_are_unit_free(scale, shift, s_scale):
    rng = np.random.default_rng(5)
    runs = [law_run(rng, fall=f) for f in (0.0, 0.05, 0.1)]
    step, S, Y = (np.stack(a) for a in zip(*runs))
    base = runs_from_arrays(S, Y, step)
    moved = runs_from_arrays(S * s_scale, Y * scale + shift, step)
    r0, r1 = fit_runs(base, options=OPTS), fit_runs(moved, options=OPTS)
    c0 = check_residuals(base, r0.theta, False)
    c1 = check_residuals(moved, r1.theta, False)
    for key in ("fall_z", "fall_crit", "tail_tau", "misfit_t"):
        np.testing.assert_allclose(getattr(c1, key), getattr(c0, key), rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(c1.fall, c0.fall * scale, rtol=1e-6)
    assert r0.status == r1.status


def test_numpy_and_compiled_paths_give_the_same_statuses(monkeypatch):
    rng = np.random.default_rng(6)
    runs = [law_run(rng, fall=f) for f in (0.0, 0.03, 0.1, 0.2)]
    n = 100
    S = np.linspace(0.6, 0.05, n)
    runs.append((np.arange(n, dtype=float), S, 0.8 - 0.3 / (1.0 + np.exp(-(S - 0.33) / 0.04)) + ar1_noise(rng, n, 0.01, 0.5)))
    step, S, Y = (np.stack(a) for a in zip(*runs))
    table = runs_from_arrays(S, Y, step)
    compiled = fit_runs(table, options=OPTS)
    monkeypatch.setattr(engine, "USE_NUMBA", False)
    plain = fit_runs(table, options=OPTS)
    assert compiled.status == plain.status
    assert compiled.flags == plain.flags
    assert FitStatus.LATE_COLLAPSE in compiled.status and any(FitStatus.SYSTEMATIC_MISFIT in f for f in compiled.flags)


def test_paper_mode_checks_too():
    step, S, y = law_run(np.random.default_rng(8), c=1.0, fall=0.1)
    fit = fit_run(S, y, step, mode="paper", options=OPTS)
    assert fit.status is FitStatus.LATE_COLLAPSE


def test_short_runs_are_not_checked_for_collapse():
    w, t_min = collapse_window(6)
    assert (w, t_min) == (3, 3)
    step, S, y = law_run(np.random.default_rng(9), n=5, fall=0.2)
    fit = fit_run(S, y, step, options=OPTS)
    assert FitStatus.LATE_COLLAPSE not in fit.flags


def test_kendall_tau_from_each_start_equals_scipy(monkeypatch):
    from scipy import stats

    from scaling.fitting import diagnostics
    from scaling.fitting.diagnostics import kendall_tau_from

    rng = np.random.default_rng(7)
    x = np.cumsum(rng.uniform(0.5, 2.0, size=(6, 40)), axis=1)
    y = np.round(rng.normal(size=(6, 40)), 1)  # rounded: ties in y, which tau-b corrects for
    y[5] = 1.0  # constant: tau undefined
    start = np.array([0, 3, 10, 25, 37, 5])
    want = [stats.kendalltau(x[i, s:], y[i, s:]).statistic for i, s in enumerate(start)]
    np.testing.assert_allclose(kendall_tau_from(x, y, start), want, rtol=1e-12, equal_nan=True)
    assert kendall_tau_from(x[:0], y[:0], start[:0]).shape == (0,)
    # long rows, compared in blocks of rows, and rows too long for a block (scipy row by row): the same numbers
    X, Y = np.tile(x, (1, 30)) + np.repeat(np.arange(30) * 100.0, 40), np.tile(y, (1, 30))
    want = [stats.kendalltau(X[i, s:], Y[i, s:]).statistic for i, s in enumerate(start)]
    np.testing.assert_allclose(kendall_tau_from(X, Y, start), want, rtol=1e-12, equal_nan=True)
    monkeypatch.setattr(diagnostics, "_PAIRS_PER_BLOCK", 1000)
    np.testing.assert_allclose(kendall_tau_from(X, Y, start), want, rtol=1e-12, equal_nan=True)
