"""GRADE certainty of evidence per outcome, computed by stated rules, overridable by judgement.

Every rule states its threshold and the numbers that triggered it in a footnote. A reviewed
judgement file (``data/grade.yml``) can set any GRADE domain of any outcome; a judgement there
wins over the rule and its reason becomes the footnote.

Rules (randomised trials start at High):

- **Risk of bias**: downgrade one level when more than 50% of the meta-analysis weight comes from
  trials at high overall risk of bias.
- **Inconsistency**: two levels when I² (Q-based) >= 75%; one level when I² >= 50%, or when the
  95% CI excludes no effect but the prediction interval includes it.
- **Imprecision** (minimally contextualised, threshold = minimally important difference, MID):
  two levels when the CI includes both an important benefit (> MID) and an important harm
  (< -MID); otherwise one level when the CI includes no effect, or includes both a trivial and an
  important effect (crosses the MID), or the participants fall short of the optimal information size
  (OIS, the sample size of one adequately powered trial: alpha 0.05, power 0.8, effect = MID).
- **Publication bias**: with at least 10 trials, one level when Egger's test gives p < 0.10;
  with fewer, not assessable and not downgraded (stated).
- **Indirectness**: only by judgement (the rule cannot see populations or outcomes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.stats.conventions import MID, MIN_K_SMALL_STUDY
from analysis.stats.sequential import required_information_size

LEVELS = ("Very low", "Low", "Moderate", "High")
SYMBOLS = {"High": "⊕⊕⊕⊕", "Moderate": "⊕⊕⊕◯", "Low": "⊕⊕◯◯", "Very low": "⊕◯◯◯"}
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_TITLES = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                 "indirectness": "Indirectness", "imprecision": "Imprecision",
                 "publication_bias": "Publication bias"}


@dataclass(frozen=True)
class Judgement:
    domain: str
    downgrade: int
    reason: str
    source: str = "rule"          # "rule" or "judgement file"

    def to_dict(self) -> dict:
        return {"domain": self.domain, "downgrade": self.downgrade, "reason": self.reason, "source": self.source}


@dataclass
class Grade:
    outcome: str
    judgements: list
    mid: float = MID

    @property
    def total_downgrade(self) -> int:
        return sum(j.downgrade for j in self.judgements)

    @property
    def certainty(self) -> str:
        return LEVELS[max(0, len(LEVELS) - 1 - self.total_downgrade)]

    @property
    def certainty_label(self) -> str:
        return f"{SYMBOLS[self.certainty]} {self.certainty}"

    def footnotes(self) -> list[str]:
        return [f"{DOMAIN_TITLES[j.domain]}: {j.reason}" for j in self.judgements if j.downgrade or j.source != "rule"]

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "certainty": self.certainty, "certainty_label": self.certainty_label,
                "downgrade": self.total_downgrade, "mid": self.mid,
                "judgements": [j.to_dict() for j in self.judgements], "footnotes": self.footnotes()}


def _pct(x: float) -> str:
    return f"{x:.0f}%"


def judge_risk_of_bias(weights, overall) -> Judgement:
    """``weights`` in percent per comparison, ``overall`` its overall RoB judgement."""
    weights = np.asarray(weights, dtype=float)
    high = np.array([str(o) == "high" for o in overall])
    share = float(weights[high].sum() / weights.sum() * 100) if weights.sum() > 0 else 0.0
    if share > 50:
        return Judgement("risk_of_bias", 1, f"{_pct(share)} of the weight comes from trials at high overall risk "
                                            "of bias (rule: downgrade once above 50%).")
    return Judgement("risk_of_bias", 0, f"{_pct(share)} of the weight from trials at high overall risk of bias "
                                        "(rule: downgrade above 50%).")


def judge_inconsistency(res) -> Judgement:
    i2 = res.i2_q
    if res.k < 2 or i2 is None:
        return Judgement("inconsistency", 0, "a single comparison: inconsistency not assessable.")
    if i2 >= 75:
        return Judgement("inconsistency", 2, f"I² = {_pct(i2)} (rule: two levels at 75% or more).")
    if i2 >= 50:
        return Judgement("inconsistency", 1, f"I² = {_pct(i2)} (rule: one level at 50% or more).")
    ci_excludes = res.ci_low > 0 or res.ci_high < 0
    pi_includes = res.pi_low is not None and res.pi_high is not None and res.pi_low <= 0 <= res.pi_high
    if ci_excludes and pi_includes and res.tau2 > 0:
        return Judgement("inconsistency", 1, f"the 95% CI ({res.ci_low:.2f} to {res.ci_high:.2f}) excludes no effect "
                                             f"but the prediction interval ({res.pi_low:.2f} to {res.pi_high:.2f}) "
                                             "includes it.")
    return Judgement("inconsistency", 0, f"I² = {_pct(i2)}; the prediction interval does not change the conclusion.")


def judge_imprecision(res, participants: float, mid: float = MID) -> Judgement:
    lo, hi = res.ci_low, res.ci_high
    ci = f"95% CI {lo:.2f} to {hi:.2f}"
    if lo < -mid and hi > mid:
        return Judgement("imprecision", 2, f"the {ci} includes both an important benefit and an important harm "
                                           f"(MID {mid}).")
    if lo < 0 < hi:
        return Judgement("imprecision", 1, f"the {ci} includes no effect.")
    if lo < mid < hi or lo < -mid < hi:
        return Judgement("imprecision", 1, f"the {ci} includes both trivial and important effects (MID {mid}).")
    ois = required_information_size(mid)
    if participants < ois:
        return Judgement("imprecision", 1, f"{participants:.0f} participants, fewer than the optimal information "
                                           f"size of {ois:.0f} (alpha 0.05, power 0.8, effect {mid}).")
    return Judgement("imprecision", 0, f"the {ci} excludes no effect and the MID threshold; {participants:.0f} "
                                       f"participants reach the optimal information size ({ois:.0f}).")


def judge_publication_bias(k: int, egger_p: float | None) -> Judgement:
    if k < MIN_K_SMALL_STUDY or egger_p is None:
        return Judgement("publication_bias", 0, f"{k} comparisons, fewer than {MIN_K_SMALL_STUDY}: small-study "
                                                "effects not assessable, not downgraded.")
    if egger_p < 0.10:
        return Judgement("publication_bias", 1, f"Egger's test p = {egger_p:.3f} (rule: downgrade when p < 0.10).")
    return Judgement("publication_bias", 0, f"Egger's test p = {egger_p:.3f}.")


def assess(outcome: str, res, *, overall_rob, participants: float, egger_p: float | None = None,
           mid: float = MID, judgements: dict | None = None) -> Grade:
    """GRADE certainty of one outcome from its main fit; ``judgements`` (from grade.yml) win."""
    by_rule = {
        "risk_of_bias": judge_risk_of_bias(res.weights, overall_rob),
        "inconsistency": judge_inconsistency(res),
        "indirectness": Judgement("indirectness", 0, "no concern recorded in the judgement file."),
        "imprecision": judge_imprecision(res, participants, mid),
        "publication_bias": judge_publication_bias(res.k, egger_p),
    }
    chosen = []
    overrides = (judgements or {}).get(outcome, {}) or {}
    for domain in DOMAINS:
        if domain in overrides:
            entry = overrides[domain]
            chosen.append(Judgement(domain, int(entry["downgrade"]), str(entry["reason"]), "judgement file"))
        else:
            chosen.append(by_rule[domain])
    return Grade(outcome, chosen, mid)


def interpretation(estimate: float, mid: float = MID, ci_low: float | None = None,
                   ci_high: float | None = None) -> str:
    """Size of an SMD in words (0.2 small, 0.5 moderate, 0.8 large).

    Below the minimally important difference the effect is "little or no difference", or a
    "trivial benefit/harm" when the confidence interval (if given) excludes no effect.
    """
    a = abs(estimate)
    direction = "benefit" if estimate > 0 else "harm"
    if a < mid:
        excludes_null = ci_low is not None and ci_high is not None and (ci_low > 0 or ci_high < 0)
        return f"trivial {direction}, below the minimally important difference of {mid}" if excludes_null \
            else "little or no difference"
    size = "small" if a < 0.5 else "moderate" if a < 0.8 else "large"
    return f"{size} {direction}"


def certainty_verb(certainty: str, estimate: float, ci_low: float, ci_high: float,
                   mid: float = MID) -> str:
    """Cochrane's plain-language statements by certainty (Glenton et al. 2010; Santesso 2020).

    A CI including no effect gives "little or no difference"; an effect whose CI excludes no
    effect but whose estimate is below the MID is said to change the outcome "slightly".
    """
    includes_null = ci_low <= 0 <= ci_high
    if certainty == "Very low":
        return "we are very uncertain whether peer support changes"
    if includes_null:
        return {"High": "peer support makes little or no difference to",
                "Moderate": "peer support probably makes little or no difference to",
                "Low": "peer support may make little or no difference to"}[certainty]
    slightly = "slightly " if abs(estimate) < mid else ""
    third, base = ("improves", "improve") if estimate > 0 else ("worsens", "worsen")
    return {"High": f"peer support {slightly}{third}", "Moderate": f"peer support probably {slightly}{third}",
            "Low": f"peer support may {slightly}{base}"}[certainty]
