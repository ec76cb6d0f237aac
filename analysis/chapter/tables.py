"""Every table of the book, rendered one way: a MyST table that Sphinx numbers, styles and scrolls.

A table is a Markdown pipe table, wrapped in a ``{table}`` directive when it has a caption, so
that it is numbered per chapter ("Table 4.2"), has a stable element id (its ``name``) and can be
referenced from the text with ``{numref}``. The renderer also makes the table read:

- numeric columns (every filled cell a number, interval, percentage or p-value) are right-aligned
  (pipe-table alignment; the book's stylesheet keeps their cells on one line);
- no line break inside a number, an interval or a comparison: the spaces in ``0.14 [0.06, 0.21]``,
  ``0.06 to 0.21``, ``< 0.001`` and ``k = 19`` become no-break spaces (U+00A0; the typographic
  minus already binds to its digits in Unicode line breaking);
- a missing value is an empty cell, never ``NA`` (``NA`` with its interval ``[NA, NA]`` is dropped);
- ``sortable=True`` gives the table the class the book's script turns into keyboard-operable
  sort buttons (``chapters/_static/review.js``); wide tables scroll sideways in their own container
  with a visible cue (``chapters/_static/review.css``).

:func:`markdown_table` takes cells that are already Markdown (links, roles, escaped text);
:func:`frame_table` takes a DataFrame of plain text from the data and escapes it, so that nothing
in the data is interpreted as markup.
"""
from __future__ import annotations

import math
import re

import pandas as pd

from analysis.chapter.markup import md_escape

NBSP = "\u00a0"

#: An optional ``NA`` interval after a value: `` [NA, NA]``, `` (NA to NA)``, `` [NA; NA]``.
_NA_INTERVAL = re.compile(r"\s*[\[(]\s*NA\s*(?:,|;|to)\s*NA\s*[\])]")
_NA = re.compile(r"(?<![\w\\])NA(?![\w])")
#: What a numeric cell may contain besides digits: signs, decimal marks, percent, intervals,
#: comparisons, thousands separators and the words of an interval.
_NUMERIC = re.compile(r"^[\s\d.,;:%+\-\u2212<>=\u2264\u2265\[\]()/\u00a0]*(?:to[\s\d.,%+\-\u2212\[\]()\u00a0]*)*$")
_DIGIT = re.compile(r"\d")

# spaces that must not break: inside brackets of numbers, around "to" between numbers, after a
# comparison sign, around "=" in "k = 19"
#: The longest bracketed text kept on one line ("(95% CI −0.14 to 0.49)" is 23 characters).
MAX_KEPT = 28
_IN_BRACKETS = re.compile(r"[\[(][^\[\]()]*\d[^\[\]()]*[\])]")
_TO = re.compile(r"(?<=[\d%]) to (?=[\d\u2212\-+])")
_AFTER_SIGN = re.compile(r"(?<=[<>=\u2264\u2265]) (?=[\d\u2212\-+.])")
_BEFORE_SIGN = re.compile(r"(?<=\w) (?=[<>=\u2264\u2265][ \u00a0]?[\d\u2212\-+.])")
_BEFORE_BRACKET = re.compile(r"(?<=\d%) (?=[\[(])|(?<=\d) (?=[\[(][\d\u2212\-+])")


_SPACES = re.compile(r"[ \t\r\n\f\v]+")


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def clean_missing(text: str) -> str:
    """The cell without ``NA``: an ``NA`` interval is dropped; a cell whose value is ``NA`` is empty.

    Only cells made of numbers are touched (``NA`` after removing the numbers and punctuation is
    all that is left), so a word or a label that contains ``NA`` is kept as written.
    """
    if "NA" not in text:
        return text
    stripped = _NA.sub("", text)
    if re.search(r"[A-Za-z]", stripped.replace("to", "")):
        return text                       # letters besides NA: text from the data, kept as is
    text = _NA_INTERVAL.sub("", text).strip()
    if text.startswith("NA") or not _DIGIT.search(_NA.sub("", text)):
        return ""                         # the value itself is missing: so is what qualifies it
    return _NA.sub("", text).strip()


def keep_together(text: str) -> str:
    """Replace the spaces inside numbers, intervals and comparisons by no-break spaces."""
    # a bracketed number or interval stays whole; a bracketed phrase that merely contains a number
    # ("(smaller than the minimally important difference of 0.2)") wraps like any other text
    text = _IN_BRACKETS.sub(lambda m: m.group(0).replace(" ", NBSP) if len(m.group(0)) <= MAX_KEPT else m.group(0),
                            text)
    text = _TO.sub(f"{NBSP}to{NBSP}", text)
    text = _AFTER_SIGN.sub(NBSP, text)
    text = _BEFORE_SIGN.sub(NBSP, text)
    return _BEFORE_BRACKET.sub(NBSP, text)


def is_numeric(text: str) -> bool:
    """True for a number, interval, percentage or p-value (``0.14 [0.06, 0.21]``, ``< 0.001``, ``19``)."""
    plain = text.replace("\\", "").strip()
    return bool(plain) and bool(_DIGIT.search(plain)) and bool(_NUMERIC.match(plain))


def _cell(value) -> str:
    if _missing(value):
        return ""
    text = _SPACES.sub(" ", str(value)).strip()    # one line; no-break spaces are kept
    return keep_together(clean_missing(text))


def markdown_table(header: list[str], rows: list[list], *, caption: str | None = None,
                   name: str | None = None, sortable: bool = False, align: list[str] | None = None,
                   css_class: str = "") -> str:
    """A table as MyST Markdown: a pipe table, in a ``{table}`` directive when it has a caption.

    Parameters
    ----------
    header : list of str
        Column headings (Markdown).
    rows : list of list
        Cells (Markdown, or numbers); ``None``/NaN and ``NA`` become empty cells.
    caption : str, optional
        Caption (Markdown). A captioned table is numbered ("Table 4.2") and can be referenced.
    name : str, optional
        Label and element id (``{numref}`` target); requires ``caption``.
    sortable : bool
        Readers can sort the table by any column (mouse or keyboard).
    align : list of {"left", "right"}, optional
        Column alignment; by default right for numeric columns, left otherwise.
    css_class : str
        A further class of the table (for its own layout rules in the stylesheet).

    Returns
    -------
    str
        Markdown that ends with a newline.
    """
    if name and not caption:
        raise ValueError(f"table {name!r}: a labelled table needs a caption (Sphinx numbers captioned tables)")
    body = [[_cell(c) for c in row] for row in rows]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"table {name or caption or ''}: row {i + 1} has {len(row)} cells for "
                             f"{len(header)} columns")
    if align is None:
        align = ["right" if any(r[j] for r in body) and all(is_numeric(r[j]) for r in body if r[j]) else "left"
                 for j in range(len(header))]
    rule = "|" + "|".join("---:" if a == "right" else "---" for a in align) + "|"
    lines = ["| " + " | ".join(" ".join(str(h).split()) for h in header) + " |", rule]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    table = "\n".join(lines)
    if not caption:
        return table + "\n"
    options = [f":name: {name}"] if name else []
    options.append(":class: review-table" + (" sortable" if sortable else "") + (f" {css_class}" if css_class else ""))
    # a colon fence: a backtick fence's info string may not contain the backticks of roles
    return ":::{table} " + " ".join(caption.split()) + "\n" + "\n".join(options) + "\n\n" + table + "\n:::\n"


class Table:
    """A rendered table: MyST Markdown for the book (``_repr_markdown_``), HTML for Jupyter.

    The book renders the Markdown (``nb_mime_priority_overrides`` in ``_config.yml`` puts it
    first), so the table is numbered and styled like every other; JupyterLab shows the HTML.
    """

    def __init__(self, markdown: str, html: str, frame: pd.DataFrame | None = None):
        self.markdown = markdown
        self.html = html
        self.frame = frame          # the table's cells as plain values (None for a table of Markdown cells)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.markdown


def frame_table(frame: pd.DataFrame, *, caption: str, name: str | None = None, sortable: bool = False) -> Table:
    """A table of plain text (e.g. from the data): every cell and heading is escaped for Markdown.

    See :func:`markdown_table` for the layout rules; ``name`` is the table's label and id (none:
    the table is numbered but cannot be referenced, e.g. when a Learn chapter shows a chapter's table).
    """
    header = [md_escape(c) for c in frame.columns]
    rows = [[_escaped(v) for v in record] for record in frame.itertuples(index=False, name=None)]
    markdown = markdown_table(header, rows, caption=caption, name=name, sortable=sortable)
    html = frame.style.hide(axis="index").format(lambda v: "" if _missing(v) else clean_missing(str(v)),
                                                 escape="html").set_uuid(name or "table").to_html()
    return Table(markdown, html, frame)


def _escaped(value):
    if _missing(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return md_escape(clean_missing(str(value)))
