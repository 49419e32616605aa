"""Benchmark: ``scaling report`` against ``scaling fit --ci bootstrap``, and at 16 times the runs.

Run from the repository root::

    python benchmarks/bench_report.py            # print the table and the ratios
    python benchmarks/bench_report.py --write    # and write analyses/results/report_speed.md
    python benchmarks/bench_report.py --quick    # one timed run of each command

The commands, each run as a new process:

a. ``scaling fit data/runs.csv --run task,model,algorithm,seed --perf val_acc --ci bootstrap --out fits.csv``
   (45 runs: every run fitted and bootstrapped), the baseline;
b. ``scaling report data/runs.csv --run task,model,algorithm,seed --perf val_acc -o rep``: the full page
   (fits, forecasts, comparison, across sizes, figures);
c. the same report on a 720-run sweep: 16 copies of ``data/runs.csv`` whose seeds are suffixed by the
   copy (``0`` becomes ``0c03``), so the copies are distinct runs; written to a temporary directory;
d. reports b and c in one process (``--jobs 1``), for the record: no target.

Each command runs once untimed (file cache and numba's kernel cache warm), then ``--repeats`` times
(3; 1 with ``--quick``), in turn (a, b, c, d, a, b, c, d, ...) so that a slow spell of the shared
machine hits all of them alike.  Each timed run goes through its own small wrapper process that starts the
command, waits for it and reports its wall time and its peak resident memory
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of the wrapper, whose only child is the command: the
largest of the command's process and the processes it forked and waited for), so every memory
figure is that of one command.  The report computes its analyses and sections in forked processes
(``--jobs``, default the cores available up to 4); the fit runs in one.  The table shows the best wall time (the least disturbed),
the median, and the peak memory of the run with the best time (peak memory hardly varies).

The targets (issue 14, "fast at any size"): b / a at most 4, c / b at most 6 (wall), and the peak
memory of c at most 1.5 times that of b.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_startup import _scaling_command  # noqa: E402 - the installed command, found as the startup benchmark finds it

#: where ``--write`` puts the page; docs/results/report_speed.md includes it.
RESULTS = ROOT / "analyses" / "results" / "report_speed.md"
DATA = ROOT / "data" / "runs.csv"
RUN_ARGS = ["--run", "task,model,algorithm,seed", "--perf", "val_acc"]
COPIES = 16
#: the targets: (numerator, denominator, what, most)
TARGETS = (
    ("report", "fit", "wall", 4.0),
    ("report_720", "report", "wall", 6.0),
    ("report_720", "report", "memory", 1.5),
)
# Started by the wrapper process: runs the command given as JSON, prints its wall time and peak memory.
_WRAPPER = """
import json, resource, subprocess, sys, time
cmd = json.loads(sys.argv[1])
t = time.perf_counter()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": use.ru_utime + use.ru_stime, "maxrss_kb": use.ru_maxrss}))
"""


@dataclass(frozen=True)
class Measure:
    """Wall times (s) over the repeats of one command, and the CPU time (s) and peak memory (MB) of its best run."""

    key: str
    label: str
    best: float
    median: float
    peak_mb: float
    cpu: float


def make_sweep(path: Path, copies: int = COPIES) -> int:
    """Write ``copies`` copies of ``data/runs.csv`` to ``path`` as distinct runs; return the number of runs.

    The seed of copy ``k`` gets the suffix ``cKK`` (``0`` becomes ``0c03``): same curves, distinct
    run identities, so the report has ``copies`` times the runs of each model and algorithm.
    """
    import pandas as pd

    data = pd.read_csv(DATA)
    parts = [data.assign(seed=data["seed"].astype(str) + f"c{k:02d}") for k in range(copies)]
    sweep = pd.concat(parts, ignore_index=True)
    sweep.to_csv(path, index=False)
    return int(sweep.groupby(["task", "model", "algorithm", "seed"]).ngroups)


def measure_once(cmd: list[str]) -> tuple[float, float, float]:
    """Wall time (s), peak resident memory (MB) and CPU time (s, all its processes) of one run of ``cmd``.

    Measured through its own wrapper process.
    """
    done = subprocess.run([sys.executable, "-c", _WRAPPER, json.dumps(cmd)], cwd=ROOT, check=True,
                          capture_output=True, text=True)  # fmt: skip
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return float(got["wall"]), float(got["maxrss_kb"]) / 1024, float(got["cpu"])


def run(repeats: int) -> tuple[list[Measure], int]:
    """Measure the five commands of the module's docstring.

    Parameters
    ----------
    repeats : int
        Timed runs of each command (after one untimed run).

    Returns
    -------
    measures : list of Measure
        ``fit``, ``report``, ``report_720``, ``report_serial``, ``report_720_serial``, in that order.
    n_sweep : int
        Runs in the sweep.
    """
    scaling = _scaling_command()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_sweep = make_sweep(tmp / "sweep.csv")
        commands = {
            "fit": ("`scaling fit data/runs.csv ... --ci bootstrap --out fits.csv` (45 runs)",
                    [*scaling, "fit", str(DATA), *RUN_ARGS, "--ci", "bootstrap", "--out", str(tmp / "fits.csv")]),
            "report": ("`scaling report data/runs.csv ... -o rep` (45 runs)",
                       [*scaling, "report", str(DATA), *RUN_ARGS, "-o", str(tmp / "rep")]),
            "report_720": (f"`scaling report sweep.csv ... -o rep` ({n_sweep} runs: {COPIES} copies of data/)",
                           [*scaling, "report", str(tmp / "sweep.csv"), *RUN_ARGS, "-o", str(tmp / "rep720")]),
            "report_serial": ("`scaling report data/runs.csv ... -o rep --jobs 1` (45 runs, in one process)",
                              [*scaling, "report", str(DATA), *RUN_ARGS, "-o", str(tmp / "rep1"), "--jobs", "1"]),
            "report_720_serial": (f"`scaling report sweep.csv ... -o rep --jobs 1` ({n_sweep} runs, in one process)",
                                  [*scaling, "report", str(tmp / "sweep.csv"), *RUN_ARGS, "-o", str(tmp / "rep720s"),
                                   "--jobs", "1"]),
        }  # fmt: skip
        for _, cmd in commands.values():  # warm: file cache, numba's kernel cache
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        walls: dict[str, list[float]] = {k: [] for k in commands}
        peaks: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(repeats):
            for key, (_, cmd) in commands.items():
                wall, peak, cpu = measure_once(cmd)
                walls[key].append(wall)
                peaks[key].append(peak)
                cpus[key].append(cpu)
    out = []
    for key, (label, _) in commands.items():
        best = min(range(repeats), key=walls[key].__getitem__)
        out.append(Measure(key, label, walls[key][best], statistics.median(walls[key]), peaks[key][best], cpus[key][best]))
    return out, n_sweep


def ratios(measures: list[Measure]) -> list[tuple[str, float, float, bool]]:
    """The ratios of the targets: (what, ratio, most allowed, met)."""
    by = {m.key: m for m in measures}
    out = []
    for num, den, what, most in TARGETS:
        if what == "wall":
            r = by[num].best / by[den].best
        else:
            r = by[num].peak_mb / by[den].peak_mb
        out.append((f"{what}: {num} / {den}", r, most, r <= most))
    return out


def markdown(measures: list[Measure], n_sweep: int, repeats: int, jobs: int | None = None) -> str:
    """The results page: how it was made, the table of commands and the ratios against the targets.

    Parameters
    ----------
    measures : list of Measure
        What :func:`run` measured.
    n_sweep : int
        Runs in the sweep.
    repeats : int
        Timed runs behind each row.
    jobs : int, optional
        Processes the report used (default :func:`scaling.forked.default_jobs` here).

    Returns
    -------
    str
        Markdown, ending in a newline.
    """
    if jobs is None:
        from scaling.forked import default_jobs

        jobs = default_jobs()
    lines = [
        "# Speed of `scaling report`",
        "",
        f"Made by `python benchmarks/bench_report.py --write`: every command run as a new process, {repeats} time(s) "
        "after one untimed run (file cache and numba's kernel cache warm), the five commands in turn; best and median "
        "wall time, and the CPU time (all its processes) and peak resident memory of the best run (each run measured in "
        "its own wrapper process). "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU core(s), a machine shared with other jobs "
        "(the ratios compare times measured in the same run of the benchmark).",
        "",
        f"The sweep is {COPIES} copies of `data/runs.csv` with the seeds made distinct ({n_sweep} runs). The report "
        "draws each figure once and the runs as small multiples of 16 panels, the first 240 runs unless "
        "`--per-run-figures all`; once the runs are fitted, its analyses and then its sections are computed "
        f"{jobs} at a time, each in a forked process (`--jobs`, default the cores available up to 4), and each "
        "section's figures are dropped as soon as they are drawn. The fit runs in one process. The peak memory is "
        "that of the largest process (the report's or one of its forked processes, which share the report's pages "
        "until they write to them); the reports with `--jobs 1` run in one process.",
        "",
        "| command | best wall (s) | median wall (s) | CPU of best (s) | peak memory of best (MB) |",
        "|:--|--:|--:|--:|--:|",
    ]
    lines += [f"| {m.label} | {m.best:.2f} | {m.median:.2f} | {m.cpu:.2f} | {m.peak_mb:.0f} |" for m in measures]
    lines += ["", "| ratio | measured | target | met |", "|:--|--:|--:|:--|"]
    lines += [f"| {what} | {r:.2f} | ≤ {most:g} | {'yes' if ok else 'no'} |" for what, r, most, ok in ratios(measures)]
    by = {m.key: m for m in measures}
    if "report_serial" in by and "report_720_serial" in by:
        serial, serial_720, fit = by["report_serial"], by["report_720_serial"], by["fit"]
        lines += ["", f"In one process (`--jobs 1`) the 45-run report takes {serial.best / fit.best:.2f} times the fit's wall "
                  f"time; the forked processes take it to {by['report'].best / fit.best:.2f} times, for "
                  f"{by['report'].cpu / serial.cpu:.2f} times the CPU time of one process. In one process the 720-run "
                  f"report takes {serial_720.best / serial.best:.2f} times the wall time of the 45-run report and "
                  f"{serial_720.peak_mb / serial.peak_mb:.2f} times its peak memory."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command line: measure, print the table and the ratios, and with ``--write`` save them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each command (default 3)")
    parser.add_argument("--quick", action="store_true", help="one timed run of each command")
    parser.add_argument("--write", action="store_true", help=f"write the page to {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else max(1, args.repeats)
    measures, n_sweep = run(repeats)
    text = markdown(measures, n_sweep, repeats)
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
