"""Acceptance on the real runs in ../shared (skipped only when ../shared is absent)."""

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
