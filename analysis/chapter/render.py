"""A domain chapter's text and tables, rendered from its :class:`~analysis.chapter.menu.DomainReport`.

Text from the data is escaped with :func:`md_escape`: it is shown, never interpreted as markup.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from analysis import figures
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
    """A table for the page: no index, text HTML-escaped (it comes from the data), and a fixed
    element id so that two builds write identical HTML."""
    return frame.style.hide(axis="index").format(escape="html").set_uuid(uuid)


def conventions(rep: DomainReport) -> str:
    s = rep.settings
    ci = {"z": "Wald (z) CI", "hk": "Knapp-Hartung CI (t, k-1 df)",
          "hk-adhoc": "Knapp-Hartung ad hoc CI"}[s["ci"]]
    pi = {"z": "z", "t-1": "t with k-1 df", "t-2": "t with k-2 df"}[s["pi"]]
    scale = " on the log scale" if rep.exp else ""
    return (f"{rep.effect_label.lower()}{scale}, one effect per trial; random effects, {s['method']} estimator "
            f"of tau², {ci}, Q-profile CI for tau², prediction interval with {pi} (from three trials); "
            f"preset {s['preset']}")


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
    """Plain-language message: direction, size in words and certainty (GRADE wording)."""
    p = rep.primary
    title = md_escape(rep.domain.get("title", rep.domain["id"])).lower()
    when = f" Time frame: {rep.time_frame}."
    if not rep.pooled:
        trial = md_escape(rep.trials["label"].iloc[0])
        return (f"One trial ({trial}) reports {title}; its result is shown, not pooled "
                f"({_effect_words(rep)}).{when}")
    certainty = rep.grade.certainty if rep.grade else None
    if rep.is_binary:
        change = "reduce" if p.estimate < 0 else "increase"
        text = f"Peer support may {change} {title} ({_effect_words(rep)})."
        if certainty:
            text = (f"{_binary_verb(certainty, change)} {title} ({_effect_words(rep)}). "
                    f"Certainty of the evidence: **{certainty.lower()}**.")
        if rep.absolute is not None:
            text += " " + absolute_md(rep)
        return text + when
    if certainty:
        verb = grade.certainty_verb(certainty, p.estimate, p.ci_low, p.ci_high)
        size = grade.interpretation(p.estimate, ci_low=p.ci_low, ci_high=p.ci_high) if rep.measure == "SMD" else \
            f"{fmt(p.estimate)} points on the {md_escape(rep.instruments[0])}"
        text = (f"{verb[0].upper()}{verb[1:]} {title}. Estimated effect: {size} ({_effect_words(rep)}). "
                f"Certainty of the evidence: **{certainty.lower()}**.")
    else:
        text = f"Pooled effect on {title}: {_effect_words(rep)}."
    pi_low, pi_high = rep.prediction_interval()
    if pi_low is not None and pi_high is not None and pi_low < 0 < pi_high and p.ci_low > 0:
        text += " The prediction interval includes no effect: a new trial in a similar setting could find none."
    return text + when


def _binary_verb(certainty: str, change: str) -> str:
    """GRADE's plain-language verbs by certainty (Santesso et al. 2020) for a risk that changes."""
    return {"High": f"Peer support {change}s", "Moderate": f"Peer support probably {change}s",
            "Low": f"Peer support may {change}",
            "Very low": f"We are very uncertain whether peer support {change}s"}[certainty]


def pooled_table(rep: DomainReport):
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
        "I² (Q-based) [95% CI]": (f"{fmt(p.i2_q, 0)}% [{fmt(p.i2_q_ci_low, 0)}, {fmt(p.i2_q_ci_high, 0)}]"
                                  if several else ""),
        "I² (tau²-based)": f"{fmt(p.i2_tau2, 0)}%" if several else "",
        "Q (df, p)": f"{fmt(p.q)} ({p.q_df}, {fmt_p(p.q_p)})" if several else "",
    }]).pipe(_table, f"{rep.domain['id']}-pooled")


def subgroup_table(rep: DomainReport):
    """Subgroup estimates and tests for differences (a pandas Styler, shown without index)."""
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
                "I² (Q-based)": "" if res.i2_q is None else f"{fmt(res.i2_q, 0)}%",
                "test for differences": (f"Q = {fmt(result.q_between)}, df = {result.df_between}, "
                                         f"p = {fmt_p(result.p_between)}") if first else "",
                "note": "; ".join(result.notes) if first else "",
            })
            first = False
    columns = ["variable", "subgroup", "trials", effect, "I² (Q-based)", "test for differences", "note"]
    return pd.DataFrame(records, columns=columns).pipe(_table, f"{rep.domain['id']}-subgroups")


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


def subgroup_figures(rep: DomainReport):
    for column, title in SUBGROUP_VARIABLES:
        result = rep.subgroups.get(column)
        if result is not None and not isinstance(result, str):
            yield title, figures.forest(result, effect_label=rep.effect_label, exp=rep.exp, favours=rep.favours)


def sensitivity_table(rep: DomainReport):
    """The sensitivity menu (a pandas Styler, shown without index)."""
    records = []
    effect = f"{rep.effect_label} [95% CI]"
    for item in rep.sensitivity:
        res = item.get("result")
        if res is None:
            records.append({"analysis": item["analysis"], "k": "", effect: "",
                            "95% PI": "", "tau²": "", "I² (Q-based)": "", "note": item.get("note", "")})
            continue
        # a fit of the trials, a three-level fit of the rows (its "k" is the rows), or robust inference
        k = getattr(res, "k", getattr(res, "n_clusters", ""))
        fixed = getattr(res, "method", None) in ("FE", "MH", "PETO")
        pi = (getattr(res, "pi_low", None), getattr(res, "pi_high", None)) if k and k >= 3 and not fixed else (None, None)
        tau2, i2 = getattr(res, "tau2", None), getattr(res, "i2_q", None)
        records.append({
            "analysis": item["analysis"],
            "k": k,
            effect: effect_ci(rep, res),
            "95% PI": _interval(rep, *pi),
            "tau²": "" if tau2 is None else fmt(tau2, 3),
            "I² (Q-based)": "" if i2 is None else f"{fmt(i2, 0)}%",
            "note": item.get("note", ""),
        })
    return pd.DataFrame(records).pipe(_table, f"{rep.domain['id']}-sensitivity")


def small_study_md(rep: DomainReport) -> str:
    if rep.small_study_reason:
        return rep.small_study_reason
    e, t = rep.egger, rep.trimfill
    lines = [
        f"Egger-type regression test (metafor `regtest` defaults: predictor standard error, same model): "
        f"z = {fmt(e.statistic)}, p = {fmt_p(e.p)}.",
        f"Trim-and-fill (L0 estimator): {t.k0} trial(s) imputed on the {t.side} side; adjusted "
        f"{rep.effect_label.lower()} = {effect_ci(rep, t.filled)}.",
        "Funnel asymmetry can reflect publication bias, but also heterogeneity or chance; "
        "trim-and-fill is a sensitivity analysis, not a correction.",
    ]
    return "\n\n".join(lines)


def published_md(rep: DomainReport) -> str:
    pub = rep.published
    if pub is None or pub.empty:
        return "No earlier review reported a pooled result mapped to this outcome."
    lines = ["| review | outcome as reported | timepoint | k | estimate [95% CI] | I² | flag |",
             "|---|---|---|---|---|---|---|"]
    for _, r in pub.iterrows():
        est = "" if pd.isna(r.get("estimate")) else f"{r['estimate']} [{r.get('ci_low')}, {r.get('ci_high')}]"
        lines.append("| " + " | ".join(md_escape(x) for x in [
            r.get("review_id"), r.get("outcome"), r.get("timepoint"),
            "" if pd.isna(r.get("k")) else r.get("k"), est,
            "" if pd.isna(r.get("i2")) else r.get("i2"),
            r.get("inconsistency_note") if isinstance(r.get("inconsistency_note"), str) else ""]) + " |")
    ours = rep.primary
    lines.append("")
    lines.append(f"This review (one effect per trial, {md_escape(rep.settings['method'])}): "
                 f"{md_escape(rep.effect_label)} = {effect_ci(rep, ours)}, {ours.k} trials.")
    return "\n".join(lines)


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
    if not rep.quality_notes:
        return "No curation decisions or validator warnings touch this outcome."
    return "\n".join(f"- {md_escape(note)}" for note in rep.quality_notes)


def studies_md(rep: DomainReport) -> str:
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
