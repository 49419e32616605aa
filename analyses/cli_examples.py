"""Run the example commands shown in README.md and docs/, and write their outputs.

Run from the repository root::

    python analyses/cli_examples.py              # every example (a few minutes on 2 cores)
    python analyses/cli_examples.py fit compare  # only these examples
    python analyses/cli_examples.py --list       # names and commands

Each example's output (standard output and standard error, as a terminal shows them) goes to
``docs/generated/NAME.txt``, which the docs include with ``--8<--`` (pymdownx.snippets); the
README's marked blocks ``<!-- begin: NAME -->`` ... ``<!-- end: NAME -->`` are rewritten from
``docs/generated/NAME.short.txt`` (an excerpt) or ``NAME.txt``.  The wall time of each
example goes to ``docs/generated/timings.md``.  The status table is written from
:class:`scaling.fitting.single.FitStatus` to ``docs/generated/statuses.md`` (and
``statuses.short.md`` for the README).  Examples on the
real logs in ``../shared`` are skipped (and their previous outputs kept) when it is absent.

``tests/test_docs.py`` reruns the ``fit`` example and checks that the committed outputs and the
README's block equal what this script writes.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "generated"
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"
RUN = "--run task,model,algorithm,seed --perf val_acc"


@dataclass(frozen=True)
class Example:
    name: str
    command: str  # as shown on the page; globs are expanded when run
    head: int | None = None  # README excerpt: first `head` and last `tail` lines ("..." between)
    tail: int = 0
    shared: bool = False  # needs ../shared
    python: bool = False  # `command` is a Python file run with this interpreter


EXAMPLES = [
    Example("fit", f"scaling fit data/runs.csv {RUN} --out results/fits.csv", head=5, tail=4),
    Example("forecast", f"scaling forecast data/runs.csv {RUN} --fraction 0.15 --out results/forecast.csv", head=5, tail=3),
    Example("backtest_forecast", f"scaling backtest-forecast data/runs.csv {RUN} --out results/backtest.csv"),
    Example("compare", f"scaling compare data/runs.csv {RUN} --out results/compare.csv", head=11, tail=0),
    Example("extrapolate", f"scaling extrapolate data/runs.csv {RUN} --tasks add4 --to 3e9,7e10 --out results/add4_ceilings.csv", head=0, tail=9),
    Example("extrapolate_logit", f"scaling extrapolate data/runs.csv {RUN} --tasks add4 --to 3e9 --link logit"),
    Example("backtest_sizes", f"scaling backtest-sizes data/runs.csv {RUN} --tasks add4"),
    Example("plan", f"scaling plan data/runs.csv {RUN} --tasks add4 --target 0.99 --prob 0.8"),
    Example("plan_sim", "docs/examples/plan_sim.py", python=True),
    Example("report", f"scaling report data/runs.csv {RUN} -o report"),
    Example("ingest_verl", "scaling ingest ../shared/realdata/verl-data/raw/*.log -o results/tidy.csv", shared=True),
    Example("fit_verl", "scaling fit ../shared/realdata/verl-data/raw/*.log", shared=True),
]
BY_NAME = {e.name: e for e in EXAMPLES}

# The malformed-file corpus: each file through `scaling fit`, exit code and output.
MALFORMED = ROOT / "tests" / "malformed"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb", PYTHONHASHSEED="0")
    return env


def _argv(command: str, python: bool) -> list[str]:
    words = shlex.split(command)
    if python:
        return [sys.executable, *words]
    out: list[str] = []
    for w in words:
        out.extend(sorted(glob.glob(w, root_dir=ROOT)) if any(ch in w for ch in "*?[") else [w])
    # the console script lives beside this interpreter
    exe = Path(sys.executable).with_name(out[0])
    if exe.exists():
        out[0] = str(exe)
    return out


def _clean(text: str) -> str:
    text = text.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"


def run_example(ex: Example) -> tuple[str, float, int]:
    """Run one example from the repository root; return (text as shown, seconds, exit code)."""
    (ROOT / "results").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(_argv(ex.command, ex.python), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - t0
    shown = f"python {ex.command}" if ex.python else ex.command
    return _clean(f"$ {shown}\n{proc.stdout}"), seconds, proc.returncode


def excerpt(ex: Example, text: str) -> str:
    """The README's shorter copy: the command, the first `head` and the last `tail` lines."""
    if ex.head is None:
        return text
    lines = text.rstrip("\n").splitlines()
    cmd, body = lines[0], lines[1:]
    if ex.head + ex.tail >= len(body):
        return text
    kept = body[: ex.head] + ["..."] + (body[-ex.tail:] if ex.tail else [])
    return "\n".join([cmd, *kept]) + "\n"


def _member_docs(cls) -> dict[str, str]:
    """The docstrings written under an Enum's members (not kept at run time; read from the source)."""
    import ast
    import inspect

    node = ast.parse(inspect.getsource(cls)).body[0]
    docs, last = {}, None
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            last = stmt.targets[0].id
        elif last and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            docs[last] = " ".join(stmt.value.value.split())
            last = None
        else:
            last = None
    return docs


def status_table(short: bool = False) -> str:
    """The statuses from most to least severe; ``short``: without the details column (README)."""
    from scaling.fitting.single import FitStatus

    if short:  # with the runs of data/runs.csv that get each status (or carry it as a flag beside another)
        on_data = _statuses_on_data()
        rows = ["| status | meaning | usable? | runs in data/ |", "| --- | --- | --- | ---: |"]
        rows += [f"| `{s.value}` | {s.explanation} | {'yes' if s.usable else 'no'} | {on_data[s]} |" for s in FitStatus]
        return "\n".join(rows) + "\n"
    docs = _member_docs(FitStatus)
    rows = ["| status | meaning | details | estimate usable? |", "| --- | --- | --- | --- |"]
    for s in FitStatus:
        details = docs.get(s.name, "").replace("|", "\\|")
        rows.append(f"| `{s.value}` | {s.explanation} | {details} | {'yes' if s.usable else 'no'} |")
    return "\n".join(rows) + "\n"


def _statuses_on_data() -> dict:
    """Per status, how many runs of data/runs.csv (as the README's fit command reads it) have it: ``"3"``,
    or ``"3 (+2 flagged)"`` when it is also a flag beside other runs' statuses."""
    import scaling as sc
    from scaling.fitting.single import FitStatus

    fits = list(sc.fit(sc.load(ROOT / "data" / "runs.csv", run="task,model,algorithm,seed", perf="val_acc")))
    out = {}
    for s in FitStatus:
        main = sum(f.status == s for f in fits)
        extra = sum(f.status != s and s in f.flags for f in fits)
        out[s] = f"{main}" + (f" (+{extra} flagged)" if extra else "")
    return out


def malformed_table() -> str:
    """Each corpus file through `scaling fit --out`: exit code, first warning or error, statuses."""
    import pandas as pd

    rows = ["| file | exit code | first warning or error | statuses of the runs fitted |", "| --- | ---: | --- | --- |"]
    out = ROOT / "results" / "malformed_fits.csv"
    out.parent.mkdir(exist_ok=True)
    for path in sorted(MALFORMED.glob("*.csv")):
        rel = path.relative_to(ROOT).as_posix()
        out.unlink(missing_ok=True)
        proc = subprocess.run(_argv(f"scaling fit {rel} --out {out.relative_to(ROOT).as_posix()}", False), cwd=ROOT,
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = _clean(proc.stdout).splitlines()
        first = next((ln for ln in lines if ln.startswith(("warning:", "error:"))), "")
        if len(first) > 150:
            first = first[:147] + "..."
        first = "`" + first.replace("`", "'").replace("|", "\\|") + "`" if first else "none"
        statuses = ""
        if proc.returncode == 0 and out.exists():
            counts = pd.read_csv(out)["status"].value_counts()
            statuses = ", ".join(f"{n} {s}" for s, n in counts.items())
        rows.append(f"| `{path.name}` | {proc.returncode} | {first} | {statuses} |")
    out.unlink(missing_ok=True)
    return "\n".join(rows) + "\n"


BLOCK = re.compile(r"(<!-- begin: (?P<name>[\w.-]+) -->)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def block_text(name: str) -> str | None:
    """What the README's block NAME holds: a file of docs/generated, fenced unless it is Markdown;
    ``time-EXAMPLE`` is the example's wall time, inline."""
    if name.startswith("time-"):
        return _timings().get(name[5:], [None, None])[1]
    for candidate in (GENERATED / f"{name}.short.txt", GENERATED / f"{name}.txt"):
        if candidate.exists():
            return "\n```text\n" + candidate.read_text(encoding="utf-8") + "```\n"
    for md in (GENERATED / f"{name}.short.md", GENERATED / f"{name}.md"):
        if md.exists():
            return "\n" + md.read_text(encoding="utf-8")
    return None


def _timings() -> dict[str, list[str]]:
    path = GENERATED / "timings.md"
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 3:
                out[cells[0].strip("`")] = cells
    return out


def fill_blocks(text: str) -> str:
    def sub(m: re.Match) -> str:
        new = block_text(m.group("name"))
        return m.group(0) if new is None else m.group(1) + new + m.group(4)

    return BLOCK.sub(sub, text)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="examples to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the examples and exit")
    args = parser.parse_args(argv)
    if args.list:
        for e in EXAMPLES:
            print(f"{e.name:18} {e.command}")
        return
    unknown = [n for n in args.names if n not in BY_NAME and n not in ("statuses", "malformed")]
    if unknown:
        parser.error(f"unknown example(s) {unknown}; see --list")
    GENERATED.mkdir(parents=True, exist_ok=True)
    todo = args.names or [e.name for e in EXAMPLES] + ["statuses", "malformed"]
    timings_file = GENERATED / "timings.md"
    timings = _timings()
    for name in todo:
        if name == "statuses":
            (GENERATED / "statuses.md").write_text(status_table(), encoding="utf-8")
            (GENERATED / "statuses.short.md").write_text(status_table(short=True), encoding="utf-8")
            print("wrote docs/generated/statuses.md")
            continue
        if name == "malformed":
            (GENERATED / "malformed.md").write_text(malformed_table(), encoding="utf-8")
            print("wrote docs/generated/malformed.md")
            continue
        ex = BY_NAME[name]
        if ex.shared and not SHARED.exists():
            print(f"skip {name}: ../shared is absent (previous output kept)")
            continue
        text, seconds, rc = run_example(ex)
        (GENERATED / f"{name}.txt").write_text(text, encoding="utf-8")
        short = excerpt(ex, text)
        short_path = GENERATED / f"{name}.short.txt"
        if short != text:
            short_path.write_text(short, encoding="utf-8")
        elif short_path.exists():
            short_path.unlink()
        timings[name] = [f"`{name}`", f"{seconds:.0f} s", str(rc)]
        print(f"{name}: exit {rc}, {seconds:.1f} s")
    rows = ["| example | wall time | exit code |", "| --- | ---: | ---: |"]
    rows += ["| " + " | ".join(timings[e.name]) + " |" for e in EXAMPLES if e.name in timings]
    timings_file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    README.write_text(fill_blocks(README.read_text(encoding="utf-8")), encoding="utf-8")
    print("rewrote the marked blocks of README.md")


if __name__ == "__main__":
    main()
