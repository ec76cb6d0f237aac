"""How current and how complete the review is, and what its analysis covers.

The same facts appear on the home page, in every chapter's key message (``currency.md``, included
by the chapter template, so that they are current without re-executing any chapter), in the
front matter (``{{ review.<key> }}`` placeholders) and in ``_build/results/review.json``:

- the date of the last systematic search for trials (``search_flow.json``),
- the date of the last update and the dataset version,
- the trials known to the review, those with outcome data and those awaiting data extraction,
- the time points the analysed outcomes cover.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd

from analysis.chapter.coverage import TIMEPOINTS
from analysis.chapter.render import md_escape

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def long_date(value) -> str:
    """``2020-12-18`` -> ``18 December 2020`` (unparseable text is returned as it is)."""
    try:
        day = dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return str(value)
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _participants(ds) -> tuple[int, int]:
    """Participants of the trials with outcome data, and how many of those trials have no size.

    Each trial is counted once, on its largest row.
    """
    rows = ds.outcomes.merge(ds.studies[["study_id", "n_total"]], on="study_id", how="left",
                             suffixes=("", "_study"))
    total = rows["n_total_study"] if "n_total_study" in rows else rows["n_total"]
    n = (rows["n1"].astype(float) + rows["n2"].astype(float)).fillna(total.astype(float))
    per_trial = n.groupby(rows["study_id"]).max()
    return int(per_trial.sum()), int(per_trial.isna().sum())


def currency(ds, flow: dict | None, updated: str) -> dict:
    """The currency and completeness of the review (JSON-safe)."""
    studies = ds.studies
    known = int(len(studies))
    with_data = int((studies["outcome_data"] == "extracted").sum())
    participants, unknown_size = _participants(ds)
    points = [str(t) for t in pd.unique(ds.outcomes["timepoint"].dropna())]
    extracted = set(studies.loc[studies["outcome_data"] == "extracted", "study_id"])
    rob = ds.rob[ds.rob["outcome_id"].isna() & ds.rob["study_id"].isin(extracted)] if not ds.rob.empty else ds.rob
    rows = ds.raw_outcomes
    return {
        "last_search": (flow or {}).get("last_search"),
        "search_source": "the Metapsy peer-support database" if str((flow or {}).get("source", "")).startswith(
            "metapsy") else str((flow or {}).get("source", "not recorded")),
        "last_update": updated,
        "version": str(ds.version),
        "trials_known": known,
        "trials_with_data": with_data,
        "trials_awaiting": known - with_data,
        "awaiting_percent": round(100 * (known - with_data) / known) if known else 0,
        "participants_with_data": participants,
        "trials_size_unknown": unknown_size,
        "timepoints": points,
        "covers": " and ".join(TIMEPOINTS.get(t, t) for t in points) or "no outcome data",
        "only_post": points == ["post"],
        "trials_high_risk": int((rob["overall"] == "high").sum()) if not rob.empty else 0,
        "trials_high_missing": int((rob["d3"] == "high").sum()) if not rob.empty else 0,
        "trials_smi": int(studies.loc[studies["study_id"].isin(extracted), "population"].eq("smi").sum()),
        "rows_total": int(len(rows)),
        "rows_verified": int(rows["verified"].eq("verified").sum()) if "verified" in rows else 0,
        "reviews_tracked": int(ds.study_reviews["review_id"].nunique()) if "review_id" in ds.study_reviews else 0,
    }


def review_numbers(cur: dict) -> dict[str, str]:
    """The ``{{ review.<key> }}`` placeholders of the front matter (text)."""
    return {
        "last_search": long_date(cur["last_search"]) if cur["last_search"] else "not recorded",
        "last_update": long_date(cur["last_update"]),
        "version": cur["version"],
        "trials_known": str(cur["trials_known"]),
        "trials_with_data": str(cur["trials_with_data"]),
        "trials_awaiting": str(cur["trials_awaiting"]),
        "awaiting_percent": f"{cur['awaiting_percent']}%",
        "participants_with_data": f"{cur['participants_with_data']:,}",
        "trials_size_unknown": str(cur["trials_size_unknown"]),
        "covers": cur["covers"],
        "trials_high_risk": str(cur["trials_high_risk"]),
        "trials_high_missing": str(cur["trials_high_missing"]),
        "trials_smi": str(cur["trials_smi"]),
        "rows_total": str(cur["rows_total"]),
        "rows_verified": str(cur["rows_verified"]),
    }


def _coverage(cur: dict) -> str:
    if cur["only_post"]:
        return "outcomes measured at the end of the intervention (post-test) only; longer-term follow-up is not yet analysed"
    return f"outcomes measured at the {cur['covers']}"


def currency_md(cur: dict) -> str:
    """The box every chapter's key message ends with (``chapters/generated/currency.md``)."""
    n = review_numbers(cur)
    return (":::{admonition} How current and how complete\n:class: note\n\n"
            f"Last search for trials: **{md_escape(n['last_search'])}**. Last update: "
            f"**{md_escape(n['last_update'])}** (dataset version {md_escape(n['version'])}). "
            f"**{n['trials_awaiting']} of the {n['trials_known']} trials** known to the review "
            f"({n['awaiting_percent']}) are awaiting data extraction and are not in this analysis. "
            f"The analysis covers {md_escape(_coverage(cur))}.\n:::\n")


def at_a_glance_md(cur: dict, lead: str, details: list[str]) -> str:
    """The first screen of the home page.

    What the review shows, how current and how complete it is, and what it covers. ``lead`` and
    ``details``: escaped Markdown sentences from the results.
    """
    n = review_numbers(cur)
    listed = "".join(f"\n- {sentence}" for sentence in details)
    return (":::{admonition} The review at a glance\n:class: tip\n\n"
            f"**What it shows.** {lead}\n\n"
            f"**How current and how complete.** The last systematic search for trials was on "
            f"**{md_escape(n['last_search'])}**; this version ({md_escape(n['version'])}) was updated on "
            f"**{md_escape(n['last_update'])}**. {n['trials_with_data']} of the {n['trials_known']} trials known to "
            f"the review contribute data; **{n['trials_awaiting']} ({n['awaiting_percent']}) are awaiting data "
            "extraction**, so the results may change as they are added.\n\n"
            f"**What it covers.** Randomised trials of peer support against care as usual, a waiting list or another "
            f"control, for people with mental health conditions; {md_escape(_coverage(cur))}. The last search was of "
            f"{md_escape(cur['search_source'])}; trials published since then are included only where a later review "
            f"reported them.\n\n**The main outcomes:**{listed}\n:::\n")
