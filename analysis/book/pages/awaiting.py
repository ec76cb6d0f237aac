"""Trials awaiting data: what is known of each, why its data are missing and what was searched.

Where its results might be found comes from ``study_characteristics.csv``, ``estimate_trials.csv``
and ``awaiting_searches.csv``; the page computes nothing.
"""
from __future__ import annotations

import pandas as pd

from analysis.chapter.labels import LABELS, is_coded
from analysis.chapter.render import md_escape
from analysis.dataset.characteristics import N_BASIS_LABELS

#: Why the sources we hold give no trial-level results for a review's trials (their texts).
NO_TRIAL_DATA = {
    "white2020": "White et al. (2020) show trial results only in forest-plot images",
    "lyons2021": "the text of Lyons et al. (2021) lacks its Tables 1 and 2",
    "egmose2023": "Høgh Egmose et al. (2023) give trial data only in their online supplement",
}
SHOWN = ("intervention", "duration", "follow_up", "outcomes_reported")
TITLES = {"intervention": "Intervention", "duration": "Duration", "follow_up": "Follow-up",
          "outcomes_reported": "Outcomes reported"}
OUTCOMES = {"numbers-entered": "numbers entered (see the trial size above)", "no-numbers": "reports found, no number "
            "entered", "nothing-found": "nothing found", "not-searched": "not searched"}


def awaiting_md(ds) -> str:
    """The page (Markdown): one section per trial awaiting outcome data."""
    st = ds.studies
    awaiting = st[st["outcome_data"] != "extracted"].sort_values(["year", "label"])
    searches = ds.searches
    numbers = int((searches["outcome"] == "numbers-entered").sum()) if not searches.empty else 0
    parts = [
        "# Trials awaiting data\n",
        f"{len(awaiting)} trials included by earlier reviews have no outcome rows here yet. Our outcome rows come "
        "from the Metapsy database behind Smit et al. (2022); these trials are not in it, and the texts of the other "
        "reviews that we hold print no trial-level results. For each trial this page says what is known (with the "
        "source of every value), why its data are missing, what was searched for its results in stored public "
        "sources and where they might be found. "
        f"{len(searches)} searches were recorded ({numbers} entered a trial size taken verbatim from a found report); "
        "no arm-level outcome result was found that could enter the analyses, so every trial stays awaiting.\n",
    ]
    for _, study in awaiting.iterrows():
        parts.append(_trial_md(ds, study))
    return "\n".join(parts)


def _trial_md(ds, study) -> str:
    sid = study["study_id"]
    links = ds.study_reviews[ds.study_reviews["study_id"] == sid]
    reviews = ds.reviews.set_index("review_id")["label"].to_dict()
    included = "; ".join(f"{md_escape(reviews.get(r['review_id'], r['review_id']))} (as {md_escape(r['label_in_review'])}"
                         + (f", reference {md_escape(r['ref_in_review'])}" if is_coded(r["ref_in_review"]) else "") + ")"
                         for _, r in links.iterrows())
    out = [f"## {md_escape(study['label'])}\n", f"{{cite:p}}`{sid}`. Included by {included}.\n", "**What is known.**\n"]
    out += [f"- {line}" for line in _known(ds, study)]
    out.append("")
    out.append(f"**Why data are missing.** {_why(ds, sid, links)}\n")
    out.append("**What was searched.**\n")
    mine = ds.searches[ds.searches["study_id"] == sid] if not ds.searches.empty else pd.DataFrame()
    if mine.empty:
        out.append("- Nothing recorded yet.")
    for _, s in mine.iterrows():
        where = "; ".join(f"<{a.strip()}>" for a in str(s["addresses"] or "").split(" ; ") if a.strip())
        query = f"query \"{md_escape(s['query'])}\" in the {md_escape(s['corpus'])} corpus, " if is_coded(s["query"]) else ""
        out.append(f"- {md_escape(s['search_id'])} ({s['date']}): {query}{OUTCOMES[s['outcome']]}. "
                   f"{md_escape(s['finding'])}." + (f" Where: {where}." if where else ""))
    out.append("")
    return "\n".join(out)


def _known(ds, study) -> list[str]:
    rows = ds.characteristics[ds.characteristics["study_id"] == study["study_id"]]
    lines = [f"Size: {_size(study, rows)}"]
    for column, title in (("setting", "Setting (Egmose et al. 2023)"), ("peer_role", "Peer role (White et al. 2020)"),
                          ("peer_capacity", "Adjunctive or substitute (White et al. 2020)"),
                          ("group_type", "Type of group (Lyons et al. 2021)")):
        mine = rows[rows["characteristic"] == column]
        if mine.empty:
            continue
        value = study.get(column)
        shown = LABELS.get(column, {}).get(value, value) if is_coded(value) else _reason(mine)
        lines.append(f"{title}: {md_escape(shown)} ({_sources(mine)})")
    for name in SHOWN:
        for _, r in rows[(rows["characteristic"] == name) & (rows["status"] == "reported")].iterrows():
            lines.append(f"{TITLES[name]}: {md_escape(r['value'])} ({md_escape(r['source'])}, {md_escape(r['source_row'])})")
    return lines


def _size(study, rows) -> str:
    mine = rows[rows["characteristic"].isin(["n_total", "n_per_arm"])]
    if mine.empty:
        return "not reported by any source"
    basis = study.get("n_basis")
    if basis == "disagreement" or not is_coded(study.get("n_total")):
        head = "sources disagree" if basis == "disagreement" else "not known"
    else:
        arms = f" ({study['n_per_arm']} by arm)" if is_coded(study.get("n_per_arm")) else ""
        head = f"{int(study['n_total'])}{arms}, {N_BASIS_LABELS[basis]}"
    return f"{md_escape(head)}; {_sources(mine, with_values=True)}"


def _sources(rows, with_values: bool = False) -> str:
    parts = []
    for _, r in rows.iterrows():
        value = f"{r['value']}: " if with_values and is_coded(r["value"]) else ""
        status = "" if r["status"] == "reported" else f"{r['status']}: "
        parts.append(f"{value}{status}{r['source']}, {r['source_row']}")
    return md_escape("; ".join(parts))


def _reason(rows) -> str:
    notes = [str(n) for n in rows["notes"] if is_coded(n)]
    return notes[0] if notes else "not classified"


def _why(ds, sid: str, links) -> str:
    reasons = [NO_TRIAL_DATA[r] for r in links["review_id"] if r in NO_TRIAL_DATA]
    text = "It is not in the Metapsy database; " + ("; ".join(dict.fromkeys(reasons)) or "no source we hold prints "
                                                                                          "its results") + "."
    pooled = ds.estimate_trials[ds.estimate_trials["study_id"] == sid] if not ds.estimate_trials.empty else pd.DataFrame()
    if not pooled.empty:
        reviews = ds.reviews.set_index("review_id")["label"].to_dict()
        by = sorted({reviews.get(s.removeprefix("seed:"), s) for s in pooled["source"]})
        text += (f" {md_escape(' and '.join(by))} pooled its data ({len(pooled)} pooled result(s); see "
                 "[Earlier reviews, re-examined](earlier-reviews.md)), so they exist: in the review's supplement or "
                 "with its authors.")
    return text
