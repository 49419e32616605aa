"""The paper-style grid of entropy-performance fits per model, on our real runs.

Cui et al. 2025 (arXiv 2505.22617) plot validation performance against policy entropy
for each model, with the runs of several RL algorithms on the same panel, and fit
``R = -a exp(H) + b`` to them.  This script does the same with the free-rate law
``Perf(S) = a - b exp(c S)`` on

* toyrl: 45 RL runs of small transformers (tasks add3/add4, sizes s..xxl, four
  algorithms), from ../shared/toyrl/runs.csv (or the bundled copy data/runs.csv);
* realdata: public logs of RL on GSM8K - verl PPO console logs (Qwen2.5-0.5B-Instruct
  with two response lengths, gemma-2-2b-it) and Deep-GRPO W&B exports (Qwen2.5-0.5B-Instruct:
  GRPO baseline, DEEP-GRPO with gamma 1/2/3, TreeRL), from ../shared/realdata.

Each run is fitted on its own (mode free, HAC intervals); every run also gets the
paper's c = 1 fit's AICc for comparison.

Usage:  python analyses/fit_grid.py
Writes analyses/figures/fit_grid_toyrl_add3.png, fit_grid_toyrl_add4.png,
residuals_toyrl_add4.png, fit_grid_realdata.png, and analyses/results/fit_grid.md;
prints the same tables.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scaling.data.load import ColumnMap, load  # noqa: E402
from scaling.fitting.dataset import FitResults, fit_dataset  # noqa: E402
from scaling.fitting.single import FitStatus  # noqa: E402
from scaling.plotting import figures as plotting  # noqa: E402

SHARED = ROOT.parent / "shared"
FIGURES = ROOT / "analyses" / "figures"
RESULTS = ROOT / "analyses" / "results"

#: short names of the real runs (run names in the logs are long).
REAL_NAMES = {
    "Qwen2.5-0.5B-bsz256_2-prompt512-resp256-0.538": ("PPO resp256", "PPO"),
    "Qwen2.5-0.5B-bsz256_2-prompt1024-resp512-0.567": ("PPO resp512", "PPO"),
    "gemma-2-2b-it-ppo-bsz512_4-prompt1024-resp-512-0.640": ("PPO (gemma)", "PPO"),
    "qwen2.5-0.5b-instruct-gsm8k-crpo-no-branch": ("GRPO", "GRPO"),
    "Qwen2.5-0.5B-Instruct-GSM8K-CRPO-sp-p1-b8-gamma1.0-lam1.0-01161659": ("DEEP-GRPO γ1", "DEEP-GRPO"),
    "Qwen2.5-0.5B-Instruct-GSM8K-CRPO-sp-p1-b8-gamma2.0-lam1.0-01161659": ("DEEP-GRPO γ2", "DEEP-GRPO"),
    "Qwen2.5-0.5B-Instruct-GSM8K-CRPO-sp-p1-b8-gamma3.0-lam1.0-01161659": ("DEEP-GRPO γ3", "DEEP-GRPO"),
    "Qwen2.5-0.5B-Instruct-TreeRL": ("TreeRL", "TreeRL"),
}


def save(fig, name: str, dpi: int = 110) -> Path:
    """Write a figure as a palette PNG (a third of the size, same look)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    path = FIGURES / f"{name}.png"
    Image.open(buf).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    return path


def load_toyrl():
    path = SHARED / "toyrl" / "runs.csv"
    if not path.exists():
        path = ROOT / "data" / "runs.csv"
    ds = load(path, ColumnMap.parse(run="task,model,algorithm,seed", perf="val_acc"))
    return ds, path


def load_realdata():
    """verl PPO logs and Deep-GRPO W&B exports, with short run names, as one Dataset."""
    from scaling.data.readers import read_source

    real = SHARED / "realdata"
    dg = real / "Deep-GRPO"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # runs with only one series in an export are dropped by design
        parts = [
            read_source(sorted((real / "verl-data" / "raw").glob("*.log"))),
            read_source([dg / "training_dynamics" / "entropy.csv", dg / "training_dynamics" / "test_reward.csv"]),
            read_source([dg / "tree_methods_training_instability" / f for f in ("entropy.csv", "test_reward.csv")]),
            read_source([dg / "depth_and_entropy.csv", dg / "sampling_strategy.csv"]),
        ]
    table = pd.concat(parts, ignore_index=True)
    table = table.drop_duplicates(["run", "step"])  # gamma 2.0 is in two exports, with the same values
    unknown = sorted(set(table["run"]) - set(REAL_NAMES))
    if unknown:
        raise SystemExit(f"unexpected runs in ../shared/realdata: {unknown}")
    table["algorithm"] = table["run"].map(lambda r: REAL_NAMES[r][1])
    table["run"] = table["run"].map(lambda r: REAL_NAMES[r][0])
    table["task"] = "GSM8K"
    return load(table, perf_scale="fraction"), "../shared/realdata (verl-data/raw, Deep-GRPO)"


def run_table(res: FitResults) -> pd.DataFrame:
    rows = []
    for f in res:
        lo, hi = f.conf_int("ceiling") if f.has_estimate else (np.nan, np.nan)
        clo, chi = f.conf_int("c") if f.has_estimate else (np.nan, np.nan)
        alt = f.alternatives
        rows.append(
            {
                "run": f.run,
                "model": f.model,
                "params": plotting.format_params(f.params),
                "algorithm": f.algorithm,
                "n": f.n_points,
                "ceiling [95% CI]": _ci(f.ceiling, lo, hi, 3),
                "c [95% CI]": _ci(f.c, clo, chi, 2),
                "R²": f"{f.r2:.3f}" if np.isfinite(f.r2) else "",
                "ΔAICc (c=1 − free)": f"{alt['paper'] - alt['free']:+.1f}"
                if alt and np.isfinite(alt.get("paper", np.nan))
                else "",
                "status": f.status.value,
            }
        )
    return pd.DataFrame(rows)


def _ci(est, lo, hi, d) -> str:
    if not np.isfinite(est):
        return ""
    return f"{est:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


def group_lines(res: FitResults, by: str = "model") -> list[str]:
    """One sentence per (task, model): how many runs fit, R² range, ceilings of usable runs."""
    out = []
    for title, members in plotting.facet_groups(list(res), by):
        usable = [f for f in members if f.status.usable]
        r2 = [f.r2 for f in members if np.isfinite(f.r2)]
        text = f"- **{title}**: {len(members)} run{'s' if len(members) != 1 else ''}, {len(usable)} usable"
        if r2:
            text += f"; R² {min(r2):.3f}" + (f" to {max(r2):.3f}" if len(r2) > 1 else "")
        if usable:
            lo = min(usable, key=lambda f: f.ceiling)
            hi = max(usable, key=lambda f: f.ceiling)
            text += f"; ceiling{'s from' if len(usable) > 1 else ''} {_ceiling(lo)}"
            if len(usable) > 1:
                text += f" to {_ceiling(hi)}"
        bad = [f for f in members if not f.status.usable]
        if bad:
            text += "; not usable: " + ", ".join(f"{f.run} ({f.status.value})" for f in bad)
        out.append(text + ".")
    return out


def _ceiling(f) -> str:
    lo, hi = f.conf_int("ceiling")
    return f"{f.ceiling:.3f} [{lo:.3f}, {hi:.3f}] ({f.run})"


def aicc_line(res: FitResults) -> str:
    fitted = [f for f in res if f.has_estimate and f.alternatives]
    d = np.array([f.alternatives["paper"] - f.alternatives["free"] for f in fitted])
    return (
        f"Free c against the paper's c = 1 (AICc of the c = 1 fit minus the free fit, same points): "
        f"free c is better by more than 2 in {int((d > 2).sum())} of {len(d)} fitted runs, "
        f"c = 1 by more than 2 in {int((d < -2).sum())}, and neither in {int((np.abs(d) <= 2).sum())}."
    )


def status_line(res: FitResults) -> str:
    seen = [f.status for f in res]
    return "Statuses: " + ", ".join(f"{seen.count(s)} {s.value}" for s in FitStatus if s in seen) + "."


def main() -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = ["# Entropy-performance fits per model (the paper's figure, on our runs)", ""]
    md += [
        (
            "Made by `python analyses/fit_grid.py`: every run fitted on its own with `Perf(S) = a - b exp(c S)` "
            "(mode free, 95% HAC intervals). Ceiling = `a - b` = performance at zero entropy."
        ),
        "",
    ]

    toy, toy_path = load_toyrl()
    toy_res = fit_dataset(toy)
    made = []
    for task in ("add3", "add4"):
        fits = [f for f in toy_res if f.task == task]
        fig = plotting.plot_fit_grid(
            fits,
            perf_range=(0.0, 1.0),
            title=f"toyrl {task}: validation accuracy vs policy entropy, one panel per model size",
        )
        made.append(save(fig, f"fit_grid_toyrl_{task}"))
    fig = plotting.plot_fit_grid(
        [f for f in toy_res if f.task == "add4"], kind="residuals", title="toyrl add4: residuals vs entropy"
    )
    made.append(save(fig, "residuals_toyrl_add4"))
    toy_table = run_table(toy_res)
    shown = "../shared/toyrl/runs.csv" if SHARED in toy_path.parents else "data/runs.csv"
    md += [f"## toyrl ({len(toy_res)} runs, `{shown}`)", ""]
    md += ["![toyrl add4](../figures/fit_grid_toyrl_add4.png)", ""]
    md += [status_line(toy_res), "", *group_lines(toy_res), "", aicc_line(toy_res), ""]
    md += ["<details><summary>All runs</summary>", "", toy_table.to_markdown(index=False), "", "</details>", ""]
    print(toy_res.summary())

    if (SHARED / "realdata").is_dir():
        real, source = load_realdata()
        real_res = fit_dataset(real)
        fig = plotting.plot_fit_grid(
            real_res,
            hue="run",
            col_wrap=2,
            height=3.6,
            aspect=1.45,
            perf_range=(0.0, 1.0),
            title="GSM8K (verl PPO logs, Deep-GRPO W&B exports): accuracy vs policy entropy",
        )
        made.append(save(fig, "fit_grid_realdata"))
        real_table = run_table(real_res)
        md += [f"## Public RL logs on GSM8K ({len(real_res)} runs, {source})", ""]
        md += ["![realdata](../figures/fit_grid_realdata.png)", ""]
        md += [status_line(real_res), "", *group_lines(real_res), "", aicc_line(real_res), ""]
        md += [real_table.to_markdown(index=False), ""]
        print(real_res.summary())
    else:
        md += ["## Public RL logs", "", "Not run: ../shared/realdata is not present on this machine.", ""]

    (RESULTS / "fit_grid.md").write_text("\n".join(md))
    for p in made:
        print(f"wrote {p.relative_to(ROOT)}")
    print(f"wrote {(RESULTS / 'fit_grid.md').relative_to(ROOT)}")


if __name__ == "__main__":
    main()
