"""Benchmark: the fit table of many short runs (``scaling fit ... --out``), vectorised vs per run.

Run from the repository root::

    python benchmarks/bench_output.py                 # 10,000 runs of 5 points
    python benchmarks/bench_output.py --runs 100000   # the size of issue 15

It simulates ``--runs`` runs of ``--points`` validation points from the law, fits them with
:func:`scaling.fitting.dataset.fit_dataset` (mode free) and times :meth:`FitResults.to_frame`
(built from the batch fit's arrays) against the old path, one :meth:`RunFit.to_frame` per run
concatenated, timed on ``--sample`` runs and extrapolated linearly.  It checks that both give
the same rows on the sample.  With ``--whole`` it also times the whole command
``scaling fit FILE --perf perf --out fits.csv`` on the same runs as a new process (the file
written to a temporary directory first); ``--write`` writes the numbers to
``analyses/results/fit_output.md`` (included in docs/speed.md).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.core import law  # noqa: E402
from scaling.data.load import load  # noqa: E402
from scaling.fitting.dataset import fit_dataset  # noqa: E402
from scaling.fitting.result import CORE_COLUMNS  # noqa: E402


def simulate(runs: int, points: int, seed: int = 0) -> pd.DataFrame:
    """A tidy table of ``runs`` runs with ``points`` points each, drawn from the law with c = 1."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.8, 1.2, runs).repeat(points)
    S = np.tile(np.linspace(1.0, 0.2, points), runs) * scale
    perf = np.clip(0.8 - 0.5 * law.g(S, 1.0) + rng.normal(0, 0.01, S.size), 0, 1)
    return pd.DataFrame(
        {
            "run": np.repeat([f"r{i}" for i in range(runs)], points),
            "step": np.tile(np.arange(points) * 10, runs),
            "entropy": S,
            "perf": perf,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=5)
    parser.add_argument("--sample", type=int, default=1_000, help="runs timed on the old per-run path")
    parser.add_argument("--whole", action="store_true", help="also time the whole scaling fit command as a new process")
    parser.add_argument("--write", action="store_true", help="write analyses/results/fit_output.md")
    args = parser.parse_args()
    table = simulate(args.runs, args.points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ds = load(table, warmup="none")
        t1 = time.perf_counter()
        res = fit_dataset(ds)
        t2 = time.perf_counter()
        frame = res.to_frame()
        t3 = time.perf_counter()
        sample = res.fits[: args.sample]
        old = pd.concat([f.to_frame() for f in sample], ignore_index=True)
        t4 = time.perf_counter()
    old = old[CORE_COLUMNS + [c for c in old.columns if c not in CORE_COLUMNS]]
    pd.testing.assert_frame_equal(frame.iloc[: len(sample)].drop(columns="n_warmup"), old, rtol=1e-12, atol=1e-12)
    per_run = (t4 - t3) / len(sample) * len(res.fits)
    print(f"{args.runs} runs x {args.points} points")
    print(f"  load {t1 - t0:8.2f} s   fit {t2 - t1:8.2f} s")
    print(f"  to_frame vectorised {t3 - t2:8.3f} s")
    print(f"  to_frame per run    {per_run:8.3f} s (timed on {len(sample)} runs, extrapolated)")
    print(f"  ratio               {per_run / max(t3 - t2, 1e-9):8.0f} x")
    rows = [
        ("load (in process)", t1 - t0), ("fit (in process)", t2 - t1), ("fit table, vectorised", t3 - t2),
        (f"fit table, one frame per run (timed on {len(sample)} runs, extrapolated)", per_run),
    ]  # fmt: skip
    if args.whole:
        whole = _whole_command(table)
        print(f"  whole command       {whole:8.2f} s (scaling fit FILE --out fits.csv, a new process)")
        rows.append(("whole command `scaling fit FILE --perf perf --out fits.csv` (a new process)", whole))
    if args.write:
        _write(args, rows)


def _whole_command(table: pd.DataFrame) -> float:
    """Wall time of ``scaling fit`` on ``table`` written as CSV, as a new process."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "runs.csv", Path(tmp) / "fits.csv"
        table.to_csv(src, index=False)
        cmd = [sys.executable, "-m", "scaling", "fit", str(src), "--perf", "perf", "--out", str(out)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0


def _write(args, rows) -> None:
    path = Path(__file__).resolve().parents[1] / "analyses" / "results" / "fit_output.md"
    lines = [
        "# The fit table of many short runs",
        "",
        f"Made by `python benchmarks/bench_output.py --runs {args.runs} --points {args.points}{' --whole' if args.whole else ''} --write` "
        "on a 2-core machine shared with other jobs.",
        "",
        "| step | seconds |",
        "|:--|--:|",
        *[f"| {name} | {sec:.2f} |" for name, sec in rows],
    ]
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
