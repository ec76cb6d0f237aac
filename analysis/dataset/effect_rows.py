"""Effect sizes of the review's outcome rows: one oriented ``yi`` and ``vi`` per row.

Positive ``yi`` favours peer support. The statistics are :func:`analysis.stats.escalc`; this
module only chooses, per row, which input the row carries and how it is oriented.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.stats.effects import escalc

if TYPE_CHECKING:
    from analysis.dataset.load import Dataset

REQUIRED_BY_TYPE = {
    "msd": ("n1", "mean1", "sd1", "n2", "mean2", "sd2"),
    "events": ("events1", "total1", "events2", "total2"),
    "effect-se": ("yi", "sei"),
}
#: Converting a log odds ratio to a standardised mean difference: g = ln(OR) sqrt(3)/pi,
#: var = var(ln OR) 3/pi^2 (Chinn 2000, Stat Med 19:3127; Cochrane Handbook 10.6).
LOG_OR_TO_SMD = math.sqrt(3) / math.pi


def events_as_smd(rows: pd.DataFrame, higher_is_better: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Effects of event rows on the SMD scale, converted from the log odds ratio.

    The log odds ratio (0.5 added to zero cells) is converted by g = ln(OR) sqrt(3)/pi,
    var = var(ln OR) 3/pi^2 (Chinn 2000). A bad event (``higher_is_better`` False) flips the sign
    so that positive favours peer support.
    """
    es = escalc("OR", **{c: rows[c].to_numpy(float) for c in REQUIRED_BY_TYPE["events"]}, drop00=False)
    sign = np.where(higher_is_better, 1.0, -1.0)
    return sign * es.yi * LOG_OR_TO_SMD, es.vi * LOG_OR_TO_SMD ** 2


#: How each measure of a domain takes each kind of outcome row (the check refuses the rest).
POOLED_TYPES = {"SMD": ("msd", "events", "effect-se"), "MD": ("msd",), "RR": ("events",), "OR": ("events",),
                "RD": ("events",), "GEN": ("effect-se",)}


def effect_sizes(rows: pd.DataFrame, ds: Dataset, measure: str = "SMD", vtype: str | None = None,
                 as_published: bool = False) -> pd.DataFrame:
    """Add ``yi``, ``vi`` and ``es_method`` (how the effect was obtained) to outcome rows.

    ``measure`` is the domain's measure. SMD: ``msd`` rows give Hedges' g
    (:func:`analysis.stats.escalc`, variance ``vtype``, default ``LS``), sign flipped for
    instruments where lower is better, so that positive favours peer support; ``events`` rows the
    log odds ratio converted to the SMD scale by sqrt(3)/pi (Chinn 2000; only in domains with
    ``convert_binary``); ``effect-se`` rows ``yi`` as recorded (already oriented), ``vi = sei^2``.
    MD: the raw mean difference (variance ``vtype``, default ``HE``), oriented like the SMD.
    RR, OR (log scale) and RD: risk in peer support versus control as the data give it (not
    oriented: for a harmful event a ratio below 1 favours peer support); a table with no events in
    either arm (or events in every participant of both arms) has no ratio: ``yi`` is NaN and
    ``es_method`` says why, as metafor drops such studies. ``as_published=True``: ``recorded_g``
    and ``recorded_g_se^2`` for every row, i.e. what the source pooled; a row without them gets NaN.
    """
    out = rows.copy()
    hib = out["instrument"].map(ds.instruments.set_index("instrument")["higher_is_better"]).astype(bool).to_numpy()
    yi = np.full(len(out), np.nan)
    vi = np.full(len(out), np.nan)
    method = np.array([""] * len(out), dtype=object)
    if as_published:
        yi = out["recorded_g"].to_numpy(float)
        vi = out["recorded_g_se"].to_numpy(float) ** 2
        method[:] = "recorded_g (as published)"
        out["yi"], out["vi"], out["es_method"] = yi, vi, method
        return out
    for kind in POOLED_TYPES[measure]:
        mask = (out["data_type"] == kind).to_numpy()
        if not mask.any():
            continue
        part = out[mask]
        if kind == "msd":
            variance = vtype or ("HE" if measure == "MD" else "LS")
            es = escalc(measure, **{c: part[c].to_numpy(float) for c in REQUIRED_BY_TYPE["msd"]},
                        vtype=variance, higher_is_better=hib[mask])
            yi[mask], vi[mask] = es.yi, es.vi
            method[mask] = (f"Hedges' g from means and SDs (vtype {variance})" if measure == "SMD"
                            else f"mean difference from means and SDs (vtype {variance})")
        elif kind == "events" and measure == "SMD":
            yi[mask], vi[mask] = events_as_smd(part, hib[mask])
            method[mask] = "log odds ratio x sqrt(3)/pi (Chinn 2000)"
        elif kind == "events":
            ids = part["outcome_id"].astype(str).tolist()
            es = escalc(measure, **{c: part[c].to_numpy(float) for c in REQUIRED_BY_TYPE["events"]}, labels=ids)
            kept = dict(zip(es.labels, zip(es.yi, es.vi)))
            dropped = {e["study"]: e["reason"] for e in es.excluded}
            positions = np.flatnonzero(mask)
            for pos, oid in zip(positions, ids):
                if oid in kept:
                    yi[pos], vi[pos] = kept[oid]
                    method[pos] = f"{_EVENT_WORDS[measure]} from events and totals"
                else:
                    method[pos] = f"not estimable: {dropped.get(oid, 'no effect defined')}"
        else:
            yi[mask], vi[mask] = part["yi"].to_numpy(float), part["sei"].to_numpy(float) ** 2
            method[mask] = "reported effect and standard error"
    out["yi"], out["vi"], out["es_method"] = yi, vi, method
    return out


_EVENT_WORDS = {"RR": "log risk ratio", "OR": "log odds ratio", "RD": "risk difference"}
