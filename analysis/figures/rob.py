"""Risk-of-bias figures: the traffic-light table per trial and the weighted summary per domain."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from analysis.figures.style import (
    _COL_GAP,
    _MARGIN,
    _NOT_ASSESSED,
    INK,
    MIN_FONT_SIZE,
    ROB_DOMAIN_TITLES,
    ROB_DOMAINS,
    ROB_JUDGEMENTS,
    ROW_HEIGHT,
    _new_figure,
    _rob_circles,
    _rob_frame,
    _rob_key,
    _styled,
    _text_width,
)


@_styled
def rob_traffic_light(rob, *, title=None):
    """RoB 2 traffic-light plot: one row per study, one circle per domain (D1-D5) and overall.

    ``rob`` has columns ``study, d1, d2, d3, d4, d5, overall`` with ``low``, ``some-concerns`` or
    ``high`` (case and ``_``/space variants accepted; empty = not assessed, drawn as a grey
    circle without symbol). Any other value raises ``ValueError`` naming the row and column.
    """
    frame = _rob_frame(rob)
    n = len(frame)
    label_w = max(_text_width(s) for s in [*frame["study"], "Study"])
    col = 0.36
    width = max(_MARGIN * 2 + label_w + _COL_GAP + col * len(ROB_DOMAINS) + 0.2, 6.6)
    top = _MARGIN + (0.32 if title else 0.0) + ROW_HEIGHT * 1.3
    bottom = 0.75 + _MARGIN
    row_h = ROW_HEIGHT * 1.2
    height = top + n * row_h + bottom
    fig = _new_figure(width, height, f"Risk of bias (RoB 2) traffic-light plot of {n} studies")
    ax = fig.add_axes((0, bottom / height, 1, n * row_h / height))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(n - 0.5, -0.5)
    # the overall column sits a little apart, as in robvis
    xs = [_MARGIN + label_w + _COL_GAP + col * (i + 0.5) + (0.2 if key == "overall" else 0.0)
          for i, key in enumerate(ROB_DOMAINS)]
    for y, record in enumerate(frame.to_dict("records")):
        if y % 2 == 0:
            ax.add_patch(Rectangle((_MARGIN * 0.5, y - 0.5), xs[-1] + col / 2 - _MARGIN * 0.5, 1,
                                   facecolor="#F4F4F4", lw=0, zorder=0))
        ax.text(_MARGIN, y, record["study"], ha="left", va="center")
        _rob_circles(ax, ax.transData, xs, [y] * len(xs), [record[k] for k in ROB_DOMAINS])
    for key, x in zip(ROB_DOMAINS, xs):
        ax.text(x, -0.6, "Overall" if key == "overall" else key.upper(),
                ha="center", va="bottom", weight="bold", clip_on=False)
    ax.text(_MARGIN, -0.6, "Study", ha="left", va="bottom", weight="bold", clip_on=False)
    if title:
        fig.text(_MARGIN / width, 1 - _MARGIN / height, title, ha="left", va="top", fontsize=10,
                 weight="bold")
    _rob_key(fig, _MARGIN, bottom - _MARGIN - 0.15, overall="Overall: overall judgement")
    return fig


def _rob_weights(frame: pd.DataFrame, weights) -> np.ndarray:
    if weights is None:
        return np.ones(len(frame))
    if isinstance(weights, (dict, pd.Series)):
        lookup = {str(k): v for k, v in dict(weights).items()}
        missing = [s for s in frame["study"] if s not in lookup]
        if missing:
            raise ValueError(f"rob_summary: no weight for study {missing[0]!r}")
        values = np.array([lookup[s] for s in frame["study"]], dtype=float)
    else:
        values = np.asarray(weights, dtype=float)
        if values.shape != (len(frame),):
            raise ValueError(f"rob_summary: {values.size} weight(s) for {len(frame)} studies")
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise ValueError("rob_summary: weights must be finite, non-negative and not all zero")
    return values


def rob_proportions(rob, weights=None) -> pd.DataFrame:
    """Percentage of studies (or of the total weight) per judgement, one row per RoB 2 domain.

    Columns ``low, some-concerns, high, not-assessed``; rows ``d1..d5, overall``; each row sums
    to 100. ``weights`` (e.g. meta-analysis weights) is a mapping study -> weight or an array in
    the order of ``rob``.
    """
    frame = _rob_frame(rob)
    w = _rob_weights(frame, weights)
    out = {}
    for key in ROB_DOMAINS:
        judged = frame[key].to_numpy()
        out[key] = {j: 100.0 * w[judged == j].sum() / w.sum() for j in ROB_JUDGEMENTS}
        out[key]["not-assessed"] = 100.0 * w[pd.isna(judged)].sum() / w.sum()
    return pd.DataFrame.from_dict(out, orient="index")


@_styled
def rob_summary(rob, weights=None, *, title=None):
    """RoB 2 summary plot: per domain, stacked bars of the percentage of studies per judgement.

    With ``weights`` the bars show the percentage of the total meta-analysis weight instead
    (robvis ``weighted = TRUE``). Percentages are written in the bars (>= 6%), and the legend
    repeats the symbols of the traffic-light plot. See :func:`rob_proportions` for the numbers.
    """
    shares = rob_proportions(rob, weights)
    n = len(_rob_frame(rob))
    fig = _new_figure(7.2, 3.0, f"Risk of bias (RoB 2) summary of {n} studies"
                      + (", weighted by meta-analysis weight" if weights is not None else ""))
    ax = fig.add_axes((0.36, 0.27, 0.6, 0.6))
    categories = [*ROB_JUDGEMENTS, "not-assessed"]
    styles = {**{j: v for j, v in ROB_JUDGEMENTS.items()}, "not-assessed": _NOT_ASSESSED}
    y = np.arange(len(ROB_DOMAINS))
    left = np.zeros(len(ROB_DOMAINS))
    handles = []
    for j in categories:
        values = shares[j].to_numpy()
        if j == "not-assessed" and not values.any():
            continue
        colour, symbol, text = styles[j]
        ax.barh(y, values, left=left, height=0.62, color=colour, edgecolor=INK, lw=0.4)
        for yy, start, value in zip(y, left, values):
            if value >= 6:
                ax.text(start + value / 2, yy, f"{value:.0f}%", ha="center", va="center", fontsize=MIN_FONT_SIZE)
        handles.append(Patch(facecolor=colour, edgecolor=INK, lw=0.4,
                             label=f"{text} ({symbol})" if symbol else text))
        left += values
    ax.set_yticks(y, [ROB_DOMAIN_TITLES[k] for k in ROB_DOMAINS])
    ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.set_ylim(len(ROB_DOMAINS) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("Percentage of total meta-analysis weight" if weights is not None
                  else f"Percentage of studies (n = {n})")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.3, -0.25), ncol=len(handles),
              frameon=False, fontsize=MIN_FONT_SIZE, handlelength=1.2, columnspacing=1.2)
    fig.text(0.02, 0.96, title or "Risk of bias (RoB 2)", ha="left", va="top", fontsize=10, weight="bold")
    return fig
