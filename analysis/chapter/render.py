"""A domain chapter's text and tables, rendered from its :class:`~analysis.chapter.menu.DomainReport`.

Text from the data is escaped with :func:`md_escape`: it is shown, never interpreted as markup.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from analysis.chapter.labels import SUBGROUP_VARIABLES
from analysis.chapter.markup import md_escape
from analysis.chapter.tables import frame_table, markdown_table
from analysis.stats import grade
from analysis.stats.formatting import text as fmt
from analysis.stats.formatting import text_p as fmt_p

if TYPE_CHECKING:
    from analysis.chapter.menu import DomainReport


def _table(frame: pd.DataFrame, label: str | None, caption: str):
    """A numbered table for the page (:func:`analysis.chapter.tables.frame_table`), text escaped.

    The text comes from the data.

    ``label``: the table is labelled ``tbl-<label>`` (the chapter refers to it, and the element id is
    fixed, so that two builds write identical HTML); ``None`` for a table shown elsewhere (a Learn
    chapter), where a label would duplicate the chapter's.
    """
    return frame_table(frame, caption=caption, name=f"tbl-{label}" if label else None)


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
    scale = " on the log scale" if rep.exp else ""
    return (f"{rep.effect_label.lower()}{scale}, one effect per trial; random-effects model; between-trial "
            f"variance (tau²) by {method} with a Q-profile CI; {CI_TEXT[s['ci']]}; 95% prediction interval "
            f"from the {PI_TEXT[s['pi']]} (from three trials); I² from tau² (the Q-based I² is shown beside it)")


def effect_ci(rep: DomainReport, res) -> str:
    """``estimate [low, high]`` of a fit on the scale readers see (ratios back-transformed)."""
    if res is None:
        return ""
    return f"{fmt(rep.shown(res.estimate))} [{fmt(rep.shown(res.ci_low))}, {fmt(rep.shown(res.ci_high))}]"


def _interval(rep: DomainReport, low, high) -> str:
    if low is None or high is None:
        return ""
    return f"[{fmt(rep.shown(low))}, {fmt(rep.shown(high))}]"


def _effect_words(rep: DomainReport) -> str:
    """The pooled effect with its CI, trials and participants, in the words of its measure."""
    p = rep.primary
    label = "g" if rep.measure == "SMD" else rep.effect_label
    return (f"{label} = {fmt(rep.shown(p.estimate))}, 95% CI {fmt(rep.shown(p.ci_low))} to "
            f"{fmt(rep.shown(p.ci_high))}; {rep.n_studies} trial{'s' if rep.n_studies != 1 else ''}, "
            f"{rep.n_participants} participants")


def absolute_md(rep: DomainReport) -> str:
    """The anticipated absolute effect per 1000 of a binary domain, in words."""
    a = rep.absolute
    if a is None:
        return ""
    direction = "fewer" if a.difference < 0 else "more"
    return (f"With an assumed risk of {fmt(a.control, 0)} per {a.per} in the control group (the median control-group "
            f"risk of the trials), {fmt(a.intervention, 0)} per {a.per} with peer support: {fmt(abs(a.difference), 0)} "
            f"{direction} per {a.per} (95% CI {fmt(a.difference_ci_low, 0)} to {fmt(a.difference_ci_high, 0)}).")


def key_message_md(rep: DomainReport) -> str:
    """Plain-language key message of a domain.

    The GRADE informative statement (Santesso et al. 2020), the numbers behind it, the certainty
    with its reasons, what a new trial could find and what the analysis covers.
    """
    p = rep.primary
    title = md_escape(rep.domain.get("title", rep.domain["id"])).lower()
    when = f" Time frame: {md_escape(rep.time_frame)}."
    if not rep.pooled:
        trial = md_escape(rep.trials["label"].iloc[0])
        return (f"One trial ({trial}) reports {title}; its result is shown, not pooled "
                f"({_effect_words(rep)}).{when}")
    g = rep.grade
    if rep.is_binary:
        text = f"**{md_escape(binary_statement(rep))}** ({_effect_words(rep)})."
        if g is not None:
            text += f" Certainty of the evidence: **{g.certainty.lower()}**."
        if rep.absolute is not None:
            text += " " + absolute_md(rep)
        return text + when
    if g is None or rep.measure != "SMD":
        return f"Pooled effect on {title}: {_effect_words(rep)}.{when}"
    thresholds = g.thresholds
    statement = grade.informative_statement(g.certainty, p.estimate, title, thresholds)
    down = [j for j in g.judgements if j.downgrade]
    names = [f"{{term}}`{grade.DOMAIN_TITLES[j.domain].lower()}`" + (" (two levels)" if j.downgrade == 2 else "")
             for j in down]
    reason = ("Not rated down." if not names else
              "Rated down for " + (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]) + ".")
    size = grade.size_category(p.estimate, thresholds)
    meaning = ("smaller than the {term}`minimally important difference` of " + f"{thresholds[0]:g}"
               if size == "trivial" else md_escape(grade.interpretation(p.estimate, thresholds)))
    numbers = (f"{{term}}`SMD` {fmt(p.estimate)}, 95% {{term}}`CI <confidence interval>` {fmt(p.ci_low)} to "
               f"{fmt(p.ci_high)}; {rep.n_studies} trials, {rep.n_participants} participants")
    text = (f"**{statement}** {{term}}`Certainty of the evidence <certainty of the evidence>`: "
            f"**{g.certainty.lower()}** ({reason[0].lower()}{reason[1:-1]}). Estimated effect: {numbers}; "
            f"{meaning}.")
    pi_low, pi_high = rep.prediction_interval()
    if pi_low is not None and pi_high is not None:
        text += (f" A new trial in a similar setting could find anything from "
                 f"{grade.category_name(pi_low, thresholds)} to {grade.category_name(pi_high, thresholds)} "
                 f"(95% {{term}}`prediction interval` {fmt(pi_low)} to {fmt(pi_high)}).")
    return text + when


def binary_statement(rep: DomainReport) -> str:
    """What happens to the risk of a binary outcome, in GRADE's words for its certainty.

    The verbs by certainty follow Santesso et al. (2020); the direction is that of the point
    estimate (a risk that falls or rises), since the size categories of the standardised scale do
    not apply to ratios.
    """
    title = rep.domain.get("title", rep.domain["id"]).lower()
    change = "reduce" if rep.primary.estimate < 0 else "increase"
    certainty = rep.grade.certainty if rep.grade else "Low"
    return {"High": f"Peer support {change}s {title}.", "Moderate": f"Peer support probably {change}s {title}.",
            "Low": f"Peer support may {change} {title}.",
            "Very low": f"The evidence is very uncertain about the effect of peer support on {title}."}[certainty]


def pooled_table(rep: DomainReport, label: str | None = None):
    """The main result as a one-row table (a pandas Styler, shown without index)."""
    p = rep.primary
    pi_low, pi_high = rep.prediction_interval()
    several = rep.pooled and p.k >= 2
    return pd.DataFrame([{
        "trials": rep.n_studies,
        "participants": rep.n_participants,
        f"{rep.effect_label} [95% CI]": effect_ci(rep, p),
        "p": fmt_p(p.p),
        "95% PI": _interval(rep, pi_low, pi_high),
        "tau² [95% CI]": f"{fmt(p.tau2, 3)} [{fmt(p.tau2_ci_low, 3)}, {fmt(p.tau2_ci_high, 3)}]" if several else "",
        "I² [95% CI]": (f"{fmt(p.i2_tau2, 0)}% [{fmt(p.i2_tau2_ci_low, 0)}, {fmt(p.i2_tau2_ci_high, 0)}]"
                        if several else ""),
        "I² (Q-based) [95% CI]": (f"{fmt(p.i2_q, 0)}% [{fmt(p.i2_q_ci_low, 0)}, {fmt(p.i2_q_ci_high, 0)}]"
                                  if several else ""),
        "Q (df, p)": f"{fmt(p.q)} ({p.q_df}, {fmt_p(p.q_p)})" if several else "",
    }]).pipe(_table, label, "Main analysis: pooled result and heterogeneity")


def _i2(res) -> str:
    """The headline I² of a fit: tau²-based for random-effects fits, Q-based for common-effect ones."""
    value = res.i2_tau2 if res.i2_tau2 is not None else res.i2_q
    return "" if value is None else f"{fmt(value, 0)}%"


def subgroup_table(rep: DomainReport, label: str | None = None):
    """Subgroup estimates and tests for differences, one row per subgroup (a numbered table).

    I² is tau²-based (as in the pooled table's headline); empty for a subgroup of one trial.
    """
    records = []
    effect = f"{rep.effect_label} [95% CI]"
    for column, title in SUBGROUP_VARIABLES:
        result = rep.subgroups.get(column)
        if isinstance(result, str) or result is None:
            continue  # listed by subgroups_not_done_md
        first = True
        for name, res in result.groups.items():
            records.append({
                "variable": title if first else "",
                "subgroup": name,
                "trials": res.k,
                effect: effect_ci(rep, res),
                "I²": _i2(res),
                "test for differences": (f"Q = {fmt(result.q_between)}, df = {result.df_between}, "
                                         f"p = {fmt_p(result.p_between)}") if first else "",
                "note": "; ".join(result.notes) if first else "",
            })
            first = False
    columns = ["variable", "subgroup", "trials", effect, "I²", "test for differences", "note"]
    return pd.DataFrame(records, columns=columns).pipe(_table, label,
                                                       "Subgroup estimates and tests for subgroup differences")


def subgroups_not_done_md(rep: DomainReport) -> str:
    """The subgroup variables not analysed in this domain, each with the reason (Markdown)."""
    items = []
    for column, title in SUBGROUP_VARIABLES:
        result = rep.subgroups.get(column)
        if isinstance(result, str) or result is None:
            items.append(f"- {md_escape(title)}: {md_escape(str(result or 'not done'))}")
    if not items:
        return "Every subgroup variable has at least two subgroups with trials."
    return ("Not analysed (a variable is analysed only where at least two subgroups have trials, in a domain of "
            "three trials or more):\n\n" + "\n".join(items))


def sensitivity_table(rep: DomainReport, label: str | None = None):
    """The sensitivity menu (a pandas Styler, shown without index)."""
    records = []
    effect = f"{rep.effect_label} [95% CI]"
    for item in rep.sensitivity:
        res = item.get("result")
        if res is None:
            records.append({"analysis": item["analysis"], "k": "", effect: "",
                            "95% PI": "", "tau²": "", "I²": "", "note": item.get("note", "")})
            continue
        # a fit of the trials, a three-level fit of the rows (its "k" is the rows), or robust inference
        k = getattr(res, "k", getattr(res, "n_clusters", ""))
        fixed = getattr(res, "method", None) in ("FE", "MH", "PETO")
        pi = (getattr(res, "pi_low", None), getattr(res, "pi_high", None)) if k and k >= 3 and not fixed else (None, None)
        tau2 = getattr(res, "tau2", None)
        i2 = getattr(res, "i2_tau2", None)
        i2 = getattr(res, "i2_q", None) if i2 is None else i2
        records.append({
            "analysis": item["analysis"],
            "k": k,
            effect: effect_ci(rep, res),
            "95% PI": _interval(rep, *pi),
            "tau²": "" if tau2 is None else fmt(tau2, 3),
            "I²": "" if i2 is None else f"{fmt(i2, 0)}%",
            "note": item.get("note", ""),
        })
    return pd.DataFrame(records).pipe(_table, label, "Sensitivity analyses")


def small_study_md(rep: DomainReport) -> str:
    """Egger's test and trim-and-fill in words, or why they are not reported."""
    if rep.small_study_reason:
        return rep.small_study_reason
    e, t = rep.egger, rep.trimfill
    lines = [
        f"{{term}}`Egger's test` (regression on the standard error): z = {fmt(e.statistic)}, p = {fmt_p(e.p)}.",
        f"{{term}}`Trim-and-fill <trim-and-fill>`: {t.k0} trial(s) imputed on the {t.side} side; adjusted "
        f"{rep.effect_label.lower()} = {effect_ci(rep, t.filled)}.",
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
    mine = (f"This review (main analysis, one effect per trial): {md_escape(rep.effect_label)} "
            f"{effect_ci(rep, ours)}, {ours.k} trials; {md_escape(rep.time_frame)}.")
    missing = rep.published_without_numbers
    extra = (f" {missing} further result{'s' if missing != 1 else ''} of earlier reviews for this outcome "
             f"{'were' if missing != 1 else 'was'} reported without numbers (for example \"nonsignificant\") and "
             f"{'are' if missing != 1 else 'is'} not listed.") if missing else ""
    if pub is None or pub.empty:
        return f"No earlier review reported a pooled result mapped to this outcome.{extra}\n\n{mine}"
    header = ["Review", "Outcome as reported", "Time point", "k", "Measure",
              "Estimate (95% CI); positive favours peer support", "As printed", "Printed direction", "AMSTAR 2"]
    cells = []
    for _, r in pub.iterrows():
        oriented = (f"{fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})" if r["oriented"]
                    else "not shown: direction unclear")
        note = r["inconsistency"] and isinstance(r["inconsistency_note"], str)
        printed_in = "" if r["reported_in"] == r["review_id"] else f" in {md_escape(r['reported_in_label'])}"
        cells.append([
            md_escape(r["review"]) + printed_in, md_escape(r["outcome"]),
            md_escape(TIMEPOINT_TEXT.get(r["timepoint"], r["timepoint"])),
            "" if pd.isna(r["k"]) else str(int(r["k"])), md_escape(r["measure"]), oriented,
            md_escape(r["printed"]) + ("<sup>†</sup>" if note else ""), md_escape(direction_text(r)),
            md_escape(r["amstar2"].replace("-", " ") if isinstance(r["amstar2"], str) else "not rated")])
    notes = [f"† {md_escape(r['review'])}, {md_escape(r['outcome'])}: {md_escape(r['inconsistency_note'])}"
             for _, r in pub.iterrows() if r["inconsistency"] and isinstance(r["inconsistency_note"], str)]
    text = markdown_table(header, cells, caption="Pooled results published by earlier reviews, oriented as this "
                          "review reports effects", name=f"tbl-published-{rep.domain['id']}").rstrip("\n")
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


#: Names of the analyses a small domain can skip, as the page names them.
SKIPPED_NAMES = {"leave_one_out": "Leave-one-out, influence and Baujat analyses",
                 "cumulative": "Cumulative meta-analysis", "funnel": "Funnel plot",
                 "sensitivity": "Sensitivity analyses", "certainty": "Certainty of the evidence",
                 "living": "Living-update analyses"}


def skipped_md(rep: DomainReport, *names: str) -> str:
    """Why analyses of ``names`` are not shown for this domain (empty when all are shown)."""
    lines = [f"{SKIPPED_NAMES[name]}: not shown ({md_escape(rep.skipped[name])})." for name in names
             if name in rep.skipped]
    return "\n\n".join(lines)


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
    """The trials of the analysis, cited (every report of each), and the rows left out."""
    text = "This analysis includes " + ", ".join(f"{{cite:t}}`{k}`" for k in rep.citations) + "."
    if rep.not_estimable:
        text += (" Not estimable, so left out (no effect can be computed): "
                 + "; ".join(md_escape(n) for n in rep.not_estimable) + ".")
    return text


def living_md(rep: DomainReport) -> str:
    """Secondary living-update analyses: sequential monitoring, Bayesian model, stability."""
    if "living" in rep.skipped:
        return f"Not computed: {md_escape(rep.skipped['living'])}."
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
