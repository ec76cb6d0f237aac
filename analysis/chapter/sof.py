"""The summary of findings: one row per outcome domain, in the GRADE / Cochrane layout."""
from __future__ import annotations

from typing import TYPE_CHECKING

from analysis.chapter.render import md_escape
from analysis.chapter.tables import markdown_table
from analysis.stats import grade
from analysis.stats.formatting import text as fmt

if TYPE_CHECKING:
    from analysis.chapter.menu import DomainReport


def sof_table_md(rows: list[dict], name: str | None = None) -> str:
    """Summary-of-findings table in the GRADE/Cochrane layout, with numbered footnotes.

    ``name``: the table's label (``None``: numbered, not labelled).
    """
    header = ["Outcome", "Participants (trials)", "Effect (95% CI)", "What it means", "Certainty"]
    lines: list[list[str]] = []
    notes: list[str] = []
    for r in rows:
        marks = []
        for note in r["footnotes"]:
            notes.append(note)
            marks.append(str(len(notes)))
        e = r["effect"]
        sup = f" <sup>{','.join(marks)}</sup>" if marks else ""
        lines.append([md_escape(r['outcome']), f"{r['participants']} ({r['studies']})",
                      f"SMD {fmt(e['estimate'])} ({fmt(e['ci_low'])} to {fmt(e['ci_high'])})",
                      md_escape(r['interpretation']), f"{md_escape(r['certainty_label'] or 'not graded')}{sup}"])
    text = markdown_table(header, lines, caption="Summary of findings (GRADE)", name=name).rstrip("\n")
    if notes:
        text += "\n\n" + "\n".join(f"{i}. {md_escape(n)}" for i, n in enumerate(notes, 1))
    text += ("\n\nSMD: standardised mean difference (Hedges' g), positive values favour peer support. "
             "Certainty (GRADE): ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.")
    return text


def summary_of_findings(rep: DomainReport) -> dict:
    """The outcome's row of the summary-of-findings table (GRADE / Cochrane layout)."""
    p = rep.primary
    return {
        "outcome": rep.domain.get("title", rep.domain["id"]),
        "domain": rep.domain["id"],
        "participants": rep.n_participants,
        "studies": rep.n_studies,
        "k": p.k,
        "effect": {"measure": "SMD (Hedges' g)", "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high},
        "interpretation": grade.interpretation(p.estimate, ci_low=p.ci_low, ci_high=p.ci_high),
        "certainty": rep.grade.certainty if rep.grade else None,
        "certainty_label": rep.grade.certainty_label if rep.grade else None,
        "footnotes": rep.grade.footnotes() if rep.grade else [],
    }



def summary_of_findings_md(rep: DomainReport, label: str | None = None) -> str:
    """The chapter's row of the summary of findings, as a table (labelled ``tbl-<label>`` if given)."""
    return sof_table_md([summary_of_findings(rep)], name=f"tbl-{label}" if label else None)
