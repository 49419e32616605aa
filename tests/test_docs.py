"""The README stays short, every docs page is in the MkDocs nav, and generated outputs are current."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"


def _cli_examples():
    spec = importlib.util.spec_from_file_location("cli_examples", ROOT / "analyses" / "cli_examples.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _nav_pages() -> set[str]:
    """Every ``name.md`` in mkdocs.yml's nav (read as text: the file has no custom tags to resolve)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.M))


def test_readme_is_short():
    assert README.stat().st_size < 16_000


def test_every_docs_page_is_in_the_nav():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    pages = {p for p in pages if not p.startswith(("generated/", "examples/"))}
    nav = _nav_pages()
    assert pages - nav == set(), "pages missing from mkdocs.yml nav"
    assert nav - pages == set(), "nav entries without a page"


def test_readme_links_to_docs_pages_exist():
    for target in re.findall(r"\]\((docs/[^)#]+)", README.read_text(encoding="utf-8")):
        assert (ROOT / target).exists(), target


def test_ci_runs_the_readme_test_command_and_the_docs_build():
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = re.search(r"^python3 -m venv .*python -m pytest$", readme, re.M).group(0)
    assert command in ci
    assert "mkdocs build --strict" in ci


def test_included_files_exist():
    """Every ``--8<--`` include and every README block has its generated file."""
    mod = _cli_examples()
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r'--8<-- "([^"]+)"', page.read_text(encoding="utf-8")):
            path, _, section = target.partition(":")  # FILE:SECTION includes a marked part of FILE
            assert (ROOT / path).exists(), f"{page.name} includes {target}"
            if section:
                assert f"--8<-- [start:{section}]" in (ROOT / path).read_text(encoding="utf-8"), f"{page.name} includes {target}"
    for name in mod.BLOCK.findall(README.read_text(encoding="utf-8")):
        assert mod.block_text(name[1]) is not None, name[1]


def test_readme_blocks_equal_the_generated_files():
    mod = _cli_examples()
    readme = README.read_text(encoding="utf-8")
    assert mod.fill_blocks(readme) == readme, "README blocks are stale: run python analyses/cli_examples.py"


def test_status_table_is_current():
    mod = _cli_examples()
    assert (DOCS / "generated" / "statuses.md").read_text(encoding="utf-8") == mod.status_table()
    assert (DOCS / "generated" / "statuses.short.md").read_text(encoding="utf-8") == mod.status_table(short=True)


def test_fit_example_output_is_current():
    """Rerun `scaling fit` on data/runs.csv: the committed output (docs and README) is what it prints today."""
    mod = _cli_examples()
    ex = mod.BY_NAME["fit"]
    text, _, rc = mod.run_example(ex)
    assert rc == 0
    assert (DOCS / "generated" / "fit.txt").read_text(encoding="utf-8") == text
    short = mod.excerpt(ex, text)
    assert (DOCS / "generated" / "fit.short.txt").read_text(encoding="utf-8") == short
    block = re.search(r"<!-- begin: fit -->(.*?)<!-- end: fit -->", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    assert block.group(1) == "\n```text\n" + short + "```\n"


def test_docs_build_strictly(tmp_path):
    """``mkdocs build --strict``: every page, include and API page builds without a warning."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    cfg = load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(tmp_path / "site"))
    build(cfg)
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "speed" / "index.html").is_file()


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """Every ```python block of the README runs, in order, in a folder holding data/ and a verl log."""
    import re
    import shutil
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 6
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "runs.csv", tmp_path / "data" / "runs.csv")
    shutil.copy(ROOT / "tests" / "files" / "verl_new.log", tmp_path / "train.log")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "report" / "index.html").is_file()
    assert len(namespace["ds"].runs) >= 1
    import matplotlib.pyplot as plt

    plt.close("all")
