"""One c shared by several runs."""

import numpy as np
import pytest

from scaling.fitting.shared import fit_shared
from scaling.fitting.single import FitOptions, FitStatus, prepare_run
from tests.conftest import simulate_run


def _runs(rng, ceilings, c=0.8, noise=0.0, extra=None):
    runs = []
    for i, P0 in enumerate(ceilings):
        step, S, y = simulate_run(rng, n=80, P0=P0, beta=0.5, c=c, sd=max(noise, 1e-12), rho=0.0)
        runs.append(prepare_run(S, y, step, dict(run=f"r{i}", model="m", params=1e6, algorithm="a", seed="0"))[0])
    return runs + (extra or [])


def test_shared_c_is_recovered_exactly(rng):
    fits = fit_shared(_runs(rng, [0.9, 0.8, 0.7]))
    assert [f.c for f in fits] == pytest.approx([0.8] * 3, abs=1e-6)
    assert [f.ceiling for f in fits] == pytest.approx([0.9, 0.8, 0.7], abs=1e-6)
    assert all(f.mode == "shared" for f in fits)


def test_shared_intervals_include_c_uncertainty(rng):
    """(Coverage of the shared-c HAC intervals, 2 runs, AR(1) 0.5: 95-96% over 300 seeds; see analyses/coverage.py.)"""
    fits = fit_shared(_runs(rng, [0.9, 0.8], noise=0.01))
    for f, true in zip(fits, [0.9, 0.8]):
        summ = f.summary().loc["ceiling"]
        assert abs(summ["estimate"] - true) < 4 * summ["se"] < 0.02
        assert f.cov[2, 2] > 0  # c is estimated, its variance enters the ceiling's
    boot = fit_shared(_runs(np.random.default_rng(3), [0.9, 0.8], noise=0.01), FitOptions(ci="bootstrap", n_boot=200))
    assert boot[0].replicates.shape == (200, 3)
    assert np.all(boot[0].replicates[:, 2] == boot[1].replicates[:, 2])  # one c per replicate


def test_a_broken_run_does_not_inform_c(rng):
    S = np.linspace(0.8, 0.3, 60)
    flat = prepare_run(S, 0.1 + rng.normal(0, 0.02, 60), None, dict(run="flat", model="m", params=1e6, algorithm="a", seed="0"))[0]
    short = prepare_run(S[:3], S[:3], None, dict(run="short", model="m", params=1e6, algorithm="a", seed="0"))[0]
    fits = fit_shared(_runs(rng, [0.9, 0.8], extra=[flat, short]))
    assert fits[0].c == pytest.approx(0.8, abs=1e-6)
    assert fits[2].c == pytest.approx(0.8, abs=1e-6) and fits[2].fixed_c
    assert "not used to estimate the shared c" in fits[2].message
    assert fits[3].status is FitStatus.TOO_FEW_POINTS


def test_fixed_common_c(rng):
    fits = fit_shared(_runs(rng, [0.9, 0.8], c=1.0), c=1.0)
    assert all(f.c == 1.0 and f.fixed_c for f in fits)
    assert [f.ceiling for f in fits] == pytest.approx([0.9, 0.8], abs=1e-6)
