"""Text from the data in MyST Markdown: escaped, so that it is shown and never interpreted."""
from __future__ import annotations

import math
import re

_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|$~:@%&^=\"'")


def md_escape(text) -> str:
    """Escape text from the data so that MyST/Markdown renders it literally.

    Every ASCII punctuation character that Markdown, MyST roles, HTML or math could interpret is
    backslash-escaped (CommonMark allows escaping any ASCII punctuation); newlines become spaces.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    out = []
    for ch in " ".join(str(text).split()):
        out.append("\\" + ch if ch in _MD_SPECIAL else ch)
    return "".join(out)


def md_code(text) -> str:
    r"""Inline code of any text: a backtick fence longer than any run of backticks inside it.

    Backslash escapes are not processed inside code spans (CommonMark), so text in code is
    fenced, never escaped: ``studies.csv`` reads as written, not as ``studies\.csv``.
    """
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
