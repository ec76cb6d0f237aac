"""The evidence map: pooled estimates published by earlier reviews, by AMSTAR 2 confidence."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis.figures.style import INK, ROW_HEIGHT, _new_figure, _styled

AMSTAR_COLOURS = {"high": "#1B7837", "moderate": "#7FBF7B", "low": "#F1A340", "critically-low": "#B2182B"}


@_styled
def evidence_map(published: pd.DataFrame, reviews: pd.DataFrame) -> plt.Figure:
    """Pooled SMD results of earlier reviews (as tabulated by the umbrella review), one row per
    result grouped by outcome, coloured by the AMSTAR 2 rating of the review."""
    pub = published.copy()
    if "reported_in" in pub.columns:
        pub = pub[pub["reported_in"] == "cooper2024"]
    pub = pub[pub["measure"].astype(str).str.upper().str.startswith("SMD")]
    pub = pub.dropna(subset=["estimate", "ci_low", "ci_high"])
    rating = reviews.set_index("review_id")["amstar2"] if "amstar2" in reviews.columns else pd.Series(dtype=str)
    pub = pub.assign(amstar2=pub["review_id"].map(rating).fillna("not rated"))
    pub = pub.sort_values(["outcome", "review_id"], kind="mergesort").reset_index(drop=True)
    n = max(len(pub), 1)
    height = 1.0 + ROW_HEIGHT * n
    fig = _new_figure(8.0, height, "Evidence map of earlier reviews")
    ax = fig.add_axes([0.5, 0.55 / height, 0.47, 1 - 0.9 / height])
    ys = np.arange(n)[::-1]
    for y, (_, r) in zip(ys, pub.iterrows()):
        colour = AMSTAR_COLOURS.get(str(r["amstar2"]), "#999999")
        ax.plot([float(r["ci_low"]), float(r["ci_high"])], [y, y], color=colour, lw=1.2)
        ax.plot(float(r["estimate"]), y, "s", color=colour, ms=4)
    ax.axvline(0, color=INK, lw=0.6)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r['outcome']} ({r['review_id']})" for _, r in pub.iterrows()], fontsize=6.5)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("Standardised mean difference as printed (95% CI)")
    handles = [Line2D([], [], color=c, marker="s", lw=1.2, label=f"AMSTAR 2: {k.replace('-', ' ')}")
               for k, c in AMSTAR_COLOURS.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 1.0 + 0.35 / (0.9 + ROW_HEIGHT * n)),
              ncol=4, fontsize=6.5, frameon=False)
    return fig
