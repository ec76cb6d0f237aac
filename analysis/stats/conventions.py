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

#: Minimally important difference on the standardised-mean-difference scale: a small effect in
#: Cohen's (1988) terms, the threshold used by the certainty rules (imprecision), the optimal
#: information size, the Bayesian model and sequential monitoring.
MID = 0.2

#: RoB 2 domains (Sterne et al. 2019, BMJ 366:l4898) and the overall judgement.
ROB_DOMAINS = ("d1", "d2", "d3", "d4", "d5")
ROB_COLUMNS = (*ROB_DOMAINS, "overall")
ROB_LEVELS = ("low", "some-concerns", "high")

#: Fewest trials for tests of small-study effects and funnel-based methods (Cochrane Handbook
#: 13.3.5.4: with fewer than 10 the tests are too weak to tell asymmetry from chance).
MIN_K_SMALL_STUDY = 10

#: Default confidence level in percent.
LEVEL = 95.0
