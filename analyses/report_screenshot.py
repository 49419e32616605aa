"""The report as a reader first sees it: a screenshot of its first screen, and its layout checked in a browser.

Run from the repository root (needs Playwright and a Chromium; see below)::

    python analyses/report_screenshot.py            # report on data/, screenshot, layout numbers
    python analyses/report_screenshot.py --write    # and write docs/images/report-first-screen.png
                                                    # and analyses/results/report_layout.md

It writes the report on the bundled data (``scaling report data/runs.csv ...``) into a
temporary directory, opens it in headless Chromium and measures:

* at 1400x900 (a laptop's first screen): where the summary's table of ceilings per model and
  its table of predicted ceilings end, in pixels from the top (both must end above 900);
* at 1000 px wide: the page's scroll width and every element that reaches past the right edge
  of the window outside a box that scrolls on its own (there must be none).

The test suite checks the same rules on the HTML (tests/reporting/test_summary.py) without a
browser; this script is the check in a real one, and the source of the README's screenshot.

Setup: ``pip install playwright``, then either Debian's ``apt-get install chromium`` (found at
/usr/bin/chromium) or ``playwright install chromium``; ``--browser PATH`` names another binary.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "images" / "report-first-screen.png"
RESULTS = ROOT / "analyses" / "results" / "report_layout.md"
COMMAND = ["report", "data/runs.csv", "--run", "task,model,algorithm,seed", "--perf", "val_acc"]
#: flags that keep Chromium from reaching the network at start (a closed machine refuses it).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

_MEASURE_SUMMARY = """() => {
  const tables = document.querySelectorAll('#summary table');
  return Array.from(tables).slice(0, 2).map(t => Math.round(t.getBoundingClientRect().bottom + window.scrollY));
}"""
_MEASURE_SPILL = """() => {
  const W = document.documentElement.clientWidth;
  const scrolls = el => { for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return true; } return false; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 0.5 && !scrolls(el)) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''));
  }
  return {width: W, scrollWidth: document.documentElement.scrollWidth, spill: out};
}"""


def write_report(out: Path) -> None:
    """The report on the bundled data, by the installed command, into ``out``."""
    exe = Path(sys.executable).with_name("scaling")
    cmd = [str(exe) if exe.exists() else "scaling", *COMMAND, "-o", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)


def measure(page_path: Path, browser: str | None, shot: Path) -> dict:
    """Screenshot at 1400x900 into ``shot``; the summary tables' bottoms there, and the spill at 1000 px."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS)
        wide = b.new_page(viewport={"width": 1400, "height": 900})
        wide.goto(page_path.as_uri())
        wide.screenshot(path=str(shot))
        bottoms = wide.evaluate(_MEASURE_SUMMARY)
        narrow = b.new_page(viewport={"width": 1000, "height": 900})
        narrow.goto(page_path.as_uri())
        spill = narrow.evaluate(_MEASURE_SPILL)
        b.close()
    return {"ceilings_bottom": bottoms[0], "predicted_bottom": bottoms[1], **spill}


def markdown(m: dict) -> str:
    ok_first = m["ceilings_bottom"] <= 900 and m["predicted_bottom"] <= 900
    return "\n".join(
        [
            "| check | measured | rule |",
            "|---|---|---|",
            f"| bottom of the table of ceilings per model, at 1400x900 | {m['ceilings_bottom']} px | at most 900 px (first screen) |",
            f"| bottom of the table of predicted ceilings, at 1400x900 | {m['predicted_bottom']} px | at most 900 px |",
            f"| page scroll width at a 1000 px window | {m['scrollWidth']} px | {m['width']} px (no horizontal scrolling) |",
            f"| elements past the right edge at 1000 px (outside a scrolling table box) | {len(m['spill'])} | 0 |",
            "",
            f"Both summary tables on the first screen: {'yes' if ok_first else 'NO'}; nothing spills at 1000 px: "
            f"{'yes' if not m['spill'] and m['scrollWidth'] <= m['width'] else 'NO'}.",
            "",
            "Made by `python analyses/report_screenshot.py --write` (headless Chromium through Playwright) on the report "
            "of the bundled data; the screenshot is `docs/images/report-first-screen.png`.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the screenshot and the results page")
    ap.add_argument("--browser", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                    help="Chromium binary (default: chromium on PATH, else Playwright's own)")  # fmt: skip
    args = ap.parse_args(argv)
    try:
        import playwright  # noqa: F401
    except ImportError:
        print("needs Playwright: pip install playwright (and a Chromium: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        write_report(out)
        shot = SCREENSHOT if args.write else Path(tmp) / "shot.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        m = measure(out / "index.html", args.browser, shot)
    text = markdown(m)
    print(text)
    if m["spill"]:
        print("spilling:", ", ".join(m["spill"][:20]))
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {SCREENSHOT.relative_to(ROOT)} and {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
