"""Figures of the review: forest, funnel, cumulative, leave-one-out, Baujat, risk of bias, PRISMA.

Every function returns a :class:`matplotlib.figure.Figure` (``forest`` with ``max_rows`` returns a
list of them) that is already closed in pyplot, so nothing is shown twice in a notebook and no
figure leaks. Nothing here computes a pooled result: the figures draw the result objects of
:mod:`analysis.meta`, :mod:`analysis.moderators`, :mod:`analysis.sensitivity` and
:mod:`analysis.bias`. The only statistics computed here are the Baujat coordinates
(:func:`baujat_points`), which are a display transformation of refitted models.

Conventions
-----------
* Positive effects favour peer support, so "Favours peer support" is on the right of the null line.
* ``exp=True`` draws ratio measures (analysed on the log scale) back-transformed on a log axis.
* Text never relies on colour alone: risk-of-bias circles carry ``+`` (low), ``?`` (some concerns)
  and ``−`` (high); colours are from the Okabe & Ito (2008) colour-blind-safe palette.
* Layout is computed in inches from measured text widths (DejaVu Sans, bundled with matplotlib),
  so a figure does not depend on the machine's fonts, and :func:`save` writes byte-identical
  PNG/SVG/PDF files for identical input (no dates or software versions in the metadata, fixed SVG
  hash salt).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import transforms
from matplotlib.collections import LineCollection
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Polygon, Rectangle
from matplotlib.textpath import TextToPath
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator
from scipy.special import ndtri

__all__ = [
    "forest", "funnel", "cumulative_forest", "leave_one_out_plot", "baujat", "baujat_points",
    "rob_traffic_light", "rob_summary", "rob_proportions", "prisma", "save",
]

FONT = "DejaVu Sans"
FONT_SIZE = 8.0
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": FONT_SIZE,
    "axes.unicode_minus": True,
    "text.usetex": False,
    "text.parse_math": False,     # text comes from the data: a "$" is a dollar sign, never TeX
    "svg.fonttype": "path",
    "svg.hashsalt": "peer-support-review",
    "pdf.fonttype": 42,
    "axes.linewidth": 0.8,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "xtick.major.size": 3.0,
    "savefig.facecolor": "white",
}
#: Metadata written by :func:`save`: no creation date, no software version, per format.
_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}

# Okabe & Ito (2008) colour-blind-safe palette.
BLUE, VERMILLION, GREEN, YELLOW, GREY = "#0072B2", "#D55E00", "#009E73", "#F0E442", "#7F7F7F"
INK = "#1A1A1A"

MINUS = "\u2212"
ROB_DOMAINS = ("d1", "d2", "d3", "d4", "d5", "overall")
ROB_DOMAIN_TITLES = {
    "d1": "D1 Randomisation process",
    "d2": "D2 Deviations from intended interventions",
    "d3": "D3 Missing outcome data",
    "d4": "D4 Measurement of the outcome",
    "d5": "D5 Selection of the reported result",
    "overall": "Overall risk of bias",
}
#: RoB 2 judgement -> (colour, symbol, legend text); RevMan's symbols, so that print in grey works.
ROB_JUDGEMENTS = {
    "low": (GREEN, "+", "Low risk"),
    "some-concerns": (YELLOW, "?", "Some concerns"),
    "high": (VERMILLION, MINUS, "High risk"),
}
_NOT_ASSESSED = ("#D9D9D9", "", "Not assessed")

ROW_HEIGHT = 0.21      # inches per table row of a forest plot: readable at any k
_COL_GAP = 0.14        # inches between table columns
_MARGIN = 0.15         # inches around the figure content
_PANEL_WIDTH = 2.7     # inches of the forest panel
_ROB_COL = 0.23        # inches per risk-of-bias column
_MAX_SQUARE = 0.8 * ROW_HEIGHT * 72   # points: the heaviest study fills 80% of a row

_TEXT_PATH = TextToPath()


def _styled(func):
    """Create the figure under the fixed style (fonts are resolved when text is created)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)
    return wrapper


def _new_figure(width: float, height: float, label: str) -> plt.Figure:
    """A white figure of the given size in inches; closed in pyplot so only the caller shows it.

    ``label`` is a one-sentence description of the figure, written by :func:`save` as the
    file's title/description (alternative text).
    """
    fig = plt.figure(figsize=(width, height), facecolor="white")
    plt.close(fig)
    fig.set_label(label)
    return fig


def save(fig, path, *, dpi: float = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix: png, svg or pdf) reproducibly, then close it.

    Identical figures give byte-identical files: the style fixes the font (DejaVu Sans, text drawn
    as paths in SVG) and the SVG hash salt, and the metadata carry no date and no software version.
    The figure's label (a one-sentence description) is stored as title/description metadata.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _METADATA:
        raise ValueError(f"save: cannot write {path.name!r}: the suffix must be .png, .svg or .pdf")
    metadata = dict(_METADATA[fmt])
    description = fig.get_label()
    if description:
        metadata.update({"png": {"Description": description}, "svg": {"Description": description},
                         "pdf": {"Subject": description}}[fmt])
    with matplotlib.rc_context(STYLE):
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------
# formatting

def _finite(x) -> bool:
    return x is not None and np.isfinite(float(x))


def _num(x, digits: int = 2) -> str:
    """Fixed decimals with a typographic minus; never prints ``-0.00``."""
    if not _finite(x):
        return ""
    text = f"{float(x):.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", MINUS)


def _ci_text(est, lo, hi, digits: int = 2) -> str:
    if not _finite(lo) or not _finite(hi):
        return _num(est, digits)
    return f"{_num(est, digits)} [{_num(lo, digits)}, {_num(hi, digits)}]"


def _p_text(p) -> str:
    if not _finite(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _tau2_text(tau2) -> str:
    """``= 0.05``; four decimals below 0.01, so that a small non-zero tau2 does not read as 0."""
    if tau2 == 0 or tau2 >= 0.01:
        return f"= {_num(tau2, 2)}"
    return f"= {_num(tau2, 4)}" if tau2 >= 0.0001 else "< 0.0001"


def _count(n) -> str:
    return f"{int(n):,}"


def _arm_text(x) -> str:
    """Arm-level numbers as extracted: integers without decimals, others to two decimals."""
    if x is None or pd.isna(x):
        return ""
    x = float(x)
    if x == int(x):
        return _num(x, 0)
    return _num(x, 2).rstrip("0").rstrip(".")


def _text_width(text: str, size: float = FONT_SIZE, weight: str = "normal") -> float:
    """Width in inches of a single line drawn in the fixed font (no renderer needed)."""
    if not text:
        return 0.0
    prop = FontProperties(family=FONT, size=size, weight=weight)
    width, _, _ = _TEXT_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def _is_fixed(res) -> bool:
    return res.method.upper() in {"FE", "MH", "PETO"}


def _model_text(res) -> str:
    method = res.method.upper()
    if method == "FE":
        return "common-effect model"
    if method in {"MH", "PETO"}:
        return "common-effect model, " + ("Mantel-Haenszel" if method == "MH" else "Peto")
    hk = str(res.ci_method).startswith("hk")
    return f"random-effects model, {method}" + (", Hartung-Knapp" if hk else "")


def _heterogeneity_text(res) -> str:
    """``Heterogeneity: tau2 = ..; I2 = ..%; Q = .., df = .. (p = ..)`` as in RevMan and metafor."""
    if res.k < 2 or not _finite(res.q):
        return "Heterogeneity: not applicable (k = 1)"
    parts = [] if _is_fixed(res) else [f"\u03c4\u00b2 {_tau2_text(res.tau2)}"]
    if _finite(res.i2_q):
        parts.append(f"I\u00b2 = {_num(res.i2_q, 0)}%")
    parts.append(f"Q = {_num(res.q)}, df = {int(res.q_df)} ({_p_text(res.q_p)})")
    return "Heterogeneity: " + "; ".join(parts)


def _overall_test_text(res) -> str:
    name = f"t({res.df})" if _finite(res.df) else "z"
    return f"Test for overall effect: {name} = {_num(res.statistic)} ({_p_text(res.p)})"


def _subgroup_test_text(sg) -> str:
    """Test for subgroup differences: chi2 (Q, df) or, for a common tau2 with Hartung-Knapp, F."""
    if not _finite(sg.q_between):
        return "Test for subgroup differences: not applicable"
    if sg.test == "F":
        return (f"Test for subgroup differences: F({int(sg.df_between)}, {int(sg.df_between2)}) = "
                f"{_num(sg.q_between)} ({_p_text(sg.p_between)})")
    return (f"Test for subgroup differences: Q = {_num(sg.q_between)}, df = {int(sg.df_between)} "
            f"({_p_text(sg.p_between)})")


def _level_text(level: float) -> str:
    return f"{level:g}%"


def _measure_label(measure) -> str:
    return {"SMD": "Hedges' g", "MD": "Mean difference", "RR": "Log risk ratio",
            "OR": "Log odds ratio", "RD": "Risk difference"}.get(str(measure).upper(), "Effect size")


# --------------------------------------------------------------------------------------------
# risk of bias input

def _judgement(value, where: str) -> str | None:
    """Normalise one RoB 2 judgement; ``None`` = not assessed (empty cell)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip().lower().replace("_", "-").replace(" ", "-")
    if text == "":
        return None
    if text not in ROB_JUDGEMENTS:
        raise ValueError(f"risk of bias: {where}: unknown judgement {value!r}; expected one of "
                         f"{', '.join(ROB_JUDGEMENTS)} (or empty for not assessed)")
    return text


def _rob_frame(rob) -> pd.DataFrame:
    """Validated copy of a RoB 2 frame (columns study, d1..d5, overall; values normalised)."""
    frame = pd.DataFrame(rob)
    missing = [c for c in ("study", *ROB_DOMAINS) if c not in frame.columns]
    if missing:
        raise ValueError(f"risk of bias: missing column(s) {', '.join(missing)}; "
                         f"expected study, d1, d2, d3, d4, d5, overall")
    if frame.empty:
        raise ValueError("risk of bias: the table has no rows")
    out = pd.DataFrame({"study": [str(s) for s in frame["study"]]})
    for col in ROB_DOMAINS:
        out[col] = [_judgement(v, f"row {i + 1} (study {s!r}), column {col!r}")
                    for i, (s, v) in enumerate(zip(out["study"], frame[col]))]
    return out


def _align(frame: pd.DataFrame, labels: list[str], what: str, positional: bool = True) -> list:
    """Rows of ``frame`` (as dicts) in the order of ``labels``; ``None`` where a study has none.

    A frame with a ``study`` column is matched by label (or taken in order when its study column
    equals the labels); a frame without one must have one row per study, in the analysis order.
    """
    records = frame.to_dict("records")
    if "study" in frame.columns:
        studies = [str(s) for s in frame["study"]]
        if studies == list(labels):
            return records
        if len(set(studies)) != len(studies):
            duplicated = sorted({s for s in studies if studies.count(s) > 1})
            raise ValueError(f"{what}: study label(s) {', '.join(map(repr, duplicated))} appear more "
                             "than once, so rows cannot be matched to the analysis")
        by_label = dict(zip(studies, records))
        if not set(by_label) & set(labels):
            raise ValueError(f"{what}: no study label matches the analysis (e.g. {studies[0]!r} vs "
                             f"{labels[0]!r})")
        return [by_label.get(label) for label in labels]
    if not positional or len(records) != len(labels):
        raise ValueError(f"{what}: {len(records)} row(s) for {len(labels)} studies; add a 'study' "
                         "column to match rows by study label")
    return records


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


# --------------------------------------------------------------------------------------------
# the forest table: rows + columns -> figure (shared by forest, cumulative and leave-one-out)

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
    free = max([_text_width(r.label, 7.5) for r in rows if r.kind == "text"]
               + [_text_width(r.label) for r in rows if r.kind == "pi"]
               + [_text_width(r.label, weight="bold") for r in rows if r.kind in ("group", "summary")],
               default=0.0)
    block = sum(widths) + _COL_GAP * (len(widths) - 1)
    if free > block:
        widths[0] += free - block
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
            put(left_x[0], y, row.label, fontsize=7.5, color="#333333")
            continue
        if row.kind == "group":
            put(left_x[0], y, row.label, weight="bold")
            continue
        for col, x0, w in zip(left + right, left_x + right_x, widths + right_widths):
            text = row.label if col.key == "label" else row.cells.get(col.key, "")
            if text:
                put(column_anchor(x0, w, col.align), y, text, col.align, weight=weight)
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
            below, fig=ax.figure, x=-0.05, units="inches"), ha="right", va="top", fontsize=7.5)
        ax.text(axis.null, 0, f"{right_text} \u2192", transform=transforms.offset_copy(
            below, fig=ax.figure, x=0.05, units="inches"), ha="left", va="top", fontsize=7.5)
    if effect_label:
        offset = -0.50 if favours else -0.30
        ax.text(0.5, 0, effect_label, transform=transforms.offset_copy(
            ax.transAxes, fig=ax.figure, y=offset, units="inches"), ha="center", va="top")


def _rob_circles(ax, transform, xs, ys, judgements) -> None:
    judgements = [j if isinstance(j, str) else None for j in judgements]   # missing may be NaN
    colours = [ROB_JUDGEMENTS[j][0] if j else _NOT_ASSESSED[0] for j in judgements]
    ax.scatter(xs, ys, s=(0.78 * ROW_HEIGHT * 72) ** 2, marker="o", c=colours, edgecolors=INK,
               linewidths=0.5, transform=transform, clip_on=False, zorder=3, gid="risk-of-bias")
    for x, y, j in zip(xs, ys, judgements):
        if j:
            ax.text(x, y, ROB_JUDGEMENTS[j][1], transform=transform, ha="center", va="center",
                    fontsize=7.5, weight="bold", color=INK, clip_on=False, zorder=4)


def _rob_key(fig, x_in: float, y_in: float, overall: str = "O Overall") -> None:
    """Legend of judgements (circle + symbol + words) and domain names, at (x, y) inches."""
    w, h = fig.get_size_inches()
    key = fig.add_axes((0, 0, 1, 1), facecolor="none")
    key.set_axis_off()
    key.set_xlim(0, w)
    key.set_ylim(0, h)
    x = x_in
    entries = [*ROB_JUDGEMENTS.values(), _NOT_ASSESSED]
    for colour, symbol, text in entries:
        key.scatter([x + 0.08], [y_in], s=90, c=[colour], edgecolors=INK, linewidths=0.5)
        if symbol:
            key.text(x + 0.08, y_in, symbol, ha="center", va="center", fontsize=7.5, weight="bold")
        key.text(x + 0.22, y_in, text, ha="left", va="center", fontsize=7.5)
        x += 0.22 + _text_width(text, 7.5) + 0.25
    domains = [ROB_DOMAIN_TITLES[k] for k in ROB_DOMAINS[:5]]
    key.text(x_in, y_in - 0.22, "Risk of bias (RoB 2): " + "; ".join(domains[:3]) + ";",
             ha="left", va="center", fontsize=7)
    key.text(x_in, y_in - 0.38, "; ".join(domains[3:]) + f"; {overall}.", ha="left", va="center",
             fontsize=7)


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


# --------------------------------------------------------------------------------------------
# forest plot

_SORTS = {
    None: None,
    "estimate": lambda res, i: (res.yi[i], i),
    "weight": lambda res, i: (-res.weights[i], i),
    "label": lambda res, i: (str(res.labels[i]).lower(), i),
}


def _study_rows(res, order, tf, weights, arm, arm_cols, rob) -> list[_Row]:
    crit = ndtri(0.5 + float(res.level) / 200.0)
    rows = []
    wmax = max([w for w in weights if _finite(w)], default=1.0) or 1.0
    for i in order:
        yi, sei = float(res.yi[i]), math.sqrt(float(res.vi[i]))
        lo, hi = yi - crit * sei, yi + crit * sei
        cells = {"weight": f"{_num(weights[i], 1)}%" if _finite(weights[i]) else "",
                 "ci": _ci_text(tf(yi), tf(lo), tf(hi))}
        record = arm[i] if arm is not None else None
        for key, column in arm_cols:
            cells[key] = _arm_text(record.get(column)) if record else ""
        rows.append(_Row("study", str(res.labels[i]), cells, tf(yi), tf(lo), tf(hi),
                         size=_MAX_SQUARE * math.sqrt(max(weights[i], 0.0) / wmax) if _finite(weights[i]) else 0.0,
                         rob=rob[i] if rob is not None else None))
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
           max_rows=None, sort=None, xlim=None, arm_labels=("Peer support", "Control")):
    """Forest plot of a meta-analysis (or of a subgroup analysis), laid out like RevMan/metafor.

    One row per study: label, optional arm-level data, a square (area proportional to the
    weight) with its confidence interval (an arrow where the interval leaves the axis), the
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
        Headers of the arm-level columns.

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

    rows: list[_Row] = []
    for name, res in analyses:
        labels = [str(s) for s in res.labels]
        positional = not is_subgroup
        arm = _align(arm_frame, labels, "arm_data", positional) if arm_frame is not None else None
        rob_rows = _align(rob_frame, labels, "rob", positional) if rob_frame is not None else None
        weights = [float(w) for w in res.weights]
        if overall_w is not None and all(s in overall_w for s in labels):
            weights = [overall_w[s] for s in labels]
        order = list(range(res.k)) if sort is None else sorted(range(res.k), key=lambda i: _SORTS[sort](res, i))
        if name is not None:
            rows.append(_Row("group", str(name)))
        rows += _study_rows(res, order, tf, weights, arm, arm_cols_by_arm, rob_rows)
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
    description = (f"Forest plot of {overall.k} studies; pooled {effect_label} "
                   f"{_ci_text(tf(overall.estimate), tf(overall.ci_low), tf(overall.ci_high))}")
    pages = _paginate(rows, len(rows) - body, max_rows)
    figures = []
    for number, page in enumerate(pages, start=1):
        page_title = title
        if len(pages) > 1:
            page_title = f"{title or 'Forest plot'} (page {number} of {len(pages)})"
        figures.append(_draw_table(page, left, right, axis, favours=favours, effect_label=effect_label,
                                   title=page_title, rob=rob_frame is not None, label=description))
    return figures if max_rows is not None else figures[0]


# --------------------------------------------------------------------------------------------
# cumulative and leave-one-out forests

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
                      favours=("Favours control", "Favours peer support"), level=95.0):
    """Cumulative meta-analysis as a forest: the pooled result after each study is added.

    ``frame`` is :func:`analysis.sensitivity.cumulative` output (columns ``study, k, estimate,
    ci_low, ci_high`` and optionally ``i2_q``), one row per step in the order of accumulation.
    Row ``j`` reads "+ study" and shows the pooled estimate of the first ``j`` studies; the last
    row is the full analysis. ``exp`` back-transforms ratio measures onto a log axis.
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
    return _draw_table(rows, left, right, axis, favours=favours, effect_label=effect_label, title=title,
                       label=f"Cumulative meta-analysis of {len(rows)} studies; final pooled {effect_label} "
                             f"{last.cells['ci']}")


@_styled
def leave_one_out_plot(frame, res, *, effect_label=None, exp=False, title=None,
                       favours=("Favours control", "Favours peer support")):
    """Leave-one-out analysis: the pooled result with each study omitted in turn.

    ``frame`` is :func:`analysis.sensitivity.leave_one_out` output (``study, estimate, ci_low,
    ci_high`` and optionally ``i2_q``); ``res`` the full analysis, drawn as a diamond in the last
    row and as a dashed line with its confidence interval shaded behind the rows, so a study whose
    omission moves the estimate outside that band stands out.
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
    return _draw_table(rows, left, right, axis, favours=favours, effect_label=effect_label, title=title,
                       reference=(full[0].est, full[0].lo, full[0].hi),
                       label=f"Leave-one-out analysis of {res.k} studies; pooled {effect_label} with all "
                             f"studies {full[0].cells['ci']}")


# --------------------------------------------------------------------------------------------
# funnel and Baujat plots

def _significance_labels(levels) -> list[str]:
    """Legend text of the contour regions, from the innermost (not significant) outwards."""
    alphas = [round(1 - c, 10) for c in levels]
    labels = [f"p > {alphas[0]:g}"]
    labels += [f"{alphas[i + 1]:g} < p \u2264 {alphas[i]:g}" for i in range(len(alphas) - 1)]
    labels.append(f"p \u2264 {alphas[-1]:g}")
    return labels


def _filled_points(trimfill):
    """Imputed (yi, vi) of a :class:`analysis.bias.TrimFillResult` (``filled`` fit, ``imputed`` mask)."""
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
              fontsize=7.5, title="Two-sided p", title_fontsize=7.5, alignment="left")
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
    and would only pile up their labels.
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
    shown = np.argsort(-score, kind="stable")[:max_labels]
    for i in sorted(shown):
        if ok[i] and score[i] >= 0.1:
            ax.annotate(points["study"][i], (x[i], y[i]), xytext=(4, 3), textcoords="offset points",
                        fontsize=7, color=INK)
    if not ok.any():
        ax.text(0.5, 0.5, "Influence not defined for k = 1", transform=ax.transAxes, ha="center",
                va="center", color=GREY)
    if title:
        ax.set_title(title, loc="left", fontsize=10, weight="bold")
    return fig


# --------------------------------------------------------------------------------------------
# risk of bias

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
                ax.text(start + value / 2, yy, f"{value:.0f}%", ha="center", va="center", fontsize=7)
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
              frameon=False, fontsize=7.5, handlelength=1.2, columnspacing=1.2)
    fig.text(0.02, 0.96, title or "Risk of bias (RoB 2)", ha="left", va="top", fontsize=10, weight="bold")
    return fig


# --------------------------------------------------------------------------------------------
# PRISMA flow diagram

_FLOW_KEYS = ("database.hits", "additional.records", "database.hits.duplicates.removed",
              "records.screened", "full.text.assessed.for.eligibility", "full.text.excluded.reasons",
              "included")


def _flow_counts(flow: dict) -> dict:
    """Validated counts of a Metapsy ``search_flow.json`` and the two derived numbers."""
    missing = [k for k in _FLOW_KEYS if k not in flow]
    if missing:
        raise ValueError(f"prisma: missing key(s) {', '.join(missing)}")

    def count(value, name):
        if isinstance(value, bool) or not float(value).is_integer() or value < 0:
            raise ValueError(f"prisma: {name} must be a non-negative whole number, got {value!r}")
        return int(value)

    c = {k: count(flow[k], k) for k in _FLOW_KEYS if k != "full.text.excluded.reasons"}
    reasons = {str(k): count(v, f"reason {k!r}") for k, v in flow["full.text.excluded.reasons"].items()}
    identified = c["database.hits"] + c["additional.records"]
    excluded = c["full.text.assessed.for.eligibility"] - c["included"]
    checks = [
        (c["database.hits.duplicates.removed"] <= identified,
         "records after de-duplication exceed the records identified"),
        (c["full.text.assessed.for.eligibility"] <= c["records.screened"],
         "more full texts assessed than records screened"),
        (sum(reasons.values()) == excluded,
         f"full-text exclusion reasons sum to {sum(reasons.values())} but assessed - included = {excluded}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(f"prisma: inconsistent counts: {message}")
    c.update(identified=identified, duplicates=identified - c["database.hits.duplicates.removed"],
             screen_excluded=c["records.screened"] - c["full.text.assessed.for.eligibility"],
             excluded=excluded, reasons=reasons)
    return c


@_styled
def prisma(flow, *, title=None):
    """PRISMA 2020 flow diagram (Page et al. 2021) from Metapsy's ``search_flow.json`` counts.

    Keys: ``database.hits``, ``additional.records``, ``database.hits.duplicates.removed`` (records
    left after removing duplicates from all sources), ``records.screened``,
    ``full.text.assessed.for.eligibility``, ``full.text.excluded.reasons`` (reason -> n) and
    ``included``. Two counts are derived: duplicates removed = database hits + additional records
    - records after de-duplication, and records excluded at screening = screened - full texts
    assessed. Reasons are listed by decreasing n. Inconsistent counts raise ``ValueError``.
    """
    c = _flow_counts(flow)
    line = 0.175
    reasons = sorted(c["reasons"].items(), key=lambda kv: -kv[1])
    boxes = [  # (main box lines, side box lines) per row
        ([("Records identified", True), (f"Databases (n = {_count(c['database.hits'])})", False),
          (f"Other sources (n = {_count(c['additional.records'])})", False)],
         [("Records removed before screening", True),
          (f"Duplicate records (n = {_count(c['duplicates'])})", False)]),
        ([("Records screened", True), (f"(n = {_count(c['records.screened'])})", False)],
         [("Records excluded", True), (f"(n = {_count(c['screen_excluded'])})", False)]),
        ([("Full-text reports assessed", True), ("for eligibility", True),
          (f"(n = {_count(c['full.text.assessed.for.eligibility'])})", False)],
         [(f"Full-text reports excluded (n = {_count(c['excluded'])})", True)]
         + [(f"{r[:1].upper() + r[1:]} (n = {_count(n)})", False) for r, n in reasons]),
        ([("Studies included in the review", True), (f"(n = {_count(c['included'])})", False)], None),
    ]
    def box_height(lines):
        return len(lines) * line + 0.22

    stages = [("Identification", [0]), ("Screening", [1, 2]), ("Included", [3])]
    heights = [max(box_height(m), box_height(s or [])) for m, s in boxes]
    heights[0] = max(heights[0], _text_width("Identification", weight="bold") + 0.15)
    heights[3] = max(heights[3], _text_width("Included", weight="bold") + 0.15)
    gap = 0.32
    width = 8.0
    top = _MARGIN + (0.4 if title else 0.0)
    height = top + sum(heights) + gap * (len(boxes) - 1) + _MARGIN
    fig = _new_figure(width, height, f"PRISMA 2020 flow diagram: {_count(c['identified'])} records "
                      f"identified, {_count(c['records.screened'])} screened, "
                      f"{_count(c['full.text.assessed.for.eligibility'])} full texts assessed, "
                      f"{_count(c['included'])} studies included")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    main_x, main_w, side_x, side_w = 0.75, 3.0, 4.35, 3.5
    arrow = {"arrowstyle": "-|>", "color": INK, "lw": 0.8, "shrinkA": 0, "shrinkB": 0}
    row_top, main_boxes = [], []
    y = height - top
    for (main, side), h in zip(boxes, heights):
        centre = y - h / 2
        main_boxes.append((centre - box_height(main) / 2, centre + box_height(main) / 2))
        _flow_box(ax, main_x, main_boxes[-1][0], main_w, box_height(main), main, line)
        if side:
            _flow_box(ax, side_x, centre - box_height(side) / 2, side_w, box_height(side), side, line,
                      align="left" if len(side) > 2 else "center")
            ax.annotate("", xy=(side_x, centre), xytext=(main_x + main_w, centre), arrowprops=arrow)
        row_top.append(y)
        y -= h + gap
    for (low, _), (_, high) in zip(main_boxes, main_boxes[1:]):
        ax.annotate("", xy=(main_x + main_w / 2, high), xytext=(main_x + main_w / 2, low),
                    arrowprops=arrow)
    for name, idx in stages:
        upper, lower = row_top[idx[0]], row_top[idx[-1]] - heights[idx[-1]]
        ax.add_patch(FancyBboxPatch((_MARGIN, lower), 0.32, upper - lower,
                                    boxstyle="round,pad=0,rounding_size=0.06", facecolor="#CFE3F3",
                                    edgecolor=BLUE, lw=0.6))
        ax.text(_MARGIN + 0.16, (upper + lower) / 2, name, rotation=90, ha="center", va="center",
                weight="bold", fontsize=8)
    if title:
        ax.text(_MARGIN, height - _MARGIN, title, ha="left", va="top", fontsize=10, weight="bold")
    return fig


def _flow_box(ax, x, y, w, h, lines, line_height, align="center") -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.05",
                                facecolor="white", edgecolor=INK, lw=0.8))
    first = y + h / 2 + (len(lines) - 1) * line_height / 2
    for i, (text, bold) in enumerate(lines):
        tx = x + w / 2 if align == "center" else x + 0.12 + (0 if bold else 0.1)
        ax.text(tx, first - i * line_height, text, ha=align if align == "center" else "left",
                va="center", weight="bold" if bold else "normal", fontsize=8)


# ---------------------------------------------------------------------------------------------
# living-update and evidence-map figures


@_styled
def sequential(result) -> plt.Figure:
    """Trial sequential monitoring: cumulative z by year against the two-sided Lan-DeMets
    O'Brien-Fleming boundaries (x: information fraction of the required information size)."""
    frac = np.asarray(result.information_fraction, dtype=float)
    z = np.asarray(result.z, dtype=float)
    bounds = np.asarray([b if b is not None and np.isfinite(b) else np.nan for b in result.boundary], dtype=float)
    fig = _new_figure(6.0, 3.4, "Trial sequential monitoring")
    ax = fig.add_axes([0.1, 0.16, 0.86, 0.74])
    x_max = max(1.05, float(np.nanmax(frac)) * 1.05)
    finite = np.isfinite(bounds)
    ax.plot(frac[finite], bounds[finite], "-", color="#B2182B", lw=1.2, marker="_", ms=8,
            label="monitoring boundary (Lan-DeMets O'Brien-Fleming)")
    ax.plot(frac[finite], -bounds[finite], "-", color="#B2182B", lw=1.2, marker="_", ms=8)
    crit = float(ndtri(1 - result.alpha / 2))
    ax.axhline(crit, color="#777777", lw=0.8, ls="--", label=f"conventional \u00b1{crit:.2f}")
    ax.axhline(-crit, color="#777777", lw=0.8, ls="--")
    ax.axhline(0, color=INK, lw=0.6)
    ax.axvline(1.0, color="#2166AC", lw=0.8, ls=":", label="required information size")
    ax.plot(frac, z, "o-", color=INK, ms=3.5, lw=1.0, label="cumulative z")
    for f, zz, year in zip(frac, z, result.years):
        ax.annotate(str(year), (f, zz), textcoords="offset points", xytext=(3, 4), fontsize=6.5)
    ax.set_xlim(0, x_max)
    top = max(6.0, float(np.nanmax(np.abs(z))) * 1.15)
    ax.set_ylim(-top, top)
    ax.set_xlabel(f"Information fraction (participants / {result.ris:.0f})")
    ax.set_ylabel("Cumulative z (positive favours peer support)")
    ax.legend(loc="upper left", fontsize=6.5, frameon=False)
    return fig


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
