"""Reproducibility: the re-analysis of Smit et al. (2022) beside the printed numbers."""
from __future__ import annotations

from analysis.book.pages.common import md_table
from analysis.chapter.render import md_escape
from analysis.chapter.reproduction import DIFFERENCE_TOLERANCE
from analysis.stats.formatting import text as fmt


def reproducibility_md(reproduction: list) -> str:
    """The Reproducibility page: Smit et al. (2022) as published, reproduced and curated."""
    parts = [
        "# Reproducibility\n",
        "We re-analysed Smit et al. (2022) {cite:p}`smit2022` from the same open data, with their settings: "
        "post-test, Hedges' g as recorded in the database, every row of a recovery category pooled (rows, not "
        "trials), REML estimator, Knapp-Hartung confidence interval (t with k-1 df), and I² from Q. The published "
        "numbers are those quoted by the umbrella review (Cooper et al. 2024, Tables 2-3). \"Match\" means that our "
        "numbers, rounded to the printed decimals, equal the printed ones.\n",
    ]
    rows = []
    for r in reproduction:
        pr, rp, cu = r["printed"], r["reproduced"], r["curated"]
        rows.append([
            md_escape(r["outcome"]),
            f"{md_escape(pr['estimate'])} [{md_escape(pr['ci_low'])}, {md_escape(pr['ci_high'])}], k = {md_escape(pr['k'])}",
            f"{fmt(rp['estimate'])} [{fmt(rp['ci_low'])}, {fmt(rp['ci_high'])}], k = {int(rp['k'])}",
            "yes" if r["match"] else "**no**",
            f"{fmt(cu['estimate'])} [{fmt(cu['ci_low'])}, {fmt(cu['ci_high'])}], k = {int(cu['k'])}",
        ])
    parts.append(md_table(["outcome", "published", "reproduced (as published)", "match", "curated data"], rows,
                          caption="Smit et al. (2022) as published, as reproduced and on the curated data",
                          name="tbl-reproduction"))
    parts.append("\n\n## Why the curated analysis differs\n\n"
                 "The curated view applies the recorded decisions of the curation log (see [Data](../data.md)) and "
                 "recomputes effects from the arm data with each instrument's direction. These rows have a different "
                 "effect in the two analyses (differences above "
                 f"{DIFFERENCE_TOLERANCE}):\n")
    for r in reproduction:
        if not r["differences"]:
            continue
        parts.append(f"\n**{md_escape(r['outcome'])}**\n")
        rows = [[md_escape(d["outcome_id"]), fmt(d["recorded_g"], 3), fmt(d["curated_g"], 3), md_escape(d["reason"])]
                for d in r["differences"]]
        parts.append(md_table(["outcome row", "g as published", "g curated", "why"], rows,
                              caption=f"Rows whose effect differs: {md_escape(r['outcome'])}",
                              name=f"tbl-differences-{r['outcome']}"))
    return "\n".join(parts)
