"""Units per run (issue 15, item 4): parameter counts, percent/fraction, run ids; log-only options on tables."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.core import law
from scaling.data.load import ColumnMap, load
from scaling.data.readers.models import parse_params
from scaling.data.sources import load as load_any
from scaling.exceptions import DataError


def _run(name: str, scale: float = 1.0, n: int = 20, **extra) -> pd.DataFrame:
    steps = np.arange(n)
    S = 0.05 + 0.6 * np.exp(-steps / 8)
    y = (0.9 - 0.6 * law.g(S, 1.0) + 0.003 * np.sin(steps)) * scale
    return pd.DataFrame({"run": name, "step": steps.astype(str), "entropy": S.astype(str), "perf": y.astype(str), **extra})


def _load(frame: pd.DataFrame, columns: ColumnMap | None = None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(frame, columns, warmup="none", **kw)


@pytest.mark.parametrize("text, value", [("7B", 7e9), ("1.5b", 1.5e9), ("500M", 5e8), ("70e9", 7e10), ("7.61e9", 7.61e9), ("1200000", 1.2e6)])
def test_a_tidy_params_cell_reads_as_the_meta_parser_reads_it(text, value):
    ds = _load(_run("a", params=text))
    assert ds.invalid == {}
    assert ds.points["params"].iloc[0] == parse_params(text)
    assert ds.points["params"].iloc[0] == pytest.approx(value, rel=1e-15)


def test_a_params_cell_that_is_no_count_sets_the_run_aside_naming_it():
    ds = _load(pd.concat([_run("a", params="7B"), _run("b", params="seven")], ignore_index=True))
    assert list(ds.invalid) == ["b"] and "'seven' is not a parameter count" in ds.invalid["b"]
    assert ds.points["params"].unique().tolist() == [7e9]


def test_runs_in_percent_and_as_a_fraction_in_one_file_are_refused_naming_both():
    frame = pd.concat([_run("pct", 100.0), _run("frac", 1.0)], ignore_index=True)
    with pytest.raises(DataError) as err:
        _load(frame)
    msg = str(err.value)
    assert "\n" not in msg and "'pct'" in msg and "'frac'" in msg and "--perf-scale" in msg
    assert "1 run(s) reach values above 1" in msg and "1 run(s) stay within [0, 1]" in msg


def test_one_unit_per_file_still_loads_and_an_explicit_scale_is_obeyed():
    pct = _load(pd.concat([_run("p1", 100.0), _run("p2", 100.0)], ignore_index=True))
    frac = _load(pd.concat([_run("f1"), _run("f2")], ignore_index=True))
    np.testing.assert_allclose(pct.points["perf"], frac.points["perf"], rtol=1e-12)
    # the user says all are percent: the small run is divided too (their call), no error
    both = _load(pd.concat([_run("pct", 100.0), _run("frac", 1.0)], ignore_index=True), perf_scale="percent")
    assert both.points.groupby("run")["perf"].max()["frac"] < 0.01


def test_identity_tuples_that_join_to_one_run_id_are_refused_naming_them():
    a = _run("x", task="x/y", model="z")
    b = _run("x", task="x", model="y/z")
    with pytest.raises(DataError) as err:
        _load(pd.concat([a, b], ignore_index=True), ColumnMap(run=("task", "model")))
    msg = str(err.value)
    assert "\n" not in msg and "'x/y/z'" in msg
    assert "(task='x/y', model='z')" in msg and "(task='x', model='y/z')" in msg


def test_a_slash_inside_a_value_without_a_collision_keeps_its_run():
    a = _run("x", task="x/y", model="z")
    b = _run("x", task="x", model="w")
    ds = _load(pd.concat([a, b], ignore_index=True), ColumnMap(run=("task", "model")))
    assert ds.points.groupby("run").size().to_dict() == {"x/y/z": 20, "x/w": 20}


@pytest.mark.parametrize("option", [{"meta": {"a": {"params": "7B"}}}, {"entropy_key": "actor/entropy"}, {"perf_key": "val/acc"}])
def test_the_library_refuses_log_only_options_on_a_tidy_table(tmp_path, option):
    frame = _run("a")
    name = next(iter(option))
    with pytest.raises(ValueError, match=f"{name} apply to training logs only"):
        load_any(frame, **option)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=f"{name} apply to training logs only"):
        load_any(path, **option)
