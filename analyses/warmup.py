"""Warm-up detection by simulation: power, exact k, false alarms, and what it does to the ceiling.

Runs drawn from the law Perf = P0 - beta g_c(S) + e with P0 = 0.8, entropy decaying from 0.7 to
0.1 nats over n validation points (S = 0.1 + 0.6 exp(-3 t), t in [0, 1]), beta set so that the
curve starts at 0.35, and e AR(1) with lag-1 correlation 0.5 and stationary sd ``sd``.  A warm-up
run has its first k = 1..4 performance values (k drawn uniformly) replaced by values near 0
(uniform on [0, 0.05]), at their own entropy.  For every design (n, sd, c) the script counts

- detection: warm-up runs where :func:`scaling.data.warmup.detect_warmup` finds k >= 1, and
  how often it finds exactly the true k;
- false alarms: clean law runs (same design, no warm-up) where it finds k >= 1;
- the ceiling on warm-up runs, fitted (HAC, 95%) with detection on (the detected points left out)
  and off (every point kept): bias and coverage of the true 0.8.

Usage:  python analyses/warmup.py [--reps 200]
Writes analyses/results/warmup.md and prints the same table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.core.law import g  # noqa: E402
from scaling.data.warmup import detect_warmup  # noqa: E402
from scaling.fitting.single import FitOptions, fit_run  # noqa: E402
from scaling.simulate import ar1_noise  # noqa: E402

P0 = 0.8
START = 0.35
RHO = 0.5


def law_run(rng: np.random.Generator, n: int, sd: float, c: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, n)
    S = 0.1 + 0.6 * np.exp(-3.0 * t)
    beta = (P0 - START) / float(g(np.array([S[0]]), c)[0])
    y = P0 - beta * g(S, c) + ar1_noise(rng, n, sd, RHO)
    return np.arange(n, dtype=float), S, y


def design(n: int, sd: float, c: float, reps: int, seed: int) -> dict:
    opts = FitOptions(perf_range=None)
    found = exact = alarms = 0
    err_on, err_off, cov_on, cov_off = [], [], 0, 0
    for r in range(reps):
        rng = np.random.default_rng([seed, r])
        step, S, y = law_run(rng, n, sd, c)
        alarms += detect_warmup(S, y, step)[0] > 0
        k_true = int(rng.integers(1, 5))
        y_w = y.copy()
        y_w[:k_true] = rng.uniform(0.0, 0.05, k_true)
        k, _ = detect_warmup(S, y_w, step)
        found += k > 0
        exact += k == k_true
        for keep, errs, on in ((slice(k, None), err_on, True), (slice(None), err_off, False)):
            fit = fit_run(S[keep], y_w[keep], step[keep], options=opts)
            lo, hi = fit.conf_int("ceiling")
            errs.append(fit.ceiling - P0)
            hit = bool(lo <= P0 <= hi)
            if on:
                cov_on += hit
            else:
                cov_off += hit
    return dict(
        n=n, sd=sd, c=c, reps=reps,
        detected=found / reps, exact_k=exact / reps, false_alarms=alarms / reps,
        bias_on=float(np.nanmedian(err_on)), coverage_on=cov_on / reps,
        bias_off=float(np.nanmedian(err_off)), coverage_off=cov_off / reps,
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200, help="replications per design")
    args = ap.parse_args()
    rows = []
    t0 = time.perf_counter()
    seed = 0
    for n in (20, 50, 120):
        for sd in (0.01, 0.03, 0.06):
            for c in (-2.0, 1.0, 4.0):
                seed += 1
                row = design(n, sd, c, args.reps, seed)
                rows.append(row)
                print(
                    f"n={n:3d} sd={sd:.2f} c={c:+.0f}: detected {row['detected']:.3f} (exact {row['exact_k']:.3f}), "
                    f"false alarms {row['false_alarms']:.3f}, coverage on {row['coverage_on']:.3f} off {row['coverage_off']:.3f}",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    total = table[["detected", "exact_k", "false_alarms", "coverage_on", "coverage_off"]].mean()
    text = (
        "# Warm-up detection (simulation)\n\n"
        f"Made by `python analyses/warmup.py --reps {args.reps}` ({time.perf_counter() - t0:.0f} s). "
        f"Law runs Perf = {P0} - beta g_c(S) + AR(1) noise (rho {RHO}, stationary sd `sd`), entropy 0.7 -> 0.1 nats, "
        f"the curve rising from {START} to {P0}; warm-up runs have their first 1-4 points (uniform) replaced by values "
        "in [0, 0.05]. `detected`: share of warm-up runs with a warm-up found; `exact_k`: found with the true "
        "number of points; `false_alarms`: share of clean runs (no warm-up) with a warm-up found. "
        "`bias_*` (median ceiling error) and `coverage_*` (95% HAC interval covering the true ceiling) are on the "
        "warm-up runs, with detection on (`--warmup auto`) and off (`--warmup none`). "
        f"Binomial standard error of a rate p: sqrt(p(1-p)/{args.reps}) ({np.sqrt(0.05 * 0.95 / args.reps):.3f} at 0.05).\n\n"
        f"Over all designs: detected {total['detected']:.3f} (exact k {total['exact_k']:.3f}), false alarms "
        f"{total['false_alarms']:.3f} (largest {table['false_alarms'].max():.3f}), coverage {total['coverage_on']:.3f} "
        f"with detection on and {total['coverage_off']:.3f} off.\n\n"
        + table.to_markdown(index=False, floatfmt=".3f")
        + "\n"
    )
    out = Path(__file__).parent / "results" / "warmup.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
