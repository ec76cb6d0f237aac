"""Forest plots: the main analysis, subgroups, cumulative and leave-one-out analyses.

One table-and-panel layout (rows and columns drawn in inches from measured text widths) is shared
by :func:`forest`, :func:`cumulative_forest` and :func:`leave_one_out_plot`. Positive effects
favour peer support, so "Favours peer support" is on the right of the null line; ``exp=True``
draws ratio measures (analysed on the log scale) back-transformed on a log axis.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.collections import LineCollection
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator
from scipy.special import ndtri

from analysis.figures.style import (
    _COL_GAP,
    _MARGIN,
    _MAX_SQUARE,
    _PANEL_WIDTH,
    _ROB_COL,
    BLUE,
    GREY,
    INK,
    MIN_FONT_SIZE,
    MINUS,
    ROB_DOMAINS,
    ROW_HEIGHT,
    _align,
    _arm_text,
    _ci_text,
    _finite,
    _heterogeneity_text,
    _level_text,
    _measure_label,
    _model_text,
    _new_figure,
    _num,
    _overall_test_text,
    _rob_circles,
    _rob_frame,
    _rob_key,
    _styled,
    _subgroup_test_text,
    _text_width,
)

_ARM_LAYOUTS = {
    "msd": (("mean", "Mean"), ("sd", "SD"), ("n", "Total")),
    "events": (("events", "Events"), ("total", "Total")),
}


def _arm_layout(frame: pd.DataFrame) -> str:
    if {"n1", "mean1", "sd1", "n2", "mean2", "sd2"} <= set(frame.columns):
        return "msd"
    if {"events1", "total1", "events2", "total2"} <= set(frame.columns):
        return "events"
    raise ValueError("arm_data: expected columns n1, mean1, sd1, n2, mean2, sd2 (continuous) or "
                     f"events1, total1, events2, total2 (binary); got {', '.join(map(str, frame.columns))}")


@dataclass
class _Row:
    kind: str                      # study | summary | pi | group | text | blank
    label: str = ""
    cells: dict = field(default_factory=dict)
    est: float = math.nan          # display scale (exponentiated for ratio measures)
    lo: float = math.nan
    hi: float = math.nan
    size: float = 0.0              # side of a study square in points
    rob: dict | None = None
    note: str = ""                 # how the effect was entered, where the row has no arm data


@dataclass
class _Col:
    key: str
    header: str
    align: str = "right"
    group: str = ""


@dataclass
class _Axis:
    log: bool
    lim: tuple[float, float]
    ticks: list[float]
    null: float


def _nice_axis(values, log: bool, core, xlim=None) -> _Axis:
    """Axis limits and ticks for a forest panel (display scale: exponentiated when ``log``).

    Unless ``xlim`` is given, the limits contain every value of ``core`` (point estimates and
    pooled intervals) and the null; ``values`` (whisker ends) reaching further than half the core
    range beyond it are clipped and drawn as arrows, so that one tiny trial cannot squash the
    plot. Limits are then rounded outwards to the nearest ticks.
    """
    ticks_for = _log_ticks if log else _linear_ticks
    null = 1.0 if log else 0.0
    if xlim is not None:
        lo, hi = float(xlim[0]), float(xlim[1])
        if not lo < hi or (log and lo <= 0):
            raise ValueError(f"xlim must be increasing (and positive on a log axis), got {xlim}")
        return _Axis(log, (lo, hi), [t for t in ticks_for(lo, hi) if lo <= t <= hi], null)
    scale = np.log if log else np.asarray
    core = scale(np.array([v for v in [*core, null] if _finite(v)], dtype=float))
    every = scale(np.array([v for v in values if _finite(v) and (not log or v > 0)], dtype=float))
    cmin, cmax = core.min(), core.max()
    span = max(cmax - cmin, 0.1)
    lo = max(min(every.min(initial=cmin), cmin), cmin - 0.5 * span)
    hi = min(max(every.max(initial=cmax), cmax), cmax + 0.5 * span)
    ticks = ticks_for(math.exp(lo), math.exp(hi)) if log else ticks_for(lo, hi)
    return _Axis(log, (ticks[0], ticks[-1]), ticks, null)


def _linear_ticks(lo: float, hi: float) -> list[float]:
    """About six 1-2-2.5-5 ticks, the first <= lo and the last >= hi."""
    ticks = MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    first = max(t for t in ticks if t <= lo + 1e-12)
    last = min(t for t in ticks if t >= hi - 1e-12)
    return [float(t) for t in ticks if first <= t <= last]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks on a log axis, the first <= lo and the last >= hi (powers of ten if crowded)."""
    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
    candidates = sorted(float(f"{m * 10.0 ** e:.12g}") for e in decades for m in (1, 2, 5))
    first = max(c for c in candidates if c <= lo * (1 + 1e-12))
    last = min(c for c in candidates if c >= hi * (1 - 1e-12))
    ticks = [c for c in candidates if first <= c <= last]
    if len(ticks) > 7:
        ticks = [10.0 ** e for e in range(math.floor(math.log10(first)), math.ceil(math.log10(last)) + 1)]
    return ticks


def _display_scale(exp: bool):
    """Analysis scale -> display scale (exponentiated for ratio measures); None -> NaN."""
    def display(value) -> float:
        if value is None:
            return math.nan
        return math.exp(value) if exp else float(value)
    return display


def _tick_text(v: float) -> str:
    return f"{v:g}".replace("-", MINUS)


def _column_widths(cols: list[_Col], rows: list[_Row]) -> list[float]:
    """Width (inches) of each column: its widest header or cell, bold where drawn bold."""
    def cell(row, key):
        if key == "label":
            return row.label if row.kind == "study" else ""
        return row.cells.get(key, "")

    widths = []
    for col in cols:
        cells = [cell(r, col.key) for r in rows]
        bold = [cell(r, col.key) for r in rows if r.kind == "summary"]
        widths.append(max([_text_width(col.header, weight="bold")]
                          + [_text_width(c) for c in cells] + [_text_width(c, weight="bold") for c in bold]))
    return widths


def _draw_table(rows: list[_Row], left: list[_Col], right: list[_Col], axis: _Axis, *,
                favours=None, effect_label: str = "", title: str | None = None, rob: bool = False,
                reference: tuple[float, float, float] | None = None, label: str = "") -> plt.Figure:
    """Draw one page of a forest-type table.

    Rows are placed top to bottom at y = 0, 1, ... in the data coordinates of the forest panel;
    text columns use a transform whose x is in inches from the figure's left edge, so the
    whole table is laid out from measured text widths. ``reference`` = (estimate, low, high) draws
    a dashed line and a shaded band (the full-data result in a leave-one-out plot).
    """
    n = len(rows)
    widths = _column_widths(left, rows)
    # labels of rows without arm data (pooled results, text, subgroup headers) run across the
    # whole left block: make the block, not the study column, wide enough for them
    free = max([_text_width(r.label, MIN_FONT_SIZE) for r in rows if r.kind == "text"]
               + [_text_width(r.label) for r in rows if r.kind == "pi"]
               + [_text_width(r.label, weight="bold") for r in rows if r.kind in ("group", "summary")],
               default=0.0)
    block = sum(widths) + _COL_GAP * (len(widths) - 1)
    if free > block:
        widths[0] += free - block
    # a row without arm data says how its effect was entered, across the arm columns
    note = max([_text_width(r.note, MIN_FONT_SIZE, "normal") for r in rows if r.note], default=0.0)
    arm_block = sum(widths[1:]) + _COL_GAP * (len(widths) - 2)
    if len(widths) > 1 and note > arm_block:
        widths[-1] += note - arm_block
    x = _MARGIN
    left_x = []
    for w in widths:
        left_x.append(x)
        x += w + _COL_GAP
    panel_x = x + 0.05
    x = panel_x + _PANEL_WIDTH + _COL_GAP + 0.05
    right_widths = _column_widths(right, rows)
    right_x = []
    for w in right_widths:
        right_x.append(x)
        x += w + _COL_GAP
    rob_x = [x + _ROB_COL * (i + 0.5) for i in range(len(ROB_DOMAINS))] if rob else []
    if rob:
        x += _ROB_COL * len(ROB_DOMAINS) + _COL_GAP
    width = x - _COL_GAP + _MARGIN

    has_groups = any(c.group for c in left + right) or rob
    top = _MARGIN + (0.32 if title else 0.0) + ROW_HEIGHT * (2 if has_groups else 1) + 0.06
    bottom = 0.28 + (0.2 if favours else 0.0) + (0.2 if effect_label else 0.0) + \
        (0.62 if rob else 0.0) + _MARGIN
    height = top + n * ROW_HEIGHT + bottom

    fig = _new_figure(width, height, label)
    ax = fig.add_axes((panel_x / width, bottom / height, _PANEL_WIDTH / width, n * ROW_HEIGHT / height))
    ax.set_ylim(n - 0.5, -0.5)
    if axis.log:
        ax.set_xscale("log")
    ax.set_xlim(*axis.lim)
    ax.xaxis.set_major_locator(FixedLocator(axis.ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_tick_text(t) for t in axis.ticks])
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_alpha(0.0)
    table = transforms.blended_transform_factory(fig.dpi_scale_trans, ax.transData)

    def put(xpos, y, text, align="left", **kw):
        ax.text(xpos, y, text, transform=table, ha=align, va="center", clip_on=False, **kw)

    def column_anchor(x0, w, align):
        return {"left": x0, "right": x0 + w, "center": x0 + w / 2}[align]

    # reference band, null line
    if reference is not None and all(_finite(v) for v in reference):
        ax.axvspan(reference[1], reference[2], color="#DCE9F5", zorder=0, lw=0, gid="reference-band")
        ax.axvline(reference[0], color=BLUE, lw=0.8, ls=(0, (4, 2)), zorder=1, gid="reference-line")
    ax.axvline(axis.null, color=INK, lw=0.8, zorder=1, gid="null-line")

    # headers
    y_head = -1.0
    for col, x0, w in zip(left + right, left_x + right_x, widths + right_widths):
        put(column_anchor(x0, w, col.align), y_head, col.header, col.align, weight="bold")
    for group in dict.fromkeys(c.group for c in left + right if c.group):
        pos = [(x0, w) for c, x0, w in zip(left + right, left_x + right_x, widths + right_widths)
               if c.group == group]
        put((pos[0][0] + pos[-1][0] + pos[-1][1]) / 2, y_head - 1, group, "center", weight="bold")
    if rob:
        for key, xr in zip(ROB_DOMAINS, rob_x):
            put(xr, y_head, "O" if key == "overall" else key.upper(), "center", weight="bold")
        put((rob_x[0] + rob_x[-1]) / 2, y_head - 1, "Risk of bias", "center", weight="bold")
    rule_y = -0.55
    ax.plot([_MARGIN, width - _MARGIN], [rule_y, rule_y], transform=table, color=INK, lw=0.6,
            clip_on=False)
    if title:
        fig.text(_MARGIN / width, 1 - _MARGIN / height, title, ha="left", va="top",
                 fontsize=10, weight="bold")

    # cells
    for y, row in enumerate(rows):
        weight = "bold" if row.kind in ("summary", "group") else "normal"
        if row.kind == "text":
            put(left_x[0], y, row.label, fontsize=MIN_FONT_SIZE, color="#333333")
            continue
        if row.kind == "group":
            put(left_x[0], y, row.label, weight="bold")
            continue
        for col, x0, w in zip(left + right, left_x + right_x, widths + right_widths):
            text = row.label if col.key == "label" else row.cells.get(col.key, "")
            if text:
                put(column_anchor(x0, w, col.align), y, text, col.align, weight=weight)
        if row.note and len(left) > 1:
            put((left_x[1] + left_x[-1] + widths[-1]) / 2, y, row.note, "center", style="italic",
                color="#444444", gid="entered-as")
        if rob and row.rob is not None:
            _rob_circles(ax, table, rob_x, [y] * len(ROB_DOMAINS), [row.rob.get(k) for k in ROB_DOMAINS])

    _draw_marks(ax, rows, axis)
    _favours(ax, axis, favours, effect_label)
    if rob:
        _rob_key(fig, _MARGIN, _MARGIN + 0.46)
    return fig


def _draw_marks(ax, rows: list[_Row], axis: _Axis) -> None:
    """Squares with whiskers (arrows where clipped), diamonds and prediction-interval bars."""
    lo_lim, hi_lim = axis.lim
    segments, squares, sizes, left_arrows, right_arrows = [], [], [], [], []
    for y, row in enumerate(rows):
        if row.kind == "study" and _finite(row.est):
            if _finite(row.lo) and _finite(row.hi):
                a, b = max(row.lo, lo_lim), min(row.hi, hi_lim)
                if a < b:
                    segments.append([(a, y), (b, y)])
                if row.lo < lo_lim:
                    left_arrows.append((lo_lim, y))
                if row.hi > hi_lim:
                    right_arrows.append((hi_lim, y))
            if lo_lim <= row.est <= hi_lim:
                squares.append((row.est, y))
                sizes.append(max(row.size, 3.0) ** 2)
        elif row.kind == "summary" and _finite(row.lo) and _finite(row.hi):
            ax.add_patch(Polygon([(row.lo, y), (row.est, y - 0.36), (row.hi, y), (row.est, y + 0.36)],
                                 closed=True, facecolor=INK, edgecolor=INK, lw=0.6, zorder=3,
                                 gid="diamond"))
        elif row.kind == "pi" and _finite(row.lo) and _finite(row.hi):
            ax.add_patch(Rectangle((row.lo, y - 0.13), row.hi - row.lo, 0.26, facecolor=GREY,
                                   edgecolor=INK, lw=0.5, zorder=3, gid="prediction-interval"))
    if segments:
        ax.add_collection(LineCollection(segments, colors=INK, linewidths=0.8, zorder=2,
                                         gid="confidence-intervals"))
    if squares:
        pts = np.array(squares)
        ax.scatter(pts[:, 0], pts[:, 1], s=sizes, marker="s", color=BLUE, edgecolors="none",
                   zorder=3, clip_on=False, gid="studies")
    for arrows, marker, gid in ((left_arrows, "<", "clipped-low"), (right_arrows, ">", "clipped-high")):
        if arrows:
            pts = np.array(arrows)
            ax.scatter(pts[:, 0], pts[:, 1], s=14, marker=marker, color=INK, zorder=3, clip_on=False,
                       edgecolors="none", gid=gid)


def _favours(ax, axis: _Axis, favours, effect_label: str) -> None:
    """'Favours control | Favours peer support' under the axis, either side of the null line."""
    below = transforms.offset_copy(ax.get_xaxis_transform(), fig=ax.figure, y=-0.30, units="inches")
    if favours:
        left_text, right_text = favours
        ax.text(axis.null, 0, f"\u2190 {left_text}", transform=transforms.offset_copy(
            below, fig=ax.figure, x=-0.05, units="inches"), ha="right", va="top", fontsize=MIN_FONT_SIZE)
        ax.text(axis.null, 0, f"{right_text} \u2192", transform=transforms.offset_copy(
            below, fig=ax.figure, x=0.05, units="inches"), ha="left", va="top", fontsize=MIN_FONT_SIZE)
    if effect_label:
        offset = -0.50 if favours else -0.30
        ax.text(0.5, 0, effect_label, transform=transforms.offset_copy(
            ax.transAxes, fig=ax.figure, y=offset, units="inches"), ha="center", va="top")


def _paginate(rows: list[_Row], tail: int, max_rows: int | None) -> list[list[_Row]]:
    """Split rows into balanced pages of at most ``max_rows`` rows.

    The last ``tail`` rows (pooled result and its text) stay together on the last page (which
    exceeds ``max_rows`` only when the tail alone does).
    """
    if max_rows is None:
        return [rows]
    if isinstance(max_rows, bool) or int(max_rows) != max_rows or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    body, end = rows[:len(rows) - tail], rows[len(rows) - tail:]
    n_pages = max(1, math.ceil(len(rows) / max_rows))
    size = math.ceil(len(rows) / n_pages)
    pages = [body[i:i + size] for i in range(0, len(body), size)]
    if not pages or (len(pages[-1]) + len(end) > max_rows and len(pages) < n_pages):
        pages.append([])
    pages[-1] = pages[-1] + end
    return pages


_SORTS = {
    None: None,
    "estimate": lambda res, i: (res.yi[i], i),
    "weight": lambda res, i: (-res.weights[i], i),
    "label": lambda res, i: (str(res.labels[i]).lower(), i),
}


def _study_rows(res, order, tf, weights, arm, arm_cols, rob, wmax) -> list[_Row]:
    """One row per study, its square scaled to ``wmax``.

    ``wmax`` is the largest weight of the whole plot (of the overall analysis in a subgroup plot,
    as RevMan and metafor draw them).
    """
    crit = ndtri(0.5 + float(res.level) / 200.0)
    rows = []
    wmax = wmax or 1.0
    for i in order:
        yi, sei = float(res.yi[i]), math.sqrt(float(res.vi[i]))
        lo, hi = yi - crit * sei, yi + crit * sei
        cells = {"weight": f"{_num(weights[i], 1)}%" if _finite(weights[i]) else "",
                 "ci": _ci_text(tf(yi), tf(lo), tf(hi))}
        record = arm[i] if arm is not None else None
        for key, column in arm_cols:
            cells[key] = _arm_text(record.get(column)) if record else ""
        note = ""
        if record and not any(cells[key] for key, _ in arm_cols) and isinstance(record.get("entered"), str):
            note = record["entered"]
        rows.append(_Row("study", str(res.labels[i]), cells, tf(yi), tf(lo), tf(hi),
                         size=_MAX_SQUARE * math.sqrt(max(weights[i], 0.0) / wmax) if _finite(weights[i]) else 0.0,
                         rob=rob[i] if rob is not None else None, note=note))
    return rows


def _summary_rows(res, tf, label, weight_text, show_pi, level_text) -> list[_Row]:
    rows = [_Row("summary", label, {"weight": weight_text,
                                    "ci": _ci_text(tf(res.estimate), tf(res.ci_low), tf(res.ci_high))},
                 tf(res.estimate), tf(res.ci_low), tf(res.ci_high))]
    if show_pi and res.k >= 2 and _finite(res.pi_low) and _finite(res.pi_high):
        rows.append(_Row("pi", f"{level_text} prediction interval",
                         {"ci": f"[{_num(tf(res.pi_low))}, {_num(tf(res.pi_high))}]"},
                         math.nan, tf(res.pi_low), tf(res.pi_high)))
    return rows


@_styled
def forest(res_or_subgroup, *, arm_data=None, rob=None, show_pi=True, effect_label="Hedges' g",
           favours=("Favours control", "Favours peer support"), exp=False, title=None,
           max_rows=None, sort=None, xlim=None, arm_labels=("Peer support", "Control"), studies=True):
    """Forest plot of a meta-analysis (or of a subgroup analysis), laid out like RevMan/metafor.

    One row per study: label, optional arm-level data, a square (area proportional to the
    weight, on one scale for the whole plot) with its confidence interval (an arrow where the interval leaves the axis), the
    weight and ``estimate [low, high]`` to two decimals, optional RoB 2 circles. Under the
    studies: the pooled diamond, the prediction interval as a bar (``show_pi``), heterogeneity
    (tau2, I2, Q, df, p) and the test for the overall effect. A subgroup result gets a header,
    a diamond and a heterogeneity line per subgroup, then the overall diamond and the test for
    subgroup differences. Study confidence intervals are ``yi -/+ z_{1-alpha/2} sqrt(vi)`` at the
    result's level (as metafor's ``forest.rma``).

    Parameters
    ----------
    res_or_subgroup : MetaResult or SubgroupResult
    arm_data : DataFrame, optional
        Columns ``n1, mean1, sd1, n2, mean2, sd2`` or ``events1, total1, events2, total2`` (arm 1
        = peer support); one row per study in analysis order, or matched by a ``study`` column
        (required for a subgroup result).
    rob : DataFrame, optional
        Columns ``study, d1..d5, overall`` with ``low``/``some-concerns``/``high`` (empty = not
        assessed); matched like ``arm_data``.
    show_pi : bool
        Draw the prediction interval of the pooled result.
    effect_label, favours : str, (str, str)
        Axis title; labels left and right of the null line.
    exp : bool
        Ratio measures: back-transform estimates and draw a log axis with the null at 1.
    title : str, optional
    max_rows : int, optional
        Layout for large k. ``None`` (default) draws one figure whose height grows by
        ``ROW_HEIGHT`` inches per row, so text stays at 8 pt for any k (k = 300 gives a figure
        about 65 inches tall). An integer paginates: a **list** of figures with at most
        ``max_rows`` rows each, same columns and axis, the pooled result on the last page.
    sort : {None, "estimate", "weight", "label"}
        Order of studies (within each subgroup); ``None`` keeps the analysis order.
    xlim : (float, float), optional
        Axis limits on the display scale; by default chosen from the data (see ``_nice_axis``).
    arm_labels : (str, str)
        Headers of the arm-level columns. A row whose arm columns are all empty shows the text of
        an optional ``entered`` column of ``arm_data`` there (e.g. "reported g": how its effect
        entered the analysis).
    studies : bool
        ``False`` draws a subgroup result compactly: the subgroups' pooled results without their
        study rows (for large k).

    Returns
    -------
    matplotlib.figure.Figure, or list of Figure when ``max_rows`` is given.
    """
    if sort not in _SORTS:
        raise ValueError(f"sort must be one of None, 'estimate', 'weight', 'label'; got {sort!r}")
    tf = _display_scale(exp)
    is_subgroup = hasattr(res_or_subgroup, "groups")
    if is_subgroup:
        analyses = list(res_or_subgroup.groups.items())
        overall = res_or_subgroup.overall
        if not analyses:
            raise ValueError("forest: the subgroup result has no subgroups")
    else:
        analyses, overall = [(None, res_or_subgroup)], res_or_subgroup
    level_text = _level_text(float(analyses[0][1].level))

    arm_frame = None if arm_data is None else pd.DataFrame(arm_data)
    layout = _arm_layout(arm_frame) if arm_frame is not None else None
    arm_cols_by_arm = []
    left = [_Col("label", "Study", "left")]
    if layout:
        for arm, name in ((1, arm_labels[0]), (2, arm_labels[1])):
            for key, header in _ARM_LAYOUTS[layout]:
                column = f"{key}{arm}"
                arm_cols_by_arm.append((f"arm_{column}", column))
                left.append(_Col(f"arm_{column}", header, "right", name))
    right = [_Col("weight", "Weight", "right"),
             _Col("ci", f"{effect_label} [{level_text} CI]", "right")]
    rob_frame = _rob_frame(rob) if rob is not None else None

    # overall weights for studies inside subgroups (RevMan shows weights in the overall analysis)
    overall_w = None
    if is_subgroup:
        labels = [str(s) for s in overall.labels]
        if len(set(labels)) == len(labels):
            overall_w = dict(zip(labels, (float(w) for w in overall.weights)))
    weights_of = {}
    for name, res in analyses:
        labels = [str(s) for s in res.labels]
        weights = [float(w) for w in res.weights]
        if overall_w is not None and all(s in overall_w for s in labels):
            weights = [overall_w[s] for s in labels]
        weights_of[name] = weights
    # one scale for every square of the plot: a small trial alone in its subgroup stays small
    wmax = max([w for ws in weights_of.values() for w in ws if _finite(w)], default=1.0)

    rows: list[_Row] = []
    for name, res in analyses:
        labels = [str(s) for s in res.labels]
        positional = not is_subgroup
        arm = _align(arm_frame, labels, "arm_data", positional) if arm_frame is not None else None
        rob_rows = _align(rob_frame, labels, "rob", positional) if rob_frame is not None else None
        weights = weights_of[name]
        order = list(range(res.k)) if sort is None else sorted(range(res.k), key=lambda i: _SORTS[sort](res, i))
        if name is not None:
            rows.append(_Row("group", str(name)))
        if studies:
            rows += _study_rows(res, order, tf, weights, arm, arm_cols_by_arm, rob_rows, wmax)
        if name is not None:
            total = sum(weights) if overall_w is not None else 100.0
            rows += _summary_rows(res, tf, f"Subtotal ({_model_text(res)}, k = {res.k})",
                                  f"{_num(total, 1)}%", False, level_text)
            rows.append(_Row("text", _heterogeneity_text(res)))
            rows.append(_Row("blank"))
    body = len(rows)
    rows += _summary_rows(overall, tf, f"Overall ({_model_text(overall)}, k = {overall.k})",
                          "100.0%", show_pi, level_text)
    rows.append(_Row("text", _heterogeneity_text(overall)))
    rows.append(_Row("text", _overall_test_text(overall)))
    if is_subgroup:
        rows.append(_Row("text", _subgroup_test_text(res_or_subgroup)))

    all_rows = [r for r in rows if r.kind in ("study", "summary", "pi")]
    pooled = [r for r in all_rows if r.kind != "study"]
    axis = _nice_axis([v for r in all_rows for v in (r.lo, r.hi)], exp,
                      [r.est for r in all_rows] + [v for r in pooled for v in (r.lo, r.hi)], xlim)
    pooled_text = _ci_text(tf(overall.estimate), tf(overall.ci_low), tf(overall.ci_high))
    if is_subgroup:
        description = (f"Subgroup forest plot of {overall.k} studies in {len(analyses)} subgroups ("
                       + "; ".join(f"{name}: k = {res.k}, {_ci_text(tf(res.estimate), tf(res.ci_low), tf(res.ci_high))}"
                                   for name, res in analyses)
                       + f"); overall {effect_label} {pooled_text}; {_subgroup_test_text(res_or_subgroup)[0].lower()}"
                       + _subgroup_test_text(res_or_subgroup)[1:])
    else:
        description = f"Forest plot of {overall.k} studies; pooled {effect_label} {pooled_text}"
    pages = _paginate(rows, len(rows) - body, max_rows)
    return _pages(pages, left, right, axis, title, description, favours=favours, effect_label=effect_label,
                  rob=rob_frame is not None, paginated=max_rows is not None)


def _pages(pages, left, right, axis, title, description, *, paginated, **layout):
    """Draw each page; a page of several says which rows it holds (title and description)."""
    figures = []
    first = 1
    for number, page in enumerate(pages, start=1):
        page_title, label = title, description
        n_rows = sum(r.kind == "study" for r in page)
        if len(pages) > 1:
            page_title = f"{title or 'Forest plot'} (page {number} of {len(pages)})"
            label = f"{description} (page {number} of {len(pages)}: rows {first} to {first + n_rows - 1})"
        first += n_rows
        figures.append(_draw_table(page, left, right, axis, title=page_title, label=label, **layout))
    return figures if paginated else figures[0]


def _sequence_rows(frame: pd.DataFrame, labels: list[str], tf, extra) -> list[_Row]:
    """Rows of equal-sized squares for a frame with estimate, ci_low, ci_high (+ extra cells)."""
    size = 0.45 * _MAX_SQUARE
    rows = []
    for label, record in zip(labels, frame.to_dict("records")):
        est, lo, hi = (float(record[c]) if _finite(record[c]) else math.nan
                       for c in ("estimate", "ci_low", "ci_high"))
        cells = {"ci": _ci_text(tf(est), tf(lo), tf(hi))}
        cells.update(extra(record))
        rows.append(_Row("study", label, cells, tf(est), tf(lo), tf(hi), size=size))
    return rows


def _require(frame, columns, what) -> pd.DataFrame:
    frame = pd.DataFrame(frame)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{what}: the frame has no rows")
    return frame


def _i2_cell(record) -> dict:
    return {"i2": f"{_num(record['i2_q'], 0)}%" if _finite(record.get("i2_q")) else ""}


@_styled
def cumulative_forest(frame, *, effect_label="Hedges' g", exp=False, title=None,
                      favours=("Favours control", "Favours peer support"), level=95.0, max_rows=None):
    """Cumulative meta-analysis as a forest: the pooled result after each study is added.

    ``frame`` is :func:`analysis.stats.sensitivity.cumulative` output (columns ``study, k, estimate,
    ci_low, ci_high`` and optionally ``i2_q``), one row per step in the order of accumulation.
    Row ``j`` reads "+ study" and shows the pooled estimate of the first ``j`` studies; the last
    row is the full analysis. ``exp`` back-transforms ratio measures onto a log axis.
    ``max_rows`` paginates as in :func:`forest` (a list of figures, one axis for all pages).
    """
    frame = _require(frame, ["study", "k", "estimate", "ci_low", "ci_high"], "cumulative_forest")
    labels = [("" if i == 0 else "+ ") + str(s) for i, s in enumerate(frame["study"])]
    tf = _display_scale(exp)
    rows = _sequence_rows(frame, labels, tf, lambda r: {"k": _num(r["k"], 0), **_i2_cell(r)})
    left = [_Col("label", "Study added", "left")]
    right = [_Col("k", "k"), _Col("i2", "I\u00b2"),
             _Col("ci", f"{effect_label} [{_level_text(level)} CI]")]
    axis = _nice_axis([v for r in rows for v in (r.lo, r.hi)], exp, [r.est for r in rows])
    last = rows[-1]
    label = (f"Cumulative meta-analysis of {len(rows)} studies; final pooled {effect_label} "
             f"{last.cells['ci']}")
    return _pages(_paginate(rows, 0, max_rows), left, right, axis, title, label, favours=favours,
                  effect_label=effect_label, paginated=max_rows is not None)


@_styled
def leave_one_out_plot(frame, res, *, effect_label=None, exp=False, title=None,
                       favours=("Favours control", "Favours peer support"), max_rows=None):
    """Leave-one-out analysis: the pooled result with each study omitted in turn.

    ``frame`` is :func:`analysis.stats.sensitivity.leave_one_out` output (``study, estimate, ci_low,
    ci_high`` and optionally ``i2_q``); ``res`` the full analysis, drawn as a diamond in the last
    row and as a dashed line with its confidence interval shaded behind the rows, so a study whose
    omission moves the estimate outside that band stands out. ``max_rows`` paginates as in
    :func:`forest` (the full analysis on the last page).
    """
    frame = _require(frame, ["study", "estimate", "ci_low", "ci_high"], "leave_one_out_plot")
    effect_label = effect_label or _measure_label(res.measure)
    tf = _display_scale(exp)
    level_text = _level_text(float(res.level))
    rows = _sequence_rows(frame, [f"Omitting {s}" for s in frame["study"]], tf, _i2_cell)
    full = _summary_rows(res, tf, f"All studies ({_model_text(res)}, k = {res.k})", "", False, level_text)
    full[0].cells.update({"i2": f"{_num(res.i2_q, 0)}%" if _finite(res.i2_q) else ""})
    rows += full
    left = [_Col("label", "Study omitted", "left")]
    right = [_Col("i2", "I\u00b2"), _Col("ci", f"{effect_label} [{level_text} CI]")]
    axis = _nice_axis([v for r in rows for v in (r.lo, r.hi)], exp,
                      [r.est for r in rows] + [full[0].lo, full[0].hi])
    label = (f"Leave-one-out analysis of {res.k} studies; pooled {effect_label} with all "
             f"studies {full[0].cells['ci']}")
    return _pages(_paginate(rows, len(full), max_rows), left, right, axis, title, label, favours=favours,
                  effect_label=effect_label, reference=(full[0].est, full[0].lo, full[0].hi),
                  paginated=max_rows is not None)
