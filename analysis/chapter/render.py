"""A domain chapter's text and tables, rendered from its :class:`~analysis.chapter.menu.DomainReport`.

Text from the data is escaped with :func:`md_escape`: it is shown, never interpreted as markup.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from analysis import figures
from analysis.chapter import findings
from analysis.chapter.labels import SUBGROUP_VARIABLES
from analysis.stats import grade
from analysis.stats.formatting import text as fmt
from analysis.stats.formatting import text_p as fmt_p

if TYPE_CHECKING:
    from analysis.chapter.menu import DomainReport


_MD_SPECIAL = set("\\`*_{}[]()<>#+-.!|$~:@%&^=\"'")


def md_escape(text) -> str:
    """Escape text from the data so that MyST/Markdown renders it literally.

    Every ASCII punctuation character that Markdown, MyST roles, HTML or math could interpret is
    backslash-escaped (CommonMark allows escaping any ASCII punctuation); newlines become spaces.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    out = []
    for ch in " ".join(str(text).split()):
        out.append("\\" + ch if ch in _MD_SPECIAL else ch)
    return "".join(out)


def _table(frame: pd.DataFrame, uuid: str):
    """A table for the page: no index, text HTML-escaped, a fixed element id.

    The text comes from the data; the fixed id makes two builds write identical HTML.
    """
    return frame.style.hide(axis="index").format(escape="html").set_uuid(uuid)


#: How each confidence-interval method of the engine is named on the page.
CI_TEXT = {"z": "Wald-type (normal-distribution) 95% CI",
           "hk": "Hartung-Knapp-Sidik-Jonkman 95% CI (t distribution, k − 1 degrees of freedom)",
           "hk-adhoc": "Hartung-Knapp-Sidik-Jonkman 95% CI with the ad hoc variance correction"}
#: How each prediction-interval method is named on the page.
PI_TEXT = {"z": "normal distribution", "t-1": "t distribution with k − 1 degrees of freedom",
           "t-2": "t distribution with k − 2 degrees of freedom"}


def conventions(rep: DomainReport) -> str:
    """The model of the main analysis in words (the preset's name is maintainer detail)."""
    s = rep.settings
    method = {"REML": "restricted maximum likelihood (REML)", "DL": "DerSimonian-Laird",
              "PM": "Paule-Mandel", "ML": "maximum likelihood"}.get(s["method"], s["method"])
    return (f"random-effects model; between-trial variance (tau²) by {method} with a Q-profile CI; "
            f"{CI_TEXT[s['ci']]}; 95% prediction interval from the {PI_TEXT[s['pi']]}; "
            f"I² from tau² (the Q-based I² is shown beside it)")


def key_message_md(rep: DomainReport) -> str:
    """Plain-language key message of a domain.

    The GRADE informative statement (Santesso et al. 2020), the numbers behind it, the certainty
    with its reasons, what a new trial could find and what the analysis covers.
    """
    p = rep.primary
    title = md_escape(rep.domain.get("title", rep.domain["id"])).lower()
    covers = f"Outcomes measured at the {md_escape(findings.time_frame(rep.rows))}."
    numbers = (f"SMD {fmt(p.estimate)}, 95% CI {fmt(p.ci_low)} to {fmt(p.ci_high)}; "
               f"{rep.n_studies} trials, {rep.n_participants} participants")
    if p.k < 2:
        return f"Only one comparison reports {title}; no pooled estimate is given ({numbers}). {covers}"
    g = rep.grade
    if g is None:
        return f"Pooled effect on {title}: {numbers}. {covers}"
    thresholds = grade.thresholds_for(g.mid)
    statement = grade.informative_statement(g.certainty, p.estimate, title, thresholds)
    down = [j for j in g.judgements if j.downgrade]
    names = [f"{{term}}`{grade.DOMAIN_TITLES[j.domain].lower()}`" + (" (two levels)" if j.downgrade == 2 else "")
             for j in down]
    reason = ("Not rated down." if not names else
              "Rated down for " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]) + ".")
    size = grade.size_category(p.estimate, thresholds)
    meaning = ("smaller than the {term}`minimally important difference` of " + f"{thresholds[0]:g}"
               if size == "trivial" else md_escape(grade.interpretation(p.estimate, thresholds)))
    numbers = numbers.replace("SMD", "{term}`SMD`", 1).replace("95% CI", "95% {term}`CI <confidence interval>`", 1)
    text = (f"**{statement}** {{term}}`Certainty of the evidence <certainty of the evidence>`: "
            f"**{g.certainty.lower()}** ({reason[0].lower()}{reason[1:-1]}). Estimated effect: {numbers}; "
            f"{meaning}.")
    if p.k >= 3 and p.pi_low is not None and p.pi_high is not None:
        text += (f" A new trial in a similar setting could find anything from "
                 f"{grade.category_name(p.pi_low, thresholds)} to {grade.category_name(p.pi_high, thresholds)} "
                 f"(95% {{term}}`prediction interval` {fmt(p.pi_low)} to {fmt(p.pi_high)}).")
    return f"{text} {covers}"


def pooled_table(rep: DomainReport):
    """The main result as a one-row table (a pandas Styler, shown without index)."""
    p = rep.primary
    return pd.DataFrame([{
        "k": p.k,
        "trials": rep.n_studies,
        "participants": rep.n_participants,
        "g [95% CI]": f"{fmt(p.estimate)} [{fmt(p.ci_low)}, {fmt(p.ci_high)}]",
        "p": fmt_p(p.p),
        "95% PI": f"[{fmt(p.pi_low)}, {fmt(p.pi_high)}]",
        "tau² [95% CI]": f"{fmt(p.tau2, 3)} [{fmt(p.tau2_ci_low, 3)}, {fmt(p.tau2_ci_high, 3)}]",
        "I² [95% CI]": f"{fmt(p.i2_tau2, 0)}% [{fmt(p.i2_tau2_ci_low, 0)}, {fmt(p.i2_tau2_ci_high, 0)}]",
        "I² (Q-based) [95% CI]": f"{fmt(p.i2_q, 0)}% [{fmt(p.i2_q_ci_low, 0)}, {fmt(p.i2_q_ci_high, 0)}]",
        "Q (df, p)": f"{fmt(p.q)} ({p.q_df}, {fmt_p(p.q_p)})",
    }]).pipe(_table, f"{rep.domain['id']}-pooled")


def _i2(res) -> str:
    """The headline I² of a fit: tau²-based for random-effects fits, Q-based for common-effect ones."""
    value = res.i2_tau2 if res.i2_tau2 is not None else res.i2_q
    return "" if value is None else f"{fmt(value, 0)}%"


def subgroup_table(rep: DomainReport):
    """Subgroup estimates and tests for differences (a pandas Styler, shown without index)."""
    records = []
    for column, title in SUBGROUP_VARIABLES:
        result = rep.subgroups.get(column)
        if isinstance(result, str) or result is None:
            records.append({"variable": title, "subgroup": "", "k": "", "g [95% CI]": "",
                            "I²": "", "test for differences": result or ""})
            continue
        first = True
        for name, res in result.groups.items():
            records.append({
                "variable": title if first else "",
                "subgroup": name,
                "k": res.k,
                "g [95% CI]": f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]",
                "I²": _i2(res),
                "test for differences": (f"Q = {fmt(result.q_between)}, df = {result.df_between}, "
                                         f"p = {fmt_p(result.p_between)}") if first else "",
            })
            first = False
    return pd.DataFrame(records).pipe(_table, f"{rep.domain['id']}-subgroups")


def subgroup_figures(rep: DomainReport):
    """(title, forest plot) of every subgroup analysis that was done."""
    for column, title in SUBGROUP_VARIABLES:
        result = rep.subgroups.get(column)
        if result is not None and not isinstance(result, str):
            yield title, figures.forest(result)


def sensitivity_table(rep: DomainReport):
    """The sensitivity menu (a pandas Styler, shown without index)."""
    records = []
    for item in rep.sensitivity:
        res = item.get("result")
        if res is None:
            records.append({"analysis": item["analysis"], "k": "", "g [95% CI]": "",
                            "95% PI": "", "tau²": "", "I²": "", "note": item.get("note", "")})
            continue
        records.append({
            "analysis": item["analysis"],
            "k": res.k,
            "g [95% CI]": f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]",
            "95% PI": f"[{fmt(res.pi_low)}, {fmt(res.pi_high)}]",
            "tau²": fmt(res.tau2, 3),
            "I²": _i2(res),
            "note": item.get("note", ""),
        })
    return pd.DataFrame(records).pipe(_table, f"{rep.domain['id']}-sensitivity")


def small_study_md(rep: DomainReport) -> str:
    """Egger's test and trim-and-fill in words, or why they are not reported."""
    if rep.small_study_reason:
        return rep.small_study_reason
    e, t = rep.egger, rep.trimfill
    lines = [
        f"{{term}}`Egger's test` (regression on the standard error): z = {fmt(e.statistic)}, p = {fmt_p(e.p)}.",
        f"{{term}}`Trim-and-fill <trim-and-fill>`: {t.k0} trial(s) imputed on the {t.side} side; adjusted "
        f"g = {fmt(t.filled.estimate)} (95% CI {fmt(t.filled.ci_low)} to {fmt(t.filled.ci_high)}).",
        "Funnel asymmetry can reflect publication bias, but also heterogeneity or chance; "
        "trim-and-fill is a sensitivity analysis, not a correction.",
    ]
    return "\n\n".join(lines)


def published_md(rep: DomainReport) -> str:
    """Earlier reviews' estimates for this outcome, oriented as this review reports effects.

    From :func:`analysis.chapter.published.oriented_estimates`, with the printed value kept.
    """
    from analysis.chapter.published import direction_text

    pub = rep.published
    ours = rep.primary
    mine = (f"This review (main analysis): SMD {fmt(ours.estimate)} ({fmt(ours.ci_low)} to {fmt(ours.ci_high)}), "
            f"{ours.k} comparisons, outcomes at the end of the intervention.")
    missing = rep.published_without_numbers
    extra = (f" {missing} further result{'s' if missing != 1 else ''} of earlier reviews for this outcome "
             f"{'were' if missing != 1 else 'was'} reported without numbers (for example \"nonsignificant\") and "
             f"{'are' if missing != 1 else 'is'} not listed.") if missing else ""
    if pub is None or pub.empty:
        return f"No earlier review reported a pooled result mapped to this outcome.{extra}\n\n{mine}"
    lines = ["| Review | Outcome as reported | Time point | k | Measure | Estimate (95% CI); positive favours peer "
             "support | As printed | Printed direction | AMSTAR 2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for _, r in pub.iterrows():
        oriented = (f"{fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})" if r["oriented"]
                    else "not shown: direction unclear")
        note = r["inconsistency"] and isinstance(r["inconsistency_note"], str)
        printed_in = "" if r["reported_in"] == r["review_id"] else f" in {md_escape(r['reported_in_label'])}"
        lines.append("| " + " | ".join([
            md_escape(r["review"]) + printed_in, md_escape(r["outcome"]), md_escape(TIMEPOINT_TEXT.get(r["timepoint"],
                                                                                                         r["timepoint"])),
            "" if pd.isna(r["k"]) else str(int(r["k"])), md_escape(r["measure"]), oriented,
            md_escape(r["printed"]) + ("<sup>†</sup>" if note else ""), md_escape(direction_text(r)),
            md_escape(r["amstar2"].replace("-", " ") if isinstance(r["amstar2"], str) else "not rated")]) + " |")
    notes = [f"† {md_escape(r['review'])}, {md_escape(r['outcome'])}: {md_escape(r['inconsistency_note'])}"
             for _, r in pub.iterrows() if r["inconsistency"] and isinstance(r["inconsistency_note"], str)]
    text = "\n".join(lines)
    if notes:
        text += (f"\n\n:::{{dropdown}} † Where the printed numbers disagree with each other ({len(notes)})\n\n"
                 + "\n".join(f"- {n}" for n in notes) + "\n:::")
    ratio = " A risk ratio is inverted when turned (the risk with control relative to peer support)." \
        if (pub["scale"] == "ratio").any() else ""
    how = (" Printed direction: which side of no effect the review's printed numbers give to a benefit of peer "
           "support, and how that is known (stated by the review, described with the result, the review's "
           "convention in its other results, or the scale's direction); the basis and its evidence are recorded "
           "in the data.")
    return f"{text}\n\n{mine}{extra}{ratio}{how}"


#: Time points of published estimates in words.
TIMEPOINT_TEXT = {"post": "end of intervention", "follow-up": "follow-up", "mixed": "mixed",
                  "not-stated": "not stated"}


def quality_notes_md(rep: DomainReport) -> str:
    """The section for reviewers and maintainers, collapsed.

    The analysis settings and the data-quality notes (curation decisions and validator findings on
    this outcome's trials).
    """
    s = rep.settings
    settings = (f"Convention preset {md_escape(s['preset'])}: tau² estimator {md_escape(s['method'])}, "
                f"confidence interval {md_escape(s['ci'])}, prediction interval {md_escape(s['pi'])} "
                "(see Methods); the reproduction of Smit et al. (2022) uses their own settings.")
    notes = ("\n".join(f"- {md_escape(note)}" for note in rep.quality_notes) if rep.quality_notes
             else "No curation decisions or validator warnings touch this outcome.")
    count = len(rep.quality_notes)
    title = f"Analysis settings and {count} data-quality note{'s' if count != 1 else ''}"
    return f":::{{dropdown}} {title}\n\n{settings}\n\n{notes}\n:::"


def studies_md(rep: DomainReport) -> str:
    """The trials of the analysis, cited."""
    keys = sorted(set(rep.rows["study_id"]))
    return "This analysis includes " + ", ".join(f"{{cite:t}}`{k}`" for k in keys) + "."


def living_md(rep: DomainReport) -> str:
    """Secondary living-update analyses: sequential monitoring, Bayesian model, stability."""
    parts = []
    if rep.sequential is not None:
        parts.append(md_escape(rep.sequential.summary()))
    if rep.bayes is not None:
        b = rep.bayes
        parts.append(
            f"Bayesian random-effects model (flat prior on the mean effect, half-normal prior on tau with scale "
            f"{b.tau_prior_scale}): posterior median g = {fmt(b.median)} (95% credible interval {fmt(b.ci_low)} to "
            f"{fmt(b.ci_high)}); probability that peer support helps (g > 0): {b.p_positive:.2f}; probability "
            f"that the effect exceeds the minimally important difference (g > {b.mid}): {b.p_above_mid:.2f}; "
            f"a new trial's effect: {fmt(b.predictive_low)} to {fmt(b.predictive_high)}.")
    if rep.stability is not None:
        parts.append(md_escape(rep.stability.statement))
    parts.append("These are secondary analyses: following the Cochrane Handbook, sequential methods do not "
                 "replace the main analysis.")
    return "\n\n".join(parts)
