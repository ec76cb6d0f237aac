"""Small-study effects and heterogeneity diagnostics: contour-enhanced funnel plot, Baujat plot.

The only statistics computed in the figures are the Baujat coordinates (:func:`baujat_points`), a
display transformation of refitted models.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.special import ndtri

from analysis.figures.style import (
    BLUE,
    GREY,
    INK,
    MIN_FONT_SIZE,
    VERMILLION,
    _finite,
    _is_fixed,
    _measure_label,
    _new_figure,
    _place_labels,
    _styled,
)


def _significance_labels(levels) -> list[str]:
    """Legend text of the contour regions, from the innermost (not significant) outwards."""
    alphas = [round(1 - c, 10) for c in levels]
    labels = [f"p > {alphas[0]:g}"]
    labels += [f"{alphas[i + 1]:g} < p \u2264 {alphas[i]:g}" for i in range(len(alphas) - 1)]
    labels.append(f"p \u2264 {alphas[-1]:g}")
    return labels


def _filled_points(trimfill):
    """Imputed (yi, vi) of a :class:`analysis.stats.bias.TrimFillResult` (``filled`` fit, ``imputed`` mask)."""
    if trimfill is None:
        return np.array([]), np.array([])
    mask = np.asarray(trimfill.imputed, dtype=bool)
    filled = trimfill.filled
    return np.asarray(filled.yi, dtype=float)[mask], np.asarray(filled.vi, dtype=float)[mask]


@_styled
def funnel(res, *, contours=(0.90, 0.95, 0.99), trimfill=None, effect_label=None, title=None):
    """Contour-enhanced funnel plot (Peters et al. 2008), as metafor ``funnel(..., refline=0)``.

    x: effect ``yi`` (log scale for ratio measures); y: standard error ``sqrt(vi)``, 0 at the
    top. Shaded regions around 0 show where a study's two-sided Wald test ``|yi| / sei`` reaches
    ``z_{(1+c)/2}`` for each confidence level ``c`` in ``contours`` (darker = more significant).
    The solid line is the pooled estimate; with a trim-and-fill result, imputed studies are open
    circles and the adjusted estimate a dashed line.
    """
    levels = sorted(float(c) for c in contours)
    if not levels or any(not 0 < c < 1 for c in levels):
        raise ValueError(f"funnel: contours must be levels in (0, 1), got {contours!r}")
    yi, sei = np.asarray(res.yi, dtype=float), np.sqrt(np.asarray(res.vi, dtype=float))
    fill_y, fill_v = _filled_points(trimfill)
    fill_se = np.sqrt(fill_v)
    se_max = max(float(np.max(np.concatenate([sei, fill_se]))), 1e-8) * 1.08
    z = ndtri(0.5 + np.array(levels) / 2)
    reach = max(float(np.max(np.abs(np.concatenate([yi, fill_y])))), z[-1] * se_max) * 1.06

    fig = _new_figure(6.0, 4.8, f"Contour-enhanced funnel plot of {res.k} studies"
                      + (f" with {int(trimfill.k0)} imputed by trim-and-fill" if trimfill is not None else ""))
    ax = fig.add_axes((0.12, 0.12, 0.6, 0.8))
    shades = ["#FFFFFF", "#E3E3E3", "#C4C4C4", "#A3A3A3", "#858585"]
    if len(levels) + 1 > len(shades):
        raise ValueError(f"funnel: at most {len(shades) - 1} contour levels")
    se_grid = np.array([0.0, se_max])
    ax.set_facecolor(shades[len(levels)])
    for i in range(len(levels) - 1, -1, -1):
        ax.fill_betweenx(se_grid, -z[i] * se_grid, z[i] * se_grid, color=shades[i], lw=0, zorder=0)
    ax.axvline(0, color=INK, lw=0.6, ls=":", zorder=1)
    ax.axvline(res.estimate, color=BLUE, lw=1.0, zorder=2, gid="pooled-estimate")
    handles = [Patch(facecolor=s, edgecolor=INK, lw=0.4, label=t)
               for s, t in zip(shades, _significance_labels(levels))]
    handles.append(ax.scatter(yi, sei, s=22, marker="o", color=INK, zorder=4, label="Study",
                              clip_on=False, gid="studies"))
    handles.append(Line2D([], [], color=BLUE, lw=1.0, label="Pooled estimate"))
    if trimfill is not None:
        adjusted = trimfill.filled
        if fill_y.size:
            handles.append(ax.scatter(fill_y, fill_se, s=22, marker="o", facecolors="white",
                                      edgecolors=INK, linewidths=0.8, zorder=4, clip_on=False,
                                      label="Imputed (trim-and-fill)", gid="imputed"))
        ax.axvline(adjusted.estimate, color=VERMILLION, lw=1.0, ls=(0, (4, 2)), zorder=2,
                   gid="adjusted-estimate")
        handles.append(Line2D([], [], color=VERMILLION, lw=1.0, ls=(0, (4, 2)),
                                               label="Adjusted (trim-and-fill)"))
    ax.set_xlim(-reach, reach)
    ax.set_ylim(se_max, 0)
    ax.set_xlabel(effect_label or _measure_label(res.measure))
    ax.set_ylabel("Standard error")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
              fontsize=MIN_FONT_SIZE, title="Two-sided p", title_fontsize=MIN_FONT_SIZE, alignment="left")
    if title:
        ax.set_title(title, loc="left", fontsize=10, weight="bold")
    return fig


def baujat_points(res) -> pd.DataFrame:
    """Baujat et al. (2002) coordinates, computed as metafor ``baujat.rma`` (metafor 3.8).

    ``x_i = (yi - mu)^2 / (tau2 + vi)`` (the study's contribution to Q for a common-effect model,
    its squared Pearson residual otherwise) and ``y_i = (mu_(-i) - mu)^2 / se(mu_(-i))^2``, where
    ``mu`` is the pooled estimate and ``mu_(-i)``, ``se(mu_(-i))`` come from refitting the same
    model without study ``i``. ``y`` is NaN when the refit is impossible (k = 1).
    """
    yi, vi = np.asarray(res.yi, dtype=float), np.asarray(res.vi, dtype=float)
    tau2 = float(res.tau2) if _finite(res.tau2) else 0.0
    x = (yi - res.estimate) ** 2 / (tau2 + vi)
    y = np.full(res.k, np.nan)
    if res.k > 1:
        for i in range(res.k):
            omitted = res.refit(np.arange(res.k) != i)
            y[i] = (omitted.estimate - res.estimate) ** 2 / omitted.se ** 2
    return pd.DataFrame({"study": list(res.labels), "x": x, "y": y})


@_styled
def baujat(res, *, title=None, max_labels=12):
    """Baujat plot: contribution to heterogeneity (x) against influence on the pooled result (y).

    Coordinates from :func:`baujat_points`. The ``max_labels`` most extreme studies (largest
    ``x + y`` after scaling each axis to its maximum) are labelled, except those in the corner
    near the origin (scaled score below 0.1), which neither add heterogeneity nor move the result
    and would only pile up their labels. Labels never overlap: one with no free place near its
    point is left out (the figure's description says how many are labelled).
    """
    points = baujat_points(res)
    fig = _new_figure(6.0, 4.8, f"Baujat plot of {res.k} studies")
    ax = fig.add_axes((0.12, 0.12, 0.82, 0.78))
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    ok = np.isfinite(y)
    ax.scatter(x[ok], y[ok], s=24, color=BLUE, edgecolors=INK, linewidths=0.4, zorder=3)
    ax.grid(True, color="#DDDDDD", lw=0.5, ls=":")
    ax.set_axisbelow(True)
    ax.set_xlabel("Contribution to overall heterogeneity" if _is_fixed(res) else
                  "Contribution to heterogeneity (squared Pearson residual)")
    ax.set_ylabel("Influence on overall result")
    x_top = max(float(np.max(x, initial=0.0)), 1e-6) * 1.15
    y_top = max(float(np.max(y[ok], initial=0.0)), 1e-6) * 1.15
    ax.set_xlim(-0.02 * x_top, x_top)
    ax.set_ylim(-0.02 * y_top, y_top)
    score = x / x_top + np.where(ok, y, 0.0) / y_top
    candidates = [i for i in np.argsort(-score, kind="stable")[:max_labels] if ok[i] and score[i] >= 0.1]
    # every point is an obstacle; the candidates are labelled from the most extreme down
    order = candidates + [i for i in range(len(x)) if i not in candidates and ok[i]]
    texts = [str(points["study"][i]) if i in candidates else "" for i in order]
    placed = _place_labels(ax, x[order], y[order], texts, marker_pt=7)
    fig.set_label(f"Baujat plot of {res.k} studies; the {len(placed)} most influential or heterogeneous "
                  "labelled" if placed else f"Baujat plot of {res.k} studies")
    if not ok.any():
        ax.text(0.5, 0.5, "Influence not defined for k = 1", transform=ax.transAxes, ha="center",
                va="center", color=GREY)
    if title:
        ax.set_title(title, loc="left", fontsize=10, weight="bold")
    return fig
