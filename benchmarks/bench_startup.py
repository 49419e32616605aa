"""Benchmark: how long the ``scaling`` command takes to start, as whole processes.

Run from the repository root::

    python benchmarks/bench_startup.py            # print the table
    python benchmarks/bench_startup.py --write    # and write analyses/results/startup.md
    python benchmarks/bench_startup.py --repeats 3

Each command runs as a new process (``subprocess``), ``--repeats`` times (5); the table shows
the best wall time (the least disturbed by other jobs on the machine) and the median, with the
CPU time (user + system, of the child process) of the best run.  The commands:

1. ``scaling --help``: the console script, listing the commands;
2. ``python -m scaling --help``: the same through the package's ``__main__``;
3. ``scaling fit data/runs.csv --run task,model,algorithm,seed --perf val_acc``: a real command,
   45 runs fitted, its table written to a temporary directory;
4. the baseline ``python -c "import pandas, scipy.stats, statsmodels.api"``: what every command
   paid before the imports were made lazy, before doing any work;
5. ``python -c "pass"``: the interpreter alone.

A first, untimed run of each command warms the file cache and numba's compiled-kernel cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: where ``--write`` puts the table; docs/results/startup.md includes it.
RESULTS = ROOT / "analyses" / "results" / "startup.md"
FIT_ARGS = ["fit", "data/runs.csv", "--run", "task,model,algorithm,seed", "--perf", "val_acc"]


@dataclass(frozen=True)
class Timing:
    """Times of one command over the repeats, in seconds."""

    label: str
    best: float
    median: float
    cpu: float


def _scaling_command() -> list[str]:
    """The ``scaling`` console script next to this interpreter, else the path PATH finds."""
    here = Path(sys.executable).with_name("scaling")
    found = str(here) if here.exists() else shutil.which("scaling")
    if found is None:
        raise SystemExit("the scaling script is not installed: pip install -e . first")
    return [found]


def time_command(label: str, cmd: list[str], repeats: int, cwd: Path) -> Timing:
    """Run ``cmd`` once untimed, then ``repeats`` times; the best and median wall times and the best run's CPU.

    Parameters
    ----------
    label : str
        The row's name in the table.
    cmd : list of str
        The command line; it must exit with code 0.
    repeats : int
        Timed runs.
    cwd : Path
        Directory the command runs in.

    Returns
    -------
    Timing
        Wall times (best and median) and the CPU time of the child in the best run.
    """
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(repeats):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append((after.children_user - before.children_user) + (after.children_system - before.children_system))
    best = min(range(repeats), key=walls.__getitem__)
    return Timing(label, walls[best], statistics.median(walls), cpus[best])


def run(repeats: int) -> list[Timing]:
    """Time the commands of the table (see the module's docstring).

    Parameters
    ----------
    repeats : int
        Timed runs of each command.

    Returns
    -------
    list of Timing
        One per command, in the table's order.
    """
    scaling = _scaling_command()
    py = [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fits.csv"
        commands = [
            ("`scaling --help`", [*scaling, "--help"]),
            ("`python -m scaling --help`", [*py, "-m", "scaling", "--help"]),
            ("`scaling fit data/runs.csv --run task,model,algorithm,seed --perf val_acc -o fits.csv`", [*scaling, *FIT_ARGS, "-o", str(out)]),
            ('baseline: `python -c "import pandas, scipy.stats, statsmodels.api"`', [*py, "-c", "import pandas, scipy.stats, statsmodels.api"]),
            ('interpreter alone: `python -c "pass"`', [*py, "-c", "pass"]),
        ]
        return [time_command(label, cmd, repeats, ROOT) for label, cmd in commands]


def markdown(timings: list[Timing], repeats: int) -> str:
    """The results page: how it was made, then the table.

    Parameters
    ----------
    timings : list of Timing
        What :func:`run` measured.
    repeats : int
        Timed runs behind each row.

    Returns
    -------
    str
        Markdown, ending in a newline.
    """
    lines = [
        "# Startup time of the `scaling` command",
        "",
        f"Made by `python benchmarks/bench_startup.py --write`: every command run as a new process, {repeats} times after "
        "one untimed run (file cache and numba's kernel cache warm); best and median wall time, and the CPU time "
        "(user + system) of the best run. "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU core(s), a machine shared with other jobs "
        "(the best time is the least disturbed).",
        "",
        "`import scaling` imports its public names on first use and the commands import the library (pandas, "
        "scipy, statsmodels, matplotlib) when they run, so `--help` loads little more than Typer. The baseline row is "
        "what every command paid to import its libraries before that change, before doing any work.",
        "",
        "| command | best wall (s) | median wall (s) | CPU of best (s) |",
        "|:--|--:|--:|--:|",
    ]
    lines += [f"| {t.label} | {t.best:.2f} | {t.median:.2f} | {t.cpu:.2f} |" for t in timings]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line: time the commands, print the table, and with ``--write`` save it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--write", action="store_true", help=f"write the table to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    timings = run(max(1, args.repeats))
    text = markdown(timings, max(1, args.repeats))
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
