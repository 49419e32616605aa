"""One rate c shared by a set of runs, each run keeping its own ceiling and slope.

Coefficients of different runs or models are only comparable at a common c
(``DESIGN.md`` section 6).  :func:`fit_shared` estimates c jointly from the runs
whose own free fit is usable, then fits every run at that c.  Its covariance
comes from the panel fit (:func:`scaling.core.panel.fit_panel`, one group per run;
its HAC treats runs as independent time series), so each run's ceiling interval
includes the uncertainty of the shared c.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from scaling.core import intervals, law, panel
from scaling.fitting.screen import screen_fits
from scaling.fitting.single import (
    FitOptions,
    FitStatus,
    RunFit,
    RunPoints,
    fit_prepared,
    no_estimate,
    precheck_run,
    status_of_fit,
)


def fit_shared(
    runs: list[RunPoints],
    options: FitOptions | None = None,
    *,
    c: float | None = None,
) -> list[RunFit]:
    """Fit one c across ``runs`` (per-run ``P0``, ``beta``).

    Parameters
    ----------
    runs : list of RunPoints
        Prepared runs (see :func:`scaling.fitting.single.prepare_run`).
    options : FitOptions, optional
        Interval method and thresholds.
    c : float, optional
        Fix the common c (for example 1, the paper's form) instead of estimating it.

    Returns
    -------
    list of RunFit
        One per run, in order, all with ``mode="shared"``.  Runs whose own free fit
        is not usable (poor fit, entropy not decreasing, c at a bound) do not inform
        c; they are fitted at the shared c with c held fixed, and their message says so.
    """
    opts = options or FitOptions()
    out: list[RunFit | None] = [None] * len(runs)
    donors: list[int] = []
    own_status: dict[int, str] = {}
    fittable: list[int] = []
    for i, r in enumerate(runs):
        bad = precheck_run(r)
        if bad:
            out[i] = no_estimate(r, "shared", opts, *bad)
        else:
            fittable.append(i)
    if c is None:
        own = screen_fits([runs[i] for i in fittable], FitOptions(ci="hac", perf_range=None, r2_min=opts.r2_min))
        for i, f in zip(fittable, own):
            # runs whose rate is estimated inform c (far or beyond-data ceilings do not spoil it; degenerate fits do)
            if f.status.usable:
                donors.append(i)
            else:
                own_status[i] = f.status.value  # fitted below at the shared c
    else:
        donors = fittable
    if not donors:
        return [f if f is not None else no_estimate(runs[i], "shared", opts, FitStatus.POOR_FIT,
                "no run in the group has a usable free fit to estimate the shared c") for i, f in enumerate(out)]
    donor_runs = [runs[i] for i in donors]
    joint = _joint(donor_runs, opts, c)
    for k, i in enumerate(donors):
        out[i] = joint[k]
    c_shared = joint[0].c
    for i, f in enumerate(out):
        if f is None:
            fit = fit_prepared(runs[i], "shared", c_shared, opts)
            note = f"not used to estimate the shared c (own free fit: {own_status[i]}); c held fixed"
            out[i] = replace(fit, message=f"{fit.message}; {note}", fixed_c=True)
    return out  # type: ignore[return-value]


def _joint(runs: list[RunPoints], opts: FitOptions, c_fixed: float | None) -> list[RunFit]:
    S_list = [r.entropy for r in runs]
    K = len(runs)
    bounds = law.c_bounds(max(S_list, key=np.ptp))  # the widest run's range, not the pooled one
    hac = opts.ci == "hac"
    pf = panel.fit_panel(
        np.concatenate(S_list),
        np.concatenate([r.perf for r in runs]),
        np.repeat(np.arange(K), [S.size for S in S_list]),
        step=np.concatenate([r.step for r in runs]),
        c=c_fixed,
        bounds=bounds,
        cov_type="hac" if hac else "none",
        maxlags=opts.maxlags,
    )
    c_hat, at_bound = pf.c, pf.at_bound
    fit_c = c_fixed is None
    rss_k = pf.rss_by_group
    replicates: list[np.ndarray | None] = [None] * K
    if hac:
        lags = pf.hac_lags
        covs = [pf.group_cov(k) for k in range(K)]
    else:
        lags = 0
        rng = np.random.default_rng(opts.seed)
        Ys = []
        for k, S in enumerate(S_list):
            sel = pf.groups == k
            L = opts.block_length or intervals.default_block_length(S.size)
            J = intervals.jacobian(S, pf.beta[k], c_hat, fit_c=fit_c)
            Ys.append(intervals.residual_block_bootstrap(pf.fitted[sel], pf.resid[sel], J, L, opts.n_boot, rng))
        if fit_c:
            bs = law.varpro_shared(S_list, Ys, bounds, refine="newton")
            cs = np.asarray(bs.c)
            reps = [(np.asarray(a), np.asarray(b)) for a, b in zip(bs.P0, bs.beta)]
        else:
            cs = np.full(opts.n_boot, c_hat)
            reps = [law.solve_linear(S, Y, c_hat)[:2] for S, Y in zip(S_list, Ys)]
        for k, (a, b) in enumerate(reps):
            replicates[k] = np.column_stack([a, b, cs])
        covs = [np.cov(rp.T) for rp in replicates]  # type: ignore[union-attr]
    fits = []
    for k, r in enumerate(runs):
        rss = float(rss_k[k])
        # the point fit at the shared c; its intervals come from the joint fit above
        fit = fit_prepared(r, "shared", c_hat, replace(opts, ci="hac"), cov_override=covs[k])
        fit = replace(
            fit,
            ci_method=opts.ci,
            fixed_c=not fit_c,
            replicates=replicates[k],
            profile_c=pf.grid,
            profile_rss=pf.profile,
            bounds=bounds,
            hac_lags=lags,
            rss=rss,
        )
        c_int = fit.conf_int("c") if fit_c else (c_hat, c_hat)
        p_int = fit.conf_int("ceiling") if fit_c else None
        status, flags, msg = status_of_fit(r, fit.theta, c_int, at_bound, not fit_c, fit.r2, opts, bounds, p_int)
        fits.append(replace(fit, status=status, flags=flags, message=f"{msg}; c shared by {K} run(s)"))
    return fits
