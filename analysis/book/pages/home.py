"""The home page's summary across outcomes and its summary of findings."""
from __future__ import annotations

import pandas as pd

from analysis.book.pages.common import md_table
from analysis.chapter.render import md_escape
from analysis.chapter.sof import sof_table_md
from analysis.stats.formatting import text as fmt


def home_md(ds, domain_results: dict) -> str:
    """The home page's summary table across outcomes and its summary of findings."""
    rows = []
    for domain in ds.domains:
        res = domain_results[domain["id"]]
        p = res["primary"]
        rows.append([
            # home.md is included by chapters/index.md: links are relative to chapters/
            f"[{md_escape(domain.get('title', domain['id']))}](domains/{domain['id']}.ipynb)",
            p["k"], res["n_studies"], res["n_participants"],
            f"{fmt(p['estimate'])} [{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]",
            f"[{fmt(p['pi_low'])}, {fmt(p['pi_high'])}]",
            f"{fmt(p['i2_q'], 0)}%",
            md_escape((res.get("grade") or {}).get("certainty_label", "")) or "not graded",
        ])
    updated = ds_updated(ds)
    table = md_table(["outcome", "k", "trials", "participants", "g [95% CI]", "95% PI", "I²", "certainty"], rows,
                     caption="Summary across outcomes: pooled results of the main analyses", name="tbl-summary")
    sof = sof_table_md([domain_results[d["id"]]["summary_of_findings"] for d in ds.domains],
                       name="tbl-summary-of-findings")
    return (f"## Summary across outcomes\n\n{table}\n\n"
            f"k: comparisons pooled; g: Hedges' g (positive favours peer support); PI: prediction interval; "
            f"I²: Q-based. Dataset version **{md_escape(ds.version)}**, last updated **{md_escape(updated)}**.\n\n"
            f"## Summary of findings\n\nPeer support compared with care as usual, waiting list or other control "
            f"conditions, for people with mental health conditions; post-test.\n\n{sof}\n")


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
    """The date of the dataset's latest change (curation log or metadata), or ``unknown``."""
    dates = [str(d) for d in ds.curation.get("date", pd.Series(dtype=str)).dropna()]
    meta_date = getattr(ds, "updated", None)
    if meta_date:
        dates.append(str(meta_date))
    return max(dates) if dates else "unknown"
