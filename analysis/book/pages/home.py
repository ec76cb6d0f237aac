"""The home page.

The review at a glance (first screen), the summary of findings in the GRADE layout, and the
summary table across outcomes.
"""
from __future__ import annotations

import pandas as pd

from analysis.book.pages.common import md_table
from analysis.chapter.render import md_escape
from analysis.chapter.sof import sof_table_md
from analysis.stats import grade
from analysis.stats.formatting import text as fmt


def main_findings(ds, domain_results: dict, parents: dict[str, list[str]],
                  when: str = "when the trials measured them") -> tuple[str, list[str]]:
    """What the main outcomes show: a lead sentence in plain words, and each outcome's statement.

    The main outcomes are the domains that are no other domain's sub-domain; each statement is
    the informative statement with its certainty.

    The lead is composed from the results (never typed): when every main outcome's point estimate
    is trivial (below the MID), it says so with the range of certainty; otherwise it refers to the
    statements.
    """
    main = [d for d in ds.domains if not parents.get(d["id"])]
    details, sizes, levels, names = [], [], [], []
    for domain in main:
        res = domain_results[domain["id"]]
        row = res["summary_of_findings"]
        if not row.get("certainty") or row["effect"]["estimate"] is None:
            continue
        details.append(f"{md_escape(row['statement'][:-1])} ({row['certainty'].lower()}-certainty evidence).")
        g = res.get("grade") or {}
        thresholds = tuple(g.get("thresholds") or grade.thresholds_for(g.get("mid", grade.MID)))
        sizes.append(grade.size_category(res["primary"]["estimate"], thresholds))
        levels.append(row["certainty"])
        names.append(md_escape(domain.get("title", domain["id"])).lower())
    if not details:
        return "No outcome has a pooled result yet.", []
    if all(s == "trivial" for s in sizes):
        order = [lvl for lvl in grade.LEVELS if lvl in levels]
        span = order[0].lower() if len(order) == 1 else f"{order[0].lower()} to {order[-1].lower()}"
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        lead = (f"On average, peer support made little or no difference to {listed} {when}: every average effect "
                "is smaller than {term}`the smallest difference the review counts as important <minimally important "
                "difference>`. The {term}`certainty of the evidence` is " + f"{span}.")
    else:
        lead = "The main outcomes differ; see each statement below."
    return lead, details


def home_md(ds, domain_results: dict) -> str:
    """``chapters/generated/home.md``: the summary of findings, then the summary table."""
    rows = []
    for domain in ds.domains:
        res = domain_results[domain["id"]]
        p = res["primary"]
        rows.append([
            # home.md is included by chapters/index.md: links are relative to chapters/
            f"[{md_escape(domain.get('title', domain['id']))}](domains/{domain['id']}.ipynb)",
            res["n_studies"], res["n_participants"],
            f"{md_escape(res['numbers']['effect_label'])} {res['numbers']['estimate']} "
            f"[{res['numbers']['ci_low']}, {res['numbers']['ci_high']}]",
            f"[{res['numbers']['pi_low']}, {res['numbers']['pi_high']}]" if p["pi_low"] is not None else "",
            f"{fmt(p['i2_tau2'], 0)}%",
            md_escape((res.get("grade") or {}).get("certainty_label", "")) or "not graded",
        ])
    updated = ds_updated(ds)
    table = md_table(["outcome", "trials", "participants", "effect [95% CI]", "95% PI", "I²", "certainty"], rows,
                     caption="Summary across outcomes: pooled results of the main analyses", name="tbl-summary")
    sof = sof_table_md([domain_results[d["id"]]["summary_of_findings"] for d in ds.domains],
                       name="tbl-summary-of-findings")
    return (f"## Summary of findings\n\nPeer support compared with care as usual, a waiting list or another "
            f"control condition, for people with mental health conditions. Each outcome links to its chapter "
            f"in the table below.\n\n{sof}\n\n"
            f"## Summary across outcomes\n\n{table}\n\n"
            f"One effect per trial; g: Hedges' g (positive favours peer support); PI: prediction interval (from "
            f"three trials); I²: from tau². Dataset version **{md_escape(ds.version)}**, last updated "
            f"**{md_escape(updated)}**. [What's new](generated/whats-new.md); alerts of releases and conclusion "
            'changes: <a href="../feed.xml">Atom feed</a>.\n\n'
            "**How do we make peer support work in our service?** What helps and hinders its implementation, and "
            "how peer support workers, service users and staff experience it, is set out in "
            "[Making peer support work](generated/implementation.md).\n")


def pdf_md(name: str | None) -> str:
    """The home page's line about the PDF of the whole review (``name`` at the book's root)."""
    if not name:
        return ("*The PDF of the whole review is made by the published builds (`python -m analysis build --pdf`); "
                "this build made none.*\n")
    # the PDF is written next to the pages after Sphinx runs, so it is linked as a plain file;
    # chapters/index.html is one level below the book's root
    return (f'**On paper:** <a href="../{name}" download>the whole review as one PDF</a> (A4; forest plots on '
            "landscape pages), built from the same data and analyses as these pages.\n")


def ds_updated(ds) -> str:
    """The date of the data's last change or release.

    It is ``updated`` of datapackage.json (set by ``python -m analysis add`` and ``release``), else
    the date of the latest curation decision (``unknown`` when there is neither).
    """
    if ds.updated:
        return str(ds.updated)
    dates = [str(d) for d in ds.curation.get("date", pd.Series(dtype=str)).dropna()]
    return max(dates) if dates else "unknown"
