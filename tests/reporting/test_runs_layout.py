"""The report at any size: runs as small multiples with a cap, each section rendered as it is built.

Speed itself is measured by benchmarks/bench_report.py, not here: these tests check the layout and
the order of the work that keeps time and memory in bounds.
"""

from __future__ import annotations

import gc
import math
import re
import weakref
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import typer.testing

from scaling import comparison as C
from scaling.cli import app
from scaling.data.load import load
from scaling.fitting.single import FitStatus
from scaling.forked import can_fork
from scaling.plotting import figures as P
from scaling.reporting.blocks import PER_RUN_PANELS, ReportContext, ReportFigure, Section
from scaling.reporting.fit_sections import runs_section
from scaling.reporting.page import write_report
from scaling.study import Study, StudySettings
from tests.conftest import simulate_run

PANELS = P.RUN_GRID_PANELS


def sweep(n_runs: int, rng: np.random.Generator, n: int = 24) -> pd.DataFrame:
    """``n_runs`` short simulated runs over two models and two algorithms (seeds make them distinct)."""
    parts = []
    for i in range(n_runs):
        model, algo = ("m1", "m2")[i % 2], ("grpo", "rloo")[(i // 2) % 2]
        step, S, y = simulate_run(rng, n=n, P0=0.8, beta=0.5, sd=0.01)
        parts.append(pd.DataFrame(dict(run=f"{model}/{algo}/{i}", model=model, params=1e6 if model == "m1" else 4e6,
                                       algorithm=algo, seed=str(i), step=step, entropy=S, perf=y)))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def study():
    return Study.run(load(sweep(37, np.random.default_rng(5))), StudySettings(analyses=()))


class Blocks(HTMLParser):
    """The per-run blocks (number, text) and the figures (id, number of the first and last run in the caption)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[int, str]] = []
        self.figures: dict[str, str] = {}
        self._block: int | None = None
        self._figure: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details" and "run" in (attrs.get("class") or ""):
            self._block = int(attrs["id"].removeprefix("run-"))
            self.blocks.append((self._block, ""))
        if tag == "figure":
            self._figure = attrs["id"]
            self.figures[self._figure] = ""
        if tag == "a" and self._block is not None:
            k, text = self.blocks[-1]
            self.blocks[-1] = (k, text + f"[{attrs['href']}]")

    def handle_endtag(self, tag):
        if tag == "details":
            self._block = None
        if tag == "figure":
            self._figure = None

    def handle_data(self, data):
        if self._block is not None:
            k, text = self.blocks[-1]
            self.blocks[-1] = (k, text + data)
        if self._figure is not None:
            self.figures[self._figure] += data


def runs_page(study, tmp_path, **kw):
    rep = write_report(study, tmp_path / "rep", sections=[("figures per run", runs_section)], dpi=30, **kw)
    parser = Blocks()
    html = rep.path.read_text(encoding="utf-8")
    parser.feed(html)
    return rep, parser, html


@pytest.mark.parametrize("cap", [None, 20, 0])
def test_runs_are_drawn_in_pages_of_panels_up_to_the_cap(study, tmp_path, cap):
    n = sum(1 for f in study.fits.fits if f.entropy.size)
    drawn = n if cap is None else min(cap, n)
    rep, page, html = runs_page(study, tmp_path, per_run_figures=cap)
    pngs = sorted(p.name for p in rep.figures if p.suffix == ".png")
    assert pngs == sorted(f"runs_{i + 1}.png" for i in range(math.ceil(drawn / PANELS)))
    assert [k for k, _ in page.blocks] == list(range(1, n + 1))  # every run keeps its block, numbered in order
    for k, text in page.blocks:
        if k <= drawn:  # the block names its panel, and the figure it links to draws that run
            fig, panel = (k - 1) // PANELS + 1, (k - 1) % PANELS + 1
            assert f"Panel {panel} of figure" in text and f"[#fig-runs_{fig}]" in text
            first, last = map(int, re.search(r"Runs (\d+) to (\d+) of", page.figures[f"fig-runs_{fig}"]).groups())
            assert first <= k <= last and last - first < PANELS
        else:
            assert "Not drawn" in text and "#fig-" not in text
    if drawn < n:
        assert f"The first {drawn} of {n} runs are drawn" in html and "--per-run-figures all" in html
    else:
        assert f"All {n} runs are drawn" in html


def test_the_default_cap_and_the_panel_figure(study):
    assert ReportContext(study).per_run_figures == PER_RUN_PANELS
    runs = [f for f in study.fits.fits if f.entropy.size][:6]
    fig = P.plot_run_grid(runs, numbers=range(11, 17), ncols=4)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 6 and len(fig.axes) == 8  # two rows of four, two left empty
    for ax, f, k in zip(shown, runs, range(11, 17)):
        (title,) = [t for t in ax.texts + [ax.title] if t.get_gid() == "run-title"]
        assert title.get_text().startswith(f"{k}. {f.run}")
        assert (f.status.value in title.get_text()) == (f.status != FitStatus.OK)
        assert len([c for c in ax.collections if c.get_gid() == "points"]) == 1
    with pytest.raises(ValueError, match="numbers"):
        P.plot_run_grid(runs, numbers=[1, 2])


def test_each_section_is_rendered_before_the_next_is_built(study, tmp_path):
    events = []
    made = []

    def lazy():
        events.append("draw")
        fig, _ = P.new_figure(1, 1, (3, 2))
        made.append(weakref.ref(fig))
        return fig

    def first(ctx):
        events.append("build first")
        return Section("one", "One", figures=(ReportFigure("lazy", "drawn when rendered", lazy),))

    def second(ctx):
        events.append("build second")
        gc.collect()
        assert made and made[0]() is None  # the first section's figure was drawn and let go already
        fig, _ = P.new_figure(1, 1, (3, 2))
        return Section("two", "Two", figures=(ReportFigure("eager", "given drawn", fig),))

    rep = write_report(study, tmp_path / "rep", sections=[("one", first), ("two", second)], dpi=30)
    assert events == ["build first", "draw", "build second"]
    assert rep.skipped == {} and {p.name for p in rep.figures} == {"lazy.png", "eager.png"}
    assert plt.get_fignums() == []  # nothing registered with pyplot is left open


@pytest.mark.skipif(not can_fork(), reason="forked processes are used on Linux only")
def test_sections_drawn_in_forked_processes_give_the_same_files(study, tmp_path):
    pages = {}
    for jobs in (1, 3):
        rep = write_report(study, tmp_path / f"rep{jobs}", per_run_figures=20, dpi=40, jobs=jobs)
        files = sorted(p.relative_to(tmp_path / f"rep{jobs}") for p in (tmp_path / f"rep{jobs}").rglob("*") if p.is_file())
        stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")  # the time the page was written
        pages[jobs] = (files, {f: (tmp_path / f"rep{jobs}" / f).read_bytes() for f in files},
                       stamp.sub("", rep.path.read_text()), rep.sections, rep.warnings)  # fmt: skip
    assert len([f for f in pages[1][0] if f.suffix == ".png"]) >= 5
    files, contents, html, sections, warns = pages[1]
    assert pages[3][0] == files and pages[3][2] == html and pages[3][3:] == (sections, warns)
    assert all(pages[3][1][f] == contents[f] for f in files if f.name != "index.html")  # PNG and CSV bytes


def test_a_figure_that_fails_to_draw_loses_only_its_section(study, tmp_path):
    def broken():
        raise RuntimeError("cannot draw")

    def bad(ctx):
        fig, _ = P.new_figure(1, 1, (3, 2))
        return Section("bad", "Bad", figures=(ReportFigure("fine", "", fig), ReportFigure("broken", "", broken)))

    rep = write_report(study, tmp_path / "rep", sections=[("bad", bad), ("figures per run", runs_section)], dpi=30)
    assert "cannot draw" in rep.skipped["bad"]
    assert not any(p.name == "fine.png" for p in rep.figures)  # no file of the failed section is left
    assert not (tmp_path / "rep" / "figures" / "fine.png").exists()
    assert rep.sections == ("Each run",)


def test_ceilings_of_many_runs_in_rows_of_runs_differing_by_seed(study):
    frame = study.fits.to_frame()
    n = int(frame["ceiling"].notna().sum())
    ax = P.plot_ceiling_intervals(frame, max_rows=10)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    groups = frame.groupby(["model", "algorithm"]).size()
    assert len(labels) == len(groups)
    assert sum(int(re.search(r"\((\d+) runs?\)", lab).group(1)) for lab in labels) == len(frame)
    drawn = sum(len(c.lines[0].get_xdata()) for c in ax.containers)
    assert drawn == n  # every run with a ceiling is still drawn
    one = P.plot_ceiling_intervals(frame)  # few runs: one row each
    assert len(one.get_yticklabels()) == len(frame)


def test_a_dense_panel_draws_every_run(study):
    fits = [f for f in study.fits.fits if f.entropy.size]
    m1 = [f for f in fits if f.model == "m1"]
    assert len(m1) > P.DENSE_PANEL
    fig = P.plot_fit_grid(m1)
    (ax,) = [a for a in fig.axes if a.get_visible()]
    points = [c for c in ax.collections if c.get_gid() == "points"]
    assert sum(len(c.get_offsets()) for c in points) == sum(f.n_points for f in m1)
    curves = [c for c in ax.collections if c.get_gid() == "fit-curve"]
    assert sum(len(c.get_segments()) for c in curves) == sum(1 for f in m1 if f.has_estimate)
    usable = [f for f in m1 if f.has_estimate and f.status.usable]
    assert sum(len(c.lines[0].get_ydata()) for c in ax.containers) == len(usable)  # one ceiling per usable run


def test_the_comparison_bootstrap_in_chunks_gives_the_same_p_values(monkeypatch):
    data = load(sweep(8, np.random.default_rng(9), n=30))
    opts = C.CompareOptions(n_boot=99, seed=1)
    whole = C.compare_algorithms(data, options=opts).to_frame()
    monkeypatch.setattr(C, "_BOOT_CELLS", 100)  # a few replicates a chunk
    chunked = C.compare_algorithms(data, options=opts).to_frame()
    pd.testing.assert_frame_equal(whole, chunked, check_exact=True)


def test_the_cli_cap(tmp_path):
    csv = tmp_path / "runs.csv"
    sweep(5, np.random.default_rng(2)).to_csv(csv, index=False)
    quick = ["--no-forecast", "--no-compare", "--no-across"]
    runner = typer.testing.CliRunner()
    bad = runner.invoke(app, ["report", str(csv), "-o", str(tmp_path / "a"), "--per-run-figures", "some", *quick])
    assert bad.exit_code == 2 and "--per-run-figures" in bad.output
    ok = runner.invoke(app, ["report", str(csv), "-o", str(tmp_path / "b"), "--per-run-figures", "3", *quick])
    assert ok.exit_code == 0, ok.output
    html = (tmp_path / "b" / "index.html").read_text(encoding="utf-8")
    assert "The first 3 of 5 runs are drawn" in html
    every = runner.invoke(app, ["report", str(csv), "-o", str(tmp_path / "c"), "--per-run-figures", "all", *quick])
    assert every.exit_code == 0 and "All 5 runs are drawn" in (tmp_path / "c" / "index.html").read_text(encoding="utf-8")


def test_an_error_writing_the_files_stops_the_report(study, tmp_path, monkeypatch):
    from scaling.exceptions import OutputError
    from scaling.reporting import page

    def full(path, data):
        raise OSError("no space left on device")

    monkeypatch.setattr(page, "_write_file", full)
    with pytest.raises(OutputError, match="no space"):  # not a section that "failed": the report as a whole did
        write_report(study, tmp_path / "rep", sections=[("figures per run", runs_section)], dpi=30)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not can_fork(), reason="forked processes are used on Linux only")
def test_an_error_writing_the_files_stops_the_sections_processes(study, tmp_path, monkeypatch):
    import multiprocessing
    import time

    from scaling.exceptions import OutputError
    from scaling.reporting import page

    def full(path, data):
        raise OSError("no space left on device")

    def slow(ctx):  # still running when the first section's file cannot be written
        time.sleep(60)
        return Section("slow", "Slow")

    def quick(ctx):
        return Section("quick", "Quick")

    before = {p.pid for p in multiprocessing.active_children()}
    monkeypatch.setattr(page, "_write_file", full)
    t = time.perf_counter()
    with pytest.raises(OutputError, match="no space") as caught:  # kept: its traceback holds the report's frames
        # started last first: "quick" and "slow", then the runs' figures, whose file cannot be written
        write_report(study, tmp_path / "rep", sections=[("figures per run", runs_section), ("slow", slow), ("quick", quick)],
                     dpi=30, jobs=2)  # fmt: skip
    assert {p.pid for p in multiprocessing.active_children()} - before == set()
    assert gc.get_freeze_count() == 0 and time.perf_counter() - t < 30
    assert list(tmp_path.iterdir()) == [] and caught.traceback
