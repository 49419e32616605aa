"""Form uncertainty: the c = 1 fit beside every free-c fit, the flag ``form disagreement`` and the rule of which to believe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import simulate_run

from scaling.core import law
from scaling.data.load import load
from scaling.data.runtable import make_ident, prepare_run
from scaling.fitting import engine as batch
from scaling.fitting import forms
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.result import C1_COLUMNS, FitOptions
from scaling.fitting.single import fit_run
from scaling.fitting.status import USABLE_VALUES, FitStatus, worst


def points(S, y, step=None, run: str = "r"):
    """A prepared run for the engine."""
    return prepare_run(S, y, step, make_ident(run, "", float("nan"), "", ""))[0]


def plateau_run(n: int = 60, sd: float = 0.003, seed: int = 1):
    """c = -2 (a plateau): the free-c and c = 1 ceilings part ways at S = 0."""
    S = np.linspace(1.0, 0.2, n)
    return S, 0.8 - 0.1 * law.g(S, -2.0) + sd * np.random.default_rng(seed).standard_normal(n)


def paper_law_run(rng: np.random.Generator, n: int = 80):
    """A run that follows the law with c = 1: both forms agree."""
    step, S, y = simulate_run(rng, n=n, P0=0.9, beta=0.5, c=1.0, sd=0.005, rho=0.3)
    return S, y, step


def test_ceiling_c1_is_the_least_squares_fit_with_c_1(rng):
    S, y, step = paper_law_run(rng)
    fit = fit_run(S, y, step)
    X = np.column_stack([np.ones_like(S), -np.expm1(S)])  # [1, -g_1(S)]
    (P0, _), *_ = np.linalg.lstsq(X, y, rcond=None)
    assert fit.ceiling_c1 == pytest.approx(P0, abs=1e-9)
    assert fit.paper.c == 1.0 and fit.paper.mode == "paper"


@pytest.mark.parametrize("ci", ["hac", "bootstrap"])
def test_ceiling_c1_interval_is_the_paper_fits_interval(rng, ci):
    S, y, step = paper_law_run(rng)
    opts = FitOptions(ci=ci, n_boot=200)
    # the c = 1 interval is HAC, also beside a bootstrapped free-c fit (forms module docstring)
    fit, paper = fit_run(S, y, step, options=opts), fit_run(S, y, step, mode="paper", options=replace(opts, ci="hac"))
    assert fit.ci_method == ci and fit.paper.ci_method == "hac"
    assert fit.conf_int("ceiling_c1") == pytest.approx(paper.conf_int("ceiling"), abs=1e-12)
    assert fit.conf_int("ceiling_c1", alpha=0.2) == pytest.approx(paper.conf_int("ceiling", alpha=0.2), abs=1e-12)
    row = fit.summary().loc["ceiling_c1"]
    assert (row["lo"], row["hi"]) == pytest.approx(paper.conf_int("ceiling"), abs=1e-12)


def test_delta_aicc_is_free_minus_paper(rng):
    S, y, step = paper_law_run(rng)
    fit, paper = fit_run(S, y, step), fit_run(S, y, step, mode="paper")
    assert fit.delta_aicc_c1 == pytest.approx(fit.aicc - paper.aicc, abs=1e-8)


def test_flag_when_the_ceiling_intervals_do_not_overlap(rng):
    flagged = fit_run(*plateau_run())
    lo, hi = flagged.conf_int("ceiling")
    lo1, hi1 = flagged.conf_int("ceiling_c1")
    assert hi1 < lo or hi < lo1
    assert FitStatus.FORM_DISAGREEMENT in flagged.flags
    assert flagged.status == worst(flagged.flags) != FitStatus.FORM_DISAGREEMENT  # a flag, never the status
    agreeing = fit_run(*paper_law_run(rng))
    lo, hi = agreeing.conf_int("ceiling")
    lo1, hi1 = agreeing.conf_int("ceiling_c1")
    assert not (hi1 < lo or hi < lo1)
    assert FitStatus.FORM_DISAGREEMENT not in agreeing.flags and agreeing.status == FitStatus.OK


def test_flag_is_exactly_disjoint_intervals_on_a_batch(rng):
    raw = [paper_law_run(rng, n=60) for _ in range(6)] + [(*plateau_run(seed=s), None) for s in range(3)]
    for i in range(6):  # curves of other rates, some of them far from c = 1
        step, S, y = simulate_run(rng, n=70, P0=0.9, beta=0.4, c=(-1.5, 0.0, 0.5, 2.0, 3.0, 4.0)[i], sd=0.004)
        raw.append((S, y, step))
    runs = [points(S, y, st, f"r{i}") for i, (S, y, st) in enumerate(raw)]
    frame = batch.fit_runs(runs).to_frame()
    apart = (frame["ceiling_hi"] < frame["ceiling_c1_lo"]) | (frame["ceiling_c1_hi"] < frame["ceiling_lo"])
    apart &= frame["status"].isin(USABLE_VALUES)
    has_flag = frame["flags"].str.contains("form disagreement")
    assert apart.any() and (~apart).any()
    assert (apart == has_flag).all()


def test_runs_without_an_estimate_get_nan():
    fit = fit_run(np.array([0.5, 0.4, 0.3]), np.array([0.1, 0.2, 0.3]))
    assert not fit.has_estimate
    assert np.isnan(fit.ceiling_c1) and np.isnan(fit.delta_aicc_c1) and fit.preferred_form == ""
    runs = [points(*plateau_run()), points(np.array([0.5, 0.4, 0.3]), np.array([0.1, 0.2, 0.3]))]
    frame = batch.fit_runs(runs).to_frame()
    assert frame.loc[1, ["ceiling_c1", "ceiling_c1_lo", "ceiling_c1_hi", "delta_aicc_c1"]].isna().all()
    assert frame.loc[1, "preferred_form"] == "" and frame.loc[0, "preferred_form"] == "free"


def test_fixed_c_fits_have_no_companion():
    fit = fit_run(*plateau_run(), mode="paper")
    assert fit.paper is None and np.isnan(fit.ceiling_c1)
    assert "ceiling_c1" not in fit.summary().index and "ceiling_c1" not in fit.to_frame()


def test_columns_in_every_table_agree(rng):
    parts = []
    for name, (S, y) in {"plateau": plateau_run(), "law": paper_law_run(rng)[:2]}.items():
        parts.append(pd.DataFrame({"run": name, "model": "m", "params": 1e6, "step": np.arange(S.size), "entropy": S, "perf": y}))
    res = fit_dataset(load(pd.concat(parts)))
    frame = res.to_frame()
    assert set(C1_COLUMNS) <= set(frame.columns)
    runs = [points(f.entropy, f.perf, f.step, f.run) for f in res]
    engine_frame = batch.fit_runs(runs, options=res.options).to_frame()
    for col in C1_COLUMNS[:4]:
        assert np.allclose(frame[col], engine_frame[col], atol=1e-10, equal_nan=True), col
    assert frame["preferred_form"].tolist() == engine_frame["preferred_form"].tolist()
    text = res.summary_text()
    assert "ceiling c=1" in text and "dAICc" in text and "disagree: free c" in text


def test_choose_form_rule():
    assert forms.choose_form(-12.3, False, False) == ("free", "its AICc is lower by 12.3")
    assert forms.choose_form(3.0, False, False)[0] == "paper"
    assert forms.choose_form(0.0, False, False)[0] == "paper"  # a tie goes to the simpler form
    assert "weak evidence" in forms.choose_form(-1.0, False, False)[1]
    # the residual check overrules AICc (a free-c fit with a systematic misfit prefers c = 1)
    assert forms.choose_form(-12.3, True, False)[0] == "paper"
    assert forms.choose_form(12.3, False, True)[0] == "free"
    assert forms.choose_form(float("nan"), False, False)[0] == ""


def test_preferred_form_reads_the_residual_check():
    fit = fit_run(*plateau_run())
    assert fit.preferred_form == "free"  # AICc favours the free c by far
    # c = 1 cannot bend into the plateau: its residuals show the pattern, the free c's do not
    assert FitStatus.SYSTEMATIC_MISFIT in fit.paper.flags and FitStatus.SYSTEMATIC_MISFIT not in fit.flags
    # the same fits with the residual check's verdicts swapped: the check overrules AICc
    swapped = replace(fit, flags=fit.flags + (FitStatus.SYSTEMATIC_MISFIT,), paper=replace(fit.paper, flags=()))
    form, why = forms.preferred_form(swapped)
    assert form == "paper" and "systematic pattern" in why


def test_entropy_units_change_the_c1_curve():
    """c = 1 is per nat: the same run in bits gives another c = 1 ceiling, while the free-c ceiling stays."""
    S, y = plateau_run()
    nats, bits = fit_run(S, y), fit_run(S / np.log(2), y)
    assert bits.ceiling == pytest.approx(nats.ceiling, abs=1e-7)
    assert abs(bits.ceiling_c1 - nats.ceiling_c1) > 1e-3



def test_rescreen_recomputes_the_flag_at_its_level():
    from scaling.fitting.screen import rescreen

    fit = fit_run(*plateau_run(), options=FitOptions(perf_range=None))
    assert FitStatus.FORM_DISAGREEMENT in fit.flags
    wide = FitOptions(perf_range=None, alpha=1e-9)  # intervals so wide that they overlap
    again = rescreen(fit, wide)
    assert FitStatus.FORM_DISAGREEMENT not in again.flags
    assert again.flags == fit_run(*plateau_run(), options=wide).flags
