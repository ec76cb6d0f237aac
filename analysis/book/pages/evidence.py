"""The evidence map of earlier reviews and the inconsistencies found in their published results."""
from __future__ import annotations

from pathlib import Path

from analysis import figures
from analysis.book.pages.common import md_table
from analysis.chapter.page_figures import figure_block
from analysis.chapter.render import md_escape


def evidence_map_md(ds, fig_dir: Path, page_dir: Path) -> str:
    """The Evidence map page; its figure is written to ``fig_dir`` (links relative to ``page_dir``)."""
    pub = ds.published
    umb = pub[pub["reported_in"] == "cooper2024"] if "reported_in" in pub.columns else pub.iloc[0:0]
    flagged = pub[pub["inconsistency"].fillna("").astype(str).str.len() > 0] if "inconsistency" in pub else pub.iloc[0:0]
    parts = [
        "# Evidence map of earlier reviews\n",
        f"The umbrella review of Cooper et al. (2024) {{cite:p}}`cooper2024` tabulates {len(umb)} pooled results "
        f"from {umb['review_id'].nunique() if len(umb) else 0} meta-analyses. Each point below is one pooled "
        "result (standardised mean difference with its 95% CI, oriented as printed), coloured by the AMSTAR 2 "
        "rating of its review ({numref}`fig-evidence-map`).\n",
        figure_block(figures.evidence_map(ds.published, ds.reviews), fig_dir / "evidence-map.svg",
                     name="fig-evidence-map", page_dir=page_dir,
                     caption="Pooled results of earlier meta-analyses by outcome, coloured by AMSTAR 2 rating. Signs "
                             "are as printed by each review (conventions differ between reviews).").markdown,
        "## Inconsistencies found in the published results\n",
    ]
    if flagged.empty:
        parts.append("None recorded.\n")
    else:
        rows = [[md_escape(r["review_id"]), md_escape(r["outcome"]), md_escape(r.get("timepoint", "")),
                 md_escape(r.get("inconsistency_note", ""))] for _, r in flagged.iterrows()]
        parts.append(md_table(["review", "outcome", "timepoint", "what is inconsistent"], rows,
                              caption="Inconsistencies in the published results of earlier reviews",
                              name="tbl-inconsistencies") + "\n")
    return "\n".join(parts)
