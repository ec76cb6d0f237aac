"""GRADE: the rules (hand-computed cases and borderlines), the review team's judgements beside
them, and the informative statements (Santesso et al. 2020), table-driven."""
from types import SimpleNamespace

import numpy as np
import pytest

from analysis import dataset
from analysis.dataset import load_judgements
from analysis.stats import grade, meta
from analysis.stats.conventions import MID, SMD_THRESHOLDS

from conftest import ROOT


def fit(**kw):
    base = dict(k=8, i2_q=30.0, i2_tau2=30.0, tau2=0.01, estimate=0.3, ci_low=0.25, ci_high=0.35,
                pi_low=0.21, pi_high=0.45)
    base.update(kw)
    return SimpleNamespace(**base)


# -- thresholds and sizes ----------------------------------------------------------------------

@pytest.mark.parametrize("g,size,direction", [
    (0.0, "trivial", "little-or-no-difference"), (0.1999, "trivial", "little-or-no-difference"),
    (-0.1999, "trivial", "little-or-no-difference"), (0.2, "small", "benefit"), (-0.2, "small", "harm"),
    (0.4999, "small", "benefit"), (0.5, "moderate", "benefit"), (-0.79, "moderate", "harm"),
    (0.8, "large", "benefit"), (-1.5, "large", "harm"),
])
def test_size_categories_from_the_thresholds(g, size, direction):
    assert grade.size_category(g) == size
    assert grade.direction(g) == direction


def test_thresholds_are_the_mid_and_cohens_half_and_eight_tenths():
    assert SMD_THRESHOLDS == (MID, 0.5, 0.8) and MID == 0.2
    assert grade.thresholds_for(0.1) == (0.1, 0.5, 0.8)
    assert grade.thresholds_for(0.6) == (0.6, 0.8)


def test_thresholds_crossed_are_strictly_inside_the_interval():
    assert grade.thresholds_crossed(-0.14, 0.49) == [0.2]
    assert grade.thresholds_crossed(-0.46, 0.81) == [-0.2, 0.2, 0.5, 0.8]
    assert grade.thresholds_crossed(0.2, 0.5) == []          # touching a threshold is not crossing it
    assert grade.thresholds_crossed(-0.9, 0.9) == [-0.8, -0.5, -0.2, 0.2, 0.5, 0.8]


# -- informative statements: the same evidence gives the same words in every outcome -------------

#: (certainty, estimate) -> the statement for the outcome "X" (Santesso et al. 2020, Table 3).
STATEMENT_TABLE = [
    ("High", 0.05, "Peer support results in little to no difference in X."),
    ("High", -0.15, "Peer support results in little to no difference in X."),
    ("High", 0.3, "Peer support slightly improves X."),
    ("High", -0.3, "Peer support slightly worsens X."),
    ("High", 0.6, "Peer support improves X."),
    ("High", 0.9, "Peer support results in a large improvement in X."),
    ("Moderate", 0.1, "Peer support probably results in little to no difference in X."),
    ("Moderate", 0.25, "Peer support probably improves X slightly."),
    ("Moderate", 0.55, "Peer support probably improves X."),
    ("Moderate", -0.85, "Peer support probably results in a large worsening in X."),
    ("Low", 0.17, "Peer support may result in little to no difference in X."),
    ("Low", 0.2, "Peer support may improve X slightly."),
    ("Low", -0.45, "Peer support may worsen X slightly."),
    ("Low", 0.7, "Peer support may improve X."),
    ("Low", 1.2, "Peer support may result in a large improvement in X."),
    ("Very low", 0.05, "The evidence is very uncertain about the effect of peer support on X."),
    ("Very low", 0.9, "The evidence is very uncertain about the effect of peer support on X."),
    ("Very low", -0.6, "The evidence is very uncertain about the effect of peer support on X."),
]


def _outcome_names():
    names = [d["title"].lower() for d in dataset.load(ROOT / "data").domains]
    return names + ["a made-up outcome"]


@pytest.mark.parametrize("certainty,g,expected", STATEMENT_TABLE)
def test_informative_statement_is_the_same_in_every_outcome(certainty, g, expected):
    for outcome in _outcome_names():
        assert grade.informative_statement(certainty, g, outcome) == expected.replace("X", outcome)


def test_every_size_and_certainty_has_a_statement():
    for certainty in grade.LEVELS:
        for g in (0.0, 0.3, 0.6, 0.9, -0.3, -0.6, -0.9):
            text = grade.informative_statement(certainty, g, "X")
            assert text.endswith(".") and text[0].isupper() and "X" in text


def test_statement_depends_on_size_not_on_significance():
    # two bodies of evidence with the same point estimate and certainty, one "significant", one not
    significant = fit(estimate=0.17, ci_low=0.05, ci_high=0.29)
    not_significant = fit(estimate=0.17, ci_low=-0.14, ci_high=0.49)
    words = {grade.informative_statement("Low", r.estimate, "X") for r in (significant, not_significant)}
    assert words == {"Peer support may result in little to no difference in X."}
    assert grade.interpretation(0.17) == grade.interpretation(0.17)
    assert grade.interpretation(0.17).startswith("trivial or no effect")
    assert grade.interpretation(0.35) == "small benefit" and grade.interpretation(-0.9) == "large harm"


# -- risk of bias -------------------------------------------------------------------------------

def test_risk_of_bias_downgrades_above_half_the_weight():
    j = grade.judge_risk_of_bias([30, 25, 45], ["high", "high", "low"])      # 55% high
    assert j.downgrade == 1 and "55%" in j.reason and "above 50%" in j.detail


def test_risk_of_bias_borderline_exactly_half_is_not_downgraded():
    j = grade.judge_risk_of_bias([25, 25, 50], ["high", "high", "some-concerns"])  # 50% exactly
    assert j.downgrade == 0 and "50%" in j.detail


# -- inconsistency: the prediction interval against the thresholds ------------------------------

def test_inconsistency_pi_within_the_cis_categories_is_no_concern():
    # CI 0.25-0.35 and PI 0.21-0.45: both in "small benefit"
    assert grade.judge_inconsistency(fit()).downgrade == 0


def test_inconsistency_pi_crossing_a_threshold_the_ci_does_not_cross():
    j = grade.judge_inconsistency(fit(pi_low=0.1))           # PI crosses 0.2, the CI does not
    assert j.downgrade == 1 and "0.20" in j.detail and "a trivial effect or none" in j.reason


def test_inconsistency_threshold_crossed_by_the_ci_already_counts_for_imprecision_only():
    assert grade.judge_inconsistency(fit(ci_low=0.1, ci_high=0.3, pi_low=0.05, pi_high=0.4)).downgrade == 0


def test_inconsistency_two_levels_need_considerable_i2_and_important_effects_both_ways():
    wide = dict(ci_low=-0.1, ci_high=0.5, pi_low=-0.3, pi_high=0.9)
    assert grade.judge_inconsistency(fit(i2_tau2=80.0, **wide)).downgrade == 2
    assert grade.judge_inconsistency(fit(i2_tau2=74.9, **wide)).downgrade == 1
    assert grade.judge_inconsistency(fit(i2_tau2=80.0, ci_low=0.0, ci_high=0.5, pi_low=-0.1,
                                         pi_high=0.9)).downgrade == 1          # no important harm


def test_inconsistency_i2_just_below_a_cut_off_changes_nothing_by_itself():
    # the old I² >= 50% rule made 49.9% and 50.0% differ; the prediction interval decides now
    a = grade.judge_inconsistency(fit(i2_q=49.9, i2_tau2=49.9))
    b = grade.judge_inconsistency(fit(i2_q=50.0, i2_tau2=50.0))
    assert a.downgrade == b.downgrade == 0


def test_inconsistency_not_assessable_and_no_heterogeneity():
    assert grade.judge_inconsistency(fit(k=2)).downgrade == 0
    assert "Too few trials" in grade.judge_inconsistency(fit(k=2)).reason
    j = grade.judge_inconsistency(fit(tau2=0.0, pi_low=0.0))
    assert j.downgrade == 0 and "chance" in j.reason


# -- imprecision: the confidence interval against the thresholds --------------------------------

def test_imprecision_two_thresholds_two_levels():
    assert grade.judge_imprecision(fit(ci_low=-0.25, ci_high=0.45), 2000).downgrade == 2
    assert grade.judge_imprecision(fit(ci_low=0.1, ci_high=0.6), 2000).downgrade == 2


def test_imprecision_one_threshold_one_level():
    j = grade.judge_imprecision(fit(ci_low=0.1, ci_high=0.3), 2000)
    assert j.downgrade == 1 and "a trivial effect or none and a small benefit" in j.reason


def test_imprecision_is_not_judged_against_significance():
    # a CI including zero but inside the trivial range is precise about "little or no difference"
    j = grade.judge_imprecision(fit(estimate=0.03, ci_low=-0.05, ci_high=0.15), 2000)
    assert j.downgrade == 0 and "trivial" in j.reason
    # and a CI excluding zero can still be imprecise
    assert grade.judge_imprecision(fit(estimate=0.13, ci_low=0.06, ci_high=0.21), 2000).downgrade == 1


def test_imprecision_optimal_information_size_borderline():
    ois = 4 * (1.959963984540054 + 0.8416212335729143) ** 2 / 0.2**2   # 784.9
    tight = fit(ci_low=0.25, ci_high=0.35)
    assert grade.judge_imprecision(tight, 784).downgrade == 1
    assert grade.judge_imprecision(tight, 785).downgrade == 0
    assert 784 < ois < 785


# -- publication bias --------------------------------------------------------------------------

def test_publication_bias_needs_ten_trials():
    assert grade.judge_publication_bias(9, 0.001).downgrade == 0
    assert grade.judge_publication_bias(10, 0.099).downgrade == 1
    assert grade.judge_publication_bias(10, 0.10).downgrade == 0


# -- whole assessment: rules and the review team's judgements beside them -------------------------

def _real_fit():
    yi = np.array([0.30, 0.25, 0.40, 0.20, 0.35, 0.28])
    vi = np.array([0.004, 0.005, 0.006, 0.004, 0.005, 0.004])
    return meta.rma(yi, vi, method="REML", ci="hk", pi="t-1")


def test_assess_by_rule_and_certainty_levels():
    res = _real_fit()
    g = grade.assess("x", res, overall_rob=["high"] * 6, participants=6000)
    by = {j.domain: j.downgrade for j in g.judgements}
    assert by["risk_of_bias"] == 1
    assert g.total_downgrade == sum(by.values())
    assert g.certainty == grade.LEVELS[3 - g.total_downgrade] and g.certainty == g.rule_certainty
    assert g.certainty_label.startswith(grade.SYMBOLS[g.certainty])
    assert any(f.startswith("Risk of bias:") for f in g.footnotes())
    assert not g.recorded


def test_judgement_file_decides_and_the_rule_stays_beside_it(tmp_path):
    path = tmp_path / "grade.yml"
    path.write_text("x:\n  indirectness:\n    downgrade: 2\n    reason: mixed populations\n"
                    "  risk_of_bias:\n    downgrade: 0\n    reason: sensitivity analysis without high-risk trials agrees\n")
    judgements = load_judgements(tmp_path)
    res = _real_fit()
    by_rule = grade.assess("x", res, overall_rob=["high"] * 6, participants=6000)
    g = grade.assess("x", res, overall_rob=["high"] * 6, participants=6000, judgements=judgements)
    by = {j.domain: j for j in g.judgements}
    assert by["indirectness"].downgrade == 2 and by["indirectness"].source == grade.REVIEW_TEAM
    assert by["risk_of_bias"].downgrade == 0 and "agrees" in by["risk_of_bias"].reason
    assert g.rule_for("risk_of_bias").downgrade == 1                      # the rule, shown beside
    assert g.rule_certainty == by_rule.certainty
    assert g.total_downgrade == by_rule.total_downgrade - 1 + 2
    # a judgement that departs from its rule is explained even when it does not rate down
    assert "Risk of bias (not rated down): sensitivity analysis without high-risk trials agrees" in g.footnotes()
    entry = g.to_dict()["judgements"][0]
    assert entry["source"] == grade.REVIEW_TEAM and entry["rule"]["downgrade"] == 1


def test_recorded_means_every_grade_domain_judged(tmp_path):
    lines = ["x:"] + [f"  {d}:\n    downgrade: 0\n    reason: judged" for d in grade.DOMAINS]
    (tmp_path / "grade.yml").write_text("\n".join(lines) + "\n")
    g = grade.assess("x", _real_fit(), overall_rob=["low"] * 6, participants=6000,
                     judgements=load_judgements(tmp_path))
    assert g.recorded and g.certainty == "High" and g.short_reason() == "Not rated down."


def test_short_reason_names_the_domains_rated_down():
    g = grade.Grade("x", [grade.Judgement("risk_of_bias", 1, "r"), grade.Judgement("inconsistency", 0, "r"),
                          grade.Judgement("indirectness", 1, "r"), grade.Judgement("imprecision", 2, "r"),
                          grade.Judgement("publication_bias", 0, "r")])
    assert g.short_reason() == "Rated down for risk of bias, indirectness and imprecision (two levels)."
    assert g.certainty == "Very low"


def test_certainty_floor_is_very_low():
    g = grade.Grade("x", [grade.Judgement(d, 2, "r") for d in grade.DOMAINS])
    assert g.certainty == "Very low"


@pytest.mark.parametrize("text,message", [
    ("x:\n  tone:\n    downgrade: 1\n    reason: r\n", "unknown GRADE domain"),
    ("x:\n  imprecision:\n    downgrade: 3\n    reason: r\n", "needs 'downgrade'"),
    ("x:\n  imprecision:\n    downgrade: 1\n", "needs 'downgrade'"),
    ("x:\n  imprecision:\n    downgrade: true\n    reason: r\n", "needs 'downgrade'"),
    ("x:\n  imprecision:\n    downgrade: 1\n    reason: r\n    level: 2\n", "unknown key 'level'"),
    ("x:\n  recorded: {date: yesterday}\n", "not a date"),
    ("x:\n  recorded: {trials: 0}\n", "not a positive count"),
    ("x:\n  above_parent: ''\n", "needs a reason"),
])
def test_judgement_file_errors(tmp_path, text, message):
    path = tmp_path / "grade.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_judgements(tmp_path)
