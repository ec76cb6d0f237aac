"""Conventions of the review, stated once and used by every layer.

- Direction: every effect is oriented so that a positive value favours peer support (arm 1)
  over the control (arm 2).
- Ratio measures (RR, OR) are analysed on the log scale and back-transformed for display.
- Thresholds (the minimally important difference, the smallest number of trials for
  small-study methods) live here so that the analysis, the certainty rules, the figures and the
  text cannot disagree about them.
"""
from __future__ import annotations

#: Effect measures of ``escalc`` and the pooling functions.
MEASURES = ("SMD", "MD", "RR", "OR", "RD", "GEN")

#: Measures analysed on the log scale.
RATIO_MEASURES = ("RR", "OR")

#: Minimally important difference (MID) on the standardised-mean-difference scale: the smallest
#: effect a person would notice and value. No anchor-based MID exists for most of the review's
#: outcomes (recovery, empowerment, quality of life and functioning scales), and they are pooled as
#: SMDs across instruments, so the review takes the distribution-based convention: 0.2 standard
#: deviations, a "small" effect in Cohen's (1988) terms and the Cochrane Handbook's rule of thumb
#: (Higgins et al. 2011, section 12.6.2; Schünemann et al. 2023, chapter 15), close to the
#: threshold of g = 0.24 proposed for depression by Cuijpers et al. (2014, Depress Anxiety
#: 31:374). It is the threshold of the certainty rules (imprecision, inconsistency), the
#: informative statements, the optimal information size, the Bayesian model and sequential
#: monitoring.
MID = 0.2

#: Thresholds on the SMD scale between a trivial (or no), a small, a moderate and a large effect:
#: the MID and Cohen's (1988) 0.5 and 0.8. They are the decision thresholds of the partially
#: contextualised GRADE approach (Zeng et al. 2021, J Clin Epidemiol 137:163; Schünemann et al.
#: 2022, J Clin Epidemiol 150:225): the size of the point estimate chooses the words of the
#: informative statement (Santesso et al. 2020, J Clin Epidemiol 119:126), and the certainty is
#: the certainty that the true effect lies in that size category (its confidence and prediction
#: intervals are judged against the same thresholds). The same thresholds hold on both sides of
#: zero (benefit and harm).
SMD_THRESHOLDS = (MID, 0.5, 0.8)

#: Names of the size categories SMD_THRESHOLDS separate, from the smallest.
EFFECT_SIZES = ("trivial", "small", "moderate", "large")

#: GRADE rule thresholds (the documented starting point of every certainty rating; the review
#: team's judgements in data/grade.yml are recorded beside them). Risk of bias: rate down when
#: more than this percentage of the weight comes from trials at high overall risk of bias.
ROB_HIGH_WEIGHT_PERCENT = 50.0

#: Inconsistency: a second level when I² (tau²-based) reaches this percentage and the prediction
#: interval spans important effects in both directions (Cochrane Handbook 10.10.2: 75-100% may
#: represent considerable heterogeneity).
I2_CONSIDERABLE = 75.0

#: Publication bias: rate down when Egger's test gives p below this (the test's low power makes
#: 0.10 the customary level; Egger et al. 1997).
EGGER_ALPHA = 0.10

#: RoB 2 domains (Sterne et al. 2019, BMJ 366:l4898) and the overall judgement.
ROB_DOMAINS = ("d1", "d2", "d3", "d4", "d5")
ROB_COLUMNS = (*ROB_DOMAINS, "overall")
ROB_LEVELS = ("low", "some-concerns", "high")

#: Fewest trials for tests of small-study effects and funnel-based methods (Cochrane Handbook
#: 13.3.5.4: with fewer than 10 the tests are too weak to tell asymmetry from chance).
MIN_K_SMALL_STUDY = 10

#: Default confidence level in percent.
LEVEL = 95.0
