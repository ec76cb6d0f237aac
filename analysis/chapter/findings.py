"""The umbrella review's implementation and experiences findings, counted and grouped for the book.

Cooper et al. (2024) answer "what influences the implementation of peer support?" by CFIR domain
and "how is it experienced?" by theme and perspective. :func:`implementation_summary` groups the
rows of ``implementation_findings.csv`` and ``experience_findings.csv`` (every finding, with the
reviews that report it, their AMSTAR 2 rating and the source row) and counts them; the build writes
it to ``_build/results/implementation.json`` and the page and the CFIR figure show it.
"""
from __future__ import annotations

import pandas as pd

from analysis.figures.cfir import CFIR_DOMAINS

ROLES = ("facilitator", "barrier", "unclear")
PERSPECTIVES = {"psws": "peer support workers", "service-users": "service users", "staff": "non-peer staff",
                "mixed": "mixed samples", "organisations": "organisations"}


def _reviews(value, amstar: dict, labels: dict) -> list[dict]:
    ids = [] if value is None or (isinstance(value, float) and pd.isna(value)) else \
        [r.strip() for r in str(value).split(";") if r.strip()]
    return [{"review": r, "label": labels.get(r, r), "amstar2": amstar.get(r)} for r in ids]


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def implementation_summary(ds) -> dict:
    """Every implementation and experiences finding with its reviews, and the counts the page shows.

    Returns
    -------
    dict
        ``implementation``: list of findings (``finding_id``, ``cfir_domain``, ``role``,
        ``role_basis``, ``finding``, ``reviews`` and ``domain_reviews`` as ``{review, label,
        amstar2}``, ``source``, ``source_row``, ``source_detail``, ``notes``); ``experiences``:
        the same for the experiences findings; ``counts``: ``implementation`` (total),
        ``by_domain`` (CFIR domain -> role -> n), ``facilitators``, ``barriers``, ``experiences``
        (total), ``by_theme`` (theme -> valence -> n), ``by_perspective`` (perspective -> n),
        ``reviews`` (distinct reviews cited) and ``reviews_by_amstar`` (rating -> n).
    """
    amstar = ds.reviews.set_index("review_id")["amstar2"].to_dict() if not ds.reviews.empty else {}
    amstar = {k: (None if pd.isna(v) else v) for k, v in amstar.items()}
    labels = ds.reviews.set_index("review_id")["label"].to_dict() if not ds.reviews.empty else {}
    impl, exp = [], []
    for _, r in ds.implementation.iterrows():
        impl.append({"finding_id": r["finding_id"], "cfir_domain": r["cfir_domain"], "role": r["role"],
                     "role_basis": r["role_basis"], "finding": r["finding"],
                     "reviews": _reviews(r["reviews"], amstar, labels),
                     "domain_reviews": _reviews(r["domain_reviews"], amstar, labels),
                     "source": r["source"], "source_row": r["source_row"],
                     "source_detail": _text(r["source_detail"]), "notes": _text(r["notes"])})
    for _, r in ds.experiences.iterrows():
        exp.append({"finding_id": r["finding_id"], "theme": r["theme"], "subtheme": r["subtheme"],
                    "valence": r["valence"], "perspective": r["perspective"],
                    "perspective_as_written": r["perspective_as_written"], "description": r["description"],
                    "reviews": _reviews(r["reviews"], amstar, labels),
                    "row_reviews": _reviews(r["row_reviews"], amstar, labels),
                    "source": r["source"], "source_row": r["source_row"],
                    "source_detail": _text(r["source_detail"]), "notes": _text(r["notes"])})
    by_domain = {d: {role: 0 for role in ROLES} for d in CFIR_DOMAINS}
    for f in impl:
        by_domain.setdefault(f["cfir_domain"], {role: 0 for role in ROLES})[f["role"]] += 1
    by_theme: dict = {}
    for f in exp:
        by_theme.setdefault(f["theme"], {"benefit": 0, "challenge": 0, "not-stated": 0})[f["valence"]] += 1
    by_perspective = {p: sum(1 for f in exp if f["perspective"] == p) for p in PERSPECTIVES}
    cited = {r["review"] for f in impl + exp for r in f["reviews"] + f.get("row_reviews", [])
             + f.get("domain_reviews", [])}
    ratings: dict = {}
    for review in sorted(cited):
        key = amstar.get(review) or "not rated"
        ratings[key] = ratings.get(key, 0) + 1
    counts = {"implementation": len(impl), "facilitators": sum(f["role"] == "facilitator" for f in impl),
              "barriers": sum(f["role"] == "barrier" for f in impl),
              "unclear": sum(f["role"] == "unclear" for f in impl), "by_domain": by_domain,
              "experiences": len(exp), "benefits": sum(f["valence"] == "benefit" for f in exp),
              "challenges": sum(f["valence"] == "challenge" for f in exp), "by_theme": by_theme,
              "by_perspective": by_perspective, "reviews": len(cited), "reviews_by_amstar": ratings}
    return {"implementation": impl, "experiences": exp, "counts": counts}
