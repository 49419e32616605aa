"""Which mean form extrapolates a family: chosen by backtest, predicted as a mixture.

A straight line in log10(params) overshoots real families near the top, and a form that
bends can be wrong the other way.  Rather than trust one form, every candidate form
(linear, quadratic and saturating, on the identity and, for a bounded metric, the logit
scale) is **backtested on the user's own sizes**:

* **leave one size out**: every size in turn is predicted from the others;
* **leave the largest out**: the largest 2, 3, ... sizes together are predicted from the
  smaller ones (the largest alone is the last leave-one-out split), while enough sizes
  remain for every candidate.

Each split refits only the point estimate of each form (stage 2; a curve family keeps its
stage-1 ``c`` from all models: :func:`scaling.across.backtest.backtest_sizes` refits
stage 1 as well).  A form is a candidate when it has a full fit with an interval (at most
``K - 1`` coefficients for ``K`` sizes, so with three sizes only the two-coefficient forms)
and a prediction in every split.  Its score is the mean squared held-out error over the
``n`` predictions; the weights are pseudo-BMA weights with a Gaussian predictive density
whose variance is that mean square,

    w_k  proportional to  exp(elpd_k) = MSE_k ** (-n / 2)       (up to a common factor),

so a form whose backtest errors are twice as large weighs ``2 ** (-n / 2)`` as much.

**The mixture.**  A new size's value is predicted by the mixture of the candidates'
prediction distributions (each a t with its own ``K - p`` degrees of freedom, scaled on each
side by that side of its interval): the point prediction is the weighted mean, the interval
the mixture's quantiles, so it holds the spread between forms as well as each form's own
uncertainty.  ``form=`` forces one form (weight 1); the ranking is still computed and shown.
For a bounded metric every prediction and interval end is cut to the metric's range.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from scaling.across.stage2 import TERMS, Stage2Fit, _beyond, _gls, _inv_link, fit_stage2, mean_eta
from scaling.exceptions import StatisticalWarning
from scaling.protocol import ResultMixin

#: every (form, link) pair, in the order the ranking breaks ties.
ALL_FORMS = (
    ("linear", "identity"), ("linear", "logit"), ("saturating", "logit"),
    ("saturating", "identity"), ("quadratic", "logit"), ("quadratic", "identity"),
)  # fmt: skip

RANKING_COLUMNS = [
    "form", "n_params", "n_errors", "rmse", "mean_abs_error", "largest_error", "extrapolation_rmse", "extrapolation_decades",
    "weight", "status",
]  # fmt: skip


def form_label(form: str, link: str) -> str:
    """``"linear/identity"`` etc."""
    return f"{form}/{link}"


def forms_for(links: Sequence[str]) -> list[tuple[str, str]]:
    """The (form, link) pairs on the given links, in :data:`ALL_FORMS` order."""
    return [fl for fl in ALL_FORMS if fl[1] in links]


# --------------------------------------------------------------------------------
# backtest of point predictions
# --------------------------------------------------------------------------------
def backtest_forms(params, y, V, forms: Sequence[tuple[str, str]], *, method: str = "wls", models: Sequence[str] | None = None) -> pd.DataFrame:
    """Held-out point predictions of each form: leave one size out, leave the largest out.

    Parameters
    ----------
    params, y : array_like (K,)
        Parameter counts and values of the models.
    V : array_like (K, K)
        Covariance of the values (weights of ``wls`` and ``random``; ignored by ``ols`` or
        when not positive).
    forms : list of (form, link)
    method : {"wls", "random", "ols"}
    models : list of str, optional
        Names for the rows.

    Returns
    -------
    DataFrame
        One row per split, held-out model and form: ``scheme, n_out, held_out, params,
        decades_beyond, form, n_fit_sizes, pred, measured, error`` (``pred`` NaN when the
        form has no finite fit on that split).
    """
    N = np.asarray(params, dtype=float)
    y = np.asarray(y, dtype=float)
    V = np.atleast_2d(np.asarray(V, dtype=float))
    names = list(models) if models is not None else [f"m{i}" for i in range(N.size)]
    x = np.log10(N)
    sizes = np.unique(x)
    weighted = method != "ols" and bool((np.diag(V) > 0).all())
    pmax = max((len(TERMS[f]) for f, _ in forms), default=2)
    splits = [("leave-one-out", 1, x == s) for s in sizes]
    splits += [("leave-largest-out", k, x >= sizes[-k]) for k in range(2, sizes.size - pmax + 1)]
    rows = []
    for scheme, k, out in splits:
        keep = ~out
        xf = x[keep]
        xc = float(xf.mean())
        n_fit = np.unique(xf).size
        for form, link in forms:
            p = len(TERMS[form])
            pred = np.full(int(out.sum()), np.nan)
            if n_fit >= p:
                yf = y[keep]
                if link != "logit" or ((yf > 0) & (yf < 1)).all():
                    Sigma = V[np.ix_(keep, keep)] if weighted else None
                    coef, _, ok = _gls(yf, xf - xc, Sigma, link, form, quick=True)
                    if ok:
                        pred = _inv_link(mean_eta(coef, x[out] - xc, form), link)
            for i, pr, beyond in zip(np.flatnonzero(out), pred, _beyond(x[out], xf)):
                rows.append(dict(scheme=scheme, n_out=k, held_out=names[i], params=N[i], decades_beyond=float(beyond),
                                 form=form_label(form, link), n_fit_sizes=n_fit, pred=pr, measured=y[i], error=y[i] - pr))  # fmt: skip
    return pd.DataFrame(rows, columns=["scheme", "n_out", "held_out", "params", "decades_beyond", "form", "n_fit_sizes", "pred", "measured", "error"])


def rank_forms(errors: pd.DataFrame, fits: dict, forced: str | None = None) -> pd.DataFrame:
    """Rank the forms by held-out error and give them pseudo-BMA weights.

    Parameters
    ----------
    errors : DataFrame
        From :func:`backtest_forms`.
    fits : dict
        ``"form/link"`` -> full :class:`Stage2Fit`; forms without an estimate are not candidates.
    forced : str, optional
        A form given weight 1 (the others 0), whatever the ranking.

    Returns
    -------
    DataFrame
        :data:`RANKING_COLUMNS`, best first; ``status`` says why a form is not a candidate.
    """
    rows = []
    for label, fit in fits.items():
        e = errors.loc[errors["form"] == label, "error"].to_numpy(dtype=float)
        largest = errors[(errors["form"] == label) & (errors["scheme"] == "leave-one-out") & (errors["decades_beyond"] > 0)]
        outside = errors[(errors["form"] == label) & (errors["decades_beyond"] != 0)]
        ext = outside["error"].to_numpy(dtype=float)
        row = dict(form=label, n_params=fit.p, n_errors=int(np.isfinite(e).sum()),
                   rmse=math.nan, mean_abs_error=math.nan, largest_error=float(largest["error"].iloc[0]) if len(largest) else math.nan,
                   extrapolation_rmse=float(np.sqrt(np.mean(ext**2))) if ext.size else math.nan,
                   extrapolation_decades=float(np.sqrt(np.mean(outside["decades_beyond"].to_numpy(dtype=float) ** 2))) if ext.size else math.nan,
                   weight=0.0, status="candidate")  # fmt: skip
        if not fit.has_estimate:
            row["status"] = f"no estimate ({fit.status.value})"
        elif e.size == 0:
            row["status"] = "not backtested (too few sizes)"
        elif not np.isfinite(e).all():
            row["status"] = f"not backtested (no fit in {int((~np.isfinite(e)).sum())} of {e.size} held-out predictions)"
        else:
            row.update(rmse=float(np.sqrt(np.mean(e**2))), mean_abs_error=float(np.mean(np.abs(e))))
        rows.append(row)
    table = pd.DataFrame(rows, columns=RANKING_COLUMNS)
    cand = table["status"] == "candidate"
    if cand.any():
        n = table.loc[cand, "n_errors"].to_numpy(dtype=float)
        mse = np.maximum(table.loc[cand, "rmse"].to_numpy(dtype=float) ** 2, 1e-300)
        logw = -0.5 * n * np.log(mse)
        w = np.exp(logw - logw.max())
        table.loc[cand, "weight"] = w / w.sum()
    if forced is not None:
        table["weight"] = (table["form"] == forced).astype(float)
    order = np.lexsort((np.arange(len(table)), table["rmse"].fillna(np.inf).to_numpy(), -table["weight"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------
# the chosen form, or the mixture
# --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FormChoice(ResultMixin):
    """The forms considered for one family, their backtest ranking and the weighted prediction.

    Attributes
    ----------
    task : str
    fits : dict
        ``"form/link"`` -> :class:`Stage2Fit` of every form considered.
    ranking : DataFrame
        :data:`RANKING_COLUMNS`, best first (:func:`rank_forms`).
    errors : DataFrame
        The held-out predictions behind the ranking (:func:`backtest_forms`).
    forced : str or None
        The form forced by the user (weight 1), if any.
    perf_range : (float, float) or None
        The metric's range: predictions and interval ends are cut to it.
    note : str
        How the prediction was made (mixture, forced, too few sizes to choose).
    """

    task: str
    fits: dict
    ranking: pd.DataFrame
    errors: pd.DataFrame
    forced: str | None = None
    perf_range: tuple[float, float] | None = None
    note: str = ""
    weights: dict = field(init=False)

    def __post_init__(self) -> None:
        w = {r["form"]: float(r["weight"]) for _, r in self.ranking.iterrows() if r["weight"] > 0}
        object.__setattr__(self, "weights", w)

    # --- what the rest of the package asks of a stage-2 fit -------------------------
    @property
    def best(self) -> Stage2Fit:
        """The fit of the form with the largest weight (the forced one when forced)."""
        if self.weights:
            return self.fits[max(self.weights, key=self.weights.get)]
        return next(iter(self.fits.values()))

    @property
    def has_estimate(self) -> bool:
        return bool(self.weights) and all(self.fits[k].has_estimate for k in self.weights)

    @property
    def params(self) -> np.ndarray:
        return self.best.params

    @property
    def level(self) -> float:
        return self.best.level

    @property
    def message(self) -> str:
        return self.best.message if not self.has_estimate else self.note

    @property
    def label(self) -> str:
        """``"linear/logit"`` for one form, ``"mixture (linear/logit 0.62, ...)"`` for several."""
        if len(self.weights) == 1:
            return next(iter(self.weights))
        return f"mixture ({_weights_text(self.weights)})"

    def summary(self) -> pd.DataFrame:
        """The ranking (:attr:`ranking`)."""
        return self.ranking.copy()

    def to_frame(self) -> pd.DataFrame:
        return self.ranking.assign(task=self.task)

    def ranking_text(self) -> str:
        """One line per form: rank, backtest error, weight, status (what the CLI prints)."""
        lines = []
        for i, r in self.ranking.iterrows():
            err = f"RMSE {r['rmse']:.4f} over {r['n_errors']} held-out, largest size {r['largest_error']:+.4f}" if np.isfinite(r["rmse"]) else ""
            lines.append(f"    {i + 1}. {r['form']:<22} {r['n_params']} coef  weight {r['weight']:.2f}  {err}  {r['status'] if r['status'] != 'candidate' else ''}".rstrip())
        return "\n".join(lines)

    def predict(self, params, *, n_runs: float | None = None, interval: str = "analytic") -> pd.DataFrame:
        """The weighted prediction at the given sizes: the columns of :meth:`Stage2Fit.predict`.

        ``pred`` is the weighted mean of the forms' predictions; ``lo, hi`` (a new model) and
        ``mean_lo, mean_hi`` (the curve) are quantiles of the mixture of the forms' prediction
        distributions; ``se_*`` the mixture's standard deviations; ``cut`` says whether a value
        was cut to the metric's range.
        """
        N = np.atleast_1d(np.asarray(params, dtype=float))
        base = self.best.predict(N, n_runs=n_runs, interval=interval)
        if not self.has_estimate:
            return base.assign(cut=False)
        if len(self.weights) == 1 and self.forced is not None:
            out = base.copy()
        else:
            out = base[["params", "log10_params", "decades_beyond"]].copy()
            parts = []
            for k, w in self.weights.items():
                f = self.fits[k]
                boot = interval == "bootstrap" and f.replicates is not None
                bands = self._widened(k, f._bands(N, n_runs, bootstrap=boot), base["decades_beyond"].to_numpy(), f.t_crit)
                parts.append((w, bands, f.t_crit, math.inf if f.two_sizes else max(f.df_resid, 1)))
            pred = sum(w * b["pred"] for w, b, _, _ in parts)
            out["pred"] = pred
            out["se_mean"] = np.sqrt(sum(w * (b["se_mean"] ** 2 + (b["pred"] - pred) ** 2) for w, b, _, _ in parts))
            out["mean_lo"], out["mean_hi"] = _mixture_quantiles(parts, "mean_lo", "mean_hi", self.level)
            out["se_new"] = np.sqrt(sum(w * (b["se_new"] ** 2 + (b["pred"] - pred) ** 2) for w, b, _, _ in parts))
            out["lo"], out["hi"] = _mixture_quantiles(parts, "lo", "hi", self.level)
        cut = np.zeros(len(out), dtype=bool)
        if self.perf_range is not None:
            lo, hi = self.perf_range
            cols = ["pred", "mean_lo", "mean_hi", "lo", "hi"]
            vals = out[cols].to_numpy(dtype=float)
            cut = ((vals < lo) | (vals > hi)).any(axis=1)
            out[cols] = np.clip(vals, lo, hi)
        return out.assign(cut=cut)

    def _widened(self, label: str, bands: dict, beyond: np.ndarray, t: float) -> dict:
        """A form's prediction band outside the fitted sizes, at least as wide as its backtest errors there.

        Beyond the fitted range the standard deviation of a new model's value is taken as at
        least the form's RMS backtest error on sizes outside the sizes it was fitted to
        (``extrapolation_rmse``) times ``f(distance / the backtest's RMS distance)``
        (``extrapolation_decades``), ``f(x) = sqrt(x)`` below 1 and ``x`` above: zero at the edge
        of the data, the backtest's error at the backtest's distance, growing linearly beyond.  A form whose extrapolations missed gets an
        interval that says so.  Inside the range, and for a forced form, the band is the form's own.
        """
        if self.forced is not None:
            return bands
        r = self.ranking.set_index("form").loc[label]
        rmse, dist = float(r["extrapolation_rmse"]), float(r["extrapolation_decades"])
        if not (np.isfinite(rmse) and np.isfinite(dist) and dist > 0):
            return bands
        ratio = np.abs(beyond) / dist
        sd = rmse * np.where(ratio < 1, np.sqrt(ratio), ratio)
        out = dict(bands)
        out["lo"] = bands["pred"] - np.maximum(bands["pred"] - bands["lo"], t * sd)
        out["hi"] = bands["pred"] + np.maximum(bands["hi"] - bands["pred"], t * sd)
        out["se_new"] = np.maximum(bands["se_new"], sd)
        return out

    def prob_at_least(self, params, target: float, *, n_runs: float | None = None) -> np.ndarray:
        """Probability that a new model of each size measures ``>= target``: the weighted sum over forms
        of each form's prediction distribution, with the bands :meth:`predict` mixes (widened beyond the
        data as :meth:`_widened` says), so that a plan agrees with the interval printed beside it."""
        N = np.atleast_1d(np.asarray(params, dtype=float))
        if not self.has_estimate:
            return np.full(N.shape, np.nan)
        beyond = _beyond(np.log10(N), self.best.x)
        p = 0.0
        for k, w in self.weights.items():
            f = self.fits[k]
            p = p + w * f.prob_from_bands(self._widened(k, f._bands(N, n_runs), beyond, f.t_crit), target)
        if self.perf_range is not None and target > self.perf_range[1]:
            p = np.zeros_like(p)
        return p


def _weights_text(weights: dict) -> str:
    """``"linear/logit 0.62, saturating/logit 0.38"``; weights below 0.005 summed as ``"others 0.003"``."""
    shown = [f"{k} {v:.2f}" for k, v in weights.items() if v >= 0.005]
    rest = sum(v for v in weights.values() if v < 0.005)
    return ", ".join(shown + ([f"others {rest:.3f}" if rest >= 0.0005 else "others < 0.001"] if rest > 0 else []))


def _mixture_quantiles(parts, lo_key: str, hi_key: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ``level`` quantiles of a mixture of two-sided t distributions (vectorised bisection)."""
    preds = np.array([b["pred"] for _, b, _, _ in parts])  # (k, n)
    s_lo = np.array([np.maximum(b["pred"] - b[lo_key], 0.0) / t for _, b, t, _ in parts])
    s_hi = np.array([np.maximum(b[hi_key] - b["pred"], 0.0) / t for _, b, t, _ in parts])
    w = np.array([wt for wt, _, _, _ in parts])[:, None]
    dfs = [df for _, _, _, df in parts]

    def cdf(xv: np.ndarray) -> np.ndarray:
        total = np.zeros_like(xv)
        for j, df in enumerate(dfs):
            s = np.where(xv >= preds[j], s_hi[j], s_lo[j])
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(s > 0, (xv - preds[j]) / np.where(s > 0, s, 1.0), np.where(xv >= preds[j], np.inf, -np.inf))
            total += w[j] * (special.ndtr(z) if math.isinf(df) else special.stdtr(df, z))
        return total

    span = np.maximum(np.nanmax(np.maximum(s_lo, s_hi), axis=0), 1e-12)
    out = []
    for q in (0.5 - level / 2, 0.5 + level / 2):
        a, b = preds.min(axis=0) - 1e4 * span, preds.max(axis=0) + 1e4 * span
        for _ in range(100):
            m = (a + b) / 2
            below = cdf(m) < q
            a, b = np.where(below, m, a), np.where(below, b, m)
        out.append((a + b) / 2)
    return out[0], out[1]


def choose_form(
    params,
    y,
    V,
    n_runs,
    *,
    forms: Sequence[tuple[str, str]],
    force: tuple[str, str] | None = None,
    perf_range: tuple[float, float] | None = None,
    task: str = "",
    models: Sequence[str] | None = None,
    method: str = "wls",
    **fit_kw,
) -> FormChoice:
    """Fit every form, backtest them on the models' own sizes and weigh them (module docstring).

    Parameters
    ----------
    params, y, V, n_runs
        As for :func:`scaling.across.stage2.fit_stage2`.
    forms : list of (form, link)
        Forms considered (e.g. :func:`forms_for` of the allowed links).
    force : (form, link), optional
        Predict with this form alone (it is added to ``forms`` if missing).
    perf_range : (float, float), optional
        The metric's range: predictions are cut to it.
    task, models, method, **fit_kw
        Passed to :func:`~scaling.across.stage2.fit_stage2` (``dc, var_c, level, quantity,
        y_replicates, c_shift, rng``).

    Returns
    -------
    FormChoice
        With two sizes (nothing to backtest) the straight line on the first link of ``forms``
        (or the forced form), labelled.
    """
    forms = list(dict.fromkeys([*forms, *([force] if force else [])]))
    n_sizes = np.unique(np.log10(np.asarray(params, dtype=float))).size
    fits = {}
    for form, link in forms:
        fits[form_label(form, link)] = fit_stage2(
            params, y, V, n_runs, method=method, link=link, form=form, task=task, models=tuple(models) if models is not None else None,
            two_sizes=True, **fit_kw,
        )  # fmt: skip
    # a form needs an interval (K - 1 coefficients at most) to be a candidate
    eligible = [(f, lk) for f, lk in forms if len(TERMS[f]) <= n_sizes - 1]
    errors = backtest_forms(params, y, V, eligible, method=method, models=models)
    considered = {form_label(f, lk): fits[form_label(f, lk)] for f, lk in eligible}
    forced = form_label(*force) if force else None
    if n_sizes < 3 and forced is None:
        f, lk = next(((f, lk) for f, lk in forms if f == "linear"), forms[0])
        forced = form_label(f, lk)
    ranking = rank_forms(errors, {**considered, **({forced: fits[forced]} if forced else {})}, forced)
    fallback = None
    if not (ranking["weight"] > 0).any():
        fallback = next((k for k, f in fits.items() if f.has_estimate), None)
        if fallback is not None:
            ranking = rank_forms(errors, {**considered, fallback: fits[fallback]}, fallback)
    for label, fit in fits.items():
        if label not in set(ranking["form"]):
            extra = pd.DataFrame([dict(form=label, n_params=fit.p, n_errors=0, rmse=math.nan, mean_abs_error=math.nan,
                                       largest_error=math.nan, weight=0.0,
                                       status=f"needs {fit.p + 1} sizes, {n_sizes} given")])  # fmt: skip
            ranking = pd.concat([ranking, extra], ignore_index=True)
    if force:
        note = f"form {forced} forced; the ranking is shown for comparison"
    elif n_sizes < 3:
        note = f"{n_sizes} size(s): no backtest is possible, the straight line ({forced}) is used"
    else:
        w = {r["form"]: r["weight"] for _, r in ranking.iterrows() if r["weight"] > 0}
        note = f"chosen by backtest: weights {_weights_text(w)}"
        if fallback is not None:
            note = f"no form could be backtested on every split; {fallback} is used, unchecked"
    return FormChoice(task, fits, ranking, errors, forced, perf_range, note)


def form_spread(choice: FormChoice, params, pred: np.ndarray, width: np.ndarray, task: str, stacklevel: int = 3) -> dict:
    """How far the other forms' predictions lie from ``pred``, and whether that exceeds the curve's interval.

    The forms compared are those with weight >= 0.05 when the forms are mixed, every form with an
    estimate when one form was forced.  A StatisticalWarning names each size where the spread is
    wider than ``width`` (the curve interval's width): the extrapolation depends on the form.

    Returns
    -------
    dict
        ``alt_spread`` (array), ``alt_forms`` (str), ``forms_disagree`` (bool array).
    """
    N = np.atleast_1d(np.asarray(params, dtype=float))
    if choice.forced is not None or len(choice.weights) <= 1:
        keys = [k for k, f in choice.fits.items() if f.has_estimate and k not in choice.weights]
    else:
        keys = [k for k, w in choice.weights.items() if w >= 0.05]
    alts = {k: choice.fits[k].predict(N)["pred"].to_numpy() for k in keys}
    if not alts or not choice.has_estimate:
        return {"alt_spread": np.full(N.size, np.nan), "alt_forms": "", "forms_disagree": np.zeros(N.size, dtype=bool)}
    spread = np.nanmax(np.abs(np.column_stack([v - pred for v in alts.values()])), axis=1)
    disagree = spread > width
    for i in np.flatnonzero(disagree):
        detail = ", ".join(f"{k} {v[i]:.4f}" for k, v in alts.items())
        warnings.warn(
            f"task {task!r}, params {N[i]:.3g}: the mean forms disagree by {spread[i]:.4f}, more than the width "
            f"{width[i]:.4f} of the curve's interval ({choice.label}: {pred[i]:.4f}; {detail}); "
            "the extrapolation depends on the form: see the ranking and the leave-largest-out backtest",
            StatisticalWarning,
            stacklevel=stacklevel,
        )
    return {"alt_spread": spread, "alt_forms": "; ".join(alts), "forms_disagree": disagree}


def prediction_columns(task: str, choice: FormChoice, main: pd.DataFrame) -> pd.DataFrame:
    """The columns every across-sizes prediction table starts with, from :meth:`FormChoice.predict`.

    ``task, params, log10_params, decades_beyond, ceiling_pred, ceiling_lo, ceiling_hi,
    ceiling_mean_lo, ceiling_mean_hi``, then the settings of the best form (``method, link,
    form, level, status``), ``form_choice`` (the form, or the mixture with its weights) and
    ``form_note`` (how it was chosen).
    """
    f = choice.best
    out = pd.DataFrame({"task": task, "params": main["params"].to_numpy(), "log10_params": main["log10_params"].to_numpy(),
                        "decades_beyond": main["decades_beyond"].to_numpy()})  # fmt: skip
    for k, v in {"ceiling_pred": "pred", "ceiling_lo": "lo", "ceiling_hi": "hi", "ceiling_mean_lo": "mean_lo", "ceiling_mean_hi": "mean_hi"}.items():
        out[k] = main[v].to_numpy()
    out["method"], out["link"], out["form"], out["level"] = f.method, f.link, f.form, f.level
    out["status"] = f.status.value
    out["form_choice"], out["form_note"] = choice.label, choice.note
    return out
