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
5. ``python -c "pass"``: the interpreter alone;
6. ``scaling fit boot.csv --ci bootstrap --n-boot 200``: bootstrap intervals for 100 runs x 200
   points (the synthetic sweep of ``benchmarks/bench_fit.py``), against
7. a ``scipy.optimize.curve_fit`` bootstrap loop over the same file as a whole process: a script
   that reads the CSV with pandas, fits each run from a user's starting guess, and refits 200
   moving-block residual resamples of it from the point estimate (what the engine replaces).
   The ratio of the two is printed (the target is the engine at least 5x faster).

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
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_fit import simulate_sweep  # noqa: E402 - the benchmarks' synthetic sweep

#: where ``--write`` puts the table; docs/results/startup.md includes it.
RESULTS = ROOT / "analyses" / "results" / "startup.md"
FIT_ARGS = ["fit", "data/runs.csv", "--run", "task,model,algorithm,seed", "--perf", "val_acc"]
#: the bootstrap comparison: runs x points, replicates.
BOOT_RUNS, BOOT_POINTS, BOOT_B = 100, 200, 200
#: the baseline a user would write: curve_fit per run, then per moving-block resample of its residuals.
CURVE_FIT_BOOTSTRAP = """
import sys, warnings
import numpy as np, pandas as pd
from scipy.optimize import curve_fit

def law(S, a, b, c):
    return a - b * np.exp(c * S)

frame = pd.read_csv(sys.argv[1])
B, rng, out = int(sys.argv[2]), np.random.default_rng(0), []
warnings.simplefilter("ignore")
for run, g in frame.groupby("run", sort=False):
    S, y = g["entropy"].to_numpy(), g["perf"].to_numpy()
    i0, i1 = int(np.argmax(S)), int(np.argmin(S))
    b0 = (y[i1] - y[i0]) / (np.exp(S[i0]) - np.exp(S[i1]))
    try:
        p, _ = curve_fit(law, S, y, p0=(y[i1] + b0 * np.exp(S[i1]), b0, 1.0), maxfev=5000)
    except RuntimeError:
        continue
    fit = law(S, *p)
    r = y - fit
    n, L = S.size, max(1, round(S.size ** (1 / 3)))
    reps = []
    for _ in range(B):
        starts = rng.integers(0, n - L + 1, size=-(-n // L))
        idx = (starts[:, None] + np.arange(L)).ravel()[:n]
        try:
            reps.append(curve_fit(law, S, fit + r[idx], p0=p, maxfev=5000)[0])
        except RuntimeError:
            pass
    q = np.percentile(np.array(reps), [2.5, 97.5], axis=0)
    out.append((run, *p, *q.ravel()))
pd.DataFrame(out).to_csv(sys.argv[3], index=False)
"""


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
        boot_csv, baseline = Path(tmp) / "boot.csv", Path(tmp) / "curve_fit_bootstrap.py"
        simulate_sweep(BOOT_RUNS, BOOT_POINTS, seed=7).to_csv(boot_csv, index=False)
        baseline.write_text(CURVE_FIT_BOOTSTRAP, encoding="utf-8")
        boot = [*scaling, "fit", str(boot_csv), "--ci", "bootstrap", "--n-boot", str(BOOT_B), "-o", str(out)]
        commands = [
            ("`scaling --help`", [*scaling, "--help"]),
            ("`python -m scaling --help`", [*py, "-m", "scaling", "--help"]),
            ("`scaling fit data/runs.csv --run task,model,algorithm,seed --perf val_acc -o fits.csv`", [*scaling, *FIT_ARGS, "-o", str(out)]),
            ('baseline: `python -c "import pandas, scipy.stats, statsmodels.api"`', [*py, "-c", "import pandas, scipy.stats, statsmodels.api"]),
            ('interpreter alone: `python -c "pass"`', [*py, "-c", "pass"]),
            (f"`scaling fit boot.csv --ci bootstrap --n-boot {BOOT_B}` ({BOOT_RUNS} runs x {BOOT_POINTS} points)", boot),
            (f"baseline: curve_fit bootstrap loop, same file, B = {BOOT_B}", [*py, str(baseline), str(boot_csv), str(BOOT_B), str(out)]),
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
    lines += ["", *verdicts(timings)]
    return "\n".join(lines) + "\n"


def verdicts(timings: list[Timing]) -> list[str]:
    """The targets of the table in words: ``--help`` under 0.5 s, ``fit`` under 1.5 s, the bootstrap 5x the baseline."""
    if len(timings) < 7:
        return []
    help_, fit = timings[0], timings[2]
    boot, loop = timings[-2], timings[-1]
    ratio = loop.best / boot.best
    return [
        f"- `scaling --help`: {help_.best:.2f} s (target under 0.5 s: {'met' if help_.best < 0.5 else 'NOT met'}).",
        f"- `scaling fit` on data/: {fit.best:.2f} s (target under 1.5 s: {'met' if fit.best < 1.5 else 'NOT met'}).",
        f"- Bootstrap, whole processes: the curve_fit loop takes {ratio:.1f}x the time of `scaling fit --ci bootstrap` "
        f"(target at least 5x: {'met' if ratio >= 5 else 'NOT met'}).",
    ]


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
