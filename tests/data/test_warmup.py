"""Warm-up detection (scaling.data.warmup) and the warmup option of load, fit and the CLI."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scaling as sc
from scaling.cli import app
from scaling.core import law
from scaling.data.warmup import MIN_REST, apply_warmup, detect_warmup, parse_warmup
from scaling.simulate import ar1_noise

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def law_run(seed: int, n: int = 60, c: float = 1.0, sd: float = 0.01, s_start: float = 0.7, start: float = 0.35):
    """A clean law run rising from ``start`` to 0.8 as entropy falls from ``s_start`` to 0.1."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    S = 0.1 + (s_start - 0.1) * np.exp(-3 * t)
    beta = (0.8 - start) / float(law.g(np.array([S[0]]), c)[0])
    return np.arange(n, dtype=float), S, 0.8 - beta * law.g(S, c) + ar1_noise(rng, n, sd, 0.5)


def as_frame(runs: dict[str, tuple]) -> pd.DataFrame:
    parts = [pd.DataFrame(dict(run=r, step=st, entropy=S, perf=y)) for r, (st, S, y) in runs.items()]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("c", [-2.0, 1.0, 4.0])
def test_clear_warmup_found_with_its_length(k, c):
    step, S, y = law_run(k, c=c)
    y[:k] = np.linspace(0.0, 0.02, k)
    found, reason = detect_warmup(S, y, step)
    assert found == k, reason
    assert "below" in reason


def test_gradual_warmup_like_verl():
    """Floor, floor, half-way, then the curve: all three leading points go."""
    step, S, y = law_run(7)
    y[:3] = [0.001, 0.013, 0.176]
    assert detect_warmup(S, y, step)[0] == 3


@pytest.mark.parametrize("sd", [0.0, 0.01, 0.03, 0.06])
@pytest.mark.parametrize("c", [-2.0, 1.0, 4.0])
def test_clean_law_runs_are_not_flagged(sd, c):
    flagged = [seed for seed in range(10) if detect_warmup(*law_run(100 + seed, c=c, sd=sd)[1:])[0] > 0]
    assert flagged == []


@pytest.mark.parametrize("seed", range(5))
def test_first_point_legitimately_low_on_a_steep_curve(seed):
    """A steep start (c = 5, entropy from 1.2 nats, curve from 0.05): the low first points lie on the law."""
    step, S, y = law_run(200 + seed, n=40, c=5.0, sd=0.005, s_start=1.2, start=0.05)
    assert y[0] < y[1:].min()  # the first point is the lowest and far below the second
    assert detect_warmup(S, y, step)[0] == 0


def test_short_runs_are_not_tested():
    step, S, y = law_run(1, n=MIN_REST)
    y[0] = 0.0
    k, reason = detect_warmup(S, y, step)
    assert k == 0 and "not tested" in reason


def test_detection_is_unit_free():
    step, S, y = law_run(3, c=1.0, sd=0.02)
    y[:2] = [0.0, 0.01]
    assert detect_warmup(S, y, step)[0] == 2
    assert detect_warmup(10 * S, 100 * y + 3, step)[0] == 2
    assert detect_warmup(1e-3 * S, 1e-6 * y - 5, step)[0] == 2


def test_order_is_by_step():
    step, S, y = law_run(4)
    y[:2] = 0.0
    perm = np.random.default_rng(0).permutation(step.size)
    assert detect_warmup(S[perm], y[perm], step[perm])[0] == 2


def test_parse_warmup():
    assert parse_warmup("auto") == "auto"
    assert parse_warmup("NONE") == "none"
    assert parse_warmup(None) == "none"
    assert parse_warmup("25") == 25.0
    assert parse_warmup(25) == 25.0
    for bad in ("first", "inf", float("nan")):
        with pytest.raises(ValueError, match="warmup"):
            parse_warmup(bad)


def warm_and_clean() -> pd.DataFrame:
    warm = law_run(11)
    warm[2][:2] = [0.0, 0.004]
    return as_frame({"warm": warm, "clean": law_run(12)})


def test_load_auto_none_and_step():
    frame = warm_and_clean()
    ds = sc.load(frame)
    assert ds.n_warmup("warm") == 2 and ds.n_warmup("clean") == 0
    assert ds.warmup["warm"].steps == (0.0, 1.0)
    assert len(ds.points) == len(frame) - 2
    assert len(ds.table) == len(frame)  # the logged rows stay; only the fitted points lose the warm-up
    assert any("'warm'" in note and "step(s) 0, 1" in note for note in ds.notes)

    none = sc.load(frame, warmup="none")
    assert len(none.points) == len(frame)
    assert all(w.n == 0 for w in none.warmup.values())

    step = sc.load(frame, warmup=5)
    assert step.points["step"].min() == 5
    assert step.n_warmup("warm") == 5 and step.n_warmup("clean") == 5
    assert len(step.points) == len(frame) - 10

    with pytest.raises(ValueError, match="warmup"):
        sc.load(frame, warmup="sometimes")


def test_fit_table_has_n_warmup_last_and_message():
    res = sc.fit(sc.load(warm_and_clean()))
    frame = res.to_frame()
    assert frame.columns[-1] == "n_warmup"
    assert dict(zip(frame["run"], frame["n_warmup"])) == {"warm": 2, "clean": 0}
    assert "warm-up: 2 leading point(s) at step(s) 0, 1 left out" in res["warm"].message
    assert "warm-up" not in res["clean"].message
    assert res["warm"].n_points == 58


def test_cli_warmup_option(tmp_path):
    tidy = tmp_path / "runs.csv"
    frame = warm_and_clean()
    frame.assign(model="m", params=1e6, algorithm="ppo", seed=0).to_csv(tidy, index=False)
    out = tmp_path / "fit.csv"
    res = runner.invoke(app, ["fit", str(tidy), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "warm-up of 2 point(s) at step(s) 0, 1" in res.output
    table = pd.read_csv(out)
    assert dict(zip(table["run"], table["n_warmup"])) == {"warm": 2, "clean": 0}
    res = runner.invoke(app, ["fit", str(tidy), "--warmup", "none", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert (table["n_warmup"] == 0).all() and (table["n_points"] == 60).all()
    res = runner.invoke(app, ["fit", str(tidy), "--warmup", "10", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (pd.read_csv(out)["n_points"] == 50).all()
    res = runner.invoke(app, ["fit", str(tidy), "--warmup", "maybe"])
    assert res.exit_code == 2 and "warmup" in res.output


def test_apply_warmup_on_empty_points():
    empty = pd.DataFrame(columns=["run", "step", "entropy", "perf"])
    points, warm = apply_warmup(empty)
    assert points.empty and warm == {}


def test_bundled_runs_have_no_warmup():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = sc.load(ROOT / "data" / "runs.csv", run="task,model,algorithm,seed", perf="val_acc")
    assert len(ds.warmup) == 45
    assert [r for r, w in ds.warmup.items() if w.n] == []


def test_verl_qwen_warmup_and_ceiling(shared_dir):
    """Acceptance: the Qwen2.5-0.5B PPO logs get a warm-up by default, and the default ceiling
    interval overlaps that of the same run with its first 25 steps removed by hand."""
    verl = shared_dir / "realdata" / "verl-data"
    logs = sorted((verl / "raw").glob("Qwen2.5-0.5B*.log"))
    assert len(logs) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = sc.load(*logs)
        fits = sc.fit(ds).to_frame().set_index("run")
        for log in logs:
            run = log.stem
            assert ds.n_warmup(run) >= 1
            assert fits.loc[run, "n_warmup"] >= 1
            by_hand = sc.load(log, warmup="none")
            pts = by_hand.points[by_hand.points["step"] >= 25]
            manual = sc.fit(sc.load(pts.assign(run=run), warmup="none")).to_frame().iloc[0]
            lo, hi = fits.loc[run, "ceiling_lo"], fits.loc[run, "ceiling_hi"]
            assert lo <= manual["ceiling_hi"] and manual["ceiling_lo"] <= hi, (run, lo, hi, manual["ceiling_lo"], manual["ceiling_hi"])
        # without detection the resp512 run keeps its warm-up and the intervals do not overlap
        none = sc.fit(sc.load(*logs, warmup="none")).to_frame().set_index("run")
    run = "Qwen2.5-0.5B-bsz256_2-prompt1024-resp512-0.567"
    assert none.loc[run, "ceiling_hi"] < fits.loc[run, "ceiling_lo"]
