"""The PRISMA 2020 flow diagram of study selection."""
from __future__ import annotations

from matplotlib.patches import FancyBboxPatch

from analysis.figures.style import _MARGIN, BLUE, INK, _count, _new_figure, _styled, _text_width

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
