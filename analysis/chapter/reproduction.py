"""Reproduction of a published analysis from the same data with its authors' settings."""
from __future__ import annotations

import math

import pandas as pd

from analysis import dataset
from analysis.chapter.params import resolve_data_dir
from analysis.stats import meta
from analysis.stats.formatting import plain

#: Smit et al. (2022) as quoted by the umbrella review (Cooper 2024, Tables 2-3): post-test,
#: Hedges' g, every row of the category pooled (rows, not trials), REML tau2, Knapp-Hartung CI
#: (t, k-1), I2 from Q with the Higgins-Thompson CI. The published numbers themselves are read
#: from data/published_estimates.csv.
METAPSY_SOURCE = "metapsy-peer-support"
SMIT_SETTINGS = {"method": "REML", "ci": "hk", "pi": "t-1", "effects": "recorded_g", "rows": "all"}
#: The pooling options of SMIT_SETTINGS (the rest says which effects and rows were pooled).
SMIT_POOLING = {key: SMIT_SETTINGS[key] for key in ("method", "ci", "pi")}


def reproduce_published(ds, data_dir=None) -> list[dict]:
    """Re-analyse Smit et al. (2022) from the same data with their settings, beside the print.

    Each entry: ``{"review", "outcome", "published", "reproduced", "curated", "settings", "match"}``
    with engine key names; ``match`` is True when every printed number equals ours rounded to the
    printed decimals (a printed bound such as ``p<0.001`` must hold). The printed text is read from
    ``published_estimates.csv`` as text, because trailing zeros carry the printed precision.
    """
    printed_all = pd.read_csv(resolve_data_dir(data_dir) / "published_estimates.csv", dtype=str,
                              keep_default_na=False).set_index("estimate_id")
    pub = ds.published
    smit = pub[(pub["review_id"] == "smit2022") & (pub["timepoint"] == "post") & pub["domain"].isin(
        ["clinical-recovery", "personal-recovery", "functional-recovery"])]
    out = []
    for _, row in smit.iterrows():
        domain_id = row["domain"]
        rows = dataset.domain_rows(ds, domain_id, curated=False)
        # Smit et al. pooled the Metapsy rows; trials added since have no recorded g
        rows = rows[rows["source"].astype(str).str.startswith(METAPSY_SOURCE)].reset_index(drop=True)
        if rows.empty:  # a dataset without the Metapsy rows (e.g. synthetic) has nothing to reproduce
            continue
        recorded = dataset.effect_sizes(rows, ds, as_published=True)
        res = meta.rma(recorded["yi"].to_numpy(float), recorded["vi"].to_numpy(float), measure="SMD",
                       **SMIT_POOLING)
        printed = {key: printed_all.at[row["estimate_id"], column] for key, column in PRINTED_COLUMNS.items()
                   if printed_all.at[row["estimate_id"], column] != ""}
        reproduced = {key: plain(getattr(res, key)) for key in PRINTED_COLUMNS}
        comparison = {key: _matches(text, reproduced[key]) for key, text in printed.items()}
        curated_rows = dataset.effect_sizes(dataset.domain_rows(ds, domain_id), ds)
        cur = meta.rma(curated_rows["yi"].to_numpy(float), curated_rows["vi"].to_numpy(float), measure="SMD",
                       **SMIT_POOLING)
        differences = _row_differences(ds, recorded, curated_rows)
        out.append({
            "review": "smit2022",
            "outcome": domain_id,
            "published": {key: _num(text) for key, text in printed.items()},
            "printed": printed,
            "reproduced": reproduced,
            "comparison": comparison,
            "curated": {k: plain(getattr(cur, k)) for k in ("k", "estimate", "ci_low", "ci_high", "i2_q", "tau2")},
            "settings": SMIT_SETTINGS,
            "differences": differences,
            "match": bool(comparison) and all(comparison.values()),
            "source": row.get("source"),
        })
    return out


#: Outcome-row fields that determine an effect size (curation decisions on them explain differences).
EFFECT_FIELDS = {"n1", "mean1", "sd1", "n2", "mean2", "sd2", "events1", "total1", "events2", "total2",
                 "yi", "sei", "recorded_g", "recorded_g_se", "data_type", "instrument"}


#: Rows whose as-published and curated effects differ by more than this are explained on the page.
DIFFERENCE_TOLERANCE = 0.005


def _row_differences(ds, recorded: pd.DataFrame, curated: pd.DataFrame,
                     tolerance: float = DIFFERENCE_TOLERANCE) -> list[dict]:
    """Rows whose effect differs between the as-published and the curated analysis, with why.

    The reason is the curation decision(s) on the row, else how the curated effect was computed
    (a recomputation from the arm data that does not reproduce the recorded g).
    """
    by_id = curated.set_index("outcome_id")
    decisions: dict = {}
    for a in ds.applied:
        if a["action"] == "exclude" or a.get("field") in EFFECT_FIELDS:
            reason = f"{a['reason']} ({a['curation_id']})"
            mine = decisions.setdefault(a["outcome_id"] or a["study_id"], [])
            if not any(r.startswith(a["reason"]) for r in mine):
                mine.append(reason)
    out = []
    for _, row in recorded.iterrows():
        oid = row["outcome_id"]
        if oid not in by_id.index:
            out.append({"outcome_id": oid, "recorded_g": float(row["yi"]), "curated_g": None,
                        "reason": "; ".join(decisions.get(oid, decisions.get(row["study_id"], ["excluded"])))})
            continue
        cur = float(by_id.at[oid, "yi"])
        if abs(cur - float(row["yi"])) > tolerance:
            reasons = decisions.get(oid, []) + decisions.get(row["study_id"], [])
            out.append({"outcome_id": oid, "recorded_g": float(row["yi"]), "curated_g": cur,
                        "reason": "; ".join(reasons) or f"recomputed: {by_id.at[oid, 'es_method']}"})
    return out


#: Engine key -> column of published_estimates.csv holding the printed value.
PRINTED_COLUMNS = {"k": "k", "estimate": "estimate", "ci_low": "ci_low", "ci_high": "ci_high", "p": "p",
                   "i2_q": "i2", "i2_q_ci_low": "i2_ci_low", "i2_q_ci_high": "i2_ci_high"}


def _num(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(str(value).replace("\u2212", "-").strip().rstrip("%"))
    except ValueError:
        return None


def _matches(printed: str, value) -> bool:
    """Whether ``value`` rounds to the printed text (``0.10`` -> 2 decimals; ``<0.001`` is a bound)."""
    if value is None:
        return False
    text = printed.strip().replace("\u2212", "-").rstrip("%")
    if text.startswith(("<", ">")):
        bound = float(text.lstrip("<>=").strip())
        return value < bound if text.startswith("<") else value > bound
    decimals = len(text.split(".")[1]) if "." in text else 0
    return round(float(value), decimals) == round(float(text), decimals)
