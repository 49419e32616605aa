"""The HTML report: structure, escaping, embedded images, files beside it, skipped sections; progress bars."""

from __future__ import annotations

import base64
import io
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from scaling.data.load import load
from scaling.fitting.dataset import fit_dataset
from scaling.fitting.single import FitOptions
from scaling.forked import can_fork
from scaling.progress import is_interactive, progress_bar, track
from scaling.reporting.page import (
    DEFAULT_SECTIONS,
    ReportFigure,
    Section,
    SkipSection,
    esc,
    html_table,
    paragraph,
    write_report,
)
from scaling.study import Study, StudySettings
from tests.conftest import simulate_run

EVIL = '<script>alert("x")</script>$x^{'


def table(rng: np.random.Generator) -> pd.DataFrame:
    """Three good runs (one with a hostile name), a run the law does not describe, a run with a negative entropy."""
    parts = []
    for run, model, params, algo in (
        ("m1/grpo", "m1", 1e6, "grpo"),
        ("m1/rloo", "m1", 1e6, "rloo"),
        (EVIL, "m2", 4e6, "grpo"),
    ):
        step, S, y = simulate_run(rng, n=40, P0=0.8, beta=0.5, sd=0.01)
        parts.append(
            pd.DataFrame(
                dict(run=run, model=model, params=params, algorithm=algo, seed="0", step=step, entropy=S, perf=y)
            )
        )
    step = np.arange(40.0)
    parts.append(
        pd.DataFrame(
            dict(
                run="m2/noise",
                model="m2",
                params=4e6,
                algorithm="rloo",
                seed="0",
                step=step,
                entropy=np.linspace(0.7, 0.1, 40),
                perf=0.3 + 0.02 * rng.standard_normal(40),
            )
        )
    )
    bad = pd.DataFrame(
        dict(
            run="m2/broken",
            model="m2",
            params=4e6,
            algorithm="rloo",
            seed="1",
            step=step[:6],
            entropy=[0.5, -0.1, 0.4, 0.3, 0.2, 0.1],
            perf=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        )
    )
    parts.append(bad)
    return pd.concat(parts, ignore_index=True)


class Page(HTMLParser):
    """Collects what the tests look at: tags, section ids and headings, images, text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.sections: list[str] = []
        self.h2: list[str] = []
        self.images: list[dict] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        if tag == "h2":
            self._in_h2 = True
            self.h2.append("")
        if tag == "img":
            self.images.append(attrs)
        if tag == "a":
            self.links.append(attrs.get("href", ""))

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.h2[-1] += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def data():
    with pytest.warns(UserWarning, match="set aside"):
        return load(table(np.random.default_rng(3)))


@pytest.fixture(scope="module")
def report(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    rep = write_report(Study.run(data, StudySettings(analyses=())), out)
    return rep, parse(rep.path), rep.path.read_text(encoding="utf-8")


def test_sections_in_order_with_warnings_first(report):
    rep, page, _ = report
    assert page.sections == ["summary", "warnings", "data", "fits", "grid", "residuals", "profile", "exchange", "runs", "files"]
    assert page.h2[:4] == ["Summary", "Warnings", "Data", "Per-run fits"]
    assert rep.skipped == {}
    assert "not-run" not in page.sections  # nothing was skipped, so no such section


def test_every_embedded_image_decodes(report):
    _, page, _ = report
    # 4 grids + ceilings + one page of small multiples (4 runs with points: the set-aside run has none)
    assert len(page.images) == 5 + 1
    for img in page.images:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        im.load()
        assert im.format == "PNG" and im.size == (int(img["width"]), int(img["height"]))
        assert im.size[0] >= 400 and img["alt"]


def test_figures_and_tables_written_beside(report, data):
    rep, page, _ = report
    pngs = [p for p in rep.figures if p.suffix == ".png"]
    svgs = [p for p in rep.figures if p.suffix == ".svg"]
    # SVG copies are written only with svg=True (test_custom_section_with_figure_in_place): PNG is what is promised
    assert len(pngs) == len(page.images) and not svgs
    assert not list((rep.path.parent / "figures").glob("*.svg"))
    for p in pngs:
        assert Image.open(p).format == "PNG"
    names = {p.name for p in rep.tables}
    assert {"fits.csv", "data_runs.csv", "data_models.csv", "data_issues.csv"} <= names
    fits = pd.read_csv(rep.path.parent / "tables" / "fits.csv")
    assert len(fits) == 5 and set(fits["run"]) == {*data.points["run"].unique(), "m2/broken"}
    # the files section links to every file, relative to the page
    for p in (*rep.figures, *rep.tables):
        assert p.relative_to(rep.path.parent).as_posix() in page.links


def test_untrusted_names_are_escaped(report):
    _, page, raw = report
    assert "script" not in page.tags
    assert EVIL not in raw and esc(EVIL) in raw
    assert any(EVIL in t for t in page.text)  # shown to the reader as text
    assert "Content-Security-Policy" in raw


def test_warnings_name_set_aside_and_unusable_runs(report):
    rep, _, raw = report
    warn = " ".join(rep.warnings)
    assert "m2/broken was set aside" in warn and "negative" in warn
    assert "m2/noise" in warn and "not usable" in warn
    head = raw.split('<section id="data">')[0]
    assert "m2/broken" in head and "m2/noise" in head  # the warnings come before the data


def test_statuses_explained_in_words(report, data):
    _, _, raw = report
    res = fit_dataset(data)
    for f in res:
        assert esc(f.status.explanation) in raw
    assert "estimate usable?" in raw
    assert "TODO" not in raw and "placeholder" not in raw.lower()


@pytest.mark.parametrize("jobs", [1, 3])
def test_skipped_sections_are_absent_and_explained(data, tmp_path, jobs):
    def broken(ctx):
        raise RuntimeError("boom")

    def needs_sizes(ctx):
        raise SkipSection("cross-size regression needs at least 3 model sizes; the data have 2")

    sections = [*DEFAULT_SECTIONS, ("cross-size", needs_sizes), ("broken analysis", broken)]
    if jobs > 1 and can_fork():  # a section whose process dies loses only itself
        sections.append(("killed", lambda ctx: os._exit(7)))
    study = Study.run(data, StudySettings(mode="paper", analyses=()))
    rep = write_report(study, tmp_path, sections=sections, per_run=False, jobs=jobs)
    if jobs > 1 and can_fork():
        assert rep.skipped.pop("killed") == "failed: its process stopped (exit code 7)"
    page = parse(rep.path)
    assert "profile" not in page.sections and "runs" not in page.sections
    assert page.sections[-2:] == ["not-run", "files"]
    assert "c was fixed at 1" in rep.skipped["profile RSS(c)"]
    assert "--no-per-run" in rep.skipped["figures per run"]
    assert rep.skipped["cross-size"].startswith("cross-size regression needs")
    assert rep.skipped["broken analysis"] == "failed with RuntimeError: boom"
    text = " ".join(page.text)
    assert "needs at least 3 model sizes" in text and "failed with RuntimeError" in text
    assert "grid" in page.sections  # the other sections are still there


def test_custom_section_with_figure_in_place(data, tmp_path):
    from scaling.plotting.figures import new_figure

    def extra(ctx):
        fig, axes = new_figure()
        axes[0, 0].plot([0, 1], [0, 1])
        body = paragraph("before <b>", ctx.level) + "<!--figure:line-->" + paragraph("after")
        return Section(
            "extra-one",
            "Extra <analysis>",
            body,
            figures=(ReportFigure("line", "a line", fig),),
            tables=(("extra", pd.DataFrame({"x": [1]})),),
            warnings=("extra warning <here>",),
        )

    rep = write_report(Study.run(data, StudySettings(analyses=())), tmp_path, sections=[("extra", extra)], svg=True)
    raw = rep.path.read_text()
    assert raw.index("before &lt;b&gt; 95%") < raw.index('id="fig-line"') < raw.index("after")
    assert "<h2>Extra &lt;analysis&gt;</h2>" in raw and "extra warning &lt;here&gt;" in raw
    assert (tmp_path / "tables" / "extra.csv").exists() and (tmp_path / "figures" / "line.svg").exists()
    assert parse(rep.path).sections == ["warnings", "extra-one", "files"]
    svg = (tmp_path / "figures" / "line.svg").read_text()
    assert svg[:200].lstrip().startswith("<?xml") and "<svg" in svg and 'href="figures/line.svg"' in raw


def test_html_table_escapes_cells_but_not_markup_columns():
    frame = pd.DataFrame({"name": ["<i>x</i>"], "badge": ['<span class="badge ok">ok</span>'], "value": [0.123456789]})
    out = html_table(frame, markup_columns=["badge"], numeric_digits=3)
    assert "&lt;i&gt;x&lt;/<wbr>i&gt;" in out and '<span class="badge ok">ok</span>' in out  # may break after "/"
    assert '<td class="num">0.123</td>' in out


def test_bootstrap_report_and_bad_arguments(data, tmp_path):
    res = Study.run(data, StudySettings(fit=FitOptions(ci="bootstrap", n_boot=60), analyses=()))
    rep = write_report(res, tmp_path, per_run=False, perf_label="pass rate")
    raw = rep.path.read_text()
    assert "moving-block residual bootstrap" in raw and "60 replicates" in raw
    with pytest.raises(ValueError, match="dpi"):
        write_report(res, tmp_path, dpi=5)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        write_report(res, tmp_path / "file")
    with pytest.raises(ValueError, match="must be a Study"):
        write_report(res.fits, tmp_path)


def test_cli_report(tmp_path):
    import typer.testing

    from scaling.cli import app

    csv = tmp_path / "runs.csv"
    frame = table(np.random.default_rng(5)).rename(columns={"perf": "val_acc"})
    frame = frame[frame["run"] != "m2/broken"]
    frame.to_csv(csv, index=False)
    result = typer.testing.CliRunner().invoke(
        app, ["report", str(csv), "--perf", "val_acc", "-o", str(tmp_path / "out"), "--no-per-run"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "not run: figures per run" in result.output
    page = parse(tmp_path / "out" / "index.html")
    assert page.sections[:4] == ["summary", "warnings", "data", "fits"]
    assert (tmp_path / "out" / "tables" / "fits.csv").exists()
    missing = typer.testing.CliRunner().invoke(app, ["report", str(csv), "--perf", "nope", "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "nope" in missing.output


# ----- progress bars -----------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_silent_when_not_a_terminal():
    stream = io.StringIO()
    assert not is_interactive(stream)
    assert list(track(range(5), "work", stream=stream)) == [0, 1, 2, 3, 4]
    with progress_bar(3, "work", stream=stream) as advance:
        advance()
    assert stream.getvalue() == ""


def test_progress_draws_on_a_terminal():
    stream = FakeTTY()
    assert is_interactive(stream)
    assert list(track(iter("abc"), "letters", total=3, stream=stream)) == ["a", "b", "c"]
    out = stream.getvalue()
    assert "letters" in out and "3/3" in out
    forced = io.StringIO()
    list(track([1, 2], "forced", enabled=True, stream=forced))
    assert "forced" in forced.getvalue()
    with pytest.raises(ValueError, match="total"), progress_bar(-1, "x"):
        pass
