"""The earlier reviews' own questions answered from the living data (``earlier_reviews.json``), the
umbrella review's implementation and experiences findings, and the trials awaiting data.

Structural facts are checked on the shipped data (every review has entries, every re-analysis is
the engine's fit of exactly the trials it names, every printed number is oriented as stated); the
numbers of the published estimates are those of ``published_estimates.csv``, never recomputed here.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis import dataset, rma
from analysis.chapter import earlier_reviews, implementation_summary, reproduce_published
from analysis.chapter.earlier_reviews import REVIEW_ORDER, SIGN_CONVENTIONS
from analysis.stats import sensitivity

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(scope="module")
def ds():
    return dataset.load(DATA)


@pytest.fixture(scope="module")
def entries(ds):
    return earlier_reviews(ds, reproduce_published(ds, DATA), DATA)


def printed_rows() -> dict:
    with (DATA / "published_estimates.csv").open(encoding="utf-8", newline="") as handle:
        return {r["estimate_id"]: r for r in csv.DictReader(handle)}


def test_every_review_has_entries_with_the_contract_keys(entries):
    assert {e["review"] for e in entries} == set(REVIEW_ORDER)
    for e in entries:
        assert {"review", "question", "outcome", "published", "ours", "trials", "kind", "explanation"} <= set(e)
        assert set(e["trials"]) == {"in_data", "awaiting", "not_eligible"}
        assert e["kind"] in ("exact", "approximate")
        assert e["explanation"]
    json.dumps(entries, allow_nan=False)   # JSON-safe: no NaN


def test_only_smit_is_exact_and_only_where_it_matches(entries):
    exact = [e for e in entries if e["kind"] == "exact"]
    assert exact and all(e["review"] == "smit2022" for e in exact)
    for e in exact:
        for key in ("estimate", "ci_low", "ci_high"):
            decimals = len(e["printed"][key].split(".")[1])
            assert round(e["ours"][key], decimals) == round(float(e["printed"][key].replace("\u2212", "-")), decimals)


def test_egmose_has_setting_subgroups_and_white_peer_role_subgroups(entries):
    egmose = [s for e in entries if e["review"] == "egmose2023" for s in e["subgroups"]]
    assert any(s["variable"] == "setting" and s["published"] for s in egmose)
    white = [s for e in entries if e["review"] == "white2020" for s in e["subgroups"]]
    variables = {s["variable"] for s in white}
    assert {"peer_capacity", "peer_role"} <= variables
    assert any(s["variable"] == "peer_capacity" and s["published"] for s in white)


def test_published_estimates_are_oriented_as_the_review_states(entries):
    printed = printed_rows()
    for e in entries:
        p = e["published"]
        if p is None or p.get("estimate_id") is None or p.get("estimate") is None:
            continue
        raw = float(printed[p["estimate_id"]]["estimate"].replace("\u2212", "-"))
        flip = e["outcome"] in SIGN_CONVENTIONS.get(e["review"], ())
        assert p["estimate"] == pytest.approx(-raw if flip else raw)
        assert p["flipped"] is flip
        assert p["ci_low"] <= p["estimate"] <= p["ci_high"] or printed[p["estimate_id"]]["inconsistency"] == "true"


def test_ours_is_the_engine_fit_of_exactly_the_trials_named(ds, entries):
    checked = 0
    for e in entries:
        if e["review"] in ("smit2022", "cooper2024") or e["ours"] is None:
            continue
        rows = dataset.effect_sizes(dataset.domain_rows(ds, e["outcome"]), ds)
        rows = rows[rows["study_id"].isin(e["ours"]["studies"])]
        assert set(rows["study_id"]) == set(e["ours"]["studies"])
        # the trials pooled are trials of the review with data here
        assert set(e["ours"]["studies"]) <= set(e["trials"]["in_data"])
        agg = sensitivity.aggregate(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float), rows["study_id"].tolist())
        fit = rma(agg.yi, agg.vi, method="DL", ci="z")
        assert e["ours"]["estimate"] == pytest.approx(fit.estimate, rel=1e-10)
        assert e["ours"]["k"] == fit.k
        checked += 1
    assert checked >= 5


def test_trial_matching_partitions_the_reviews_trials(ds, entries):
    state = ds.studies.set_index("study_id")["outcome_data"]
    for e in entries:
        t = e["trials"]
        assert not set(t["in_data"]) & set(t["awaiting"])
        assert all(state[s] == "extracted" for s in t["in_data"])
        assert all(state[s] == "not yet extracted" for s in t["awaiting"])
        assert t["not_eligible"] == []


def test_the_difference_is_ours_minus_published(entries):
    for e in entries:
        if e["difference"] is not None:
            assert e["difference"] == pytest.approx(e["ours"]["estimate"] - e["published"]["estimate"])


# --------------------------------------------------------------------------- implementation and experiences


def test_every_finding_is_in_the_summary_with_its_provenance(ds):
    summary = implementation_summary(ds)
    assert [f["finding_id"] for f in summary["implementation"]] == list(ds.implementation["finding_id"])
    assert [f["finding_id"] for f in summary["experiences"]] == list(ds.experiences["finding_id"])
    for f in summary["implementation"] + summary["experiences"]:
        assert re.fullmatch(r"extractions/seed_002_004/\w+\.csv:\d+", f["source_row"])
        assert f["source_detail"].startswith("seeds/002_957597d0dd56c2da.txt")


def test_counts_add_up(ds):
    c = implementation_summary(ds)["counts"]
    assert c["implementation"] == c["facilitators"] + c["barriers"] + c["unclear"]
    assert c["implementation"] == sum(sum(r.values()) for r in c["by_domain"].values())
    assert c["experiences"] == sum(sum(r.values()) for r in c["by_theme"].values())
    assert c["experiences"] == sum(c["by_perspective"].values())
    assert c["reviews"] == sum(c["reviews_by_amstar"].values())


def test_findings_name_reviews_of_the_umbrella_review(ds):
    known = set(ds.reviews["review_id"])
    for frame, columns in ((ds.implementation, ("reviews", "domain_reviews")), (ds.experiences, ("reviews", "row_reviews"))):
        for column in columns:
            for value in frame[column].dropna():
                assert set(value.split("; ")) <= known, value


# --------------------------------------------------------------------------- trials awaiting data


def test_every_awaiting_trial_was_searched_or_says_why_not(ds):
    awaiting = set(ds.studies.loc[ds.studies["outcome_data"] == "not yet extracted", "study_id"])
    searched = set(ds.searches["study_id"])
    assert awaiting <= searched
    for _, s in ds.searches.iterrows():
        if s["outcome"] == "not-searched":
            assert s["finding"]
        else:
            assert s["query"] and s["corpus"]


def test_every_number_found_by_a_search_is_in_its_quote_and_traces_to_the_search(ds):
    rows = ds.characteristics[ds.characteristics["source"].str.startswith("http")]
    assert not rows.empty
    for _, r in rows.iterrows():
        printed = set(re.findall(r"\d+", re.sub(r"(?<=\d),(?=\d{3}\b)", "", r["as_printed"])))
        assert set(re.findall(r"\d+", r["value"])) <= printed, r.to_dict()
        search_id = re.match(r"(search-\d+)", r["source_detail"]).group(1)
        search = ds.searches.set_index("search_id").loc[search_id]
        assert search["study_id"] == r["study_id"] and search["outcome"] == "numbers-entered"
        assert r["source"] in search["addresses"]
    # a search that entered numbers has them in the table
    entered = ds.searches[ds.searches["outcome"] == "numbers-entered"]
    cited = {re.match(r"(search-\d+)", d).group(1) for d in rows["source_detail"]}
    assert set(entered["search_id"]) == cited


def test_no_outcome_row_was_added_from_a_search(ds):
    # a trial stays awaiting when in doubt: searches found trial sizes, no arm-level results
    assert not ds.raw_outcomes["source"].str.startswith("http").any()


def test_resolution_prefers_randomised_sizes_and_flags_disagreement(ds):
    st = ds.studies.set_index("study_id")
    table = ds.characteristics
    for sid, study in st.iterrows():
        mine = table[(table["study_id"] == sid) & (table["status"] == "reported")
                     & table["characteristic"].isin(["n_total", "n_per_arm"])]
        if mine.empty:
            continue
        bases = [b for b in ("randomised", "not-stated", "baseline", "analysed") if (mine["basis"] == b).any()]
        if study["n_basis"] == "disagreement":
            top = mine[mine["basis"] == bases[0]]
            totals = set()
            for _, r in top.iterrows():
                totals.add(int(r["value"]) if r["characteristic"] == "n_total" else
                           int(np.sum([int(x) for x in r["value"].split("/")])))
            assert len(totals) > 1, sid
        else:
            assert study["n_basis"] == bases[0], sid
