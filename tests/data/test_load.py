"""Loading, validating and aligning tidy tables: bad input is named, good runs survive."""

import warnings

import numpy as np
import pandas as pd
import pytest

import scaling.data.load as load_module
from scaling.core import law
from scaling.data.load import ColumnMap, align, load
from scaling.data.sources import load as sc_load
from scaling.exceptions import DataError, DataWarning
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.single import FitStatus


def _good_run(name: str, n: int = 30, start: int = 0) -> list[str]:
    steps = np.arange(n)
    S = 0.05 + 0.6 * np.exp(-steps / 10)
    y = 0.95 - 0.6 * law.g(S, 1.0) + 0.003 * np.sin(steps)
    return [f"{name},m,1e6,grpo,0,{s},{e:.6f},{v:.6f}" for s, e, v in zip(steps + start, S, y)]


HEADER = "run,model,params,algorithm,seed,step,entropy,perf"


def _write(tmp_path, lines, name="runs.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_clean_file_loads_into_the_canonical_table(tmp_path):
    path = _write(tmp_path, [HEADER, *_good_run("a"), *_good_run("b")])
    ds = load(path)
    assert list(ds.points.columns) == ["run", "model", "params", "algorithm", "seed", "step", "entropy", "perf", "task"]
    assert ds.points.groupby("run").size().to_dict() == {"a": 30, "b": 30}
    assert ds.issues.empty and ds.invalid == {} and ds.perf_range == (0.0, 1.0)


def test_missing_column_names_it_and_lists_the_columns(tmp_path):
    path = _write(tmp_path, ["run,step,entropy,val_acc", "a,0,0.5,0.1"])
    with pytest.raises(DataError, match=r"column 'perf' \(perf\) not found; columns are: run, step, entropy, val_acc.*--perf"):
        load(path)
    ds = load(path, ColumnMap.parse(perf="val_acc"))
    assert ds.points["perf"].tolist() == [0.1]


def test_text_in_a_numeric_column_sets_that_run_aside_and_fits_the_others(tmp_path):
    bad = _good_run("bad")
    bad[4] = bad[4].rsplit(",", 1)[0] + ",oops"
    path = _write(tmp_path, [HEADER, *_good_run("good"), *bad])
    with pytest.warns(DataWarning, match="run 'bad'.*row 36: perf 'oops' is not a number"):
        ds = load(path)
    issue = ds.issues.iloc[0]
    assert (issue.run, issue.column, issue.row, issue.value) == ("bad", "perf", 36, "oops")
    res = fit_dataset(ds)
    assert res["good"].status in (FitStatus.OK, FitStatus.CEILING_OUT_OF_RANGE)
    assert res["bad"].status is FitStatus.INVALID_DATA and "oops" in res["bad"].message
    assert len(res) == 2  # nothing lost


def test_negative_entropy_and_duplicate_steps_are_named(tmp_path):
    neg = _good_run("neg")
    parts = neg[3].split(",")
    parts[6] = "-0.2"
    neg[3] = ",".join(parts)
    dup = _good_run("dup")
    dup.append(dup[5])
    path = _write(tmp_path, [HEADER, *_good_run("ok"), *neg, *dup])
    with pytest.warns(DataWarning):
        ds = load(path)
    probs = dict(zip(ds.issues["run"], ds.issues["problem"]))
    assert "negative" in probs["neg"]
    assert "duplicate step 5" in probs["dup"] and "rows" in probs["dup"]
    neg_row = ds.issues.loc[ds.issues.run == "neg", "row"].item()
    assert neg_row == 2 + 30 + 3  # header, 30 rows of 'ok', 4th row of 'neg'
    assert set(ds.invalid) == {"neg", "dup"}
    res = fit_dataset(ds)
    assert res["ok"].has_estimate


def test_a_two_point_run_gets_a_status_not_an_exception(tmp_path):
    path = _write(tmp_path, [HEADER, *_good_run("ok"), *_good_run("short", n=2)])
    res = fit_dataset(load(path))
    assert res["short"].status is FitStatus.TOO_FEW_POINTS
    assert res["ok"].has_estimate


def test_non_positive_params_are_rejected(tmp_path):
    run = [line.replace(",1e6,", ",-5,") for line in _good_run("p")]
    path = _write(tmp_path, [HEADER, *_good_run("ok"), *run])
    with pytest.warns(DataWarning, match="parameter count must be > 0"):
        ds = load(path)
    assert "p" in ds.invalid


@pytest.mark.parametrize("content", ["", HEADER + "\n"])
def test_empty_or_header_only_files_are_errors(tmp_path, content):
    path = tmp_path / "e.csv"
    path.write_text(content)
    with pytest.raises(DataError, match="empty|no data rows"):
        load(path)


def test_percent_is_converted_with_a_warning_never_silently(tmp_path):
    lines = [HEADER] + [
        ",".join(p[:7] + [f"{100 * float(p[7]):.4f}"]) for p in (line.split(",") for line in _good_run("a"))
    ]
    path = _write(tmp_path, lines)
    with pytest.warns(DataWarning, match="read as percent"):
        ds = load(path)
    assert ds.points["perf"].max() <= 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explicit = load(path, perf_scale="percent")
    assert np.allclose(explicit.points["perf"], ds.points["perf"])
    assert load(path, perf_scale="none").perf_range is None


def test_alignment_same_step_and_mean_since_previous_validation():
    table = pd.DataFrame(
        {
            "run": "r", "model": "m", "params": np.nan, "algorithm": "", "seed": "",
            "step": [0, 1, 2, 3, 4],
            "entropy": [0.9, 0.8, 0.7, 0.6, 0.5],
            "perf": [0.1, np.nan, 0.3, np.nan, 0.5],
        }
    )  # fmt: skip
    same, dropped = align(table, "same")
    assert same["entropy"].tolist() == [0.9, 0.7, 0.5] and dropped == 0
    mean, _ = align(table, "mean")
    assert mean["entropy"].tolist() == pytest.approx([0.9, 0.75, 0.55])


def test_run_id_from_several_columns(tmp_path):
    path = _write(tmp_path, ["task,size,step,entropy,val", "add3,s,0,0.5,0.1", "add3,s,1,0.4,0.2", "add4,s,0,0.5,0.1"])
    ds = load(path, ColumnMap.parse(run="task,size", perf="val"))
    assert sorted(ds.points["run"].unique()) == ["add3/s", "add4/s"]


def test_toyrl_loads_with_a_mapping(shared_dir):
    ds = load(shared_dir / "toyrl" / "runs.csv", ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    assert ds.points["run"].nunique() == 45
    assert ds.issues.empty
    # validation every 2 steps: 151 points for 300-step add3 runs
    assert ds.points.groupby("run").size()["add3/m/grpo/0"] == 151


@pytest.mark.parametrize(
    "text",
    [
        "run,step,entropy,perf\na,0,1.0,0.1\na,1,0.9,0.2\n\nb,0,1.0,0.3\n",  # a blank line: rows keep their file lines
        "\ufeffrun;step;entropy;perf\r\na;0;1,0;0,1\r\na;1;0,9;0,2\r\n",  # BOM, CRLF, semicolons with decimal commas
        "run,step,entropy,perf\na,0,1.0,0.1\n",
    ],
)
def test_the_fast_scan_reads_sound_files_as_the_careful_path_does(tmp_path, monkeypatch, text):
    """A CSV without quotes whose every line is sound is read by pandas from the bytes (no list of
    lines); the result equals the line-by-line path's, index (file lines) included."""
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = load_module.read_file(path)
        assert load_module._plain_lines(path.read_bytes().removeprefix(b"\xef\xbb\xbf"), ";" if ";" in text else ",") is not None
        monkeypatch.setattr(load_module, "_plain_lines", lambda data, sep: None)
        careful = load_module.read_file(path)
    pd.testing.assert_frame_equal(fast, careful)


def test_a_frame_with_duplicate_index_labels_is_read_by_position():
    a = pd.DataFrame({"run": ["a"] * 5, "step": range(5), "entropy": [1, 0.9, 0.8, 0.7, 0.6], "perf": [".1", ".2", ".3", ".4", ".5"]})
    b = a.assign(run="b")
    b.loc[2, "perf"] = "x"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load(pd.concat([a, b]), ColumnMap.parse(perf="perf"))  # index 0..4 twice
    assert ds.runs == ["a", "b"] and ds.invalid == {"b": "row 7: perf 'x' is not a number"}
    assert len(ds.points) == 5 and set(ds.points["run"]) == {"a"}  # b set aside, a intact


def test_messages_for_several_files_name_each_file_and_its_line(tmp_path):
    good = "run,step,entropy,perf\n" + "".join(f"a,{i},{1 - i / 10},{0.1 + i / 10}\n" for i in range(5))
    bad = "run,step,entropy,perf\nb,0,1.0,0.1\nb,1,0.9,x\n" + "".join(f"b,{i},{1 - i / 10},{0.1 + i / 10}\n" for i in range(2, 5))
    (tmp_path / "f1.csv").write_text(good)
    (tmp_path / "f2.csv").write_text(bad)
    with pytest.warns(DataWarning, match=r"f1\.csv, f2\.csv: 1 run\(s\) set aside: run 'b': f2\.csv line 3: perf 'x' is not a number"):
        ds = sc_load(tmp_path / "f1.csv", tmp_path / "f2.csv", perf="perf")
    assert ds.invalid == {"b": "f2.csv line 3: perf 'x' is not a number"}
