"""The evidence map: standardised mean differences published by earlier reviews.

Oriented so that positive values favour peer support, with the AMSTAR 2 rating of each review by
colour and marker.
"""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis.figures.style import (
    _MARGIN,
    BLUE,
    GREY,
    INK,
    MIN_FONT_SIZE,
    VERMILLION,
    YELLOW,
    _new_figure,
    _styled,
    _text_width,
)

#: AMSTAR 2 overall confidence -> (colour, marker, legend text); never colour alone.
AMSTAR_STYLE = {
    "high": ("#009E73", "o", "high"),
    "moderate": (BLUE, "D", "moderate"),
    "low": (YELLOW, "^", "low"),
    "critically-low": (VERMILLION, "v", "critically low"),
    None: (GREY, "s", "not rated"),
}
#: Measures drawn on the map's one axis (standardised mean differences).
SMD_MEASURES = ("SMD", "SMD (Hedges' g)")
#: The axis is cut at +/- this; a CI beyond it ends in an arrow.
AXIS_LIMIT = 3.0
LABEL_SIZE = MIN_FONT_SIZE
LABEL_CHARS = 52          # characters per label line
LINE_HEIGHT = 0.16        # inches per label line at the minimum font size


def _label(row) -> str:
    return "\n".join(textwrap.wrap(f"{row['outcome']} ({row['review']})", LABEL_CHARS))


def drawable(estimates: pd.DataFrame) -> pd.DataFrame:
    """The rows the map draws: oriented SMD estimates with both confidence limits."""
    est = estimates[estimates["measure"].isin(SMD_MEASURES) & estimates["oriented"].astype(bool)]
    return est.dropna(subset=["estimate", "ci_low", "ci_high"])


@_styled
def evidence_map(estimates: pd.DataFrame) -> plt.Figure:
    """Pooled SMDs of earlier reviews, one row per result grouped by outcome.

    ``estimates``: oriented estimates (``analysis.chapter.published.oriented_estimates``: columns
    ``review``, ``outcome``, ``measure``, ``estimate``, ``ci_low``, ``ci_high``, ``oriented``,
    ``amstar2``); positive values favour peer support. Rows that are not SMDs or whose direction
    is unclear are not drawn (the page lists them). Labels are wrapped, never cut; the axis runs
    from -3 to 3 and a longer CI ends in an arrow.
    """
    pub = drawable(estimates).sort_values(["outcome", "review"], kind="mergesort").reset_index(drop=True)
    labels = [_label(r) for _, r in pub.iterrows()]
    lines = [lab.count("\n") + 1 for lab in labels] or [1]
    heights = [max(0.2, LINE_HEIGHT * n + 0.06) for n in lines]
    label_width = max([_text_width(part, LABEL_SIZE) for lab in labels for part in lab.split("\n")] or [1.0])
    panel = 4.2                                  # inches for the axis
    width = _MARGIN + label_width + 0.25 + panel + _MARGIN
    plot_height = sum(heights)
    top, bottom = 0.85, 0.6                      # inches for the legend and the axis label
    height = plot_height + top + bottom
    left = (_MARGIN + label_width + 0.25) / width
    fig = _new_figure(width, height, "Evidence map of earlier reviews: pooled standardised mean differences, "
                                     "positive values favour peer support")
    ax = fig.add_axes([left, bottom / height, panel / width, plot_height / height])
    centres = plot_height - (np.cumsum(heights) - np.asarray(heights) / 2)
    for y, (_, r) in zip(centres, pub.iterrows()):
        colour, marker, _ = AMSTAR_STYLE.get(r["amstar2"] if isinstance(r["amstar2"], str) else None,
                                             AMSTAR_STYLE[None])
        low, high = max(float(r["ci_low"]), -AXIS_LIMIT), min(float(r["ci_high"]), AXIS_LIMIT)
        ax.plot([low, high], [y, y], color=colour, lw=1.4, solid_capstyle="butt")
        if float(r["ci_low"]) < -AXIS_LIMIT:
            ax.plot(-AXIS_LIMIT, y, marker="<", color=colour, ms=4)
        if float(r["ci_high"]) > AXIS_LIMIT:
            ax.plot(AXIS_LIMIT, y, marker=">", color=colour, ms=4)
        estimate = float(np.clip(r["estimate"], -AXIS_LIMIT, AXIS_LIMIT))
        ax.plot(estimate, y, marker=marker, color=colour, ms=5, mec=INK, mew=0.5)
    ax.axvline(0, color=INK, lw=0.6)
    ax.set_yticks(centres)
    ax.set_yticklabels(labels, fontsize=LABEL_SIZE)
    ax.set_ylim(0, plot_height)
    ax.set_xlim(-AXIS_LIMIT - 0.1, AXIS_LIMIT + 0.1)
    ax.set_xlabel("Standardised mean difference (95% CI); positive values favour peer support")
    handles = [Line2D([], [], color=c, marker=m, mec=INK, mew=0.5, lw=1.4, label=f"AMSTAR 2: {text}")
               for c, m, text in AMSTAR_STYLE.values()]
    handles.append(Line2D([], [], color=INK, marker=">", lw=0, label=f"CI beyond ±{AXIS_LIMIT:g}"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.08 / height), ncol=3,
               fontsize=MIN_FONT_SIZE, frameon=False)
    return fig
