"""GRADE rules: hand-computed cases, borderlines and judgement-file overrides."""
from types import SimpleNamespace

import numpy as np
import pytest

from analysis.dataset import load_judgements
from analysis.stats import grade, meta


def fit(**kw):
    base = dict(k=8, i2_q=30.0, tau2=0.01, estimate=0.3, ci_low=0.25, ci_high=0.35, pi_low=0.1, pi_high=0.5)
    base.update(kw)
    return SimpleNamespace(**base)


# -- risk of bias -------------------------------------------------------------------------------

def test_risk_of_bias_downgrades_above_half_the_weight():
    j = grade.judge_risk_of_bias([30, 25, 45], ["high", "high", "low"])      # 55% high
    assert j.downgrade == 1 and "55%" in j.reason


def test_risk_of_bias_borderline_exactly_half_is_not_downgraded():
    j = grade.judge_risk_of_bias([25, 25, 50], ["high", "high", "some-concerns"])  # 50% exactly
    assert j.downgrade == 0 and "50%" in j.reason


# -- inconsistency -----------------------------------------------------------------------------

@pytest.mark.parametrize("i2,expected", [(49.9, 0), (50.0, 1), (74.9, 1), (75.0, 2), (92.0, 2)])
def test_inconsistency_thresholds(i2, expected):
    assert grade.judge_inconsistency(fit(i2_q=i2)).downgrade == expected


def test_inconsistency_prediction_interval_against_ci():
    j = grade.judge_inconsistency(fit(i2_q=20.0, pi_low=-0.05, pi_high=0.6))
    assert j.downgrade == 1 and "prediction interval" in j.reason
    # the same PI is no concern when the CI itself includes zero
    assert grade.judge_inconsistency(fit(i2_q=20.0, ci_low=-0.1, pi_low=-0.3)).downgrade == 0


# -- imprecision -------------------------------------------------------------------------------

def test_imprecision_ci_spanning_benefit_and_harm_is_two_levels():
    assert grade.judge_imprecision(fit(ci_low=-0.25, ci_high=0.45), 2000).downgrade == 2


def test_imprecision_ci_including_null_is_one_level():
    j = grade.judge_imprecision(fit(ci_low=-0.05, ci_high=0.45), 2000)
    assert j.downgrade == 1 and "no effect" in j.reason


def test_imprecision_ci_crossing_the_mid():
    j = grade.judge_imprecision(fit(ci_low=0.1, ci_high=0.3), 2000)
    assert j.downgrade == 1 and "trivial and important" in j.reason


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


# -- whole assessment and overrides --------------------------------------------------------------

def _real_fit():
    yi = np.array([0.30, 0.25, 0.40, 0.20, 0.35, 0.28])
    vi = np.array([0.004, 0.005, 0.006, 0.004, 0.005, 0.004])
    return meta.rma(yi, vi, method="REML")


def test_assess_by_rule_and_certainty_levels():
    res = _real_fit()
    g = grade.assess("x", res, overall_rob=["high"] * 6, participants=6000)
    assert [j.downgrade for j in g.judgements] == [1, 0, 0, 0, 0]
    assert g.certainty == "Moderate" and g.certainty_label.startswith("⊕⊕⊕◯")
    assert any("Risk of bias" in f for f in g.footnotes())


def test_judgement_file_overrides_rule(tmp_path):
    path = tmp_path / "grade.yml"
    path.write_text("x:\n  indirectness:\n    downgrade: 2\n    reason: mixed populations\n"
                    "  risk_of_bias:\n    downgrade: 0\n    reason: sensitivity analysis without high-risk trials agrees\n")
    judgements = load_judgements(tmp_path)
    g = grade.assess("x", _real_fit(), overall_rob=["high"] * 6, participants=6000, judgements=judgements)
    by = {j.domain: j for j in g.judgements}
    assert by["indirectness"].downgrade == 2 and by["indirectness"].source == "judgement file"
    assert by["risk_of_bias"].downgrade == 0 and "agrees" in by["risk_of_bias"].reason
    assert g.certainty == "Low"


def test_certainty_floor_is_very_low():
    g = grade.Grade("x", [grade.Judgement(d, 2, "r") for d in grade.DOMAINS])
    assert g.certainty == "Very low"


@pytest.mark.parametrize("text,message", [
    ("x:\n  tone:\n    downgrade: 1\n    reason: r\n", "unknown GRADE domain"),
    ("x:\n  imprecision:\n    downgrade: 3\n    reason: r\n", "needs 'downgrade'"),
    ("x:\n  imprecision:\n    downgrade: 1\n", "needs 'downgrade'"),
])
def test_judgement_file_errors(tmp_path, text, message):
    path = tmp_path / "grade.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_judgements(tmp_path)


@pytest.mark.parametrize("g,words", [(0.1, "little or no difference"), (0.2, "small benefit"),
                                     (0.55, "moderate benefit"), (-0.9, "large harm")])
def test_interpretation(g, words):
    assert grade.interpretation(g) == words


def test_interpretation_below_mid_depends_on_the_ci():
    assert grade.interpretation(0.15, ci_low=0.05, ci_high=0.25) == \
        "trivial benefit, below the minimally important difference of 0.2"
    assert grade.interpretation(0.15, ci_low=-0.05, ci_high=0.35) == "little or no difference"


@pytest.mark.parametrize("certainty,est,lo,hi,text", [
    ("Low", 0.15, 0.05, 0.25, "peer support may slightly improve"),
    ("Moderate", 0.35, 0.2, 0.5, "peer support probably improves"),
    ("High", 0.1, -0.1, 0.3, "peer support makes little or no difference to"),
    ("Very low", 0.5, 0.2, 0.8, "we are very uncertain whether peer support changes"),
])
def test_certainty_verbs(certainty, est, lo, hi, text):
    assert grade.certainty_verb(certainty, est, lo, hi) == text
