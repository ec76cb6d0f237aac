"""What a domain's finding covers and means in natural units.

The time points in words, the instruments, and the re-expression of a standardised mean difference on the
most used instrument.

Re-expression (Cochrane Handbook chapter 15, "re-expressing SMDs"; Guyatt et al. 2013, GRADE
guidelines 13): when one instrument is used by at least half of a domain's trials, the SMD and its
CI are multiplied by a typical standard deviation of that instrument, the median SD of the
control groups that report one, and given in its points (lower is better for symptom scales, so
a benefit is a number of points lower). Control-group SDs of the same instrument that differ more
than threefold signal different versions or scorings (a sum score beside an item mean, for
example); the review then does not re-express, because no single SD is typical.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

#: Fewest trials with a control-group SD for a re-expression.
MIN_TRIALS_WITH_SD = 2
#: Largest ratio of the largest to the smallest control-group SD accepted as one scoring.
MAX_SD_RATIO = 3.0
#: Share of the domain's trials an instrument must reach to be the one the SMD is re-expressed in.
DOMINANT_SHARE = 0.5

_SUBGROUP = re.compile(r"\s*\((high|low)\)\s*$", re.IGNORECASE)

#: Time frames of the coded timepoints.
TIMEPOINTS = {"post": "end of the intervention (post-test)", "follow-up": "follow-up after the intervention"}


def instrument_family(name: str) -> str:
    """The instrument without a subgroup suffix, case-folded ("RAS - total (high)" -> "ras - total")."""
    return _SUBGROUP.sub("", str(name)).strip().casefold()


def instruments(rows: pd.DataFrame) -> list[dict]:
    """Instruments of the analysed rows with the number of trials using each, most used first.

    ``[{"instrument": name as written (its first spelling), "trials": n}]``; a trial reporting the
    same instrument on several rows (subgroups) counts once.
    """
    seen: dict[str, dict] = {}
    for study, name in zip(rows["study_id"], rows["instrument"]):
        family = instrument_family(name)
        entry = seen.setdefault(family, {"instrument": _SUBGROUP.sub("", str(name)).strip(), "studies": set()})
        entry["studies"].add(study)
    out = [{"instrument": e["instrument"], "trials": len(e["studies"])} for e in seen.values()]
    return sorted(out, key=lambda e: (-e["trials"], e["instrument"].casefold()))


def reexpression(rows: pd.DataFrame, estimate: float, ci_low: float, ci_high: float,
                 instrument_table: pd.DataFrame | None = None) -> dict | None:
    """The SMD and its CI in points of the dominant instrument, or None (see the module text).

    ``rows``: the domain's analysed rows (``instrument``, ``study_id``, ``data_type``, ``sd2``,
    ``higher_is_better``); ``instrument_table``: instruments.csv (scale range).
    """
    if not all(math.isfinite(x) for x in (estimate, ci_low, ci_high)):
        return None
    used = instruments(rows)
    trials = rows["study_id"].nunique()
    if not used or used[0]["trials"] < DOMINANT_SHARE * trials:
        return None
    family = instrument_family(used[0]["instrument"])
    mine = rows[[instrument_family(n) == family for n in rows["instrument"]]]
    with_sd = mine[(mine["data_type"] == "msd") & pd.to_numeric(mine["sd2"], errors="coerce").gt(0)]
    sds = with_sd.drop_duplicates("study_id")["sd2"].astype(float).to_numpy()
    if len(sds) < MIN_TRIALS_WITH_SD or sds.max() / sds.min() > MAX_SD_RATIO:
        return None
    sd = float(np.median(sds))
    better_higher = bool(mine["higher_is_better"].iloc[0])
    sign = 1.0 if better_higher else -1.0
    ends = sorted((sign * ci_low * sd, sign * ci_high * sd))
    scale = {}
    if instrument_table is not None and not instrument_table.empty:
        match = instrument_table[[instrument_family(n) == family for n in instrument_table["instrument"]]]
        if not match.empty:
            lo, hi = match["scale_min"].iloc[0], match["scale_max"].iloc[0]
            if pd.notna(lo) and pd.notna(hi):
                scale = {"scale_min": float(lo), "scale_max": float(hi)}
    return {"kind": "instrument-units", "instrument": used[0]["instrument"], "higher_is_better": better_higher,
            "sd": sd, "sd_trials": int(len(sds)), "trials_using": used[0]["trials"], "trials": int(trials),
            "estimate": sign * estimate * sd, "ci_low": ends[0], "ci_high": ends[1], **scale}
