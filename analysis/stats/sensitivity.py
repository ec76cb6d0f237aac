"""Sensitivity analyses of a pooled result.

Leave-one-out, influence diagnostics, cumulative meta-analysis, outliers, and one effect per
study.

Every function takes a fitted ``meta.MetaResult`` and refits it with the same settings
(``MetaResult.refit``), as metafor's ``leave1out``, ``influence`` and ``cumul`` do.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from analysis.stats.effects import EffectSizes
from analysis.stats.meta import _upper


def _nan(x) -> float:
    return np.nan if x is None else float(x)


#: Columns of the leave-one-out and cumulative frames after ``study`` (and ``k``).
SUMMARY_COLUMNS = ("estimate", "se", "statistic", "p", "ci_low", "ci_high", "q", "q_df", "q_p",
                   "tau2", "i2_q", "i2_tau2", "h2")


def _summary_row(res) -> dict:
    return {column: _nan(getattr(res, column)) for column in SUMMARY_COLUMNS}


def leave_one_out(res) -> pd.DataFrame:
    """The pooled result without each study in turn (metafor ``leave1out``).

    Returns one row per omitted study: study, estimate, se, statistic (z, or t under
    Knapp-Hartung), p, ci_low, ci_high, q, q_df, q_p, tau2, i2_q (Q-based I2, Higgins &
    Thompson 2002), i2_tau2 (tau2-based, metafor's I2 of a random-effects model) and h2, each
    as ``meta.rma`` reports it for the remaining studies. Undefined values are NaN: heterogeneity
    when one study is left (metafor reports Q = 0, I2 = 0, H2 = 1 there), i2_tau2 of a
    fixed-effect fit (metafor's I2 there is the Q-based one, ``i2_q``), and every value of a
    Mantel-Haenszel or Peto subset without a pooled estimate (metafor: NA).
    """
    if res.k < 2:
        raise ValueError("leave-one-out needs at least two studies")
    rows = [{"study": res.labels[i],
             **_summary_row(res.refit(np.arange(res.k) != i, undefined="nan"))}
            for i in range(res.k)]
    return pd.DataFrame(rows)


def influence(res) -> pd.DataFrame:
    """Case deletion diagnostics of a random/fixed-effects model.

    Viechtbauer & Cheung (2010); metafor ``influence.rma.uni``.

    With ``b`` the pooled estimate, ``b_(-i)``, ``se_(-i)``, ``tau2_(-i)`` and ``s2_(-i)`` (the
    Knapp-Hartung scale factor, 1 for z tests) from the fit without study ``i``, ``w_i`` the
    model weights and ``h_i = w_i / sum w`` the hat values:

    - ``rstudent = (y_i - b_(-i)) / sqrt(s2_(-i) (v_i + tau2_(-i)) + se_(-i)^2)``
    - ``dffits = (b - b_(-i)) / sqrt(s2_(-i) h_i (tau2_(-i) + v_i))``
    - ``cook_d = (b - b_(-i))^2 / se^2``; ``cov_r = se_(-i)^2 / se^2``
    - ``dfbetas = (b - b_(-i)) / sqrt(s2_(-i) / sum_j 1/(v_j + tau2_(-i)))``

    ``influential`` applies metafor's criteria (p = 1 coefficient): |dffits| > 3 sqrt(1/(k-1)),
    P(chi2_1 <= cook_d) > 0.5, hat > 3/k, or |dfbetas| > 1.

    Returns one row per study: study, rstudent, dffits, cook_d, cov_r, tau2_del, q_del, hat,
    weight (percent), dfbetas, influential.
    """
    if res.settings.get("function") != "rma":
        raise ValueError("influence diagnostics need an inverse-variance fit (meta.rma)")
    if res.k < 2:
        raise ValueError("influence diagnostics need at least two studies")
    k = res.k
    hat = res.w / res.w.sum()
    rows = []
    for i in range(k):
        deleted = res.refit(np.arange(k) != i)
        tau2_del = 0.0 if deleted.tau2 is None else deleted.tau2
        # se^2 = s2 / sum(w) for every CI method, which recovers the Knapp-Hartung factor
        s2w = deleted.se ** 2 * deleted.w.sum()
        diff = res.estimate - deleted.estimate
        resid = res.yi[i] - deleted.estimate
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0  # as metafor: an exact fit gives a residual of 0, not rounding noise
        vb_del = 1.0 / np.sum(1.0 / (res.vi + tau2_del))
        rows.append({
            "study": res.labels[i],
            "rstudent": resid / np.sqrt(s2w * (res.vi[i] + tau2_del) + deleted.se ** 2),
            "dffits": diff / np.sqrt(s2w * hat[i] * (tau2_del + res.vi[i])),
            "cook_d": diff ** 2 / res.se ** 2,
            "cov_r": deleted.se ** 2 / res.se ** 2,
            "tau2_del": _nan(deleted.tau2),
            "q_del": _nan(deleted.q),
            "hat": hat[i],
            "weight": res.weights[i],
            "dfbetas": diff / np.sqrt(s2w * vb_del),
        })
    frame = pd.DataFrame(rows)
    frame["influential"] = ((frame["dffits"].abs() > 3.0 * np.sqrt(1.0 / (k - 1)))
                            | (special.chdtr(1, frame["cook_d"]) > 0.5)
                            | (frame["hat"] > 3.0 / k)
                            | (frame["dfbetas"].abs() > 1.0))
    return frame


def cumulative(res, order=None, *, by=None) -> pd.DataFrame:
    """Cumulative meta-analysis: the pooled result after each added study (metafor ``cumul``).

    Lau et al. (1992): the studies are added one at a time and the model refitted each time.

    Parameters
    ----------
    res : meta.MetaResult
    order : sequence of int, optional
        Positions of the studies in the order they are added (a permutation of ``0..k-1``).
    by : sequence, optional
        Sort key per study (e.g. publication year); studies are added in increasing key
        order, ties in data order. Give at most one of ``order`` and ``by``; neither = data
        order.

    Returns
    -------
    pandas.DataFrame
        One row per step: study (the study added), k, and the columns of
        :func:`leave_one_out` for the studies added so far. A Mantel-Haenszel or Peto step
        without a pooled estimate (e.g. the first trials have no events in one arm) is NaN
        and the analysis carries on, as metafor's ``cumul`` does.
    """
    if order is not None and by is not None:
        raise ValueError("give either order (positions) or by (sort keys), not both")
    if by is not None:
        if len(by) != res.k:
            raise ValueError(f"by has {len(by)} values for k = {res.k} studies")
        order = np.argsort(np.asarray(by), kind="stable")
    elif order is None:
        order = np.arange(res.k)
    order = np.asarray(order, dtype=int)
    if sorted(order.tolist()) != list(range(res.k)):
        raise ValueError(f"order must be a permutation of the positions 0..{res.k - 1}")
    rows = [{"study": res.labels[order[n - 1]], "k": n,
             **_summary_row(res.refit(order[:n], undefined="nan"))}
            for n in range(1, res.k + 1)]
    return pd.DataFrame(rows)


def outliers(res) -> list[str]:
    """Studies whose confidence interval lies entirely outside the pooled CI.

    A study's CI is ``y_i +/- z_(1-a/2) sqrt(v_i)``; it is an outlier when its upper bound is
    below the pooled lower bound or its lower bound above the pooled upper bound (Harrer et
    al. 2021, *Doing Meta-Analysis in R*, ch. 5.4.1; dmetar ``find.outliers``; Metapsy).
    """
    half = special.ndtri(_upper(res.level)) * np.sqrt(res.vi)
    outside = (res.yi + half < res.ci_low) | (res.yi - half > res.ci_high)
    return [lab for lab, out in zip(res.labels, outside) if out]


def aggregate(yi, vi, cluster, rho=0.5, *, measure="GEN") -> EffectSizes:
    """One effect per study from several correlated effects.

    metafor ``aggregate.escalc`` with ``struct="CS"``.

    Within a study the effects get the compound-symmetric covariance
    ``V = S R S``, ``S = diag(sqrt(v))``, ``R`` with 1 on the diagonal and ``rho`` elsewhere;
    the aggregate is the generalised least squares mean
    ``y = 1'V^-1 y / 1'V^-1 1`` with variance ``1 / 1'V^-1 1`` (Borenstein et al. 2009,
    ch. 24). Studies keep the order of their first effect; labels are the cluster values.
    """
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    keys = list(cluster)
    if not len(y) == len(v) == len(keys):
        raise ValueError(f"yi, vi and cluster have different lengths ({len(y)}, {len(v)}, {len(keys)})")
    bad = np.flatnonzero(~np.isfinite(y) | ~np.isfinite(v) | (v <= 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"effect {i} (cluster {keys[i]!r}): yi = {y[i]!r}, vi = {v[i]!r}; "
                         "need finite yi and vi > 0")
    if not -1.0 <= rho <= 1.0:
        raise ValueError(f"rho = {rho!r} must lie in [-1, 1]")
    labels = list(dict.fromkeys(keys))
    yi_agg, vi_agg = [], []
    for label in labels:
        idx = [j for j, key in enumerate(keys) if key == label]
        s = np.sqrt(v[idx])
        R = np.full((len(idx), len(idx)), float(rho))
        np.fill_diagonal(R, 1.0)
        V = s[:, None] * R * s[None, :]
        if np.linalg.eigvalsh(V).min() <= np.finfo(float).eps:
            raise ValueError(f"cluster {label!r}: the covariance matrix with rho = {rho} is not "
                             "positive definite")
        w = np.linalg.solve(V, np.ones(len(idx)))  # V^-1 1
        yi_agg.append(float(w @ y[idx] / w.sum()))
        vi_agg.append(float(1.0 / w.sum()))
    return EffectSizes(yi=np.array(yi_agg), vi=np.array(vi_agg), measure=measure,
                       labels=[str(lab) for lab in labels])
