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


def chapter_parameters(domain_id: str) -> dict:
    """Papermill parameters of a domain chapter (besides the paths the build adds)."""
    return {"domain_id": domain_id, "preset": "metafor", "method": None, "ci": None,
            "figure_dir": f"figures/{domain_id}"}


def resolve_data_dir(data_dir=None) -> Path:
    """The dataset directory: the argument, $REVIEW_DATA_DIR, or the repository's data/."""
    if data_dir:
        return Path(data_dir)
    if os.environ.get("REVIEW_DATA_DIR"):
        return Path(os.environ["REVIEW_DATA_DIR"])
    return Path(__file__).resolve().parent.parent / "data"


def domain_spec(ds, domain_id: str) -> dict:
    """The definition of ``domain_id`` in ``domains.yml`` (``KeyError`` naming the known ids)."""
    for domain in ds.domains:
        if domain["id"] == domain_id:
            return domain
    known = ", ".join(d["id"] for d in ds.domains)
    raise KeyError(f"unknown domain {domain_id!r} (known: {known})")


def domain_slice(ds, domain_id: str) -> bytes:
    """Canonical bytes of everything a domain chapter reads from the dataset.

    The outcome rows of the domain with their study characteristics and risk of bias (curated
    view), the curation decisions touching those studies, the published estimates of the domain,
    the domain's definition and its reviewed GRADE judgements. A change anywhere else in the data
    does not touch the chapter.
    """
    rows = dataset.domain_rows(ds, domain_id)
    rows = rows.sort_values("outcome_id").reset_index(drop=True)
    studies = sorted(set(rows["study_id"]))
    parts = {
        "domain": domain_spec(ds, domain_id),
        "rows": rows.to_csv(index=False),
        "rob": ds.rob[ds.rob["study_id"].isin(studies)].to_csv(index=False),
        "curation": ds.curation[ds.curation["study_id"].isin(studies)].to_csv(index=False),
        "published": published_estimates(ds, domain_id).to_csv(index=False),
        "studies": ds.studies[ds.studies["study_id"].isin(studies)].to_csv(index=False),
        "grade": ds.judgements.get(domain_id),
    }
    return json.dumps(parts, sort_keys=True, default=str).encode()


def chapter_substitutions(ds, domain_id: str) -> dict[str, str]:
    """The static text of a chapter's page (title, description), escaped for MyST."""
    spec = domain_spec(ds, domain_id)
    return {
        "@DOMAIN_ID@": domain_id,
        "@DOMAIN_TITLE@": md_escape(spec.get("title", domain_id)),
        "@DOMAIN_TITLE_TEXT@": md_escape(spec.get("title", domain_id)).lower(),
        "@DOMAIN_DESCRIPTION@": md_escape(spec.get("description", "")),
    }


def published_estimates(ds, domain_id: str) -> pd.DataFrame:
    """The pooled estimates of earlier reviews mapped to ``domain_id``."""
    pub = ds.published
    if "domain" not in pub.columns:
        return pub.iloc[0:0]
    return pub[pub["domain"] == domain_id].reset_index(drop=True)
