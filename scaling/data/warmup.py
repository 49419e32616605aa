"""Leading warm-up phases: validation points before a run has learned the answer format.

Real runs often start with a few validations near the floor of the metric (accuracy ~0 while the
model has not learned the format) and then jump.  Those points are not on the entropy curve; left in
the fit they set the rate c and move the ceiling.  :func:`detect_warmup` finds such a phase by a
segmented regression with one change point k: the first k points form a floor segment, the rest
follows the law ``Perf = P0 - beta * g_c(S)``.  A candidate k is accepted when

1. every one of the first k points lies below every later point (the floor precedes a jump);
2. the law fitted to the later points (:func:`scaling.core.law.varpro`, ``|c| * range(S) <= 20``) predicts every one of
   the first k points higher than observed by more than ``Z_WARMUP`` prediction standard errors
   (``sigma * sqrt(1 + leverage)``, the leverage from the Jacobian in ``(P0, beta, c)``, so the
   uncertainty of c in the extrapolation counts);
3. each of those shortfalls is at least ``MIN_JUMP`` of the later points' observed range, so a
   tiny dip in a noisy run is not a warm-up.

The largest accepted k (at most ``MAX_WARMUP``, leaving at least ``MIN_REST`` points) is the
warm-up.  The rule is deterministic and unchanged by the units of performance (scale and shift)
and of entropy (scale).  :func:`apply_warmup` applies it (or a fixed first step) to every run of a
table of validation points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.core.intervals import jacobian
from scaling.core.law import g, varpro
from scaling.core.rules import C_SPAN

#: most leading points a warm-up may have.
MAX_WARMUP = 5
#: fewest points that must remain after the warm-up for the test to run.
MIN_REST = 8
#: shortfall below the later points' curve, in prediction standard errors.
Z_WARMUP = 5.0
#: shortfall as a fraction of the later points' observed range.
MIN_JUMP = 0.25
#: grid points of the search for c of the law on the later points (refined by :func:`scaling.core.law.varpro`).
_GRID = 161


@dataclass(frozen=True)
class WarmUp:
    """The leading points left out of one run.

    Attributes
    ----------
    n : int
        Number of leading validation points left out (0: none).
    steps : tuple of float
        Their training steps.
    reason : str
        Why (or why not), with the numbers.
    """

    n: int
    steps: tuple[float, ...]
    reason: str


def detect_warmup(entropy, perf, step=None) -> tuple[int, str]:
    """Number of leading points that form a warm-up phase, and the reason.

    Parameters
    ----------
    entropy, perf : array_like, shape (n,)
        One run's validation points; non-finite pairs are ignored.
    step : array_like, optional
        Training steps (the points are taken in step order); default the given order.

    Returns
    -------
    k : int
        Leading points to leave out (0 when there is no warm-up).
    reason : str
        A sentence with the numbers behind the decision.

    Examples
    --------
    >>> import numpy as np
    >>> S = np.linspace(0.8, 0.1, 30)
    >>> y = 0.9 - 0.3 * np.exp(1.3 * S)
    >>> y[:2] = 0.0
    >>> detect_warmup(S, y)[0]
    2
    """
    S = np.asarray(entropy, dtype=float)
    y = np.asarray(perf, dtype=float)
    st = np.arange(S.size, dtype=float) if step is None else np.asarray(step, dtype=float)
    keep = np.isfinite(S) & np.isfinite(y) & np.isfinite(st)
    order = np.argsort(st[keep], kind="stable")
    S, y = S[keep][order], y[keep][order]
    n = S.size
    kmax = min(MAX_WARMUP, n - MIN_REST)
    if kmax < 1:
        return 0, _untested(n)
    s_unit, y_unit = float(np.max(np.abs(S))), float(np.ptp(y))
    if s_unit <= 0 or y_unit <= 0:
        return 0, "not tested: entropy or performance has no spread"
    S, y = S / s_unit, (y - y.min()) / y_unit  # internal units: the rule cannot depend on the input's
    for k in range(kmax, 0, -1):
        ok, why = _is_warmup(S, y, k, y_unit)
        if ok:
            return k, why
    return 0, "no leading points below the curve of the later points"


def _untested(n: int) -> str:
    """The reason of a run too short for the test (``n`` usable points, at most :data:`MIN_REST`)."""
    return f"not tested: {n} points (a warm-up test needs at least {MIN_REST + 1})"


def _is_warmup(S: np.ndarray, y: np.ndarray, k: int, y_unit: float) -> tuple[bool, str]:
    head, rest = y[:k], y[k:]
    if head.max() >= rest.min():
        return False, ""
    S_rest = S[k:]
    span = float(np.ptp(S_rest))
    y_span = float(np.ptp(rest))
    if span <= 0 or y_span <= 0:
        return False, ""
    sol = varpro(S_rest, rest, (-C_SPAN / span, C_SPAN / span), refine="newton", grid_size=_GRID)
    c, P0, beta, rss_c = float(sol.c), float(sol.P0), float(sol.beta), float(sol.rss)
    m = rest.size
    sigma = float(np.sqrt(rss_c / (m - 3)))
    with np.errstate(over="ignore", invalid="ignore"):
        J = jacobian(S_rest, float(beta), c)  # d pred / d(P0, beta, c): c's uncertainty counts too
        J0 = jacobian(S[:k], float(beta), c)
        pred = P0 - beta * g(S[:k], c)
    jtj = J.T @ J
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(jtj))) or np.linalg.cond(jtj) > 1e14:
        return False, ""
    lev = np.einsum("ij,jk,ik->i", J0, np.linalg.inv(jtj), J0)
    short = pred - head
    z = short / (sigma * np.sqrt(1.0 + np.maximum(lev, 0.0))) if sigma > 0 else np.where(short > 0, np.inf, -np.inf)
    rel = short / y_span
    if np.all(z > Z_WARMUP) and np.all(rel >= MIN_JUMP):
        why = (
            f"the first {k} point(s) sit below every later point and {float(short.min()) * y_unit:.3g} or more below "
            f"the curve of the later points ({float(z.min()):.1f}+ prediction standard errors, "
            f"{float(rel.min()):.0%}+ of their range)"
        )
        return True, why
    return False, ""


def parse_warmup(warmup: str | int | float | None) -> str | float:
    """Check a ``warmup`` setting: ``"auto"``, ``"none"`` or a first step to keep (a number)."""
    if warmup is None:
        return "none"
    if isinstance(warmup, (int, float, np.integer, np.floating)) and not isinstance(warmup, bool):
        if not np.isfinite(warmup):
            raise ValueError(f"warmup step must be finite, got {warmup!r}")
        return float(warmup)
    text = str(warmup).strip().lower()
    if text in ("auto", "none"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"warmup must be 'auto', 'none' or a step (a number), got {warmup!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"warmup step must be finite, got {warmup!r}")
    return value


def apply_warmup(points: pd.DataFrame, warmup: str | int | float | None = "auto") -> tuple[pd.DataFrame, dict[str, WarmUp]]:
    """Leave each run's warm-up out of a table of validation points.

    Parameters
    ----------
    points : DataFrame
        Columns ``run, step, entropy, perf`` (one row per validation point).
    warmup : {"auto", "none"} or number
        ``"auto"``: :func:`detect_warmup` per run; ``"none"``: keep every point; a number STEP:
        leave out the points with ``step < STEP``.

    Returns
    -------
    points : DataFrame
        The points kept (original order, fresh index).
    warmups : dict
        Run -> :class:`WarmUp`, for every run of ``points``.
    """
    how = parse_warmup(warmup)
    if len(points) == 0:
        return points, {}
    names = [str(r) for r in pd.unique(points["run"])]
    if how == "none":
        off = WarmUp(0, (), "warm-up detection off (warmup='none')")
        return points.reset_index(drop=True), dict.fromkeys(names, off)
    if how == "auto":
        drop, reasons = _detect_all(points)
    else:
        drop = (points["step"] < how).to_numpy()
        reasons = dict.fromkeys(names, f"points with step < {how:g} left out (warmup={how:g})")
    left_out = points.loc[drop].sort_values("step", kind="stable").groupby("run", sort=False)["step"]
    steps = {str(r): tuple(float(v) for v in s) for r, s in left_out}
    out = {r: WarmUp(len(steps.get(r, ())), steps.get(r, ()), reasons[r]) for r in names}
    return points.loc[~drop].reset_index(drop=True), out


def _detect_all(points: pd.DataFrame) -> tuple[np.ndarray, dict[str, str]]:
    """:func:`detect_warmup` of every run: the rows left out and each run's reason.  Runs too short
    for the test are told apart in one pass; only the others are examined one by one."""
    usable = np.isfinite(points[["entropy", "perf", "step"]].to_numpy(dtype=float)).all(axis=1)
    counts = pd.Series(usable, index=points.index).groupby(points["run"].to_numpy(), sort=False).sum()
    reasons = {str(r): _untested(int(n)) for r, n in counts.items()}
    drop = np.zeros(len(points), dtype=bool)
    tested = counts.index[np.minimum(MAX_WARMUP, counts.to_numpy() - MIN_REST) >= 1]
    rows = points[points["run"].isin(tested)]
    for run, grp in rows.groupby("run", sort=False):
        grp = grp.sort_values("step", kind="stable")
        k, reasons[str(run)] = detect_warmup(grp["entropy"].to_numpy(), grp["perf"].to_numpy(), grp["step"].to_numpy())
        drop[points.index.get_indexer(grp.index[:k])] = True
    return drop, reasons


def describe(run: str, w: WarmUp) -> str:
    """One line naming the run and the steps left out (empty when none were)."""
    if w.n == 0:
        return ""
    steps = ", ".join(f"{s:g}" for s in w.steps)
    return f"run {run!r}: warm-up of {w.n} point(s) at step(s) {steps} left out of the fit: {w.reason}"
