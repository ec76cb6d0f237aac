"""The figures' shared style: fixed fonts and colours, reproducible saving, text helpers.

Layout is computed in inches from measured text widths (DejaVu Sans, bundled with matplotlib), so
a figure does not depend on the machine's fonts, and :func:`save` writes byte-identical
PNG/SVG/PDF files for identical input (no dates or software versions in the metadata, fixed SVG
hash salt). Text never relies on colour alone: risk-of-bias circles carry ``+`` (low), ``?``
(some concerns) and ``−`` (high); colours are from the Okabe & Ito (2008) colour-blind-safe
palette.
"""
from __future__ import annotations

import base64
import functools
import html
import io
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from analysis.stats import formatting
from analysis.stats.conventions import ROB_COLUMNS as ROB_DOMAINS
from analysis.stats.formatting import MINUS

FONT = "DejaVu Sans"


FONT_SIZE = 8.0

#: The smallest text of any figure, in points. Shown at its natural size (1 pt = 4/3 CSS px) a
#: figure's text is then at least 10.7 CSS pixels; the book never shrinks a figure below it.
MIN_FONT_SIZE = 8.0

#: CSS pixels per inch: the natural width of an SVG figure in a browser is its width in inches x 96.
CSS_PX_PER_INCH = 96.0


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


_COL_GAP = 0.10        # inches between table columns


_MARGIN = 0.15         # inches around the figure content


_PANEL_WIDTH = 2.2     # inches of the forest panel


_ROB_COL = 0.20        # inches per risk-of-bias column


_MAX_SQUARE = 0.8 * ROW_HEIGHT * 72   # points: the heaviest study fills 80% of a row


_TEXT_PATH = TextToPath()


def _styled(func):
    """Create the figure under the fixed style (fonts are resolved when text is created)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)
    return wrapper


def natural_width_px(fig) -> int:
    """Width in CSS pixels at which a browser shows the figure's SVG at its natural size."""
    return round(fig.get_size_inches()[0] * CSS_PX_PER_INCH)


class ReviewFigure(Figure):
    """A figure of the review.

    In a notebook it shows itself as an SVG image at its natural size with its description as
    alternative text (``_repr_html_``), so that a Learn chapter's figures are as legible and as
    described as a domain chapter's.
    """

    def _repr_html_(self) -> str:
        buffer = io.BytesIO()
        with matplotlib.rc_context(STYLE):
            self.savefig(buffer, format="svg", metadata=dict(_METADATA["svg"]), facecolor="white")
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = html.escape(" ".join((self.get_label() or "Figure").split()), quote=True)
        return (f'<img class="review-figure-image" alt="{alt}" width="{natural_width_px(self)}" '
                f'src="data:image/svg+xml;base64,{data}">')


def _new_figure(width: float, height: float, label: str) -> plt.Figure:
    """A white figure of the given size in inches; closed in pyplot so only the caller shows it.

    ``label`` is a one-sentence description of the figure, written by :func:`save` as the
    file's title/description (alternative text).
    """
    fig = plt.figure(figsize=(width, height), facecolor="white", FigureClass=ReviewFigure)
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


def _finite(x) -> bool:
    return formatting.is_number(x)


def _num(x, digits: int = 2) -> str:
    """Fixed decimals with a typographic minus (never ``-0.00``); empty when not a number."""
    return formatting.text(x, digits, missing="")


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
    """``Heterogeneity: tau2 = ..; I2 = ..%; Q = .., df = .. (p = ..)`` as in RevMan and metafor.

    The I² of a random-effects fit is tau²-based (RevMan since 2025, metafor), with the Q-based
    value of Higgins & Thompson (2002) beside it; a common-effect fit has only the Q-based one.
    """
    if res.k < 2 or not _finite(res.q):
        return "Heterogeneity: not applicable (k = 1)"
    parts = [] if _is_fixed(res) else [f"\u03c4\u00b2 {_tau2_text(res.tau2)}"]
    if not _is_fixed(res) and _finite(getattr(res, "i2_tau2", None)):
        parts.append(f"I\u00b2 = {_num(res.i2_tau2, 0)}%" +
                     (f" (Q-based {_num(res.i2_q, 0)}%)" if _finite(res.i2_q) else ""))
    elif _finite(res.i2_q):
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


def _rob_circles(ax, transform, xs, ys, judgements) -> None:
    judgements = [j if isinstance(j, str) else None for j in judgements]   # missing may be NaN
    colours = [ROB_JUDGEMENTS[j][0] if j else _NOT_ASSESSED[0] for j in judgements]
    ax.scatter(xs, ys, s=(0.78 * ROW_HEIGHT * 72) ** 2, marker="o", c=colours, edgecolors=INK,
               linewidths=0.5, transform=transform, clip_on=False, zorder=3, gid="risk-of-bias")
    for x, y, j in zip(xs, ys, judgements):
        if j:
            ax.text(x, y, ROB_JUDGEMENTS[j][1], transform=transform, ha="center", va="center",
                    fontsize=MIN_FONT_SIZE, weight="bold", color=INK, clip_on=False, zorder=4)


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
            key.text(x + 0.08, y_in, symbol, ha="center", va="center", fontsize=MIN_FONT_SIZE, weight="bold")
        key.text(x + 0.22, y_in, text, ha="left", va="center", fontsize=MIN_FONT_SIZE)
        x += 0.22 + _text_width(text, MIN_FONT_SIZE) + 0.25
    domains = [ROB_DOMAIN_TITLES[k] for k in ROB_DOMAINS[:5]]
    key.text(x_in, y_in - 0.22, "Risk of bias (RoB 2): " + "; ".join(domains[:3]) + ";",
             ha="left", va="center", fontsize=MIN_FONT_SIZE)
    key.text(x_in, y_in - 0.38, "; ".join(domains[3:]) + f"; {overall}.", ha="left", va="center",
             fontsize=MIN_FONT_SIZE)


#: Where a point's label may go, in points from the point (right, above, left, below, diagonals).
_LABEL_OFFSETS = ((5, 3), (5, -10), (-5, 3), (-5, -10), (0, 7), (0, -13), (8, 10), (-8, 10), (8, -16),
                  (-8, -16))


def _place_labels(ax, xs, ys, texts, *, fontsize: float = MIN_FONT_SIZE, marker_pt: float = 6.0,
                  avoid=()) -> list[int]:
    """Label points without any two labels overlapping each other, a point or a box of ``avoid``.

    Labels are placed in the order given (most important first), each at the first of
    ``_LABEL_OFFSETS`` where its box (measured in the fixed font) stays inside the axes and clear
    of the points and of the labels placed so far; a label with no free place is left out.
    ``avoid``: boxes ``(x0, y0, x1, y1)`` in inches from the figure's lower-left corner (e.g. a
    legend); a point whose text is empty is an obstacle only. The axes limits must be final.
    Returns the indices of the labelled points.
    """
    fig = ax.figure
    to_inches = ax.transData + fig.dpi_scale_trans.inverted()
    frame = ax.get_window_extent().transformed(fig.dpi_scale_trans.inverted())
    height = fontsize / 72 * 1.25
    half = marker_pt / 72 / 2
    centres = [tuple(to_inches.transform((x, y))) for x, y in zip(xs, ys)]
    taken = [(cx - half, cy - half, cx + half, cy + half) for cx, cy in centres] + list(avoid)

    def clear(box):
        x0, y0, x1, y1 = box
        if x0 < frame.x0 or x1 > frame.x1 or y0 < frame.y0 or y1 > frame.y1:
            return False
        return not any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken)

    placed = []
    for i, ((cx, cy), text) in enumerate(zip(centres, texts)):
        if not text:
            continue                      # a point without a label is only an obstacle
        width = _text_width(text, fontsize)
        for dx, dy in _LABEL_OFFSETS:
            x0 = cx + dx / 72 - (width if dx < 0 else (width / 2 if dx == 0 else 0.0))
            y0 = cy + dy / 72
            box = (x0, y0, x0 + width, y0 + height)
            if clear(box):
                taken.append(box)
                ax.text(x0, y0, text, transform=fig.dpi_scale_trans, ha="left", va="bottom",
                        fontsize=fontsize, color=INK, gid="point-label")
                placed.append(i)
                break
    return placed
