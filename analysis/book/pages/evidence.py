"""The evidence map of earlier reviews and the inconsistencies found in their published results.

Every estimate is shown with its measure and oriented as this review reports effects (positive
favours peer support; :func:`analysis.chapter.published.oriented_estimates`), the printed value
and its direction beside it; reviews by name; only results with numbers; only the rows that have
an inconsistency in the inconsistency table.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import figures
from analysis.book.pages.common import md_table
from analysis.chapter.page_figures import figure_block
from analysis.chapter.published import direction_text, oriented_estimates
from analysis.chapter.render import TIMEPOINT_TEXT, md_escape
from analysis.figures.evidence import drawable
from analysis.stats.formatting import text as fmt

#: The review whose tables the map draws (the umbrella review).
UMBRELLA = "cooper2024"


def umbrella_estimates(ds) -> pd.DataFrame:
    """The oriented estimates tabulated by the umbrella review (what the map draws)."""
    est = oriented_estimates(ds)
    return est[est["reported_in"] == UMBRELLA].reset_index(drop=True)


def _rating(value) -> str:
    return value.replace("-", " ") if isinstance(value, str) else "not rated"


def evidence_map_md(ds, fig_dir: Path, page_dir: Path) -> str:
    """The evidence-map page: the figure, every result of the umbrella review oriented, the inconsistencies.

    The figure is written to ``fig_dir`` and linked relative to ``page_dir``.
    """
    umb = umbrella_estimates(ds)
    drawn = drawable(umb)
    other_measure = umb[~umb.index.isin(drawn.index) & umb["oriented"].astype(bool)]
    unclear = umb[~umb["oriented"].astype(bool)]
    label = ds.reviews.set_index("review_id")["label"].to_dict() if not ds.reviews.empty else {}
    parts = [
        "# Evidence map of earlier reviews\n",
        f"The umbrella review of Cooper et al. (2024) {{cite:p}}`cooper2024` tabulates {len(umb)} pooled results "
        f"from {umb['review_id'].nunique() if len(umb) else 0} meta-analyses, most of them "
        "{term}`standardised mean differences <standardised mean difference>` ({term}`SMD`). Each review printed its results with "
        "its own sign convention; here every result is turned, where needed, so that **positive values favour peer "
        "support**, as everywhere in this review, and the printed value is kept in the table. How each direction is "
        "known (stated by the review, described with the result, read from the review's other results, or from the "
        "scale) is recorded with its evidence in the data (`published_estimates.csv`).\n",
        figure_block(figures.evidence_map(umb), fig_dir / "evidence-map.svg", name="fig-evidence-map",
                     page_dir=page_dir,
                     caption=f"{len(drawn)} pooled standardised mean differences (95% CI) of earlier meta-analyses by "
                             "outcome, oriented so that positive values favour peer support. Colour and marker give "
                             "the {term}`AMSTAR 2` rating of the review (circle high, diamond moderate, triangle up low, "
                             "triangle down critically low, square not rated); an arrow marks a CI beyond the axis. "
                             f"Not drawn: {len(other_measure)} results on other scales (mean differences, risk "
                             f"ratios) and {len(unclear)} whose direction the source does not state; all are in "
                             "the table below.").markdown,
        "## All results tabulated by the umbrella review\n",
    ]
    rows = []
    for _, r in umb.sort_values(["outcome", "review"], kind="mergesort").iterrows():
        oriented = (f"{fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})" if r["oriented"]
                    else "not turned: direction unclear")
        rows.append([md_escape(r["outcome"]), md_escape(r["review"]), md_escape(_rating(r["amstar2"])),
                     md_escape(TIMEPOINT_TEXT.get(r["timepoint"], r["timepoint"])),
                     "" if pd.isna(r["k"]) else str(int(r["k"])), md_escape(r["measure"]), oriented,
                     md_escape(r["printed"]), md_escape(direction_text(r))])
    parts.append(md_table(["outcome", "review", "AMSTAR 2", "time point", "k", "measure",
                           "estimate (95% CI), positive favours peer support", "as printed", "printed direction"],
                          rows, caption="Pooled results tabulated by the umbrella review, oriented so that positive "
                                        "values favour peer support", name="tbl-umbrella-results", sortable=True)
                 + "\n")
    parts.append("## Inconsistencies found in the published results\n")
    pub = ds.published
    flagged = pub[pub["inconsistency"].fillna(False).astype(bool)] if "inconsistency" in pub else pub.iloc[0:0]
    if flagged.empty:
        parts.append("None recorded.\n")
    else:
        parts.append(f"{len(flagged)} of the {len(pub)} published results recorded in the dataset have printed numbers "
                     "that disagree with each other or with the text; each is kept as printed.\n")
        rows = [[md_escape(label.get(r["review_id"], r["review_id"])), md_escape(r["outcome"]),
                 md_escape(TIMEPOINT_TEXT.get(r.get("timepoint", ""), r.get("timepoint", ""))),
                 md_escape(r.get("inconsistency_note", "") if isinstance(r.get("inconsistency_note"), str) else "")]
                for _, r in flagged.iterrows()]
        parts.append(md_table(["review", "outcome", "time point", "what is inconsistent"], rows,
                              caption="Inconsistencies in the published results of earlier reviews",
                              name="tbl-inconsistencies") + "\n")
    return "\n".join(parts)
