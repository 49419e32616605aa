"""Kernels of the law: the basis function, the linear solve and variable projection."""

import numpy as np
import pytest
from scipy import optimize

from scaling.core import law


def test_g_is_smooth_through_zero():
    S = np.linspace(0, 2, 7)
    assert np.allclose(law.g(S, 0.0), S)
    # the limit from both sides agrees with the series branch
    assert np.allclose(law.g(S, 1e-9), S, atol=1e-8)
    assert np.allclose(law.g(S, -1e-7), law.g(S, 0.0), atol=1e-6)
    assert np.allclose(law.g(S, 1.0), np.expm1(S))


def test_dg_dc_matches_central_differences():
    S = np.linspace(0.05, 1.5, 9)
    for c in (-2.0, -0.3, 1e-8, 0.7, 3.0):
        h = 1e-6
        numeric = (law.g(S, c + h) - law.g(S, c - h)) / (2 * h)
        assert np.allclose(law.dg_dc(S, c), numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("a,b,c", [(0.9, 0.3, 1.3), (0.7, 0.05, 3.0), (1.2, 0.9, 0.4), (0.5, -0.2, -1.5)])
def test_varpro_recovers_noiseless_parameters(a, b, c):
    S = np.linspace(0.8, 0.1, 60)
    y = a - b * np.exp(c * S)
    sol = law.varpro(S, y)
    c_hat = float(sol.c)
    assert c_hat == pytest.approx(c, abs=1e-6)
    assert float(sol.beta) / c_hat == pytest.approx(b, abs=1e-6)
    assert float(sol.P0) + float(sol.beta) / c_hat == pytest.approx(a, abs=1e-6)
    assert float(sol.P0) == pytest.approx(a - b, abs=1e-7)


def test_varpro_equals_brute_force_three_parameter_least_squares(rng):
    S = 0.05 + 0.6 * np.exp(-np.arange(80) / 25)
    y = 0.95 - 0.6 * law.g(S, 1.2) + rng.normal(0, 0.02, S.size)
    sol = law.varpro(S, y)

    def resid(th):
        return y - (th[0] - th[1] * np.exp(th[2] * S))

    # a dense multi-start of a plain 3-parameter solver over the whole box
    best = None
    for c0 in np.linspace(-20, 20, 41) / np.ptp(S):
        X = np.column_stack([np.ones_like(S), -np.exp(c0 * S)])
        a0, b0 = np.linalg.lstsq(X, y, rcond=None)[0]
        r = optimize.least_squares(resid, [a0, b0, c0], method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
        if best is None or r.cost < best.cost:
            best = r
    rss_brute = 2 * best.cost
    assert float(sol.rss) <= rss_brute * (1 + 1e-9)
    assert float(sol.rss) == pytest.approx(rss_brute, rel=1e-8)
    a, b, c = best.x
    assert float(sol.c) == pytest.approx(c, abs=1e-5)
    assert float(sol.P0) == pytest.approx(a - b, abs=1e-7)


def test_batch_parabola_refinement_agrees_with_brent(rng):
    S = np.linspace(0.7, 0.05, 50)
    Y = 0.9 - 0.4 * law.g(S, 0.8) + rng.normal(0, 0.01, (40, S.size))
    batch = law.varpro(S, Y, refine="parabola")
    single = np.array([float(law.varpro(S, y).c) for y in Y])
    assert np.max(np.abs(batch.c - single)) < 1e-4 * np.ptp(law.c_bounds(S))
    single_rss = np.array([float(law.varpro(S, y).rss) for y in Y])
    assert np.all(batch.rss <= single_rss * (1 + 1e-6))


def test_shared_varpro_sums_profiles(rng):
    S1, S2 = np.linspace(0.7, 0.05, 40), np.linspace(0.5, 0.02, 30)
    y1 = 0.9 - 0.3 * law.g(S1, 1.1)
    y2 = 0.8 - 0.5 * law.g(S2, 1.1)
    sol = law.varpro_shared([S1, S2], [y1, y2])
    assert float(sol.c) == pytest.approx(1.1, abs=1e-6)
    assert [float(p) for p in sol.P0] == pytest.approx([0.9, 0.8], abs=1e-7)


def test_c_bounds_reject_constant_entropy():
    with pytest.raises(ValueError, match="no spread"):
        law.c_bounds(np.full(5, 0.3))
