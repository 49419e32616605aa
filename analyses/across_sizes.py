"""Ceilings across model sizes: the toyrl add4 worked example and the simulation checks.

Part 1 (real data, ../shared/toyrl, task add4): stage 1 at a shared c pooling each
model's usable runs, stage 2 of the ceiling on log10(params) with the identity link (the
logit link refuses: two ceilings lie above 1), predictions for 3e9 and 7e10 parameters
(analytic and two-stage bootstrap intervals), the size backtests and a plan.  Part 2 (simulated families, a and b exactly
log-linear in params, AR(1) noise within runs, 6 sizes, 2 runs of 100 points each):
how often the 90% intervals for the held-out largest size cover, for each stage-2
estimator, with and without between-model scatter, analytic and bootstrap.

Usage:  python analyses/across_sizes.py [--reps 200] [--boot-reps 100] [--n-boot 300] [--skip-sim]
Writes analyses/results/across_sizes.md and analyses/figures/across_sizes.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only add contention

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.across.backtest import backtest_models, backtest_sizes  # noqa: E402
from scaling.across.predict import fit_across, plan  # noqa: E402
from scaling.across.sim import family_truth, simulate_family  # noqa: E402
from scaling.across.stage1 import bootstrap_stage1, fit_stage1, measure_at_c, pool_points  # noqa: E402
from scaling.across.stage2 import fit_stage2  # noqa: E402
from scaling.data.load import ColumnMap, load  # noqa: E402
from scaling.exceptions import StatisticalWarning  # noqa: E402

TOY = ROOT.parent / "shared" / "toyrl" / "runs.csv"
RESULTS = ROOT / "analyses" / "results" / "across_sizes.md"
FIGURE = ROOT / "analyses" / "figures" / "across_sizes.png"
SIZES = (7.0, 7.5, 8.0, 8.5, 9.0, 9.5)
TARGETS = [3e9, 7e10]


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StatisticalWarning)
        out = func(*args, **kwargs)
    return out, [str(w.message) for w in caught]


def _md(frame: pd.DataFrame, digits: int = 4) -> str:
    return frame.to_markdown(index=False, floatfmt=f".{digits}g") if hasattr(frame, "to_markdown") else frame.to_string(index=False)


# --------------------------------------------------------------------------------
# part 1: toyrl add4
# --------------------------------------------------------------------------------
def toyrl(n_boot: int) -> tuple[str, dict]:
    ds = load(TOY, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    ident, w_ident = _quiet(fit_across, ds, tasks=["add4"], link="identity")
    logit, _ = _quiet(fit_across, ds, tasks=["add4"], link="logit")
    boot, _ = _quiet(fit_across, ds, tasks=["add4"], link="identity", n_boot=n_boot, seed=1)
    r_id, r_lg, r_bt = ident["add4"], logit["add4"], boot["add4"]
    p_id, w_pred = _quiet(r_id.predict, TARGETS)
    p_bt, _ = _quiet(r_bt.predict, TARGETS, interval="bootstrap")
    bt, _ = _quiet(backtest_sizes, ds, tasks=["add4"])
    pl, _ = _quiet(plan, r_id, 0.99, 0.8)
    lines = ["## 1. toyrl, task add4 (real runs)\n"]
    lines.append(f"Runs not pooled ({len(r_id.excluded())} of {len(r_id.runs)}):\n")
    lines.append(_md(r_id.excluded()[["run", "status", "reason"]]))
    st = r_id.stage1
    lines.append(f"\nStage 1: shared c = {st.c:.3f} (se {st.c_se:.3f}), one (P0, beta) per model pooling its usable runs; 90% intervals.\n")
    pts = r_id.points()[["model", "params", "n_runs", "n_points", "ceiling", "ceiling_lo", "ceiling_hi", "a", "b", "r2", "run_sd"]]
    lines.append(_md(pts))
    lines.append(f"\nStage 2, ceiling, identity link (wls): {r_id.ceiling.message}\n")
    lines.append(_md(r_id.ceiling.summary().reset_index()))
    lines.append(f"\nStage 2, ceiling, logit link (wls): {r_lg.ceiling.status.value}: {r_lg.ceiling.message}\n")
    cols = ["params", "decades_beyond", "ceiling_pred", "ceiling_lo", "ceiling_hi", "ceiling_mean_lo", "ceiling_mean_hi", "a_pred", "b_pred", "alt_spread"]
    lines.append("\nPredictions (90%; `ceiling_lo/hi` a new model's measured ceiling, `ceiling_mean_lo/hi` the curve):\n")
    both = pd.concat([p_id[cols].assign(link="identity", interval="analytic"), p_bt[cols].assign(link="identity", interval=f"bootstrap ({n_boot})")],
                     ignore_index=True)  # fmt: skip
    lines.append(_md(both))
    lines.append("\nWarnings:\n")
    lines += [f"- {w}" for w in dict.fromkeys(w_ident + w_pred)]
    lines.append("\nBacktests (every form; 90% prediction intervals):\n")
    lines.append(_md(bt.rows[["scheme", "n_out", "held_out", "decades_beyond", "form", "measured", "pred", "lo", "hi", "error", "covered", "status"]]))
    lines.append("\n" + _md(bt.summary()))
    lines.append(f"\nPlan, target ceiling 0.99 with probability 0.8: {pl.status}; {pl.message}.\n")
    return "\n".join(lines), {"ident": r_id, "pred": p_id}


def figure(parts: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    axes = [ax]
    for ax, key, pkey, title in ((ax, "ident", "pred", "identity link"),):
        r = parts[key]
        pts = r.points()
        curve = r.curve(lo=5e4, hi=2e11)
        ax.fill_between(curve["params"], curve["lo"], curve["hi"], color="C0", alpha=0.15, label="90% prediction band (new model)")
        ax.fill_between(curve["params"], curve["mean_lo"], curve["mean_hi"], color="C0", alpha=0.3, label="90% band of the curve")
        ax.plot(curve["params"], curve["pred"], color="C0", label="stage 2 (WLS)")
        ax.errorbar(pts["params"], pts["ceiling"], yerr=[pts["ceiling"] - pts["ceiling_lo"], pts["ceiling_hi"] - pts["ceiling"]],
                    fmt="o", color="k", capsize=3, label="per-model ceiling (stage 1, 90%)")  # fmt: skip
        for _, m in pts.iterrows():
            ax.annotate(m["model"], (m["params"], m["ceiling"]), textcoords="offset points", xytext=(6, 6), fontsize=9)
        pr = parts[pkey]
        ax.errorbar(pr["params"], pr["ceiling_pred"], yerr=[pr["ceiling_pred"] - pr["ceiling_lo"], pr["ceiling_hi"] - pr["ceiling_pred"]],
                    fmt="D", color="C3", capsize=4, label="extrapolated sizes (90% PI)")  # fmt: skip
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("parameters")
        ax.set_title(f"toyrl add4, {title}")
    axes[0].set_ylabel("ceiling P0 = a - b (val_acc at zero entropy)")
    axes[0].set_ylim(-0.05, 1.25)
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=130)
    plt.close(fig)


# --------------------------------------------------------------------------------
# part 2: simulated families
# --------------------------------------------------------------------------------
def held_out_coverage(method: str, link: str, tau: float, reps: int) -> dict:
    truth = family_truth(SIZES)["ceiling"].iloc[-1]
    cov, cur, width, err = [], [], [], []
    for rep in range(reps):
        pts = simulate_family(np.random.default_rng(20_000 + rep), SIZES, tau=tau)
        row = backtest_models(pool_points(pts)["sim"], method=method, forms=(("linear", link),), schemes=("leave-largest-out",), max_out=1).rows.iloc[0]
        cov.append(row["covered"])
        cur.append(row["mean_lo"] <= truth <= row["mean_hi"])
        width.append(row["hi"] - row["lo"])
        err.append(row["pred"] - truth)
    return {"method": method, "link": link, "tau": tau, "reps": reps, "PI covers measured": np.mean(cov),
            "curve CI covers truth": np.mean(cur), "median PI width": float(np.median(width)), "rmse vs truth": float(np.sqrt(np.mean(np.square(err))))}  # fmt: skip


def bootstrap_coverage(reps: int, n_boot: int, tau: float) -> list[dict]:
    """Analytic vs two-stage bootstrap intervals for the held-out largest size (wls, identity)."""
    truth = family_truth(SIZES)["ceiling"].iloc[-1]
    res = {k: [] for k in ("a_pi", "b_pi", "a_ci", "b_ci", "a_w", "b_w", "a_cw", "b_cw")}
    for rep in range(reps):
        rng = np.random.default_rng(30_000 + rep)
        models = pool_points(simulate_family(rng, SIZES, tau=tau))["sim"]
        st = bootstrap_stage1(fit_stage1(models[:-1]), n_boot, rng)
        y, V, d, var_c = st.estimate_given_c("ceiling")
        f = fit_stage2(st.params, y, V, st.n_runs, dc=d, var_c=var_c, y_replicates=st.replicate_values("ceiling"),
                       c_shift=st.replicates[:, -1] - st.c, rng=rng)  # fmt: skip
        name, params, runs = models[-1]
        measured, _ = measure_at_c(name, params, runs, st.c)
        for key, how in (("a", "analytic"), ("b", "bootstrap")):
            p = f.predict([params], interval=how).iloc[0]
            res[f"{key}_pi"].append(p["lo"] <= measured <= p["hi"])
            res[f"{key}_ci"].append(p["mean_lo"] <= truth <= p["mean_hi"])
            res[f"{key}_w"].append(p["hi"] - p["lo"])
            res[f"{key}_cw"].append(p["mean_hi"] - p["mean_lo"])
    return [
        {"intervals": "analytic", "tau": tau, "reps": reps, "PI covers measured": np.mean(res["a_pi"]), "curve CI covers truth": np.mean(res["a_ci"]),
         "median PI width": float(np.median(res["a_w"])), "median curve CI width": float(np.median(res["a_cw"]))},
        {"intervals": f"bootstrap ({n_boot})", "tau": tau, "reps": reps, "PI covers measured": np.mean(res["b_pi"]), "curve CI covers truth": np.mean(res["b_ci"]),
         "median PI width": float(np.median(res["b_w"])), "median curve CI width": float(np.median(res["b_cw"]))},
    ]  # fmt: skip


def simulations(reps: int, boot_reps: int, n_boot: int) -> str:
    rows = []
    for tau in (0.0, 0.01):
        for method, link in (("wls", "identity"), ("random", "identity"), ("ols", "identity"), ("wls", "logit")):
            t0 = time.perf_counter()
            rows.append(held_out_coverage(method, link, tau, reps))
            print(f"{method:6s} {link:8s} tau={tau}: {rows[-1]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    boot = []
    for tau in (0.0, 0.01):
        t0 = time.perf_counter()
        boot += bootstrap_coverage(boot_reps, n_boot, tau)
        print(f"bootstrap tau={tau}: {boot[-2:]} ({time.perf_counter() - t0:.0f} s)", flush=True)
    se = np.sqrt(0.9 * 0.1 / reps)
    return "\n".join(
        [
            "## 2. Simulated families: coverage for the held-out largest size\n",
            "a = 0.80 + 0.02 (L - 8), b = 0.30 - 0.03 (L - 8), c = 1, L = log10(params) in 7, 7.5, ..., 9.5; "
            "2 runs of 100 points per size; AR(1) noise, rho 0.5, sd 0.01; tau = sd of a between-model deviation "
            "of the ceiling.  The largest size is held out; stage 1 (with c) and stage 2 are refitted on the other "
            "five; the held-out model is then measured at their c.  Nominal level 90%; binomial se of a coverage "
            f"near 0.9 with {reps} replications: {se:.3f}.  'curve CI covers truth' counts the true ceiling of the "
            "line (without the model's own deviation) inside the curve's interval.\n",
            _md(pd.DataFrame(rows)),
            f"\nAnalytic against two-stage bootstrap intervals (wls, identity link, {boot_reps} replications, "
            f"{n_boot} bootstrap replicates each):\n",
            _md(pd.DataFrame(boot)),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--boot-reps", type=int, default=100)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--skip-sim", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    text1, parts = toyrl(1000)
    print(text1, flush=True)
    figure(parts)
    text2 = "" if args.skip_sim else simulations(args.reps, args.boot_reps, args.n_boot)
    head = (
        "# Ceilings across model sizes\n\n"
        f"Made by `python analyses/across_sizes.py --reps {args.reps} --boot-reps {args.boot_reps} --n-boot {args.n_boot}` "
        f"({time.perf_counter() - t0:.0f} s).  Figure: `analyses/figures/across_sizes.png`.\n\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(head + text1 + "\n\n" + text2 + "\n")
    print(text2)
    print(f"wrote {RESULTS.relative_to(ROOT)} and {FIGURE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
