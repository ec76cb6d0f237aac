"""What the build needs to know about a domain chapter.

Its parameters, its data slice (for the fingerprint that decides whether it is stale) and the
static text of its page.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from analysis import dataset
from analysis.chapter.render import md_escape

#: Convention preset of every chapter's main analysis: current Cochrane methods (RevMan since
#: January 2025): REML tau², Q-profile CI for tau², Hartung-Knapp-Sidik-Jonkman CI and a
#: prediction interval with t(k-1). metafor's Wald-type defaults are a sensitivity row.
MAIN_PRESET = "cochrane2025"


def chapter_parameters(domain_id: str) -> dict:
    """Papermill parameters of a domain chapter (besides the paths the build adds)."""
    return {"domain_id": domain_id, "preset": MAIN_PRESET, "method": None, "ci": None,
            "figure_dir": f"figures/{domain_id}"}


def resolve_data_dir(data_dir=None) -> Path:
    """The dataset directory: the argument, $REVIEW_DATA_DIR, or the repository's data/."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("REVIEW_DATA_DIR"):
        return Path(os.environ["REVIEW_DATA_DIR"])
    return Path(__file__).resolve().parents[2] / "data"   # analysis/chapter/params.py -> repository


def domain_spec(ds, domain_id: str) -> dict:
    """The entry of ``domains.yml`` for ``domain_id`` (KeyError naming the known ids)."""
    for domain in ds.domains:
        if domain["id"] == domain_id:
            return domain
    known = ", ".join(d["id"] for d in ds.domains)
    raise KeyError(f"unknown domain {domain_id!r} (known: {known})")


def domain_slice(ds, domain_id: str) -> bytes:
    """Canonical bytes of everything a domain chapter reads from the dataset.

    The outcome rows of the domain with their study characteristics and risk of bias (curated
    view), the curation decisions touching those studies, the reports of those studies, the
    published estimates of the domain, the domain's definition and its reviewed GRADE judgements.
    A change anywhere else in the data does not touch the chapter.
    """
    rows = dataset.domain_rows(ds, domain_id)
    rows = rows.sort_values("outcome_id").reset_index(drop=True)
    studies = sorted(set(rows["study_id"]))

    def part(frame: pd.DataFrame) -> str:
        # line numbers are left out: a row added elsewhere in a file moves them, not this chapter
        return frame.drop(columns=["_line"], errors="ignore").to_csv(index=False)
    parts = {
        "domain": domain_spec(ds, domain_id),
        "rows": part(rows),
        "rob": part(ds.rob[ds.rob["study_id"].isin(studies)]),
        "curation": part(ds.curation[ds.curation["study_id"].isin(studies)]),
        "published": part(published_estimates(ds, domain_id)),
        "studies": part(ds.studies[ds.studies["study_id"].isin(studies)]),
        "references": dataset.citation_keys(ds, studies),
        "grade": ds.judgements.get(domain_id),
        # review names and AMSTAR 2 ratings of the published estimates shown beside ours
        "reviews": ds.reviews[ds.reviews["review_id"].isin(set(published_estimates(ds, domain_id)["review_id"]))
                              ].to_csv(index=False) if not ds.reviews.empty else "",
    }
    return json.dumps(parts, sort_keys=True, default=str).encode()


def chapter_substitutions(ds, domain_id: str) -> dict[str, str]:
    """Placeholders of the chapter template's Markdown cells and their escaped values."""
    spec = domain_spec(ds, domain_id)
    return {
        "@DOMAIN_ID@": domain_id,
        "@DOMAIN_TITLE@": md_escape(spec.get("title", domain_id)),
        "@DOMAIN_TITLE_TEXT@": md_escape(spec.get("title", domain_id)).lower(),
        "@DOMAIN_DESCRIPTION@": md_escape(spec.get("description", "")),
    }


def published_estimates(ds, domain_id: str) -> pd.DataFrame:
    """The rows of ``published_estimates.csv`` mapped to the domain, as recorded."""
    pub = ds.published
    if "domain" not in pub.columns:
        return pub.iloc[0:0]
    return pub[pub["domain"] == domain_id].reset_index(drop=True)
