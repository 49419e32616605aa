"""Properties that must hold for every input (hypothesis, derandomized so CI is deterministic)."""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling.core import law
from scaling.data.load import load
from scaling.fitting import engine as batch
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.single import FitOptions, FitStatus, RunFit, fit_run

PROPERTY = settings(
    derandomize=True, database=None, deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def law_runs(draw, min_n: int = 12, max_n: int = 60):
    """A run from the law with AR(1) noise: (step, entropy, perf)."""
    n = draw(st.integers(min_n, max_n))
    c = draw(st.floats(-1.5, 3.0))
    P0 = draw(st.floats(0.3, 0.95))
    gain = draw(st.floats(0.1, 0.6))
    s0, s1 = draw(st.floats(0.4, 1.5)), draw(st.floats(0.02, 0.3))
    sd = draw(st.floats(0.001, 0.03))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    step = np.arange(n, dtype=float) * draw(st.integers(1, 50))
    S = s1 + (s0 - s1) * np.exp(-np.arange(n) / (n / 3))
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.5 * e[i - 1] + rng.normal(0, sd)
    y = P0 - gain / law.g(s0, c) * law.g(S, c) + e
    return step, S, y


def same_fit(a: RunFit, b: RunFit, rel: float = 0.0) -> None:
    assert a.status == b.status and a.flags == b.flags
    if rel == 0.0:
        assert np.array_equal(a.theta, b.theta, equal_nan=True)
        assert np.array_equal(a.cov, b.cov, equal_nan=True)
    else:
        assert np.allclose(a.theta, b.theta, rtol=rel, atol=rel, equal_nan=True)


@PROPERTY
@given(run=law_runs(), shift=st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6)))
def test_shifting_step_numbers_changes_nothing(run, shift):
    step, S, y = run
    same_fit(fit_run(S, y, step), fit_run(S, y, step + shift))


@PROPERTY
@given(run=law_runs(), data=st.data())
def test_reordering_rows_changes_nothing(run, data):
    step, S, y = run
    order = data.draw(st.permutations(range(S.size)))
    same_fit(fit_run(S, y, step), fit_run(S[order], y[order], step[order]))


@PROPERTY
@given(runs=st.lists(law_runs(max_n=30), min_size=2, max_size=3), data=st.data())
def test_shuffled_and_shifted_tidy_table_fits_the_same(runs, data):
    rows = []
    for k, (step, S, y) in enumerate(runs):
        rows.append(pd.DataFrame({"run": f"run {k}", "step": step, "entropy": S, "perf": y}))
    frame = pd.concat(rows, ignore_index=True)
    order = data.draw(st.permutations(range(len(frame))))
    shift = data.draw(st.integers(0, 10**5))
    moved = frame.iloc[list(order)].assign(step=lambda f: f["step"] + shift)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fit_dataset(load(frame, perf_scale="none"))
        b = fit_dataset(load(moved, perf_scale="none"))
    for run in a.to_frame()["run"]:
        same_fit(a[run], b[run])


@PROPERTY
@given(run=law_runs(), k=st.floats(0.05, 20.0))
def test_rescaling_entropy_by_k_divides_c_by_k(run, k):
    step, S, y = run
    base, scaled = fit_run(S, y, step), fit_run(k * S, y, step)
    # every verdict read off the point estimate is the same (the c interval is not: see below); the
    # c = 1 companion is another curve in other units (c = 1 is per nat), and so is its flag
    unit_bound = {FitStatus.WEAK_C, FitStatus.FORM_DISAGREEMENT}
    assert set(scaled.flags) - unit_bound == set(base.flags) - unit_bound
    if not base.has_estimate:
        return
    P0, beta, c = base.theta
    # Rounding k*S moves the inputs by 1e-16; where the profile is nearly flat (c weakly
    # identified, ceilings far outside the data) the optimum moves by far more than that, so the
    # difference is also allowed a millionth of the estimate's own standard error.
    se = base.summary()["se"].fillna(0.0)
    assert scaled.c == pytest.approx(c / k, rel=1e-6, abs=1e-9 / (k * np.ptp(S)) + 1e-6 * se["c"] / k)
    assert scaled.ceiling == pytest.approx(P0, rel=1e-7, abs=1e-9 + 1e-6 * se["ceiling"])
    assert scaled.beta == pytest.approx(beta / k, rel=1e-6, abs=1e-9 + 1e-6 * se["beta"] / k)


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def arbitrary_runs(draw):
    n = draw(st.integers(0, 25))
    S = draw(hnp.arrays(np.float64, n, elements=finite))
    y = draw(hnp.arrays(np.float64, n, elements=finite))
    step = draw(st.one_of(st.none(), hnp.arrays(np.float64, n, elements=st.floats(-1e9, 1e9))))
    return S, y, step


@settings(derandomize=True, database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(run=arbitrary_runs(), ci=st.sampled_from(["hac", "bootstrap"]), mode=st.sampled_from(["free", "paper"]))
def test_fits_never_raise_or_warn_on_arbitrary_finite_input(run, ci, mode):
    S, y, step = run
    opts = FitOptions(ci=ci, n_boot=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_run(S, y, step, mode=mode, options=opts)
        engine = batch.fit_runs(batch.runs_from_arrays([S], [y], None if step is None else [step]), mode, opts)
        fit.summary()
        fit.to_frame()
        engine.to_frame()
    assert isinstance(fit.status, FitStatus) and fit.message
    assert isinstance(engine.status[0], FitStatus) and engine.message[0]
    # both paths find an estimate or both do not; their verdicts are compared on law-shaped runs
    # (test_engine_equals_the_per_run_path): on input like this a ceiling of -1e-16 against 0, or a
    # covariance that is pure rounding noise, can tip a range or interval check either way
    assert engine.has_estimate[0] == fit.has_estimate


@PROPERTY
@given(runs=st.lists(law_runs(), min_size=1, max_size=6))
def test_engine_equals_the_per_run_path(runs):
    opts = FitOptions()
    engine = batch.fit_runs(batch.runs_from_arrays(*zip(*[(S, y, step) for step, S, y in runs])), options=opts)
    for i, (step, S, y) in enumerate(runs):
        ref = fit_run(S, y, step, options=opts)
        assert engine.status[i] == ref.status and engine.message[i] == ref.message
        scale = np.maximum(1.0, np.abs(ref.theta))
        assert np.all(np.abs(engine.theta[i] - ref.theta) <= 1e-8 * scale)


@pytest.mark.xfail(strict=True, reason="known issue: the prewhitened HAC shrinks singular values of the scores' "
                   "VAR(1) matrix, which depend on the parameters' units, so c's interval is not equivariant")
def test_hac_interval_for_c_does_not_depend_on_entropy_units():
    # a run hypothesis found: the c interval in bits is not the c interval in nats converted
    step = np.arange(21.0)
    S = np.array([1.0, 0.90015842, 0.81360797, 0.73857929, 0.67353859, 0.61715624, 0.56827963, 0.52590958,
                  0.48917992, 0.45733978, 0.42973828, 0.40581114, 0.38506923, 0.36708853, 0.35150146,
                  0.33798937, 0.32627604, 0.31612202, 0.30731972, 0.29968919, 0.29307446])  # fmt: skip
    y = np.array([0.25, 0.29052635, 0.3156317, 0.3551792, 0.36971396, 0.36802318, 0.39325081, 0.43217443,
                  0.44682156, 0.41845174, 0.39364178, 0.39844493, 0.4182614, 0.37427786, 0.40299408,
                  0.39443013, 0.40317467, 0.41280255, 0.42368992, 0.4468238, 0.47371953])  # fmt: skip
    nats, bits = fit_run(S, y, step), fit_run(S / np.log(2), y, step)
    assert bits.c == pytest.approx(nats.c * np.log(2), rel=1e-7)
    lo, hi = nats.conf_int("c")
    lo2, hi2 = bits.conf_int("c")
    assert (lo2 / np.log(2), hi2 / np.log(2)) == pytest.approx((lo, hi), rel=1e-3)
