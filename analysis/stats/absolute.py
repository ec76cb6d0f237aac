"""Absolute effects of binary outcomes: what a relative effect means per 1000 people.

The summary of findings gives, beside a risk ratio or odds ratio, the risk in the control group
that is assumed (the median control-group risk of the trials, GRADE's default "assumed risk",
Guyatt et al. 2013, J Clin Epidemiol 66:158) and the corresponding risk with peer support, with
the difference per 1000 and its confidence interval from the interval of the relative effect
(Cochrane Handbook, section 15.4.4):

- risk ratio: ``risk = ACR x RR``;
- odds ratio: ``risk = OR x ACR / (1 - ACR + OR x ACR)``;
- risk difference: ``risk = ACR + RD`` (the difference does not depend on ACR).

Ratios are given on the log scale, as the engine analyses them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.stats.formatting import plain


@dataclass(frozen=True)
class AbsoluteEffect:
    """Anticipated absolute effect per ``per`` people at an assumed control risk."""

    measure: str
    control_risk: float
    per: int
    control: float          # events per ``per`` in the control group (the assumed risk)
    intervention: float     # events per ``per`` with peer support
    difference: float       # intervention - control, per ``per``
    difference_ci_low: float
    difference_ci_high: float

    def to_dict(self) -> dict:
        return {key: plain(value) for key, value in self.__dict__.items()}


def corresponding_risk(measure: str, effect: float, control_risk: float) -> float:
    """The risk with the intervention for a relative effect (log RR / log OR, or RD) at ``control_risk``."""
    if measure == "RR":
        return control_risk * math.exp(effect)
    if measure == "OR":
        odds_ratio = math.exp(effect)
        return odds_ratio * control_risk / (1.0 - control_risk + odds_ratio * control_risk)
    if measure == "RD":
        return control_risk + effect
    raise ValueError(f"absolute effects need a binary measure (RR, OR, RD), not {measure!r}")


def absolute_effect(measure: str, estimate: float, ci_low: float, ci_high: float, control_risk: float,
                    per: int = 1000) -> AbsoluteEffect:
    """Anticipated absolute effect per ``per`` people of a pooled relative effect (see module docstring).

    Parameters
    ----------
    measure : {"RR", "OR", "RD"}
    estimate, ci_low, ci_high : float
        The pooled effect and its CI (log scale for RR and OR).
    control_risk : float
        Assumed risk in the control group, in [0, 1].
    per : int
        Denominator of the absolute effect (1000 by default).
    """
    if not 0.0 <= control_risk <= 1.0:
        raise ValueError(f"control risk {control_risk!r} must lie in [0, 1]")
    risks = [corresponding_risk(measure, value, control_risk) for value in (estimate, ci_low, ci_high)]
    low, high = sorted(risks[1:])
    return AbsoluteEffect(measure, control_risk, per, control_risk * per, risks[0] * per,
                          (risks[0] - control_risk) * per, (low - control_risk) * per, (high - control_risk) * per)


def median_control_risk(events2, total2) -> float:
    """The median of the control-group risks ``events2 / total2`` of the trials."""
    risks = np.asarray(events2, dtype=float) / np.asarray(total2, dtype=float)
    if risks.size == 0 or not np.all(np.isfinite(risks)):
        raise ValueError("control-group risks need events and totals for every trial")
    return float(np.median(risks))
