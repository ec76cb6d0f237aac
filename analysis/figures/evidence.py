"""The evidence map: pooled estimates published by earlier reviews, by AMSTAR 2 confidence."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis.figures.style import _MARGIN, INK, MIN_FONT_SIZE, ROW_HEIGHT, _new_figure, _styled, _text_width

AMSTAR_COLOURS = {"high": "#1B7837", "moderate": "#7FBF7B", "low": "#F1A340", "critically-low": "#B2182B"}


@_styled
def evidence_map(published: pd.DataFrame, reviews: pd.DataFrame) -> plt.Figure:
    """Pooled SMD results of earlier reviews, as tabulated by the umbrella review.

    One row per result grouped by outcome, coloured by the AMSTAR 2 rating of the review; the
    figure is as wide as its longest label needs (none is cut off).
    """
    pub = published.copy()
    if "reported_in" in pub.columns:
        pub = pub[pub["reported_in"] == "cooper2024"]
    pub = pub[pub["measure"].astype(str).str.upper().str.startswith("SMD")]
    pub = pub.dropna(subset=["estimate", "ci_low", "ci_high"])
    rating = reviews.set_index("review_id")["amstar2"] if "amstar2" in reviews.columns else pd.Series(dtype=str)
    pub = pub.assign(amstar2=pub["review_id"].map(rating).fillna("not rated"))
    pub = pub.sort_values(["outcome", "review_id"], kind="mergesort").reset_index(drop=True)
    n = max(len(pub), 1)
    labels = [f"{r['outcome']} ({r['review_id']})" for _, r in pub.iterrows()]
    # the labels' width is measured, so that none is cut off; the legend is in two rows above
    label_w = max([_text_width(t, MIN_FONT_SIZE) for t in labels], default=1.0)
    panel_w, top, bottom = 3.4, 0.75, 0.6
    width = _MARGIN + label_w + 0.15 + panel_w + _MARGIN
    height = top + ROW_HEIGHT * n + bottom
    fig = _new_figure(width, height, f"Evidence map of {len(pub)} pooled results of earlier reviews "
                      f"(standardised mean differences with 95% CI), coloured by AMSTAR 2 rating")
    ax = fig.add_axes([(_MARGIN + label_w + 0.15) / width, bottom / height, panel_w / width,
                       ROW_HEIGHT * n / height])
    ys = np.arange(n)[::-1]
    for y, (_, r) in zip(ys, pub.iterrows()):
        colour = AMSTAR_COLOURS.get(str(r["amstar2"]), "#999999")
        ax.plot([float(r["ci_low"]), float(r["ci_high"])], [y, y], color=colour, lw=1.2)
        ax.plot(float(r["estimate"]), y, "s", color=colour, ms=4)
    ax.axvline(0, color=INK, lw=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=MIN_FONT_SIZE)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("Standardised mean difference as printed (95% CI)")
    handles = [Line2D([], [], color=c, marker="s", lw=1.2, label=f"AMSTAR 2: {k.replace('-', ' ')}")
               for k, c in AMSTAR_COLOURS.items()]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(_MARGIN / width, 1 - 0.08 / height),
               ncol=2, fontsize=MIN_FONT_SIZE, frameon=False)
    return fig
