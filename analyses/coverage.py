"""Coverage of the 95% ceiling intervals by simulation (DESIGN.md section 8).

Runs drawn from the law with AR(1) noise: entropy decays exponentially from 0.65 to
0.05 nats over n validation points, Perf = 0.95 - 0.6 g_1(S) + e, e AR(1) with
stationary sd 0.01.  For each design (n, rho) and interval method the script counts
how often the 95% interval covers the true ceiling 0.95, the true c = 1 and the true
exchange rate ``beta exp(c S) = 0.6 e^0.6`` at S = 0.6 (the band's hardest point).

Usage:  python analyses/coverage.py [--reps 300] [--boot-reps 200]
Writes analyses/results/coverage.md and prints the same table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.fitting.single import FitOptions, fit_run  # noqa: E402
from scaling.plotting.figures import exchange_rate_band  # noqa: E402
from tests.conftest import simulate_run  # noqa: E402

TRUE = 0.95
TRUE_C = 1.0
#: the exchange rate's true value at S = 0.6
RATE_AT = 0.6
TRUE_RATE = 0.6 * np.exp(TRUE_C * RATE_AT)


def coverage(ci: str, n: int, rho: float, reps: int, n_boot: int) -> tuple[float, float, float, float]:
    """Coverage of the ceiling, its median width, and the coverage of c and of the exchange rate at S = 0.6."""
    hits, widths = np.zeros(3), []
    for r in range(reps):
        step, S, y = simulate_run(np.random.default_rng(10_000 + r), n=n, rho=rho)
        fit = fit_run(S, y, step, options=FitOptions(ci=ci, n_boot=n_boot, seed=r, perf_range=None))
        lo, hi = fit.conf_int("ceiling")
        hits[0] += lo <= TRUE <= hi
        widths.append(hi - lo)
        c_lo, c_hi = fit.conf_int("c")
        hits[1] += c_lo <= TRUE_C <= c_hi
        band = exchange_rate_band(fit, RATE_AT).iloc[0]
        hits[2] += band["lo"] <= TRUE_RATE <= band["hi"]
    return hits[0] / reps, float(np.median(widths)), hits[1] / reps, hits[2] / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300, help="replications per design for HAC")
    ap.add_argument("--boot-reps", type=int, default=200, help="replications per design for the bootstrap")
    ap.add_argument("--n-boot", type=int, default=300, help="bootstrap replicates per fit")
    args = ap.parse_args()
    rows = []
    for ci, reps in (("hac", args.reps), ("bootstrap", args.boot_reps)):
        for n in (50, 100, 200):
            for rho in (0.0, 0.5, 0.8):
                t0 = time.perf_counter()
                cov, width, cov_c, cov_rate = coverage(ci, n, rho, reps, args.n_boot)
                rows.append(dict(method=ci, n=n, rho=rho, reps=reps, coverage=cov, median_width=width, coverage_c=cov_c, coverage_rate_06=cov_rate))
                print(f"{ci:9s} n={n:3d} rho={rho:.1f}: coverage {cov:.3f}, median width {width:.4f}, c {cov_c:.3f}, rate {cov_rate:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    table = pd.DataFrame(rows)
    se = np.sqrt(0.95 * 0.05 / table["reps"])
    text = (
        "# Coverage of 95% ceiling intervals (AR(1) noise)\n\n"
        f"Made by `python analyses/coverage.py --reps {args.reps} --boot-reps {args.boot_reps} --n-boot {args.n_boot}`. "
        f"Binomial standard error of a coverage near 0.95: {se.min():.3f}-{se.max():.3f}. "
        "`coverage` and `median_width`: the ceiling; `coverage_c`: the rate c; `coverage_rate_06`: the "
        "exchange rate `dPerf/d(-S)` at S = 0.6 nats.\n\n"
        + table.to_markdown(index=False, floatfmt=".3f")
        + "\n"
    )
    out = Path(__file__).parent / "results" / "coverage.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
