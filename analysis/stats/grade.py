"""GRADE certainty of the evidence per outcome and the informative statements that report it.

Stated rules are the documented starting point of every rating; the review team records its own
judgement of every GRADE domain in ``data/grade.yml`` (level and reason), which decides the
rating, and the rule's result is kept beside it so that a reader sees where and why the team
departed from the rule.

Thresholds (``analysis.stats.conventions``): the minimally important difference (MID, SMD 0.2)
and Cohen's 0.5 and 0.8 split the SMD scale into a trivial (or no), small, moderate and large
effect in either direction. Following the partially contextualised approach (Zeng et al. 2021,
GRADE guidelines 32; Schünemann et al. 2022, GRADE guidance 35), the certainty rated is the
certainty that the true effect lies in the size category of the point estimate, and the
intervals are judged against the thresholds, never against statistical significance.

Rules (randomised trials start at High):

- **Risk of bias**: one level when more than 50% of the meta-analysis weight comes from trials
  at high overall risk of bias (RoB 2).
- **Inconsistency**: judged from the 95% prediction interval (where the effect of a new trial is
  expected): one level when it crosses a threshold that the confidence interval does not cross
  (the trials' results vary into another size category); two levels when, in addition, I²
  (tau²-based) is at least 75% and the prediction interval includes both an important benefit and
  an important harm (beyond ±MID). Not assessable with fewer than three trials; no concern when
  tau² = 0.
- **Imprecision**: one level per threshold the 95% confidence interval crosses, at most two
  (GRADE guidance 34 and 35, Zeng et al. 2022, Schünemann et al. 2022); one level when it crosses
  none but the participants fall short of the optimal information size (OIS: the sample size of
  one adequately powered trial, alpha 0.05, power 0.8, effect = MID; Guyatt et al. 2011,
  GRADE guidelines 6).
- **Publication bias**: with at least 10 trials, one level when Egger's test gives p < 0.10;
  with fewer, not assessable and not rated down (stated).
- **Indirectness**: no rule (it needs a judgement of populations, interventions, comparators and
  outcomes against the review question).

Informative statements (Santesso et al. 2020, GRADE guidelines 26, Table 3): the words come from
the certainty and the size category of the point estimate only, so that the same evidence reads
the same in every outcome (``informative_statement``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.stats.conventions import (
    EFFECT_SIZES,
    EGGER_ALPHA,
    I2_CONSIDERABLE,
    MID,
    MIN_K_SMALL_STUDY,
    ROB_HIGH_WEIGHT_PERCENT,
    SMD_THRESHOLDS,
)
from analysis.stats.formatting import text as fmt
from analysis.stats.sequential import required_information_size

LEVELS = ("Very low", "Low", "Moderate", "High")
SYMBOLS = {"High": "⊕⊕⊕⊕", "Moderate": "⊕⊕⊕◯", "Low": "⊕⊕◯◯", "Very low": "⊕◯◯◯"}
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_TITLES = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                 "indirectness": "Indirectness", "imprecision": "Imprecision",
                 "publication_bias": "Publication bias"}
#: GRADE's words for the levels of concern: rated down 0, 1 or 2 levels.
CONCERNS = ("not serious", "serious", "very serious")
#: Who made a judgement: the stated rule, or the review team (data/grade.yml).
RULE, REVIEW_TEAM = "rule", "review team"
#: The direction premise of a finding: what the size category of the point estimate says.
DIRECTIONS = ("benefit", "harm", "little-or-no-difference")


# ---------------------------------------------------------------------------------------------
# sizes of effects against the thresholds


def thresholds_for(mid: float = MID, ratio: bool = False) -> tuple[float, ...]:
    """The decision thresholds (positive side) for a given MID.

    The MID, then those of Cohen's 0.5 and 0.8 that lie above it. For a ratio measure (``ratio``,
    on the log scale) the MID alone: Cohen's sizes belong to the standardised scale, and GRADE
    judges a relative effect against an appreciable benefit or harm only (Guyatt et al. 2011).
    """
    if ratio:
        return (float(mid),)
    return (float(mid),) + tuple(t for t in SMD_THRESHOLDS[1:] if t > mid)


def size_category(estimate: float, thresholds=SMD_THRESHOLDS) -> str:
    """``trivial``, ``small``, ``moderate`` or ``large``: the category of ``|estimate|``.

    A value on a threshold belongs to the larger category (0.2 is small, 0.5 moderate).
    """
    magnitude = abs(float(estimate))
    return EFFECT_SIZES[int(np.searchsorted(np.asarray(thresholds, float), magnitude, side="right"))]


def direction(estimate: float, thresholds=SMD_THRESHOLDS) -> str:
    """``benefit``, ``harm`` or ``little-or-no-difference``: what the point estimate's size says.

    ``benefit`` favours peer support, ``harm`` the control; ``little-or-no-difference`` when the
    point estimate is trivial (below the MID in size).
    """
    if size_category(estimate, thresholds) == "trivial":
        return "little-or-no-difference"
    return "benefit" if estimate > 0 else "harm"


def category_name(value: float, thresholds=SMD_THRESHOLDS) -> str:
    """A value's size category in words: "a small benefit", "a trivial effect or none", ..."""
    size = size_category(value, thresholds)
    if size == "trivial":
        return "a trivial effect or none"
    return f"a {size} {'benefit' if value > 0 else 'harm'}"


def interpretation(estimate: float | None, thresholds=SMD_THRESHOLDS) -> str:
    """What the point estimate means as a size, from the thresholds only (not from the CI)."""
    if estimate is None or not np.isfinite(estimate):
        return "no pooled estimate"
    size = size_category(estimate, thresholds)
    if size == "trivial":
        return f"trivial or no effect (smaller than the minimally important difference of {thresholds[0]:g})"
    return category_name(estimate, thresholds)[2:]


def thresholds_crossed(low: float, high: float, thresholds=SMD_THRESHOLDS) -> list[float]:
    """The thresholds (±each) strictly inside the interval ``(low, high)``, in increasing order."""
    cuts = sorted({-float(t) for t in thresholds} | {float(t) for t in thresholds})
    return [c for c in cuts if low < c < high]


#: Santesso et al. (2020), Table 3, by certainty and size category of the point estimate.
#: ``{verb}`` improve/worsen, ``{verbs}`` improves/worsens, ``{change}`` improvement/worsening.
STATEMENTS = {
    "High": {"large": "{I} results in a large {change} in {o}", "moderate": "{I} {verbs} {o}",
             "small": "{I} slightly {verbs} {o}", "trivial": "{I} results in little to no difference in {o}"},
    "Moderate": {"large": "{I} probably results in a large {change} in {o}", "moderate": "{I} probably {verbs} {o}",
                 "small": "{I} probably {verbs} {o} slightly",
                 "trivial": "{I} probably results in little to no difference in {o}"},
    "Low": {"large": "{I} may result in a large {change} in {o}", "moderate": "{I} may {verb} {o}",
            "small": "{I} may {verb} {o} slightly", "trivial": "{I} may result in little to no difference in {o}"},
    "Very low": dict.fromkeys(EFFECT_SIZES, "the evidence is very uncertain about the effect of {I} on {o}"),
}


def informative_statement(certainty: str, estimate: float, outcome: str, thresholds=SMD_THRESHOLDS,
                          intervention: str = "peer support") -> str:
    """The GRADE informative statement (Santesso et al. 2020) as one sentence.

    The words depend on the certainty and on the size category of the point estimate against the
    thresholds (trivial, small, moderate, large; benefit or harm), never on whether the
    confidence interval includes zero: the same evidence gives the same words in every outcome.
    ``outcome`` is the outcome's name as it should appear in the sentence.
    """
    size = size_category(estimate, thresholds)
    benefit = estimate > 0
    words = {"I": intervention, "o": outcome, "verb": "improve" if benefit else "worsen",
             "verbs": "improves" if benefit else "worsens", "change": "improvement" if benefit else "worsening"}
    sentence = STATEMENTS[certainty][size].format(**words)
    return sentence[0].upper() + sentence[1:] + "."


# ---------------------------------------------------------------------------------------------
# judgements


@dataclass(frozen=True)
class Judgement:
    """One GRADE domain of one outcome.

    Levels rated down, the reason in reviewer language and, for a rule, the rule and the numbers
    that triggered it (``detail``).
    """

    domain: str
    downgrade: int
    reason: str
    source: str = RULE            # RULE or REVIEW_TEAM
    detail: str = ""

    @property
    def concern(self) -> str:
        return CONCERNS[self.downgrade]

    def to_dict(self) -> dict:
        return {"domain": self.domain, "downgrade": self.downgrade, "concern": self.concern,
                "reason": self.reason, "detail": self.detail, "source": self.source}


@dataclass
class Grade:
    """The certainty of one outcome.

    ``judgements`` decide it (the review team's where recorded, else the rule's); ``rules`` keep
    the rules' result for every GRADE domain beside them. ``above_parent`` is the team's stated
    reason for a certainty above the parent domain's.
    """

    outcome: str
    judgements: list
    rules: list = field(default_factory=list)
    mid: float = MID
    above_parent: str | None = None
    ratio: bool = False

    @property
    def thresholds(self) -> tuple[float, ...]:
        """The decision thresholds the rules used (:func:`thresholds_for`)."""
        return thresholds_for(self.mid, self.ratio)

    @property
    def total_downgrade(self) -> int:
        return sum(j.downgrade for j in self.judgements)

    @property
    def certainty(self) -> str:
        return _level(self.total_downgrade)

    @property
    def rule_certainty(self) -> str:
        return _level(sum(j.downgrade for j in (self.rules or self.judgements)))

    @property
    def certainty_label(self) -> str:
        return f"{SYMBOLS[self.certainty]} {self.certainty}"

    @property
    def recorded(self) -> bool:
        """True when the review team judged every GRADE domain of this outcome."""
        return all(j.source == REVIEW_TEAM for j in self.judgements)

    def rule_for(self, domain: str) -> Judgement | None:
        return next((j for j in self.rules if j.domain == domain), None)

    def rated_down_for(self) -> list[str]:
        """Names of the GRADE domains rated down, lower case ("risk of bias", "imprecision")."""
        return [DOMAIN_TITLES[j.domain].lower() for j in self.judgements if j.downgrade]

    def short_reason(self) -> str:
        """The GRADE domains rated down as a sentence, or "Not rated down"."""
        down = [j for j in self.judgements if j.downgrade]
        if not down:
            return "Not rated down."
        parts = [f"{DOMAIN_TITLES[j.domain].lower()}" + (" (two levels)" if j.downgrade == 2 else "")
                 for j in down]
        names = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"Rated down for {names}."

    def footnotes(self) -> list[str]:
        """The reasons of the domains rated down, and of every judgement that departs from its rule."""
        notes = []
        for j in self.judgements:
            rule = self.rule_for(j.domain)
            departs = rule is not None and j.source != RULE and rule.downgrade != j.downgrade
            if j.downgrade or departs:
                lead = DOMAIN_TITLES[j.domain] + ("" if j.downgrade else " (not rated down)")
                notes.append(f"{lead}: {j.reason}")
        return notes

    def to_dict(self) -> dict:
        judgements = []
        for j in self.judgements:
            entry = j.to_dict()
            rule = self.rule_for(j.domain)
            entry["rule"] = rule.to_dict() if rule is not None else None
            judgements.append(entry)
        return {"outcome": self.outcome, "certainty": self.certainty, "certainty_label": self.certainty_label,
                "downgrade": self.total_downgrade, "mid": self.mid,
                "thresholds": list(self.thresholds), "ratio": self.ratio, "rule_certainty": self.rule_certainty,
                "recorded": self.recorded, "rated_down_for": self.rated_down_for(),
                "short_reason": self.short_reason(), "above_parent": self.above_parent,
                "judgements": judgements, "footnotes": self.footnotes()}


def _level(downgrade: int) -> str:
    return LEVELS[max(0, len(LEVELS) - 1 - downgrade)]


def _pct(x: float) -> str:
    return f"{x:.0f}%"


def _cuts(values) -> str:
    return ", ".join(fmt(v) for v in values)


def judge_risk_of_bias(weights, overall) -> Judgement:
    """``weights`` in percent per comparison, ``overall`` its overall RoB 2 judgement."""
    weights = np.asarray(weights, dtype=float)
    high = np.array([str(o) == "high" for o in overall])
    share = float(weights[high].sum() / weights.sum() * 100) if weights.sum() > 0 else 0.0
    detail = (f"{_pct(share)} of the meta-analysis weight comes from trials at high overall risk of bias "
              f"(rule: one level when above {ROB_HIGH_WEIGHT_PERCENT:g}%).")
    if share > ROB_HIGH_WEIGHT_PERCENT:
        return Judgement("risk_of_bias", 1, f"Most of the evidence ({_pct(share)} of the weight) comes from "
                                            "trials at high risk of bias.", RULE, detail)
    return Judgement("risk_of_bias", 0, "Most of the evidence comes from trials at low risk of bias or with some "
                                        "concerns.", RULE, detail)


def judge_inconsistency(res, thresholds=SMD_THRESHOLDS) -> Judgement:
    """Inconsistency from the prediction interval against the thresholds (see the module text)."""
    ranges = f"thresholds ±{', ±'.join(f'{t:g}' for t in thresholds)}"
    i2 = res.i2_tau2 if getattr(res, "i2_tau2", None) is not None else res.i2_q
    if res.k < 3 or res.pi_low is None or res.pi_high is None:
        return Judgement("inconsistency", 0, "Too few trials to judge whether their results differ; not rated down.",
                         RULE, f"k = {res.k}: the prediction interval needs at least three trials.")
    if not res.tau2:
        return Judgement("inconsistency", 0, "The trials' results differ no more than chance would explain.", RULE,
                         f"tau² = 0 (I² = {_pct(i2 or 0)}).")
    in_ci = set(thresholds_crossed(res.ci_low, res.ci_high, thresholds))
    extra = [c for c in thresholds_crossed(res.pi_low, res.pi_high, thresholds) if c not in in_ci]
    spread = (f"95% prediction interval {fmt(res.pi_low)} to {fmt(res.pi_high)}, 95% CI {fmt(res.ci_low)} to "
              f"{fmt(res.ci_high)}, I² = {_pct(i2)} (Q-based {_pct(res.i2_q)})")
    if not extra:
        return Judgement("inconsistency", 0, "The trials' results vary little: a new trial's effect is expected in "
                                             "the same size range as the pooled estimate.", RULE,
                         f"{spread}: the prediction interval crosses no threshold beyond those the CI crosses "
                         f"({ranges}).")
    reach = (f"a new trial could find anything from {category_name(res.pi_low, thresholds)} to "
             f"{category_name(res.pi_high, thresholds)}")
    both = res.pi_low < -thresholds[0] and res.pi_high > thresholds[0]
    if both and i2 is not None and i2 >= I2_CONSIDERABLE:
        return Judgement("inconsistency", 2, f"The trials' results differ widely: {reach}, and most of the "
                                             "variation is between trials.", RULE,
                         f"{spread}: the prediction interval crosses {_cuts(extra)} beyond the CI and includes "
                         f"important effects in both directions, with I² of {I2_CONSIDERABLE:g}% or more "
                         "(rule: two levels).")
    return Judgement("inconsistency", 1, f"The trials' results differ: {reach}.", RULE,
                     f"{spread}: the prediction interval crosses {_cuts(extra)}, which the CI does not cross "
                     f"(rule: one level).")


def judge_imprecision(res, participants: float, mid: float = MID, thresholds=None) -> Judgement:
    """Imprecision from the confidence interval against the thresholds, then the OIS."""
    thresholds = thresholds_for(mid) if thresholds is None else thresholds
    lo, hi = res.ci_low, res.ci_high
    ci = f"95% CI {fmt(lo)} to {fmt(hi)}"
    crossed = thresholds_crossed(lo, hi, thresholds)
    low_name, high_name = category_name(lo, thresholds), category_name(hi, thresholds)
    if len(crossed) >= 2:
        return Judgement("imprecision", 2, f"The confidence interval is very wide: it includes {low_name} as well "
                                           f"as {high_name}.", RULE,
                         f"The {ci} crosses {len(crossed)} thresholds ({_cuts(crossed)}) (rule: one level per "
                         "threshold crossed, at most two).")
    if len(crossed) == 1:
        return Judgement("imprecision", 1, f"The confidence interval includes both {low_name} and {high_name}.",
                         RULE, f"The {ci} crosses the threshold {_cuts(crossed)} (rule: one level per threshold "
                               "crossed).")
    ois = required_information_size(mid)
    if participants < ois:
        return Judgement("imprecision", 1, f"The trials together ({participants:.0f} participants) are smaller "
                                           f"than one adequately powered trial would be ({ois:.0f}).", RULE,
                         f"The {ci} crosses no threshold, but {participants:.0f} participants fall short of the "
                         f"optimal information size of {ois:.0f} (alpha 0.05, power 0.8, SMD {mid:g}).")
    return Judgement("imprecision", 0, f"The confidence interval lies within one size category ({low_name[2:]}) "
                                       "and the trials are large enough.", RULE,
                     f"The {ci} crosses no threshold ({_cuts(sorted({-t for t in thresholds} | set(thresholds)))}); "
                     f"{participants:.0f} participants reach the optimal information size ({ois:.0f}).")


def judge_publication_bias(k: int, egger_p: float | None) -> Judgement:
    """Publication bias from Egger's test, with ten or more trials."""
    if k < MIN_K_SMALL_STUDY or egger_p is None:
        return Judgement("publication_bias", 0, f"Too few trials ({k}) to test for small-study effects; not rated "
                                                "down.", RULE,
                         f"{k} comparisons, fewer than {MIN_K_SMALL_STUDY}: Egger's test not done.")
    detail = f"Egger's test p = {egger_p:.3f} (rule: one level when p < {EGGER_ALPHA:g})."
    if egger_p < EGGER_ALPHA:
        return Judgement("publication_bias", 1, "Smaller trials show different effects from larger ones, a sign of "
                                                "possible publication bias.", RULE, detail)
    return Judgement("publication_bias", 0, "No sign that smaller trials show different effects.", RULE, detail)


def judge_indirectness() -> Judgement:
    """Indirectness has no rule: the review team judges it."""
    return Judgement("indirectness", 0, "Not judged by a rule; needs the review team's judgement.", RULE,
                     "No rule: populations, interventions, comparators and outcomes are judged against the review "
                     "question by the review team.")


#: Keys of a domain's entry in the judgement file that are not GRADE domains.
ENTRY_KEYS = ("recorded", "above_parent")


def assess(outcome: str, res, *, overall_rob, participants: float, egger_p: float | None = None,
           mid: float = MID, judgements: dict | None = None, ratio: bool = False) -> Grade:
    """GRADE certainty of one outcome from its main fit.

    The rules, and the review team's judgements (``judgements``: the mapping read from grade.yml),
    which decide where recorded. ``ratio``: the fit is of a log ratio (``mid`` on the log scale).
    """
    thresholds = thresholds_for(mid, ratio)
    rules = [
        judge_risk_of_bias(res.weights, overall_rob),
        judge_inconsistency(res, thresholds),
        judge_indirectness(),
        judge_imprecision(res, participants, mid, thresholds),
        judge_publication_bias(res.k, egger_p),
    ]
    entry = (judgements or {}).get(outcome, {}) or {}
    chosen = []
    for rule in rules:
        given = entry.get(rule.domain)
        if given:
            chosen.append(Judgement(rule.domain, int(given["downgrade"]), str(given["reason"]).strip(),
                                    REVIEW_TEAM, rule.detail))
        else:
            chosen.append(rule)
    above = entry.get("above_parent")
    return Grade(outcome, chosen, rules, mid, str(above).strip() if above else None, ratio)
