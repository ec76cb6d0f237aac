"""Generated pages of the book: overview tables, figures and the changelog.

The overview pages (home summary, included studies, evidence map, reproducibility, what's new, data)
are Markdown written from the results and the dataset by these functions, so that they need no
notebook kernel. Text from the data is escaped with ``md_escape`` (it is never markup).
Files are rewritten only when their content changes, so Sphinx re-reads only what changed.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from analysis import figures
from analysis.book import changelog
from analysis.chapter.labels import label_of
from analysis.chapter.render import md_escape
from analysis.chapter.reproduction import DIFFERENCE_TOLERANCE
from analysis.chapter.sof import sof_table_md
from analysis.dataset.files import write_if_changed
from analysis.stats.formatting import text as fmt
from analysis.stats.meta import PRESETS

GENERATED = Path("chapters/generated")
FIGURES = GENERATED / "figures"


def _save_figure(fig, path: Path) -> None:
    tmp = path.with_name(path.stem + ".new" + path.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    figures.save(fig, tmp)
    write_if_changed(path, tmp.read_bytes())
    tmp.unlink()


def toc(domains: list[dict], learn: list[str] = ()) -> str:
    """``_toc.yml`` of the book: one chapter per domain of ``data/domains.yml``, then the Learn
    chapters (``chapters/learn/*.ipynb``, executed into ``chapters/generated/learn/``)."""
    spec = {
        "format": "jb-book",
        "root": "chapters/index",
        "parts": [
            {"caption": "The review", "chapters": [
                {"file": "chapters/methods"},
                {"file": "chapters/generated/included-studies"},
            ]},
            {"caption": "Results by outcome", "chapters": [
                {"file": f"chapters/domains/{d['id']}"} for d in domains]},
            {"caption": "Context and checks", "chapters": [
                {"file": "chapters/generated/evidence-map"},
                {"file": "chapters/generated/reproducibility"},
                {"file": "chapters/generated/whats-new"},
                {"file": "chapters/data"},
                {"file": "chapters/references"},
            ]},
        ],
    }
    if learn:
        spec["parts"].insert(2, {"caption": "Learn: evidence synthesis with this review's data", "chapters": [
            {"file": f"chapters/generated/learn/{name}"} for name in learn]})
    header = "# Generated from data/domains.yml by `python -m analysis build`; do not edit by hand.\n"
    return header + yaml.safe_dump(spec, sort_keys=False)


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame, css_class: str = "sortable") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(str(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return (f'<table class="{css_class} table">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody>\n</table>")


# ---------------------------------------------------------------------------------------------
# pages


def home_md(ds, domain_results: dict) -> str:
    rows = []
    for domain in ds.domains:
        res = domain_results[domain["id"]]
        p = res["primary"]
        rows.append([
            # home.md is included by chapters/index.md: links are relative to chapters/
            f"[{md_escape(domain.get('title', domain['id']))}](domains/{domain['id']}.ipynb)",
            p["k"], res["n_studies"], res["n_participants"],
            f"{fmt(p['estimate'])} [{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]",
            f"[{fmt(p['pi_low'])}, {fmt(p['pi_high'])}]",
            f"{fmt(p['i2_q'], 0)}%",
            md_escape((res.get("grade") or {}).get("certainty_label", "")) or "not graded",
        ])
    updated = ds_updated(ds)
    table = _md_table(["outcome", "k", "trials", "participants", "g [95% CI]", "95% PI", "I²", "certainty"], rows)
    sof = sof_table_md([domain_results[d["id"]]["summary_of_findings"] for d in ds.domains])
    return (f"## Summary across outcomes\n\n{table}\n\n"
            f"k: comparisons pooled; g: Hedges' g (positive favours peer support); PI: prediction interval; "
            f"I²: Q-based. Dataset version **{md_escape(ds.version)}**, last updated **{md_escape(updated)}**.\n\n"
            f"## Summary of findings\n\nPeer support compared with care as usual, waiting list or other control "
            f"conditions, for people with mental health conditions; post-test.\n\n{sof}\n")


def ds_updated(ds) -> str:
    dates = [str(d) for d in ds.curation.get("date", pd.Series(dtype=str)).dropna()]
    meta_date = getattr(ds, "updated", None)
    if meta_date:
        dates.append(str(meta_date))
    return max(dates) if dates else "unknown"


def conventions_md() -> str:
    rows = [[f"`{name}`", s.method, s.ci, s.pi, s.vtype] for name, s in PRESETS.items()]
    return _md_table(["preset", "tau² estimator", "CI", "prediction interval", "SMD variance"], rows) + (
        "\n\nThe main analysis uses the `metafor` preset. CI `hk` = Knapp-Hartung (t with k-1 df); "
        "prediction interval `t-2` = Higgins et al. (2009), `t-1` = IntHout et al. (2016).\n")


def included_studies_md(ds, flow: dict | None) -> str:
    st = ds.studies.copy()
    with_data = st[st["outcome_data"] == "extracted"]
    awaiting = st[st["outcome_data"] != "extracted"]
    table = pd.DataFrame({
        "trial": with_data["label"],
        "year": with_data["year"],
        "country": with_data["country"],
        "population": with_data["population"].map(lambda v: label_of(v, "population")),
        "format": with_data["format"].map(lambda v: label_of(v, "format")),
        "delivery": with_data["delivery"].map(lambda v: label_of(v, "delivery")),
        "comparator": with_data["comparator"].map(lambda v: label_of(v, "comparator")),
        "n": with_data["n_total"],
    }).sort_values(["year", "trial"])
    cites = ", ".join(f"{{cite:t}}`{key}`" for key in sorted(with_data["citation_key"]))
    parts = [
        "# Included studies\n",
        f"{len(with_data)} randomised trials contribute outcome data; {len(awaiting)} further trials included by "
        "earlier reviews are awaiting data extraction. Click a column header to sort.\n",
        "```{raw} html\n" + _html_table(table) + "\n```\n",
        f"Trials with outcome data: {cites}.\n",
        "## Risk of bias\n",
        "```{figure} figures/rob-traffic-light.png\n:name: fig-rob-traffic-light\n:alt: Risk-of-bias judgements "
        "per trial\n\nRisk of bias (RoB 2) per trial: D1 randomisation, D2 deviations from intended interventions, "
        "D3 missing outcome data, D4 measurement of the outcome, D5 selection of the reported result.\n```\n",
        "```{figure} figures/rob-summary.png\n:name: fig-rob-summary\n:alt: Risk-of-bias summary\n\nRisk-of-bias "
        "summary: share of trials per judgement in each domain.\n```\n",
    ]
    if flow:
        parts.append("## Study selection\n")
        parts.append("```{figure} figures/prisma.png\n:name: fig-prisma\n:alt: PRISMA 2020 flow diagram\n\n"
                     f"PRISMA 2020 flow diagram of the Metapsy search (last search "
                     f"{md_escape(flow.get('last_search', 'not recorded'))}).\n```\n")
    parts.append("## Trials awaiting data\n")
    if awaiting.empty:
        parts.append("None.\n")
    else:
        reviews = ds.study_reviews.groupby("study_id")["review_id"].apply(lambda s: ", ".join(sorted(set(s))))
        aw = pd.DataFrame({
            "trial": awaiting["label"], "year": awaiting["year"],
            "included by": awaiting["study_id"].map(reviews).fillna(""),
            "format": awaiting["format"].map(lambda v: label_of(v, "format")),
        }).sort_values(["year", "trial"])
        parts.append("```{raw} html\n" + _html_table(aw) + "\n```\n")
        cites = ", ".join(f"{{cite:t}}`{key}`" for key in sorted(awaiting["citation_key"]))
        parts.append(f"Trials awaiting data: {cites}.\n")
    return "\n".join(parts)


def evidence_map_md(ds) -> str:
    pub = ds.published
    umb = pub[pub["reported_in"] == "cooper2024"] if "reported_in" in pub.columns else pub.iloc[0:0]
    flagged = pub[pub["inconsistency"].fillna("").astype(str).str.len() > 0] if "inconsistency" in pub else pub.iloc[0:0]
    parts = [
        "# Evidence map of earlier reviews\n",
        f"The umbrella review of Cooper et al. (2024) {{cite:p}}`cooper2024` tabulates {len(umb)} pooled results "
        f"from {umb['review_id'].nunique() if len(umb) else 0} meta-analyses. Each point below is one pooled "
        "result (standardised mean difference with its 95% CI, oriented as printed), coloured by the AMSTAR 2 "
        "rating of its review.\n",
        "```{figure} figures/evidence-map.png\n:name: fig-evidence-map\n:alt: Pooled results of earlier reviews\n\n"
        "Pooled results of earlier meta-analyses by outcome, coloured by AMSTAR 2 rating. Signs are as printed by "
        "each review (conventions differ between reviews).\n```\n",
        "## Inconsistencies found in the published results\n",
    ]
    if flagged.empty:
        parts.append("None recorded.\n")
    else:
        rows = [[md_escape(r["review_id"]), md_escape(r["outcome"]), md_escape(r.get("timepoint", "")),
                 md_escape(r.get("inconsistency_note", ""))] for _, r in flagged.iterrows()]
        parts.append(_md_table(["review", "outcome", "timepoint", "what is inconsistent"], rows) + "\n")
    return "\n".join(parts)


def reproducibility_md(reproduction: list) -> str:
    parts = [
        "# Reproducibility\n",
        "We re-analysed Smit et al. (2022) {cite:p}`smit2022` from the same open data, with their settings: "
        "post-test, Hedges' g as recorded in the database, every row of a recovery category pooled (rows, not "
        "trials), REML estimator, Knapp-Hartung confidence interval (t with k-1 df), and I² from Q. The published "
        "numbers are those quoted by the umbrella review (Cooper et al. 2024, Tables 2-3). \"Match\" means that our "
        "numbers, rounded to the printed decimals, equal the printed ones.\n",
    ]
    rows = []
    for r in reproduction:
        pr, rp, cu = r["printed"], r["reproduced"], r["curated"]
        rows.append([
            md_escape(r["outcome"]),
            f"{md_escape(pr['estimate'])} [{md_escape(pr['ci_low'])}, {md_escape(pr['ci_high'])}], k = {md_escape(pr['k'])}",
            f"{fmt(rp['estimate'])} [{fmt(rp['ci_low'])}, {fmt(rp['ci_high'])}], k = {int(rp['k'])}",
            "yes" if r["match"] else "**no**",
            f"{fmt(cu['estimate'])} [{fmt(cu['ci_low'])}, {fmt(cu['ci_high'])}], k = {int(cu['k'])}",
        ])
    parts.append(_md_table(["outcome", "published", "reproduced (as published)", "match", "curated data"], rows))
    parts.append("\n\n## Why the curated analysis differs\n\n"
                 "The curated view applies the recorded decisions of the curation log (see [Data](../data.md)) and "
                 "recomputes effects from the arm data with each instrument's direction. These rows have a different "
                 "effect in the two analyses (differences above "
                 f"{DIFFERENCE_TOLERANCE}):\n")
    for r in reproduction:
        if not r["differences"]:
            continue
        parts.append(f"\n**{md_escape(r['outcome'])}**\n")
        rows = [[md_escape(d["outcome_id"]), fmt(d["recorded_g"], 3), fmt(d["curated_g"], 3), md_escape(d["reason"])]
                for d in r["differences"]]
        parts.append(_md_table(["outcome row", "g as published", "g curated", "why"], rows))
    return "\n".join(parts)


def whats_new_md(changes: dict, history: str | None) -> str:
    since = changes.get("since")
    parts = ["# What's new\n"]
    if since:
        parts.append(f"## Changes since release {md_escape(since)}\n")
        parts.append(changelog.changes_md(changes))
    else:
        parts.append("No release snapshot yet: every trial is new.\n")
    if history:
        parts.append("## Release history\n")
        body = history.split("\n", 1)[1] if history.startswith("# ") else history
        parts.append(body.replace("\n## ", "\n### ").replace("## ", "### ", 1) if body.startswith("## ") else body)
    return "\n".join(parts)


def schema_md(package: dict) -> str:
    parts = []
    for res in package.get("resources", []):
        schema = res.get("schema", {})
        parts.append(f"### `{md_escape(res.get('path', res.get('name')))}`\n")
        if res.get("description"):
            parts.append(md_escape(res["description"]) + "\n")
        rows = []
        for f in schema.get("fields", []):
            c = f.get("constraints", {})
            rule = []
            if c.get("required"):
                rule.append("required")
            if "enum" in c:
                rule.append("one of " + ", ".join(md_escape(v) for v in c["enum"]))
            if "minimum" in c:
                rule.append(f"≥ {c['minimum']}")
            if "maximum" in c:
                rule.append(f"≤ {c['maximum']}")
            rows.append([f"`{md_escape(f['name'])}`", md_escape(f.get("type", "")), "; ".join(rule),
                         md_escape(f.get("description", ""))])
        if rows:
            parts.append(_md_table(["column", "type", "rules", "description"], rows) + "\n")
    return "\n".join(parts)


def downloads_md(package: dict, data_dir: Path) -> str:
    rows = []
    for res in package.get("resources", []):
        path = res.get("path")
        if path and (data_dir / path).exists():
            # downloads.md is included by chapters/data.md: paths are relative to chapters/
            rows.append([f"{{download}}`{md_escape(path)} <../data/{path}>`", md_escape(res.get("title", res.get("name", "")))])
    rows.append(["{download}`datapackage.json <../data/datapackage.json>`", "schema (Frictionless Data Package)"])
    return _md_table(["file", "content"], rows) + "\n"


def curation_md(ds) -> str:
    cur = ds.curation
    if cur.empty:
        return "The curation log is empty.\n"
    rows = [[md_escape(r["study_id"]), md_escape(r.get("outcome_id", "") if not pd.isna(r.get("outcome_id")) else "all"),
             md_escape(r["action"]), md_escape(r["reason"])] for _, r in cur.iterrows()]
    return "### Curation log\n\n" + _md_table(["trial", "outcome row", "action", "reason"], rows) + "\n"


def citation_md(ds, package: dict) -> str:
    title = package.get("title", "Peer support for mental health: living systematic review dataset")
    return (f"> The peer-support living review team. *{md_escape(title)}*, dataset version "
            f"{md_escape(ds.version)}. Includes data from the Metapsy peer-support database "
            f"(doi:10.5281/zenodo.7687898, ODC-By 1.0).\n")


def prisma_counts(flow: dict) -> dict:
    """``data/search_flow.json`` (PRISMA 2020 names) in the Metapsy keys ``figures.prisma`` reads."""
    return {
        "database.hits": flow["database_results"],
        "additional.records": flow["other_sources_results"],
        "database.hits.duplicates.removed": flow["records_screened"],
        "records.screened": flow["records_screened"],
        "full.text.assessed.for.eligibility": flow["reports_assessed"],
        "full.text.excluded.reasons": flow["reports_excluded_reasons"],
        "included": flow["studies_included"],
    }


def write_pages(ds, domain_results: dict, reproduction: list, root: Path, results_dir: Path,
                data_dir: Path, learn: list[str] = ()) -> dict:
    """Write every generated page, figure, ``_toc.yml`` and ``changes.json``; returns the changes."""
    root = Path(root)
    gen = root / GENERATED
    fig_dir = root / FIGURES
    package = json.loads((data_dir / "datapackage.json").read_text(encoding="utf-8"))
    flow_path = data_dir / "search_flow.json"
    flow = json.loads(flow_path.read_text(encoding="utf-8")) if flow_path.exists() else None

    write_if_changed(root / "_toc.yml", toc(ds.domains, learn))
    write_if_changed(gen / "home.md", home_md(ds, domain_results))
    write_if_changed(gen / "conventions.md", conventions_md())
    write_if_changed(gen / "included-studies.md", included_studies_md(ds, flow))
    write_if_changed(gen / "evidence-map.md", evidence_map_md(ds))
    write_if_changed(gen / "reproducibility.md", reproducibility_md(reproduction))
    write_if_changed(gen / "schema.md", schema_md(package))
    write_if_changed(gen / "downloads.md", downloads_md(package, data_dir))
    write_if_changed(gen / "curation.md", curation_md(ds))
    write_if_changed(gen / "citation.md", citation_md(ds, package))

    new = changelog.snapshot(ds, domain_results)
    changes = changelog.diff(changelog.load_snapshot(data_dir), new)
    history_path = data_dir / changelog.HISTORY
    history = history_path.read_text(encoding="utf-8") if history_path.exists() else None
    write_if_changed(gen / "whats-new.md", whats_new_md(changes, history))
    (results_dir / "changes.json").write_text(json.dumps(changes, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    rob = ds.rob[ds.rob["outcome_id"].isna() | (ds.rob["outcome_id"] == "")] if "outcome_id" in ds.rob else ds.rob
    rob_frame = rob.merge(ds.studies[["study_id", "label"]], on="study_id")
    rob_frame = rob_frame.rename(columns={"label": "study"})[["study", "d1", "d2", "d3", "d4", "d5", "overall"]]
    _save_figure(figures.rob_traffic_light(rob_frame), fig_dir / "rob-traffic-light.png")
    _save_figure(figures.rob_summary(rob_frame), fig_dir / "rob-summary.png")
    if flow:
        _save_figure(figures.prisma(prisma_counts(flow)), fig_dir / "prisma.png")
    _save_figure(figures.evidence_map(ds.published, ds.reviews), fig_dir / "evidence-map.png")
    return changes
