"""Estimates published by earlier reviews, oriented as this review reports effects.

Earlier reviews print their pooled results with their own sign conventions: a negative SMD is a
benefit for a symptom scale in most of them, and for every outcome in some (Lloyd-Evans et al.
2014). ``published_estimates.csv`` records, per printed estimate, which side of no effect favours
peer support (``favours``: higher, lower, unclear), how that is known (``favours_basis``) and the
evidence (``favours_source``). :func:`oriented_estimates` turns every estimate so that a
**positive value (a ratio above 1) favours peer support**, as everywhere in this review, and keeps
the printed value and its direction beside it.

The function's name and its columns are a contract (docs/DESIGN.md): other chapters build on them.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.stats.conventions import RATIO_MEASURES
from analysis.stats.formatting import text as fmt

#: Printed measure names -> the measure as this review names it.
MEASURES = {"SMD": "SMD", "Hedges' g": "SMD (Hedges' g)", "MD": "MD", "RR": "RR", "OR": "OR", "RD": "RD"}

#: Columns of :func:`oriented_estimates`, in order.
COLUMNS = ("estimate_id", "review_id", "review", "reported_in", "reported_in_label", "outcome", "domain", "timepoint",
           "subgroup", "k", "n", "measure", "measure_printed", "scale", "estimate", "ci_low", "ci_high",
           "printed_estimate", "printed_ci_low", "printed_ci_high", "printed", "favours", "favours_basis",
           "favours_source", "oriented", "flipped", "amstar2", "i2", "inconsistency", "inconsistency_note")


def _number(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _flag(value) -> bool:
    return False if value is None or (not isinstance(value, str) and pd.isna(value)) else bool(value)


def _printed(estimate, low, high) -> str:
    inner = f" ({fmt(low)} to {fmt(high)})" if low is not None and high is not None else ""
    return f"{fmt(estimate)}{inner}"


def oriented_estimates(ds, domain_id: str | None = None) -> pd.DataFrame:
    """Every published estimate that has a number, oriented so that positive favours peer support.

    One row per estimate of ``published_estimates.csv`` with a printed ``estimate`` (of the domain
    ``domain_id``, when given), with the columns of :data:`COLUMNS`:

    - ``estimate``, ``ci_low``, ``ci_high``: oriented. A difference (SMD, MD) whose printed
      ``favours`` is ``lower`` is negated and its limits swapped; a ratio (RR, OR) is inverted
      (1/RR: the risk with control relative to peer support). Missing (NaN) when ``favours`` is
      ``unclear``: such an estimate is shown only as printed.
    - ``printed_estimate``, ``printed_ci_low``, ``printed_ci_high``, ``printed`` (text) and
      ``favours`` (``higher``/``lower``/``unclear``): the value as printed and its direction.
    - ``oriented`` (False when the direction is unclear), ``flipped`` (True when turned).
    - ``review`` and ``reported_in_label``: review names from ``reviews.csv``; ``amstar2``: the
      rating of the review whose analysis it is; ``measure``: the measure as this review names it
      (``measure_printed`` as printed); ``scale``: ``difference`` or ``ratio``.
    """
    pub = ds.published
    if pub is None or pub.empty or "estimate" not in pub.columns:
        return pd.DataFrame(columns=list(COLUMNS))
    if domain_id is not None:
        pub = pub[pub["domain"] == domain_id]
    reviews = ds.reviews.set_index("review_id") if not ds.reviews.empty else pd.DataFrame()
    label = reviews["label"].to_dict() if "label" in reviews else {}
    amstar = reviews["amstar2"].to_dict() if "amstar2" in reviews else {}
    records = []
    for _, r in pub.iterrows():
        est = _number(r.get("estimate"))
        if est is None:
            continue
        low, high = _number(r.get("ci_low")), _number(r.get("ci_high"))
        printed_measure = str(r.get("measure"))
        measure = MEASURES.get(printed_measure, printed_measure)
        ratio = measure in RATIO_MEASURES
        favours = r.get("favours") if isinstance(r.get("favours"), str) else "unclear"
        oriented = favours in ("higher", "lower")
        flipped = favours == "lower"
        if not oriented:
            o_est = o_low = o_high = None
        elif not flipped:
            o_est, o_low, o_high = est, low, high
        elif ratio:
            o_est = 1 / est if est else None
            o_low = 1 / high if high else None
            o_high = 1 / low if low else None
        else:
            o_est = -est
            o_low = -high if high is not None else None
            o_high = -low if low is not None else None
        rating = amstar.get(r["review_id"])
        records.append({
            "estimate_id": r["estimate_id"], "review_id": r["review_id"],
            "review": label.get(r["review_id"], r["review_id"]), "reported_in": r["reported_in"],
            "reported_in_label": label.get(r["reported_in"], r["reported_in"]), "outcome": r["outcome"],
            "domain": r.get("domain") if isinstance(r.get("domain"), str) else None, "timepoint": r["timepoint"],
            "subgroup": r.get("subgroup") if isinstance(r.get("subgroup"), str) else None,
            "k": None if pd.isna(r.get("k")) else int(r["k"]), "n": None if pd.isna(r.get("n")) else int(r["n"]),
            "measure": measure, "measure_printed": printed_measure, "scale": "ratio" if ratio else "difference",
            "estimate": o_est, "ci_low": o_low, "ci_high": o_high,
            "printed_estimate": est, "printed_ci_low": low, "printed_ci_high": high,
            "printed": _printed(est, low, high), "favours": favours,
            "favours_basis": r.get("favours_basis") if isinstance(r.get("favours_basis"), str) else None,
            "favours_source": r.get("favours_source") if isinstance(r.get("favours_source"), str) else None,
            "oriented": oriented, "flipped": flipped,
            "amstar2": rating if isinstance(rating, str) and rating else None,
            "i2": _number(r.get("i2")), "inconsistency": _flag(r.get("inconsistency")),
            "inconsistency_note": r.get("inconsistency_note") if isinstance(r.get("inconsistency_note"), str) else None,
        })
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def without_numbers(ds, domain_id: str | None = None) -> pd.DataFrame:
    """Published results of the domain reported without a pooled number (e.g. "nonsignificant")."""
    pub = ds.published
    if pub is None or pub.empty or "estimate" not in pub.columns:
        return pub.iloc[0:0] if pub is not None else pd.DataFrame()
    if domain_id is not None:
        pub = pub[pub["domain"] == domain_id]
    return pub[pub["estimate"].isna()].reset_index(drop=True)


#: How the direction of a printed estimate is known, in a word or two.
BASIS_TEXT = {"stated": "stated by the review", "reported-direction": "described with the result",
              "review-convention": "the review's convention", "scale": "scale direction"}


def direction_text(row) -> str:
    """How a printed estimate was read, briefly: "lower = benefit (described with the result)"."""
    if row["favours"] == "unclear":
        return "unclear: not turned"
    basis = BASIS_TEXT.get(row.get("favours_basis") or "", "")
    return f"{row['favours']} = benefit ({basis})" if basis else f"{row['favours']} = benefit"
