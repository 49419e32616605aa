"""Acceptance on the real runs in ../shared (skipped only when ../shared is absent)."""

from pathlib import Path

import pandas as pd
import pytest

from scaling.data.load import ColumnMap, load
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.single import FitStatus

GOOD = {FitStatus.OK, FitStatus.CEILING_OUT_OF_RANGE}


@pytest.fixture(scope="module")
def toyrl_fits():
    from tests.conftest import SHARED

    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    ds = load(SHARED / "toyrl" / "runs.csv", ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    return fit_dataset(ds).to_frame()


def test_sizes_m_and_l_fit_well(toyrl_fits):
    ml = toyrl_fits[toyrl_fits["model"].isin(["m", "l"])]
    assert len(ml) == 24
    assert (ml["r2"] >= 0.98).all(), ml[["run", "r2"]]
    assert set(ml["status"]) <= {s.value for s in GOOD}
    # several ceilings sit just above 1.0 and must be flagged, not hidden
    above = ml[ml["ceiling"] > 1.0]
    assert len(above) >= 5
    assert (above["status"] == FitStatus.CEILING_OUT_OF_RANGE.value).all()


def test_no_learning_and_bad_fits_are_not_ok(toyrl_fits):
    s_add4 = toyrl_fits[toyrl_fits["run"].str.startswith("add4/s/")]
    assert len(s_add4) == 8
    assert (s_add4["status"] != "ok").all()
    low = toyrl_fits[toyrl_fits["r2"] < 0.6]
    assert len(low) >= 8 and (low["status"] != "ok").all()


def test_the_xxl_grpo_run_that_loses_accuracy_late_is_a_late_collapse(toyrl_fits):
    """add4/xxl/grpo climbs to about 0.93 and falls to about 0.85 while its entropy stays flat."""
    row = toyrl_fits.set_index("run").loc["add4/xxl/grpo/0"]
    assert row["status"] == FitStatus.LATE_COLLAPSE.value
    assert "falls by 0.08" in row["message"] and "from step" in row["message"]
    assert (toyrl_fits["status"] == FitStatus.LATE_COLLAPSE.value).sum() == 1


def test_intervals_contain_their_estimates(toyrl_fits):
    fitted = toyrl_fits.dropna(subset=["ceiling"])
    assert ((fitted["ceiling_lo"] <= fitted["ceiling"]) & (fitted["ceiling"] <= fitted["ceiling_hi"])).all()


@pytest.mark.parametrize("resp", ["resp256", "resp512"])
@pytest.mark.parametrize("ci", ["hac", "bootstrap"])
def test_qwen_ppo_runs_fit_end_to_end(shared_dir, resp, ci):
    from scaling.fitting.single import FitOptions

    path = shared_dir / "realdata" / "verl-data" / f"qwen2.5-0.5b-instruct_ppo_gsm8k_{resp}.csv"
    ds = load(path, ColumnMap.parse(entropy="actor_entropy", perf="val_gsm8k_acc"), warmup="none")  # the whole run, warm-up included
    assert ds.points.shape[0] == 44
    res = fit_dataset(ds, options=FitOptions(ci=ci, n_boot=300))
    fit = res.fits[0]
    assert fit.run == path.stem
    assert fit.has_estimate and fit.n_points == 44
    lo, hi = fit.conf_int("ceiling")
    assert lo < fit.ceiling < hi
    assert isinstance(res.to_frame(), pd.DataFrame)


def _not_ok_for_degenerate_or_beyond_data(res) -> int:
    """No `ok` fit has a zero-width interval (c or ceiling) or, with c < 0, a ceiling outside the
    performance it observed; returns how many fits were checked."""
    checked = 0
    for f in res.fits:
        if f.status is not FitStatus.OK:
            continue
        checked += 1
        for q in ("c", "ceiling"):
            lo, hi = f.conf_int(q)
            assert hi > lo, (f.run, q, lo, hi)
        if f.c < 0:
            assert f.perf.min() <= f.ceiling <= f.perf.max(), (f.run, f.c, f.ceiling)
    return checked


def test_no_ok_fit_on_data_is_degenerate_or_beyond_its_data():
    ds = load(Path(__file__).resolve().parents[1] / "data" / "runs.csv", ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    assert _not_ok_for_degenerate_or_beyond_data(fit_dataset(ds)) >= 1


def test_no_ok_fit_on_real_data_is_degenerate_or_beyond_its_data(shared_dir):
    import warnings

    from scaling.data.readers import read_source

    real = shared_dir / "realdata"
    dg = real / "Deep-GRPO"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # runs with one series in an export are dropped by design
        parts = [
            read_source(sorted((real / "verl-data" / "raw").glob("*.log"))),
            read_source([dg / "training_dynamics" / "entropy.csv", dg / "training_dynamics" / "test_reward.csv"]),
            read_source([dg / "tree_methods_training_instability" / f for f in ("entropy.csv", "test_reward.csv")]),
            read_source([dg / "depth_and_entropy.csv", dg / "sampling_strategy.csv"]),
        ]
    table = pd.concat(parts, ignore_index=True).drop_duplicates(["run", "step"])
    res = fit_dataset(load(table, perf_scale="fraction"))
    assert _not_ok_for_degenerate_or_beyond_data(res) >= 1
    # the long Deep-GRPO baseline (919 points, c = -3.56, ceiling above every value it observed)
    long = [f for f in res.fits if f.n_points == 919]
    assert len(long) == 1 and long[0].status is FitStatus.CEILING_BEYOND_DATA
    for p in sorted((real / "verl-data").glob("*.csv")):
        ds = load(p, ColumnMap.parse(entropy="actor_entropy", perf="val_gsm8k_acc"))
        assert _not_ok_for_degenerate_or_beyond_data(fit_dataset(ds)) >= 0
