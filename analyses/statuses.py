"""Late collapse and systematic misfit by simulation: detection, false alarms, ceiling coverage (issue 12, items 4 and 8).

Law runs ``Perf = P0 - beta g_c(S) + e`` with AR(1) noise e (``scaling.simulate.ar1_noise``): P0 = 0.8,
entropy decays from 0.55 to 0.05 nats over n validation points (``S = 0.05 + 0.5 exp(-d t)``,
t in [0, 1], d = 3 or 8: with d = 8 entropy is flat over the last half, as in RL runs whose
entropy has collapsed), beta set so that performance rises by 0.3 over the run.  Designs: n in
{20, 50, 100, 300}, AR(1) rho in {0, 0.5, 0.7}, c in {0, 2, 6}, noise sd in {0.01, 0.03}.

- **Clean** runs: the law as above.  Any new status on them is a false alarm.
- **Late collapse**: from 60% of the run on (entropy flat there with d = 8) performance falls
  linearly over 10% of the points by ``k`` noise standard deviations (k = 2, 4, 8) and stays
  there.  Detection: status ``late collapse``.
- **Systematic misfit**: performance follows another curve of S with the same rise of 0.3:
  a logistic in S (``0.8 - 0.3 / (1 + exp(-(S - S_mid) / 0.04))``, S_mid the middle of the
  entropy range) or a line in S with a kink (slope 4 times steeper above the middle than below).
  Detection: the flag ``systematic misfit`` (the status may be a more severe one, e.g. poor fit).

Each run is fitted with c free and HAC 95% intervals (no metric range).  Coverage of the true
ceiling P0 = 0.8 by the 95% ceiling interval is reported over clean runs and over late-collapse
runs (whose law before the collapse has that ceiling): among all runs, among runs whose status is
usable under the earlier rules (the new checks left out: "before") and under the new ones ("after").
The false alarms of the statuses added before (degenerate fit, far extrapolation, ceiling beyond
data) on the clean runs are listed too.

Usage:  python analyses/statuses.py [--reps 100]
Writes analyses/results/statuses.md and prints the same tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaling.core import law  # noqa: E402
from scaling.core.rules import COLLAPSE_ALPHA, MISFIT_ALPHA  # noqa: E402
from scaling.fitting.engine import fit_runs, runs_from_arrays  # noqa: E402
from scaling.fitting.result import FitOptions  # noqa: E402
from scaling.fitting.status import FitStatus, worst  # noqa: E402
from scaling.simulate import ar1_noise  # noqa: E402

P0, RISE, S_LOW, S_SPAN = 0.8, 0.3, 0.05, 0.5
NS = (20, 50, 100, 300)
RHOS = (0.0, 0.5, 0.7)
RATES = (0.0, 2.0, 6.0)
SDS = (0.01, 0.03)
DECAYS = (3.0, 8.0)
FALLS = (2.0, 4.0, 8.0)
NEW = (FitStatus.LATE_COLLAPSE, FitStatus.SYSTEMATIC_MISFIT)
EARLIER = (FitStatus.DEGENERATE, FitStatus.FAR_EXTRAPOLATION, FitStatus.CEILING_BEYOND_DATA)


def entropy(n: int, decay: float) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    return S_LOW + S_SPAN * np.exp(-decay * t)


def law_mean(S: np.ndarray, c: float) -> np.ndarray:
    beta = RISE / float(law.g(np.array([S[0]]), c)[0] - law.g(np.array([S[-1]]), c)[0])
    return P0 - beta * law.g(S, c)


def misfit_mean(S: np.ndarray, kind: str) -> np.ndarray:
    lo, hi = S.min(), S.max()
    mid = 0.5 * (lo + hi)
    if kind == "logistic":
        f = 1.0 / (1.0 + np.exp(-(S - mid) / (0.08 * (hi - lo))))
    else:  # a line in S with a kink at mid: 4 times steeper above it
        f = np.where(S > mid, (mid - lo) + 4.0 * (S - mid), S - lo)
    f = (f - f.min()) / (f.max() - f.min())
    return P0 - RISE * f


def collapse_shift(n: int, size: float) -> np.ndarray:
    t = np.arange(n) / (n - 1)
    return -size * np.clip((t - 0.6) / 0.1, 0.0, 1.0)


def fit_design(means: np.ndarray, S: np.ndarray, sd: float, rho: float, reps: int, seed: int, shift: np.ndarray | None = None):
    """Fit ``reps`` noisy copies of each mean curve (rows of ``means``); returns the BatchFit."""
    rng = np.random.default_rng(seed)
    n = S.size
    Y = np.stack([m + ar1_noise(rng, n, sd, rho) for m in means for _ in range(reps)])
    if shift is not None:
        Y = Y + shift
    step = np.tile(np.arange(n, dtype=float), (len(Y), 1))
    return fit_runs(runs_from_arrays(np.tile(S, (len(Y), 1)), Y, step), options=FitOptions(perf_range=None))


def earlier_defects(reps: int, seed: int = 70_000) -> pd.DataFrame:
    """Detection of two statuses added with the reach columns, each on runs with its defect.

    * degenerate fit: a jump, performance 0.5 and 0.6 at the last point only (noise sd 0.005,
      rho 0.5), n = 6, 8, 12: a law fitted to it sends c to a search bound with b -> 0; detection
      is the share flagged ``degenerate fit`` or ``at bound`` (the more severe of the two names it);
    * far extrapolation: the law (c = 1) over entropies 1.2 -> 0.7 nats (reach 1.4 > REACH_MAX);
      detection is the flag.

    ``ceiling beyond data`` is a statement about the fitted curve (c < 0 and a ceiling above every
    observation), measured on laws with c = -1 on the reach page.
    """
    rng = np.random.default_rng(seed)
    rows = []

    def record(defect: str, n: int, S: np.ndarray, mean: np.ndarray, sd: float, statuses: set) -> None:
        Y = np.stack([mean + ar1_noise(rng, n, sd, 0.5) for _ in range(reps)])
        res = fit_runs(runs_from_arrays(np.tile(S, (reps, 1)), Y, np.tile(np.arange(n, dtype=float), (reps, 1))),
                       options=FitOptions(perf_range=None))  # fmt: skip
        rows.append({"defect": defect, "n": n, "runs": reps,
                     "flagged": float(np.mean([bool(statuses & set(fl)) for fl in res.flags])),
                     "not usable": float(np.mean([not s.usable for s in res.status])),
                     "called ok": float(np.mean([s == FitStatus.OK for s in res.status]))})  # fmt: skip

    for n in (6, 8, 12):
        jump = np.where(np.arange(n) < n - 1, 0.5, 0.6)
        record("degenerate fit or at bound (a jump)", n, entropy(n, 3.0), jump, 0.005, {FitStatus.DEGENERATE, FitStatus.AT_BOUND})
    for n in (50, 100, 300):
        S = np.linspace(1.2, 0.7, n)
        record("far extrapolation (reach 1.4)", n, S, law_mean(S, 1.0), 0.01, {FitStatus.FAR_EXTRAPOLATION})
    return pd.DataFrame(rows)


def old_status(flags: tuple[FitStatus, ...]) -> FitStatus:
    """The status under the earlier rules: the worst flag other than the new ones."""
    return worst([f for f in flags if f not in NEW])


def coverage_rows(res, label: str) -> dict:
    """Counts of runs and of ceiling intervals covering P0: all, usable before and after the new statuses."""
    iv = res.intervals("ceiling")
    hit = ((iv["lo"] <= P0) & (P0 <= iv["hi"])).to_numpy()
    before = np.array([old_status(fl).usable for fl in res.flags])
    after = np.array([s.usable for s in res.status])
    return dict(runs=label, n_all=hit.size, hit_all=int(hit.sum()), n_before=int(before.sum()), hit_before=int(hit[before].sum()),
                n_after=int(after.sum()), hit_after=int(hit[after].sum()))  # fmt: skip


def coverage_table(rows: list[dict]) -> pd.DataFrame:
    """Pooled coverage per kind of run: share usable and coverage among all, usable-before and usable-after runs."""
    tot = pd.DataFrame(rows).groupby("runs", sort=False).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "runs": tot["n_all"], "coverage (all)": tot["hit_all"] / tot["n_all"],
            "usable before": tot["n_before"] / tot["n_all"], "coverage (usable before)": tot["hit_before"] / tot["n_before"],
            "usable after": tot["n_after"] / tot["n_all"], "coverage (usable after)": tot["hit_after"] / tot["n_after"],
        })  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=100, help="replications per design")
    args = ap.parse_args()
    reps = args.reps
    t_start = time.time()
    clean_rows, det_rows, cov_clean, cov_coll = [], [], [], []
    seed = 0
    for n in NS:
        for rho in RHOS:
            for sd in SDS:
                for decay in DECAYS:
                    S = entropy(n, decay)
                    for c in RATES:
                        seed += 1
                        res = fit_design(law_mean(S, c)[None], S, sd, rho, reps, 90_000 + seed)
                        flags = res.flags
                        row = dict(n=n, rho=rho, sd=sd, decay=decay, c=c, reps=reps)
                        for s in NEW + EARLIER:
                            row[s.value] = float(np.mean([s in fl for fl in flags]))
                        clean_rows.append(row)
                        cov_clean.append(coverage_rows(res, "clean"))
                    if decay == 8.0:  # entropy flat late: collapses
                        for k in FALLS:
                            seed += 1
                            res = fit_design(law_mean(S, 2.0)[None], S, sd, rho, reps, 90_000 + seed, collapse_shift(n, k * sd))
                            det_rows.append(dict(defect="late collapse", size=f"fall {k:g} sd", n=n, rho=rho, sd=sd,
                                                 detected=float(np.mean([FitStatus.LATE_COLLAPSE in fl for fl in res.flags])),
                                                 status_ok_before=float(np.mean([old_status(fl) == FitStatus.OK for fl in res.flags]))))  # fmt: skip
                            cov_coll.append(coverage_rows(res, f"fall {k:g} sd"))
                    for kind in ("logistic", "kink"):
                        seed += 1
                        res = fit_design(misfit_mean(S, kind)[None], S, sd, rho, reps, 90_000 + seed)
                        det_rows.append(dict(defect="systematic misfit", size=kind, n=n, rho=rho, sd=sd,
                                             detected=float(np.mean([FitStatus.SYSTEMATIC_MISFIT in fl for fl in res.flags])),
                                             status_ok_before=float(np.mean([old_status(fl) == FitStatus.OK for fl in res.flags]))))  # fmt: skip
        print(f"n = {n}: done ({time.time() - t_start:.0f} s)", flush=True)
    clean = pd.DataFrame(clean_rows)
    det = pd.DataFrame(det_rows)
    names = [s.value for s in NEW + EARLIER]
    fa = pd.DataFrame(
        [{"clean law runs": "all designs", "runs": int(clean["reps"].sum()), **{s: clean[s].mean() for s in names}},
         {"clean law runs": "worst design", "runs": reps, **{s: clean[s].max() for s in names}}]
        + [{"clean law runs": f"n = {n}, rho = {rho:g}", "runs": int(g["reps"].sum()), **{s: g[s].mean() for s in names}}
           for (n, rho), g in clean.groupby(["n", "rho"])]
    )  # fmt: skip
    by_size = det.pivot_table(index=["defect", "size"], columns="n", values="detected", aggfunc="mean")
    by_size.columns = [f"n = {c}" for c in by_size.columns]
    by_size["all"] = det.groupby(["defect", "size"])["detected"].mean()
    by_size["ok before (all n)"] = det.groupby(["defect", "size"])["status_ok_before"].mean()
    by_rho = det.pivot_table(index=["defect", "size"], columns="rho", values="detected", aggfunc="mean")
    by_rho.columns = [f"rho = {c:g}" for c in by_rho.columns]
    cov = coverage_table(cov_clean + cov_coll)
    fmt = dict(floatfmt=".3f")
    cov.index.name = "kind of run"
    text = (
        "# Late collapse and systematic misfit (simulation)\n\n"
        f"Made by `python analyses/statuses.py --reps {reps}` in {time.time() - t_start:.0f} s. "
        f"Law runs with AR(1) noise: P0 = {P0}, entropy from {S_LOW + S_SPAN:g} to about {S_LOW:g} nats "
        f"(decay d in {list(DECAYS)}; with d = 8 entropy is flat over the last half), performance rising by {RISE}; "
        f"n in {list(NS)}, rho in {list(RHOS)}, c in {list(RATES)}, noise sd in {list(SDS)}; {reps} runs per design; "
        f"c free, HAC 95% intervals. Levels in use: COLLAPSE_ALPHA = {COLLAPSE_ALPHA:g} (one-sided, divided among "
        f"the candidate peak windows), MISFIT_ALPHA = {MISFIT_ALPHA:g} (two-sided).\n\n"
        "## False alarms on clean law runs\n\n"
        "Share of clean runs carrying each flag (the new ones first; then the statuses added with the reach "
        "columns). The bound for the new statuses is 5% in every (n, rho) cell.\n\n"
        + fa.to_markdown(index=False, **fmt)
        + "\n\n## Detection on runs with the defect\n\n"
        "Share of defective runs flagged, by run length (late collapse: performance falls from 60% of the run on "
        "by 2, 4 or 8 noise standard deviations while entropy is flat; systematic misfit: a logistic in S or a "
        "line in S with a kink, rising by 0.3). *ok before*: the share of those runs the earlier rules called `ok`.\n\n"
        + by_size.reset_index().to_markdown(index=False, **fmt)
        + "\n\nBy noise autocorrelation (all n):\n\n"
        + by_rho.reset_index().to_markdown(index=False, **fmt)
        + "\n\n## The statuses added with the reach columns, on runs with their defect\n\n"
        "Share of runs flagged with the status, not usable, and called `ok` (details in `earlier_defects`; the "
        "reach threshold itself is set, and `ceiling beyond data` measured on laws with c = -1, on the "
        "[extrapolation reach page](reach.md)).\n\n"
        + earlier_defects(reps).to_markdown(index=False, **fmt)
        + "\n\n## Coverage of the 95% ceiling interval (true P0 = 0.8)\n\n"
        "Over all runs, and over the runs whose status is usable under the earlier rules (before) and with the "
        "new statuses (after). On late-collapse runs the truth is the ceiling of the law before the collapse; "
        "empty cells: no run of that kind is usable.\n\n"
        + cov.reset_index().to_markdown(index=False, **fmt)
        + "\n"
    )
    out = Path(__file__).parent / "results" / "statuses.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
