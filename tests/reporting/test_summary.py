"""The summary at the top of the report, the page's layout rules, and the forecasts of unfinished runs."""

from __future__ import annotations

import dataclasses
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling.data.sources import load
from scaling.fitting.dataset import fit_dataset
from scaling.forecasting.forecast import forecast_unfinished, run_horizons
from scaling.reporting.blocks import html_table, run_anchor
from scaling.reporting.page import _CSS, full_sections, write_report
from scaling.study import Study, StudySettings

DATA = Path(__file__).resolve().parents[2] / "data" / "runs.csv"
RUN = "task,model,algorithm,seed"


class Structure(HTMLParser):
    """Sections in order, ids, internal links, tables and what wraps them, and where the first image is."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.sections: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tables_unwrapped = 0
        self.tables = 0
        self.first_img_section: str | None = None
        self.section: str | None = None
        self.summary_tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "section":
            self.section = a.get("id")
            self.sections.append(self.section)
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "img" and self.first_img_section is None:
            self.first_img_section = self.section
        if tag == "table":
            self.tables += 1
            if not (self.stack and self.stack[-1][0] == "div" and "table-wrap" in self.stack[-1][1].get("class", "")):
                self.tables_unwrapped += 1
            if self.section == "summary":
                self.summary_tables.append([])
        if tag == "tr" and self.section == "summary":
            self.summary_tables[-1].append([])
        if tag in ("td", "th") and self.section == "summary":
            self._cell = []
        if tag not in ("wbr", "img", "meta", "br"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.summary_tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def bundled():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load(DATA, run=RUN, perf="val_acc")
        study = Study.run(ds, StudySettings(analyses=("forecast", "across")))
    return ds, study


@pytest.fixture(scope="module")
def page(bundled, tmp_path_factory):
    _, study = bundled
    out = tmp_path_factory.mktemp("summary")
    rep = write_report(study, out, sections=full_sections(compare=False), per_run=False, dpi=30)
    raw = rep.path.read_text(encoding="utf-8")
    s = Structure()
    s.feed(raw)
    return rep, raw, s


def test_the_summary_comes_first_and_answers_before_any_figure(page, bundled):
    rep, raw, s = page
    _, study = bundled
    assert s.sections[:3] == ["summary", "warnings", "data"]
    assert s.first_img_section not in (None, "summary", "warnings")  # no figure before the answers
    models, predicted = s.summary_tables[0], s.summary_tables[1]
    # one row per model (add3: s, m, l; add4: s, m, l, xl, xxl) with its ceiling interval
    assert [r[:2] for r in models[1:]] == [["add3", "s"], ["add3", "m"], ["add3", "l"], ["add4", "s"], ["add4", "m"], ["add4", "l"], ["add4", "xl"], ["add4", "xxl"]]
    pts = {(r.task, m["model"]): m for r in study.across for _, m in r.points().iterrows()}
    ceiling_col = models[0].index("ceiling [95% CI]")
    for row in models[1:]:
        if (row[0], row[1]) in pts:
            p = pts[(row[0], row[1])]
            assert row[ceiling_col] == f"{p['ceiling']:.3f} [{p['ceiling_lo']:.3f}, {p['ceiling_hi']:.3f}]"
    assert models[4][ceiling_col] == "none: no usable run"  # add4/s: 8 poor fits
    # the predicted ceilings of 10x and 100x the largest size, per task, with the form
    assert len(predicted) == 1 + 2 * 2
    pred = study.across_predictions["add4"]
    assert predicted[3][2] == f"{pred['ceiling_pred'].iat[0]:.3f} [{pred['ceiling_lo'].iat[0]:.3f}, {pred['ceiling_hi'].iat[0]:.3f}]"
    assert predicted[3][3].startswith("mixture (linear/identity")
    # the summary's own table is written too
    models_csv = pd.read_csv(rep.path.parent / "tables" / "summary_models.csv")
    assert len(models_csv) == 8 and models_csv["runs"].sum() == 45


def test_unusable_runs_are_counted_and_linked_to_their_rows(page, bundled):
    _, raw, s = page
    _, study = bundled
    unusable = s.summary_tables[-1]
    assert [r[:2] for r in unusable[1:]] == [["poor fit", "8"], ["late collapse", "1"]]
    summary = raw.split('<section id="warnings">')[0]
    linked = re.findall(r'href="#(run-[^"]+)"', summary)
    assert len(linked) == 9 and set(linked) <= s.ids  # every link lands on a row of the fits table
    assert run_anchor("add4/xxl/grpo/0") in linked
    assert all(target in s.ids for target in s.links)  # no dead internal link anywhere on the page


def test_layout_fits_a_narrow_window(page):
    _, raw, s = page
    assert s.tables > 10 and s.tables_unwrapped == 0  # every table scrolls inside its own box
    css = re.sub(r"\s+", " ", _CSS)
    assert ".table-wrap { overflow-x: auto;" in css
    assert "figure img { max-width: 100%; height: auto;" in css
    assert "anywhere" not in css  # names break at separators, not mid-word
    assert "add4/<wbr>xxl/<wbr>grpo/<wbr>0" in raw
    assert "grpo_ent" in raw and "_<wbr>" not in raw  # words stay whole


def test_header_names_the_source_files(tmp_path):
    frame = pd.read_csv(DATA)
    first = frame[frame["task"] == "add3"]
    second = frame[frame["task"] == "add4"]
    a, b = tmp_path / "first.csv", tmp_path / "second.csv"
    first.to_csv(a, index=False)
    second.to_csv(b, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load(a, b, run=RUN, perf="val_acc")
        study = Study.run(ds, StudySettings(analyses=()))
    rep = write_report(study, tmp_path / "rep", per_run=False, dpi=30)
    header = rep.path.read_text(encoding="utf-8").split("<nav>")[0]
    assert "Source: first.csv, second.csv · 45 runs" in header


def test_html_table_row_ids_and_wrapping_columns():
    frame = pd.DataFrame({"run": ["a/b_c"], "why": ["a long reason"], "n": [3]})
    out = html_table(frame, row_ids=["r1"], wrap_columns=["why"])
    assert '<tr id="r1">' in out and "<td>a/<wbr>b_c</td>" in out and '<td class="wrap">a long reason</td>' in out
    assert run_anchor("x/y") != run_anchor("x_y")  # same slug, different runs
    assert re.fullmatch(r"run-[A-Za-z0-9._-]+", run_anchor("<script>/é"))


def cut(ds, fraction: float):
    """The data set with every run cut after ``fraction`` of its steps (unfinished runs)."""
    pts = ds.points
    g = pts.groupby("run")["step"]
    lo, hi = g.transform("min"), g.transform("max")
    return dataclasses.replace(ds, points=pts[pts["step"] <= lo + fraction * (hi - lo)].reset_index(drop=True))


def test_unfinished_runs_are_forecast_to_the_end_of_their_task(bundled):
    ds, _ = bundled
    usable = [f.run for f in fit_dataset(ds, "free").fits if f.status.usable]
    final = ds.points.sort_values("step").groupby("run")["perf"].last()
    ends = run_horizons(ds)  # add3 runs end at step 300, add4 runs at 200
    assert {ends["add3/s/grpo/0"], ends["add4/xl/grpo/0"]} == {300.0, 200.0}
    half = cut(ds, 0.5)
    frames = [
        forecast_unfinished(half, horizon=end, runs=[r for r in usable if ends[r] == end], progress=False).to_frame()
        for end in (200.0, 300.0)
    ]
    fc = pd.concat(frames, ignore_index=True)
    assert len(fc) == len(usable) == 36 and set(fc["fraction"]) == {1.0}
    assert all(fc["final_step"] == [ends[r] for r in fc["run"]])
    ok = fc[fc["status"] == "ok"]
    actual = final.reindex(ok["run"]).to_numpy()
    inside = (ok["final_lo"].to_numpy() <= actual) & (actual <= ok["final_hi"].to_numpy())
    # measured: 34 forecasts, 32 inside their 95% intervals (0.94), mean absolute error 0.0115 (cut at 30%: 29 of 36, 0.019)
    assert len(ok) >= 32 and inside.mean() >= 0.85
    assert np.abs(ok["final_pred"].to_numpy() - actual).mean() < 0.02


def test_the_summary_lists_unfinished_runs_with_their_horizon(bundled, tmp_path):
    ds, _ = bundled
    pts = ds.points
    short = ["add4/xl/grpo/0", "add3/m/rloo/0"]
    keep = ~pts["run"].isin(short) | (pts["step"] <= 180)
    partial = dataclasses.replace(ds, points=pts[keep].reset_index(drop=True))
    assert run_horizons(partial)["add4/xl/grpo/0"] == 200.0  # the longest run of add4/xl
    assert run_horizons(partial, 250.0)["add3/s/grpo/0"] == 250.0
    # a model's only run is finished, whatever the other models' schedules
    pts2 = pts[pts["run"] != "add4/xxl/rloo/0"]
    solo = dataclasses.replace(ds, points=pts2[(pts2["run"] != "add4/xxl/grpo/0") | (pts2["step"] <= 120)].reset_index(drop=True))
    assert run_horizons(solo)["add4/xxl/grpo/0"] == 120.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = Study.run(partial, StudySettings(analyses=("forecast",)))
    assert sorted(f.run for f in study.unfinished) == sorted(short)
    rep = write_report(study, tmp_path, sections=full_sections(compare=False, across=False), per_run=False, dpi=30)
    s = Structure()
    s.feed(rep.path.read_text(encoding="utf-8"))
    table = next(t for t in s.summary_tables if t[0][0] == "run")
    assert sorted(r[0] for r in table[1:]) == sorted(short)
    assert {r[0]: (r[2], r[3]) for r in table[1:]} == {"add4/xl/grpo/0": ("180", "200"), "add3/m/rloo/0": ("180", "300")}
    written = pd.read_csv(tmp_path / "tables" / "summary_unfinished.csv")
    assert sorted(written["run"]) == sorted(short)
    with pytest.raises(ValueError, match="horizon"):
        StudySettings(horizon=0.0)


def test_runs_without_an_algorithm_are_counted_apart(tmp_path):
    frame = pd.read_csv(DATA)
    frame = frame[(frame["task"] == "add4") & (frame["model"] == "m")].copy()
    frame["run"] = frame["algorithm"] + "/" + frame["seed"].astype(str)
    frame.loc[frame["algorithm"] != "grpo", "algorithm"] = ""  # 6 of the 8 runs name no algorithm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = Study.run(load(frame, run="run", perf="val_acc"), StudySettings(analyses=()))
    rep = write_report(study, tmp_path, per_run=False, dpi=30)
    data = rep.path.read_text(encoding="utf-8").split('<section id="data">')[1]
    assert "1 algorithm (grpo); 6 runs without an algorithm." in data


def test_the_summary_quotes_the_early_predictions_own_coverage(page):
    _, raw, _ = page
    text = re.sub(r"<[^>]+>", "", raw)
    summary = re.search(r"held the final value for (\d+) of (\d+) runs", text)
    section = re.search(r"prediction intervals contained the final value for (\d+) of (\d+) runs", text)
    # the same runs (usable whole-run fits; not the late collapse, which is shown apart)
    assert summary and section and summary.groups() == section.groups()
    assert summary.groups() == ("33", "36")  # the 36 usable runs; the late collapse is not counted (it was: "34 of 37")
