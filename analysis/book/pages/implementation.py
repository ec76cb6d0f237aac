"""Making peer support work: the umbrella review's implementation and experiences findings.

Shows :func:`analysis.chapter.findings.implementation_summary` (``_build/results/implementation.json``):
every finding of ``implementation_findings.csv`` and ``experience_findings.csv`` with the reviews
that report it, their AMSTAR 2 rating and its source.
"""
from __future__ import annotations

from pathlib import Path

from analysis import figures
from analysis.chapter.findings import PERSPECTIVES
from analysis.chapter.page_figures import figure_block
from analysis.chapter.render import md_escape
from analysis.figures.cfir import CFIR_DOMAINS

ROLE_TITLES = {"facilitator": "Facilitators", "barrier": "Barriers", "unclear": "Facilitator or barrier unclear"}
VALENCE = {"benefit": "benefit", "challenge": "challenge", "not-stated": "benefit or challenge not stated"}


def implementation_md(summary: dict, fig_dir: Path, page_dir: Path) -> str:
    """The implementation and experiences page (Markdown) from the implementation summary.

    Its figure is written to ``fig_dir`` (linked relative to ``page_dir``).
    """
    c = summary["counts"]
    amstar = ", ".join(f"{n} {md_escape(k.replace('-', ' '))}" for k, n in sorted(c["reviews_by_amstar"].items()))
    parts = [
        "# Making peer support work: implementation and experiences\n",
        "*How do we make peer support work in our service?* The umbrella review of Cooper et al. (2024) "
        "{cite:p}`cooper2024` asked, besides effectiveness, what influences the implementation of peer support "
        "and how peer support workers, service users and staff experience it. This page lists every one of its "
        f"findings: **{c['implementation']} implementation findings** ({c['facilitators']} facilitators, "
        f"{c['barriers']} barriers, {c['unclear']} unclear) by domain of the Consolidated Framework for "
        f"Implementation Research (CFIR), and **{c['experiences']} experiences findings** ({c['benefits']} "
        f"benefits, {c['challenges']} challenges) by theme and perspective. They come from {c['reviews']} "
        f"reviews (AMSTAR 2 confidence: {amstar}); each finding names the reviews that report it, their rating "
        "and where it is in the umbrella review.\n",
        "These are syntheses of reviews, not of trials, and most of the reviews behind them have critically low "
        "confidence. The umbrella review assigns CFIR domains only (no constructs), and its Table 5 does not "
        "label each bullet as facilitator or barrier: where its narrative does not say, the label is the "
        "extraction's reading of the wording (marked *inferred*).\n",
        figure_block(figures.cfir_map(c["by_domain"]), fig_dir / "cfir-map.svg", name="fig-cfir-map",
                     page_dir=page_dir,
                     caption="Implementation findings of the umbrella review by CFIR domain: facilitators, "
                             "barriers and findings whose direction is unclear.").markdown,
        "## What influences implementation, by CFIR domain\n",
    ]
    for domain, title in CFIR_DOMAINS.items():
        mine = [f for f in summary["implementation"] if f["cfir_domain"] == domain]
        if not mine:
            continue
        counts = c["by_domain"][domain]
        parts.append(f"### {title}\n")
        parts.append(f"{counts['facilitator']} facilitator(s), {counts['barrier']} barrier(s)"
                     + (f", {counts['unclear']} unclear" if counts["unclear"] else "")
                     + f". Reviews Table 5 lists for this domain: {_reviews(mine[0]['domain_reviews'])}.\n")
        for role in ("facilitator", "barrier", "unclear"):
            items = [f for f in mine if f["role"] == role]
            if not items:
                continue
            parts.append(f"**{ROLE_TITLES[role]}**\n")
            parts += [_implementation_item(f) for f in items]
            parts.append("")
    parts.append("## Experiences of peer support, by theme and perspective\n")
    parts.append("Perspectives: " + "; ".join(f"{md_escape(PERSPECTIVES[p])} {n}" for p, n in
                                              c["by_perspective"].items() if n) + " findings. For mixed samples "
                 "the umbrella review does not say which group stated the theme.\n")
    for theme, counts in c["by_theme"].items():
        parts.append(f"### {md_escape(theme)}\n")
        parts.append(f"{counts['benefit']} benefit(s), {counts['challenge']} challenge(s)"
                     + (f", {counts['not-stated']} not stated" if counts["not-stated"] else "") + ".\n")
        parts += [_experience_item(f) for f in summary["experiences"] if f["theme"] == theme]
        parts.append("")
    return "\n".join(parts)


def _reviews(reviews: list[dict]) -> str:
    if not reviews:
        return "none cited"
    return "; ".join(f"{md_escape(r['label'])} ({md_escape((r['amstar2'] or 'not rated').replace('-', ' '))})"
                     for r in reviews)


def _source(f: dict) -> str:
    return f"{md_escape(f['source_detail'])}; {md_escape(f['source_row'])}"


def _implementation_item(f: dict) -> str:
    basis = " *(inferred)*" if f["role_basis"] == "inferred" else ""
    cited = _reviews(f["reviews"]) if f["reviews"] else "the umbrella review cites no review for this bullet"
    return (f"- {md_escape(f['finding'])}{basis} [{md_escape(f['finding_id'])}]. Reviews: {cited}. "
            f"Source: {_source(f)}.")


def _experience_item(f: dict) -> str:
    who = PERSPECTIVES.get(f["perspective"], f["perspective"])
    return (f"- **{md_escape(f['subtheme'])}** ({VALENCE[f['valence']]}; {md_escape(who)}) "
            f"[{md_escape(f['finding_id'])}]: {md_escape(f['description'])} Reviews: {_reviews(f['reviews'])}. "
            f"Source: {_source(f)}.")
