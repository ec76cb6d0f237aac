"""The summary of findings: one row per outcome domain, in the GRADE / Cochrane layout."""
from __future__ import annotations

from typing import TYPE_CHECKING

from analysis.chapter.render import absolute_md, md_escape
from analysis.stats import grade
from analysis.stats.formatting import text as fmt

if TYPE_CHECKING:
    from analysis.chapter.menu import DomainReport


def sof_table_md(rows: list[dict]) -> str:
    """Summary-of-findings table in the GRADE/Cochrane layout, with numbered footnotes."""
    lines = ["| Outcome | Participants (trials) | Effect (95% CI) | What it means | Certainty |",
             "|---|---|---|---|---|"]
    notes: list[str] = []
    for r in rows:
        marks = []
        for note in r["footnotes"]:
            notes.append(note)
            marks.append(str(len(notes)))
        e = r["effect"]
        sup = f" <sup>{','.join(marks)}</sup>" if marks else ""
        lines.append(f"| {md_escape(r['outcome'])} | {r['participants']} ({r['studies']}) | {e['measure']} "
                     f"{fmt(e['estimate'])} ({fmt(e['ci_low'])} to {fmt(e['ci_high'])}) | "
                     f"{md_escape(r['interpretation'])} | {md_escape(r['certainty_label'] or 'not graded')}{sup} |")
    text = "\n".join(lines)
    if notes:
        text += "\n\n" + "\n".join(f"{i}. {md_escape(n)}" for i, n in enumerate(notes, 1))
    used = sorted({r["effect"]["measure"] for r in rows})
    text += ("\n\n" + "; ".join(MEASURE_LEGEND[m] for m in used) + ". "
             "Certainty (GRADE): ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.")
    return text


#: What each measure's abbreviation means, in the table's legend.
MEASURE_LEGEND = {
    "SMD": "SMD: standardised mean difference (Hedges' g), positive values favour peer support",
    "MD": "MD: mean difference in the instrument's units, positive values favour peer support",
    "RR": "RR: risk ratio, risk with peer support over risk with control",
    "OR": "OR: odds ratio, odds with peer support over odds with control",
    "RD": "RD: risk difference, risk with peer support minus risk with control",
    "GEN": "effects as reported",
}


def summary_of_findings(rep: DomainReport) -> dict:
    """The outcome's row of the summary-of-findings table (GRADE / Cochrane layout)."""
    p = rep.primary
    if rep.measure == "SMD":
        meaning = grade.interpretation(p.estimate, ci_low=p.ci_low, ci_high=p.ci_high)
    elif rep.absolute is not None:
        meaning = absolute_md(rep)
    else:
        meaning = ""
    comments = []
    if not rep.pooled:
        comments.append("One trial: its result, not pooled.")
    if rep.not_estimable:
        comments.append(f"{len(rep.not_estimable)} row(s) without an estimable effect left out.")
    return {
        "outcome": rep.domain.get("title", rep.domain["id"]),
        "domain": rep.domain["id"],
        "participants": rep.n_participants,
        "studies": rep.n_studies,
        "k": p.k,
        "effect": {"measure": rep.measure, "name": rep.effect_label, "estimate": rep.shown(p.estimate),
                   "ci_low": rep.shown(p.ci_low), "ci_high": rep.shown(p.ci_high)},
        "interpretation": meaning,
        "time_frame": rep.time_frame,
        "instruments": rep.instruments,
        "absolute_effect": None if rep.absolute is None else rep.absolute.to_dict(),
        "comment": " ".join(comments),
        "certainty": rep.grade.certainty if rep.grade else None,
        "certainty_label": rep.grade.certainty_label if rep.grade else None,
        "footnotes": rep.grade.footnotes() if rep.grade else [],
    }



def summary_of_findings_md(rep: DomainReport) -> str:
    return sof_table_md([summary_of_findings(rep)])
