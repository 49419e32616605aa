"""The fit table of many runs is built from arrays in one go, equal to the per-run rows."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from scaling.data.load import ColumnMap, load
from scaling.fitting.dataset import FitResults, fit_dataset, fits_frame
from scaling.fitting.result import CORE_COLUMNS

RUNS = Path(__file__).resolve().parents[2] / "data" / "runs.csv"


def _per_run(res: FitResults) -> pd.DataFrame:
    """The table as it was built before: one frame per run, concatenated."""
    frame = pd.concat([f.to_frame() for f in res.fits], ignore_index=True)
    frame = frame[CORE_COLUMNS + [c for c in frame.columns if c not in CORE_COLUMNS]]
    if res.warmup:
        frame["n_warmup"] = [int(res.warmup.get(f.run, 0)) for f in res.fits]
    return frame


def _dataset(extra: str = "", warmup: str | int = "auto"):
    text = RUNS.read_text()
    if extra:
        text = text.rstrip("\n") + "\n" + extra
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False), ColumnMap(run=("task", "model", "algorithm", "seed"), perf="val_acc"), warmup=warmup)


@pytest.mark.parametrize("mode", ["free", "paper"])
@pytest.mark.parametrize("warmup", ["auto", 3])
def test_the_vectorised_table_equals_the_per_run_rows_on_the_shipped_runs(mode, warmup):
    res = fit_dataset(_dataset(warmup=warmup), mode)
    assert res.batch is not None
    if warmup == 3:  # every run lost its first points: its message changed after the batch
        assert all(n > 0 for n in res.warmup.values()) and all("warm-up" in f.message for f in res.fits)
    frame, old = res.to_frame(), _per_run(res)
    assert list(frame.columns) == list(old.columns) and len(frame) == len(res.fits)
    pd.testing.assert_frame_equal(frame, old, rtol=1e-12, atol=1e-12)


def test_set_aside_runs_keep_their_place_and_columns():
    # a run whose only rows are bad: set aside, fitted by no batch, its row built alone
    res = fit_dataset(_dataset("zz,s,103821,grpo,0,0,oops,0.5,1.0,0.5\nzz,s,103821,grpo,0,1,0.4,0.6,1.0,0.5"))
    assert "zz/s/grpo/0" in res.to_frame()["run"].tolist()
    frame, old = res.to_frame(), _per_run(res)
    assert frame["status"].iloc[-1] == "invalid data"
    pd.testing.assert_frame_equal(frame, old, rtol=1e-12, atol=1e-12)


def test_a_batch_that_does_not_describe_the_fits_is_ignored():
    res = fit_dataset(_dataset())
    shuffled = replace(res, fits=res.fits[::-1])  # same batch, other order: still the per-run rows of these fits
    pd.testing.assert_frame_equal(shuffled.to_frame(), _per_run(shuffled), rtol=1e-12, atol=1e-12)
    other = replace(res, fits=tuple(replace(f, theta=f.theta + 1.0) for f in res.fits))
    assert other.to_frame()["ceiling"].tolist() == pytest.approx((res.to_frame()["ceiling"] + 1.0).tolist())
    pd.testing.assert_frame_equal(fits_frame(res.fits), fits_frame(res.fits, res.batch), rtol=1e-12, atol=1e-12)
