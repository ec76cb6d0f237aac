"""Included studies: characteristics, risk of bias, study selection (PRISMA) and trials awaiting data."""
from __future__ import annotations

import pandas as pd

from analysis.book.pages.common import html_table
from analysis.chapter.labels import is_coded, label_of
from analysis.chapter.render import md_escape
from analysis.dataset import citation_keys


def included_studies_md(ds, flow: dict | None) -> str:
    """The included-studies page: characteristics, risk of bias, PRISMA flow, trials awaiting data."""
    st = ds.studies.copy()
    with_data = st[st["outcome_data"] == "extracted"]
    awaiting = st[st["outcome_data"] != "extracted"]
    table = pd.DataFrame({
        "trial": with_data["label"],
        "year": with_data["year"],
        "country": with_data["country"],
        "population": with_data["population"].map(lambda v: label_of(v, "population")),
        "format": with_data["format"].map(lambda v: label_of(v, "format")),
        "delivery": with_data["delivery"].map(lambda v: label_of(v, "delivery")),
        "comparator": with_data["comparator"].map(lambda v: label_of(v, "comparator")),
        "n": with_data["n_total"],
        "setting": with_data["setting"].map(lambda v: label_of(v, "setting") if is_coded(v) else "not classified"),
        "peer role": with_data["peer_role"].map(lambda v: label_of(v, "peer_role") if is_coded(v) else "not classified"),
    }).sort_values(["year", "trial"])
    cites = ", ".join(f"{{cite:t}}`{key}`" for key in citation_keys(ds, with_data["study_id"]))
    parts = [
        "# Included studies\n",
        f"{len(with_data)} randomised trials contribute outcome data; {len(awaiting)} further trials included by "
        "earlier reviews are awaiting data extraction. Click a column header to sort. n: participants, from the source "
        "that ranks first (randomised, then as printed by a review, at baseline, analysed); setting: Høgh Egmose et al. "
        "(2023); peer role: White et al. (2020). Every value with its source: "
        "[Study characteristics and their sources](study-characteristics.md).\n",
        "```{raw} html\n" + html_table(table) + "\n```\n",
        f"Trials with outcome data: {cites}.\n",
        "## Risk of bias\n",
        "```{figure} figures/rob-traffic-light.png\n:name: fig-rob-traffic-light\n:alt: Risk-of-bias judgements "
        "per trial\n\nRisk of bias (RoB 2) per trial: D1 randomisation, D2 deviations from intended interventions, "
        "D3 missing outcome data, D4 measurement of the outcome, D5 selection of the reported result.\n```\n",
        "```{figure} figures/rob-summary.png\n:name: fig-rob-summary\n:alt: Risk-of-bias summary\n\nRisk-of-bias "
        "summary: share of trials per judgement in each domain.\n```\n",
    ]
    if flow:
        parts.append("## Study selection\n")
        parts.append("```{figure} figures/prisma.png\n:name: fig-prisma\n:alt: PRISMA 2020 flow diagram\n\n"
                     f"PRISMA 2020 flow diagram of the Metapsy search (last search "
                     f"{md_escape(flow.get('last_search', 'not recorded'))}).\n```\n")
    parts.append("## Trials awaiting data\n")
    if awaiting.empty:
        parts.append("None.\n")
    else:
        reviews = ds.study_reviews.groupby("study_id")["review_id"].apply(lambda s: ", ".join(sorted(set(s))))
        aw = pd.DataFrame({
            "trial": awaiting["label"], "year": awaiting["year"],
            "included by": awaiting["study_id"].map(reviews).fillna(""),
            "format": awaiting["format"].map(lambda v: label_of(v, "format")),
        }).sort_values(["year", "trial"])
        parts.append("```{raw} html\n" + html_table(aw) + "\n```\n")
        parts.append("What is known of each, why its data are missing and what was searched: "
                     "[Trials awaiting data](awaiting.md).\n")
        cites = ", ".join(f"{{cite:t}}`{key}`" for key in citation_keys(ds, awaiting["study_id"]))
        parts.append(f"Trials awaiting data: {cites}.\n")
    return "\n".join(parts)


def prisma_counts(flow: dict) -> dict:
    """``data/search_flow.json`` (PRISMA 2020 names) in the Metapsy keys ``figures.prisma`` reads."""
    return {
        "database.hits": flow["database_results"],
        "additional.records": flow["other_sources_results"],
        "database.hits.duplicates.removed": flow["records_screened"],
        "records.screened": flow["records_screened"],
        "full.text.assessed.for.eligibility": flow["reports_assessed"],
        "full.text.excluded.reasons": flow["reports_excluded_reasons"],
        "included": flow["studies_included"],
    }
