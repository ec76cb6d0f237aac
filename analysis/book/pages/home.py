"""The home page's summary across outcomes and its summary of findings."""
from __future__ import annotations

import pandas as pd

from analysis.book.pages.common import md_table
from analysis.chapter.render import md_escape
from analysis.chapter.sof import sof_table_md
from analysis.stats.formatting import text as fmt


def home_md(ds, domain_results: dict) -> str:
    """The home page's summary across outcomes and summary of findings (Markdown)."""
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
            f"{fmt(p['i2_q'], 0)}%",
            md_escape((res.get("grade") or {}).get("certainty_label", "")) or "not graded",
        ])
    updated = ds_updated(ds)
    table = md_table(["outcome", "trials", "participants", "effect [95% CI]", "95% PI", "I²", "certainty"], rows)
    sof = sof_table_md([domain_results[d["id"]]["summary_of_findings"] for d in ds.domains])
    return ("**How do we make peer support work in our service?** What helps and hinders its implementation, and "
            "how peer support workers, service users and staff experience it, is set out in "
            "[Making peer support work](generated/implementation.md).\n\n"
            f"## Summary across outcomes\n\n{table}\n\n"
            f"One effect per trial; Hedges' g: positive favours peer support; PI: prediction interval (from three "
            f"trials); "
            f"I²: Q-based. Dataset version **{md_escape(ds.version)}**, last updated **{md_escape(updated)}**. "
            f"[What's new](generated/whats-new.md); alerts of releases and conclusion changes: "
            '<a href="../feed.xml">Atom feed</a>.\n\n'
            f"## Summary of findings\n\nPeer support compared with care as usual, waiting list or other control "
            f"conditions, for people with mental health conditions; post-test.\n\n{sof}\n")


def ds_updated(ds) -> str:
    """The date of the data's last change or release: ``updated`` of datapackage.json (set by
    ``python -m analysis add`` and ``release``), else the latest curation decision."""
    if ds.updated:
        return str(ds.updated)
    dates = [str(d) for d in ds.curation.get("date", pd.Series(dtype=str)).dropna()]
    return max(dates) if dates else "unknown"
