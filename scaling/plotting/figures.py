"""Figures of the entropy-performance law: each function draws and returns matplotlib objects.

Stage-1 figures take fit results directly (a :class:`~scaling.fitting.single.RunFit`, a
:class:`~scaling.fitting.dataset.FitResults` or any sequence of ``RunFit``):

* :func:`plot_fit` - one run's points, fitted curve, its band and the ceiling;
* :func:`plot_fit_grid` - the paper-style grid: one panel per model (and task),
  colour by algorithm; ``kind`` selects fits, residuals, profiles or exchange rates;
* :func:`plot_residuals`, :func:`plot_profile`, :func:`plot_exchange_rate`;
* :func:`plot_ceiling_intervals` - every run's ceiling with its interval;
* :func:`plot_run_panels` - fit, residuals and profile of one run side by side;
* :func:`plot_run_grid` - small multiples, one panel per run (the report's pages of runs).

Figures for the other analyses take tidy DataFrames with documented columns, so any
result object can feed them through its ``to_frame()``:

* :func:`plot_ceiling_vs_params`, :func:`plot_coefficients_vs_params`,
  :func:`plot_vs_params` - stage 2 across model sizes, log-scaled parameter axis;
* :func:`plot_forecast` - early prediction, predicted vs actual over a run;
* :func:`plot_algorithm_overlay` - runs of several algorithms on one axes.

Conventions: a function given ``ax`` draws into it; without one it makes a new
:class:`matplotlib.figure.Figure` that is not registered with pyplot, so no global
state changes (no current figure, no rcParams, no style).  Functions never save or
show.  Artists that tests or callers may want to find carry a ``gid``
(``"fit-curve"``, ``"fit-band"``, ``"ceiling"``, ``"status-note"``, ...).
Entropy is in nats; performance in the metric's own unit (a fraction for accuracy).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scaling.core import intervals
from scaling.fitting.single import FitStatus, RunFit

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from scaling.fitting.dataset import FitResults

#: font sizes (points) used by every figure; readable in a report at 100 dpi.
LABEL_SIZE = 11
TICK_SIZE = 10
NOTE_SIZE = 8.5
ENTROPY_LABEL = "policy entropy S (nats)"
_HUES = ("algorithm", "model", "seed", "task", "run")
_UNUSABLE = "#b03a2e"
_CAVEAT = "#b9770e"


# --------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------
#: longest text shown in a figure (titles, legend entries); longer names are cut with an ellipsis.
MAX_LABEL = 80


def mpl_text(text: object, limit: int | None = MAX_LABEL) -> str:
    """Make a string safe to show as matplotlib text.

    ``$`` would start mathtext (and a malformed expression raises when drawn), and a
    leading underscore hides a legend entry; both can come from run names in files.  Text
    longer than ``limit`` characters (:data:`MAX_LABEL`) is cut with an ellipsis (tables keep the full
    name): a very long title or legend entry makes matplotlib warn while laying out the figure.
    """
    s = str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def _fits_of(obj: Any, name: str = "fits") -> list[RunFit]:
    if isinstance(obj, RunFit):
        return [obj]
    fits = getattr(obj, "fits", obj)
    try:
        out = list(fits)
    except TypeError:
        raise ValueError(
            f"{name} must be a RunFit, a FitResults or a sequence of RunFit, got {type(obj).__name__}"
        ) from None
    bad = [type(f).__name__ for f in out if not isinstance(f, RunFit)]
    if bad:
        raise ValueError(f"{name} must hold RunFit objects, got {bad[0]}")
    return out


def _perf_range_of(obj: Any, perf_range):
    if perf_range is not None:
        return perf_range
    options = getattr(obj, "options", None)
    return getattr(options, "perf_range", None)


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    figsize: tuple[float, float] = (6.4, 4.3),
    *,
    margins: dict | None = None,
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with a grid of axes, not registered with pyplot.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    figsize : (float, float)
        Inches.
    margins : dict, optional
        Fixed margins instead of constrained layout (keywords of
        ``Figure.subplots_adjust``: ``left, right, bottom, top, wspace, hspace``), for
        figures of a known shape drawn many times: the layout pass costs about as much
        as drawing.

    Returns
    -------
    fig : Figure
    axes : ndarray of Axes, shape (nrows, ncols)
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=None if margins else "constrained")
    if margins:
        fig.subplots_adjust(**margins)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        _style(ax)
    return fig, axes


def _axes(ax: Axes | None, figsize=(6.4, 4.3)) -> Axes:
    if ax is not None:
        _style(ax)
        return ax
    return new_figure(1, 1, figsize)[1][0, 0]


def _style(ax: Axes) -> None:
    ax.grid(True, color="0.88", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=TICK_SIZE)


def _labels(ax: Axes, xlabel: str | None, ylabel: str | None, title: str | None = None) -> None:
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    if ylabel is not None:
        ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    if title:
        ax.set_title(mpl_text(title), fontsize=LABEL_SIZE)


def palette(values: Iterable[object]) -> dict[str, tuple]:
    """A colour per distinct value (sorted), from seaborn's colour-blind palette."""
    import seaborn as sns

    keys = sorted({str(v) for v in values})
    colors = sns.color_palette("colorblind" if len(keys) <= 10 else "husl", max(len(keys), 1))
    return dict(zip(keys, colors))


def format_params(n: float) -> str:
    """A parameter count in short form: ``1346125 -> '1.3M'``."""
    if n is None or not np.isfinite(n):
        return "?"
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.3g}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):.3g}%"


def _hue_value(fit: RunFit, hue: str) -> str:
    if hue not in _HUES:
        raise ValueError(f"hue must be one of {', '.join(_HUES)}, got {hue!r}")
    return str(getattr(fit, hue)) or f"no {hue}"


def _short(fit: RunFit) -> str:
    parts = [p for p in (fit.algorithm, fit.seed) if p]
    return "/".join(parts) if parts else fit.run


def _labels_of(values: pd.Series) -> pd.Series:
    """Values as text labels; an empty one reads "no algorithm" (after the column's name: "no model", ...)."""
    return values.astype(str).replace("", f"no {values.name}" if values.name else "none")


def _clip(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _status_color(status: FitStatus) -> str:
    return _CAVEAT if status.usable else _UNUSABLE


def _entropy_grid(fit: RunFit, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Entropies to draw a curve on: the observed range, and from 0 up to it (extrapolation)."""
    lo, hi = float(np.min(fit.entropy)), float(np.max(fit.entropy))
    return np.linspace(lo, hi, n), np.linspace(0.0, lo, max(2, n // 4))


def _pad(lo: float, hi: float, frac: float = 0.05) -> tuple[float, float]:
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - frac * span, hi + frac * span


def _need(frame: pd.DataFrame, columns: Sequence[str], name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(frame.columns)}")
    return frame


# --------------------------------------------------------------------------------
# intervals drawn as bands
# --------------------------------------------------------------------------------
def exchange_rate_band(fit: RunFit, entropy: np.ndarray | float) -> pd.DataFrame:
    """The exchange rate ``dPerf/d(-S) = beta exp(c S)`` at given entropies, with its band.

    Parameters
    ----------
    fit : RunFit
        A fit with an estimate.
    entropy : array_like
        Entropies (nats).

    Returns
    -------
    DataFrame
        Columns ``entropy, mean, lo, hi``: the rate (performance per nat) and its pointwise
        ``1 - fit.alpha`` interval.  With HAC intervals it is the delta method with the
        fit's covariance and fixed-b critical value (the same recipe as the ceiling's
        interval); with bootstrap replicates, their percentiles.  NaN without an estimate.

    Notes
    -----
    The gradient of ``beta exp(c S)`` with respect to ``(P0, beta, c)`` is
    ``(0, exp(c S), beta S exp(c S))``.  Coverage is checked by simulation in
    ``tests/plotting/test_figures.py``.
    """
    S = np.atleast_1d(np.asarray(entropy, dtype=float))
    mean = fit.exchange_rate(S)
    nan = np.full_like(S, np.nan)
    if not fit.has_estimate:
        return pd.DataFrame({"entropy": S, "mean": nan, "lo": nan, "hi": nan})
    _, beta, c = fit.theta
    grad = _rate_gradient(S, beta, c)[0]
    if fit.replicates is None:
        df = max(fit.n_points - (2 if fit.fixed_c else 3), 1)
        t = intervals.fixed_b_critical(fit.alpha, fit.hac_lags, fit.n_points, df)
        _, lo, hi = intervals.delta_interval(grad, fit.cov, mean, t)
    else:
        beta_b, c_b = fit.replicates[:, 1:2], fit.replicates[:, 2:3]
        rates = beta_b * np.exp(c_b * S[None, :])
        q = [fit.alpha / 2, 1 - fit.alpha / 2]
        if fit.replicate_cov is None:  # percentile interval
            lo, hi = np.nanquantile(rates, q, axis=0)
        else:  # studentized (bootstrap-t), as RunFit does for the ceiling
            se = intervals.delta_se(grad, fit.cov)
            grad_b = _rate_gradient(S, fit.replicates[:, 1], fit.replicates[:, 2])
            se_b = intervals.delta_se(grad_b, fit.replicate_cov[:, None, :, :])
            with np.errstate(divide="ignore", invalid="ignore"):
                t_b = (rates - mean[None, :]) / se_b
            t_b[~np.isfinite(t_b)] = np.nan
            q_lo, q_hi = np.nanquantile(t_b, q, axis=0)
            lo, hi = mean - q_hi * se, mean - q_lo * se
    return pd.DataFrame({"entropy": S, "mean": mean, "lo": lo, "hi": hi})


def _rate_gradient(S: np.ndarray, beta, c) -> np.ndarray:
    """Gradients of ``beta exp(c S)`` with respect to ``(P0, beta, c)``, shape (B, len(S), 3), for B rows of (beta, c)."""
    beta = np.atleast_1d(np.asarray(beta, dtype=float))[:, None]
    c = np.atleast_1d(np.asarray(c, dtype=float))[:, None]
    e = np.exp(c * S[None, :])
    return np.stack([np.zeros_like(e), e, beta * S[None, :] * e], axis=-1)


# --------------------------------------------------------------------------------
# stage 1: one run
# --------------------------------------------------------------------------------
def _draw_points(ax: Axes, x, y, color, label=None, size: float = 14, alpha: float = 0.55, gid: str = "points") -> None:
    # one scatter collection (what seaborn's scatterplot drew, without its per-call frame and axis bookkeeping)
    points = ax.scatter(np.asarray(x), np.asarray(y), s=size, color=color, alpha=alpha, linewidths=0, label=label)
    points.set_gid(gid)
    points.set_rasterized(True)  # vector output (SVG) embeds the points as an image


def _draw_fit(ax: Axes, fit: RunFit, color, *, band: bool = True, ceiling: bool = True, points: bool = True) -> None:
    """Points, curve (solid over the data, dotted down to S = 0), band and ceiling of one run."""
    if points and fit.entropy.size:
        _draw_points(ax, fit.entropy, fit.perf, color)
    if not fit.has_estimate:
        return
    usable = fit.status.usable
    (inside, curve), (below, extrapolated), err = _fit_marks(fit)
    style = "-" if usable else "--"
    ax.plot(inside, curve, style, color=color, lw=1.8 if usable else 1.2, gid="fit-curve")
    ax.plot(below, extrapolated, ":", color=color, lw=1.5, gid="fit-extrapolated")
    if band and usable:
        grid = np.concatenate([below, inside])
        pi = fit.predict_interval(grid)
        ax.fill_between(grid, pi["lo"], pi["hi"], color=color, alpha=0.18, linewidth=0, gid="fit-band")
    if ceiling and usable:
        cont = ax.errorbar(
            [0.0], [fit.ceiling], yerr=err, fmt="D", color=color, ms=6, capsize=3, mec="white", mew=0.8, zorder=5
        )
        cont.lines[0].set_gid("ceiling")
        for bars in cont.lines[2]:
            bars.set_gid("ceiling-interval")


def _fit_marks(fit: RunFit):
    """The curve of a run with an estimate over its entropies and below them to S = 0, and the ceiling's
    error bar lengths (None when its interval is not finite): ``(x, y), (x0, y0), yerr``."""
    inside, below = _entropy_grid(fit)
    lo, hi = fit.conf_int("ceiling")
    err = None
    if np.isfinite(lo) and np.isfinite(hi):
        err = [[max(fit.ceiling - lo, 0.0)], [max(hi - fit.ceiling, 0.0)]]
    return (inside, fit.predict(inside)), (below, fit.predict(below)), err


#: a panel of :func:`plot_fit_grid` with more runs than this draws the runs of one colour as one artist
#: per kind of mark (:func:`_draw_fits_dense`): the same marks, with a cost that no longer grows by artist.
DENSE_PANEL = 16


def _draw_fits_dense(ax: Axes, fits: Sequence[RunFit], keys: Sequence[str], colors: dict) -> None:
    """The marks of :func:`_draw_fit` for many runs, gathered by colour: one collection of points, of solid,
    dashed and dotted curves and of bands, and one error bar artist of ceilings per colour."""
    from matplotlib.collections import LineCollection, PolyCollection

    groups: dict[str, list[RunFit]] = {}
    for f, key in zip(fits, keys):
        groups.setdefault(key, []).append(f)
    for key, members in groups.items():
        color = colors.get(key, "0.4")
        seen = [f for f in members if f.entropy.size]
        if seen:
            _draw_points(ax, np.concatenate([f.entropy for f in seen]), np.concatenate([f.perf for f in seen]), color)
        solid, dashed, dotted, bands, ceil, err = [], [], [], [], [], []
        for f in members:
            if not f.has_estimate:
                continue
            (x, y), (x0, y0), e = _fit_marks(f)
            (solid if f.status.usable else dashed).append(np.column_stack([x, y]))
            dotted.append(np.column_stack([x0, y0]))
            if f.status.usable:
                grid = np.concatenate([x0, x])
                pi = f.predict_interval(grid)
                lo, hi = np.asarray(pi["lo"], float), np.asarray(pi["hi"], float)
                if np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
                    bands.append(np.concatenate([np.column_stack([grid, lo]), np.column_stack([grid[::-1], hi[::-1]])]))
                ceil.append(f.ceiling)
                err.append((0.0, 0.0) if e is None else (e[0][0], e[1][0]))
        for segs, style, lw, gid in ((solid, "-", 1.8, "fit-curve"), (dashed, "--", 1.2, "fit-curve"), (dotted, ":", 1.5, "fit-extrapolated")):
            if segs:
                ax.add_collection(LineCollection(segs, colors=[color], linestyles=style, linewidths=lw, gid=gid))
        if bands:
            ax.add_collection(PolyCollection(bands, facecolors=[color], alpha=0.18, linewidths=0, gid="fit-band"))
        if ceil:
            cont = ax.errorbar(np.zeros(len(ceil)), ceil, yerr=np.array(err).T, fmt="D", color=color, ms=6, capsize=3,
                               mec="white", mew=0.8, zorder=5)  # fmt: skip
            cont.lines[0].set_gid("ceiling")
    ax.autoscale_view()


def _y_limits(fits: Sequence[RunFit], perf_range=None) -> tuple[float, float] | None:
    vals = [f.perf for f in fits if f.perf.size]
    if not vals:
        return None
    y = np.concatenate(vals)
    lo, hi = float(np.min(y)), float(np.max(y))
    span = max(hi - lo, 0.05)
    for f in fits:
        if f.has_estimate and f.status.usable:
            clo, chi = f.conf_int("ceiling")
            top = chi if np.isfinite(chi) else f.ceiling
            bottom = clo if np.isfinite(clo) else f.ceiling
            hi = max(hi, min(top, hi + span))
            lo = min(lo, max(bottom, lo - span))
    if perf_range is not None:
        hi = max(hi, min(perf_range[1], hi + 0.02 * span))
    return _pad(lo, hi)


def _metric_max(ax: Axes, perf_range) -> None:
    if perf_range is None:
        return
    top = perf_range[1]
    ymin, ymax = ax.get_ylim()
    if ymin <= top <= ymax or top < ymax + 0.05 * (ymax - ymin):
        ax.axhline(top, color="0.35", ls=(0, (1, 2)), lw=1.0, gid="metric-max")


def _estimates_text(fit: RunFit) -> str:
    lvl = _level(fit.alpha)
    lines = []
    if fit.has_estimate:
        lo, hi = fit.conf_int("ceiling")
        lines.append(f"P0 = {fit.ceiling:.3f}  [{lo:.3f}, {hi:.3f}]")
        if fit.fixed_c:
            lines.append(f"c = {fit.c:.3g} (fixed)")
        else:
            clo, chi = fit.conf_int("c")
            lines.append(f"c = {fit.c:.2f}  [{clo:.2f}, {chi:.2f}]")
        lines.append(f"R² = {fit.r2:.3f}, n = {fit.n_points}  ({lvl} CI)")
    else:
        lines.append(f"no estimate, n = {fit.n_points}")
    return "\n".join(lines)


def _status_note(ax: Axes, fit: RunFit, loc: str = "upper right", extra: str = "") -> None:
    """A boxed note on the axes: the status (coloured when not ok), then ``extra`` lines."""
    lines = []
    if fit.status != FitStatus.OK:
        lines.append(f"status: {fit.status.value}")
        if fit.message:
            wrapped = textwrap.wrap(mpl_text(fit.message, limit=None), 34)
            lines += wrapped[:3]
            if len(wrapped) > 3:
                lines[-1] += " …"
    if extra:
        lines.append(extra)
    if not lines:
        return
    color = "0.15" if fit.status == FitStatus.OK else _status_color(fit.status)
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left")
    y, va = (0.98, "top") if "upper" in loc else (0.02, "bottom")
    ax.text(
        x,
        y,
        "\n".join(lines),
        transform=ax.transAxes,
        ha=ha,
        va=va,
        fontsize=NOTE_SIZE,
        color=color,
        bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=color, alpha=0.85),
        gid="status-note",
        zorder=10,
    )


def plot_fit(
    fit: RunFit,
    ax: Axes | None = None,
    *,
    color=None,
    band: bool = True,
    ceiling: bool = True,
    annotate: bool = True,
    legend: bool = True,
    perf_label: str = "accuracy",
    perf_range: tuple[float, float] | None = None,
    title: str | None = None,
) -> Axes:
    """One run: validation points, the fitted law, its band and the ceiling at S = 0.

    Parameters
    ----------
    fit : RunFit
        The run's fit (with or without an estimate).
    ax : Axes, optional
        Draw here; default a new figure.
    color : colour, optional
        Default the first colour of the palette.
    band : bool
        Shade the ``1 - alpha`` band of the curve (:meth:`RunFit.predict_interval`).
    ceiling : bool
        Mark the ceiling ``P0 = Perf(0)`` with its interval.
    annotate : bool
        Write the estimates and, when it is not ``ok``, the status with its reason.
    legend : bool
        Add a legend.
    perf_label : str
        The metric's name and unit, e.g. ``"accuracy"``.
    perf_range : (float, float), optional
        The metric's range; its maximum is drawn as a dotted line.
    title : str, optional
        Default the run's name.

    Returns
    -------
    Axes

    Notes
    -----
    The curve is solid over the observed entropies and dotted where it extrapolates
    down to S = 0.  Runs whose status is not usable get a dashed curve, no band and
    no ceiling marker, and the note says why.
    """
    if not isinstance(fit, RunFit):
        raise ValueError(f"fit must be a RunFit, got {type(fit).__name__}")
    ax = _axes(ax)
    color = color if color is not None else palette(["x"])["x"]
    _draw_fit(ax, fit, color, band=band, ceiling=ceiling)
    lim = _y_limits([fit], perf_range)
    if lim:
        ax.set_ylim(*lim)
    if fit.entropy.size:
        ax.set_xlim(-0.03 * float(np.max(fit.entropy)), 1.04 * float(np.max(fit.entropy)))
    _metric_max(ax, perf_range)
    if annotate:
        _status_note(ax, fit, "upper right")
        ax.text(
            0.02,
            0.02,
            _estimates_text(fit),
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=NOTE_SIZE,
            color="0.15",
            bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.6", alpha=0.85),
            gid="estimates",
            zorder=10,
        )
    if legend:
        ax.legend(
            handles=_fit_handles(color, fit.alpha),
            loc="upper center",
            bbox_to_anchor=(0.5, -0.17),
            ncols=3,
            fontsize=NOTE_SIZE,
            frameon=False,
        )
    _labels(ax, ENTROPY_LABEL, f"validation {perf_label}", fit.run if title is None else title)
    return ax


def _fit_handles(color, alpha: float) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    return [
        Line2D([], [], ls="", marker="o", color=color, alpha=0.6, label="validation points"),
        Line2D([], [], color=color, lw=1.8, label="fitted law"),
        Line2D([], [], color=color, lw=1.5, ls=":", label="extrapolated to S = 0"),
        Patch(color=color, alpha=0.25, label=f"{_level(alpha)} band"),
        Line2D([], [], ls="", marker="D", color=color, label=f"ceiling P0 ({_level(alpha)} CI)"),
    ]


def plot_residuals(
    fits: RunFit | FitResults | Sequence[RunFit],
    ax: Axes | None = None,
    *,
    hue: str = "algorithm",
    colors: dict | None = None,
    smooth: bool = True,
    annotate: bool = True,
    perf_label: str = "accuracy",
    title: str | None = None,
) -> Axes:
    """Residuals ``perf - Perf(S)`` against entropy, with a LOWESS smoother per run.

    A law that describes the run leaves residuals scattered around zero at every
    entropy; a bend in the smoother shows where it does not.

    Parameters
    ----------
    fits : RunFit, FitResults or sequence of RunFit
        Runs without an estimate are skipped.
    ax : Axes, optional
        Draw here; default a new figure.
    hue : {"algorithm", "model", "seed", "task", "run"}
        Which identity field picks the colour.
    colors : dict, optional
        Colour per hue value; default :func:`palette`.
    smooth : bool
        Draw a LOWESS smoother (statsmodels, ``frac = 0.6``) per run with at least 6 points;
        a run of more than :data:`SMOOTH_POINTS` points is smoothed through the means of that
        many bins of consecutive entropies.
    annotate : bool
        With one run, write its status when it is not ``ok``.
    perf_label : str
        The metric's unit for the axis label.
    title : str, optional
        Axes title (default the run's name when there is one run).

    Returns
    -------
    Axes
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    runs = _fits_of(fits)
    ax = _axes(ax)
    colors = colors or palette(_hue_value(f, hue) for f in runs)
    ax.axhline(0.0, color="0.3", lw=1.0, gid="zero")
    points: dict[str, list[RunFit]] = {}  # the points of one colour are one artist: a cost per colour, not per run
    for f in runs:
        if not f.has_estimate:
            continue
        points.setdefault(_hue_value(f, hue), []).append(f)
    for key, members in points.items():
        x, y = np.concatenate([f.entropy for f in members]), np.concatenate([f.resid for f in members])
        _draw_points(ax, x, y, colors.get(key, "0.4"), size=12, gid="residuals")
    for f in runs:
        if not f.has_estimate:
            continue
        color = colors.get(_hue_value(f, hue), "0.4")
        if smooth and f.n_points >= 6:
            x, y = _binned(f.entropy, f.resid, SMOOTH_POINTS)
            sm = lowess(y, x, frac=0.6, return_sorted=True)
            ax.plot(sm[:, 0], sm[:, 1], color=color, lw=1.4, ls="-" if f.status.usable else "--", gid="residual-smooth")
    if len(runs) == 1 and annotate:
        _status_note(ax, runs[0], "upper right")
    if title is None and len(runs) == 1:
        title = runs[0].run
    _labels(ax, ENTROPY_LABEL, f"residual ({perf_label})", title)
    return ax


#: most points a LOWESS smoother is fitted to (LOWESS is quadratic in points; longer runs are binned first).
SMOOTH_POINTS = 2000


def _binned(x: np.ndarray, y: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """``x, y`` unchanged when there are at most ``most`` points, else the means of ``most`` bins of
    consecutive ``x`` (equal counts): a smoother of them costs the same for any run length."""
    if x.size <= most:
        return x, y
    order = np.argsort(x, kind="stable")
    edges = np.linspace(0, x.size, most + 1).astype(int)
    counts = np.diff(edges)
    return np.add.reduceat(x[order], edges[:-1]) / counts, np.add.reduceat(y[order], edges[:-1]) / counts


def plot_profile(
    fits: RunFit | FitResults | Sequence[RunFit],
    ax: Axes | None = None,
    *,
    hue: str = "algorithm",
    colors: dict | None = None,
    zoom: float = 4.0,
    annotate: bool = True,
    title: str | None = None,
) -> Axes:
    """Profile residual sum of squares ``RSS(c) / min RSS`` against the rate c (log scale).

    Each curve is the best RSS over ``(P0, beta)`` at each c, divided by its minimum so
    that runs compare.  A sharp valley means c is well identified; a flat profile means
    the data barely constrain it.  With one run the ``1 - alpha`` interval of c is shaded
    and the search bounds are drawn when in view.

    Parameters
    ----------
    fits : RunFit, FitResults or sequence of RunFit
        Runs without a profile (c fixed or shared, no estimate) are skipped.
    ax : Axes, optional
        Draw here; default a new figure.
    hue, colors
        As in :func:`plot_residuals`.
    zoom : float
        The c axis shows where the relative RSS is below ``zoom`` for some run (and the
        interval of c with one run); ``None`` or ``inf`` shows the whole search grid.
    annotate : bool
        With one run, write its status when it is not ``ok``.
    title : str, optional
        Axes title.

    Returns
    -------
    Axes
    """
    runs = [f for f in _fits_of(fits) if f.profile_c.size and f.has_estimate]
    ax = _axes(ax)
    colors = colors or palette(_hue_value(f, hue) for f in runs)
    xs: list[np.ndarray] = []
    for f in runs:
        rel = f.profile_rss / max(float(np.min(f.profile_rss)), 1e-300)
        color = colors.get(_hue_value(f, hue), "0.4")
        ax.plot(f.profile_c, rel, color=color, lw=1.4, ls="-" if f.status.usable else "--", gid="profile")
        ax.plot([f.c], [max(f.rss / float(np.min(f.profile_rss)), 1.0)], "o", color=color, ms=5, gid="profile-min")
        if zoom is not None and np.isfinite(zoom):
            xs.append(f.profile_c[rel <= zoom])
    ax.set_yscale("log")
    if len(runs) == 1:
        f = runs[0]
        lo, hi = f.conf_int("c")
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color=colors.get(_hue_value(f, hue), "0.4"), alpha=0.15, lw=0, gid="c-interval")
            xs.append(np.array([lo, hi]))
        for b in f.bounds:
            ax.axvline(b, color="0.4", ls=":", lw=1.0, gid="c-bound")
        if annotate:
            extra = f"c = {f.c:.2f}  [{lo:.2f}, {hi:.2f}] ({_level(f.alpha)})"
            _status_note(ax, f, "upper right", extra)
        if title is None:
            title = f.run
    if not runs:
        ax.text(
            0.5,
            0.5,
            "no profile: c was fixed or shared",
            transform=ax.transAxes,
            ha="center",
            fontsize=NOTE_SIZE,
            gid="status-note",
        )
    elif xs and any(x.size for x in xs):
        allx = np.concatenate([x for x in xs if x.size])
        grid_lo = min(float(np.min(f.profile_c)) for f in runs)
        grid_hi = max(float(np.max(f.profile_c)) for f in runs)
        lo, hi = _pad(float(np.min(allx)), float(np.max(allx)), 0.15)
        ax.set_xlim(max(lo, grid_lo), min(hi, grid_hi))
    _labels(ax, "rate c (1/nat)", "RSS(c) / min RSS (log scale)", title)
    return ax


def plot_exchange_rate(
    fits: RunFit | FitResults | Sequence[RunFit],
    ax: Axes | None = None,
    *,
    hue: str = "algorithm",
    colors: dict | None = None,
    band: bool = True,
    annotate: bool = True,
    perf_label: str = "accuracy",
    title: str | None = None,
) -> Axes:
    """The exchange rate ``dPerf/d(-S) = b c exp(c S)`` against entropy: performance per nat spent.

    Solid over each run's observed entropies, dotted down to S = 0, with the pointwise
    band of :func:`exchange_rate_band`.  Unusable fits are dashed and without band.

    Parameters
    ----------
    fits : RunFit, FitResults or sequence of RunFit
        Runs without an estimate are skipped.
    ax : Axes, optional
        Draw here; default a new figure.
    hue, colors
        As in :func:`plot_residuals`.
    band : bool
        Shade the band of usable fits.
    annotate : bool
        With one run, write its status when it is not ``ok``.
    perf_label : str
        The metric's unit for the axis label.
    title : str, optional
        Axes title.

    Returns
    -------
    Axes
    """
    runs = [f for f in _fits_of(fits) if f.has_estimate and f.entropy.size]
    ax = _axes(ax)
    colors = colors or palette(_hue_value(f, hue) for f in runs)
    tops = []
    for f in runs:
        color = colors.get(_hue_value(f, hue), "0.4")
        inside, below = _entropy_grid(f)
        ax.plot(
            inside, f.exchange_rate(inside), "-" if f.status.usable else "--", color=color, lw=1.6, gid="rate-curve"
        )
        ax.plot(below, f.exchange_rate(below), ":", color=color, lw=1.3, gid="rate-extrapolated")
        tops.append(float(np.max(np.abs(f.exchange_rate(np.concatenate([below, inside]))))))
        if band and f.status.usable:
            grid = np.concatenate([below, inside])
            b = exchange_rate_band(f, grid)
            ax.fill_between(grid, b["lo"], b["hi"], color=color, alpha=0.15, lw=0, gid="rate-band")
    ax.axhline(0.0, color="0.3", lw=0.8)
    if tops:  # bands of weakly identified fits can be huge: keep the curves in view
        top = 1.6 * max(tops)
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, -0.15 * top), min(hi, top))
    if len(runs) == 1:
        if annotate:
            _status_note(ax, runs[0], "upper left")
        if title is None:
            title = runs[0].run
    _labels(ax, ENTROPY_LABEL, f"exchange rate dPerf/d(−S)\n({perf_label} per nat)", title)
    return ax


#: margins of :func:`plot_run_panels` (fractions of the figure): room for the legend below the first panel.
RUN_PANEL_MARGINS = dict(left=0.055, right=0.99, bottom=0.27, top=0.87, wspace=0.26)


def plot_run_panels(
    fit: RunFit,
    *,
    perf_label: str = "accuracy",
    perf_range: tuple[float, float] | None = None,
) -> Figure:
    """One run in three panels: fit with band and ceiling, residuals, and profile RSS(c).

    When c was fixed (no profile) the third panel shows the exchange rate instead.
    The figure title names the run and, when it is not ``ok``, its status.

    Returns
    -------
    Figure
    """
    if not isinstance(fit, RunFit):
        raise ValueError(f"fit must be a RunFit, got {type(fit).__name__}")
    # fixed margins instead of constrained layout: the panels and labels of this figure have a known
    # shape, and the layout pass costs as much as drawing (a report draws one such figure per run)
    fig, axes = new_figure(1, 3, (13.5, 4.0), margins=RUN_PANEL_MARGINS)
    plot_fit(fit, axes[0, 0], perf_label=perf_label, perf_range=perf_range, title="data and fitted law")
    plot_residuals(fit, axes[0, 1], annotate=False, perf_label=perf_label, title="residuals")
    if fit.profile_c.size:
        plot_profile(fit, axes[0, 2], annotate=False, title="profile RSS(c)")
    else:
        plot_exchange_rate(fit, axes[0, 2], annotate=False, perf_label=perf_label, title="exchange rate")
    for ax in axes.flat:
        # titles at a fixed height: with no ticks or offset text above the axes there is nothing to dodge,
        # and matplotlib's automatic placement measures every tick label of both axes on each draw
        fmt = ax.yaxis.get_major_formatter()
        if hasattr(fmt, "set_useOffset"):
            fmt.set_useOffset(False)
        ax.set_title(ax.get_title(), fontsize=LABEL_SIZE, y=1.0)
    head = mpl_text(fit.run) + ("" if fit.status == FitStatus.OK else f"  —  status: {fit.status.value}")
    fig.suptitle(
        head, fontsize=LABEL_SIZE + 1, color="0.1" if fit.status == FitStatus.OK else _status_color(fit.status)
    )
    return fig


#: panels per figure of :func:`plot_run_grid`: the report draws its runs in pages of this many.
RUN_GRID_PANELS = 16
#: panel size (inches) and margins (inches) of :func:`plot_run_grid`.
_RUN_GRID_PANEL = (3.3, 2.5)
_RUN_GRID_EDGES = dict(left=0.62, right=0.12, bottom=0.62, top=0.5, wgap=0.5, hgap=0.62)


def plot_run_grid(
    fits: FitResults | Sequence[RunFit],
    *,
    numbers: Sequence[int] | None = None,
    ncols: int = 4,
    perf_label: str = "accuracy",
    perf_range: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Small multiples: one panel per run with its points, fitted law, band and ceiling.

    Each panel is :func:`plot_fit` without notes or legend: the validation points, the law
    (dotted where it extrapolates to S = 0, dashed when the fit is not usable), its band and
    the ceiling with its interval.  Its title is the panel's number and the run's name, in
    the status colour (with the status) when the status is not ``ok``; so are its curve and
    points.  The layout is fixed (no layout pass), so the cost of a figure is that of its
    panels: a report draws many of them (:data:`RUN_GRID_PANELS` runs each).

    Parameters
    ----------
    fits : FitResults or sequence of RunFit
        The runs, one panel each, in order.
    numbers : sequence of int, optional
        The number written before each run's name (default 1, 2, ...), so a page of panels
        can continue the numbering of the previous one.
    ncols : int
        Panels per row.
    perf_label : str
        The metric's unit for the y label.
    perf_range : (float, float), optional
        The metric's range (default: from ``FitResults.options``); its maximum is dotted.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
    """
    runs = _fits_of(fits)
    if not runs:
        raise ValueError("fits is empty: nothing to draw")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    numbers = list(range(1, len(runs) + 1)) if numbers is None else [int(k) for k in numbers]
    if len(numbers) != len(runs):
        raise ValueError(f"numbers has {len(numbers)} entries for {len(runs)} runs")
    perf_range = _perf_range_of(fits, perf_range)
    ncols = min(ncols, len(runs))
    nrows = math.ceil(len(runs) / ncols)
    (pw, ph), e = _RUN_GRID_PANEL, _RUN_GRID_EDGES
    top = e["top"] + (0.3 if title else 0.0)
    width = e["left"] + e["right"] + ncols * pw + (ncols - 1) * e["wgap"]
    height = top + e["bottom"] + nrows * ph + (nrows - 1) * e["hgap"]
    margins = dict(
        left=e["left"] / width,
        right=1 - e["right"] / width,
        bottom=e["bottom"] / height,
        top=1 - top / height,
        wspace=e["wgap"] / pw,
        hspace=e["hgap"] / ph,
    )
    fig, axes = new_figure(nrows, ncols, (width, height), margins=margins)
    ok_color = palette(["x"])["x"]
    for ax, f, k in zip(axes.flat, runs, numbers):
        color = ok_color if f.status == FitStatus.OK else _status_color(f.status)
        _draw_fit(ax, f, color)
        lim = _y_limits([f], perf_range)
        if lim:
            ax.set_ylim(*lim)
        if f.entropy.size:
            smax = float(np.max(f.entropy))
            ax.set_xlim(-0.03 * smax, 1.04 * smax)
        _metric_max(ax, perf_range)
        ax.locator_params(nbins=4)
        ax.tick_params(labelsize=TICK_SIZE - 2)
        fmt = ax.yaxis.get_major_formatter()
        if hasattr(fmt, "set_useOffset"):
            fmt.set_useOffset(False)
        head = f"{k}. {mpl_text(f.run, limit=34)}"
        if f.status != FitStatus.OK:
            head += f"\n{f.status.value}"
        # at a fixed height: the automatic placement measures every tick label on each draw
        ax.set_title(head, fontsize=NOTE_SIZE, y=1.0, color="0.1" if f.status == FitStatus.OK else color, gid="run-title")
    for ax in axes.flat[len(runs) :]:
        ax.set_visible(False)
    fig.supxlabel(ENTROPY_LABEL, fontsize=LABEL_SIZE - 1, y=0.08 / height)
    fig.supylabel(f"validation {perf_label}", fontsize=LABEL_SIZE - 1, x=0.08 / width)
    if title:
        fig.suptitle(mpl_text(title), fontsize=LABEL_SIZE + 1, y=1 - 0.08 / height, va="top")
    return fig


# --------------------------------------------------------------------------------
# stage 1: the paper-style grid
# --------------------------------------------------------------------------------
_KINDS = ("fit", "residuals", "profile", "exchange")


def facet_groups(fits: Sequence[RunFit], col: str = "model") -> list[tuple[str, list[RunFit]]]:
    """Group runs into facets by ``col`` (and by task when there are several tasks).

    Facets are ordered by task, then by the smallest parameter count, then by name.
    Titles read ``"add3 · m (1.35M params)"``.
    """
    if col not in _HUES:
        raise ValueError(f"col must be one of {', '.join(_HUES)}, got {col!r}")
    tasks = {f.task for f in fits}
    groups: dict[tuple[str, str], list[RunFit]] = {}
    for f in fits:
        groups.setdefault((f.task if len(tasks) > 1 else "", str(getattr(f, col))), []).append(f)

    def order(item):
        (task, name), members = item
        p = [m.params for m in members if np.isfinite(m.params)]
        return (task, min(p) if p else math.inf, name)

    out = []
    for (task, name), members in sorted(groups.items(), key=order):
        p = [m.params for m in members if np.isfinite(m.params)]
        size = f" ({format_params(min(p))} params)" if col == "model" and p else ""
        title = " · ".join(x for x in (task, name) if x) + size
        out.append((title, members))
    return out


def _facet_note(ax: Axes, fits: Sequence[RunFit]) -> None:
    """List the runs of a facet whose status is not ``ok``, by status (short names when they are unique)."""
    short = [_short(f) for f in fits]
    names = short if len(set(short)) == len(short) else [f.run for f in fits]
    by_status: dict[FitStatus, list[str]] = {}
    for f, name in zip(fits, names):
        if f.status != FitStatus.OK:
            by_status.setdefault(f.status, []).append(name)
    if not by_status:
        return
    lines = []
    for status, names in sorted(by_status.items(), key=lambda kv: list(FitStatus).index(kv[0])):
        shown = ", ".join(_clip(n) for n in names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        lines.append(f"{status.value}: {mpl_text(shown)}")
    color = _UNUSABLE if any(not s.usable for s in by_status) else _CAVEAT
    ax.text(
        0.02,
        0.02,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=NOTE_SIZE - 0.5,
        color=color,
        bbox=dict(boxstyle="round,pad=0.25", fc="white", ec=color, alpha=0.85),
        gid="status-note",
        zorder=10,
    )


def plot_fit_grid(
    fits: FitResults | Sequence[RunFit],
    *,
    kind: str = "fit",
    col: str = "model",
    hue: str = "algorithm",
    col_wrap: int = 3,
    height: float = 3.2,
    aspect: float = 1.3,
    perf_label: str = "accuracy",
    perf_range: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """The paper-style grid: one panel per model (and task), colour by algorithm.

    Parameters
    ----------
    fits : FitResults or sequence of RunFit
        Runs to draw.
    kind : {"fit", "residuals", "profile", "exchange"}
        What each panel shows: points with fitted curves, bands and ceilings
        (:func:`plot_fit` without its notes); residuals (:func:`plot_residuals`);
        profiles RSS(c) (:func:`plot_profile`); exchange rates (:func:`plot_exchange_rate`).
    col : str
        Identity field defining the panels (default ``"model"``); runs of different tasks
        never share a panel.
    hue : str
        Identity field picking the colour (default ``"algorithm"``).
    col_wrap : int
        Panels per row.
    height, aspect : float
        Panel height (inches) and width / height.
    perf_label : str
        The metric's unit for axis labels.
    perf_range : (float, float), optional
        The metric's range (default: from ``FitResults.options``); its maximum is dotted.
    title : str, optional
        Figure title.

    Returns
    -------
    Figure
        Each panel lists its runs whose status is not ``ok``; a legend below names the
        colours and line styles.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if col_wrap < 1:
        raise ValueError(f"col_wrap must be >= 1, got {col_wrap}")
    runs = _fits_of(fits)
    if not runs:
        raise ValueError("fits is empty: nothing to draw")
    perf_range = _perf_range_of(fits, perf_range)
    groups = facet_groups(runs, col)
    colors = palette(_hue_value(f, hue) for f in runs)
    ncols = min(col_wrap, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    handles = _grid_handles(kind, colors, runs[0].alpha)
    width = aspect * height * ncols
    longest = max(len(h.get_label()) for h in handles)
    per_row = min(len(handles), max(1, int(width / (0.45 + 0.075 * longest))))  # legend entries that fit in a row
    # fixed margins (inches) instead of constrained layout, whose two passes measure every tick label
    # of every panel: the panels have a known shape and the legend a known number of rows
    e = _GRID_EDGES
    legend = e["legend_title"] + e["legend_row"] * math.ceil(len(handles) / per_row)
    left = e["left"] + (e["label_line"] if kind == "exchange" else 0.0)
    top = e["top"] + (e["title"] if title else 0.0)
    fig_h = height * nrows + legend + 0.3
    margins = dict(
        left=left / width, right=1 - e["right"] / width, top=1 - top / fig_h, bottom=(e["bottom"] + legend) / fig_h,
        wspace=e["wgap"] / ((width - left - e["right"] - (ncols - 1) * e["wgap"]) / ncols),
        hspace=e["hgap"] / ((fig_h - top - e["bottom"] - legend - (nrows - 1) * e["hgap"]) / nrows),
    )  # fmt: skip
    fig, axes = new_figure(nrows, ncols, (width, fig_h), margins=margins)
    ylim = _y_limits(runs, perf_range) if kind == "fit" else None
    for i, (facet, members) in enumerate(groups):
        ax = axes.flat[i]
        _draw_facet(ax, kind, members, hue, colors, perf_label)
        if ylim:
            ax.set_ylim(*ylim)
            smax = max((float(np.max(f.entropy)) for f in members if f.entropy.size), default=1.0)
            ax.set_xlim(-0.03 * smax, 1.04 * smax)
            _metric_max(ax, perf_range)
        _facet_note(ax, members)
        row, column = divmod(i, ncols)
        below_empty = (row + 1) * ncols + column >= len(groups)
        ax.set_title(mpl_text(facet), fontsize=LABEL_SIZE)
        if column != 0:
            ax.set_ylabel("")
        if not below_empty:
            ax.set_xlabel("")
    for ax in axes.flat[len(groups) :]:
        ax.set_visible(False)
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.05 / fig_h),
        ncols=per_row,
        fontsize=NOTE_SIZE + 0.5,
        frameon=False,
        title=hue,
        title_fontsize=NOTE_SIZE + 0.5,
    )
    if title:
        fig.suptitle(mpl_text(title), fontsize=LABEL_SIZE + 1, y=1 - 0.08 / fig_h, va="top")
    return fig


#: margins of :func:`plot_fit_grid` in inches: around the panels, between them, and the legend's rows below.
_GRID_EDGES = dict(left=0.85, label_line=0.2, right=0.2, top=0.4, title=0.35, bottom=0.6, wgap=0.65, hgap=0.75,
                   legend_title=0.3, legend_row=0.22)  # fmt: skip


def _draw_facet(ax: Axes, kind: str, members: list[RunFit], hue: str, colors: dict, perf_label: str) -> None:
    if kind == "fit":
        if len(members) > DENSE_PANEL:
            _draw_fits_dense(ax, members, [_hue_value(f, hue) for f in members], colors)
        else:
            for f in members:
                _draw_fit(ax, f, colors.get(_hue_value(f, hue), "0.4"))
        _labels(ax, ENTROPY_LABEL, f"validation {perf_label}")
    elif kind == "residuals":
        plot_residuals(members, ax, hue=hue, colors=colors, annotate=False, perf_label=perf_label, title="")
    elif kind == "profile":
        plot_profile(members, ax, hue=hue, colors=colors, annotate=False, title="")
    else:
        plot_exchange_rate(members, ax, hue=hue, colors=colors, annotate=False, perf_label=perf_label, title="")


def _grid_handles(kind: str, colors: dict, alpha: float) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=c, lw=2, marker="o", ms=4, label=mpl_text(k)) for k, c in colors.items()]
    grey = "0.35"
    if kind == "fit":
        handles += [
            Line2D([], [], color=grey, lw=1.8, label="fitted law"),
            Line2D([], [], color=grey, ls=":", lw=1.5, label="extrapolated to S = 0"),
            Patch(color=grey, alpha=0.25, label=f"{_level(alpha)} band"),
            Line2D([], [], ls="", marker="D", color=grey, label=f"ceiling P0 ({_level(alpha)} CI)"),
            Line2D([], [], color=grey, ls="--", lw=1.2, label="fit not usable (see note)"),
        ]
    elif kind == "residuals":
        handles += [Line2D([], [], color=grey, lw=1.4, label="LOWESS smoother per run")]
    elif kind == "profile":
        handles += [Line2D([], [], ls="", marker="o", color=grey, label="fitted c")]
    else:
        handles += [
            Line2D([], [], color=grey, ls=":", lw=1.3, label="extrapolated to S = 0"),
            Patch(color=grey, alpha=0.25, label=f"{_level(alpha)} band"),
        ]
    return handles


# --------------------------------------------------------------------------------
# stage 1: all ceilings
# --------------------------------------------------------------------------------
#: most rows of :func:`plot_ceiling_intervals` with one run a row; more runs are drawn in rows of
#: runs that differ only by seed (the figure's height stays that of the groups).
CEILING_ROWS = 90


def plot_ceiling_intervals(
    fits: FitResults | Sequence[RunFit] | pd.DataFrame,
    ax: Axes | None = None,
    *,
    hue: str = "algorithm",
    perf_label: str = "accuracy",
    perf_range: tuple[float, float] | None = None,
    level: float | None = None,
    max_rows: int = CEILING_ROWS,
) -> Axes:
    """Every run's ceiling with its interval, one row per run (a forest plot).

    Parameters
    ----------
    fits : FitResults, sequence of RunFit, or DataFrame
        A frame needs the columns of :meth:`FitResults.to_frame`: ``run, ceiling,
        ceiling_lo, ceiling_hi, status`` and the ``hue`` column.
    ax : Axes, optional
        Draw here; default a new figure sized to the number of rows.
    hue : str
        Column picking the colour.
    perf_label : str
        The metric's unit.
    perf_range : (float, float), optional
        The metric's range; its maximum is drawn dotted.
    level : float, optional
        Confidence level for the axis label (default from the fits' alpha, else 0.95).
    max_rows : int
        With more runs than this, a row holds the runs that differ only by seed (same task,
        model and algorithm), each still drawn with its interval, stacked within the row; the
        row's label says how many runs it holds and the note at its right counts the
        statuses other than ok.

    Returns
    -------
    Axes
        Runs with an unusable status have open markers, grey bars and the status
        written at the right; the x range is set by the usable runs.
    """
    perf_range = _perf_range_of(fits, perf_range)
    if isinstance(fits, pd.DataFrame):
        frame = fits
    else:
        runs = _fits_of(fits)
        frame = pd.concat([f.to_frame() for f in runs], ignore_index=True) if runs else pd.DataFrame()
        if runs and level is None:
            level = 1 - runs[0].alpha
    frame = _need(frame, ["run", "ceiling", "ceiling_lo", "ceiling_hi", "status", hue], "fits")
    level = 0.95 if level is None else level
    frame = frame.reset_index(drop=True)
    usable_values = {s.value for s in FitStatus if s.usable}
    rows = _ceiling_rows(frame, max_rows, usable_values)
    n_rows = len(rows)
    grouped = n_rows < len(frame)
    y = np.zeros(len(frame))
    for r, (_, members, _, _) in enumerate(rows):
        top = n_rows - 1 - r
        k = len(members)
        y[members] = top + (np.linspace(0.3, -0.3, k) if k > 1 else 0.0)
    own_figure = ax is None
    ax = _axes(ax, (7.5, 1.4 + 0.24 * max(n_rows, 1)))
    labels = _labels_of(frame[hue])
    colors = palette(labels)
    ms, cap = (3, 0) if grouped else (5, 2)
    ok = frame["status"].isin(usable_values).to_numpy()
    for key, color in colors.items():
        sel = (labels == key).to_numpy() & ok & frame["ceiling"].notna().to_numpy()
        if sel.any():
            est = frame.loc[sel, "ceiling"].to_numpy(float)
            err = np.vstack(
                [est - frame.loc[sel, "ceiling_lo"].to_numpy(float), frame.loc[sel, "ceiling_hi"].to_numpy(float) - est]
            )
            ax.errorbar(
                est,
                y[sel],
                xerr=np.nan_to_num(np.maximum(err, 0)),
                fmt="o",
                color=color,
                ms=ms,
                capsize=cap,
                label=mpl_text(key),
            )
    bad = ~ok & frame["ceiling"].notna().to_numpy()
    if bad.any():
        est = frame.loc[bad, "ceiling"].to_numpy(float)
        err = np.vstack(
            [est - frame.loc[bad, "ceiling_lo"].to_numpy(float), frame.loc[bad, "ceiling_hi"].to_numpy(float) - est]
        )
        ax.errorbar(
            est,
            y[bad],
            xerr=np.nan_to_num(np.maximum(err, 0)),
            fmt="o",
            mfc="white",
            color="0.55",
            ms=ms,
            capsize=cap,
            label="fit not usable",
        )
    good = frame.loc[ok, ["ceiling_lo", "ceiling_hi", "ceiling"]].to_numpy(float)
    good = good[np.isfinite(good)]
    if good.size:
        lo, hi = _pad(float(good.min()), float(good.max()), 0.08)
        if perf_range is not None and lo <= perf_range[1] <= hi + 0.1 * (hi - lo):
            hi = max(hi, perf_range[1] + 0.02 * (hi - lo))
        ax.set_xlim(lo, hi)
    if perf_range is not None:
        ax.axvline(perf_range[1], color="0.35", ls=(0, (1, 2)), lw=1.0, gid="metric-max")
    for r, (_, _, note, color) in enumerate(rows):
        if note:
            ax.annotate(
                mpl_text(note),
                (1.01, n_rows - 1 - r),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=NOTE_SIZE - 0.5,
                color=color,
                annotation_clip=False,
            )
    ax.set_yticks(np.arange(n_rows)[::-1], [mpl_text(label) for label, _, _, _ in rows], fontsize=TICK_SIZE - 1.5)
    ax.set_ylim(-0.7, n_rows - 0.3)
    if own_figure:  # above the plot, across the whole figure (long run names take the left side)
        ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=6, fontsize=NOTE_SIZE,
                         frameon=False, title=hue, title_fontsize=NOTE_SIZE)  # fmt: skip
    else:
        ax.legend(loc="best", fontsize=NOTE_SIZE, title=hue, title_fontsize=NOTE_SIZE)
    what = f"ceiling P0 = Perf(S = 0) ({perf_label})\nwith its {100 * level:.3g}% CI"
    _labels(ax, what + ("; runs of a row differ by seed" if grouped else ""), None)
    return ax


def _ceiling_rows(frame: pd.DataFrame, max_rows: int, usable_values: set) -> list[tuple[str, np.ndarray, str, str]]:
    """Rows of the forest plot, top down: (label, indices of the runs in ``frame``, note, note colour).

    One run a row when there are at most ``max_rows`` runs; else the runs sharing task, model and
    algorithm (in the order they first appear), labelled with their count, the note counting the
    statuses other than ok.
    """
    status = frame["status"].astype(str).to_numpy()

    def note_of(idx: np.ndarray) -> tuple[str, str]:
        odd = [s for s in status[idx] if s != FitStatus.OK.value]
        if not odd:
            return "", ""
        color = _CAVEAT if all(s in usable_values for s in odd) else _UNUSABLE
        if len(idx) == 1:
            return odd[0], color
        counts = pd.Series(odd).value_counts(sort=False)
        return ", ".join(f"{n} {s}" for s, n in counts.items()), color

    keys = [c for c in ("task", "model", "algorithm") if c in frame.columns]
    if len(frame) <= max_rows or not keys:
        return [(str(run), np.array([i]), *note_of(np.array([i]))) for i, run in enumerate(frame["run"])]
    rows = []
    for key, idx in frame.groupby(keys, sort=False).indices.items():
        key = key if isinstance(key, tuple) else (key,)
        label = "/".join(str(k) for k in key if str(k)) + f" ({_plural_runs(len(idx))})"
        rows.append((label, np.asarray(idx), *note_of(np.asarray(idx))))
    return rows


def _plural_runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


# --------------------------------------------------------------------------------
# stage 2: across model sizes (tidy frames)
# --------------------------------------------------------------------------------
_Y_LABELS = {
    "ceiling": "ceiling P0 ({unit})",
    "a": "a ({unit})",
    "b": "b ({unit})",
    "beta": "beta = b·c ({unit} per nat)",
    "c": "c (1/nat)",
}


def plot_vs_params(
    points: pd.DataFrame,
    line: pd.DataFrame | None = None,
    extrapolated: pd.DataFrame | None = None,
    *,
    y: str = "ceiling",
    ax: Axes | None = None,
    hue: str | None = None,
    ylabel: str | None = None,
    perf_label: str = "accuracy",
    perf_range: tuple[float, float] | None = None,
    level: float = 0.95,
    label_points: bool = True,
) -> Axes:
    """A per-model quantity against parameter count (log axis), with the stage-2 regression.

    Parameters
    ----------
    points : DataFrame
        One row per model: ``params``, ``y`` (the estimate), ``lo``, ``hi`` (its interval),
        optionally ``model`` (labels the points) and the ``hue`` column.
    line : DataFrame, optional
        The regression over a range of sizes: ``params, mean, lo, hi`` where ``lo, hi``
        is the prediction band for a new model; optional ``ci_lo, ci_hi`` (band of the
        mean) and the ``hue`` column.
    extrapolated : DataFrame, optional
        Predictions at sizes beyond the data: ``params, mean, lo, hi``, optionally ``model``
        and the ``hue`` column; drawn as open markers with their intervals.
    y : str
        Column of ``points`` with the estimate (``"ceiling"``, ``"a"``, ``"b"``, ``"beta"``,
        ``"c"`` or any name).
    ax : Axes, optional
        Draw here; default a new figure.
    hue : str, optional
        Column separating families (e.g. ``"task"``), one colour each.
    ylabel : str, optional
        Default from ``y`` and ``perf_label``.
    perf_label : str
        The metric's unit.
    perf_range : (float, float), optional
        The metric's range; its maximum is dotted when ``y == "ceiling"``.
    level : float
        Confidence level written in the legend.
    label_points : bool
        Write the model name beside each point.

    Returns
    -------
    Axes
        The x axis is logarithmic.
    """
    _need(points, ["params", y, "lo", "hi"] + ([hue] if hue else []), "points")
    if line is not None:
        _need(line, ["params", "mean", "lo", "hi"], "line")
    if extrapolated is not None:
        _need(extrapolated, ["params", "mean", "lo", "hi"], "extrapolated")
    if (points["params"] <= 0).any():
        raise ValueError("points: params must be > 0 for a log axis")
    ax = _axes(ax)
    keys = sorted(points[hue].astype(str).unique()) if hue else [""]
    colors = palette(keys)
    lvl = f"{100 * level:.3g}%"

    def part(frame, key):
        if frame is None:
            return None
        if hue and hue in frame.columns:
            frame = frame[frame[hue].astype(str) == key]
        return frame.sort_values("params")

    for key in keys:
        color = colors[key] if hue else "0.15"
        suffix = f" ({mpl_text(key)})" if hue else ""
        ln = part(line, key)
        if ln is not None and len(ln):
            ax.fill_between(
                ln["params"],
                ln["lo"],
                ln["hi"],
                color=color,
                alpha=0.12,
                lw=0,
                label=f"{lvl} prediction band{suffix}",
                gid="prediction-band",
            )
            if {"ci_lo", "ci_hi"} <= set(ln.columns):
                # hatched with dashed edges, not a second fill: the two bands stay readable whichever
                # contains the other (for a and b the band of the mean, which carries the shared c's
                # error, is wider than a new model's band, measured at the same c)
                from matplotlib.colors import to_rgba

                ax.fill_between(
                    ln["params"],
                    ln["ci_lo"],
                    ln["ci_hi"],
                    facecolor="none",
                    edgecolor=to_rgba(color, 0.45),
                    hatch="////",
                    lw=0.9,
                    ls="--",
                    label=f"{lvl} band of the mean{suffix}",
                    gid="mean-band",
                )
            ax.plot(ln["params"], ln["mean"], color=color, lw=1.8, label=f"stage-2 fit{suffix}", gid="stage2-line")
        pts = part(points, key)
        err = np.vstack([pts[y] - pts["lo"], pts["hi"] - pts[y]]).astype(float)
        ax.errorbar(
            pts["params"],
            pts[y],
            yerr=np.nan_to_num(np.maximum(err, 0)),
            fmt="o",
            color=color,
            ms=6,
            capsize=3,
            label=f"per model ({lvl} CI){suffix}",
        )
        if label_points and "model" in pts.columns:
            for _, r in pts.iterrows():
                ax.annotate(
                    mpl_text(r["model"]),
                    (r["params"], r[y]),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=NOTE_SIZE,
                    color=color,
                )
        ex = part(extrapolated, key)
        if ex is not None and len(ex):
            err = np.vstack([ex["mean"] - ex["lo"], ex["hi"] - ex["mean"]]).astype(float)
            ax.errorbar(
                ex["params"],
                ex["mean"],
                yerr=np.nan_to_num(np.maximum(err, 0)),
                fmt="s",
                mfc="white",
                color=color,
                ms=6,
                capsize=3,
                label=f"extrapolated ({lvl} PI){suffix}",
                gid="extrapolated",
            )
            if label_points and "model" in ex.columns:
                for _, r in ex.iterrows():
                    ax.annotate(
                        mpl_text(r["model"]),
                        (r["params"], r["mean"]),
                        xytext=(5, 4),
                        textcoords="offset points",
                        fontsize=NOTE_SIZE,
                        color=color,
                        style="italic",
                    )
    ax.set_xscale("log")
    if y == "ceiling" and perf_range is not None:
        _metric_max(ax, perf_range)
    ax.legend(fontsize=NOTE_SIZE, loc="best", framealpha=0.85)
    _labels(ax, "parameters N (log scale)", ylabel or _Y_LABELS.get(y, "{y} ({unit})").format(unit=perf_label, y=y))
    return ax


def plot_ceiling_vs_params(
    points: pd.DataFrame,
    line: pd.DataFrame | None = None,
    extrapolated: pd.DataFrame | None = None,
    ax: Axes | None = None,
    **kwargs,
) -> Axes:
    """Ceiling ``P0`` per model against parameter count, with the stage-2 line and bands.

    ``points`` has columns ``params, ceiling, lo, hi`` (and ``model``); ``line`` and
    ``extrapolated`` are as in :func:`plot_vs_params`, which takes the other keywords.

    Returns
    -------
    Axes
    """
    return plot_vs_params(points, line, extrapolated, y="ceiling", ax=ax, **kwargs)


def plot_coefficients_vs_params(
    points: pd.DataFrame,
    lines: pd.DataFrame | None = None,
    extrapolated: pd.DataFrame | None = None,
    *,
    quantities: Sequence[str] | None = None,
    perf_label: str = "accuracy",
    level: float = 0.95,
) -> Figure:
    """Several coefficients against parameter count, one panel each (log x axes).

    Parameters
    ----------
    points : DataFrame
        Long format: ``quantity, params, estimate, lo, hi`` and optionally ``model``.
    lines, extrapolated : DataFrame, optional
        As in :func:`plot_vs_params`, with a ``quantity`` column.
    quantities : sequence of str, optional
        Panels to draw, in order; default every quantity in ``points``.
    perf_label : str
        The metric's unit.
    level : float
        Confidence level for the legends.

    Returns
    -------
    Figure
    """
    _need(points, ["quantity", "params", "estimate", "lo", "hi"], "points")
    for name, frame in (("lines", lines), ("extrapolated", extrapolated)):
        if frame is not None:
            _need(frame, ["quantity"], name)
    names = list(quantities) if quantities else list(dict.fromkeys(points["quantity"]))
    if not names:
        raise ValueError("points has no quantity to draw")
    fig, axes = new_figure(1, len(names), (5.0 * len(names), 4.2))
    for ax, q in zip(axes.flat, names):
        sel = points[points["quantity"] == q]
        ln = lines[lines["quantity"] == q] if lines is not None else None
        ex = extrapolated[extrapolated["quantity"] == q] if extrapolated is not None else None
        plot_vs_params(
            sel,
            ln,
            ex,
            y="estimate",
            ax=ax,
            perf_label=perf_label,
            level=level,
            ylabel=_Y_LABELS.get(q, "{y} ({unit})").format(unit=perf_label, y=q),
        )
        ax.set_title(mpl_text(q), fontsize=LABEL_SIZE)
    return fig


# --------------------------------------------------------------------------------
# early prediction (tidy frame)
# --------------------------------------------------------------------------------
def plot_forecast(
    frame: pd.DataFrame,
    ax: Axes | None = None,
    *,
    run: str | None = None,
    perf_label: str = "accuracy",
    level: float = 0.95,
    title: str | None = None,
) -> Axes:
    """Early prediction of one run: performance predicted from a prefix vs what happened.

    Parameters
    ----------
    frame : DataFrame
        Columns ``step, actual, predicted, lo, hi, fit_end_step`` (one row per step;
        ``actual`` may be NaN where the run has no validation; ``lo, hi`` the prediction
        interval), optionally ``run``.
    ax : Axes, optional
        Draw here; default a new figure.
    run : str, optional
        Which run to draw when ``frame`` holds several.
    perf_label : str
        The metric's unit.
    level : float
        Level of ``lo, hi`` for the legend.
    title : str, optional
        Default the run's name when the frame has a ``run`` column.

    Returns
    -------
    Axes
        The fitted prefix is shaded and ends at a vertical line; observed points are
        black, the prediction is a line with its band.
    """
    _need(frame, ["step", "actual", "predicted", "lo", "hi", "fit_end_step"], "frame")
    if "run" in frame.columns:
        names = list(dict.fromkeys(frame["run"].astype(str)))
        if run is None and len(names) > 1:
            raise ValueError(f"frame holds {len(names)} runs; pass run= one of {names[:5]}")
        if run is not None:
            if run not in names:
                raise ValueError(f"run {run!r} is not in frame; runs are {names[:5]}")
            frame = frame[frame["run"].astype(str) == run]
        title = names[0] if title is None and run is None else (run if title is None else title)
    if frame.empty:
        raise ValueError("frame has no rows")
    frame = frame.sort_values("step")
    ax = _axes(ax)
    end = float(frame["fit_end_step"].iloc[0])
    start = float(frame["step"].min())
    ax.axvspan(start, end, color="0.9", lw=0, label="fitted prefix", gid="prefix")
    ax.axvline(end, color="0.4", ls="--", lw=1.0, gid="fit-end")
    ax.fill_between(
        frame["step"],
        frame["lo"],
        frame["hi"],
        color="C1",
        alpha=0.22,
        lw=0,
        label=f"{100 * level:.3g}% prediction interval",
        gid="forecast-band",
    )
    ax.plot(frame["step"], frame["predicted"], color="C1", lw=1.8, label="predicted by the law", gid="forecast")
    obs = frame[frame["actual"].notna()]
    _draw_points(ax, obs["step"], obs["actual"], "0.1", label="observed", size=14, alpha=0.75, gid="observed")
    ax.annotate(
        f"fit ends at step {end:g}",
        (end, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(4, -4),
        textcoords="offset points",
        va="top",
        fontsize=NOTE_SIZE,
        color="0.3",
    )
    ax.legend(fontsize=NOTE_SIZE, loc="lower right", framealpha=0.85)
    _labels(ax, "training step", f"validation {perf_label}", title)
    return ax


# --------------------------------------------------------------------------------
# algorithm overlay
# --------------------------------------------------------------------------------
def fits_to_frames(fits: FitResults | Sequence[RunFit], n: int = 100) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Points and fitted curves of runs as tidy frames (for :func:`plot_algorithm_overlay`).

    Returns
    -------
    points : DataFrame
        ``run, model, algorithm, seed, task, step, entropy, perf``.
    curves : DataFrame
        ``run, model, algorithm, seed, task, entropy, mean, lo, hi`` over each usable
        run's observed entropies.
    """
    pts, cur = [], []
    for f in _fits_of(fits):
        ident = dict(run=f.run, model=f.model, algorithm=f.algorithm, seed=f.seed, task=f.task)
        pts.append(pd.DataFrame({**ident, "step": f.step, "entropy": f.entropy, "perf": f.perf}))
        if f.has_estimate and f.status.usable:
            band = f.predict_interval(np.linspace(float(f.entropy.min()), float(f.entropy.max()), n))
            cur.append(band.assign(**ident))
    points = pd.concat(pts, ignore_index=True) if pts else pd.DataFrame(columns=["run", "entropy", "perf", "algorithm"])
    curves = (
        pd.concat(cur, ignore_index=True)
        if cur
        else pd.DataFrame(columns=["run", "entropy", "mean", "lo", "hi", "algorithm"])
    )
    return points, curves


def plot_algorithm_overlay(
    points: pd.DataFrame | FitResults | Sequence[RunFit],
    curves: pd.DataFrame | None = None,
    ax: Axes | None = None,
    *,
    hue: str = "algorithm",
    shared_label: str = "all",
    perf_label: str = "accuracy",
    level: float = 0.95,
    title: str | None = None,
) -> Axes:
    """Runs of several algorithms on one axes: do they follow one curve?

    Parameters
    ----------
    points : DataFrame, FitResults or sequence of RunFit
        A frame with ``entropy, perf`` and the ``hue`` column (e.g. a model's rows of
        ``Dataset.points``).  Fits are turned into points and per-run curves with
        :func:`fits_to_frames` (``curves`` is then ignored).
    curves : DataFrame, optional
        Fitted curves: ``entropy, mean`` and the ``hue`` column, optionally ``lo, hi``
        (a band) and ``run`` (several curves per hue value).  Rows whose hue value is
        ``shared_label`` are the one curve for all algorithms, drawn black and dashed.
    ax : Axes, optional
        Draw here; default a new figure.
    hue : str
        Column with the algorithm (or any grouping).
    shared_label : str
        Hue value of the common curve.
    perf_label : str
        The metric's unit.
    level : float
        Level of the bands for the legend.
    title : str, optional
        Axes title.

    Returns
    -------
    Axes
    """
    import seaborn as sns

    if not isinstance(points, pd.DataFrame):
        points, curves = fits_to_frames(points)
    _need(points, ["entropy", "perf", hue], "points")
    if curves is not None:
        _need(curves, ["entropy", "mean", hue], "curves")
    ax = _axes(ax)
    points = points.assign(**{hue: _labels_of(points[hue])})
    if curves is not None:
        curves = curves.assign(**{hue: _labels_of(curves[hue])})
    keys = [k for k in points[hue].unique() if k != shared_label]
    if curves is not None:
        keys += [k for k in curves[hue].unique() if k != shared_label and k not in keys]
    colors = palette(keys)
    frame = points.assign(**{hue: points[hue].astype(str)})
    sns.scatterplot(
        data=frame,
        x="entropy",
        y="perf",
        hue=hue,
        palette=colors,
        hue_order=sorted(colors),
        ax=ax,
        s=14,
        alpha=0.5,
        linewidth=0,
        legend=False,
    )
    ax.collections[-1].set_gid("points")
    if curves is not None and len(curves):
        by = [hue, "run"] if "run" in curves.columns else [hue]
        for key, grp in curves.assign(**{hue: curves[hue].astype(str)}).groupby(by, sort=True):
            name = key[0] if isinstance(key, tuple) else key
            grp = grp.sort_values("entropy")
            shared = name == shared_label
            color = "0.1" if shared else colors[name]
            if {"lo", "hi"} <= set(grp.columns):
                ax.fill_between(
                    grp["entropy"],
                    grp["lo"],
                    grp["hi"],
                    color=color,
                    alpha=0.1 if shared else 0.15,
                    lw=0,
                    gid="overlay-band",
                )
            ax.plot(
                grp["entropy"],
                grp["mean"],
                "--" if shared else "-",
                color=color,
                lw=2.2 if shared else 1.6,
                gid="overlay-curve",
            )
    _overlay_legend(ax, colors, hue, shared_label, curves, level)
    _labels(ax, ENTROPY_LABEL, f"validation {perf_label}", title)
    return ax


def _overlay_legend(ax: Axes, colors: dict, hue: str, shared_label: str, curves, level: float) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", ms=4, lw=1.6, label=mpl_text(k)) for k, c in sorted(colors.items())]
    if curves is not None and (curves[hue].astype(str) == shared_label).any():
        handles.append(
            Line2D([], [], color="0.1", ls="--", lw=2.2, label=f"one curve for all ({mpl_text(shared_label)})")
        )
    ax.legend(handles=handles, title=hue, fontsize=NOTE_SIZE, title_fontsize=NOTE_SIZE, loc="best", framealpha=0.85)
