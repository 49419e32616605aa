"""Tests of scaling.data.readers: W&B CSV, verl logs, TensorBoard, JSON lines, metadata."""

from __future__ import annotations

import math
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling.data.readers import (
    CANONICAL_COLUMNS,
    detect_format,
    guess_model,
    guess_params,
    load_meta,
    parse_params,
    read_jsonl,
    read_source,
    read_tensorboard,
    read_verl_log,
    read_wandb,
)
from scaling.data.readers.verl import clean_line, parse_pairs
from scaling.exceptions import DataError, DataWarning

FILES = Path(__file__).resolve().parents[1] / "files"
SHARED = Path(__file__).resolve().parents[3] / "shared"
REALDATA = SHARED / "realdata"
VERL = REALDATA / "verl-data"
DEEP_GRPO = REALDATA / "Deep-GRPO"

#: A line of binary noise: every byte but the newline.
NOISE = bytes(byte for byte in range(256) if byte != 0x0A)

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared (real data) is absent"
)


@pytest.fixture
def no_warnings():
    """Turn DataWarnings into errors inside a test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        yield


def copy_fixture(name: str, tmp_path: Path, new_name: str | None = None) -> Path:
    """Copy a fixture into tmp_path so that a test may damage it."""
    target = tmp_path / (new_name or name)
    shutil.copyfile(FILES / name, target)
    return target


def check_canonical(table: pd.DataFrame) -> None:
    """Assert the canonical layout: columns, dtypes, order, no empty rows."""
    assert tuple(table.columns) == CANONICAL_COLUMNS
    assert table["step"].dtype == np.int64
    for column in ("params", "entropy", "perf"):
        assert table[column].dtype == np.float64
    for column in ("run", "model", "algorithm", "seed"):
        assert all(isinstance(value, str) for value in table[column])
    assert not (table["entropy"].isna() & table["perf"].isna()).any()
    assert table.equals(table.sort_values(["run", "step"]).reset_index(drop=True))
    assert not table.duplicated(["run", "step"]).any()


def run_rows(table: pd.DataFrame, run: str) -> pd.DataFrame:
    """Return the rows of one run, indexed by step."""
    return table[table["run"] == run].set_index("step")


# ---------------------------------------------------------------------------
# verl console logs: real data (acceptance)
# ---------------------------------------------------------------------------

REAL_VERL = {
    "Qwen2.5-0.5B-bsz256_2-prompt1024-resp512-0.567": (
        "qwen2.5-0.5b-instruct_ppo_gsm8k_resp512"
    ),
    "Qwen2.5-0.5B-bsz256_2-prompt512-resp256-0.538": (
        "qwen2.5-0.5b-instruct_ppo_gsm8k_resp256"
    ),
    "gemma-2-2b-it-ppo-bsz512_4-prompt1024-resp-512-0.640": "gemma-2-2b-it_ppo_gsm8k",
}


@needs_shared
@pytest.mark.parametrize("log", sorted(REAL_VERL))
def test_verl_real_log_matches_parsed_csv_on_every_row(log, no_warnings):
    table = read_verl_log(VERL / "raw" / f"{log}.log")
    expected = pd.read_csv(VERL / f"{REAL_VERL[log]}.csv")
    check_canonical(table)
    assert table["run"].unique().tolist() == [log]
    assert table["step"].tolist() == expected["step"].tolist()
    assert table["entropy"].tolist() == expected["actor_entropy"].tolist()
    ours, theirs = table["perf"].to_numpy(), expected["val_gsm8k_acc"].to_numpy()
    assert (np.isnan(ours) == np.isnan(theirs)).all()
    differ = table["step"][~np.isnan(ours) & (ours != theirs)].tolist()
    if log.startswith("gemma"):
        # The gemma CSV holds the rounded step:0 value (0.521); the reader keeps
        # the full-precision "Initial validation metrics" value it rounds from.
        assert differ == [0]
        assert ours[0] == 0.520579268292683
        assert round(ours[0], 3) == theirs[0]
    else:
        assert differ == []


@needs_shared
def test_verl_real_logs_metadata_and_validation_counts():
    table = read_source(sorted((VERL / "raw").glob("*.log")))
    summary = table.groupby("run").agg(
        model=("model", "first"),
        params=("params", "first"),
        algorithm=("algorithm", "first"),
        steps=("step", "size"),
        validations=("perf", "count"),
    )
    qwen = summary.loc["Qwen2.5-0.5B-bsz256_2-prompt1024-resp512-0.567"]
    assert (qwen["model"], qwen["params"], qwen["algorithm"]) == (
        "Qwen2.5-0.5B-Instruct",
        0.49e9,
        "PPO",
    )
    assert (qwen["steps"], qwen["validations"]) == (435, 44)
    gemma = summary.loc["gemma-2-2b-it-ppo-bsz512_4-prompt1024-resp-512-0.640"]
    assert (gemma["model"], gemma["params"], gemma["steps"], gemma["validations"]) == (
        "gemma-2-2b-it",
        2.61e9,
        106,
        11,
    )
    initial = table[(table["step"] == 0)].set_index("run")["perf"]
    assert (
        initial["Qwen2.5-0.5B-bsz256_2-prompt1024-resp512-0.567"]
        == 0.0007621951219512195
    )


# ---------------------------------------------------------------------------
# W&B export CSV: real data
# ---------------------------------------------------------------------------

DEEP_GRPO_BASELINE = "qwen2.5-0.5b-instruct-gsm8k-crpo-no-branch"
DEEP_GRPO_GAMMA2 = "Qwen2.5-0.5B-Instruct-GSM8K-CRPO-sp-p1-b8-gamma2.0-lam1.0-01161659"


@needs_shared
def test_wandb_real_entropy_and_reward_files_are_matched_by_run(no_warnings):
    folder = DEEP_GRPO / "training_dynamics"
    table = read_wandb([folder / "entropy.csv", folder / "test_reward.csv"])
    check_canonical(table)
    counts = table.groupby("run")[["entropy", "perf"]].count()
    assert counts.loc[DEEP_GRPO_BASELINE].tolist() == [4595, 920]
    assert counts.loc[DEEP_GRPO_GAMMA2].tolist() == [2958, 592]
    baseline = run_rows(table, DEEP_GRPO_BASELINE)
    assert (
        math.isnan(baseline.loc[0, "entropy"])
        and baseline.loc[0, "perf"] == 0.4473085670962851
    )
    assert baseline.loc[1, "entropy"] == 0.47230610251426697 and math.isnan(
        baseline.loc[1, "perf"]
    )
    assert set(table["model"]) == {"Qwen2.5-0.5B-Instruct"} and set(
        table["params"]
    ) == {0.49e9}


@needs_shared
def test_wandb_real_runs_without_entropy_are_dropped_with_a_warning():
    with pytest.warns(DataWarning) as record:
        table = read_source(
            [DEEP_GRPO / "depth_and_entropy.csv", DEEP_GRPO / "sampling_strategy.csv"]
        )
    dropped = [str(w.message) for w in record if issubclass(w.category, DataWarning)]
    assert len(dropped) == 3 and all("no entropy key" in message for message in dropped)
    assert any("gamma0.1" in message for message in dropped)
    assert table["run"].nunique() == 3
    assert table.groupby("run")["perf"].count().tolist() == [687, 592, 898]


@needs_shared
def test_wandb_real_all_files_give_five_runs():
    paths = [
        p for p in sorted(DEEP_GRPO.rglob("*.csv")) if not p.name.startswith("derived")
    ]
    with pytest.warns(DataWarning):
        table = read_wandb(paths)
    counts = table.groupby("run")[["entropy", "perf"]].count()
    assert counts.loc["Qwen2.5-0.5B-Instruct-TreeRL"].tolist() == [927, 186]
    assert len(counts) == 5


@needs_shared
def test_wandb_real_entropy_only_is_a_data_error_listing_metrics():
    with pytest.raises(DataError, match="actor/main_chain/entropy"):
        read_wandb(DEEP_GRPO / "training_dynamics" / "entropy.csv")


# ---------------------------------------------------------------------------
# verl console logs: fixtures
# ---------------------------------------------------------------------------


def test_clean_line_strips_ansi_and_ray_prefix():
    raw = (
        "\x1b[2m\x1b[36m(wiQkzJWorkerDict_0:0 WorkerDict pid=934604)\x1b[0m "
        "step:3 - a:1\r\n"
    )
    assert clean_line(raw) == "step:3 - a:1"
    assert clean_line("[36m(main_task pid=1)[0m step:3 - a:1") == "step:3 - a:1"


def test_parse_pairs_reads_numbers_nan_inf_and_reports_junk():
    values, bad = parse_pairs(
        "a/b:-0.5 - c(1e-4):1e-3 - d:nan - e:inf - f:np.float64(0.25) - junk - g:x"
    )
    assert {key: value.value for key, value in values.items() if key != "d"} == {
        "a/b": -0.5,
        "c(1e-4)": 1e-3,
        "e": math.inf,
        "f": 0.25,
    }
    assert math.isnan(values["d"].value)
    assert bad == ["junk", "g:x"]


def test_verl_new_format(no_warnings):
    table = read_verl_log(FILES / "verl_new.log")
    check_canonical(table)
    rows = run_rows(table, "verl_new")
    assert rows.index.tolist() == [0, 1, 2, 3, 4]
    # pprint-wrapped initial validation, at full precision, at step 0 (no entropy there)
    assert rows.loc[0, "perf"] == 0.6123456789 and math.isnan(rows.loc[0, "entropy"])
    assert rows["entropy"].iloc[1:].tolist() == [0.8125, 0.75, 0.6875, 0.625]
    assert rows.loc[3, "perf"] == 0.655
    # "Final validation metrics" carries no step and is ignored
    assert math.isnan(rows.loc[4, "perf"])
    # model from the command line; params from the table, not the printed count
    assert (
        rows["model"].iloc[0],
        rows["params"].iloc[0],
        rows["algorithm"].iloc[0],
    ) == ("Qwen3-1.7B", 1.7e9, "GRPO")


def test_verl_old_format_test_score_alias_and_precision(no_warnings):
    table = read_verl_log(FILES / "verl_old.log")
    rows = run_rows(table, "verl_old")
    assert rows["entropy"].tolist() == [0.5, 0.48, 0.46, 0.44]
    assert (
        rows.loc[0, "perf"] == 0.123456789
    )  # not the rounded 0.123 of the step:0 line
    assert rows.loc[2, "perf"] == 0.25
    assert (
        rows["model"].iloc[0],
        rows["params"].iloc[0],
        rows["algorithm"].iloc[0],
    ) == ("Qwen2.5-0.5B-Instruct", 0.49e9, "PPO")
    same = read_verl_log(FILES / "verl_old.log", perf_key="test_score/openai/gsm8k")
    assert same.equals(table)


def test_verl_key_overrides_and_missing_key():
    table = read_verl_log(
        FILES / "verl_old.log",
        entropy_key="actor/pg_loss",
        perf_key="critic/score/mean",
    )
    assert run_rows(table, "verl_old")["entropy"].tolist() == [
        -0.01,
        -0.02,
        0.005,
        0.001,
    ]
    with pytest.raises(
        DataError, match=r"'actor/nope'.*keys found: .*actor/entropy_loss"
    ):
        read_verl_log(FILES / "verl_old.log", entropy_key="actor/nope")


def test_verl_log_cut_mid_key_drops_the_cut_pair(tmp_path):
    path = copy_fixture("verl_old.log", tmp_path)
    lines = path.read_text().splitlines()
    lines = [line for line in lines if "Final validation" not in line]
    lines[-1] = lines[-1][: lines[-1].index("actor/pg_loss") + 8]  # "... - actor/pg"
    path.write_text("\n".join(lines))
    with pytest.warns(DataWarning, match=r"run 'verl_old'.*cut.*actor/pg"):
        table = read_verl_log(path)
    assert run_rows(table, "verl_old").loc[3, "entropy"] == 0.44


def test_verl_log_cut_mid_number_drops_the_cut_value(tmp_path):
    path = copy_fixture("verl_old.log", tmp_path)
    lines = [
        line for line in path.read_text().splitlines() if "Final validation" not in line
    ]
    lines[-1] = lines[-1].replace(
        "critic/score/mean:0.240", "critic/score/mean:0.2"
    )  # cut mid-number
    path.write_text("\n".join(lines))
    with pytest.warns(
        DataWarning, match=r"run 'verl_old'.*cut.*critic/score/mean:0\.2"
    ):
        table = read_verl_log(path, perf_key="critic/score/mean")
    rows = run_rows(table, "verl_old")
    assert rows.loc[3, "entropy"] == 0.44 and math.isnan(rows.loc[3, "perf"])


def test_verl_log_binary_noise_is_ignored_or_reported(tmp_path):
    path = copy_fixture("verl_old.log", tmp_path)
    data = path.read_bytes().split(b"\n")
    data.insert(10, NOISE)  # a line of binary noise between step lines
    data[12] = data[12].replace(b"actor/pg_loss:-0.020", b"actor/pg_loss:\x00\xff\xfe")
    path.write_bytes(b"\n".join(data))
    with pytest.warns(DataWarning, match=r"run 'verl_old'.*1 unreadable.*line\(s\) 13"):
        table = read_verl_log(path)
    assert run_rows(table, "verl_old")["entropy"].tolist() == [0.5, 0.48, 0.46, 0.44]


def test_verl_log_without_step_lines_or_empty_is_a_data_error(tmp_path):
    text = tmp_path / "train.log"
    text.write_text("just some text\nstep: 3 of the proof\n")
    with pytest.raises(DataError, match=r"train\.log: no 'step:N - key:value' line"):
        read_verl_log(text)
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.log: empty file"):
        read_verl_log(empty)


def test_verl_log_with_no_recognised_keys_lists_the_keys(tmp_path):
    path = tmp_path / "odd.log"
    path.write_text("step:1 - loss:0.5 - lr:0.1\nstep:2 - loss:0.4 - lr:0.1\n")
    with pytest.raises(DataError, match=r"no run has both.*keys found: loss, lr"):
        read_verl_log(path)


# ---------------------------------------------------------------------------
# W&B export CSV: fixtures
# ---------------------------------------------------------------------------


def test_wandb_two_files_matched_by_run_and_unmatched_runs_warned():
    with pytest.warns(DataWarning) as record:
        table = read_wandb([FILES / "wandb_entropy.csv", FILES / "wandb_perf.csv"])
    messages = [str(w.message) for w in record]
    assert any("'entropy-only-run' dropped: no perf key" in m for m in messages)
    assert any("'perf-only-run' dropped: no entropy key" in m for m in messages)
    check_canonical(table)
    qwen = run_rows(table, "Qwen2.5-1.5B-Instruct-grpo-seed1")
    assert qwen.index.tolist() == [0, 1, 2, 3, 4]
    assert qwen["entropy"].tolist()[1:] == [0.9, 0.8, 0.7, 0.6]
    assert qwen["perf"].dropna().tolist() == [0.30, 0.40, 0.45]
    assert (qwen["model"].iloc[0], qwen["params"].iloc[0]) == (
        "Qwen2.5-1.5B-Instruct",
        1.54e9,
    )
    llama = run_rows(table, "llama-3.2-1b-ppo")
    assert llama.index.tolist() == [0, 1, 2, 3]  # empty cells are not logged steps
    assert (llama["model"].iloc[0], llama["params"].iloc[0]) == ("Llama-3.2-1B", 1.23e9)


def test_wandb_several_metrics_in_one_file_and_other_columns_ignored(no_warnings):
    table = read_source(FILES / "wandb_multi.csv")
    rows = run_rows(table, "tiny-run")
    assert rows.index.tolist() == [0, 10, 20]
    assert rows["entropy"].tolist()[1:] == [2.5, 2.0]
    assert rows["perf"].dropna().tolist() == [0.25, 0.5]
    assert rows["model"].iloc[0] == "" and math.isnan(rows["params"].iloc[0])


def test_wandb_key_override_is_the_metric_part():
    with pytest.warns(DataWarning):
        table = read_wandb(
            [FILES / "wandb_entropy.csv", FILES / "wandb_perf.csv"],
            entropy_key="actor/entropy",
            perf_key="val-core/math/acc/mean@1",
        )
    assert table["run"].nunique() == 2
    with pytest.raises(
        DataError, match=r"'nope'.*keys found: actor/entropy, val-core/math/acc/mean@1"
    ):
        read_wandb(
            [FILES / "wandb_entropy.csv", FILES / "wandb_perf.csv"], perf_key="nope"
        )


def test_wandb_export_of_one_metric_alone_asks_for_the_other_export():
    with pytest.raises(
        DataError,
        match=r"wandb_entropy\.csv: holds only the entropy metric 'actor/entropy'; "
        r"pass the W&B export with the validation metric too \(perf keys tried: val-core/\*/acc/mean@1, .*; "
        r"name another with --perf-key, perf_key= in Python\)$",
    ):
        read_wandb(FILES / "wandb_entropy.csv")
    with pytest.raises(
        DataError,
        match=r"wandb_perf\.csv: holds only the validation metric 'val-core/math/acc/mean@1'; "
        r"pass the W&B export with the entropy metric too \(entropy keys tried: actor/entropy, .*; "
        r"name another with --entropy-key, entropy_key= in Python\)$",
    ):
        read_wandb(FILES / "wandb_perf.csv")


def test_wandb_cut_last_line_and_binary_noise_are_skipped_with_warnings(tmp_path):
    path = copy_fixture("wandb_entropy.csv", tmp_path)
    lines = path.read_bytes().split(b"\n")[:-1]
    lines.insert(2, b"\x00\x01\x02\xff\xfe garbage \x07")
    lines[-1] = lines[-1][:9]  # '"4","0.6"' of '"4","0.6","0.6",...' : cut mid-line
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(DataWarning) as record:
        table = read_wandb([path, FILES / "wandb_perf.csv"])
    messages = " | ".join(str(w.message) for w in record)
    assert "binary junk on line(s) 3" in messages
    assert "skipped line(s) 6" in messages and "last line is cut" in messages
    qwen = run_rows(table, "Qwen2.5-1.5B-Instruct-grpo-seed1")
    assert qwen["entropy"].dropna().tolist() == [0.9, 0.8, 0.7]


def test_wandb_empty_file_and_bad_headers_are_data_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty file"):
        read_wandb(empty)
    no_step = tmp_path / "nostep.csv"
    no_step.write_text("x,run - actor/entropy\n1,0.5\n")
    with pytest.raises(
        DataError, match=r"no step column.*columns found: x, run - actor/entropy"
    ):
        read_wandb(no_step)
    no_runs = tmp_path / "noruns.csv"
    no_runs.write_text("Step,entropy\n1,0.5\n")
    with pytest.raises(
        DataError, match=r"no '<run> - <metric>' column; columns found: Step, entropy"
    ):
        read_wandb(no_runs)


def test_wandb_non_numeric_cells_are_reported(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Step,r - entropy,r - val_acc\n1,0.5,\n2,oops,0.3\n3,0.4,0.4\n")
    with pytest.warns(
        DataWarning, match=r"run 'r': column 'r - entropy': non-numeric.*line\(s\) 3"
    ):
        table = read_wandb(path)
    assert run_rows(table, "r")["entropy"].dropna().tolist() == [0.5, 0.4]


# ---------------------------------------------------------------------------
# JSON lines
# ---------------------------------------------------------------------------


def test_jsonl_nested_keys_runs_and_merged_steps(no_warnings):
    table = read_jsonl(FILES / "metrics.jsonl")
    check_canonical(table)
    a = run_rows(table, "jsonl-a")
    assert a.index.tolist() == [0, 1, 2]
    assert a["entropy"].tolist()[1:] == [0.9, 0.8] and a["perf"].dropna().tolist() == [
        0.2,
        0.35,
    ]
    b = run_rows(table, "jsonl-b")
    assert b["entropy"].tolist() == [1.1, 1.0]
    assert (
        math.isnan(b.loc[1, "perf"]) and b.loc[2, "perf"] == 0.5
    )  # null is not logged


def test_jsonl_run_name_defaults_to_file_stem(tmp_path, no_warnings):
    path = tmp_path / "my-run.ndjson"
    path.write_text(
        '{"_step": 1, "entropy": 0.5, "val_acc": 0.1}\n{"_step": 2, "entropy": 0.4}\n'
    )
    table = read_source(path)
    assert table["run"].unique().tolist() == ["my-run"]
    assert table["step"].tolist() == [1, 2]


def test_jsonl_garbled_binary_and_cut_lines_are_skipped_with_line_numbers(tmp_path):
    path = copy_fixture("metrics.jsonl", tmp_path)
    lines = path.read_bytes().split(b"\n")[:-1]
    lines.insert(1, b'{"run": "jsonl-a", "step": 5, "actor": {')
    lines.insert(3, NOISE)
    lines.append(b'{"run": "jsonl-b", "global_step": 3, "actor/entr')
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(DataWarning) as record:
        table = read_jsonl(path)
    message = str(record[0].message)
    assert "run(s) 'jsonl-a', 'jsonl-b'" in message
    assert "line 2: not valid JSON" in message and "line 4: binary data" in message
    assert "line 9: not valid JSON (cut last line)" in message
    assert table.groupby("run").size().tolist() == [3, 2]


def test_jsonl_empty_no_step_and_unknown_keys_are_data_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"\n  \n")
    with pytest.raises(DataError, match="empty file"):
        read_jsonl(empty)
    no_step = tmp_path / "nostep.jsonl"
    no_step.write_text('{"epoch": 1, "loss": 0.5}\n')
    with pytest.raises(
        DataError, match=r"no JSON object with an integer step.*keys found: epoch, loss"
    ):
        read_jsonl(no_step)
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"step": 1, "loss": 0.5}\n')
    with pytest.raises(DataError, match=r"no run has both.*keys found: loss"):
        read_jsonl(unknown)


def test_metric_missing_in_one_run_keeps_the_other(tmp_path):
    path = tmp_path / "two.jsonl"
    path.write_text(
        '{"run": "good", "step": 1, "actor/entropy": 0.5, "val/acc": 0.2}\n'
        '{"run": "bad", "step": 1, "actor/entropy": 0.6}\n'
    )
    with pytest.warns(DataWarning, match=r"run 'bad' dropped: no perf key"):
        table = read_jsonl(path)
    assert table["run"].unique().tolist() == ["good"]


def test_ambiguous_default_perf_key_is_a_data_error(tmp_path):
    path = tmp_path / "two_sets.jsonl"
    path.write_text(
        '{"step": 1, "actor/entropy": 0.5, '
        '"val-core/a/acc/mean@1": 0.2, "val-core/b/acc/mean@1": 0.3}\n'
    )
    with pytest.raises(
        DataError,
        match=r"matches several keys \(val-core/a/acc/mean@1, val-core/b/acc/mean@1\)",
    ):
        read_jsonl(path)
    table = read_jsonl(path, perf_key="val-core/b/acc/mean@1")
    assert table["perf"].tolist() == [0.3]


# ---------------------------------------------------------------------------
# TensorBoard
# ---------------------------------------------------------------------------


def write_tensorboard_run(
    directory: Path,
    scalars: dict[str, dict[int, float]],
    tensor_tags: tuple[str, ...] = (),
) -> None:
    """Write real event files with TensorBoard's own writer (no TF or torch)."""
    writer_module = pytest.importorskip("tensorboard.summary.writer.event_file_writer")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.scalar import summary_v2

    writer = writer_module.EventFileWriter(str(directory))
    for tag, points in scalars.items():
        for step, value in points.items():
            if tag in tensor_tags:  # TF2-style tensor scalar
                summary = summary_v2.scalar_pb(tag, value)
            else:  # legacy simple_value scalar (PyTorch / tensorboardX style)
                summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            writer.add_event(Event(step=step, wall_time=time.time(), summary=summary))
    writer.close()


def test_tensorboard_runs_are_directories_and_tags_are_keys(tmp_path):
    root = tmp_path / "logs"
    write_tensorboard_run(
        root / "exp" / "run1",
        {
            "actor/entropy": {1: 0.5, 2: 0.25, 3: 0.125},
            "val/acc": {0: 0.125, 3: 0.75},
        },
        tensor_tags=("val/acc",),
    )
    write_tensorboard_run(root / "exp" / "run2", {"actor/entropy": {1: 1.0}})
    with pytest.warns(DataWarning, match=r"run 'exp/run2' dropped: no perf key"):
        table = read_source(root)
    check_canonical(table)
    rows = run_rows(table, "exp/run1")
    assert rows.index.tolist() == [0, 1, 2, 3]
    assert rows["entropy"].dropna().tolist() == [0.5, 0.25, 0.125]
    assert rows["perf"].dropna().tolist() == [0.125, 0.75]
    assert detect_format(root) == "tensorboard"


def test_tensorboard_directory_with_events_itself_and_tensorboardx(
    tmp_path, no_warnings
):
    tensorboardx = pytest.importorskip("tensorboardX")
    run = tmp_path / "single"
    writer = tensorboardx.SummaryWriter(str(run))
    for step in range(3):
        writer.add_scalar("policy_entropy", 1.0 - step / 4, step)
    writer.add_scalar("eval/accuracy", 0.5, 2)
    writer.close()
    table = read_tensorboard(run)
    assert table["run"].unique().tolist() == ["single"]
    assert table["entropy"].tolist() == [1.0, 0.75, 0.5] and table[
        "perf"
    ].dropna().tolist() == [0.5]


def test_tensorboard_directory_without_events_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no TensorBoard event file"):
        read_tensorboard(tmp_path)
    with pytest.raises(DataError, match=r"nothing readable in this directory or below \(looked for TensorBoard event files, .*\); it is empty$"):
        read_source(tmp_path)


# ---------------------------------------------------------------------------
# read_source and detection
# ---------------------------------------------------------------------------


def test_detect_format_by_name_and_content(tmp_path):
    assert detect_format(FILES / "verl_new.log") == "verl"
    assert detect_format(FILES / "wandb_perf.csv") == "wandb"
    assert detect_format(FILES / "metrics.jsonl") == "jsonl"
    plain = tmp_path / "notes.txt"
    plain.write_text("hello\n")
    with pytest.raises(DataError, match="no verl 'step:N"):
        detect_format(plain)
    tidy = tmp_path / "tidy.csv"
    tidy.write_text("run,step,entropy\n")
    with pytest.raises(DataError, match="not a W&B export"):
        detect_format(tidy)
    with pytest.raises(DataError, match="no such file"):
        read_source(tmp_path / "missing.log")
    with pytest.raises(ValueError, match="format"):
        read_source(FILES / "verl_new.log", format="excel")


def test_read_source_mixes_formats_and_rejects_duplicate_runs(tmp_path):
    with pytest.warns(DataWarning):
        table = read_source(
            [
                FILES / "verl_old.log",
                FILES / "metrics.jsonl",
                FILES / "wandb_entropy.csv",
                FILES / "wandb_perf.csv",
            ]
        )
    assert sorted(table["run"].unique()) == sorted(
        [
            "verl_old",
            "jsonl-a",
            "jsonl-b",
            "Qwen2.5-1.5B-Instruct-grpo-seed1",
            "llama-3.2-1b-ppo",
        ]
    )
    other = tmp_path / "again"
    other.mkdir()
    shutil.copyfile(FILES / "verl_old.log", other / "verl_old.log")
    with pytest.raises(DataError, match="run name 'verl_old' occurs in"):
        read_source([FILES / "verl_old.log", other / "verl_old.log"])


def test_explicit_format_skips_detection(tmp_path):
    path = tmp_path / "console.out"
    shutil.copyfile(FILES / "verl_old.log", path)
    table = read_source(path, format="verl")
    assert table["run"].unique().tolist() == ["console"]


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("meta_file", ["meta.csv", "meta.toml"])
def test_metadata_file_sets_fields_and_star_row_applies_to_all(meta_file, no_warnings):
    table = read_jsonl(FILES / "metrics.jsonl", meta=FILES / meta_file)
    fields = table.groupby("run")[["model", "params", "algorithm", "seed"]].first()
    assert fields.loc["jsonl-a"].tolist() == [
        "Qwen2.5-7B-Instruct",
        7.61e9,
        "GRPO",
        "1",
    ]
    assert fields.loc["jsonl-b"].tolist() == ["my-private-model", 1.5e9, "PPO", "2"]


def test_metadata_toml_array_of_tables(tmp_path):
    path = tmp_path / "meta.toml"
    path.write_text(
        '[[runs]]\nrun = "*"\nalgorithm = "GRPO"\n'
        '[[runs]]\nrun = "jsonl-b"\nparams = 1.5e9\nseed = 3\n'
    )
    assert load_meta(path) == {
        "*": {"algorithm": "GRPO"},
        "jsonl-b": {"params": 1.5e9, "seed": "3"},
    }


def test_wandb_windows_line_endings(tmp_path, no_warnings):
    path = tmp_path / "crlf.csv"
    path.write_bytes(
        b'"Step","r - entropy","r - val_acc"\r\n"1","0.5",""\r\n"2","0.4","0.3"\r\n'
    )
    table = read_source(path)
    assert table["entropy"].tolist() == [0.5, 0.4] and table["perf"].iloc[1] == 0.3


def test_metadata_options_override_the_source():
    table = read_verl_log(
        FILES / "verl_old.log", meta={"model": "Qwen2.5-3B", "seed": 7}
    )
    assert table[["model", "params", "algorithm", "seed"]].iloc[0].tolist() == [
        "Qwen2.5-3B",
        3.09e9,
        "PPO",
        "7",
    ]
    per_run = read_verl_log(
        FILES / "verl_old.log", meta={"verl_old": {"params": "494M"}}
    )
    assert per_run["params"].iloc[0] == 494e6


def test_metadata_errors_and_unknown_runs(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,model\nx,y\n")
    with pytest.raises(DataError, match=r"no 'run' column; columns found: name, model"):
        load_meta(bad)
    bad_params = tmp_path / "bad_params.csv"
    bad_params.write_text("run,params\nx,lots\n")
    with pytest.raises(DataError, match=r"line 2, run 'x'.*params"):
        load_meta(bad_params)
    with pytest.warns(DataWarning, match="metadata for unknown run"):
        read_verl_log(FILES / "verl_old.log", meta={"other-run": {"seed": 1}})
    with pytest.raises(ValueError, match="meta"):
        load_meta({"model": "x", "run-a": {"seed": 1}})


@pytest.mark.parametrize(
    ("name", "model", "params"),
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen2.5-0.5B-Instruct", 0.49e9),
        ("qwen2.5-0.5b-instruct-gsm8k-crpo-no-branch", "Qwen2.5-0.5B-Instruct", 0.49e9),
        ("Qwen2.5-0.5B-bsz256_2-prompt1024-resp512-0.567", "Qwen2.5-0.5B", 0.49e9),
        ("Qwen2.5-72B", "Qwen2.5-72B", 72.7e9),
        ("Qwen2.5_7B_grpo", "Qwen2.5-7B", 7.61e9),
        ("google/gemma-2-27b-it", "gemma-2-27b-it", 27.2e9),
        ("meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1-8B-Instruct", 8.03e9),
        (
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
            "DeepSeek-R1-Distill-Qwen-1.5B",
            1.78e9,
        ),
        ("Qwen3-30B-A3B", "Qwen3-30B-A3B", 30.5e9),
        ("Qwen3-4B-Base", "Qwen3-4B-Base", 4.0e9),
    ],
)
def test_guess_model_and_params_known_names(name, model, params):
    assert guess_model(name) == model
    assert guess_params(name) == params


@pytest.mark.parametrize(
    "name",
    [
        "my-model",
        "Qwen2.5-Math-7B",
        "Qwen2.5-7B-vs-Qwen2.5-72B",
        "qwen2.5-70b",
        "sft_model_path/global_step_58",
    ],
)
def test_guess_params_records_nothing_when_unknown_or_ambiguous(name):
    assert guess_params(name) is None and guess_model(name) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5B", 1.5e9), ("494M", 494e6), ("7.61e9", 7.61e9), (3e9, 3e9), ("", math.nan)],
)
def test_parse_params(text, value):
    result = parse_params(text)
    assert (math.isnan(result) and math.isnan(value)) or result == value
    with pytest.raises(ValueError):
        parse_params("-3B")
