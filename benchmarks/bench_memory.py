"""Benchmark: wall time and peak memory of loading and fitting a large tidy CSV (issue 15).

Run from the repository root::

    python benchmarks/bench_memory.py                    # 2M and 10M rows
    python benchmarks/bench_memory.py --rows 2e6 1e7 2e7  # and 20M rows (about 1 GB of CSV)
    python benchmarks/bench_memory.py --before /tmp/old   # and the ``scaling`` package of another tree, side by side

It writes a tidy CSV of ``--rows`` rows (columns ``run, model, step, entropy, perf``: runs of
``--run-length`` steps, entropy at every step, perf at every tenth) to a temporary directory,
then measures, each in a new process, (a) the load alone, ``scaling.load(FILE)`` into a
:class:`~scaling.data.load.Dataset`, and (b) the whole command ``scaling fit FILE --out fits.csv``:
the wall time and the peak resident memory (``ru_maxrss`` of the process), printed with its ratio
to the file's size.  ``--before TREE`` measures the same files with the package of another source
tree too (e.g. ``git archive`` of an older commit unpacked there).  ``--write`` writes the table to
``analyses/results/big_tables.md`` (included in docs/speed.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = np.array(["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "llama-3.1-8b"])


def write_csv(path: Path, rows: int, run_length: int = 2_000, seed: int = 0, block: int = 1_000_000) -> None:
    """Write a tidy CSV of ``rows`` rows: runs of ``run_length`` steps drawn from the law (c = 1).

    Entropy is logged at every step and perf at every tenth step (blank otherwise), as loggers write.
    """
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as out:
        out.write("run,model,step,entropy,perf\n")
        for start in range(0, rows, block):
            i = np.arange(start, min(rows, start + block))
            run, step = i // run_length, i % run_length
            S = (1.0 - 0.8 * step / run_length) * (0.8 + 0.4 * ((run * 7919) % 101) / 100)
            perf = np.clip(0.8 - 0.5 * np.exp(S) + 0.55 + rng.normal(0, 0.01, i.size), 0, 1)
            perf_text = np.char.mod("%.6f", perf)
            perf_text[step % 10 != 0] = ""
            lines = np.char.add(np.char.add("run", np.char.zfill(run.astype(str), 6)), ",")
            lines = np.char.add(np.char.add(lines, MODELS[run % len(MODELS)]), ",")
            lines = np.char.add(np.char.add(lines, step.astype(str)), ",")
            lines = np.char.add(np.char.add(lines, np.char.mod("%.6f", S)), ",")
            lines = np.char.add(lines, perf_text)
            out.write("\n".join(lines.tolist()))
            out.write("\n")


def _child(kind: str, path: str, out: str) -> None:
    """Run one measurement in this (new) process and print it as JSON (``write``: write the CSV of ``out`` rows)."""
    t0 = time.perf_counter()
    if kind == "write":
        rows, run_length = map(int, out.split(","))
        write_csv(Path(path), rows, run_length)
        print(json.dumps({"wall": time.perf_counter() - t0}))
        return
    if kind == "load":
        import warnings

        import scaling as sc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = sc.load(path)
        wall, rss = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        extra = {"rows": len(ds.table), "points": len(ds.points)}  # measured before: ds.runs makes Python strings
    else:
        cmd = [sys.executable, "-m", "scaling", "fit", path, "--out", out]
        subprocess.run(cmd, check=True, capture_output=True, env=os.environ)
        wall, rss = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        extra = {}
    print(json.dumps({"wall": wall, "peak_bytes": rss * 1024, **extra}))


def measure(kind: str, path: Path, tree: Path, out: str | None = None) -> dict:
    """Wall time and peak RSS of ``kind`` (``load`` or ``fit``) on ``path``, in a new process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = out or str(path.with_name("fits.csv"))
    cmd = [sys.executable, __file__, "--child", kind, str(path), out]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=tree)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[2e6, 1e7], help="table sizes in rows")
    parser.add_argument("--run-length", type=int, default=2_000, help="steps per run")
    parser.add_argument("--before", type=Path, help="also measure the scaling package of this source tree")
    parser.add_argument("--label", default="", help="what --before is, for the written table (e.g. a commit)")
    parser.add_argument("--no-fit", action="store_true", help="measure the load only")
    parser.add_argument("--write", action="store_true", help="write analyses/results/big_tables.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    trees = [("before", args.before.resolve())] if args.before else []
    trees.append(("now", ROOT))
    results = []
    for rows in map(int, args.rows):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "runs.csv"
            # written by a child: Linux keeps a process's peak memory across exec, so a child started
            # after this process had built the file would report this process's peak as its own
            wrote = measure("write", path, ROOT, f"{rows},{args.run_length}")
            size = path.stat().st_size
            print(f"{rows:,} rows: {size / 1e6:.0f} MB written in {wrote['wall']:.0f} s", flush=True)
            for kind in ("load",) if args.no_fit else ("load", "fit"):
                for label, tree in trees:
                    m = measure(kind, path, tree)
                    print(
                        f"  {kind:4s} {label:6s} {m['wall']:7.1f} s  peak {m['peak_bytes'] / 1e9:5.2f} GB  "
                        f"= {m['peak_bytes'] / size:4.1f} x the file",
                        flush=True,
                    )
                    results.append((rows, size, kind, label, m))
    if args.write:
        _write(args, results)


def _write(args, results) -> None:
    path = ROOT / "analyses" / "results" / "big_tables.md"
    what = {"load": "load (`scaling.load(FILE)`)", "fit": "`scaling fit FILE --out fits.csv`"}
    rows = " ".join(f"{r:.0e}".replace("e+0", "e") for r in args.rows)
    before = " --before TREE" if args.before else ""
    tree = f" (TREE: {args.label})" if args.before and args.label else ""
    cells = {(n, kind, label): m for n, _, kind, label, m in results}
    labels = list(dict.fromkeys(label for *_, label, _ in results))
    head = " | ".join(f"{label}: s | {label}: peak GB | {label}: peak / file" for label in labels)
    lines = [
        "# Large tidy tables: time and peak memory",
        "",
        f"Made by `python benchmarks/bench_memory.py --rows {rows}{before} --write`{tree} on a 2-core machine shared with other jobs "
        f"(runs of {args.run_length:,} steps, entropy at every step and perf at every tenth; each measurement a new process, "
        "peak memory its maximum resident set).",
        "",
        f"| rows | file (MB) | what | {head} |",
        "|--:|--:|:--|" + "--:|--:|--:|" * len(labels),
    ]
    for n, size, kind in dict.fromkeys((n, size, kind) for n, size, kind, _, _ in results):
        parts = []
        for label in labels:
            m = cells[(n, kind, label)]
            parts.append(f"{m['wall']:.1f} | {m['peak_bytes'] / 1e9:.2f} | {m['peak_bytes'] / size:.1f}")
        lines.append(f"| {n:,} | {size / 1e6:.0f} | {what[kind]} | {' | '.join(parts)} |")
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
