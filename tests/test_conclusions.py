"""Hand-written findings rest on declared premises; sub-domains do not outrank their parents.

The results dictionaries here are written by hand (the shape of ``_build/results/<domain>.json``),
so each case states exactly which premise holds or fails.
"""
from __future__ import annotations

import json

import pytest

from analysis import dataset
from analysis.book.pages.currency import currency, review_numbers
from analysis.book.pages.front import PAGES as FRONT_PAGES
from analysis.chapter import conclusions
from analysis.stats import grade

from conftest import ROOT


def result(estimate, certainty, *, low=-0.1, high=0.4, rated_down=("imprecision",), k=8, trials=8, n=900):
    reason = "Rated down for " + " and ".join(rated_down) + "." if rated_down else "Not rated down."
    return {"primary": {"estimate": estimate, "ci_low": low, "ci_high": high, "k": k},
            "grade": {"certainty": certainty, "mid": 0.2, "rated_down_for": list(rated_down), "short_reason": reason},
            "numbers": {"estimate": f"{estimate:.2f}", "k": str(k), "conventions": "not a placeholder"},
            "n_studies": trials, "n_participants": n,
            "summary_of_findings": {"statement": grade.informative_statement(certainty, estimate, "x")}}


RESULTS = {"depression": result(0.17, "Very low", rated_down=("inconsistency", "indirectness", "imprecision")),
           "personal-recovery": result(0.14, "Low", rated_down=("risk of bias", "imprecision"))}
REVIEW = {"trials_known": "65", "last_search": "18 December 2020"}

FINDING = """# Page

Intro with {{ review.trials_known }} trials.

:::{finding}
:domain: depression
:direction: little-or-no-difference
:certainty: very low
For depression the evidence is very uncertain ({{ depression.effect }}; {{ depression.certainty_reason }}).
:::

After.
"""


def test_a_finding_whose_premises_hold_is_filled_and_its_block_removed():
    page, problems = conclusions.fill(FINDING, "front/page.md", RESULTS, REVIEW)
    assert problems == []
    assert "Intro with 65 trials." in page
    assert ("For depression the evidence is very uncertain (SMD 0.17, 95% CI −0.10 to 0.40; rated down for "
            "inconsistency and indirectness and imprecision).") in page
    assert "{finding}" not in page and ":domain:" not in page and ":::" not in page and "{{" not in page


@pytest.mark.parametrize("premise,stated,actual", [
    ("certainty", "very low", "low"),
    ("direction", "little-or-no-difference", "benefit"),
])
def test_a_changed_premise_is_reported_with_the_sentence_and_the_premise(premise, stated, actual):
    changed = dict(RESULTS, depression=result(0.35 if premise == "direction" else 0.17,
                                              "Very low" if premise == "direction" else "Low"))
    _, problems = conclusions.fill(FINDING, "front/page.md", changed, REVIEW)
    (problem,) = [p for p in problems if f"{premise} = " in p]
    assert problem.startswith("front/page.md:5: the finding \"For depression the evidence is very uncertain")
    assert f"rests on the premise {premise} = {stated} for depression, but the analysis now gives {actual}" in problem


def test_rated_down_for_premise():
    text = FINDING.replace(":certainty: very low\n", ":certainty: very low\n:rated_down_for: indirectness\n")
    assert conclusions.fill(text, "p.md", RESULTS, REVIEW)[1] == []
    changed = dict(RESULTS, depression=result(0.17, "Very low", rated_down=("inconsistency", "imprecision")))
    (problem,) = conclusions.fill(text, "p.md", changed, REVIEW)[1]
    assert "rests on the premise that depression is rated down for indirectness" in problem


def test_a_result_quoted_outside_its_finding_block_is_refused():
    text = "The effect on depression was {{ depression.effect }}.\n"
    (problem,) = conclusions.fill(text, "p.md", RESULTS, REVIEW)[1]
    assert "p.md:1:" in problem and "outside a finding block of depression" in problem
    text = FINDING.replace("({{ depression.effect }};", "({{ personal-recovery.effect }};")
    assert any("outside a finding block of personal-recovery" in p for p in conclusions.fill(text, "p.md", RESULTS,
                                                                                               REVIEW)[1])


@pytest.mark.parametrize("text,message", [
    (":::{finding}\n:domain: depression\n:certainty: very low\nText.\n:::\n", "declares no direction"),
    (":::{finding}\n:domain: depression\n:direction: sideways\n:certainty: very low\nText.\n:::\n",
     "declares direction 'sideways'"),
    (":::{finding}\n:domain: anxiety\n:direction: benefit\n:certainty: low\nText.\n:::\n",
     "rests on domain 'anxiety', which the review does not analyse"),
    (":::{finding}\n:domain: depression\n:direction: benefit\n:certainty: low\n:mood: good\nText.\n:::\n",
     "unknown premise 'mood'"),
    (":::{finding}\n:domain: depression\n:direction: little-or-no-difference\n:certainty: very low\nText.\n",
     "not closed"),
    ("{{ review.nothing }}\n", "unknown placeholder {{ review.nothing }}"),
    ("{{ anxiety.effect }}\n", "'anxiety' is neither 'review' nor a domain id"),
])
def test_malformed_findings_and_placeholders(text, message):
    problems = conclusions.fill(text, "p.md", RESULTS, REVIEW)[1]
    assert any(message in p for p in problems), problems


def test_several_domains_in_one_finding():
    text = (":::{finding}\n:domain: depression, personal-recovery\n:direction: little-or-no-difference\n"
            ":certainty: very low, low\nBoth are trivial ({{ depression.estimate }}, {{ personal-recovery.estimate }}).\n"
            ":::\n")
    page, problems = conclusions.fill(text, "p.md", RESULTS, REVIEW)
    assert problems == [] and "Both are trivial (0.17, 0.14)." in page
    wrong = text.replace(":certainty: very low, low", ":certainty: low, low")
    (problem,) = conclusions.fill(wrong, "p.md", RESULTS, REVIEW)[1]
    assert "certainty = low for depression, but the analysis now gives very low" in problem
    uneven = text.replace(":certainty: very low, low", ":certainty: very low, low, low")
    assert any("gives 3 values of certainty for 2 domains" in p for p in conclusions.fill(uneven, "p.md", RESULTS,
                                                                                          REVIEW)[1])


def test_the_shipped_front_matter_declares_a_premise_for_every_quoted_result():
    # every placeholder of a domain sits inside a finding block of that domain (fill reports the
    # others whatever the numbers are), every review number exists, every finding names a domain
    ds = dataset.load(ROOT / "data")
    flow = json.loads((ROOT / "data" / "search_flow.json").read_text(encoding="utf-8"))
    review = review_numbers(currency(ds, flow, "2026-01-01"))
    fake = {d["id"]: result(0.1, "Low") for d in ds.domains}
    pages = sorted((ROOT / "chapters" / "front").glob("*.md"))
    assert {p.stem for p in pages} == set(FRONT_PAGES)
    for path in pages:
        text = path.read_text(encoding="utf-8")
        syntax = conclusions.parse(text, path.name)[1]
        assert syntax == [], syntax
        problems = conclusions.fill(text, path.name, fake, review)[1]
        assert not [p for p in problems if "outside a finding block" in p or "unknown placeholder" in p
                    or "declares no" in p or "does not analyse" in p], problems


# -- sub-domains and their parents -------------------------------------------------------------

def test_parents_are_the_domains_whose_rows_contain_the_sub_domain():
    ds = dataset.load(ROOT / "data")
    parents = conclusions.parent_domains(ds)
    for domain in ds.domains:
        key, values = next(iter(domain["select"].items()))
        mine = set(dataset.domain_rows(ds, domain["id"])["outcome_id"])
        for parent in parents[domain["id"]]:
            assert mine < set(dataset.domain_rows(ds, parent)["outcome_id"])
        if key == "category":
            assert parents[domain["id"]] == []          # a category is no other domain's sub-domain


def test_a_sub_domain_above_its_parent_needs_a_stated_reason():
    ds = dataset.load(ROOT / "data")
    child, parent = next((c, ps[0]) for c, ps in conclusions.parent_domains(ds).items() if ps)
    results = {d["id"]: result(0.1, "Low") for d in ds.domains}
    assert conclusions.hierarchy_problems(ds, results) == []
    results[child] = result(0.1, "Moderate")
    # rules alone (nobody has judged the domain yet) cannot state a reason: check warns instead
    assert conclusions.hierarchy_problems(ds, results) == []
    results[child]["grade"]["judgements"] = [{"domain": "indirectness", "source": grade.REVIEW_TEAM}]
    (problem,) = conclusions.hierarchy_problems(ds, results)
    assert f"{child} is rated moderate, above its broader domain {parent} (low)" in problem
    results[child]["grade"]["above_parent"] = "the sub-domain's trials are the larger and better ones"
    assert conclusions.hierarchy_problems(ds, results) == []


def test_every_domain_has_the_review_teams_judgement_of_every_grade_domain():
    ds = dataset.load(ROOT / "data")
    for domain in ds.domains:
        entry = ds.judgements.get(domain["id"])
        assert entry, f"{domain['id']}: no judgement recorded in data/grade.yml"
        for name in grade.DOMAINS:
            assert name in entry, (domain["id"], name)
            assert entry[name]["downgrade"] in (0, 1, 2) and len(str(entry[name]["reason"]).split()) >= 5, \
                (domain["id"], name)
