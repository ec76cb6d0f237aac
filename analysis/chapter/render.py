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


def conventions(rep: DomainReport) -> str:
    """The model and conventions of the main analysis in words."""
    s = rep.settings
    ci = {"z": "Wald (z) CI", "hk": "Knapp-Hartung CI (t, k-1 df)",
          "hk-adhoc": "Knapp-Hartung ad hoc CI"}[s["ci"]]
    pi = {"z": "z", "t-1": "t with k-1 df", "t-2": "t with k-2 df"}[s["pi"]]
    return (f"random effects, {s['method']} estimator of tau², {ci}, Q-profile CI for tau², "
            f"prediction interval with {pi}; preset {s['preset']}")


def key_message_md(rep: DomainReport) -> str:
    """Plain-language message: direction, size in words and certainty (GRADE wording)."""
    p = rep.primary
    title = md_escape(rep.domain.get("title", rep.domain["id"])).lower()
    numbers = (f"g = {fmt(p.estimate)}, 95% CI {fmt(p.ci_low)} to {fmt(p.ci_high)}; "
               f"{p.k} comparisons, {rep.n_studies} trials, {rep.n_participants} participants")
    if p.k < 2:
        return f"Only one comparison reports {title}; no pooled estimate is given ({numbers})."
    certainty = rep.grade.certainty if rep.grade else None
    if certainty:
        verb = grade.certainty_verb(certainty, p.estimate, p.ci_low, p.ci_high)
        size = grade.interpretation(p.estimate, ci_low=p.ci_low, ci_high=p.ci_high)
        text = (f"{verb[0].upper()}{verb[1:]} {title}. Estimated effect: {size} ({numbers}). "
                f"Certainty of the evidence: **{certainty.lower()}**.")
    else:
        text = f"Pooled effect on {title}: {numbers}."
    if p.pi_low is not None and p.pi_high is not None and p.pi_low < 0 < p.pi_high and p.ci_low > 0:
        text += " The prediction interval includes no effect: a new trial in a similar setting could find none."
    return text


def pooled_table(rep: DomainReport, label: str | None = None):
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
        "I² (Q-based) [95% CI]": f"{fmt(p.i2_q, 0)}% [{fmt(p.i2_q_ci_low, 0)}, {fmt(p.i2_q_ci_high, 0)}]",
        "I² (tau²-based)": f"{fmt(p.i2_tau2, 0)}%",
        "Q (df, p)": f"{fmt(p.q)} ({p.q_df}, {fmt_p(p.q_p)})",
    }]).pipe(_table, label, "Main analysis: pooled result and heterogeneity")


def subgroup_table(rep: DomainReport, label: str | None = None):
    """Subgroup estimates and tests for differences (a pandas Styler, shown without index)."""
    records = []
    for column, title in SUBGROUP_VARIABLES:
        result = rep.subgroups.get(column)
        if isinstance(result, str) or result is None:
            records.append({"variable": title, "subgroup": "", "k": "", "g [95% CI]": "",
                            "I² (Q-based)": "", "test for differences": result or ""})
            continue
        first = True
        for name, res in result.groups.items():
            records.append({
                "variable": title if first else "",
                "subgroup": name,
                "k": res.k,
                "g [95% CI]": f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]",
                "I² (Q-based)": "" if res.i2_q is None else f"{fmt(res.i2_q, 0)}%",
                "test for differences": (f"Q = {fmt(result.q_between)}, df = {result.df_between}, "
                                         f"p = {fmt_p(result.p_between)}") if first else "",
            })
            first = False
    return pd.DataFrame(records).pipe(_table, label, "Subgroup estimates and tests for subgroup differences")


def sensitivity_table(rep: DomainReport, label: str | None = None):
    """The sensitivity menu (a pandas Styler, shown without index)."""
    records = []
    for item in rep.sensitivity:
        res = item.get("result")
        if res is None:
            records.append({"analysis": item["analysis"], "k": "", "g [95% CI]": "",
                            "95% PI": "", "tau²": "", "I² (Q-based)": "", "note": item.get("note", "")})
            continue
        records.append({
            "analysis": item["analysis"],
            "k": res.k,
            "g [95% CI]": f"{fmt(res.estimate)} [{fmt(res.ci_low)}, {fmt(res.ci_high)}]",
            "95% PI": f"[{fmt(res.pi_low)}, {fmt(res.pi_high)}]",
            "tau²": fmt(res.tau2, 3),
            "I² (Q-based)": "" if res.i2_q is None else f"{fmt(res.i2_q, 0)}%",
            "note": item.get("note", ""),
        })
    return pd.DataFrame(records).pipe(_table, label, "Sensitivity analyses")


def small_study_md(rep: DomainReport) -> str:
    """Egger's test and trim-and-fill in words (or why they are not reported)."""
    if rep.small_study_reason:
        return rep.small_study_reason
    e, t = rep.egger, rep.trimfill
    lines = [
        f"Egger-type regression test (metafor `regtest` defaults: predictor standard error, same model): "
        f"z = {fmt(e.statistic)}, p = {fmt_p(e.p)}.",
        f"Trim-and-fill (L0 estimator): {t.k0} trial(s) imputed on the {t.side} side; adjusted "
        f"g = {fmt(t.filled.estimate)} (95% CI {fmt(t.filled.ci_low)} to {fmt(t.filled.ci_high)}).",
        "Funnel asymmetry can reflect publication bias, but also heterogeneity or chance; "
        "trim-and-fill is a sensitivity analysis, not a correction.",
    ]
    return "\n\n".join(lines)


def published_md(rep: DomainReport) -> str:
    """The pooled results of earlier reviews for this outcome, beside ours."""
    pub = rep.published
    if pub is None or pub.empty:
        return "No earlier review reported a pooled result mapped to this outcome."
    header = ["review", "outcome as reported", "timepoint", "k", "estimate [95% CI]", "I²", "flag"]
    cells = []
    for _, r in pub.iterrows():
        est = "" if pd.isna(r.get("estimate")) else f"{r['estimate']} [{r.get('ci_low')}, {r.get('ci_high')}]"
        cells.append([md_escape(x) for x in [
            r.get("review_id"), r.get("outcome"), r.get("timepoint"),
            "" if pd.isna(r.get("k")) else r.get("k"), est,
            "" if pd.isna(r.get("i2")) else r.get("i2"),
            r.get("inconsistency_note") if isinstance(r.get("inconsistency_note"), str) else ""]])
    lines = [markdown_table(header, cells, caption="Pooled results published by earlier reviews",
                            name=f"tbl-published-{rep.domain['id']}")]
    ours = rep.primary
    lines.append(f"This review (all comparisons, {md_escape(rep.settings['method'])}): "
                 f"g = {fmt(ours.estimate)} [{fmt(ours.ci_low)}, {fmt(ours.ci_high)}], k = {ours.k}.")
    return "\n".join(lines)


def quality_notes_md(rep: DomainReport) -> str:
    """The curation decisions and validator warnings that touch this outcome, as a list."""
    if not rep.quality_notes:
        return "No curation decisions or validator warnings touch this outcome."
    return "\n".join(f"- {md_escape(note)}" for note in rep.quality_notes)


def studies_md(rep: DomainReport) -> str:
    """The trials of this analysis, cited."""
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
