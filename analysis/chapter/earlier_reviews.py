"""The five source reviews' own questions, answered from the living data.

For each review: its question and methods; its trials matched to ours (with outcome data here,
awaiting data, not eligible here); and, for each of its pooled results that maps to one of our
outcome domains, our analysis restricted to its trials (the trials the review pooled for that
result where :file:`estimate_trials.csv` knows them, else all its trials), beside the published
estimate oriented the same way (positive favours peer support), with the differences explained.
Smit et al. (2022) are reproduced exactly from the same rows (:mod:`analysis.chapter.reproduction`);
the other re-analyses are approximate, because the trial-level data of those reviews are not
published in the texts we hold and our rows, instruments and timepoints differ from theirs.

Approximation of each review's model (``REVIEW_MODELS``): White et al. (2020) and Lyons et al.
(2021) used RevMan 5 (inverse-variance random effects; RevMan 5's estimator is DerSimonian-Laird),
Egmose et al. (2023) Comprehensive Meta-Analysis (random effects, inverse variance; DerSimonian-
Laird is its default). The reviews pooled one outcome per trial, so a trial with several rows in a
domain enters with one effect (metafor ``aggregate``, compound symmetry with r = 0.5, as the
chapters' sensitivity menu).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import dataset
from analysis.chapter.labels import is_coded, label_of
from analysis.chapter.params import resolve_data_dir
from analysis.stats import meta, moderators, sensitivity
from analysis.stats.formatting import plain, text

REVIEW_ORDER = ("smit2022", "white2020", "lyons2021", "egmose2023", "cooper2024")

#: Each review's question and methods in two lines (from the review texts, through their
#: extraction notes; the search dates and settings are as the reviews state them).
REVIEWS = {
    "smit2022": {
        "question": "Is peer support effective for people with mental illness, on personal, clinical and "
                    "functional recovery?",
        "methods": "The open Metapsy database of randomised trials (last search 18 December 2020); Hedges' g "
                   "at post-test, every row of a recovery category pooled (REML, Knapp-Hartung CI).",
    },
    "white2020": {
        "question": "Is one-to-one peer support effective for adults using mental health services, and which "
                    "kind of peer role works (paraclinical roles, structured behavioural interventions, "
                    "flexible support for recovery)? Does it change service use (hospitalisation, days in "
                    "hospital)?",
        "methods": "19 trials (search to 13 June 2019); RevMan 5.2 random effects, Hedges' g or risk ratio at "
                   "each trial's longest follow-up; subgroups adjunctive vs substitute peer support and "
                   "higher vs lower organisational support where I² > 50%.",
    },
    "lyons2021": {
        "question": "Are group peer support interventions, delivered only by peers, effective for people with "
                    "mental health conditions, and do mutual support groups and peer support groups "
                    "(self-management, anti-stigma) differ?",
        "methods": "8 randomised trials (search to 12 July 2019); RevMan 5.3 random effects, SMD (MD for one "
                   "shared instrument) post-intervention and at follow-up, pooled from three trials; the "
                   "numbers are those the umbrella review quotes (the review's Table 2 is not in the text).",
    },
    "egmose2023": {
        "question": "Do the effects of peer support on personal and clinical recovery depend on the "
                    "organisational setting: peers added to mental health services, in established service "
                    "roles, independent of services, or online?",
        "methods": "49 randomised trials (48 enumerable; search April 2018, updated June 2019); Comprehensive "
                   "Meta-Analysis random effects, SMD at the end of the intervention, pooled from two trials, "
                   "overall and by setting.",
    },
    "cooper2024": {
        "question": "What is the effectiveness of paid peer support for mental health, what influences its "
                    "implementation, and how do peer support workers, service users and staff experience it?",
        "methods": "Umbrella review of 35 reviews (search January 2012 to November 2022), rated with AMSTAR 2; "
                   "no new pooling (the reviews' pooled estimates are tabulated), implementation by CFIR domain, "
                   "experiences by thematic synthesis (see the chapter on implementation and experiences).",
    },
}

#: (method, ci) approximating each review's random-effects model.
REVIEW_MODELS = {"white2020": ("DL", "z"), "lyons2021": ("DL", "z"), "egmose2023": ("DL", "z")}
#: Rows to read for each review's results: its own estimates, or those the umbrella review quotes.
REPORTED_IN = {"white2020": "white2020", "lyons2021": "cooper2024", "egmose2023": "egmose2023"}
#: The timepoint of each review's pooled results, against our post-test rows.
TIMEPOINTS = {
    "white2020": "White et al. pooled each trial's longest follow-up (2.5 to 24 months after randomisation); "
                 "our rows are post-test",
    "lyons2021": "post-intervention, as our rows",
    "egmose2023": "end of the intervention, as our rows",
}
#: Domains in which a review's printed estimate has negative values favouring peer support (the
#: printed sign is flipped to our convention). White et al.: "the opposite being the case for ...
#: general psychiatric symptoms, depression and anxiety, days in hospital"; Egmose et al. and Lyons
#: et al. report symptom outcomes with negative values for fewer symptoms.
NEGATIVE_FAVOURS = {"global-symptoms", "depression", "clinical-recovery"}
SIGN_CONVENTIONS = {"white2020": NEGATIVE_FAVOURS - {"clinical-recovery"},
                    "lyons2021": NEGATIVE_FAVOURS - {"clinical-recovery"},
                    "egmose2023": NEGATIVE_FAVOURS - {"clinical-recovery"}}
#: A review's subgroup label -> (our column, our code) for the subgroups it reports.
SUBGROUP_CODES = {
    "white2020": {"Substitute PS": ("peer_capacity", "substitute"), "Adjunctive PS": ("peer_capacity", "adjunctive"),
                  "Lower level of organisational support": ("org_support", "lower"),
                  "Higher level of organisational support": ("org_support", "higher")},
    "egmose2023": {"hospital-added": ("setting", "added-to-services"),
                   "independent": ("setting", "independent-of-services"), "online": ("setting", "online")},
}
#: Our classification analysed within each review's trials, besides those it reported.
OWN_SUBGROUPS = {"white2020": ("peer_capacity", "org_support", "peer_role"), "egmose2023": ("setting",),
                 "lyons2021": ("group_type",)}
VARIABLE_TITLES = {"setting": "Setting (Egmose et al. 2023)", "peer_role": "Peer role (White et al. 2020)",
                   "peer_capacity": "Adjunctive or substitute peer support (White et al. 2020)",
                   "org_support": "Organisational support (White et al. 2020)",
                   "group_type": "Type of group (Lyons et al. 2021)"}
#: Every trial of these reviews meets this review's eligibility (chapters/methods.md); a trial the
#: review counts but does not name cannot be matched and is explained in the text.
NOT_ELIGIBLE_NOTE = "none: every trial these reviews include meets the eligibility of this review"
PUBLISHED_KEYS = {"k": "k", "estimate": "estimate", "ci_low": "ci_low", "ci_high": "ci_high", "i2_q": "i2",
                  "p": "p"}
OURS_KEYS = ("k", "estimate", "ci_low", "ci_high", "se", "p", "tau2", "i2_q", "q", "q_p", "method", "ci_method")


def earlier_reviews(ds, reproduction: list[dict], data_dir=None) -> list[dict]:
    """One entry per review outcome (the JSON written to ``_build/results/earlier_reviews.json``).

    Parameters
    ----------
    ds : analysis.dataset.Dataset
        The loaded dataset (curated view).
    reproduction : list of dict
        :func:`analysis.chapter.reproduce_published` of the same dataset (Smit et al. 2022).
    data_dir : path, optional
        The dataset directory (default: as :func:`analysis.chapter.resolve_data_dir`); the printed
        numbers are read from ``published_estimates.csv`` as text there.

    Returns
    -------
    list of dict
        ``review``, ``label``, ``question``, ``methods``, ``outcome`` (our domain id),
        ``outcome_as_published``, ``published`` and ``ours`` (engine key names; ``published``
        oriented so that positive favours peer support, ``printed`` keeps the text as printed),
        ``difference`` (ours minus published estimate), ``trials`` (``in_data``, ``awaiting``,
        ``not_eligible``), ``kind`` (``exact`` or ``approximate``), ``explanation`` and
        ``subgroups``.
    """
    printed = pd.read_csv(resolve_data_dir(data_dir) / "published_estimates.csv", dtype=str,
                          keep_default_na=False).set_index("estimate_id")
    out = []
    for review in REVIEW_ORDER:
        if review == "smit2022":
            out += _smit(ds, reproduction)
        elif review == "cooper2024":
            out += _umbrella(ds)
        else:
            out += [_entry(ds, review, row, printed) for row in _main_estimates(ds, review)]
    return out


# -- trials ------------------------------------------------------------------------------------


def review_trials(ds, review: str, estimate_id: str | None = None, k: int | None = None) -> tuple[list[str], str]:
    """The trials behind a review's result and how they are known.

    The trials of ``estimate_id`` in ``estimate_trials.csv`` where that set is known (basis
    ``cited`` or ``inferred``; ``partial`` when fewer than the ``k`` trials the review pooled are
    known), else every trial of the review (basis ``review``).
    """
    known = ds.estimate_trials
    links = ds.study_reviews
    everything = sorted(links.loc[links["review_id"] == review, "study_id"])
    if estimate_id is None or known.empty:
        return everything, "review"
    mine = known[known["estimate_id"] == estimate_id]
    if mine.empty:
        return everything, "review"
    if k is not None and len(mine) < k:
        return sorted(mine["study_id"]), "partial"
    return sorted(mine["study_id"]), "cited" if (mine["basis"] == "cited").all() else "inferred"


def match_trials(ds, study_ids) -> dict:
    """The trials ``study_ids`` as ``{"in_data", "awaiting", "not_eligible"}``.

    Trials with extracted outcome data here, trials awaiting data, and trials not eligible here
    (none, see :data:`NOT_ELIGIBLE_NOTE`).
    """
    state = ds.studies.set_index("study_id")["outcome_data"]
    ids = sorted(set(study_ids))
    return {"in_data": [s for s in ids if state.get(s) == "extracted"],
            "awaiting": [s for s in ids if state.get(s) == "not yet extracted"],
            "not_eligible": [s for s in ids if s not in state.index]}


# -- the re-analyses ---------------------------------------------------------------------------


def _main_estimates(ds, review: str) -> list[dict]:
    """The review's pooled results (overall, not subgroup) in our domains, with numbers printed or not."""
    pub = ds.published
    rows = pub[(pub["review_id"] == review) & (pub["reported_in"] == REPORTED_IN[review]) & pub["subgroup"].isna()]
    if review == "lyons2021":
        rows = rows[rows["timepoint"] == "post"]   # the follow-up rows need follow-up domains
    # results in our domains first, then those of outcomes the dataset has no domain for
    rows = rows.assign(_unmatched=rows["domain"].isna()).sort_values(["_unmatched", "estimate_id"])
    return [r for _, r in rows.drop(columns="_unmatched").iterrows()]


def _rows(ds, domain: str, study_ids) -> pd.DataFrame:
    rows = dataset.effect_sizes(dataset.domain_rows(ds, domain), ds)
    return rows[rows["study_id"].isin(set(study_ids))].reset_index(drop=True)


def _pooled(rows: pd.DataFrame, method: str, ci: str):
    """One effect per trial (aggregated, r = 0.5), pooled with the review's model; None if no rows."""
    if rows.empty:
        return None
    per_trial = sensitivity.aggregate(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float),
                                      rows["study_id"].tolist(), rho=0.5)
    return meta.rma(per_trial.yi, per_trial.vi, method=method, ci=ci, pi="z", labels=per_trial.labels,
                    measure="SMD")


def _ours(res, rows: pd.DataFrame, labels: dict) -> dict | None:
    if res is None:
        return None
    out = {key: plain(getattr(res, key)) for key in OURS_KEYS}
    out["studies"] = list(res.labels)
    out["labels"] = [labels.get(s, s) for s in res.labels]
    out["instruments"] = sorted(set(rows["instrument"].astype(str)))
    return out


def _printed(printed: pd.DataFrame, estimate_id: str) -> dict:
    """The published numbers as printed (text, so that trailing zeros keep the printed precision)."""
    row = printed.loc[estimate_id]
    return {key: row[column] for key, column in PUBLISHED_KEYS.items() if row[column] != ""}


def _published(row, review: str, domain: str) -> dict:
    """The published estimate in engine key names, oriented so that positive favours peer support."""
    values = {key: _number(row.get(column)) for key, column in PUBLISHED_KEYS.items()}
    flip = domain in SIGN_CONVENTIONS.get(review, ())
    if flip and values["estimate"] is not None:
        values["estimate"] = -values["estimate"]
        values["ci_low"], values["ci_high"] = (None if values["ci_high"] is None else -values["ci_high"],
                                               None if values["ci_low"] is None else -values["ci_low"])
    values["k"] = None if values["k"] is None else int(values["k"])
    values["p"] = row.get("p") if not _missing(row.get("p")) else None   # as printed, e.g. "<0.001"
    values.update({"estimate_id": row["estimate_id"], "measure": row.get("measure"),
                   "timepoint": row.get("timepoint"), "source": row.get("source"),
                   "verbatim": row.get("verbatim"), "flipped": bool(flip and values["estimate"] is not None)})
    return values


def _entry(ds, review: str, row, printed: pd.DataFrame) -> dict:
    domain = row["domain"]
    if _missing(domain):
        return _unmatched(ds, review, row, printed)
    method, ci = REVIEW_MODELS[review]
    k = None if _missing(row.get("k")) else int(row["k"])
    study_ids, basis = review_trials(ds, review, row["estimate_id"], k)
    rows = _rows(ds, domain, study_ids)
    labels = ds.studies.set_index("study_id")["label"].to_dict()
    res = _pooled(rows, method, ci)
    published = _published(row, review, domain)
    ours = _ours(res, rows, labels)
    trials = match_trials(ds, study_ids)
    entry = {
        "review": review, "label": _label(ds, review), **REVIEWS[review],
        "outcome": domain, "outcome_as_published": row["outcome"],
        "published": published, "printed": _printed(printed, row["estimate_id"]), "ours": ours,
        "difference": _difference(ours, published),
        "trials": trials, "trial_set": basis, "kind": "approximate",
        "subgroups": _subgroups(ds, review, row, rows, method, ci, labels),
    }
    entry["explanation"] = _explanation(ds, review, entry, rows, labels)
    return entry


def _unmatched(ds, review: str, row, printed: pd.DataFrame) -> dict:
    """A result of an outcome that none of our domains holds: shown as published, not re-analysed."""
    k = None if _missing(row.get("k")) else int(row["k"])
    study_ids, basis = review_trials(ds, review, row["estimate_id"], k)
    return {
        "review": review, "label": _label(ds, review), **REVIEWS[review],
        "outcome": None, "outcome_as_published": row["outcome"],
        "published": _published(row, review, ""), "printed": _printed(printed, row["estimate_id"]), "ours": None,
        "difference": None, "trials": match_trials(ds, study_ids), "trial_set": basis, "kind": "approximate",
        "subgroups": [],
        "explanation": ("Not re-analysed: none of our outcome domains holds this outcome (domains.yml has a domain for "
                        "each recovery category and each sub-domain with at least three trials); the result is shown "
                        "as the review printed it, with its own sign convention."),
    }


def _subgroups(ds, review: str, row, rows: pd.DataFrame, method: str, ci: str, labels: dict) -> list[dict]:
    """The review's published subgroups of this result beside ours, then our own classifications."""
    pub = ds.published
    reported = pub[(pub["review_id"] == review) & (pub["domain"] == row["domain"]) & pub["subgroup"].notna()
                   & (pub["timepoint"] == row["timepoint"])]
    # the same outcome (White prints "Overall psychiatric symptoms (longest follow-up; ...)" in Table 2)
    reported = reported[[str(row["outcome"]).startswith(str(o)) for o in reported["outcome"]]]
    codes = SUBGROUP_CODES.get(review, {})
    by_column: dict[str, list] = {}
    for _, sub in reported.iterrows():
        if sub["subgroup"] in codes:
            column, code = codes[sub["subgroup"]]
            by_column.setdefault(column, []).append((code, sub))
    out = []
    for column in list(by_column) + [c for c in OWN_SUBGROUPS.get(review, ()) if c not in by_column]:
        published = [{"subgroup": label_of(code, column), "code": code, "as_published": sub["subgroup"],
                      **_published(sub, review, row["domain"])} for code, sub in by_column.get(column, [])]
        ours = _subgroup_fit(ds, rows, column, method, ci)
        out.append({"variable": column, "title": VARIABLE_TITLES[column], "published": published,
                    "ours": ours if isinstance(ours, str) else ours.to_dict(),
                    "ours_groups": _group_table(ours, labels)})
    return out


def _subgroup_fit(ds, rows: pd.DataFrame, column: str, method: str, ci: str):
    """Our subgroup analysis of ``column`` within the review's trials.

    One effect per trial, trials without a value left out; a string says why it was not done.
    """
    res = _pooled(rows, method, ci)
    if res is None or res.k < 2:
        return "not done: fewer than two trials with data"
    values = ds.studies.set_index("study_id")[column]
    coded = [is_coded(values.get(s)) for s in res.labels]
    groups = [label_of(values.get(s), column) for s, c in zip(res.labels, coded) if c]
    if len(set(groups)) < 2:
        return (f"not done: fewer than two subgroups have trials ({len(groups)} of {res.k} trials "
                f"classified{': all ' + repr(groups[0]) if groups else ''})")
    fit = res if all(coded) else res.refit(np.flatnonzero(coded))
    result = moderators.subgroup(fit, groups, tau2="separate")
    if not all(coded):
        result.notes.append(f"{res.k - len(groups)} of {res.k} trials without a value left out")
    return result


def _group_table(result, labels: dict) -> list[dict]:
    if isinstance(result, str):
        return []
    return [{"subgroup": name, "k": r.k, "estimate": plain(r.estimate), "ci_low": plain(r.ci_low),
             "ci_high": plain(r.ci_high), "studies": [labels.get(s, s) for s in r.labels]}
            for name, r in result.groups.items()]


def _explanation(ds, review: str, entry: dict, rows: pd.DataFrame, labels: dict) -> str:
    published, ours, trials = entry["published"], entry["ours"], entry["trials"]
    names = (lambda ids: ", ".join(labels.get(s, s) for s in ids))
    parts = []
    set_text = {"cited": "the trials the review cites for this result",
                "inferred": "the trials the extraction infers the review pooled",
                "partial": "the trials known to be in this result (the review cites or the extraction infers only "
                           "some of the trials it pooled)",
                "review": "all trials of the review (which trials it pooled for this result is not known)"}
    parts.append(f"Trials: {set_text[entry['trial_set']]}.")
    with_rows = sorted(set(rows["study_id"]))
    no_rows = [s for s in trials["in_data"] if s not in with_rows]
    if published["k"] is not None:
        parts.append(f"The review pooled {published['k']} trial(s).")
    parts.append(f"Of the trials used here, {len(with_rows)} have rows in this outcome"
                 + (f" ({names(with_rows)})" if with_rows else "") + ".")
    if trials["awaiting"]:
        parts.append(f"Awaiting data here: {names(trials['awaiting'])}.")
    if no_rows:
        parts.append(f"In our data without a row in this outcome: {names(no_rows)}.")
    if ours is not None:
        parts.append(f"Our instruments: {'; '.join(ours['instruments'])}.")
    parts.append(f"Timepoint: {TIMEPOINTS[review]}.")
    method, ci = REVIEW_MODELS[review]
    parts.append(f"Model: {method} random effects with a {ci} CI (approximating the review's), one effect per "
                 "trial.")
    if published["flipped"]:
        parts.append("The review's negative values favour peer support; its estimate is shown with the sign "
                     "reversed.")
    if published["estimate"] is None:
        parts.append("The review printed no number for this result (only its wording, quoted).")
    if entry["difference"] is not None:
        parts.append(f"Ours minus published: {text(entry['difference'])}.")
    return " ".join(parts)


def _difference(ours, published) -> float | None:
    if ours is None or ours.get("estimate") is None or published.get("estimate") is None:
        return None
    return plain(ours["estimate"] - published["estimate"])


# -- Smit et al. 2022: the exact reproduction ------------------------------------------------


def _smit(ds, reproduction: list[dict]) -> list[dict]:
    study_ids, _ = review_trials(ds, "smit2022")
    trials = match_trials(ds, study_ids)
    out = []
    for item in reproduction:
        exact = bool(item.get("match"))
        published = {key: item["published"].get(key) for key in PUBLISHED_KEYS}
        published["k"] = None if published["k"] is None else int(published["k"])
        published["p"] = item["printed"].get("p")
        published.update({"estimate_id": None, "measure": "Hedges' g", "timepoint": "post",
                          "source": item.get("source"), "flipped": False})
        ours = dict(item["reproduced"])
        out.append({
            "review": "smit2022", "label": _label(ds, "smit2022"), **REVIEWS["smit2022"],
            "outcome": item["outcome"], "outcome_as_published": item["outcome"].replace("-", " "),
            "published": published, "printed": item["printed"], "ours": ours,
            "difference": _difference(ours, published), "trials": trials, "trial_set": "review",
            "kind": "exact" if exact else "approximate", "subgroups": [],
            "explanation": (
                ("Exact reproduction: every printed number is matched to its printed decimals. " if exact else
                 "Not reproduced to every printed decimal. ")
                + "Every Metapsy row of the category pooled as published (rows, not trials; the recorded g), "
                "REML, Knapp-Hartung CI (t, k-1), Q-based I² with the Higgins-Thompson CI. The umbrella review's "
                f"Table 1 counts {_n_primary(ds, 'smit2022')} studies for the review; the Metapsy database behind it "
                f"holds {len(trials['in_data'])} trials with rows, all in our data. Our curated analysis of the same "
                "rows gives "
                f"g = {text(item['curated'].get('estimate'))} (see Reproducibility)."),
        })
    return out


def _n_primary(ds, review: str):
    rows = ds.reviews[ds.reviews["review_id"] == review]
    value = rows["n_primary_studies"].iloc[0] if not rows.empty else None
    return "an unstated number of" if _missing(value) else int(value)


# -- Cooper et al. 2024: what the umbrella review tabulates beside our main analysis ---------


def _umbrella(ds) -> list[dict]:
    pub = ds.published
    quoted = pub[(pub["reported_in"] == "cooper2024") & pub["domain"].notna()]
    amstar = ds.reviews.set_index("review_id")["amstar2"].to_dict()
    labels = ds.studies.set_index("study_id")["label"].to_dict()
    out = []
    for domain in [d["id"] for d in ds.domains]:
        mine = quoted[quoted["domain"] == domain]
        if mine.empty:
            continue
        rows = dataset.effect_sizes(dataset.domain_rows(ds, domain), ds)
        res = _pooled(rows, "REML", "z")
        items = [{"review": r["review_id"], "outcome": r["outcome"], "timepoint": r["timepoint"],
                  "k": None if _missing(r["k"]) else int(r["k"]), "measure": r["measure"],
                  "estimate": _number(r["estimate"]), "ci_low": _number(r["ci_low"]),
                  "ci_high": _number(r["ci_high"]), "amstar2": amstar.get(r["review_id"]),
                  "estimate_id": r["estimate_id"]} for _, r in mine.sort_values("estimate_id").iterrows()]
        reviews = sorted({i["review"] for i in items})
        out.append({
            "review": "cooper2024", "label": _label(ds, "cooper2024"), **REVIEWS["cooper2024"],
            "outcome": domain, "outcome_as_published": "; ".join(dict.fromkeys(i["outcome"] for i in items)),
            "published": None, "printed": {}, "quoted": items, "ours": _ours(res, rows, labels),
            "difference": None, "trials": {"in_data": [], "awaiting": [], "not_eligible": []},
            "trial_set": "none", "kind": "approximate", "subgroups": [],
            "explanation": (
                f"The umbrella review pools nothing itself: it tabulates {len(items)} pooled result(s) of "
                f"{len(reviews)} review(s) for this outcome, each as printed by its review (signs and "
                "timepoints differ between reviews). It names no primary trial (its overlap matrix is not in "
                "the text), so no trial can be matched. Ours: every trial with data here, one effect per trial, "
                "REML random effects."),
        })
    return out


# -- helpers ---------------------------------------------------------------------------------


def _label(ds, review: str) -> str:
    rows = ds.reviews[ds.reviews["review_id"] == review]
    return rows["label"].iloc[0] if not rows.empty else review


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == ""


def _number(value) -> float | None:
    """A printed number ('0.20', '−0.21', '47') as float; bounds such as '<0.001' give None."""
    if _missing(value):
        return None
    text_value = str(value).replace("\u2212", "-").strip().rstrip("%")
    try:
        return float(text_value)
    except ValueError:
        return None
