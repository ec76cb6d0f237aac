"""The summary of findings: one row per outcome domain, in the GRADE layout.

Columns (GRADE Handbook; Guyatt et al. 2013, GRADE guidelines 12 and 13): the outcome with its
instruments and time frame; participants (trials); the relative effect (ratio measures only);
the anticipated absolute effect (per 1000 for a binary outcome; for a standardised mean
difference, the SMD and, where one instrument dominates, the same in its points, else the size in
words); the certainty with its symbols and short reasons; what happens (the informative
statement). Footnotes give the reasons in reviewer language; the rules with their numbers are in
a collapsed section below the table.
"""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from analysis.chapter import coverage
from analysis.chapter.render import absolute_md, binary_statement, md_escape
from analysis.chapter.tables import markdown_table
from analysis.stats import grade
from analysis.stats.formatting import plain
from analysis.stats.formatting import text as fmt

if TYPE_CHECKING:
    from analysis.chapter.menu import DomainReport

#: How many instruments the outcome cell names before "and n others".
SHOWN_INSTRUMENTS = 3


def summary_of_findings(rep: DomainReport) -> dict:
    """The outcome's row of the summary-of-findings table (JSON-safe).

    ``effect`` is the pooled effect on the scale readers see (ratios back-transformed);
    ``relative_effect`` is set for ratio measures; ``absolute_effect`` is the anticipated absolute
    effect: per 1000 at the median control risk for a binary outcome (``kind: per-1000``), or the
    SMD in points of the dominant instrument (``kind: instrument-units``), or None.
    """
    p = rep.primary
    title = rep.domain.get("title", rep.domain["id"])
    g = rep.grade
    thresholds = g.thresholds if g else grade.SMD_THRESHOLDS
    smd = rep.measure == "SMD"
    if not rep.pooled:
        statement = "No pooled estimate: a single trial."
    elif rep.is_binary:
        statement = binary_statement(rep)
    elif g and smd:
        statement = grade.informative_statement(g.certainty, p.estimate, title.lower(), thresholds)
    else:
        statement = f"Pooled effect on {title.lower()}: {rep.effect_label} {fmt(rep.shown(p.estimate))}."
    if rep.is_binary:
        a = rep.absolute
        absolute = None if a is None else dict(a.to_dict(), kind="per-1000",
                                               ci_low=plain(a.control + a.difference_ci_low),
                                               ci_high=plain(a.control + a.difference_ci_high))
        meaning = absolute_md(rep) if a is not None else ""
    elif smd:
        found = coverage.reexpression(rep.rows, p.estimate, p.ci_low, p.ci_high, rep.instrument_table)
        absolute = {k: plain(v) if not isinstance(v, str) else v for k, v in found.items()} if found else None
        meaning = grade.interpretation(p.estimate, thresholds)
    else:
        absolute, meaning = None, ""
    effect = {"code": rep.measure, "measure": "SMD (Hedges' g)" if smd else rep.measure, "name": rep.effect_label,
              "estimate": plain(rep.shown(p.estimate)), "ci_low": plain(rep.shown(p.ci_low)),
              "ci_high": plain(rep.shown(p.ci_high))}
    comments = [statement]
    if rep.not_estimable:
        comments.append(f"{len(rep.not_estimable)} row(s) without an estimable effect left out.")
    return {
        "outcome": title,
        "domain": rep.domain["id"],
        "participants": rep.n_participants,
        "studies": rep.n_studies,
        "k": p.k,
        "time_frame": rep.time_frame,
        "instruments": coverage.instruments(rep.rows),
        "effect": effect,
        "relative_effect": {k: effect[k] for k in ("measure", "estimate", "ci_low", "ci_high")} if rep.exp else None,
        "absolute_effect": absolute,
        "interpretation": meaning,
        "statement": statement,
        "comment": " ".join(comments),
        "certainty": g.certainty if g else None,
        "certainty_label": g.certainty_label if g else None,
        "certainty_reason": g.short_reason() if g else None,
        "rule_certainty": g.rule_certainty if g else None,
        "footnotes": g.footnotes() if g else [],
        "judgements": g.to_dict()["judgements"] if g else [],
    }


def _instruments_text(entries: list[dict]) -> str:
    named = [f"{md_escape(e['instrument'])} ({e['trials']})" for e in entries[:SHOWN_INSTRUMENTS]]
    rest = len(entries) - SHOWN_INSTRUMENTS
    return ", ".join(named) + (f" and {rest} other{'s' if rest > 1 else ''}" if rest > 0 else "")


def _points(value: float) -> str:
    if round(value, 1) == 0:
        return "no difference"
    return f"{fmt(abs(value), 1)} points {'higher' if value > 0 else 'lower'}"


def absolute_text(row: dict) -> str:
    """The anticipated absolute effect of a row, as text for a table cell (escaped)."""
    e, a = row["effect"], row.get("absolute_effect")
    code = e.get("code", "SMD")
    smd = f"{md_escape(code)} {fmt(e['estimate'])} ({fmt(e['ci_low'])} to {fmt(e['ci_high'])})"
    if a and a.get("kind") == "per-1000":
        return (f"{fmt(a['control'], 0)} per 1000 with control; {fmt(a['intervention'], 0)} per 1000 with peer "
                f"support ({fmt(a['ci_low'], 0)} to {fmt(a['ci_high'], 0)})")
    if a and a.get("kind") == "instrument-units":
        scale = f" ({fmt(a['scale_min'], 0)}–{fmt(a['scale_max'], 0)})" if "scale_min" in a else ""
        better = "higher" if a["higher_is_better"] else "lower"
        return (f"{smd}<br>≈ {_points(a['estimate'])} on the {md_escape(a['instrument'])}{scale} "
                f"({_points(a['ci_low'])} to {_points(a['ci_high'])}; {better} is better; typical SD "
                f"{fmt(a['sd'], 1)})")
    return f"{smd}<br>{md_escape(row['interpretation'])}"


def sof_table_md(rows: list[dict], *, details: bool = True, name: str | None = None) -> str:
    """Summary-of-findings table in the GRADE layout, with numbered footnotes.

    With ``details``, the judgements and rules of every outcome follow in a collapsed section.
    ``name``: the table's label (``None``: numbered, not labelled).
    """
    header = ["Outcome", "Participants (trials)", "Relative effect (95% CI)",
              "Anticipated absolute effect (95% CI)", "Certainty of the evidence (GRADE)", "What happens"]
    lines: list[list[str]] = []
    notes: list[str] = []
    for r in rows:
        marks = []
        for note in r["footnotes"]:
            notes.append(note)
            marks.append(str(len(notes)))
        sup = f"<sup>{','.join(marks)}</sup>" if marks else ""
        outcome = (f"**{md_escape(r['outcome'])}**<br>{_instruments_text(r.get('instruments') or [])}"
                   f"<br>{md_escape(r.get('time_frame') or '')}")
        rel = r.get("relative_effect")
        relative = (f"{md_escape(rel['measure'])} {fmt(rel['estimate'])} ({fmt(rel['ci_low'])} to {fmt(rel['ci_high'])})"
                    if rel else "not applicable")
        certainty = (f"{md_escape(r['certainty_label'])}{sup}<br>{md_escape(r.get('certainty_reason') or '')}"
                     if r.get("certainty_label") else "not graded")
        lines.append([outcome, f"{r['participants']} ({r['studies']})", relative, absolute_text(r), certainty,
                      md_escape(r.get("comment") or r.get("statement") or "")])
    text = markdown_table(header, lines, caption="Summary of findings (GRADE)", name=name,
                          css_class="sof").rstrip("\n")
    if notes:
        text += "\n\n" + "\n".join(f"{i}. {md_escape(n)}" for i, n in enumerate(notes, 1))
    used = sorted({r["effect"].get("code", "SMD") for r in rows})
    text += "\n\n" + " ".join(MEASURE_LEGEND[m] for m in used) + (
        " Certainty (GRADE): ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.")
    if details:
        text += "\n\n" + judgements_md(rows)
    return text


def judgements_md(rows: list[dict]) -> str:
    """The review team's judgement of every GRADE domain beside the rule's result, collapsed."""
    lines = ["| Outcome | GRADE domain | Review team's judgement | Rule (starting point) |", "|---|---|---|---|"]
    for r in rows:
        for j in r.get("judgements") or []:
            rule = j.get("rule") or {}
            who = j["concern"] if j["source"] == grade.REVIEW_TEAM else "not recorded (the rule decides)"
            mine = f"{who}: {j['reason']}" if j["source"] == grade.REVIEW_TEAM else who
            lines.append(f"| {md_escape(r['outcome'])} | {grade.DOMAIN_TITLES[j['domain']]} | {md_escape(mine)} | "
                         f"{md_escape(rule.get('concern', ''))}: {md_escape(rule.get('detail') or rule.get('reason', ''))} |")
    rules = "; ".join(f"{r['outcome']}: {r['rule_certainty']}" for r in rows if r.get("rule_certainty"))
    return (":::{dropdown} For reviewers: how the certainty was rated (judgements and rules)\n\n"
            "The review team records a judgement for every GRADE domain (data/grade.yml); the stated rules "
            "(see Methods) are the starting point and are shown beside it. Certainty by the rules alone: "
            f"{md_escape(rules)}.\n\n" + "\n".join(lines) + "\n:::")


#: What each measure's abbreviation means, in the table's legend.
MEASURE_LEGEND = {
    "SMD": ("SMD: standardised mean difference (Hedges' g); positive values favour peer support. As a rule of "
            "thumb an SMD of 0.2 is a small, 0.5 a moderate and 0.8 a large difference; below 0.2 (the minimally "
            "important difference) it is trivial. ≈: the SMD re-expressed in points of the instrument most "
            "trials used."),
    "MD": "MD: mean difference in the instrument's units; positive values favour peer support.",
    "RR": "RR: risk ratio, the risk with peer support over the risk with control.",
    "OR": "OR: odds ratio, the odds with peer support over the odds with control.",
    "RD": "RD: risk difference, the risk with peer support minus the risk with control.",
    "GEN": "Effects as reported.",
}


def summary_of_findings_md(rep: DomainReport, label: str | None = None) -> str:
    """The chapter's row of the summary of findings, as a table (labelled ``tbl-<label>`` if given)."""
    return sof_table_md([summary_of_findings(rep)], name=f"tbl-{label}" if label else None)


#: Columns of summary_of_findings.csv.
CSV_COLUMNS = ("domain", "outcome", "instruments", "time_frame", "participants", "trials", "comparisons",
               "measure", "estimate", "ci_low", "ci_high", "relative_effect", "absolute_effect", "interpretation",
               "certainty", "certainty_reason", "rule_certainty", "statement", "comment", "footnotes")


def sof_csv(rows: list[dict]) -> str:
    """The summary of findings as CSV (one row per outcome; numbers unrounded)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        a, rel = r.get("absolute_effect"), r.get("relative_effect")
        writer.writerow([
            r["domain"], r["outcome"], "; ".join(f"{e['instrument']} ({e['trials']})" for e in r.get("instruments") or []),
            r.get("time_frame") or "", r["participants"], r["studies"], r["k"], r["effect"]["measure"],
            r["effect"]["estimate"], r["effect"]["ci_low"], r["effect"]["ci_high"],
            "" if not rel else f"{rel['measure']} {rel['estimate']} ({rel['ci_low']} to {rel['ci_high']})",
            "" if not a else _absolute_plain(a), r["interpretation"], r.get("certainty") or "",
            r.get("certainty_reason") or "", r.get("rule_certainty") or "", r.get("statement") or "",
            r.get("comment") or "", " | ".join(r.get("footnotes") or [])])
    return out.getvalue()


def _absolute_plain(a: dict) -> str:
    if a.get("kind") == "instrument-units":
        return f"{a['estimate']:.2f} points on {a['instrument']} ({a['ci_low']:.2f} to {a['ci_high']:.2f})"
    if a.get("kind") == "per-1000":
        return f"{a['control']} vs {a['intervention']} per 1000 ({a['ci_low']} to {a['ci_high']})"
    return str(a)
