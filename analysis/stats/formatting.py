"""Numbers as text, in one place for every layer.

Two styles: ``console`` (ASCII minus, four decimals, metafor's ``<.0001`` for small p-values),
used by the ``summary()`` of result objects, which readers compare with R's print-outs; and
``text`` (the typographic minus U+2212, two decimals, ``< 0.001``), used by the book's pages and
figures. ``plain`` turns a number into a JSON-safe Python value (NaN and infinity become None).
"""
from __future__ import annotations

import math

import numpy as np

MINUS = "\u2212"


def is_number(x) -> bool:
    """True for a finite real number (not None, NaN or infinite)."""
    if x is None or isinstance(x, (str, bool, np.bool_)):
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def plain(x):
    """Plain Python value for JSON: int stays int, bool stays bool, NaN and inf become None."""
    if x is None or isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return x if math.isfinite(x) else None


def _fixed(x, digits: int, minus: str) -> str:
    text = f"{float(x):.{digits}f}"
    if text.startswith("-") and float(text) == 0:   # never "-0.00"
        text = text[1:]
    return text.replace("-", minus)


def text(x, digits: int = 2, *, missing: str = "NA") -> str:
    """A number for the page: fixed decimals, typographic minus; ``missing`` when not a number."""
    return _fixed(x, digits, MINUS) if is_number(x) else missing


def text_p(p, *, missing: str = "NA") -> str:
    """A p-value for the page: three decimals, ``< 0.001`` below that."""
    if not is_number(p):
        return missing
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def console(x, digits: int = 4) -> str:
    """A number for a console summary: fixed decimals, ASCII minus, ``NA`` when missing."""
    return _fixed(x, digits, "-") if is_number(x) else "NA"


def console_p(p) -> str:
    """A p-value for a console summary as metafor prints it: four decimals, ``<.0001`` below."""
    if not is_number(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"
